/* bench: the client loop (one test: N connections, or a stream of crr
 * connections) and the server loop (every connection it accepts), each one
 * thread over one epoll set.  These own the connections (open, close, add
 * up); the per-connection work is in bench.c, the wire in bench_wire.c. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_int.h"
#include "vsk.h"

#define MAX_EVENTS 64
#define DEFAULT_IDLE_MS 10000

/* ---------------------------------------------------------------- client */

struct client {
	struct bench_eng e;
	const struct bench_params *bp;
	bench_connect_fn cfn;
	void *cctx;
	struct bench_result *res;
	struct bconn *slot;
	int nslot, active;
	uint64_t t0, deadline;
	uint64_t crr_opened;
	uint32_t seed;
};

/* Pattern start of the next connection: spread over the period. */
static uint32_t next_start(struct client *cl)
{
	cl->seed = cl->seed * 1103515245u + 12345u;
	return cl->seed % BENCH_PERIOD;
}

/* Blocking: the header is the first thing on a fresh connection and fits
 * any socket buffer. */
static int send_header(int fd, const unsigned char *hdr)
{
	size_t off = 0;

	while (off < BENCH_HDR_LEN) {
		ssize_t n = send(fd, hdr + off, BENCH_HDR_LEN - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	return 0;
}

static enum bench_mode slot_mode(const struct client *cl, int i)
{
	switch (cl->bp->test) {
	case BENCH_T_UP:
		return BENCH_UP;
	case BENCH_T_DOWN:
		return BENCH_DOWN;
	case BENCH_T_BIDIR:
		return i < cl->nslot / 2 ? BENCH_UP : BENCH_DOWN;
	case BENCH_T_RR:
		return BENCH_RR;
	case BENCH_T_CRR:
		break;
	}
	return BENCH_CRR;
}

static int client_fail(struct client *cl, int err, const char *op, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int client_fail(struct client *cl, int err, const char *op, const char *fmt, ...)
{
	va_list ap;

	if (cl->res->err == 0) {
		cl->res->err = err;
		cl->res->op = op;
		va_start(ap, fmt);
		vsnprintf(cl->res->msg, sizeof(cl->res->msg), fmt, ap);
		va_end(ap);
	}
	return -err;
}

static int slot_open(struct client *cl, int i, uint64_t now)
{
	const struct bench_params *bp = cl->bp;
	struct bconn *c = &cl->slot[i];
	struct bench_hdr h = { .msg_len = bp->msg_len };
	unsigned char hdr[BENCH_HDR_LEN];
	const char *op = "connect";
	int fd, rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->slot = i;
	c->client = true;
	c->mode = slot_mode(cl, i);
	c->msg_len = bp->msg_len;
	c->start = next_start(cl);
	c->t0 = now;
	if (c->mode == BENCH_UP || c->mode == BENCH_DOWN)
		c->limit = bp->bytes;
	else
		c->limit = c->mode == BENCH_CRR ? 1 : bp->count;
	c->deadline = cl->deadline;
	c->lat = c->mode == BENCH_RR ? cl->res->lat : NULL;
	c->nocheck = bp->nocheck;
	fd = cl->cfn(cl->cctx, &op);
	if (fd < 0)
		return client_fail(cl, -fd, op, "%s", strerror(-fd));
	c->fd = fd;
	rc = bench_sock_setup(c, bp->idle_ms ? bp->idle_ms : DEFAULT_IDLE_MS);
	if (rc < 0)
		return client_fail(cl, -rc, NULL, "socket setup: %s", strerror(-rc));
	cl->res->seqpacket = c->seq;
	if (c->seq && bp->test == BENCH_T_BIDIR)
		return client_fail(cl, EOPNOTSUPP, NULL,
				   "--bidir needs stream sockets: SEQPACKET messages are sent blocking "
				   "(a non-blocking send may split one), and one thread cannot then feed "
				   "both directions; run the two directions as two clients");
	h.mode = c->mode;
	h.seqpacket = c->seq;
	h.nocheck = c->nocheck;
	h.start = c->start;
	h.limit = c->mode == BENCH_DOWN ? bp->bytes : 0;
	h.duration_ms = bp->duration_ms;
	bench_hdr_encode(hdr, &h);
	rc = send_header(fd, hdr);
	if ((rc == -EPIPE || rc == -ECONNRESET) && cl->res->err == 0) {
		/* Closed before reading a byte: no bench server does that. */
		cl->res->alien = true;
		return client_fail(cl, EPROTO, NULL, "connection %d: it closed the connection at once "
				   "(send header: %s)", i + 1, strerror(-rc));
	}
	if (rc < 0)
		return client_fail(cl, -rc, NULL, "send header: %s", strerror(-rc));
	c->ph = PH_DATA;
	rc = bconn_watch(&cl->e, c);
	if (rc < 0)
		return client_fail(cl, -rc, NULL, "epoll: %s", strerror(-rc));
	cl->active++;
	return 0;
}

/* C ended: check it, add it up, and for crr open the next one. */
static int slot_done(struct client *cl, struct bconn *c, uint64_t now)
{
	struct bench_result *res = cl->res;
	const struct bench_params *bp = cl->bp;
	bool more;

	if (c->err == 0) {
		switch (c->mode) {
		case BENCH_UP:
			if (bconn_check_report(c) == 0)
				res->bytes_up += c->rep.bytes;
			break;
		case BENCH_DOWN:
			if (bconn_check_own(c) == 0 && bp->bytes > 0 && c->rx != bp->bytes)
				c->err = EBADMSG, snprintf(c->msg, sizeof(c->msg),
					"data lost: got %llu bytes of %llu",
					(unsigned long long)c->rx, (unsigned long long)bp->bytes);
			res->bytes_down += c->rx;
			break;
		case BENCH_RR:
		case BENCH_CRR:
			if (bconn_check_own(c) == 0 && bconn_check_report(c) == 0) {
				res->round_trips += c->msgs;
				res->bytes_up += c->tx;
				res->bytes_down += c->rx;
			}
			if (c->mode == BENCH_CRR && c->err == 0)
				bench_lat_add(res->lat, now - c->t0);
			break;
		}
	}
	bconn_close(&cl->e, c);
	cl->active--;
	if (c->err != 0 && res->err == 0)
		res->alien = c->alien;
	if (c->err != 0)
		return client_fail(cl, c->err, NULL, "connection %d (%s): %s", c->slot + 1,
				   bench_mode_name(c->mode), c->msg);
	res->conns++;
	if (c->mode != BENCH_CRR)
		return 0;
	more = bp->count > 0 ? cl->crr_opened < bp->count : now < cl->deadline;
	if (!more)
		return 0;
	cl->crr_opened++;
	return slot_open(cl, c->slot, now);
}

static void progress_now(struct client *cl, uint64_t now, bench_progress_fn fn, void *ctx)
{
	struct bench_progress p = {
		.secs = (double)(now - cl->t0) / 1e9,
		.bytes_up = cl->res->bytes_up,
		.bytes_down = cl->res->bytes_down,
		.round_trips = cl->res->round_trips,
		.conns = cl->res->conns,
	};

	for (int i = 0; i < cl->nslot; i++) {
		const struct bconn *c = &cl->slot[i];
		if (c->fd < 0)
			continue;
		p.bytes_up += c->mode == BENCH_DOWN ? 0 : c->tx;
		p.bytes_down += c->mode == BENCH_UP ? 0 : c->rx;
		p.round_trips += c->mode == BENCH_RR ? c->msgs : 0;
	}
	fn(ctx, &p);
}

static bool stopped(const struct client *cl)
{
	return cl->bp->stop != NULL && *cl->bp->stop != 0;
}

/* Interrupted: what the open connections moved so far counts too (sent
 * or checked by this side; no report confirms it). */
static void add_in_flight(struct client *cl)
{
	struct bench_result *res = cl->res;

	for (int i = 0; i < cl->nslot; i++) {
		const struct bconn *c = &cl->slot[i];

		if (c->fd < 0 || c->mode == BENCH_CRR)
			continue;
		res->bytes_up += c->mode == BENCH_DOWN ? 0 : c->tx;
		res->bytes_down += c->mode == BENCH_UP ? 0 : c->rx;
		res->round_trips += c->mode == BENCH_RR ? c->msgs : 0;
	}
}

static int client_loop(struct client *cl, bench_progress_fn progress, void *pctx)
{
	struct epoll_event ev[MAX_EVENTS];
	uint64_t idle_ns = (uint64_t)(cl->bp->idle_ms ? cl->bp->idle_ms : DEFAULT_IDLE_MS) * 1000000ull;
	uint64_t last = bench_now(), tick = last + 1000000000ull;

	while (cl->active > 0 && !stopped(cl)) {
		uint64_t now = bench_now();
		int n;

		if (now - last > idle_ns)
			return client_fail(cl, ETIMEDOUT, NULL, "nothing moved for %.1f s",
					   (double)idle_ns / 1e9);
		if (progress != NULL && now >= tick) {
			progress_now(cl, now, progress, pctx);
			tick += 1000000000ull;
		}
		n = epoll_wait(cl->e.epfd, ev, MAX_EVENTS, 100);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return client_fail(cl, errno, NULL, "epoll_wait: %s", strerror(errno));
		if (n > 0)
			last = now;
		now = bench_now();
		for (int i = 0; i < n; i++) {
			struct bconn *c = ev[i].data.ptr;
			int rc;

			if (c->fd < 0)
				continue;
			c->revents = ev[i].events;
			if (bconn_step(&cl->e, c, now) == 1) {
				rc = slot_done(cl, c, now);
				if (rc < 0)
					return rc;
				cl->res->secs = (double)(bench_now() - cl->t0) / 1e9;
				continue;
			}
			rc = bconn_watch(&cl->e, c);
			if (rc < 0)
				return client_fail(cl, -rc, NULL, "epoll: %s", strerror(-rc));
		}
	}
	return 0;
}

int bench_client(const struct bench_params *bp, bench_connect_fn connect_fn, void *cctx,
		 bench_progress_fn progress, void *pctx, struct bench_result *res)
{
	struct client cl = { .bp = bp, .cfn = connect_fn, .cctx = cctx, .res = res };
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (bp->msg_len == 0 || bp->msg_len > BENCH_MSG_MAX || bp->streams == 0 ||
	    bp->streams > BENCH_STREAMS_MAX)
		return client_fail(&cl, EINVAL, NULL, "bad parameters");
	res->lat = calloc(1, sizeof(*res->lat));
	cl.nslot = (int)bp->streams * (bp->test == BENCH_T_BIDIR ? 2 : 1);
	cl.slot = calloc((size_t)cl.nslot, sizeof(*cl.slot));
	if (res->lat == NULL || cl.slot == NULL) {
		rc = client_fail(&cl, ENOMEM, NULL, "out of memory");
		goto out;
	}
	for (int i = 0; i < cl.nslot; i++)
		cl.slot[i].fd = -1;
	rc = bench_eng_init(&cl.e);
	if (rc < 0) {
		client_fail(&cl, -rc, NULL, "setup: %s", strerror(-rc));
		goto out;
	}
	cl.seed = (uint32_t)bench_now() | 1;
	cl.t0 = bench_now();
	cl.deadline = cl.t0 + (uint64_t)(bp->duration_ms ? bp->duration_ms : BENCH_DEFAULT_SECS * 1000) *
				      1000000ull;
	for (int i = 0; i < cl.nslot && rc == 0 && !stopped(&cl); i++) {
		if (bp->test == BENCH_T_CRR && bp->count > 0 && cl.crr_opened >= bp->count)
			break;
		cl.crr_opened++;
		rc = slot_open(&cl, i, bench_now());
	}
	if (rc == 0)
		rc = client_loop(&cl, progress, pctx);
	/* Stopped: a connect the signal interrupted is the stop, not a failure. */
	if (stopped(&cl) && (rc == 0 || res->err == EINTR)) {
		add_in_flight(&cl);
		res->interrupted = true;
		res->err = 0;
		res->alien = false;
		res->op = NULL;
		res->msg[0] = '\0';
		rc = 0;
	}
	res->secs = (double)(bench_now() - cl.t0) / 1e9;
out:
	if (cl.slot != NULL)
		for (int i = 0; i < cl.nslot; i++)
			bconn_close(&cl.e, &cl.slot[i]);
	free(cl.slot);
	bench_eng_fini(&cl.e);
	return rc < 0 ? rc : (res->err ? -res->err : 0);
}

void bench_result_free(struct bench_result *res)
{
	free(res->lat);
	res->lat = NULL;
}

/* ---------------------------------------------------------------- server */

struct bench_server {
	struct bench_eng e;
	int lfd;
	int stop[2];
	bench_conn_fn fn;
	void *ctx;
	struct bconn *conns;
	int nconns;
};

int bench_server_new(struct bench_server **sp, int lfd, bench_conn_fn fn, void *ctx)
{
	struct bench_server *s = calloc(1, sizeof(*s));
	struct epoll_event ev = { .events = EPOLLIN };
	int rc;

	*sp = NULL;
	if (s == NULL)
		return -ENOMEM;
	s->lfd = lfd;
	s->stop[0] = s->stop[1] = -1;
	s->fn = fn;
	s->ctx = ctx;
	rc = bench_eng_init(&s->e);
	if (rc == 0 && pipe2(s->stop, O_NONBLOCK | O_CLOEXEC) < 0)
		rc = -errno;
	if (rc == 0) {
		ev.data.ptr = &s->stop[0];
		if (epoll_ctl(s->e.epfd, EPOLL_CTL_ADD, s->stop[0], &ev) < 0)
			rc = -errno;
	}
	/* Accepting in batches needs a non-blocking listener. */
	if (rc == 0 && lfd >= 0)
		rc = bench_nonblock(lfd);
	if (rc == 0 && lfd >= 0) {
		ev.data.ptr = &s->lfd;
		if (epoll_ctl(s->e.epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
			rc = -errno;
	}
	if (rc < 0) {
		bench_server_free(s);
		return rc;
	}
	*sp = s;
	return 0;
}

int bench_server_add(struct bench_server *s, int fd, const char *peer)
{
	struct bconn *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->ph = PH_HDR;
	c->ctl_len = BENCH_HDR_LEN;
	c->t0 = bench_now();
	snprintf(c->peer, sizeof(c->peer), "%s", peer != NULL ? peer : "?");
	rc = bench_sock_setup(c, DEFAULT_IDLE_MS);
	if (rc == 0)
		rc = bconn_watch(&s->e, c);
	if (rc < 0) {
		close(fd);
		free(c);
		return rc;
	}
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	return 0;
}

static void server_done(struct bench_server *s, struct bconn *c)
{
	struct bench_conn_info info;

	if (c->err == 0) {
		if (c->mode == BENCH_DOWN)
			bconn_check_report(c);
		else
			bconn_check_own(c);
	}
	memset(&info, 0, sizeof(info));
	snprintf(info.peer, sizeof(info.peer), "%s", c->peer);
	info.mode = c->mode;
	info.seqpacket = c->seq;
	info.msg_len = c->msg_len;
	info.checked = !c->nocheck;
	info.bytes_in = c->rx;
	info.bytes_out = c->tx;
	info.msgs = c->msgs;
	info.secs = (double)(bench_now() - c->t0) / 1e9;
	info.err = c->err;
	snprintf(info.msg, sizeof(info.msg), "%s", c->msg);
	bconn_close(&s->e, c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->nconns--;
	free(c);
	if (s->fn != NULL)
		s->fn(s->ctx, &info);
}

static void server_accept(struct bench_server *s)
{
	char peer[160];

	/* Level-triggered: a bounded batch, the rest on the next round. */
	for (int i = 0; i < 64; i++) {
		int fd = vsk_accept(s->lfd, peer, sizeof(peer), SOCK_NONBLOCK);

		if (fd == -EAGAIN)
			return;
		if (fd < 0) {
			/* Out of fds: wait a little instead of spinning. */
			if (fd == -EMFILE || fd == -ENFILE)
				poll(NULL, 0, 50);
			return;
		}
		bench_server_add(s, fd, peer);
	}
}

int bench_server_run(struct bench_server *s, int timeout_ms)
{
	struct epoll_event ev[MAX_EVENTS];
	uint64_t end = timeout_ms >= 0 ? bench_now() + (uint64_t)timeout_ms * 1000000ull : 0;

	for (;;) {
		uint64_t now = bench_now();
		int wait = 1000, n;

		if (end != 0) {
			if (now >= end)
				return -ETIMEDOUT;
			if ((end - now) / 1000000ull < (uint64_t)wait)
				wait = (int)((end - now) / 1000000ull) + 1;
		}
		n = epoll_wait(s->e.epfd, ev, MAX_EVENTS, wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		now = bench_now();
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;
			struct bconn *c = p;

			if (p == &s->stop[0]) {
				char b[16];
				while (read(s->stop[0], b, sizeof(b)) > 0)
					;
				return 0;
			}
			if (p == &s->lfd) {
				server_accept(s);
				continue;
			}
			/* A connection closed earlier in this batch cannot be here:
			 * events are per fd and each closes only itself. */
			if (bconn_step(&s->e, c, now) == 1)
				server_done(s, c);
			else if (bconn_watch(&s->e, c) < 0)
				server_done(s, c);
		}
	}
}

void bench_server_stop(struct bench_server *s)
{
	ssize_t n = write(s->stop[1], "x", 1);

	(void)n; /* full pipe: a stop is pending anyway */
}

int bench_server_conns(const struct bench_server *s)
{
	return s->nconns;
}

void bench_server_free(struct bench_server *s)
{
	if (s == NULL)
		return;
	while (s->conns != NULL) {
		struct bconn *c = s->conns;
		s->conns = c->next;
		bconn_close(&s->e, c);
		free(c);
	}
	for (int i = 0; i < 2; i++)
		if (s->stop[i] >= 0)
			close(s->stop[i]);
	bench_eng_fini(&s->e);
	free(s);
}
