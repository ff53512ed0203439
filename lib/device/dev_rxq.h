/* device rx queue: everything the device writes into a guest's rx ring.
 *
 * Host bytes go straight from a socket into the guest's buffers (the
 * connection layer pops chains here, reads into them, pushes them back with
 * their header).  Packets that cannot go out at once (control packets while
 * the ring is empty, sibling traffic) wait in a bounded backlog, which is
 * always drained before new data so the order on the ring is the order of
 * events.  A malformed chain marks the queue broken (sticky until the VM
 * restarts it); the VM layer looks at `broken` and acts. */
#ifndef VSK_DEV_RXQ_H
#define VSK_DEV_RXQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtq.h"
#include "wire.h"

#define DEV_BACKLOG_BYTES (16u * 1024u * 1024u)
#define DEV_BACKLOG_PKTS  65536u

struct dev_pkt;
struct dev_stats;
struct dev_tap;
struct dev_log;

struct dev_rxq {
	struct vq *q;         /* the ring, NULL when there is none */
	bool ready;           /* started by the front end (or attached) */
	bool has_peer;        /* a front end is there: packets may wait */
	bool broken;          /* a malformed chain was seen */
	bool dirty;           /* pushed since the last notify */
	/* The ordered backlog. */
	struct dev_pkt *head, *tail;
	size_t bytes;
	unsigned count;
	/* Where counters, captures and log lines go. */
	uint32_t cid;
	struct dev_stats *st;
	struct dev_tap *tap;
	const struct dev_log *log;
	struct vq_elem *scratch; /* one element of the loop's scratch space */
};

/* Can packets go on the ring at all? */
static inline bool rxq_usable(const struct dev_rxq *r)
{
	return r->q != NULL && r->ready && !r->q->broken;
}

static inline bool rxq_backlogged(const struct dev_rxq *r)
{
	return r->head != NULL;
}

/* Pop one chain: 1, 0 = ring empty (or not usable), -EIO = malformed
 * (the queue is broken from now on). */
int rxq_pop(struct dev_rxq *r, struct vq_elem *e);
/* Give back the last N popped chains untouched, newest first. */
void rxq_unpop(struct dev_rxq *r, unsigned n);
/* A chain too small for a header is the guest's mistake: true if E can
 * carry a packet; otherwise it is given back empty and counted. */
bool rxq_take_usable(struct dev_rxq *r, struct vq_elem *e);
/* Write header HDR into E, record the packet, give E back as used with
 * PLEN payload bytes (already in E after the header). */
void rxq_push(struct dev_rxq *r, const struct vq_elem *e, const uint8_t *hdr, uint32_t plen);
/* A payload-less packet (RESPONSE, RST, SHUTDOWN, credit): on the ring
 * now, or in the backlog.  0, -ENOBUFS (backlog full: dropped). */
int rxq_send_ctl(struct dev_rxq *r, const struct wire_virtio *h);
/* The header of the RST that answers packet IN. */
void rxq_rst_hdr(const struct wire_virtio *in, struct wire_virtio *h);
/* Answer packet IN with RST (never an RST). */
void rxq_send_rst_for(struct dev_rxq *r, const struct wire_virtio *in);
/* A packet with LEN payload bytes from IOV[N] (sibling traffic): copied
 * into the backlog and delivered as buffers allow. */
int rxq_send_copy(struct dev_rxq *r, const uint8_t *hdr, const struct iovec *iov, unsigned n,
		  uint32_t len);
/* Deliver the backlog: true when it is empty. */
bool rxq_flush(struct dev_rxq *r);
void rxq_clear(struct dev_rxq *r);

#endif
