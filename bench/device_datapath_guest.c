/* bench/device_datapath: the fake guest driver on split virtqueues in a
 * memfd, and the checked byte stream (see device_datapath.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "device_datapath.h"
#include "vsk.h"
#include "wire.h"

void dd_die(const char *what)
{
	fprintf(stderr, "device_datapath: %s\n", what);
	exit(1);
}

double dd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------ the stream */

uint8_t dd_pat[CHUNK];

/* Expected bytes [o, o+len) of the stream: the pattern, with the chunk
 * number (le64) over the first 8 bytes of each chunk. */
void dd_stream_gen(uint64_t o, uint8_t *dst, size_t len)
{
	while (len > 0) {
		uint32_t off = (uint32_t)(o % CHUNK);
		size_t n = CHUNK - off < len ? CHUNK - off : len;

		memcpy(dst, dd_pat + off, n);
		for (uint32_t j = off; j < 8 && j < off + n; j++)
			dst[j - off] = (uint8_t)((o / CHUNK) >> (8 * j));
		o += n;
		dst += n;
		len -= n;
	}
}

/* Check received bytes at stream offset O; FULL compares every byte, else
 * only the sequence numbers. */
bool dd_stream_ok(uint64_t o, const uint8_t *p, size_t len, bool full)
{
	while (len > 0) {
		uint32_t off = (uint32_t)(o % CHUNK);
		size_t n = CHUNK - off < len ? CHUNK - off : len;
		uint32_t j = off;

		for (; j < 8 && j < off + n; j++)
			if (p[j - off] != (uint8_t)((o / CHUNK) >> (8 * j)))
				return false;
		if (full && memcmp(p + (j - off), dd_pat + j, n - (j - off)) != 0)
			return false;
		o += n;
		p += n;
		len -= n;
	}
	return true;
}

/* ------------------------------------------------------- the guest */

uint8_t *dd_gptr(struct guest *g, uint64_t gpa)
{
	return g->mem + gpa;
}

static void put_desc(struct guest *g, struct gq *gq, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	uint8_t *d = dd_gptr(g, gq->desc + 16ul * i);

	wire_st64(d, addr);
	wire_st32(d + 8, len);
	wire_st16(d + 12, flags);
	wire_st16(d + 14, next);
}

static void avail_push(struct guest *g, struct gq *gq, uint16_t head)
{
	wire_st16(dd_gptr(g, gq->avail + 4 + 2ul * (gq->avail_idx % QNUM)), head);
	gq->avail_idx++;
	/* The device (same thread here) reads the entry after the index. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	wire_st16(dd_gptr(g, gq->avail + 2), gq->avail_idx);
}

/* Next used entry of GQ: 1 and its id, 0 if none. */
static int used_take(struct guest *g, struct gq *gq, uint32_t *id, uint32_t *written)
{
	uint16_t idx = wire_le16(dd_gptr(g, gq->used + 2));
	uint8_t *ue;

	if (idx == gq->used_seen)
		return 0;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	ue = dd_gptr(g, gq->used + 4 + 8ul * (gq->used_seen % QNUM));
	*id = wire_le32(ue);
	*written = wire_le32(ue + 4);
	gq->used_seen++;
	return 1;
}

int dd_guest_init(struct guest *g, size_t size)
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
void dd_guest_rings(struct guest *g, unsigned rx_chains, uint32_t buflen)
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
			dd_die("vq_map failed");
		gq->q.started = gq->q.enabled = gq->q.ready = true;
		gq->q.indirect = true; /* negotiated, as with Linux and QEMU */
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
void dd_tx_post(struct guest *g, uint16_t op, uint32_t flags, uint64_t pgpa, uint32_t len, unsigned pieces)
{
	struct wire_virtio h;

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
	g->fwd_adv = g->fwd_cnt;
	dd_tx_post_hdr(g, &h, pgpa, pieces);
}

void dd_tx_post_hdr(struct guest *g, const struct wire_virtio *hp, uint64_t pgpa, unsigned pieces)
{
	struct gq *gq = &g->q[1];
	uint16_t c = g->freec[--g->nfree];
	uint64_t ha = MEM_HDRS + 64ul * c;
	uint32_t len = hp->len;
	uint16_t op = hp->op;

	wire_virtio_encode(hp, dd_gptr(g, ha), WIRE_VIRTIO_HDR_LEN);
	if (len > 0 && pieces > 1) {
		/* The indirect table: header, then the payload's pieces. */
		uint64_t ta = MEM_INDIR + (uint64_t)c * (TX_PIECES + 1) * 16u;
		uint32_t piece = len / pieces;

		if (pieces > TX_PIECES || len % pieces != 0)
			dd_die("tx payload does not split into the pieces asked for");
		wire_st64(dd_gptr(g, ta), ha);
		wire_st32(dd_gptr(g, ta + 8), WIRE_VIRTIO_HDR_LEN);
		wire_st16(dd_gptr(g, ta + 12), 1 /* NEXT */);
		wire_st16(dd_gptr(g, ta + 14), 1);
		for (unsigned k = 0; k < pieces; k++) {
			uint8_t *d = dd_gptr(g, ta + 16ul * (k + 1));

			wire_st64(d, pgpa + (uint64_t)k * piece);
			wire_st32(d + 8, piece);
			wire_st16(d + 12, k + 1 < pieces ? 1 : 0);
			wire_st16(d + 14, (uint16_t)(k + 2));
		}
		put_desc(g, gq, 2u * c, ta, (pieces + 1) * 16u, 4 /* INDIRECT */, 0);
	} else if (len > 0) {
		put_desc(g, gq, 2u * c, ha, WIRE_VIRTIO_HDR_LEN, 1 /* NEXT */, (uint16_t)(2u * c + 1));
		put_desc(g, gq, 2u * c + 1, pgpa, len, 0, 0);
	} else {
		put_desc(g, gq, 2u * c, ha, WIRE_VIRTIO_HDR_LEN, 0, 0);
	}
	avail_push(g, gq, (uint16_t)(2u * c));
	if (op == WIRE_OP_RW)
		g->tx_cnt += len;
}

void dd_tx_reap(struct guest *g)
{
	uint32_t id, w;

	while (used_take(g, &g->q[1], &id, &w) == 1) {
		if (id % 2 != 0 || id / 2 >= NCHAIN)
			dd_die("device returned a tx id the guest never posted");
		if (g->big[id / 2]) {
			g->big[id / 2] = false;
			g->big_out--;
		}
		g->freec[g->nfree++] = (uint16_t)(id / 2);
	}
}

uint32_t dd_tx_credit(const struct guest *g)
{
	uint32_t inflight = g->tx_cnt - g->peer_fwd_cnt;

	return inflight >= g->peer_buf_alloc ? 0 : g->peer_buf_alloc - inflight;
}

/* Take used rx chains: control packets update credit and state, RW
 * payloads are checked at their stream offset.  Returns chains reposted. */
unsigned dd_rx_reap(struct guest *g)
{
	uint32_t id, w;
	unsigned n = 0;

	while (used_take(g, &g->q[0], &id, &w) == 1) {
		struct wire_virtio h;
		uint8_t *b;

		if (id >= g->rx_chains || w < WIRE_VIRTIO_HDR_LEN)
			dd_die("bad rx used entry");
		b = dd_gptr(g, rx_addr(g, id));
		if (wire_virtio_decode(b, WIRE_VIRTIO_HDR_LEN, &h) < 0)
			dd_die("bad rx header");
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
					dd_die("rx RW length does not match its used entry");
				if (!dd_stream_ok(g->rx_bytes, b + WIRE_VIRTIO_HDR_LEN, h.len, g->full))
					g->bad = true;
				g->rx_bytes += h.len;
				g->rx_pkts++;
				g->fwd_cnt += h.len;
				g->last_rx = dd_now();
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

int dd_rx_next(struct guest *g, struct wire_virtio *h, uint8_t *buf, size_t cap)
{
	uint32_t id, w;
	uint8_t *b;

	if (used_take(g, &g->q[0], &id, &w) != 1)
		return 0;
	if (id >= g->rx_chains || w < WIRE_VIRTIO_HDR_LEN)
		dd_die("bad rx used entry");
	b = dd_gptr(g, rx_addr(g, id));
	if (wire_virtio_decode(b, WIRE_VIRTIO_HDR_LEN, h) < 0 || w != WIRE_VIRTIO_HDR_LEN + h->len)
		dd_die("bad rx header");
	if (buf != NULL)
		memcpy(buf, b + WIRE_VIRTIO_HDR_LEN, h->len < cap ? h->len : cap);
	avail_push(g, &g->q[0], (uint16_t)id);
	return 1;
}
