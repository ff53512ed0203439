/* bench/device_datapath: the fake guest driver and the checked byte stream
 * (device_datapath_guest.c), shared with the runs (device_datapath.c). */
#ifndef VSK_BENCH_DEVICE_DATAPATH_H
#define VSK_BENCH_DEVICE_DATAPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtq.h"
#include "wire.h"

#define CID      4u
#define PORT     5000u
#define QNUM     256u               /* ring entries */
#define CHUNK    65536u             /* sequence number every CHUNK bytes */
#define NSLOT    16u                /* guest tx payload buffers (64 KiB) */
#define NCHAIN   (QNUM / 2)         /* tx chains: header + payload */
#define GBUF     (256u * 1024u)     /* the guest's buf_alloc, Linux's default */
#define HOSTBUF  (256u * 1024u)     /* memcpy baseline: a socket buffer */

#define MEM_RINGS  0x0ul            /* 3 rings, 0x4000 each */
#define MEM_HDRS   0x10000ul        /* 64 bytes per tx chain header */
#define MEM_SMALL  0x20000ul        /* 64 bytes per tx chain small payload */
#define MEM_INDIR  0x30000ul        /* per tx chain: an indirect table of
                                     * TX_PIECES + 1 descriptors */
#define TX_PIECES  16u              /* a 64 KiB payload in 4 KiB pages */
#define MEM_SLOTS  0x40000ul        /* NSLOT * 64 KiB tx payloads */
#define MEM_RX     (MEM_SLOTS + NSLOT * 65536ul) /* rx chains */

struct gq {
	struct vq q;
	uint64_t desc, avail, used;  /* offsets in guest memory (gpa = offset) */
	uint16_t avail_idx, used_seen;
};

struct guest {
	uint8_t *mem;
	size_t size;
	struct vu_mem vmem;
	struct gq q[3];
	uint16_t freec[NCHAIN];      /* free tx chains */
	unsigned nfree;
	bool big[NCHAIN];            /* chain carries a 64 KiB payload slot */
	unsigned big_out;            /* such chains not yet returned */
	uint32_t rx_buflen;          /* payload bytes per rx chain */
	unsigned rx_chains;
	/* The connection. */
	uint32_t sport;
	bool connected, reset, shut;
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint32_t fwd_cnt, fwd_adv;   /* what we consumed, what we told */
	uint64_t rx_bytes, rx_pkts;
	bool full, bad;
	double last_rx;
};

void dd_die(const char *what) __attribute__((noreturn));
double dd_now(void);

/* The stream: a 64 KiB pattern, with the chunk number (le64) over the
 * first 8 bytes of each 64 KiB. */
extern uint8_t dd_pat[CHUNK];
/* Expected bytes [o, o+len) of the stream. */
void dd_stream_gen(uint64_t o, uint8_t *dst, size_t len);
/* Received bytes at stream offset O right?  FULL compares every byte,
 * else only the sequence numbers. */
bool dd_stream_ok(uint64_t o, const uint8_t *p, size_t len, bool full);

/* Guest memory in a memfd, mapped shared; gpa = offset. */
int dd_guest_init(struct guest *g, size_t size);
uint8_t *dd_gptr(struct guest *g, uint64_t gpa);
/* Fresh rings (a new driver instance): RX_CHAINS rx buffers of BUFLEN. */
void dd_guest_rings(struct guest *g, unsigned rx_chains, uint32_t buflen);
/* Guest -> device packet on a free tx chain: header, payload at PGPA.
 * PIECES > 1: the payload in that many equal descriptors of an indirect
 * table, the way Linux posts a 64 KiB packet page by page. */
void dd_tx_post(struct guest *g, uint16_t op, uint32_t flags, uint64_t pgpa, uint32_t len, unsigned pieces);
/* The same with the header as given (any ports, op, credit; hp->len
 * payload bytes at PGPA). */
void dd_tx_post_hdr(struct guest *g, const struct wire_virtio *hp, uint64_t pgpa, unsigned pieces);
/* Take back the tx chains the device returned. */
void dd_tx_reap(struct guest *g);
/* Bytes the device lets the guest send. */
uint32_t dd_tx_credit(const struct guest *g);
/* Take used rx chains (credit, state, checked RW payloads), repost them;
 * returns how many. */
unsigned dd_rx_reap(struct guest *g);
/* The next used rx chain as it is: 1, its header and up to CAP payload
 * bytes in BUF (may be NULL); the chain is reposted.  0 if none. */
int dd_rx_next(struct guest *g, struct wire_virtio *h, uint8_t *buf, size_t cap);

#endif
