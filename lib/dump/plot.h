/* plot: time-sequence and credit graphs of vsock connections as SVG, for
 * `vsk dump --plot` (internal to libvsk).
 *
 * One panel per connection, two graphs in it (A -> B and B -> A, A being
 * the endpoint that sent the connection's first record): x is the time
 * since that record, y the stream offset of the direction.  Every RW is a
 * vertical segment from its first to its last byte; the receiver's credit
 * limit (its fwd_cnt + buf_alloc, from every header it sent) is a step
 * line above the data; waits for credit (conntrack.h: the same records
 * `--conns` counts as STALLS and FULL) are shaded; CREDIT_UPDATE,
 * CREDIT_REQUEST and SEQPACKET message ends are marked, and REQUEST,
 * RESPONSE, SHUTDOWN (with its flags) and RST are vertical lines.
 *
 * Elements carry classes for tools and tests: g.conn (data-conn: the row
 * of --conns, from 1), g.dir (data-dir "ab"/"ba", data-stalls, data-full,
 * data-waits), path.data, path.limit, rect.stall, path.credit-update,
 * path.credit-request, path.eom, g.marks > path.mark.
 *
 * Writes to the caller's FILE only.
 */
#ifndef VSK_PLOT_H
#define VSK_PLOT_H

#include <stdio.h>

#include "conntrack.h"
#include "timeline.h"

struct plot_opts {
	const char *source;      /* the capture file or interface, for the title */
	long only;               /* -1: every connection TL kept; else this index alone */
};

/* The plot of the connections of CT as kept by TL, to F.  0; -ENOENT when
 * ONLY is not a connection of CT; -EIO when writing F failed. */
int plot_svg(FILE *f, const struct conntrack *ct, const struct timeline *tl,
	     const struct plot_opts *o);

#endif /* VSK_PLOT_H */
