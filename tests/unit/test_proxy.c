/* vsk proxy (and its siblings listen/connect) end to end: the real binary
 * between Unix and TCP loopback sockets, with checksummed data.
 * The binary is $VSK_BIN, else ../../vsk next to this test, else ./vsk. */
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
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "helper_relay.h"

#include "helper_vskbin.h"
#include "helper_stream.h"
#include "helper_tmp.h"

static char vsk_bin[PATH_MAX];
static char dir[] = "/tmp/vsk-proxy-test-XXXXXX";
/* Every vsk started, so that a failed test leaves none running. */
static pid_t spawned[64];
static int nspawned;

static bool find_vsk(void)
{
	return hv_find_vsk(vsk_bin, sizeof(vsk_bin));
}

static int setup(void **state)
{
	if (mkdtemp(dir) == NULL)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	/* Only children never reaped: their pids cannot have been reused. */
	for (int i = 0; i < nspawned; i++)
		if (spawned[i] > 0 && kill(spawned[i], SIGKILL) == 0)
			waitpid(spawned[i], NULL, 0);
	nspawned = 0;
	return rm_tree(dir) == 0 ? 0 : -1;
}

#define SKIP_WITHOUT_VSK()                                                              \
	do {                                                                            \
		if (!find_vsk()) {                                                      \
			print_message("skipped: no vsk binary (%s); run make, or set VSK_BIN\n", \
				      vsk_bin);                                         \
			skip();                                                         \
		}                                                                       \
	} while (0)

/* Run vsk with ARGV (NULL-terminated, without argv[0]); stdin/stdout from
 * the given fds (-1: /dev/null), stderr into ERRFILE. */
static pid_t spawn_vsk(const char *const *args, int in, int out, const char *errfile)
{
	const char *argv[16];
	int n = 0;
	pid_t pid;

	argv[n++] = "vsk";
	while (args[n - 1] != NULL && n < 15) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		int e = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(in >= 0 ? in : null, 0);
		dup2(out >= 0 ? out : null, 1);
		dup2(e >= 0 ? e : null, 2);
		signal(SIGPIPE, SIG_DFL);
		execv(vsk_bin, (char *const *)argv);
		_exit(127);
	}
	if (nspawned < (int)(sizeof(spawned) / sizeof(spawned[0])))
		spawned[nspawned++] = pid;
	return pid;
}

/* PID was reaped: never to be signalled again. */
static void forget(pid_t pid)
{
	for (int i = 0; i < nspawned; i++)
		if (spawned[i] == pid)
			spawned[i] = 0;
}

/* PID (a spawned vsk) has not exited; reaps it if it has. */
static bool running(pid_t pid)
{
	pid_t r = waitpid(pid, NULL, WNOHANG);

	if (r == pid)
		forget(pid);
	return r == 0;
}

/* Wait for PID to exit within TIMEOUT_MS; returns its exit status, or -1
 * after killing it. */
static int wait_exit(pid_t pid, int timeout_ms)
{
	int st;

	for (int waited = 0; waited < timeout_ms; waited += 10) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			forget(pid);
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	forget(pid);
	return -1;
}

static void stop(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	forget(pid);
}

static socklen_t un_addr(struct sockaddr_un *un, const char *path)
{
	size_t n = strlen(path);

	assert_true(n < sizeof(un->sun_path));
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, n);
	return (socklen_t)sizeof(*un);
}

static void in_addr(struct sockaddr_in *in, uint16_t port)
{
	memset(in, 0, sizeof(*in));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	in->sin_port = htons(port);
}

/* Connect, retrying for up to 5 s while the listener is not up yet. */
static int connect_retry(int family, const struct sockaddr *sa, socklen_t len)
{
	for (int i = 0; i < 500; i++) {
		int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		if (connect(fd, sa, len) == 0)
			return fd;
		close(fd);
		if (errno != ECONNREFUSED && errno != ENOENT)
			break;
		usleep(10000);
	}
	fail_msg("connect: %s", strerror(errno));
	return -1;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un un;
	socklen_t len = un_addr(&un, path);

	return connect_retry(AF_UNIX, (struct sockaddr *)&un, len);
}

static int connect_tcp(uint16_t port)
{
	struct sockaddr_in in;

	in_addr(&in, port);
	return connect_retry(AF_INET, (struct sockaddr *)&in, sizeof(in));
}

static int listen_tcp_backlog(uint16_t *port, int backlog)
{
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	in_addr(&in, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &len), 0);
	*port = ntohs(in.sin_port);
	return fd;
}

static int listen_tcp(uint16_t *port)
{
	return listen_tcp_backlog(port, 64);
}

static int listen_unix(const char *path)
{
	struct sockaddr_un un;
	socklen_t len = un_addr(&un, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&un, len), 0);
	assert_int_equal(listen(fd, 64), 0);
	return fd;
}

/* A port that was free a moment ago (for listeners vsk opens itself). */
static uint16_t free_port(void)
{
	uint16_t port;
	int fd = listen_tcp(&port);

	close(fd);
	return port;
}

/* Target servers: one thread per connection. */
enum serve_kind { SERVE_ECHO, SERVE_COUNT };

struct server {
	int lfd;
	enum serve_kind kind;
	int nconn;
};

struct conn_arg {
	int fd;
	enum serve_kind kind;
};

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* ECHO: everything back, then EOF.  COUNT: read to EOF, then reply with
 * the byte count: only possible if the client's EOF came through while
 * this direction stayed open. */
static void *conn_thread(void *arg)
{
	struct conn_arg *ca = arg;
	char buf[65536];
	size_t total = 0;
	ssize_t n;

	while ((n = read(ca->fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		total += (size_t)n;
		if (ca->kind == SERVE_ECHO)
			write_all(ca->fd, buf, (size_t)n);
	}
	if (ca->kind == SERVE_COUNT) {
		int len = snprintf(buf, sizeof(buf), "got %zu bytes", total);
		write_all(ca->fd, buf, (size_t)len);
	}
	shutdown(ca->fd, SHUT_WR);
	/* Wait for the peer's close so our close sends no reset. */
	while ((n = read(ca->fd, buf, sizeof(buf))) > 0)
		;
	close(ca->fd);
	free(ca);
	return NULL;
}

static void *server_thread(void *arg)
{
	struct server *s = arg;

	for (int i = 0; i < s->nconn; i++) {
		struct conn_arg *ca = malloc(sizeof(*ca));
		pthread_t th;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0 || ca == NULL) {
			free(ca);
			break;
		}
		ca->fd = fd;
		ca->kind = s->kind;
		pthread_create(&th, NULL, conn_thread, ca);
		pthread_detach(th);
	}
	return NULL;
}

static void path_in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* Several clients at once through unix -> proxy -> tcp echo server. */
static void test_proxy_unix_to_tcp(void **state)
{
	enum { N = 8, SIZE = 3 * 1024 * 1024 };
	struct server srv = { .kind = SERVE_ECHO, .nconn = N };
	struct hs_flow fl[N];
	char psock[PATH_MAX], listen_arg[PATH_MAX + 8], target[64], errf[PATH_MAX];
	pthread_t th;
	uint16_t port;
	pid_t pid;

	SKIP_WITHOUT_VSK();
	srv.lfd = listen_tcp(&port);
	assert_int_equal(pthread_create(&th, NULL, server_thread, &srv), 0);
	path_in_dir(psock, sizeof(psock), "p1.sock");
	path_in_dir(errf, sizeof(errf), "proxy1.err");
	snprintf(listen_arg, sizeof(listen_arg), "unix:%s", psock);
	snprintf(target, sizeof(target), "tcp:127.0.0.1:%u", port);
	pid = spawn_vsk((const char *[]){ "proxy", "-v", listen_arg, target, NULL }, -1, -1, errf);
	for (int i = 0; i < N; i++) {
		int fd = connect_unix(psock);
		hs_flow_init(&fl[i], fd, fd, SIZE + (size_t)i * 1000, 1000 + (uint64_t)i);
	}
	assert_int_equal(hs_drive(fl, N, 60000), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(fl[i].err, 0);
		assert_int_equal(fl[i].sent, fl[i].total);
		assert_int_equal(fl[i].got, fl[i].total);
		assert_int_equal(fl[i].crc_got, fl[i].crc_sent);
		close(fl[i].wfd);
	}
	/* Still serving after all that. */
	assert_true(running(pid));
	stop(pid);
	pthread_join(th, NULL);
	close(srv.lfd);
}

/* tcp -> proxy -> unix: the client's EOF reaches the server while the
 * reply still comes back. */
static void test_proxy_half_close(void **state)
{
	enum { N = 4, SIZE = 1000000 };
	struct server srv = { .kind = SERVE_COUNT, .nconn = N };
	char tsock[PATH_MAX], target[PATH_MAX + 8], listen_arg[64], errf[PATH_MAX];
	char *data = calloc(1, SIZE), reply[64], want[64];
	int fds[N];
	pthread_t th;
	uint16_t port = free_port();
	pid_t pid;

	SKIP_WITHOUT_VSK();
	assert_non_null(data);
	path_in_dir(tsock, sizeof(tsock), "t2.sock");
	path_in_dir(errf, sizeof(errf), "proxy2.err");
	srv.lfd = listen_unix(tsock);
	assert_int_equal(pthread_create(&th, NULL, server_thread, &srv), 0);
	snprintf(listen_arg, sizeof(listen_arg), "tcp:127.0.0.1:%u", port);
	snprintf(target, sizeof(target), "unix:%s", tsock);
	pid = spawn_vsk((const char *[]){ "proxy", listen_arg, target, NULL }, -1, -1, errf);
	for (int i = 0; i < N; i++)
		fds[i] = connect_tcp(port);
	for (int i = 0; i < N; i++) {
		write_all(fds[i], data, SIZE - (size_t)i);
		assert_int_equal(shutdown(fds[i], SHUT_WR), 0);
	}
	for (int i = 0; i < N; i++) {
		long n = hs_read_all(fds[i], reply, sizeof(reply) - 1, 10000);
		assert_true(n > 0);
		reply[n] = '\0';
		snprintf(want, sizeof(want), "got %d bytes", SIZE - i);
		assert_string_equal(reply, want);
		close(fds[i]);
	}
	stop(pid);
	pthread_join(th, NULL);
	close(srv.lfd);
	free(data);
}

/* PATH holds NEEDLE at least N times (in its first 64 KiB). */
static bool file_contains_n(const char *path, const char *needle, int n)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t len;
	int found = 0;

	if (f == NULL)
		return false;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	for (char *p = buf; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		found++;
	return found >= n;
}

static bool file_contains(const char *path, const char *needle);

/* A log line written right after the close the test saw: wait for it. */
static bool file_gets(const char *path, const char *needle, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		if (file_contains(path, needle))
			return true;
		usleep(10000);
	}
	return file_contains(path, needle);
}

static bool file_contains(const char *path, const char *needle)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* Nobody at the target: each client is closed, the proxy logs the
 * explained error and goes on serving. */
static void test_proxy_target_down(void **state)
{
	char psock[PATH_MAX], listen_arg[PATH_MAX + 8], target[PATH_MAX + 8], errf[PATH_MAX];
	char buf[16];
	pid_t pid;

	SKIP_WITHOUT_VSK();
	path_in_dir(psock, sizeof(psock), "p3.sock");
	path_in_dir(errf, sizeof(errf), "proxy3.err");
	snprintf(listen_arg, sizeof(listen_arg), "unix:%s", psock);
	snprintf(target, sizeof(target), "unix:%s/nobody.sock", dir);
	pid = spawn_vsk((const char *[]){ "proxy", listen_arg, target, NULL }, -1, -1, errf);
	for (int i = 0; i < 3; i++) {
		int fd = connect_unix(psock);
		assert_int_equal(hs_read_all(fd, buf, sizeof(buf), 5000), 0);
		close(fd);
	}
	assert_true(running(pid));
	assert_true(file_gets(errf, "nobody.sock", 5000));
	stop(pid);
	assert_true(file_contains(errf, "connect unix:"));
}


/* Issue 12's stall: the target stops accepting (its queue is full) while
 * connections through the proxy are streaming, and new clients arrive
 * whose target connects hang.  The established ones must go on moving
 * data while those connects are pending (the new clients are still open
 * afterwards: their dials had not even timed out).  About 1 s. */
static void test_proxy_target_stall(void **state)
{
	enum { EST = 2, NEW = 4, SIZE = 4 * 1024 * 1024 };
	struct server srv = { .kind = SERVE_ECHO, .nconn = EST };
	struct hs_flow fl[EST];
	char psock[PATH_MAX], listen_arg[PATH_MAX + 8], target[64], errf[PATH_MAX], c;
	int est[EST], fresh[NEW], hold[64], nhold;
	pthread_t th;
	uint16_t port;
	pid_t pid;

	SKIP_WITHOUT_VSK();
	srv.lfd = listen_tcp_backlog(&port, 1);
	assert_int_equal(pthread_create(&th, NULL, server_thread, &srv), 0);
	path_in_dir(psock, sizeof(psock), "stall.sock");
	path_in_dir(errf, sizeof(errf), "stall.err");
	snprintf(listen_arg, sizeof(listen_arg), "unix:%s", psock);
	snprintf(target, sizeof(target), "tcp:127.0.0.1:%u", port);
	/* A deadline far beyond the test: dials end only by its end. */
	pid = spawn_vsk((const char *[]){ "proxy", "--timeout", "60000", listen_arg, target, NULL },
			-1, -1, errf);
	for (int i = 0; i < EST; i++) {
		/* Established: a byte went round through the target. */
		est[i] = connect_unix(psock);
		write_all(est[i], "x", 1);
		assert_true(hs_wait_readable(est[i], 10000));
		assert_int_equal(read(est[i], &c, 1), 1);
	}
	pthread_join(th, NULL); /* the target accepts nobody from now on */
	nhold = fill_tcp_queue(port, hold, 64);
	for (int i = 0; i < NEW; i++)
		fresh[i] = connect_unix(psock);
	usleep(100000); /* the proxy has accepted them and is dialing */
	for (int i = 0; i < EST; i++)
		hs_flow_init(&fl[i], est[i], est[i], SIZE, 50 + (uint64_t)i);
	/* The old proxy spent the whole --timeout in each new client's
	 * connect before serving anyone again: this would time out. */
	assert_int_equal(hs_drive(fl, EST, 20000), 0);
	for (int i = 0; i < EST; i++) {
		assert_int_equal(fl[i].err, 0);
		assert_int_equal(fl[i].got, SIZE);
		assert_int_equal(fl[i].crc_got, fl[i].crc_sent);
	}
	/* Still pending: nothing came back to the new clients, not even EOF. */
	for (int i = 0; i < NEW; i++)
		assert_int_equal(hs_wait_readable(fresh[i], 0), 0);
	assert_true(running(pid));
	stop(pid);
	for (int i = 0; i < EST; i++)
		close(est[i]);
	for (int i = 0; i < NEW; i++)
		close(fresh[i]);
	for (int i = 0; i < nhold; i++)
		close(hold[i]);
	close(srv.lfd);
}

/* A dial that times out: that client is reset (TCP) and the error logged
 * with its explanation; the proxy serves on.  About 0.5 s. */
static void test_proxy_dial_timeout(void **state)
{
	char target[64], listen_arg[64], errf[PATH_MAX], buf[8];
	int hold[64], nhold, lfd, fd;
	uint16_t port, lport = free_port();
	pid_t pid;

	SKIP_WITHOUT_VSK();
	lfd = listen_tcp_backlog(&port, 1);
	nhold = fill_tcp_queue(port, hold, 64);
	path_in_dir(errf, sizeof(errf), "dialto.err");
	snprintf(listen_arg, sizeof(listen_arg), "tcp:127.0.0.1:%u", lport);
	snprintf(target, sizeof(target), "tcp:127.0.0.1:%u", port);
	pid = spawn_vsk((const char *[]){ "proxy", "--timeout", "300", listen_arg, target, NULL },
			-1, -1, errf);
	for (int i = 0; i < 2; i++) {
		fd = connect_tcp(lport);
		/* A reset, not a clean end: the client was not served. */
		assert_int_equal(hs_read_all(fd, buf, sizeof(buf), 10000), -ECONNRESET);
		close(fd);
	}
	assert_true(running(pid));
	assert_true(file_gets(errf, "ETIMEDOUT", 5000));
	stop(pid);
	assert_true(file_contains(errf, "connect tcp:127.0.0.1:"));
	assert_true(file_contains(errf, "closed)"));
	for (int i = 0; i < nhold; i++)
		close(hold[i]);
	close(lfd);
}

/* A fake `vsk device` host socket: the first client's CONNECT is never
 * answered, the next ones get "OK" and an echo. */
struct fake_device {
	int lfd;
	int hung;           /* the connection left unanswered, -1 until then */
	char line[2][32];
};

static void *fake_device_main(void *arg)
{
	struct fake_device *fd = arg;

	for (int i = 0; i < 2; i++) {
		int c = accept4(fd->lfd, NULL, NULL, SOCK_CLOEXEC);
		char buf[4096];
		size_t n = 0;
		ssize_t r;

		if (c < 0)
			return NULL;
		/* The line, byte by byte: what follows it is the stream's. */
		while (n < sizeof(fd->line[i]) - 1 && read(c, fd->line[i] + n, 1) == 1 && fd->line[i][n] != '\n')
			n++;
		fd->line[i][n] = '\0';
		if (i == 0) {
			fd->hung = c;
			continue;
		}
		write_all(c, "OK 1077\n", 8);
		while ((r = read(c, buf, sizeof(buf))) > 0)
			write_all(c, buf, (size_t)r);
		close(c);
	}
	return NULL;
}

/* Toward a hybrid: target the handshake runs in the loop too: a device
 * that never answers one client's CONNECT delays nobody else, and that
 * client is closed at the deadline with the handshake's explanation.
 * About 1 s. */
static void test_proxy_hybrid_target(void **state)
{
	struct fake_device dev = { .hung = -1 };
	char dsock[PATH_MAX], psock[PATH_MAX], listen_arg[PATH_MAX + 8], target[PATH_MAX + 16],
		errf[PATH_MAX], buf[64];
	pthread_t th;
	int hung, c;
	pid_t pid;

	SKIP_WITHOUT_VSK();
	path_in_dir(dsock, sizeof(dsock), "dev.sock");
	path_in_dir(psock, sizeof(psock), "hp.sock");
	path_in_dir(errf, sizeof(errf), "hybrid.err");
	dev.lfd = listen_unix(dsock);
	assert_int_equal(pthread_create(&th, NULL, fake_device_main, &dev), 0);
	snprintf(listen_arg, sizeof(listen_arg), "unix:%s", psock);
	snprintf(target, sizeof(target), "hybrid:%s:5000", dsock);
	pid = spawn_vsk((const char *[]){ "proxy", "--timeout", "1500", listen_arg, target, NULL },
			-1, -1, errf);
	hung = connect_unix(psock);
	for (int i = 0; i < 500 && dev.hung < 0; i++)
		usleep(10000);
	assert_true(dev.hung >= 0);
	/* The second client is served while the first one's handshake hangs. */
	c = connect_unix(psock);
	write_all(c, "ping", 4);
	assert_int_equal(shutdown(c, SHUT_WR), 0);
	assert_int_equal(hs_read_all(c, buf, sizeof(buf), 5000), 4);
	assert_memory_equal(buf, "ping", 4);
	close(c);
	assert_int_equal(hs_wait_readable(hung, 0), 0); /* still waiting */
	/* At the deadline it is closed. */
	assert_true(hs_read_all(hung, buf, sizeof(buf), 10000) <= 0);
	close(hung);
	pthread_join(th, NULL);
	assert_string_equal(dev.line[0], "CONNECT 5000");
	assert_string_equal(dev.line[1], "CONNECT 5000");
	assert_true(running(pid));
	assert_true(file_gets(errf, "handshake hybrid:", 5000));
	stop(pid);
	assert_true(file_contains(errf, "no reply to 'CONNECT 5000' within the timeout"));
	close(dev.hung);
	close(dev.lfd);
}

/* listen --once -o FILE gets exactly what connect read from stdin. */
static void test_listen_once_output(void **state)
{
	enum { SIZE = 5 * 1024 * 1024 + 17 };
	char sock[PATH_MAX], addr[PATH_MAX + 8], in[PATH_MAX], out[PATH_MAX], errl[PATH_MAX],
		errc[PATH_MAX];
	unsigned char *data = malloc(SIZE), *back = malloc(SIZE + 1);
	uint64_t st = 7;
	int fd;
	pid_t lp, cp;

	SKIP_WITHOUT_VSK();
	assert_non_null(data);
	assert_non_null(back);
	path_in_dir(sock, sizeof(sock), "l4.sock");
	path_in_dir(in, sizeof(in), "in4.bin");
	path_in_dir(out, sizeof(out), "out4.bin");
	path_in_dir(errl, sizeof(errl), "listen4.err");
	path_in_dir(errc, sizeof(errc), "connect4.err");
	snprintf(addr, sizeof(addr), "unix:%s", sock);
	hs_fill(&st, data, SIZE);
	fd = open(in, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, SIZE), SIZE);
	close(fd);

	lp = spawn_vsk((const char *[]){ "listen", "--once", "-o", out, addr, NULL }, -1, -1, errl);
	for (int i = 0; i < 500; i++) {
		struct stat sb;
		if (stat(sock, &sb) == 0 && S_ISSOCK(sb.st_mode))
			break;
		usleep(10000);
	}
	fd = open(in, O_RDONLY);
	cp = spawn_vsk((const char *[]){ "connect", "--retry", "3", addr, NULL }, fd, -1, errc);
	close(fd);
	assert_int_equal(wait_exit(cp, 20000), 0);
	assert_int_equal(wait_exit(lp, 20000), 0);
	fd = open(out, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(hs_read_all(fd, (char *)back, SIZE + 1, 5000), SIZE);
	assert_memory_equal(back, data, SIZE);
	close(fd);
	free(data);
	free(back);
}

/* listen's stdout is a pipe nobody reads for a while: the loop goes on
 * accepting (-v names each client as it is accepted), and once the pipe
 * is read everything arrives, each client's chunks whole.  About 0.5 s. */
static void test_listen_slow_stdout(void **state)
{
	enum { N = 3, SIZE = 100000 }; /* each fits in its socket buffer */
	char sock[PATH_MAX], addr[PATH_MAX + 8], errl[PATH_MAX];
	unsigned char *data = malloc(SIZE), *got = malloc(N * SIZE + 1);
	int out[2], fds[N];
	uint64_t st = 3;
	long total = 0, n;
	pid_t lp;

	SKIP_WITHOUT_VSK();
	assert_non_null(data);
	assert_non_null(got);
	hs_fill(&st, data, SIZE);
	path_in_dir(sock, sizeof(sock), "slow.sock");
	path_in_dir(errl, sizeof(errl), "slow.err");
	snprintf(addr, sizeof(addr), "unix:%s", sock);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	lp = spawn_vsk((const char *[]){ "listen", "-v", addr, NULL }, -1, out[1], errl);
	close(out[1]);
	/* The first client fills the pipe and more; the others come once the
	 * listener is left with output it cannot write. */
	for (int i = 0; i < N; i++) {
		fds[i] = connect_unix(sock);
		write_all(fds[i], (const char *)data, SIZE);
		shutdown(fds[i], SHUT_WR);
		if (i == 0)
			usleep(200000);
	}
	/* All accepted (and their ends seen) while nothing read the pipe. */
	for (int i = 0; i < 500 && !file_contains_n(errl, "vsk: connection from", N); i++)
		usleep(10000);
	assert_true(file_contains_n(errl, "vsk: connection from", N));
	hs_nonblock(out[0]);
	while (total < (long)N * SIZE && hs_wait_readable(out[0], 10000)) {
		n = read(out[0], got + total, (size_t)(N * SIZE + 1 - total));
		if (n > 0)
			total += n;
		else if (n == 0)
			break;
	}
	assert_int_equal(total, (long)N * SIZE);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	assert_true(running(lp));
	stop(lp);
	close(out[0]);
	free(data);
	free(got);
}

/* listen --echo with connect: stdin comes back on stdout, then both exit
 * (connect only once the echo side ended too). */
static void test_listen_echo_connect(void **state)
{
	enum { SIZE = 2 * 1024 * 1024 };
	char sock[PATH_MAX], addr[PATH_MAX + 8], errl[PATH_MAX], errc[PATH_MAX];
	struct hs_flow fl;
	int in[2], out[2];
	pid_t lp, cp;

	SKIP_WITHOUT_VSK();
	path_in_dir(sock, sizeof(sock), "e5.sock");
	path_in_dir(errl, sizeof(errl), "listen5.err");
	path_in_dir(errc, sizeof(errc), "connect5.err");
	snprintf(addr, sizeof(addr), "unix:%s", sock);
	lp = spawn_vsk((const char *[]){ "listen", "--echo", addr, NULL }, -1, -1, errl);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	cp = spawn_vsk((const char *[]){ "connect", "--retry", "5", addr, NULL }, in[0], out[1], errc);
	close(in[0]);
	close(out[1]);
	hs_flow_init(&fl, in[1], out[0], SIZE, 99);
	fl.close_wfd = true;
	assert_int_equal(hs_drive(&fl, 1, 30000), 0);
	assert_int_equal(fl.err, 0);
	assert_int_equal(fl.got, SIZE);
	assert_int_equal(fl.crc_got, fl.crc_sent);
	assert_int_equal(wait_exit(cp, 10000), 0);
	close(out[0]);
	/* The echo server outlives its clients. */
	assert_true(running(lp));
	stop(lp);
}

/* listen --exec: the command's stdin ends at the client's EOF while its
 * output still reaches the client; $VSK_PEER names the client. */
static void test_listen_exec(void **state)
{
	char sock[PATH_MAX], addr[PATH_MAX + 8], errl[PATH_MAX], buf[256];
	pid_t lp;
	long n;
	int fd;

	SKIP_WITHOUT_VSK();
	path_in_dir(sock, sizeof(sock), "x6.sock");
	path_in_dir(errl, sizeof(errl), "listen6.err");
	snprintf(addr, sizeof(addr), "unix:%s", sock);
	lp = spawn_vsk((const char *[]){ "listen", "--once", "--exec",
					 "tr a-z A-Z; echo \"after eof, peer $VSK_PEER\"", addr, NULL },
		       -1, -1, errl);
	fd = connect_unix(sock);
	write_all(fd, "shout this\n", 11);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	n = hs_read_all(fd, buf, sizeof(buf) - 1, 10000);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "SHOUT THIS\nafter eof, peer unix\n");
	close(fd);
	assert_int_equal(wait_exit(lp, 10000), 0);
}

/* Usage mistakes exit 2, a refused connect exits 1 with the explanation. */
static void test_exit_codes(void **state)
{
	char errf[PATH_MAX], addr[PATH_MAX + 16];

	SKIP_WITHOUT_VSK();
	path_in_dir(errf, sizeof(errf), "usage.err");
	snprintf(addr, sizeof(addr), "unix:%s/none.sock", dir);
	assert_int_equal(wait_exit(spawn_vsk((const char *[]){ "proxy", addr, NULL }, -1, -1, errf), 5000), 2);
	assert_int_equal(wait_exit(spawn_vsk((const char *[]){ "listen", "--echo", "--exec", "cat", addr, NULL },
					     -1, -1, errf), 5000), 2);
	assert_int_equal(wait_exit(spawn_vsk((const char *[]){ "connect", "--retry", "x", addr, NULL },
					     -1, -1, errf), 5000), 2);
	assert_int_equal(wait_exit(spawn_vsk((const char *[]){ "connect", addr, NULL }, -1, -1, errf), 5000), 1);
	assert_true(file_contains(errf, "connect unix:"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proxy_unix_to_tcp),
		cmocka_unit_test(test_proxy_half_close),
		cmocka_unit_test(test_proxy_target_down),
		cmocka_unit_test(test_proxy_target_stall),
		cmocka_unit_test(test_proxy_dial_timeout),
		cmocka_unit_test(test_proxy_hybrid_target),
		cmocka_unit_test(test_listen_once_output),
		cmocka_unit_test(test_listen_slow_stdout),
		cmocka_unit_test(test_listen_echo_connect),
		cmocka_unit_test(test_listen_exec),
		cmocka_unit_test(test_exit_codes),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(100); /* a hang is a failure, not a stuck run */
	return cmocka_run_group_tests(tests, setup, teardown);
}
