/* bench/device_scale: `vsk device` at production scale, without QEMU.
 *
 *   device_scale conns N       N connections of one VM open at once, each
 *                              echoed; the device's RSS per connection
 *   device_scale vms N         N VMs in one process, a connection each,
 *                              echoed; the device's RSS per VM
 *   device_scale threads T S   2 busy VMs (guest -> host, 64 KiB packets,
 *                              S seconds) served by T event loops (1 or 2):
 *                              aggregate GB/s
 *
 * The guests are bench/device_datapath_guest.c's fake driver on split
 * rings in a memfd; the host ends are a child process (conns, vms: it
 * accepts on "<uds>_5000" and echoes) or threads (threads: they read and
 * count).  Every echo is compared with what was sent.  Prints results and
 * "RESULT key value" lines for the bench script.  Never touches AF_VSOCK.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "device/device.h"
#include "device_datapath.h"
#include "vsk.h"
#include "wire.h"

#define MSG 8 /* echoed bytes per connection */

static char dir[64];

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kb;
}

static void nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		dd_die("getrlimit");
	if (rl.rlim_max < want) {
		printf("RESULT skipped fd-limit %llu < %llu\n", (unsigned long long)rl.rlim_max,
		       (unsigned long long)want);
		exit(2);
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static void logcb(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level == 0)
		fprintf(stderr, "device: %s\n", msg);
}

/* ------------------------------------------------- the echoing host */

/* Child: listen on "<uds>_5000" of VMs CID0..CID0+NVMS-1, echo every byte. */
static pid_t echo_peer(uint32_t cid0, unsigned nvms, int ready_fd)
{
	pid_t pid = fork();
	int ep, n = 0;
	char c = 1;

	if (pid != 0)
		return pid;
	ep = epoll_create1(0);
	for (unsigned i = 0; i < nvms; i++) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1ull << 32 };
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/u%u_%u", dir, cid0 + i, PORT);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 4096) < 0)
			_exit(1);
		ev.data.u64 |= (uint64_t)fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	if (write(ready_fd, &c, 1) != 1)
		_exit(1);
	for (;;) {
		struct epoll_event evs[256];

		n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = (int)(evs[i].data.u64 & 0xffffffffu);
			char buf[4096];
			ssize_t r;

			if (evs[i].data.u64 >> 32) {
				int a;

				while ((a = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)a };

					epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev);
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r <= 0)
				close(fd);
			else if (write(fd, buf, (size_t)r) != r)
				close(fd);
		}
	}
}

static void peer_start(pid_t *pid, uint32_t cid0, unsigned nvms)
{
	int p[2];
	char c;

	if (pipe(p) < 0)
		dd_die("pipe");
	*pid = echo_peer(cid0, nvms, p[1]);
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		dd_die("the echo peer did not start");
	close(p[0]);
}

/* --------------------------------------------- one guest, many ports */

struct vmg {
	struct dev_vm *vm;
	struct guest g;
};

static void vmg_attach(struct dev *d, struct vmg *v, uint32_t cid, size_t mem, unsigned chains)
{
	struct dev_vm_cfg c;
	char err[256];

	memset(&c, 0, sizeof(c));
	c.cid = cid;
	snprintf(c.socket, sizeof(c.socket), "%s/v%u.sock", dir, cid);
	snprintf(c.uds, sizeof(c.uds), "%s/u%u", dir, cid);
	if (dev_add_vm(d, &c, &v->vm, err, sizeof(err)) < 0)
		dd_die(err);
	if (dd_guest_init(&v->g, mem) < 0)
		dd_die("guest memory");
	dd_guest_rings(&v->g, chains, 256);
	dev_vm_attach(v->vm, &v->g.q[0].q, &v->g.q[1].q, NULL);
}

static void post(struct vmg *v, uint32_t cid, uint32_t sport, uint16_t op, const void *data, uint32_t len)
{
	struct wire_virtio h;
	uint64_t pg = 0;

	memset(&h, 0, sizeof(h));
	h.src_cid = cid;
	h.dst_cid = VSK_CID_HOST;
	h.src_port = sport;
	h.dst_port = PORT;
	h.type = WIRE_TYPE_STREAM;
	h.op = op;
	h.len = len;
	h.buf_alloc = GBUF;
	if (len > 0) {
		pg = MEM_SMALL + 64ul * v->g.freec[v->g.nfree - 1];
		memcpy(dd_gptr(&v->g, pg), data, len);
	}
	dd_tx_post_hdr(&v->g, &h, pg, 1);
}

/* Run the device until every VM's guest has WANT more rx packets of op OP
 * (others are ignored); payloads of RW are checked against the port's
 * message.  Bounded: 60 s. */
static void collect(struct dev *d, struct vmg *vs, unsigned nv, uint16_t op, unsigned want, uint32_t port0)
{
	unsigned got = 0;

	for (double t0 = dd_now(); got < want; ) {
		if (dd_now() - t0 > 60)
			dd_die("the device did not answer in 60 s");
		if (dev_run_once(d, 1) < 0)
			dd_die("dev_run_once");
		for (unsigned i = 0; i < nv; i++) {
			struct wire_virtio h;
			uint8_t buf[64];
			bool any = false;

			dd_tx_reap(&vs[i].g);
			while (dd_rx_next(&vs[i].g, &h, buf, sizeof(buf)) == 1) {
				any = true;
				if (h.op == WIRE_OP_RST)
					dd_die("a connection was reset");
				if (h.op != op)
					continue;
				if (op == WIRE_OP_RW) {
					char want_msg[MSG + 1];

					snprintf(want_msg, sizeof(want_msg), "%08u", h.dst_port - port0);
					if (h.len != MSG || memcmp(buf, want_msg, MSG) != 0)
						dd_die("an echo came back wrong");
				}
				got++;
			}
			if (any)
				dev_vm_kick(vs[i].vm, 0);
		}
	}
}

/* Post one packet per port P0..P0+N-1 of VM V (tx chains permitting,
 * reaping as it goes), then wait for N answers of op ANS. */
static void each_port(struct dev *d, struct vmg *v, uint32_t cid, uint32_t p0, unsigned n, uint16_t op,
		      uint16_t ans)
{
	unsigned sent = 0;

	while (sent < n) {
		unsigned batch = 0;

		while (sent < n && v->g.nfree > 0 && batch < 64) {
			char msg[MSG + 1];

			snprintf(msg, sizeof(msg), "%08u", sent);
			post(v, cid, p0 + sent, op, msg, op == WIRE_OP_RW ? MSG : 0);
			sent++;
			batch++;
		}
		dev_vm_kick(v->vm, 1);
		if (ans != 0)
			collect(d, v, 1, ans, batch, p0);
		else
			for (int i = 0; i < 4; i++) {
				dev_run_once(d, 1);
				dd_tx_reap(&v->g);
			}
		dd_tx_reap(&v->g);
	}
}

static int run_conns(unsigned n)
{
	struct dev *d;
	struct vmg v;
	pid_t peer;
	long rss0, rss1, rss2;
	double t0, t1, t2;
	int st;

	nofile((rlim_t)n + 256); /* the echo peer is a process of its own */
	if (dev_create(&d, logcb, NULL) < 0)
		dd_die("dev_create");
	vmg_attach(d, &v, CID, MEM_RX + 256ul * (WIRE_VIRTIO_HDR_LEN + 256 + 64), 128);
	peer_start(&peer, CID, 1);
	for (int i = 0; i < 10; i++)
		dev_run_once(d, 1);
	rss0 = rss_kb();
	t0 = dd_now();
	each_port(d, &v, CID, 10000, n, WIRE_OP_REQUEST, WIRE_OP_RESPONSE);
	t1 = dd_now();
	if (dev_vm_nconns(v.vm) != n)
		dd_die("not every connection is open");
	rss1 = rss_kb();
	each_port(d, &v, CID, 10000, n, WIRE_OP_RW, WIRE_OP_RW);
	t2 = dd_now();
	rss2 = rss_kb();
	each_port(d, &v, CID, 10000, n, WIRE_OP_RST, 0);
	for (double t = dd_now(); dev_vm_nconns(v.vm) > 0 && dd_now() - t < 10;)
		dev_run_once(d, 1);
	printf("%u connections of one VM open at once: opened in %.2f s, each echoed in %.2f s\n", n, t1 - t0,
	       t2 - t1);
	printf("device RSS: %ld kB before, %ld kB with all open (%.0f bytes per connection), %ld kB after the echoes\n",
	       rss0, rss1, (double)(rss1 - rss0) * 1024 / n, rss2);
	printf("open after the RSTs: %u\n", dev_vm_nconns(v.vm));
	printf("RESULT conns %u\nRESULT rss-per-conn-bytes %.0f\nRESULT open-after %u\n", n,
	       (double)(rss1 - rss0) * 1024 / n, dev_vm_nconns(v.vm));
	kill(peer, SIGTERM);
	waitpid(peer, &st, 0);
	dev_destroy(d);
	return 0;
}

static int run_vms(unsigned n)
{
	struct dev *d;
	struct vmg *vs = calloc(n, sizeof(*vs));
	size_t mem = MEM_RX + 32ul * (WIRE_VIRTIO_HDR_LEN + 256 + 64);
	pid_t peer;
	long rss0, rss1;
	double t0;
	int st;

	if (vs == NULL)
		dd_die("calloc");
	nofile(16 * (rlim_t)n + 256);
	if (dev_create(&d, logcb, NULL) < 0)
		dd_die("dev_create");
	rss0 = rss_kb();
	for (unsigned i = 0; i < n; i++) {
		struct dev_vm_cfg c;
		char err[256];

		memset(&c, 0, sizeof(c));
		c.cid = CID + i;
		snprintf(c.socket, sizeof(c.socket), "%s/v%u.sock", dir, c.cid);
		snprintf(c.uds, sizeof(c.uds), "%s/u%u", dir, c.cid);
		if (dev_add_vm(d, &c, &vs[i].vm, err, sizeof(err)) < 0)
			dd_die(err);
	}
	rss1 = rss_kb();
	for (unsigned i = 0; i < n; i++) {
		if (dd_guest_init(&vs[i].g, mem) < 0)
			dd_die("guest memory");
		dd_guest_rings(&vs[i].g, 32, 256);
		dev_vm_attach(vs[i].vm, &vs[i].g.q[0].q, &vs[i].g.q[1].q, NULL);
	}
	peer_start(&peer, CID, n);
	t0 = dd_now();
	for (unsigned i = 0; i < n; i++) {
		post(&vs[i], CID + i, 20000, WIRE_OP_REQUEST, NULL, 0);
		dev_vm_kick(vs[i].vm, 1);
	}
	collect(d, vs, n, WIRE_OP_RESPONSE, n, 20000);
	for (unsigned i = 0; i < n; i++) {
		post(&vs[i], CID + i, 20000, WIRE_OP_RW, "00000000", MSG);
		dev_vm_kick(vs[i].vm, 1);
	}
	collect(d, vs, n, WIRE_OP_RW, n, 20000);
	printf("%d VMs in one device, one connection each, all echoed in %.2f s\n", dev_vm_count(d), dd_now() - t0);
	printf("device RSS: %ld kB before, %ld kB with %u VMs (%.1f kB per VM, guests not counted)\n", rss0, rss1, n,
	       (double)(rss1 - rss0) / n);
	printf("RESULT vms %d\nRESULT rss-per-vm-kb %.1f\n", dev_vm_count(d), (double)(rss1 - rss0) / n);
	kill(peer, SIGTERM);
	waitpid(peer, &st, 0);
	dev_destroy(d);
	free(vs);
	return 0;
}

/* --------------------------------------------- 2 busy VMs, 1 or 2 loops */

struct busy {
	struct vmg v;
	uint32_t cid;
	pthread_t guest_th, peer_th;
	int lfd;
	atomic_ullong received;
	atomic_bool *stop;
	struct dev *d;
	char err[128];
};

static void busy_kick(struct busy *b, int q)
{
	uint64_t one = 1;

	if (write(b->v.g.q[q].q.kick_fd, &one, sizeof(one)) < 0)
		dd_die("kick eventfd");
}

/* The guest: one connection to host port PORT, 64 KiB RW packets as fast
 * as credit and tx chains allow; interrupts wake it. */
static void *busy_guest(void *arg)
{
	struct busy *b = arg;
	struct guest *g = &b->v.g;
	struct pollfd p[2] = { { .fd = g->q[0].q.call_fd, .events = POLLIN },
			       { .fd = g->q[1].q.call_fd, .events = POLLIN } };
	uint64_t k = 0;

	g->sport = 30000 + b->cid;
	dd_tx_post(g, WIRE_OP_REQUEST, 0, 0, 0, 1);
	busy_kick(b, 1);
	while (!atomic_load(b->stop)) {
		struct wire_virtio h;
		uint64_t v;
		bool posted = false;

		while (dd_rx_next(g, &h, NULL, 0) == 1) {
			g->peer_buf_alloc = h.buf_alloc;
			g->peer_fwd_cnt = h.fwd_cnt;
			if (h.op == WIRE_OP_RESPONSE)
				g->connected = true;
			if (h.op == WIRE_OP_RST) {
				snprintf(b->err, sizeof(b->err), "vm %u: connection reset", b->cid);
				return NULL;
			}
		}
		dd_tx_reap(g);
		while (g->connected && g->nfree > NCHAIN - (NSLOT - 1) && dd_tx_credit(g) >= CHUNK) {
			dd_tx_post(g, WIRE_OP_RW, 0, MEM_SLOTS + (k++ % NSLOT) * 65536ul, CHUNK, 1);
			posted = true;
		}
		if (posted)
			busy_kick(b, 1);
		busy_kick(b, 0); /* rx buffers were given back */
		if (!posted && poll(p, 2, 2) > 0)
			for (int i = 0; i < 2; i++)
				if (read(p[i].fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					dd_die("call eventfd");
	}
	return NULL;
}

static void *busy_peer(void *arg)
{
	struct busy *b = arg;
	static __thread uint8_t buf[256 * 1024];
	int fd = accept(b->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r <= 0)
			break;
		atomic_fetch_add(&b->received, (unsigned long long)r);
	}
	close(fd);
	return NULL;
}

struct loop0 {
	struct dev *d;
	atomic_bool *stop;
};

static void *run_loop0(void *arg)
{
	struct loop0 *l = arg;

	while (!atomic_load(l->stop))
		if (dev_run_once(l->d, 10) < 0)
			dd_die("dev_run_once");
	return NULL;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double thread_cpu_s(pthread_t t)
{
	clockid_t c;
	struct timespec ts;

	if (pthread_getcpuclockid(t, &c) != 0 || clock_gettime(c, &ts) < 0)
		return 0;
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Aggregate GB/s; *cpus: CPUs the whole process kept busy (guests, peers
 * and loops), *loop0: the share of one CPU the first event loop used. */
static double run_threads(unsigned threads, double secs, double *cpus, double *loop0)
{
	struct busy b[2];
	struct dev *d;
	atomic_bool stop;
	struct loop0 l0 = { .stop = &stop };
	pthread_t lt;
	unsigned long long r0 = 0, r1 = 0;
	double t0, t1, c0, c1, l0c, l1c;

	atomic_init(&stop, false);
	if (dev_create(&d, logcb, NULL) < 0 || dev_set_threads(d, threads) < 0)
		dd_die("dev_create");
	l0.d = d;
	memset(b, 0, sizeof(b));
	for (int i = 0; i < 2; i++) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		struct guest *g;

		b[i].cid = CID + (uint32_t)i;
		b[i].stop = &stop;
		b[i].d = d;
		vmg_attach(d, &b[i].v, b[i].cid, MEM_RX + 64ul * (WIRE_VIRTIO_HDR_LEN + 256 + 64), 64);
		dev_vm_detach(b[i].v.vm);
		g = &b[i].v.g;
		for (int q = 0; q < 2; q++) {
			g->q[q].q.kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			g->q[q].q.call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		}
		dev_vm_attach(b[i].v.vm, &g->q[0].q, &g->q[1].q, NULL);
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/u%u_%u", dir, b[i].cid, PORT);
		b[i].lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (b[i].lfd < 0 || bind(b[i].lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(b[i].lfd, 4) < 0)
			dd_die("host listener");
		pthread_create(&b[i].peer_th, NULL, busy_peer, &b[i]);
	}
	if (dev_start(d) < 0)
		dd_die("dev_start");
	pthread_create(&lt, NULL, run_loop0, &l0);
	for (int i = 0; i < 2; i++)
		pthread_create(&b[i].guest_th, NULL, busy_guest, &b[i]);
	usleep(500000); /* warm up */
	t0 = dd_now();
	c0 = cpu_s();
	l0c = thread_cpu_s(lt);
	for (int i = 0; i < 2; i++)
		r0 += atomic_load(&b[i].received);
	usleep((useconds_t)(secs * 1e6));
	for (int i = 0; i < 2; i++)
		r1 += atomic_load(&b[i].received);
	t1 = dd_now();
	c1 = cpu_s();
	l1c = thread_cpu_s(lt);
	*cpus = (c1 - c0) / (t1 - t0);
	*loop0 = (l1c - l0c) / (t1 - t0);
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(b[i].guest_th, NULL);
	pthread_join(lt, NULL);
	dev_stop(d);
	for (int i = 0; i < 2; i++) {
		if (b[i].err[0])
			dd_die(b[i].err);
		dev_vm_detach(b[i].v.vm);
		shutdown(b[i].lfd, SHUT_RDWR);
	}
	dev_destroy(d); /* closes the host sockets: the peers see EOF */
	for (int i = 0; i < 2; i++) {
		pthread_join(b[i].peer_th, NULL);
		close(b[i].lfd);
		for (int q = 0; q < 2; q++) {
			close(b[i].v.g.q[q].q.kick_fd);
			close(b[i].v.g.q[q].q.call_fd);
		}
	}
	return (double)(r1 - r0) / (t1 - t0) / 1e9;
}

int main(int argc, char **argv)
{
	int rc = 2;
	char cmd[128];

	signal(SIGPIPE, SIG_IGN);
	for (unsigned i = 0; i < CHUNK; i++)
		dd_pat[i] = (uint8_t)((i * 2654435761u) >> 13);
	snprintf(dir, sizeof(dir), "/tmp/vsk-dscale.XXXXXX");
	if (mkdtemp(dir) == NULL)
		dd_die("mkdtemp");
	if (argc == 3 && strcmp(argv[1], "conns") == 0) {
		rc = run_conns((unsigned)strtoul(argv[2], NULL, 10));
	} else if (argc == 3 && strcmp(argv[1], "vms") == 0) {
		rc = run_vms((unsigned)strtoul(argv[2], NULL, 10));
	} else if (argc == 4 && strcmp(argv[1], "threads") == 0) {
		unsigned t = (unsigned)strtoul(argv[2], NULL, 10);
		double cpus, loop0;
		double gbs = run_threads(t, strtod(argv[3], NULL), &cpus, &loop0);

		printf("2 busy VMs (guest -> host, 64 KiB packets), %u event loop%s: %.3f GB/s together; "
		       "%.2f CPUs busy, loop 0 %.0f%% of a CPU\n",
		       t, t == 1 ? "" : "s", gbs, cpus, loop0 * 100);
		printf("RESULT threads-%u-gbs %.3f\nRESULT threads-%u-cpus %.2f\n", t, gbs, t, cpus);
		rc = 0;
	} else {
		fprintf(stderr, "usage: device_scale conns N | vms N | threads T SECS\n");
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "device_scale: could not remove %s\n", dir);
	return rc;
}
