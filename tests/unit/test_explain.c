/* explain: each errno the issue lists gets the kernel rule, from given facts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "explain.h"
#include "vsk.h"

/* A guest with CID 3 and no loopback, like this development machine. */
static struct vsk_transports guest(void)
{
	struct vsk_transports t;

	memset(&t, 0, sizeof(t));
	t.dev_vsock = t.af_vsock = t.g2h = true;
	t.local_cid = 3;
	t.bindable[0] = 3;
	t.bindable[1] = VSK_CID_ANY;
	t.nbindable = 2;
	return t;
}

static const char *say(int err, const char *op, const char *addr, const struct vsk_transports *t)
{
	static char buf[512];
	struct vsk_addr a;

	assert_int_equal(vsk_addr_parse(addr, &a, NULL, 0), 0);
	return explain_with(err, op, &a, t, buf, sizeof(buf));
}

static void expect(const char *msg, const char *needle)
{
	if (strstr(msg, needle) == NULL)
		fail_msg("expected '%s' in: %s", needle, msg);
}

static void test_addrnotavail(void **state)
{
	struct vsk_transports t = guest();
	const char *m = say(EADDRNOTAVAIL, "bind", "vsock:4:4050", &t);

	expect(m, "bind vsock:4:4050: CID 4 is not local (local CIDs: 3, any)");
	expect(m, "(EADDRNOTAVAIL)");
	/* CID 2 without a host transport: the fix is named. */
	m = say(EADDRNOTAVAIL, "bind", "vsock:2:4050", &t);
	expect(m, "modprobe vhost_vsock");
	expect(m, "guest's own CID is 3");
	/* CID 1 without loopback. */
	m = say(EADDRNOTAVAIL, "bind", "vsock:1:4050", &t);
	expect(m, "modprobe vsock_loopback");
	/* On a host the list shows 2. */
	t.h2g = true;
	t.bindable[0] = 2;
	m = say(EADDRNOTAVAIL, "bind", "vsock:7:1", &t);
	expect(m, "local CIDs: 2, any");
	expect(m, "the host may bind only 2 or any");
}

static void test_bind_rules(void **state)
{
	struct vsk_transports t = guest();
	const char *m;

	m = say(EACCES, "bind", "vsock:any:80", &t);
	expect(m, "port 80 is reserved");
	expect(m, "CAP_NET_BIND_SERVICE");
	m = say(EADDRINUSE, "bind", "vsock:1:6001", &t);
	expect(m, "port 6001 is already bound");
	expect(m, "CID any takes that port for every CID");
	m = say(EADDRINUSE, "bind", "vsock:any:6001", &t);
	expect(m, "(on some CID)");
}

static void test_connect_rules(void **state)
{
	struct vsk_transports t = guest();
	const char *m;

	m = say(ECONNRESET, "connect", "vsock:1:6999", &t);
	expect(m, "connect vsock:1:6999: nobody listens at CID 1 port 6999");
	expect(m, "(ECONNRESET)");
	m = say(ECONNREFUSED, "connect", "vsock:2:1", &t);
	expect(m, "nobody listens at CID 2 port 1");
	m = say(ETIMEDOUT, "connect", "vsock:5:1", &t);
	expect(m, "no answer from CID 5");
	m = say(ENODEV, "connect", "vsock:9:1", &t);
	expect(m, "no transport serves CID 9");
	expect(m, "vsk check");
	m = say(ENODEV, "connect", "vsock:1:1", &t);
	expect(m, "vsock_loopback");
	m = say(ESOCKTNOSUPPORT, "socket", "vsock-seq:2:1", &t);
	expect(m, "SOCK_SEQPACKET");
	t.dev_vsock = t.af_vsock = false;
	m = say(EAFNOSUPPORT, "socket", "vsock:2:1", &t);
	expect(m, "no AF_VSOCK");
	expect(m, "vsk check");
	m = say(ENODEV, "connect", "vsock:2:1", &t);
	expect(m, "no /dev/vsock");
}

static void test_paths_and_tcp(void **state)
{
	struct vsk_transports t = guest();
	const char *m;

	m = say(ENOENT, "connect", "unix:/tmp/nothing", &t);
	expect(m, "no socket at /tmp/nothing");
	m = say(ENOENT, "connect", "hybrid:/tmp/vm4.vsock:52", &t);
	expect(m, "vsk device");
	m = say(ECONNRESET, "handshake", "hybrid:/tmp/vm4.vsock:52", &t);
	expect(m, "nobody listens on guest port 52");
	m = say(EPROTO, "handshake", "hybrid:/tmp/vm4.vsock:52", &t);
	expect(m, "expected 'OK <port>'");
	m = say(ECONNREFUSED, "connect", "tcp:127.0.0.1:9", &t);
	expect(m, "nobody listens at 127.0.0.1 port 9");
	/* Timeouts: a listener that takes nothing, a handshake unanswered. */
	m = say(ETIMEDOUT, "connect", "tcp:127.0.0.1:9", &t);
	expect(m, "no answer from 127.0.0.1 port 9 within the connect timeout");
	expect(m, "listen queue is full");
	m = say(ETIMEDOUT, "connect", "unix:/tmp/busy", &t);
	expect(m, "/tmp/busy took no connection within the timeout");
	m = say(ETIMEDOUT, "handshake", "hybrid:/tmp/vm4.vsock:52", &t);
	expect(m, "no reply to 'CONNECT 52'");
	/* Unlisted errors fall back to strerror, still naming op and address. */
	m = say(EMFILE, "socket", "tcp:127.0.0.1:9", &t);
	expect(m, "socket tcp:127.0.0.1:9: Too many open files");
}

static void test_small_buffer(void **state)
{
	struct vsk_transports t = guest();
	struct vsk_addr a;
	char buf[16];

	assert_int_equal(vsk_addr_parse("vsock:4:4050", &a, NULL, 0), 0);
	explain_with(EADDRNOTAVAIL, "bind", &a, &t, buf, sizeof(buf));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	/* No address: still a sentence. */
	vsk_explain(EAFNOSUPPORT, "socket", NULL, buf, sizeof(buf));
	assert_true(strlen(buf) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addrnotavail),
		cmocka_unit_test(test_bind_rules),
		cmocka_unit_test(test_connect_rules),
		cmocka_unit_test(test_paths_and_tcp),
		cmocka_unit_test(test_small_buffer),
	};
	return cmocka_run_group_tests_name("explain", tests, NULL, NULL);
}
