/* device rx queue (see dev_rxq.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev_iov.h"
#include "dev_log.h"
#include "dev_rxq.h"
#include "dev_tap.h"
#include "device.h"

/* A packet owned by the device, waiting for guest rx buffers. */
struct dev_pkt {
	struct dev_pkt *next;
	uint8_t hdr[WIRE_VIRTIO_HDR_LEN];
	uint32_t len; /* payload bytes */
	uint32_t off; /* payload bytes already delivered (split RW) */
	uint8_t data[];
};

int rxq_pop(struct dev_rxq *r, struct vq_elem *e)
{
	int rc;

	if (!rxq_usable(r))
		return 0;
	rc = vq_pop(r->q, e);
	if (rc < 0) {
		r->broken = true;
		return -EIO;
	}
	return rc;
}

void rxq_unpop(struct dev_rxq *r, unsigned n)
{
	while (n-- > 0)
		vq_unpop(r->q);
}

void rxq_push(struct dev_rxq *r, const struct vq_elem *e, const uint8_t *hdr, uint32_t plen)
{
	struct iovec piov[VQ_MAX_IOV];
	unsigned pn;

	vq_buf_to_iov(e->in, e->in_num, 0, hdr, WIRE_VIRTIO_HDR_LEN);
	if (dev_tap_on(r->tap)) {
		pn = dev_iov_slice(e->in, e->in_num, WIRE_VIRTIO_HDR_LEN, plen, piov, VQ_MAX_IOV);
		dev_tap_packet(r->tap, hdr, piov, (int)pn);
	}
	vq_push(r->q, e, WIRE_VIRTIO_HDR_LEN + plen);
	r->dirty = true;
	r->st->pkts_rx++;
	r->st->bytes_rx += plen;
}

bool rxq_take_usable(struct dev_rxq *r, struct vq_elem *e)
{
	if (e->in_len >= WIRE_VIRTIO_HDR_LEN)
		return true;
	vq_push(r->q, e, 0);
	r->dirty = true;
	r->st->drops++;
	return false;
}

static void backlog_add(struct dev_rxq *r, struct dev_pkt *p)
{
	p->next = NULL;
	if (r->tail != NULL)
		r->tail->next = p;
	else
		r->head = p;
	r->tail = p;
	r->bytes += p->len;
	r->count++;
}

static struct dev_pkt *pkt_new(struct dev_rxq *r, const uint8_t *hdr, uint32_t len)
{
	struct dev_pkt *p;

	if (r->count >= DEV_BACKLOG_PKTS || r->bytes + len > DEV_BACKLOG_BYTES) {
		r->st->drops++;
		dev_logf(r->log, 1, "vm %u: rx backlog full, packet dropped", r->cid);
		return NULL;
	}
	p = malloc(sizeof(*p) + len);
	if (p == NULL) {
		r->st->drops++;
		return NULL;
	}
	memcpy(p->hdr, hdr, WIRE_VIRTIO_HDR_LEN);
	p->len = len;
	p->off = 0;
	return p;
}

bool rxq_flush(struct dev_rxq *r)
{
	struct vq_elem *e = r->scratch;

	while (r->head != NULL) {
		struct dev_pkt *p = r->head;
		struct wire_virtio h;
		uint8_t hdr[WIRE_VIRTIO_HDR_LEN];
		uint32_t chunk, room;
		bool last;

		if (rxq_pop(r, e) != 1)
			return false;
		if (!rxq_take_usable(r, e))
			continue;
		wire_virtio_decode(p->hdr, sizeof(p->hdr), &h);
		room = e->in_len - WIRE_VIRTIO_HDR_LEN;
		chunk = p->len - p->off;
		if (chunk > room)
			chunk = room;
		last = p->off + chunk == p->len;
		/* A payload split over several buffers: each piece is an RW of
		 * its own; a SEQPACKET message ends (EOM/EOR) on the last one. */
		h.len = chunk;
		if (!last && h.op == WIRE_OP_RW && h.type == WIRE_TYPE_SEQPACKET)
			h.flags &= ~(uint32_t)(WIRE_SEQ_EOM | WIRE_SEQ_EOR);
		wire_virtio_encode(&h, hdr, sizeof(hdr));
		vq_buf_to_iov(e->in, e->in_num, WIRE_VIRTIO_HDR_LEN, p->data + p->off, chunk);
		rxq_push(r, e, hdr, chunk);
		p->off += chunk;
		if (!last)
			continue;
		r->head = p->next;
		if (r->head == NULL)
			r->tail = NULL;
		r->bytes -= p->len;
		r->count--;
		free(p);
	}
	return true;
}

void rxq_clear(struct dev_rxq *r)
{
	while (r->head != NULL) {
		struct dev_pkt *p = r->head;

		r->head = p->next;
		free(p);
	}
	r->tail = NULL;
	r->bytes = 0;
	r->count = 0;
}

int rxq_send_ctl(struct dev_rxq *r, const struct wire_virtio *h)
{
	uint8_t hdr[WIRE_VIRTIO_HDR_LEN];
	struct vq_elem *e = r->scratch;
	struct dev_pkt *p;

	wire_virtio_encode(h, hdr, sizeof(hdr));
	if (h->op == WIRE_OP_RST)
		r->st->resets++;
	if (r->head == NULL) {
		while (rxq_pop(r, e) == 1) {
			if (!rxq_take_usable(r, e))
				continue;
			rxq_push(r, e, hdr, 0);
			return 0;
		}
	}
	/* No ring at all (QEMU gone) or a broken one: nobody to tell. */
	if (!r->has_peer || r->broken)
		return 0;
	p = pkt_new(r, hdr, 0);
	if (p == NULL)
		return -ENOBUFS;
	backlog_add(r, p);
	return 0;
}

void rxq_rst_hdr(const struct wire_virtio *in, struct wire_virtio *h)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = in->dst_cid;
	h->dst_cid = in->src_cid;
	h->src_port = in->dst_port;
	h->dst_port = in->src_port;
	h->type = in->type;
	h->op = WIRE_OP_RST;
}

void rxq_send_rst_for(struct dev_rxq *r, const struct wire_virtio *in)
{
	struct wire_virtio h;

	if (in->op == WIRE_OP_RST)
		return;
	rxq_rst_hdr(in, &h);
	rxq_send_ctl(r, &h);
}

int rxq_send_copy(struct dev_rxq *r, const uint8_t *hdr, const struct iovec *iov, unsigned n,
		  uint32_t len)
{
	struct dev_pkt *p = pkt_new(r, hdr, len);

	if (p == NULL)
		return -ENOBUFS;
	if (vq_iov_to_buf(iov, n, 0, p->data, len) != len) {
		free(p); /* the sender's memory faulted: nothing to deliver */
		return -EFAULT;
	}
	backlog_add(r, p);
	rxq_flush(r);
	return 0;
}
