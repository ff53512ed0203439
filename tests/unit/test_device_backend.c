/* device back ends and host listeners: the port map (unix:, tcp:,
 * hybrid: targets dialed without waiting, a target that is down, map-only),
 * host-initiated SEQPACKET at <uds>_seqpacket.  Fake guests
 * (helper_fakeguest.c) on the device's rings, Unix and loopback TCP
 * sockets on the host side; no AF_VSOCK (the vsock back end is tested in
 * the lab, tests/lab/cases.sh). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
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

#include "device/device.h"
#include "helper_devtest.h"
#include "helper_fakeguest.h"
#include "helper_vskbin.h"
#include "vsk.h"
#include "wire.h"
#include "helper_tmp.h"

#define GBUF 65536u

struct fx {
	char dir[64];
	struct dev *d;
	struct dev_vm *vm[2];
	struct fg g[2];
	int nvm;
	struct dt_log lg;
};

static void spin(struct fx *f)
{
	for (int i = 0; i < 8; i++)
		assert_int_equal(dev_run_once(f->d, 2), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vsk-devbe.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(dev_create(&f->d, dt_log, &f->lg), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	dev_destroy(f->d);
	for (int i = 0; i < f->nvm; i++)
		fg_free(&f->g[i]);
	if (rm_tree(f->dir) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

/* VM I with config C and a fake guest whose driver is not up yet. */
static void add_vm_down(struct fx *f, int i, struct dev_vm_cfg *c)
{
	char err[256];

	if (dev_add_vm(f->d, c, &f->vm[i], err, sizeof(err)) != 0)
		fail_msg("dev_add_vm: %s", err);
	assert_int_equal(fg_init(&f->g[i], 16u << 20), 0);
	f->nvm = i + 1;
}

/* Guest I's driver comes up: rings, rx buffers. */
static void guest_up(struct fx *f, int i)
{
	dev_vm_attach(f->vm[i], &f->g[i].q[0].q, &f->g[i].q[1].q, &f->g[i].q[2].q);
	fg_rx_give(&f->g[i], 64, 4096);
	dev_vm_kick(f->vm[i], 0);
	spin(f);
}

static void add_vm(struct fx *f, int i, struct dev_vm_cfg *c)
{
	add_vm_down(f, i, c);
	guest_up(f, i);
}

/* VM 4 with its Unix back end and the map entries of SPEC. */
static void vm4_map(struct fx *f, const char *spec, bool map_only)
{
	struct dev_vm_cfg c;
	char err[256], e[512], *save = NULL, buf[512];

	dt_vm_cfg(f->dir, &c, 4, "", 0);
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *p = strtok_r(buf, " ", &save); p != NULL; p = strtok_r(NULL, " ", &save))
		if (dev_cfg_set(&c, "map", p, e, sizeof(e)) != 0)
			fail_msg("map %s: %s", p, e);
	c.map_only = map_only;
	assert_int_equal(dev_cfg_check(&c, 1, err, sizeof(err)), 0);
	add_vm(f, 0, &c);
}

static void gsend(struct fx *f, int i, uint16_t type, uint32_t sport, uint64_t dcid, uint32_t dport, uint16_t op,
		  uint32_t flags, const void *p, size_t len)
{
	struct wire_virtio h;

	fg_hdr(&h, dev_vm_cid(f->vm[i]), sport, dcid, dport, type, op, (uint32_t)len, flags, GBUF, 0);
	fg_tx(&f->g[i], &h, p, len);
	dev_vm_kick(f->vm[i], 1);
	spin(f);
}

/* Spin until guest I has a packet (or ~1 s passed). */
static int take(struct fx *f, int i, struct wire_virtio *h, void *buf, size_t cap)
{
	uint32_t plen;

	for (int k = 0; k < 100; k++) {
		if (fg_rx_take(&f->g[i], h, buf, cap, &plen) == 1)
			return 1;
		spin(f);
	}
	return 0;
}

static void expect_op(struct fx *f, int i, uint16_t op, uint32_t sport, uint32_t dport)
{
	struct wire_virtio h;

	if (take(f, i, &h, NULL, 0) != 1)
		fail_msg("guest %d: no packet (want op %u); log: %s", i, op, f->lg.text);
	if (h.op != op)
		fail_msg("guest %d: op %u, want %u; log: %s", i, h.op, op, f->lg.text);
	assert_int_equal(h.src_port, sport);
	assert_int_equal(h.dst_port, dport);
}

/* Wait for FD to be readable (and so spin the device meanwhile). */
static int accept_spin(struct fx *f, int lfd)
{
	for (int k = 0; k < 200; k++) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		if (poll(&p, 1, 0) == 1)
			return accept(lfd, NULL, NULL);
		spin(f);
	}
	return -ETIMEDOUT;
}

static ssize_t read_spin(struct fx *f, int fd, void *buf, size_t len)
{
	for (int k = 0; k < 200; k++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 0) == 1)
			return read(fd, buf, len);
		spin(f);
	}
	return -ETIMEDOUT;
}

/* The device closed FD: EOF, or ECONNRESET when it left bytes unread. */
static bool closed_spin(struct fx *f, int fd)
{
	char b[64];
	ssize_t r = read_spin(f, fd, b, sizeof(b));

	return r == 0 || (r < 0 && errno == ECONNRESET);
}

static int unix_listen(const char *path, int type)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* A loopback TCP listener on a free port. */
static int tcp_listen(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static uint32_t sum(const uint8_t *p, size_t n)
{
	uint32_t a = 1, b = 0;

	for (size_t i = 0; i < n; i++) {
		a = (a + p[i]) % 65521;
		b = (b + a) % 65521;
	}
	return b << 16 | a;
}

/* Guest 0 port SPORT <-> host socket FD: N checksummed bytes each way. */
static void both_ways(struct fx *f, uint32_t sport, uint32_t dport, int fd, size_t n)
{
	static uint8_t out[16384], in[16384];
	struct wire_virtio h;
	size_t got = 0;

	assert_true(n <= sizeof(out));
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(i * 31 + sport);
	for (size_t off = 0; off < n; off += 4000)
		gsend(f, 0, WIRE_TYPE_STREAM, sport, VSK_CID_HOST, dport, WIRE_OP_RW, 0, out + off,
		      n - off < 4000 ? n - off : 4000);
	while (got < n) {
		ssize_t r = read_spin(f, fd, in + got, n - got);

		assert_true(r > 0);
		got += (size_t)r;
	}
	assert_int_equal(sum(in, n), sum(out, n));
	assert_int_equal(write(fd, out, n), (ssize_t)n);
	for (got = 0; got < n;) {
		uint8_t part[4096];

		assert_int_equal(take(f, 0, &h, part, sizeof(part)), 1);
		assert_int_equal(h.op, WIRE_OP_RW);
		memcpy(in + got, part, h.len);
		got += h.len;
	}
	assert_int_equal(sum(in, n), sum(out, n));
}

/* ------------------------------------------------------------ the map */

static void test_map_unix(void **state)
{
	struct fx *f = *state;
	char path[128], spec[160];
	int lfd, fd;

	snprintf(path, sizeof(path), "%s/target.sock", f->dir);
	snprintf(spec, sizeof(spec), "5000=unix:%s", path);
	vm4_map(f, spec, false);
	lfd = unix_listen(path, SOCK_STREAM);
	gsend(f, 0, WIRE_TYPE_STREAM, 1000, VSK_CID_HOST, 5000, WIRE_OP_REQUEST, 0, NULL, 0);
	fd = accept_spin(f, lfd);
	assert_true(fd >= 0);
	expect_op(f, 0, WIRE_OP_RESPONSE, 5000, 1000);
	both_ways(f, 1000, 5000, fd, 12000);
	close(fd);
	close(lfd);
}

static void test_map_tcp(void **state)
{
	struct fx *f = *state;
	char spec[64];
	uint16_t port;
	int lfd = tcp_listen(&port), fd;

	snprintf(spec, sizeof(spec), "80=tcp:127.0.0.1:%u", port);
	vm4_map(f, spec, true);
	gsend(f, 0, WIRE_TYPE_STREAM, 1001, VSK_CID_HOST, 80, WIRE_OP_REQUEST, 0, NULL, 0);
	fd = accept_spin(f, lfd);
	assert_true(fd >= 0);
	expect_op(f, 0, WIRE_OP_RESPONSE, 80, 1001);
	both_ways(f, 1001, 80, fd, 16000);
	/* Half-close from the guest reaches TCP as EOF. */
	gsend(f, 0, WIRE_TYPE_STREAM, 1001, VSK_CID_HOST, 80, WIRE_OP_SHUTDOWN, WIRE_SHUTDOWN_SEND, NULL, 0);
	{
		char b[8];

		assert_int_equal(read_spin(f, fd, b, sizeof(b)), 0);
	}
	close(fd);
	close(lfd);
}

/* A target that is down: RST to the guest, an explained log line, and
 * the device and the other connections carry on. */
static void test_map_target_down(void **state)
{
	struct fx *f = *state;
	char spec[256], path[128];
	uint16_t port;
	int lfd = tcp_listen(&port), dead, fd;

	close(lfd); /* now nobody listens on PORT */
	dead = port;
	lfd = tcp_listen(&port);
	snprintf(path, sizeof(path), "%s/none.sock", f->dir);
	snprintf(spec, sizeof(spec), "81=tcp:127.0.0.1:%u 82=unix:%s 83=tcp:127.0.0.1:%u", dead, path, port);
	vm4_map(f, spec, false);
	gsend(f, 0, WIRE_TYPE_STREAM, 1002, VSK_CID_HOST, 83, WIRE_OP_REQUEST, 0, NULL, 0);
	fd = accept_spin(f, lfd);
	expect_op(f, 0, WIRE_OP_RESPONSE, 83, 1002);
	gsend(f, 0, WIRE_TYPE_STREAM, 1003, VSK_CID_HOST, 81, WIRE_OP_REQUEST, 0, NULL, 0);
	expect_op(f, 0, WIRE_OP_RST, 81, 1003);
	if (strstr(f->lg.text, "nobody listens at 127.0.0.1") == NULL || strstr(f->lg.text, "ECONNREFUSED") == NULL)
		fail_msg("no explained line for the dead tcp target: %s", f->lg.text);
	gsend(f, 0, WIRE_TYPE_STREAM, 1004, VSK_CID_HOST, 82, WIRE_OP_REQUEST, 0, NULL, 0);
	expect_op(f, 0, WIRE_OP_RST, 82, 1004);
	if (strstr(f->lg.text, "no socket at") == NULL)
		fail_msg("no explained line for the missing unix target: %s", f->lg.text);
	/* The first connection still works. */
	both_ways(f, 1002, 83, fd, 3000);
	assert_int_equal(dev_vm_nconns(f->vm[0]), 1);
	close(fd);
	close(lfd);
}

/* map-only: unmapped ports are refused; a SEQPACKET connection to a
 * tcp: target too (TCP keeps no message boundaries). */
static void test_map_only(void **state)
{
	struct fx *f = *state;
	char spec[64], path[128];
	uint16_t port;
	int lfd = tcp_listen(&port), ufd;

	snprintf(spec, sizeof(spec), "80=tcp:127.0.0.1:%u", port);
	vm4_map(f, spec, true);
	/* <uds>_4050 exists, but the VM is map-only. */
	snprintf(path, sizeof(path), "%s/u4_4050", f->dir);
	ufd = unix_listen(path, SOCK_STREAM);
	f->lg.len = 0;
	gsend(f, 0, WIRE_TYPE_STREAM, 1005, VSK_CID_HOST, 4050, WIRE_OP_REQUEST, 0, NULL, 0);
	expect_op(f, 0, WIRE_OP_RST, 4050, 1005);
	{
		struct pollfd p = { .fd = ufd, .events = POLLIN };

		assert_int_equal(poll(&p, 1, 0), 0);
	}
	gsend(f, 0, WIRE_TYPE_SEQPACKET, 1006, VSK_CID_HOST, 80, WIRE_OP_REQUEST, 0, NULL, 0);
	expect_op(f, 0, WIRE_OP_RST, 80, 1006);
	if (strstr(f->lg.text, "SEQPACKET connection cannot go to tcp:") == NULL)
		fail_msg("no line for seqpacket to tcp: %s", f->lg.text);
	close(ufd);
	close(lfd);
}

/* A hybrid: target is another vsk device's Unix side: here VM 5 of the
 * same device, so the handshake toward it must not wait (VM 5's guest
 * answers in later rounds of the same loop). */
static void test_map_hybrid(void **state)
{
	struct fx *f = *state;
	char spec[300];
	struct dev_vm_cfg c5;
	struct wire_virtio h;
	uint32_t hport;
	uint8_t buf[64];

	snprintf(spec, sizeof(spec), "6000=hybrid:%s/u5:7000 6001=hybrid:%s/u5:7001", f->dir, f->dir);
	vm4_map(f, spec, false);
	dt_vm_cfg(f->dir, &c5, 5, "", 0);
	add_vm(f, 1, &c5);
	gsend(f, 0, WIRE_TYPE_STREAM, 1007, VSK_CID_HOST, 6000, WIRE_OP_REQUEST, 0, NULL, 0);
	/* VM 5's guest sees the host's REQUEST for its port 7000. */
	assert_int_equal(take(f, 1, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
	assert_int_equal(h.dst_port, 7000);
	hport = h.src_port;
	/* VM 4's guest has no answer yet: the dial waits in the loop. */
	assert_int_equal(fg_rx_take(&f->g[0], &h, NULL, 0, NULL), 0);
	gsend(f, 1, WIRE_TYPE_STREAM, 7000, VSK_CID_HOST, hport, WIRE_OP_RESPONSE, 0, NULL, 0);
	expect_op(f, 0, WIRE_OP_RESPONSE, 6000, 1007);
	gsend(f, 0, WIRE_TYPE_STREAM, 1007, VSK_CID_HOST, 6000, WIRE_OP_RW, 0, "over two devices", 16);
	assert_int_equal(take(f, 1, &h, buf, sizeof(buf)), 1);
	assert_int_equal(h.op, WIRE_OP_RW);
	assert_int_equal(h.len, 16);
	assert_memory_equal(buf, "over two devices", 16);
	gsend(f, 1, WIRE_TYPE_STREAM, 7000, VSK_CID_HOST, hport, WIRE_OP_RW, 0, "back", 4);
	assert_int_equal(take(f, 0, &h, buf, sizeof(buf)), 1);
	assert_int_equal(h.len, 4);
	assert_memory_equal(buf, "back", 4);
	/* Port 7001: VM 5's guest refuses, VM 4's guest gets RST with the
	 * explained reason. */
	gsend(f, 0, WIRE_TYPE_STREAM, 1008, VSK_CID_HOST, 6001, WIRE_OP_REQUEST, 0, NULL, 0);
	assert_int_equal(take(f, 1, &h, NULL, 0), 1);
	assert_int_equal(h.dst_port, 7001);
	gsend(f, 1, WIRE_TYPE_STREAM, 7001, VSK_CID_HOST, h.src_port, WIRE_OP_RST, 0, NULL, 0);
	expect_op(f, 0, WIRE_OP_RST, 6001, 1008);
	if (strstr(f->lg.text, "nobody listens on guest port 7001") == NULL)
		fail_msg("no explained line for the refused hybrid target: %s", f->lg.text);
}

/* ---------------------------------------------- host-initiated seqpacket */

static int seq_client(struct fx *f)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/u4_seqpacket", f->dir);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static void test_h2g_seqpacket(void **state)
{
	struct fx *f = *state;
	struct dev_vm_cfg c;
	struct wire_virtio h;
	static uint8_t big[100000], msg[9000], got[9000];
	char buf[64], want[32];
	uint32_t hport, total = 0, eoms = 0;
	int fd;

	dt_vm_cfg(f->dir, &c, 4, "", 0);
	add_vm(f, 0, &c);
	fd = seq_client(f);
	assert_int_equal(send(fd, "CONNECT 5000\n", 13, 0), 13);
	assert_int_equal(take(f, 0, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
	assert_int_equal(h.type, WIRE_TYPE_SEQPACKET);
	assert_int_equal(h.dst_port, 5000);
	hport = h.src_port;
	gsend(f, 0, WIRE_TYPE_SEQPACKET, 5000, VSK_CID_HOST, hport, WIRE_OP_RESPONSE, 0, NULL, 0);
	/* "OK <n>\n" as one message. */
	snprintf(want, sizeof(want), "OK %u\n", hport);
	assert_int_equal(read_spin(f, fd, buf, sizeof(buf)), (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
	/* Guest -> host: two RW packets, EOM on the second: one message. */
	gsend(f, 0, WIRE_TYPE_SEQPACKET, 5000, VSK_CID_HOST, hport, WIRE_OP_RW, 0, "first-", 6);
	gsend(f, 0, WIRE_TYPE_SEQPACKET, 5000, VSK_CID_HOST, hport, WIRE_OP_RW, WIRE_SEQ_EOM, "half", 4);
	gsend(f, 0, WIRE_TYPE_SEQPACKET, 5000, VSK_CID_HOST, hport, WIRE_OP_RW, WIRE_SEQ_EOM, "second", 6);
	assert_int_equal(read_spin(f, fd, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "first-half", 10);
	assert_int_equal(read_spin(f, fd, buf, sizeof(buf)), 6);
	/* Host -> guest: one Unix message = one guest message (EOM once). */
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 13);
	assert_int_equal(send(fd, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
	while (eoms == 0) {
		uint8_t part[4096];

		assert_int_equal(take(f, 0, &h, part, sizeof(part)), 1);
		assert_int_equal(h.op, WIRE_OP_RW);
		assert_true(total + h.len <= sizeof(got));
		memcpy(got + total, part, h.len);
		total += h.len;
		eoms += (h.flags & WIRE_SEQ_EOM) != 0;
	}
	assert_int_equal(total, sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));
	/* A message bigger than the guest can take: refused, never cut. */
	assert_int_equal(send(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	expect_op(f, 0, WIRE_OP_RST, hport, 5000);
	if (strstr(f->lg.text, "exceeds the guest's buffer") == NULL)
		fail_msg("no line for the oversized message: %s", f->lg.text);
	assert_true(closed_spin(f, fd));
	close(fd);
}

/* The CLI end to end: vsk send hybrid-seq:<uds>:PORT is one guest
 * message, EOM and all. */
static void test_h2g_seqpacket_cli(void **state)
{
	struct fx *f = *state;
	struct dev_vm_cfg c;
	struct wire_virtio h;
	char vsk[512], addr[160], buf[64];
	int st = 0;
	pid_t pid;

	if (!hv_find_vsk(vsk, sizeof(vsk)))
		fail_msg("no vsk binary");
	dt_vm_cfg(f->dir, &c, 4, "", 0);
	add_vm(f, 0, &c);
	snprintf(addr, sizeof(addr), "hybrid-seq:%s/u4:5000", f->dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execl(vsk, vsk, "send", addr, "one whole message", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(take(f, 0, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
	assert_int_equal(h.type, WIRE_TYPE_SEQPACKET);
	assert_int_equal(h.dst_port, 5000);
	gsend(f, 0, WIRE_TYPE_SEQPACKET, 5000, VSK_CID_HOST, h.src_port, WIRE_OP_RESPONSE, 0, NULL, 0);
	assert_int_equal(take(f, 0, &h, buf, sizeof(buf)), 1);
	assert_int_equal(h.op, WIRE_OP_RW);
	assert_int_equal(h.len, 17);
	assert_true(h.flags & WIRE_SEQ_EOM);
	assert_memory_equal(buf, "one whole message", 17);
	for (int i = 0; i < 200 && waitpid(pid, &st, WNOHANG) == 0; i++)
		spin(f);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_h2g_seqpacket_bad(void **state)
{
	struct fx *f = *state;
	struct dev_vm_cfg c;
	char buf[64];
	int fd;

	dt_vm_cfg(f->dir, &c, 4, "", 0);
	add_vm(f, 0, &c);
	/* The CONNECT line cut in two messages is not a CONNECT line. */
	fd = seq_client(f);
	assert_int_equal(send(fd, "CONNECT ", 8, 0), 8);
	assert_int_equal(send(fd, "5000\n", 5, 0), 5);
	assert_true(closed_spin(f, fd));
	close(fd);
	if (strstr(f->lg.text, "u4_seqpacket: not a CONNECT line") == NULL)
		fail_msg("%s", f->lg.text);
	/* Too long for a CONNECT line. */
	fd = seq_client(f);
	memset(buf, 'A', sizeof(buf));
	assert_int_equal(send(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_true(closed_spin(f, fd));
	close(fd);
	if (strstr(f->lg.text, "u4_seqpacket: CONNECT line too long") == NULL)
		fail_msg("%s", f->lg.text);
}

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A host message bigger than the credit the guest has left: the device
 * asks for credit once and waits without spinning on the readable
 * socket; the guest's update lets it go, whole. */
static void test_seq_stall_asks_credit(void **state)
{
	struct fx *f = *state;
	static uint8_t msg[40000];
	struct dev_vm_cfg c;
	struct wire_virtio h;
	char path[128];
	uint32_t total = 0;
	int lfd, fd;
	double t0;

	dt_vm_cfg(f->dir, &c, 4, "", 0);
	add_vm(f, 0, &c);
	snprintf(path, sizeof(path), "%s/u4_7000", f->dir);
	lfd = unix_listen(path, SOCK_SEQPACKET);
	gsend(f, 0, WIRE_TYPE_SEQPACKET, 1010, VSK_CID_HOST, 7000, WIRE_OP_REQUEST, 0, NULL, 0);
	fd = accept_spin(f, lfd);
	assert_true(fd >= 0);
	expect_op(f, 0, WIRE_OP_RESPONSE, 7000, 1010);
	memset(msg, 0x3c, sizeof(msg));
	assert_int_equal(send(fd, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
	assert_int_equal(send(fd, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
	/* The first message (40000 of the guest's 65536). */
	while (total < sizeof(msg)) {
		uint8_t part[4096];

		assert_int_equal(take(f, 0, &h, part, sizeof(part)), 1);
		assert_int_equal(h.op, WIRE_OP_RW);
		total += h.len;
	}
	/* The second does not fit the 25536 left: one CREDIT_REQUEST. */
	expect_op(f, 0, WIRE_OP_CREDIT_REQUEST, 7000, 1010);
	/* Nothing to do until the guest speaks: each round waits its 10 ms
	 * (a readable socket in the poll set would end each at once). */
	t0 = wall();
	for (int i = 0; i < 10; i++)
		assert_int_equal(dev_run_once(f->d, 10), 0);
	if (wall() - t0 < 0.08)
		fail_msg("the device spins while a message waits for credit (10 rounds in %.3f s)", wall() - t0);
	assert_int_equal(fg_rx_take(&f->g[0], &h, NULL, 0, NULL), 0);
	/* The guest says it read the first one. */
	fg_hdr(&h, 4, 1010, VSK_CID_HOST, 7000, WIRE_TYPE_SEQPACKET, WIRE_OP_CREDIT_UPDATE, 0, 0, GBUF, 40000);
	fg_tx(&f->g[0], &h, NULL, 0);
	dev_vm_kick(f->vm[0], 1);
	for (total = 0; total < sizeof(msg);) {
		uint8_t part[4096];

		assert_int_equal(take(f, 0, &h, part, sizeof(part)), 1);
		assert_int_equal(h.op, WIRE_OP_RW);
		total += h.len;
		if (total == sizeof(msg))
			assert_true(h.flags & WIRE_SEQ_EOM);
	}
	close(fd);
	close(lfd);
}

/* ------------------------------------------------- connect-timeout */

static int stream_client(struct fx *f, const char *line)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/u4", f->dir);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	return fd;
}

static void vm4_timeout(struct fx *f, uint32_t ms, bool up)
{
	struct dev_vm_cfg c;

	dt_vm_cfg(f->dir, &c, 4, "", 0);
	c.connect_timeout_ms = ms;
	if (up)
		add_vm(f, 0, &c);
	else
		add_vm_down(f, 0, &c);
}

static void expect_ok(struct fx *f, int fd, uint32_t hport)
{
	char buf[32], want[32];

	snprintf(want, sizeof(want), "OK %u\n", hport);
	assert_int_equal(read_spin(f, fd, buf, sizeof(buf)), (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
}

/* A CONNECT before the guest's driver is up is held, then served. */
static void test_hold_driver(void **state)
{
	struct fx *f = *state;
	struct wire_virtio h;
	int fd;

	vm4_timeout(f, 5000, false);
	fd = stream_client(f, "CONNECT 5000\n");
	for (int i = 0; i < 10; i++)
		spin(f);
	assert_int_equal(dev_vm_nconns(f->vm[0]), 1); /* held, not closed */
	guest_up(f, 0);
	assert_int_equal(take(f, 0, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
	assert_int_equal(h.dst_port, 5000);
	gsend(f, 0, WIRE_TYPE_STREAM, 5000, VSK_CID_HOST, h.src_port, WIRE_OP_RESPONSE, 0, NULL, 0);
	expect_ok(f, fd, h.src_port);
	gsend(f, 0, WIRE_TYPE_STREAM, 5000, VSK_CID_HOST, h.src_port, WIRE_OP_RW, 0, "late", 4);
	{
		char b[8];

		assert_int_equal(read_spin(f, fd, b, sizeof(b)), 4);
		assert_memory_equal(b, "late", 4);
	}
	close(fd);
}

/* Nothing listens yet: the guest's RSTs are retried until it accepts. */
static void test_hold_refused_then_accepted(void **state)
{
	struct fx *f = *state;
	struct wire_virtio h;
	int fd;

	vm4_timeout(f, 5000, true);
	fd = stream_client(f, "CONNECT 5001\n");
	for (int round = 0; round < 3; round++) {
		assert_int_equal(take(f, 0, &h, NULL, 0), 1);
		assert_int_equal(h.op, WIRE_OP_REQUEST);
		gsend(f, 0, WIRE_TYPE_STREAM, 5001, VSK_CID_HOST, h.src_port, WIRE_OP_RST, 0, NULL, 0);
	}
	/* The client still waits. */
	{
		struct pollfd p = { .fd = fd, .events = POLLIN };

		assert_int_equal(poll(&p, 1, 0), 0);
	}
	assert_int_equal(take(f, 0, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
	gsend(f, 0, WIRE_TYPE_STREAM, 5001, VSK_CID_HOST, h.src_port, WIRE_OP_RESPONSE, 0, NULL, 0);
	expect_ok(f, fd, h.src_port);
	close(fd);
}

/* The time runs out: closed as without it, the reason logged. */
static void test_hold_times_out(void **state)
{
	struct fx *f = *state;
	struct wire_virtio h;
	int fd, refused = 0;

	vm4_timeout(f, 300, true);
	fd = stream_client(f, "CONNECT 5002\n");
	for (int k = 0; k < 200; k++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 0) == 1)
			break; /* closed */
		if (fg_rx_take(&f->g[0], &h, NULL, 0, NULL) == 1) {
			assert_int_equal(h.op, WIRE_OP_REQUEST);
			gsend(f, 0, WIRE_TYPE_STREAM, 5002, VSK_CID_HOST, h.src_port, WIRE_OP_RST, 0, NULL, 0);
			refused++;
		}
		spin(f);
	}
	assert_true(closed_spin(f, fd));
	assert_true(refused >= 2);
	if (strstr(f->lg.text, "closed after 300 ms (connect-timeout): nothing listened on guest port 5002") == NULL)
		fail_msg("%s", f->lg.text);
	assert_int_equal(dev_vm_nconns(f->vm[0]), 0);
	close(fd);
	/* The driver never comes up. */
	teardown(state);
	setup(state);
	f = *state;
	vm4_timeout(f, 200, false);
	fd = stream_client(f, "CONNECT 5003\n");
	assert_true(closed_spin(f, fd));
	if (strstr(f->lg.text, "closed after 200 ms (connect-timeout): the guest's vsock driver never came up") == NULL)
		fail_msg("%s", f->lg.text);
	close(fd);
}

/* A held client that leaves is let go at once. */
static void test_hold_client_leaves(void **state)
{
	struct fx *f = *state;
	int fd;

	vm4_timeout(f, 60000, false);
	fd = stream_client(f, "CONNECT 5004\n");
	for (int i = 0; i < 5; i++)
		spin(f);
	assert_int_equal(dev_vm_nconns(f->vm[0]), 1);
	close(fd);
	for (int i = 0; i < 5; i++)
		spin(f);
	assert_int_equal(dev_vm_nconns(f->vm[0]), 0);
}

/* The guest's driver goes away (reset, reboot): its connections go, but
 * host clients it never saw, one held by connect-timeout and one still
 * sending its CONNECT line, wait for the driver and are served after. */
static void test_hold_across_reset(void **state)
{
	struct fx *f = *state;
	struct wire_virtio h;
	int held, slow, open;

	vm4_timeout(f, 10000, true);
	open = stream_client(f, "CONNECT 5006\n"); /* a connection the guest has */
	assert_int_equal(take(f, 0, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
	gsend(f, 0, WIRE_TYPE_STREAM, 5006, VSK_CID_HOST, h.src_port, WIRE_OP_RESPONSE, 0, NULL, 0);
	expect_ok(f, open, h.src_port);
	held = stream_client(f, "CONNECT 5005\n");
	assert_int_equal(take(f, 0, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
	gsend(f, 0, WIRE_TYPE_STREAM, 5005, VSK_CID_HOST, h.src_port, WIRE_OP_RST, 0, NULL, 0);
	slow = stream_client(f, "CONN");
	for (int i = 0; i < 5; i++)
		spin(f);
	assert_int_equal(dev_vm_nconns(f->vm[0]), 3);
	dev_vm_detach(f->vm[0]); /* the guest reboots */
	assert_true(closed_spin(f, open));
	assert_int_equal(dev_vm_nconns(f->vm[0]), 2);
	{
		struct pollfd p[2] = { { .fd = held, .events = POLLIN }, { .fd = slow, .events = POLLIN } };

		assert_int_equal(poll(p, 2, 0), 0); /* both still wait */
	}
	/* The new driver starts afresh: what the old one did not read is gone. */
	while (fg_rx_take(&f->g[0], &h, NULL, 0, NULL) == 1)
		;
	guest_up(f, 0);
	assert_int_equal(write(slow, "ECT 5005\n", 9), 9);
	for (int n = 0; n < 2; n++) {
		int k;

		for (k = 0; k < 500 && fg_rx_take(&f->g[0], &h, NULL, 0, NULL) != 1; k++)
			spin(f);
		assert_true(k < 500);
		if (h.op != WIRE_OP_REQUEST) { /* the guest first learns of the reset */
			n--;
			continue;
		}
		assert_int_equal(h.dst_port, 5005);
		gsend(f, 0, WIRE_TYPE_STREAM, 5005, VSK_CID_HOST, h.src_port, WIRE_OP_RESPONSE, 0, NULL, 0);
	}
	{
		char b1[32], b2[32];

		assert_true(read_spin(f, held, b1, sizeof(b1)) > 3);
		assert_true(read_spin(f, slow, b2, sizeof(b2)) > 3);
		assert_memory_equal(b1, "OK ", 3);
		assert_memory_equal(b2, "OK ", 3);
	}
	close(open);
	close(held);
	close(slow);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_map_unix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_target_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_hybrid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2g_seqpacket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2g_seqpacket_cli, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2g_seqpacket_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_stall_asks_credit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_refused_then_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_client_leaves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_across_reset, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
