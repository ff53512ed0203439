/* svg: numbers, text, units, ticks and plot frames for SVG pictures. */
#include <stdint.h>
#include <string.h>

#include "svg.h"

void svg_begin(FILE *f, int w, int h, const char *title)
{
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Verdana, sans-serif\">\n<title>",
		w, h, w, h);
	svg_esc(f, title);
	fprintf(f, "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", w, h);
}

void svg_end(FILE *f)
{
	fputs("</svg>\n", f);
}

void svg_num(FILE *f, double v)
{
	long long t;

	/* Coordinates stay far inside this; NaN compares false and gives 0. */
	if (!(v > -1e12 && v < 1e12))
		v = v > 0 ? 1e12 : 0;
	t = (long long)(v * 10 + (v < 0 ? -0.5 : 0.5));
	if (t < 0) {
		fputc('-', f);
		t = -t;
	}
	if (t % 10 != 0)
		fprintf(f, "%lld.%lld", t / 10, t % 10);
	else
		fprintf(f, "%lld", t / 10);
}

/* Length of the valid UTF-8 sequence at S, or 0 (XML must be valid
 * UTF-8, and a file name need not be). */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;

	if (s[0] < 0x80)
		return 1;
	if (n == 0 || s[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong three- and four-byte forms, surrogates, beyond U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

void svg_esc(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t n = utf8_len(p);

		switch (*p) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			/* XML 1.0 has no place for control characters. */
			if (n == 0)
				fputc('?', f);
			else if (n > 1 || *p >= 0x20 || *p == '\t')
				fwrite(p, 1, n, f);
		}
		p += n ? n : 1;
	}
}

void svg_text(FILE *f, double x, double y, int size, const char *fill, const char *anchor,
	      const char *s)
{
	fputs("<text x=\"", f);
	svg_num(f, x);
	fputs("\" y=\"", f);
	svg_num(f, y);
	fprintf(f, "\" font-size=\"%d\" fill=\"%s\"", size, fill);
	if (anchor != NULL && strcmp(anchor, "start") != 0)
		fprintf(f, " text-anchor=\"%s\"", anchor);
	fputc('>', f);
	svg_esc(f, s);
	fputs("</text>\n", f);
}

struct svg_unit svg_unit_bytes(double max)
{
	static const char *const names[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	struct svg_unit u = { 1, names[0] };

	/* The largest unit that MAX is at least two of: 1.5 KiB is 1536 B. */
	for (size_t i = 1; i < sizeof(names) / sizeof(names[0]) && max >= u.div * 2048; i++) {
		u.div *= 1024;
		u.name = names[i];
	}
	return u;
}

struct svg_unit svg_unit_time(double max_us)
{
	if (max_us >= 2e6)
		return (struct svg_unit){ 1e6, "s" };
	if (max_us >= 2e3)
		return (struct svg_unit){ 1e3, "ms" };
	return (struct svg_unit){ 1, "\xc2\xb5s" }; /* U+00B5 */
}

double svg_step(double max, int n)
{
	double raw, mag = 1, norm;

	if (!(max > 0) || n < 1)
		return 1;
	raw = max / n;
	/* No libm: the power of ten by steps (raw is within 1e-12..1e15). */
	while (mag * 10 <= raw && mag < 1e15)
		mag *= 10;
	while (mag > raw && mag > 1e-12)
		mag /= 10;
	norm = raw / mag;
	return (norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10) * mag;
}

const char *svg_tick(char *buf, size_t len, double v, double step)
{
	int dec = step >= 1 ? 0 : step >= 0.1 ? 1 : step >= 0.01 ? 2 : 3;
	long long scale = dec == 0 ? 1 : dec == 1 ? 10 : dec == 2 ? 100 : 1000;
	long long t = (long long)(v * (double)scale + 0.5), ip = t / scale, fp = t % scale;

	if (dec == 0 || fp == 0) {
		snprintf(buf, len, "%lld", ip);
		return buf;
	}
	while (fp % 10 == 0) {
		fp /= 10;
		dec--;
	}
	snprintf(buf, len, "%lld.%0*lld", ip, dec, fp);
	return buf;
}

double svg_fy(const struct svg_frame *fr, double v)
{
	double y = fr->y + fr->h - v / fr->max * fr->h;

	return y < fr->y ? fr->y : y > fr->y + fr->h ? fr->y + fr->h : y;
}

double svg_fx(const struct svg_frame *fr, double t)
{
	double x = fr->x + t / fr->tmax * fr->w;

	return x < fr->x ? fr->x : x > fr->x + fr->w ? fr->x + fr->w : x;
}

void svg_frame(FILE *f, const struct svg_frame *fr)
{
	double m = fr->max / fr->yu.div, step = svg_step(m, 4);
	char t[48], lab[64];

	fputs("<rect x=\"", f);
	svg_num(f, fr->x);
	fputs("\" y=\"", f);
	svg_num(f, fr->y);
	fputs("\" width=\"", f);
	svg_num(f, fr->w);
	fputs("\" height=\"", f);
	svg_num(f, fr->h);
	fputs("\" fill=\"none\" stroke=\"#bbbbbb\"/>\n<g class=\"grid\" stroke=\"#eeeeee\">", f);
	for (int i = 1; i * step <= m * 1.0001 && i < 50; i++) {
		double y = svg_fy(fr, i * step * fr->yu.div);

		fputs("<path d=\"M", f);
		svg_num(f, fr->x);
		fputc(' ', f);
		svg_num(f, y);
		fputc('H', f);
		svg_num(f, fr->x + fr->w);
		fputs("\"/>", f);
	}
	fputs("</g>\n", f);
	for (int i = 0; i * step <= m * 1.0001 && i < 50; i++) {
		snprintf(lab, sizeof(lab), "%s %s", svg_tick(t, sizeof(t), i * step, step),
			 fr->yu.name);
		svg_text(f, fr->x - 4, svg_fy(fr, i * step * fr->yu.div) + 3.5, 10, "#444444",
			 "end", lab);
	}
}

void svg_xaxis(FILE *f, const struct svg_frame *fr, const char *label)
{
	double m = fr->tmax / fr->xu.div, step = svg_step(m, 8);
	char t[48];

	fputs("<g class=\"xticks\" stroke=\"#888888\">", f);
	for (int i = 0; i * step <= m * 1.0001 && i < 50; i++) {
		fputs("<path d=\"M", f);
		svg_num(f, svg_fx(fr, i * step * fr->xu.div));
		fputc(' ', f);
		svg_num(f, fr->y + fr->h);
		fputs("v4\"/>", f);
	}
	fputs("</g>\n", f);
	for (int i = 0; i * step <= m * 1.0001 && i < 50; i++)
		svg_text(f, svg_fx(fr, i * step * fr->xu.div), fr->y + fr->h + 15, 10, "#444444",
			 "middle", svg_tick(t, sizeof(t), i * step, step));
	if (label != NULL)
		svg_text(f, fr->x + fr->w / 2, fr->y + fr->h + 30, 11, "#222222", "middle", label);
}
