/* vsk device with worker threads (dev_set_threads, dev_start): VMs on
 * different event loops reach each other only through the switch's
 * hand-off queues; a worker loop serves its VMs' host connections; the
 * counters are read while the workers run.  The fake guests kick through
 * eventfds, so each VM is served by its own loop's thread while this
 * thread plays the guests' drivers and runs loop 0.  Also built with
 * ThreadSanitizer (make tsan, the "tsan" suite of tests/run-all). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helper_devtest.h"
#include "helper_fakeguest.h"
#include "vsk.h"
#include "wire.h"
#include "helper_tmp.h"

#define GBUF 65536u

/* A log sink the loops may call at once. */
struct mt_log {
	pthread_mutex_t lock;
	struct dt_log lg;
};

static void mt_log(void *arg, int level, const char *msg)
{
	struct mt_log *l = arg;

	pthread_mutex_lock(&l->lock);
	dt_log(&l->lg, level, msg);
	pthread_mutex_unlock(&l->lock);
}

struct guest {
	struct fg g;
	struct dev_vm *vm;
	uint32_t cid;
};

struct fx {
	char dir[64];
	struct dev *d;
	struct mt_log log;
	struct guest g4, g5;      /* VM 4 on loop 0 (this thread), VM 5 on loop 1 */
	struct dev_vm *vm7;       /* loop 1, no driver */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void guest_init(struct fx *f, struct guest *gu, uint32_t cid, const char *groups)
{
	struct dev_vm_cfg c;
	char err[256];

	dt_vm_cfg(f->dir, &c, cid, groups, 0);
	assert_int_equal(dev_add_vm(f->d, &c, &gu->vm, err, sizeof(err)), 0);
	assert_int_equal(fg_init(&gu->g, 8u << 20), 0);
	gu->cid = cid;
	for (int q = 0; q < 2; q++) {
		gu->g.q[q].q.kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		gu->g.q[q].q.call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(gu->g.q[q].q.kick_fd >= 0 && gu->g.q[q].q.call_fd >= 0);
	}
	fg_rx_give(&gu->g, 64, 4096);
	dev_vm_attach(gu->vm, &gu->g.q[0].q, &gu->g.q[1].q, NULL);
}

static void guest_free(struct guest *gu)
{
	dev_vm_detach(gu->vm);
	for (int q = 0; q < 2; q++) {
		close(gu->g.q[q].q.kick_fd);
		close(gu->g.q[q].q.call_fd);
	}
	fg_free(&gu->g);
}

static void kick(struct guest *gu, int q)
{
	uint64_t one = 1;

	assert_int_equal(write(gu->g.q[q].q.kick_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

static void send_pkt(struct guest *gu, uint32_t sport, uint64_t dcid, uint32_t dport, uint16_t op,
		     const void *p, size_t len, uint32_t fwd)
{
	struct wire_virtio h;

	fg_hdr(&h, gu->cid, sport, dcid, dport, WIRE_TYPE_STREAM, op, (uint32_t)len, 0, GBUF, fwd);
	fg_tx(&gu->g, &h, p, len);
	kick(gu, 1);
}

/* The next packet on GU's rx ring, running loop 0 meanwhile (at most 3 s):
 * 1, or 0 on timeout.  Used chains are given back at once. */
static int wait_rx(struct fx *f, struct guest *gu, struct wire_virtio *h, void *buf, size_t cap)
{
	for (double t0 = now_ms(); now_ms() - t0 < 3000;) {
		uint32_t plen;
		int rc = fg_rx_take(&gu->g, h, buf, cap, &plen);

		assert_true(rc >= 0);
		if (rc == 1) {
			fg_rx_give(&gu->g, 1, 4096);
			kick(gu, 0);
			return 1;
		}
		assert_int_equal(dev_run_once(f->d, 1), 0);
	}
	return 0;
}

/* GU's tx chains back (the device read them) before more are posted. */
static void wait_tx(struct fx *f, struct guest *gu, unsigned want)
{
	unsigned got = 0;

	for (double t0 = now_ms(); got < want && now_ms() - t0 < 3000;) {
		got += fg_tx_done(&gu->g);
		assert_int_equal(dev_run_once(f->d, 1), 0);
	}
	assert_int_equal(got, want);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct dev_vm_cfg c;
	struct dev_vm *v6;
	char err[256];

	assert_non_null(f);
	pthread_mutex_init(&f->log.lock, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vsk-devthr.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(dev_create(&f->d, mt_log, &f->log), 0);
	assert_int_equal(dev_set_threads(f->d, 2), 0);
	assert_int_equal(dev_threads(f->d), 2);
	/* Round robin: 4 -> loop 0, 5 -> loop 1, 6 -> loop 0, 7 -> loop 1. */
	guest_init(f, &f->g4, 4, "lab");
	guest_init(f, &f->g5, 5, "lab");
	dt_vm_cfg(f->dir, &c, 6, "lab", 0);
	assert_int_equal(dev_add_vm(f->d, &c, &v6, err, sizeof(err)), 0);
	dt_vm_cfg(f->dir, &c, 7, "lab", 0);
	assert_int_equal(dev_add_vm(f->d, &c, &f->vm7, err, sizeof(err)), 0);
	assert_int_equal(dev_set_threads(f->d, 3), -EBUSY);
	assert_int_equal(dev_start(f->d), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	dev_stop(f->d);
	guest_free(&f->g4);
	guest_free(&f->g5);
	dev_destroy(f->d);
	if (rm_tree(f->dir) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	pthread_mutex_destroy(&f->log.lock);
	free(f);
	return 0;
}

/* 4 (loop 0) <-> 5 (loop 1): a connection switched across loops, its data
 * in order and intact, while the counters are read from this thread. */
static void test_siblings_across_loops(void **state)
{
	struct fx *f = *state;
	static uint8_t data[1000], got[200 * 1000];
	struct wire_virtio h;
	uint32_t total = 0;
	struct dev_stats st;

	send_pkt(&f->g4, 1100, 5, 6000, WIRE_OP_REQUEST, NULL, 0, 0);
	assert_int_equal(wait_rx(f, &f->g5, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
	assert_int_equal(h.src_cid, 4);
	send_pkt(&f->g5, 6000, 4, 1100, WIRE_OP_RESPONSE, NULL, 0, 0);
	assert_int_equal(wait_rx(f, &f->g4, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_RESPONSE);
	assert_int_equal(h.src_cid, 5);
	wait_tx(f, &f->g4, 1);
	wait_tx(f, &f->g5, 1);
	for (int i = 0; i < 200; i++) {
		for (size_t k = 0; k < sizeof(data); k++)
			data[k] = (uint8_t)(i * 7 + k);
		send_pkt(&f->g4, 1100, 5, 6000, WIRE_OP_RW, data, sizeof(data), 0);
		if (i % 16 == 15)
			wait_tx(f, &f->g4, 16);
		dev_get_stats(f->d, NULL, &st); /* while loop 1 counts */
	}
	wait_tx(f, &f->g4, 200 % 16);
	while (total < sizeof(got)) {
		assert_int_equal(wait_rx(f, &f->g5, &h, got + total, sizeof(got) - total), 1);
		assert_int_equal(h.op, WIRE_OP_RW);
		assert_int_equal(h.src_cid, 4);
		total += h.len;
	}
	for (int i = 0; i < 200; i++)
		for (size_t k = 0; k < sizeof(data); k++)
			assert_int_equal(got[i * 1000 + k], (uint8_t)(i * 7 + k));
	dev_stop(f->d); /* the published counters are final now */
	dev_get_stats(f->d, NULL, &st);
	assert_true(st.sibling >= 202);
}

/* 4 -> 7: 7 (on loop 1) has no driver; the RST is made on loop 1 and
 * handed back to loop 0. */
static void test_request_to_idle_sibling(void **state)
{
	struct fx *f = *state;
	struct wire_virtio h;

	send_pkt(&f->g4, 1200, 7, 6000, WIRE_OP_REQUEST, NULL, 0, 0);
	assert_int_equal(wait_rx(f, &f->g4, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_RST);
	assert_int_equal(h.src_cid, 7);
	assert_int_equal(h.dst_port, 1200);
}

/* VM 5's host connection lives on loop 1: connect, bytes both ways. */
static void test_host_conn_on_worker(void **state)
{
	struct fx *f = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct pollfd p;
	struct wire_virtio h;
	char buf[64];
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), fd;

	assert_true(lfd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/u5_5000", f->dir);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	send_pkt(&f->g5, 1300, VSK_CID_HOST, 5000, WIRE_OP_REQUEST, NULL, 0, 0);
	p = (struct pollfd){ .fd = lfd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 3000), 1);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	assert_int_equal(wait_rx(f, &f->g5, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_RESPONSE);
	send_pkt(&f->g5, 1300, VSK_CID_HOST, 5000, WIRE_OP_RW, "to host", 7, 0);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 3000), 1);
	assert_int_equal(read(fd, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "to host", 7);
	assert_int_equal(write(fd, "to guest", 8), 8);
	assert_int_equal(wait_rx(f, &f->g5, &h, buf, sizeof(buf)), 1);
	assert_int_equal(h.op, WIRE_OP_RW);
	assert_int_equal(h.len, 8);
	assert_memory_equal(buf, "to guest", 8);
	close(fd);
	assert_int_equal(wait_rx(f, &f->g5, &h, NULL, 0), 1);
	assert_int_equal(h.op, WIRE_OP_SHUTDOWN);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_siblings_across_loops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_to_idle_sibling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_conn_on_worker, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
