/* decode: the public face of wire/capture/print for programs that link
 * libvsk and want vsock capture records as structs or as vsk dump's text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "print.h"
#include "vsk.h"
#include "wire.h"

struct vsk_capture {
	struct capture_reader *r;
};

int vsk_packet_decode(const void *rec, size_t caplen, struct vsk_packet *p)
{
	struct wire_rec r;

	if (p == NULL || (rec == NULL && caplen > 0))
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	wire_rec_parse(rec, caplen, &r);
	p->caplen = p->len = (uint32_t)caplen;
	p->data = rec;
	p->has_mon = r.has_mon;
	p->has_virtio = r.has_virtio;
	p->truncated = r.truncated;
	p->src_cid = r.mon.src_cid;
	p->dst_cid = r.mon.dst_cid;
	p->src_port = r.mon.src_port;
	p->dst_port = r.mon.dst_port;
	p->mon_op = r.mon.op;
	p->transport = r.mon.transport;
	p->virtio = (struct vsk_virtio_hdr){
		.src_cid = r.virtio.src_cid, .dst_cid = r.virtio.dst_cid,
		.src_port = r.virtio.src_port, .dst_port = r.virtio.dst_port,
		.len = r.virtio.len, .type = r.virtio.type, .op = r.virtio.op,
		.flags = r.virtio.flags, .buf_alloc = r.virtio.buf_alloc,
		.fwd_cnt = r.virtio.fwd_cnt,
	};
	p->payload = r.payload;
	p->payload_len = r.payload_len;
	return 0;
}

int vsk_packet_format(const struct vsk_packet *p, unsigned flags, char *buf, size_t len)
{
	struct print_opts o = {
		.verbose = (flags & VSK_FMT_VERBOSE) ? 1 : 0,
		.hex = (flags & VSK_FMT_HEX_ASCII) ? PRINT_HEX_ASCII
		       : (flags & VSK_FMT_HEX)     ? PRINT_HEX
						   : PRINT_HEX_NONE,
		.json = (flags & VSK_FMT_JSON) != 0,
		.utc = (flags & VSK_FMT_UTC) != 0,
	};
	struct print_ctx *c = NULL;
	struct pbuf b = { 0 };
	struct wire_rec r;
	int rc;

	if (p == NULL || (buf == NULL && len > 0))
		return -EINVAL;
	/* Re-split the bytes: print works on wire_rec, and P's fields came
	 * from exactly this split. */
	wire_rec_parse(p->data, p->caplen, &r);
	rc = print_ctx_new(&o, &c);
	if (rc < 0)
		goto out;
	rc = pbuf_init(&b, 512);
	if (rc < 0)
		goto out;
	print_rec(c, &b, &p->ts, p->caplen, p->len, &r);
	if (b.err < 0) {
		rc = b.err;
		goto out;
	}
	if (len > 0) {
		size_t n = b.len < len - 1 ? b.len : len - 1;
		memcpy(buf, b.p, n);
		buf[n] = '\0';
	}
	rc = b.len > (size_t)INT32_MAX ? -EOVERFLOW : (int)b.len;
out:
	pbuf_free(&b);
	print_ctx_free(c);
	return rc;
}

int vsk_capture_open(const char *path, struct vsk_capture **out, char *errbuf, size_t errlen)
{
	char eb[CAPTURE_ERRBUF_SIZE] = "";
	struct vsk_capture *c = NULL;
	int rc, dlt;

	if (path == NULL || out == NULL)
		return -EINVAL;
	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	rc = capture_reader_open(path, &c->r, eb);
	if (rc < 0)
		goto fail;
	dlt = capture_linktype(c->r);
	if (dlt != (int)WIRE_LINKTYPE_VSOCK) {
		snprintf(eb, sizeof(eb), "%s: link type %s (%d), not VSOCK (%u)", path,
			 capture_linktype_name(dlt), dlt, WIRE_LINKTYPE_VSOCK);
		rc = -EPROTONOSUPPORT;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s", eb);
	if (c->r != NULL)
		capture_reader_close(c->r);
	free(c);
	return rc;
}

int vsk_capture_next(struct vsk_capture *c, struct vsk_packet *p)
{
	char eb[CAPTURE_ERRBUF_SIZE];
	struct capture_pkt pkt;
	int rc;

	if (c == NULL || p == NULL)
		return -EINVAL;
	rc = capture_next(c->r, &pkt, eb);
	if (rc <= 0)
		return rc == 0 ? 0 : -EIO;
	vsk_packet_decode(pkt.data, pkt.caplen, p);
	p->ts = pkt.ts;
	p->len = pkt.len;
	return 1;
}

void vsk_capture_close(struct vsk_capture *c)
{
	if (c == NULL)
		return;
	capture_reader_close(c->r);
	free(c);
}
