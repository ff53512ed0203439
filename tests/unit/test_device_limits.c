/* vsk device under fd pressure and connection floods (lib/device/dev_vm.c
 * listeners, device.c's fd shares, dev_conn.c's limit): a VM that is
 * flooded never takes another VM's fds, a listener that hits EMFILE rests
 * instead of spinning the loop, and a limit is logged once per burst. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

#define NCLIENTS 300

struct fx {
	char dir[64];
	struct dev *d;
	struct dev_vm *vm4, *vm5;
	struct dev_vm_cfg c4, c5;
	struct dt_log lg;
	struct rlimit saved;
	struct fg g;                 /* VM 4's guest: host clients need its driver up */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Soft fd limit SOFT for this process (the hard one is left alone). */
static void set_nofile(struct fx *f, rlim_t soft)
{
	struct rlimit rl = f->saved;

	rl.rlim_cur = soft < rl.rlim_max ? soft : rl.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static int setup_limit(void **state, rlim_t soft, uint32_t max_conns)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &f->saved), 0);
	if (soft != 0)
		set_nofile(f, soft);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vsk-devlim.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(dev_create(&f->d, dt_log, &f->lg), 0);
	dt_vm_cfg(f->dir, &f->c4, 4, "", 0);
	f->c4.max_conns = max_conns;
	dt_vm_cfg(f->dir, &f->c5, 5, "", 0);
	assert_int_equal(dev_add_vm(f->d, &f->c4, &f->vm4, err, sizeof(err)), 0);
	assert_int_equal(dev_add_vm(f->d, &f->c5, &f->vm5, err, sizeof(err)), 0);
	assert_int_equal(fg_init(&f->g, 4u << 20), 0);
	dev_vm_attach(f->vm4, &f->g.q[0].q, &f->g.q[1].q, NULL);
	fg_rx_give(&f->g, 64, 4096);
	*state = f;
	return 0;
}

static int setup_512(void **state)
{
	return setup_limit(state, 512, 0);
}

static int setup_plain(void **state)
{
	return setup_limit(state, 0, 4);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	dev_destroy(f->d);
	fg_free(&f->g);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &f->saved), 0);
	if (rm_tree(f->dir) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

/* Rounds of the device loop in MS milliseconds, each allowed to sleep
 * 100 ms: a quiet loop wakes for its timers (every 20 ms at most), a
 * spinning one thousands of times. */
static unsigned rounds_in(struct fx *f, double ms)
{
	unsigned n = 0;

	for (double t0 = now_ms(); now_ms() - t0 < ms; n++)
		assert_int_equal(dev_run_once(f->d, 100), 0);
	return n;
}

static unsigned count_lines(const struct dt_log *lg, const char *what)
{
	unsigned n = 0;

	for (const char *p = lg->text; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

/* Issue 14 item 7: hundreds of host clients on VM 4's uds-path that never
 * send CONNECT.  VM 4 holds only a bounded share of them (the others wait
 * in the listen backlog, costing the device no fd), the loop does not
 * spin, and VM 5's front end is served at once. */
static void test_idle_clients_bounded(void **state)
{
	struct fx *f = *state;
	int fds[NCLIENTS], n;
	unsigned rounds;
	double ms = -1;

	n = dt_unix_clients(f->c4.uds, fds, NCLIENTS);
	assert_true(n > 64); /* the backlog alone takes 128 */
	rounds = rounds_in(f, 300);
	/* 512 fds, two VMs: a share of (512 - 64 - 2 * 32) / 2 = 192 each, a
	 * quarter of it for clients in their handshake. */
	assert_true(dev_vm_nconns(f->vm4) <= 48);
	assert_true(dev_vm_nconns(f->vm4) > 0);
	assert_true(rounds < 200);
	assert_int_equal(dt_vu_get_features(f->d, f->c5.socket, &ms), 0);
	assert_true(ms < 50);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* accept() failing with EMFILE: the listener rests (no spin), one log line
 * for the burst, and the waiting client is accepted once fds are back. */
static void test_emfile_pauses_listener(void **state)
{
	struct fx *f = *state;
	int client, spare[600], nspare = 0;
	unsigned rounds;

	assert_int_equal(dt_unix_clients(f->c4.uds, &client, 1), 1);
	/* Every fd of the process taken. */
	while (nspare < (int)(sizeof(spare) / sizeof(spare[0]))) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			assert_int_equal(errno, EMFILE);
			break;
		}
		spare[nspare++] = fd;
	}
	assert_true(nspare < (int)(sizeof(spare) / sizeof(spare[0])));
	rounds = rounds_in(f, 300);
	assert_true(rounds < 100);
	assert_int_equal(dev_vm_nconns(f->vm4), 0);
	assert_int_equal(count_lines(&f->lg, "not accepting for"), 1);
	while (nspare > 0)
		close(spare[--nspare]);
	rounds_in(f, 300);
	assert_int_equal(dev_vm_nconns(f->vm4), 1);
	close(client);
}

/* The per-VM max-conns: host clients over it wait (not accepted), and the
 * limit is logged once however many arrive. */
static void test_max_conns(void **state)
{
	struct fx *f = *state;
	int fds[10], n = dt_unix_clients(f->c4.uds, fds, 10);

	assert_int_equal(n, 10);
	rounds_in(f, 100);
	assert_int_equal(dev_vm_nconns(f->vm4), 4);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	rounds_in(f, 100);
	/* Closed clients are seen; the waiting ones were closed before the
	 * device took them, or are taken and seen closed. */
	assert_int_equal(dev_vm_nconns(f->vm4), 0);
}

/* VM 4's guest sends N REQUESTs from ports P0.. to host port DPORT; the
 * answers are counted into *RST and *RESP. */
static void requests(struct fx *f, uint32_t p0, uint32_t n, uint32_t dport, unsigned *rst, unsigned *resp)
{
	for (uint32_t i = 0; i < n; i++) {
		struct wire_virtio h;

		fg_hdr(&h, 4, p0 + i, VSK_CID_HOST, dport, WIRE_TYPE_STREAM, WIRE_OP_REQUEST, 0, 0, 65536, 0);
		fg_tx(&f->g, &h, NULL, 0);
	}
	dev_vm_kick(f->vm4, 1);
	rounds_in(f, 50);
	for (;;) {
		struct wire_virtio h;
		uint32_t plen;

		if (fg_rx_take(&f->g, &h, NULL, 0, &plen) != 1)
			break;
		*rst += h.op == WIRE_OP_RST;
		*resp += h.op == WIRE_OP_RESPONSE;
	}
}

/* A guest that opens more connections than max-conns: the rest get RST,
 * and the log says so once. */
static void test_guest_limit_logged_once(void **state)
{
	struct fx *f = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unsigned rst = 0, resp = 0;

	assert_true(lfd >= 0);
	assert_true(strlen(f->c4.uds) + 6 < sizeof(sun.sun_path));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%.100s_5000", f->c4.uds);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 64), 0);
	requests(f, 1000, 12, 5000, &rst, &resp);
	assert_int_equal(resp, 4);
	assert_int_equal(rst, 8);
	assert_int_equal(count_lines(&f->lg, "connection limit (4) reached"), 1);
	close(lfd);
}

/* --pcap into PATH that fails every write: the capture stops with one
 * line, the device and its traffic go on. */
static void pcap_fails(struct fx *f, const char *path)
{
	char err[256];
	unsigned rst = 0, resp = 0;

	assert_int_equal(dev_set_pcap(f->d, path, err, sizeof(err)), 0);
	for (int round = 0; round < 3; round++) {
		/* Nothing listens on host port 6000: each REQUEST gets RST. */
		requests(f, 2000, 20, 6000, &rst, &resp);
		fg_rx_give(&f->g, 20, 4096);
		dev_vm_kick(f->vm4, 0);
	}
	assert_int_equal(rst, 60);
	assert_int_equal(count_lines(&f->lg, "pcap: write failed, capture stopped"), 1);
}

/* A full disk. */
static void test_pcap_full_disk(void **state)
{
	pcap_fails(*state, "/dev/full");
}

/* `--pcap -` into a pipe whose reader left: EPIPE (SIGPIPE ignored, as
 * vsk device does). */
static void test_pcap_epipe(void **state)
{
	char path[64];
	int p[2];

	assert_int_equal(pipe(p), 0);
	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p[1]);
	close(p[0]);
	pcap_fails(*state, path);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_idle_clients_bounded, setup_512, teardown),
		cmocka_unit_test_setup_teardown(test_emfile_pauses_listener, setup_512, teardown),
		cmocka_unit_test_setup_teardown(test_max_conns, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_guest_limit_logged_once, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_pcap_full_disk, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_pcap_epipe, setup_plain, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
