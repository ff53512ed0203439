/* print: tcpdump-compatible lines, decoded headers, hex, JSON, --conns. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conntrack.h"
#include "print.h"

/* ---------------------------------------------------------------- pbuf */

int pbuf_init(struct pbuf *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->p = malloc(cap ? cap : 4096);
	if (b->p == NULL)
		return b->err = -ENOMEM;
	b->cap = cap ? cap : 4096;
	return 0;
}

void pbuf_free(struct pbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static bool grow(struct pbuf *b, size_t n);

/* Room for N more bytes; false (and err set) if it cannot be had.  The
 * common case is one compare, inlined into every append. */
static inline bool room(struct pbuf *b, size_t n)
{
	if (__builtin_expect(b->err == 0 && b->cap - b->len >= n, 1))
		return true;
	return grow(b, n);
}

static bool grow(struct pbuf *b, size_t n)
{
	size_t nc;
	char *np;

	if (b->err != 0)
		return false;
	nc = b->cap ? b->cap : 4096;
	while (nc - b->len < n) {
		if (nc > SIZE_MAX / 2) {
			b->err = -ENOMEM;
			return false;
		}
		nc *= 2;
	}
	np = realloc(b->p, nc);
	if (np == NULL) {
		b->err = -ENOMEM;
		return false;
	}
	b->p = np;
	b->cap = nc;
	return true;
}

static void put(struct pbuf *b, const char *s, size_t n)
{
	if (!room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void puts_(struct pbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putc_(struct pbuf *b, char c)
{
	if (room(b, 1))
		b->p[b->len++] = c;
}

/* Decimal without printf: this runs several times per packet. */
static void putu(struct pbuf *b, uint64_t v)
{
	char t[20];
	int i = 20;

	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put(b, t + i, (size_t)(20 - i));
}

/* V as exactly W digits (zero padded; W <= 20). */
static void putu_w(struct pbuf *b, uint64_t v, int w)
{
	char t[20];

	for (int i = w - 1; i >= 0; i--) {
		t[i] = (char)('0' + v % 10);
		v /= 10;
	}
	put(b, t, (size_t)w);
}

static const char hexd[] = "0123456789abcdef";

static void put_json_ts(struct pbuf *b, const struct timeval *ts);

/* ------------------------------------------------------------- context */

struct print_ctx {
	struct print_opts o;
	time_t blk;              /* start of the 15-minute block OFF is valid for */
	long off;                /* UTC offset of that block */
	bool blk_valid;
	time_t last_sec;         /* "HH:MM:SS." of LAST_SEC, reused while equal */
	char last_hms[9];
	bool last_valid;
	struct timeval ref;      /* -ttt, -ttttt: what the next line is timed from */
	bool ref_set;
};

int print_ctx_new(const struct print_opts *o, struct print_ctx **cp)
{
	struct print_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -ENOMEM;
	c->o = *o;
	*cp = c;
	return 0;
}

void print_ctx_free(struct print_ctx *c)
{
	if (c == NULL)
		return;
	free(c);
}

/* --------------------------------------------------------------- lines */

/* The UTC offset in force at S (0 with --utc).  localtime_r() is slow, so
 * it is looked up once per 15-minute block (DST moves on such boundaries). */
static long utc_off(struct print_ctx *c, time_t s)
{
	if (!c->blk_valid || s < c->blk || s >= c->blk + 900) {
		struct tm tm;

		c->blk = s - (((s % 900) + 900) % 900);
		c->off = 0;
		if (!c->o.utc && localtime_r(&c->blk, &tm) != NULL)
			c->off = tm.tm_gmtoff;
		c->blk_valid = true;
	}
	return c->off;
}

static uint64_t usec_of(const struct timeval *ts)
{
	return (uint64_t)ts->tv_usec % 1000000u;
}

/* HH:MM:SS. of the second DAY of a day. */
static void put_hms(struct pbuf *b, long long day)
{
	putu_w(b, (uint64_t)(day / 3600), 2);
	putc_(b, ':');
	putu_w(b, (uint64_t)(day / 60 % 60), 2);
	putc_(b, ':');
	putu_w(b, (uint64_t)(day % 60), 2);
	putc_(b, '.');
}

/* HH:MM:SS.uuuuuu as tcpdump prints it. */
static void put_time(struct print_ctx *c, struct pbuf *b, const struct timeval *ts)
{
	time_t s = ts->tv_sec;
	long long day;
	struct pbuf hb;

	/* Records come in bursts within one second: reuse its text. */
	if (c->last_valid && s == c->last_sec) {
		put(b, c->last_hms, sizeof(c->last_hms));
		putu_w(b, usec_of(ts), 6);
		return;
	}
	day = (((long long)s + utc_off(c, s)) % 86400 + 86400) % 86400;
	hb = (struct pbuf){ .p = c->last_hms, .cap = sizeof(c->last_hms) };
	put_hms(&hb, day);
	c->last_sec = s;
	c->last_valid = hb.len == sizeof(c->last_hms);
	put(b, c->last_hms, sizeof(c->last_hms));
	putu_w(b, usec_of(ts), 6);
}

/* -tttt: YYYY-MM-DD HH:MM:SS.uuuuuu (the civil date of a day number:
 * Howard Hinnant's days-to-civil, valid far beyond any capture). */
static void put_date_time(struct print_ctx *c, struct pbuf *b, const struct timeval *ts)
{
	long long t = (long long)ts->tv_sec + utc_off(c, ts->tv_sec);
	long long days = (t >= 0 ? t : t - 86399) / 86400, z = days + 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097, y;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;

	y = (long long)yoe + era * 400 + (m <= 2);
	if (y < 0) {
		putc_(b, '-');
		y = -y;
	}
	if (y < 10000)
		putu_w(b, (uint64_t)y, 4);
	else
		putu(b, (uint64_t)y);
	putc_(b, '-');
	putu_w(b, m, 2);
	putc_(b, '-');
	putu_w(b, d, 2);
	putc_(b, ' ');
	put_hms(b, t - days * 86400);
	putu_w(b, usec_of(ts), 6);
}

/* -ttt, -ttttt: the time since REF as tcpdump prints it, ' ' or '-' and
 * then HH:MM:SS.uuuuuu of the difference (hours within a day). */
static void put_delta(struct pbuf *b, const struct timeval *ts, const struct timeval *ref)
{
	bool neg = ts->tv_sec < ref->tv_sec ||
		   (ts->tv_sec == ref->tv_sec && usec_of(ts) < usec_of(ref));
	const struct timeval *hi = neg ? ref : ts, *lo = neg ? ts : ref;
	long long sec = (long long)hi->tv_sec - lo->tv_sec;
	long long us = (long long)usec_of(hi) - (long long)usec_of(lo);

	if (us < 0) {
		us += 1000000;
		sec--;
	}
	putc_(b, neg ? '-' : ' ');
	put_hms(b, sec % 86400);
	putu_w(b, (uint64_t)us, 6);
}

/* The time stamp the options ask for, and the space after it. */
static void put_stamp(struct print_ctx *c, struct pbuf *b, const struct timeval *ts)
{
	switch (c->o.ts) {
	case PRINT_TS_NONE:
		return;
	case PRINT_TS_EPOCH:
		put_json_ts(b, ts);
		break;
	case PRINT_TS_DELTA:
	case PRINT_TS_SINCE_FIRST:
		if (!c->ref_set) {
			c->ref = *ts;
			c->ref_set = true;
		}
		put_delta(b, ts, &c->ref);
		if (c->o.ts == PRINT_TS_DELTA)
			c->ref = *ts;
		break;
	case PRINT_TS_DATE:
		put_date_time(c, b, ts);
		break;
	default:
		put_time(c, b, ts);
		break;
	}
	putc_(b, ' ');
}

static void put_name(struct pbuf *b, const struct wire_name *t, uint32_t v)
{
	char tmp[32];

	puts_(b, wire_name_or(t, v, tmp, sizeof(tmp)));
}

/* The words of the default line, with lengths, indexed by value. */
static const struct { const char *s; size_t n; } mon_op_word[] = {
	{ "UNKNOWN", 7 }, { "CONNECT", 7 }, { "DISCONNECT", 10 }, { "CONTROL", 7 }, { "PAYLOAD", 7 },
};

static void put_mon_op(struct pbuf *b, uint16_t op)
{
	if (op < sizeof(mon_op_word) / sizeof(mon_op_word[0]))
		put(b, mon_op_word[op].s, mon_op_word[op].n);
	else
		put_name(b, wire_mon_ops, op);
}

static void put_hex(struct pbuf *b, const uint8_t *p, size_t n, bool ascii)
{
	for (size_t off = 0; off < n; off += 16) {
		size_t m = n - off < 16 ? n - off : 16;
		size_t col = 0;

		if (!room(b, 96))
			return;
		put(b, "\t0x", 3);
		for (int sh = 12; sh >= 0; sh -= 4)
			putc_(b, hexd[(off >> sh) & 0xf]);
		putc_(b, ':');
		putc_(b, ' ');
		for (size_t i = 0; i < m; i++) {
			if (i % 2 == 0) {
				putc_(b, ' ');
				col++;
			}
			putc_(b, hexd[p[off + i] >> 4]);
			putc_(b, hexd[p[off + i] & 0xf]);
			col += 2;
		}
		if (ascii) {
			for (; col < 40; col++)
				putc_(b, ' ');
			putc_(b, ' ');
			putc_(b, ' ');
			for (size_t i = 0; i < m; i++) {
				uint8_t ch = p[off + i];

				putc_(b, ch >= 0x20 && ch < 0x7f ? (char)ch : '.');
			}
		}
		putc_(b, '\n');
	}
}

static void put_json_hex(struct pbuf *b, const uint8_t *p, size_t n)
{
	if (!room(b, 2 * n + 2))
		return;
	putc_(b, '"');
	for (size_t i = 0; i < n; i++) {
		b->p[b->len++] = hexd[p[i] >> 4];
		b->p[b->len++] = hexd[p[i] & 0xf];
	}
	putc_(b, '"');
}

static void put_json_ts(struct pbuf *b, const struct timeval *ts)
{
	if (ts->tv_sec < 0)
		putc_(b, '-');
	putu(b, (uint64_t)(ts->tv_sec < 0 ? -(long long)ts->tv_sec : ts->tv_sec));
	putc_(b, '.');
	putu_w(b, (uint64_t)ts->tv_usec % 1000000u, 6);
}

static void json_kv_u(struct pbuf *b, const char *k, uint64_t v)
{
	putc_(b, ',');
	putc_(b, '"');
	puts_(b, k);
	puts_(b, "\":");
	putu(b, v);
}

static void json_kv_name(struct pbuf *b, const char *k, const struct wire_name *t, uint32_t v)
{
	putc_(b, ',');
	putc_(b, '"');
	puts_(b, k);
	puts_(b, "\":\"");
	put_name(b, t, v);
	putc_(b, '"');
}

static void print_json(struct print_ctx *c, struct pbuf *b, const struct timeval *ts,
		       uint32_t caplen, uint32_t len, const struct wire_rec *r)
{
	puts_(b, "{\"record\":\"packet\",\"ts\":");
	put_json_ts(b, ts);
	json_kv_u(b, "caplen", caplen);
	json_kv_u(b, "len", len);
	puts_(b, r->truncated ? ",\"truncated\":true" : ",\"truncated\":false");
	if (r->has_mon) {
		json_kv_name(b, "transport", wire_transports, r->mon.transport);
		json_kv_name(b, "op", wire_mon_ops, r->mon.op);
		json_kv_u(b, "src_cid", r->mon.src_cid);
		json_kv_u(b, "src_port", r->mon.src_port);
		json_kv_u(b, "dst_cid", r->mon.dst_cid);
		json_kv_u(b, "dst_port", r->mon.dst_port);
		json_kv_u(b, "hdr_len", r->mon.len);
	}
	if (r->has_virtio) {
		char fl[64];
		const struct wire_virtio *v = &r->virtio;

		puts_(b, ",\"virtio\":{\"type\":\"");
		put_name(b, wire_types, v->type);
		putc_(b, '"');
		json_kv_name(b, "op", wire_ops, v->op);
		json_kv_u(b, "flags", v->flags);
		puts_(b, ",\"flags_str\":\"");
		puts_(b, wire_flags_str(v->op, v->type, v->flags, fl, sizeof(fl)));
		putc_(b, '"');
		json_kv_u(b, "len", v->len);
		json_kv_u(b, "buf_alloc", v->buf_alloc);
		json_kv_u(b, "fwd_cnt", v->fwd_cnt);
		putc_(b, '}');
	}
	if (r->has_mon)
		json_kv_u(b, "payload_len", r->payload_len);
	if (c->o.hex != PRINT_HEX_NONE) {
		puts_(b, ",\"payload\":");
		if (r->has_mon)
			put_json_hex(b, r->payload, r->payload_len);
		else
			puts_(b, "null");
	}
	puts_(b, "}\n");
}

static void print_verbose(struct pbuf *b, const struct wire_rec *r)
{
	char fl[64];
	const struct wire_virtio *v = &r->virtio;

	if (!r->has_mon)
		return;
	if (!r->has_virtio) {
		puts_(b, "\ttransport header ");
		putu(b, r->thdr_len);
		puts_(b, " of ");
		putu(b, r->mon.len);
		puts_(b, r->mon.transport == WIRE_TRANSPORT_VIRTIO ?
		      " bytes (virtio needs 44) [truncated]\n" : " bytes, not decoded\n");
		return;
	}
	puts_(b, "\ttype ");
	put_name(b, wire_types, v->type);
	puts_(b, ", op ");
	put_name(b, wire_ops, v->op);
	puts_(b, ", flags ");
	puts_(b, wire_flags_str(v->op, v->type, v->flags, fl, sizeof(fl)));
	puts_(b, ", len ");
	putu(b, v->len);
	if (v->len != r->payload_len) {
		puts_(b, " (captured ");
		putu(b, r->payload_len);
		putc_(b, ')');
	}
	puts_(b, ", buf_alloc ");
	putu(b, v->buf_alloc);
	puts_(b, ", fwd_cnt ");
	putu(b, v->fwd_cnt);
	if (r->mon.len != WIRE_VIRTIO_HDR_LEN) {
		puts_(b, ", hdr_len ");
		putu(b, r->mon.len);
	}
	putc_(b, '\n');
}

void print_rec(struct print_ctx *c, struct pbuf *b, const struct timeval *ts,
	       uint32_t caplen, uint32_t len, const struct wire_rec *r)
{
	if (c->o.json) {
		print_json(c, b, ts, caplen, len, r);
		return;
	}
	put_stamp(c, b, ts);
	if (!r->has_mon) {
		puts_(b, "[truncated], length ");
		putu(b, caplen);
		putc_(b, '\n');
		return;
	}
	/* Same words and order as tcpdump's vsock printer, which prints the
	 * captured length. */
	if (r->mon.transport == WIRE_TRANSPORT_VIRTIO) {
		put(b, "VIRTIO ", 7);
	} else {
		put_name(b, wire_transports, r->mon.transport);
		putc_(b, ' ');
	}
	putu(b, r->mon.src_cid);
	putc_(b, '.');
	putu(b, r->mon.src_port);
	put(b, " > ", 3);
	putu(b, r->mon.dst_cid);
	putc_(b, '.');
	putu(b, r->mon.dst_port);
	putc_(b, ' ');
	put_mon_op(b, r->mon.op);
	put(b, ", length ", 9);
	putu(b, caplen);
	if (r->truncated)
		put(b, " [truncated]", 12);
	if (len < caplen) {
		/* The record header lies: more captured than was on the wire. */
		puts_(b, " [bad length ");
		putu(b, len);
		putc_(b, ']');
	}
	putc_(b, '\n');
	if (c->o.verbose)
		print_verbose(b, r);
	if (c->o.hex != PRINT_HEX_NONE && r->payload_len > 0)
		put_hex(b, r->payload, r->payload_len, c->o.hex == PRINT_HEX_ASCII);
}

/* -------------------------------------------------------------- filter */

int print_filter_op(struct print_filter *f, const char *name)
{
	uint32_t v;

	if (wire_name_lookup(wire_mon_ops, name, &v) == 0) {
		f->op_virtio = false;
	} else if (wire_name_lookup(wire_ops, name, &v) == 0) {
		f->op_virtio = true;
	} else {
		return -ENOENT;
	}
	f->op = v;
	f->op_set = true;
	return 0;
}

int print_filter_type(struct print_filter *f, const char *name)
{
	uint32_t v;

	if (wire_name_lookup(wire_types, name, &v) < 0)
		return -ENOENT;
	f->type = v;
	f->type_set = true;
	return 0;
}

bool print_match(const struct print_filter *f, const struct wire_rec *r)
{
	if ((f->cid_set || f->port_set || f->op_set) && !r->has_mon)
		return false;
	if (f->cid_set && r->mon.src_cid != f->cid && r->mon.dst_cid != f->cid)
		return false;
	if (f->port_set && r->mon.src_port != f->port && r->mon.dst_port != f->port)
		return false;
	if (f->op_set) {
		if (!f->op_virtio && r->mon.op != f->op)
			return false;
		if (f->op_virtio && (!r->has_virtio || r->virtio.op != f->op))
			return false;
	}
	if (f->type_set && (!r->has_virtio || r->virtio.type != f->type))
		return false;
	return true;
}

/* --------------------------------------------------------------- conns */

static void put_dur(struct pbuf *b, const struct ct_conn *k)
{
	long long secs = (long long)k->last.tv_sec - k->first.tv_sec, us;

	/* pcapng timestamps are 64-bit: a hostile file must not overflow this. */
	if (__builtin_mul_overflow(secs, 1000000LL, &us) ||
	    __builtin_add_overflow(us, (long long)(k->last.tv_usec - k->first.tv_usec), &us))
		us = secs < 0 ? 0 : LLONG_MAX;
	if (us < 0)
		us = 0;
	putu(b, (uint64_t)(us / 1000000));
	putc_(b, '.');
	putu_w(b, (uint64_t)(us % 1000000), 6);
}

static void conn_json(struct pbuf *b, const struct ct_conn *k)
{
	puts_(b, "{\"record\":\"conn\"");
	json_kv_u(b, "a_cid", k->cid[0]);
	json_kv_u(b, "a_port", k->port[0]);
	json_kv_u(b, "b_cid", k->cid[1]);
	json_kv_u(b, "b_port", k->port[1]);
	json_kv_name(b, "type", wire_types, k->type);
	puts_(b, k->seen_req ? ",\"seen_request\":true" : ",\"seen_request\":false");
	json_kv_u(b, "packets_ab", k->s[0].pkts);
	json_kv_u(b, "packets_ba", k->s[1].pkts);
	json_kv_u(b, "bytes_ab", k->s[0].bytes);
	json_kv_u(b, "bytes_ba", k->s[1].bytes);
	puts_(b, ",\"first\":");
	put_json_ts(b, &k->first);
	puts_(b, ",\"duration\":");
	put_dur(b, k);
	puts_(b, ",\"end\":\"");
	puts_(b, ct_end_name(k->end));
	putc_(b, '"');
	json_kv_u(b, "stalls_a", k->s[0].stalls);
	json_kv_u(b, "stalls_b", k->s[1].stalls);
	json_kv_u(b, "full_a", k->s[0].full);
	json_kv_u(b, "full_b", k->s[1].full);
	puts_(b, "}\n");
}

void print_conns(struct print_ctx *c, const struct conntrack *ct, struct pbuf *b)
{
	size_t n = conntrack_count(ct);

	if (!c->o.json) {
		char line[256];

		snprintf(line, sizeof(line), "%zu connection%s\n%-22s %-22s %-9s %8s %8s %10s %10s %14s %-8s %s\n",
			 n, n == 1 ? "" : "s", "A (initiator)", "B", "TYPE", "PKTS>", "PKTS<",
			 "BYTES>", "BYTES<", "DURATION", "END", "STALLS A/B FULL A/B");
		puts_(b, line);
	}
	for (size_t i = 0; i < n; i++) {
		const struct ct_conn *k = conntrack_get(ct, i);
		char a[48], bb[48], t[32], dur[32];
		char line[320];
		struct pbuf d;

		if (c->o.json) {
			conn_json(b, k);
			continue;
		}
		snprintf(a, sizeof(a), "%llu.%u%s", (unsigned long long)k->cid[0], k->port[0],
			 k->seen_req ? "" : "?");
		snprintf(bb, sizeof(bb), "%llu.%u", (unsigned long long)k->cid[1], k->port[1]);
		if (pbuf_init(&d, 32) < 0) {
			b->err = -ENOMEM;
			break;
		}
		put_dur(&d, k);
		putc_(&d, 's');
		snprintf(dur, sizeof(dur), "%.*s", (int)d.len, d.p);
		pbuf_free(&d);
		snprintf(line, sizeof(line), "%-22s %-22s %-9s %8llu %8llu %10llu %10llu %14s %-8s %u/%u %u/%u\n",
			 a, bb, wire_name_or(wire_types, k->type, t, sizeof(t)),
			 (unsigned long long)k->s[0].pkts, (unsigned long long)k->s[1].pkts,
			 (unsigned long long)k->s[0].bytes, (unsigned long long)k->s[1].bytes,
			 dur, ct_end_name(k->end), k->s[0].stalls, k->s[1].stalls,
			 k->s[0].full, k->s[1].full);
		puts_(b, line);
	}
}
