/* device -> guest: filling the guest's rx buffers.
 *
 * Host bytes go straight from the Unix socket into guest memory (readv /
 * recvmsg on the rx chain's iovecs): one copy.  Packets that cannot go out
 * at once (control packets while the ring is empty, sibling traffic) wait
 * in a bounded per-VM backlog, which is always drained before new data so
 * the order on the ring is the order of events.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "device_int.h"

unsigned dev_iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len,
		       struct iovec *out, unsigned max)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && len > 0 && k < max; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[k].iov_len = l - off < len ? l - off : len;
		len -= out[k].iov_len;
		off = 0;
		k++;
	}
	return k;
}

uint32_t dev_peer_credit(const struct dev_conn *c)
{
	uint32_t inflight = c->tx_cnt - c->peer_fwd_cnt;

	/* A guest that lowers buf_alloc below what is in flight has no room. */
	if (inflight >= c->peer_buf_alloc)
		return 0;
	return c->peer_buf_alloc - inflight;
}

void dev_hdr_for(const struct dev_conn *c, uint16_t op, uint32_t flags, struct wire_virtio *h)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSK_CID_HOST;
	h->dst_cid = c->vm->cfg.cid;
	h->src_port = c->hport;
	h->dst_port = c->gport;
	h->type = c->type;
	h->op = op;
	h->flags = flags;
	h->buf_alloc = c->buf_alloc;
	h->fwd_cnt = c->fwd_cnt;
}

/* Pop one rx chain; 1 = got it, 0 = ring empty (or not usable). */
static int rx_pop(struct dev_vm *vm, struct vq_elem *e)
{
	int rc;

	if (!dev_vm_rx_ready(vm))
		return 0;
	rc = vq_pop(vm->q[DEV_QRX], e);
	if (rc < 0) {
		dev_vm_broken(vm, DEV_QRX);
		return 0;
	}
	if (rc == 0)
		vm->rx_starved = true;
	return rc;
}

static void rx_push(struct dev_vm *vm, struct vq_elem *e, const uint8_t *hdr, uint32_t plen)
{
	struct iovec piov[VQ_MAX_IOV];
	unsigned pn;

	vq_buf_to_iov(e->in, e->in_num, 0, hdr, WIRE_VIRTIO_HDR_LEN);
	if (vm->dev->pcap != NULL) {
		pn = dev_iov_slice(e->in, e->in_num, WIRE_VIRTIO_HDR_LEN, plen, piov, VQ_MAX_IOV);
		dev_tap(vm->dev, hdr, piov, (int)pn);
	}
	vq_push(vm->q[DEV_QRX], e, WIRE_VIRTIO_HDR_LEN + plen);
	vm->dirty[DEV_QRX] = true;
	vm->st.pkts_rx++;
	vm->st.bytes_rx += plen;
}

/* A chain too small for a header is the guest's mistake: give it back
 * empty and count it. */
static bool rx_usable(struct dev_vm *vm, struct vq_elem *e)
{
	if (e->in_len >= WIRE_VIRTIO_HDR_LEN)
		return true;
	vq_push(vm->q[DEV_QRX], e, 0);
	vm->dirty[DEV_QRX] = true;
	vm->st.drops++;
	return false;
}

static void backlog_add(struct dev_vm *vm, struct dev_pkt *p)
{
	p->next = NULL;
	if (vm->bl_tail != NULL)
		vm->bl_tail->next = p;
	else
		vm->bl_head = p;
	vm->bl_tail = p;
	vm->bl_bytes += p->len;
	vm->bl_count++;
}

static struct dev_pkt *pkt_new(struct dev_vm *vm, const uint8_t *hdr, uint32_t len)
{
	struct dev_pkt *p;

	if (vm->bl_count >= DEV_BACKLOG_PKTS || vm->bl_bytes + len > DEV_BACKLOG_BYTES) {
		vm->st.drops++;
		dev_logf(vm->dev, 1, "vm %u: rx backlog full, packet dropped", vm->cfg.cid);
		return NULL;
	}
	p = malloc(sizeof(*p) + len);
	if (p == NULL) {
		vm->st.drops++;
		return NULL;
	}
	memcpy(p->hdr, hdr, WIRE_VIRTIO_HDR_LEN);
	p->len = len;
	p->off = 0;
	return p;
}

bool dev_backlog_flush(struct dev_vm *vm)
{
	struct vq_elem *e = &vm->dev->scratch[0];

	while (vm->bl_head != NULL) {
		struct dev_pkt *p = vm->bl_head;
		struct wire_virtio h;
		uint8_t hdr[WIRE_VIRTIO_HDR_LEN];
		uint32_t chunk, room;
		bool last;

		if (rx_pop(vm, e) != 1)
			return false;
		if (!rx_usable(vm, e))
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
		rx_push(vm, e, hdr, chunk);
		p->off += chunk;
		if (!last)
			continue;
		vm->bl_head = p->next;
		if (vm->bl_head == NULL)
			vm->bl_tail = NULL;
		vm->bl_bytes -= p->len;
		vm->bl_count--;
		free(p);
	}
	return true;
}

void dev_backlog_clear(struct dev_vm *vm)
{
	while (vm->bl_head != NULL) {
		struct dev_pkt *p = vm->bl_head;

		vm->bl_head = p->next;
		free(p);
	}
	vm->bl_tail = NULL;
	vm->bl_bytes = 0;
	vm->bl_count = 0;
}

void dev_send_ctl(struct dev_vm *vm, const struct wire_virtio *h)
{
	uint8_t hdr[WIRE_VIRTIO_HDR_LEN];
	struct vq_elem *e = &vm->dev->scratch[0];
	struct dev_pkt *p;

	wire_virtio_encode(h, hdr, sizeof(hdr));
	if (h->op == WIRE_OP_RST)
		vm->st.resets++;
	if (vm->bl_head == NULL) {
		while (rx_pop(vm, e) == 1) {
			if (!rx_usable(vm, e))
				continue;
			rx_push(vm, e, hdr, 0);
			return;
		}
	}
	/* No ring at all (QEMU gone): nobody to tell. */
	if (!vm->vu_active && !vm->attached)
		return;
	p = pkt_new(vm, hdr, 0);
	if (p != NULL)
		backlog_add(vm, p);
}

void dev_conn_ctl(struct dev_conn *c, uint16_t op, uint32_t flags)
{
	struct wire_virtio h;

	dev_hdr_for(c, op, flags, &h);
	c->fwd_adv = c->fwd_cnt;
	dev_send_ctl(c->vm, &h);
}

void dev_send_rst_for(struct dev_vm *vm, const struct wire_virtio *in)
{
	struct wire_virtio h;

	if (in->op == WIRE_OP_RST)
		return;
	memset(&h, 0, sizeof(h));
	h.src_cid = in->dst_cid;
	h.dst_cid = in->src_cid;
	h.src_port = in->dst_port;
	h.dst_port = in->src_port;
	h.type = in->type;
	h.op = WIRE_OP_RST;
	dev_send_ctl(vm, &h);
}

void dev_send_copy(struct dev_vm *vm, const uint8_t *hdr, const struct iovec *iov, unsigned n,
		   uint32_t len)
{
	struct dev_pkt *p = pkt_new(vm, hdr, len);

	if (p == NULL)
		return;
	vq_iov_to_buf(iov, n, 0, p->data, len);
	backlog_add(vm, p);
	dev_backlog_flush(vm);
}

void dev_rx_wait(struct dev_conn *c)
{
	if (!c->rx_wait) {
		c->rx_wait = true;
		c->vm->st.stalls++;
	}
	dev_conn_update(c);
}

void dev_rx_kick(struct dev_vm *vm)
{
	vm->rx_starved = false;
	if (!dev_backlog_flush(vm))
		return;
	for (struct dev_conn *c = vm->conns; c != NULL; c = c->next) {
		if (!c->rx_wait)
			continue;
		c->rx_wait = false;
		/* Level-triggered epoll reports the fd again if bytes wait. */
		dev_conn_update(c);
	}
}

/* Host EOF: the guest's reader sees end of stream (SHUTDOWN SEND); our
 * side may still receive. */
static void host_eof(struct dev_conn *c)
{
	c->host_eof = true;
	dev_logf(c->vm->dev, 1, "vm %u: %u:%u <-> host port %u: host side closed, SHUTDOWN to guest",
		 c->vm->cfg.cid, c->vm->cfg.cid, c->gport, c->hport);
	dev_conn_ctl(c, WIRE_OP_SHUTDOWN, WIRE_SHUTDOWN_SEND);
	dev_conn_update(c);
}

static void host_error(struct dev_conn *c, int err)
{
	dev_logf(c->vm->dev, 1, "vm %u: %u:%u <-> host port %u: read: %s, RST to guest",
		 c->vm->cfg.cid, c->vm->cfg.cid, c->gport, c->hport, strerror(err));
	dev_conn_ctl(c, WIRE_OP_RST, 0);
	dev_conn_free(c);
}

/* Stream: one readv per rx chain, straight into guest memory. */
static int pump_stream(struct dev_conn *c, uint32_t credit)
{
	struct dev_vm *vm = c->vm;
	struct vq_elem *e = &vm->dev->scratch[0];
	struct iovec iov[VQ_MAX_IOV];
	struct wire_virtio h;
	uint8_t hdr[WIRE_VIRTIO_HDR_LEN];
	uint32_t cap;
	unsigned n;
	ssize_t r;

	if (rx_pop(vm, e) != 1) {
		dev_rx_wait(c);
		return 0;
	}
	if (!rx_usable(vm, e))
		return 1;
	cap = e->in_len - WIRE_VIRTIO_HDR_LEN;
	if (cap > credit)
		cap = credit;
	if (cap > DEV_MAX_PKT)
		cap = DEV_MAX_PKT;
	n = dev_iov_slice(e->in, e->in_num, WIRE_VIRTIO_HDR_LEN, cap, iov, VQ_MAX_IOV);
	do
		r = readv(c->ep.fd, iov, (int)n);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		int err = errno;

		vq_unpop(vm->q[DEV_QRX]);
		if (err == EAGAIN || err == EWOULDBLOCK)
			return 0;
		host_error(c, err);
		return -1;
	}
	if (r == 0) {
		vq_unpop(vm->q[DEV_QRX]);
		host_eof(c);
		return 0;
	}
	dev_hdr_for(c, WIRE_OP_RW, 0, &h);
	h.len = (uint32_t)r;
	wire_virtio_encode(&h, hdr, sizeof(hdr));
	c->fwd_adv = c->fwd_cnt;
	c->tx_cnt += (uint32_t)r;
	c->bytes_out += (uint64_t)r;
	rx_push(vm, e, hdr, (uint32_t)r);
	return 1;
}

/* A host message that the guest's rx buffers cannot hold at once: give the
 * K chains back and reset the connection (never cut a message). */
static int seq_too_big(struct dev_conn *c, ssize_t m, unsigned k)
{
	struct dev_vm *vm = c->vm;

	dev_logf(vm->dev, 0, "vm %u: %u:%u <-> host port %u: host message of %zd bytes does not fit %u rx buffers, RST",
		 vm->cfg.cid, vm->cfg.cid, c->gport, c->hport, m, k);
	while (k-- > 0)
		vq_unpop(vm->q[DEV_QRX]);
	dev_conn_ctl(c, WIRE_OP_RST, 0);
	dev_conn_free(c);
	return -1;
}

/* SEQPACKET: one Unix message becomes one or more RW packets, the last with
 * EOM; enough rx chains are taken first so that one recvmsg lands the whole
 * message in guest memory. */
static int pump_seq(struct dev_conn *c, uint32_t credit)
{
	struct dev_vm *vm = c->vm;
	struct dev *d = vm->dev;
	struct msghdr mh;
	struct wire_virtio h;
	uint8_t hdr[WIRE_VIRTIO_HDR_LEN];
	uint64_t room = 0;
	unsigned k = 0, niov = 0;
	ssize_t m, r;

	do
		m = recv(c->ep.fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
	while (m < 0 && errno == EINTR);
	if (m < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		host_error(c, errno);
		return -1;
	}
	/* A zero-length message cannot be told from EOF here; both end the
	 * host's sending side. */
	if (m == 0) {
		host_eof(c);
		return 0;
	}
	if ((uint64_t)m > c->peer_buf_alloc || (uint64_t)m > (uint64_t)DEV_SCRATCH_ELEMS * DEV_MAX_PKT) {
		dev_logf(d, 0, "vm %u: %u:%u <-> host port %u: host message of %zd bytes exceeds the guest's buffer (%u), RST",
			 vm->cfg.cid, vm->cfg.cid, c->gport, c->hport, m, c->peer_buf_alloc);
		dev_conn_ctl(c, WIRE_OP_RST, 0);
		dev_conn_free(c);
		return -1;
	}
	if ((uint32_t)m > credit) {
		if (!c->stalled) {
			c->stalled = true;
			vm->st.stalls++;
		}
		dev_conn_update(c);
		return 0;
	}
	while (room < (uint64_t)m) {
		struct vq_elem *e = &d->scratch[k];
		uint32_t cap;

		unsigned got;
		size_t sliced = 0;

		if (k == DEV_SCRATCH_ELEMS)
			return seq_too_big(c, m, k);
		if (rx_pop(vm, e) != 1)
			goto starved;
		k++;
		/* Chains too small for a header carry nothing; they go back
		 * empty with the others, in ring order. */
		if (e->in_len < WIRE_VIRTIO_HDR_LEN)
			continue;
		cap = e->in_len - WIRE_VIRTIO_HDR_LEN;
		if (cap > DEV_MAX_PKT)
			cap = DEV_MAX_PKT;
		got = dev_iov_slice(e->in, e->in_num, WIRE_VIRTIO_HDR_LEN, cap, d->siov + niov,
				    DEV_SCRATCH_IOV - niov);
		for (unsigned j = 0; j < got; j++)
			sliced += d->siov[niov + j].iov_len;
		if (sliced != cap)
			return seq_too_big(c, m, k); /* more segments than one recvmsg takes */
		niov += got;
		room += cap;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = d->siov;
	mh.msg_iovlen = niov;
	do
		r = recvmsg(c->ep.fd, &mh, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		int err = r < 0 ? errno : 0;

		while (k-- > 0)
			vq_unpop(vm->q[DEV_QRX]);
		if (err == EAGAIN || err == EWOULDBLOCK)
			return 0;
		if (err == 0) {
			host_eof(c);
			return 0;
		}
		host_error(c, err);
		return -1;
	}
	if (mh.msg_flags & MSG_TRUNC) {
		/* Cannot happen (room >= peeked size), but never cut silently. */
		return seq_too_big(c, m, k);
	}
	c->fwd_adv = c->fwd_cnt;
	for (unsigned i = 0, left = (unsigned)r; i < k; i++) {
		struct vq_elem *e = &d->scratch[i];
		uint32_t chunk;

		if (e->in_len < WIRE_VIRTIO_HDR_LEN) {
			vq_push(vm->q[DEV_QRX], e, 0);
			vm->st.drops++;
			continue;
		}
		chunk = e->in_len - WIRE_VIRTIO_HDR_LEN;
		if (chunk > DEV_MAX_PKT)
			chunk = DEV_MAX_PKT;
		if (chunk > left)
			chunk = left;
		left -= chunk;
		dev_hdr_for(c, WIRE_OP_RW, left == 0 ? WIRE_SEQ_EOM : 0, &h);
		h.len = chunk;
		wire_virtio_encode(&h, hdr, sizeof(hdr));
		rx_push(vm, e, hdr, chunk);
		if (left == 0) {
			/* Chains beyond the message are not used: return them
			 * to the ring (most recently popped first). */
			for (unsigned j = k; j > i + 1; j--)
				vq_unpop(vm->q[DEV_QRX]);
			break;
		}
	}
	c->tx_cnt += (uint32_t)r;
	c->bytes_out += (uint64_t)r;
	return 1;

starved:
	while (k-- > 0)
		vq_unpop(vm->q[DEV_QRX]);
	dev_rx_wait(c);
	return 0;
}

void dev_conn_pump(struct dev_conn *c)
{
	struct dev_vm *vm = c->vm;

	for (int i = 0; i < DEV_PUMP_BATCH; i++) {
		uint32_t credit;
		int rc;

		if (c->state != CS_ESTABLISHED || c->host_eof || c->guest_no_rcv)
			break;
		if (vm->bl_head != NULL && !dev_backlog_flush(vm)) {
			dev_rx_wait(c);
			return;
		}
		credit = dev_peer_credit(c);
		if (credit == 0) {
			if (!c->stalled) {
				c->stalled = true;
				vm->st.stalls++;
				/* Ask, in case the guest's last update was lost in a
				 * reset or never sent. */
				dev_conn_ctl(c, WIRE_OP_CREDIT_REQUEST, 0);
			}
			break;
		}
		c->stalled = false;
		rc = c->type == WIRE_TYPE_SEQPACKET ? pump_seq(c, credit) : pump_stream(c, credit);
		if (rc < 0)
			return; /* connection freed */
		if (rc == 0)
			break;
	}
	dev_conn_update(c);
}

void dev_post_reset_event(struct dev_vm *vm)
{
	struct vq_elem *e = &vm->dev->scratch[0];
	uint8_t ev[4] = { 0, 0, 0, 0 }; /* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET = 0 */
	struct vq *q = vm->q[DEV_QEV];
	int rc;

	if (!vm->reset_event || q == NULL || !vm->ready[DEV_QEV])
		return;
	rc = vq_pop(q, e);
	if (rc < 0) {
		dev_vm_broken(vm, DEV_QEV);
		return;
	}
	if (rc == 0)
		return; /* retried when the guest adds event buffers */
	vq_buf_to_iov(e->in, e->in_num, 0, ev, sizeof(ev));
	vq_push(q, e, e->in_len >= sizeof(ev) ? sizeof(ev) : 0);
	vm->dirty[DEV_QEV] = true;
	vm->reset_event = false;
	dev_logf(vm->dev, 1, "vm %u: TRANSPORT_RESET event posted", vm->cfg.cid);
}
