/* timeline: what happened to each connection over time, in bounded memory,
 * for the `vsk dump --plot` time-sequence graph (internal to libvsk).
 *
 * Per connection and direction, the time from the connection's first
 * record is cut into TL_BINS bins of a power-of-two width in microseconds;
 * when a record falls after the last bin, neighbouring bins are merged and
 * the width doubles, so a capture of any length costs the same memory and
 * the bins always cover between half and all of the connection's time (at
 * least one bin per pixel of a plot TL_BINS / 2 pixels wide).  A bin holds
 * the RW segments (lowest start, highest end offset), the credit limit
 * seen in it, the CREDIT_UPDATE, CREDIT_REQUEST and SEQPACKET message ends,
 * and whether the direction waited for credit (conntrack.h decides that).
 * REQUEST, RESPONSE, SHUTDOWN and RST are kept as exact marks.
 *
 * Nothing here prints or does I/O.
 */
#ifndef VSK_TIMELINE_H
#define VSK_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "conntrack.h"
#include "wire.h"

#define TL_BINS        1024
#define TL_MARKS       32       /* control marks kept per connection */
#define TL_CONNS_MAX   32       /* connections kept when all are asked for */

enum {
	TL_B_DATA  = 1,          /* lo/hi hold RW segments */
	TL_B_LIMIT = 2,          /* lim_* hold the credit limit */
	TL_B_WAIT  = 4,          /* the direction waited for credit in this bin */
};

/* One direction in one time bin.  Offsets are stream offsets of that
 * direction (payload bytes its sender sent before). */
struct tl_bin {
	uint64_t lo, hi;         /* RW segments: lowest start, highest end */
	uint64_t lim_first, lim_min, lim_max, lim_last; /* credit limit */
	uint64_t cr_off;         /* sender's offset at the last CREDIT_REQUEST */
	uint64_t eom_off;        /* end of the last SEQPACKET message (EOM) */
	uint32_t rw;             /* RW records */
	uint16_t cu;             /* CREDIT_UPDATEs giving this direction credit */
	uint16_t cr;             /* CREDIT_REQUESTs its sender sent */
	uint16_t eom;            /* message ends */
	uint8_t flags;           /* TL_B_* */
};

/* REQUEST, RESPONSE, SHUTDOWN or RST. */
struct tl_mark {
	int64_t t;               /* microseconds since the connection's first record */
	uint16_t op;             /* WIRE_OP_* */
	uint8_t dir;             /* sender */
	uint32_t flags;          /* as sent (SHUTDOWN: RCV, SEND) */
};

struct tl_conn {
	struct timeval first;    /* the connection's first record */
	int64_t end;             /* microseconds from FIRST to its last record */
	int64_t width;           /* microseconds per bin (a power of two) */
	struct tl_bin bin[2][TL_BINS]; /* [direction][bin] */
	struct tl_mark mark[TL_MARKS];
	uint32_t nmark, marks_lost;
	bool waiting[2];         /* a wait still open at the last record */
	int64_t wait_since[2];
};

struct tl_opts {
	long only;               /* keep only this connection (conntrack index); -1: the first max */
	uint32_t max;            /* with only == -1: connections kept (0: TL_CONNS_MAX) */
};

struct timeline;

int timeline_new(const struct tl_opts *o, struct timeline **tlp);
void timeline_free(struct timeline *tl);

/* Account record R captured at TS, which conntrack_add() described as EV;
 * K is its connection after it (conntrack_get(ct, ev->conn)).  0, or
 * -ENOMEM. */
int timeline_add(struct timeline *tl, const struct timeval *ts, const struct wire_rec *r,
		 const struct ct_event *ev, const struct ct_conn *k);

/* The timeline of connection CONN (conntrack index), or NULL when it is
 * not kept or had no record. */
const struct tl_conn *timeline_get(const struct timeline *tl, uint32_t conn);

/* Bin of time T (microseconds since the first record) in C. */
size_t tl_bin_of(const struct tl_conn *c, int64_t t);

#endif /* VSK_TIMELINE_H */
