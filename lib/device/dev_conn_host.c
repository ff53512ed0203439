/* device connections that a host client starts: the client of <uds>
 * says "CONNECT <port>\n", the device sends REQUEST to the guest and, on
 * the guest's RESPONSE, answers "OK <hostport>\n".  Below the connection
 * state machine (dev_conn.c), which hands these states their events. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "dev_conn_int.h"
#include "dev_hostsock.h"
#include "dev_log.h"
#include "dev_rxq.h"
#include "device.h"

#define DEV_HANDSHAKE_MS 5000
#define DEV_RESPONSE_MS  5000

void conn_host_accept(struct dev_vmctx *v, int fd)
{
	struct dev_conn *c;

	if (!rxq_usable(v->rxq)) {
		dev_logf(v->log, 0, "vm %u: host client on %s closed: the guest's vsock driver is not up", v->cid,
			 v->uds);
		close(fd);
		return;
	}
	c = conn_new(v, WIRE_TYPE_STREAM);
	if (c == NULL) {
		dev_logf(v->log, 0, "vm %u: host client closed: connection limit reached", v->cid);
		close(fd);
		return;
	}
	c->host_initiated = true;
	c->state = CS_HANDSHAKE;
	c->ep.fd = fd;
	hostsock_sndbuf(fd, c->cr.buf_alloc);
	conntab_set_deadline(v->tab, &c->e, dev_now_ms() + DEV_HANDSHAKE_MS);
	conn_update(c);
}

int conn_host_handshake(struct dev_conn *c)
{
	struct dev_vmctx *v = c->v;
	uint32_t port;
	int rc = hostsock_read_line(c->ep.fd, c->line, &c->line_len, sizeof(c->line));

	if (rc == 0)
		return DEV_OPEN;
	if (rc == -ECONNRESET) {
		dev_logf(v->log, 0, "vm %u: host client on %s closed before its CONNECT line", v->cid, v->uds);
		return conn_close(c);
	}
	if (rc == -EMSGSIZE) {
		dev_logf(v->log, 0, "vm %u: host client on %s: CONNECT line too long, closed", v->cid, v->uds);
		return conn_close(c);
	}
	if (vsk_hybrid_parse_connect(c->line, c->line_len, &port) < 0) {
		dev_logf(v->log, 0, "vm %u: host client on %s: not a CONNECT line: \"%.*s\", closed", v->cid,
			 v->uds, (int)strcspn(c->line, "\r\n"), c->line);
		return conn_close(c);
	}
	if (!rxq_usable(v->rxq)) {
		dev_logf(v->log, 0, "vm %u: host client for port %u closed: the guest's vsock driver is not up",
			 v->cid, port);
		return conn_close(c);
	}
	c->e.gport = port;
	c->e.hport = conntab_alloc_hport(v->tab, port);
	conntab_hash(v->tab, &c->e);
	c->state = CS_WAIT_RESPONSE;
	conntab_set_deadline(v->tab, &c->e, dev_now_ms() + DEV_RESPONSE_MS);
	conn_update(c);
	conn_ctl(c, WIRE_OP_REQUEST, 0);
	return DEV_OPEN;
}

int conn_host_response(struct dev_conn *c)
{
	struct dev_vmctx *v = c->v;

	if (hostsock_reply_ok(c->ep.fd, c->e.hport) < 0)
		return conn_close_rst(c, "host client gone before OK");
	conn_established(c);
	dev_logf(v->log, 1, "vm %u: host client -> %u:%u: connected (host port %u)", v->cid, v->cid,
		 c->e.gport, c->e.hport);
	return DEV_OPEN;
}

int conn_host_timer(struct dev_conn *c)
{
	struct dev_vmctx *v = c->v;

	if (c->state == CS_HANDSHAKE) {
		dev_logf(v->log, 0, "vm %u: host client on %s sent no CONNECT line in %d ms, closed", v->cid,
			 v->uds, DEV_HANDSHAKE_MS);
		return conn_close(c);
	}
	dev_logf(v->log, 0, "vm %u: guest port %u did not answer in %d ms, host client closed", v->cid,
		 c->e.gport, DEV_RESPONSE_MS);
	conn_ctl(c, WIRE_OP_RST, 0);
	return conn_close(c);
}
