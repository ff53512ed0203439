/* libFuzzer harness: the real `vsk device` transport (lib/device*.c over
 * lib/vhost/virtq.c) driven by a fake guest (tests/unit/helper_fakeguest.c) that
 * an attacker controls, with real Unix sockets on the host side.
 *
 * Bounded run: tests/fuzz/run [SECONDS] device.
 * Long run:    tests/fuzz/run 3600 device   (new inputs stay in build/fuzz/).
 *
 * Guest memory is one heap block (ASan-guarded): any device read or write
 * outside the guest's memory table is a report.  Three VMs: CID 4 (the
 * fuzzed guest), CID 5 (a well-behaved sibling in its group, its rx ring
 * stocked) and CID 6 (another group, never attached).  Host listeners:
 * <uds4>_5 (stream) and <uds4>_6 (seqpacket).
 *
 * Input: commands [op u8][args...] until the bytes run out:
 *   0 TX      a packet on tx: 44 header bytes (src_cid forced to 4 unless
 *             a flag asks for a spoof, dst_cid picked among 2/5/6/raw, type
 *             and op folded into range most of the time), payload bytes
 *   1 DESC    a raw descriptor on tx or rx: index, addr (in memory, just
 *             past it, or raw 64 bits), len, flags (NEXT/WRITE/INDIRECT),
 *             next -- loops, holes, zero and huge lengths, nested indirect
 *   2 AVAIL   publish a head on tx or rx
 *   3 KICK    kick tx/rx/event and run the loop
 *   4 RXGIVE  n rx chains of a chosen buffer size
 *   5 RXTAKE  the guest consumes its used rx entries (sibling too)
 *   6 HOST    the host side: accept, write bytes, shut down, or close a
 *             peer (mid-transfer, either direction)
 *   7 CLIENT  a host client on <uds4>: "CONNECT <port>\n" or junk
 *   8 RESET   driver reset: detach, fresh rings, attach
 *   9 POKE    raw bytes into guest memory (indirect tables, headers)
 *  10 EVGIVE  an event-queue buffer
 * At the end the VM is detached and every host fd closed: the process
 * must hold as many fds as before (no leak), and LeakSanitizer checks heap.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "device/device.h"
#include "helper_fakeguest.h"
#include "vsk.h"
#include "wire.h"

#define MEM    (256u * 1024u)
#define MAXFD  64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dev *d;
static struct dev_vm *vm4, *vm5;
static struct fg g, g5;
static char dir[64];
static int lis_stream = -1, lis_seq = -1;
static int hfd[MAXFD], nh;

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct in *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes && in->n > 0; i++, in->p++, in->n--)
		v |= (uint64_t)in->p[0] << (8 * i);
	return v;
}

static int host_listen(const char *suffix, int type)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		abort();
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/u4%s", dir, suffix);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 64) < 0)
		abort();
	return fd;
}

static void cfg(struct dev_vm_cfg *c, uint32_t cid, const char *groups)
{
	memset(c, 0, sizeof(*c));
	c->cid = cid;
	snprintf(c->socket, sizeof(c->socket), "%s/v%u.sock", dir, cid);
	snprintf(c->uds, sizeof(c->uds), "%s/u%u", dir, cid);
	snprintf(c->groups, sizeof(c->groups), "%s", groups);
	c->tx_buf = 16384; /* small: credit limits are reached quickly */
}

static void init_once(void)
{
	struct dev_vm_cfg c;
	char err[256];

	if (d != NULL)
		return;
	snprintf(dir, sizeof(dir), "/tmp/vsk-fuzzdev.XXXXXX");
	if (mkdtemp(dir) == NULL || dev_create(&d, NULL, NULL) < 0)
		abort();
	cfg(&c, 4, "lab");
	if (dev_add_vm(d, &c, &vm4, err, sizeof(err)) < 0)
		abort();
	cfg(&c, 5, "lab");
	if (dev_add_vm(d, &c, &vm5, err, sizeof(err)) < 0)
		abort();
	cfg(&c, 6, "other");
	if (dev_add_vm(d, &c, NULL, err, sizeof(err)) < 0)
		abort();
	lis_stream = host_listen("_5", SOCK_STREAM);
	lis_seq = host_listen("_6", SOCK_SEQPACKET);
	/* Guest memory blocks live for the whole run (fresh blocks per input
	 * cost more than the input); fg_reset() zeroes them per input. */
	if (fg_init(&g, MEM) < 0 || fg_init(&g5, MEM) < 0)
		abort();
}

static int count_fds(void)
{
	DIR *dd = opendir("/proc/self/fd");
	int n = 0;

	if (dd == NULL)
		abort();
	while (readdir(dd) != NULL)
		n++;
	closedir(dd);
	return n;
}

static void attach(uint8_t feat)
{
	if (fg_reset(&g) < 0)
		abort();
	for (int i = 0; i < 3; i++) {
		g.q[i].q.indirect = feat & 1;
		g.q[i].q.event_idx = feat & 2;
	}
	dev_vm_attach(vm4, &g.q[0].q, &g.q[1].q, &g.q[2].q);
}

static void detach(void)
{
	dev_vm_detach(vm4);
}

static void run(int rounds)
{
	for (int i = 0; i < rounds; i++)
		if (dev_run_once(d, 0) < 0)
			abort();
}

static void host_add(int fd)
{
	if (fd < 0)
		return;
	if (nh == MAXFD) {
		close(fd);
		return;
	}
	hfd[nh++] = fd;
}

static void host_close(int i)
{
	close(hfd[i]);
	hfd[i] = hfd[--nh];
}

static void cmd_tx(struct in *in)
{
	uint8_t raw[WIRE_VIRTIO_HDR_LEN] = { 0 }, pl[4096];
	unsigned sel = (unsigned)take(in, 1);
	size_t plen, hn = in->n < sizeof(raw) ? in->n : sizeof(raw);
	struct wire_virtio h;
	static const uint64_t dst[] = { VSK_CID_HOST, 5, 6 };

	memcpy(raw, in->p, hn);
	in->p += hn;
	in->n -= hn;
	plen = (size_t)take(in, 2) % sizeof(pl);
	if (plen > in->n)
		plen = in->n;
	memcpy(pl, in->p, plen);
	in->p += plen;
	in->n -= plen;
	wire_virtio_decode(raw, sizeof(raw), &h);
	if (!(sel & 0x80))
		h.src_cid = 4; /* spoofs only when asked */
	if ((sel & 3) != 3)
		h.dst_cid = dst[sel & 3];
	if (!(sel & 0x40)) {
		h.type = (uint16_t)(1 + (h.type & 1));
		h.op = (uint16_t)(h.op % 8);
		h.dst_port = (h.dst_port & 1) ? 5 : 6;
		h.src_port = 1000 + (h.src_port & 7);
	}
	if (!(sel & 0x20))
		h.len = (uint32_t)plen; /* honest length */
	if (sel & 0x10) {
		wire_virtio_encode(&h, raw, sizeof(raw));
		uint8_t one[sizeof(raw) + sizeof(pl)];

		memcpy(one, raw, sizeof(raw));
		memcpy(one + sizeof(raw), pl, plen);
		fg_tx_raw(&g, one, (sel & 8) ? (size_t)(sel & 7) * 5 : sizeof(raw) + plen);
	} else {
		fg_tx(&g, &h, pl, plen);
	}
}

static void cmd_desc(struct in *in)
{
	unsigned qsel = (unsigned)take(in, 1);
	uint16_t idx = (uint16_t)take(in, 1);
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;

	switch ((qsel >> 1) & 3) {
	case 0: /* inside guest memory */
		addr = fg_gpa(&g, take(in, 3) % MEM);
		break;
	case 1: /* straddling or just past the end */
		addr = fg_gpa(&g, MEM - (take(in, 1) & 0x3f));
		break;
	case 2: /* below the base */
		addr = fg_gpa(&g, 0) - take(in, 2);
		break;
	default:
		addr = take(in, 8);
		break;
	}
	len = (uint32_t)take(in, 4);
	if (!(qsel & 8))
		len &= 0x1fff;
	flags = (uint16_t)(take(in, 1) & 7);
	next = (uint16_t)take(in, 2);
	fg_desc_raw(&g, (qsel & 1) ? 0 : 1, idx, addr, len, flags, next);
}

static void cmd_host(struct in *in)
{
	unsigned sel = (unsigned)take(in, 1);
	uint8_t buf[8192];
	int fd;

	while ((fd = accept4(lis_stream, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		host_add(fd);
	while ((fd = accept4(lis_seq, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		host_add(fd);
	if (nh == 0)
		return;
	int i = (int)((sel >> 2) % (unsigned)nh);

	switch (sel & 3) {
	case 0: { /* host writes (toward the guest) */
		size_t n = (size_t)take(in, 2) % sizeof(buf);

		memset(buf, (int)sel, n);
		(void)send(hfd[i], buf, n ? n : 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	}
	case 1: /* host reads (from the guest) */
		while (recv(hfd[i], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		break;
	case 2:
		shutdown(hfd[i], (sel & 0x10) ? SHUT_RD : SHUT_WR);
		break;
	default: /* the Unix peer dies, possibly with bytes unread */
		host_close(i);
		break;
	}
}

static void cmd_client(struct in *in)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	unsigned sel = (unsigned)take(in, 1);
	char line[40];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), n;

	if (fd < 0)
		abort();
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/u4", dir);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return;
	}
	if (sel & 1) {
		n = snprintf(line, sizeof(line), "CONNECT %u\n", (unsigned)take(in, 2));
	} else {
		n = (int)(take(in, 1) % sizeof(line));
		n = n > (int)in->n ? (int)in->n : n;
		memcpy(line, in->p, (size_t)n);
		in->p += n;
		in->n -= (size_t)n;
	}
	(void)send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (sel & 2)
		shutdown(fd, SHUT_WR);
	host_add(fd);
}

static void cmd_poke(struct in *in)
{
	uint32_t off = (uint32_t)(take(in, 3) % MEM);
	size_t n = (size_t)take(in, 1);

	if (n > in->n)
		n = in->n;
	if (n > MEM - off)
		n = MEM - off;
	memcpy(g.mem + off, in->p, n);
	in->p += n;
	in->n -= n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct wire_virtio h;
	int before;

	init_once();
	before = count_fds();
	if (fg_reset(&g5) < 0)
		abort();
	dev_vm_attach(vm5, &g5.q[0].q, &g5.q[1].q, &g5.q[2].q);
	attach((uint8_t)take(&in, 1));
	fg_rx_give(&g, 8, 4096);
	fg_rx_give(&g5, 8, 4096);
	run(1);
	for (int steps = 0; in.n > 0 && steps < 256; steps++) {
		switch (take(&in, 1) % 11) {
		case 0:
			cmd_tx(&in);
			break;
		case 1:
			cmd_desc(&in);
			break;
		case 2: {
			unsigned qsel = (unsigned)take(&in, 1);

			fg_avail_raw(&g, (qsel & 1) ? 0 : 1, (uint16_t)take(&in, 2));
			break;
		}
		case 3: {
			unsigned q = (unsigned)take(&in, 1) % 3;

			dev_vm_kick(vm4, q);
			run(2);
			break;
		}
		case 4: {
			static const uint32_t sizes[] = { 0, 1, 43, 44, 4096, 65536 };
			unsigned sel = (unsigned)take(&in, 1);

			fg_rx_give(&g, 1 + (sel & 7), sizes[(sel >> 3) % 6]);
			break;
		}
		case 5:
			while (fg_rx_take(&g, &h, NULL, 0, NULL) != 0)
				;
			while (fg_rx_take(&g5, &h, NULL, 0, NULL) != 0)
				;
			fg_rx_give(&g5, 4, 4096);
			dev_vm_kick(vm5, 0);
			break;
		case 6:
			cmd_host(&in);
			run(1);
			break;
		case 7:
			cmd_client(&in);
			run(2);
			break;
		case 8:
			detach();
			attach((uint8_t)take(&in, 1));
			fg_rx_give(&g, 8, 4096);
			break;
		case 9:
			cmd_poke(&in);
			break;
		default:
			fg_ev_give(&g);
			break;
		}
	}
	dev_vm_kick(vm4, 1);
	dev_vm_kick(vm4, 0);
	run(4);
	detach();
	while (nh > 0)
		host_close(0);
	dev_vm_detach(vm5);
	run(1);
	if (count_fds() != before)
		abort(); /* the device leaked an fd */
	if (dev_vm_nconns(vm4) != 0)
		abort();
	return 0;
}
