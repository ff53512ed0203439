/* hybrid: the CONNECT/OK handshake against real Unix-socket peers, and the
 * listener/stale-socket rules of sock.c for Unix paths. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "vsk.h"

static char dir[64];

static int setup(void **state)
{
	strcpy(dir, "/tmp/vsk-test-hybrid.XXXXXX");
	assert_non_null(mkdtemp(dir));
	alarm(20); /* a bug must fail the test, never hang it */
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_parse(void **state)
{
	uint32_t port = 0;

	assert_int_equal(vsk_hybrid_parse_connect("CONNECT 4050\n", 13, &port), 0);
	assert_int_equal(port, 4050);
	assert_int_equal(vsk_hybrid_parse_connect("CONNECT 0", 9, &port), 0);
	assert_int_equal(port, 0);
	assert_int_equal(vsk_hybrid_parse_connect("CONNECT 4294967295\r\n", 20, &port), 0);
	assert_int_equal(port, 4294967295u);
	static const char *bad[] = {
		"CONNECT", "CONNECT ", "CONNECT  1", "connect 1", "CONNECT 1 ", "CONNECT -1",
		"CONNECT 4294967296", "CONNECT 1x", "CONNECTX 1", "OK 1", "", "CONNECT 12345678901",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (vsk_hybrid_parse_connect(bad[i], strlen(bad[i]), &port) != -EINVAL)
			fail_msg("'%s' should be rejected", bad[i]);
	/* Length is honoured, not the NUL: "CONNECT 12" read as "CONNECT 1". */
	assert_int_equal(vsk_hybrid_parse_connect("CONNECT 12", 9, &port), 0);
	assert_int_equal(port, 1);
}

/* A peer playing `vsk device`'s host listener; its behaviour is picked by MODE. */
struct peer {
	int lfd;
	const char *mode;
	uint32_t got_port;
	int rc;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->lfd, NULL, NULL);
	char buf[64];

	if (fd < 0) {
		p->rc = -errno;
		return NULL;
	}
	if (!strcmp(p->mode, "ok")) {
		p->rc = vsk_hybrid_accept(fd, &p->got_port, 5000);
		/* Reply and stream data in one write: the client must not eat it. */
		snprintf(buf, sizeof(buf), "OK %u\nstream-bytes", 1049u);
		if (write(fd, buf, strlen(buf)) < 0)
			p->rc = -errno;
	} else if (!strcmp(p->mode, "close")) {
		p->rc = vsk_hybrid_accept(fd, &p->got_port, 5000);
	} else if (!strcmp(p->mode, "garbage")) {
		p->rc = vsk_hybrid_accept(fd, &p->got_port, 5000);
		if (write(fd, "HELLO\n", 6) < 0)
			p->rc = -errno;
	} else if (!strcmp(p->mode, "endless")) {
		p->rc = vsk_hybrid_accept(fd, &p->got_port, 5000);
		memset(buf, 'A', sizeof(buf));
		if (write(fd, buf, sizeof(buf)) < 0)
			p->rc = -errno;
	} else if (!strcmp(p->mode, "silent")) {
		p->rc = vsk_hybrid_accept(fd, &p->got_port, 5000);
		sleep(1);
	}
	close(fd);
	return NULL;
}

static int run_client(const char *mode, uint32_t *got_port, char *data, size_t datalen)
{
	char path[128], text[160];
	struct vsk_addr la, ca;
	struct vsk_opts o = VSK_OPTS_INIT;
	struct peer p = { .mode = mode };
	pthread_t th;
	const char *op = NULL;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/vm.sock", dir);
	snprintf(text, sizeof(text), "unix:%s", path);
	assert_int_equal(vsk_addr_parse(text, &la, NULL, 0), 0);
	p.lfd = vsk_listen(&la, NULL);
	assert_true(p.lfd >= 0);
	assert_int_equal(pthread_create(&th, NULL, peer_main, &p), 0);

	snprintf(text, sizeof(text), "hybrid:%s:4050", path);
	assert_int_equal(vsk_addr_parse(text, &ca, NULL, 0), 0);
	o.timeout_ms = 300;
	fd = vsk_connect(&ca, &o, &op);
	rc = fd;
	if (fd >= 0) {
		ssize_t n = read(fd, data, datalen - 1);
		data[n > 0 ? n : 0] = '\0';
		close(fd);
		rc = 0;
	} else {
		assert_string_equal(op, "handshake");
	}
	pthread_join(th, NULL);
	*got_port = p.got_port;
	close(p.lfd);
	unlink(path);
	return rc;
}

static void test_handshake(void **state)
{
	char data[64] = "";
	uint32_t port = 0;

	assert_int_equal(run_client("ok", &port, data, sizeof(data)), 0);
	assert_int_equal(port, 4050);
	assert_string_equal(data, "stream-bytes");

	assert_int_equal(run_client("close", &port, data, sizeof(data)), -ECONNRESET);
	assert_int_equal(run_client("garbage", &port, data, sizeof(data)), -EPROTO);
	assert_int_equal(run_client("endless", &port, data, sizeof(data)), -EPROTO);
	assert_int_equal(run_client("silent", &port, data, sizeof(data)), -ETIMEDOUT);
}

/* Server side against misbehaving clients. */
static void test_accept_side(void **state)
{
	int sv[2];
	uint32_t port;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], "CONN", 4), 4);
	close(sv[0]);
	assert_int_equal(vsk_hybrid_accept(sv[1], &port, 1000), -ECONNRESET);
	close(sv[1]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], "GET / HTTP/1.0\n", 15), 15);
	assert_int_equal(vsk_hybrid_accept(sv[1], &port, 1000), -EPROTO);
	close(sv[0]);
	close(sv[1]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(vsk_hybrid_accept(sv[1], &port, 100), -ETIMEDOUT);
	assert_int_equal(write(sv[0], "CONNECT 77\nrest", 15), 15);
	assert_int_equal(vsk_hybrid_accept(sv[1], &port, 1000), 0);
	assert_int_equal(port, 77);
	assert_int_equal(vsk_hybrid_reply(sv[1], 1234), 0);
	{
		char buf[16] = "";
		assert_int_equal(read(sv[0], buf, sizeof(buf)), 8);
		assert_memory_equal(buf, "OK 1234\n", 8);
		assert_int_equal(read(sv[1], buf, 4), 4);
		assert_memory_equal(buf, "rest", 4);
	}
	close(sv[0]);
	close(sv[1]);
}

/* hybrid:PATH:PORT listens on PATH_PORT, where the device delivers port PORT. */
static void test_hybrid_listener(void **state)
{
	char text[160], path[160];
	struct vsk_addr a;
	struct stat st;
	int fd;

	snprintf(text, sizeof(text), "hybrid:%s/vm4.vsock:4050", dir);
	assert_int_equal(vsk_addr_parse(text, &a, NULL, 0), 0);
	fd = vsk_listen(&a, NULL);
	assert_true(fd >= 0);
	snprintf(path, sizeof(path), "%s/vm4.vsock_4050", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	/* A live listener is not replaced. */
	assert_int_equal(vsk_listen(&a, NULL), -EADDRINUSE);
	close(fd);
	/* A stale socket file (listener gone) is. */
	fd = vsk_listen(&a, NULL);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	/* A regular file is never unlinked. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(vsk_listen(&a, NULL), -EADDRINUSE);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test_setup_teardown(test_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_side, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hybrid_listener, setup, teardown),
	};
	return cmocka_run_group_tests_name("hybrid", tests, NULL, NULL);
}
