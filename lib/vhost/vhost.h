/* vhost-user back end (QEMU docs/interop/vhost-user.rst), enough for
 * QEMU's -device vhost-user-vsock-pci: feature negotiation, memory table
 * (SET_MEM_TABLE, ADD/REM_MEM_REG), vring setup, GET_CONFIG, reset.
 *
 * Internal to libvsk (prefix vu_).  The device layer (lib/device.c) owns the
 * event loop:
 *
 *   struct vu_dev d;
 *   vu_init(&d, conn_fd, 3, &my_ops, my_vm);   // after accept() on the socket
 *   d.features &= ~(1ull << VU_F_VSOCK_SEQPACKET);   // optional, before dispatch
 *   d.max_queue_size = ...; d.max_mem = ...;          // optional limits
 *   le64 guest CID into d.config, d.config_len = 8;
 *   poll d.sock for vu_want_write(&d) ? POLLOUT : POLLIN; when it fires:
 *       while ((rc = vu_dispatch(&d)) == 0) ;        // bounded if you like
 *       rc != -EAGAIN: log d.errmsg, vu_close(&d)
 *   timer: vu_deadline(&d) (0 = none); past it, vu_expired(&d, now) < 0:
 *       log d.errmsg, vu_close(&d)
 *   ops.queue_started(d, i): add d->vq[i].kick_fd to the poll set and look
 *       at the ring once (kicks sent before the start may have been consumed)
 *   ops.queue_stopped(d, i): remove it (called while the fd is still open)
 *   kick fd readable -> vq_kick_drain(q), then vq_pop/vq_push/vq_notify
 *
 * Never blocks: a message is read as it arrives, over as many calls as it
 * takes (vu_dispatch returns -EAGAIN meanwhile), and must be complete
 * within msg_timeout_ms of its first byte; a reply the socket cannot take
 * waits in d (one at most: no further message is read until it is gone)
 * and must be taken within msg_timeout_ms too.  So a slow or flooding
 * front end costs the loop nothing and is dropped at its deadline.
 *
 * Callbacks run inside vu_dispatch()/vu_close().  Nothing here prints:
 * protocol problems are described in d->errmsg and passed to ops->log.
 * A message that breaks framing (EOF, short header, size over the maximum,
 * wrong version, deadline passed) makes vu_dispatch() return -errno and
 * the caller must vu_close(); a bad request with good framing is answered
 * with a failure (REPLY_ACK) or ignored, and vu_dispatch() returns 0 --
 * except a request whose reply the front end waits on (GET_*) that cannot
 * be answered: that drops the connection, as the spec allows, rather than
 * leaving the front end waiting.
 *
 * Guest memory (guestmem.h): memfd, tmpfs or hugetlbfs files only, sizes
 * checked against the file, no overlap, at most max_mem bytes and
 * max_regions regions per VM and the process limits; every ring is
 * re-translated, or stopped, on every change of the table, before the old
 * mappings go.  vu_init installs the fault guard (vu_guard_install).
 *
 * Seen with QEMU 7.2 and a Linux 6.1 guest: ADD_MEM_REG (not SET_MEM_TABLE)
 * once CONFIGURE_MEM_SLOTS is offered; per ring NUM, BASE, ADDR, KICK, then
 * ENABLE 1 (queue_started); on guest driver reset or QEMU exit ENABLE 0
 * (queue_stopped) then GET_VRING_BASE; only rings 0 and 1 are ever set up.
 * A started ring resumes at the used idx in ring memory (in-order device).
 */
#ifndef VSK_VHOST_H
#define VSK_VHOST_H

#include <stdbool.h>
#include <stdint.h>
#include "virtq.h"

#define VU_MAX_QUEUES  3   /* vsock: rx 0, tx 1, event 2 (QEMU handles the
                            * event queue itself and sets up only 0 and 1) */
#define VU_CONFIG_MAX  256 /* device config space bytes */
#define VU_MAX_PAYLOAD 4096 /* larger message sizes drop the connection */
#define VU_MAX_FDS     8   /* fds accepted with one message */
#define VU_HDR_SIZE    12u /* request, flags, size: le32 each */
#define VU_MSG_TIMEOUT_MS 2000 /* default: a message, or the taking of its
                                * reply, must be over this long after it began */
#define VU_QUEUE_SIZE_DEFAULT 1024 /* largest ring (vhost-device-vsock's
                                    * queue-size default) */
#define VU_MAX_MEM_DEFAULT (1ull << 40) /* bytes mapped per VM (1 TiB) */

/* Virtio feature bits offered by default (vu_init puts them in d->features). */
#define VU_F_VSOCK_SEQPACKET 1
#define VU_F_INDIRECT_DESC   28 /* = VQ_F_INDIRECT_DESC */
#define VU_F_EVENT_IDX       29 /* = VQ_F_EVENT_IDX */
#define VU_F_PROTOCOL_FEATURES 30
#define VU_F_VERSION_1       32

/* Protocol feature bits offered. */
#define VU_PF_MQ             0 /* GET_QUEUE_NUM (fixed: nqueues) */
#define VU_PF_REPLY_ACK      3
#define VU_PF_CONFIG         9
#define VU_PF_RESET_DEVICE   13
#define VU_PF_CONFIGURE_MEM_SLOTS 15

struct vu_dev;

struct vu_ops {
	/* Queue QIDX became usable (started, enabled, rings mapped) or stops
	 * being usable (GET_VRING_BASE, disable, kick fd replaced, memory
	 * unmapped, ring no longer in the memory table, reset, close).
	 * Started/stopped calls strictly alternate per queue.  On a start the
	 * device looks at the ring as if kicked.  May be NULL. */
	void (*queue_started)(struct vu_dev *d, unsigned qidx);
	void (*queue_stopped)(struct vu_dev *d, unsigned qidx);
	/* Device reset (RESET_OWNER, RESET_DEVICE, vu_close): all queues
	 * have been stopped already; drop transport state.  May be NULL. */
	void (*reset)(struct vu_dev *d);
	/* SET_FEATURES accepted; d->acked_features is valid.  May be NULL. */
	void (*features_set)(struct vu_dev *d);
	/* One line about a rejected message or framing error.  May be NULL. */
	void (*log)(struct vu_dev *d, const char *msg);
};

/* Framing state (vhost_io.c): the message being read and the reply that
 * waits for room in the socket. */
struct vu_io {
	uint8_t in[VU_HDR_SIZE + VU_MAX_PAYLOAD];
	uint32_t in_got;           /* bytes of the current message so far */
	int in_fds[VU_MAX_FDS];    /* fds that came with them */
	unsigned in_nfds;
	bool in_truncated;         /* more fds came than fit (closed) */
	int64_t in_deadline;       /* ms (CLOCK_MONOTONIC); 0: none under way */
	uint8_t out[VU_HDR_SIZE + VU_MAX_PAYLOAD];
	uint32_t out_len, out_off; /* queued reply, bytes sent of it */
	uint32_t out_request;
	int64_t out_deadline;
};

struct vu_dev {
	int sock;                  /* the connection from QEMU, -1 when closed */
	unsigned nqueues;          /* queues accepted (index < nqueues) */
	const struct vu_ops *ops;
	void *opaque;              /* the device layer's pointer */

	uint64_t features;         /* offered (GET_FEATURES); editable before
	                            * the first dispatch */
	uint64_t protocol_features; /* offered (GET_PROTOCOL_FEATURES) */
	uint64_t acked_features;   /* SET_FEATURES */
	uint64_t acked_protocol_features;
	bool owner;                /* SET_OWNER seen */

	uint8_t config[VU_CONFIG_MAX]; /* virtio config space; the device
	                                * writes it (vsock: le64 guest_cid) */
	uint32_t config_len;

	/* Limits, defaults from vu_init; the device may change them before
	 * the first dispatch. */
	uint32_t max_queue_size;   /* largest SET_VRING_NUM (<= VQ_MAX_NUM) */
	uint64_t max_mem;          /* bytes mapped for this VM */
	unsigned max_regions;      /* regions (<= VU_MEM_MAX_REGIONS); what
	                            * GET_MAX_MEM_SLOTS answers */
	unsigned msg_timeout_ms;   /* VU_MSG_TIMEOUT_MS */

	struct vu_mem mem;
	struct vq vq[VU_MAX_QUEUES];
	struct vu_io io;

	char errmsg[160];          /* last problem, for logs ("" if none) */
	uint64_t nmsgs, nerrors;   /* messages handled, rejected */
};

/* Take over connected socket SOCK (made non-blocking here; closed by
 * vu_close).  NQUEUES <= VU_MAX_QUEUES.  Installs the guest memory fault
 * guard (vu_guard_install; again if someone replaced it).  0 or -errno. */
int vu_init(struct vu_dev *d, int sock, unsigned nqueues, const struct vu_ops *ops, void *opaque);
/* Send what waits, then read and handle at most one message (call when
 * d->sock polls readable or, with vu_want_write, writable).
 * 0 = a message was handled (maybe rejected: d->errmsg), call again;
 * -EAGAIN = nothing more for now (part of a message read, or the reply
 * still waits); other -errno = connection unusable, call vu_close(). */
int vu_dispatch(struct vu_dev *d);
/* A reply waits for room in the socket: poll for POLLOUT (and not POLLIN:
 * nothing is read until it is sent). */
bool vu_want_write(const struct vu_dev *d);
/* Send the waiting reply: 0 sent (or none), -EAGAIN not yet, -errno. */
int vu_flush(struct vu_dev *d);
/* When the message under way, or the waiting reply, times out: ms on
 * CLOCK_MONOTONIC, 0 if nothing is under way. */
int64_t vu_deadline(const struct vu_dev *d);
/* -ETIMEDOUT (d->errmsg set, logged) if NOW_MS (CLOCK_MONOTONIC) is past
 * vu_deadline: call vu_close().  Else 0. */
int vu_expired(struct vu_dev *d, int64_t now_ms);
/* Stop every queue (callbacks), reset, unmap memory, close every fd
 * including d->sock.  Safe to call twice. */
void vu_close(struct vu_dev *d);
/* True when virtio feature BIT was acked by the front end. */
bool vu_has_feature(const struct vu_dev *d, unsigned bit);
/* Name of a request code ("SET_MEM_TABLE", "unknown (99)"); BUF is used
 * for unknown codes. */
const char *vu_request_name(uint32_t req, char *buf, size_t len);

#endif
