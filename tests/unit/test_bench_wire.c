/* bench wire protocol: the header and report codecs, and the server
 * speaking to hand-made clients over a socketpair: a version 1 client
 * (sums in the report, still served), a version 2 one (no sum), one that
 * asks for no check, and a version the server does not know.  The engine
 * end to end is in test_bench.c.  No AF_VSOCK here. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "bench_int.h"

/* ------------------------------------------------- a server on one fd */

struct one {
	struct bench_server *s;
	pthread_t th;
	int rc, n;
	struct bench_conn_info info;
};

static void on_conn(void *ctx, const struct bench_conn_info *i)
{
	struct one *o = ctx;

	o->info = *i;
	o->n++;
	bench_server_stop(o->s);
}

static void *run(void *arg)
{
	struct one *o = arg;

	o->rc = bench_server_run(o->s, 30000);
	return NULL;
}

/* A server thread serving one end of a socketpair; the other end back. */
static int one_start(struct one *o)
{
	int sp[2];

	memset(o, 0, sizeof(*o));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	assert_int_equal(bench_server_new(&o->s, -1, on_conn, o), 0);
	assert_int_equal(bench_server_add(o->s, sp[1], "pair"), 0);
	assert_int_equal(pthread_create(&o->th, NULL, run, o), 0);
	return sp[0];
}

/* Wait for the server's one connection to end. */
static void one_end(struct one *o)
{
	assert_int_equal(pthread_join(o->th, NULL), 0);
	assert_int_equal(o->rc, 0);
	assert_int_equal(o->n, 1);
	bench_server_free(o->s);
}

static void put_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);
		assert_true(w > 0);
		b += w;
		n -= (size_t)w;
	}
}

static void get_all(int fd, void *p, size_t n)
{
	unsigned char *b = p;

	while (n > 0) {
		ssize_t r = read(fd, b, n);
		assert_true(r > 0);
		b += r;
		n -= (size_t)r;
	}
}

static void send_hdr(int fd, uint8_t version, enum bench_mode mode, bool nocheck, uint32_t start,
		     uint64_t limit)
{
	struct bench_hdr h = { .version = version, .mode = mode, .nocheck = nocheck,
			       .msg_len = 4096, .start = start, .limit = limit };
	unsigned char p[BENCH_HDR_LEN];

	bench_hdr_encode(p, &h);
	put_all(fd, p, sizeof(p));
}

/* The report after the data, then the server's EOF. */
static struct bench_report get_report(int fd)
{
	unsigned char p[BENCH_REPORT_LEN];
	struct bench_report r;
	char x;

	get_all(fd, p, sizeof(p));
	assert_int_equal(bench_report_decode(p, sizeof(p), &r), 0);
	assert_int_equal(read(fd, &x, 1), 0);
	return r;
}

#define N 1000000u /* under BENCH_MSG_MAX: one contiguous pattern window */
#define START 4242u

/* ------------------------------------------------------------- tests */

static void test_codecs(void **state)
{
	struct bench_hdr h = { .mode = BENCH_RR, .seqpacket = true, .nocheck = true, .msg_len = 77,
			       .duration_ms = 1500, .limit = 1ull << 40, .start = 99 }, g;
	struct bench_report r = { 1, 123, 4, 56, 0xfeedull }, q;
	unsigned char p[BENCH_HDR_LEN], rp[BENCH_REPORT_LEN];
	char why[160];

	bench_hdr_encode(p, &h);
	assert_int_equal(p[4], BENCH_PROTO);
	assert_int_equal(p[6], BENCH_F_SEQ | BENCH_F_NOCHECK);
	assert_int_equal(bench_hdr_decode(p, sizeof(p), &g, why, sizeof(why)), 0);
	assert_int_equal(g.version, BENCH_PROTO);
	assert_int_equal(g.mode, BENCH_RR);
	assert_true(g.seqpacket && g.nocheck);
	assert_int_equal(g.msg_len, 77);
	assert_int_equal(g.duration_ms, 1500);
	assert_int_equal(g.limit, 1ull << 40);
	assert_int_equal(g.start, 99);
	/* Version 1 had no "no check" flag: the bit means nothing there. */
	p[4] = 1;
	assert_int_equal(bench_hdr_decode(p, sizeof(p), &g, why, sizeof(why)), 0);
	assert_int_equal(g.version, 1);
	assert_false(g.nocheck);
	p[4] = 3;
	assert_int_equal(bench_hdr_decode(p, sizeof(p), &g, why, sizeof(why)), -EPROTO);
	assert_string_equal(why, "bench protocol version 3, this server speaks 1 and 2");
	assert_int_equal(bench_hdr_decode(p, sizeof(p) - 1, &g, why, sizeof(why)), -EPROTO);
	bench_report_encode(rp, &r);
	assert_int_equal(bench_report_decode(rp, sizeof(rp), &q), 0);
	assert_int_equal(q.status, 1);
	assert_int_equal(q.bytes, 123);
	assert_int_equal(q.msgs, 4);
	assert_int_equal(q.bad_off, 56);
	assert_int_equal(q.sum, 0xfeedull);
	rp[0] = 'X';
	assert_int_equal(bench_report_decode(rp, sizeof(rp), &q), -EPROTO);
}

/* Up: the client sends the pattern (byte FLIP changed when < N), the
 * server reports. */
static struct bench_report up(uint8_t version, bool nocheck, size_t flip, struct one *o)
{
	unsigned char *pat = bench_pattern_new(), *data = malloc(N);
	struct bench_report r;
	int fd;

	assert_non_null(pat);
	assert_non_null(data);
	memcpy(data, pat + START, N);
	if (flip < N)
		data[flip] ^= 0x40;
	fd = one_start(o);
	send_hdr(fd, version, BENCH_UP, nocheck, START, 0);
	put_all(fd, data, N);
	shutdown(fd, SHUT_WR);
	r = get_report(fd);
	close(fd);
	one_end(o);
	assert_int_equal(r.bytes, N);
	if (version == 1)
		assert_int_equal(r.sum, bench_sum64(0, data, N));
	else
		assert_int_equal(r.sum, 0);
	free(pat);
	free(data);
	return r;
}

static void test_up_v1_sum(void **state)
{
	struct one o;
	struct bench_report r = up(1, false, N, &o);

	assert_int_equal(r.status, BENCH_ST_OK);
	assert_int_equal(o.info.err, 0);
	assert_true(o.info.checked);
	assert_int_equal(o.info.bytes_in, N);
}

static void test_up_v2_checked(void **state)
{
	struct one o;
	struct bench_report r = up(2, false, N, &o);

	assert_int_equal(r.status, BENCH_ST_OK);
	assert_int_equal(o.info.err, 0);
	r = up(2, false, 777777, &o);
	assert_int_equal(r.status, BENCH_ST_MISMATCH);
	assert_int_equal(r.bad_off, 777777);
	assert_int_equal(o.info.err, EBADMSG);
	assert_non_null(strstr(o.info.msg, "data corrupted at offset 777777"));
}

/* No check: the changed byte goes through unnoticed, and the server says
 * it did not check. */
static void test_up_nocheck(void **state)
{
	struct one o;
	struct bench_report r = up(2, true, 777777, &o);

	assert_int_equal(r.status, BENCH_ST_OK);
	assert_int_equal(o.info.err, 0);
	assert_false(o.info.checked);
	assert_int_equal(o.info.bytes_in, N);
}

/* Down: the server sends the pattern; the client checks it and reports
 * with SUM. */
static void down(uint8_t version, uint64_t sum_delta, struct one *o)
{
	unsigned char *pat = bench_pattern_new(), *got = malloc(N), p[BENCH_REPORT_LEN];
	struct bench_report r = { .bytes = N };
	char x;
	int fd;

	assert_non_null(pat);
	assert_non_null(got);
	fd = one_start(o);
	send_hdr(fd, version, BENCH_DOWN, false, START, N);
	get_all(fd, got, N);
	assert_int_equal(read(fd, &x, 1), 0); /* the server shut down its side */
	assert_memory_equal(got, pat + START, N);
	r.sum = bench_sum64(0, got, N) + sum_delta;
	bench_report_encode(p, &r);
	put_all(fd, p, sizeof(p));
	close(fd);
	one_end(o);
	free(pat);
	free(got);
}

static void test_down_v1_sum(void **state)
{
	struct one o;

	down(1, 0, &o);
	assert_int_equal(o.info.err, 0);
	assert_int_equal(o.info.bytes_out, N);
	/* A version 1 server compares the sum: so does this one for v1. */
	down(1, 1, &o);
	assert_int_equal(o.info.err, EBADMSG);
	assert_non_null(strstr(o.info.msg, "data lost"));
}

static void test_down_v2_no_sum(void **state)
{
	struct one o;

	/* Version 2 has no sum: whatever the field holds is ignored. */
	down(2, 12345, &o);
	assert_int_equal(o.info.err, 0);
	assert_int_equal(o.info.bytes_out, N);
}

/* A version the server does not speak: named, and the connection closed. */
static void test_unknown_version(void **state)
{
	struct one o;
	char x;
	int fd = one_start(&o);

	send_hdr(fd, 9, BENCH_UP, false, 0, 0);
	assert_int_equal(read(fd, &x, 1), 0);
	close(fd);
	one_end(&o);
	assert_int_equal(o.info.err, EPROTO);
	assert_non_null(strstr(o.info.msg, "bench protocol version 9"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codecs),
		cmocka_unit_test(test_up_v1_sum),
		cmocka_unit_test(test_up_v2_checked),
		cmocka_unit_test(test_up_nocheck),
		cmocka_unit_test(test_down_v1_sum),
		cmocka_unit_test(test_down_v2_no_sum),
		cmocka_unit_test(test_unknown_version),
	};

	alarm(120); /* a hang is a failure, not a stuck CI job */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
