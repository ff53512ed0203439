/* device connections that a host client starts: a client of "<uds>"
 * says "CONNECT <port>\n" (of "<uds>_seqpacket": the same line as one
 * message), the device sends REQUEST to the guest and, on the guest's
 * RESPONSE, answers "OK <hostport>\n"; a client of a forward-listen
 * AF_VSOCK port is connected already, and goes to the guest's same port.  Below the connection
 * state machine (dev_conn.c), which hands these states their events. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dev_backend.h"
#include "dev_conn_int.h"
#include "dev_hostsock.h"
#include "dev_log.h"
#include "dev_rxq.h"
#include "device.h"

#define DEV_HANDSHAKE_MS 5000
#define DEV_RESPONSE_MS  5000
#define HOLD_FIRST_MS    20   /* connect-timeout: ask the guest again after ... */
#define HOLD_MAX_MS      250  /* ... doubling up to this */

static const char *where(const struct dev_conn *c, char *buf, size_t len)
{
	if (c->host_kind == DL_VSOCK)
		snprintf(buf, len, "vsock port %u", c->e.gport);
	else
		snprintf(buf, len, "%s%s", c->v->uds, c->host_kind == DL_UDS_SEQ ? DEV_SEQ_SUFFIX : "");
	return buf;
}

/* Hold C (connect-timeout): ask the guest again a little later. */
static int hold(struct dev_conn *c)
{
	int64_t now = dev_now_ms(), at;

	c->hold_ms = c->hold_ms ? c->hold_ms * 2 : HOLD_FIRST_MS;
	if (c->hold_ms > HOLD_MAX_MS)
		c->hold_ms = HOLD_MAX_MS;
	at = now + c->hold_ms;
	conn_set_state(c, CS_HOLD);
	conntab_set_deadline(c->v->tab, &c->e, at < c->hold_deadline ? at : c->hold_deadline);
	conn_update(c);
	return DEV_OPEN;
}

/* The guest port is known: REQUEST to the guest, or hold the client
 * while the driver is not up (with connect-timeout). */
static int request(struct dev_conn *c)
{
	struct dev_vmctx *v = c->v;

	if (c->hold_deadline == 0 && v->connect_timeout_ms > 0)
		c->hold_deadline = dev_now_ms() + v->connect_timeout_ms;
	if (!c->e.hashed)
		conntab_hash(v->tab, &c->e);
	if (!rxq_usable(v->rxq)) {
		if (c->hold_deadline > 0 && dev_now_ms() < c->hold_deadline)
			return hold(c);
		dev_logf(v->log, 0, "vm %u: host client for port %u closed: the guest's vsock driver is not up%s",
			 v->cid, c->e.gport, c->hold_deadline ? " (connect-timeout passed)" : "");
		return conn_close(c);
	}
	conn_set_state(c, CS_WAIT_RESPONSE);
	conntab_set_deadline(v->tab, &c->e, dev_now_ms() + DEV_RESPONSE_MS);
	conn_update(c);
	conn_ctl(c, WIRE_OP_REQUEST, 0);
	return DEV_OPEN;
}

void conn_host_accept(struct dev_vmctx *v, int fd, int kind, uint32_t port, uint32_t peer_port)
{
	struct dev_conn *c;
	char w[VSK_PATH_MAX + 16];

	c = conn_new(v, kind == DL_UDS_SEQ ? WIRE_TYPE_SEQPACKET : WIRE_TYPE_STREAM);
	if (c == NULL) {
		conn_limit_reached(v, "host clients closed");
		close(fd);
		return;
	}
	c->host_initiated = true;
	c->host_kind = kind;
	c->ep.fd = fd;
	hostsock_sndbuf(fd, c->cr.buf_alloc);
	if (!rxq_usable(v->rxq) && v->connect_timeout_ms == 0) {
		dev_logf(v->log, 0, "vm %u: host client on %s closed: the guest's vsock driver is not up", v->cid,
			 where(c, w, sizeof(w)));
		conn_close(c);
		return;
	}
	if (kind == DL_VSOCK) {
		/* No handshake: the listener's port is the guest's; the
		 * client's port stays its own unless another uses it. */
		c->e.gport = port;
		c->e.hport = peer_port;
		if (peer_port == VSK_PORT_ANY || conntab_lookup(v->tab, port, peer_port) != NULL)
			c->e.hport = conntab_alloc_hport(v->tab, port);
		request(c);
		return;
	}
	conn_set_state(c, CS_HANDSHAKE);
	conntab_set_deadline(v->tab, &c->e, dev_now_ms() + DEV_HANDSHAKE_MS);
	conn_update(c);
}

int conn_host_handshake(struct dev_conn *c)
{
	struct dev_vmctx *v = c->v;
	uint32_t port;
	char w[VSK_PATH_MAX + 16];
	int rc = c->host_kind == DL_UDS_SEQ ? hostsock_read_msg(c->ep.fd, c->line, &c->line_len, sizeof(c->line))
					    : hostsock_read_line(c->ep.fd, c->line, &c->line_len, sizeof(c->line));

	if (rc == 0)
		return DEV_OPEN;
	where(c, w, sizeof(w));
	if (rc == -ECONNRESET) {
		dev_logf(v->log, 0, "vm %u: host client on %s closed before its CONNECT line", v->cid, w);
		return conn_close(c);
	}
	if (rc == -EMSGSIZE) {
		dev_logf(v->log, 0, "vm %u: host client on %s: CONNECT line too long, closed", v->cid, w);
		return conn_close(c);
	}
	if (vsk_hybrid_parse_connect(c->line, c->line_len, &port) < 0) {
		dev_logf(v->log, 0, "vm %u: host client on %s: not a CONNECT line: \"%.*s\", closed", v->cid, w,
			 (int)strcspn(c->line, "\r\n"), c->line);
		return conn_close(c);
	}
	c->e.gport = port;
	c->e.hport = conntab_alloc_hport(v->tab, port);
	return request(c);
}

int conn_host_response(struct dev_conn *c)
{
	struct dev_vmctx *v = c->v;

	/* A vsock client is connected already; a Unix one hears "OK". */
	if (c->host_kind != DL_VSOCK && hostsock_reply_ok(c->ep.fd, c->e.hport) < 0)
		return conn_close_rst(c, "host client gone before OK");
	conn_established(c);
	dev_logf(v->log, 1, "vm %u: host client -> %u:%u: connected (host port %u)", v->cid, v->cid,
		 c->e.gport, c->e.hport);
	return DEV_OPEN;
}

int conn_host_refused(struct dev_conn *c)
{
	struct dev_vmctx *v = c->v;

	c->tries++;
	if (c->hold_deadline > 0 && dev_now_ms() < c->hold_deadline)
		return hold(c);
	if (c->hold_deadline > 0)
		dev_logf(v->log, 0, "vm %u: host client for port %u closed after %u ms (connect-timeout): nothing "
			 "listened on guest port %u (refused %d times)", v->cid, c->e.gport, v->connect_timeout_ms,
			 c->e.gport, c->tries);
	else
		dev_logf(v->log, 1, "vm %u: %u:%u <-> host port %u: refused by guest", v->cid, v->cid, c->e.gport,
			 c->e.hport);
	return conn_close(c);
}

bool conn_host_wait_driver(struct dev_conn *c)
{
	if (c->state == CS_HANDSHAKE || c->state == CS_HOLD)
		return true;
	if (c->state != CS_WAIT_RESPONSE || c->hold_deadline == 0 || dev_now_ms() >= c->hold_deadline)
		return false;
	/* Our REQUEST went with the old driver: ask the new one. */
	c->hold_ms = 0;
	hold(c);
	return true;
}

int conn_host_hangup(struct dev_conn *c)
{
	dev_logf(c->v->log, 1, "vm %u: host client for port %u left while held", c->v->cid, c->e.gport);
	return conn_close(c);
}

int conn_host_timer(struct dev_conn *c)
{
	struct dev_vmctx *v = c->v;

	if (c->state == CS_HOLD) {
		if (dev_now_ms() < c->hold_deadline)
			return request(c);
		if (c->tries > 0)
			return conn_host_refused(c);
		dev_logf(v->log, 0, "vm %u: host client for port %u closed after %u ms (connect-timeout): the "
			 "guest's vsock driver never came up", v->cid, c->e.gport, v->connect_timeout_ms);
		return conn_close(c);
	}

	if (c->state == CS_HANDSHAKE) {
		char w[VSK_PATH_MAX + 16];

		dev_logf(v->log, 0, "vm %u: host client on %s sent no CONNECT line in %d ms, closed", v->cid,
			 where(c, w, sizeof(w)), DEV_HANDSHAKE_MS);
		return conn_close(c);
	}
	dev_logf(v->log, 0, "vm %u: guest port %u did not answer in %d ms, host client closed", v->cid,
		 c->e.gport, DEV_RESPONSE_MS);
	conn_ctl(c, WIRE_OP_RST, 0);
	return conn_close(c);
}
