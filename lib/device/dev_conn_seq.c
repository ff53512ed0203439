/* device connections whose host socket is AF_VSOCK SOCK_SEQPACKET: the
 * guest's messages go out through a seqsend thread, one whole message at
 * a time, because a non-blocking send there can cut one (lib/core/seqsend.h).
 * The messages wait in pend as for any SEQPACKET socket; the one being
 * sent counts toward the guest's credit until the sender says it went. */
#include <errno.h>
#include <sys/epoll.h>

#include "dev_conn_int.h"
#include "seqsend.h"

int conn_seq_attach(struct dev_conn *c)
{
	int rc = seqsend_new(&c->seq, c->ep.fd);

	if (rc < 0) {
		c->seq = NULL;
		return rc;
	}
	c->sep = (struct dev_ep){ .kind = EP_CONN_SEQ, .fd = seqsend_efd(c->seq), .vm = c->v->vm, .obj = c };
	return dev_ep_set(c->v->epfd, &c->sep, EPOLLIN);
}

int conn_seq_flush(struct dev_conn *c)
{
	const uint8_t *buf;
	uint32_t len;
	struct iovec iov;
	int rc;

	if (c->seq_inflight > 0 || pend_seq_head(&c->pend, &buf, &len) == 0)
		return 0;
	iov = (struct iovec){ .iov_base = (void *)buf, .iov_len = len };
	rc = seqsend_start(c->seq, &iov, 1, len);
	if (rc < 0)
		return rc == -EBUSY ? 0 : rc;
	pend_seq_pop(&c->pend);
	/* A zero-length message still counts as one in flight. */
	c->seq_inflight = len ? len : 1;
	return 0;
}

int conn_seq_result(struct dev_conn *c, ssize_t *sent)
{
	ssize_t r;

	if (seqsend_done(c->seq, &r) == 0)
		return 0;
	c->seq_inflight = 0;
	*sent = r;
	return 1;
}
