/* hybrid-seq: the CONNECT/OK handshake of vsk device's "<uds>_seqpacket"
 * (host-initiated SOCK_SEQPACKET): "CONNECT <port>\n" as one message,
 * "OK <n>\n" as one message back, then one Unix message is one guest
 * message both ways.  A message is read whole or not at all, so nothing
 * of what follows the handshake is taken here. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "hybrid_seq.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for EVENTS on FD until DEADLINE (0: none): 0, or -ETIMEDOUT. */
static int wait_for(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline ? deadline - now_ms() : -1;
		int rc;

		if (deadline && left <= 0)
			return -ETIMEDOUT;
		rc = poll(&p, 1, deadline ? (int)left : -1);
		if (rc > 0)
			return 0;
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int vsk_hybrid_seq_connect(int fd, uint32_t port, int timeout_ms, uint32_t *assigned)
{
	char line[VSK_HYBRID_LINE_MAX + 1];
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	uint32_t got;
	size_t n = (size_t)snprintf(line, sizeof(line), "CONNECT %" PRIu32 "\n", port);
	ssize_t r;
	int rc;

	for (;;) {
		r = send(fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r == (ssize_t)n)
			break;
		if (r >= 0)
			return -EPROTO; /* cannot happen on SEQPACKET: all or nothing */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == EPIPE ? -ECONNRESET : -errno;
		rc = wait_for(fd, POLLOUT, deadline);
		if (rc < 0)
			return rc;
	}
	for (;;) {
		r = recv(fd, line, sizeof(line) - 1, MSG_DONTWAIT | MSG_TRUNC);
		if (r >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == EPIPE ? -ECONNRESET : -errno;
		rc = wait_for(fd, POLLIN, deadline);
		if (rc < 0)
			return rc;
	}
	/* The device closes the socket when nobody listens on that port. */
	if (r == 0)
		return -ECONNRESET;
	if ((size_t)r > sizeof(line) - 1 || line[r - 1] != '\n')
		return -EPROTO;
	n = (size_t)r - 1;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	if (n <= 3 || memcmp(line, "OK ", 3) != 0 || addr_parse_u32(line + 3, n - 3, &got) < 0)
		return -EPROTO;
	if (assigned != NULL)
		*assigned = got;
	return 0;
}

