/* bench: the vsk bench engine end to end over Unix (stream and
 * SEQPACKET) and TCP loopback sockets, a server thread and the client in
 * the test; a tiny in-test relay that flips or drops bytes shows that bad
 * data fails the test on the side that checks it.  No AF_VSOCK here. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "helper_vskbin.h"
#include "bench.h"
#include "relay.h"
#include "vsk.h"
#include "helper_tmp.h"

#define MAXINFO 256

/* ------------------------------------------------------------ the server */

struct srv {
	struct bench_server *s;
	pthread_t th;
	int lfd, rc;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ninfo;
	struct bench_conn_info info[MAXINFO];
	struct vsk_addr addr; /* what clients connect to */
	int type;             /* SOCK_STREAM or SOCK_SEQPACKET (unix only) */
};

static void on_conn(void *ctx, const struct bench_conn_info *i)
{
	struct srv *sv = ctx;

	pthread_mutex_lock(&sv->mu);
	if (sv->ninfo < MAXINFO)
		sv->info[sv->ninfo] = *i;
	sv->ninfo++;
	pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
}

static void *srv_thread(void *arg)
{
	struct srv *sv = arg;

	sv->rc = bench_server_run(sv->s, 120000);
	return NULL;
}

static char sockdir[] = "/tmp/vsk-bench-test-XXXXXX";

/* A server on KIND ("unix", "unixseq", "tcp") in a thread. */
static void srv_start(struct srv *sv, const char *kind)
{
	memset(sv, 0, sizeof(*sv));
	pthread_mutex_init(&sv->mu, NULL);
	pthread_cond_init(&sv->cv, NULL);
	sv->type = SOCK_STREAM;
	if (!strcmp(kind, "tcp")) {
		struct sockaddr_in in;
		socklen_t len = sizeof(in);
		char text[64];

		assert_int_equal(vsk_addr_parse("tcp:127.0.0.1:0", &sv->addr, NULL, 0), 0);
		sv->lfd = vsk_listen(&sv->addr, NULL);
		assert_true(sv->lfd >= 0);
		assert_int_equal(getsockname(sv->lfd, (struct sockaddr *)&in, &len), 0);
		snprintf(text, sizeof(text), "tcp:127.0.0.1:%u", ntohs(in.sin_port));
		assert_int_equal(vsk_addr_parse(text, &sv->addr, NULL, 0), 0);
	} else {
		struct sockaddr_un un = { .sun_family = AF_UNIX };
		static int seq;

		snprintf(un.sun_path, sizeof(un.sun_path), "%s/s%d", sockdir, seq++);
		sv->type = !strcmp(kind, "unixseq") ? SOCK_SEQPACKET : SOCK_STREAM;
		sv->lfd = socket(AF_UNIX, sv->type | SOCK_CLOEXEC, 0);
		assert_true(sv->lfd >= 0);
		assert_int_equal(bind(sv->lfd, (struct sockaddr *)&un, sizeof(un)), 0);
		assert_int_equal(listen(sv->lfd, 128), 0);
		sv->addr.kind = VSK_ADDR_UNIX;
		snprintf(sv->addr.path, sizeof(sv->addr.path), "%s", un.sun_path);
	}
	assert_int_equal(bench_server_new(&sv->s, sv->lfd, on_conn, sv), 0);
	assert_int_equal(pthread_create(&sv->th, NULL, srv_thread, sv), 0);
}

/* Wait until N connections have ended on the server, then stop it. */
static void srv_stop(struct srv *sv, int n)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&sv->mu);
	while (sv->ninfo < n && pthread_cond_timedwait(&sv->cv, &sv->mu, &until) == 0)
		;
	pthread_mutex_unlock(&sv->mu);
	bench_server_stop(sv->s);
	assert_int_equal(pthread_join(sv->th, NULL), 0);
	assert_int_equal(sv->rc, 0);
	bench_server_free(sv->s);
	close(sv->lfd);
	assert_int_equal(sv->ninfo, n);
}

/* Every connection the server saw ended well. */
static void srv_all_ok(const struct srv *sv)
{
	for (int i = 0; i < sv->ninfo && i < MAXINFO; i++) {
		if (sv->info[i].err != 0)
			fail_msg("server connection %d (%s): %s", i, bench_mode_name(sv->info[i].mode),
				 sv->info[i].msg);
	}
}

/* ------------------------------------------------------------ the client */

struct cctx {
	struct srv *sv;
	int mangle;           /* 0 none, 1 flip a byte, 2 drop bytes */
	int dir;              /* 0: client -> server, 1: back */
	uint64_t at;          /* data offset (after the header when dir 0) */
	pthread_t th[8];
	int nth;
};

static int plain_connect(struct srv *sv)
{
	int fd;

	if (sv->addr.kind == VSK_ADDR_TCP)
		return vsk_connect(&sv->addr, NULL, NULL);
	fd = socket(AF_UNIX, sv->type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	{
		struct sockaddr_un un = { .sun_family = AF_UNIX };
		snprintf(un.sun_path, sizeof(un.sun_path), "%s", sv->addr.path);
		if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
	}
	return fd;
}

/* The mangling relay: one thread per connection, bounded by 30 s. */
struct mangler {
	int a, b;             /* a: the client's side, b: the server's */
	int mangle, dir;
	uint64_t at;
};

static void *mangle_thread(void *arg)
{
	struct mangler *m = arg;
	uint64_t pos[2] = { 0, 0 };
	bool eof[2] = { false, false };
	time_t end = time(NULL) + 30;

	while ((!eof[0] || !eof[1]) && time(NULL) < end) {
		struct pollfd pfd[2] = { { .fd = m->a, .events = POLLIN }, { .fd = m->b, .events = POLLIN } };
		char chunk[65536];

		if (poll(pfd, 2, 1000) <= 0)
			continue;
		for (int d = 0; d < 2; d++) {
			int from = d == 0 ? m->a : m->b, to = d == 0 ? m->b : m->a;
			ssize_t n;
			size_t skip = 0, off = 0;

			if (eof[d] || !(pfd[d].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(from, chunk, sizeof(chunk));
			if (n <= 0) {
				eof[d] = true;
				shutdown(to, SHUT_WR);
				continue;
			}
			if (m->mangle && d == m->dir && pos[d] <= m->at && m->at < pos[d] + (uint64_t)n) {
				size_t k = (size_t)(m->at - pos[d]);
				if (m->mangle == 1) {
					chunk[k] ^= 0x20;
				} else {
					/* Drop 100 bytes (or what is left of this chunk). */
					skip = (size_t)n - k < 100 ? (size_t)n - k : 100;
					memmove(chunk + k, chunk + k + skip, (size_t)n - k - skip);
				}
			}
			pos[d] += (uint64_t)n;
			while (off < (size_t)n - skip) {
				ssize_t w = write(to, chunk + off, (size_t)n - skip - off);
				if (w <= 0)
					break;
				off += (size_t)w;
			}
		}
	}
	close(m->a);
	close(m->b);
	free(m);
	return NULL;
}

static int connect_cb(void *ctx, const char **op)
{
	struct cctx *c = ctx;
	struct mangler *m;
	int s[2], fd;

	*op = "connect";
	fd = plain_connect(c->sv);
	if (fd < 0 || c->mangle == 0)
		return fd;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	m = calloc(1, sizeof(*m));
	assert_non_null(m);
	*m = (struct mangler){ .a = s[1], .b = fd, .mangle = c->mangle, .dir = c->dir,
			       .at = c->at + (c->dir == 0 ? BENCH_HDR_LEN : 0) };
	assert_true(c->nth < 8);
	assert_int_equal(pthread_create(&c->th[c->nth++], NULL, mangle_thread, m), 0);
	return s[0];
}

static void cctx_join(struct cctx *c)
{
	for (int i = 0; i < c->nth; i++)
		pthread_join(c->th[i], NULL);
}

static struct bench_params params(enum bench_test t, uint32_t len, uint32_t streams)
{
	return (struct bench_params){ .test = t, .msg_len = len, .streams = streams,
				      .idle_ms = 20000 };
}

/* One clean test on KIND; checks the counts add up. */
static void clean_test(const char *kind, struct bench_params bp, int conns)
{
	struct srv sv;
	struct cctx cc = { .sv = &sv };
	struct bench_result res;
	int rc;

	srv_start(&sv, kind);
	rc = bench_client(&bp, connect_cb, &cc, NULL, NULL, &res);
	if (rc != 0)
		fail_msg("%s %d: %s", kind, bp.test, res.msg);
	srv_stop(&sv, conns);
	srv_all_ok(&sv);
	assert_int_equal(res.seqpacket, sv.type == SOCK_SEQPACKET);
	switch (bp.test) {
	case BENCH_T_UP:
		assert_int_equal(res.bytes_up, bp.bytes * bp.streams);
		assert_int_equal(res.bytes_down, 0);
		break;
	case BENCH_T_DOWN:
		assert_int_equal(res.bytes_down, bp.bytes * bp.streams);
		break;
	case BENCH_T_BIDIR:
		assert_int_equal(res.bytes_up, bp.bytes * bp.streams);
		assert_int_equal(res.bytes_down, bp.bytes * bp.streams);
		break;
	case BENCH_T_RR:
		assert_int_equal(res.round_trips, bp.count * bp.streams);
		assert_int_equal(res.lat->n, bp.count * bp.streams);
		assert_int_equal(res.bytes_down, res.bytes_up);
		break;
	case BENCH_T_CRR:
		assert_int_equal(res.conns, bp.count);
		assert_int_equal(res.lat->n, bp.count);
		break;
	}
	if (bp.test != BENCH_T_CRR)
		assert_int_equal(res.conns, (uint64_t)conns);
	/* The server counted the same bytes. */
	for (int i = 0; i < sv.ninfo && i < MAXINFO; i++) {
		if (sv.info[i].mode == BENCH_UP)
			assert_int_equal(sv.info[i].bytes_in, bp.bytes);
		if (sv.info[i].mode == BENCH_DOWN)
			assert_int_equal(sv.info[i].bytes_out, bp.bytes);
		assert_int_equal(sv.info[i].seqpacket, sv.type == SOCK_SEQPACKET);
	}
	bench_result_free(&res);
}

static void test_unix_up(void **state)
{
	struct bench_params bp = params(BENCH_T_UP, 65536, 1);

	bp.bytes = 64u * 1024 * 1024 + 1234; /* a short last send */
	clean_test("unix", bp, 1);
}

static void test_unix_down_parallel(void **state)
{
	struct bench_params bp = params(BENCH_T_DOWN, 100000, 4);

	bp.bytes = 8u * 1024 * 1024 + 77;
	clean_test("unix", bp, 4);
}

static void test_tcp_bidir(void **state)
{
	struct bench_params bp = params(BENCH_T_BIDIR, 128 * 1024, 2);

	bp.bytes = 16u * 1024 * 1024;
	clean_test("tcp", bp, 4);
}

static void test_tcp_rr(void **state)
{
	struct bench_params bp = params(BENCH_T_RR, 64, 2);

	bp.count = 2000;
	clean_test("tcp", bp, 2);
}

static void test_tcp_rr_big(void **state)
{
	/* Requests larger than a socket buffer: partial sends both ways. */
	struct bench_params bp = params(BENCH_T_RR, 1024 * 1024, 1);

	bp.count = 20;
	clean_test("tcp", bp, 1);
}

static void test_unix_crr(void **state)
{
	struct bench_params bp = params(BENCH_T_CRR, 64, 3);

	bp.count = 300;
	clean_test("unix", bp, 300);
}

static void test_tcp_by_time(void **state)
{
	struct srv sv;
	struct cctx cc = { .sv = &sv };
	struct bench_params bp = params(BENCH_T_UP, 65536, 1);
	struct bench_result res;

	bp.duration_ms = 300;
	srv_start(&sv, "tcp");
	assert_int_equal(bench_client(&bp, connect_cb, &cc, NULL, NULL, &res), 0);
	srv_stop(&sv, 1);
	srv_all_ok(&sv);
	assert_true(res.bytes_up > 0);
	assert_int_equal(sv.info[0].bytes_in, res.bytes_up);
	assert_true(res.secs >= 0.3 && res.secs < 10);
	bench_result_free(&res);
}

static void test_seqpacket(void **state)
{
	struct bench_params bp = params(BENCH_T_UP, 4000, 1);

	bp.bytes = 4000 * 500 + 33;
	clean_test("unixseq", bp, 1);
	bp = params(BENCH_T_DOWN, 65536, 2);
	bp.bytes = 2u * 1024 * 1024;
	clean_test("unixseq", bp, 2);
	bp = params(BENCH_T_RR, 1000, 1);
	bp.count = 500;
	clean_test("unixseq", bp, 1);
}

/* --bidir over SEQPACKET is refused with the reason, not run half-way. */
static void test_seqpacket_bidir(void **state)
{
	struct srv sv;
	struct cctx cc = { .sv = &sv };
	struct bench_params bp = params(BENCH_T_BIDIR, 1000, 1);
	struct bench_result res;

	bp.bytes = 10000;
	srv_start(&sv, "unixseq");
	assert_int_equal(bench_client(&bp, connect_cb, &cc, NULL, NULL, &res), -EOPNOTSUPP);
	assert_non_null(strstr(res.msg, "--bidir needs stream sockets"));
	srv_stop(&sv, 1);
	assert_int_equal(sv.info[0].err, EPROTO);
	bench_result_free(&res);
}

/* Bad data: the side that checks names the offset, the test fails, and
 * the other side learns it from the report. */
static void bad_data(enum bench_test t, int mangle, uint64_t at, const char *client_words,
		     const char *server_words, bool exact)
{
	struct srv sv;
	struct cctx cc = { .sv = &sv, .mangle = mangle, .dir = t == BENCH_T_UP ? 0 : 1, .at = at };
	struct bench_params bp = params(t, 65536, 1);
	struct bench_result res;
	char off[32];

	bp.bytes = 4u * 1024 * 1024;
	snprintf(off, sizeof(off), "%llu", (unsigned long long)at);
	srv_start(&sv, "unix");
	assert_int_equal(bench_client(&bp, connect_cb, &cc, NULL, NULL, &res), -EBADMSG);
	cctx_join(&cc);
	srv_stop(&sv, 1);
	if (strstr(res.msg, client_words) == NULL || (exact && strstr(res.msg, off) == NULL))
		fail_msg("client message '%s' lacks '%s' or '%s'", res.msg, client_words, off);
	assert_int_equal(sv.info[0].err, EBADMSG);
	if (strstr(sv.info[0].msg, server_words) == NULL)
		fail_msg("server message '%s' lacks '%s'", sv.info[0].msg, server_words);
	bench_result_free(&res);
}

static void test_corrupt_up(void **state)
{
	bad_data(BENCH_T_UP, 1, 1000003, "the peer got a wrong byte at offset", "data corrupted at offset 1000003", true);
}

static void test_corrupt_down(void **state)
{
	bad_data(BENCH_T_DOWN, 1, 2500000, "data corrupted at offset", "the peer got a wrong byte at offset 2500000", true);
}

static void test_loss_up(void **state)
{
	bad_data(BENCH_T_UP, 2, 123456, "the peer got a wrong byte at offset", "data corrupted at offset 12345", false);
}

/* --no-check: a changed byte goes through (nobody compares), a lost one
 * still fails the byte count; the server says it did not check. */
static void test_nocheck(void **state)
{
	struct srv sv;
	struct cctx cc = { .sv = &sv, .mangle = 1, .at = 1000003 };
	struct bench_params bp = params(BENCH_T_UP, 65536, 1);
	struct bench_result res;

	bp.bytes = 4u * 1024 * 1024;
	bp.nocheck = true;
	srv_start(&sv, "unix");
	assert_int_equal(bench_client(&bp, connect_cb, &cc, NULL, NULL, &res), 0);
	cctx_join(&cc);
	srv_stop(&sv, 1);
	srv_all_ok(&sv);
	assert_false(sv.info[0].checked);
	assert_int_equal(res.bytes_up, bp.bytes);
	bench_result_free(&res);
	cc = (struct cctx){ .sv = &sv, .mangle = 2, .at = 123456 };
	srv_start(&sv, "unix");
	assert_int_equal(bench_client(&bp, connect_cb, &cc, NULL, NULL, &res), -EBADMSG);
	cctx_join(&cc);
	srv_stop(&sv, 1);
	if (strstr(res.msg, "data lost: sent 4194304 bytes") == NULL)
		fail_msg("client message '%s' lacks the lost bytes", res.msg);
	bench_result_free(&res);
}

/* Garbage instead of a header: the server names it and keeps serving. */
static void test_bad_header(void **state)
{
	struct srv sv;
	struct cctx cc = { .sv = &sv };
	struct bench_params bp = params(BENCH_T_RR, 64, 1);
	struct bench_result res;
	char junk[BENCH_HDR_LEN];
	int fd;

	srv_start(&sv, "unix");
	memset(junk, 'G', sizeof(junk));
	fd = plain_connect(&sv);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	fd = (close(fd), plain_connect(&sv));
	assert_int_equal(write(fd, "VSKB", 4), 4);
	close(fd);
	bp.count = 10;
	assert_int_equal(bench_client(&bp, connect_cb, &cc, NULL, NULL, &res), 0);
	srv_stop(&sv, 3);
	int bad = 0;
	for (int i = 0; i < 3; i++) {
		if (strstr(sv.info[i].msg, "not a vsk bench client") != NULL ||
		    strstr(sv.info[i].msg, "closed before a whole header") != NULL) {
			assert_int_equal(sv.info[i].err, EPROTO);
			bad++;
		} else {
			assert_int_equal(sv.info[i].err, 0);
		}
	}
	assert_int_equal(bad, 2);
	bench_result_free(&res);
}

/* Nobody listens: the connect step is named for the explanation. */
static void test_connect_fails(void **state)
{
	struct srv sv;
	struct cctx cc = { .sv = &sv };
	struct bench_params bp = params(BENCH_T_UP, 1024, 1);
	struct bench_result res;

	memset(&sv, 0, sizeof(sv));
	sv.type = SOCK_STREAM;
	sv.addr.kind = VSK_ADDR_UNIX;
	snprintf(sv.addr.path, sizeof(sv.addr.path), "%s/nobody", sockdir);
	bp.bytes = 1;
	assert_int_equal(bench_client(&bp, connect_cb, &cc, NULL, NULL, &res), -ENOENT);
	assert_string_equal(res.op, "connect");
	bench_result_free(&res);
}

static void test_latency_quantiles(void **state)
{
	struct bench_lat *l = calloc(1, sizeof(*l));
	uint64_t p50, p99;

	assert_non_null(l);
	assert_int_equal(bench_lat_quantile(l, 0.5), 0);
	for (uint64_t v = 1; v <= 100000; v++)
		bench_lat_add(l, v * 10);
	p50 = bench_lat_quantile(l, 0.5);
	p99 = bench_lat_quantile(l, 0.99);
	/* Buckets are under 1% wide. */
	assert_true(p50 >= 495000 && p50 <= 505000);
	assert_true(p99 >= 980000 && p99 <= 1000000);
	assert_int_equal(bench_lat_quantile(l, 1.0), 1000000);
	assert_int_equal(l->min, 10);
	assert_int_equal(l->max, 1000000);
	/* Small values are exact. */
	memset(l, 0, sizeof(*l));
	bench_lat_add(l, 7);
	bench_lat_add(l, 7);
	bench_lat_add(l, 100);
	assert_int_equal(bench_lat_quantile(l, 0.5), 7);
	assert_int_equal(bench_lat_quantile(l, 0.99), 100);
	free(l);
}

/* hybrid: the client side of the Firecracker protocol, against a fake
 * device that answers the CONNECT line and relays to the server. */
struct fakedev {
	int lfd;
	struct srv *sv;
	uint32_t port;
	int rc;
};

static void *fakedev_thread(void *arg)
{
	struct fakedev *fd = arg;
	struct relay_end a, b;
	int c, t;

	fd->rc = -1;
	c = accept(fd->lfd, NULL, NULL);
	if (c < 0 || vsk_hybrid_accept(c, &fd->port, 5000) < 0)
		return NULL;
	t = plain_connect(fd->sv);
	if (t < 0 || vsk_hybrid_reply(c, 1234) < 0)
		return NULL;
	a = (struct relay_end){ .rd = c, .wr = c };
	b = (struct relay_end){ .rd = t, .wr = t };
	fd->rc = relay_pump(&a, &b, NULL);
	return NULL;
}

static int hybrid_cb(void *ctx, const char **op)
{
	return vsk_connect(ctx, NULL, op);
}

static void test_hybrid_client(void **state)
{
	struct srv sv;
	struct fakedev dev;
	struct vsk_addr ha;
	struct bench_params bp = params(BENCH_T_UP, 65536, 1);
	struct bench_result res;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char text[160];
	pthread_t th;

	srv_start(&sv, "unix");
	memset(&dev, 0, sizeof(dev));
	dev.sv = &sv;
	snprintf(un.sun_path, sizeof(un.sun_path), "%s/dev.sock", sockdir);
	dev.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(dev.lfd >= 0);
	assert_int_equal(bind(dev.lfd, (struct sockaddr *)&un, sizeof(un)), 0);
	assert_int_equal(listen(dev.lfd, 4), 0);
	assert_int_equal(pthread_create(&th, NULL, fakedev_thread, &dev), 0);
	snprintf(text, sizeof(text), "hybrid:%s:5201", un.sun_path);
	assert_int_equal(vsk_addr_parse(text, &ha, NULL, 0), 0);
	bp.bytes = 8u * 1024 * 1024;
	if (bench_client(&bp, hybrid_cb, &ha, NULL, NULL, &res) != 0)
		fail_msg("hybrid: %s", res.msg);
	assert_int_equal(res.bytes_up, bp.bytes);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(dev.port, 5201);
	assert_int_equal(dev.rc, 0);
	srv_stop(&sv, 1);
	srv_all_ok(&sv);
	close(dev.lfd);
	bench_result_free(&res);
}

/* ------------------------------------------------------------ the CLI */

static char vsk_bin[PATH_MAX];

static bool find_vsk(void)
{
	return hv_find_vsk(vsk_bin, sizeof(vsk_bin));
}

/* Run "vsk bench ARGS" (a shell line, bounded by timeout(1)); its stdout
 * and stderr into OUT; returns the exit status. */
static int run_bench(const char *args, char *out, size_t len)
{
	char cmd[PATH_MAX + 512];
	FILE *f;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "timeout 60 '%s' bench %s 2>&1", vsk_bin, args);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_cli(void **state)
{
	char out[4096], args[512], path[160];
	pid_t srv;

	if (!find_vsk()) {
		print_message("skipped: no vsk binary (%s); run make, or set VSK_BIN\n", vsk_bin);
		skip();
	}
	/* Usage mistakes: exit 2 and say what is wrong. */
	assert_int_equal(run_bench("--rr -n 5 unix:/x", out, sizeof(out)), 2);
	assert_non_null(strstr(out, "-n is for throughput tests"));
	assert_int_equal(run_bench("-s -R unix:/x", out, sizeof(out)), 2);
	assert_non_null(strstr(out, "-s takes no test options"));
	assert_int_equal(run_bench("-R --crr unix:/x", out, sizeof(out)), 2);
	assert_int_equal(run_bench("-l 2M unix:/x", out, sizeof(out)), 2);
	assert_int_equal(run_bench("", out, sizeof(out)), 2);
	assert_int_equal(run_bench("--help", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "usage: vsk bench"));
	/* Nobody listens: exit 1, the explained connect error. */
	snprintf(args, sizeof(args), "unix:%s/none", sockdir);
	assert_int_equal(run_bench(args, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "connect"));
	/* A server and a client: JSON with every byte verified. */
	snprintf(path, sizeof(path), "%s/cli.sock", sockdir);
	srv = fork();
	assert_true(srv >= 0);
	if (srv == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		snprintf(args, sizeof(args), "unix:%s", path);
		execl(vsk_bin, "vsk", "bench", "-s", args, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && access(path, F_OK) != 0; i++)
		usleep(10000);
	snprintf(args, sizeof(args), "-n 3M -P 2 --json unix:%s", path);
	assert_int_equal(run_bench(args, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "\"up_bytes\":6291456,"));
	assert_non_null(strstr(out, "\"checked\":true,\"verified\":true,\"interrupted\":false,\"error\":null}"));
	/* --no-check says so, in text and in JSON. */
	snprintf(args, sizeof(args), "-n 1M --no-check unix:%s", path);
	assert_int_equal(run_bench(args, out, sizeof(out)), 0);
	assert_non_null(strstr(out, ", 1 connection, data not checked (--no-check)\n"));
	snprintf(args, sizeof(args), "-n 1M --no-check --json unix:%s", path);
	assert_int_equal(run_bench(args, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "\"checked\":false,\"verified\":false,\"interrupted\":false,\"error\":null}"));
	assert_int_equal(run_bench("-s --no-check unix:/x", out, sizeof(out)), 2);
	snprintf(args, sizeof(args), "--rr -c 100 unix:%s", path);
	assert_int_equal(run_bench(args, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "rr: 100 round trips of 64 bytes"));
	kill(srv, SIGTERM);
	waitpid(srv, NULL, 0);
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
		cmocka_unit_test(test_latency_quantiles),
		cmocka_unit_test(test_unix_up),
		cmocka_unit_test(test_unix_down_parallel),
		cmocka_unit_test(test_tcp_bidir),
		cmocka_unit_test(test_tcp_rr),
		cmocka_unit_test(test_tcp_rr_big),
		cmocka_unit_test(test_unix_crr),
		cmocka_unit_test(test_tcp_by_time),
		cmocka_unit_test(test_seqpacket),
		cmocka_unit_test(test_seqpacket_bidir),
		cmocka_unit_test(test_corrupt_up),
		cmocka_unit_test(test_corrupt_down),
		cmocka_unit_test(test_loss_up),
		cmocka_unit_test(test_nocheck),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_connect_fails),
		cmocka_unit_test(test_hybrid_client),
		cmocka_unit_test(test_cli),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(300); /* a hang is a failure, not a stuck CI job */
	return cmocka_run_group_tests(tests, setup, teardown);
}
