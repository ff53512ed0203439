/* Unit tests for lib/dump/print.c: tcpdump line, markers for hostile records,
 * -v/-x/-X/--json text, filters, timestamps, --conns accounting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "conntrack.h"
#include "print.h"
#include "wire.h"

static uint8_t recbuf[512];

/* Record from (3,1024) to (2,4050) with virtio OP/TYPE/FLAGS and PAYLOAD. */
static size_t mk(uint16_t op, uint16_t type, uint32_t flags, const char *payload)
{
	size_t n = payload ? strlen(payload) : 0;
	struct wire_virtio h = { .src_cid = 3, .dst_cid = 2, .src_port = 1024, .dst_port = 4050,
				 .len = (uint32_t)n, .type = type, .op = op, .flags = flags,
				 .buf_alloc = 65536, .fwd_cnt = 5 };
	struct wire_mon m;

	wire_mon_from_virtio(&h, &m);
	wire_mon_encode(&m, recbuf, 32);
	wire_virtio_encode(&h, recbuf + 32, 44);
	if (n > 0)
		memcpy(recbuf + 76, payload, n);
	return 76 + n;
}

/* Render one record with OPTS; returns a malloc'd NUL-terminated string. */
static char *render(const struct print_opts *o, const uint8_t *data, size_t caplen, size_t len)
{
	struct timeval ts = { 1700000000, 1234 };
	struct print_ctx *c = NULL;
	struct wire_rec r;
	struct pbuf b;
	char *s;

	assert_int_equal(print_ctx_new(o, &c), 0);
	assert_int_equal(pbuf_init(&b, 16), 0); /* tiny: exercises growth */
	wire_rec_parse(data, caplen, &r);
	print_rec(c, &b, &ts, (uint32_t)caplen, (uint32_t)len, &r);
	assert_int_equal(b.err, 0);
	s = strndup(b.p, b.len);
	pbuf_free(&b);
	print_ctx_free(c);
	return s;
}

static void test_default_line(void **state)
{
	struct print_opts o = { .utc = true };
	size_t n = mk(WIRE_OP_REQUEST, WIRE_TYPE_STREAM, 0, NULL);
	char *s = render(&o, recbuf, n, n);

	/* tcpdump -n: 1700000000 is 22:13:20 UTC. */
	assert_string_equal(s, "22:13:20.001234 VIRTIO 3.1024 > 2.4050 CONNECT, length 76\n");
	free(s);
	n = mk(WIRE_OP_RW, WIRE_TYPE_STREAM, 0, "hey");
	s = render(&o, recbuf, n, n);
	assert_string_equal(s, "22:13:20.001234 VIRTIO 3.1024 > 2.4050 PAYLOAD, length 79\n");
	free(s);
}

static void test_local_time(void **state)
{
	struct print_opts o = { 0 };
	size_t n = mk(WIRE_OP_RST, WIRE_TYPE_STREAM, 0, NULL);
	char *s;

	/* A half-hour zone shows the offset is applied, not just hours. */
	setenv("TZ", "IST-5:30", 1);
	tzset();
	s = render(&o, recbuf, n, n);
	assert_string_equal(s, "03:43:20.001234 VIRTIO 3.1024 > 2.4050 DISCONNECT, length 76\n");
	free(s);
	setenv("TZ", "UTC", 1);
	tzset();
}

static void test_ts_sequence(void **state)
{
	/* The HH:MM:SS text is reused within a second: it must change with it. */
	static const struct { time_t sec; long usec; const char *want; } seq[] = {
		{ 1700000000, 5, "22:13:20.000005" },
		{ 1700000000, 999999, "22:13:20.999999" },
		{ 1700000001, 0, "22:13:21.000000" },
		{ 1700000059, 7, "22:14:19.000007" },
		{ 1700006400, 1, "00:00:00.000001" },   /* midnight UTC */
		{ 1700000000, 2, "22:13:20.000002" },   /* back in time */
	};
	struct print_opts o = { .utc = true };
	struct print_ctx *c = NULL;
	size_t n = mk(WIRE_OP_REQUEST, WIRE_TYPE_STREAM, 0, NULL);
	struct wire_rec r;
	struct pbuf b;

	assert_int_equal(print_ctx_new(&o, &c), 0);
	assert_int_equal(pbuf_init(&b, 0), 0);
	wire_rec_parse(recbuf, n, &r);
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		struct timeval ts = { seq[i].sec, seq[i].usec };

		b.len = 0;
		print_rec(c, &b, &ts, (uint32_t)n, (uint32_t)n, &r);
		assert_true(b.len > 15);
		assert_memory_equal(b.p, seq[i].want, 15);
	}
	pbuf_free(&b);
	print_ctx_free(c);
}

/* -tttt's date against gmtime_r over 1900..2200 (leap years, century
 * rules, before the epoch), and -ttt/-ttttt's signed differences. */
static void test_ts_forms(void **state)
{
	struct print_opts o = { .utc = true, .ts = PRINT_TS_DATE };
	size_t n = mk(WIRE_OP_REQUEST, WIRE_TYPE_STREAM, 0, NULL);
	struct print_ctx *c = NULL;
	struct wire_rec r;
	struct pbuf b;
	char want[64];

	(void)state;
	wire_rec_parse(recbuf, n, &r);
	assert_int_equal(print_ctx_new(&o, &c), 0);
	assert_int_equal(pbuf_init(&b, 256), 0);
	for (long long t = -2208988800LL; t < 7258118400LL; t += 86400 * 7 + 3607) {
		struct timeval ts = { (time_t)t, 42 };
		struct tm tm;
		time_t tt = (time_t)t;

		b.len = 0;
		print_rec(c, &b, &ts, (uint32_t)n, (uint32_t)n, &r);
		assert_non_null(gmtime_r(&tt, &tm));
		strftime(want, sizeof(want), "%Y-%m-%d %H:%M:%S.000042 VIRTIO ", &tm);
		assert_true(b.len > strlen(want));
		assert_memory_equal(b.p, want, strlen(want));
	}
	print_ctx_free(c);

	o.ts = PRINT_TS_DELTA;
	assert_int_equal(print_ctx_new(&o, &c), 0);
	b.len = 0;
	{
		static const struct timeval seq[] = {
			{ 1700000000, 500000 }, { 1700000000, 200000 }, { 1700090000, 900000 },
			{ 1700090000, 900000 },
		};
		for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
			print_rec(c, &b, &seq[i], (uint32_t)n, (uint32_t)n, &r);
	}
	assert_int_equal(b.err, 0);
	/* Backwards 0.3 s; 25 h later shows as 01:00:00 (within a day, as tcpdump). */
	assert_true(b.len < 256);
	b.p[b.len] = '\0';
	assert_string_equal(b.p,
		" 00:00:00.000000 VIRTIO 3.1024 > 2.4050 CONNECT, length 76\n"
		"-00:00:00.300000 VIRTIO 3.1024 > 2.4050 CONNECT, length 76\n"
		" 01:00:00.700000 VIRTIO 3.1024 > 2.4050 CONNECT, length 76\n"
		" 00:00:00.000000 VIRTIO 3.1024 > 2.4050 CONNECT, length 76\n");
	print_ctx_free(c);

	o.ts = PRINT_TS_NONE;
	{
		char *s = render(&o, recbuf, n, n);

		assert_string_equal(s, "VIRTIO 3.1024 > 2.4050 CONNECT, length 76\n");
		free(s);
	}
	o.ts = PRINT_TS_EPOCH;
	{
		char *s = render(&o, recbuf, n, n);

		assert_string_equal(s, "1700000000.001234 VIRTIO 3.1024 > 2.4050 CONNECT, length 76\n");
		free(s);
	}
	pbuf_free(&b);
}

static void test_hostile(void **state)
{
	struct print_opts o = { .utc = true, .verbose = 1 };
	size_t n = mk(WIRE_OP_RW, WIRE_TYPE_STREAM, 0, "abcdef");
	char *s;

	s = render(&o, recbuf, 20, n);
	assert_string_equal(s, "22:13:20.001234 [truncated], length 20\n");
	free(s);
	s = render(&o, recbuf, 50, n);
	assert_non_null(strstr(s, "PAYLOAD, length 50 [truncated]\n"));
	assert_non_null(strstr(s, "transport header 18 of 44 bytes"));
	free(s);
	s = render(&o, recbuf, 78, n);
	assert_non_null(strstr(s, "len 6 (captured 2)"));
	free(s);
	/* Unknown enums everywhere. */
	wire_st16(recbuf + 24, 77);
	wire_st16(recbuf + 32 + 28, 9);
	wire_st16(recbuf + 32 + 30, 99);
	s = render(&o, recbuf, n, n);
	assert_non_null(strstr(s, "2.4050 unknown (77), length 82\n"));
	assert_non_null(strstr(s, "type unknown (9), op unknown (99)"));
	free(s);
	wire_st16(recbuf + 26, 1234);
	s = render(&o, recbuf, n, n);
	assert_non_null(strstr(s, " unknown (1234) 3.1024"));
	assert_non_null(strstr(s, "not decoded"));
	free(s);
	/* NULL data with zero length. */
	s = render(&o, NULL, 0, 0);
	assert_string_equal(s, "22:13:20.001234 [truncated], length 0\n");
	free(s);
}

static void test_verbose_flags(void **state)
{
	struct print_opts o = { .utc = true, .verbose = 1 };
	size_t n;
	char *s;

	n = mk(WIRE_OP_SHUTDOWN, WIRE_TYPE_STREAM, 3, NULL);
	s = render(&o, recbuf, n, n);
	assert_non_null(strstr(s, "\ttype STREAM, op SHUTDOWN, flags RCV|SEND, len 0, "
			       "buf_alloc 65536, fwd_cnt 5\n"));
	free(s);
	n = mk(WIRE_OP_RW, WIRE_TYPE_SEQPACKET, 1, "x");
	s = render(&o, recbuf, n, n);
	assert_non_null(strstr(s, "type SEQPACKET, op RW, flags EOM, len 1,"));
	free(s);
	n = mk(WIRE_OP_CREDIT_REQUEST, WIRE_TYPE_DGRAM, 0, NULL);
	s = render(&o, recbuf, n, n);
	assert_non_null(strstr(s, "CONTROL, length 76\n\ttype DGRAM, op CREDIT_REQUEST,"));
	free(s);
}

static void test_hex(void **state)
{
	struct print_opts o = { .utc = true, .hex = PRINT_HEX_ASCII };
	size_t n = mk(WIRE_OP_RW, WIRE_TYPE_STREAM, 0, "0123456789abcdefXY\n");
	char *s = render(&o, recbuf, n, n);

	assert_non_null(strstr(s, "\n\t0x0000:  3031 3233 3435 3637 3839 6162 6364 6566  "
			       "0123456789abcdef\n\t0x0010:  5859 0a"));
	assert_non_null(strstr(s, "XY.\n"));
	free(s);
	o.hex = PRINT_HEX;
	s = render(&o, recbuf, n, n);
	assert_non_null(strstr(s, "\t0x0010:  5859 0a\n"));
	assert_null(strstr(s, "XY"));
	free(s);
}

static void test_json(void **state)
{
	struct print_opts o = { .json = true, .hex = PRINT_HEX };
	size_t n = mk(WIRE_OP_RW, WIRE_TYPE_SEQPACKET, 3, "hi");
	char *s = render(&o, recbuf, n, n);

	assert_string_equal(s,
		"{\"record\":\"packet\",\"ts\":1700000000.001234,\"caplen\":78,\"len\":78,"
		"\"truncated\":false,\"transport\":\"VIRTIO\",\"op\":\"PAYLOAD\",\"src_cid\":3,"
		"\"src_port\":1024,\"dst_cid\":2,\"dst_port\":4050,\"hdr_len\":44,\"virtio\":"
		"{\"type\":\"SEQPACKET\",\"op\":\"RW\",\"flags\":3,\"flags_str\":\"EOM|EOR\","
		"\"len\":2,\"buf_alloc\":65536,\"fwd_cnt\":5},\"payload_len\":2,"
		"\"payload\":\"6869\"}\n");
	free(s);
	s = render(&o, recbuf, 10, n);
	assert_string_equal(s, "{\"record\":\"packet\",\"ts\":1700000000.001234,\"caplen\":10,"
			       "\"len\":78,\"truncated\":true,\"payload\":null}\n");
	free(s);
}

static void test_filter(void **state)
{
	struct print_filter f = { 0 };
	struct wire_rec r;
	size_t n = mk(WIRE_OP_CREDIT_UPDATE, WIRE_TYPE_STREAM, 0, NULL);

	wire_rec_parse(recbuf, n, &r);
	assert_true(print_match(&f, &r));
	f.cid_set = true;
	f.cid = 2;
	assert_true(print_match(&f, &r));
	f.cid = 4;
	assert_false(print_match(&f, &r));
	f.cid = 3;
	f.port_set = true;
	f.port = 4050;
	assert_true(print_match(&f, &r));
	assert_int_equal(print_filter_op(&f, "control"), 0);
	assert_true(print_match(&f, &r));
	assert_int_equal(print_filter_op(&f, "CREDIT_UPDATE"), 0);
	assert_true(f.op_virtio);
	assert_true(print_match(&f, &r));
	assert_int_equal(print_filter_op(&f, "RW"), 0);
	assert_false(print_match(&f, &r));
	assert_int_equal(print_filter_op(&f, "nope"), -ENOENT);
	memset(&f, 0, sizeof(f));
	assert_int_equal(print_filter_type(&f, "seqpacket"), 0);
	assert_false(print_match(&f, &r));
	assert_int_equal(print_filter_type(&f, "stream"), 0);
	assert_true(print_match(&f, &r));
	assert_int_equal(print_filter_type(&f, "raw"), -ENOENT);
	/* A record without headers matches no field filter. */
	wire_rec_parse(recbuf, 40, &r);
	assert_false(print_match(&f, &r));
}

/* Feed one packet to the connection table. */
static void feed(struct conntrack *c, long usec, uint64_t sc, uint32_t sp, uint64_t dc, uint32_t dp,
		 uint16_t op, uint32_t len, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	struct wire_virtio h = { .src_cid = sc, .dst_cid = dc, .src_port = sp, .dst_port = dp,
				 .len = len, .type = WIRE_TYPE_STREAM, .op = op,
				 .buf_alloc = buf_alloc, .fwd_cnt = fwd_cnt };
	struct timeval ts = { 100, usec };
	struct wire_mon m;
	struct wire_rec r;
	struct ct_event ev;
	uint8_t b[76 + 256] = { 0 };

	wire_mon_from_virtio(&h, &m);
	wire_mon_encode(&m, b, 32);
	wire_virtio_encode(&h, b + 32, 44);
	wire_rec_parse(b, 76 + len, &r);
	assert_int_equal(conntrack_add(c, &ts, 76 + len, &r, &ev), 1);
}

static char *conns_text(struct print_ctx *c, struct conntrack *ct)
{
	struct pbuf b;
	char *s;

	assert_int_equal(pbuf_init(&b, 0), 0);
	print_conns(c, ct, &b);
	assert_int_equal(b.err, 0);
	s = strndup(b.p, b.len);
	pbuf_free(&b);
	return s;
}

static void test_conns(void **state)
{
	struct print_opts o = { .json = true };
	struct print_ctx *c = NULL;
	struct conntrack *ct = NULL;
	char *s;

	assert_int_equal(print_ctx_new(&o, &c), 0);
	assert_int_equal(conntrack_new(&ct), 0);
	feed(ct, 1, 3, 7000, 2, 80, WIRE_OP_REQUEST, 0, 1000, 0);
	feed(ct, 2, 2, 80, 3, 7000, WIRE_OP_RESPONSE, 0, 100, 0);
	feed(ct, 3, 3, 7000, 2, 80, WIRE_OP_RW, 100, 1000, 0);   /* fills: full */
	feed(ct, 4, 3, 7000, 2, 80, WIRE_OP_RW, 10, 1000, 0);    /* credit 0: stall */
	feed(ct, 5, 3, 7000, 2, 80, WIRE_OP_CREDIT_REQUEST, 0, 1000, 0); /* stall */
	feed(ct, 6, 2, 80, 3, 7000, WIRE_OP_CREDIT_UPDATE, 0, 100, 110);
	feed(ct, 7, 3, 7000, 2, 80, WIRE_OP_RW, 30, 1000, 0);    /* credit 100: fine */
	feed(ct, 8, 2, 80, 3, 7000, WIRE_OP_RW, 5, 100, 140);
	feed(ct, 9, 3, 7000, 2, 80, WIRE_OP_RST, 0, 1000, 5);
	/* The same pair again: a new connection. */
	feed(ct, 20, 3, 7000, 2, 80, WIRE_OP_REQUEST, 0, 1000, 0);
	s = conns_text(c, ct);
	assert_string_equal(s,
		"{\"record\":\"conn\",\"a_cid\":3,\"a_port\":7000,\"b_cid\":2,\"b_port\":80,"
		"\"type\":\"STREAM\",\"seen_request\":true,\"packets_ab\":6,\"packets_ba\":3,"
		"\"bytes_ab\":140,\"bytes_ba\":5,\"first\":100.000001,\"duration\":0.000008,"
		"\"end\":\"RST\",\"stalls_a\":2,\"stalls_b\":0,\"full_a\":1,\"full_b\":0}\n"
		"{\"record\":\"conn\",\"a_cid\":3,\"a_port\":7000,\"b_cid\":2,\"b_port\":80,"
		"\"type\":\"STREAM\",\"seen_request\":true,\"packets_ab\":1,\"packets_ba\":0,"
		"\"bytes_ab\":0,\"bytes_ba\":0,\"first\":100.000020,\"duration\":0.000000,"
		"\"end\":\"open\",\"stalls_a\":0,\"stalls_b\":0,\"full_a\":0,\"full_b\":0}\n");
	free(s);
	print_ctx_free(c);
	conntrack_free(ct);
}

static void test_conns_many(void **state)
{
	struct print_opts o = { 0 };
	struct print_ctx *c = NULL;
	struct conntrack *ct = NULL;
	char *s;

	/* Enough connections to make the table grow several times. */
	assert_int_equal(print_ctx_new(&o, &c), 0);
	assert_int_equal(conntrack_new(&ct), 0);
	for (uint32_t i = 0; i < 5000; i++) {
		feed(ct, 1, 3, 10000 + i, 2, 80, WIRE_OP_REQUEST, 0, 1000, 0);
		feed(ct, 2, 2, 80, 3, 10000 + i, WIRE_OP_RESPONSE, 0, 1000, 0);
	}
	s = conns_text(c, ct);
	assert_true(strncmp(s, "5000 connections\n", 17) == 0);
	assert_non_null(strstr(s, "\n3.14999 "));
	free(s);
	print_ctx_free(c);
	conntrack_free(ct);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_line),
		cmocka_unit_test(test_local_time),
		cmocka_unit_test(test_ts_sequence),
		cmocka_unit_test(test_ts_forms),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_verbose_flags),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_conns),
		cmocka_unit_test(test_conns_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
