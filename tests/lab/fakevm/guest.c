/* fakevm: the vhost-user front end (QEMU's part) and the guest's vsock
 * driver on split rings in a memfd (see main.c). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fakevm.h"

const char *test = "fakevm";
static uint8_t *mem;
uint32_t cid;
static int vu = -1;
static uint16_t txfree[NTX];   /* tx chains the device gave back */
static unsigned ntxfree;

void die(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The stream's bytes and a running hash over any bytes. */
uint8_t pat(uint64_t i)
{
	return (uint8_t)(i * 131 + (i >> 9) + 7);
}

uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void st16(uint64_t a, uint16_t v) { memcpy(mem + a, &v, 2); }
static void st32(uint64_t a, uint32_t v) { memcpy(mem + a, &v, 4); }
static void st64(uint64_t a, uint64_t v) { memcpy(mem + a, &v, 8); }
static uint32_t ld32(uint64_t a) { uint32_t v; memcpy(&v, mem + a, 4); return v; }
static uint16_t ld16(uint64_t a) { uint16_t v; memcpy(&v, mem + a, 2); return v; }
static uint64_t ld64(uint64_t a) { uint64_t v; memcpy(&v, mem + a, 8); return v; }

/* ------------------------------------------------------------ vhost-user */

static void vu_send(uint32_t req, const void *pl, uint32_t size, int fd)
{
	uint8_t buf[256];
	struct iovec iov = { buf, 12 + size };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memcpy(buf, &req, 4);
	memcpy(buf + 4, &(uint32_t){ 1 }, 4);
	memcpy(buf + 8, &size, 4);
	memcpy(buf + 12, pl, size);
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(vu, &mh, MSG_NOSIGNAL) != (ssize_t)(12 + size))
		die("vhost-user send of request %u: %s", req, strerror(errno));
}

static uint64_t vu_get_u64(uint32_t req)
{
	uint8_t r[20];
	struct pollfd p = { .fd = vu, .events = POLLIN };
	uint64_t v;

	vu_send(req, NULL, 0, -1);
	if (poll(&p, 1, 5000) != 1 || recv(vu, r, sizeof(r), MSG_WAITALL) != 20)
		die("no reply to vhost-user request %u", req);

	memcpy(&v, r + 12, 8);
	return v;
}

struct ring {
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen;
	int kick, call;
};
static struct ring rq[3];

static void avail_push(struct ring *r, uint16_t head)
{
	st16(r->avail + 4 + 2ul * (r->avail_idx % QN), head);
	r->avail_idx++;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n((uint16_t *)(void *)(mem + r->avail + 2), r->avail_idx, __ATOMIC_RELEASE);
}

static void kick(struct ring *r)
{
	uint64_t one = 1;

	if (write(r->kick, &one, 8) != 8)
		die("kick: %s", strerror(errno));
}

static int used_take(struct ring *r, uint32_t *id, uint32_t *len)
{
	uint16_t idx = __atomic_load_n((uint16_t *)(void *)(mem + r->used + 2), __ATOMIC_ACQUIRE);
	uint64_t e;

	if (idx == r->used_seen)
		return 0;
	e = r->used + 4 + 8ul * (r->used_seen % QN);
	*id = ld32(e);
	*len = ld32(e + 4);
	r->used_seen++;
	return 1;
}

static void put_desc(struct ring *r, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint64_t d = r->desc + 16ul * i;

	st64(d, addr);
	st32(d + 8, len);
	st16(d + 12, flags);
	st16(d + 14, next);
}

void vu_setup(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint8_t pl[64];
	uint64_t feat;
	int mfd = memfd_create("fakevm", MFD_CLOEXEC);

	if (mfd < 0 || ftruncate(mfd, MEMSZ) < 0)
		die("memfd: %s", strerror(errno));
	mem = mmap(NULL, MEMSZ, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (mem == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	vu = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	for (int i = 0; connect(vu, (struct sockaddr *)&sun, sizeof(sun)) < 0; i++) {
		if (i == 100)
			die("connect %s: %s", path, strerror(errno));
		usleep(100000);
	}
	feat = vu_get_u64(1); /* GET_FEATURES */
	feat &= (1ull << 32) | (1ull << 1); /* VERSION_1, SEQPACKET; no protocol features */
	if (!(feat & (1ull << 1)))
		die("the device does not offer VIRTIO_VSOCK_F_SEQPACKET");
	vu_send(2, &feat, 8, -1);  /* SET_FEATURES */
	vu_send(3, NULL, 0, -1);   /* SET_OWNER */
	memset(pl, 0, sizeof(pl));
	memcpy(pl, &(uint32_t){ 1 }, 4);
	memcpy(pl + 8, &(uint64_t){ 0 }, 8);          /* gpa */
	memcpy(pl + 16, &(uint64_t){ MEMSZ }, 8);     /* size */
	memcpy(pl + 24, &(uint64_t){ UADDR }, 8);     /* user address */
	memcpy(pl + 32, &(uint64_t){ 0 }, 8);         /* mmap offset */
	vu_send(5, pl, 40, mfd);   /* SET_MEM_TABLE */
	close(mfd);
	for (uint32_t q = 0; q < 3; q++) {
		struct ring *r = &rq[q];
		uint64_t qi = q;

		r->desc = 0x4000ul * q;
		r->avail = r->desc + 0x1000;
		r->used = r->desc + 0x2000;
		r->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		r->call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		memcpy(pl, &q, 4);
		memcpy(pl + 4, &(uint32_t){ QN }, 4);
		vu_send(8, pl, 8, -1); /* SET_VRING_NUM */
		memcpy(pl + 4, &(uint32_t){ 0 }, 4);
		vu_send(10, pl, 8, -1); /* SET_VRING_BASE */
		memset(pl, 0, 40);
		memcpy(pl, &q, 4);
		memcpy(pl + 8, &(uint64_t){ UADDR + r->desc }, 8);
		memcpy(pl + 16, &(uint64_t){ UADDR + r->used }, 8);
		memcpy(pl + 24, &(uint64_t){ UADDR + r->avail }, 8);
		vu_send(9, pl, 40, -1); /* SET_VRING_ADDR */
		vu_send(13, &qi, 8, r->call); /* SET_VRING_CALL */
		vu_send(12, &qi, 8, r->kick); /* SET_VRING_KICK */
	}
	for (unsigned i = 0; i < QN; i++) {
		put_desc(&rq[0], i, RXBUF + (uint64_t)i * RXLEN, RXLEN, 2 /* WRITE */, 0);
		avail_push(&rq[0], (uint16_t)i);
	}
	for (unsigned i = 0; i < 4; i++) {
		put_desc(&rq[2], i, EVBUF + 8ul * i, 8, 2, 0);
		avail_push(&rq[2], (uint16_t)i);
	}
	kick(&rq[0]);
	kick(&rq[2]);
	for (unsigned i = 0; i < NTX; i++)
		txfree[ntxfree++] = (uint16_t)i;
}

/* --------------------------------------------------------- the driver */

struct conn conns[8];
uint32_t listen_port;

static struct conn *conn_find(uint32_t lport, uint32_t rport)
{
	for (unsigned i = 0; i < 8; i++)
		if (conns[i].used && conns[i].lport == lport && conns[i].rport == rport)
			return &conns[i];
	return NULL;
}

static struct conn *conn_add(uint16_t type, uint32_t lport, uint32_t rport)
{
	for (unsigned i = 0; i < 8; i++)
		if (!conns[i].used) {
			memset(&conns[i], 0, sizeof(conns[i]));
			conns[i].used = true;
			conns[i].type = type;
			conns[i].lport = lport;
			conns[i].rport = rport;
			conns[i].rx_hash = FNV0;
			conns[i].msg_hash = FNV0;
			return &conns[i];
		}
	die("too many connections");
}

static void tx_reap(void)
{
	uint32_t id, len;

	while (used_take(&rq[1], &id, &len))
		txfree[ntxfree++] = (uint16_t)(id / 2);
}

/* One packet of C to the device; payload P[LEN] (LEN <= TXPAYLEN). */
void tx(struct conn *c, uint16_t op, uint32_t flags, const uint8_t *p, uint32_t len)
{
	uint64_t h;
	uint16_t k;
	double t0 = now();

	while (ntxfree == 0) {
		struct pollfd pf = { .fd = rq[1].call, .events = POLLIN };
		uint64_t v;

		poll(&pf, 1, 10);
		if (read(rq[1].call, &v, 8) < 0) {
			/* nothing yet */
		}
		tx_reap();
		if (now() - t0 > 20)
			die("the device returns no tx buffers");
	}
	k = txfree[--ntxfree];
	h = TXHDR + 64ul * k;
	memset(mem + h, 0, HDR);
	st64(h, cid);
	st64(h + 8, 2);
	st32(h + 16, c->lport);
	st32(h + 20, c->rport);
	st32(h + 24, len);
	st16(h + 28, c->type);
	st16(h + 30, op);
	st32(h + 32, flags);
	st32(h + 36, GBUF);
	st32(h + 40, c->fwd_cnt);
	c->fwd_adv = c->fwd_cnt;
	if (len > 0) {
		memcpy(mem + TXPAY + (uint64_t)k * TXPAYLEN, p, len);
		put_desc(&rq[1], 2u * k, h, HDR, 1 /* NEXT */, (uint16_t)(2u * k + 1));
		put_desc(&rq[1], 2u * k + 1, TXPAY + (uint64_t)k * TXPAYLEN, len, 0, 0);
	} else {
		put_desc(&rq[1], 2u * k, h, HDR, 0, 0);
	}
	avail_push(&rq[1], (uint16_t)(2u * k));
	kick(&rq[1]);
	if (op == OP_RW)
		c->tx_cnt += len;
}

uint32_t credit(const struct conn *c)
{
	uint32_t inflight = c->tx_cnt - c->peer_fwd_cnt;

	return inflight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - inflight;
}

static void on_payload(struct conn *c, const uint8_t *p, uint32_t len, uint32_t flags)
{
	c->rx_bytes += len;
	c->rx_hash = fnv(c->rx_hash, p, len);
	c->fwd_cnt += len;
	if (c->type == T_SEQ) {
		c->msg_len += len;
		c->msg_hash = fnv(c->msg_hash, p, len);
		if (flags & F_EOM) {
			if (c->nmsg < 64) {
				c->msg_lens[c->nmsg] = c->msg_len;
				c->msg_hashes[c->nmsg] = c->msg_hash;
			}
			c->nmsg++;
			c->msg_len = 0;
			c->msg_hash = FNV0;
		}
	}
	if (c->listening_side) {
		if (c->echo_len + len > c->echo_cap) {
			c->echo_cap = (c->echo_len + len) * 2;
			c->echo = realloc(c->echo, c->echo_cap);
			if (c->echo == NULL)
				die("out of memory");
		}
		memcpy(c->echo + c->echo_len, p, len);
		c->echo_len += len;
	}
	/* We consume at once: tell the device once half the buffer is free,
	 * and (as Linux does for SEQPACKET) after every message. */
	if (c->fwd_cnt - c->fwd_adv >= GBUF / 2 || (c->type == T_SEQ && (flags & F_EOM))) {
		tx(c, OP_CREDIT_UPDATE, 0, NULL, 0);
		c->credit_updates++;
	}
}

/* Everything the device has put on the rx and event rings. */
static void rx_reap(void)
{
	uint32_t id, len;
	int n = 0;

	while (used_take(&rq[0], &id, &len)) {
		uint64_t b = RXBUF + (uint64_t)(id % QN) * RXLEN;
		uint32_t sport = ld32(b + 16), dport = ld32(b + 20), plen = ld32(b + 24), flags = ld32(b + 32);
		uint16_t type = ld16(b + 28), op = ld16(b + 30);
		struct conn *c = conn_find(dport, sport);

		if (id >= QN || len < HDR || plen > RXLEN - HDR || len != HDR + plen)
			die("bad rx used entry (id %u len %u, header len %u)", id, len, plen);
		if (ld64(b) != 2 || ld64(b + 8) != cid)
			die("rx packet from CID %llu to %llu", (unsigned long long)ld64(b), (unsigned long long)ld64(b + 8));
		if (c == NULL && op == OP_REQUEST && dport == listen_port) {
			c = conn_add(type, dport, sport);
			c->listening_side = true;
			c->peer_buf_alloc = ld32(b + 36);
			c->peer_fwd_cnt = ld32(b + 40);
			c->up = true;
			tx(c, OP_RESPONSE, 0, NULL, 0);
		} else if (c != NULL) {
			c->peer_buf_alloc = ld32(b + 36);
			c->peer_fwd_cnt = ld32(b + 40);
			switch (op) {
			case OP_RESPONSE:
				c->up = true;
				break;
			case OP_RST:
				c->reset = true;
				break;
			case OP_SHUTDOWN:
				c->peer_shut_send |= (flags & SHUT_SEND_F) != 0;
				c->peer_shut_rcv |= (flags & SHUT_RCV_F) != 0;
				break;
			case OP_RW:
				on_payload(c, mem + b + HDR, plen, flags);
				break;
			case OP_CREDIT_REQUEST:
				tx(c, OP_CREDIT_UPDATE, 0, NULL, 0);
				break;
			default:
				break;
			}
		} else if (op != OP_RST) {
			/* Not ours: what a driver does, RST. */
			struct conn tmp = { .type = type, .lport = dport, .rport = sport };

			tx(&tmp, OP_RST, 0, NULL, 0);
		}
		avail_push(&rq[0], (uint16_t)id);
		n++;
	}
	if (n > 0)
		kick(&rq[0]);
	while (used_take(&rq[2], &id, &len)) {
		avail_push(&rq[2], (uint16_t)id);
		kick(&rq[2]);
	}
}

/* Wait up to MS for the device (its call eventfds), then take what it did. */
void drive(int ms)
{
	struct pollfd p[3] = { { .fd = rq[0].call, .events = POLLIN }, { .fd = rq[1].call, .events = POLLIN },
			       { .fd = rq[2].call, .events = POLLIN } };
	uint64_t v;

	poll(p, 3, ms);
	for (int i = 0; i < 3; i++)
		if (read(rq[i].call, &v, 8) < 0) {
			/* not signalled */
		}
	rx_reap();
	tx_reap();
}

/* Send LEN bytes (one message with EOM on its last packet for SEQPACKET),
 * as credit allows. */
void send_bytes(struct conn *c, const uint8_t *p, size_t len, double deadline)
{
	size_t off = 0;

	while (off < len || (len == 0 && off == 0)) {
		uint32_t room = credit(c), n = (uint32_t)(len - off);

		if (c->reset)
			die("RST while sending (%zu of %zu bytes sent)", off, len);
		if (n > TXPAYLEN)
			n = TXPAYLEN;
		if (room < n || (n == 0 && len > 0)) {
			if (now() > deadline)
				die("no credit for %u bytes in 20 s (peer buf_alloc %u, %u in flight)", n,
				    c->peer_buf_alloc, c->tx_cnt - c->peer_fwd_cnt);
			drive(5);
			continue;
		}
		tx(c, OP_RW, c->type == T_SEQ && off + n == len ? F_EOM : 0, p + off, n);
		off += n;
		if (len == 0)
			break;
		drive(0);
	}
}

struct conn *connect_to(uint16_t type, uint32_t port, double deadline)
{
	static uint32_t next_lport = 40000;
	struct conn *c = conn_add(type, next_lport++, port);

	tx(c, OP_REQUEST, 0, NULL, 0);
	while (!c->up && !c->reset) {
		if (now() > deadline)
			die("no RESPONSE or RST from the device for port %u", port);
		drive(10);
	}
	return c;
}

/* ----------------------------------------------------- the host side */
/* The guest closes its side fully: SHUTDOWN both, the device's RST. */
void full_close(struct conn *c, double deadline)
{
	tx(c, OP_SHUTDOWN, SHUT_RCV_F | SHUT_SEND_F, NULL, 0);
	while (!c->reset) {
		if (now() > deadline)
			die("no RST after the guest's full SHUTDOWN");
		drive(10);
	}
}
