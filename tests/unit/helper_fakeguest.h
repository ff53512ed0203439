/* A tiny virtio-vsock guest driver for unit tests: guest memory in one
 * region, split rings for rx (0), tx (1) and event (2), filled and read the
 * way the Linux driver does, so the device layer can be driven without
 * QEMU.  Used by test_device.c. */
#ifndef VSK_HELPER_FAKEGUEST_H
#define VSK_HELPER_FAKEGUEST_H

#include <stddef.h>
#include <stdint.h>

#include "virtq.h"
#include "wire.h"

#define FG_NUM 256

struct fg_queue {
	struct vq q;               /* what the device uses */
	uint64_t desc, avail, used;/* ring addresses (gpa == qva here) */
	uint16_t avail_idx;        /* guest's next avail index */
	uint16_t used_seen;        /* used entries the guest consumed */
	uint16_t next_desc;        /* round-robin descriptor allocation */
	uint64_t buf_gpa[FG_NUM];  /* per chain head: the buffer(s) it owns */
	uint32_t buf_len[FG_NUM];
};

struct fg {
	uint8_t *mem;
	uint64_t base, size;       /* guest physical range */
	struct vu_mem vmem;
	struct fg_queue q[3];
	uint64_t heap, heap_start; /* bump allocator, wraps */
};

int fg_init(struct fg *g, size_t memsize);
void fg_free(struct fg *g);
/* A rebooted guest: memory zeroed, fresh rings (the memory block stays). */
int fg_reset(struct fg *g);
/* Shrink the guest's memory table to the first VISIBLE bytes; the rest of
 * the block stays allocated but lies outside guest memory (a canary zone
 * tests fill and check: the device must never touch it). */
void fg_shrink(struct fg *g, uint64_t visible);
/* Guest -> device: one packet (header + payload, two descriptors). */
void fg_tx(struct fg *g, const struct wire_virtio *h, const void *payload, size_t len);
/* Guest -> device: LEN raw bytes in one descriptor (malformed packets). */
void fg_tx_raw(struct fg *g, const void *bytes, size_t len);
/* Guest -> device: a chain whose buffer lies outside guest memory (what a
 * buggy or hostile driver may post; the ring layer must refuse it). */
void fg_tx_outside(struct fg *g);
/* Tx chains the device has returned so far (and consumes them). */
unsigned fg_tx_done(struct fg *g);
/* Post N rx chains: a 44-byte header buffer and a BUFLEN data buffer. */
void fg_rx_give(struct fg *g, unsigned n, uint32_t buflen);
/* Next used rx chain: 1 and the packet, 0 if none.  PAYLOAD gets at most
 * CAP bytes; *PLEN the header's len field. */
int fg_rx_take(struct fg *g, struct wire_virtio *h, void *payload, size_t cap, uint32_t *plen);
/* Event queue: post one 4-byte buffer; take a used one (1 and its id). */
void fg_ev_give(struct fg *g);
int fg_ev_take(struct fg *g, uint32_t *id);
/* Crafted rings (fuzz harness, isolation tests): write descriptor IDX of
 * queue QI as given (ADDR may lie anywhere, FLAGS any of NEXT 1, WRITE 2,
 * INDIRECT 4), and publish HEAD on its avail ring. */
void fg_desc_raw(struct fg *g, unsigned qi, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next);
void fg_avail_raw(struct fg *g, unsigned qi, uint16_t head);
/* Guest physical address of byte OFF of guest memory. */
uint64_t fg_gpa(const struct fg *g, uint64_t off);
/* Header helper. */
void fg_hdr(struct wire_virtio *h, uint64_t src_cid, uint32_t src_port, uint64_t dst_cid,
	    uint32_t dst_port, uint16_t type, uint16_t op, uint32_t len, uint32_t flags,
	    uint32_t buf_alloc, uint32_t fwd_cnt);

#endif
