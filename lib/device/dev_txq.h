/* device tx queue: the next packet a guest sent, validated. */
#ifndef VSK_DEV_TXQ_H
#define VSK_DEV_TXQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtq.h"
#include "wire.h"

#define DEV_MAX_TX_LEN (1024u * 1024u) /* larger RW payloads are malformed */

struct dev_txpkt {
	uint8_t hdr[WIRE_VIRTIO_HDR_LEN]; /* as on the ring (for the pcap tap) */
	struct wire_virtio h;
	struct iovec iov[VQ_MAX_IOV];     /* the h.len payload bytes */
	unsigned n;
};

/* Pop the next chain of Q into E and decode it into *P.
 * 1 = a packet, 0 = ring empty, -EIO = malformed chain (the queue is
 * broken), -EFAULT = guest memory faulted (the front end truncated or
 * unmapped it: the queue is broken), -EBADMSG = a well-formed chain that
 * holds no valid packet (push it back and count a drop). */
int txq_next(struct vq *q, struct vq_elem *e, struct dev_txpkt *p);
/* Q's guest memory faulted (an access under the guard failed). */
bool txq_faulted(const struct vq *q);

#endif
