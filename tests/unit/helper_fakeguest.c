/* Fake virtio-vsock guest for unit tests (see helper_fakeguest.h). */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "helper_fakeguest.h"

#define FG_BASE    0x100000ull
#define FG_QSTRIDE 0x10000ull

#define DESC_F_NEXT  1
#define DESC_F_WRITE 2

static uint8_t *ptr(struct fg *g, uint64_t gpa)
{
	return g->mem + (gpa - g->base);
}

static uint64_t fg_alloc(struct fg *g, size_t len)
{
	uint64_t a = (g->heap + 15) & ~15ull;

	if (a + len > g->base + g->size)
		a = g->heap_start;
	g->heap = a + len;
	return a;
}

int fg_init(struct fg *g, size_t memsize)
{
	memset(g, 0, sizeof(*g));
	g->mem = aligned_alloc(4096, memsize);
	if (g->mem == NULL)
		return -1;
	g->base = FG_BASE;
	g->size = memsize;
	return fg_reset(g);
}

int fg_reset(struct fg *g)
{
	memset(g->mem, 0, g->size);
	memset(&g->vmem, 0, sizeof(g->vmem));
	memset(g->q, 0, sizeof(g->q));
	g->vmem.n = 1;
	g->vmem.r[0].gpa = g->base;
	g->vmem.r[0].qva = g->base;
	g->vmem.r[0].size = g->size;
	g->vmem.r[0].host = g->mem;
	g->heap = g->heap_start = g->base + 3 * FG_QSTRIDE;
	for (int i = 0; i < 3; i++) {
		struct fg_queue *fq = &g->q[i];

		fq->desc = g->base + (uint64_t)i * FG_QSTRIDE;
		fq->avail = fq->desc + 0x1000;
		fq->used = fq->desc + 0x2000;
		vq_init(&fq->q);
		fq->q.num = FG_NUM;
		fq->q.desc_qva = fq->desc;
		fq->q.avail_qva = fq->avail;
		fq->q.used_qva = fq->used;
		fq->q.kick_fd = fq->q.call_fd = fq->q.err_fd = -1;
		if (vq_map(&fq->q, &g->vmem) < 0)
			return -1;
		fq->q.started = fq->q.enabled = fq->q.ready = true;
	}
	return 0;
}

void fg_shrink(struct fg *g, uint64_t visible)
{
	g->size = visible;
	g->vmem.r[0].size = visible;
	if (g->heap > g->base + visible)
		g->heap = g->heap_start;
}

void fg_free(struct fg *g)
{
	free(g->mem);
	g->mem = NULL;
}

static void put_desc(struct fg *g, struct fg_queue *fq, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	uint8_t *d = ptr(g, fq->desc + (uint64_t)i * 16);

	wire_st64(d, addr);
	wire_st32(d + 8, len);
	wire_st16(d + 12, flags);
	wire_st16(d + 14, next);
}


/* Ring indices are shared with the device, which may run in another
 * thread (test_device_threads): release what we publish, acquire what we
 * read, as a real driver does with its barriers. */
static void idx_store(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELEASE);
}

static uint16_t idx_load(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE));
}

static void avail_push(struct fg *g, struct fg_queue *fq, uint16_t head)
{
	wire_st16(ptr(g, fq->avail + 4 + 2 * (uint64_t)(fq->avail_idx % FG_NUM)), head);
	fq->avail_idx++;
	idx_store(ptr(g, fq->avail + 2), fq->avail_idx);
}

/* Two descriptors per chain, round robin: tests never keep FG_NUM/2
 * chains outstanding. */
static uint16_t two_descs(struct fg_queue *fq)
{
	uint16_t h = fq->next_desc;

	fq->next_desc = (uint16_t)((fq->next_desc + 2) % FG_NUM);
	return h;
}

void fg_tx(struct fg *g, const struct wire_virtio *h, const void *payload, size_t len)
{
	struct fg_queue *fq = &g->q[1];
	uint16_t head = two_descs(fq);
	uint64_t a = fg_alloc(g, WIRE_VIRTIO_HDR_LEN + len);

	wire_virtio_encode(h, ptr(g, a), WIRE_VIRTIO_HDR_LEN);
	if (len > 0) {
		memcpy(ptr(g, a + WIRE_VIRTIO_HDR_LEN), payload, len);
		put_desc(g, fq, head, a, WIRE_VIRTIO_HDR_LEN, DESC_F_NEXT, (uint16_t)(head + 1));
		put_desc(g, fq, (uint16_t)(head + 1), a + WIRE_VIRTIO_HDR_LEN, (uint32_t)len, 0, 0);
	} else {
		put_desc(g, fq, head, a, WIRE_VIRTIO_HDR_LEN, 0, 0);
	}
	avail_push(g, fq, head);
}

void fg_tx_raw(struct fg *g, const void *bytes, size_t len)
{
	struct fg_queue *fq = &g->q[1];
	uint16_t head = two_descs(fq);
	uint64_t a = fg_alloc(g, len ? len : 1);

	memcpy(ptr(g, a), bytes, len);
	put_desc(g, fq, head, a, (uint32_t)len, 0, 0);
	avail_push(g, fq, head);
}

void fg_tx_outside(struct fg *g)
{
	struct fg_queue *fq = &g->q[1];
	uint16_t head = two_descs(fq);

	put_desc(g, fq, head, g->base + g->size + 4096, WIRE_VIRTIO_HDR_LEN, 0, 0);
	avail_push(g, fq, head);
}

void fg_desc_raw(struct fg *g, unsigned qi, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	put_desc(g, &g->q[qi % 3], (uint16_t)(idx % FG_NUM), addr, len, flags, next);
}

void fg_avail_raw(struct fg *g, unsigned qi, uint16_t head)
{
	avail_push(g, &g->q[qi % 3], head);
}

uint64_t fg_gpa(const struct fg *g, uint64_t off)
{
	return g->base + off;
}

unsigned fg_tx_done(struct fg *g)
{
	struct fg_queue *fq = &g->q[1];
	uint16_t idx = idx_load(ptr(g, fq->used + 2));
	unsigned n = (uint16_t)(idx - fq->used_seen);

	fq->used_seen = idx;
	return n;
}

void fg_rx_give(struct fg *g, unsigned n, uint32_t buflen)
{
	struct fg_queue *fq = &g->q[0];

	for (unsigned i = 0; i < n; i++) {
		uint16_t head = two_descs(fq);
		uint64_t a = fg_alloc(g, WIRE_VIRTIO_HDR_LEN + buflen);

		put_desc(g, fq, head, a, WIRE_VIRTIO_HDR_LEN, DESC_F_WRITE | DESC_F_NEXT, (uint16_t)(head + 1));
		put_desc(g, fq, (uint16_t)(head + 1), a + WIRE_VIRTIO_HDR_LEN, buflen, DESC_F_WRITE, 0);
		fq->buf_gpa[head] = a;
		fq->buf_len[head] = buflen;
		avail_push(g, fq, head);
	}
}

int fg_rx_take(struct fg *g, struct wire_virtio *h, void *payload, size_t cap, uint32_t *plen)
{
	struct fg_queue *fq = &g->q[0];
	uint16_t idx = idx_load(ptr(g, fq->used + 2));
	uint8_t *ue;
	uint32_t id, written, n;

	if (idx == fq->used_seen)
		return 0;
	ue = ptr(g, fq->used + 4 + 8 * (uint64_t)(fq->used_seen % FG_NUM));
	id = wire_le32(ue);
	written = wire_le32(ue + 4);
	fq->used_seen++;
	/* A head we never posted (the fuzz harness publishes raw ones) has
	 * no buffer of ours to look at. */
	if (id >= FG_NUM || written < WIRE_VIRTIO_HDR_LEN || fq->buf_gpa[id] == 0)
		return -1;
	wire_virtio_decode(ptr(g, fq->buf_gpa[id]), WIRE_VIRTIO_HDR_LEN, h);
	n = h->len;
	if (plen != NULL)
		*plen = n;
	if (n > fq->buf_len[id] || written != WIRE_VIRTIO_HDR_LEN + n)
		return -1;
	if (payload != NULL)
		memcpy(payload, ptr(g, fq->buf_gpa[id] + WIRE_VIRTIO_HDR_LEN), n < cap ? n : cap);
	return 1;
}

void fg_ev_give(struct fg *g)
{
	struct fg_queue *fq = &g->q[2];
	uint16_t head = two_descs(fq);
	uint64_t a = fg_alloc(g, 4);

	memset(ptr(g, a), 0xff, 4);
	put_desc(g, fq, head, a, 4, DESC_F_WRITE, 0);
	fq->buf_gpa[head] = a;
	fq->buf_len[head] = 4;
	avail_push(g, fq, head);
}

int fg_ev_take(struct fg *g, uint32_t *id)
{
	struct fg_queue *fq = &g->q[2];
	uint16_t idx = idx_load(ptr(g, fq->used + 2));
	uint32_t head;

	if (idx == fq->used_seen)
		return 0;
	head = wire_le32(ptr(g, fq->used + 4 + 8 * (uint64_t)(fq->used_seen % FG_NUM)));
	fq->used_seen++;
	if (head >= FG_NUM || fq->buf_gpa[head] == 0)
		return -1;
	*id = wire_le32(ptr(g, fq->buf_gpa[head]));
	return 1;
}

void fg_hdr(struct wire_virtio *h, uint64_t src_cid, uint32_t src_port, uint64_t dst_cid,
	    uint32_t dst_port, uint16_t type, uint16_t op, uint32_t len, uint32_t flags,
	    uint32_t buf_alloc, uint32_t fwd_cnt)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = src_cid;
	h->dst_cid = dst_cid;
	h->src_port = src_port;
	h->dst_port = dst_port;
	h->type = type;
	h->op = op;
	h->len = len;
	h->flags = flags;
	h->buf_alloc = buf_alloc;
	h->fwd_cnt = fwd_cnt;
}
