/* addr: every address kind, good and bad, round-tripped through the
 * formatter; messages about long text whole; tcp::PORT dual-stack. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
#include "helper_tmp.h"

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

/* A parse message for text of N bytes after PREFIX: whole in the 256 bytes
 * the CLI gives it, the text elided in the middle, the numbers kept. */
static void long_text(const char *prefix, size_t n, const char *suffix, const char *want)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *text = malloc(pl + n + sl + 1), msg[256];
	struct vsk_addr a;

	assert_non_null(text);
	memcpy(text, prefix, pl);
	memset(text + pl, 'a', n);
	memcpy(text + pl + n, suffix, sl + 1);
	memset(msg, 0, sizeof(msg));
	assert_int_equal(vsk_addr_parse(text, &a, msg, sizeof(msg)), -EINVAL);
	if (strstr(msg, want) == NULL)
		fail_msg("expected '%s' in: %s", want, msg);
	assert_true(strlen(msg) < sizeof(msg) - 1);
	assert_non_null(strstr(msg, "..."));
	/* The start and the end of the text both show. */
	assert_non_null(strstr(msg, prefix));
	if (sl > 0)
		assert_non_null(strstr(msg, suffix));
	free(text);
}

static void test_long_messages(void **state)
{
	(void)state;
	long_text("unix:/tmp/", 200, "", "socket path too long (205 bytes, at most 107)");
	long_text("unix:/tmp/", 4000, "", "socket path too long (4005 bytes, at most 107)");
	long_text("hybrid:/tmp/", 200, ":52", "socket path too long (205 bytes, at most 96)");
	long_text("hybrid-seq:/tmp/", 4000, ":52", "socket path too long (4005 bytes, at most 96)");
	long_text("tcp:", 4000, ":80", "host name too long (4000 bytes, at most 255)");
	long_text("vsock:", 4000, ":80", "invalid CID in 'vsock:aaa");
	long_text("vsock:1:", 4000, "", "invalid port in 'vsock:1:aaa");
	long_text("bogus:", 4000, "", "expected vsock:CID:PORT, vsock-seq:CID:PORT, hybrid:PATH:PORT, "
		  "hybrid-seq:PATH:PORT, unix:PATH, tcp:HOST:PORT or -");
	long_text("tcp:", 200, "", "expected tcp:HOST:PORT");
	/* Short text is shown whole. */
	{
		char msg[256];
		struct vsk_addr a;

		assert_int_equal(vsk_addr_parse("vsock:x:1", &a, msg, sizeof(msg)), -EINVAL);
		assert_non_null(strstr(msg, "'vsock:x:1'"));
	}
	/* Small buffers still end in a NUL. */
	{
		char msg[8];
		struct vsk_addr a;

		assert_int_equal(vsk_addr_parse("vsock:x:1", &a, msg, sizeof(msg)), -EINVAL);
		assert_int_equal(strlen(msg), sizeof(msg) - 1);
	}
}

/* Does this machine have an IPv6 loopback?  A bind to [::1]:0 says. */
static bool have_ipv6_loopback(void)
{
	struct sockaddr_in6 in6;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	in6.sin6_addr = in6addr_loopback;
	ok = bind(fd, (struct sockaddr *)&in6, sizeof(in6)) == 0;
	close(fd);
	return ok;
}

/* Connect a plain socket of FAMILY to LOOPBACK:PORT and see the listener
 * take it; false if this machine lacks that loopback. */
static bool reach(int lfd, int family, const char *loopback, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char peer[64];
	int fd, afd;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, loopback, &in->sin_addr), 1);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, loopback, &in6->sin6_addr), 1);
		len = sizeof(*in6);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		int e = errno;

		close(fd);
		if (family == AF_INET6 && (e == EADDRNOTAVAIL || e == ENETUNREACH || e == EAFNOSUPPORT))
			return false;
		fail_msg("connect %s port %u: %s", loopback, port, strerror(e));
	}
	/* A blocking accept would hang the test: the listener is non-blocking. */
	for (int i = 0; i < 200; i++) {
		afd = vsk_accept(lfd, peer, sizeof(peer), 0);
		if (afd != -EAGAIN)
			break;
		usleep(10000);
	}
	assert_true(afd >= 0);
	/* The peer reads as the family it came from ("127.0.0.1:N", not
	 * "[::ffff:127.0.0.1]:N"). */
	if (strncmp(peer, family == AF_INET ? "127.0.0.1:" : "[::1]:", family == AF_INET ? 10 : 6) != 0)
		fail_msg("peer from %s formatted as '%s'", loopback, peer);
	close(afd);
	close(fd);
	return true;
}

static void test_tcp_listen_dual_stack(void **state)
{
	struct vsk_opts o = VSK_OPTS_INIT;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct vsk_addr a;
	uint16_t port;
	int lfd;

	(void)state;
	parse_ok("tcp::0", &a);
	o.nonblock = true;
	lfd = vsk_listen(&a, &o);
	assert_true(lfd >= 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&ss, &len), 0);
	port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port);
	assert_true(port != 0);
	/* IPv4 always: the whole point of an empty host. */
	assert_true(reach(lfd, AF_INET, "127.0.0.1", port));
	if (have_ipv6_loopback()) {
		assert_int_equal(ss.ss_family, AF_INET6);
		assert_true(reach(lfd, AF_INET6, "::1", port));
	} else {
		print_message("note: no IPv6 loopback (::1) here, only 127.0.0.1 checked\n");
	}
	close(lfd);
	/* A named host stays that host: 127.0.0.1 is IPv4 only. */
	parse_ok("tcp:127.0.0.1:0", &a);
	lfd = vsk_listen(&a, &o);
	assert_true(lfd >= 0);
	len = sizeof(ss);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	close(lfd);
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
	assert_int_equal(rm_tree(dir), 0);
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
		cmocka_unit_test(test_long_messages),
		cmocka_unit_test(test_tcp_listen_dual_stack),
		cmocka_unit_test(test_listen_addr),
	};
	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
