/* vhost-user back end: message framing, one flat dispatch switch and one
 * vu_<msg>() handler per request.
 *
 * Framing (whole reads/writes, fd collection) is in vhost_io.c.
 *
 * Every message is untrusted.  Handlers check the payload size and fd count
 * before anything else; fds a handler does not take stay in the message and
 * the dispatcher closes them, so no error path can leak one.  Only the
 * dispatcher replies.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost.h"

/* Request codes (vhost-user.rst "Front-end message types"), one list
 * for both the enum and the name table. */
#define VU_REQUESTS(X) \
	X(GET_FEATURES, 1) X(SET_FEATURES, 2) X(SET_OWNER, 3) X(RESET_OWNER, 4) \
	X(SET_MEM_TABLE, 5) X(SET_LOG_BASE, 6) X(SET_LOG_FD, 7) X(SET_VRING_NUM, 8) \
	X(SET_VRING_ADDR, 9) X(SET_VRING_BASE, 10) X(GET_VRING_BASE, 11) \
	X(SET_VRING_KICK, 12) X(SET_VRING_CALL, 13) X(SET_VRING_ERR, 14) \
	X(GET_PROTOCOL_FEATURES, 15) X(SET_PROTOCOL_FEATURES, 16) X(GET_QUEUE_NUM, 17) \
	X(SET_VRING_ENABLE, 18) X(SEND_RARP, 19) X(NET_SET_MTU, 20) \
	X(SET_BACKEND_REQ_FD, 21) X(IOTLB_MSG, 22) X(SET_VRING_ENDIAN, 23) X(GET_CONFIG, 24) \
	X(SET_CONFIG, 25) X(CREATE_CRYPTO_SESSION, 26) X(CLOSE_CRYPTO_SESSION, 27) \
	X(POSTCOPY_ADVISE, 28) X(POSTCOPY_LISTEN, 29) X(POSTCOPY_END, 30) \
	X(GET_INFLIGHT_FD, 31) X(SET_INFLIGHT_FD, 32) X(GPU_SET_SOCKET, 33) \
	X(RESET_DEVICE, 34) X(VRING_KICK, 35) X(GET_MAX_MEM_SLOTS, 36) X(ADD_MEM_REG, 37) \
	X(REM_MEM_REG, 38) X(SET_STATUS, 39) X(GET_STATUS, 40)

#define VU_REQ_ENUM(name, val) VU_##name = val,
enum { VU_REQUESTS(VU_REQ_ENUM) };

static const struct {
	uint32_t val;
	const char *name;
} request_names[] = {
#define VU_REQ_NAME(name, val) {val, #name},
	VU_REQUESTS(VU_REQ_NAME)
};

#define VU_VERSION      0x1u
#define VU_VERSION_MASK 0x3u
#define VU_FLAG_REPLY   0x4u
#define VU_FLAG_NEED_REPLY 0x8u
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD     0x100u
#define VU_HDR_SIZE 12u
#define VU_REGION_SIZE 32u   /* gpa, size, qva, mmap_offset: le64 each */
#define VU_CONFIG_HDR 12u    /* offset, size, flags: le32 each */

/* Wire layouts, as bytes: read only through the get_* helpers below. */
struct vu_hdr_raw {
	uint8_t request[4];
	uint8_t flags[4];
	uint8_t size[4];
};
_Static_assert(sizeof(struct vu_hdr_raw) == VU_HDR_SIZE, "vhost-user header is 12 bytes");

struct vu_msg {
	uint32_t request, flags, size;
	uint8_t payload[VU_MAX_PAYLOAD];
	int fds[VU_MAX_FDS];
	unsigned nfds;
	bool fds_truncated;
	/* Reply built by a handler (returns 1). */
	uint32_t reply_size;
	uint8_t reply[VU_MAX_PAYLOAD];
};

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

const char *vu_request_name(uint32_t req, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(request_names) / sizeof(request_names[0]); i++)
		if (request_names[i].val == req)
			return request_names[i].name;
	snprintf(buf, len, "unknown (%u)", req);
	return buf;
}

bool vu_has_feature(const struct vu_dev *d, unsigned bit)
{
	return bit < 64 && (d->acked_features & (1ull << bit));
}

static bool has_protocol_feature(const struct vu_dev *d, unsigned bit)
{
	return d->acked_protocol_features & (1ull << bit);
}

/* Record a problem for the device layer's log; returns -ERR. */
static int vu_fail(struct vu_dev *d, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int vu_fail(struct vu_dev *d, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->errmsg, sizeof(d->errmsg), fmt, ap);
	va_end(ap);
	d->nerrors++;
	if (d->ops && d->ops->log)
		d->ops->log(d, d->errmsg);
	return -err;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* ------------------------------------------------------------ queues */

static void set_ready(struct vu_dev *d, unsigned i, bool ready)
{
	struct vq *q = &d->vq[i];

	if (q->ready == ready)
		return;
	q->ready = ready;
	if (ready && d->ops && d->ops->queue_started)
		d->ops->queue_started(d, i);
	else if (!ready && d->ops && d->ops->queue_stopped)
		d->ops->queue_stopped(d, i);
}

static void update_ready(struct vu_dev *d, unsigned i)
{
	struct vq *q = &d->vq[i];

	set_ready(d, i, q->started && q->enabled && q->kick_fd >= 0 && q->desc && !q->broken);
}

/* Re-translate every configured ring after the memory table changed;
 * rings that no longer translate stop. */
static void remap_queues(struct vu_dev *d)
{
	for (unsigned i = 0; i < d->nqueues; i++) {
		struct vq *q = &d->vq[i];

		if (!q->num || !q->desc_qva)
			continue;
		if (vq_map(q, &d->mem) < 0)
			vu_fail(d, EFAULT, "ring %u: addresses no longer in guest memory", i);
		update_ready(d, i);
	}
}

static void queue_reset(struct vu_dev *d, unsigned i)
{
	struct vq *q = &d->vq[i];

	set_ready(d, i, false);
	close_fd(&q->kick_fd);
	close_fd(&q->call_fd);
	close_fd(&q->err_fd);
	vq_init(q);
	q->mem = &d->mem;
	/* Without protocol features rings start enabled (vhost-user.rst). */
	q->enabled = !vu_has_feature(d, VU_F_PROTOCOL_FEATURES) && d->acked_features;
}

static void device_reset(struct vu_dev *d)
{
	for (unsigned i = 0; i < d->nqueues; i++)
		set_ready(d, i, false);
	d->acked_features = 0;
	for (unsigned i = 0; i < d->nqueues; i++)
		queue_reset(d, i);
	if (d->ops && d->ops->reset)
		d->ops->reset(d);
}

/* ----------------------------------------------------------- handlers */

/* Handlers return 1 (reply in m->reply), 0 (done) or -errno. */

static int need_size(struct vu_dev *d, const struct vu_msg *m, uint32_t size, unsigned nfds)
{
	char nb[32];
	const char *name = vu_request_name(m->request, nb, sizeof(nb));

	if (m->size != size)
		return vu_fail(d, EINVAL, "%s: payload is %u bytes, expected %u", name, m->size, size);
	if (m->nfds != nfds || m->fds_truncated)
		return vu_fail(d, EINVAL, "%s: %u fds attached, expected %u", name, m->nfds, nfds);
	return 0;
}

static int reply_u64(struct vu_msg *m, uint64_t v)
{
	put_le64(m->reply, v);
	m->reply_size = 8;
	return 1;
}

/* Ring index from a vring state/address/fd message, checked. */
static int ring_index(struct vu_dev *d, const struct vu_msg *m, uint32_t idx)
{
	char nb[32];

	if (idx >= d->nqueues)
		return vu_fail(d, EINVAL, "%s: ring %u does not exist (%u rings)",
			       vu_request_name(m->request, nb, sizeof(nb)), idx, d->nqueues);
	return (int)idx;
}

static int vu_get_features(struct vu_dev *d, struct vu_msg *m)
{
	return reply_u64(m, d->features);
}

static int vu_set_features(struct vu_dev *d, struct vu_msg *m)
{
	uint64_t f;
	int rc = need_size(d, m, 8, 0);

	if (rc < 0)
		return rc;
	f = get_le64(m->payload);
	if (f & ~d->features)
		return vu_fail(d, EINVAL, "SET_FEATURES: 0x%llx has bits never offered (0x%llx)",
			       (unsigned long long)f, (unsigned long long)d->features);
	d->acked_features = f;
	for (unsigned i = 0; i < d->nqueues; i++) {
		struct vq *q = &d->vq[i];

		q->event_idx = vu_has_feature(d, VQ_F_EVENT_IDX);
		q->indirect = vu_has_feature(d, VQ_F_INDIRECT_DESC);
		/* Without protocol features rings are enabled at once; with
		 * them, SET_FEATURES never disables a ring. */
		if (!vu_has_feature(d, VU_F_PROTOCOL_FEATURES))
			q->enabled = true;
		update_ready(d, i);
	}
	if (d->ops && d->ops->features_set)
		d->ops->features_set(d);
	return 0;
}

static int vu_get_protocol_features(struct vu_dev *d, struct vu_msg *m)
{
	return reply_u64(m, d->protocol_features);
}

static int vu_set_protocol_features(struct vu_dev *d, struct vu_msg *m)
{
	uint64_t f;
	int rc = need_size(d, m, 8, 0);

	if (rc < 0)
		return rc;
	f = get_le64(m->payload);
	if (f & ~d->protocol_features)
		return vu_fail(d, EINVAL, "SET_PROTOCOL_FEATURES: 0x%llx has bits never offered (0x%llx)",
			       (unsigned long long)f, (unsigned long long)d->protocol_features);
	d->acked_protocol_features = f;
	return 0;
}

static int vu_set_owner(struct vu_dev *d, struct vu_msg *m)
{
	d->owner = true;
	return 0;
}

static int vu_reset(struct vu_dev *d, struct vu_msg *m)
{
	device_reset(d);
	return 0;
}

static int vu_set_mem_table(struct vu_dev *d, struct vu_msg *m)
{
	struct vu_mem old;
	char why[128];
	uint32_t n;
	int rc = 0;

	if (m->size < 8)
		return vu_fail(d, EINVAL, "SET_MEM_TABLE: payload is %u bytes, need 8", m->size);
	n = get_le32(m->payload);
	if (n == 0 || n > VU_MEM_BASELINE_REGIONS)
		return vu_fail(d, EINVAL, "SET_MEM_TABLE: %u regions (1 to %u allowed)", n, VU_MEM_BASELINE_REGIONS);
	if (m->size < 8 + n * VU_REGION_SIZE)
		return vu_fail(d, EINVAL, "SET_MEM_TABLE: payload is %u bytes, %u regions need %u",
			       m->size, n, 8 + n * VU_REGION_SIZE);
	if (m->nfds != n || m->fds_truncated)
		return vu_fail(d, EINVAL, "SET_MEM_TABLE: %u fds for %u regions", m->nfds, n);
	old = d->mem;
	memset(&d->mem, 0, sizeof(d->mem));
	for (uint32_t i = 0; i < n; i++) {
		struct vu_region *r = &d->mem.r[i];
		int j;

		rc = vu_mem_map_region(r, m->payload + 8 + i * VU_REGION_SIZE, m->fds[i], why, sizeof(why));
		if (rc < 0) {
			vu_fail(d, -rc, "SET_MEM_TABLE: region %u: %s", i, why);
			goto out;
		}
		if ((j = vu_mem_overlap(&d->mem, r)) >= 0) {
			rc = vu_fail(d, EINVAL, "SET_MEM_TABLE: regions %d and %u overlap", j, i);
			vu_mem_unmap_region(r);
			goto out;
		}
		d->mem.n = i + 1;
	}
out:
	if (rc < 0) {
		/* Keep the old table: nothing changed for running rings. */
		vu_mem_clear(&d->mem);
		d->mem = old;
		return rc;
	}
	/* New table in place: rings move to it before the old one goes. */
	remap_queues(d);
	vu_mem_clear(&old);
	return 0;
}

static int vu_add_mem_reg(struct vu_dev *d, struct vu_msg *m)
{
	struct vu_region r;
	char why[128];
	int j, rc = need_size(d, m, 8 + VU_REGION_SIZE, 1);

	if (rc < 0)
		return rc;
	if (d->mem.n >= VU_MEM_MAX_REGIONS)
		return vu_fail(d, ENOSPC, "ADD_MEM_REG: all %u slots in use", VU_MEM_MAX_REGIONS);
	rc = vu_mem_map_region(&r, m->payload + 8, m->fds[0], why, sizeof(why));
	if (rc < 0)
		return vu_fail(d, -rc, "ADD_MEM_REG: %s", why);
	if ((j = vu_mem_overlap(&d->mem, &r)) >= 0) {
		vu_mem_unmap_region(&r);
		return vu_fail(d, EINVAL, "ADD_MEM_REG: gpa 0x%llx size 0x%llx overlaps region %d",
			       (unsigned long long)r.gpa, (unsigned long long)r.size, j);
	}
	d->mem.r[d->mem.n++] = r;
	remap_queues(d);
	return 0;
}

static int vu_rem_mem_reg(struct vu_dev *d, struct vu_msg *m)
{
	struct vu_region gone;
	uint64_t gpa, size;
	uint32_t j;

	/* QEMU attaches the region's fd again; accept it or none. */
	if (m->size != 8 + VU_REGION_SIZE || m->nfds > 1 || m->fds_truncated)
		return vu_fail(d, EINVAL, "REM_MEM_REG: payload %u bytes with %u fds, expected %u with 0 or 1",
			       m->size, m->nfds, 8 + VU_REGION_SIZE);
	gpa = get_le64(m->payload + 8);
	size = get_le64(m->payload + 16);
	for (j = 0; j < d->mem.n; j++)
		if (d->mem.r[j].gpa == gpa && d->mem.r[j].size == size)
			break;
	if (j == d->mem.n)
		return vu_fail(d, ENOENT, "REM_MEM_REG: no region at gpa 0x%llx size 0x%llx",
			       (unsigned long long)gpa, (unsigned long long)size);
	gone = d->mem.r[j];
	d->mem.r[j] = d->mem.r[d->mem.n - 1];
	memset(&d->mem.r[--d->mem.n], 0, sizeof(d->mem.r[0]));
	/* Rings stop before their memory goes away. */
	remap_queues(d);
	vu_mem_unmap_region(&gone);
	return 0;
}

static int vu_get_max_mem_slots(struct vu_dev *d, struct vu_msg *m)
{
	return reply_u64(m, VU_MEM_MAX_REGIONS);
}

static int vu_get_queue_num(struct vu_dev *d, struct vu_msg *m)
{
	return reply_u64(m, d->nqueues);
}

/* Once a ring is mapped, its used idx in memory is the truth (the base
 * message carries only the avail side, and may be stale after a back end
 * died).  Chains between used idx and the avail position were taken but
 * never completed; vsock completes in order, so resuming at used idx
 * redoes exactly those, whatever the order of NUM, BASE and ADDR. */
static void sync_ring(struct vq *q)
{
	if (!q->used)
		return;
	q->used_idx = le16toh(__atomic_load_n((uint16_t *)(void *)(q->used + 2), __ATOMIC_ACQUIRE));
	q->last_avail_idx = q->used_idx;
	q->signalled_used_valid = false;
}

static int vu_set_vring_num(struct vu_dev *d, struct vu_msg *m)
{
	uint32_t num;
	int i = need_size(d, m, 8, 0);

	if (i < 0 || (i = ring_index(d, m, get_le32(m->payload))) < 0)
		return i;
	num = get_le32(m->payload + 4);
	if (num == 0 || num > VQ_MAX_NUM || (num & (num - 1)))
		return vu_fail(d, EINVAL, "SET_VRING_NUM: ring %d size %u is not a power of two up to %u",
			       i, num, VQ_MAX_NUM);
	set_ready(d, i, false);
	d->vq[i].num = num;
	d->vq[i].desc = d->vq[i].avail = d->vq[i].used = NULL;
	/* Addresses may have come first (other front ends' order). */
	if (d->vq[i].desc_qva && vq_map(&d->vq[i], &d->mem) == 0)
		sync_ring(&d->vq[i]);
	update_ready(d, i);
	return 0;
}

static int vu_set_vring_addr(struct vu_dev *d, struct vu_msg *m)
{
	struct vq *q;
	int rc, i = need_size(d, m, 40, 0);

	if (i < 0 || (i = ring_index(d, m, get_le32(m->payload))) < 0)
		return i;
	q = &d->vq[i];
	set_ready(d, i, false);
	q->desc_qva = get_le64(m->payload + 8);
	q->used_qva = get_le64(m->payload + 16);
	q->avail_qva = get_le64(m->payload + 24);
	if (!q->num)
		return 0; /* mapped by SET_VRING_NUM */
	rc = vq_map(q, &d->mem);
	if (rc < 0)
		return vu_fail(d, -rc, "SET_VRING_ADDR: ring %d (size %u) desc 0x%llx avail 0x%llx used 0x%llx "
			       "not wholly in guest memory or misaligned", i, q->num,
			       (unsigned long long)q->desc_qva, (unsigned long long)q->avail_qva,
			       (unsigned long long)q->used_qva);
	sync_ring(q);
	update_ready(d, i);
	return 0;
}

static int vu_set_vring_base(struct vu_dev *d, struct vu_msg *m)
{
	uint32_t base;
	int i = need_size(d, m, 8, 0);

	if (i < 0 || (i = ring_index(d, m, get_le32(m->payload))) < 0)
		return i;
	base = get_le32(m->payload + 4);
	if (base > 0xffff)
		return vu_fail(d, EINVAL, "SET_VRING_BASE: ring %d base %u is over 16 bits", i, base);
	set_ready(d, i, false);
	d->vq[i].last_avail_idx = (uint16_t)base;
	d->vq[i].used_idx = (uint16_t)base;
	d->vq[i].signalled_used_valid = false;
	d->vq[i].broken = false;
	sync_ring(&d->vq[i]);
	update_ready(d, i);
	return 0;
}

static int vu_get_vring_base(struct vu_dev *d, struct vu_msg *m)
{
	struct vq *q;
	int i = need_size(d, m, 8, 0);

	if (i < 0 || (i = ring_index(d, m, get_le32(m->payload))) < 0)
		return i;
	q = &d->vq[i];
	/* Stop: the device must not touch the ring after this reply. */
	set_ready(d, i, false);
	q->started = false;
	close_fd(&q->kick_fd);
	put_le32(m->reply, (uint32_t)i);
	put_le32(m->reply + 4, q->last_avail_idx);
	m->reply_size = 8;
	return 1;
}

/* SET_VRING_KICK / CALL / ERR: u64 ring index | NOFD bit, fd attached
 * unless NOFD.  Only eventfds are accepted. */
static int vring_fd(struct vu_dev *d, struct vu_msg *m, int *idx, int *fd)
{
	char path[64], link[64], nb[32];
	const char *name = vu_request_name(m->request, nb, sizeof(nb));
	uint64_t v;
	ssize_t n;
	int i, rc;

	if (m->size != 8 || m->fds_truncated)
		return vu_fail(d, EINVAL, "%s: payload is %u bytes, expected 8", name, m->size);
	v = get_le64(m->payload);
	if (v & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD))
		return vu_fail(d, EINVAL, "%s: reserved bits set in 0x%llx", name, (unsigned long long)v);
	if ((i = ring_index(d, m, v & VU_VRING_IDX_MASK)) < 0)
		return i;
	rc = need_size(d, m, 8, (v & VU_VRING_NOFD) ? 0 : 1);
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
	*fd = m->fds[0];
	m->fds[0] = -1; /* ours now */
	m->nfds = 0;
	return 0;
}

static int vu_set_vring_kick(struct vu_dev *d, struct vu_msg *m)
{
	struct vq *q;
	int i, fd, rc = vring_fd(d, m, &i, &fd);

	if (rc < 0)
		return rc;
	q = &d->vq[i];
	/* Stopped while the old fd is still open, so the device can remove
	 * it from its poll set. */
	set_ready(d, i, false);
	close_fd(&q->kick_fd);
	q->kick_fd = fd;
	q->started = fd >= 0;
	q->broken = false;
	update_ready(d, i);
	return 0;
}

static int vu_set_vring_call(struct vu_dev *d, struct vu_msg *m)
{
	int i, fd, rc = vring_fd(d, m, &i, &fd);

	if (rc < 0)
		return rc;
	close_fd(&d->vq[i].call_fd);
	d->vq[i].call_fd = fd;
	d->vq[i].signalled_used_valid = false;
	return 0;
}

static int vu_set_vring_err(struct vu_dev *d, struct vu_msg *m)
{
	int i, fd, rc = vring_fd(d, m, &i, &fd);

	if (rc < 0)
		return rc;
	close_fd(&d->vq[i].err_fd);
	d->vq[i].err_fd = fd;
	return 0;
}

static int vu_set_vring_enable(struct vu_dev *d, struct vu_msg *m)
{
	uint32_t on;
	int i = need_size(d, m, 8, 0);

	if (i < 0 || (i = ring_index(d, m, get_le32(m->payload))) < 0)
		return i;
	on = get_le32(m->payload + 4);
	if (on > 1)
		return vu_fail(d, EINVAL, "SET_VRING_ENABLE: ring %d state %u is not 0 or 1", i, on);
	d->vq[i].enabled = on;
	update_ready(d, i);
	return 0;
}

static int vu_get_config(struct vu_dev *d, struct vu_msg *m)
{
	uint32_t off, size;

	if (m->size < VU_CONFIG_HDR || m->nfds)
		return vu_fail(d, EINVAL, "GET_CONFIG: payload %u bytes with %u fds", m->size, m->nfds);
	off = get_le32(m->payload);
	size = get_le32(m->payload + 4);
	memcpy(m->reply, m->payload, VU_CONFIG_HDR);
	m->reply_size = VU_CONFIG_HDR;
	if (off > d->config_len || size > d->config_len - off || size > VU_CONFIG_MAX) {
		/* Header-only reply: the front end sees the size mismatch. */
		put_le32(m->reply + 4, 0);
		vu_fail(d, EINVAL, "GET_CONFIG: bytes %u+%u outside the %u-byte config", off, size, d->config_len);
		return 1;
	}
	memcpy(m->reply + VU_CONFIG_HDR, d->config + off, size);
	m->reply_size += size;
	return 1;
}

static int vu_set_config(struct vu_dev *d, struct vu_msg *m)
{
	/* virtio-vsock config space is read-only for the driver. */
	return vu_fail(d, EPERM, "SET_CONFIG: the device config is read-only");
}

static int vu_unsupported(struct vu_dev *d, struct vu_msg *m)
{
	char nb[32];

	return vu_fail(d, ENOSYS, "%s: not supported", vu_request_name(m->request, nb, sizeof(nb)));
}

static bool expects_reply(uint32_t req)
{
	switch (req) {
	case VU_GET_FEATURES:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_GET_VRING_BASE:
	case VU_GET_QUEUE_NUM:
	case VU_GET_CONFIG:
	case VU_GET_MAX_MEM_SLOTS:
	case VU_GET_INFLIGHT_FD:
	case VU_GET_STATUS:
	case VU_POSTCOPY_ADVISE:
		return true;
	default:
		return false;
	}
}

static int handle(struct vu_dev *d, struct vu_msg *m)
{
	switch (m->request) {
	case VU_GET_FEATURES:          return vu_get_features(d, m);
	case VU_SET_FEATURES:          return vu_set_features(d, m);
	case VU_GET_PROTOCOL_FEATURES: return vu_get_protocol_features(d, m);
	case VU_SET_PROTOCOL_FEATURES: return vu_set_protocol_features(d, m);
	case VU_SET_OWNER:             return vu_set_owner(d, m);
	case VU_RESET_OWNER:           return vu_reset(d, m);
	case VU_RESET_DEVICE:          return vu_reset(d, m);
	case VU_SET_MEM_TABLE:         return vu_set_mem_table(d, m);
	case VU_ADD_MEM_REG:           return vu_add_mem_reg(d, m);
	case VU_REM_MEM_REG:           return vu_rem_mem_reg(d, m);
	case VU_GET_MAX_MEM_SLOTS:     return vu_get_max_mem_slots(d, m);
	case VU_GET_QUEUE_NUM:         return vu_get_queue_num(d, m);
	case VU_SET_VRING_NUM:         return vu_set_vring_num(d, m);
	case VU_SET_VRING_ADDR:        return vu_set_vring_addr(d, m);
	case VU_SET_VRING_BASE:        return vu_set_vring_base(d, m);
	case VU_GET_VRING_BASE:        return vu_get_vring_base(d, m);
	case VU_SET_VRING_KICK:        return vu_set_vring_kick(d, m);
	case VU_SET_VRING_CALL:        return vu_set_vring_call(d, m);
	case VU_SET_VRING_ERR:         return vu_set_vring_err(d, m);
	case VU_SET_VRING_ENABLE:      return vu_set_vring_enable(d, m);
	case VU_GET_CONFIG:            return vu_get_config(d, m);
	case VU_SET_CONFIG:            return vu_set_config(d, m);
	default:                       return vu_unsupported(d, m);
	}
}

/* ------------------------------------------------------------ framing */

static int send_reply(struct vu_dev *d, uint32_t request, const uint8_t *payload, uint32_t size)
{
	uint8_t buf[VU_HDR_SIZE + VU_MAX_PAYLOAD];

	put_le32(buf, request);
	put_le32(buf + 4, VU_VERSION | VU_FLAG_REPLY);
	put_le32(buf + 8, size);
	memcpy(buf + VU_HDR_SIZE, payload, size);
	return vu_io_write(d->sock, buf, VU_HDR_SIZE + size);
}

int vu_dispatch(struct vu_dev *d)
{
	struct vu_msg *m;
	struct vu_hdr_raw h;
	char nb[32];
	int rc, ret;

	if (d->sock < 0)
		return -EBADF;
	/* Heap, not stack: two 4 KiB buffers per message. */
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	for (unsigned i = 0; i < VU_MAX_FDS; i++)
		m->fds[i] = -1;
	ret = vu_io_read(d->sock, &h, sizeof(h), true, m->fds, &m->nfds, &m->fds_truncated);
	if (ret == -ECONNRESET)
		vu_fail(d, ECONNRESET, "front end closed the connection");
	if (ret < 0)
		goto out;
	m->request = get_le32(h.request);
	m->flags = get_le32(h.flags);
	m->size = get_le32(h.size);
	if ((m->flags & VU_VERSION_MASK) != VU_VERSION) {
		ret = vu_fail(d, EPROTO, "%s: version %u, expected 1",
			      vu_request_name(m->request, nb, sizeof(nb)), m->flags & VU_VERSION_MASK);
		goto out;
	}
	if (m->size > VU_MAX_PAYLOAD) {
		ret = vu_fail(d, EMSGSIZE, "%s: payload size %u over %u",
			      vu_request_name(m->request, nb, sizeof(nb)), m->size, VU_MAX_PAYLOAD);
		goto out;
	}
	ret = vu_io_read(d->sock, m->payload, m->size, false, m->fds, &m->nfds, &m->fds_truncated);
	if (ret < 0) {
		vu_fail(d, -ret, "%s: payload of %u bytes: %s",
			vu_request_name(m->request, nb, sizeof(nb)), m->size, strerror(-ret));
		goto out;
	}
	d->nmsgs++;
	rc = handle(d, m);
	if (rc == 1) {
		ret = send_reply(d, m->request, m->reply, m->reply_size);
	} else if (expects_reply(m->request)) {
		/* The front end is waiting for an answer we cannot give. */
		ret = rc < 0 ? rc : -EPROTO;
	} else if ((m->flags & VU_FLAG_NEED_REPLY) && has_protocol_feature(d, VU_PF_REPLY_ACK)) {
		uint8_t ack[8];

		put_le64(ack, rc < 0 ? (uint64_t)-rc : 0);
		ret = send_reply(d, m->request, ack, sizeof(ack));
	} else {
		ret = 0;
	}
out:
	/* Whatever a handler did not take is closed here, on every path. */
	for (unsigned i = 0; i < m->nfds; i++)
		close_fd(&m->fds[i]);
	free(m);
	return ret;
}

/* ------------------------------------------------------- lifecycle */

int vu_init(struct vu_dev *d, int sock, unsigned nqueues, const struct vu_ops *ops, void *opaque)
{
	int fl;

	if (sock < 0 || nqueues == 0 || nqueues > VU_MAX_QUEUES)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	fl = fcntl(sock, F_GETFL);
	if (fl < 0 || fcntl(sock, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	d->sock = sock;
	d->nqueues = nqueues;
	d->ops = ops;
	d->opaque = opaque;
	d->features = (1ull << VU_F_VERSION_1) | (1ull << VU_F_EVENT_IDX) | (1ull << VU_F_INDIRECT_DESC) |
		      (1ull << VU_F_VSOCK_SEQPACKET) | (1ull << VU_F_PROTOCOL_FEATURES);
	d->protocol_features = (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) |
			       (1ull << VU_PF_RESET_DEVICE) | (1ull << VU_PF_CONFIGURE_MEM_SLOTS);
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		vq_init(&d->vq[i]);
		d->vq[i].mem = &d->mem;
	}
	return 0;
}

void vu_close(struct vu_dev *d)
{
	for (unsigned i = 0; i < d->nqueues && i < VU_MAX_QUEUES; i++)
		set_ready(d, i, false);
	if (d->sock >= 0 && d->ops && d->ops->reset)
		d->ops->reset(d);
	for (unsigned i = 0; i < d->nqueues && i < VU_MAX_QUEUES; i++) {
		struct vq *q = &d->vq[i];

		close_fd(&q->kick_fd);
		close_fd(&q->call_fd);
		close_fd(&q->err_fd);
		vq_init(q);
		q->mem = &d->mem;
	}
	vu_mem_clear(&d->mem);
	close_fd(&d->sock);
	d->acked_features = d->acked_protocol_features = 0;
	d->owner = false;
}
