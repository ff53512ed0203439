/* device pend: the guest -> host staging buffer (see dev_pend.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dev_pend.h"
#include "virtq.h"
#include "wire.h"

/* Room for ADD more bytes at the end; at most LIMIT bytes pending. */
static int reserve(struct dev_pend *p, uint32_t add, uint32_t limit)
{
	uint64_t need = (uint64_t)p->len + add;
	uint32_t cap;
	uint8_t *b;

	if (need > limit)
		return -ENOBUFS;
	if ((uint64_t)p->off + need <= p->cap)
		return 0;
	if (p->off > 0) {
		memmove(p->buf, p->buf + p->off, p->len);
		if (p->seq_open)
			p->seq_hdr -= p->off;
		p->off = 0;
		if (need <= p->cap)
			return 0;
	}
	/* Small to start: thousands of connections each gathering a few bytes
	 * at once must not cost 16 KiB apiece; doubling serves bulk. */
	cap = p->cap ? p->cap : 1024;
	while (cap < need)
		cap *= 2;
	b = realloc(p->buf, cap);
	if (b == NULL)
		return -ENOMEM;
	p->buf = b;
	p->cap = cap;
	return 0;
}

int pend_add(struct dev_pend *p, const struct iovec *iov, unsigned n, size_t off, uint32_t len,
	     uint32_t limit)
{
	int rc = reserve(p, len, limit);

	if (rc < 0)
		return rc;
	/* Short: the guest's memory faulted under us (the VM's queues break
	 * next); its bytes must not travel on as zeros. */
	if (vq_iov_to_buf(iov, n, off, p->buf + p->off + p->len, len) != len)
		return -EFAULT;
	p->len += len;
	return 0;
}

int pend_seq_add(struct dev_pend *p, const struct iovec *iov, unsigned n, uint32_t len, bool eom,
		 uint32_t limit)
{
	uint8_t *lp;
	int rc;

	if (!p->seq_open) {
		rc = reserve(p, 4, limit);
		if (rc < 0)
			return rc;
		p->seq_hdr = p->off + p->len;
		wire_st32(p->buf + p->seq_hdr, 0);
		p->len += 4;
		p->seq_open = true;
	}
	rc = pend_add(p, iov, n, 0, len, limit);
	if (rc < 0)
		return rc;
	lp = p->buf + p->seq_hdr;
	wire_st32(lp, wire_le32(lp) + len);
	if (eom)
		p->seq_open = false;
	return 0;
}

int pend_flush(struct dev_pend *p, int fd, bool seq, uint32_t *sent)
{
	while (p->len > 0) {
		uint8_t *b = p->buf + p->off;
		uint32_t msg = p->len, take;
		ssize_t r;

		if (seq) {
			if (p->seq_open && p->seq_hdr == p->off)
				break; /* the head message has no EOM yet */
			msg = wire_le32(b);
			b += 4;
		}
		do
			r = send(fd, b, msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		if (seq) {
			take = msg + 4;
			*sent += msg;
		} else {
			take = (uint32_t)r;
			*sent += (uint32_t)r;
		}
		p->off += take;
		p->len -= take;
	}
	if (p->len == 0)
		pend_release(p);
	return 0;
}

int pend_seq_head(const struct dev_pend *p, const uint8_t **buf, uint32_t *len)
{
	if (p->len == 0 || (p->seq_open && p->seq_hdr == p->off))
		return 0;
	*len = wire_le32(p->buf + p->off);
	*buf = p->buf + p->off + 4;
	return 1;
}

void pend_seq_pop(struct dev_pend *p)
{
	uint32_t take = wire_le32(p->buf + p->off) + 4;

	p->off += take;
	p->len -= take;
	if (p->len == 0)
		pend_release(p);
}

void pend_release(struct dev_pend *p)
{
	free(p->buf);
	p->buf = NULL;
	p->cap = 0;
	p->off = 0;
	p->len = 0;
	p->seq_open = false;
}
