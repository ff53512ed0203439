/* A vhost-user front end for tests (see helper_frontend.h). */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "helper_frontend.h"

#define V1         0x1u
#define NEED_REPLY 0x8u
#define NOFD       0x100u

static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int fe_connect(struct fe *f, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	f->timeout_ms = 2000;
	f->qva = 0x7f5500000000ull;
	for (int i = 0; i < 2; i++)
		f->kick[i] = f->call[i] = -1;
	strncpy(sun.sun_path, path, sizeof(sun.sun_path) - 1);
	for (int tries = 0; tries < 100; tries++) {
		f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (f->fd < 0)
			return -errno;
		if (connect(f->fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return 0;
		close(f->fd);
		f->fd = -1;
		usleep(10000);
	}
	return -ECONNREFUSED;
}

void fe_close(struct fe *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	for (int i = 0; i < 2; i++) {
		if (f->kick[i] >= 0)
			close(f->kick[i]);
		if (f->call[i] >= 0)
			close(f->call[i]);
		f->kick[i] = f->call[i] = -1;
	}
}

ssize_t fe_sendmsg(int fd, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char b[CMSG_SPACE(FE_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} cb;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > FE_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *cm;

		mh.msg_control = cb.b;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	return n < 0 ? -errno : n;
}

int fe_send(struct fe *f, uint32_t req, uint32_t flags, const void *payload, uint32_t size, const int *fds,
	    unsigned nfds)
{
	uint8_t buf[12 + 4096];

	if (size > 4096 || nfds > 8)
		return -EINVAL;
	put32(buf, req);
	put32(buf + 4, flags);
	put32(buf + 8, size);
	if (size)
		memcpy(buf + 12, payload, size);
	return fe_sendmsg(f->fd, buf, 12 + size, fds, nfds) == (ssize_t)(12 + size) ? 0 : -EIO;
}

/* LEN bytes within the deadline. */
static int recv_all(struct fe *f, uint8_t *p, size_t len, double deadline)
{
	while (len > 0) {
		struct pollfd pf = { .fd = f->fd, .events = POLLIN };
		int left = (int)(deadline - now_ms());
		ssize_t n;

		if (left <= 0 || poll(&pf, 1, left) <= 0)
			return -ETIMEDOUT;
		n = recv(f->fd, p, len, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fe_recv(struct fe *f, uint32_t req, void *out, size_t outlen)
{
	double deadline = now_ms() + f->timeout_ms;
	uint8_t h[12], junk[4096];
	uint32_t size;
	int rc = recv_all(f, h, 12, deadline);

	if (rc < 0)
		return rc;
	size = get32(h + 8);
	if (get32(h) != req || get32(h + 4) != 0x5 || size > sizeof(junk))
		return -EPROTO;
	rc = recv_all(f, size <= outlen ? out : junk, size, deadline);
	return rc < 0 ? rc : (int)size;
}

/* Send REQ with FLAGS, then read its u64 reply into *V. */
static int fe_u64_reply(struct fe *f, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
			const int *fds, unsigned nfds, uint64_t *v)
{
	uint8_t r[8];
	int rc = fe_send(f, req, flags, payload, size, fds, nfds);

	if (rc < 0)
		return rc;
	rc = fe_recv(f, req, r, sizeof(r));
	if (rc < 0)
		return rc;
	if (rc != 8)
		return -EPROTO;
	*v = get64(r);
	return 0;
}

int fe_ack(struct fe *f, uint32_t req, const void *payload, uint32_t size, const int *fds, unsigned nfds,
	   uint64_t *ack)
{
	return fe_u64_reply(f, req, V1 | NEED_REPLY, payload, size, fds, nfds, ack);
}

int fe_get_u64(struct fe *f, uint32_t req, uint64_t *v)
{
	return fe_u64_reply(f, req, V1, NULL, 0, NULL, 0, v);
}

static uint64_t ack_or_max(struct fe *f, uint32_t req, const void *p, uint32_t size, const int *fds, unsigned n)
{
	uint64_t a;

	return fe_ack(f, req, p, size, fds, n, &a) < 0 ? UINT64_MAX : a;
}

uint64_t fe_state(struct fe *f, uint32_t req, uint32_t idx, uint32_t num)
{
	uint8_t p[8];

	put32(p, idx);
	put32(p + 4, num);
	return ack_or_max(f, req, p, 8, NULL, 0);
}

uint64_t fe_u64(struct fe *f, uint32_t req, uint64_t v)
{
	uint8_t p[8];

	put64(p, v);
	return ack_or_max(f, req, p, 8, NULL, 0);
}

uint64_t fe_vring_fd(struct fe *f, uint32_t req, uint32_t idx, int fd)
{
	uint8_t p[8];

	put64(p, idx | (fd < 0 ? NOFD : 0));
	return ack_or_max(f, req, p, 8, fd < 0 ? NULL : &fd, fd < 0 ? 0 : 1);
}

uint64_t fe_addr(struct fe *f, uint32_t idx, uint64_t desc_qva, uint64_t avail_qva, uint64_t used_qva)
{
	uint8_t p[40] = { 0 };

	put32(p, idx);
	put64(p + 8, desc_qva);
	put64(p + 16, used_qva);
	put64(p + 24, avail_qva);
	return ack_or_max(f, FE_SET_VRING_ADDR, p, sizeof(p), NULL, 0);
}

void fe_region(uint8_t raw[32], uint64_t gpa, uint64_t size, uint64_t qva, uint64_t off)
{
	put64(raw, gpa);
	put64(raw + 8, size);
	put64(raw + 16, qva);
	put64(raw + 24, off);
}

uint64_t fe_mem_table(struct fe *f, int fd, uint64_t size)
{
	uint8_t p[8 + 32] = { 0 };

	put32(p, 1);
	fe_region(p + 8, 0, size, f->qva, 0);
	return ack_or_max(f, FE_SET_MEM_TABLE, p, sizeof(p), &fd, 1);
}

uint64_t fe_mem_reg(struct fe *f, uint32_t req, int fd, uint64_t gpa, uint64_t size, uint64_t qva, uint64_t off)
{
	uint8_t p[8 + 32] = { 0 };

	fe_region(p + 8, gpa, size, qva, off);
	return ack_or_max(f, req, p, sizeof(p), fd < 0 ? NULL : &fd, fd < 0 ? 0 : 1);
}

int fe_negotiate(struct fe *f)
{
	uint64_t feat, pf;
	int rc;

	if ((rc = fe_get_u64(f, FE_GET_FEATURES, &feat)) < 0 ||
	    (rc = fe_get_u64(f, FE_GET_PROTOCOL_FEATURES, &pf)) < 0)
		return rc;
	if (fe_u64(f, FE_SET_PROTOCOL_FEATURES, pf) != 0)
		return -EPROTO;
	if ((rc = fe_send(f, FE_SET_OWNER, V1, NULL, 0, NULL, 0)) < 0)
		return rc;
	return fe_u64(f, FE_SET_FEATURES, feat) == 0 ? 0 : -EPROTO;
}

int fe_rings(struct fe *f)
{
	for (uint32_t q = 0; q < 2; q++) {
		uint64_t d = f->qva + FE_RING(q);

		if (f->kick[q] < 0)
			f->kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (f->call[q] < 0)
			f->call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (f->kick[q] < 0 || f->call[q] < 0)
			return -errno;
		if (fe_state(f, FE_SET_VRING_NUM, q, FE_NUM) || fe_state(f, FE_SET_VRING_BASE, q, 0) ||
		    fe_addr(f, q, d, d + 0x1000, d + 0x2000) || fe_vring_fd(f, FE_SET_VRING_KICK, q, f->kick[q]) ||
		    fe_vring_fd(f, FE_SET_VRING_CALL, q, f->call[q]) || fe_state(f, FE_SET_VRING_ENABLE, q, 1))
			return -EPROTO;
	}
	return 0;
}

int fe_start(struct fe *f, int fd, uint64_t size)
{
	int rc = fe_negotiate(f);

	if (rc < 0)
		return rc;
	if (fe_mem_table(f, fd, size) != 0)
		return -EPROTO;
	return fe_rings(f);
}

double fe_rtt_ms(struct fe *f)
{
	double t0 = now_ms();
	uint64_t v;

	if (fe_get_u64(f, FE_GET_FEATURES, &v) < 0)
		return -1;
	return now_ms() - t0;
}
