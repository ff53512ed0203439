/* bench/device_datapath: the `vsk device` datapath without QEMU.
 *
 * This process plays the guest's virtio-vsock driver on split virtqueues
 * in a memfd (the way QEMU shares guest memory), drives the real device
 * code of libvsk (lib/device*.c through dev_vm_attach / dev_vm_kick /
 * dev_run_once, as tests/unit/test_device.c does), and a thread plays the
 * host peer on the Unix socket "<uds>_PORT".  Guest and device share the
 * main thread (the attach hook has no kick eventfds), the peer runs on
 * another CPU.
 *
 * Measured, alternately in rounds so machine load hits all alike:
 *   - bulk guest -> host: 64 KiB RW packets (in one descriptor, and in 16
 *     page-sized ones of an indirect table as Linux posts them), and host
 *     -> guest into the guest's rx buffers (4 KiB as Linux posts them by
 *     default, -b; and 64 KiB): GB/s, against the Unix socket alone (this
 *     thread moving the same bytes through the same kind of socket), the
 *     ceiling of any back end whose host side is a Unix socket;
 *   - 64-byte RW packets each way: packets per second.
 * Every byte is checked against the stream's pattern (and a sequence
 * number every 64 KiB) by the receiving side in round 1; later rounds
 * check counts, headers and the sequence numbers (-V: every byte always).
 * Bounded: each run stops at its byte count or after -T seconds.
 *
 * Never touches AF_VSOCK (the "guest" is memory in this process), except
 * with -B vsock, which bench/device-vsock runs inside a lab guest.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "device/device.h"
#include "device_datapath.h"
#include "virtq.h"
#include "vsk.h"
#include "wire.h"

/* ------------------------------------------------------- host peer */

struct peer {
	pthread_t th;
	int lfd;
	bool g2h;                /* read (guest -> host) or write */
	bool full;
	uint64_t limit;          /* bytes to write (h2g) */
	atomic_bool stop;        /* h2g: stop writing */
	atomic_ullong bytes;     /* received (g2h) or written (h2g) */
	atomic_bool done;
	double last;             /* g2h: time of the last read */
	bool bad;
	char err[128];
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	size_t cap = 256 * 1024;
	uint8_t *buf = malloc(cap);
	uint64_t o = 0;
	int fd;

	fd = accept(p->lfd, NULL, NULL);
	if (fd < 0 || buf == NULL) {
		snprintf(p->err, sizeof(p->err), "accept: %s", strerror(errno));
		goto out;
	}
	if (p->g2h) {
		for (;;) {
			ssize_t r = read(fd, buf, cap);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			if (!dd_stream_ok(o, buf, (size_t)r, p->full))
				p->bad = true;
			o += (uint64_t)r;
			p->last = dd_now();
			atomic_store(&p->bytes, o);
		}
	} else {
		/* Whole chunks of the stream, one write each. */
		while (o < p->limit && !atomic_load(&p->stop)) {
			size_t n = CHUNK, w = 0;

			dd_stream_gen(o, buf, n);
			while (w < n) {
				ssize_t r = write(fd, buf + w, n - w);

				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0) {
					snprintf(p->err, sizeof(p->err), "write: %s", strerror(errno));
					goto out;
				}
				w += (size_t)r;
			}
			o += n;
			atomic_store(&p->bytes, o);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	atomic_store(&p->done, true);
	return NULL;
}

/* ------------------------------------------------------ one run */

struct bench {
	struct dev *d;
	struct dev_vm *vm;
	struct guest g;
	char dir[64], uds[80];
	uint32_t next_port;
	double tlimit;
	bool poll;                   /* guest/device thread never sleeps */
};

struct result {
	uint64_t bytes, pkts;
	double secs;
};

static void spin(struct bench *b, int ms)
{
	if (dev_run_once(b->d, ms) < 0)
		dd_die("dev_run_once failed");
}

/* A fresh driver instance and a connection to the peer on PORT. */
static void run_setup(struct bench *b, struct peer *p, unsigned rx_chains, uint32_t buflen)
{
	struct guest *g = &b->g;
	double t0;

	dev_vm_detach(b->vm);
	dd_guest_rings(g, rx_chains, buflen);
	dev_vm_attach(b->vm, &g->q[0].q, &g->q[1].q, NULL);
	g->sport = b->next_port++;
	g->connected = g->reset = g->shut = g->bad = false;
	g->tx_cnt = g->fwd_cnt = g->fwd_adv = g->peer_fwd_cnt = 0;
	g->peer_buf_alloc = 0;
	g->rx_bytes = g->rx_pkts = 0;
	if (pthread_create(&p->th, NULL, peer_main, p) != 0)
		dd_die("pthread_create failed");
	dd_tx_post(g, WIRE_OP_REQUEST, 0, 0, 0, 1);
	dev_vm_kick(b->vm, 1);
	for (t0 = dd_now(); !g->connected; ) {
		spin(b, 1);
		dd_rx_reap(g);
		dd_tx_reap(g);
		if (g->reset || dd_now() - t0 > 5)
			dd_die("no RESPONSE from the device");
	}
	dev_vm_kick(b->vm, 0);
}

static void run_close(struct bench *b, struct peer *p)
{
	struct guest *g = &b->g;

	dd_tx_reap(g);
	if (!g->reset && g->nfree > 0) {
		dd_tx_post(g, WIRE_OP_RST, 0, 0, 0, 1);
		dev_vm_kick(b->vm, 1);
	}
	spin(b, 0);
	atomic_store(&p->stop, true);
	pthread_join(p->th, NULL);
	dd_rx_reap(g);
	dd_tx_reap(g);
	if (p->err[0]) {
		fprintf(stderr, "device_datapath: guest: connected %d shut %d reset %d bad %d, %llu bytes in\n", g->connected,
			g->shut, g->reset, g->bad, (unsigned long long)g->rx_bytes);
		dd_die(p->err);
	}
}

/* -B vsock: the VM's back end is AF_VSOCK (forward-cid 1), the peer
 * listens on vsock port PORT.  Only inside a lab guest (vsock_loopback):
 * the development machine's AF_VSOCK reaches a real hypervisor. */
static bool vsock_mode;

/* The peer's listener on "<uds>_PORT" (or vsock PORT), where the device
 * connects. */
static int host_listen(struct bench *b)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (vsock_mode) {
		struct sockaddr_vm vm = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = PORT };

		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&vm, sizeof(vm)) < 0 || listen(fd, 4) < 0)
			dd_die("vsock host listener");
		return fd;
	}

	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s_%u", b->uds, PORT) >= sizeof(sun.sun_path))
		dd_die("socket path too long");
	unlink(sun.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 4) < 0)
		dd_die("host listener");
	return fd;
}

/* Guest -> host: LEN-byte RW packets until TOTAL bytes or the time limit;
 * a 64 KiB payload in PIECES descriptors. */
static struct result run_g2h(struct bench *b, uint32_t len, unsigned pieces, uint64_t total, bool full)
{
	struct guest *g = &b->g;
	struct peer p;
	struct result res = { 0, 0, 0 };
	uint64_t sent = 0, pkts = 0;
	double t0, tend;

	memset(&p, 0, sizeof(p));
	p.lfd = host_listen(b);
	p.g2h = true;
	p.full = full;
	run_setup(b, &p, 32, 4096);
	t0 = dd_now();
	tend = t0 + b->tlimit;
	while (sent < total && !g->reset) {
		bool posted = false, reaped;

		dd_tx_reap(g);
		while (sent < total && g->nfree > 0 && dd_tx_credit(g) >= len) {
			uint64_t pg;

			if (len == CHUNK) {
				/* The payload buffer already holds the pattern.  Slots
				 * go round robin and the device returns chains in
				 * order, so fewer than NSLOT outstanding never reuses
				 * a slot the device has not read yet. */
				if (g->big_out == NSLOT - 1)
					break;
				pg = MEM_SLOTS + (pkts % NSLOT) * 65536ul;
				dd_stream_gen(sent, dd_gptr(g, pg), 8);
				g->big[g->freec[g->nfree - 1]] = true;
				g->big_out++;
			} else {
				pg = MEM_SMALL + 64ul * g->freec[g->nfree - 1];
				dd_stream_gen(sent, dd_gptr(g, pg), len);
			}
			dd_tx_post(g, WIRE_OP_RW, 0, pg, len, len == CHUNK ? pieces : 1);
			sent += len;
			pkts++;
			posted = true;
		}
		if (posted)
			dev_vm_kick(b->vm, 1);
		reaped = dd_rx_reap(g) > 0;
		if (reaped)
			dev_vm_kick(b->vm, 0);
		/* A guest that just got interrupts (the device's credit updates)
		 * sends again at once, as Linux's does; it sleeps only when there
		 * is nothing to act on. */
		spin(b, posted || reaped || b->poll ? 0 : 1);
		if (dd_now() > tend)
			break;
	}
	/* Wait for the peer to have every byte (bounded). */
	for (double t = dd_now(); atomic_load(&p.bytes) < sent && dd_now() - t < 5;) {
		spin(b, 1);
		dd_rx_reap(g);
		dd_tx_reap(g);
	}
	run_close(b, &p);
	close(p.lfd);
	res.bytes = atomic_load(&p.bytes);
	res.pkts = pkts;
	res.secs = p.last - t0;
	if (res.bytes != sent)
		dd_die("guest -> host: the peer did not receive every byte");
	if (p.bad)
		dd_die("guest -> host: the peer received wrong bytes");
	return res;
}

/* Host -> guest: the peer writes 64 KiB chunks; the guest's rx buffers of
 * BUFLEN bytes set the packet size. */
static struct result run_h2g(struct bench *b, uint32_t buflen, unsigned chains, uint64_t total, bool full)
{
	struct guest *g = &b->g;
	struct peer p;
	struct result res = { 0, 0, 0 };
	double t0, tend;
	bool stopping = false;

	memset(&p, 0, sizeof(p));
	p.lfd = host_listen(b);
	p.g2h = false;
	p.limit = total;
	g->full = full;
	run_setup(b, &p, chains, buflen);
	t0 = dd_now();
	tend = t0 + b->tlimit;
	for (;;) {
		unsigned n;

		spin(b, b->poll ? 0 : 1);
		n = dd_rx_reap(g);
		if (n > 0)
			dev_vm_kick(b->vm, 0);
		dd_tx_reap(g);
		/* Credit back as soon as bytes are consumed (also those taken
		 * while the connection was set up): a guest reading as fast as
		 * it can. */
		if (g->fwd_cnt != g->fwd_adv && g->nfree > 0) {
			dd_tx_post(g, WIRE_OP_CREDIT_UPDATE, 0, 0, 0, 1);
			dev_vm_kick(b->vm, 1);
		}
		if (g->shut || g->reset || g->bad)
			break;
		if (!stopping && dd_now() > tend) {
			atomic_store(&p.stop, true);
			stopping = true;
		}
		if (dd_now() > tend + 5)
			break;
	}
	res.bytes = g->rx_bytes;
	res.pkts = g->rx_pkts;
	res.secs = g->last_rx - t0;
	run_close(b, &p);
	close(p.lfd);
	if (g->bad)
		dd_die("host -> guest: the guest received wrong bytes");
	if (!g->shut || res.bytes != atomic_load(&p.bytes)) {
		fprintf(stderr, "device_datapath: h2g: shut %d reset %d, guest got %llu bytes, peer wrote %llu\n", g->shut,
			g->reset, (unsigned long long)res.bytes, (unsigned long long)atomic_load(&p.bytes));
		dd_die("host -> guest: the guest did not receive every byte");
	}
	return res;
}

/* The Unix socket alone, no device: this thread writes the guest's 64 KiB
 * buffers into the peer's socket (or reads the peer's chunks into them),
 * blocking.  The ceiling for any device whose host side is a Unix socket. */
static struct result run_sock(struct bench *b, uint64_t total, bool to_host, bool full)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct result res = { 0, 0, 0 };
	struct peer p;
	uint64_t o = 0, k = 0;
	double t0;
	int fd;

	memset(&p, 0, sizeof(p));
	p.lfd = host_listen(b);
	p.g2h = to_host;
	p.full = full;
	p.limit = total;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s_%u", b->uds, PORT);
	if (vsock_mode) {
		/* The ceiling of the vsock back end: loopback alone. */
		struct sockaddr_vm vm = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_LOCAL, .svm_port = PORT };

		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&vm, sizeof(vm)) < 0)
			dd_die("connect to the peer");
	} else {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			dd_die("connect to the peer");
	}
	if (pthread_create(&p.th, NULL, peer_main, &p) != 0)
		dd_die("pthread_create failed");
	t0 = dd_now();
	while (o < total && dd_now() - t0 < b->tlimit) {
		uint8_t *gb = dd_gptr(&b->g, MEM_SLOTS + (k++ % NSLOT) * 65536ul);
		size_t done = 0;

		if (to_host)
			dd_stream_gen(o, gb, 8);
		while (done < CHUNK) {
			ssize_t r = to_host ? write(fd, gb + done, CHUNK - done) : read(fd, gb + done, CHUNK - done);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				dd_die("unix socket baseline: short transfer");
			if (!to_host && !dd_stream_ok(o + done, gb + done, (size_t)r, full))
				dd_die("unix socket baseline: wrong bytes");
			done += (size_t)r;
		}
		o += CHUNK;
	}
	res.secs = dd_now() - t0;
	atomic_store(&p.stop, true);
	close(fd);
	pthread_join(p.th, NULL);
	close(p.lfd);
	if (to_host) {
		res.secs = p.last - t0;
		if (atomic_load(&p.bytes) != o || p.bad)
			dd_die("unix socket baseline: the peer did not get every byte right");
	} else {
		/* Restore the pattern the device runs' slots start from. */
		for (unsigned sl = 0; sl < NSLOT; sl++)
			memcpy(dd_gptr(&b->g, MEM_SLOTS + sl * 65536ul), dd_pat, CHUNK);
	}
	res.bytes = o;
	res.pkts = k;
	return res;
}

/* NAME is one of the comma-separated words of LIST. */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p != '\0'; p += strcspn(p, ","), p += *p == ',')
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

static void logcb(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level == 0)
		fprintf(stderr, "device: %s\n", msg);
}

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: device_datapath [-r ROUNDS] [-n BYTES] [-k PACKETS] [-T SECS] [-b BYTES] [-V] [-o RUN]\n"
		"  -r ROUNDS   alternating rounds (default 3)\n"
		"  -n BYTES    per bulk run (default 2 GiB)\n"
		"  -k PACKETS  per 64-byte run (default 1000000)\n"
		"  -T SECS     time limit per run (default 2)\n"
		"  -b BYTES    the guest's rx buffer (header included) of the main host -> guest\n"
		"              case (default 4096, what Linux posts; 64 KiB is a run of its own)\n"
		"  -V          check every byte in every round (default: round 1)\n"
		"  -o RUN,...  only these runs (names as printed)\n"
		"  -B vsock    the vsock back end (forward-cid 1, peer on vsock port 5000): lab guests only\n");
	exit(status);
}

/* The runs, in the order of each round. */
enum dir { G2H, H2G, G2H_SOCK, H2G_SOCK };
struct kind {
	char name[32];
	enum dir dir;
	uint32_t len;      /* g2h: payload per packet; h2g: payload per rx buffer */
	unsigned pieces;   /* g2h 64 KiB payloads: descriptors per payload */
	unsigned chains;   /* h2g: rx buffers posted */
	bool poll;         /* the guest/device thread never sleeps */
	bool small;        /* a 64-byte run (-k packets) */
};

enum { K_G2H, K_G2H_POLL, K_G2H_PAGES, K_G2H_SOCK, K_H2G, K_H2G_POLL, K_H2G_64K, K_H2G_SOCK,
       K_G2H64, K_G2H64_POLL, K_H2G64, K_H2G64_POLL, NKIND };

static struct kind kinds[NKIND] = {
	[K_G2H] = { "g2h-64K-device", G2H, CHUNK, 1, 0, false, false },
	[K_G2H_POLL] = { "g2h-64K-device-poll", G2H, CHUNK, 1, 0, true, false },
	[K_G2H_PAGES] = { "g2h-64Kx4K-device", G2H, CHUNK, TX_PIECES, 0, false, false },
	[K_G2H_SOCK] = { "g2h-unix-alone", G2H_SOCK, CHUNK, 1, 0, false, false },
	[K_H2G] = { "", H2G, 4096 - WIRE_VIRTIO_HDR_LEN, 1, 128, false, false },
	[K_H2G_POLL] = { "", H2G, 4096 - WIRE_VIRTIO_HDR_LEN, 1, 128, true, false },
	[K_H2G_64K] = { "h2g-64K-device", H2G, CHUNK, 1, 32, false, false },
	[K_H2G_SOCK] = { "h2g-unix-alone", H2G_SOCK, CHUNK, 1, 0, false, false },
	[K_G2H64] = { "g2h-64B-device", G2H, 64, 1, 0, false, true },
	[K_G2H64_POLL] = { "g2h-64B-device-poll", G2H, 64, 1, 0, true, true },
	[K_H2G64] = { "h2g-64B-device", H2G, 64, 1, 128, false, true },
	[K_H2G64_POLL] = { "h2g-64B-device-poll", H2G, 64, 1, 128, true, true },
};

/* 64-byte host -> guest packets before rx batching (bench/README.md,
 * the bench/run): the goal is twice that. */
#define H2G64_BASELINE_MPPS 0.81

static struct result run_kind(struct bench *b, const struct kind *k, uint64_t total, uint64_t small, bool full)
{
	uint64_t n = k->small ? small * 64 : total;

	b->poll = k->poll;
	switch (k->dir) {
	case G2H: return run_g2h(b, k->len, k->pieces, n, full);
	case H2G: return run_h2g(b, k->len, k->chains, n, full);
	case G2H_SOCK: return run_sock(b, n, true, full);
	default: return run_sock(b, n, false, full);
	}
}

static void goal(const char *name, double value, double target)
{
	printf("GOAL %s %.3f >= %.2f %s\n", name, value, target, value >= target ? "met" : "missed");
}

int main(int argc, char **argv)
{
	struct bench b;
	struct dev_vm_cfg c;
	struct dev_stats st;
	char err[256];
	unsigned rounds = 3;
	uint32_t rxbuf = 4096;
	uint64_t total = 2ull << 30, small = 1000000;
	bool always_full = false;
	const char *only = "";
	double gbs[NKIND] = { 0 }, mpps[NKIND] = { 0 };
	int opt;

	memset(&b, 0, sizeof(b));
	b.tlimit = 2.0;
	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt(argc, argv, "r:n:k:T:b:Vo:B:h")) != -1) {
		switch (opt) {
		case 'r': rounds = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': total = strtoull(optarg, NULL, 10); break;
		case 'k': small = strtoull(optarg, NULL, 10); break;
		case 'T': b.tlimit = strtod(optarg, NULL); break;
		case 'b': rxbuf = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'V': always_full = true; break;
		case 'o': only = optarg; break;
		case 'B':
			vsock_mode = !strcmp(optarg, "vsock");
			if (!vsock_mode && strcmp(optarg, "unix") != 0)
				usage(2);
			if (vsock_mode && (getenv("VSK_LAB_GUEST") == NULL || access("/lab/plan", F_OK) != 0))
				dd_die("-B vsock runs only inside a lab guest (AF_VSOCK here could reach a real host)");
			break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind != argc || rounds == 0 || rounds > 20 || total < CHUNK || total > (1ull << 40) ||
	    small == 0 || small > 100000000 || !(b.tlimit > 0 && b.tlimit <= 10) ||
	    rxbuf < WIRE_VIRTIO_HDR_LEN + 64 || rxbuf > WIRE_VIRTIO_HDR_LEN + CHUNK)
		usage(2);
	total -= total % CHUNK;
	kinds[K_H2G].len = kinds[K_H2G_POLL].len = rxbuf - WIRE_VIRTIO_HDR_LEN;
	if (rxbuf % 1024 == 0) {
		snprintf(kinds[K_H2G].name, sizeof(kinds[K_H2G].name), "h2g-%uK-device", rxbuf / 1024);
		snprintf(kinds[K_H2G_POLL].name, sizeof(kinds[K_H2G_POLL].name), "h2g-%uK-device-poll", rxbuf / 1024);
	} else {
		snprintf(kinds[K_H2G].name, sizeof(kinds[K_H2G].name), "h2g-%uB-device", rxbuf);
		snprintf(kinds[K_H2G_POLL].name, sizeof(kinds[K_H2G_POLL].name), "h2g-%uB-device-poll", rxbuf);
	}
	for (unsigned i = 0; i < CHUNK; i++)
		dd_pat[i] = (uint8_t)((i * 2654435761u) >> 13);
	snprintf(b.dir, sizeof(b.dir), "/tmp/vsk-ddp.XXXXXX");
	if (mkdtemp(b.dir) == NULL)
		dd_die("mkdtemp");
	snprintf(b.uds, sizeof(b.uds), "%s/u", b.dir);
	if (dev_create(&b.d, logcb, NULL) < 0)
		dd_die("dev_create");
	memset(&c, 0, sizeof(c));
	c.cid = CID;
	snprintf(c.socket, sizeof(c.socket), "%s/vhost.sock", b.dir);
	snprintf(c.uds, sizeof(c.uds), "%s", b.uds);
	if (vsock_mode) {
		c.uds[0] = '\0';
		c.forward = true;
		c.forward_cid = VMADDR_CID_LOCAL;
	}
	if (dev_add_vm(b.d, &c, &b.vm, err, sizeof(err)) < 0)
		dd_die(err);
	if (dd_guest_init(&b.g, MEM_RX + 256ul * (65536 + 128)) < 0)
		dd_die("guest memory");
	for (unsigned sl = 0; sl < NSLOT; sl++)
		memcpy(dd_gptr(&b.g, MEM_SLOTS + sl * 65536ul), dd_pat, CHUNK);
	b.next_port = 40000;

	if (vsock_mode)
		printf("back end: vsock (forward-cid 1); the *-unix-alone runs are vsock loopback alone\n");
	printf("%-6s %-22s %9s %9s %8s %s\n", "round", "run", "GB/s", "Mpkt/s", "secs", "");
	for (unsigned r = 1; r <= rounds; r++) {
		bool full = always_full || r == 1;

		for (int k = 0; k < NKIND; k++) {
			struct result x;
			double g, m;

			if (*only && !listed(only, kinds[k].name))
				continue;
			x = run_kind(&b, &kinds[k], total, small, full);
			g = (double)x.bytes / x.secs / 1e9;
			m = (double)x.pkts / x.secs / 1e6;
			gbs[k] = g > gbs[k] ? g : gbs[k];
			mpps[k] = m > mpps[k] ? m : mpps[k];
			printf("%-6u %-22s %9.3f %9.3f %8.3f %s\n", r, kinds[k].name, g, m, x.secs,
			       full ? "every byte checked" : "");
			fflush(stdout);
		}
	}
	dev_get_stats(b.d, NULL, &st);
	printf("device counters: %llu packets to guests, %llu from guests, %llu stalls, %llu drops\n",
	       (unsigned long long)st.pkts_rx, (unsigned long long)st.pkts_tx, (unsigned long long)st.stalls,
	       (unsigned long long)st.drops);
	printf("best of %u:\n", rounds);
	for (int k = 0; k < NKIND; k++)
		if (gbs[k] > 0)
			printf("  %-22s %8.3f GB/s %8.3f Mpkt/s\n", kinds[k].name, gbs[k], mpps[k]);
	/* Against the socket alone, the ceiling of any back end whose host
	 * side is a Unix socket. */
	if (gbs[K_G2H_SOCK] > 0) {
		if (gbs[K_G2H] > 0)
			printf("RATIO g2h-64K-device/unix-alone %.3f  device-poll/unix-alone %.3f\n",
			       gbs[K_G2H] / gbs[K_G2H_SOCK], gbs[K_G2H_POLL] / gbs[K_G2H_SOCK]);
		if (gbs[K_G2H_PAGES] > 0)
			goal("g2h-64Kx4K-device/unix-alone", gbs[K_G2H_PAGES] / gbs[K_G2H_SOCK], 0.90);
	}
	if (gbs[K_H2G_SOCK] > 0) {
		char name[64];

		if (gbs[K_H2G_64K] > 0)
			printf("RATIO h2g-64K-device/unix-alone %.3f\n", gbs[K_H2G_64K] / gbs[K_H2G_SOCK]);
		if (gbs[K_H2G_POLL] > 0)
			printf("RATIO %s/unix-alone %.3f\n", kinds[K_H2G_POLL].name, gbs[K_H2G_POLL] / gbs[K_H2G_SOCK]);
		snprintf(name, sizeof(name), "%s/unix-alone", kinds[K_H2G].name);
		if (gbs[K_H2G] > 0)
			goal(name, gbs[K_H2G] / gbs[K_H2G_SOCK], 0.90);
	}
	if (mpps[K_H2G64] > 0)
		goal("h2g-64B-device-Mpkt/s", mpps[K_H2G64], 2 * H2G64_BASELINE_MPPS);
	dev_destroy(b.d);
	snprintf(err, sizeof(err), "rm -rf '%s'", b.dir);
	if (system(err) != 0)
		fprintf(stderr, "device_datapath: could not remove %s\n", b.dir);
	return 0;
}
