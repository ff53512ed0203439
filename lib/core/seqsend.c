/* seqsend: whole SEQPACKET messages from a thread per socket (see
 * seqsend.h).  The loop and the thread share one mutex; the loop never
 * waits for it longer than the thread takes to copy a pointer. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "seqsend.h"

#define SEQSEND_STACK (64u * 1024u)

struct seqsend {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd, efd;
	/* under MU */
	void *buf;          /* the message being sent (the thread's) */
	size_t len;
	bool busy;          /* BUF handed over, not yet sent */
	bool done;          /* sent: RESULT waits for seqsend_done() */
	ssize_t result;
	bool quit;          /* the loop is done with S */
};

ssize_t seqsend_whole(int fd, const void *buf, size_t len)
{
	for (;;) {
		/* Blocking: the kernel waits for credit between packets. */
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n >= 0)
			return n == (ssize_t)len ? n : -EIO;
		if (errno != EINTR)
			return -errno;
	}
}

static void destroy(struct seqsend *s)
{
	close(s->fd);
	close(s->efd);
	free(s->buf);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void *run(void *arg)
{
	struct seqsend *s = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		ssize_t r;

		while (!s->busy && !s->quit)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->quit)
			break;
		pthread_mutex_unlock(&s->mu);
		r = seqsend_whole(s->fd, s->buf, s->len);
		pthread_mutex_lock(&s->mu);
		free(s->buf);
		s->buf = NULL;
		s->busy = false;
		s->done = true;
		s->result = r;
		if (s->quit)
			break;
		if (write(s->efd, &one, sizeof(one)) < 0) {
			/* An eventfd at its maximum is readable anyway. */
		}
	}
	pthread_mutex_unlock(&s->mu);
	destroy(s);
	return NULL;
}

int seqsend_new(struct seqsend **sp, int fd)
{
	struct seqsend *s = calloc(1, sizeof(*s));
	pthread_attr_t attr;
	pthread_t th;
	sigset_t all, old;
	int fl, rc;

	if (s == NULL)
		return -ENOMEM;
	s->fd = fd;
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0) {
		rc = -errno;
		free(s);
		return rc;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		rc = -errno;
		goto fail;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, SEQSEND_STACK);
	/* Signals stay with the process's own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&th, &attr, run, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc < 0) {
		fcntl(fd, F_SETFL, fl);
		goto fail;
	}
	*sp = s;
	return 0;
fail:
	close(s->efd);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return rc;
}

int seqsend_efd(const struct seqsend *s)
{
	return s->efd;
}

int seqsend_start(struct seqsend *s, const struct iovec *iov, unsigned n, size_t len)
{
	uint8_t *b = malloc(len ? len : 1), *p = b;
	size_t left = len;

	if (b == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < n && left > 0; i++) {
		size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;

		memcpy(p, iov[i].iov_base, k);
		p += k;
		left -= k;
	}
	pthread_mutex_lock(&s->mu);
	if (s->busy || s->done) {
		pthread_mutex_unlock(&s->mu);
		free(b);
		return -EBUSY;
	}
	s->buf = b;
	s->len = len;
	s->busy = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int seqsend_done(struct seqsend *s, ssize_t *result)
{
	uint64_t v;
	int rc = 0;

	if (read(s->efd, &v, sizeof(v)) < 0) {
		/* Not readable yet (EAGAIN): look anyway. */
	}
	pthread_mutex_lock(&s->mu);
	if (s->done) {
		s->done = false;
		*result = s->result;
		rc = 1;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

bool seqsend_busy(const struct seqsend *s)
{
	struct seqsend *m = (struct seqsend *)s;
	bool b;

	pthread_mutex_lock(&m->mu);
	b = m->busy || m->done;
	pthread_mutex_unlock(&m->mu);
	return b;
}

void seqsend_free(struct seqsend *s)
{
	pthread_mutex_lock(&s->mu);
	s->quit = true;
	/* A send waiting for credit wakes on the shutdown (EPIPE). */
	if (s->busy)
		shutdown(s->fd, SHUT_RDWR);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}
