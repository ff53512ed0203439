/* Split virtqueues (virtio 1.x, 2.7) over guest memory shared by a
 * vhost-user front end (QEMU), and the guest memory table itself.
 *
 * Internal to libvsk (prefixes vu_mem / vq_).  Everything the guest or the
 * front end wrote is untrusted: every guest address goes through the
 * memory table and is bounds-checked; a malformed chain is an error return,
 * never a read or write outside the mapped regions.
 *
 * Threading: a struct vq is used by one thread at a time.
 *
 * Device loop on a kick (or when it has data for the rx queue):
 *   vq_kick_drain(q);
 *   do { while (vq_pop(q, &e) == 1) { use e; vq_push(q, &e, written); } }
 *   while (vq_enable_notify(q));   // only if vq_disable_notify was used
 *   vq_notify(q);                  // once per batch
 * vq_pop() returning 0 is safe to sleep on: with EVENT_IDX it re-arms the
 * guest's kick and re-checks behind a full fence.
 *
 * Lifetime rule for the device layer: the iovecs of a popped element point
 * into the current memory mapping, which vu_dispatch() may replace (memory
 * hot-plug, SET_MEM_TABLE, reset).  Push (or vq_unpop) every popped element
 * before the next vu_dispatch() call.
 *
 * Faults (guestmem.h): every function here that reads or writes guest
 * memory does so inside the fault guard.  If the memory faults (the front
 * end truncated its file, no huge page for a punched hole), the call ends
 * early: vq_pop/vq_notify return -EFAULT, the others return what they do
 * on an unusable ring, the queue is marked broken (vq_pop: -EIO from then
 * on) and so is every queue on the same table, until the table changes
 * or the ring is set up again.  Only that VM is affected.  The device's
 * own kernel calls on element iovecs (sendmsg, recvmsg) get EFAULT instead
 * of a signal; treat that like a broken queue too.  Guest memory touched
 * anywhere else (a memcpy in the device layer) is not guarded: copy with
 * vq_iov_to_buf / vq_buf_to_iov.
 */
#ifndef VSK_VIRTQ_H
#define VSK_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guestmem.h"

/* --------------------------------------------------------- virtqueue */

#define VQ_MAX_NUM 32768u /* largest ring (a power of two) */
#define VQ_MAX_IOV 64     /* segments per direction in one element */

/* Feature bits the ring code honours (virtio spec numbering). */
#define VQ_F_INDIRECT_DESC 28
#define VQ_F_EVENT_IDX     29

struct vq {
	/* Ring layout, set by the vhost-user layer (SET_VRING_NUM / ADDR). */
	uint32_t num;            /* ring size, power of two, 0 = unset */
	uint64_t desc_qva, avail_qva, used_qva; /* as the front end gave them */
	uint8_t *desc;           /* num * 16 bytes, NULL until mapped */
	uint8_t *avail;          /* 6 + 2 * num bytes */
	uint8_t *used;           /* 6 + 8 * num bytes */
	const struct vu_mem *mem;
	bool addr_set;           /* SET_VRING_ADDR seen: the qvas above are
	                          * valid (any value, 0 included) */

	/* Negotiated ring features. */
	bool event_idx;
	bool indirect;

	/* Device-side state. */
	uint16_t last_avail_idx; /* next avail entry to take */
	uint16_t used_idx;       /* next used entry to fill */
	uint16_t signalled_used; /* used_idx at the last interrupt */
	bool signalled_used_valid;
	bool notify_enabled;     /* guest kicks wanted (vq_enable_notify) */
	bool broken;             /* malformed chain or memory fault: stays -EIO */

	/* Eventfds from SET_VRING_KICK / CALL / ERR; -1 when absent. */
	int kick_fd;             /* guest -> device ("avail has new entries") */
	int call_fd;             /* device -> guest interrupt */
	int err_fd;

	/* vhost-user state. */
	bool started;            /* kick fd received, not stopped by GET_VRING_BASE */
	bool enabled;            /* SET_VRING_ENABLE (or no protocol features) */
	bool ready;              /* started && enabled && rings mapped: the
	                          * device may pop/push (queue_started fired) */
};

/* One descriptor chain taken from the avail ring.  out = device-readable
 * buffers (guest -> device), in = device-writable (device -> guest); all
 * out segments come before all in segments in the chain. */
struct vq_elem {
	uint16_t head;           /* chain head index, given back by vq_push */
	unsigned out_num, in_num;
	uint32_t out_len, in_len; /* byte totals of each direction */
	unsigned ndesc;          /* descriptors walked for it (the indirect
	                          * one and every table entry, zero-length
	                          * ones too): what it cost to pop */
	struct iovec out[VQ_MAX_IOV];
	struct iovec in[VQ_MAX_IOV];
};

/* Reset Q to the unset state (no fds are closed: the caller owns them). */
void vq_init(struct vq *q);
/* Translate desc/avail/used QVAs through MEM; 0 or -EFAULT (pointers
 * cleared).  Needs num set. */
int vq_map(struct vq *q, const struct vu_mem *mem);
/* A mapped ring (re)starts: the used idx in ring memory is the truth (the
 * back end is in order), so last_avail_idx = used_idx = used->idx.  0, or
 * -EFAULT if the ring memory faulted (queue broken). */
int vq_resume(struct vq *q);

/* Take the next available chain into *E.  1 = taken, 0 = ring empty,
 * -EFAULT = guest memory faulted (queue broken, see the top), -EIO = malformed (index out of range, loop, more than VQ_MAX_IOV
 * segments per direction, total length over 4 GiB, buffer outside guest
 * memory, nested or badly sized indirect table, readable after writable
 * descriptor, avail idx more than num ahead) -- the queue is then marked
 * broken and keeps returning -EIO until reset; -ENODEV if Q is not ready
 * to use (rings not mapped). */
int vq_pop(struct vq *q, struct vq_elem *e);
/* Give back the last popped element untouched (it will be popped again). */
void vq_unpop(struct vq *q);
/* Return E to the guest as used, WRITTEN bytes written into its in
 * buffers (clamped to in_len).  Publishes used idx with release order. */
void vq_push(struct vq *q, const struct vq_elem *e, uint32_t written);
/* Interrupt the guest (write the call eventfd) if anything was pushed
 * since the last interrupt and the guest asked for it (used_event with
 * EVENT_IDX, else !VRING_AVAIL_F_NO_INTERRUPT).  Push a batch, then call
 * this once.  Returns 1 if signalled, 0 if suppressed, -errno. */
int vq_notify(struct vq *q);
/* Ask the guest not to kick (while the device drains the ring). */
void vq_disable_notify(struct vq *q);
/* Ask for kicks again.  Returns 1 if buffers arrived meanwhile (the caller
 * must drain again: no kick will come for those), else 0 (also on a fault). */
int vq_enable_notify(struct vq *q);
/* Number of avail entries not yet popped (0 when not ready). */
unsigned vq_avail(const struct vq *q);
/* Read (clear) the kick eventfd; call when it polls readable.  0 or -errno
 * (-EAGAIN when nothing was pending). */
int vq_kick_drain(struct vq *q);

/* Copy helpers between a segment array (of a popped element: guest
 * memory) and a flat buffer, bounded by the segments' total: bytes copied.
 * 0 if guest memory faulted mid-copy (vq_iov_to_buf then zeroes all of
 * BUF[0..LEN), so no stale bytes of ours travel on); the table is marked
 * faulted and its queues break at their next use. */
size_t vq_iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t vq_buf_to_iov(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len);

#endif
