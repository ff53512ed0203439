/* bench client: a stop asked for (bench_params.stop, what vsk bench's
 * SIGINT handler sets) ends the test with what was measured so far, and
 * a peer that is no bench server (an echo, one that closes at once) is
 * flagged as such (res.alien) instead of a protocol error. */
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
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "bench.h"
#include "helper_tmp.h"

static char sockdir[] = "/tmp/vsk-bench-stop-XXXXXX";

/* ------------------------------------------------- a real bench server */

struct srv {
	struct bench_server *s;
	pthread_t th;
	int lfd, rc;
	char path[108];
};

static void *srv_thread(void *arg)
{
	struct srv *sv = arg;

	sv->rc = bench_server_run(sv->s, 60000);
	return NULL;
}

static void srv_start(struct srv *sv)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	static int n;

	memset(sv, 0, sizeof(*sv));
	snprintf(sv->path, sizeof(sv->path), "%s/s%d", sockdir, n++);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", sv->path);
	sv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sv->lfd >= 0);
	assert_int_equal(bind(sv->lfd, (struct sockaddr *)&un, sizeof(un)), 0);
	assert_int_equal(listen(sv->lfd, 16), 0);
	assert_int_equal(bench_server_new(&sv->s, sv->lfd, NULL, NULL), 0);
	assert_int_equal(pthread_create(&sv->th, NULL, srv_thread, sv), 0);
}

static void srv_stop(struct srv *sv)
{
	bench_server_stop(sv->s);
	assert_int_equal(pthread_join(sv->th, NULL), 0);
	assert_int_equal(sv->rc, 0);
	bench_server_free(sv->s);
	close(sv->lfd);
}

static int connect_srv(void *ctx, const char **op)
{
	const struct srv *sv = ctx;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*op = "connect";
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", sv->path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return -e;
	}
	return fd;
}

/* ------------------------------------------------------------- the stop */

static volatile sig_atomic_t stop;

static void *stop_later(void *arg)
{
	struct timespec ts = { 0, 300 * 1000000L };

	(void)arg;
	nanosleep(&ts, NULL);
	stop = SIGINT;
	return NULL;
}

static void run_stopped(enum bench_test t, struct bench_result *res)
{
	struct srv sv;
	struct bench_params bp = { .test = t, .msg_len = t == BENCH_T_RR ? 64 : 65536, .streams = 2,
				   .duration_ms = 30000, .idle_ms = 20000, .stop = &stop };
	pthread_t th;
	int rc;

	stop = 0;
	srv_start(&sv);
	assert_int_equal(pthread_create(&th, NULL, stop_later, NULL), 0);
	rc = bench_client(&bp, connect_srv, &sv, NULL, NULL, res);
	assert_int_equal(pthread_join(th, NULL), 0);
	srv_stop(&sv);
	if (rc != 0)
		fail_msg("stopped %d: rc %d: %s", t, rc, res->msg);
	assert_true(res->interrupted);
	assert_int_equal(res->err, 0);
	assert_false(res->alien);
	/* Stopped after 0.3 s, not the 30 s asked for. */
	assert_true(res->secs > 0.2 && res->secs < 10);
}

static void test_stop_up(void **state)
{
	struct bench_result res;

	run_stopped(BENCH_T_UP, &res);
	assert_true(res.bytes_up > 0); /* the open connections' bytes count */
	assert_int_equal(res.bytes_down, 0);
	bench_result_free(&res);
}

static void test_stop_down(void **state)
{
	struct bench_result res;

	run_stopped(BENCH_T_DOWN, &res);
	assert_true(res.bytes_down > 0);
	bench_result_free(&res);
}

static void test_stop_rr(void **state)
{
	struct bench_result res;

	run_stopped(BENCH_T_RR, &res);
	assert_true(res.round_trips > 0);
	assert_true(res.lat->n > 0);
	bench_result_free(&res);
}

/* Stopped before it began: nothing measured, still no failure. */
static void test_stop_first(void **state)
{
	struct srv sv;
	struct bench_params bp = { .test = BENCH_T_UP, .msg_len = 1024, .streams = 1, .bytes = 1 << 20,
				   .stop = &stop };
	struct bench_result res;

	stop = SIGTERM;
	srv_start(&sv);
	assert_int_equal(bench_client(&bp, connect_srv, &sv, NULL, NULL, &res), 0);
	srv_stop(&sv);
	assert_true(res.interrupted);
	assert_int_equal(res.bytes_up, 0);
	bench_result_free(&res);
}

/* Without a stop the same test runs to its end: the flag is what stops. */
static void test_no_stop(void **state)
{
	struct srv sv;
	struct bench_params bp = { .test = BENCH_T_UP, .msg_len = 1024, .streams = 1, .bytes = 1 << 20,
				   .stop = &stop };
	struct bench_result res;

	stop = 0;
	srv_start(&sv);
	assert_int_equal(bench_client(&bp, connect_srv, &sv, NULL, NULL, &res), 0);
	srv_stop(&sv);
	assert_false(res.interrupted);
	assert_int_equal(res.bytes_up, 1 << 20);
	bench_result_free(&res);
}

/* --------------------------------------------------- not a bench server */

/* The peer end of a socketpair: echoes everything (mode 0) or closes at
 * once (mode 1). */
struct peer {
	int fd, mode;
};

static void *peer_thread(void *arg)
{
	struct peer *p = arg;
	char buf[65536];
	ssize_t n;

	if (p->mode == 0)
		while ((n = read(p->fd, buf, sizeof(buf))) > 0)
			if (write(p->fd, buf, (size_t)n) != n)
				break;
	close(p->fd);
	free(p);
	return NULL;
}

static int alien_mode;
static pthread_t alien_th[8];
static int alien_n;

static int connect_alien(void *ctx, const char **op)
{
	struct peer *p = calloc(1, sizeof(*p));
	int s[2];

	(void)ctx;
	*op = "connect";
	assert_non_null(p);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	p->fd = s[1];
	p->mode = alien_mode;
	assert_true(alien_n < 8);
	assert_int_equal(pthread_create(&alien_th[alien_n++], NULL, peer_thread, p), 0);
	return s[0];
}

static void alien_case(int mode, enum bench_test t, const char *want)
{
	struct bench_params bp = { .test = t, .msg_len = 4096, .streams = 1, .idle_ms = 5000 };
	struct bench_result res;
	int rc;

	if (t == BENCH_T_RR || t == BENCH_T_CRR)
		bp.count = 10;
	else
		bp.bytes = 1 << 20;
	alien_mode = mode;
	alien_n = 0;
	rc = bench_client(&bp, connect_alien, NULL, NULL, NULL, &res);
	for (int i = 0; i < alien_n; i++)
		pthread_join(alien_th[i], NULL);
	assert_int_equal(rc, -EPROTO);
	if (!res.alien || strstr(res.msg, want) == NULL)
		fail_msg("mode %d test %d: alien %d, msg '%s', want '%s'", mode, t, res.alien, res.msg, want);
	bench_result_free(&res);
}

static void test_alien_echo(void **state)
{
	alien_case(0, BENCH_T_UP, "echo server");
	alien_case(0, BENCH_T_DOWN, "echo server");
	alien_case(0, BENCH_T_RR, "echo server");
	alien_case(0, BENCH_T_CRR, "echo server");
}

static void test_alien_closes(void **state)
{
	alien_case(1, BENCH_T_UP, "closed the connection");
	alien_case(1, BENCH_T_DOWN, "closed the connection");
	alien_case(1, BENCH_T_RR, "closed the connection");
}

static int setup(void **state)
{
	return mkdtemp(sockdir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	return rm_tree(sockdir) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stop_up),
		cmocka_unit_test(test_stop_down),
		cmocka_unit_test(test_stop_rr),
		cmocka_unit_test(test_stop_first),
		cmocka_unit_test(test_no_stop),
		cmocka_unit_test(test_alien_echo),
		cmocka_unit_test(test_alien_closes),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(120);
	return cmocka_run_group_tests(tests, setup, teardown);
}
