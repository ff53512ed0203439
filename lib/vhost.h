/* vhost-user back end (QEMU docs/interop/vhost-user.rst), enough for
 * QEMU's -device vhost-user-vsock-pci: feature negotiation, memory table
 * (SET_MEM_TABLE, ADD/REM_MEM_REG), vring setup, GET_CONFIG, reset.
 *
 * Internal to libvsk (prefix vu_).  The device layer (lib/device.c) owns the
 * event loop:
 *
 *   struct vu_dev d;
 *   vu_init(&d, conn_fd, 2, &my_ops, my_vm);   // after accept() on the socket
 *   d.features &= ~(1ull << VU_F_VSOCK_SEQPACKET);   // optional, before dispatch
 *   le64 guest CID into d.config, d.config_len = 8;
 *   poll d.sock readable -> if (vu_dispatch(&d) < 0) { log d.errmsg; vu_close(&d); }
 *   ops.queue_started(d, i): add d->vq[i].kick_fd to the poll set
 *   ops.queue_stopped(d, i): remove it (called while the fd is still open)
 *   kick fd readable -> vq_kick_drain(q), then vq_pop/vq_push/vq_notify
 *
 * Callbacks run inside vu_dispatch()/vu_close().  Nothing here prints:
 * protocol problems are described in d->errmsg and passed to ops->log.
 * A message that breaks framing (EOF, short header, size over the maximum,
 * wrong version, stalled peer) makes vu_dispatch() return -errno and the
 * caller must vu_close(); a bad request with good framing is answered with
 * a failure (REPLY_ACK) or ignored, and vu_dispatch() returns 0 -- except
 * a failed GET_* request, which the front end waits on: that drops.
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
#define VU_PAYLOAD_TIMEOUT_MS 2000 /* header arrived, payload stalls: drop */

/* Virtio feature bits offered by default (vu_init puts them in d->features). */
#define VU_F_VSOCK_SEQPACKET 1
#define VU_F_INDIRECT_DESC   28 /* = VQ_F_INDIRECT_DESC */
#define VU_F_EVENT_IDX       29 /* = VQ_F_EVENT_IDX */
#define VU_F_PROTOCOL_FEATURES 30
#define VU_F_VERSION_1       32

/* Protocol feature bits offered. */
#define VU_PF_REPLY_ACK      3
#define VU_PF_CONFIG         9
#define VU_PF_RESET_DEVICE   13
#define VU_PF_CONFIGURE_MEM_SLOTS 15

struct vu_dev;

struct vu_ops {
	/* Queue QIDX became usable (started, enabled, rings mapped) or stops
	 * being usable (GET_VRING_BASE, disable, kick fd replaced, memory
	 * unmapped, reset, close).  Started/stopped calls strictly alternate
	 * per queue.  May be NULL. */
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

	struct vu_mem mem;
	struct vq vq[VU_MAX_QUEUES];

	char errmsg[160];          /* last problem, for logs ("" if none) */
	uint64_t nmsgs, nerrors;   /* messages handled, rejected */
};

/* Take over connected socket SOCK (made non-blocking here; closed by
 * vu_close).  NQUEUES <= VU_MAX_QUEUES.  0 or -EINVAL. */
int vu_init(struct vu_dev *d, int sock, unsigned nqueues, const struct vu_ops *ops, void *opaque);
/* Read and handle one message (call when d->sock polls readable).
 * 0 = handled (maybe rejected: d->errmsg), -EAGAIN = nothing to read,
 * other -errno = connection unusable, call vu_close(). */
int vu_dispatch(struct vu_dev *d);
/* Stop every queue (callbacks), reset, unmap memory, close every fd
 * including d->sock.  Safe to call twice. */
void vu_close(struct vu_dev *d);
/* True when virtio feature BIT was acked by the front end. */
bool vu_has_feature(const struct vu_dev *d, unsigned bit);
/* Name of a request code ("SET_MEM_TABLE", "unknown (99)"); BUF is used
 * for unknown codes. */
const char *vu_request_name(uint32_t req, char *buf, size_t len);

/* Framing (lib/vhost_io.c), internal to this module.  Read exactly LEN
 * bytes from SOCK; SCM_RIGHTS fds that come along are appended to
 * FDS[*NFDS] (at most VU_MAX_FDS, extra ones closed and *TRUNCATED set).
 * FIRST: nothing of the message read yet, so no data means -EAGAIN rather
 * than a wait.  0, -ECONNRESET on EOF, -ETIMEDOUT on a stall, -errno. */
int vu_io_read(int sock, void *buf, size_t len, bool first, int *fds, unsigned *nfds, bool *truncated);
/* Write all of BUF (waits at most VU_PAYLOAD_TIMEOUT_MS per stall). */
int vu_io_write(int sock, const void *buf, size_t len);

#endif
