/* vhost-user vring handlers: SET_VRING_NUM, _ADDR, _BASE, GET_VRING_BASE,
 * SET_VRING_KICK, _CALL, _ERR, SET_VRING_ENABLE, and the checks on the
 * eventfds they bring.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhost_int.h"

#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD     0x100u

/* Once a ring is mapped, its used idx in memory is the truth (the base
 * message carries only the avail side, and may be stale after a back end
 * died).  Chains between used idx and the avail position were taken but
 * never completed; vsock completes in order, so resuming at used idx
 * redoes exactly those, whatever the order of NUM, BASE and ADDR.  A ring
 * whose memory faults is broken (vq_resume), never a crash. */
static void sync_ring(struct vu_dev *d, unsigned i)
{
	if (vq_resume(&d->vq[i]) < 0)
		vu_fail(d, EFAULT, "ring %u: guest memory fault reading the used index (the front end's memory "
			"file shrank or lost pages): ring broken", i);
}

int vu_set_vring_num(struct vu_dev *d, struct vu_msg *m)
{
	struct vq *q;
	uint32_t num, max = d->max_queue_size < VQ_MAX_NUM ? d->max_queue_size : VQ_MAX_NUM;
	int i = vu_need_size(d, m, 8, 0);

	if (i < 0 || (i = vu_ring_index(d, m, vu_le32(m->payload))) < 0)
		return i;
	q = &d->vq[i];
	num = vu_le32(m->payload + 4);
	if (num == 0 || num > VQ_MAX_NUM || (num & (num - 1)))
		return vu_fail(d, EINVAL, "SET_VRING_NUM: ring %d size %u is not a power of two up to %u",
			       i, num, VQ_MAX_NUM);
	if (num > max)
		return vu_fail(d, EINVAL, "SET_VRING_NUM: ring %d size %u is larger than this VM's queue-size %u",
			       i, num, max);
	vu_set_ready(d, i, false);
	q->num = num;
	q->desc = q->avail = q->used = NULL;
	/* Addresses may have come first (other front ends' order). */
	if (q->addr_set && vq_map(q, &d->mem) == 0)
		sync_ring(d, i);
	vu_update_ready(d, i);
	return 0;
}

int vu_set_vring_addr(struct vu_dev *d, struct vu_msg *m)
{
	struct vq *q;
	int rc, i = vu_need_size(d, m, 40, 0);

	if (i < 0 || (i = vu_ring_index(d, m, vu_le32(m->payload))) < 0)
		return i;
	q = &d->vq[i];
	vu_set_ready(d, i, false);
	q->desc_qva = vu_le64(m->payload + 8);
	q->used_qva = vu_le64(m->payload + 16);
	q->avail_qva = vu_le64(m->payload + 24);
	q->addr_set = true;
	q->desc = q->avail = q->used = NULL;
	if (!q->num)
		return 0; /* mapped by SET_VRING_NUM */
	rc = vq_map(q, &d->mem);
	if (rc < 0)
		return vu_fail(d, -rc, "SET_VRING_ADDR: ring %d (size %u) desc 0x%llx avail 0x%llx used 0x%llx "
			       "not wholly in guest memory or misaligned", i, q->num,
			       (unsigned long long)q->desc_qva, (unsigned long long)q->avail_qva,
			       (unsigned long long)q->used_qva);
	sync_ring(d, i);
	vu_update_ready(d, i);
	return 0;
}

int vu_set_vring_base(struct vu_dev *d, struct vu_msg *m)
{
	struct vq *q;
	uint32_t base;
	int i = vu_need_size(d, m, 8, 0);

	if (i < 0 || (i = vu_ring_index(d, m, vu_le32(m->payload))) < 0)
		return i;
	q = &d->vq[i];
	base = vu_le32(m->payload + 4);
	if (base > 0xffff)
		return vu_fail(d, EINVAL, "SET_VRING_BASE: ring %d base %u is over 16 bits", i, base);
	vu_set_ready(d, i, false);
	q->last_avail_idx = (uint16_t)base;
	q->used_idx = (uint16_t)base;
	q->signalled_used_valid = false;
	/* Set up again: a past fault or bad chain is forgotten (if the
	 * memory still faults, the next access breaks the ring again). */
	q->broken = false;
	vu_mem_changed(&d->mem);
	sync_ring(d, i);
	vu_update_ready(d, i);
	return 0;
}

int vu_get_vring_base(struct vu_dev *d, struct vu_msg *m)
{
	struct vq *q;
	int i = vu_need_size(d, m, 8, 0);

	if (i < 0 || (i = vu_ring_index(d, m, vu_le32(m->payload))) < 0)
		return i;
	q = &d->vq[i];
	/* Stop: the device must not touch the ring after this reply. */
	vu_set_ready(d, i, false);
	q->started = false;
	vu_close_fd(&q->kick_fd);
	vu_put_le32(m->reply, (uint32_t)i);
	vu_put_le32(m->reply + 4, q->last_avail_idx);
	m->reply_size = 8;
	return 1;
}

/* ------------------------------------------------------------ eventfds */

int vu_eventfd_probe_semaphore(int fd)
{
	uint64_t v = 0, two = 2;
	ssize_t n;

	do
		n = read(fd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	if (n == sizeof(v) && v > 1)
		return 0; /* a whole count of 2 or more: not a semaphore */
	if (n < 0 && errno != EAGAIN)
		return -errno;
	do
		n = write(fd, &two, sizeof(two));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		/* Full after a read of 1: only a semaphore keeps a count. */
		return errno == EAGAIN ? 1 : -errno;
	do
		n = read(fd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	if (n != sizeof(v))
		return n < 0 ? -errno : -EIO;
	return v == 1;
}

int vu_eventfd_semaphore(int fd, bool probe)
{
	char path[64], buf[512];
	const char *p;
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f >= 0) {
		do
			n = read(f, buf, sizeof(buf) - 1);
		while (n < 0 && errno == EINTR);
		close(f);
		if (n > 0) {
			buf[n] = '\0';
			p = strstr(buf, "eventfd-semaphore:");
			if (p)
				return atoi(p + strlen("eventfd-semaphore:")) != 0;
		}
	}
	return probe ? vu_eventfd_probe_semaphore(fd) : 0;
}

/* SET_VRING_KICK / CALL / ERR: u64 ring index | NOFD bit, fd attached
 * unless NOFD.  Only eventfds are accepted, and for the kick fd (the one
 * we read) not a semaphore-mode one: each read would take 1 of a count
 * the front end can set to 2^64-2, an endless busy loop. */
static int vring_fd(struct vu_dev *d, struct vu_msg *m, int *idx, int *fd)
{
	char path[64], link[64], nb[32];
	const char *name = vu_request_name(m->request, nb, sizeof(nb));
	uint64_t v;
	ssize_t n;
	int i, rc;

	if (m->size != 8 || m->fds_truncated)
		return vu_fail(d, EINVAL, "%s: payload is %u bytes, expected 8", name, m->size);
	v = vu_le64(m->payload);
	if (v & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD))
		return vu_fail(d, EINVAL, "%s: reserved bits set in 0x%llx", name, (unsigned long long)v);
	if ((i = vu_ring_index(d, m, v & VU_VRING_IDX_MASK)) < 0)
		return i;
	rc = vu_need_size(d, m, 8, (v & VU_VRING_NOFD) ? 0 : 1);
	if (rc < 0)
		return rc;
	*idx = i;
	*fd = -1;
	if (v & VU_VRING_NOFD)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", m->fds[0]);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0 || (link[n] = '\0', strcmp(link, "anon_inode:[eventfd]") != 0))
		return vu_fail(d, EINVAL, "%s: ring %d: the fd is not an eventfd", name, i);
	/* Shared file description: QEMU's side is non-blocking already. */
	if (fcntl(m->fds[0], F_SETFL, fcntl(m->fds[0], F_GETFL) | O_NONBLOCK) < 0)
		return vu_fail(d, errno, "%s: ring %d: fcntl: %s", name, i, strerror(errno));
	if (m->request == VU_SET_VRING_KICK) {
		rc = vu_eventfd_semaphore(m->fds[0], true);
		if (rc < 0)
			return vu_fail(d, -rc, "%s: ring %d: eventfd: %s", name, i, strerror(-rc));
		if (rc == 1)
			return vu_fail(d, EINVAL, "%s: ring %d: a semaphore-mode eventfd (EFD_SEMAPHORE) "
				       "is refused as a kick fd", name, i);
	}
	*fd = m->fds[0];
	m->fds[0] = -1; /* ours now */
	m->nfds = 0;
	return 0;
}

int vu_set_vring_kick(struct vu_dev *d, struct vu_msg *m)
{
	struct vq *q;
	int i, fd, rc = vring_fd(d, m, &i, &fd);

	if (rc < 0)
		return rc;
	q = &d->vq[i];
	/* Stopped while the old fd is still open, so the device can remove
	 * it from its poll set. */
	vu_set_ready(d, i, false);
	vu_close_fd(&q->kick_fd);
	q->kick_fd = fd;
	q->started = fd >= 0;
	q->broken = false;
	vu_mem_changed(&d->mem);
	vu_update_ready(d, i);
	return 0;
}

int vu_set_vring_call(struct vu_dev *d, struct vu_msg *m)
{
	int i, fd, rc = vring_fd(d, m, &i, &fd);

	if (rc < 0)
		return rc;
	vu_close_fd(&d->vq[i].call_fd);
	d->vq[i].call_fd = fd;
	d->vq[i].signalled_used_valid = false;
	return 0;
}

int vu_set_vring_err(struct vu_dev *d, struct vu_msg *m)
{
	int i, fd, rc = vring_fd(d, m, &i, &fd);

	if (rc < 0)
		return rc;
	vu_close_fd(&d->vq[i].err_fd);
	d->vq[i].err_fd = fd;
	return 0;
}

int vu_set_vring_enable(struct vu_dev *d, struct vu_msg *m)
{
	uint32_t on;
	int i = vu_need_size(d, m, 8, 0);

	if (i < 0 || (i = vu_ring_index(d, m, vu_le32(m->payload))) < 0)
		return i;
	on = vu_le32(m->payload + 4);
	if (on > 1)
		return vu_fail(d, EINVAL, "SET_VRING_ENABLE: ring %d state %u is not 0 or 1", i, on);
	d->vq[i].enabled = on;
	vu_update_ready(d, i);
	return 0;
}
