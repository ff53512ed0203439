/* relay_dir: how a direction moves its data between stream sockets:
 * splice() through a pipe for bulk, recv()/send() for small chunks,
 * buffers only while data moves (relay engine tests: test_relay.c). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "helper_relay.h"

/* Stream sockets both sides (Unix -> TCP, the proxy's case): 64+ MiB each
 * way by splice(), equal checksums, and the shorter direction's EOF
 * (half-close) passed on while the other still flows. */
static void test_splice_64mib(void **state)
{
	enum { SIZE = 64 * 1024 * 1024 + 12345 };
	struct runner rn;
	struct hs_flow fl[2];
	struct relay_end a, b;
	int x[2], y[2];

	runner_init(&rn);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x), 0);
	tcp_pair(y);
	a = sock_end(x[1]);
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);
	hs_flow_init(&fl[0], x[0], y[1], SIZE, 91);
	hs_flow_init(&fl[1], y[1], x[0], SIZE / 3, 92);
	assert_int_equal(hs_drive(fl, 2, 120000), 0);
	runner_finish(&rn);
	for (int i = 0; i < 2; i++) {
		check_flow(&fl[i]);
		assert_int_equal(fl[i].got, fl[i].total);
		assert_int_equal(fl[i].crc_got, fl[i].crc_sent);
	}
	assert_int_equal(rn.ev.ndone, 1);
	assert_int_equal(rn.ev.done[0].err, 0);
	assert_int_equal(rn.ev.done[0].a_to_b, SIZE);
	assert_int_equal(rn.ev.done[0].b_to_a, SIZE / 3);
	/* The pipes carried the bulk (the helper writes 4 KiB at a time, so
	 * some chunks are read small and move by recv/send). */
	if (rn.ev.done[0].spliced < (SIZE + SIZE / 3) / 8)
		fail_msg("only %llu of %llu bytes spliced", (unsigned long long)rn.ev.done[0].spliced,
			 (unsigned long long)(SIZE + SIZE / 3));
	close(x[0]);
	close(y[1]);
}

/* SEQPACKET never splices (a pipe would merge messages). */
static void test_no_splice_seqpacket(void **state)
{
	struct runner rn;
	struct relay_end a, b;
	char buf[16];
	int x[2], y[2];

	runner_init(&rn);
	two_pairs(SOCK_SEQPACKET, x, y);
	a = sock_end(x[1]);
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);
	assert_int_equal(send(x[0], "ab", 2, 0), 2);
	assert_int_equal(send(x[0], "cde", 3, 0), 3);
	shutdown(x[0], SHUT_WR);
	shutdown(y[1], SHUT_WR);
	assert_true(hs_wait_readable(y[1], 5000));
	assert_int_equal(recv(y[1], buf, sizeof(buf), 0), 2);
	assert_int_equal(recv(y[1], buf, sizeof(buf), 0), 3);
	runner_finish(&rn);
	assert_int_equal(rn.ev.done[0].a_to_b, 5);
	assert_int_equal(rn.ev.done[0].spliced, 0);
	close(x[0]);
	close(y[1]);
}

/* Idle pairs hold no user-space buffer; a buffered pair (pipes, which do
 * not splice here) holds one only while data moves. */
static void test_lazy_buffers(void **state)
{
	enum { N = 100 };
	struct relay *r;
	struct relay_end a, b;
	int x[N][2], y[N][2], in[2], out[2], s[2];
	char buf[8];

	assert_int_equal(relay_new(&r, NULL, NULL), 0);
	for (int i = 0; i < N; i++) {
		two_pairs(SOCK_STREAM, x[i], y[i]);
		a = sock_end(x[i][1]);
		b = sock_end(y[i][0]);
		assert_true(relay_add(r, &a, &b, NULL) >= 0);
	}
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	a = (struct relay_end){ .rd = in[0], .wr = out[1] };
	b = sock_end(s[1]);
	assert_true(relay_add(r, &a, &b, NULL) >= 0);
	assert_int_equal(relay_run(r, 200), -ETIMEDOUT);
	assert_int_equal(relay_count(r), N + 1);
	assert_int_equal(relay_buffers(r), 0);
	/* Data through the pipe side arrives; afterwards the buffer is gone. */
	assert_int_equal(write(in[1], "pipe", 4), 4);
	assert_int_equal(relay_run(r, 200), -ETIMEDOUT);
	assert_int_equal(read(s[0], buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pipe", 4);
	assert_int_equal(relay_buffers(r), 0);
	relay_free(r);
	for (int i = 0; i < N; i++) {
		close(x[i][0]);
		close(y[i][1]);
	}
	close(in[1]);
	close(out[0]);
	close(s[0]);
}

/* Read exactly LEN bytes from FD within 5 s. */
static void read_exact(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		assert_true(hs_wait_readable(fd, 5000));
		n = read(fd, buf + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* Request/response through stream sockets: small chunks move by recv/send
 * (no splice after the first), each round trip arrives whole and in
 * order, and data followed at once by EOF still passes the EOF on. */
static void test_small_messages(void **state)
{
	enum { N = 5000, LEN = 64 };
	struct runner rn;
	struct relay_end a, b;
	char out[LEN], in[LEN], buf[64];
	int x[2], y[2];

	runner_init(&rn);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x), 0);
	tcp_pair(y);
	a = sock_end(x[1]);
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);
	for (int i = 0; i < N; i++) {
		memset(out, 'a' + i % 26, LEN);
		memcpy(out, &i, sizeof(i));
		assert_int_equal(write(x[0], out, LEN), LEN);
		read_exact(y[1], in, LEN);
		assert_memory_equal(in, out, LEN);
		out[LEN - 1] = 'R';
		assert_int_equal(write(y[1], out, LEN), LEN);
		read_exact(x[0], in, LEN);
		assert_memory_equal(in, out, LEN);
	}
	/* Ten bytes and the EOF in one go. */
	assert_int_equal(write(x[0], "last bytes", 10), 10);
	assert_int_equal(shutdown(x[0], SHUT_WR), 0);
	assert_int_equal(hs_read_all(y[1], buf, sizeof(buf), 5000), 10);
	assert_memory_equal(buf, "last bytes", 10);
	assert_int_equal(shutdown(y[1], SHUT_WR), 0);
	assert_int_equal(hs_read_all(x[0], buf, sizeof(buf), 5000), 0);
	runner_finish(&rn);
	assert_int_equal(rn.ev.done[0].err, 0);
	assert_int_equal(rn.ev.done[0].a_to_b, N * LEN + 10);
	assert_int_equal(rn.ev.done[0].b_to_a, N * LEN);
	/* At most the first chunk each way went through a pipe. */
	assert_true(rn.ev.done[0].spliced <= 2 * LEN);
	close(x[0]);
	close(y[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_splice_64mib),
		cmocka_unit_test(test_no_splice_seqpacket),
		cmocka_unit_test(test_lazy_buffers),
		cmocka_unit_test(test_small_messages),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(300); /* a hang is a failure, not a stuck CI job */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
