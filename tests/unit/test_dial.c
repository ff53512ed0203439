/* dial: connects that never wait, driven by hand and by dial_wait(), on
 * loopback TCP and Unix sockets: a listener whose queue is full, refused
 * ports, a hybrid handshake in pieces, resolving a name again on a thread.
 * About 1.5 s (two 300 ms timeouts, one full-queue wait). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "helper_relay.h"

#include "dial.h"

static char dir[64];

static int setup(void **state)
{
	strcpy(dir, "/tmp/vsk-test-dial.XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void addr(struct vsk_addr *a, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	assert_int_equal(vsk_addr_parse(text, a, NULL, 0), 0);
}

static int tcp_listener(int backlog, uint16_t *port)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t len = sizeof(in);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &len), 0);
	*port = ntohs(in.sin_port);
	return fd;
}


static void test_tcp_connect_and_refused(void **state)
{
	struct dial_target t;
	struct vsk_addr a;
	struct dial d;
	uint16_t port;
	int lfd = tcp_listener(8, &port), rc, fd;

	addr(&a, "tcp:127.0.0.1:%u", port);
	assert_int_equal(dial_target_init(&t, &a, NULL), 0);
	assert_true(t.numeric);
	rc = dial_start(&d, &t);
	assert_true(rc == 0 || rc == 1);
	if (rc == 1) {
		assert_int_equal(d.events, POLLOUT);
		assert_int_equal(dial_wait(&d, 5000), 0);
	}
	fd = dial_take(&d);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
	dial_target_free(&t);
	close(lfd);
	/* Now nobody listens there. */
	assert_int_equal(dial_target_init(&t, &a, NULL), 0);
	rc = dial_start(&d, &t);
	if (rc == 1)
		rc = dial_wait(&d, 5000);
	assert_int_equal(rc, -ECONNREFUSED);
	assert_string_equal(d.op, "connect");
	assert_int_equal(d.fd, -1);
	dial_target_free(&t);
}

/* A target whose accept queue is full: the dial waits (no call blocks)
 * until the caller's deadline; meanwhile it can be given up. */
static void test_tcp_full_queue(void **state)
{
	struct dial_target t;
	struct vsk_addr a;
	struct dial d;
	uint16_t port;
	int hold[64], n, lfd = tcp_listener(1, &port);

	n = fill_tcp_queue(port, hold, 64);
	addr(&a, "tcp:127.0.0.1:%u", port);
	assert_int_equal(dial_target_init(&t, &a, NULL), 0);
	assert_int_equal(dial_start(&d, &t), 1);
	assert_true(d.fd >= 0);
	assert_int_equal(dial_step(&d, 0), 1); /* nothing happened: still waiting */
	assert_int_equal(dial_wait(&d, 300), -ETIMEDOUT);
	assert_string_equal(d.op, "connect");
	assert_int_equal(d.fd, -1);
	/* And by hand: started, then cancelled. */
	assert_int_equal(dial_start(&d, &t), 1);
	dial_cancel(&d);
	assert_int_equal(d.fd, -1);
	dial_target_free(&t);
	for (int i = 0; i < n; i++)
		close(hold[i]);
	close(lfd);
}

static int unix_listener(const char *path, int backlog)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

/* A Unix listener with a full queue refuses non-blocking connects: the
 * dial retries on a timer and gets in once there is room. */
static void test_unix_full_queue_retry(void **state)
{
	struct dial_target t;
	struct vsk_addr a;
	struct dial d, first[8];
	char path[128];
	int lfd, rc, c, n = 0;

	snprintf(path, sizeof(path), "%s/q.sock", dir);
	lfd = unix_listener(path, 1);
	addr(&a, "unix:%s", path);
	assert_int_equal(dial_target_init(&t, &a, NULL), 0);
	/* Fill the queue (how many it holds for backlog 1 is the kernel's). */
	while ((rc = dial_start(&d, &t)) == 0) {
		assert_true(n < 8);
		first[n++] = d;
	}
	assert_true(n > 0);
	assert_int_equal(rc, 1);
	assert_int_equal(d.fd, -1);
	assert_true(d.retry_ms >= DIAL_RETRY_FIRST_MS);
	/* Still full on the next try; the delay grows. */
	usleep((unsigned)d.retry_ms * 1000);
	rc = d.retry_ms;
	assert_int_equal(dial_step(&d, 0), 1);
	assert_true(d.retry_ms > rc);
	/* Room: the queued one is accepted, the dial gets in. */
	c = accept(lfd, NULL, NULL);
	assert_true(c >= 0);
	assert_int_equal(dial_wait(&d, 5000), 0);
	close(dial_take(&first[0]));
	first[0] = d; /* full again */
	close(c);
	/* Full and never accepted: the deadline ends it. */
	assert_int_equal(dial_start(&d, &t), 1);
	assert_int_equal(dial_wait(&d, 300), -ETIMEDOUT);
	assert_string_equal(d.op, "connect");
	for (int i = 0; i < n; i++)
		close(dial_take(&first[i]));
	dial_target_free(&t);
	close(lfd);
	/* No socket there at all: refused at once. */
	unlink(path);
	assert_int_equal(dial_target_init(&t, &a, NULL), 0);
	assert_int_equal(dial_start(&d, &t), -ENOENT);
	assert_string_equal(d.op, "connect");
}

/* The device's side of the handshake, in pieces: the reply comes in two
 * parts, and the stream bytes behind it stay for the caller. */
struct hs_peer {
	int lfd;
	const char *reply1, *reply2;
	char got[64];
	int go[2]; /* the test says "reply now" here, after dial_start returned */
};

static void *hs_peer_main(void *arg)
{
	struct hs_peer *p = arg;
	int c = accept(p->lfd, NULL, NULL);
	ssize_t n = 0, r;
	char go;

	if (c < 0)
		return NULL;
	while (n < (ssize_t)sizeof(p->got) - 1 && (r = read(c, p->got + n, 1)) == 1 && p->got[n] != '\n')
		n++;
	p->got[n] = '\0';
	/* Not before dial_start has returned: it reads a reply already there,
	 * and the test checks the case where it must wait for one. */
	if (read(p->go[0], &go, 1) != 1)
		goto out;
	if (p->reply1 != NULL && write(c, p->reply1, strlen(p->reply1)) < 0)
		goto out;
	usleep(50000);
	if (p->reply2 != NULL && write(c, p->reply2, strlen(p->reply2)) < 0)
		goto out;
	usleep(100000);
out:
	close(c);
	return NULL;
}

static int hybrid_dial(const char *reply1, const char *reply2, char *rest, size_t restlen,
		       const char **op)
{
	struct hs_peer p = { .reply1 = reply1, .reply2 = reply2 };
	char one = 1;
	struct dial_target t;
	struct vsk_addr a;
	struct dial d;
	char path[128];
	pthread_t th;
	int rc;

	snprintf(path, sizeof(path), "%s/h.sock", dir);
	p.lfd = unix_listener(path, 4);
	assert_int_equal(pipe(p.go), 0);
	assert_int_equal(pthread_create(&th, NULL, hs_peer_main, &p), 0);
	addr(&a, "hybrid:%s:5005", path);
	assert_int_equal(dial_target_init(&t, &a, NULL), 0);
	rc = dial_start(&d, &t);
	/* The reply cannot be there yet: the request was just sent. */
	assert_int_equal(rc, 1);
	assert_true(d.events & POLLIN);
	assert_int_equal(write(p.go[1], &one, 1), 1);
	rc = dial_wait(&d, 2000);
	*op = d.op;
	if (rc == 0) {
		int fd = dial_take(&d);
		long n = 0, r;

		while ((r = recv(fd, rest + n, restlen - 1 - (size_t)n, 0)) > 0)
			n += r;
		rest[n] = '\0';
		close(fd);
	}
	pthread_join(th, NULL);
	close(p.go[0]);
	close(p.go[1]);
	assert_string_equal(p.got, "CONNECT 5005");
	dial_target_free(&t);
	close(p.lfd);
	unlink(path);
	return rc;
}

static void test_hybrid_handshake(void **state)
{
	char rest[64] = "";
	const char *op = NULL;

	assert_int_equal(hybrid_dial("OK 10", "99\nstream after", rest, sizeof(rest), &op), 0);
	assert_string_equal(rest, "stream after");
	assert_int_equal(hybrid_dial(NULL, NULL, rest, sizeof(rest), &op), -ECONNRESET);
	assert_string_equal(op, "handshake");
	assert_int_equal(hybrid_dial("NOPE\n", NULL, rest, sizeof(rest), &op), -EPROTO);
	assert_int_equal(hybrid_dial("OK 1", NULL, rest, sizeof(rest), &op), -ECONNRESET);
}

/* A name resolved again on its own thread; a literal IP is not. */
static void test_refresh(void **state)
{
	struct dial_target t;
	struct vsk_addr a;
	struct pollfd pfd;
	int fd;

	addr(&a, "tcp:localhost:7");
	assert_int_equal(dial_target_init(&t, &a, NULL), 0);
	assert_false(t.numeric);
	assert_true(t.nsa > 0);
	fd = dial_target_refresh(&t);
	assert_true(fd >= 0);
	assert_int_equal(dial_target_refresh(&t), -EALREADY);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_int_equal(dial_target_refreshed(&t), 0);
	assert_true(t.nsa > 0);
	assert_null(t.refresh);
	/* Dropped while running: the thread cleans up after itself. */
	assert_true(dial_target_refresh(&t) >= 0);
	dial_target_free(&t);

	addr(&a, "tcp:127.0.0.1:7");
	assert_int_equal(dial_target_init(&t, &a, NULL), 0);
	assert_int_equal(dial_target_refresh(&t), -EINVAL);
	dial_target_free(&t);
	addr(&a, "unix:/nonexistent/x");
	assert_int_equal(dial_target_init(&t, &a, NULL), 0);
	assert_int_equal(dial_target_refresh(&t), -EINVAL);
	dial_target_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_connect_and_refused),
		cmocka_unit_test(test_tcp_full_queue),
		cmocka_unit_test(test_unix_full_queue_retry),
		cmocka_unit_test(test_hybrid_handshake),
		cmocka_unit_test(test_refresh),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(60); /* a hang is a failure, not a stuck run */
	return cmocka_run_group_tests_name("dial", tests, setup, teardown);
}
