/* fakevm: a virtio-vsock guest driver in one process, for the lab cases of
 * `vsk device`'s vsock back end.  It plays QEMU (the vhost-user front end:
 * guest memory in a memfd, split rings rx 0, tx 1, event 2) and the guest's
 * vsock driver on those rings (connections, credit, SHUTDOWN, RST, as the
 * Linux driver does them), and on threads of its own the host programs
 * the vsock back end talks to: AF_VSOCK sockets on CID 1 (vsock_loopback).
 *
 *   fakevm SOCKET CID TEST ARGS...
 *     stream PORT BYTES   guest -> host PORT: BYTES of a pattern, echoed back
 *                         while they flow, half-close each way, "BYE" after
 *     refused PORT        guest -> host PORT with nobody there: RST
 *     h2g PORT BYTES      a host client of forward-listen PORT sends BYTES,
 *                         the guest (listening on PORT) echoes them
 *     seq PORT SIZE...    SEQPACKET guest -> host PORT: one message per SIZE,
 *                         the host reads late (the device's sends run short
 *                         of credit) and echoes each; boundaries checked
 *     map PORT TOPORT     guest -> host PORT, which the device maps to
 *                         vsock:1:TOPORT: one message there and back
 * Prints "ok TEST: ..." and exits 0, or "FAIL TEST: why" and exits 1.
 *
 * Built from the .c files of tests/lab/fakevm (lib.sh builds a directory
 * of sources into one program).  Refuses to run outside a lab guest
 * (VSK_LAB_GUEST=1 and /lab/plan): the development machine's AF_VSOCK
 * reaches a real hypervisor. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakevm.h"

/* ------------------------------------------------------------ the tests */

static uint8_t *pattern(size_t n, uint64_t *hash)
{
	uint8_t *p = malloc(n ? n : 1);

	if (p == NULL)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
		p[i] = pat(i);
	*hash = fnv(FNV0, p, n);
	return p;
}

static void t_stream(uint32_t port, size_t bytes)
{
	double dl = now() + 40;
	struct host h = { .lfd = vsock_listen(SOCK_STREAM, port) };
	uint64_t want;
	uint8_t *p = pattern(bytes, &want);
	struct conn *c;
	uint8_t bye[4] = "BYE\n";

	host_start(&h, host_echo);
	c = connect_to(T_STREAM, port, dl);
	if (c->reset)
		die("RST to the connect to port %u", port);
	send_bytes(c, p, bytes, dl);
	/* Half-close: the host reads EOF and still sends. */
	tx(c, OP_SHUTDOWN, SHUT_SEND_F, NULL, 0);
	while (!c->peer_shut_send && !c->reset) {
		if (now() > dl)
			die("no SHUTDOWN from the host side: %llu of %zu bytes back", (unsigned long long)c->rx_bytes,
			    bytes + 4);
		drive(10);
	}
	if (c->reset)
		die("RST before the host's half-close");
	if (c->rx_bytes != bytes + 4 || c->rx_hash != fnv(want, bye, 4))
		die("guest got %llu bytes back (want %zu + BYE), hash %s", (unsigned long long)c->rx_bytes, bytes,
		    c->rx_hash == fnv(want, bye, 4) ? "ok" : "wrong");
	full_close(c, dl);
	host_wait(&h, dl);
	if (!h.ok_eof || h.bytes != bytes || h.hash != want)
		die("host got %llu bytes (want %zu), hash %s, EOF %s", (unsigned long long)h.bytes, bytes,
		    h.hash == want ? "ok" : "wrong", h.ok_eof ? "yes" : "no");
	printf("ok stream: %zu bytes each way through vsock:1:%u, checksums equal, half-close both ways, "
	       "%u credit updates from the guest\n", bytes, port, c->credit_updates);
	close(h.lfd);
	free(p);
}

static void t_refused(uint32_t port)
{
	struct conn *c = connect_to(T_STREAM, port, now() + 20);

	if (!c->reset || c->up)
		die("port %u: want RST, got RESPONSE", port);
	printf("ok refused: RST for port %u, where nothing listens\n", port);
}

static void t_h2g(uint32_t port, size_t bytes)
{
	double dl = now() + 40;
	struct host h = { .port = port, .want = bytes };
	uint64_t want;
	uint8_t *p = pattern(bytes, &want);
	struct conn *c = NULL;

	listen_port = port;
	host_start(&h, host_client);
	while (!__atomic_load_n(&h.done, __ATOMIC_ACQUIRE)) {
		if (now() > dl)
			die("the host client did not finish");
		drive(5);
		if (c == NULL)
			for (unsigned i = 0; i < 8; i++)
				if (conns[i].used && conns[i].listening_side)
					c = &conns[i];
		if (c == NULL)
			continue;
		/* Echo what came, as credit allows. */
		while (c->echo_len > 0 && credit(c) > 0 && !c->reset) {
			uint32_t n = c->echo_len < TXPAYLEN ? (uint32_t)c->echo_len : TXPAYLEN;

			if (n > credit(c))
				n = credit(c);
			tx(c, OP_RW, 0, c->echo, n);
			memmove(c->echo, c->echo + n, c->echo_len - n);
			c->echo_len -= n;
		}
		if (c->peer_shut_send && c->echo_len == 0 && !c->reset && c->rx_bytes == bytes)
			full_close(c, dl);
	}
	host_wait(&h, dl);
	if (c == NULL)
		die("the guest never saw the host's REQUEST");
	if (c->rport != h.local_port)
		die("the guest sees host port %u, the client's port is %u", c->rport, h.local_port);
	if (h.bytes != bytes || h.hash != want || !h.ok_eof)
		die("host client got %llu bytes back (want %zu), hash %s, EOF %s", (unsigned long long)h.bytes,
		    bytes, h.hash == want ? "ok" : "wrong", h.ok_eof ? "yes" : "no");
	if (c->rx_hash != want)
		die("the guest's bytes differ from the client's");
	printf("ok h2g: a client of forward-listen port %u (its port %u) reached the guest's port %u; %zu bytes "
	       "each way, checksums equal, EOF both ways\n", port, h.local_port, port, bytes);
	free(p);
}

static void t_seq(uint32_t port, int n, char **sizes)
{
	double dl = now() + 40;
	struct host h = { .lfd = vsock_listen(SOCK_SEQPACKET, port) };
	uint64_t lens[64], hashes[64];
	struct conn *c;

	if (n > 64)
		die("at most 64 messages");
	host_start(&h, host_seq);
	c = connect_to(T_SEQ, port, dl);
	if (c->reset)
		die("RST to the SEQPACKET connect to port %u", port);
	for (int i = 0; i < n; i++) {
		size_t len = strtoul(sizes[i], NULL, 10);
		uint8_t *p = malloc(len ? len : 1);

		for (size_t k = 0; k < len; k++)
			p[k] = (uint8_t)(pat(k) ^ (uint8_t)i);
		lens[i] = len;
		hashes[i] = fnv(FNV0, p, len);
		send_bytes(c, p, len, dl);
		free(p);
	}
	while (c->nmsg < (unsigned)n && !c->reset) {
		if (now() > dl)
			die("%u of %d messages came back (%llu bytes); the host got %u messages%s%s, err '%s'", c->nmsg, n,
			    (unsigned long long)c->rx_bytes, h.nmsg, h.truncated ? ", one truncated" : "",
			    h.done ? ", done" : "", h.err);
		drive(10);
	}
	if (c->reset)
		die("RST after %u messages back", c->nmsg);
	full_close(c, dl);
	host_wait(&h, dl);
	if (h.truncated)
		die("the host saw a truncated message");
	if (h.nmsg != (unsigned)n)
		die("the host got %u messages, want %d (boundaries lost)", h.nmsg, n);
	for (int i = 0; i < n; i++) {
		if (h.msg_lens[i] != lens[i] || h.msg_hashes[i] != hashes[i])
			die("host message %d: %llu bytes, want %llu (hash %s)", i, (unsigned long long)h.msg_lens[i],
			    (unsigned long long)lens[i], h.msg_hashes[i] == hashes[i] ? "ok" : "wrong");
		if (c->msg_lens[i] != lens[i] || c->msg_hashes[i] != hashes[i])
			die("echoed message %d: %llu bytes, want %llu", i, (unsigned long long)c->msg_lens[i],
			    (unsigned long long)lens[i]);
	}
	printf("ok seq: %d messages through vsock-seq:1:%u and back, each whole (the host read late)\n", n, port);
	close(h.lfd);
}

static void t_map(uint32_t port, uint32_t to)
{
	double dl = now() + 30;
	struct host h = { .lfd = vsock_listen(SOCK_STREAM, to) };
	struct conn *c;
	uint8_t bye[4] = "BYE\n";
	uint64_t want = fnv(fnv(FNV0, (const uint8_t *)"mapped", 6), bye, 4);

	host_start(&h, host_echo);
	c = connect_to(T_STREAM, port, dl);
	if (c->reset)
		die("RST to the connect to mapped port %u", port);
	send_bytes(c, (const uint8_t *)"mapped", 6, dl);
	tx(c, OP_SHUTDOWN, SHUT_SEND_F, NULL, 0);
	while (!c->peer_shut_send && !c->reset && now() < dl)
		drive(10);
	if (c->rx_hash != want)
		die("got %llu bytes back, not 'mapped' + BYE", (unsigned long long)c->rx_bytes);
	full_close(c, dl);
	host_wait(&h, dl);
	printf("ok map: guest port %u went to vsock:1:%u\n", port, to);
	close(h.lfd);
}

int main(int argc, char **argv)
{
	if (getenv("VSK_LAB_GUEST") == NULL || access("/lab/plan", F_OK) != 0) {
		fprintf(stderr, "fakevm: runs only inside a vsk lab guest (AF_VSOCK here could reach a real host)\n");
		return 2;
	}
	if (argc < 5) {
		fprintf(stderr, "usage: fakevm SOCKET CID stream|refused|h2g|seq|map ARGS...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	cid = (uint32_t)strtoul(argv[2], NULL, 10);
	test = argv[3];
	vu_setup(argv[1]);
	drive(50);
	if (!strcmp(test, "stream") && argc == 6)
		t_stream((uint32_t)strtoul(argv[4], NULL, 10), strtoul(argv[5], NULL, 10));
	else if (!strcmp(test, "refused"))
		t_refused((uint32_t)strtoul(argv[4], NULL, 10));
	else if (!strcmp(test, "h2g") && argc == 6)
		t_h2g((uint32_t)strtoul(argv[4], NULL, 10), strtoul(argv[5], NULL, 10));
	else if (!strcmp(test, "seq") && argc >= 6)
		t_seq((uint32_t)strtoul(argv[4], NULL, 10), argc - 5, argv + 5);
	else if (!strcmp(test, "map") && argc == 6)
		t_map((uint32_t)strtoul(argv[4], NULL, 10), (uint32_t)strtoul(argv[5], NULL, 10));
	else
		die("unknown test or arguments");
	return 0;
}
