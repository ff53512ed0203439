/* print: text/JSON rendering of vsock capture records and per-connection
 * table (internal to libvsk; the connections themselves are conntrack's).
 *
 * Everything is formatted into a growing memory buffer (struct pbuf) that
 * the caller writes out in big chunks: one write per many packets, with
 * hand-rolled number formatting, is what makes `vsk dump` faster than
 * tcpdump.  Nothing here does I/O.
 */
#ifndef VSK_PRINT_H
#define VSK_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "wire.h"

/* Growing output buffer.  On allocation failure ERR is set to -ENOMEM and
 * further appends are dropped. */
struct pbuf {
	char *p;
	size_t len, cap;
	int err;
};

int pbuf_init(struct pbuf *b, size_t cap);
void pbuf_free(struct pbuf *b);

enum print_hex {
	PRINT_HEX_NONE,
	PRINT_HEX,        /* -x: payload as hex */
	PRINT_HEX_ASCII,  /* -X: hex + ASCII */
};

/* The time stamp of a record line: tcpdump's -t forms, by how many t. */
enum print_ts {
	PRINT_TS_TIME,         /* HH:MM:SS.uuuuuu (no -t) */
	PRINT_TS_NONE,         /* -t: none */
	PRINT_TS_EPOCH,        /* -tt: seconds since the epoch */
	PRINT_TS_DELTA,        /* -ttt: since the previous line */
	PRINT_TS_DATE,         /* -tttt: YYYY-MM-DD HH:MM:SS.uuuuuu */
	PRINT_TS_SINCE_FIRST,  /* -ttttt: since the first line */
};

struct print_opts {
	unsigned verbose;      /* 1: decoded virtio header line */
	enum print_ts ts;
	enum print_hex hex;
	bool json;             /* one JSON object per packet */
	bool utc;              /* timestamps in UTC instead of local time */
};

/* Packet filter: every set field must match. */
struct print_filter {
	bool cid_set, port_set, op_set, type_set;
	uint64_t cid;          /* src or dst */
	uint32_t port;         /* src or dst */
	uint32_t op;           /* with op_virtio: virtio op, else vsockmon op */
	bool op_virtio;
	uint32_t type;         /* virtio type */
};

/* Parse an --op / --type name (case-insensitive): vsockmon ops (CONNECT,
 * DISCONNECT, CONTROL, PAYLOAD) and virtio ops (REQUEST ... CREDIT_REQUEST)
 * for --op, STREAM/SEQPACKET/DGRAM for --type.  0 or -ENOENT. */
int print_filter_op(struct print_filter *f, const char *name);
int print_filter_type(struct print_filter *f, const char *name);
bool print_match(const struct print_filter *f, const struct wire_rec *r);

struct print_ctx;

int print_ctx_new(const struct print_opts *o, struct print_ctx **c);
void print_ctx_free(struct print_ctx *c);

/* Render record R (already split by wire_rec_parse) captured at TS with
 * CAPLEN of LEN bytes: the tcpdump line, plus what the options ask for. */
void print_rec(struct print_ctx *c, struct pbuf *b, const struct timeval *ts,
	       uint32_t caplen, uint32_t len, const struct wire_rec *r);

/* --conns: the table of the connections CT holds (conntrack.h) in order
 * of first appearance: text, or with opts.json one object per connection. */
struct conntrack;
void print_conns(struct print_ctx *c, const struct conntrack *ct, struct pbuf *b);

#endif /* VSK_PRINT_H */
