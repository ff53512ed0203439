/* relay: pairs whose B side is dialed in the loop, timers, sinks that say
 * "not now", and the sender threads of vsock SEQPACKET destinations (tried
 * on AF_UNIX SEQPACKET through relay_test_seq_all(); vsock itself is the
 * lab's, tests/lab case bench_proxy_vsock).  About 2 s. */
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
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "helper_relay.h"
#include "relay_int.h"

static char dir[64];

static int setup(void **state)
{
	strcpy(dir, "/tmp/vsk-test-rdial.XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int unix_listener(const char *path, int backlog)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

static void target(struct dial_target *t, const char *path)
{
	char text[160];
	struct vsk_addr a;

	snprintf(text, sizeof(text), "unix:%s", path);
	assert_int_equal(vsk_addr_parse(text, &a, NULL, 0), 0);
	assert_int_equal(dial_target_init(t, &a, NULL), 0);
}

/* A dialed pair: NEW at once, UP once connected, then data both ways. */
static void test_dial_flows(void **state)
{
	struct runner rn;
	struct dial_target t;
	struct relay_end a;
	struct hs_flow fl[2];
	char path[128];
	int x[2], lfd, c;

	snprintf(path, sizeof(path), "%s/t1.sock", dir);
	lfd = unix_listener(path, 4);
	target(&t, path);
	runner_init(&rn);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x), 0);
	a = sock_end(x[1]);
	assert_true(relay_add_dial(rn.r, &a, &t, 5000, NULL) >= 0);
	dial_target_free(&t); /* the dial holds what it needs */
	assert_int_equal(rn.ev.nnew, 1);
	assert_int_equal(rn.ev.nup, 0); /* never from inside the call */
	assert_int_equal(relay_count(rn.r), 1);
	runner_start(&rn);
	c = accept(lfd, NULL, NULL);
	assert_true(c >= 0);
	hs_flow_init(&fl[0], x[0], c, 2 * 1024 * 1024, 1);
	hs_flow_init(&fl[1], c, x[0], 1024 * 1024 + 5, 2);
	assert_int_equal(hs_drive(fl, 2, 30000), 0);
	runner_finish(&rn);
	for (int i = 0; i < 2; i++) {
		check_flow(&fl[i]);
		assert_int_equal(fl[i].crc_got, fl[i].crc_sent);
	}
	assert_int_equal(rn.ev.nup, 1);
	assert_int_equal(rn.ev.ndone, 1);
	assert_int_equal(rn.ev.done[0].err, 0);
	assert_int_equal(rn.ev.done[0].a_to_b, 2 * 1024 * 1024);
	close(x[0]);
	close(c);
	close(lfd);
}

/* Dial T until a connect does not complete at once (the Unix listener's
 * backlog is full); the connected sockets go to HOLD.  Their count. */
static int fill_unix_queue(const struct dial_target *t, int *hold, int max)
{
	int n = 0;

	for (;;) {
		struct dial d;

		if (dial_start(&d, t) != 0) {
			dial_cancel(&d);
			return n;
		}
		assert_true(n < max);
		hold[n++] = dial_take(&d);
	}
}

/* A dial that fails: the client is closed and the failure reported with
 * the dial's step; one that times out likewise. */
static void test_dial_fails(void **state)
{
	struct runner rn;
	struct dial_target t, full;
	struct relay_end a;
	char path[128], buf[8];
	int x[2], y[2], lfd, hold[8], n;

	snprintf(path, sizeof(path), "%s/none.sock", dir);
	target(&t, path);
	snprintf(path, sizeof(path), "%s/full.sock", dir);
	lfd = unix_listener(path, 1);
	target(&full, path);
	n = fill_unix_queue(&full, hold, 8); /* the listener's queue */
	runner_init(&rn);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, y), 0);
	a = sock_end(x[1]);
	assert_true(relay_add_dial(rn.r, &a, &t, 5000, (void *)1) >= 0);
	a = sock_end(y[1]);
	assert_true(relay_add_dial(rn.r, &a, &full, 300, (void *)2) >= 0);
	assert_int_equal(rn.ev.ndone, 0);
	runner_start(&rn);
	assert_int_equal(hs_read_all(x[0], buf, sizeof(buf), 5000), 0);
	assert_int_equal(hs_read_all(y[0], buf, sizeof(buf), 5000), 0);
	runner_finish(&rn);
	assert_int_equal(rn.ev.ndone, 2);
	for (int i = 0; i < 2; i++) {
		const struct relay_info *in = &rn.ev.done[i];

		assert_int_equal(in->side, 'b');
		assert_string_equal(in->op, "connect");
		assert_int_equal(in->err, in->udata == (void *)1 ? ENOENT : ETIMEDOUT);
	}
	assert_int_equal(rn.ev.nup, 0);
	for (int i = 0; i < n; i++)
		close(hold[i]);
	dial_target_free(&t);
	dial_target_free(&full);
	close(x[0]);
	close(y[0]);
	close(lfd);
}

/* A client that hangs up while its target does not answer gives its dial
 * up at once; one that only half-closes (it waits for the answer) keeps
 * it, and gets its answer once the target takes it. */
static void test_dial_client_leaves(void **state)
{
	struct runner rn;
	struct dial_target t;
	struct relay_end a;
	char path[128], buf[16];
	int gone[2], half[2], lfd, hold[8], n, c;

	snprintf(path, sizeof(path), "%s/leave.sock", dir);
	lfd = unix_listener(path, 1);
	target(&t, path);
	n = fill_unix_queue(&t, hold, 8);
	runner_init(&rn);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, gone), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, half), 0);
	a = sock_end(gone[1]);
	assert_true(relay_add_dial(rn.r, &a, &t, 0, (void *)1) >= 0);
	a = sock_end(half[1]);
	assert_true(relay_add_dial(rn.r, &a, &t, 0, (void *)2) >= 0);
	runner_start(&rn);
	assert_int_equal(write(half[0], "ask", 3), 3);
	assert_int_equal(shutdown(half[0], SHUT_WR), 0);
	close(gone[0]);
	/* The one gone ends soon (its dial had no deadline at all). */
	for (int i = 0; i < 500 && rn.ev.ndone < 1; i++)
		usleep(10000);
	assert_int_equal(rn.ev.ndone, 1);
	assert_ptr_equal(rn.ev.done[0].udata, (void *)1);
	assert_int_equal(rn.ev.done[0].err, ECONNRESET);
	assert_int_equal(rn.ev.done[0].side, 'a');
	/* Room for the other: accept the queue until its connection comes. */
	for (int i = 0; i < n; i++) {
		c = accept(lfd, NULL, NULL);
		assert_true(c >= 0);
		close(c);
		close(hold[i]);
	}
	c = accept(lfd, NULL, NULL);
	assert_true(c >= 0);
	assert_int_equal(hs_read_all(c, buf, sizeof(buf), 5000), 3);
	assert_memory_equal(buf, "ask", 3);
	assert_int_equal(write(c, "answer", 6), 6);
	close(c);
	assert_int_equal(hs_read_all(half[0], buf, sizeof(buf), 5000), 6);
	assert_memory_equal(buf, "answer", 6);
	runner_finish(&rn);
	assert_int_equal(rn.ev.ndone, 2);
	assert_int_equal(rn.ev.done[1].err, 0);
	dial_target_free(&t);
	close(half[0]);
	close(lfd);
}

/* The stall of issue 12 at the relay's level: a dial that cannot finish
 * (its target's queue is full, no deadline) while an established pair
 * moves all its data; the dial gets through only once the test makes
 * room, so the order proves nothing waited on it. */
static void test_pending_dial_blocks_nobody(void **state)
{
	enum { SIZE = 8 * 1024 * 1024 };
	struct runner rn;
	struct dial_target t;
	struct relay_end a, b;
	struct hs_flow fl[2];
	char path[128], buf[8];
	int x[2], y[2], z[2], lfd, hold[8], n, c;

	snprintf(path, sizeof(path), "%s/stall.sock", dir);
	lfd = unix_listener(path, 1);
	target(&t, path);
	n = fill_unix_queue(&t, hold, 8);
	runner_init(&rn);
	two_pairs(SOCK_STREAM, x, y);
	a = sock_end(x[1]);
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, z), 0);
	a = sock_end(z[1]);
	assert_true(relay_add_dial(rn.r, &a, &t, 0, NULL) >= 0);
	runner_start(&rn);
	hs_flow_init(&fl[0], x[0], y[1], SIZE, 7);
	hs_flow_init(&fl[1], y[1], x[0], SIZE / 2, 8);
	assert_int_equal(hs_drive(fl, 2, 60000), 0);
	for (int i = 0; i < 2; i++) {
		check_flow(&fl[i]);
		assert_int_equal(fl[i].crc_got, fl[i].crc_sent);
	}
	/* The dial is still waiting (it has nowhere to go). */
	assert_int_equal(rn.ev.nup, 0);
	/* Room: the dial connects (within its retry delay) and the pair runs. */
	c = accept(lfd, NULL, NULL);
	assert_true(c >= 0);
	close(c);
	close(hold[0]);
	c = accept(lfd, NULL, NULL);
	assert_true(c >= 0);
	while (--n > 0) {
		/* Accept until the dialed one (the last in the queue) is in hand. */
		close(c);
		c = accept(lfd, NULL, NULL);
		assert_true(c >= 0);
		close(hold[n]);
	}
	assert_int_equal(write(z[0], "hi", 2), 2);
	assert_true(hs_wait_readable(c, 5000));
	assert_int_equal(read(c, buf, sizeof(buf)), 2);
	shutdown(z[0], SHUT_WR);
	close(c);
	assert_int_equal(hs_read_all(z[0], buf, sizeof(buf), 5000), 0);
	runner_finish(&rn);
	assert_int_equal(rn.ev.nup, 1);
	assert_int_equal(rn.ev.ndone, 2);
	dial_target_free(&t);
	close(x[0]);
	close(y[1]);
	close(z[0]);
	close(lfd);
}

/* Timers run in order, cancelled ones never, and keep relay_run() going. */
struct tick {
	int order[4], n;
};

static struct tick the_tick;
static int slots[4] = { 0, 1, 2, 3 };

static void on_slot(void *ctx)
{
	the_tick.order[the_tick.n++] = *(int *)ctx;
}

static void test_timers(void **state)
{
	struct relay *r;
	struct relay_timer *t2;

	assert_int_equal(relay_new(&r, NULL, NULL), 0);
	assert_non_null(relay_after(r, 60, on_slot, &slots[3]));
	t2 = relay_after(r, 30, on_slot, &slots[2]);
	assert_non_null(t2);
	assert_non_null(relay_after(r, 0, on_slot, &slots[0]));
	assert_non_null(relay_after(r, 20, on_slot, &slots[1]));
	relay_cancel(r, t2);
	/* No pair and no watch: the timers alone keep it running. */
	assert_int_equal(relay_run(r, 5000), 0);
	assert_int_equal(the_tick.n, 3);
	assert_int_equal(the_tick.order[0], 0);
	assert_int_equal(the_tick.order[1], 1);
	assert_int_equal(the_tick.order[2], 3);
	/* A pending timer is freed with the relay. */
	assert_non_null(relay_after(r, 100000, on_slot, &slots[2]));
	relay_free(r);
}

/* A sink that takes a chunk only when told it can. */
struct slow_sink {
	struct relay *r;
	int busy;        /* refuse the next offers with -EAGAIN */
	size_t got;
	int refused;
	bool eof;
};

static void sink_unblock(void *ctx)
{
	struct slow_sink *s = ctx;

	s->busy = 0;
	relay_sink_ready(s->r);
}

static int slow_take(void *ctx, const void *buf, size_t len)
{
	struct slow_sink *s = ctx;

	if (s->busy) {
		s->refused++;
		return -EAGAIN;
	}
	if (len == 0) {
		s->eof = true;
		return 0;
	}
	s->got += len;
	/* Every chunk makes the next offer wait 5 ms. */
	s->busy = 1;
	assert_non_null(relay_after(s->r, 5, sink_unblock, s));
	return 0;
}

static void test_sink_eagain(void **state)
{
	struct runner rn;
	struct slow_sink s = { .busy = 1 };
	struct relay_end a, b = { .rd = -1, .wr = -1, .sink = slow_take, .sink_ctx = &s };
	struct hs_flow fl;
	int x[2];

	runner_init(&rn);
	s.r = rn.r;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x), 0);
	a = (struct relay_end){ .rd = x[1], .wr = -1 };
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	assert_non_null(relay_after(rn.r, 20, sink_unblock, &s));
	runner_start(&rn);
	hs_flow_init(&fl, x[0], -1, 300000, 3);
	assert_int_equal(hs_drive(&fl, 1, 30000), 0);
	runner_finish(&rn);
	assert_int_equal(s.got, 300000);
	assert_true(s.eof);
	assert_true(s.refused > 0);
	assert_int_equal(rn.ev.done[0].err, 0);
	close(x[0]);
}

/* Sender threads: messages whole and in order while the destination
 * reads slowly, another pair unaffected; a pair reset while its sender is
 * stuck in a send does not hang the relay. */
static void test_seq_senders(void **state)
{
	enum { MSGS = 40, BIG = 150000 };
	struct runner rn;
	struct relay_end a, b;
	struct hs_flow fl[2];
	unsigned char *out = malloc(BIG), *in = malloc(BIG + 1);
	int x[2], y[2], u[2], v[2], s[2], q[2];
	uint64_t st = 9;

	assert_non_null(out);
	assert_non_null(in);
	runner_init(&rn);
	relay_test_seq_all(rn.r, true);
	/* Pair 1: SEQPACKET both sides, big messages. */
	two_pairs(SOCK_SEQPACKET, x, y);
	a = sock_end(x[1]);
	b = sock_end(y[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	/* Pair 2: streams. */
	two_pairs(SOCK_STREAM, u, v);
	a = sock_end(u[1]);
	b = sock_end(v[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	/* Pair 3: its destination never reads: its sender blocks for good. */
	two_pairs(SOCK_SEQPACKET, s, q);
	a = sock_end(s[1]);
	b = sock_end(q[0]);
	assert_true(relay_add(rn.r, &a, &b, NULL) >= 0);
	runner_start(&rn);
	/* Until its queues are full: the relay took some, its sender is stuck. */
	{
		int sent = 0;
		for (int i = 0; i < 50; i++) {
			if (send(s[0], out, BIG, MSG_DONTWAIT) == BIG)
				sent++;
			else if (sent >= 3)
				break;
			else
				usleep(10000);
		}
		assert_true(sent >= 3);
	}
	hs_flow_init(&fl[0], u[0], v[1], 4 * 1024 * 1024, 5);
	hs_flow_init(&fl[1], v[1], u[0], 1024 * 1024, 6);
	for (int i = 0; i < MSGS; i++) {
		size_t len = 1 + (size_t)(i * 7919) % BIG;
		ssize_t n;

		hs_fill(&st, out, len);
		assert_int_equal(send(x[0], out, len, 0), (ssize_t)len);
		if (i % 8 == 0)
			usleep(2000); /* a slow reader */
		if (!hs_wait_readable(y[1], 5000))
			fail_msg("message %d (%zu bytes) did not come through", i, len);
		n = recv(y[1], in, BIG + 1, 0);
		assert_int_equal(n, (ssize_t)len);
		assert_memory_equal(in, out, len);
	}
	/* The stream pair moved all its data while pair 3's sender was stuck. */
	assert_int_equal(hs_drive(fl, 2, 30000), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(fl[i].crc_got, fl[i].crc_sent);
	shutdown(x[0], SHUT_WR);
	shutdown(y[1], SHUT_WR);
	assert_int_equal(hs_read_all(y[1], (char *)in, 16, 5000), 0);
	/* Pair 3 ends by an error on its other direction (a message back to a
	 * source that left): its stuck sender is left the fd and the buffer
	 * and wakes by the shutdown. */
	close(s[0]);
	assert_int_equal(send(q[1], "x", 1, 0), 1);
	runner_finish(&rn);
	{
		int errs = 0;
		for (int i = 0; i < rn.ev.ndone; i++)
			errs += rn.ev.done[i].err != 0;
		assert_int_equal(errs, 1);
	}
	assert_int_equal(rn.ev.ndone, 3);
	close(x[0]);
	close(y[1]);
	close(u[0]);
	close(v[1]);
	close(q[1]);
	free(out);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dial_flows),
		cmocka_unit_test(test_dial_fails),
		cmocka_unit_test(test_dial_client_leaves),
		cmocka_unit_test(test_pending_dial_blocks_nobody),
		cmocka_unit_test(test_timers),
		cmocka_unit_test(test_sink_eagain),
		cmocka_unit_test(test_seq_senders),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(120); /* a hang is a failure, not a stuck run */
	return cmocka_run_group_tests_name("relay_dial", tests, setup, teardown);
}
