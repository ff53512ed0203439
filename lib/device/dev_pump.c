/* device pump: host bytes of one connection into the guest's rx buffers,
 * straight from the socket into guest memory (readv / recvmsg on the rx
 * chains' iovecs: one copy).  Below the connection state machine: it moves
 * bytes and says what happened (PUMP_*), dev_conn.c decides what follows. */
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "dev_conn_int.h"
#include "dev_iov.h"
#include "dev_log.h"
#include "dev_rxq.h"
#include "device.h"

/* A read of GOT (<= 0, errno set) into K popped chains: they go back;
 * what the socket said. */
static int read_failed(struct dev_rxq *r, unsigned k, ssize_t got)
{
	int err = got < 0 ? errno : 0;

	rxq_unpop(r, k);
	if (err == EAGAIN || err == EWOULDBLOCK)
		return PUMP_AGAIN;
	return err == 0 ? PUMP_EOF : -err;
}

/* Stream: as many rx chains as credit and DEV_RX_BYTES allow are taken
 * first, then one readv fills their payload parts in ring order and the
 * headers are written after it: one syscall for many guest buffers
 * (Linux posts 4 KiB ones).  Chains the bytes did not reach go back. */
int pump_stream(struct dev_conn *c, uint32_t credit)
{
	struct dev_vmctx *v = c->v;
	struct dev_rxq *r = v->rxq;
	uint32_t budget = credit < DEV_RX_BYTES ? credit : DEV_RX_BYTES, cap[DEV_SCRATCH_ELEMS];
	unsigned k = 0, niov = 0;
	size_t left;
	ssize_t got;

	while (k < DEV_SCRATCH_ELEMS && budget > 0 && niov < DEV_SCRATCH_IOV) {
		struct vq_elem *e = &v->scratch[k];
		size_t sliced = 0;
		unsigned n;
		int rc = rxq_pop(r, e);

		if (rc < 0) {
			rxq_unpop(r, k);
			return PUMP_BROKEN;
		}
		if (rc == 0)
			break;
		k++;
		cap[k - 1] = 0;
		/* A chain too small for a header goes back empty, in order. */
		if (e->in_len < WIRE_VIRTIO_HDR_LEN)
			continue;
		cap[k - 1] = e->in_len - WIRE_VIRTIO_HDR_LEN;
		if (cap[k - 1] > DEV_MAX_PKT)
			cap[k - 1] = DEV_MAX_PKT;
		if (cap[k - 1] > budget)
			cap[k - 1] = budget;
		n = dev_iov_slice(e->in, e->in_num, WIRE_VIRTIO_HDR_LEN, cap[k - 1], v->siov + niov,
				  DEV_SCRATCH_IOV - niov);
		for (unsigned j = 0; j < n; j++)
			sliced += v->siov[niov + j].iov_len;
		cap[k - 1] = (uint32_t)sliced; /* less when the iovec array is full */
		niov += n;
		budget -= cap[k - 1];
	}
	if (k == 0)
		return PUMP_NORX;
	if (niov == 0) {
		/* Only chains too small for a header: back empty, counted. */
		for (unsigned i = 0; i < k; i++)
			rxq_take_usable(r, &v->scratch[i]);
		return PUMP_MOVED;
	}
	do
		got = readv(c->ep.fd, v->siov, (int)niov);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return read_failed(r, k, got);
	c->cr.fwd_adv = c->cr.fwd_cnt;
	left = (size_t)got;
	for (unsigned i = 0; i < k; i++) {
		struct vq_elem *e = &v->scratch[i];
		struct wire_virtio h;
		uint8_t hdr[WIRE_VIRTIO_HDR_LEN];
		uint32_t chunk;

		if (e->in_len < WIRE_VIRTIO_HDR_LEN) {
			rxq_take_usable(r, e);
			continue;
		}
		if (left == 0) {
			rxq_unpop(r, k - i); /* the bytes ended before these chains */
			break;
		}
		chunk = left < cap[i] ? (uint32_t)left : cap[i];
		left -= chunk;
		conn_hdr(c, WIRE_OP_RW, 0, &h);
		h.len = chunk;
		wire_virtio_encode(&h, hdr, sizeof(hdr));
		c->cr.tx_cnt += chunk;
		rxq_push(r, e, hdr, chunk);
	}
	c->bytes_out += (uint64_t)got;
	return PUMP_MOVED;
}

/* A host message that the guest's rx buffers cannot hold at once: give the
 * K chains back (never cut a message); the caller resets the connection. */
static int seq_too_big(struct dev_conn *c, ssize_t m, unsigned k)
{
	dev_logf(c->v->log, 0, "vm %u: %u:%u <-> host port %u: host message of %zd bytes does not fit %u rx buffers, RST",
		 c->v->cid, c->v->cid, c->e.gport, c->e.hport, m, k);
	rxq_unpop(c->v->rxq, k);
	return PUMP_TOOBIG;
}

/* SEQPACKET: one host message becomes one or more RW packets, the last
 * with EOM; enough rx chains are taken first so that one recvmsg lands the
 * whole message in guest memory. */
int pump_seq(struct dev_conn *c, uint32_t credit)
{
	struct dev_vmctx *v = c->v;
	struct dev_rxq *r = v->rxq;
	struct msghdr mh;
	struct wire_virtio h;
	uint8_t hdr[WIRE_VIRTIO_HDR_LEN];
	uint64_t room = 0;
	unsigned k = 0, niov = 0;
	ssize_t m, got;
	char peek;

	/* One byte, not zero: AF_VSOCK answers a zero-length read with 0
	 * (as if at EOF) before it looks at the message. */
	do
		m = recv(c->ep.fd, &peek, 1, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
	while (m < 0 && errno == EINTR);
	/* AF_VSOCK SEQPACKET peeks only from Linux 6.3 (before, the refusal
	 * reads as ENOMEM): take room for the largest message its socket can
	 * carry instead. */
	if (m < 0 && (errno == EOPNOTSUPP || errno == ENOMEM) && c->seq_max > 0)
		m = c->seq_max;
	if (m < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? PUMP_AGAIN : -errno;
	/* A zero-length message cannot be told from EOF here; both end the
	 * host's sending side. */
	if (m == 0)
		return PUMP_EOF;
	if ((uint64_t)m > c->cr.peer_buf_alloc || (uint64_t)m > (uint64_t)DEV_SCRATCH_ELEMS * DEV_MAX_PKT) {
		dev_logf(v->log, 0, "vm %u: %u:%u <-> host port %u: host message of %zd bytes exceeds the guest's buffer (%u), RST",
			 v->cid, v->cid, c->e.gport, c->e.hport, m, c->cr.peer_buf_alloc);
		return PUMP_TOOBIG;
	}
	if ((uint32_t)m > credit) {
		if (!c->stalled) {
			c->stalled = true;
			v->st->stalls++;
		}
		return PUMP_STALL;
	}
	while (room < (uint64_t)m) {
		struct vq_elem *e = &v->scratch[k];
		uint32_t cap;
		unsigned got_iov;
		size_t sliced = 0;
		int rc;

		if (k == DEV_SCRATCH_ELEMS)
			return seq_too_big(c, m, k);
		rc = rxq_pop(r, e);
		if (rc != 1) {
			rxq_unpop(r, k);
			return rc < 0 ? PUMP_BROKEN : PUMP_NORX;
		}
		k++;
		/* Chains too small for a header carry nothing; they go back
		 * empty with the others, in ring order. */
		if (e->in_len < WIRE_VIRTIO_HDR_LEN)
			continue;
		cap = e->in_len - WIRE_VIRTIO_HDR_LEN;
		if (cap > DEV_MAX_PKT)
			cap = DEV_MAX_PKT;
		got_iov = dev_iov_slice(e->in, e->in_num, WIRE_VIRTIO_HDR_LEN, cap, v->siov + niov,
					DEV_SCRATCH_IOV - niov);
		for (unsigned j = 0; j < got_iov; j++)
			sliced += v->siov[niov + j].iov_len;
		if (sliced != cap)
			return seq_too_big(c, m, k); /* more segments than one recvmsg takes */
		niov += got_iov;
		room += cap;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = v->siov;
	mh.msg_iovlen = niov;
	do
		got = recvmsg(c->ep.fd, &mh, MSG_DONTWAIT);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return read_failed(r, k, got);
	if (mh.msg_flags & MSG_TRUNC) {
		/* Cannot happen (room >= peeked size), but never cut silently. */
		return seq_too_big(c, m, k);
	}
	c->cr.fwd_adv = c->cr.fwd_cnt;
	for (unsigned i = 0, left = (unsigned)got; i < k; i++) {
		struct vq_elem *e = &v->scratch[i];
		uint32_t chunk;

		if (e->in_len < WIRE_VIRTIO_HDR_LEN) {
			rxq_take_usable(r, e); /* back empty, counted */
			continue;
		}
		chunk = e->in_len - WIRE_VIRTIO_HDR_LEN;
		if (chunk > DEV_MAX_PKT)
			chunk = DEV_MAX_PKT;
		if (chunk > left)
			chunk = left;
		left -= chunk;
		conn_hdr(c, WIRE_OP_RW, left == 0 ? WIRE_SEQ_EOM : 0, &h);
		h.len = chunk;
		wire_virtio_encode(&h, hdr, sizeof(hdr));
		rxq_push(r, e, hdr, chunk);
		if (left == 0) {
			/* Chains beyond the message are not used: return them
			 * to the ring (most recently popped first). */
			rxq_unpop(r, k - (i + 1));
			break;
		}
	}
	c->cr.tx_cnt += (uint32_t)got;
	c->bytes_out += (uint64_t)got;
	return PUMP_MOVED;
}
