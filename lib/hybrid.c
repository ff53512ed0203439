/* hybrid: the Unix-socket handshake of Firecracker and vhost-device-vsock.
 *
 *   client -> "CONNECT <port>\n"
 *   server -> "OK <port>\n"          then the raw stream
 *   (server closes the socket when nobody listens on that guest port)
 *
 * Lines are read one byte at a time so that not a byte of the stream that
 * follows the handshake is consumed here.
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
#include "vsk.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		/* MSG_NOSIGNAL: a client that left must not SIGPIPE the caller. */
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };
				poll(&pfd, 1, 1000);
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one '\n'-terminated line of at most VSK_HYBRID_LINE_MAX bytes.
 * Returns its length (newline excluded), -ECONNRESET on EOF, -EPROTO when
 * no newline came within the limit, -ETIMEDOUT. */
static int read_line(int fd, char *line, int timeout_ms)
{
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	size_t n = 0;

	while (n < VSK_HYBRID_LINE_MAX) {
		ssize_t r;

		if (timeout_ms > 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int64_t left = deadline - now_ms();
			int pr;

			if (left <= 0)
				return -ETIMEDOUT;
			pr = poll(&pfd, 1, (int)left);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr < 0)
				return -errno;
			if (pr == 0)
				return -ETIMEDOUT;
		}
		r = read(fd, line + n, 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && timeout_ms <= 0) {
				struct pollfd pfd = { .fd = fd, .events = POLLIN };
				poll(&pfd, 1, -1);
				continue;
			}
			if (errno == EAGAIN)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		if (r == 0)
			return -ECONNRESET;
		if (line[n] == '\n') {
			line[n] = '\0';
			return (int)n;
		}
		n++;
	}
	return -EPROTO;
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

int vsk_hybrid_connect(int fd, uint32_t port, int timeout_ms, uint32_t *assigned)
{
	char line[VSK_HYBRID_LINE_MAX + 1];
	uint32_t got;
	int n, rc;

	n = snprintf(line, sizeof(line), "CONNECT %" PRIu32 "\n", port);
	rc = write_all(fd, line, (size_t)n);
	if (rc < 0)
		return rc == -EPIPE ? -ECONNRESET : rc;
	n = read_line(fd, line, timeout_ms);
	if (n < 0)
		return n;
	if (parse_word_port(line, (size_t)n, "OK", &got) < 0)
		return -EPROTO;
	if (assigned != NULL)
		*assigned = got;
	return 0;
}

int vsk_hybrid_accept(int fd, uint32_t *port, int timeout_ms)
{
	char line[VSK_HYBRID_LINE_MAX + 1];
	int n = read_line(fd, line, timeout_ms);

	if (n < 0)
		return n;
	return vsk_hybrid_parse_connect(line, (size_t)n, port) < 0 ? -EPROTO : 0;
}

int vsk_hybrid_reply(int fd, uint32_t port)
{
	char line[VSK_HYBRID_LINE_MAX];
	int n = snprintf(line, sizeof(line), "OK %" PRIu32 "\n", port);

	return write_all(fd, line, (size_t)n);
}
