/* device tx queue (see dev_txq.h). */
#include <errno.h>
#include <stdbool.h>

#include "dev_iov.h"
#include "dev_txq.h"

int txq_next(struct vq *q, struct vq_elem *e, struct dev_txpkt *p)
{
	int rc = vq_pop(q, e);

	if (rc <= 0)
		return rc == -EFAULT ? -EFAULT : rc < 0 ? -EIO : 0;
	if (e->out_len < WIRE_VIRTIO_HDR_LEN ||
	    vq_iov_to_buf(e->out, e->out_num, 0, p->hdr, sizeof(p->hdr)) != sizeof(p->hdr) ||
	    wire_virtio_decode(p->hdr, sizeof(p->hdr), &p->h) < 0 ||
	    p->h.len > e->out_len - WIRE_VIRTIO_HDR_LEN || p->h.len > DEV_MAX_TX_LEN)
		return txq_faulted(q) ? -EFAULT : -EBADMSG;
	p->n = dev_iov_slice(e->out, e->out_num, WIRE_VIRTIO_HDR_LEN, p->h.len, p->iov, VQ_MAX_IOV);
	return 1;
}

bool txq_faulted(const struct vq *q)
{
	return q->mem != NULL && q->mem->faulted;
}
