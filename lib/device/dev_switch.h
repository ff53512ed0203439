/* device switch: which VM a guest packet for another guest's CID goes to.
 * Guests that share a group reach each other through the device; nobody
 * else is reachable.  Each VM has a port here (its CID, its groups, its rx
 * queue, the inbox of the loop that serves it).  A packet for a VM on the
 * same loop is copied into its rx backlog at once; one for a VM on another
 * loop (worker threads) is handed off through that loop's inbox, a
 * lock-free queue the other loop drains in its own thread: the only path
 * between loops.  Ports are added before the loops start and never change
 * while they run. */
#ifndef VSK_DEV_SWITCH_H
#define VSK_DEV_SWITCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "wire.h"

#define DEV_INBOX_BYTES (16u * 1024u * 1024u) /* queued for one loop at most */

struct dev_rxq;
struct dev_msg;

/* One loop's inbox: packets other loops hand it. */
struct dev_inbox {
	_Atomic(struct dev_msg *) head;  /* pushed by any thread, newest first */
	atomic_size_t bytes;             /* payload bytes queued */
	int fd;                          /* eventfd: the loop polls it */
};

struct dev_port {
	uint32_t cid;
	const char *groups;   /* '+'-separated names; "" = "default" */
	struct dev_rxq *rxq;  /* used only by the thread of INBOX's loop */
	struct dev_inbox *inbox;
};

struct dev_switch {
	struct dev_port **ports;
	unsigned n, cap;
};

int switch_add(struct dev_switch *sw, struct dev_port *p);
void switch_del(struct dev_switch *sw, struct dev_port *p);
void switch_destroy(struct dev_switch *sw);
/* The port of CID, or NULL. */
struct dev_port *switch_find(const struct dev_switch *sw, uint64_t cid);
/* Do A and B share a group? */
bool switch_same_group(const struct dev_port *a, const struct dev_port *b);
/* The port FROM may send to at CID (another VM in one of its groups), or NULL. */
struct dev_port *switch_route(const struct dev_switch *sw, const struct dev_port *from, uint64_t cid);
/* Packet H (raw header HDR, payload IOV[N]) from FROM to TO.  0 = on TO's
 * ring or in its backlog, or on its way to TO's loop; -ENOTCONN = a
 * REQUEST that TO's driver cannot take (answer RST); -ENOBUFS = dropped
 * (a backlog or inbox full); -EFAULT = FROM's memory faulted (dropped). */
int switch_send(struct dev_port *from, struct dev_port *to, const uint8_t *hdr, const struct wire_virtio *h,
		const struct iovec *iov, unsigned n);

int switch_inbox_init(struct dev_inbox *in);
/* Deliver what other loops handed this one (call in its thread when
 * IN->fd polls readable). */
void switch_inbox_drain(struct dev_inbox *in);
/* Drop what is queued, close the eventfd. */
void switch_inbox_destroy(struct dev_inbox *in);

#endif
