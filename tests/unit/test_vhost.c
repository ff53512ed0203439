/* Unit tests for lib/vhost/vhost.c: the test plays QEMU on one end of a Unix
 * socketpair (messages with SCM_RIGHTS fds: a memfd as guest memory,
 * eventfds for kick/call) and vu_dispatch() serves the other end.
 * Malformed messages must get an error, never a crash or an fd leak. */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "helper_frontend.h"
#include "vhost.h"
#include "vhost_int.h"

/* Request codes, from vhost-user.rst. */
enum {
	GET_FEATURES = 1, SET_FEATURES = 2, SET_OWNER = 3, RESET_OWNER = 4,
	SET_MEM_TABLE = 5, SET_LOG_BASE = 6, SET_VRING_NUM = 8, SET_VRING_ADDR = 9,
	SET_VRING_BASE = 10, GET_VRING_BASE = 11, SET_VRING_KICK = 12,
	SET_VRING_CALL = 13, SET_VRING_ERR = 14, GET_PROTOCOL_FEATURES = 15,
	SET_PROTOCOL_FEATURES = 16, GET_QUEUE_NUM = 17, SET_VRING_ENABLE = 18,
	GET_CONFIG = 24, SET_CONFIG = 25, RESET_DEVICE = 34,
	GET_MAX_MEM_SLOTS = 36, ADD_MEM_REG = 37, REM_MEM_REG = 38,
};
#define FLAGS_V1   0x1u
#define NEED_REPLY 0x8u
#define NOFD       0x100u

#define MEM_SIZE (1u << 20)
#define QVA_BASE 0x7f1200000000ull
#define RING_GPA(q) (0x8000ull * (q))   /* desc; avail +0x1000, used +0x2000 */
#define BUF_GPA 0x40000ull

struct ctx {
	int qemu;            /* our end */
	int sv1;             /* the device's end before vu_init */
	struct vu_dev d;
	int memfd;
	uint8_t *mem;        /* guest view */
	int kick[2], call[2];
	int started[VU_MAX_QUEUES], stopped[VU_MAX_QUEUES], resets;
	char lastlog[160];
	int fds_before;
};

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n - 1; /* the DIR's own fd */
}

static void on_started(struct vu_dev *d, unsigned i) { ((struct ctx *)d->opaque)->started[i]++; }
static void on_stopped(struct vu_dev *d, unsigned i) { ((struct ctx *)d->opaque)->stopped[i]++; }
static void on_reset(struct vu_dev *d) { ((struct ctx *)d->opaque)->resets++; }
static void on_log(struct vu_dev *d, const char *msg)
{
	struct ctx *c = d->opaque;

	strncpy(c->lastlog, msg, sizeof(c->lastlog) - 1);
}

static const struct vu_ops test_ops = {
	.queue_started = on_started,
	.queue_stopped = on_stopped,
	.reset = on_reset,
	.log = on_log,
};

static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }

static void send_raw(struct ctx *c, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	assert_true(nfds <= FE_MAX_FDS);
	assert_int_equal(fe_sendmsg(c->qemu, buf, len, fds, nfds), (ssize_t)len);
}

/* Send one message whose header claims SIZE and that carries LEN bytes. */
static void send_msg(struct ctx *c, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		     const int *fds, unsigned nfds)
{
	uint8_t buf[12 + 512];

	assert_true(size <= 512);
	put32(buf, req);
	put32(buf + 4, flags);
	put32(buf + 8, size);
	if (size)
		memcpy(buf + 12, payload, size);
	send_raw(c, buf, 12 + size, fds, nfds);
}

/* Read one reply; returns its payload size, payload into OUT. */
static uint32_t recv_reply(struct ctx *c, uint32_t req, uint8_t *out, size_t outlen)
{
	struct pollfd p = { .fd = c->qemu, .events = POLLIN };
	uint8_t h[12];
	uint32_t size;

	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(recv(c->qemu, h, 12, MSG_WAITALL), 12);
	assert_int_equal(get32(h), req);
	assert_int_equal(get32(h + 4), 0x5); /* version 1, reply */
	size = get32(h + 8);
	assert_true(size <= outlen);
	if (size)
		assert_int_equal(recv(c->qemu, out, size, MSG_WAITALL), (ssize_t)size);
	return size;
}

static bool nothing_to_read(struct ctx *c)
{
	struct pollfd p = { .fd = c->qemu, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

/* Send, dispatch, and read the ack of a NEED_REPLY message. */
static uint64_t call_ack(struct ctx *c, uint32_t req, const void *payload, uint32_t size, const int *fds, unsigned nfds)
{
	uint8_t r[8];

	send_msg(c, req, FLAGS_V1 | NEED_REPLY, payload, size, fds, nfds);
	assert_int_equal(vu_dispatch(&c->d), 0);
	assert_int_equal(recv_reply(c, req, r, sizeof(r)), 8);
	return get64(r);
}

static uint64_t call_u64(struct ctx *c, uint32_t req)
{
	uint8_t r[8];

	send_msg(c, req, FLAGS_V1, NULL, 0, NULL, 0);
	assert_int_equal(vu_dispatch(&c->d), 0);
	assert_int_equal(recv_reply(c, req, r, sizeof(r)), 8);
	return get64(r);
}

static uint64_t ack_u64(struct ctx *c, uint32_t req, uint64_t v)
{
	uint8_t p[8];

	put64(p, v);
	return call_ack(c, req, p, 8, NULL, 0);
}

static uint64_t ack_state(struct ctx *c, uint32_t req, uint32_t idx, uint32_t num)
{
	uint8_t p[8];

	put32(p, idx);
	put32(p + 4, num);
	return call_ack(c, req, p, 8, NULL, 0);
}

static void region_raw(uint8_t *p, uint64_t gpa, uint64_t size, uint64_t qva, uint64_t off)
{
	put64(p, gpa);
	put64(p + 8, size);
	put64(p + 16, qva);
	put64(p + 24, off);
}

static uint64_t ack_mem_table(struct ctx *c, int fd)
{
	uint8_t p[8 + 32] = { 0 };

	put32(p, 1);
	region_raw(p + 8, 0, MEM_SIZE, QVA_BASE, 0);
	return call_ack(c, SET_MEM_TABLE, p, sizeof(p), &fd, 1);
}

static uint64_t ack_addr(struct ctx *c, uint32_t q, uint64_t desc_gpa)
{
	uint8_t p[40] = { 0 };

	put32(p, q);
	put64(p + 8, QVA_BASE + desc_gpa);
	put64(p + 16, QVA_BASE + desc_gpa + 0x2000);  /* used */
	put64(p + 24, QVA_BASE + desc_gpa + 0x1000);  /* avail */
	return call_ack(c, SET_VRING_ADDR, p, sizeof(p), NULL, 0);
}

static uint64_t ack_vring_fd(struct ctx *c, uint32_t req, uint32_t q, int fd)
{
	uint8_t p[8];

	put64(p, q | (fd < 0 ? NOFD : 0));
	return call_ack(c, req, p, 8, fd < 0 ? NULL : &fd, fd < 0 ? 0 : 1);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	int sv[2];

	assert_non_null(c);
	c->fds_before = count_fds();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	c->qemu = sv[0];
	c->sv1 = sv[1];
	assert_int_equal(vu_init(&c->d, sv[1], 2, &test_ops, c), 0);
	put64(c->d.config, 4); /* guest CID 4 */
	c->d.config_len = 8;
	c->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(c->memfd >= 0);
	assert_int_equal(ftruncate(c->memfd, MEM_SIZE), 0);
	c->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
	assert_true(c->mem != MAP_FAILED);
	for (int i = 0; i < 2; i++) {
		c->kick[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		c->call[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	vu_close(&c->d);
	for (int i = 0; i < 2; i++) {
		close(c->kick[i]);
		close(c->call[i]);
	}
	munmap(c->mem, MEM_SIZE);
	close(c->memfd);
	close(c->qemu);
	/* Every fd the device received was closed by vu_close. */
	assert_int_equal(count_fds(), c->fds_before);
	free(c);
	return 0;
}

/* What QEMU does for vhost-user-vsock: negotiate, map memory, start rings. */
static void qemu_start(struct ctx *c)
{
	uint64_t f = call_u64(c, GET_FEATURES);

	assert_int_equal(ack_u64(c, SET_PROTOCOL_FEATURES, call_u64(c, GET_PROTOCOL_FEATURES)), 0);
	send_msg(c, SET_OWNER, FLAGS_V1, NULL, 0, NULL, 0);
	assert_int_equal(vu_dispatch(&c->d), 0);
	assert_int_equal(ack_u64(c, SET_FEATURES, f), 0);
	assert_int_equal(ack_mem_table(c, c->memfd), 0);
	for (uint32_t q = 0; q < 2; q++) {
		assert_int_equal(ack_state(c, SET_VRING_NUM, q, 8), 0);
		assert_int_equal(ack_state(c, SET_VRING_BASE, q, 0), 0);
		assert_int_equal(ack_addr(c, q, RING_GPA(q)), 0);
		assert_int_equal(ack_vring_fd(c, SET_VRING_KICK, q, c->kick[q]), 0);
		assert_int_equal(ack_vring_fd(c, SET_VRING_CALL, q, c->call[q]), 0);
		assert_int_equal(c->started[q], 0); /* not enabled yet */
		assert_int_equal(ack_state(c, SET_VRING_ENABLE, q, 1), 0);
		assert_int_equal(c->started[q], 1);
	}
}

static void test_features(void **state)
{
	struct ctx *c = *state;
	uint64_t f = call_u64(c, GET_FEATURES), pf;

	assert_true(f & (1ull << 32));  /* VERSION_1 */
	assert_true(f & (1ull << 29));  /* EVENT_IDX */
	assert_true(f & (1ull << 28));  /* INDIRECT_DESC */
	assert_true(f & (1ull << 30));  /* PROTOCOL_FEATURES */
	assert_true(f & (1ull << 1));   /* VSOCK SEQPACKET */
	pf = call_u64(c, GET_PROTOCOL_FEATURES);
	assert_true(pf & (1ull << 3));  /* REPLY_ACK */
	assert_true(pf & (1ull << 9));  /* CONFIG */
	assert_true(pf & 1);            /* MQ: GET_QUEUE_NUM answers nqueues */
	assert_int_equal(ack_u64(c, SET_PROTOCOL_FEATURES, pf), 0);
	/* A bit never offered is refused. */
	assert_int_not_equal(ack_u64(c, SET_FEATURES, f | (1ull << 26)), 0);
	assert_non_null(strstr(c->lastlog, "SET_FEATURES"));
	assert_int_equal(ack_u64(c, SET_FEATURES, f), 0);
	assert_true(vu_has_feature(&c->d, 29));
	assert_int_equal(call_u64(c, GET_MAX_MEM_SLOTS), VU_MEM_MAX_REGIONS);
	assert_int_equal(call_u64(c, GET_QUEUE_NUM), 2);
}

static void test_get_config(void **state)
{
	struct ctx *c = *state;
	uint8_t p[12 + 8] = { 0 }, r[64];

	put32(p, 0);
	put32(p + 4, 8);
	send_msg(c, GET_CONFIG, FLAGS_V1, p, sizeof(p), NULL, 0);
	assert_int_equal(vu_dispatch(&c->d), 0);
	assert_int_equal(recv_reply(c, GET_CONFIG, r, sizeof(r)), 20);
	assert_int_equal(get32(r + 4), 8);
	assert_int_equal(get64(r + 12), 4);
	/* Past the 8-byte config: header-only answer, no bytes beyond. */
	put32(p, 4);
	send_msg(c, GET_CONFIG, FLAGS_V1, p, sizeof(p), NULL, 0);
	assert_int_equal(vu_dispatch(&c->d), 0);
	assert_int_equal(recv_reply(c, GET_CONFIG, r, sizeof(r)), 12);
	assert_int_equal(get32(r + 4), 0);
	/* Read-only. */
	assert_int_equal(ack_u64(c, SET_PROTOCOL_FEATURES, 1u << 3), 0);
	assert_int_not_equal(call_ack(c, SET_CONFIG, p, sizeof(p), NULL, 0), 0);
}

/* Full start, a packet from the guest on the tx ring, completion, call. */
static void test_start_and_traffic(void **state)
{
	struct ctx *c = *state;
	uint8_t *desc = c->mem + RING_GPA(1), *avail = desc + 0x1000, *used = desc + 0x2000;
	struct vq_elem e;
	struct vq *q;
	uint64_t one = 1, v;
	uint8_t r[8];

	qemu_start(c);
	q = &c->d.vq[1];
	assert_true(q->ready && q->event_idx && q->indirect);
	/* Guest: one 44-byte buffer "hello", avail idx 1, kick. */
	memcpy(c->mem + BUF_GPA, "hello", 5);
	put64(desc, BUF_GPA);
	put32(desc + 8, 44);
	avail[4] = 0;                     /* ring[0] = head 0 */
	avail[2] = 1;                     /* idx = 1 */
	assert_int_equal(write(c->kick[1], &one, 8), 8);
	/* Device side. */
	assert_int_equal(vq_kick_drain(q), 0);
	assert_int_equal(vq_pop(q, &e), 1);
	assert_int_equal(e.out_len, 44);
	assert_memory_equal(e.out[0].iov_base, "hello", 5);
	vq_push(q, &e, 0);
	assert_int_equal(vq_notify(q), 1);
	assert_int_equal(used[2], 1);
	assert_int_equal(read(c->call[1], &v, 8), 8);
	/* QEMU stops the ring: GET_VRING_BASE answers the next avail index. */
	put32(r, 1);
	put32(r + 4, 0);
	send_msg(c, GET_VRING_BASE, FLAGS_V1, r, 8, NULL, 0);
	assert_int_equal(vu_dispatch(&c->d), 0);
	assert_int_equal(recv_reply(c, GET_VRING_BASE, r, sizeof(r)), 8);
	assert_int_equal(get32(r), 1);
	assert_int_equal(get32(r + 4), 1);
	assert_int_equal(c->stopped[1], 1);
	assert_false(q->ready);
	assert_int_equal(q->kick_fd, -1);
	assert_int_equal(c->stopped[0], 0);
	/* Restart with a stale base 0 (a back end that died would not have
	 * answered GET_VRING_BASE): the used idx in memory wins, so the
	 * completed chain is not taken again. */
	assert_int_equal(ack_state(c, SET_VRING_BASE, 1, 0), 0);
	assert_int_equal(ack_addr(c, 1, RING_GPA(1)), 0);
	assert_int_equal(ack_vring_fd(c, SET_VRING_KICK, 1, c->kick[1]), 0);
	assert_int_equal(c->started[1], 2);
	assert_int_equal(q->last_avail_idx, 1);
	assert_int_equal(vq_pop(q, &e), 0);
}

/* Another front end's order: ADDR before NUM, BASE last. */
static void test_addr_before_num(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(ack_u64(c, SET_PROTOCOL_FEATURES, call_u64(c, GET_PROTOCOL_FEATURES)), 0);
	assert_int_equal(ack_u64(c, SET_FEATURES, call_u64(c, GET_FEATURES)), 0);
	assert_int_equal(ack_mem_table(c, c->memfd), 0);
	assert_int_equal(ack_addr(c, 0, RING_GPA(0)), 0);
	assert_null(c->d.vq[0].desc);
	assert_int_equal(ack_state(c, SET_VRING_NUM, 0, 16), 0);
	assert_ptr_equal(c->d.vq[0].desc, vu_gpa_to_va(&c->d.mem, RING_GPA(0), 16 * 16));
	assert_int_equal(ack_state(c, SET_VRING_BASE, 0, 0), 0);
	assert_int_equal(ack_state(c, SET_VRING_ENABLE, 0, 1), 0);
	assert_int_equal(c->started[0], 0);
	assert_int_equal(ack_vring_fd(c, SET_VRING_KICK, 0, c->kick[0]), 0);
	assert_int_equal(c->started[0], 1);
}

static void test_no_protocol_features(void **state)
{
	struct ctx *c = *state;

	/* Old front ends: no PROTOCOL_FEATURES, rings enabled on start. */
	send_msg(c, SET_FEATURES, FLAGS_V1, (uint8_t[8]){ 0, 0, 0, 0x30, 1 }, 8, NULL, 0);
	assert_int_equal(vu_dispatch(&c->d), 0);
	assert_true(nothing_to_read(c)); /* no REPLY_ACK negotiated: silent */
	assert_true(vu_has_feature(&c->d, 28) && vu_has_feature(&c->d, 29) && vu_has_feature(&c->d, 32));
	assert_true(c->d.vq[0].enabled && c->d.vq[1].enabled);
	/* 8 bytes cannot hold one region: rejected, logged, no reply. */
	send_msg(c, SET_MEM_TABLE, FLAGS_V1, (uint8_t[8]){ 1 }, 8, &c->memfd, 1);
	assert_int_equal(vu_dispatch(&c->d), 0);
	assert_true(nothing_to_read(c));
	assert_int_equal(c->d.mem.n, 0);
	assert_non_null(strstr(c->d.errmsg, "SET_MEM_TABLE"));
	assert_int_equal(c->d.nerrors, 1);
}

static void test_reply_ack_errors(void **state)
{
	struct ctx *c = *state;
	int pipefd[2];
	uint8_t p[64] = { 0 };

	assert_int_equal(ack_u64(c, SET_PROTOCOL_FEATURES, call_u64(c, GET_PROTOCOL_FEATURES)), 0);
	assert_int_equal(ack_mem_table(c, c->memfd), 0);
	/* Ring size not a power of two, too large, ring index out of range. */
	assert_int_not_equal(ack_state(c, SET_VRING_NUM, 0, 6), 0);
	assert_non_null(strstr(c->lastlog, "power of two"));
	assert_int_not_equal(ack_state(c, SET_VRING_NUM, 0, 65536), 0);
	assert_int_not_equal(ack_state(c, SET_VRING_NUM, 2, 8), 0);
	assert_int_not_equal(ack_state(c, SET_VRING_NUM, 255, 8), 0);
	assert_int_not_equal(ack_state(c, SET_VRING_BASE, 0, 70000), 0);
	assert_int_not_equal(ack_state(c, SET_VRING_ENABLE, 0, 2), 0);
	/* Payload shorter than the message type needs (lying size). */
	put32(p, 0);
	assert_int_not_equal(call_ack(c, SET_VRING_NUM, p, 4, NULL, 0), 0);
	assert_non_null(strstr(c->lastlog, "payload is 4 bytes"));
	assert_int_not_equal(call_ack(c, SET_VRING_ADDR, p, 32, NULL, 0), 0);
	/* Ring addresses outside guest memory. */
	assert_int_equal(ack_state(c, SET_VRING_NUM, 0, 8), 0);
	assert_int_not_equal(ack_addr(c, 0, MEM_SIZE - 0x1000), 0);
	assert_null(c->d.vq[0].desc);
	/* Wrong fd counts: fds are closed, not leaked (teardown counts). */
	assert_int_equal(ack_vring_fd(c, SET_VRING_KICK, 0, -1), 0); /* NOFD: accepted, not started */
	assert_false(c->d.vq[0].started);
	put64(p, 0);
	assert_int_not_equal(call_ack(c, SET_VRING_CALL, p, 8, NULL, 0), 0);            /* fd missing */
	int two[2] = { c->kick[0], c->call[0] };
	assert_int_not_equal(call_ack(c, SET_VRING_CALL, p, 8, two, 2), 0);            /* two fds */
	put64(p, NOFD);
	assert_int_not_equal(call_ack(c, SET_VRING_CALL, p, 8, two, 1), 0);            /* fd with NOFD */
	put64(p, 0x200);
	assert_int_not_equal(call_ack(c, SET_VRING_CALL, p, 8, two, 1), 0);            /* reserved bits */
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	assert_int_not_equal(ack_vring_fd(c, SET_VRING_KICK, 0, pipefd[0]), 0);       /* not an eventfd */
	assert_non_null(strstr(c->lastlog, "not an eventfd"));
	close(pipefd[0]);
	close(pipefd[1]);
	assert_int_equal(call_ack(c, SET_OWNER, NULL, 0, two, 2), 0); /* stray fds closed */
	/* Unsupported and unknown requests. */
	assert_int_not_equal(call_ack(c, SET_LOG_BASE, p, 8, two, 1), 0);
	assert_int_not_equal(call_ack(c, 999, NULL, 0, NULL, 0), 0);
	assert_non_null(strstr(c->lastlog, "unknown (999)"));
	assert_int_equal(c->started[0] + c->started[1], 0);
}

static void test_mem_table_errors(void **state)
{
	struct ctx *c = *state;
	uint8_t p[8 + 9 * 32] = { 0 };
	int fds[9];
	int small = memfd_create("small", MFD_CLOEXEC);

	assert_int_equal(ack_u64(c, SET_PROTOCOL_FEATURES, call_u64(c, GET_PROTOCOL_FEATURES)), 0);
	for (int i = 0; i < 9; i++)
		fds[i] = c->memfd;
	/* One region described, two fds. */
	put32(p, 1);
	region_raw(p + 8, 0, MEM_SIZE, QVA_BASE, 0);
	assert_int_not_equal(call_ack(c, SET_MEM_TABLE, p, 40, fds, 2), 0);
	/* Nine regions: over the baseline. */
	put32(p, 9);
	assert_int_not_equal(call_ack(c, SET_MEM_TABLE, p, sizeof(p), fds, 9), 0);
	/* Overlapping regions. */
	put32(p, 2);
	region_raw(p + 40, 0x1000, 0x1000, QVA_BASE + MEM_SIZE, 0);
	assert_int_not_equal(call_ack(c, SET_MEM_TABLE, p, 72, fds, 2), 0);
	assert_non_null(strstr(c->lastlog, "overlap"));
	/* File smaller than the region (would SIGBUS). */
	assert_int_equal(ftruncate(small, 4096), 0);
	put32(p, 1);
	assert_int_not_equal(call_ack(c, SET_MEM_TABLE, p, 40, &small, 1), 0);
	assert_int_equal(c->d.mem.n, 0);
	/* A good table, then a bad replacement leaves the good one. */
	assert_int_equal(ack_mem_table(c, c->memfd), 0);
	assert_int_equal(c->d.mem.n, 1);
	assert_int_not_equal(call_ack(c, SET_MEM_TABLE, p, 40, &small, 1), 0);
	assert_int_equal(c->d.mem.n, 1);
	assert_int_equal(c->d.mem.r[0].size, MEM_SIZE);
	close(small);
}

static void test_add_rem_region(void **state)
{
	struct ctx *c = *state;
	uint8_t p[40] = { 0 };
	int fd = c->memfd;

	qemu_start(c);
	assert_int_equal(c->d.mem.n, 1);
	/* A second region elsewhere (same memfd, another gpa). */
	region_raw(p + 8, 0x100000000ull, 0x10000, QVA_BASE + 0x40000000, 0x10000);
	assert_int_equal(call_ack(c, ADD_MEM_REG, p, 40, &fd, 1), 0);
	assert_int_equal(c->d.mem.n, 2);
	assert_non_null(vu_gpa_to_va(&c->d.mem, 0x100000000ull, 0x10000));
	/* Overlap refused. */
	region_raw(p + 8, 0x100008000ull, 0x10000, QVA_BASE + 0x50000000, 0);
	assert_int_not_equal(call_ack(c, ADD_MEM_REG, p, 40, &fd, 1), 0);
	/* No fd: refused. */
	assert_int_not_equal(call_ack(c, ADD_MEM_REG, p, 40, NULL, 0), 0);
	/* Removing the second region leaves the rings running. */
	region_raw(p + 8, 0x100000000ull, 0x10000, QVA_BASE + 0x40000000, 0x10000);
	assert_int_equal(call_ack(c, REM_MEM_REG, p, 40, &fd, 1), 0);
	assert_int_equal(c->d.mem.n, 1);
	assert_int_equal(c->stopped[0] + c->stopped[1], 0);
	assert_int_not_equal(call_ack(c, REM_MEM_REG, p, 40, NULL, 0), 0); /* gone already */
	/* Removing the rings' region stops both rings. */
	region_raw(p + 8, 0, MEM_SIZE, QVA_BASE, 0);
	assert_int_equal(call_ack(c, REM_MEM_REG, p, 40, NULL, 0), 0);
	assert_int_equal(c->stopped[0], 1);
	assert_int_equal(c->stopped[1], 1);
	assert_null(c->d.vq[0].desc);
	/* Adding it back restarts them. */
	assert_int_equal(call_ack(c, ADD_MEM_REG, p, 40, &fd, 1), 0);
	assert_int_equal(c->started[0], 2);
	assert_int_equal(c->started[1], 2);
}

static void test_mem_slots_limit(void **state)
{
	struct ctx *c = *state;
	uint8_t p[40] = { 0 };
	int fd = c->memfd;
	unsigned added = 0;

	assert_int_equal(ack_u64(c, SET_PROTOCOL_FEATURES, call_u64(c, GET_PROTOCOL_FEATURES)), 0);
	for (unsigned i = 0; i < VU_MEM_MAX_REGIONS + 2; i++) {
		region_raw(p + 8, 0x200000000ull + i * 0x10000ull, 0x10000, QVA_BASE + i * 0x10000ull, 0);
		if (call_ack(c, ADD_MEM_REG, p, 40, &fd, 1) == 0)
			added++;
	}
	assert_int_equal(added, VU_MEM_MAX_REGIONS);
	assert_non_null(strstr(c->lastlog, "slots"));
}

static void test_mem_table_replace(void **state)
{
	struct ctx *c = *state;
	int fd2 = memfd_create("guest2", MFD_CLOEXEC);
	uint8_t *old_desc;

	qemu_start(c);
	old_desc = c->d.vq[0].desc;
	assert_int_equal(ftruncate(fd2, MEM_SIZE), 0);
	assert_int_equal(ack_mem_table(c, fd2), 0);
	/* Rings follow the new mapping and keep running. */
	assert_ptr_not_equal(c->d.vq[0].desc, old_desc);
	assert_ptr_equal(c->d.vq[0].desc, vu_gpa_to_va(&c->d.mem, RING_GPA(0), 16));
	assert_true(c->d.vq[0].ready);
	assert_int_equal(c->stopped[0], 0);
	close(fd2);
}

static void test_reset_device(void **state)
{
	struct ctx *c = *state;

	qemu_start(c);
	assert_int_equal(call_ack(c, RESET_DEVICE, NULL, 0, NULL, 0), 0);
	assert_int_equal(c->resets, 1);
	assert_int_equal(c->stopped[0], 1);
	assert_int_equal(c->stopped[1], 1);
	assert_int_equal(c->d.vq[0].kick_fd, -1);
	assert_int_equal(c->d.acked_features, 0);
}

/* ------------------------------------------------- framing failures */

static void test_eof(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(vu_dispatch(&c->d), -EAGAIN);
	shutdown(c->qemu, SHUT_WR);
	assert_int_equal(vu_dispatch(&c->d), -ECONNRESET);
}

static void test_bad_version(void **state)
{
	struct ctx *c = *state;

	send_msg(c, GET_FEATURES, 0x2, NULL, 0, NULL, 0);
	assert_int_equal(vu_dispatch(&c->d), -EPROTO);
	assert_true(nothing_to_read(c));
}

static void test_oversize(void **state)
{
	struct ctx *c = *state;
	uint8_t h[12];

	put32(h, SET_MEM_TABLE);
	put32(h + 4, FLAGS_V1);
	put32(h + 8, 0xffffff00u);
	send_raw(c, h, 12, &c->memfd, 1);
	assert_int_equal(vu_dispatch(&c->d), -EMSGSIZE);
	assert_non_null(strstr(c->lastlog, "payload size"));
}

static void test_truncated_payload(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[12 + 4];

	/* Header says 8 bytes, 4 arrive, then the peer stalls. */
	put32(buf, SET_VRING_NUM);
	put32(buf + 4, FLAGS_V1);
	put32(buf + 8, 8);
	put32(buf + 12, 0);
	c->d.msg_timeout_ms = 100;
	send_raw(c, buf, sizeof(buf), c->kick, 1);
	/* Never a wait: the 16 bytes are kept, the deadline runs. */
	assert_int_equal(vu_dispatch(&c->d), -EAGAIN);
	assert_int_not_equal(vu_deadline(&c->d), 0);
	assert_int_equal(vu_expired(&c->d, vu_deadline(&c->d) - 1), 0);
	usleep(120 * 1000);
	assert_int_equal(vu_dispatch(&c->d), -ETIMEDOUT);
	assert_non_null(strstr(c->lastlog, "only 16 of 20 bytes"));
	assert_int_equal(vu_expired(&c->d, vu_deadline(&c->d)), -ETIMEDOUT);
	vu_close(&c->d);
	/* A fresh connection for the second half. */
	{
		int sv[2];

		close(c->qemu);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		c->qemu = sv[0];
		assert_int_equal(vu_init(&c->d, sv[1], 2, &test_ops, c), 0);
	}
	/* Header cut short, then EOF. */
	send_raw(c, buf, 6, NULL, 0);
	shutdown(c->qemu, SHUT_WR);
	assert_int_equal(vu_dispatch(&c->d), -ECONNRESET);
}

static void test_too_many_fds(void **state)
{
	struct ctx *c = *state;
	int fds[12];

	for (int i = 0; i < 12; i++)
		fds[i] = c->call[0];
	send_msg(c, GET_FEATURES, FLAGS_V1, NULL, 0, fds, 12);
	/* Extra fds are dropped (closed), the request still answered. */
	assert_int_equal(vu_dispatch(&c->d), 0);
	uint8_t r[8];
	assert_int_equal(recv_reply(c, GET_FEATURES, r, 8), 8);
}

static void test_failed_get_drops(void **state)
{
	struct ctx *c = *state;
	uint8_t p[8] = { 9 };

	/* GET_VRING_BASE for a ring that does not exist: QEMU waits for a
	 * reply we cannot give, so the connection goes. */
	send_msg(c, GET_VRING_BASE, FLAGS_V1, p, 8, NULL, 0);
	assert_true(vu_dispatch(&c->d) < 0);
}

static void test_close_twice(void **state)
{
	struct ctx *c = *state;

	qemu_start(c);
	vu_close(&c->d);
	assert_int_equal(c->resets, 1);
	assert_int_equal(c->stopped[0], 1);
	assert_int_equal(c->d.sock, -1);
	vu_close(&c->d);
	assert_int_equal(c->resets, 1);
	assert_int_equal(vu_dispatch(&c->d), -EBADF);
}

/* The semaphore test for kernels without "eventfd-semaphore:" in fdinfo
 * (this one has it: both ways must agree), at counts 0, 1 and many. */
static void test_semaphore_probe(void **state)
{
	static const uint64_t counts[] = { 0, 1, 5, UINT64_MAX - 1 };

	for (int sem = 0; sem < 2; sem++)
		for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
			int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC | (sem ? EFD_SEMAPHORE : 0));

			assert_true(fd >= 0);
			if (counts[i])
				assert_int_equal(write(fd, &counts[i], 8), 8);
			assert_int_equal(vu_eventfd_semaphore(fd, false), sem);
			assert_int_equal(vu_eventfd_probe_semaphore(fd), sem);
			close(fd);
		}
}

static void test_request_names(void **state)
{
	char b[32];

	assert_string_equal(vu_request_name(5, b, sizeof(b)), "SET_MEM_TABLE");
	assert_string_equal(vu_request_name(38, b, sizeof(b)), "REM_MEM_REG");
	assert_string_equal(vu_request_name(77, b, sizeof(b)), "unknown (77)");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_features),
		T(test_get_config),
		T(test_start_and_traffic),
		T(test_addr_before_num),
		T(test_no_protocol_features),
		T(test_reply_ack_errors),
		T(test_mem_table_errors),
		T(test_add_rem_region),
		T(test_mem_slots_limit),
		T(test_mem_table_replace),
		T(test_reset_device),
		T(test_eof),
		T(test_bad_version),
		T(test_oversize),
		T(test_truncated_payload),
		T(test_too_many_fds),
		T(test_failed_get_drops),
		T(test_close_twice),
		cmocka_unit_test(test_semaphore_probe),
		cmocka_unit_test(test_request_names),
	};

	return cmocka_run_group_tests_name("vhost", tests, NULL, NULL);
}
