/* addr: every address kind, good and bad, round-tripped through the formatter. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include "vsk.h"

static void parse_ok(const char *text, struct vsk_addr *a)
{
	char msg[256] = "";
	int rc = vsk_addr_parse(text, a, msg, sizeof(msg));

	if (rc != 0)
		fail_msg("'%s' should parse, got %d: %s", text, rc, msg);
}

static void test_vsock(void **state)
{
	struct vsk_addr a;
	char buf[128];

	parse_ok("vsock:2:4050", &a);
	assert_int_equal(a.kind, VSK_ADDR_VSOCK);
	assert_int_equal(a.cid, 2);
	assert_int_equal(a.port, 4050);
	assert_int_equal(vsk_addr_socktype(&a), SOCK_STREAM);
	assert_string_equal(vsk_addr_format(&a, buf, sizeof(buf)), "vsock:2:4050");

	parse_ok("vsock:host:80", &a);
	assert_int_equal(a.cid, VMADDR_CID_HOST);
	parse_ok("vsock:local:1", &a);
	assert_int_equal(a.cid, VMADDR_CID_LOCAL);
	parse_ok("vsock:hypervisor:1", &a);
	assert_int_equal(a.cid, VMADDR_CID_HYPERVISOR);
	parse_ok("vsock:any:any", &a);
	assert_int_equal(a.cid, VMADDR_CID_ANY);
	assert_int_equal(a.port, VMADDR_PORT_ANY);
	assert_string_equal(vsk_addr_format(&a, buf, sizeof(buf)), "vsock:any:any");
	parse_ok("vsock:-1:7", &a);
	assert_int_equal(a.cid, VMADDR_CID_ANY);
	parse_ok("vsock:4294967294:4294967294", &a);
	assert_int_equal(a.cid, 4294967294u);
	assert_int_equal(a.port, 4294967294u);
	parse_ok("vsock:0:0", &a);
	assert_int_equal(a.cid, 0);
	assert_int_equal(a.port, 0);

	parse_ok("vsock-seq:1:5000", &a);
	assert_int_equal(a.kind, VSK_ADDR_VSOCK_SEQ);
	assert_int_equal(vsk_addr_socktype(&a), SOCK_SEQPACKET);
	assert_string_equal(vsk_addr_format(&a, buf, sizeof(buf)), "vsock-seq:1:5000");
}

static void test_vsock_bad(void **state)
{
	static const char *bad[] = {
		"vsock:", "vsock:2", "vsock:2:", "vsock::4050", "vsock:2:4050:1",
		"vsock:x:4050", "vsock:2:port", "vsock:4294967296:1", "vsock:2:4294967296",
		"vsock:+2:1", "vsock:-2:1", "vsock: 2:1", "vsock:2:-1", "vsock:0x2:1",
		"vsock:2:12345678901", "vsock-seq:2", "VSOCK:2:1", "vsock:host:anyx",
	};
	struct vsk_addr a;
	char msg[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = '\0';
		if (vsk_addr_parse(bad[i], &a, msg, sizeof(msg)) != -EINVAL)
			fail_msg("'%s' should be rejected", bad[i]);
		assert_true(strlen(msg) > 10);
		assert_null(strchr(msg, '\n'));
	}
	/* The message says what was expected. */
	vsk_addr_parse("vsock:2", &a, msg, sizeof(msg));
	assert_non_null(strstr(msg, "expected vsock:CID:PORT"));
	vsk_addr_parse("vsock:bogus:1", &a, msg, sizeof(msg));
	assert_non_null(strstr(msg, "host (2)"));
}

static void test_hybrid(void **state)
{
	struct vsk_addr a;
	char buf[200], msg[256];
	char longpath[200];

	parse_ok("hybrid:/tmp/vm4.vsock:4050", &a);
	assert_int_equal(a.kind, VSK_ADDR_HYBRID);
	assert_string_equal(a.path, "/tmp/vm4.vsock");
	assert_int_equal(a.port, 4050);
	assert_string_equal(vsk_addr_format(&a, buf, sizeof(buf)), "hybrid:/tmp/vm4.vsock:4050");
	/* The last colon separates the port, so paths may hold colons. */
	parse_ok("hybrid:/tmp/a:b:52", &a);
	assert_string_equal(a.path, "/tmp/a:b");
	assert_int_equal(a.port, 52);

	assert_int_equal(vsk_addr_parse("hybrid:/tmp/x", &a, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(vsk_addr_parse("hybrid::1", &a, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "empty"));
	assert_int_equal(vsk_addr_parse("hybrid:/tmp/x:any", &a, msg, sizeof(msg)), -EINVAL);
	/* Room is kept for the "_PORT" suffix of a hybrid listener. */
	memset(longpath, 0, sizeof(longpath));
	strcpy(longpath, "hybrid:/");
	memset(longpath + 8, 'a', 100);
	strcat(longpath, ":1");
	assert_int_equal(vsk_addr_parse(longpath, &a, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "too long"));
}

static void test_unix_tcp_stdio(void **state)
{
	struct vsk_addr a;
	char buf[300], msg[256], longpath[200];

	parse_ok("unix:/run/x.sock", &a);
	assert_int_equal(a.kind, VSK_ADDR_UNIX);
	assert_string_equal(a.path, "/run/x.sock");
	assert_string_equal(vsk_addr_format(&a, buf, sizeof(buf)), "unix:/run/x.sock");
	parse_ok("unix:@abstract", &a);
	assert_string_equal(a.path, "@abstract");
	assert_int_equal(vsk_addr_parse("unix:", &a, msg, sizeof(msg)), -EINVAL);
	strcpy(longpath, "unix:");
	memset(longpath + 5, 'p', 108);
	longpath[113] = '\0';
	assert_int_equal(vsk_addr_parse(longpath, &a, msg, sizeof(msg)), -EINVAL);

	parse_ok("tcp:127.0.0.1:8080", &a);
	assert_int_equal(a.kind, VSK_ADDR_TCP);
	assert_string_equal(a.host, "127.0.0.1");
	assert_string_equal(a.service, "8080");
	assert_string_equal(vsk_addr_format(&a, buf, sizeof(buf)), "tcp:127.0.0.1:8080");
	parse_ok("tcp:[::1]:22", &a);
	assert_string_equal(a.host, "::1");
	assert_string_equal(vsk_addr_format(&a, buf, sizeof(buf)), "tcp:[::1]:22");
	parse_ok("tcp:localhost:0", &a);
	parse_ok("tcp::9000", &a);
	assert_string_equal(a.host, "");
	assert_int_equal(vsk_addr_parse("tcp:::1:22", &a, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "brackets"));
	assert_int_equal(vsk_addr_parse("tcp:host:65536", &a, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(vsk_addr_parse("tcp:host", &a, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(vsk_addr_parse("tcp:[::1:22", &a, msg, sizeof(msg)), -EINVAL);

	parse_ok("-", &a);
	assert_int_equal(a.kind, VSK_ADDR_STDIO);
	assert_int_equal(vsk_addr_parse("", &a, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(vsk_addr_parse("udp:1.2.3.4:5", &a, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "expected vsock:CID:PORT"));
	assert_int_equal(vsk_addr_parse(NULL, &a, msg, sizeof(msg)), -EINVAL);
	/* A NULL error buffer is allowed. */
	assert_int_equal(vsk_addr_parse("nope", &a, NULL, 0), -EINVAL);
}

static void test_sockaddr_format(void **state)
{
	struct sockaddr_vm vm = { .svm_family = AF_VSOCK, .svm_cid = 4, .svm_port = 1234 };
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(80) };
	struct sockaddr_un un;
	socklen_t len;
	char buf[128];
	uint32_t cid, port;

	assert_string_equal(vsk_sockaddr_format((struct sockaddr *)&vm, sizeof(vm), buf, sizeof(buf)), "4:1234");
	inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
	assert_string_equal(vsk_sockaddr_format((struct sockaddr *)&in, sizeof(in), buf, sizeof(buf)), "127.0.0.1:80");
	/* Truncated sockaddr: no read past LEN. */
	assert_string_equal(vsk_sockaddr_format((struct sockaddr *)&vm, 4, buf, sizeof(buf)), "unknown");
	/* An unnamed Unix peer. */
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	assert_string_equal(vsk_sockaddr_format((struct sockaddr *)&un, sizeof(sa_family_t), buf, sizeof(buf)), "unix");
	/* The hybrid peer name carries the guest's CID and port. */
	len = vsk_hybrid_peer_name(&un, 4, 1049, 0xabcdef);
	assert_int_equal(vsk_hybrid_peer_parse((struct sockaddr *)&un, len, &cid, &port), 0);
	assert_int_equal(cid, 4);
	assert_int_equal(port, 1049);
	assert_string_equal(vsk_sockaddr_format((struct sockaddr *)&un, len, buf, sizeof(buf)), "4:1049");
	/* Other abstract names are not mistaken for one. */
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	memcpy(un.sun_path + 1, "vsk-hybrid:1:2", 14);
	assert_int_equal(vsk_hybrid_peer_parse((struct sockaddr *)&un, offsetof(struct sockaddr_un, sun_path) + 15, &cid, &port), -EINVAL);
	memcpy(un.sun_path + 1, "other", 5);
	assert_string_equal(vsk_sockaddr_format((struct sockaddr *)&un, offsetof(struct sockaddr_un, sun_path) + 6, buf, sizeof(buf)), "unix:@other");
}

/* Found by tests/fuzz/fuzz_addr.c: a TCP host "[" was formatted as
 * "tcp:[:1", which does not parse back.  Every parsed address must
 * format to text that parses to the same address. */
static void test_format_round_trip(void **state)
{
	static const char *const texts[] = { "tcp:[[]:65535", "tcp:[[x]:1", "tcp:a]:2", "tcp:[]:3",
					     "hybrid:a:b:4", "vsock:-1:any" };
	struct vsk_addr a, b;
	char buf[512], msg[256];

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(vsk_addr_parse(texts[i], &a, msg, sizeof(msg)), 0);
		vsk_addr_format(&a, buf, sizeof(buf));
		assert_int_equal(vsk_addr_parse(buf, &b, msg, sizeof(msg)), 0);
		assert_memory_equal(&a, &b, sizeof(a));
	}
	parse_ok("tcp:[[]:65535", &a);
	assert_string_equal(a.host, "[");
	assert_string_equal(vsk_addr_format(&a, buf, sizeof(buf)), "tcp:[[]:65535");
}

static void test_cid_str(void **state)
{
	char buf[16];

	assert_string_equal(vsk_cid_str(VMADDR_CID_ANY, buf, sizeof(buf)), "any");
	assert_string_equal(vsk_cid_str(3, buf, sizeof(buf)), "3");
}

/* Listen on TEXT, ask the kernel what was bound: *GOT, and its text. */
static int listen_got(const char *text, struct vsk_addr *got, char *buf, size_t len)
{
	struct vsk_addr a;
	int fd, rc;

	parse_ok(text, &a);
	fd = vsk_listen(&a, NULL);
	if (fd < 0)
		return fd;
	rc = vsk_listen_addr(fd, &a, got);
	close(fd);
	if (rc == 0)
		vsk_addr_format(got, buf, len);
	return rc;
}

static void test_listen_addr(void **state)
{
	char dir[] = "/tmp/vsk-addr.XXXXXX", text[256], buf[256];
	struct vsk_addr got, back;
	int fd, rc;

	assert_non_null(mkdtemp(dir));
	/* tcp port 0: the kernel's port, numeric host, and it parses back. */
	assert_int_equal(listen_got("tcp:127.0.0.1:0", &got, buf, sizeof(buf)), 0);
	assert_int_equal(got.kind, VSK_ADDR_TCP);
	assert_string_equal(got.host, "127.0.0.1");
	assert_true(atoi(got.service) > 0);
	parse_ok(buf, &back);
	assert_string_equal(back.service, got.service);
	rc = listen_got("tcp:[::1]:0", &got, buf, sizeof(buf));
	if (rc == 0) {
		assert_string_equal(got.host, "::1");
		assert_true(atoi(got.service) > 0);
		assert_true(strncmp(buf, "tcp:[::1]:", 10) == 0);
	} else {
		print_message("skipped tcp:[::1]: no IPv6 loopback here (%s)\n", strerror(-rc));
	}
	/* unix: the path; abstract: "@name". */
	snprintf(text, sizeof(text), "unix:%s/u.sock", dir);
	assert_int_equal(listen_got(text, &got, buf, sizeof(buf)), 0);
	assert_int_equal(got.kind, VSK_ADDR_UNIX);
	assert_string_equal(buf, text);
	assert_int_equal(listen_got("unix:@vsk-test-listen-addr", &got, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "unix:@vsk-test-listen-addr");
	/* hybrid: PATH and PORT kept, stream and seqpacket. */
	snprintf(text, sizeof(text), "hybrid:%s/h.sock:5000", dir);
	assert_int_equal(listen_got(text, &got, buf, sizeof(buf)), 0);
	assert_int_equal(got.kind, VSK_ADDR_HYBRID);
	assert_int_equal(got.port, 5000);
	assert_string_equal(buf, text);
	snprintf(text, sizeof(text), "hybrid-seq:%s/h.sock:5001", dir);
	assert_int_equal(listen_got(text, &got, buf, sizeof(buf)), 0);
	assert_int_equal(got.kind, VSK_ADDR_HYBRID_SEQ);
	assert_string_equal(buf, text);
	/* Without the address asked for, a hybrid socket is just unix:. */
	parse_ok(text, &back);
	fd = vsk_listen(&back, NULL);
	assert_true(fd >= 0);
	assert_int_equal(vsk_listen_addr(fd, NULL, &got), 0);
	assert_int_equal(got.kind, VSK_ADDR_UNIX);
	snprintf(text, sizeof(text), "%s/h.sock_5001", dir);
	assert_string_equal(got.path, text);
	close(fd);
	/* vsock any:any: bind and listen only (never connect here). */
	rc = listen_got("vsock:any:any", &got, buf, sizeof(buf));
	if (rc == 0) {
		assert_int_equal(got.kind, VSK_ADDR_VSOCK);
		assert_int_equal(got.cid, VSK_CID_ANY);
		assert_true(got.port != VSK_PORT_ANY);
		assert_true(strncmp(buf, "vsock:any:", 10) == 0 && strcmp(buf, "vsock:any:any") != 0);
		assert_int_equal(listen_got("vsock-seq:any:any", &got, buf, sizeof(buf)), 0);
		assert_int_equal(got.kind, VSK_ADDR_VSOCK_SEQ);
		assert_true(got.port != VSK_PORT_ANY);
	} else {
		print_message("skipped vsock:any:any: %s\n", strerror(-rc));
	}
	/* No socket, or a family vsk has no address for. */
	fd = open("/dev/null", O_RDONLY);
	assert_int_equal(vsk_listen_addr(fd, NULL, &got), -ENOTSOCK);
	close(fd);
	fd = socket(AF_NETLINK, SOCK_RAW, 0);
	if (fd >= 0) {
		assert_int_equal(vsk_listen_addr(fd, NULL, &got), -EAFNOSUPPORT);
		close(fd);
	}
	snprintf(text, sizeof(text), "rm -rf '%s'", dir);
	assert_int_equal(system(text), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vsock),
		cmocka_unit_test(test_vsock_bad),
		cmocka_unit_test(test_hybrid),
		cmocka_unit_test(test_unix_tcp_stdio),
		cmocka_unit_test(test_sockaddr_format),
		cmocka_unit_test(test_cid_str),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_listen_addr),
	};
	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
