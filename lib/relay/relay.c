/* relay: the one bidirectional pump (model in relay.h): the API, the
 * epoll loop and its dispatch.  Layers, each using only those below it:
 * relay.c -> relay_dial.c (dials) -> relay_pair.c (pairs) -> relay_dir.c
 * (one direction's data) -> relay_seq.c (vsock SEQPACKET senders), and
 * relay_timer.c under all of them.
 *
 * Every fd of a pair is in the epoll set once, edge-triggered, with a
 * pointer to its record; any event pumps both directions of its pair until
 * each is blocked (EAGAIN on its read or its write), has ended, or has used
 * its turn.  Because a direction only stops on EAGAIN or a full buffer,
 * the next edge (or the other fd's edge) always brings it back: nothing
 * waits on an edge that already happened.  A pair that used its turn goes
 * on the ready list and is pumped again after the next epoll_wait(0), so
 * fds that are always ready (regular files, which epoll refuses) cannot
 * starve the rest.
 *
 * Buffers are filled only when empty and drained completely before the
 * next read.  Between two stream sockets a direction moves its bytes with
 * splice() through a pipe of its own instead (socket -> pipe -> socket, no
 * copy into user space), with the same shape: fill the empty pipe, drain it
 * completely.  A source that cannot splice falls back to a buffer.  Both
 * the pipe and the buffer are made on first use, and an idle buffer is
 * freed, so an idle pair costs its records and nothing more.
 *
 * Besides pairs the epoll set holds watches (the caller's fds, e.g. a
 * listener), dials under way (relay_dial.c) and the eventfd of the vsock
 * SEQPACKET senders (relay_seq.c); epoll_wait() sleeps no longer than the
 * first timer (relay_timer.c) allows.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "relay_int.h"

int relay_new(struct relay **rp, relay_event_fn fn, void *ctx)
{
	struct relay *r = calloc(1, sizeof(*r));

	*rp = NULL;
	if (r == NULL)
		return -ENOMEM;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0) {
		int rc = -errno;
		free(r);
		return rc;
	}
	if (relay_seq_init(r) < 0) {
		close(r->epfd);
		free(r);
		return -ENOMEM;
	}
	r->fn = fn;
	r->ctx = ctx;
	*rp = r;
	return 0;
}

int relay_watch(struct relay *r, int fd, relay_watch_fn fn, void *ctx)
{
	return relay_watch_events(r, fd, EPOLLIN, fn, ctx);
}

int relay_watch_events(struct relay *r, int fd, uint32_t events, relay_watch_fn fn, void *ctx)
{
	struct relay_watch *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = events };

	if (w == NULL)
		return -ENOMEM;
	w->kind = REC_WATCH;
	w->fd = fd;
	w->fn = fn;
	w->ctx = ctx;
	ev.data.ptr = w;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int rc = -errno;
		free(w);
		return rc;
	}
	w->next = r->watches;
	r->watches = w;
	r->nwatch++;
	return 0;
}

int relay_unwatch(struct relay *r, int fd)
{
	for (struct relay_watch *w = r->watches; w != NULL; w = w->next)
		if (!w->dead && w->fd == fd) {
			epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
			/* Freed after the round: an event for it may be pending. */
			w->dead = true;
			r->nwatch--;
			return 0;
		}
	return -ENOENT;
}

/* Free what ended during the round, now that no event can point at it. */
static void reap(struct relay *r)
{
	struct relay_watch **wp = &r->watches;

	relay_pairs_reap(r);
	while (*wp != NULL) {
		struct relay_watch *w = *wp;
		if (w->dead) {
			*wp = w->next;
			free(w);
		} else {
			wp = &w->next;
		}
	}
	relay_dial_reap(r);
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

static void dispatch(struct relay *r, void *ptr, uint32_t events)
{
	enum rec_kind kind = *(enum rec_kind *)ptr;

	if (kind == REC_WATCH) {
		struct relay_watch *w = ptr;
		if (!w->dead)
			w->fn(w->ctx, w->fd);
	} else if (kind == REC_DIAL) {
		relay_dial_event(ptr, events);
	} else if (kind == REC_DIAL_CLIENT) {
		relay_dial_client_event((struct relay_dialing *)((char *)ptr -
			offsetof(struct relay_dialing, client_kind)), events);
	} else if (kind == REC_SEQ) {
		struct relay_pair *p;

		/* Senders done with a message: their pairs go on. */
		while ((p = relay_seq_next(r)) != NULL)
			if (!p->dead)
				relay_queue_pair(p);
	} else {
		struct relay_fd *f = ptr;
		if (!f->p->dead)
			relay_pair_pump(f->p, (int)(f - f->p->fds), events);
	}
}

int relay_run(struct relay *r, int timeout_ms)
{
	struct epoll_event ev[RELAY_MAX_EVENTS];
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r->stop = false;
	while (!r->stop && (r->npairs > 0 || r->nwatch > 0 || r->nheap > 0)) {
		int wait = -1, n, tw;

		if (timeout_ms >= 0) {
			long left = timeout_ms - elapsed_ms(&t0);
			if (left <= 0)
				return -ETIMEDOUT;
			wait = (int)left;
		}
		tw = relay_timer_wait(r);
		if (tw >= 0 && (wait < 0 || tw < wait))
			wait = tw;
		if (r->ready != NULL)
			wait = 0;
		n = epoll_wait(r->epfd, ev, RELAY_MAX_EVENTS, wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (int i = 0; i < n; i++)
			dispatch(r, ev[i].data.ptr, ev[i].events);
		relay_timer_run(r);
		relay_pairs_run_ready(r);
		reap(r);
	}
	return 0;
}

void relay_stop(struct relay *r)
{
	r->stop = true;
}

void relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	relay_dial_free_all(r);
	relay_pairs_close_all(r);
	for (struct relay_watch *w = r->watches; w != NULL; w = w->next)
		w->dead = true;
	reap(r);
	relay_timer_free_all(r);
	relay_seq_fini(r);
	close(r->epfd);
	free(r);
}

static void pump_done(void *ctx, enum relay_event ev, const struct relay_info *info)
{
	if (ev == RELAY_DONE)
		*(struct relay_info *)ctx = *info;
}

int relay_pump(const struct relay_end *a, const struct relay_end *b, struct relay_info *info)
{
	struct relay_info got;
	struct relay *r = NULL;
	int rc;

	memset(&got, 0, sizeof(got));
	rc = relay_new(&r, pump_done, &got);
	if (rc < 0) {
		relay_close_end(a, false);
		relay_close_end(b, false);
		goto out;
	}
	rc = relay_add(r, a, b, NULL);
	if (rc >= 0)
		rc = relay_run(r, -1);
	if (rc == 0 && got.err != 0)
		rc = -got.err;
out:
	relay_free(r);
	if (info != NULL)
		*info = got;
	return rc;
}
