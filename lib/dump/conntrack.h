/* conntrack: the vsock connections of a capture and their credit state
 * (internal to libvsk).
 *
 * The one place that decides which connection a record belongs to, what
 * credit its sender had and whether it was stalled: the `vsk dump --conns`
 * table (print) and the plot's stall shading (timeline) both read it, so
 * they cannot disagree.
 *
 * Credit, as the kernel computes it: the credit of direction D (what
 * endpoint D may still send) is peer.buf_alloc - (D.tx_cnt - peer.fwd_cnt),
 * from the last header the peer sent; only known once the REQUEST was
 * captured (otherwise D's tx_cnt is not known).  When the peer's fwd_cnt
 * is ahead of what the capture saw D send, records were lost: D's tx_cnt
 * is taken up to it (the stream offsets stay those of the captured bytes).
 *
 * Stalls: a record of D is counted in STALLS when it is an RW sent with
 * zero credit or a CREDIT_REQUEST, in FULL when it is an RW that used up
 * the last credit.  Such a record starts a wait of D (if D is not already
 * waiting); the wait ends with the first later record of the peer after
 * which D has credit again (any record of the peer when credit is not
 * known).  Waits are what the plot shades.
 *
 * Nothing here prints or does I/O.
 */
#ifndef VSK_CONNTRACK_H
#define VSK_CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "wire.h"

#define CT_CONNS_MAX (1u << 22) /* bound memory on hostile captures */

enum ct_end { CT_END_OPEN, CT_END_SHUTDOWN, CT_END_RST };

/* What one endpoint sent. */
struct ct_side {
	uint64_t bytes;          /* payload bytes: the stream offset */
	uint64_t pkts;
	uint32_t tx_cnt;         /* payload bytes sent (u32 wrap, as the kernel) */
	uint32_t buf_alloc, fwd_cnt; /* its receive buffer, from its last header */
	bool credit_known;       /* it has sent a header */
	bool waiting;            /* in a wait for credit (see above) */
	uint32_t stalls;         /* RW with zero credit, or CREDIT_REQUEST */
	uint32_t full;           /* RW that used up the last credit */
	uint32_t waits;          /* waits begun */
};

struct ct_conn {
	uint64_t cid[2];         /* [0] = first seen sender (initiator if REQUEST) */
	uint32_t port[2];
	uint16_t type;
	bool seen_req;           /* saw the REQUEST: byte counters are exact */
	uint8_t end;             /* enum ct_end */
	struct timeval first, last;
	struct ct_side s[2];     /* s[i]: what endpoint i sent */
};

/* What one record did to its connection. */
struct ct_event {
	uint32_t conn;           /* index of the connection (0 = first seen) */
	uint8_t dir;             /* sender: 0 = endpoint A, 1 = B */
	uint32_t len;            /* RW payload bytes counted (never more than the record held) */
	uint64_t off;            /* sender's stream offset before this record */
	bool stall, full;        /* counted in STALLS / FULL */
	bool wait_begin;         /* direction DIR begins to wait for credit */
	bool wait_end;           /* direction 1 - DIR has credit again: its wait ends */
};

struct conntrack;

int conntrack_new(struct conntrack **ctp);
void conntrack_free(struct conntrack *ct);

/* Account record R (LEN bytes on the wire) captured at TS.  1 with *EV
 * filled; 0 when R carries no virtio header (it names no connection);
 * -ENOSPC when it would start connection CT_CONNS_MAX + 1; -ENOMEM.  A
 * REQUEST on a pair of endpoints already seen finished or requested
 * starts a new connection. */
int conntrack_add(struct conntrack *ct, const struct timeval *ts, uint32_t len,
		  const struct wire_rec *r, struct ct_event *ev);

/* Connections in order of first appearance; a pointer is valid until the
 * next conntrack_add(). */
size_t conntrack_count(const struct conntrack *ct);
const struct ct_conn *conntrack_get(const struct conntrack *ct, size_t i);

/* Credit of direction D of K into *CREDIT: false when it is not known. */
bool ct_credit(const struct ct_conn *k, int d, uint32_t *credit);
/* Its credit limit: the stream offset up to which D may send, the peer's
 * fwd_cnt + buf_alloc in D's offsets (below D's offset when D sent more
 * than its credit; 0 at least).  False when not known. */
bool ct_limit(const struct ct_conn *k, int d, uint64_t *limit);

/* "SHUTDOWN", "RST" or "open". */
const char *ct_end_name(uint8_t end);

#endif /* VSK_CONNTRACK_H */
