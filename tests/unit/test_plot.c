/* Unit tests for the --plot pieces: lib/dump/conntrack.c (credit, stalls and
 * waits), lib/dump/timeline.c (bins that double, hostile timestamps),
 * lib/dump/plot.c and lib/dump/svg.c (the SVG and its numbers). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "conntrack.h"
#include "plot.h"
#include "svg.h"
#include "timeline.h"
#include "wire.h"

struct rig {
	struct conntrack *ct;
	struct timeline *tl;
	struct ct_event ev;      /* of the last record */
	const struct ct_conn *k; /* its connection */
};

static void rig_new(struct rig *g, long only)
{
	memset(g, 0, sizeof(*g));
	assert_int_equal(conntrack_new(&g->ct), 0);
	assert_int_equal(timeline_new(&(struct tl_opts){ .only = only }, &g->tl), 0);
}

static void rig_free(struct rig *g)
{
	timeline_free(g->tl);
	conntrack_free(g->ct);
}

/* One record of connection PORT (A = 3.PORT, B = 2.80) at SEC.USEC from A
 * (FROM_A) or B, as vsockmon would capture it. */
static void feed(struct rig *g, long long sec, long usec, uint32_t port, bool from_a, uint16_t op,
		 uint32_t len, uint32_t buf_alloc, uint32_t fwd_cnt, uint32_t flags, uint16_t type)
{
	struct wire_virtio h = {
		.src_cid = from_a ? 3 : 2, .dst_cid = from_a ? 2 : 3,
		.src_port = from_a ? port : 80, .dst_port = from_a ? 80 : port,
		.len = len, .type = type, .op = op, .flags = flags,
		.buf_alloc = buf_alloc, .fwd_cnt = fwd_cnt,
	};
	struct timeval ts = { (time_t)sec, usec };
	static uint8_t b[76 + 4096];
	struct wire_mon m;
	struct wire_rec r;

	assert_true(len <= 4096);
	wire_mon_from_virtio(&h, &m);
	wire_mon_encode(&m, b, 32);
	wire_virtio_encode(&h, b + 32, 44);
	wire_rec_parse(b, 76 + len, &r);
	assert_int_equal(conntrack_add(g->ct, &ts, 76 + len, &r, &g->ev), 1);
	g->k = conntrack_get(g->ct, g->ev.conn);
	assert_non_null(g->k);
	assert_int_equal(timeline_add(g->tl, &ts, &r, &g->ev, g->k), 0);
}

#define S WIRE_TYPE_STREAM

/* The crafted credit.pcap: A fills B's 100-byte window, sends with none
 * left, asks for credit; B's update gives it back. */
static void credit_scenario(struct rig *g)
{
	feed(g, 100, 0, 7000, true, WIRE_OP_REQUEST, 0, 1000, 0, 0, S);
	feed(g, 100, 1000, 7000, false, WIRE_OP_RESPONSE, 0, 100, 0, 0, S);
	feed(g, 100, 2000, 7000, true, WIRE_OP_RW, 60, 1000, 0, 0, S);
	feed(g, 100, 3000, 7000, true, WIRE_OP_RW, 40, 1000, 0, 0, S);
	feed(g, 100, 4000, 7000, true, WIRE_OP_RW, 10, 1000, 0, 0, S);
	feed(g, 100, 5000, 7000, true, WIRE_OP_CREDIT_REQUEST, 0, 1000, 0, 0, S);
	feed(g, 100, 6000, 7000, false, WIRE_OP_RW, 5, 100, 0, 0, S);
	feed(g, 100, 7000, 7000, false, WIRE_OP_CREDIT_UPDATE, 0, 100, 110, 0, S);
	feed(g, 100, 8000, 7000, true, WIRE_OP_RW, 20, 1000, 5, 0, S);
}

static void test_waits(void **state)
{
	struct rig g;
	uint32_t credit;
	uint64_t lim;

	rig_new(&g, -1);
	feed(&g, 100, 0, 7000, true, WIRE_OP_REQUEST, 0, 1000, 0, 0, S);
	assert_false(ct_credit(g.k, 0, &credit)); /* B has not said anything yet */
	feed(&g, 100, 1000, 7000, false, WIRE_OP_RESPONSE, 0, 100, 0, 0, S);
	assert_true(ct_credit(g.k, 0, &credit));
	assert_int_equal(credit, 100);
	feed(&g, 100, 2000, 7000, true, WIRE_OP_RW, 60, 1000, 0, 0, S);
	assert_false(g.ev.stall || g.ev.full || g.ev.wait_begin);
	feed(&g, 100, 3000, 7000, true, WIRE_OP_RW, 40, 1000, 0, 0, S);
	assert_int_equal(g.ev.off, 60);
	assert_int_equal(g.ev.len, 40);
	assert_true(g.ev.full && g.ev.wait_begin && !g.ev.stall);
	feed(&g, 100, 4000, 7000, true, WIRE_OP_RW, 10, 1000, 0, 0, S);
	assert_true(g.ev.stall && !g.ev.wait_begin); /* already waiting */
	feed(&g, 100, 5000, 7000, true, WIRE_OP_CREDIT_REQUEST, 0, 1000, 0, 0, S);
	assert_true(g.ev.stall && !g.ev.wait_begin);
	/* B's own data with the same fwd_cnt gives no credit back. */
	feed(&g, 100, 6000, 7000, false, WIRE_OP_RW, 5, 100, 0, 0, S);
	assert_false(g.ev.wait_end);
	assert_true(g.k->s[0].waiting);
	feed(&g, 100, 7000, 7000, false, WIRE_OP_CREDIT_UPDATE, 0, 100, 110, 0, S);
	assert_true(g.ev.wait_end);
	assert_false(g.k->s[0].waiting);
	assert_true(ct_credit(g.k, 0, &credit));
	assert_int_equal(credit, 100);
	assert_true(ct_limit(g.k, 0, &lim));
	assert_int_equal(lim, 210);   /* B's fwd_cnt 110 + buf_alloc 100 */
	assert_int_equal(g.k->s[0].stalls, 2);
	assert_int_equal(g.k->s[0].full, 1);
	assert_int_equal(g.k->s[0].waits, 1);
	assert_int_equal(g.k->s[1].waits, 0);
	/* A overran: 20 past its 100 of credit.  The limit stays where B put
	 * it (below A's offset), the credit is 0. */
	feed(&g, 100, 8000, 7000, true, WIRE_OP_RW, 100, 1000, 5, 0, S);
	assert_true(g.ev.full && g.ev.wait_begin);
	feed(&g, 100, 9000, 7000, true, WIRE_OP_RW, 20, 1000, 5, 0, S);
	assert_true(g.ev.stall && !g.ev.wait_begin);
	assert_int_equal(g.k->s[0].waits, 2);
	assert_true(ct_limit(g.k, 0, &lim));
	assert_int_equal(lim, 210);
	assert_int_equal(g.k->s[0].bytes, 230);
	assert_true(ct_credit(g.k, 0, &credit));
	assert_int_equal(credit, 0);
	rig_free(&g);
}

/* A capture that lost records of A (B forwarded more than was seen sent)
 * must not read as "no credit" on every later send. */
static void test_lost_records(void **state)
{
	struct rig g;
	uint32_t credit;

	rig_new(&g, -1);
	feed(&g, 1, 0, 7000, true, WIRE_OP_REQUEST, 0, 1000, 0, 0, S);
	feed(&g, 1, 10, 7000, false, WIRE_OP_RESPONSE, 0, 1000, 0, 0, S);
	feed(&g, 1, 20, 7000, true, WIRE_OP_RW, 100, 1000, 0, 0, S);
	/* B says it forwarded 600: 500 bytes of A's were not captured. */
	feed(&g, 1, 30, 7000, false, WIRE_OP_CREDIT_UPDATE, 0, 1000, 600, 0, S);
	assert_true(ct_credit(g.k, 0, &credit));
	assert_int_equal(credit, 1000);
	feed(&g, 1, 40, 7000, true, WIRE_OP_RW, 100, 1000, 0, 0, S);
	assert_false(g.ev.stall || g.ev.full || g.ev.wait_begin);
	/* And credit is counted right again from there: 900 left, then full. */
	assert_true(ct_credit(g.k, 0, &credit));
	assert_int_equal(credit, 900);
	feed(&g, 1, 50, 7000, true, WIRE_OP_RW, 900, 1000, 0, 0, S);
	assert_true(g.ev.full && g.ev.wait_begin);
	assert_int_equal(g.k->s[0].stalls, 0);
	assert_int_equal(g.k->s[0].bytes, 1100); /* what the capture holds */
	rig_free(&g);
}

/* Without the REQUEST credit is unknown: a CREDIT_REQUEST still starts a
 * wait, and any record of the peer ends it. */
static void test_waits_unknown_credit(void **state)
{
	struct rig g;
	uint32_t credit;

	rig_new(&g, -1);
	feed(&g, 5, 0, 9000, true, WIRE_OP_RW, 100, 1000, 0, 0, S);
	assert_false(g.k->seen_req);
	assert_false(ct_credit(g.k, 0, &credit));
	feed(&g, 5, 10, 9000, true, WIRE_OP_RW, 100, 1000, 0, 0, S);
	assert_false(g.ev.stall || g.ev.full);
	feed(&g, 5, 20, 9000, true, WIRE_OP_CREDIT_REQUEST, 0, 1000, 0, 0, S);
	assert_true(g.ev.stall && g.ev.wait_begin);
	feed(&g, 5, 30, 9000, false, WIRE_OP_CREDIT_UPDATE, 0, 5000, 0, 0, S);
	assert_true(g.ev.wait_end);
	assert_int_equal(g.k->s[0].stalls, 1);
	assert_int_equal(g.k->s[0].waits, 1);
	rig_free(&g);
}

static void test_timeline_bins(void **state)
{
	struct rig g;
	const struct tl_conn *c;
	size_t i, j, n;

	rig_new(&g, -1);
	credit_scenario(&g);
	c = timeline_get(g.tl, 0);
	assert_non_null(c);
	assert_int_equal(c->end, 8000);
	assert_int_equal(c->width, 8); /* 8000 / 8 < 1024 <= 8000 / 4 */
	assert_int_equal(c->nmark, 2);  /* REQUEST, RESPONSE */
	assert_int_equal(c->mark[1].op, WIRE_OP_RESPONSE);
	assert_int_equal(c->mark[1].dir, 1);
	assert_int_equal(c->mark[1].t, 1000);
	i = tl_bin_of(c, 3000);
	assert_true(c->bin[0][i].flags & TL_B_DATA);
	assert_int_equal(c->bin[0][i].lo, 60);
	assert_int_equal(c->bin[0][i].hi, 100);
	assert_int_equal(c->bin[0][i].lim_last, 100);
	/* The wait covers 3000..7000 µs and nothing after. */
	assert_true(c->bin[0][tl_bin_of(c, 3000)].flags & TL_B_WAIT);
	assert_true(c->bin[0][tl_bin_of(c, 5000)].flags & TL_B_WAIT);
	assert_true(c->bin[0][tl_bin_of(c, 7000)].flags & TL_B_WAIT);
	assert_false(c->bin[0][tl_bin_of(c, 8000)].flags & TL_B_WAIT);
	assert_false(c->bin[0][tl_bin_of(c, 2000)].flags & TL_B_WAIT);
	for (i = 0; i < TL_BINS; i++)
		assert_false(c->bin[1][i].flags & TL_B_WAIT);
	assert_int_equal(c->bin[0][tl_bin_of(c, 5000)].cr, 1);
	assert_int_equal(c->bin[0][tl_bin_of(c, 5000)].cr_off, 110);
	assert_int_equal(c->bin[0][tl_bin_of(c, 7000)].cu, 1);   /* gave A credit */
	assert_int_equal(c->bin[0][tl_bin_of(c, 7000)].lim_last, 210);
	assert_int_equal(c->bin[1][tl_bin_of(c, 6000)].hi, 5);

	/* A record 10 s later: the bins merge up to 16384 µs each, keeping
	 * the segments' extent and the limit's first and last value. */
	feed(&g, 110, 0, 7000, true, WIRE_OP_RW, 10, 1000, 5, 0, S);
	c = timeline_get(g.tl, 0);
	assert_int_equal(c->width, 16384);
	assert_int_equal(c->end, 10000000);
	assert_int_equal(tl_bin_of(c, 8000), 0);
	assert_int_equal(c->bin[0][0].lo, 0);
	assert_int_equal(c->bin[0][0].hi, 130);
	assert_int_equal(c->bin[0][0].lim_first, 100);
	assert_int_equal(c->bin[0][0].lim_min, 100);
	assert_int_equal(c->bin[0][0].lim_max, 210);
	assert_int_equal(c->bin[0][0].lim_last, 210);
	assert_int_equal(c->bin[0][0].rw, 4);
	assert_true(c->bin[0][0].flags & TL_B_WAIT);
	j = tl_bin_of(c, 10000000);
	assert_int_equal(c->bin[0][j].lo, 130);
	assert_int_equal(c->bin[0][j].hi, 140);
	for (i = 1, n = 0; i < TL_BINS; i++)
		n += c->bin[0][i].flags != 0;
	assert_int_equal(n, 1);
	rig_free(&g);
}

/* Times that go backwards, or jump by centuries: clamped, never a crash
 * or an endless doubling. */
static void test_timeline_hostile(void **state)
{
	struct rig g;
	const struct tl_conn *c;

	rig_new(&g, -1);
	feed(&g, 1000, 0, 7000, true, WIRE_OP_REQUEST, 0, 1000, 0, 0, S);
	feed(&g, 10, 0, 7000, false, WIRE_OP_RESPONSE, 0, 1000, 0, 0, S);
	c = timeline_get(g.tl, 0);
	assert_int_equal(c->end, 0);
	feed(&g, 1000, 999999999, 7000, true, WIRE_OP_RW, 1, 1000, 0, 0, S);
	feed(&g, (long long)(INT64_MAX / 2), 0, 7000, true, WIRE_OP_RW, 1, 1000, 0, 0, S);
	feed(&g, INT64_MIN, 0, 7000, false, WIRE_OP_RST, 0, 1000, 0, 0, S);
	c = timeline_get(g.tl, 0);
	assert_int_equal(c->end, 1ll << 50);
	assert_int_equal(c->width, 1ll << 41); /* the bins cover half to all of it */
	assert_int_equal(tl_bin_of(c, c->end), TL_BINS / 2);
	assert_int_equal(c->mark[2].t, 0);
	rig_free(&g);
}

static void test_timeline_only(void **state)
{
	struct rig g;

	rig_new(&g, 1);
	feed(&g, 1, 0, 7000, true, WIRE_OP_REQUEST, 0, 1000, 0, 0, S);
	feed(&g, 1, 0, 7001, true, WIRE_OP_REQUEST, 0, 1000, 0, 0, S);
	feed(&g, 1, 5, 7000, true, WIRE_OP_RW, 10, 1000, 0, 0, S);
	assert_null(timeline_get(g.tl, 0));
	assert_non_null(timeline_get(g.tl, 1));
	assert_int_equal(timeline_get(g.tl, 1)->nmark, 1);
	rig_free(&g);
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, what)) != NULL; p++)
		n++;
	return n;
}

static char *plot_text(struct rig *g, long only, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	*rc = plot_svg(f, g->ct, g->tl, &(struct plot_opts){ .source = "t<&>.pcap", .only = only });
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_plot_svg(void **state)
{
	struct rig g;
	const char *ba;
	char *s;
	int rc;

	rig_new(&g, -1);
	credit_scenario(&g);
	feed(&g, 100, 9000, 7000, true, WIRE_OP_SHUTDOWN, 0, 1000, 5,
	     WIRE_SHUTDOWN_RCV | WIRE_SHUTDOWN_SEND, S);
	s = plot_text(&g, -1, &rc);
	assert_int_equal(rc, 0);
	assert_true(strncmp(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44) == 0);
	assert_non_null(strstr(s, "<title>vsk dump --plot: t&lt;&amp;&gt;.pcap</title>"));
	assert_int_equal(count(s, "<g class=\"conn\" "), 1);
	assert_non_null(strstr(s, "<g class=\"conn\" data-conn=\"1\" data-type=\"STREAM\">"));
	assert_non_null(strstr(s, "data-dir=\"ab\" data-stalls=\"2\" data-full=\"1\" data-waits=\"1\""));
	ba = strstr(s, "data-dir=\"ba\" data-stalls=\"0\" data-full=\"0\" data-waits=\"0\"");
	assert_non_null(ba);
	/* One wait: one shaded run, in A -> B only. */
	assert_int_equal(count(s, "class=\"stall\""), 1);
	assert_true(strstr(s, "class=\"stall\"") < ba);
	assert_int_equal(count(s, "<path class=\"data\""), 2);
	assert_int_equal(count(s, "<path class=\"limit\""), 2);
	assert_int_equal(count(s, "<path class=\"credit-request\""), 1);
	assert_int_equal(count(s, "<path class=\"credit-update\""), 1);
	assert_non_null(strstr(s, "data-op=\"REQUEST\""));
	assert_non_null(strstr(s, "data-op=\"RESPONSE\""));
	assert_non_null(strstr(s, ">SHUTDOWN A RCV|SEND</text>"));
	assert_true(strlen(s) > 7 && strcmp(s + strlen(s) - 7, "</svg>\n") == 0);
	free(s);

	s = plot_text(&g, 1, &rc);
	assert_int_equal(rc, -ENOENT);
	assert_int_equal(strlen(s), 0);
	free(s);
	rig_free(&g);
}

static void test_plot_write_error(void **state)
{
	struct rig g;
	FILE *f = fopen("/dev/full", "w");

	if (f == NULL) {
		print_message("skipped: no /dev/full (%s)\n", strerror(errno));
		skip();
	}
	setvbuf(f, NULL, _IONBF, 0);
	rig_new(&g, -1);
	credit_scenario(&g);
	assert_int_equal(plot_svg(f, g.ct, g.tl, &(struct plot_opts){ .source = "x", .only = -1 }),
			 -EIO);
	fclose(f);
	rig_free(&g);
}

/* Many connections: the first TL_CONNS_MAX are drawn, the rest named. */
static void test_plot_many(void **state)
{
	struct rig g;
	char *s, want[128];
	int rc;

	rig_new(&g, -1);
	for (uint32_t i = 0; i < TL_CONNS_MAX + 3; i++)
		feed(&g, 1, i, 10000 + i, true, WIRE_OP_REQUEST, 0, 1000, 0, 0, S);
	s = plot_text(&g, -1, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(count(s, "<g class=\"conn\" "), TL_CONNS_MAX);
	snprintf(want, sizeof(want), "connections %u to %u are not drawn", TL_CONNS_MAX + 1,
		 TL_CONNS_MAX + 3);
	assert_non_null(strstr(s, want));
	free(s);
	rig_free(&g);
}

static char *svg_out(void (*fn)(FILE *, const void *), const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f, arg);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void num_fn(FILE *f, const void *arg)
{
	svg_num(f, *(const double *)arg);
}

static void esc_fn(FILE *f, const void *arg)
{
	svg_esc(f, arg);
}

static void test_svg_pieces(void **state)
{
	static const struct { double v; const char *s; } nums[] = {
		{ 0, "0" }, { 12, "12" }, { 12.54, "12.5" }, { 0.06, "0.1" }, { -3.04, "-3" },
		{ -0.25, "-0.3" }, { 1e300, "1000000000000" }, { -1e300, "0" },
	};
	char b[32], *s;

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		s = svg_out(num_fn, &nums[i].v);
		assert_string_equal(s, nums[i].s);
		free(s);
	}
	s = svg_out(esc_fn, "<a&'\"\x01\tb>");
	assert_string_equal(s, "&lt;a&amp;&apos;&quot;\tb&gt;");
	free(s);
	/* UTF-8 passes; a stray byte, an overlong form or a cut sequence not. */
	s = svg_out(esc_fn, "\xc2\xb5s \xe2\x87\x84 \xff \xc0\xaf \xe2\x87");
	assert_string_equal(s, "\xc2\xb5s \xe2\x87\x84 ? ?? ??");
	free(s);
	assert_true(svg_step(130, 4) == 20);
	assert_true(svg_step(1, 4) == 0.2);
	assert_true(svg_step(8638, 8) == 1000);
	assert_true(svg_step(0, 4) == 1);
	assert_string_equal(svg_tick(b, sizeof(b), 0.25, 0.05), "0.25");
	assert_string_equal(svg_tick(b, sizeof(b), 0.4, 0.2), "0.4");
	assert_string_equal(svg_tick(b, sizeof(b), 40, 10), "40");
	assert_string_equal(svg_tick(b, sizeof(b), 2.0, 0.5), "2");
	assert_string_equal(svg_unit_bytes(1040).name, "B");
	assert_string_equal(svg_unit_bytes(3000).name, "KiB");
	assert_string_equal(svg_unit_bytes(5e6).name, "MiB");
	assert_string_equal(svg_unit_time(1500).name, "\xc2\xb5s");
	assert_string_equal(svg_unit_time(8638).name, "ms");
	assert_string_equal(svg_unit_time(3e6).name, "s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waits),
		cmocka_unit_test(test_waits_unknown_credit),
		cmocka_unit_test(test_lost_records),
		cmocka_unit_test(test_timeline_bins),
		cmocka_unit_test(test_timeline_hostile),
		cmocka_unit_test(test_timeline_only),
		cmocka_unit_test(test_plot_svg),
		cmocka_unit_test(test_plot_write_error),
		cmocka_unit_test(test_plot_many),
		cmocka_unit_test(test_svg_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
