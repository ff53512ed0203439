/* device connections that a guest starts, until they are up: the guest's
 * REQUEST for host port P opens P's host socket through the VM's back end
 * (dev_backend: "<uds>_P", AF_VSOCK forward-cid:P or a mapped address)
 * without waiting; RESPONSE once it is connected, RST with a log line
 * when it cannot be.  Below the connection state machine (dev_conn.c),
 * which hands these connections their events and deadlines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>

#include "dev_backend.h"
#include "dev_conn_int.h"
#include "dev_log.h"
#include "dev_rxq.h"
#include "device.h"

#define DEV_DIAL_MS 5000 /* the whole dial, handshake included */

static void target(const struct dev_conn *c, char *buf, size_t len)
{
	if (c->dial->to.kind == VSK_ADDR_UNIX && !c->dial->mapped)
		snprintf(buf, len, "%s", c->dial->to.path);
	else
		vsk_addr_format(&c->dial->to, buf, len);
}

/* The dial's socket and wishes into the poll set and the table. */
static void dial_wait(struct dev_conn *c)
{
	int64_t at = c->dial_deadline;

	if (c->dial->retry_at > 0 && c->dial->retry_at < at)
		at = c->dial->retry_at;
	c->ep.fd = c->dial->fd;
	conntab_set_deadline(c->v->tab, &c->e, at);
	conn_update(c);
}

/* RC of the dial (0 connected, 1 waiting, -errno failed). */
static int dial_done(struct dev_conn *c, int rc)
{
	struct dev_vmctx *v = c->v;
	char to[VSK_PATH_MAX + 64], why[512];

	if (rc == 1) {
		dial_wait(c);
		return DEV_OPEN;
	}
	c->ep.fd = c->dial->fd;
	target(c, to, sizeof(to));
	if (rc < 0) {
		if (rc == -ELOOP)
			dev_logf(v->log, 0, "vm %u: %s is a symlink: not followed, RST to guest port %u", v->cid, to,
				 c->e.gport);
		else
			/* A map target that is down is news; a port nobody serves
			 * on the back end is everyday. */
			dev_logf(v->log, c->dial->mapped ? 0 : 1, "vm %u: %u:%u -> host port %u: %s, RST to guest",
				 v->cid, v->cid, c->e.gport, c->e.hport,
				 backend_dial_explain(c->dial, -rc, why, sizeof(why)));
		conn_ctl(c, WIRE_OP_RST, 0);
		return conn_close(c);
	}
	if (c->type == WIRE_TYPE_SEQPACKET && c->dial->to.kind == VSK_ADDR_VSOCK_SEQ) {
		unsigned long long sz = 0;
		socklen_t sl = sizeof(sz);

		/* What the host peer can send in one message (for kernels that
		 * cannot peek at a vsock message's size). */
		if (getsockopt(c->ep.fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &sz, &sl) == 0)
			c->seq_max = (uint32_t)sz;
		rc = conn_seq_attach(c);
	}
	if (rc < 0) {
		dev_logf(v->log, 0, "vm %u: %u:%u -> host port %u: %s: no sender thread: %s, RST to guest", v->cid,
			 v->cid, c->e.gport, c->e.hport, to, strerror(-rc));
		conn_ctl(c, WIRE_OP_RST, 0);
		return conn_close(c);
	}
	free(c->dial);
	c->dial = NULL;
	conn_established(c);
	dev_logf(v->log, 1, "vm %u: %u:%u -> host port %u: connected to %s (%s)", v->cid, v->cid, c->e.gport,
		 c->e.hport, to, conn_tname(c->type));
	conn_ctl(c, WIRE_OP_RESPONSE, 0);
	conn_update(c);
	return DEV_OPEN;
}

int conn_guest_request(struct dev_vmctx *v, const struct wire_virtio *h)
{
	struct dev_conn *c = conn_new(v, h->type);
	int type = h->type == WIRE_TYPE_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM;

	if (c == NULL) {
		conn_limit_reached(v, "RST to new guest connections");
		rxq_send_rst_for(v->rxq, h);
		return DEV_CLOSED;
	}
	c->e.gport = h->src_port;
	c->e.hport = h->dst_port;
	credit_from_peer(&c->cr, h->buf_alloc, h->fwd_cnt);
	conntab_hash(v->tab, &c->e);
	c->dial = malloc(sizeof(*c->dial));
	if (c->dial == NULL) {
		dev_logf(v->log, 0, "vm %u: out of memory, RST to guest port %u", v->cid, c->e.gport);
		conn_ctl(c, WIRE_OP_RST, 0);
		return conn_close(c);
	}
	c->dial_deadline = dev_now_ms() + DEV_DIAL_MS;
	return dial_done(c, backend_dial(v->be, c->e.hport, type, c->e.gport, v->nonce++, c->cr.buf_alloc,
					 h->buf_alloc, c->dial));
}

int conn_dial_event(struct dev_conn *c, uint32_t events)
{
	/* Out of the poll set first: the step may close this socket. */
	dev_ep_del(c->v->epfd, &c->ep);
	return dial_done(c, backend_dial_step(c->dial, events));
}

int conn_dial_timer(struct dev_conn *c, int64_t now)
{
	if (now < c->dial_deadline) {
		dev_ep_del(c->v->epfd, &c->ep);
		return dial_done(c, backend_dial_step(c->dial, 0));
	}
	dev_ep_del(c->v->epfd, &c->ep);
	backend_dial_cancel(c->dial);
	return dial_done(c, -ETIMEDOUT);
}
