/* relay: pairs (model in relay.h, loop in relay.c): adding one (learning
 * its fds, the epoll records), pumping it on events and from the ready
 * list, ending it (closing every fd at once, a reset on error), and
 * reporting to the caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay_int.h"

static void pair_close_fds(struct relay_pair *p, bool reset)
{
	static const struct linger rst = { 1, 0 };

	for (int i = 0; i < p->nfd; i++) {
		struct relay_fd *f = &p->fds[i];
		/* A reset must not look like a clean EOF to a TCP peer. */
		if (reset && f->sock && f->fd >= 0)
			setsockopt(f->fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
		relay_fd_close(p->r, f);
	}
}

static void pair_free(struct relay_pair *p)
{
	relay_dir_release(p->r, &p->dir[0]);
	relay_dir_release(p->r, &p->dir[1]);
	free(p);
}

static void unlink_pair(struct relay_pair **head, struct relay_pair *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		*head = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
}

static void push_pair(struct relay_pair **head, struct relay_pair *p)
{
	p->prev = NULL;
	p->next = *head;
	if (*head != NULL)
		(*head)->prev = p;
	*head = p;
}

void relay_queue_pair(struct relay_pair *p)
{
	if (p->queued || p->dead)
		return;
	p->queued = true;
	p->ready_next = p->r->ready;
	p->r->ready = p;
}

void relay_report(struct relay *r, enum relay_event ev, const struct relay_info *info)
{
	if (r->fn != NULL)
		r->fn(r->ctx, ev, info);
}

int relay_new_id(struct relay *r)
{
	int id = r->next_id;

	r->next_id = r->next_id == INT_MAX ? 0 : r->next_id + 1;
	return id;
}

static void fill_info(const struct relay_pair *p, struct relay_info *info)
{
	memset(info, 0, sizeof(*info));
	info->id = p->id;
	info->udata = p->udata;
	info->a_to_b = p->dir[0].bytes;
	info->b_to_a = p->dir[1].bytes;
	info->spliced = p->dir[0].spliced + p->dir[1].spliced;
}

static void pair_end(struct relay_pair *p, int err, const char *op, char side)
{
	struct relay *r = p->r;
	struct relay_info info;

	pair_close_fds(p, err != 0);
	/* Pipes and buffers go now, not at the end of the round. */
	relay_dir_release(r, &p->dir[0]);
	relay_dir_release(r, &p->dir[1]);
	unlink_pair(&r->pairs, p);
	push_pair(&r->dead, p);
	p->dead = true;
	r->npairs--;
	fill_info(p, &info);
	info.err = err;
	info.op = op;
	info.side = side;
	if (r->fn != NULL)
		r->fn(r->ctx, RELAY_DONE, &info);
}


/* Does an event EV on fd record FI concern direction D?  FI < 0: any. */
static bool dir_woken(const struct relay_dir *d, int fi, uint32_t ev)
{
	if (fi < 0 || (ev & (EPOLLERR | EPOLLHUP)))
		return true;
	return (d->src == fi && (ev & (EPOLLIN | EPOLLRDHUP))) || (d->dst == fi && (ev & EPOLLOUT));
}

/* Pump the directions the event concerns: one that waits on another fd
 * would only meet EAGAIN again (a wasted call per event, which is half
 * the cost of a small request/response). */
void relay_pair_pump(struct relay_pair *p, int fi, uint32_t ev)
{
	const char *op = NULL;
	char side = 0;
	int more = 0;

	for (int i = 0; i < 2; i++) {
		struct relay_dir *d = &p->dir[i];
		bool src_ev = fi >= 0 && d->src == fi && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR));
		bool clean = src_ev && !(ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
		int rc;

		/* A new edge on the source (or no event to tell): read again. */
		if (fi < 0 || src_ev)
			d->drained = false;
		rc = dir_woken(d, fi, ev) ? relay_dir_run(p, i, clean, &op, &side) : 0;
		if (rc < 0) {
			pair_end(p, -rc, op, side);
			return;
		}
		more |= rc;
	}
	if (p->dir[0].done && p->dir[1].done)
		pair_end(p, 0, NULL, 0);
	else if (more)
		relay_queue_pair(p);
}

static int fd_index(struct relay_pair *p, int fd, unsigned role)
{
	struct relay_fd *f;

	for (int i = 0; i < p->nfd; i++)
		if (p->fds[i].fd == fd) {
			p->fds[i].roles |= role;
			return i;
		}
	f = &p->fds[p->nfd];
	f->kind = REC_FD;
	f->p = p;
	f->fd = fd;
	f->oflags = -1;
	f->roles = role;
	return p->nfd++;
}

/* vsock SEQPACKET destination: blocking sends, by its sender thread
 * (relay_seq.c).  Reads stay non-blocking by MSG_DONTWAIT. */
static int seq_blocking_sends(struct relay_fd *f, int saved)
{
	if (saved & O_NONBLOCK) {
		if (fcntl(f->fd, F_SETFL, saved & ~O_NONBLOCK) < 0)
			return -errno;
		f->oflags = saved;
	}
	f->vsock_seq = true;
	return 0;
}

/* Learn what the fd is, make it non-blocking, put it in the epoll set. */
static int fd_setup(struct relay *r, struct relay_fd *f, const int *saved)
{
	struct epoll_event ev = { .data.ptr = f };
	struct stat st;
	int type = 0;
	socklen_t tl = sizeof(type);

	if (fstat(f->fd, &st) < 0)
		return -errno;
	f->sock = S_ISSOCK(st.st_mode);
	if (f->sock && getsockopt(f->fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0)
		f->seqpacket = type == SOCK_SEQPACKET;
	if (f->seqpacket && (f->roles & ROLE_WR)) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (r->seq_all ||
		    (getsockname(f->fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_VSOCK)) {
			int rc = seq_blocking_sends(f, *saved);
			if (rc < 0)
				return rc;
		}
	}
	/* Sockets get MSG_DONTWAIT per call; others need the flag, given back
	 * at close since it is shared with whoever else holds the file. */
	if (!f->sock && !S_ISREG(st.st_mode) && !(*saved & O_NONBLOCK)) {
		if (fcntl(f->fd, F_SETFL, *saved | O_NONBLOCK) < 0)
			return -errno;
		f->oflags = *saved;
	}
	ev.events = EPOLLET;
	if (f->roles & ROLE_RD)
		ev.events |= EPOLLIN | EPOLLRDHUP;
	if (f->roles & ROLE_WR)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, f->fd, &ev) < 0) {
		if (errno != EPERM)
			return -errno;
		return 0; /* regular file or the like: always ready, never polled */
	}
	f->polled = true;
	return 0;
}

static void close_ends(const struct relay_end *a, const struct relay_end *b)
{
	int fds[4] = { a->rd, a->wr, b->rd, b->wr };

	for (int i = 0; i < 4; i++) {
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen |= fds[j] == fds[i];
		if (fds[i] >= 0 && !seen)
			close(fds[i]);
	}
}

/* A direction exists when FROM has a read fd; then TO must take data. */
static bool ends_valid(const struct relay_end *a, const struct relay_end *b)
{
	if (a->rd < 0 && b->rd < 0)
		return false;
	if (a->rd >= 0 && b->wr < 0 && b->sink == NULL)
		return false;
	return b->rd < 0 || a->wr >= 0 || a->sink != NULL;
}

static void dir_setup(struct relay_pair *p, struct relay_dir *d, const struct relay_end *from,
		      const struct relay_end *to)
{
	d->src = from->rd >= 0 ? fd_index(p, from->rd, ROLE_RD) : -1;
	d->dst = to->wr >= 0 ? fd_index(p, to->wr, ROLE_WR) : -1;
	d->sink = to->wr < 0 ? to->sink : NULL;
	d->sink_ctx = to->sink_ctx;
	d->eof = d->src < 0; /* nothing to send: pass the EOF on at once */
}

/* splice() moves pages without O_NONBLOCK per call: the socket needs the
 * flag itself (given back at close like any other). */
static int sock_nonblock(struct relay_fd *f, int saved)
{
	if ((saved & O_NONBLOCK) || f->oflags >= 0)
		return 0;
	if (fcntl(f->fd, F_SETFL, saved | O_NONBLOCK) < 0)
		return -errno;
	f->oflags = saved;
	return 0;
}

/* Buffer size, and whether the direction splices. */
static int dir_prepare(struct relay_pair *p, struct relay_dir *d, const int *saved)
{
	struct relay_fd *s, *t;
	int rc;

	if (d->src < 0)
		return 0;
	s = &p->fds[d->src];
	/* Any SEQPACKET source is read a whole message at a time; each is then
	 * sent with one call, which keeps it one message on a SEQPACKET
	 * destination and is just bytes on a stream. */
	d->cap = s->seqpacket ? RELAY_BUF_MESSAGE : RELAY_BUF_STREAM;
	if (d->dst < 0)
		return 0;
	t = &p->fds[d->dst];
	/* Stream sockets only: a pipe has no message boundaries. */
	if (!s->sock || s->seqpacket || !t->sock || t->seqpacket)
		return 0;
	rc = sock_nonblock(s, saved[d->src]);
	if (rc == 0)
		rc = sock_nonblock(t, saved[d->dst]);
	d->splice = rc == 0;
	return rc;
}

int relay_pair_add(struct relay *r, const struct relay_end *a, const struct relay_end *b,
		   void *udata, int id)
{
	struct relay_pair *p = NULL;
	int saved[4];
	int rc = 0;

	if (!ends_valid(a, b)) {
		rc = -EINVAL;
		goto fail;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	p->r = r;
	p->udata = udata;
	for (int i = 0; i < 2; i++)
		p->dir[i].pipe[0] = p->dir[i].pipe[1] = -1;
	dir_setup(p, &p->dir[0], a, b);
	dir_setup(p, &p->dir[1], b, a);
	/* All flags first: 0 and 1 may share one file (a tty). */
	for (int i = 0; i < p->nfd && rc == 0; i++) {
		saved[i] = fcntl(p->fds[i].fd, F_GETFL);
		if (saved[i] < 0)
			rc = -errno;
	}
	for (int i = 0; i < p->nfd && rc == 0; i++)
		rc = fd_setup(r, &p->fds[i], &saved[i]);
	for (int i = 0; i < 2 && rc == 0; i++)
		rc = dir_prepare(p, &p->dir[i], saved);
	if (rc < 0)
		goto fail;
	p->id = id;
	push_pair(&r->pairs, p);
	r->npairs++;
	relay_queue_pair(p); /* a first pump: data may be waiting already */
	return p->id;

fail:
	/* The fds are ours either way: once in P, P's records close them. */
	if (p != NULL) {
		pair_close_fds(p, false);
		pair_free(p);
	} else {
		close_ends(a, b);
	}
	return rc;
}

int relay_add(struct relay *r, const struct relay_end *a, const struct relay_end *b, void *udata)
{
	struct relay_info info;
	int id = relay_pair_add(r, a, b, udata, r->next_id);

	if (id < 0)
		return id;
	relay_new_id(r);
	if (r->fn != NULL) {
		memset(&info, 0, sizeof(info));
		info.id = id;
		info.udata = udata;
		r->fn(r->ctx, RELAY_NEW, &info);
	}
	return id;
}

void relay_close_end(const struct relay_end *a, bool reset)
{
	static const struct linger rst = { 1, 0 };
	int fds[2] = { a->rd, a->wr };

	for (int i = 0; i < 2; i++) {
		struct stat st;

		if (fds[i] < 0 || (i == 1 && fds[1] == fds[0]))
			continue;
		/* Tell a TCP client it was refused, not served to the end. */
		if (reset && fstat(fds[i], &st) == 0 && S_ISSOCK(st.st_mode))
			setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
		close(fds[i]);
	}
}

void relay_sink_ready(struct relay *r)
{
	for (struct relay_pair *p = r->pairs; p != NULL; p = p->next)
		for (int i = 0; i < 2; i++)
			if (p->dir[i].sink_wait) {
				p->dir[i].sink_wait = false;
				relay_queue_pair(p);
			}
}

/* Free what ended during the round, now that no event can point at it. */
void relay_pairs_reap(struct relay *r)
{
	struct relay_pair **pp = &r->ready;

	while (*pp != NULL) {
		if ((*pp)->dead)
			*pp = (*pp)->ready_next;
		else
			pp = &(*pp)->ready_next;
	}
	while (r->dead != NULL) {
		struct relay_pair *p = r->dead;
		unlink_pair(&r->dead, p);
		pair_free(p);
	}
}

/* Pump every pair on the ready list (those queued meanwhile wait for the
 * next round). */
void relay_pairs_run_ready(struct relay *r)
{
	struct relay_pair *list = r->ready;

	r->ready = NULL;
	while (list != NULL) {
		struct relay_pair *p = list;
		list = p->ready_next;
		p->queued = false;
		if (!p->dead)
			relay_pair_pump(p, -1, 0);
	}
}

void relay_pairs_close_all(struct relay *r)
{
	while (r->pairs != NULL) {
		struct relay_pair *p = r->pairs;
		pair_close_fds(p, false);
		p->dead = true;
		unlink_pair(&r->pairs, p);
		push_pair(&r->dead, p);
	}
}

int relay_count(const struct relay *r)
{
	return r->npairs;
}

int relay_buffers(const struct relay *r)
{
	return r->nbufs;
}
