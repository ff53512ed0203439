/* libFuzzer harness: the hybrid (Firecracker-style) handshake lines.
 *
 * Bounded run: tests/fuzz/run [SECONDS] hybrid.  Long run: tests/fuzz/run 3600 hybrid.
 *
 * The input is what an untrusted peer sends, used four ways:
 *   1. vsk_hybrid_parse_connect() on the bytes; an accepted line must be
 *      "CONNECT <decimal u32>" (optional "\r\n"), and the port formatted
 *      back must parse to the same port;
 *   2. vsk_hybrid_accept() reading the bytes from a socketpair (the server
 *      side, as `vsk listen hybrid:` runs it): its answer must agree with
 *      (1) applied to the first line, and not a byte after the newline may
 *      be consumed;
 *   3. vsk_hybrid_connect() with the bytes as the server's reply (the
 *      client side, "OK <port>"): same agreement, same no-overread rule;
 *   4. vsk_hybrid_peer_parse() on the bytes as an accept()ed peer address
 *      (any local process can bind an abstract name); a name it accepts must
 *      round-trip through vsk_hybrid_peer_name().
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vsk.h"

#define MAXIN 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parse(const uint8_t *data, size_t size)
{
	char line[VSK_HYBRID_LINE_MAX + 16];
	uint32_t port, again;
	size_t n = size;

	if (vsk_hybrid_parse_connect((const char *)data, size, &port) < 0)
		return;
	if (n > 0 && data[n - 1] == '\n')
		n--;
	if (n > 0 && data[n - 1] == '\r')
		n--;
	if (n < 9 || n > 18 || memcmp(data, "CONNECT ", 8) != 0)
		abort();
	for (size_t i = 8; i < n; i++)
		if (data[i] < '0' || data[i] > '9')
			abort();
	snprintf(line, sizeof(line), "CONNECT %" PRIu32 "\n", port);
	if (vsk_hybrid_parse_connect(line, strlen(line), &again) < 0 || again != port)
		abort();
}

/* What read_line() should make of DATA: the index of the newline ending
 * the first line, or -1 (EOF first) / -2 (too long). */
static long first_line(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < size && i < VSK_HYBRID_LINE_MAX; i++)
		if (data[i] == '\n')
			return (long)i;
	return size >= VSK_HYBRID_LINE_MAX ? -2 : -1;
}

/* Everything left unread on FD must be DATA[FROM..SIZE). */
static void check_rest(int fd, const uint8_t *data, size_t size, size_t from)
{
	static uint8_t buf[MAXIN + 16];
	size_t got = 0;
	ssize_t r;

	while ((r = recv(fd, buf + got, sizeof(buf) - got, MSG_DONTWAIT)) > 0)
		got += (size_t)r;
	if (got != size - from || memcmp(buf, data + from, got) != 0)
		abort();
}

static void check_server(const uint8_t *data, size_t size)
{
	long nl = first_line(data, size);
	uint32_t port = 0, want = 0;
	int sv[2], rc, exp;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (size > 0 && send(sv[0], data, size, 0) != (ssize_t)size)
		abort();
	shutdown(sv[0], SHUT_WR);
	rc = vsk_hybrid_accept(sv[1], &port, 1000);
	if (nl >= 0)
		exp = vsk_hybrid_parse_connect((const char *)data, (size_t)nl, &want) == 0 ? 0 : -EPROTO;
	else
		exp = nl == -1 ? -ECONNRESET : -EPROTO;
	if (rc != exp || (rc == 0 && port != want))
		abort();
	if (nl >= 0)
		check_rest(sv[1], data, size, (size_t)nl + 1);
	close(sv[0]);
	close(sv[1]);
}

static void check_client(const uint8_t *data, size_t size)
{
	static const char req[] = "CONNECT 77\n";
	long nl = first_line(data, size);
	uint32_t got = 0, want = 0;
	int sv[2], rc, exp = -EPROTO;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (size > 0 && send(sv[0], data, size, 0) != (ssize_t)size)
		abort();
	shutdown(sv[0], SHUT_WR);
	rc = vsk_hybrid_connect(sv[1], 77, 1000, &got);
	if (nl == -1) {
		exp = -ECONNRESET;
	} else if (nl >= 0) {
		/* "OK <decimal u32>", an optional '\r' before the newline. */
		size_t eff = (size_t)nl, i;
		uint64_t v = 0;

		if (eff > 0 && data[eff - 1] == '\r')
			eff--;
		for (i = 3; i < eff && data[i] >= '0' && data[i] <= '9'; i++)
			v = v * 10 + (uint64_t)(data[i] - '0');
		if (eff > 3 && eff - 3 <= 10 && i == eff && memcmp(data, "OK ", 3) == 0 && v <= UINT32_MAX) {
			exp = 0;
			want = (uint32_t)v;
		}
	}
	if (rc != exp || (rc == 0 && got != want))
		abort();
	/* The request went out whole, before any reply was read. */
	check_rest(sv[0], (const uint8_t *)req, sizeof(req) - 1, 0);
	if (nl >= 0)
		check_rest(sv[1], data, size, (size_t)nl + 1);
	close(sv[0]);
	close(sv[1]);
}

static void check_peer(const uint8_t *data, size_t size)
{
	struct sockaddr_un sun, again;
	uint32_t cid, port, c2, p2;
	socklen_t len;

	memset(&sun, 0, sizeof(sun));
	memcpy(&sun, data, size < sizeof(sun) ? size : sizeof(sun));
	if (size > 0 && (data[0] & 1))
		sun.sun_family = AF_UNIX; /* most inputs should get past the family check */
	if (vsk_hybrid_peer_parse((struct sockaddr *)&sun, (socklen_t)size, &cid, &port) < 0)
		return;
	len = vsk_hybrid_peer_name(&again, cid, port, size);
	if (vsk_hybrid_peer_parse((struct sockaddr *)&again, len, &c2, &p2) < 0 || c2 != cid || p2 != port)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAXIN)
		return 0;
	check_parse(data, size);
	check_server(data, size);
	check_client(data, size);
	check_peer(data, size);
	return 0;
}
