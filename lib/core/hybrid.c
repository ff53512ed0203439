/* hybrid: the Unix-socket handshake of Firecracker and vhost-device-vsock.
 *
 *   client -> "CONNECT <port>\n"
 *   server -> "OK <port>\n"          then the raw stream
 *   (server closes the socket when nobody listens on that guest port)
 *
 * A line is read without taking a byte of the stream that follows it: the
 * socket is peeked, and only the bytes up to the newline are consumed.
 * The steps never wait (hybrid.h), so an event loop can run a handshake
 * per connection; the vsk_hybrid_* calls are those steps with poll() and a
 * deadline around them.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "hybrid.h"
#include "vsk.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for EVENTS on FD until DEADLINE (0: none).  0 when ready, -ETIMEDOUT,
 * or -errno of poll(). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline > 0 ? deadline - now_ms() : -1;
		int pr;

		if (deadline > 0 && left <= 0)
			return -ETIMEDOUT;
		pr = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (pr > 0)
			return 0;
		if (pr == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int hybrid_send_step(int fd, const char *buf, size_t len, size_t *off)
{
	while (*off < len) {
		/* MSG_NOSIGNAL: a peer that left must not SIGPIPE the caller. */
		ssize_t n = send(fd, buf + *off, len - *off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, buf + *off, len - *off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		*off += (size_t)n;
	}
	return 0;
}

/* Consume exactly TAKE bytes that a peek has shown to be there. */
static int consume(int fd, char *to, size_t take)
{
	size_t got = 0;

	while (got < take) {
		ssize_t n = recv(fd, to + got, take - got, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		got += (size_t)n;
	}
	return 0;
}

int hybrid_line_step(int fd, struct hybrid_line *l)
{
	for (;;) {
		char peek[VSK_HYBRID_LINE_MAX];
		size_t room = VSK_HYBRID_LINE_MAX - l->n, take;
		bool sock = true;
		const char *nl;
		ssize_t n;
		int rc;

		n = recv(fd, peek, room, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK) {
			/* No peeking at a pipe: a byte at a time, after a poll. */
			sock = false;
			n = read(fd, peek, 1);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		nl = memchr(peek, '\n', (size_t)n);
		take = nl != NULL ? (size_t)(nl - peek) + 1 : (size_t)n;
		if (sock) {
			rc = consume(fd, l->line + l->n, take);
			if (rc < 0)
				return rc;
		} else {
			memcpy(l->line + l->n, peek, take);
		}
		l->n += take;
		if (nl != NULL) {
			l->line[l->n - 1] = '\0';
			return (int)(l->n - 1);
		}
		if (l->n >= VSK_HYBRID_LINE_MAX)
			return -EPROTO;
	}
}

/* A whole line, polling between steps, until DEADLINE (0: none). */
static int read_line(int fd, struct hybrid_line *l, int64_t deadline)
{
	for (;;) {
		int n = hybrid_line_step(fd, l);

		if (n != -EAGAIN)
			return n;
		n = wait_fd(fd, POLLIN, deadline);
		if (n < 0)
			return n;
	}
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	size_t off = 0;

	for (;;) {
		int rc = hybrid_send_step(fd, buf, len, &off);

		if (rc != -EAGAIN)
			return rc;
		rc = wait_fd(fd, POLLOUT, deadline);
		if (rc < 0)
			return rc;
	}
}

/* "WORD <u32>" with exactly one space, digits only; an optional '\r' before
 * the newline is tolerated (hand-typed with socat/nc). */
static int parse_word_port(const char *line, size_t len, const char *word, uint32_t *port)
{
	size_t wl = strlen(word);

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len <= wl + 1 || memcmp(line, word, wl) != 0 || line[wl] != ' ')
		return -EINVAL;
	return addr_parse_u32(line + wl + 1, len - wl - 1, port);
}

int vsk_hybrid_parse_connect(const char *line, size_t len, uint32_t *port)
{
	if (line == NULL || port == NULL)
		return -EINVAL;
	return parse_word_port(line, len, "CONNECT", port);
}

int hybrid_request(char *buf, size_t len, uint32_t port)
{
	return snprintf(buf, len, "CONNECT %" PRIu32 "\n", port);
}

int hybrid_reply_step(int fd, struct hybrid_line *l, uint32_t *assigned)
{
	uint32_t got;
	int n = hybrid_line_step(fd, l);

	if (n < 0)
		return n;
	if (parse_word_port(l->line, (size_t)n, "OK", &got) < 0)
		return -EPROTO;
	if (assigned != NULL)
		*assigned = got;
	return 0;
}

int hybrid_request_step(int fd, struct hybrid_line *l, uint32_t *port)
{
	int n = hybrid_line_step(fd, l);

	if (n < 0)
		return n;
	return vsk_hybrid_parse_connect(l->line, (size_t)n, port) < 0 ? -EPROTO : 0;
}

int vsk_hybrid_connect(int fd, uint32_t port, int timeout_ms, uint32_t *assigned)
{
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	struct hybrid_line l = { .n = 0 };
	char req[VSK_HYBRID_LINE_MAX];
	int rc = send_all(fd, req, (size_t)hybrid_request(req, sizeof(req), port), deadline);

	while (rc == 0) {
		rc = hybrid_reply_step(fd, &l, assigned);
		if (rc != -EAGAIN)
			break;
		rc = wait_fd(fd, POLLIN, deadline);
	}
	return rc;
}

int vsk_hybrid_accept(int fd, uint32_t *port, int timeout_ms)
{
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	struct hybrid_line l = { .n = 0 };
	int n = read_line(fd, &l, deadline);

	if (n < 0)
		return n;
	return vsk_hybrid_parse_connect(l.line, (size_t)n, port) < 0 ? -EPROTO : 0;
}

int vsk_hybrid_reply(int fd, uint32_t port)
{
	char line[VSK_HYBRID_LINE_MAX];
	int n = snprintf(line, sizeof(line), "OK %" PRIu32 "\n", port);

	return send_all(fd, line, (size_t)n, 0);
}
