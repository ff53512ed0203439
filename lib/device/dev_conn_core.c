/* device connections, the part every other connection file stands on:
 * a connection's life (new, close, free), the poll interest its state
 * asks for, and its control packets to the guest.  Calls only below
 * (dev_conntab, dev_pend, dev_poll, dev_rxq). */
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dev_conn_int.h"
#include "dev_log.h"
#include "dev_rxq.h"
#include "device.h"
#include "seqsend.h"

_Static_assert(offsetof(struct dev_conn, e) == 0, "the table entry comes first");

struct dev_conn *conn_of(struct dev_centry *e)
{
	return (struct dev_conn *)(void *)e;
}

bool conn_is_dead(const struct dev_conn *c)
{
	return c->e.dead;
}

const char *conn_tname(uint16_t type)
{
	return type == WIRE_TYPE_SEQPACKET ? "seqpacket" : "stream";
}

void conn_set_state(struct dev_conn *c, enum dev_conn_state st)
{
	/* Host clients that hold an fd without a guest connection yet (their
	 * CONNECT line not read, or held for the guest) are counted: the VM
	 * bounds them so they cannot crowd out the rest. */
	bool was = c->state == CS_HANDSHAKE || c->state == CS_HOLD;
	bool is = st == CS_HANDSHAKE || st == CS_HOLD;

	if (was && !is && c->v->nhandshake > 0)
		c->v->nhandshake--;
	else if (is && !was)
		c->v->nhandshake++;
	c->state = st;
}

struct dev_conn *conn_new(struct dev_vmctx *v, uint16_t type)
{
	struct dev_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (conntab_insert(v->tab, &c->e) < 0) {
		free(c);
		return NULL;
	}
	c->v = v;
	c->type = type;
	c->ep = (struct dev_ep){ .kind = EP_CONN, .fd = -1, .vm = v->vm, .obj = c };
	c->cr.buf_alloc = v->buf_alloc;
	c->state = CS_CONNECTING; /* not a pending host client (HANDSHAKE is 0) */
	return c;
}

/* Our side is done: out of every list and the poll set, host socket
 * closed.  The memory stays until conn_free(). */
int conn_close(struct dev_conn *c)
{
	conn_set_state(c, CS_CLOSED);
	conntab_retire(c->v->tab, &c->e);
	if (c->v->tab->n < c->v->tab->max)
		c->v->limit_logged = false;
	dev_ep_del(c->v->epfd, &c->ep);
	if (c->seq != NULL) {
		/* The sender owns the socket: it closes it when its send ends. */
		dev_ep_del(c->v->epfd, &c->sep);
		seqsend_free(c->seq);
		c->seq = NULL;
		c->ep.fd = -1;
	}
	if (c->ep.fd >= 0) {
		close(c->ep.fd);
		c->ep.fd = -1;
	}
	pend_release(&c->pend);
	/* A dial's socket is ep.fd (closed above) or already closed. */
	free(c->dial);
	c->dial = NULL;
	return DEV_CLOSED;
}

void conn_free(struct dev_conn *c)
{
	free(c);
}

/* The poll interest C's state asks for. */
void conn_update(struct dev_conn *c)
{
	uint32_t ev = 0;

	if (c->e.dead || c->ep.fd < 0)
		return;
	if (c->state == CS_HANDSHAKE) {
		ev = EPOLLIN;
	} else if (c->state == CS_HOLD) {
		ev = EPOLLRDHUP; /* only to see the client leave */
	} else if (c->state == CS_CONNECTING) {
		ev = c->dial != NULL ? c->dial->events : 0;
	} else if (c->state == CS_ESTABLISHED) {
		/* Stalled: a message waits for more credit; the guest's next
		 * packet says when (polling meanwhile would spin). */
		if (!c->host_eof && !c->guest_no_rcv && !c->e.waiting && !c->stalled &&
		    credit_peer_room(&c->cr) > 0)
			ev |= EPOLLIN;
		/* (A seqsend thread does the sends of its socket itself.) */
		if (!pend_empty(&c->pend) && c->seq == NULL)
			ev |= EPOLLOUT;
	}
	/* Nothing wanted: out of the set, so a hangup cannot spin the loop. */
	dev_ep_set(c->v->epfd, &c->ep, ev);
}

/* A payload-less packet of C to the guest; it also advertises our credit. */
void conn_ctl(struct dev_conn *c, uint16_t op, uint32_t flags)
{
	struct wire_virtio h;

	conn_hdr(c, op, flags, &h);
	c->cr.fwd_adv = c->cr.fwd_cnt;
	rxq_send_ctl(c->v->rxq, &h);
}

/* Full close, our side flushed: RST completes the guest's close. */
int conn_close_rst(struct dev_conn *c, const char *why)
{
	dev_logf(c->v->log, 1, "vm %u: %u:%u <-> host port %u: %s (%llu bytes in, %llu out)",
		 c->v->cid, c->v->cid, c->e.gport, c->e.hport, why,
		 (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out);
	conn_ctl(c, WIRE_OP_RST, 0);
	return conn_close(c);
}

void conn_established(struct dev_conn *c)
{
	conn_set_state(c, CS_ESTABLISHED);
	conntab_set_deadline(c->v->tab, &c->e, 0);
	c->v->st->conns++;
}

void conn_limit_reached(struct dev_vmctx *v, const char *who)
{
	/* Once per burst: a guest or host hammering the limit must not flood
	 * the log. */
	if (!v->limit_logged)
		dev_logf(v->log, 0, "vm %u: connection limit (%u) reached: %s", v->cid, v->tab->max, who);
	v->limit_logged = true;
}
