/* device: the virtio-vsock transport driven by a fake guest
 * (helper_fakeguest.c: split rings in ordinary memory) and, on the host
 * side, Unix sockets in a temporary directory.  No AF_VSOCK at all. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "helper_devtest.h"
#include "device/device.h"
#include "helper_fakeguest.h"
#include "vsk.h"
#include "wire.h"
#include "helper_tmp.h"

#define CID   4
#define GBUF  65536u   /* the fake guest's buf_alloc */

struct fx {
	char dir[64];
	struct dev *d;
	struct dev_vm *vm;
	struct fg g;
	struct dt_log lg;
};

static void spin(struct fx *f)
{
	for (int i = 0; i < 8; i++)
		assert_int_equal(dev_run_once(f->d, 2), 0);
}

static int setup_txbuf(void **state, uint32_t txbuf)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct dev_vm_cfg c;
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vsk-devtest.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(dev_create(&f->d, dt_log, &f->lg), 0);
	dt_vm_cfg(f->dir, &c, CID, "", txbuf);
	assert_int_equal(dev_add_vm(f->d, &c, &f->vm, err, sizeof(err)), 0);
	assert_int_equal(fg_init(&f->g, 16u << 20), 0);
	dev_vm_attach(f->vm, &f->g.q[0].q, &f->g.q[1].q, &f->g.q[2].q);
	fg_rx_give(&f->g, 64, 4096);
	dev_vm_kick(f->vm, 0);
	spin(f);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_txbuf(state, 0);
}

static int setup_small(void **state)
{
	return setup_txbuf(state, 4096);
}

static int setup_big(void **state)
{
	return setup_txbuf(state, 4u << 20);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	dev_destroy(f->d);
	fg_free(&f->g);
	if (rm_tree(f->dir) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

static void gsend(struct fx *f, struct fg *g, struct dev_vm *vm, uint16_t type, uint32_t sport, uint64_t dcid,
		  uint32_t dport, uint16_t op, uint32_t flags, const void *p, size_t len, uint32_t fwd)
{
	struct wire_virtio h;

	fg_hdr(&h, dev_vm_cid(vm), sport, dcid, dport, type, op, (uint32_t)len, flags, GBUF, fwd);
	fg_tx(g, &h, p, len);
	dev_vm_kick(vm, 1);
	spin(f);
}

static void send_op(struct fx *f, uint32_t sport, uint32_t dport, uint16_t op, uint32_t flags, const void *p,
		    size_t len)
{
	gsend(f, &f->g, f->vm, WIRE_TYPE_STREAM, sport, VSK_CID_HOST, dport, op, flags, p, len, 0);
}

static int take(struct fx *f, struct wire_virtio *h, void *buf, size_t cap)
{
	uint32_t plen;

	spin(f);
	return fg_rx_take(&f->g, h, buf, cap, &plen);
}

static void expect_op(struct fx *f, uint16_t op, uint32_t sport, uint32_t dport)
{
	struct wire_virtio h;

	assert_int_equal(take(f, &h, NULL, 0), 1);
	assert_int_equal(h.op, op);
	assert_int_equal(h.src_cid, VSK_CID_HOST);
	assert_int_equal(h.dst_cid, CID);
	assert_int_equal(h.src_port, sport);
	assert_int_equal(h.dst_port, dport);
}

static int host_listen_type(struct fx *f, uint32_t cid, uint32_t port, int type)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/u%u_%u", f->dir, cid, port);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static int host_listen(struct fx *f, uint32_t port)
{
	return host_listen_type(f, CID, port, SOCK_STREAM);
}

/* The device closed the client: EOF, or ECONNRESET when it left bytes
 * unread. */
static bool closed_by_device(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b[16];
	ssize_t r;

	if (poll(&p, 1, 1000) <= 0)
		return false;
	r = read(fd, b, sizeof(b));
	return r == 0 || (r < 0 && errno == ECONNRESET);
}

static ssize_t read_to(int fd, void *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, ms) <= 0)
		return -ETIMEDOUT;
	return read(fd, buf, len);
}

/* Guest port SPORT connects to host PORT (listening on LFD): RESPONSE, and
 * the accepted host socket. */
static int guest_connect(struct fx *f, uint32_t sport, uint32_t port, int lfd)
{
	struct sockaddr_un peer;
	socklen_t plen = sizeof(peer);
	uint32_t cid, gport;
	int fd;

	send_op(f, sport, port, WIRE_OP_REQUEST, 0, NULL, 0);
	fd = accept(lfd, (struct sockaddr *)&peer, &plen);
	assert_true(fd >= 0);
	/* The abstract name tells the host listener which guest port called. */
	assert_int_equal(vsk_hybrid_peer_parse((struct sockaddr *)&peer, plen, &cid, &gport), 0);
	assert_int_equal(cid, CID);
	assert_int_equal(gport, sport);
	expect_op(f, WIRE_OP_RESPONSE, port, sport);
	return fd;
}

/* ------------------------------------------------------------- tests */

static void test_request_response(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4050), fd;
	struct dev_stats s;

	fd = guest_connect(f, 1000, 4050, lfd);
	assert_int_equal(dev_vm_nconns(f->vm), 1);
	dev_get_stats(f->d, NULL, &s);
	assert_int_equal(s.conns, 1);
	close(fd);
	close(lfd);
}

static void test_request_no_listener_rst(void **state)
{
	struct fx *f = *state;

	send_op(f, 1001, 4051, WIRE_OP_REQUEST, 0, NULL, 0);
	expect_op(f, WIRE_OP_RST, 4051, 1001);
	assert_int_equal(dev_vm_nconns(f->vm), 0);
	assert_non_null(strstr(f->lg.text, "u4_4051"));
}

static void test_rw_both_ways(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4050), fd = guest_connect(f, 1002, 4050, lfd);
	struct wire_virtio h;
	char buf[64];

	send_op(f, 1002, 4050, WIRE_OP_RW, 0, "hello host", 10);
	assert_int_equal(read_to(fd, buf, sizeof(buf), 1000), 10);
	assert_memory_equal(buf, "hello host", 10);
	assert_int_equal(write(fd, "hi guest", 8), 8);
	assert_int_equal(take(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(h.op, WIRE_OP_RW);
	assert_int_equal(h.len, 8);
	assert_memory_equal(buf, "hi guest", 8);
	/* Every header advertises our credit: 10 bytes forwarded. */
	assert_int_equal(h.fwd_cnt, 10);
	assert_int_equal(h.buf_alloc, DEV_TX_BUF_DEFAULT);
	close(fd);
	close(lfd);
}

/* Never more in flight than the guest's buf_alloc allows. */
static void test_credit_to_guest(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4050), fd;
	struct wire_virtio h, req;
	static char big[6000];
	uint32_t got = 0;
	struct dev_stats s;
	int r;

	memset(big, 'x', sizeof(big));
	fg_hdr(&req, CID, 1003, VSK_CID_HOST, 4050, WIRE_TYPE_STREAM, WIRE_OP_REQUEST, 0, 0, 1000, 0);
	fg_tx(&f->g, &req, NULL, 0);
	dev_vm_kick(f->vm, 1);
	spin(f);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	expect_op(f, WIRE_OP_RESPONSE, 4050, 1003);
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	spin(f);
	while ((r = fg_rx_take(&f->g, &h, NULL, 0, NULL)) == 1)
		if (h.op == WIRE_OP_RW)
			got += h.len;
	assert_int_equal(got, 1000);
	assert_int_equal(h.op, WIRE_OP_CREDIT_REQUEST); /* asked once stalled */
	dev_get_stats(f->d, NULL, &s);
	assert_true(s.stalls >= 1);
	/* The guest read 600 bytes: 600 more may come, no more. */
	fg_hdr(&req, CID, 1003, VSK_CID_HOST, 4050, WIRE_TYPE_STREAM, WIRE_OP_CREDIT_UPDATE, 0, 0, 1000, 600);
	fg_tx(&f->g, &req, NULL, 0);
	dev_vm_kick(f->vm, 1);
	spin(f);
	got = 0;
	while (fg_rx_take(&f->g, &h, NULL, 0, NULL) == 1)
		if (h.op == WIRE_OP_RW)
			got += h.len;
	assert_int_equal(got, 600);
	close(fd);
	close(lfd);
}

static void test_credit_request_update(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4050), fd = guest_connect(f, 1004, 4050, lfd);
	struct wire_virtio h;

	send_op(f, 1004, 4050, WIRE_OP_RW, 0, "abc", 3);
	send_op(f, 1004, 4050, WIRE_OP_CREDIT_REQUEST, 0, NULL, 0);
	assert_int_equal(take(f, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_CREDIT_UPDATE);
	assert_int_equal(h.fwd_cnt, 3);
	assert_int_equal(h.buf_alloc, DEV_TX_BUF_DEFAULT);
	close(fd);
	close(lfd);
}

/* With a 4 KiB buffer, forwarding 3000 bytes leaves the guest little
 * credit: the device says how much it freed. */
static void test_credit_update_sent(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4050), fd = guest_connect(f, 1005, 4050, lfd);
	static char data[3000];
	struct wire_virtio h;

	memset(data, 'd', sizeof(data));
	send_op(f, 1005, 4050, WIRE_OP_RW, 0, data, sizeof(data));
	assert_int_equal(take(f, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_CREDIT_UPDATE);
	assert_int_equal(h.fwd_cnt, 3000);
	assert_int_equal(h.buf_alloc, 4096);
	close(fd);
	close(lfd);
}

/* A guest ignoring our credit while the host does not read is reset. */
static void test_credit_violation_rst(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4050), fd = guest_connect(f, 1006, 4050, lfd);
	static char data[4096];
	struct wire_virtio h;
	bool rst = false;

	memset(data, 'v', sizeof(data));
	for (int i = 0; i < 400 && !rst; i++) {
		send_op(f, 1006, 4050, WIRE_OP_RW, 0, data, sizeof(data));
		while (fg_rx_take(&f->g, &h, NULL, 0, NULL) == 1)
			rst |= h.op == WIRE_OP_RST;
		fg_rx_give(&f->g, 2, 4096);
		dev_vm_kick(f->vm, 0);
	}
	assert_true(rst);
	assert_int_equal(dev_vm_nconns(f->vm), 0);
	assert_non_null(strstr(f->lg.text, "beyond its credit"));
	close(fd);
	close(lfd);
}

static void test_shutdown_from_guest(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4050), fd = guest_connect(f, 1007, 4050, lfd);
	struct wire_virtio h;
	char buf[16];

	send_op(f, 1007, 4050, WIRE_OP_SHUTDOWN, WIRE_SHUTDOWN_SEND, NULL, 0);
	assert_int_equal(read_to(fd, buf, sizeof(buf), 1000), 0); /* EOF, half-close */
	assert_int_equal(write(fd, "reply", 5), 5);                /* other way still open */
	assert_int_equal(take(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(h.op, WIRE_OP_RW);
	assert_memory_equal(buf, "reply", 5);
	send_op(f, 1007, 4050, WIRE_OP_SHUTDOWN, WIRE_SHUTDOWN_SEND | WIRE_SHUTDOWN_RCV, NULL, 0);
	expect_op(f, WIRE_OP_RST, 4050, 1007); /* completes the guest's close */
	assert_int_equal(dev_vm_nconns(f->vm), 0);
	close(fd);
	close(lfd);
}

/* A packet on the tx ring without a kick: several make one tx batch. */
static void gqueue(struct fx *f, uint32_t sport, uint32_t dport, uint16_t op, uint32_t flags, const void *p,
		   size_t len)
{
	struct wire_virtio h;

	fg_hdr(&h, CID, sport, VSK_CID_HOST, dport, WIRE_TYPE_STREAM, op, (uint32_t)len, flags, GBUF, 0);
	fg_tx(&f->g, &h, p, len);
}

/* LEN bytes from FD within about MS ms each read: the count read. */
static size_t read_all(int fd, uint8_t *buf, size_t len, int ms)
{
	size_t got = 0;

	for (int i = 0; i < 1000 && got < len; i++) {
		ssize_t r = read_to(fd, buf + got, len - got, ms);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static uint8_t pat(size_t i)
{
	return (uint8_t)(i * 7 + i / 251);
}

/* 40 small RW packets in one batch (4 KiB buffer): the host gets every
 * byte in order, and the guest one CREDIT_UPDATE for all 4000 bytes (sent
 * one by one, it would get one at 2100, past half the buffer). */
static void test_small_rw_gathered(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4060), fd = guest_connect(f, 1020, 4060, lfd);
	static uint8_t data[4000], got[4000];
	struct wire_virtio h;
	unsigned updates = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = pat(i);
	(void)fg_tx_done(&f->g);
	for (unsigned k = 0; k < 40; k++)
		gqueue(f, 1020, 4060, WIRE_OP_RW, 0, data + k * 100, 100);
	dev_vm_kick(f->vm, 1);
	spin(f);
	assert_int_equal(fg_tx_done(&f->g), 40);
	assert_int_equal(read_all(fd, got, sizeof(got), 1000), sizeof(got));
	assert_memory_equal(got, data, sizeof(data));
	while (fg_rx_take(&f->g, &h, NULL, 0, NULL) == 1) {
		assert_int_equal(h.op, WIRE_OP_CREDIT_UPDATE);
		assert_int_equal(h.fwd_cnt, 4000);
		assert_int_equal(h.buf_alloc, 4096);
		updates++;
	}
	assert_int_equal(updates, 1);
	close(fd);
	close(lfd);
}

/* Small and large packets mixed in one batch keep their order; fwd_cnt
 * counts exactly the bytes the host socket took. */
static void test_small_large_order(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4061), fd = guest_connect(f, 1021, 4061, lfd);
	static const uint32_t sz[] = { 10, 2048, 3000, 1, 2049, 500, 65536, 7, 2048, 64 };
	static uint8_t data[80000], got[80000];
	struct wire_virtio h;
	size_t total = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = pat(i);
	for (size_t k = 0; k < sizeof(sz) / sizeof(sz[0]); k++) {
		gqueue(f, 1021, 4061, WIRE_OP_RW, 0, data + total, sz[k]);
		total += sz[k];
	}
	assert_true(total <= sizeof(data));
	dev_vm_kick(f->vm, 1);
	spin(f);
	/* Far below half of the 256 KiB buffer: no update owed yet. */
	assert_int_equal(take(f, &h, NULL, 0), 0);
	send_op(f, 1021, 4061, WIRE_OP_CREDIT_REQUEST, 0, NULL, 0);
	assert_int_equal(take(f, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_CREDIT_UPDATE);
	assert_int_equal(h.fwd_cnt, total);
	assert_int_equal(read_all(fd, got, total, 1000), total);
	assert_memory_equal(got, data, total);
	close(fd);
	close(lfd);
}

/* Gathered bytes go out before a SHUTDOWN or RST later in the same batch;
 * the connection freed by the RST leaves nothing behind for the batch's
 * end (ASan would see it). */
static void test_small_rw_then_close(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4062), fd1 = guest_connect(f, 1022, 4062, lfd);
	int fd2 = guest_connect(f, 1023, 4062, lfd);
	uint8_t got[16];

	gqueue(f, 1022, 4062, WIRE_OP_RW, 0, "first ", 6);
	gqueue(f, 1023, 4062, WIRE_OP_RW, 0, "second", 6);
	gqueue(f, 1022, 4062, WIRE_OP_RW, 0, "bytes", 5);
	gqueue(f, 1022, 4062, WIRE_OP_SHUTDOWN, WIRE_SHUTDOWN_SEND | WIRE_SHUTDOWN_RCV, NULL, 0);
	gqueue(f, 1023, 4062, WIRE_OP_RST, 0, NULL, 0);
	dev_vm_kick(f->vm, 1);
	spin(f);
	assert_int_equal(read_all(fd1, got, 11, 1000), 11);
	assert_memory_equal(got, "first bytes", 11);
	assert_int_equal(read_to(fd1, got, sizeof(got), 1000), 0); /* then EOF */
	assert_int_equal(read_all(fd2, got, 6, 1000), 6);
	assert_memory_equal(got, "second", 6);
	expect_op(f, WIRE_OP_RST, 4062, 1022); /* completes the guest's close */
	assert_int_equal(dev_vm_nconns(f->vm), 0);
	close(fd1);
	close(fd2);
	close(lfd);
}

static void test_shutdown_from_host(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4050), fd = guest_connect(f, 1008, 4050, lfd);
	struct wire_virtio h;

	close(fd);
	assert_int_equal(take(f, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_SHUTDOWN);
	assert_true(h.flags & WIRE_SHUTDOWN_SEND);
	/* Data to a closed host end: RST. */
	send_op(f, 1008, 4050, WIRE_OP_RW, 0, "late", 4);
	expect_op(f, WIRE_OP_RST, 4050, 1008);
	assert_int_equal(dev_vm_nconns(f->vm), 0);
	close(lfd);
}

static void test_unknown_connection(void **state)
{
	struct fx *f = *state;
	struct wire_virtio h;

	send_op(f, 1009, 4050, WIRE_OP_RW, 0, "x", 1);
	expect_op(f, WIRE_OP_RST, 4050, 1009);
	send_op(f, 1009, 4050, WIRE_OP_RST, 0, NULL, 0); /* never RST an RST */
	assert_int_equal(take(f, &h, NULL, 0), 0);
}

static void test_spoofed_src_dropped(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4050);
	struct wire_virtio h;
	struct dev_stats s;

	fg_hdr(&h, 5, 1010, VSK_CID_HOST, 4050, WIRE_TYPE_STREAM, WIRE_OP_REQUEST, 0, 0, GBUF, 0);
	fg_tx(&f->g, &h, NULL, 0);
	dev_vm_kick(f->vm, 1);
	spin(f);
	assert_int_equal(fg_tx_done(&f->g) > 0, 1); /* consumed */
	assert_int_equal(take(f, &h, NULL, 0), 0);  /* no answer */
	assert_int_equal(dev_vm_nconns(f->vm), 0);
	dev_get_stats(f->d, NULL, &s);
	assert_int_equal(s.drops, 1);
	close(lfd);
}

static void test_malformed_tx(void **state)
{
	struct fx *f = *state;
	uint8_t shortp[20] = { 0 };
	uint8_t lie[WIRE_VIRTIO_HDR_LEN];
	struct wire_virtio h;
	struct dev_stats s;
	int lfd, fd;

	fg_tx_raw(&f->g, shortp, sizeof(shortp));
	/* A header whose len claims more than the chain holds. */
	fg_hdr(&h, CID, 1011, VSK_CID_HOST, 4050, WIRE_TYPE_STREAM, WIRE_OP_RW, 5000, 0, GBUF, 0);
	wire_virtio_encode(&h, lie, sizeof(lie));
	fg_tx_raw(&f->g, lie, sizeof(lie));
	dev_vm_kick(f->vm, 1);
	spin(f);
	dev_get_stats(f->d, NULL, &s);
	assert_int_equal(s.drops, 2);
	/* Still serving. */
	lfd = host_listen(f, 4050);
	fd = guest_connect(f, 1012, 4050, lfd);
	close(fd);
	close(lfd);
}

/* A chain pointing outside guest memory: log, that VM's connections
 * closed, the queue stays stopped; the device and other VMs go on. */
static void test_broken_ring(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4050), fd = guest_connect(f, 1014, 4050, lfd);
	char buf[8];

	fg_tx_outside(&f->g);
	dev_vm_kick(f->vm, 1);
	spin(f);
	assert_non_null(strstr(f->lg.text, "malformed descriptor chain"));
	assert_int_equal(dev_vm_nconns(f->vm), 0);
	assert_int_equal(read_to(fd, buf, sizeof(buf), 1000), 0); /* host end closed */
	/* Later packets on the broken queue are not looked at. */
	send_op(f, 1015, 4050, WIRE_OP_REQUEST, 0, NULL, 0);
	assert_int_equal(dev_vm_nconns(f->vm), 0);
	close(fd);
	close(lfd);
}

/* The host peer dies while the device still holds bytes for it: RST. */
static void test_host_dies_mid_transfer(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 4050), fd = guest_connect(f, 1016, 4050, lfd);
	static char data[4096];
	struct wire_virtio h;
	bool rst = false;

	memset(data, 'm', sizeof(data));
	/* 4 MiB, the whole credit (setup_big): more than the Unix socket takes
	 * (the device asks for at most a 1 MiB send buffer), so the device
	 * holds the rest. */
	for (int i = 0; i < (4 << 20) / 4096 && !rst; i++) {
		gsend(f, &f->g, f->vm, WIRE_TYPE_STREAM, 1016, VSK_CID_HOST, 4050, WIRE_OP_RW, 0, data,
		      sizeof(data), 0);
		/* Give back what the device used (credit updates), no more:
		 * the rx ring holds FG_NUM buffers. */
		for (; fg_rx_take(&f->g, &h, NULL, 0, NULL) == 1; fg_rx_give(&f->g, 1, 4096))
			rst |= h.op == WIRE_OP_RST;
		dev_vm_kick(f->vm, 0);
	}
	if (rst)
		fail_msg("RST while sending: %s", f->lg.text);
	close(fd);
	spin(f);
	while (fg_rx_take(&f->g, &h, NULL, 0, NULL) == 1)
		rst |= h.op == WIRE_OP_RST;
	if (!rst)
		fail_msg("no RST after the host left: %s", f->lg.text);
	assert_non_null(strstr(f->lg.text, "write to host"));
	assert_int_equal(dev_vm_nconns(f->vm), 0);
	close(lfd);
}

static void test_seqpacket_boundaries(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen_type(f, CID, 7000, SOCK_SEQPACKET), fd;
	static uint8_t msg[10000], got[10000];
	struct wire_virtio h;
	uint32_t total = 0, eoms = 0;
	char buf[64];

	gsend(f, &f->g, f->vm, WIRE_TYPE_SEQPACKET, 1013, VSK_CID_HOST, 7000, WIRE_OP_REQUEST, 0, NULL, 0, 0);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	expect_op(f, WIRE_OP_RESPONSE, 7000, 1013);
	/* Guest -> host: two RW packets, EOM on the second: one message. */
	gsend(f, &f->g, f->vm, WIRE_TYPE_SEQPACKET, 1013, VSK_CID_HOST, 7000, WIRE_OP_RW, 0, "part1-", 6, 0);
	gsend(f, &f->g, f->vm, WIRE_TYPE_SEQPACKET, 1013, VSK_CID_HOST, 7000, WIRE_OP_RW, WIRE_SEQ_EOM, "part2", 5, 0);
	gsend(f, &f->g, f->vm, WIRE_TYPE_SEQPACKET, 1013, VSK_CID_HOST, 7000, WIRE_OP_RW, WIRE_SEQ_EOM, "next", 4, 0);
	assert_int_equal(read_to(fd, buf, sizeof(buf), 1000), 11);
	assert_memory_equal(buf, "part1-part2", 11);
	assert_int_equal(read_to(fd, buf, sizeof(buf), 1000), 4);
	/* Host -> guest: 10000 bytes over 4 KiB buffers, EOM on the last. */
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	assert_int_equal(send(fd, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
	spin(f);
	for (;;) {
		uint8_t part[4096];

		if (fg_rx_take(&f->g, &h, part, sizeof(part), NULL) != 1)
			break;
		assert_int_equal(h.op, WIRE_OP_RW);
		assert_int_equal(h.type, WIRE_TYPE_SEQPACKET);
		assert_true(total + h.len <= sizeof(got));
		memcpy(got + total, part, h.len);
		total += h.len;
		if (h.flags & WIRE_SEQ_EOM) {
			eoms++;
			assert_int_equal(total, sizeof(msg));
		}
	}
	assert_int_equal(total, sizeof(msg));
	assert_int_equal(eoms, 1);
	assert_memory_equal(got, msg, sizeof(msg));
	close(fd);
	close(lfd);
}

/* ----------------------------------------------------- host -> guest */

static int host_client(struct fx *f)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/u%u", f->dir, CID);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static void test_h2g_connect(void **state)
{
	struct fx *f = *state;
	int fd = host_client(f);
	struct wire_virtio h;
	char buf[64], want[32];
	ssize_t n;

	assert_int_equal(write(fd, "CONNECT 5000\n", 13), 13);
	assert_int_equal(take(f, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
	assert_int_equal(h.dst_port, 5000);
	assert_int_equal(h.dst_cid, CID);
	/* Nothing for the client until the guest answers. */
	assert_int_equal(read_to(fd, buf, sizeof(buf), 50), -ETIMEDOUT);
	send_op(f, 5000, h.src_port, WIRE_OP_RESPONSE, 0, NULL, 0);
	n = read_to(fd, buf, sizeof(buf), 1000);
	snprintf(want, sizeof(want), "OK %u\n", h.src_port);
	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
	send_op(f, 5000, h.src_port, WIRE_OP_RW, 0, "from guest", 10);
	assert_int_equal(read_to(fd, buf, sizeof(buf), 1000), 10);
	assert_int_equal(write(fd, "from host", 9), 9);
	assert_int_equal(take(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(h.op, WIRE_OP_RW);
	assert_memory_equal(buf, "from host", 9);
	close(fd);
}

static void test_h2g_refused(void **state)
{
	struct fx *f = *state;
	int fd = host_client(f);
	struct wire_virtio h;
	char buf[16];

	assert_int_equal(write(fd, "CONNECT 5001\n", 13), 13);
	assert_int_equal(take(f, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
	send_op(f, 5001, h.src_port, WIRE_OP_RST, 0, NULL, 0);
	assert_int_equal(read_to(fd, buf, sizeof(buf), 1000), 0); /* closed */
	assert_int_equal(dev_vm_nconns(f->vm), 0);
	close(fd);
}

/* The client leaves while the guest is still answering: RST, no SIGPIPE. */
static void test_h2g_client_gone(void **state)
{
	struct fx *f = *state;
	int fd = host_client(f);
	struct wire_virtio h;
	uint32_t hport;

	assert_int_equal(write(fd, "CONNECT 5003\n", 13), 13);
	assert_int_equal(take(f, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
	hport = h.src_port;
	close(fd);
	send_op(f, 5003, hport, WIRE_OP_RESPONSE, 0, NULL, 0);
	expect_op(f, WIRE_OP_RST, hport, 5003);
	assert_int_equal(dev_vm_nconns(f->vm), 0);
}

static void test_h2g_bad_clients(void **state)
{
	struct fx *f = *state;
	static const char *const lines[] = { "GARBAGE\n", "CONNECT\n", "CONNECT 99999999999\n",
					     "CONNECT 5000 5001\n", "CONNECTXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX" };
	struct wire_virtio h;
	int fd;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		fd = host_client(f);
		assert_int_equal(write(fd, lines[i], strlen(lines[i])), (ssize_t)strlen(lines[i]));
		spin(f);
		assert_true(closed_by_device(fd));
		close(fd);
	}
	/* Closes before its newline. */
	fd = host_client(f);
	assert_int_equal(write(fd, "CONN", 4), 4);
	close(fd);
	spin(f);
	assert_int_equal(take(f, &h, NULL, 0), 0); /* the guest saw none of it */
	assert_int_equal(dev_vm_nconns(f->vm), 0);
	assert_non_null(strstr(f->lg.text, "closed before its CONNECT line"));
	assert_non_null(strstr(f->lg.text, "too long"));
	/* And a good one still works. */
	fd = host_client(f);
	assert_int_equal(write(fd, "CONNECT 5002\n", 13), 13);
	assert_int_equal(take(f, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
	close(fd);
}

static void test_h2g_before_driver(void **state)
{
	struct fx *f = *state;
	int fd;

	dev_vm_detach(f->vm);
	fd = host_client(f);
	assert_int_equal(write(fd, "CONNECT 5000\n", 13), 13);
	spin(f);
	assert_true(closed_by_device(fd));
	assert_non_null(strstr(f->lg.text, "driver is not up"));
	close(fd);
}

/* Rings that start where an earlier session left them: the guest is told
 * to drop its connections (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET). */
static void test_transport_reset_event(void **state)
{
	struct fx *f = *state;
	uint32_t id = 99;

	fg_ev_give(&f->g);
	spin(f);
	assert_int_equal(fg_ev_take(&f->g, &id), 0); /* fresh rings: nothing */
	send_op(f, 1200, 4050, WIRE_OP_RW, 0, "x", 1); /* the rings move (RST) */
	dev_vm_detach(f->vm);
	fg_ev_give(&f->g);
	dev_vm_attach(f->vm, &f->g.q[0].q, &f->g.q[1].q, &f->g.q[2].q);
	spin(f);
	assert_int_equal(fg_ev_take(&f->g, &id), 1);
	assert_int_equal(id, 0);
}

/* ---------------------------------------------------------- siblings */

static void test_siblings(void **state)
{
	struct fx *f = *state;
	struct dev_vm_cfg c;
	struct dev_vm *v5, *v6;
	struct fg g5, g6;
	struct wire_virtio h;
	static uint8_t data[10000], got[10000];
	uint32_t total = 0;
	char err[256];

	/* VM 4 is in "default"; put 5 there too, 6 elsewhere. */
	dt_vm_cfg(f->dir, &c, 5, "x+default", 0);
	assert_int_equal(dev_add_vm(f->d, &c, &v5, err, sizeof(err)), 0);
	dt_vm_cfg(f->dir, &c, 6, "other", 0);
	assert_int_equal(dev_add_vm(f->d, &c, &v6, err, sizeof(err)), 0);
	assert_int_equal(fg_init(&g5, 8u << 20), 0);
	assert_int_equal(fg_init(&g6, 8u << 20), 0);
	dev_vm_attach(v5, &g5.q[0].q, &g5.q[1].q, &g5.q[2].q);
	dev_vm_attach(v6, &g6.q[0].q, &g6.q[1].q, &g6.q[2].q);
	fg_rx_give(&g5, 32, 4096);
	fg_rx_give(&g6, 32, 4096);
	spin(f);

	/* 4 -> 5: switched as is. */
	gsend(f, &f->g, f->vm, WIRE_TYPE_STREAM, 1100, 5, 6000, WIRE_OP_REQUEST, 0, NULL, 0, 0);
	assert_int_equal(fg_rx_take(&g5, &h, NULL, 0, NULL), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
	assert_int_equal(h.src_cid, CID);
	assert_int_equal(h.src_port, 1100);
	assert_int_equal(h.dst_port, 6000);
	/* A payload larger than 5's buffers arrives in pieces, in order. */
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	gsend(f, &f->g, f->vm, WIRE_TYPE_STREAM, 1100, 5, 6000, WIRE_OP_RW, 0, data, sizeof(data), 0);
	for (;;) {
		uint8_t part[4096];

		if (fg_rx_take(&g5, &h, part, sizeof(part), NULL) != 1)
			break;
		assert_int_equal(h.op, WIRE_OP_RW);
		memcpy(got + total, part, h.len);
		total += h.len;
	}
	assert_int_equal(total, sizeof(data));
	assert_memory_equal(got, data, sizeof(data));
	/* 5 -> 4 works back. */
	gsend(f, &g5, v5, WIRE_TYPE_STREAM, 6000, CID, 1100, WIRE_OP_RESPONSE, 0, NULL, 0, 0);
	assert_int_equal(take(f, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_RESPONSE);
	assert_int_equal(h.src_cid, 5);
	/* 4 -> 6: other group, RST; 6 sees nothing. */
	gsend(f, &f->g, f->vm, WIRE_TYPE_STREAM, 1101, 6, 6000, WIRE_OP_REQUEST, 0, NULL, 0, 0);
	assert_int_equal(take(f, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_RST);
	assert_int_equal(h.src_cid, 6);
	assert_int_equal(fg_rx_take(&g6, &h, NULL, 0, NULL), 0);
	/* 4 -> 9: no such CID, RST. */
	gsend(f, &f->g, f->vm, WIRE_TYPE_STREAM, 1102, 9, 6000, WIRE_OP_REQUEST, 0, NULL, 0, 0);
	assert_int_equal(take(f, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_RST);
	dev_vm_detach(v5);
	dev_vm_detach(v6);
	fg_free(&g5);
	fg_free(&g6);
}

/* ------------------------------------------------------- vhost-user */

static int vu_client(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* A front end that sends garbage is dropped with a log line; the socket
 * keeps listening and the next front end is served. */
static void test_vhost_garbage_then_served(void **state)
{
	struct fx *f = *state;
	struct dev_vm_cfg c;
	struct dev_vm *v7;
	uint8_t junk[12], msg[12], reply[64];
	char err[256];
	int fd;

	dt_vm_cfg(f->dir, &c, 7, "", 0);
	assert_int_equal(dev_add_vm(f->d, &c, &v7, err, sizeof(err)), 0);
	fd = vu_client(c.socket);
	memset(junk, 0xff, sizeof(junk)); /* request ~0, size 4 GiB */
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	spin(f);
	assert_true(closed_by_device(fd));
	close(fd);
	assert_non_null(strstr(f->lg.text, "vm 7: QEMU disconnected"));
	/* VHOST_USER_GET_FEATURES (1), version 1, no payload: answered. */
	fd = vu_client(c.socket);
	wire_st32(msg, 1);
	wire_st32(msg + 4, 1);
	wire_st32(msg + 8, 0);
	assert_int_equal(write(fd, msg, sizeof(msg)), (ssize_t)sizeof(msg));
	spin(f);
	assert_int_equal(read_to(fd, reply, sizeof(reply), 1000), 20);
	assert_int_equal(wire_le32(reply), 1);
	assert_int_equal(wire_le32(reply + 8), 8);
	/* VIRTIO_F_VERSION_1 and VIRTIO_VSOCK_F_SEQPACKET offered. */
	assert_true(wire_le64(reply + 12) & (1ull << 32));
	assert_true(wire_le64(reply + 12) & (1ull << 1));
	close(fd);
	spin(f);
	/* VM 4 on its fake rings never noticed. */
	send_op(f, 1300, 4059, WIRE_OP_REQUEST, 0, NULL, 0);
	expect_op(f, WIRE_OP_RST, 4059, 1300);
}

/* ------------------------------------------------------------ config */

static void test_cfg_vm_spec(void **state)
{
	struct dev_vm_cfg c;
	char err[256];

	(void)state;
	assert_int_equal(dev_cfg_parse_vm("guest-cid=4,socket=/tmp/v.sock,uds-path=/tmp/u,groups=a+b,tx-buffer-size=65536",
					  &c, err, sizeof(err)), 0);
	assert_int_equal(c.cid, 4);
	assert_string_equal(c.socket, "/tmp/v.sock");
	assert_string_equal(c.uds, "/tmp/u");
	assert_string_equal(c.groups, "a+b");
	assert_int_equal(c.tx_buf, 65536);
	assert_int_equal(dev_cfg_parse_vm("guest-cid=2,socket=/a,uds-path=/b", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "reserved"));
	assert_int_equal(dev_cfg_parse_vm("guest-cid=4,socket=/a", &c, err, sizeof(err)), -EINVAL);
	assert_int_equal(dev_cfg_parse_vm("guest-cid=4,socket=/a,uds-path=/b,color=red", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "color"));
	assert_int_equal(dev_cfg_parse_vm("guest-cid=x4,socket=/a,uds-path=/b", &c, err, sizeof(err)), -EINVAL);
	assert_int_equal(dev_cfg_parse_vm("guest-cid=4,socket=/a,uds-path=/b,groups=a++b", &c, err, sizeof(err)), -EINVAL);
	assert_int_equal(dev_cfg_parse_vm("guest-cid=4,socket=/a,uds-path=/b,tx-buffer-size=10", &c, err, sizeof(err)), -EINVAL);
}

static void test_cfg_yaml(void **state)
{
	char path[] = "/tmp/vsk-devcfg.XXXXXX";
	struct dev_cfgs cs = { NULL, 0, 0 };
	struct dev_vm_cfg *c;
	char err[256];
	int fd = mkstemp(path), n;
	static const char good[] = "# two VMs\nvms:\n  - guest_cid: 4\n    socket: /tmp/v4.sock\n"
				   "    uds_path: \"/tmp/vm4.vsock\"   # quoted\n    groups: g1+g2\n"
				   "  - guest_cid: 5\n    socket: '/tmp/v5.sock'\n    uds_path: /tmp/vm5.vsock\n"
				   "    tx_buffer_size: 65536\n";
	static const char bad[] = "vms:\n  - guest_cid: 4\n    sockett: /x\n";

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, good, sizeof(good) - 1), (ssize_t)sizeof(good) - 1);
	assert_int_equal(dev_cfg_parse_file(path, &cs, err, sizeof(err)), 0);
	assert_int_equal(cs.n, 2);
	c = cs.v;
	n = cs.n;
	assert_int_equal(c[0].cid, 4);
	assert_string_equal(c[0].uds, "/tmp/vm4.vsock");
	assert_string_equal(c[0].groups, "g1+g2");
	assert_string_equal(c[1].socket, "/tmp/v5.sock");
	assert_int_equal(c[1].tx_buf, 65536);
	assert_int_equal(dev_cfg_check(c, n, err, sizeof(err)), 0);
	c[1].cid = 4;
	assert_int_equal(dev_cfg_check(c, n, err, sizeof(err)), -EEXIST);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, bad, sizeof(bad) - 1, 0), (ssize_t)sizeof(bad) - 1);
	dev_cfgs_free(&cs);
	assert_int_equal(dev_cfg_parse_file(path, &cs, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":3:"));
	dev_cfgs_free(&cs);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_response, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_no_listener_rst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_to_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_request_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_update_sent, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_credit_violation_rst, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_from_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_rw_gathered, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_small_large_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_rw_then_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_from_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spoofed_src_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_dies_mid_transfer, setup_big, teardown),
		cmocka_unit_test_setup_teardown(test_seqpacket_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2g_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2g_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2g_client_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2g_bad_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2g_before_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_reset_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_siblings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vhost_garbage_then_served, setup, teardown),
		cmocka_unit_test(test_cfg_vm_spec),
		cmocka_unit_test(test_cfg_yaml),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
