/* bench/device_datapath: the `vsk device` datapath without QEMU.
 *
 * This process plays the guest's virtio-vsock driver on split virtqueues
 * in a memfd (the way QEMU shares guest memory), drives the real device
 * code of libvsk (lib/device*.c through dev_vm_attach / dev_vm_kick /
 * dev_run_once, as tests/unit/test_device.c does), and a thread plays the
 * host peer on the Unix socket "<uds>_PORT".  Guest and device share the
 * main thread (the attach hook has no kick eventfds), the peer runs on
 * another CPU.
 *
 * Measured, alternately in rounds so machine load hits all alike:
 *   - 64 KiB RW packets guest -> host and host -> guest: GB/s, against
 *     memcpy of the same bytes between the same guest buffers and a host
 *     buffer the size of a socket buffer;
 *   - 64-byte RW packets each way: packets per second.
 * Every byte is checked against the stream's pattern (and a sequence
 * number every 64 KiB) by the receiving side in round 1; later rounds
 * check counts, headers and the sequence numbers (-V: every byte always).
 * Bounded: each run stops at its byte count or after -T seconds.
 *
 * Never touches AF_VSOCK: the "guest" is memory in this process.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "device.h"
#include "virtq.h"
#include "vsk.h"
#include "wire.h"

#define CID      4u
#define PORT     5000u
#define QNUM     256u               /* ring entries */
#define CHUNK    65536u             /* sequence number every CHUNK bytes */
#define NSLOT    16u                /* guest tx payload buffers (64 KiB) */
#define NCHAIN   (QNUM / 2)         /* tx chains: header + payload */
#define GBUF     (256u * 1024u)     /* the guest's buf_alloc, Linux's default */
#define HOSTBUF  (256u * 1024u)     /* memcpy baseline: a socket buffer */

#define MEM_RINGS  0x0ul            /* 3 rings, 0x4000 each */
#define MEM_HDRS   0x10000ul        /* 64 bytes per tx chain header */
#define MEM_SMALL  0x20000ul        /* 64 bytes per tx chain small payload */
#define MEM_SLOTS  0x40000ul        /* NSLOT * 64 KiB tx payloads */
#define MEM_RX     (MEM_SLOTS + NSLOT * 65536ul) /* rx chains */

static void die(const char *what)
{
	fprintf(stderr, "device_datapath: %s\n", what);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------ the stream */

static uint8_t pat[CHUNK];

/* Expected bytes [o, o+len) of the stream: the pattern, with the chunk
 * number (le64) over the first 8 bytes of each chunk. */
static void stream_gen(uint64_t o, uint8_t *dst, size_t len)
{
	while (len > 0) {
		uint32_t off = (uint32_t)(o % CHUNK);
		size_t n = CHUNK - off < len ? CHUNK - off : len;

		memcpy(dst, pat + off, n);
		for (uint32_t j = off; j < 8 && j < off + n; j++)
			dst[j - off] = (uint8_t)((o / CHUNK) >> (8 * j));
		o += n;
		dst += n;
		len -= n;
	}
}

/* Check received bytes at stream offset O; FULL compares every byte, else
 * only the sequence numbers. */
static bool stream_ok(uint64_t o, const uint8_t *p, size_t len, bool full)
{
	while (len > 0) {
		uint32_t off = (uint32_t)(o % CHUNK);
		size_t n = CHUNK - off < len ? CHUNK - off : len;
		uint32_t j = off;

		for (; j < 8 && j < off + n; j++)
			if (p[j - off] != (uint8_t)((o / CHUNK) >> (8 * j)))
				return false;
		if (full && memcmp(p + (j - off), pat + j, n - (j - off)) != 0)
			return false;
		o += n;
		p += n;
		len -= n;
	}
	return true;
}

/* ------------------------------------------------------- the guest */

struct gq {
	struct vq q;
	uint64_t desc, avail, used;  /* offsets in guest memory (gpa = offset) */
	uint16_t avail_idx, used_seen;
};

struct guest {
	uint8_t *mem;
	size_t size;
	struct vu_mem vmem;
	struct gq q[3];
	uint16_t freec[NCHAIN];      /* free tx chains */
	unsigned nfree;
	bool big[NCHAIN];            /* chain carries a 64 KiB payload slot */
	unsigned big_out;            /* such chains not yet returned */
	uint32_t rx_buflen;          /* payload bytes per rx chain */
	unsigned rx_chains;
	/* The connection. */
	uint32_t sport;
	bool connected, reset, shut;
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint32_t fwd_cnt, fwd_adv;   /* what we consumed, what we told */
	uint64_t rx_bytes, rx_pkts;
	bool full, bad;
	double last_rx;
};

static uint8_t *gptr(struct guest *g, uint64_t gpa)
{
	return g->mem + gpa;
}

static void put_desc(struct guest *g, struct gq *gq, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	uint8_t *d = gptr(g, gq->desc + 16ul * i);

	wire_st64(d, addr);
	wire_st32(d + 8, len);
	wire_st16(d + 12, flags);
	wire_st16(d + 14, next);
}

static void avail_push(struct guest *g, struct gq *gq, uint16_t head)
{
	wire_st16(gptr(g, gq->avail + 4 + 2ul * (gq->avail_idx % QNUM)), head);
	gq->avail_idx++;
	/* The device (same thread here) reads the entry after the index. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	wire_st16(gptr(g, gq->avail + 2), gq->avail_idx);
}

/* Next used entry of GQ: 1 and its id, 0 if none. */
static int used_take(struct guest *g, struct gq *gq, uint32_t *id, uint32_t *written)
{
	uint16_t idx = wire_le16(gptr(g, gq->used + 2));
	uint8_t *ue;

	if (idx == gq->used_seen)
		return 0;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	ue = gptr(g, gq->used + 4 + 8ul * (gq->used_seen % QNUM));
	*id = wire_le32(ue);
	*written = wire_le32(ue + 4);
	gq->used_seen++;
	return 1;
}

static int guest_init(struct guest *g, size_t size)
{
	int fd = memfd_create("vsk-bench-guest", MFD_CLOEXEC);

	memset(g, 0, sizeof(*g));
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		return -1;
	g->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	close(fd);
	if (g->mem == MAP_FAILED)
		return -1;
	g->size = size;
	g->vmem.n = 1;
	g->vmem.r[0].gpa = 0;
	g->vmem.r[0].qva = 0;
	g->vmem.r[0].size = size;
	g->vmem.r[0].host = g->mem;
	return 0;
}

/* Fresh rings (a new driver instance): RX_CHAINS rx buffers of BUFLEN. */
static void guest_rings(struct guest *g, unsigned rx_chains, uint32_t buflen)
{
	memset(g->mem, 0, MEM_HDRS);
	for (unsigned i = 0; i < 3; i++) {
		struct gq *gq = &g->q[i];

		memset(gq, 0, sizeof(*gq));
		gq->desc = MEM_RINGS + 0x4000ul * i;
		gq->avail = gq->desc + 0x1000;
		gq->used = gq->desc + 0x2000;
		vq_init(&gq->q);
		gq->q.num = QNUM;
		gq->q.desc_qva = gq->desc;
		gq->q.avail_qva = gq->avail;
		gq->q.used_qva = gq->used;
		gq->q.kick_fd = gq->q.call_fd = gq->q.err_fd = -1;
		if (vq_map(&gq->q, &g->vmem) < 0)
			die("vq_map failed");
		gq->q.started = gq->q.enabled = gq->q.ready = true;
	}
	g->nfree = NCHAIN;
	g->big_out = 0;
	memset(g->big, 0, sizeof(g->big));
	for (unsigned i = 0; i < NCHAIN; i++)
		g->freec[i] = (uint16_t)(NCHAIN - 1 - i);
	g->rx_buflen = buflen;
	g->rx_chains = rx_chains;
	/* One descriptor per rx chain: header and payload contiguous. */
	for (unsigned i = 0; i < rx_chains; i++) {
		uint64_t a = MEM_RX + (uint64_t)i * (WIRE_VIRTIO_HDR_LEN + buflen + 64);

		put_desc(g, &g->q[0], i, a, WIRE_VIRTIO_HDR_LEN + buflen, 2 /* WRITE */, 0);
		avail_push(g, &g->q[0], (uint16_t)i);
	}
}

static uint64_t rx_addr(struct guest *g, unsigned id)
{
	return MEM_RX + (uint64_t)id * (WIRE_VIRTIO_HDR_LEN + g->rx_buflen + 64);
}

/* Guest -> device packet on chain C: header, optional payload at PGPA. */
static void tx_post(struct guest *g, uint16_t op, uint32_t flags, uint64_t pgpa, uint32_t len)
{
	struct gq *gq = &g->q[1];
	struct wire_virtio h;
	uint16_t c = g->freec[--g->nfree];
	uint64_t ha = MEM_HDRS + 64ul * c;

	memset(&h, 0, sizeof(h));
	h.src_cid = CID;
	h.dst_cid = VSK_CID_HOST;
	h.src_port = g->sport;
	h.dst_port = PORT;
	h.type = WIRE_TYPE_STREAM;
	h.op = op;
	h.len = len;
	h.flags = flags;
	h.buf_alloc = GBUF;
	h.fwd_cnt = g->fwd_cnt;
	wire_virtio_encode(&h, gptr(g, ha), WIRE_VIRTIO_HDR_LEN);
	g->fwd_adv = g->fwd_cnt;
	if (len > 0) {
		put_desc(g, gq, 2u * c, ha, WIRE_VIRTIO_HDR_LEN, 1 /* NEXT */, (uint16_t)(2u * c + 1));
		put_desc(g, gq, 2u * c + 1, pgpa, len, 0, 0);
	} else {
		put_desc(g, gq, 2u * c, ha, WIRE_VIRTIO_HDR_LEN, 0, 0);
	}
	avail_push(g, gq, (uint16_t)(2u * c));
	if (op == WIRE_OP_RW)
		g->tx_cnt += len;
}

static void tx_reap(struct guest *g)
{
	uint32_t id, w;

	while (used_take(g, &g->q[1], &id, &w) == 1) {
		if (id % 2 != 0 || id / 2 >= NCHAIN)
			die("device returned a tx id the guest never posted");
		if (g->big[id / 2]) {
			g->big[id / 2] = false;
			g->big_out--;
		}
		g->freec[g->nfree++] = (uint16_t)(id / 2);
	}
}

static uint32_t tx_credit(const struct guest *g)
{
	uint32_t inflight = g->tx_cnt - g->peer_fwd_cnt;

	return inflight >= g->peer_buf_alloc ? 0 : g->peer_buf_alloc - inflight;
}

/* Take used rx chains: control packets update credit and state, RW
 * payloads are checked at their stream offset.  Returns chains reposted. */
static unsigned rx_reap(struct guest *g)
{
	uint32_t id, w;
	unsigned n = 0;

	while (used_take(g, &g->q[0], &id, &w) == 1) {
		struct wire_virtio h;
		uint8_t *b;

		if (id >= g->rx_chains || w < WIRE_VIRTIO_HDR_LEN)
			die("bad rx used entry");
		b = gptr(g, rx_addr(g, id));
		if (wire_virtio_decode(b, WIRE_VIRTIO_HDR_LEN, &h) < 0)
			die("bad rx header");
		if (h.dst_port == g->sport && h.src_port == PORT) {
			g->peer_buf_alloc = h.buf_alloc;
			g->peer_fwd_cnt = h.fwd_cnt;
			switch (h.op) {
			case WIRE_OP_RESPONSE:
				g->connected = true;
				break;
			case WIRE_OP_RST:
				g->reset = true;
				break;
			case WIRE_OP_SHUTDOWN:
				g->shut = true;
				break;
			case WIRE_OP_RW:
				if (w != WIRE_VIRTIO_HDR_LEN + h.len || h.len > g->rx_buflen)
					die("rx RW length does not match its used entry");
				if (!stream_ok(g->rx_bytes, b + WIRE_VIRTIO_HDR_LEN, h.len, g->full))
					g->bad = true;
				g->rx_bytes += h.len;
				g->rx_pkts++;
				g->fwd_cnt += h.len;
				g->last_rx = now_s();
				break;
			default:
				break;
			}
		}
		avail_push(g, &g->q[0], (uint16_t)id);
		n++;
	}
	return n;
}

/* ------------------------------------------------------- host peer */

struct peer {
	pthread_t th;
	int lfd;
	bool g2h;                /* read (guest -> host) or write */
	bool full;
	uint64_t limit;          /* bytes to write (h2g) */
	atomic_bool stop;        /* h2g: stop writing */
	atomic_ullong bytes;     /* received (g2h) or written (h2g) */
	atomic_bool done;
	double last;             /* g2h: time of the last read */
	bool bad;
	char err[128];
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	size_t cap = 256 * 1024;
	uint8_t *buf = malloc(cap);
	uint64_t o = 0;
	int fd;

	fd = accept(p->lfd, NULL, NULL);
	if (fd < 0 || buf == NULL) {
		snprintf(p->err, sizeof(p->err), "accept: %s", strerror(errno));
		goto out;
	}
	if (p->g2h) {
		for (;;) {
			ssize_t r = read(fd, buf, cap);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			if (!stream_ok(o, buf, (size_t)r, p->full))
				p->bad = true;
			o += (uint64_t)r;
			p->last = now_s();
			atomic_store(&p->bytes, o);
		}
	} else {
		/* Whole chunks of the stream, one write each. */
		while (o < p->limit && !atomic_load(&p->stop)) {
			size_t n = CHUNK, w = 0;

			stream_gen(o, buf, n);
			while (w < n) {
				ssize_t r = write(fd, buf + w, n - w);

				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0) {
					snprintf(p->err, sizeof(p->err), "write: %s", strerror(errno));
					goto out;
				}
				w += (size_t)r;
			}
			o += n;
			atomic_store(&p->bytes, o);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	atomic_store(&p->done, true);
	return NULL;
}

/* ------------------------------------------------------ one run */

struct bench {
	struct dev *d;
	struct dev_vm *vm;
	struct guest g;
	char dir[64], uds[80];
	uint32_t next_port;
	double tlimit;
	bool poll;                   /* guest/device thread never sleeps */
	uint8_t *host;               /* memcpy baseline's destination */
};

struct result {
	uint64_t bytes, pkts;
	double secs;
};

static void spin(struct bench *b, int ms)
{
	if (dev_run_once(b->d, ms) < 0)
		die("dev_run_once failed");
}

/* A fresh driver instance and a connection to the peer on PORT. */
static void run_setup(struct bench *b, struct peer *p, unsigned rx_chains, uint32_t buflen)
{
	struct guest *g = &b->g;
	double t0;

	dev_vm_detach(b->vm);
	guest_rings(g, rx_chains, buflen);
	dev_vm_attach(b->vm, &g->q[0].q, &g->q[1].q, NULL);
	g->sport = b->next_port++;
	g->connected = g->reset = g->shut = g->bad = false;
	g->tx_cnt = g->fwd_cnt = g->fwd_adv = g->peer_fwd_cnt = 0;
	g->peer_buf_alloc = 0;
	g->rx_bytes = g->rx_pkts = 0;
	if (pthread_create(&p->th, NULL, peer_main, p) != 0)
		die("pthread_create failed");
	tx_post(g, WIRE_OP_REQUEST, 0, 0, 0);
	dev_vm_kick(b->vm, 1);
	for (t0 = now_s(); !g->connected; ) {
		spin(b, 1);
		rx_reap(g);
		tx_reap(g);
		if (g->reset || now_s() - t0 > 5)
			die("no RESPONSE from the device");
	}
	dev_vm_kick(b->vm, 0);
}

static void run_close(struct bench *b, struct peer *p)
{
	struct guest *g = &b->g;

	tx_reap(g);
	if (!g->reset && g->nfree > 0) {
		tx_post(g, WIRE_OP_RST, 0, 0, 0);
		dev_vm_kick(b->vm, 1);
	}
	spin(b, 0);
	atomic_store(&p->stop, true);
	pthread_join(p->th, NULL);
	rx_reap(g);
	tx_reap(g);
	if (p->err[0]) {
		fprintf(stderr, "device_datapath: guest: connected %d shut %d reset %d bad %d, %llu bytes in\n", g->connected,
			g->shut, g->reset, g->bad, (unsigned long long)g->rx_bytes);
		die(p->err);
	}
}

/* The peer's listener on "<uds>_PORT", where the device connects. */
static int host_listen(struct bench *b)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s_%u", b->uds, PORT) >= sizeof(sun.sun_path))
		die("socket path too long");
	unlink(sun.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 4) < 0)
		die("host listener");
	return fd;
}

/* Guest -> host: LEN-byte RW packets until TOTAL bytes or the time limit. */
static struct result run_g2h(struct bench *b, uint32_t len, uint64_t total, bool full)
{
	struct guest *g = &b->g;
	struct peer p;
	struct result res = { 0, 0, 0 };
	uint64_t sent = 0, pkts = 0;
	double t0, tend;

	memset(&p, 0, sizeof(p));
	p.lfd = host_listen(b);
	p.g2h = true;
	p.full = full;
	run_setup(b, &p, 32, 4096);
	t0 = now_s();
	tend = t0 + b->tlimit;
	while (sent < total && !g->reset) {
		bool posted = false;

		tx_reap(g);
		while (sent < total && g->nfree > 0 && tx_credit(g) >= len) {
			uint64_t pg;

			if (len == CHUNK) {
				/* The payload buffer already holds the pattern.  Slots
				 * go round robin and the device returns chains in
				 * order, so fewer than NSLOT outstanding never reuses
				 * a slot the device has not read yet. */
				if (g->big_out == NSLOT - 1)
					break;
				pg = MEM_SLOTS + (pkts % NSLOT) * 65536ul;
				stream_gen(sent, gptr(g, pg), 8);
				g->big[g->freec[g->nfree - 1]] = true;
				g->big_out++;
			} else {
				pg = MEM_SMALL + 64ul * g->freec[g->nfree - 1];
				stream_gen(sent, gptr(g, pg), len);
			}
			tx_post(g, WIRE_OP_RW, 0, pg, len);
			sent += len;
			pkts++;
			posted = true;
		}
		if (posted)
			dev_vm_kick(b->vm, 1);
		if (rx_reap(g) > 0)
			dev_vm_kick(b->vm, 0);
		spin(b, posted || b->poll ? 0 : 1);
		if (now_s() > tend)
			break;
	}
	/* Wait for the peer to have every byte (bounded). */
	for (double t = now_s(); atomic_load(&p.bytes) < sent && now_s() - t < 5;) {
		spin(b, 1);
		rx_reap(g);
		tx_reap(g);
	}
	run_close(b, &p);
	close(p.lfd);
	res.bytes = atomic_load(&p.bytes);
	res.pkts = pkts;
	res.secs = p.last - t0;
	if (res.bytes != sent)
		die("guest -> host: the peer did not receive every byte");
	if (p.bad)
		die("guest -> host: the peer received wrong bytes");
	return res;
}

/* Host -> guest: the peer writes 64 KiB chunks; the guest's rx buffers of
 * BUFLEN bytes set the packet size. */
static struct result run_h2g(struct bench *b, uint32_t buflen, unsigned chains, uint64_t total, bool full)
{
	struct guest *g = &b->g;
	struct peer p;
	struct result res = { 0, 0, 0 };
	double t0, tend;
	bool stopping = false;

	memset(&p, 0, sizeof(p));
	p.lfd = host_listen(b);
	p.g2h = false;
	p.limit = total;
	g->full = full;
	run_setup(b, &p, chains, buflen);
	t0 = now_s();
	tend = t0 + b->tlimit;
	for (;;) {
		unsigned n;

		spin(b, b->poll ? 0 : 1);
		n = rx_reap(g);
		if (n > 0)
			dev_vm_kick(b->vm, 0);
		tx_reap(g);
		/* Credit back as soon as bytes are consumed (also those taken
		 * while the connection was set up): a guest reading as fast as
		 * it can. */
		if (g->fwd_cnt != g->fwd_adv && g->nfree > 0) {
			tx_post(g, WIRE_OP_CREDIT_UPDATE, 0, 0, 0);
			dev_vm_kick(b->vm, 1);
		}
		if (g->shut || g->reset || g->bad)
			break;
		if (!stopping && now_s() > tend) {
			atomic_store(&p.stop, true);
			stopping = true;
		}
		if (now_s() > tend + 5)
			break;
	}
	res.bytes = g->rx_bytes;
	res.pkts = g->rx_pkts;
	res.secs = g->last_rx - t0;
	run_close(b, &p);
	close(p.lfd);
	if (g->bad)
		die("host -> guest: the guest received wrong bytes");
	if (!g->shut || res.bytes != atomic_load(&p.bytes)) {
		fprintf(stderr, "device_datapath: h2g: shut %d reset %d, guest got %llu bytes, peer wrote %llu\n", g->shut,
			g->reset, (unsigned long long)res.bytes, (unsigned long long)atomic_load(&p.bytes));
		die("host -> guest: the guest did not receive every byte");
	}
	return res;
}

/* memcpy of TOTAL bytes in 64 KiB pieces between the guest's payload
 * buffers and a socket-buffer-sized host area: the same bytes the device
 * moved, at the speed of one plain copy. */
static struct result run_memcpy(struct bench *b, uint64_t total, bool to_host)
{
	struct result res = { total, total / CHUNK, 0 };
	uint64_t k = 0;
	double t0 = now_s();

	for (uint64_t o = 0; o < total; o += CHUNK, k++) {
		uint8_t *gb = gptr(&b->g, MEM_SLOTS + (k % NSLOT) * 65536ul);
		uint8_t *hb = b->host + (k % (HOSTBUF / CHUNK)) * CHUNK;

		if (to_host)
			memcpy(hb, gb, CHUNK);
		else
			memcpy(gb, hb, CHUNK);
		__asm__ __volatile__("" ::: "memory");
	}
	res.secs = now_s() - t0;
	return res;
}

/* The Unix socket alone, no device: this thread writes the guest's 64 KiB
 * buffers into the peer's socket (or reads the peer's chunks into them),
 * blocking.  The ceiling for any device whose host side is a Unix socket. */
static struct result run_sock(struct bench *b, uint64_t total, bool to_host, bool full)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct result res = { 0, 0, 0 };
	struct peer p;
	uint64_t o = 0, k = 0;
	double t0;
	int fd;

	memset(&p, 0, sizeof(p));
	p.lfd = host_listen(b);
	p.g2h = to_host;
	p.full = full;
	p.limit = total;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s_%u", b->uds, PORT);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		die("connect to the peer");
	if (pthread_create(&p.th, NULL, peer_main, &p) != 0)
		die("pthread_create failed");
	t0 = now_s();
	while (o < total && now_s() - t0 < b->tlimit) {
		uint8_t *gb = gptr(&b->g, MEM_SLOTS + (k++ % NSLOT) * 65536ul);
		size_t done = 0;

		if (to_host)
			stream_gen(o, gb, 8);
		while (done < CHUNK) {
			ssize_t r = to_host ? write(fd, gb + done, CHUNK - done) : read(fd, gb + done, CHUNK - done);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				die("unix socket baseline: short transfer");
			if (!to_host && !stream_ok(o + done, gb + done, (size_t)r, full))
				die("unix socket baseline: wrong bytes");
			done += (size_t)r;
		}
		o += CHUNK;
	}
	res.secs = now_s() - t0;
	atomic_store(&p.stop, true);
	close(fd);
	pthread_join(p.th, NULL);
	close(p.lfd);
	if (to_host) {
		res.secs = p.last - t0;
		if (atomic_load(&p.bytes) != o || p.bad)
			die("unix socket baseline: the peer did not get every byte right");
	} else {
		/* Restore the pattern the device runs' slots start from. */
		for (unsigned sl = 0; sl < NSLOT; sl++)
			memcpy(gptr(&b->g, MEM_SLOTS + sl * 65536ul), pat, CHUNK);
	}
	res.bytes = o;
	res.pkts = k;
	return res;
}

/* NAME is one of the comma-separated words of LIST. */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p != '\0'; p += strcspn(p, ","), p += *p == ',')
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

static void logcb(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level == 0)
		fprintf(stderr, "device: %s\n", msg);
}

static void usage(void)
{
	fprintf(stderr, "usage: device_datapath [-r ROUNDS] [-n BYTES] [-k PACKETS] [-T SECS] [-V] [-o RUN]\n"
		"  -r ROUNDS   alternating rounds (default 3)\n"
		"  -n BYTES    per 64 KiB run (default 2 GiB)\n"
		"  -k PACKETS  per 64-byte run (default 1000000)\n"
		"  -T SECS     time limit per run (default 2)\n"
		"  -V          check every byte in every round (default: round 1)\n"
		"  -o RUN,...  only these runs (names as printed)\n");
	exit(2);
}

enum kind { G2H_EV, G2H_POLL, G2H_SOCK, G2H_MEMCPY, H2G_EV, H2G_POLL, H2G_SOCK, H2G_MEMCPY,
	    G2H64_EV, G2H64_POLL, H2G64_EV, H2G64_POLL, NKIND };

static const char *const kname[NKIND] = {
	"g2h-64K-device", "g2h-64K-device-poll", "g2h-64K-unix-alone", "g2h-64K-memcpy",
	"h2g-64K-device", "h2g-64K-device-poll", "h2g-64K-unix-alone", "h2g-64K-memcpy",
	"g2h-64B-device", "g2h-64B-device-poll", "h2g-64B-device", "h2g-64B-device-poll",
};

static struct result run_kind(struct bench *b, enum kind k, uint64_t total, uint64_t small, bool full)
{
	b->poll = k == G2H_POLL || k == H2G_POLL || k == G2H64_POLL || k == H2G64_POLL;
	switch (k) {
	case G2H_EV: case G2H_POLL: return run_g2h(b, CHUNK, total, full);
	case G2H_SOCK: return run_sock(b, total, true, full);
	case G2H_MEMCPY: return run_memcpy(b, total, true);
	case H2G_EV: case H2G_POLL: return run_h2g(b, CHUNK, 32, total, full);
	case H2G_SOCK: return run_sock(b, total, false, full);
	case H2G_MEMCPY: return run_memcpy(b, total, false);
	case G2H64_EV: case G2H64_POLL: return run_g2h(b, 64, small * 64, full);
	default: return run_h2g(b, 64, 128, small * 64, full);
	}
}

int main(int argc, char **argv)
{
	struct bench b;
	struct dev_vm_cfg c;
	struct dev_stats st;
	char err[256];
	unsigned rounds = 3;
	uint64_t total = 2ull << 30, small = 1000000, moved[NKIND] = { 0 };
	bool always_full = false;
	const char *only = "";
	double gbs[NKIND] = { 0 }, mpps[NKIND] = { 0 };
	int opt;

	memset(&b, 0, sizeof(b));
	b.tlimit = 2.0;
	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt(argc, argv, "r:n:k:T:Vo:h")) != -1) {
		switch (opt) {
		case 'r': rounds = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': total = strtoull(optarg, NULL, 10); break;
		case 'k': small = strtoull(optarg, NULL, 10); break;
		case 'T': b.tlimit = strtod(optarg, NULL); break;
		case 'V': always_full = true; break;
		case 'o': only = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || rounds == 0 || rounds > 20 || total < CHUNK || total > (1ull << 40) ||
	    small == 0 || small > 100000000 || !(b.tlimit > 0 && b.tlimit <= 10))
		usage();
	total -= total % CHUNK;
	for (unsigned i = 0; i < CHUNK; i++)
		pat[i] = (uint8_t)((i * 2654435761u) >> 13);
	snprintf(b.dir, sizeof(b.dir), "/tmp/vsk-ddp.XXXXXX");
	if (mkdtemp(b.dir) == NULL)
		die("mkdtemp");
	snprintf(b.uds, sizeof(b.uds), "%s/u", b.dir);
	if (dev_create(&b.d, logcb, NULL) < 0)
		die("dev_create");
	memset(&c, 0, sizeof(c));
	c.cid = CID;
	snprintf(c.socket, sizeof(c.socket), "%s/vhost.sock", b.dir);
	snprintf(c.uds, sizeof(c.uds), "%s", b.uds);
	if (dev_add_vm(b.d, &c, &b.vm, err, sizeof(err)) < 0)
		die(err);
	if (guest_init(&b.g, MEM_RX + 256ul * (65536 + 128)) < 0)
		die("guest memory");
	b.host = aligned_alloc(4096, HOSTBUF);
	if (b.host == NULL)
		die("malloc");
	memset(b.host, 1, HOSTBUF);
	for (unsigned sl = 0; sl < NSLOT; sl++)
		memcpy(gptr(&b.g, MEM_SLOTS + sl * 65536ul), pat, CHUNK);
	b.next_port = 40000;

	printf("%-6s %-22s %9s %9s %8s %s\n", "round", "run", "GB/s", "Mpkt/s", "secs", "");
	for (unsigned r = 1; r <= rounds; r++) {
		bool full = always_full || r == 1;

		for (int k = 0; k < NKIND; k++) {
			struct result x;
			double g, m;

			if (*only && !listed(only, kname[k]))
				continue;
			/* Memcpy copies what the device run before it moved. */
			x = run_kind(&b, (enum kind)k, k == G2H_MEMCPY || k == H2G_MEMCPY ? moved[k - 3] : total,
				     small, full);
			moved[k] = x.bytes;
			g = (double)x.bytes / x.secs / 1e9;
			m = (double)x.pkts / x.secs / 1e6;
			gbs[k] = g > gbs[k] ? g : gbs[k];
			mpps[k] = m > mpps[k] ? m : mpps[k];
			printf("%-6u %-22s %9.3f %9.3f %8.3f %s\n", r, kname[k], g, m, x.secs,
			       full && k != G2H_MEMCPY && k != H2G_MEMCPY ? "every byte checked" : "");
			fflush(stdout);
		}
	}
	dev_get_stats(b.d, NULL, &st);
	printf("device counters: %llu packets to guests, %llu from guests, %llu stalls, %llu drops\n",
	       (unsigned long long)st.pkts_rx, (unsigned long long)st.pkts_tx, (unsigned long long)st.stalls,
	       (unsigned long long)st.drops);
	printf("best of %u:\n", rounds);
	for (int k = 0; k < NKIND; k++)
		if (gbs[k] > 0)
			printf("  %-22s %8.3f GB/s %8.3f Mpkt/s\n", kname[k], gbs[k], mpps[k]);
	if (gbs[G2H_EV] > 0 && gbs[G2H_MEMCPY] > 0)
		printf("RATIO g2h device/memcpy %.3f  device-poll/memcpy %.3f  device/unix-alone %.3f  device-poll/unix-alone %.3f\n",
		       gbs[G2H_EV] / gbs[G2H_MEMCPY], gbs[G2H_POLL] / gbs[G2H_MEMCPY], gbs[G2H_EV] / gbs[G2H_SOCK],
		       gbs[G2H_POLL] / gbs[G2H_SOCK]);
	if (gbs[H2G_EV] > 0 && gbs[H2G_MEMCPY] > 0)
		printf("RATIO h2g device/memcpy %.3f  device-poll/memcpy %.3f  device/unix-alone %.3f  device-poll/unix-alone %.3f\n",
		       gbs[H2G_EV] / gbs[H2G_MEMCPY], gbs[H2G_POLL] / gbs[H2G_MEMCPY], gbs[H2G_EV] / gbs[H2G_SOCK],
		       gbs[H2G_POLL] / gbs[H2G_SOCK]);
	dev_destroy(b.d);
	snprintf(err, sizeof(err), "rm -rf '%s'", b.dir);
	if (system(err) != 0)
		fprintf(stderr, "device_datapath: could not remove %s\n", b.dir);
	return 0;
}
