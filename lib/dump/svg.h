/* svg: the small pieces libvsk's SVG pictures are made of (internal).
 *
 * Everything is written to a caller-supplied FILE (never stdout by
 * itself); numbers are formatted here, not with printf's %f, so a caller's
 * locale cannot put a decimal comma into the XML.  Errors are the FILE's:
 * the caller checks ferror()/fclose().
 */
#ifndef VSK_SVG_H
#define VSK_SVG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Colours used across the pictures (Tableau 10). */
#define SVG_BLUE   "#1f77b4"
#define SVG_ORANGE "#ff7f0e"
#define SVG_GREEN  "#2ca02c"
#define SVG_RED    "#d62728"
#define SVG_GREY   "#7f7f7f"

/* <?xml ...?> and the <svg> element W x H with a white background and
 * TITLE (escaped) as its <title>; svg_end() closes it. */
void svg_begin(FILE *f, int w, int h, const char *title);
void svg_end(FILE *f);

/* V with one decimal (or none when whole): "12", "-3.5". */
void svg_num(FILE *f, double v);
/* S with &, <, >, " and ' escaped, control characters dropped, bytes that
 * are not UTF-8 as '?'. */
void svg_esc(FILE *f, const char *s);
/* <text x y [anchor]>S</text> at font SIZE, FILL colour, escaped;
 * ANCHOR "start", "middle" or "end" (NULL: start). */
void svg_text(FILE *f, double x, double y, int size, const char *fill, const char *anchor,
	      const char *s);

/* A unit for the axis of values up to MAX: bytes (B, KiB, MiB, GiB, TiB:
 * the largest that MAX is at least two of) or microseconds (µs, ms, s). */
struct svg_unit {
	double div;
	const char *name;
};
struct svg_unit svg_unit_bytes(double max);
struct svg_unit svg_unit_time(double max_us);

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about N
 * ticks over 0..MAX (MAX > 0). */
double svg_step(double max, int n);
/* Tick value V (a multiple of STEP) as short text: "0", "0.25", "40". */
const char *svg_tick(char *buf, size_t len, double v, double step);

/* A plot frame: the area X..X+W, Y..Y+H holds values 0..MAX on the y axis
 * (in UNIT, labelled on the left, grid lines across) and 0..TMAX on the
 * x axis.  svg_frame() draws the frame, the y grid and labels;
 * svg_xaxis() the time ticks below it, labelled when LABEL is set. */
struct svg_frame {
	double x, y, w, h;
	double max, tmax;        /* > 0 */
	struct svg_unit yu, xu;
};
void svg_frame(FILE *f, const struct svg_frame *fr);
void svg_xaxis(FILE *f, const struct svg_frame *fr, const char *label);
/* Coordinates of value V and time T in FR, clamped to the frame. */
double svg_fy(const struct svg_frame *fr, double v);
double svg_fx(const struct svg_frame *fr, double t);

#endif /* VSK_SVG_H */
