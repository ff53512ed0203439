/* sd: sd_notify datagrams caught on Unix datagram sockets we bind (path and
 * abstract), and socket activation variables with real fds at 3 and 4. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
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

#include "vsk.h"

static char dir[64];
/* Whatever held fds 3 and 4 before a test, moved aside and put back. */
static int saved[2] = { -1, -1 };

static int setup(void **state)
{
	strcpy(dir, "/tmp/vsk-test-sd.XXXXXX");
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < 2; i++)
		saved[i] = fcntl(3 + i, F_DUPFD_CLOEXEC, 20);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	alarm(20); /* a bug must fail the test, never hang it */
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	for (int i = 0; i < 2; i++) {
		close(3 + i);
		if (saved[i] >= 0) {
			dup2(saved[i], 3 + i);
			close(saved[i]);
			saved[i] = -1;
		}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A datagram socket bound to NAME ("@x": abstract); returns the fd. */
static int bind_dgram(const char *name)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(n < sizeof(sun.sun_path));
	memcpy(sun.sun_path, name, n);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	assert_int_equal(bind(fd, (struct sockaddr *)&sun,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)), 0);
	return fd;
}

/* One datagram from FD, NUL-terminated, without blocking forever. */
static void recv_one(int fd, char *buf, size_t len)
{
	struct timeval tv = { .tv_sec = 5 };
	ssize_t n;

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	n = recv(fd, buf, len - 1, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
}

static void test_notify_path(void **state)
{
	char path[128], buf[256];
	int fd;

	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = bind_dgram(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(vsk_sd_notify("READY=1\nSTATUS=serving 2 VMs"), 1);
	recv_one(fd, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1\nSTATUS=serving 2 VMs");
	assert_int_equal(vsk_sd_notify("STOPPING=1"), 1);
	recv_one(fd, buf, sizeof(buf));
	assert_string_equal(buf, "STOPPING=1");
	/* The variable stays: a daemon notifies more than once. */
	assert_non_null(getenv("NOTIFY_SOCKET"));
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void test_notify_abstract(void **state)
{
	char name[64], buf[64];
	int fd;

	snprintf(name, sizeof(name), "@vsk-test-sd-%d", (int)getpid());
	fd = bind_dgram(name);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(vsk_sd_notify("READY=1"), 1);
	recv_one(fd, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void test_notify_errors(void **state)
{
	char path[256];

	/* Not run by systemd: nothing sent, not an error. */
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(vsk_sd_notify("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(vsk_sd_notify("READY=1"), 0);

	setenv("NOTIFY_SOCKET", "/nonexistent", 1);
	assert_int_equal(vsk_sd_notify(""), -EINVAL);
	assert_int_equal(vsk_sd_notify(NULL), -EINVAL);

	/* Nobody bound there. */
	snprintf(path, sizeof(path), "%s/nobody", dir);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(vsk_sd_notify("READY=1"), -ENOENT);

	/* Neither a path nor abstract: refused before any socket is made
	 * (a vsock: name is never contacted). */
	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	assert_int_equal(vsk_sd_notify("READY=1"), -EAFNOSUPPORT);
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	assert_int_equal(vsk_sd_notify("READY=1"), -EAFNOSUPPORT);

	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(vsk_sd_notify("READY=1"), -ENAMETOOLONG);
	unsetenv("NOTIFY_SOCKET");
}

/* Move FD to TARGET (socket() may itself return 3 or 4). */
static void place(int fd, int target)
{
	int high = fcntl(fd, F_DUPFD, 20);

	assert_true(high >= 0);
	close(fd);
	assert_int_equal(dup2(high, target), target);
	close(high);
}

static void set_listen(const char *pid, const char *fds)
{
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", fds, 1);
	setenv("LISTEN_FDNAMES", "a:b", 1);
}

static void assert_env_gone(void)
{
	assert_null(getenv("LISTEN_PID"));
	assert_null(getenv("LISTEN_FDS"));
	assert_null(getenv("LISTEN_FDNAMES"));
}

static void test_listen_fds(void **state)
{
	char pid[32];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd, sfd;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	/* A listening stream socket at 3 and a datagram socket at 4, both
	 * without close-on-exec, as systemd hands them over. */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/act", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	place(lfd, 3);
	sfd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(sfd >= 0);
	place(sfd, 4);
	assert_int_equal(fcntl(3, F_GETFD) & FD_CLOEXEC, 0);

	/* Nothing passed. */
	assert_int_equal(vsk_sd_listen_fds(true), 0);

	/* Meant for another process: ignored, and forgotten when asked. */
	set_listen("1", "2");
	assert_int_equal(vsk_sd_listen_fds(false), 0);
	assert_non_null(getenv("LISTEN_FDS"));
	assert_int_equal(vsk_sd_listen_fds(true), 0);
	assert_env_gone();
	assert_int_equal(fcntl(3, F_GETFD) & FD_CLOEXEC, 0);

	set_listen(pid, "2");
	assert_int_equal(vsk_sd_listen_fds(true), 2);
	assert_env_gone();
	assert_int_equal(fcntl(3, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(fcntl(4, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

	/* The listener check: 3 listens (stream), 4 does not, a pipe is no
	 * socket. */
	assert_int_equal(fcntl(3, F_GETFL) & O_NONBLOCK, 0);
	assert_int_equal(vsk_sd_listener(3, true), SOCK_STREAM);
	assert_int_equal(fcntl(3, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	assert_int_equal(vsk_sd_listener(4, false), -EINVAL);
	close(4);
	assert_int_equal(vsk_sd_listener(4, false), -EBADF);

	/* A promised fd that is not open. */
	set_listen(pid, "2");
	assert_int_equal(vsk_sd_listen_fds(true), -EBADF);
	assert_env_gone();
}

static void test_listen_fds_malformed(void **state)
{
	static const char *const bad[][2] = {
		{ "", "1" }, { "x", "1" }, { "-1", "1" }, { "+5", "1" }, { " 5", "1" },
		{ "99999999999999999999", "1" },
		{ "SELF", "" }, { "SELF", "one" }, { "SELF", "1x" }, { "SELF", "-1" },
		{ "SELF", "100000" },
	};
	char pid[32];
	int p[2];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *ps = strcmp(bad[i][0], "SELF") ? bad[i][0] : pid;

		set_listen(ps, bad[i][1]);
		if (vsk_sd_listen_fds(true) != -EINVAL)
			fail_msg("LISTEN_PID='%s' LISTEN_FDS='%s' not refused", ps, bad[i][1]);
		assert_env_gone();
	}
	/* Zero sockets is valid. */
	set_listen(pid, "0");
	assert_int_equal(vsk_sd_listen_fds(true), 0);

	assert_int_equal(pipe(p), 0);
	assert_int_equal(vsk_sd_listener(p[0], false), -ENOTSOCK);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_notify_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_abstract, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_fds_malformed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
