/* wire: vsockmon / virtio_vsock header layouts, checked access, names. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "wire.h"

/* ---------------------------------------------------------- checked LE */

/* OFF + W <= LEN without overflowing. */
static bool fits(size_t len, size_t off, size_t w)
{
	return off <= len && w <= len - off;
}

int wire_get_le16(const void *buf, size_t len, size_t off, uint16_t *v)
{
	if (!fits(len, off, 2))
		return -EMSGSIZE;
	*v = wire_le16((const uint8_t *)buf + off);
	return 0;
}

int wire_get_le32(const void *buf, size_t len, size_t off, uint32_t *v)
{
	if (!fits(len, off, 4))
		return -EMSGSIZE;
	*v = wire_le32((const uint8_t *)buf + off);
	return 0;
}

int wire_get_le64(const void *buf, size_t len, size_t off, uint64_t *v)
{
	if (!fits(len, off, 8))
		return -EMSGSIZE;
	*v = wire_le64((const uint8_t *)buf + off);
	return 0;
}

int wire_put_le16(void *buf, size_t len, size_t off, uint16_t v)
{
	if (!fits(len, off, 2))
		return -EMSGSIZE;
	wire_st16((uint8_t *)buf + off, v);
	return 0;
}

int wire_put_le32(void *buf, size_t len, size_t off, uint32_t v)
{
	if (!fits(len, off, 4))
		return -EMSGSIZE;
	wire_st32((uint8_t *)buf + off, v);
	return 0;
}

int wire_put_le64(void *buf, size_t len, size_t off, uint64_t v)
{
	if (!fits(len, off, 8))
		return -EMSGSIZE;
	wire_st64((uint8_t *)buf + off, v);
	return 0;
}

/* ------------------------------------------------------------- headers */

int wire_mon_decode(const void *buf, size_t len, struct wire_mon *m)
{
	const struct wire_mon_hdr *h = buf;

	if (len < sizeof(*h))
		return -EMSGSIZE;
	m->src_cid = wire_le64(h->src_cid);
	m->dst_cid = wire_le64(h->dst_cid);
	m->src_port = wire_le32(h->src_port);
	m->dst_port = wire_le32(h->dst_port);
	m->op = wire_le16(h->op);
	m->transport = wire_le16(h->transport);
	m->len = wire_le16(h->len);
	return 0;
}

int wire_virtio_decode(const void *buf, size_t len, struct wire_virtio *v)
{
	const struct wire_virtio_hdr *h = buf;

	if (len < sizeof(*h))
		return -EMSGSIZE;
	v->src_cid = wire_le64(h->src_cid);
	v->dst_cid = wire_le64(h->dst_cid);
	v->src_port = wire_le32(h->src_port);
	v->dst_port = wire_le32(h->dst_port);
	v->len = wire_le32(h->len);
	v->type = wire_le16(h->type);
	v->op = wire_le16(h->op);
	v->flags = wire_le32(h->flags);
	v->buf_alloc = wire_le32(h->buf_alloc);
	v->fwd_cnt = wire_le32(h->fwd_cnt);
	return 0;
}

int wire_mon_encode(const struct wire_mon *m, void *buf, size_t len)
{
	struct wire_mon_hdr *h = buf;

	if (len < sizeof(*h))
		return -EMSGSIZE;
	wire_st64(h->src_cid, m->src_cid);
	wire_st64(h->dst_cid, m->dst_cid);
	wire_st32(h->src_port, m->src_port);
	wire_st32(h->dst_port, m->dst_port);
	wire_st16(h->op, m->op);
	wire_st16(h->transport, m->transport);
	wire_st16(h->len, m->len);
	h->reserved[0] = h->reserved[1] = 0;
	return (int)sizeof(*h);
}

int wire_virtio_encode(const struct wire_virtio *v, void *buf, size_t len)
{
	struct wire_virtio_hdr *h = buf;

	if (len < sizeof(*h))
		return -EMSGSIZE;
	wire_st64(h->src_cid, v->src_cid);
	wire_st64(h->dst_cid, v->dst_cid);
	wire_st32(h->src_port, v->src_port);
	wire_st32(h->dst_port, v->dst_port);
	wire_st32(h->len, v->len);
	wire_st16(h->type, v->type);
	wire_st16(h->op, v->op);
	wire_st32(h->flags, v->flags);
	wire_st32(h->buf_alloc, v->buf_alloc);
	wire_st32(h->fwd_cnt, v->fwd_cnt);
	return (int)sizeof(*h);
}

uint16_t wire_mon_op_of(uint16_t virtio_op)
{
	switch (virtio_op) {
	case WIRE_OP_REQUEST:
	case WIRE_OP_RESPONSE:
		return WIRE_MON_OP_CONNECT;
	case WIRE_OP_RST:
	case WIRE_OP_SHUTDOWN:
		return WIRE_MON_OP_DISCONNECT;
	case WIRE_OP_RW:
		return WIRE_MON_OP_PAYLOAD;
	case WIRE_OP_CREDIT_UPDATE:
	case WIRE_OP_CREDIT_REQUEST:
		return WIRE_MON_OP_CONTROL;
	default:
		return WIRE_MON_OP_UNKNOWN;
	}
}

void wire_mon_from_virtio(const struct wire_virtio *h, struct wire_mon *m)
{
	m->src_cid = h->src_cid;
	m->dst_cid = h->dst_cid;
	m->src_port = h->src_port;
	m->dst_port = h->dst_port;
	m->op = wire_mon_op_of(h->op);
	m->transport = WIRE_TRANSPORT_VIRTIO;
	m->len = WIRE_VIRTIO_HDR_LEN;
}

/* ------------------------------------------------------------- records */

int wire_rec_parse(const uint8_t *buf, size_t caplen, struct wire_rec *r)
{
	size_t rest;

	memset(r, 0, sizeof(*r));
	if (buf == NULL)
		caplen = 0;
	if (wire_mon_decode(buf, caplen, &r->mon) < 0) {
		r->truncated = true;
		return 0;
	}
	r->has_mon = true;
	rest = caplen - WIRE_MON_HDR_LEN;
	r->thdr = buf + WIRE_MON_HDR_LEN;
	/* mon.len is untrusted: clamp the transport header to what is there. */
	r->thdr_len = r->mon.len <= rest ? r->mon.len : rest;
	if (r->thdr_len < r->mon.len)
		r->truncated = true;
	r->payload = r->thdr + r->thdr_len;
	r->payload_len = rest - r->thdr_len;
	if (r->mon.transport == WIRE_TRANSPORT_VIRTIO) {
		if (r->thdr_len >= WIRE_VIRTIO_HDR_LEN &&
		    wire_virtio_decode(r->thdr, r->thdr_len, &r->virtio) == 0)
			r->has_virtio = true;
		else
			r->truncated = true;
		/* virtio len says how much payload should follow. */
		if (r->has_virtio && r->virtio.len > r->payload_len &&
		    r->mon.op == WIRE_MON_OP_PAYLOAD)
			r->truncated = true;
	}
	return 0;
}

/* ------------------------------------------------------------- names */

const struct wire_name wire_mon_ops[] = {
	{ WIRE_MON_OP_UNKNOWN, "UNKNOWN" },
	{ WIRE_MON_OP_CONNECT, "CONNECT" },
	{ WIRE_MON_OP_DISCONNECT, "DISCONNECT" },
	{ WIRE_MON_OP_CONTROL, "CONTROL" },
	{ WIRE_MON_OP_PAYLOAD, "PAYLOAD" },
	{ 0, NULL },
};

const struct wire_name wire_transports[] = {
	{ WIRE_TRANSPORT_UNKNOWN, "UNKNOWN" },
	{ WIRE_TRANSPORT_NO_INFO, "NO_INFO" },
	{ WIRE_TRANSPORT_VIRTIO, "VIRTIO" },
	{ 0, NULL },
};

const struct wire_name wire_types[] = {
	{ WIRE_TYPE_STREAM, "STREAM" },
	{ WIRE_TYPE_SEQPACKET, "SEQPACKET" },
	{ WIRE_TYPE_DGRAM, "DGRAM" },
	{ 0, NULL },
};

const struct wire_name wire_ops[] = {
	{ WIRE_OP_INVALID, "INVALID" },
	{ WIRE_OP_REQUEST, "REQUEST" },
	{ WIRE_OP_RESPONSE, "RESPONSE" },
	{ WIRE_OP_RST, "RST" },
	{ WIRE_OP_SHUTDOWN, "SHUTDOWN" },
	{ WIRE_OP_RW, "RW" },
	{ WIRE_OP_CREDIT_UPDATE, "CREDIT_UPDATE" },
	{ WIRE_OP_CREDIT_REQUEST, "CREDIT_REQUEST" },
	{ 0, NULL },
};

const char *wire_name(const struct wire_name *t, uint32_t val)
{
	for (; t->name != NULL; t++)
		if (t->val == val)
			return t->name;
	return NULL;
}

const char *wire_name_or(const struct wire_name *t, uint32_t val, char *buf, size_t len)
{
	const char *n = wire_name(t, val);

	if (n != NULL)
		return n;
	snprintf(buf, len, "unknown (%u)", val);
	return buf;
}

int wire_name_lookup(const struct wire_name *t, const char *name, uint32_t *val)
{
	for (; t->name != NULL; t++)
		if (strcasecmp(t->name, name) == 0) {
			*val = t->val;
			return 0;
		}
	return -ENOENT;
}

const char *wire_flags_str(uint16_t op, uint16_t type, uint32_t flags, char *buf, size_t len)
{
	static const struct wire_name shut[] = {
		{ WIRE_SHUTDOWN_RCV, "RCV" }, { WIRE_SHUTDOWN_SEND, "SEND" }, { 0, NULL } };
	static const struct wire_name seq[] = {
		{ WIRE_SEQ_EOM, "EOM" }, { WIRE_SEQ_EOR, "EOR" }, { 0, NULL } };
	const struct wire_name *t = NULL;
	uint32_t rest = flags;
	size_t n = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (op == WIRE_OP_SHUTDOWN)
		t = shut;
	else if (op == WIRE_OP_RW && type == WIRE_TYPE_SEQPACKET)
		t = seq;
	for (; t != NULL && t->name != NULL; t++) {
		if (!(flags & t->val))
			continue;
		rest &= ~t->val;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "|" : "", t->name);
		if (n >= len)
			return buf;
	}
	if (rest != 0)
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s0x%x", n ? "|" : "", rest);
	if (n == 0)
		snprintf(buf, len, "none");
	return buf;
}
