/* seqsend: whole messages from a sender thread, the loop never waiting.
 * Unix SEQPACKET socket pairs stand in for AF_VSOCK (no vsock here): a
 * peer that does not read makes the blocking send wait, as a vsock peer
 * out of credit does. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "seqsend.h"

static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_messages_whole(void **state)
{
	static uint8_t a[3000], b[70000], got[80000];
	struct iovec iov[2] = { { a, 1000 }, { a + 1000, 2000 } };
	struct seqsend *s;
	ssize_t res;
	int sv[2], fl;

	(void)state;
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)i;
	memset(b, 0xb5, sizeof(b));
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	assert_int_equal(seqsend_new(&s, sv[0]), 0);
	/* The socket is blocking now, for the thread's sends. */
	fl = fcntl(sv[0], F_GETFL);
	assert_false(fl & O_NONBLOCK);
	assert_false(seqsend_busy(s));
	assert_int_equal(seqsend_done(s, &res), 0);
	/* Two iovecs, one message. */
	assert_int_equal(seqsend_start(s, iov, 2, sizeof(a)), 0);
	assert_int_equal(seqsend_start(s, iov, 2, sizeof(a)), -EBUSY);
	assert_int_equal(readable(seqsend_efd(s), 2000), 1);
	assert_int_equal(seqsend_done(s, &res), 1);
	assert_int_equal(res, (ssize_t)sizeof(a));
	assert_false(seqsend_busy(s));
	assert_int_equal(recv(sv[1], got, sizeof(got), 0), (ssize_t)sizeof(a));
	assert_memory_equal(got, a, sizeof(a));
	/* A message the peer must read before it fits (the queue is full):
	 * the start returns at once, the send finishes once the reader makes
	 * room. */
	{
		struct iovec one = { b, 60000 };
		double t0;
		int queued = 0;

		while (send(sv[0], b, 60000, MSG_DONTWAIT) == 60000)
			queued++;
		assert_true(queued > 0);
		t0 = now();
		assert_int_equal(seqsend_start(s, &one, 1, 60000), 0);
		assert_true(now() - t0 < 0.05);
		assert_int_equal(readable(seqsend_efd(s), 200), 0);
		assert_true(seqsend_busy(s));
		for (int i = 0; i < queued; i++)
			assert_int_equal(recv(sv[1], got, sizeof(got), 0), 60000);
		assert_int_equal(readable(seqsend_efd(s), 2000), 1);
		assert_int_equal(seqsend_done(s, &res), 1);
		assert_int_equal(res, 60000);
		assert_int_equal(recv(sv[1], got, sizeof(got), 0), 60000);
	}
	seqsend_free(s);
	/* The sender closed its socket. */
	assert_int_equal(readable(sv[1], 2000), 1);
	assert_int_equal(recv(sv[1], got, sizeof(got), MSG_DONTWAIT), 0);
	close(sv[1]);
}

/* A peer that never reads: freeing the sender mid-send wakes the thread,
 * which closes the socket and frees itself; the caller never waits. */
static void test_free_while_stuck(void **state)
{
	static uint8_t b[60000];
	struct iovec one = { b, sizeof(b) };
	struct seqsend *s;
	int sv[2];
	double t0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(seqsend_new(&s, sv[0]), 0);
	/* Fill the queue so that the next message waits. */
	while (send(sv[0], b, sizeof(b), MSG_DONTWAIT) > 0)
		;
	assert_int_equal(seqsend_start(s, &one, 1, sizeof(b)), 0);
	assert_int_equal(readable(seqsend_efd(s), 200), 0); /* stuck */
	t0 = now();
	seqsend_free(s);
	assert_true(now() - t0 < 0.05);
	/* The thread woke (shutdown) and closed the socket: the peer sees
	 * the end after the queued messages. */
	for (int i = 0; i < 100; i++) {
		static uint8_t got[65536];
		ssize_t r = recv(sv[1], got, sizeof(got), MSG_DONTWAIT);

		if (r == 0)
			break;
		if (r < 0)
			readable(sv[1], 50);
	}
	assert_int_equal(recv(sv[1], b, 10, MSG_DONTWAIT), 0);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_messages_whole),
		cmocka_unit_test(test_free_while_stuck),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
