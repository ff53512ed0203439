/* hybrid-seq:PATH:PORT: the address kind, its handshake (one message each
 * way on a Unix SOCK_SEQPACKET socket), its listener and its connect, against
 * fake device ends in threads.  Unix sockets only. */
#include <errno.h>
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
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "vsk.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/vsk-test-hseq.XXXXXX");
	assert_non_null(mkdtemp(dir));
	alarm(20); /* a bug must fail the test, never hang it */
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_parse(void **state)
{
	struct vsk_addr a, b;
	char buf[200], msg[256];

	(void)state;
	assert_int_equal(vsk_addr_parse("hybrid-seq:/tmp/vm4.vsock:4050", &a, msg, sizeof(msg)), 0);
	assert_int_equal(a.kind, VSK_ADDR_HYBRID_SEQ);
	assert_string_equal(a.path, "/tmp/vm4.vsock");
	assert_int_equal(a.port, 4050);
	assert_int_equal(vsk_addr_socktype(&a), SOCK_SEQPACKET);
	assert_string_equal(vsk_addr_format(&a, buf, sizeof(buf)), "hybrid-seq:/tmp/vm4.vsock:4050");
	assert_int_equal(vsk_addr_parse(buf, &b, msg, sizeof(msg)), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(vsk_addr_parse("hybrid-seq:/tmp/a:b:52", &a, msg, sizeof(msg)), 0);
	assert_string_equal(a.path, "/tmp/a:b");
	/* hybrid: stays a stream. */
	assert_int_equal(vsk_addr_parse("hybrid:/tmp/vm4.vsock:4050", &a, msg, sizeof(msg)), 0);
	assert_int_equal(vsk_addr_socktype(&a), SOCK_STREAM);
	assert_int_equal(vsk_addr_parse("hybrid-seq:/tmp/x", &a, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "expected hybrid-seq:PATH:PORT"));
	assert_int_equal(vsk_addr_parse("hybrid-seq:/tmp/x:any", &a, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "hybrid-seq:PATH:PORT"));
	assert_int_equal(vsk_addr_parse("ftp:x", &a, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "hybrid-seq:PATH:PORT"));
}

/* A fake device end: reads the CONNECT message, answers per MODE. */
struct srv {
	int fd;
	const char *mode;
	char got[64];
};

static void *serve(void *arg)
{
	struct srv *s = arg;
	ssize_t n = recv(s->fd, s->got, sizeof(s->got) - 1, 0);

	if (n > 0)
		s->got[n] = '\0';
	if (!strcmp(s->mode, "ok")) {
		send(s->fd, "OK 77\n", 6, 0);
		send(s->fd, "first message", 13, 0);
	} else if (!strcmp(s->mode, "garbage")) {
		send(s->fd, "NO\n", 3, 0);
	} else if (!strcmp(s->mode, "long")) {
		char big[100];

		memset(big, 'O', sizeof(big));
		big[99] = '\n';
		send(s->fd, big, sizeof(big), 0);
	} else if (!strcmp(s->mode, "silent")) {
		usleep(400000);
	}
	if (strcmp(s->mode, "ok") != 0)
		shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

static int handshake(const char *mode, uint32_t *assigned, char *after, size_t alen, char *req)
{
	struct srv s = { .mode = mode };
	pthread_t th;
	int sv[2], rc;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	s.fd = sv[1];
	assert_int_equal(pthread_create(&th, NULL, serve, &s), 0);
	rc = vsk_hybrid_seq_connect(sv[0], 5000, 300, assigned);
	if (rc == 0 && after != NULL) {
		ssize_t n = recv(sv[0], after, alen - 1, 0);

		after[n > 0 ? n : 0] = '\0';
	}
	pthread_join(th, NULL);
	if (req != NULL)
		strcpy(req, s.got);
	close(sv[0]);
	close(sv[1]);
	return rc;
}

static void test_handshake(void **state)
{
	uint32_t port = 0;
	char after[64], req[64];

	(void)state;
	assert_int_equal(handshake("ok", &port, after, sizeof(after), req), 0);
	assert_string_equal(req, "CONNECT 5000\n"); /* one message */
	assert_int_equal(port, 77);
	/* The next message is untouched, and whole. */
	assert_string_equal(after, "first message");
	assert_int_equal(handshake("close", &port, NULL, 0, NULL), -ECONNRESET);
	assert_int_equal(handshake("garbage", &port, NULL, 0, NULL), -EPROTO);
	assert_int_equal(handshake("long", &port, NULL, 0, NULL), -EPROTO);
	assert_int_equal(handshake("silent", &port, NULL, 0, NULL), -ETIMEDOUT);
}

/* A fake vsk device: "<uds>_seqpacket" does the handshake, then echoes. */
static void *device_end(void *arg)
{
	int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);
	char buf[256];
	ssize_t n;

	if (fd < 0)
		return NULL;
	if (recv(fd, buf, sizeof(buf), 0) > 0 && send(fd, "OK 1073741824\n", 14, 0) == 14)
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
			send(fd, buf, (size_t)n, 0);
	close(fd);
	return NULL;
}

static void test_connect_listen(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char text[160], path[160], why[512], buf[64];
	const char *op = NULL;
	struct vsk_addr a;
	struct stat st;
	pthread_t th;
	int lfd, fd, type = 0;
	socklen_t tl = sizeof(type);

	(void)state;
	snprintf(text, sizeof(text), "hybrid-seq:%s/vm4.vsock:5000", dir);
	assert_int_equal(vsk_addr_parse(text, &a, NULL, 0), 0);
	/* Nothing there yet: the explained error names "_seqpacket". */
	fd = vsk_connect(&a, NULL, &op);
	assert_int_equal(fd, -ENOENT);
	assert_string_equal(op, "connect");
	vsk_explain(-fd, op, &a, why, sizeof(why));
	assert_non_null(strstr(why, "vm4.vsock_seqpacket"));
	/* The device's side. */
	lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/vm4.vsock_seqpacket", dir);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(pthread_create(&th, NULL, device_end, &lfd), 0);
	fd = vsk_connect(&a, NULL, &op);
	assert_true(fd >= 0);
	assert_int_equal(send(fd, "one", 3, 0), 3);
	assert_int_equal(send(fd, "two!", 4, 0), 4);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 3);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 4);
	close(fd);
	pthread_join(th, NULL);
	close(lfd);
	/* The listener: SEQPACKET on PATH_PORT, where the device delivers
	 * the guest's SEQPACKET connections to port PORT. */
	lfd = vsk_listen(&a, NULL);
	assert_true(lfd >= 0);
	assert_int_equal(getsockopt(lfd, SOL_SOCKET, SO_TYPE, &type, &tl), 0);
	assert_int_equal(type, SOCK_SEQPACKET);
	snprintf(path, sizeof(path), "%s/vm4.vsock_5000", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test_setup_teardown(test_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_listen, setup, teardown),
	};

	return cmocka_run_group_tests_name("hybrid-seq", tests, NULL, NULL);
}
