/* relay: the sender threads of vsock SEQPACKET destinations (model in
 * relay.h).
 *
 * Why threads: the kernel sends a SEQPACKET message to vsock as far as
 * the peer's credit goes, and a non-blocking send that runs out of credit
 * half way returns EAGAIN with the first part on the wire and no end
 * mark; the retry then merges two messages (af_vsock.c
 * vsock_connectible_sendmsg() returns the count only when the whole
 * message went, virtio_transport_send_pkt_info() sends up to the credit).
 * Nothing tells a caller beforehand whether the whole message fits: poll()
 * reports EPOLLOUT for any credit at all (notify_poll_out() with a target
 * of 1 byte), Linux 6.1 has no vsock ioctl, and 6.12's SIOCOUTQ counts
 * bytes not yet given to the transport, not the peer's room.  A blocking
 * send does keep the message whole (it waits for credit between packets),
 * so it runs here, off the loop thread: one thread per such socket, made
 * when its first message is ready, sending one message at a time.
 *
 * Hand-off: the loop gives the thread a message (the direction's buffer,
 * untouched until the send is done) under the sender's mutex; the thread
 * sends it, puts itself on the relay's done list and writes the relay's
 * eventfd; the loop then learns the pair from relay_seq_next() and queues
 * it, and the pair's next pump takes the result.  A pair that ends while its message is being sent leaves the
 * thread the buffer and the fd: shutdown() wakes the send, the thread
 * frees the buffer, closes the fd and itself.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay_int.h"
#include "seqsend.h"

enum seq_state { SEQ_IDLE, SEQ_BUSY, SEQ_DONE };

struct relay_seq {
	struct relay *r;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;
	/* under MU */
	enum seq_state state;
	char *buf, *base;           /* the message; the buffer it is in (to free as orphan) */
	size_t len;
	ssize_t result;             /* LEN, or -errno */
	bool quit;                  /* the loop is done with this sender */
	bool orphan;                /* ... and left it the buffer and the fd */
	/* under r->seq_mu */
	struct relay_seq *done_next;
	bool on_done;
	/* the loop's */
	struct relay_pair *p;
};

int relay_seq_init(struct relay *r)
{
	r->seq_efd = -1;
	r->seq_kind = REC_SEQ;
	return -pthread_mutex_init(&r->seq_mu, NULL);
}

static void seq_destroy(struct relay_seq *s)
{
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

static void *seq_main(void *arg)
{
	struct relay_seq *s = arg;
	struct relay *r = s->r;
	uint64_t one = 1;

	for (;;) {
		ssize_t n;
		bool orphan;

		pthread_mutex_lock(&s->mu);
		while (s->state != SEQ_BUSY && !s->quit)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->state != SEQ_BUSY) {
			pthread_mutex_unlock(&s->mu);
			return NULL; /* joined by relay_seq_release() */
		}
		pthread_mutex_unlock(&s->mu);
		n = seqsend_whole(s->fd, s->buf, s->len);
		pthread_mutex_lock(&s->mu);
		s->result = n;
		s->state = SEQ_DONE;
		orphan = s->orphan;
		pthread_mutex_unlock(&s->mu);
		if (orphan) {
			/* Detached; nothing of the relay is ours to touch now. */
			free(s->base);
			close(s->fd);
			seq_destroy(s);
			return NULL;
		}
		/* The loop may have taken this result already and handed over the
		 * next message before the last report was read: on the list once. */
		pthread_mutex_lock(&r->seq_mu);
		if (!s->on_done) {
			s->done_next = r->seq_done;
			r->seq_done = s;
			s->on_done = true;
		}
		pthread_mutex_unlock(&r->seq_mu);
		while (write(r->seq_efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
}

/* The relay's eventfd, in the epoll set, made with the first sender. */
static int seq_efd(struct relay *r)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &r->seq_kind };
	int fd;

	if (r->seq_efd >= 0)
		return 0;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	r->seq_efd = fd;
	return 0;
}

static int seq_start(struct relay_pair *p, struct relay_fd *f)
{
	struct relay_seq *s;
	pthread_attr_t attr;
	sigset_t all, old;
	int rc = seq_efd(p->r);

	if (rc < 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->r = p->r;
	s->p = p;
	s->fd = f->fd;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, RELAY_SEQ_STACK);
	/* Signals go to the caller's threads, never interrupt a send here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&s->th, &attr, seq_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc < 0) {
		seq_destroy(s);
		return rc;
	}
	f->seq = s;
	return 0;
}

ssize_t relay_seq_write(struct relay_pair *p, struct relay_fd *f, char *buf, size_t len)
{
	struct relay_seq *s;
	ssize_t n = -EAGAIN;
	int rc;

	if (f->seq == NULL && (rc = seq_start(p, f)) < 0)
		return rc;
	s = f->seq;
	pthread_mutex_lock(&s->mu);
	if (s->state == SEQ_DONE) {
		n = s->result;
		s->state = SEQ_IDLE;
		s->buf = NULL;
	} else if (s->state == SEQ_IDLE) {
		s->buf = buf;
		s->len = len;
		s->state = SEQ_BUSY;
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

struct relay_pair *relay_seq_next(struct relay *r)
{
	struct relay_seq *s;
	uint64_t n;

	if (r->seq_ready == NULL) {
		/* Take the whole list at once; the count in the eventfd goes too. */
		while (read(r->seq_efd, &n, sizeof(n)) < 0 && errno == EINTR)
			;
		pthread_mutex_lock(&r->seq_mu);
		r->seq_ready = r->seq_done;
		r->seq_done = NULL;
		for (s = r->seq_ready; s != NULL; s = s->done_next)
			s->on_done = false;
		pthread_mutex_unlock(&r->seq_mu);
		if (r->seq_ready == NULL)
			return NULL;
	}
	s = r->seq_ready;
	r->seq_ready = s->done_next;
	return s->p;
}

static void unlist(struct relay_seq **pp, struct relay_seq *s)
{
	while (*pp != NULL && *pp != s)
		pp = &(*pp)->done_next;
	if (*pp == s)
		*pp = s->done_next;
}

bool relay_seq_release(struct relay *r, struct relay_fd *f, char **buf)
{
	struct relay_seq *s = f->seq;
	pthread_t th;
	bool busy;

	if (s == NULL)
		return false;
	f->seq = NULL;
	th = s->th;
	pthread_mutex_lock(&s->mu);
	busy = s->state == SEQ_BUSY;
	s->quit = true;
	if (busy) {
		/* The thread owns the message and the fd from here on.  Wake a
		 * send waiting for credit that may never come; under the mutex,
		 * since once it is released the thread may close the fd. */
		s->orphan = true;
		s->base = *buf;
		*buf = NULL;
		shutdown(s->fd, SHUT_RDWR);
	}
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (busy) {
		/* S may be gone already: only the copied thread id is used. */
		pthread_detach(th);
		return true;
	}
	pthread_join(th, NULL);
	pthread_mutex_lock(&r->seq_mu);
	if (s->on_done)
		unlist(&r->seq_done, s);
	pthread_mutex_unlock(&r->seq_mu);
	/* Taken from the done list but not yet handed on to the loop. */
	unlist(&r->seq_ready, s);
	seq_destroy(s);
	return false;
}

void relay_seq_fini(struct relay *r)
{
	if (r->seq_efd >= 0)
		close(r->seq_efd);
	r->seq_efd = -1;
	pthread_mutex_destroy(&r->seq_mu);
}

void relay_test_seq_all(struct relay *r, bool on)
{
	r->seq_all = on;
}
