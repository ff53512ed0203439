/* bench: the test connection engine shared by client and server (model in
 * bench.h): one connection's state machine, from the header to the clean
 * end.  What goes on the wire is in bench_wire.c, the client and server
 * loops that own the connections are in bench_run.c (they call down into
 * this file; nothing here calls up into them).
 *
 * A connection is a small state machine driven by one epoll set
 * (level-triggered): each call of bconn_step() moves it on until a call
 * would block or its turn is used up.  Data is sent straight from the
 * pattern and received into one buffer shared by every connection of the
 * loop (each chunk is checked at once), so a connection costs a few
 * hundred bytes however many there are.
 *
 * The check is one memcmp() of what arrived with the pattern at its stream
 * position: a lost, repeated or changed byte is a mismatch at a named
 * offset, and the byte count in the report catches a missing tail.  That
 * is the only per-byte work (protocol version 1 peers also want a stream
 * sum in the report: then both sides add it up too).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bench_int.h"

/* -------------------------------------------------------------- engine */

uint64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_eng_init(struct bench_eng *e)
{
	memset(e, 0, sizeof(*e));
	e->epfd = -1;
	e->pat = bench_pattern_new();
	e->rbuf = malloc(BENCH_MSG_MAX);
	if (e->pat == NULL || e->rbuf == NULL)
		return -ENOMEM;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	return e->epfd < 0 ? -errno : 0;
}

void bench_eng_fini(struct bench_eng *e)
{
	free(e->pat);
	free(e->rbuf);
	e->pat = e->rbuf = NULL;
	if (e->epfd >= 0)
		close(e->epfd);
	e->epfd = -1;
}

static int fail(struct bconn *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct bconn *c, int err, const char *fmt, ...)
{
	va_list ap;

	if (c->err == 0) {
		c->err = err;
		va_start(ap, fmt);
		vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
		va_end(ap);
	}
	c->ph = PH_DONE;
	return 1;
}

static int fail_errno(struct bconn *c, int err, const char *call)
{
	return fail(c, err, "%s: %s", call, strerror(err));
}

/* Client: what the peer did is not what a bench server does (it echoes,
 * closes at once, sends no report): EPROTO, flagged so the CLI can say so. */
static int alien(struct bconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int alien(struct bconn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err == 0) {
		c->err = EPROTO;
		c->alien = true;
		va_start(ap, fmt);
		vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
		va_end(ap);
	}
	c->ph = PH_DONE;
	return 1;
}

/* A client's send or recv failed: a peer that closed or reset before a
 * single byte or report came back is no bench server. */
static int client_io_fail(struct bconn *c, int err, const char *call)
{
	if (c->client && c->rx == 0 && (err == EPIPE || err == ECONNRESET))
		return alien(c, "it closed the connection without a report (%s: %s)", call, strerror(err));
	return fail_errno(c, err, call);
}

/* Client: the first bytes back are our own header: the peer echoes. */
static bool echoed_header(const struct bench_eng *e, const struct bconn *c, size_t n)
{
	return c->client && c->rx == 0 && n >= 4 && memcmp(e->rbuf, "VSKB", 4) == 0;
}

/* One recv into the shared buffer: > 0 bytes, 0 EOF, -EAGAIN, -errno. */
static ssize_t conn_recv(struct bench_eng *e, struct bconn *c, size_t max)
{
	for (;;) {
		struct iovec iov = { .iov_base = e->rbuf, .iov_len = max };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT);

		if (n >= 0 && c->seq && (mh.msg_flags & MSG_TRUNC))
			return -EMSGSIZE;
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

/* A non-blocking SEQPACKET send on vsock can put part of a message on the
 * wire (no EOM) and still fail with EAGAIN: the retry would then merge two
 * messages.  So SEQPACKET sockets stay blocking for sends (bounded by
 * SO_SNDTIMEO, see bench_sock_setup()) and only receive with MSG_DONTWAIT. */
static int send_flags(const struct bconn *c)
{
	return c->seq ? MSG_NOSIGNAL : MSG_DONTWAIT | MSG_NOSIGNAL;
}

/* send()'s errno as a result: a blocking SEQPACKET send that gives up has
 * timed out, not "would block". */
static int send_err(const struct bconn *c)
{
	if (errno == EWOULDBLOCK)
		return c->seq ? -ETIMEDOUT : -EAGAIN;
	return -errno;
}

/* Send LEN bytes of the pattern from position TX (whole on SEQPACKET). */
static ssize_t conn_send(struct bench_eng *e, struct bconn *c, size_t len)
{
	const unsigned char *p = e->pat + (c->start + c->tx) % BENCH_PERIOD;

	for (;;) {
		ssize_t n = send(c->fd, p, len, send_flags(c));
		if (n > 0) {
			if (c->sums)
				c->sum_tx += bench_sum64(c->tx, p, (size_t)n);
			c->tx += (uint64_t)n;
			return n;
		}
		if (n == 0)
			return -EIO;
		if (errno != EINTR)
			return send_err(c);
	}
}

/* Check N received bytes against the pattern at position RX (unless the
 * client asked for no check: then only count them). */
static void conn_check(struct bench_eng *e, struct bconn *c, size_t n)
{
	const unsigned char *want = e->pat + (c->start + c->rx) % BENCH_PERIOD;

	if (!c->nocheck && c->status == 0 && memcmp(e->rbuf, want, n) != 0) {
		size_t i = 0;
		while (e->rbuf[i] == want[i])
			i++;
		c->status = BENCH_ST_MISMATCH;
		c->bad_off = c->rx + i;
		c->bad_got = e->rbuf[i];
		c->bad_want = want[i];
	}
	if (c->sums)
		c->sum_rx += bench_sum64(c->rx, e->rbuf, n);
	c->rx += n;
	c->msgs++;
	c->t_last = bench_now();
}

/* Control bytes (header or report) out: 1 all sent, 0 blocked, < 0 error. */
static int ctl_send(struct bconn *c)
{
	while (c->ctl_off < c->ctl_len) {
		ssize_t n = send(c->fd, c->ctl + c->ctl_off, c->ctl_len - c->ctl_off, send_flags(c));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return send_err(c) == -EAGAIN ? 0 : send_err(c);
		c->ctl_off += (size_t)n;
	}
	return 1;
}

/* Control bytes in, exactly CTL_LEN (one message on SEQPACKET): 1 complete,
 * 0 blocked, -ECONNRESET at EOF before it, < 0 error. */
static int ctl_recv(struct bconn *c)
{
	while (c->ctl_off < c->ctl_len) {
		size_t room = c->seq ? sizeof(c->ctl) : c->ctl_len - c->ctl_off;
		struct iovec iov = { .iov_base = c->ctl + c->ctl_off, .iov_len = room };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EWOULDBLOCK ? 0 : -errno;
		if (n == 0)
			return -ECONNRESET;
		if (c->seq && ((size_t)n != c->ctl_len || (mh.msg_flags & MSG_TRUNC)))
			return -EPROTO;
		c->ctl_off += (size_t)n;
	}
	return 1;
}

/* The data sender's limit: bytes, or the deadline. */
static bool send_over(const struct bconn *c, uint64_t now)
{
	if (c->limit > 0)
		return c->tx >= c->limit;
	return now >= c->deadline;
}

static void to_report_out(struct bconn *c)
{
	struct bench_report r = { .status = c->status, .bytes = c->rx, .msgs = c->msgs,
				  .bad_off = c->bad_off, .sum = c->sum_rx };

	bench_report_encode(c->ctl, &r);
	c->ctl_len = BENCH_REPORT_LEN;
	c->ctl_off = 0;
	c->ph = PH_REPORT_OUT;
}

static int to_report_in(struct bconn *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0)
		return fail_errno(c, errno, "shutdown");
	c->ctl_len = BENCH_REPORT_LEN;
	c->ctl_off = 0;
	c->ph = PH_REPORT_IN;
	return 0;
}

/* Receiver of a one-way test: check until EOF, then report. */
static int step_recv(struct bench_eng *e, struct bconn *c)
{
	for (int i = 0; i < BENCH_TURN; i++) {
		size_t max = c->seq ? BENCH_MSG_MAX : BENCH_RECV_CHUNK;
		ssize_t n = conn_recv(e, c, max);

		if (n == -EAGAIN)
			return 0;
		if (n == -EMSGSIZE)
			return fail(c, EMSGSIZE, "recv: a message larger than %u bytes", BENCH_MSG_MAX);
		if (n < 0)
			return client_io_fail(c, (int)-n, "recv");
		if (n == 0 && c->client && c->rx == 0)
			return alien(c, "it closed the connection without sending any data");
		if (n == 0) {
			to_report_out(c);
			return 0;
		}
		if (echoed_header(e, c, (size_t)n))
			return alien(c, "it sent back the request header: an echo server?");
		/* Both ends SEQPACKET: every message as sent, a short one last. */
		if (c->seq && c->peer_seq && !c->client) {
			if ((size_t)n > c->msg_len || c->short_seen)
				return fail(c, EBADMSG,
					    "message boundaries lost: message %llu is %zd bytes, sent as %u",
					    (unsigned long long)c->msgs + 1, n, c->msg_len);
			c->short_seen = (size_t)n < c->msg_len;
		}
		conn_check(e, c, (size_t)n);
		/* A short stream read emptied the socket: wait for more rather
		 * than ask again for an EAGAIN (epoll says if more came). */
		if (!c->seq && (size_t)n < max)
			return 0;
	}
	return 0;
}

/* Client uploading: a bench server sends nothing before its report, so
 * anything readable now says what the peer is. */
static int up_readable(struct bench_eng *e, struct bconn *c)
{
	ssize_t n;

	do
		n = recv(c->fd, e->rbuf, 64, MSG_DONTWAIT | MSG_PEEK);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n < 0)
		return client_io_fail(c, errno, "recv");
	if (n == 0)
		return alien(c, "it closed the connection without a report");
	if (echoed_header(e, c, (size_t)n))
		return alien(c, "it sent back the request header: an echo server?");
	return alien(c, "it sent data before its report");
}

/* Sender of a one-way test: send until the limit, then shut down. */
static int step_send(struct bench_eng *e, struct bconn *c, uint64_t now)
{
	if (c->client && (c->revents & EPOLLIN))
		return up_readable(e, c);
	for (int i = 0; i < BENCH_TURN; i++) {
		uint64_t len = c->msg_len;
		ssize_t n;

		if (send_over(c, now))
			return to_report_in(c);
		if (c->limit > 0 && c->limit - c->tx < len)
			len = c->limit - c->tx;
		n = conn_send(e, c, (size_t)len);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return client_io_fail(c, (int)-n, "send");
		/* A short send filled the socket: the next one would only say
		 * EAGAIN, so wait for room (level-triggered) at once. */
		if ((uint64_t)n < len)
			return 0;
		if (i % 4 == 3)
			now = bench_now();
	}
	return 0;
}

/* Client of rr/crr: one request out, its echo back, checked, timed. */
static int step_rr_client(struct bench_eng *e, struct bconn *c, uint64_t now)
{
	for (int i = 0; i < BENCH_TURN; i++) {
		ssize_t n;

		if (c->txq == 0 && c->want == 0) {
			bool over = c->limit > 0 ? c->msgs >= c->limit : now >= c->deadline;
			if (over)
				return to_report_in(c);
			c->t_rt = bench_now();
			c->txq = c->want = c->msg_len;
		}
		if (c->txq > 0) {
			n = conn_send(e, c, c->txq);
			if (n == -EAGAIN)
				return 0;
			if (n < 0)
				return client_io_fail(c, (int)-n, "send");
			c->txq -= (uint32_t)n;
			/* The answer cannot be there yet: wait for it (the epoll
			 * set is level-triggered) instead of a recv that fails. */
			if (c->txq == 0)
				return 0;
			continue;
		}
		n = conn_recv(e, c, c->seq ? BENCH_MSG_MAX : c->want);
		if (n == -EAGAIN)
			return 0;
		if (n == 0 && c->rx == 0)
			return alien(c, "it closed the connection without answering");
		if (n == 0)
			return fail(c, ECONNRESET, "the server closed after %llu of %u bytes of a response",
				    (unsigned long long)(c->msg_len - c->want), c->msg_len);
		if (n > 0 && echoed_header(e, c, (size_t)n))
			return alien(c, "it sent back the request header: an echo server?");
		if (n == -EMSGSIZE || (n > 0 && (size_t)n > c->want))
			return fail(c, EBADMSG, "a response longer than the request (%u bytes)",
				    c->msg_len);
		if (n < 0)
			return client_io_fail(c, (int)-n, "recv");
		conn_check(e, c, (size_t)n);
		c->msgs--; /* counted per round trip below, not per recv */
		c->want -= (uint32_t)n;
		if (c->want == 0) {
			c->msgs++;
			now = bench_now();
			if (c->lat != NULL)
				bench_lat_add(c->lat, now - c->t_rt);
		}
	}
	return 0;
}

/* Server of rr/crr: check what comes, echo it back, report at EOF. */
static int step_rr_server(struct bench_eng *e, struct bconn *c)
{
	for (int i = 0; i < BENCH_TURN; i++) {
		ssize_t n;

		if (c->echo > 0) {
			n = conn_send(e, c, c->echo);
			if (n == -EAGAIN)
				return 0;
			if (n < 0)
				return fail_errno(c, (int)-n, "send");
			c->echo -= (size_t)n;
			if (c->echo == 0)
				return 0; /* the next request comes after this answer */
			continue;
		}
		n = conn_recv(e, c, c->seq ? BENCH_MSG_MAX : c->msg_len);
		if (n == -EAGAIN)
			return 0;
		if (n == -EMSGSIZE)
			return fail(c, EMSGSIZE, "recv: a message larger than %u bytes", BENCH_MSG_MAX);
		if (n < 0)
			return fail_errno(c, (int)-n, "recv");
		if (n == 0) {
			to_report_out(c);
			return 0;
		}
		conn_check(e, c, (size_t)n);
		/* The echo is the pattern itself: what was checked, sent back. */
		c->echo = (size_t)n;
	}
	return 0;
}

/* After the report: only EOF may follow. */
static int step_eof(struct bench_eng *e, struct bconn *c)
{
	ssize_t n = conn_recv(e, c, 64);

	if (n == -EAGAIN)
		return 0;
	if (n < 0)
		return fail_errno(c, (int)-n, "recv after the report");
	if (n > 0)
		return fail(c, EPROTO, "%zd unexpected bytes after the report", n);
	c->ph = PH_DONE;
	return 1;
}

/* Server side: the header has arrived in C->ctl; set C up from it. */
static int start_from_header(struct bconn *c, uint64_t now)
{
	struct bench_hdr h;
	char why[160];

	if (bench_hdr_decode(c->ctl, c->ctl_len, &h, why, sizeof(why)) < 0)
		return fail(c, EPROTO, "%s", why);
	c->mode = h.mode;
	c->msg_len = h.msg_len;
	c->start = h.start;
	c->peer_seq = h.seqpacket;
	c->sums = h.version == 1;
	c->nocheck = h.nocheck;
	c->limit = h.mode == BENCH_DOWN ? h.limit : 0;
	c->deadline = now + (uint64_t)(h.duration_ms ? h.duration_ms : BENCH_DEFAULT_SECS * 1000) *
				    1000000ull;
	c->t0 = now;
	c->ph = PH_DATA;
	return 0;
}

int bconn_step(struct bench_eng *e, struct bconn *c, uint64_t now)
{
	int rc;

	switch (c->ph) {
	case PH_HDR:
		rc = ctl_recv(c);
		if (rc == -EPROTO)
			return fail(c, EPROTO, "not a vsk bench header (a message of %zu bytes expected)",
				    (size_t)BENCH_HDR_LEN);
		if (rc == -ECONNRESET)
			return fail(c, EPROTO, "closed before a whole header (%zu of %d bytes)",
				    c->ctl_off, BENCH_HDR_LEN);
		if (rc < 0)
			return fail_errno(c, -rc, "recv");
		if (rc == 0)
			return 0;
		return start_from_header(c, now) != 0 ? 1 : bconn_step(e, c, now);
	case PH_DATA:
		if (c->mode == BENCH_RR || c->mode == BENCH_CRR)
			return c->client ? step_rr_client(e, c, now) : step_rr_server(e, c);
		if ((c->mode == BENCH_UP) == c->client)
			return step_send(e, c, now);
		return step_recv(e, c);
	case PH_REPORT_OUT:
		rc = ctl_send(c);
		if (rc < 0)
			return fail_errno(c, -rc, "send report");
		if (rc == 0)
			return 0;
		/* Everything was read (EOF seen): close now is a clean end. */
		c->ph = PH_DONE;
		return 1;
	case PH_REPORT_IN:
		rc = ctl_recv(c);
		if (rc == -ECONNRESET && c->ctl_off == 0)
			return alien(c, "it closed the connection without a report");
		if (rc == -ECONNRESET)
			return alien(c, "it closed the connection after %zu bytes of a %d-byte report",
				     c->ctl_off, BENCH_REPORT_LEN);
		if (rc == -EPROTO)
			return alien(c, "its answer is no %d-byte report message", BENCH_REPORT_LEN);
		if (rc < 0)
			return client_io_fail(c, -rc, "recv report");
		if (rc == 0)
			return 0;
		if (memcmp(c->ctl, "VSKB", 4) == 0)
			return alien(c, "it sent back the request header: an echo server?");
		if (bench_report_decode(c->ctl, c->ctl_len, &c->rep) < 0)
			return alien(c, "its %d-byte answer is not a bench report", BENCH_REPORT_LEN);
		c->ph = PH_EOF;
		return step_eof(e, c);
	case PH_EOF:
		return step_eof(e, c);
	case PH_DONE:
		return 1;
	}
	return 1;
}

unsigned bconn_events(const struct bconn *c)
{
	switch (c->ph) {
	case PH_HDR:
	case PH_REPORT_IN:
	case PH_EOF:
		return EPOLLIN;
	case PH_REPORT_OUT:
		return EPOLLOUT;
	case PH_DATA:
		if (c->mode == BENCH_RR || c->mode == BENCH_CRR) {
			if (c->client)
				return c->txq > 0 || c->want == 0 ? EPOLLOUT : EPOLLIN;
			return c->echo > 0 ? EPOLLOUT : EPOLLIN;
		}
		if (c->mode == BENCH_UP && c->client)
			return EPOLLOUT | EPOLLIN; /* see up_readable() */
		return (c->mode == BENCH_UP) == c->client ? EPOLLOUT : EPOLLIN;
	case PH_DONE:
		break;
	}
	return 0;
}

/* Compare the peer's report with what this side sent.  0 or -EBADMSG. */
int bconn_check_report(struct bconn *c)
{
	if (c->rep.status == BENCH_ST_MISMATCH) {
		fail(c, EBADMSG, "data corrupted: the peer got a wrong byte at offset %llu",
		     (unsigned long long)c->rep.bad_off);
		return -EBADMSG;
	}
	if (c->rep.bytes != c->tx || (c->sums && c->rep.sum != c->sum_tx)) {
		fail(c, EBADMSG,
		     "data lost: sent %llu bytes (sum %016llx), the peer got %llu (sum %016llx)",
		     (unsigned long long)c->tx, (unsigned long long)c->sum_tx,
		     (unsigned long long)c->rep.bytes, (unsigned long long)c->rep.sum);
		return -EBADMSG;
	}
	return 0;
}

/* This side's own check of what it received.  0 or -EBADMSG. */
int bconn_check_own(struct bconn *c)
{
	if (c->status == BENCH_ST_MISMATCH) {
		fail(c, EBADMSG, "data corrupted at offset %llu: byte 0x%02x, want 0x%02x",
		     (unsigned long long)c->bad_off, c->bad_got, c->bad_want);
		return -EBADMSG;
	}
	return 0;
}

void bconn_close(struct bench_eng *e, struct bconn *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(e->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

/* Put C in the epoll set or change what it waits for. */
int bconn_watch(struct bench_eng *e, struct bconn *c)
{
	struct epoll_event ev = { .events = bconn_events(c), .data.ptr = c };
	int op = c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if (c->registered && ev.events == c->events)
		return 0;
	if (epoll_ctl(e->epfd, op, c->fd, &ev) < 0)
		return -errno;
	c->registered = true;
	c->events = ev.events;
	return 0;
}

bool bench_is_seqpacket(int fd)
{
	int type = 0;
	socklen_t tl = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_SEQPACKET;
}

static int set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

int bench_nonblock(int fd)
{
	return set_nonblock(fd, true);
}

int bench_sock_setup(struct bconn *c, uint32_t send_timeout_ms)
{
	struct timeval tv = { .tv_sec = send_timeout_ms / 1000,
			      .tv_usec = (send_timeout_ms % 1000) * 1000 };

	c->seq = bench_is_seqpacket(c->fd);
	if (!c->seq)
		return set_nonblock(c->fd, true);
	/* Blocking sends (see send_flags()), but never for ever; accept()
	 * may have made it non-blocking. */
	if (set_nonblock(c->fd, false) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}
