/* device connections: the state machine of one connection (see
 * dev_conn.h): guest packets, guest -> host bytes, host -> guest pumping,
 * host socket events and deadlines.  Host-initiated connections are in
 * dev_conn_host.c until they are up; life, poll interest and control
 * packets in dev_conn_core.c, both below this file.  Behaviour follows virtio spec 5.10 and what the Linux
 * guest driver expects: an RST answers anything for a connection we do not
 * know (but never an RST), a SHUTDOWN with both flags is answered with RST
 * once our side is flushed, credit is checked on every RW. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dev_conn_int.h"
#include "dev_hostsock.h"
#include "dev_log.h"
#include "dev_rxq.h"
#include "device.h"

#define DEV_TX_GATHER    2048u /* stream RW payloads up to this are gathered
                                * in pend, sent after the tx batch */

static int conn_host_gone(struct dev_conn *c, int err, const char *op)
{
	char why[96];

	snprintf(why, sizeof(why), "%s to host: %s, RST to guest", op, strerror(err));
	return conn_close_rst(c, why);
}

static void credit_maybe(struct dev_conn *c)
{
	if (c->state == CS_ESTABLISHED && credit_update_due(&c->cr))
		conn_ctl(c, WIRE_OP_CREDIT_UPDATE, 0);
}

static int flush_pend(struct dev_conn *c)
{
	if (c->seq != NULL)
		return conn_seq_flush(c);
	return pend_flush(&c->pend, c->ep.fd, c->type == WIRE_TYPE_SEQPACKET, &c->cr.fwd_cnt);
}

/* After the guest's SHUTDOWN or a flush: finish what the flags ask for. */
static int shutdown_check(struct dev_conn *c)
{
	if (!pend_empty(&c->pend) || c->seq_inflight > 0 || c->state != CS_ESTABLISHED)
		return DEV_OPEN;
	if (c->guest_no_send && c->guest_no_rcv)
		return conn_close_rst(c, "closed by guest");
	if (c->guest_no_send && !c->shut_wr_done) {
		shutdown(c->ep.fd, SHUT_WR);
		c->shut_wr_done = true;
	}
	return DEV_OPEN;
}

/* ------------------------------------------------- guest -> host bytes */

/* Remember C for the end of the tx batch: true, or false if the list is
 * full (cannot happen: one entry per packet at most). */
static bool tx_gather(struct dev_conn *c)
{
	struct dev_vmctx *v = c->v;

	if (c->tx_listed)
		return true;
	if (v->ngathered >= DEV_TX_BATCH)
		return false;
	v->gathered[v->ngathered++] = c;
	c->tx_listed = true;
	return true;
}

/* What waits for the host socket goes out, then the credit and shutdown
 * work that depends on it. */
static int drain_to_host(struct dev_conn *c)
{
	int rc = pend_empty(&c->pend) ? 0 : flush_pend(c);

	if (rc < 0)
		return conn_host_gone(c, -rc, "write");
	credit_maybe(c);
	return shutdown_check(c);
}

int conn_batch_end(struct dev_conn *c)
{
	c->tx_listed = false;
	if (c->e.dead || drain_to_host(c) == DEV_CLOSED)
		return DEV_CLOSED;
	conn_update(c);
	return DEV_OPEN;
}

/* Send IOV[N] without blocking: bytes sent, or -errno (-EAGAIN: the host
 * socket is full). */
static ssize_t send_now(struct dev_conn *c, const struct iovec *iov, unsigned n)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	ssize_t r;

	do
		r = sendmsg(c->ep.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

static int from_guest(struct dev_conn *c, const struct wire_virtio *h, const struct iovec *iov, unsigned n)
{
	uint32_t len = h->len, limit = c->cr.buf_alloc * 2 + 4096;
	int rc = 0;

	if (!credit_guest_may_send(&c->cr, len)) {
		dev_logf(c->v->log, 0, "vm %u: %u:%u -> host port %u: guest sent %u bytes beyond its credit, RST",
			 c->v->cid, c->v->cid, c->e.gport, c->e.hport, len);
		c->v->st->drops++;
		return conn_close_rst(c, "credit violation");
	}
	c->cr.rx_cnt += len;
	c->bytes_in += len;
	if (c->guest_no_send || c->shut_wr_done) {
		c->cr.fwd_cnt += len; /* after its own SHUTDOWN: discard */
		return DEV_OPEN;
	}
	if (c->type == WIRE_TYPE_STREAM) {
		size_t off = 0;

		/* Small payload: gather it, one send per connection after the
		 * tx batch (conn_batch_end) instead of one sendmsg per packet.
		 * fwd_cnt moves only when the bytes are sent. */
		if (len > 0 && len <= DEV_TX_GATHER && tx_gather(c)) {
			if (pend_add(&c->pend, iov, n, 0, len, limit) < 0)
				return conn_close_rst(c, "guest -> host buffer over its limit");
			return DEV_OPEN;
		}
		/* A larger one after gathered bytes goes behind them in pend. */
		if (pend_empty(&c->pend) && len > 0) {
			ssize_t r = send_now(c, iov, n);

			if (r < 0 && r != -EAGAIN)
				return conn_host_gone(c, (int)-r, "write");
			off = r > 0 ? (size_t)r : 0;
			c->cr.fwd_cnt += (uint32_t)off;
		}
		if (off < len)
			rc = pend_add(&c->pend, iov, n, off, (uint32_t)(len - off), limit);
	} else {
		bool eom = h->flags & WIRE_SEQ_EOM;

		if (!c->pend.seq_open && pend_empty(&c->pend) && eom && c->seq == NULL) {
			ssize_t r = send_now(c, iov, n);

			/* A Unix SEQPACKET send is all or nothing. */
			if (r >= 0) {
				c->cr.fwd_cnt += len;
				credit_maybe(c);
				return DEV_OPEN;
			}
			if (r != -EAGAIN)
				return conn_host_gone(c, (int)-r, "send");
		}
		rc = pend_seq_add(&c->pend, iov, n, len, eom, limit);
	}
	if (rc < 0)
		return conn_close_rst(c, "guest -> host buffer over its limit");
	rc = flush_pend(c);
	if (rc < 0)
		return conn_host_gone(c, -rc, "write");
	credit_maybe(c);
	return DEV_OPEN;
}

/* ---------------------------------------------------- guest -> device */

int conn_guest_packet(struct dev_vmctx *v, const struct wire_virtio *h, const struct iovec *iov, unsigned n)
{
	struct dev_centry *e = conntab_lookup(v->tab, h->src_port, h->dst_port);
	struct dev_conn *c;
	uint32_t room;

	if (e == NULL) {
		if (h->op == WIRE_OP_REQUEST)
			return conn_guest_request(v, h);
		rxq_send_rst_for(v->rxq, h);
		return DEV_CLOSED;
	}
	c = conn_of(e);
	room = credit_peer_room(&c->cr);
	credit_from_peer(&c->cr, h->buf_alloc, h->fwd_cnt);
	if (h->type != c->type)
		return conn_close_rst(c, "packet of the wrong type");
	switch (h->op) {
	case WIRE_OP_REQUEST:
		return conn_close_rst(c, "duplicate REQUEST");
	case WIRE_OP_RESPONSE:
		if (c->state != CS_WAIT_RESPONSE)
			return conn_close_rst(c, "unexpected RESPONSE");
		if (conn_host_response(c) == DEV_CLOSED)
			return DEV_CLOSED;
		break;
	case WIRE_OP_RST:
		if (c->host_initiated && (c->state == CS_WAIT_RESPONSE || c->state == CS_HOLD))
			return conn_host_refused(c);
		/* Bytes gathered earlier in this batch would have been sent
		 * before the RST without gathering: best effort, send them. */
		if (c->tx_listed && !pend_empty(&c->pend) && c->type == WIRE_TYPE_STREAM)
			(void)flush_pend(c);
		dev_logf(v->log, 1, "vm %u: %u:%u <-> host port %u: reset by guest (%llu bytes in, %llu out)",
			 v->cid, v->cid, c->e.gport, c->e.hport, (unsigned long long)c->bytes_in,
			 (unsigned long long)c->bytes_out);
		return conn_close(c);
	case WIRE_OP_SHUTDOWN:
		if (h->flags & WIRE_SHUTDOWN_SEND)
			c->guest_no_send = true;
		if (h->flags & WIRE_SHUTDOWN_RCV)
			c->guest_no_rcv = true;
		if (shutdown_check(c) == DEV_CLOSED)
			return DEV_CLOSED;
		break;
	case WIRE_OP_RW:
		if (c->state != CS_ESTABLISHED)
			return conn_close_rst(c, "data before the connection was up");
		if (from_guest(c, h, iov, n) == DEV_CLOSED || shutdown_check(c) == DEV_CLOSED)
			return DEV_CLOSED;
		break;
	case WIRE_OP_CREDIT_UPDATE:
		break; /* credit taken above */
	case WIRE_OP_CREDIT_REQUEST:
		if (c->state == CS_ESTABLISHED)
			conn_ctl(c, WIRE_OP_CREDIT_UPDATE, 0);
		break;
	default:
		v->st->drops++;
		break;
	}
	/* More room than before: what waited for credit may go. */
	if (credit_peer_room(&c->cr) > room)
		c->stalled = false;
	/* A listed connection is updated once, after the batch. */
	if (!c->tx_listed)
		conn_update(c);
	return DEV_OPEN;
}

/* ---------------------------------------------------- host -> guest */

static void rx_wait(struct dev_conn *c)
{
	if (!c->e.waiting) {
		conntab_set_waiting(c->v->tab, &c->e, true);
		c->v->st->stalls++;
	}
	conn_update(c);
}

/* Move host bytes into guest rx buffers while credit and buffers last. */
static int conn_pump(struct dev_conn *c)
{
	struct dev_vmctx *v = c->v;

	for (int i = 0; i < DEV_PUMP_BATCH; i++) {
		uint32_t credit;
		bool was_stalled;
		int rc;

		if (c->state != CS_ESTABLISHED || c->host_eof || c->guest_no_rcv)
			break;
		/* Backlogged packets go first: the ring keeps the order of events. */
		if (rxq_backlogged(v->rxq) && !rxq_flush(v->rxq)) {
			rx_wait(c);
			return DEV_OPEN;
		}
		credit = credit_peer_room(&c->cr);
		if (credit == 0) {
			if (!c->stalled) {
				c->stalled = true;
				v->st->stalls++;
				/* Ask, in case the guest's last update was lost in a
				 * reset or never sent. */
				conn_ctl(c, WIRE_OP_CREDIT_REQUEST, 0);
			}
			break;
		}
		was_stalled = c->stalled;
		c->stalled = false;
		rc = c->type == WIRE_TYPE_SEQPACKET ? pump_seq(c, credit) : pump_stream(c, credit);
		if (rc == PUMP_MOVED)
			continue;
		/* A message waits for more credit than the guest has told us
		 * of: ask, once (a guest may update only at half its buffer). */
		if (rc == PUMP_STALL && !was_stalled)
			conn_ctl(c, WIRE_OP_CREDIT_REQUEST, 0);
		if (rc == PUMP_AGAIN || rc == PUMP_STALL || rc == PUMP_BROKEN)
			break; /* a broken ring: the VM drops every connection */
		if (rc == PUMP_NORX) {
			rx_wait(c);
			return DEV_OPEN;
		}
		if (rc == PUMP_EOF) {
			/* The guest's reader sees end of stream (SHUTDOWN SEND);
			 * our side may still receive. */
			c->host_eof = true;
			dev_logf(v->log, 1, "vm %u: %u:%u <-> host port %u: host side closed, SHUTDOWN to guest",
				 v->cid, v->cid, c->e.gport, c->e.hport);
			conn_ctl(c, WIRE_OP_SHUTDOWN, WIRE_SHUTDOWN_SEND);
			break;
		}
		if (rc == PUMP_TOOBIG) {
			conn_ctl(c, WIRE_OP_RST, 0);
			return conn_close(c);
		}
		dev_logf(v->log, 1, "vm %u: %u:%u <-> host port %u: read: %s, RST to guest", v->cid, v->cid,
			 c->e.gport, c->e.hport, strerror(-rc));
		conn_ctl(c, WIRE_OP_RST, 0);
		return conn_close(c);
	}
	conn_update(c);
	return DEV_OPEN;
}

int conn_host_event(struct dev_conn *c, uint32_t events)
{
	if (c->e.dead)
		return DEV_CLOSED; /* an event from before its close, this round */
	if (c->state == CS_HANDSHAKE)
		return conn_host_handshake(c);
	if (c->state == CS_CONNECTING)
		return conn_dial_event(c, events);
	if (c->state == CS_HOLD)
		return conn_host_hangup(c);
	if (c->state != CS_ESTABLISHED)
		return DEV_OPEN;
	if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && drain_to_host(c) == DEV_CLOSED)
		return DEV_CLOSED;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		return conn_pump(c);
	conn_update(c);
	return DEV_OPEN;
}

int conn_seq_event(struct dev_conn *c)
{
	ssize_t sent;

	if (c->e.dead || conn_seq_result(c, &sent) == 0)
		return c->e.dead ? DEV_CLOSED : DEV_OPEN;
	if (sent < 0)
		return conn_host_gone(c, (int)-sent, "send");
	c->cr.fwd_cnt += (uint32_t)sent;
	if (flush_pend(c) < 0)
		return conn_host_gone(c, ENOMEM, "send");
	credit_maybe(c);
	if (shutdown_check(c) == DEV_CLOSED)
		return DEV_CLOSED;
	conn_update(c);
	return DEV_OPEN;
}

int conn_rx_ready(struct dev_conn *c)
{
	/* Level-triggered epoll reports the fd again if bytes wait. */
	conn_update(c);
	return DEV_OPEN;
}

int conn_timer(struct dev_conn *c, int64_t now)
{
	struct dev_vmctx *v = c->v;

	switch (c->state) {
	case CS_HANDSHAKE:
	case CS_WAIT_RESPONSE:
	case CS_HOLD:
		return conn_host_timer(c);
	case CS_CONNECTING:
		return conn_dial_timer(c, now);
	default:
		conntab_set_deadline(v->tab, &c->e, 0);
		return DEV_OPEN;
	}
}

bool conn_wait_driver(struct dev_conn *c)
{
	return !c->e.dead && c->host_initiated && conn_host_wait_driver(c);
}

void conn_drop(struct dev_conn *c, bool rst)
{
	if (c->e.dead)
		return;
	if (rst && c->state != CS_HANDSHAKE && c->state != CS_HOLD)
		conn_ctl(c, WIRE_OP_RST, 0);
	conn_close(c);
}
