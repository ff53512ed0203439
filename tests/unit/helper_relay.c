/* Test helpers for the relay tests (see helper_relay.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "helper_relay.h"

static void on_event(void *ctx, enum relay_event ev, const struct relay_info *info)
{
	struct events *e = ctx;

	if (ev == RELAY_NEW)
		e->nnew++;
	else if (ev == RELAY_UP)
		e->nup++;
	else if (e->ndone < MAXDONE)
		e->done[e->ndone++] = *info;
	else
		e->ndone++;
}

static void *run_thread(void *arg)
{
	struct runner *rn = arg;

	rn->rc = relay_run(rn->r, rn->timeout_ms);
	return NULL;
}

void runner_init(struct runner *rn)
{
	memset(rn, 0, sizeof(*rn));
	assert_int_equal(relay_new(&rn->r, on_event, &rn->ev), 0);
	rn->timeout_ms = 60000;
}

void runner_start(struct runner *rn)
{
	assert_int_equal(pthread_create(&rn->th, NULL, run_thread, rn), 0);
}

/* Join the relay thread; relay_run() returns once every pair ended. */
void runner_finish(struct runner *rn)
{
	assert_int_equal(pthread_join(rn->th, NULL), 0);
	assert_int_equal(rn->rc, 0);
	relay_free(rn->r);
	rn->r = NULL;
}

struct relay_end sock_end(int fd)
{
	return (struct relay_end){ .rd = fd, .wr = fd };
}

/* Two socketpairs X and Y; the relay gets X[1] and Y[0], the test keeps
 * X[0] (side A's peer) and Y[1] (side B's peer). */
void two_pairs(int type, int x[2], int y[2])
{
	assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, x), 0);
	assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, y), 0);
}

void check_flow(const struct hs_flow *f)
{
	assert_int_equal(f->err, 0);
	assert_true(f->wdone);
	assert_true(f->rdone);
	assert_int_equal(f->sent, f->total);
}

/* A connected TCP pair on loopback: FD[0] the connecting end. */
void tcp_pair(int fd[2])
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t len = sizeof(in);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(lfd >= 0);
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&in, &len), 0);
	fd[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd[0] >= 0);
	assert_int_equal(connect(fd[0], (struct sockaddr *)&in, sizeof(in)), 0);
	fd[1] = accept(lfd, NULL, NULL);
	assert_true(fd[1] >= 0);
	close(lfd);
}

int fill_tcp_queue(uint16_t port, int *hold, int max)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port) };
	int n = 0;

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (n < max) {
		struct pollfd pfd;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		assert_true(fd >= 0);
		if (connect(fd, (struct sockaddr *)&in, sizeof(in)) < 0)
			assert_int_equal(errno, EINPROGRESS);
		hold[n++] = fd;
		pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
		if (poll(&pfd, 1, 200) == 0)
			return n; /* this one hangs: the queue is full */
	}
	fail_msg("the accept queue of port %u never filled in %d connects", port, max);
	return n;
}
