/* relay engine: pairs of socketpairs/pipes/files relayed in a thread while
 * the test drives checksummed data through the outer ends. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include "helper_relay.h"

/* Drive SIZE bytes each way through one pair and check both checksums. */
static void both_ways(size_t size)
{
	struct runner rn;
	struct hs_flow fl[2];
	struct relay_end a, b;
	int x[2], y[2];

	runner_init(&rn);
	two_pairs(SOCK_STREAM, x, y);
	a = sock_end(x[1]);
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);
	hs_flow_init(&fl[0], x[0], y[1], size, 11);
	hs_flow_init(&fl[1], y[1], x[0], size + 7, 22);
	assert_int_equal(hs_drive(fl, 2, 60000), 0);
	runner_finish(&rn);
	for (int i = 0; i < 2; i++) {
		check_flow(&fl[i]);
		assert_int_equal(fl[i].got, fl[i].total);
		assert_int_equal(fl[i].crc_got, fl[i].crc_sent);
	}
	assert_int_equal(rn.ev.nnew, 1);
	assert_int_equal(rn.ev.ndone, 1);
	assert_int_equal(rn.ev.done[0].err, 0);
	assert_int_equal(rn.ev.done[0].a_to_b, size);
	assert_int_equal(rn.ev.done[0].b_to_a, size + 7);
	close(x[0]);
	close(y[1]);
}

static void test_both_ways(void **state)
{
	both_ways(1024 * 1024);
}

static void test_16mib(void **state)
{
	both_ways(16u * 1024 * 1024 + 4099);
}

static void test_half_close(void **state)
{
	struct runner rn;
	struct relay_end a, b;
	char buf[64];
	int x[2], y[2];

	runner_init(&rn);
	two_pairs(SOCK_STREAM, x, y);
	a = sock_end(x[1]);
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);

	assert_int_equal(write(x[0], "hello", 5), 5);
	assert_int_equal(shutdown(x[0], SHUT_WR), 0);
	/* B's peer sees the data, then EOF, while B->A is still open. */
	assert_int_equal(hs_read_all(y[1], buf, sizeof(buf), 5000), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(write(y[1], "world!", 6), 6);
	assert_true(hs_wait_readable(x[0], 5000));
	assert_int_equal(read(x[0], buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "world!", 6);
	/* Not ended yet: one direction is open. */
	assert_int_equal(relay_count(rn.r), 1);
	assert_int_equal(shutdown(y[1], SHUT_WR), 0);
	assert_int_equal(hs_read_all(x[0], buf, sizeof(buf), 5000), 0);
	runner_finish(&rn);
	assert_int_equal(rn.ev.ndone, 1);
	assert_int_equal(rn.ev.done[0].err, 0);
	assert_int_equal(rn.ev.done[0].a_to_b, 5);
	assert_int_equal(rn.ev.done[0].b_to_a, 6);
	close(x[0]);
	close(y[1]);
}

static void test_many_pairs(void **state)
{
	enum { N = 200, SIZE = 128 * 1024 };
	struct runner rn;
	struct hs_flow *fl = calloc(2 * N, sizeof(*fl));
	int (*x)[2] = calloc(N, sizeof(*x)), (*y)[2] = calloc(N, sizeof(*y));

	assert_non_null(fl);
	assert_non_null(x);
	assert_non_null(y);
	runner_init(&rn);
	for (int i = 0; i < N; i++) {
		struct relay_end a, b;
		two_pairs(SOCK_STREAM, x[i], y[i]);
		a = sock_end(x[i][1]);
		b = sock_end(y[i][0]);
		assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
		hs_flow_init(&fl[2 * i], x[i][0], y[i][1], SIZE + (size_t)i, 100 + (uint64_t)i);
		hs_flow_init(&fl[2 * i + 1], y[i][1], x[i][0], SIZE - (size_t)i, 900 + (uint64_t)i);
	}
	assert_int_equal(relay_count(rn.r), N);
	runner_start(&rn);
	assert_int_equal(hs_drive(fl, 2 * N, 60000), 0);
	runner_finish(&rn);
	for (int i = 0; i < 2 * N; i++) {
		check_flow(&fl[i]);
		assert_int_equal(fl[i].got, fl[i].total);
		assert_int_equal(fl[i].crc_got, fl[i].crc_sent);
	}
	assert_int_equal(rn.ev.ndone, N);
	for (int i = 0; i < N; i++) {
		close(x[i][0]);
		close(y[i][1]);
	}
	free(fl);
	free(x);
	free(y);
}

static void test_seqpacket_boundaries(void **state)
{
	static const size_t sizes[] = { 1, 2, 100, 4096, 65535, 65536, 65537, 150000, 3, 7 };
	struct runner rn;
	struct relay_end a, b;
	unsigned char *out = malloc(RELAY_BUF_MESSAGE), *in = malloc(RELAY_BUF_MESSAGE + 1);
	uint64_t st = 5;
	int x[2], y[2];

	assert_non_null(out);
	assert_non_null(in);
	runner_init(&rn);
	two_pairs(SOCK_SEQPACKET, x, y);
	a = sock_end(x[1]);
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int from = i % 2 ? y[1] : x[0], to = i % 2 ? x[0] : y[1];
		ssize_t n;

		hs_fill(&st, out, sizes[i]);
		assert_int_equal(send(from, out, sizes[i], 0), (ssize_t)sizes[i]);
		assert_true(hs_wait_readable(to, 5000));
		/* One recv gets exactly one whole message. */
		n = recv(to, in, RELAY_BUF_MESSAGE + 1, 0);
		assert_int_equal(n, (ssize_t)sizes[i]);
		assert_memory_equal(in, out, sizes[i]);
	}
	/* Two messages back to back stay two. */
	assert_int_equal(send(x[0], "ab", 2, 0), 2);
	assert_int_equal(send(x[0], "cde", 3, 0), 3);
	assert_true(hs_wait_readable(y[1], 5000));
	assert_int_equal(recv(y[1], in, 100, 0), 2);
	assert_true(hs_wait_readable(y[1], 5000));
	assert_int_equal(recv(y[1], in, 100, 0), 3);
	shutdown(x[0], SHUT_WR);
	shutdown(y[1], SHUT_WR);
	assert_int_equal(hs_read_all(y[1], (char *)in, 100, 5000), 0);
	runner_finish(&rn);
	assert_int_equal(rn.ev.done[0].err, 0);
	close(x[0]);
	close(y[1]);
	free(out);
	free(in);
}

/* SEQPACKET on one side only: bytes are streamed, none lost. */
static void test_seqpacket_to_stream(void **state)
{
	struct runner rn;
	struct relay_end a, b;
	struct hs_flow fl[2];
	int x[2], y[2];

	runner_init(&rn);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, x), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, y), 0);
	a = sock_end(x[1]);
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);
	hs_flow_init(&fl[0], x[0], y[1], 3 * 1024 * 1024, 31);
	hs_flow_init(&fl[1], y[1], x[0], 2 * 1024 * 1024, 32);
	assert_int_equal(hs_drive(fl, 2, 60000), 0);
	runner_finish(&rn);
	for (int i = 0; i < 2; i++) {
		check_flow(&fl[i]);
		assert_int_equal(fl[i].got, fl[i].total);
		assert_int_equal(fl[i].crc_got, fl[i].crc_sent);
	}
	close(x[0]);
	close(y[1]);
}

/* Side A as stdio would be: read from one pipe, write to another. */
static void test_pipes(void **state)
{
	struct runner rn;
	struct relay_end a, b;
	struct hs_flow fl[2];
	int in[2], out[2], y[2], keep;

	runner_init(&rn);
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, y), 0);
	keep = dup(in[0]); /* to see the flags the relay leaves behind */
	assert_true(keep >= 0);
	a = (struct relay_end){ .rd = in[0], .wr = out[1] };
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);
	hs_flow_init(&fl[0], in[1], y[1], 2 * 1024 * 1024 + 1, 41);
	fl[0].close_wfd = true;
	/* EOF on out[0] proves the relay closed the pipe's write end. */
	hs_flow_init(&fl[1], y[1], out[0], 1024 * 1024 + 3, 42);
	assert_int_equal(hs_drive(fl, 2, 60000), 0);
	runner_finish(&rn);
	for (int i = 0; i < 2; i++) {
		check_flow(&fl[i]);
		assert_int_equal(fl[i].got, fl[i].total);
		assert_int_equal(fl[i].crc_got, fl[i].crc_sent);
	}
	assert_int_equal(fcntl(keep, F_GETFL) & O_NONBLOCK, 0);
	close(keep);
	close(out[0]);
	close(y[1]);
}

/* Regular files: epoll refuses them, the relay must still move them. */
static void test_regular_files(void **state)
{
	char src[] = "/tmp/vsk-relay-src-XXXXXX", dst[] = "/tmp/vsk-relay-dst-XXXXXX";
	enum { SIZE = 3 * 1024 * 1024 + 5 };
	struct runner rn;
	struct relay_end a, b;
	struct hs_flow fl;
	unsigned char *data = malloc(SIZE), *back = malloc(SIZE + 1);
	uint64_t st = 51;
	int sfd = mkstemp(src), dfd = mkstemp(dst), y[2];

	assert_non_null(data);
	assert_non_null(back);
	assert_true(sfd >= 0 && dfd >= 0);
	hs_fill(&st, data, SIZE);
	assert_int_equal(write(sfd, data, SIZE), SIZE);
	assert_int_equal(lseek(sfd, 0, SEEK_SET), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, y), 0);
	runner_init(&rn);
	a = (struct relay_end){ .rd = sfd, .wr = dfd };
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);
	/* The peer echoes the file back: it lands in DST. */
	hs_flow_init(&fl, -1, y[1], SIZE, 0);
	assert_int_equal(hs_drive(&fl, 1, 30000), 0);
	assert_int_equal(fl.got, SIZE);
	assert_int_equal(fl.crc_got, hs_crc_of(51, SIZE));
	hs_flow_init(&fl, y[1], -1, SIZE, 51);
	assert_int_equal(hs_drive(&fl, 1, 30000), 0);
	runner_finish(&rn);
	dfd = open(dst, O_RDONLY);
	assert_true(dfd >= 0);
	assert_int_equal(read(dfd, back, SIZE + 1), SIZE);
	assert_memory_equal(back, data, SIZE);
	close(dfd);
	close(y[1]);
	unlink(src);
	unlink(dst);
	free(data);
	free(back);
}

/* Echo: one socket relayed to itself. */
static void test_echo_shape(void **state)
{
	struct runner rn;
	struct relay_end a, b;
	struct hs_flow fl;
	int s[2];

	runner_init(&rn);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	a = (struct relay_end){ .rd = s[1], .wr = -1 };
	b = (struct relay_end){ .rd = -1, .wr = s[1] };
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);
	hs_flow_init(&fl, s[0], s[0], 4 * 1024 * 1024, 61);
	assert_int_equal(hs_drive(&fl, 1, 30000), 0);
	runner_finish(&rn);
	check_flow(&fl);
	assert_int_equal(fl.got, fl.total);
	assert_int_equal(fl.crc_got, fl.crc_sent);
	assert_int_equal(rn.ev.done[0].a_to_b, fl.total);
	assert_int_equal(rn.ev.done[0].b_to_a, 0);
	close(s[0]);
}

struct sinkbuf {
	char data[256];
	size_t len;
	int eofs, calls;
};

static int sink(void *ctx, const void *buf, size_t len)
{
	struct sinkbuf *s = ctx;

	s->calls++;
	if (len == 0) {
		s->eofs++;
		return 0;
	}
	if (s->len + len > sizeof(s->data))
		return -ENOSPC;
	memcpy(s->data + s->len, buf, len);
	s->len += len;
	return 0;
}

static void test_sink(void **state)
{
	struct runner rn;
	struct relay_end a, b;
	struct sinkbuf sb = { .len = 0 };
	char buf[16];
	int s[2];

	runner_init(&rn);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	a = sock_end(s[1]);
	b = (struct relay_end){ .rd = -1, .wr = -1, .sink = sink, .sink_ctx = &sb };
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);
	/* Nothing will come back: the peer sees EOF at once. */
	assert_int_equal(hs_read_all(s[0], buf, sizeof(buf), 5000), 0);
	assert_int_equal(write(s[0], "to the sink", 11), 11);
	shutdown(s[0], SHUT_WR);
	runner_finish(&rn);
	assert_int_equal(sb.len, 11);
	assert_memory_equal(sb.data, "to the sink", 11);
	assert_int_equal(sb.eofs, 1);
	assert_int_equal(rn.ev.done[0].a_to_b, 11);
	close(s[0]);
}

/* A sink error resets the pair: the peer must not see a clean end. */
static void test_sink_error_resets(void **state)
{
	struct runner rn;
	struct relay_end a, b;
	struct sinkbuf sb = { .len = 250 };
	char big[100];
	int s[2];

	runner_init(&rn);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	a = sock_end(s[1]);
	b = (struct relay_end){ .rd = -1, .wr = -1, .sink = sink, .sink_ctx = &sb };
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);
	memset(big, 'x', sizeof(big));
	assert_int_equal(write(s[0], big, sizeof(big)), (ssize_t)sizeof(big));
	runner_finish(&rn);
	assert_int_equal(rn.ev.done[0].err, ENOSPC);
	assert_int_equal(rn.ev.done[0].side, 'b');
	assert_string_equal(rn.ev.done[0].op, "sink");
	close(s[0]);
}

/* SEQPACKET into a stream: a message larger than the stream buffer still
 * arrives whole; and into a sink: one call per message. */
static void test_seqpacket_big_and_sink(void **state)
{
	enum { BIG = 150000 };
	struct runner rn;
	struct relay_end a, b;
	struct sinkbuf sb = { .len = 0 };
	unsigned char *out = malloc(BIG), *in = malloc(BIG + 1);
	uint64_t st = 9;
	int x[2], y[2], s[2];

	assert_non_null(out);
	assert_non_null(in);
	runner_init(&rn);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, x), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, y), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, s), 0);
	a = sock_end(x[1]);
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	a = sock_end(s[1]);
	b = (struct relay_end){ .rd = -1, .wr = -1, .sink = sink, .sink_ctx = &sb };
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	/* Queued before the relay runs: boundaries must come from the socket. */
	assert_int_equal(send(s[0], "one", 3, 0), 3);
	assert_int_equal(send(s[0], "two!", 4, 0), 4);
	assert_int_equal(send(s[0], "3", 1, 0), 1);
	shutdown(s[0], SHUT_WR);
	hs_fill(&st, out, BIG);
	assert_int_equal(send(x[0], out, BIG, 0), BIG);
	shutdown(x[0], SHUT_WR);
	shutdown(y[1], SHUT_WR);
	runner_start(&rn);
	assert_int_equal(hs_read_all(y[1], (char *)in, BIG + 1, 5000), BIG);
	assert_memory_equal(in, out, BIG);
	runner_finish(&rn);
	assert_int_equal(sb.len, 8);
	assert_memory_equal(sb.data, "onetwo!3", 8);
	assert_int_equal(sb.calls, 4); /* three messages and the EOF */
	for (int i = 0; i < rn.ev.ndone; i++)
		assert_int_equal(rn.ev.done[i].err, 0);
	close(x[0]);
	close(y[1]);
	close(s[0]);
	free(out);
	free(in);
}

/* B's peer went away: writing to B fails, the pair is reset, A's peer
 * learns it instead of waiting forever. */
static void test_reset(void **state)
{
	struct runner rn;
	struct relay_end a, b;
	char buf[64];
	int x[2], y[2];
	long n;

	runner_init(&rn);
	two_pairs(SOCK_STREAM, x, y);
	a = sock_end(x[1]);
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	close(y[1]);
	runner_start(&rn);
	assert_int_equal(write(x[0], "doomed", 6), 6);
	runner_finish(&rn);
	assert_int_equal(rn.ev.ndone, 1);
	assert_int_equal(rn.ev.done[0].err, EPIPE);
	assert_int_equal(rn.ev.done[0].side, 'b');
	assert_string_equal(rn.ev.done[0].op, "write");
	n = hs_read_all(x[0], buf, sizeof(buf), 5000);
	assert_true(n == 0 || n == -ECONNRESET);
	close(x[0]);
}

/* B's peer does not read: the relay stops reading A, memory stays bounded,
 * and once B's peer reads, every byte arrives. */
static void test_backpressure(void **state)
{
	struct runner rn;
	struct relay_end a, b;
	struct hs_flow fl;
	unsigned char chunk[65536];
	uint64_t st = 71;
	size_t written = 0, off = 0, len = 0;
	int x[2], y[2];

	runner_init(&rn);
	two_pairs(SOCK_STREAM, x, y);
	a = sock_end(x[1]);
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);
	hs_nonblock(x[0]);
	for (int idle = 0; idle < 3 && written < 64u * 1024 * 1024;) {
		struct pollfd pfd = { .fd = x[0], .events = POLLOUT };
		ssize_t n;

		if (poll(&pfd, 1, 200) == 0) {
			idle++;
			continue;
		}
		if (len == 0) {
			hs_fill(&st, chunk, sizeof(chunk));
			off = 0;
			len = sizeof(chunk);
		}
		n = write(x[0], chunk + off, len);
		if (n > 0) {
			off += (size_t)n;
			len -= (size_t)n;
			written += (size_t)n;
		}
	}
	/* Socket buffers plus one relay buffer, far below what was offered. */
	assert_true(written < 8u * 1024 * 1024);
	assert_true(written > 0);
	shutdown(x[0], SHUT_WR);
	shutdown(x[0], SHUT_RD);
	hs_flow_init(&fl, -1, y[1], written, 0);
	assert_int_equal(hs_drive(&fl, 1, 30000), 0);
	assert_int_equal(fl.got, written);
	assert_int_equal(fl.crc_got, hs_crc_of(71, written));
	shutdown(y[1], SHUT_WR);
	runner_finish(&rn);
	close(x[0]);
	close(y[1]);
}

static bool closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

static void test_invalid(void **state)
{
	struct relay *r;
	struct relay_end a, b;
	int s[2];

	assert_int_equal(relay_new(&r, NULL, NULL), 0);
	a = (struct relay_end){ .rd = -1, .wr = -1 };
	b = a;
	assert_int_equal(relay_add(r, &a, &b, NULL), -EINVAL);
	/* A has data to send but B can take none: refused, fds closed. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	a = sock_end(s[0]);
	b = (struct relay_end){ .rd = s[1], .wr = -1 };
	assert_int_equal(relay_add(r, &a, &b, NULL), -EINVAL);
	assert_true(closed(s[0]));
	assert_true(closed(s[1]));
	assert_int_equal(relay_count(r), 0);
	relay_free(r);
}

struct watched {
	struct relay *r;
	int calls;
};

static void on_readable(void *ctx, int fd)
{
	struct watched *w = ctx;
	char c;

	w->calls++;
	assert_int_equal(read(fd, &c, 1), 1);
	relay_stop(w->r);
}

static void test_watch_stop_timeout(void **state)
{
	struct watched w = { .calls = 0 };
	int p[2];

	assert_int_equal(relay_new(&w.r, NULL, NULL), 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(relay_watch(w.r, p[0], on_readable, &w), 0);
	assert_int_equal(relay_run(w.r, 100), -ETIMEDOUT);
	assert_int_equal(w.calls, 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(relay_run(w.r, 5000), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(relay_unwatch(w.r, p[0]), 0);
	assert_int_equal(relay_unwatch(w.r, p[0]), -ENOENT);
	/* Nothing left to serve: returns at once. */
	assert_int_equal(relay_run(w.r, 5000), 0);
	relay_free(w.r);
	/* The watched fd stays the caller's. */
	assert_false(closed(p[0]));
	close(p[0]);
	close(p[1]);
}

/* How the servers stop on SIGINT/SIGTERM/SIGHUP: the handler writes to a
 * self-pipe the relay watches, whose callback calls relay_stop().  The
 * loop returns 0 while pairs are still alive (idle, waiting for data), and
 * relay_free() closes them. */
static int sig_pipe[2] = { -1, -1 };

static void on_sig(int sig)
{
	ssize_t n = write(sig_pipe[1], "s", 1);

	(void)sig;
	(void)n;
}

static void test_signal_stops_run(void **state)
{
	struct watched w = { .calls = 0 };
	struct sigaction sa, old;
	struct relay_end a, b;
	struct itimerval it = { .it_value = { 0, 50000 } };
	int x[2], y[2];

	assert_int_equal(pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(relay_new(&w.r, NULL, NULL), 0);
	two_pairs(SOCK_STREAM, x, y);
	a = sock_end(x[1]);
	b = sock_end(y[0]);
	assert_true(relay_add(w.r, &a, &b, NULL) >= 0);
	assert_int_equal(relay_watch(w.r, sig_pipe[0], on_readable, &w), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig; /* no SA_RESTART, as cli_stop_signals() */
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	/* Without the signal this would time out after 5 s. */
	assert_int_equal(relay_run(w.r, 5000), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(relay_count(w.r), 1);
	relay_free(w.r);
	sigaction(SIGALRM, &old, NULL);
	alarm(300);
	/* The relay closed the pair's fds: the outer ends see EOF. */
	assert_true(closed(x[1]) && closed(y[0]));
	{
		char c;

		assert_int_equal(read(x[0], &c, 1), 0);
		assert_int_equal(read(y[1], &c, 1), 0);
	}
	close(x[0]);
	close(y[1]);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
}

/* relay_pump: the single-pair API connect uses. */
struct pump_args {
	int a_rd, a_wr, b;
	struct relay_info info;
	int rc;
};

static void *pump_thread(void *arg)
{
	struct pump_args *pa = arg;
	struct relay_end a = { .rd = pa->a_rd, .wr = pa->a_wr }, b = sock_end(pa->b);

	pa->rc = relay_pump(&a, &b, &pa->info);
	return NULL;
}

static void test_pump(void **state)
{
	struct pump_args pa;
	struct hs_flow fl[2];
	pthread_t th;
	int in[2], out[2], y[2];

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, y), 0);
	pa = (struct pump_args){ .a_rd = in[0], .a_wr = out[1], .b = y[0] };
	assert_int_equal(pthread_create(&th, NULL, pump_thread, &pa), 0);
	hs_flow_init(&fl[0], in[1], y[1], 300000, 81);
	fl[0].close_wfd = true;
	hs_flow_init(&fl[1], y[1], out[0], 200000, 82);
	assert_int_equal(hs_drive(fl, 2, 30000), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(pa.rc, 0);
	assert_int_equal(pa.info.a_to_b, 300000);
	assert_int_equal(pa.info.b_to_a, 200000);
	for (int i = 0; i < 2; i++)
		assert_int_equal(fl[i].crc_got, fl[i].crc_sent);
	close(out[0]);
	close(y[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_both_ways),
		cmocka_unit_test(test_half_close),
		cmocka_unit_test(test_16mib),
		cmocka_unit_test(test_many_pairs),
		cmocka_unit_test(test_seqpacket_boundaries),
		cmocka_unit_test(test_seqpacket_to_stream),
		cmocka_unit_test(test_pipes),
		cmocka_unit_test(test_regular_files),
		cmocka_unit_test(test_echo_shape),
		cmocka_unit_test(test_sink),
		cmocka_unit_test(test_sink_error_resets),
		cmocka_unit_test(test_seqpacket_big_and_sink),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_watch_stop_timeout),
		cmocka_unit_test(test_signal_stops_run),
		cmocka_unit_test(test_pump),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(300); /* a hang is a failure, not a stuck CI job */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
