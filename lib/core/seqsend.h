/* seqsend: SEQPACKET messages sent whole, for event loops, on sockets
 * whose non-blocking send can cut a message (internal to libvsk).
 *
 * AF_VSOCK's SOCK_SEQPACKET sends as far as the peer's credit goes: a
 * non-blocking send that runs out half way returns EAGAIN with the first
 * part on the wire and no end mark, and a retry would merge two messages
 * (net/vmw_vsock/af_vsock.c vsock_connectible_sendmsg() reports a count
 * only for a whole message; virtio_transport_send_pkt_info() sends up to
 * the credit).  Nothing tells a caller beforehand whether the message
 * fits: EPOLLOUT means one byte of credit.  A blocking send waits for
 * credit between packets and so keeps the message whole; it runs here on
 * a thread of its own per socket, so the loop never waits.
 *
 * The loop hands one message at a time (copied: the caller's buffer is
 * free at once) and learns that it went when seqsend_efd() is readable.
 * The socket is made blocking: read it with MSG_DONTWAIT.  Unix
 * SEQPACKET sockets need none of this (their sends are all or nothing). */
#ifndef VSK_SEQSEND_H
#define VSK_SEQSEND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct seqsend;

/* A sender for the connected socket FD, which is the sender's from now
 * on (seqsend_free() closes it).  0, or -errno (then FD is still the
 * caller's). */
int seqsend_new(struct seqsend **sp, int fd);
/* An eventfd that is readable when a send has finished. */
int seqsend_efd(const struct seqsend *s);
/* Send LEN bytes of IOV[N] as one message: copied, then sent by the
 * thread.  0, -EBUSY while the previous one is being sent, -ENOMEM. */
int seqsend_start(struct seqsend *s, const struct iovec *iov, unsigned n, size_t len);
/* Has the message gone?  1 and *RESULT (its length, or -errno of the
 * send: the socket failed) once it has, 0 while it is being sent or when
 * none was given.  Reads the eventfd. */
int seqsend_done(struct seqsend *s, ssize_t *result);
/* A message was handed over and seqsend_done() has not reported it yet
 * (seqsend_start() would say -EBUSY). */
bool seqsend_busy(const struct seqsend *s);
/* One blocking send of BUF as one whole message (what the thread does;
 * for callers with a sender thread of their own): LEN, or -errno (-EIO
 * if the kernel took less). */
ssize_t seqsend_whole(int fd, const void *buf, size_t len);
/* Done with S and its socket; take seqsend_efd() out of any poll set
 * first.  A send in progress is woken by a shutdown of the socket; the
 * thread then frees everything itself.  Never waits. */
void seqsend_free(struct seqsend *s);

#endif
