/* device pend: guest -> host bytes the host socket did not take yet.
 * Stream: plain bytes.  SEQPACKET: messages framed as le32 length + bytes,
 * an unfinished one (no EOM yet) at the tail, so a message reaches the
 * host socket whole or not at all.  The guest's credit bounds what can be
 * here; LIMIT enforces it (a guest that overruns it is reset). */
#ifndef VSK_DEV_PEND_H
#define VSK_DEV_PEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct dev_pend {
	uint8_t *buf;
	uint32_t off, len, cap;
	bool seq_open;    /* unfinished message at the tail */
	uint32_t seq_hdr; /* its length field's offset in buf */
};

static inline bool pend_empty(const struct dev_pend *p)
{
	return p->len == 0;
}

/* Stream: append LEN bytes of IOV[N] from byte OFF.  0, -ENOBUFS (over
 * LIMIT bytes pending), -ENOMEM or -EFAULT (guest memory faulted). */
int pend_add(struct dev_pend *p, const struct iovec *iov, unsigned n, size_t off, uint32_t len,
	     uint32_t limit);
/* SEQPACKET: append one RW payload to the message at the tail (a new one
 * if none is open); EOM ends it.  Same returns. */
int pend_seq_add(struct dev_pend *p, const struct iovec *iov, unsigned n, uint32_t len, bool eom,
		 uint32_t limit);
/* Write what can be written to FD (non-blocking); SEQ: whole messages
 * only.  *SENT grows by the payload bytes handed on.  0, or -errno when
 * the host socket failed (EAGAIN is 0: try again on EPOLLOUT).  Drained,
 * the buffer is freed, so an idle connection costs no more than its
 * struct. */
int pend_flush(struct dev_pend *p, int fd, bool seq, uint32_t *sent);
/* SEQPACKET: the first whole message: 1 and *BUF[*LEN] (valid until the
 * next pend call), or 0 (none, or the head has no EOM yet). */
int pend_seq_head(const struct dev_pend *p, const uint8_t **buf, uint32_t *len);
/* Drop that first message (it was handed on). */
void pend_seq_pop(struct dev_pend *p);
void pend_release(struct dev_pend *p);

#endif
