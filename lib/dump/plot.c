/* plot: SVG time-sequence and credit graphs of vsock connections. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "plot.h"
#include "svg.h"

#define W       960
#define LEFT    88               /* y labels */
#define RIGHT   22
#define PW      (W - LEFT - RIGHT)
#define HEAD    110              /* title and legend */
#define CTITLE  40               /* a connection's two title lines */
#define LBAND   18               /* a graph's label line above it */
#define GH      150              /* one direction's graph */
#define GGAP    8
#define XAXIS   44
#define CGAP    20
#define PANEL   (CTITLE + 2 * (LBAND + GH) + GGAP + XAXIS + CGAP)
#define FOOT    30
#define PURPLE  "#9467bd"
#define ARROW   " \xe2\x86\x92 "  /* U+2192 */

static const char *const dir_colour[2] = { SVG_BLUE, SVG_ORANGE };
static const char *const dir_attr[2] = { "ab", "ba" };

/* Where bin I of C is drawn: its middle, never past the last record. */
static double bin_t(const struct tl_conn *c, size_t i)
{
	double t = ((double)i + 0.5) * (double)c->width;

	return t > (double)c->end ? (double)c->end : t;
}

static double bin_start(const struct tl_conn *c, size_t i)
{
	return (double)i * (double)c->width;
}

static bool bin_waits(const struct tl_conn *c, int d, size_t i)
{
	if (c->bin[d][i].flags & TL_B_WAIT)
		return true;
	/* A wait still open at the end lasts to the last record. */
	return c->waiting[d] && i >= tl_bin_of(c, c->wait_since[d]) && i <= tl_bin_of(c, c->end);
}

/* The top of direction D's y axis.  Data and credit limit both fit,
 * unless the limit is far above the data (a few bytes in a 256 KiB
 * window): then the data sets the scale and *LIM_ABOVE says how high the
 * clipped limit went. */
static double dir_max(const struct tl_conn *c, int d, uint64_t *lim_above)
{
	uint64_t data = 0, lim = 0;

	for (size_t i = 0; i < TL_BINS; i++) {
		const struct tl_bin *b = &c->bin[d][i];

		if ((b->flags & TL_B_DATA) && b->hi > data)
			data = b->hi;
		if (b->cr > 0 && b->cr_off > data)
			data = b->cr_off;
		if (b->eom > 0 && b->eom_off > data)
			data = b->eom_off;
		if ((b->flags & TL_B_LIMIT) && b->lim_max > lim)
			lim = b->lim_max;
	}
	*lim_above = 0;
	if (data > 0 && lim / 4 > data) {
		*lim_above = lim;
		lim = 0;
	}
	if (lim > data)
		data = lim;
	return data > 0 ? (double)data * 1.04 : 1;
}

/* " x y" of a path. */
static void pt(FILE *f, double x, double y)
{
	fputc(' ', f);
	svg_num(f, x);
	fputc(' ', f);
	svg_num(f, y);
}

static void draw_waits(FILE *f, const struct svg_frame *fr, const struct tl_conn *c, int d)
{
	fputs("<g class=\"stalls\" fill=\"" SVG_RED "\" fill-opacity=\"0.2\">\n", f);
	for (size_t i = 0; i < TL_BINS; i++) {
		size_t j = i;
		double x0, x1;

		if (!bin_waits(c, d, i))
			continue;
		while (j + 1 < TL_BINS && bin_waits(c, d, j + 1))
			j++;
		x0 = svg_fx(fr, bin_start(c, i));
		x1 = svg_fx(fr, bin_start(c, j + 1));
		if (x1 - x0 < 1.5) {
			/* Still visible when shorter than a pixel. */
			x1 = x0 + 1.5;
			if (x1 > fr->x + fr->w) {
				x1 = fr->x + fr->w;
				x0 = x1 - 1.5;
			}
		}
		fputs("<rect class=\"stall\" x=\"", f);
		svg_num(f, x0);
		fputs("\" y=\"", f);
		svg_num(f, fr->y);
		fputs("\" width=\"", f);
		svg_num(f, x1 - x0);
		fputs("\" height=\"", f);
		svg_num(f, fr->h);
		fputs("\"/>\n", f);
		i = j;
	}
	fputs("</g>\n", f);
}

static void draw_limit(FILE *f, const struct svg_frame *fr, const struct tl_conn *c, int d)
{
	bool started = false;
	double py = 0;

	fputs("<path class=\"limit\" fill=\"none\" stroke=\"" SVG_GREEN "\" stroke-width=\"1.5\" d=\"", f);
	for (size_t i = 0; i < TL_BINS; i++) {
		const struct tl_bin *b = &c->bin[d][i];
		const uint64_t v[4] = { b->lim_first, b->lim_min, b->lim_max, b->lim_last };

		if (!(b->flags & TL_B_LIMIT))
			continue;
		if (!started) {
			fputc('M', f);
			pt(f, svg_fx(fr, bin_start(c, i)), py = svg_fy(fr, (double)v[0]));
			started = true;
		} else {
			fputc('H', f);
			svg_num(f, svg_fx(fr, bin_start(c, i)));
		}
		for (int k = 0; k < 4; k++) {
			double y = svg_fy(fr, (double)v[k]);

			if (y - py > 0.05 || py - y > 0.05) {
				fputc('V', f);
				svg_num(f, y);
				py = y;
			}
		}
	}
	if (started) {
		fputc('H', f);
		svg_num(f, svg_fx(fr, (double)c->end));
	}
	fputs("\"/>\n", f);
}

static void draw_data(FILE *f, const struct svg_frame *fr, const struct tl_conn *c, int d)
{
	fprintf(f, "<path class=\"data\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"",
		dir_colour[d]);
	for (size_t i = 0; i < TL_BINS; i++) {
		const struct tl_bin *b = &c->bin[d][i];
		double y0, y1;

		if (!(b->flags & TL_B_DATA))
			continue;
		y0 = svg_fy(fr, (double)b->lo);
		y1 = svg_fy(fr, (double)b->hi);
		if (y0 - y1 < 1)
			y1 = y0 - 1;
		fputc('M', f);
		pt(f, svg_fx(fr, bin_t(c, i)), y0);
		fputc('V', f);
		svg_num(f, y1);
	}
	fputs("\"/>\n", f);
}

enum { MK_CU, MK_CR, MK_EOM };

/* One path of small symbols: CREDIT_UPDATE triangles on the limit line,
 * CREDIT_REQUEST circles and message-end diamonds at the sender's offset. */
static void draw_symbols(FILE *f, const struct svg_frame *fr, const struct tl_conn *c, int d, int kind)
{
	static const char *const head[] = {
		"<path class=\"credit-update\" fill=\"" SVG_GREEN "\" d=\"",
		"<path class=\"credit-request\" fill=\"none\" stroke=\"" SVG_RED "\" stroke-width=\"1.2\" d=\"",
		"<path class=\"eom\" fill=\"#222222\" d=\"",
	};
	bool any = false;

	for (size_t i = 0; i < TL_BINS; i++) {
		const struct tl_bin *b = &c->bin[d][i];
		double x = svg_fx(fr, bin_t(c, i)), y;

		if (kind == MK_CU && b->cu > 0 && (b->flags & TL_B_LIMIT))
			y = svg_fy(fr, (double)b->lim_last);
		else if (kind == MK_CR && b->cr > 0)
			y = svg_fy(fr, (double)b->cr_off);
		else if (kind == MK_EOM && b->eom > 0)
			y = svg_fy(fr, (double)b->eom_off);
		else
			continue;
		if (!any)
			fputs(head[kind], f);
		any = true;
		fputc('M', f);
		if (kind == MK_CU) {
			pt(f, x, y);
			fputs("l-3.5 6h7z", f);
		} else if (kind == MK_CR) {
			pt(f, x - 3, y);
			fputs("a3 3 0 1 0 6 0a3 3 0 1 0 -6 0", f);
		} else {
			pt(f, x, y - 3);
			fputs("l3 3-3 3-3-3z", f);
		}
	}
	if (any)
		fputs("\"/>\n", f);
}

static void put_bytes(char *buf, size_t len, uint64_t v)
{
	struct svg_unit u = svg_unit_bytes((double)v);
	char t[48];

	if (u.div == 1)
		snprintf(buf, len, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, len, "%s %s", svg_tick(t, sizeof(t), (double)v / u.div, 0.01), u.name);
}

static void endpoint(char *buf, size_t len, const struct ct_conn *k, int i)
{
	snprintf(buf, len, "%llu.%u", (unsigned long long)k->cid[i], k->port[i]);
}

/* One direction: frame, waits, limit, data, symbols, labels. */
static void draw_dir(FILE *f, const struct svg_frame *fr, const struct ct_conn *k,
		     const struct tl_conn *c, int d, uint64_t lim_above)
{
	const struct ct_side *s = &k->s[d];
	char a[48], b[48], by[32], t[256];

	fprintf(f, "<g class=\"dir\" data-dir=\"%s\" data-stalls=\"%u\" data-full=\"%u\" "
		"data-waits=\"%u\">\n", dir_attr[d], s->stalls, s->full, s->waits);
	draw_waits(f, fr, c, d);
	svg_frame(f, fr);
	draw_limit(f, fr, c, d);
	draw_data(f, fr, c, d);
	draw_symbols(f, fr, c, d, MK_CU);
	draw_symbols(f, fr, c, d, MK_CR);
	draw_symbols(f, fr, c, d, MK_EOM);
	endpoint(a, sizeof(a), k, d);
	endpoint(b, sizeof(b), k, 1 - d);
	put_bytes(by, sizeof(by), s->bytes);
	snprintf(t, sizeof(t), "%s%s%s: %s in %llu record%s; STALLS %u, FULL %u, %u wait%s for credit",
		 d == 0 ? "A" : "B", ARROW, d == 0 ? "B" : "A", by, (unsigned long long)s->pkts,
		 s->pkts == 1 ? "" : "s", s->stalls, s->full, s->waits, s->waits == 1 ? "" : "s");
	svg_text(f, fr->x, fr->y - 5, 11, dir_colour[d], NULL, t);
	snprintf(t, sizeof(t), "%s%s%s", a, ARROW, b);
	svg_text(f, fr->x + fr->w, fr->y - 5, 11, dir_colour[d], "end", t);
	if (lim_above > 0) {
		put_bytes(by, sizeof(by), lim_above);
		snprintf(t, sizeof(t), "credit limit up to %s: above the scale", by);
		svg_text(f, fr->x + fr->w - 4, fr->y + fr->h - 5, 10, SVG_GREEN, "end", t);
	}
	fputs("<text transform=\"rotate(-90)\" x=\"", f);
	svg_num(f, -(fr->y + fr->h / 2));
	fputs("\" y=\"14\" font-size=\"11\" fill=\"#444444\" text-anchor=\"middle\">stream offset</text>\n", f);
	fputs("</g>\n", f);
}

/* REQUEST, RESPONSE, SHUTDOWN and RST: lines across both graphs from TOP
 * to BOTTOM, labels staggered in up to four rows. */
static void draw_marks(FILE *f, const struct svg_frame *fr, const struct ct_conn *k,
		       const struct tl_conn *c, double top, double bottom)
{
	double row_end[4] = { -1e9, -1e9, -1e9, -1e9 };

	fputs("<g class=\"marks\">\n", f);
	for (uint32_t i = 0; i < c->nmark; i++) {
		const struct tl_mark *m = &c->mark[i];
		const char *col = m->op == WIRE_OP_RST ? SVG_RED :
				  m->op == WIRE_OP_SHUTDOWN ? PURPLE : "#555555";
		char nb[32], fl[64], lab[112];
		const char *name = wire_name_or(wire_ops, m->op, nb, sizeof(nb));
		double x = svg_fx(fr, (double)m->t), w;
		int r;

		if (m->op == WIRE_OP_SHUTDOWN)
			snprintf(lab, sizeof(lab), "%s %s %s", name, m->dir == 0 ? "A" : "B",
				 wire_flags_str(m->op, k->type, m->flags, fl, sizeof(fl)));
		else
			snprintf(lab, sizeof(lab), "%s %s", name, m->dir == 0 ? "A" : "B");
		fprintf(f, "<path class=\"mark\" data-op=\"%s\" stroke=\"%s\" stroke-dasharray=\"4 3\" d=\"M",
			name, col);
		pt(f, x, top);
		fputc('V', f);
		svg_num(f, bottom);
		fputs("\"/>\n", f);
		w = 6.0 * (double)strlen(lab) + 8;
		for (r = 0; r < 4 && row_end[r] > x; r++)
			;
		if (r == 4)
			continue; /* no room: the line stays unlabelled */
		/* Near the right edge the label goes left of its line. */
		if (x + w > fr->x + fr->w) {
			svg_text(f, x - 3, top + 12 + 12 * r, 10, col, "end", lab);
			row_end[r] = x + 4;
		} else {
			svg_text(f, x + 3, top + 12 + 12 * r, 10, col, NULL, lab);
			row_end[r] = x + w;
		}
	}
	fputs("</g>\n", f);
}

static void put_start(char *buf, size_t len, const struct timeval *tv)
{
	struct tm tm;
	time_t s = tv->tv_sec;

	if (gmtime_r(&s, &tm) == NULL || tm.tm_year > 9999 - 1900 || tm.tm_year < -1900)
		snprintf(buf, len, "%lld s after the epoch", (long long)tv->tv_sec);
	else
		snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d.%06ld UTC", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (long)tv->tv_usec % 1000000);
}

static void draw_conn(FILE *f, double y, const struct ct_conn *k, size_t idx, size_t n,
		      const struct tl_conn *c)
{
	struct svg_frame fr[2];
	char a[48], b[48], tb[32], st[64], t[512];
	const char *ty = wire_name_or(wire_types, k->type, tb, sizeof(tb));
	const char *end = k->end == CT_END_RST ? "ended by RST" :
			  k->end == CT_END_SHUTDOWN ? "ended by SHUTDOWN" : "open at the end of the capture";
	/* A little room after the last record, so it is not on the frame. */
	double tmax = c->end > 0 ? (double)c->end * 1.02 : 1;

	endpoint(a, sizeof(a), k, 0);
	endpoint(b, sizeof(b), k, 1);
	put_start(st, sizeof(st), &k->first);
	fprintf(f, "<g class=\"conn\" data-conn=\"%zu\" data-type=\"%s\">\n", idx + 1, ty);
	snprintf(t, sizeof(t), "connection %zu of %zu: %s \xe2\x87\x84 %s %s, %lld.%06lld s from %s, %s",
		 idx + 1, n, a, b, ty, (long long)(c->end / 1000000), (long long)(c->end % 1000000),
		 st, end);
	svg_text(f, LEFT, y + 16, 13, "#111111", NULL, t);
	if (k->seen_req)
		snprintf(t, sizeof(t), "A = %s (initiator), B = %s; credit from every header; "
			 "offsets from the REQUEST", a, b);
	else
		snprintf(t, sizeof(t), "A = %s (sent the first record seen), B = %s; the REQUEST was "
			 "not captured: offsets from the first record, credit unknown", a, b);
	if (c->marks_lost > 0) {
		size_t l = strlen(t);

		snprintf(t + l, sizeof(t) - l, "; %u more control records not marked", c->marks_lost);
	}
	svg_text(f, LEFT, y + 32, 11, "#444444", NULL, t);
	for (int d = 0; d < 2; d++) {
		uint64_t above;

		fr[d] = (struct svg_frame){
			.x = LEFT, .y = y + CTITLE + LBAND + d * (GH + GGAP + LBAND), .w = PW, .h = GH,
			.max = dir_max(c, d, &above), .tmax = tmax,
		};
		fr[d].yu = svg_unit_bytes(fr[d].max);
		fr[d].xu = svg_unit_time(tmax);
		draw_dir(f, &fr[d], k, c, d, above);
	}
	draw_marks(f, &fr[0], k, c, fr[0].y, fr[1].y + fr[1].h);
	snprintf(t, sizeof(t), "time since the connection's first record (%s)", fr[1].xu.name);
	svg_xaxis(f, &fr[1], t);
	fputs("</g>\n", f);
}

/* A small sample of each element and its meaning, in two rows. */
static void legend(FILE *f, double y)
{
	static const struct { const char *sym, *text; } row[2][6] = { {
		{ "<path d=\"M2 -6V6\" stroke=\"" SVG_BLUE "\" stroke-width=\"2\"/>"
		  "<path d=\"M8 -3V9\" stroke=\"" SVG_BLUE "\" stroke-width=\"2\"/>", "RW data A" ARROW "B" },
		{ "<path d=\"M2 -6V6\" stroke=\"" SVG_ORANGE "\" stroke-width=\"2\"/>"
		  "<path d=\"M8 -3V9\" stroke=\"" SVG_ORANGE "\" stroke-width=\"2\"/>", "RW data B" ARROW "A" },
		{ "<path d=\"M0 6H6V-2H14V-6H20\" fill=\"none\" stroke=\"" SVG_GREEN "\" stroke-width=\"1.5\"/>",
		  "credit limit (receiver's fwd_cnt + buf_alloc)" },
		{ "<rect x=\"0\" y=\"-7\" width=\"20\" height=\"14\" fill=\"" SVG_RED "\" fill-opacity=\"0.2\"/>",
		  "waiting for credit (STALLS, FULL)" },
		{ NULL, NULL }, { NULL, NULL },
	}, {
		{ "<path d=\"M10 -3l-3.5 6h7z\" fill=\"" SVG_GREEN "\"/>", "CREDIT_UPDATE" },
		{ "<path d=\"M7 0a3 3 0 1 0 6 0a3 3 0 1 0 -6 0\" fill=\"none\" stroke=\"" SVG_RED "\"/>",
		  "CREDIT_REQUEST" },
		{ "<path d=\"M10 -3l3 3-3 3-3-3z\" fill=\"#222222\"/>", "SEQPACKET message end" },
		{ "<path d=\"M10 -8V8\" stroke=\"#555555\" stroke-dasharray=\"4 3\"/>", "REQUEST, RESPONSE" },
		{ "<path d=\"M10 -8V8\" stroke=\"" PURPLE "\" stroke-dasharray=\"4 3\"/>", "SHUTDOWN (flags)" },
		{ "<path d=\"M10 -8V8\" stroke=\"" SVG_RED "\" stroke-dasharray=\"4 3\"/>", "RST" },
	} };

	fputs("<g class=\"legend\">\n", f);
	for (int r = 0; r < 2; r++) {
		double x = LEFT;

		for (int i = 0; i < 6 && row[r][i].sym != NULL; i++) {
			fputs("<g transform=\"translate(", f);
			svg_num(f, x);
			fputc(' ', f);
			svg_num(f, y + 20 * r);
			fprintf(f, ")\">%s</g>\n", row[r][i].sym);
			svg_text(f, x + 26, y + 20 * r + 4, 11, "#222222", NULL, row[r][i].text);
			x += 26 + 6.4 * (double)strlen(row[r][i].text) + 22;
		}
	}
	fputs("</g>\n", f);
}

int plot_svg(FILE *f, const struct conntrack *ct, const struct timeline *tl,
	     const struct plot_opts *o)
{
	size_t n = conntrack_count(ct), drawn = 0, lo = 0, hi = n;
	char t[512];
	double y;

	if (o->only >= 0) {
		if ((size_t)o->only >= n)
			return -ENOENT;
		lo = (size_t)o->only;
		hi = lo + 1;
	}
	for (size_t i = lo; i < hi; i++)
		drawn += timeline_get(tl, (uint32_t)i) != NULL;
	snprintf(t, sizeof(t), "vsk dump --plot: %s", o->source);
	svg_begin(f, W, HEAD + (int)drawn * PANEL + FOOT, t);
	svg_text(f, LEFT, 24, 16, "#111111", NULL, t);
	if (o->only >= 0)
		snprintf(t, sizeof(t), "connection %ld of %zu; x: time since its first record, "
			 "y: stream offset of each direction", o->only + 1, n);
	else
		snprintf(t, sizeof(t), "%zu connection%s; x: time since each one's first record, "
			 "y: stream offset of each direction", n, n == 1 ? "" : "s");
	svg_text(f, LEFT, 42, 11, "#444444", NULL, t);
	legend(f, 66);
	y = HEAD;
	for (size_t i = lo; i < hi; i++) {
		const struct tl_conn *c = timeline_get(tl, (uint32_t)i);

		if (c == NULL)
			continue;
		draw_conn(f, y, conntrack_get(ct, i), i, n, c);
		y += PANEL;
	}
	if (n == 0)
		snprintf(t, sizeof(t), "no connection in %s (no record with a virtio header "
			 "passed the filters)", o->source);
	else if (drawn < hi - lo)
		snprintf(t, sizeof(t), "connections %zu to %zu are not drawn (at most %u are): "
			 "--plot-conn N draws connection N", drawn + 1, n, TL_CONNS_MAX);
	else
		t[0] = '\0';
	if (t[0] != '\0')
		svg_text(f, LEFT, y + 16, 12, SVG_RED, NULL, t);
	svg_end(f);
	return ferror(f) ? -EIO : 0;
}
