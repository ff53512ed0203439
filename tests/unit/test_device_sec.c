/* device: isolation and security.  A hostile fake guest (spoofed src_cid,
 * other groups, crafted descriptor chains into a canary zone outside its
 * memory table) and the host side's file system rules (socket modes,
 * stale files, symlinks, world-writable directories, port -> path).
 * No AF_VSOCK at all: the guest is tests/unit/helper_fakeguest.c, the
 * host side Unix sockets in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "helper_devtest.h"
#include "device/dev_hostsock.h"
#include "device/device.h"
#include "helper_fakeguest.h"
#include "vsk.h"
#include "wire.h"
#include "helper_tmp.h"

#define VISIBLE  (1u << 20)   /* guest memory table: the first 1 MiB */
#define BLOCK    (2u << 20)   /* allocated: the second MiB is the canary zone */
#define CANARY   0x5a
#define F_NEXT   1
#define F_WRITE  2
#define F_INDIR  4

struct fx {
	char dir[64];
	struct dev *d;
	struct dev_vm *vm4, *vm5, *vm6;
	struct fg g4, g5, g6;
	struct dt_log lg;
};

static void spin(struct fx *f)
{
	for (int i = 0; i < 8; i++)
		assert_int_equal(dev_run_once(f->d, 2), 0);
}

static void guest_up(struct fx *f, struct fg *g, struct dev_vm *vm)
{
	assert_int_equal(fg_init(g, BLOCK), 0);
	fg_shrink(g, VISIBLE);
	memset(g->mem + VISIBLE, CANARY, BLOCK - VISIBLE);
	for (int i = 0; i < 3; i++)
		g->q[i].q.indirect = true;
	dev_vm_attach(vm, &g->q[0].q, &g->q[1].q, &g->q[2].q);
	fg_rx_give(g, 32, 4096);
	dev_vm_kick(vm, 0);
	spin(f);
}

/* VM 4 and 5 share group "lab"; VM 6 is in "lab2" (a name that only
 * starts like it). */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct dev_vm_cfg c;
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vsk-devsec.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(dev_create(&f->d, dt_log, &f->lg), 0);
	dt_vm_cfg(f->dir, &c, 4, "lab", 0);
	assert_int_equal(dev_add_vm(f->d, &c, &f->vm4, err, sizeof(err)), 0);
	dt_vm_cfg(f->dir, &c, 5, "x+lab", 0);
	assert_int_equal(dev_add_vm(f->d, &c, &f->vm5, err, sizeof(err)), 0);
	dt_vm_cfg(f->dir, &c, 6, "lab2+la", 0);
	assert_int_equal(dev_add_vm(f->d, &c, &f->vm6, err, sizeof(err)), 0);
	guest_up(f, &f->g4, f->vm4);
	guest_up(f, &f->g5, f->vm5);
	guest_up(f, &f->g6, f->vm6);
	*state = f;
	return 0;
}

static bool canary_ok(const struct fg *g)
{
	for (size_t i = VISIBLE; i < BLOCK; i++)
		if (g->mem[i] != CANARY)
			return false;
	return true;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	assert_true(canary_ok(&f->g4));
	dev_destroy(f->d);
	fg_free(&f->g4);
	fg_free(&f->g5);
	fg_free(&f->g6);
	if (rm_tree(f->dir) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

static int listen_at(const char *path, int type)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static int host_listen(struct fx *f, uint32_t cid, uint32_t port)
{
	char path[108];

	snprintf(path, sizeof(path), "%s/u%u_%u", f->dir, cid, port);
	return listen_at(path, SOCK_STREAM);
}

/* accept() on a non-blocking listener: the fd, or -1 if nobody came. */
static int try_accept(int lfd)
{
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

static void gsend(struct fx *f, struct fg *g, struct dev_vm *vm, uint64_t src, uint32_t sport, uint64_t dst,
		  uint32_t dport, uint16_t op, const void *p, size_t len)
{
	struct wire_virtio h;

	fg_hdr(&h, src, sport, dst, dport, WIRE_TYPE_STREAM, op, (uint32_t)len, 0, 65536, 0);
	fg_tx(g, &h, p, len);
	dev_vm_kick(vm, 1);
	spin(f);
}

static int take(struct fx *f, struct fg *g, struct wire_virtio *h)
{
	spin(f);
	return fg_rx_take(g, h, NULL, 0, NULL);
}

/* VM 5 still reaches the host: the device and the other VMs go on. */
static void others_fine(struct fx *f)
{
	int lfd = host_listen(f, 5, 7777), fd;
	struct wire_virtio h;

	gsend(f, &f->g5, f->vm5, 5, 3000, VSK_CID_HOST, 7777, WIRE_OP_REQUEST, NULL, 0);
	fd = try_accept(lfd);
	assert_true(fd >= 0);
	assert_int_equal(take(f, &f->g5, &h), 1);
	assert_int_equal(h.op, WIRE_OP_RESPONSE);
	gsend(f, &f->g5, f->vm5, 5, 3000, VSK_CID_HOST, 7777, WIRE_OP_RST, NULL, 0);
	close(fd);
	close(lfd);
	{
		char path[108];

		snprintf(path, sizeof(path), "%s/u5_7777", f->dir);
		unlink(path);
	}
}

/* ------------------------------------------------------ spoofing, groups */

static void test_spoofed_src_cid(void **state)
{
	static const uint64_t fakes[] = { 5, 6, VSK_CID_HOST, 0, 1, 4 + (1ull << 32), UINT64_MAX };
	struct fx *f = *state;
	int lfd = host_listen(f, 4, 4050);
	struct wire_virtio h;
	struct dev_stats s;

	for (size_t i = 0; i < sizeof(fakes) / sizeof(fakes[0]); i++) {
		/* To the host, and to the sibling whose CID it claims. */
		gsend(f, &f->g4, f->vm4, fakes[i], 1000, VSK_CID_HOST, 4050, WIRE_OP_REQUEST, NULL, 0);
		gsend(f, &f->g4, f->vm4, fakes[i], 1001, 5, 6000, WIRE_OP_REQUEST, NULL, 0);
		gsend(f, &f->g4, f->vm4, fakes[i], 1002, 5, 6000, WIRE_OP_RW, "x", 1);
	}
	assert_int_equal(try_accept(lfd), -1);       /* the host saw nothing */
	assert_int_equal(take(f, &f->g5, &h), 0);      /* nor did the sibling */
	assert_int_equal(take(f, &f->g4, &h), 0);      /* and no RST gives hints */
	assert_int_equal(dev_vm_nconns(f->vm4), 0);
	dev_get_stats(f->d, f->vm4, &s);
	assert_int_equal(s.drops, 3 * (sizeof(fakes) / sizeof(fakes[0])));
	assert_int_equal(s.sibling, 0);
	/* The same packets with the true CID do go through. */
	gsend(f, &f->g4, f->vm4, 4, 1003, 5, 6000, WIRE_OP_REQUEST, NULL, 0);
	assert_int_equal(take(f, &f->g5, &h), 1);
	assert_int_equal(h.src_cid, 4);
	close(lfd);
	others_fine(f);
}

/* VM 6 ("lab2+la") shares no group with 4 ("lab"): no op of any kind
 * reaches it, each non-RST gets an RST back; 5 is reachable. */
static void test_other_group_unreachable(void **state)
{
	static const uint16_t ops[] = { WIRE_OP_REQUEST, WIRE_OP_RESPONSE, WIRE_OP_RW, WIRE_OP_SHUTDOWN,
					 WIRE_OP_CREDIT_UPDATE, WIRE_OP_CREDIT_REQUEST, WIRE_OP_RST };
	struct fx *f = *state;
	struct wire_virtio h;
	struct dev_stats s;

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		gsend(f, &f->g4, f->vm4, 4, 1100, 6, 6000, ops[i], ops[i] == WIRE_OP_RW ? "data" : NULL,
		      ops[i] == WIRE_OP_RW ? 4 : 0);
		if (ops[i] == WIRE_OP_RST) {
			assert_int_equal(take(f, &f->g4, &h), 0); /* never RST an RST */
		} else {
			assert_int_equal(take(f, &f->g4, &h), 1);
			assert_int_equal(h.op, WIRE_OP_RST);
			assert_int_equal(h.src_cid, 6);
			assert_int_equal(h.dst_cid, 4);
		}
		assert_int_equal(take(f, &f->g6, &h), 0);
	}
	/* Nor the other way round, and 6 cannot reach 5 either. */
	gsend(f, &f->g6, f->vm6, 6, 1200, 4, 1100, WIRE_OP_REQUEST, NULL, 0);
	assert_int_equal(take(f, &f->g4, &h), 0);
	gsend(f, &f->g6, f->vm6, 6, 1201, 5, 1100, WIRE_OP_REQUEST, NULL, 0);
	assert_int_equal(take(f, &f->g5, &h), 0);
	dev_get_stats(f->d, f->vm6, &s);
	assert_int_equal(s.sibling, 0);
	/* A CID that exists nowhere: RST too, and never to the host. */
	gsend(f, &f->g4, f->vm4, 4, 1101, 77, 6000, WIRE_OP_REQUEST, NULL, 0);
	assert_int_equal(take(f, &f->g4, &h), 1);
	assert_int_equal(h.op, WIRE_OP_RST);
	/* Same group: through. */
	gsend(f, &f->g4, f->vm4, 4, 1102, 5, 6000, WIRE_OP_REQUEST, NULL, 0);
	assert_int_equal(take(f, &f->g5, &h), 1);
	assert_int_equal(h.op, WIRE_OP_REQUEST);
}

/* ------------------------------------------------ crafted descriptors */

/* One crafted chain on VM 4's tx queue (head at descriptor 100). */
static void tx_chain(struct fx *f, void (*build)(struct fg *g))
{
	build(&f->g4);
	fg_avail_raw(&f->g4, 1, 100);
	dev_vm_kick(f->vm4, 1);
	spin(f);
}

static uint64_t canary_gpa(const struct fg *g)
{
	return fg_gpa(g, VISIBLE);
}

/* A valid REQUEST to host port 4050, written where the chain points (in
 * the canary zone it is only reachable by a device that ignores the table). */
static void put_request(struct fg *g, uint64_t off)
{
	struct wire_virtio h;

	fg_hdr(&h, 4, 1300, VSK_CID_HOST, 4050, WIRE_TYPE_STREAM, WIRE_OP_REQUEST, 0, 0, 65536, 0);
	wire_virtio_encode(&h, g->mem + off, WIRE_VIRTIO_HDR_LEN);
}

static void c_beyond(struct fg *g)
{
	fg_desc_raw(g, 1, 100, canary_gpa(g), WIRE_VIRTIO_HDR_LEN, 0, 0);
}

static void c_straddle(struct fg *g)
{
	fg_desc_raw(g, 1, 100, canary_gpa(g) - 20, WIRE_VIRTIO_HDR_LEN, 0, 0);
}

static void c_below(struct fg *g)
{
	fg_desc_raw(g, 1, 100, fg_gpa(g, 0) - 8, WIRE_VIRTIO_HDR_LEN, 0, 0);
}

static void c_wrap(struct fg *g)
{
	fg_desc_raw(g, 1, 100, UINT64_MAX - 15, WIRE_VIRTIO_HDR_LEN, 0, 0);
}

static void c_huge(struct fg *g)
{
	fg_desc_raw(g, 1, 100, fg_gpa(g, 0x40000), UINT32_MAX, 0, 0);
}

static void c_loop(struct fg *g)
{
	fg_desc_raw(g, 1, 100, fg_gpa(g, 0x40000), 16, F_NEXT, 101);
	fg_desc_raw(g, 1, 101, fg_gpa(g, 0x40010), 16, F_NEXT, 100);
}

static void c_next_range(struct fg *g)
{
	fg_desc_raw(g, 1, 100, fg_gpa(g, 0x40000), 16, F_NEXT, 60000);
}

static void c_nested_indirect(struct fg *g)
{
	/* Table at 0x41000 whose only entry is itself INDIRECT (to itself). */
	fg_desc_raw(g, 1, 100, fg_gpa(g, 0x41000), 16, F_INDIR, 0);
	wire_st64(g->mem + 0x41000, fg_gpa(g, 0x41000));
	wire_st32(g->mem + 0x41008, 16);
	wire_st16(g->mem + 0x4100c, F_INDIR);
	wire_st16(g->mem + 0x4100e, 0);
}

static void c_indirect_outside(struct fg *g)
{
	fg_desc_raw(g, 1, 100, canary_gpa(g), 64, F_INDIR, 0);
}

static void c_indirect_to_canary(struct fg *g)
{
	/* An in-memory table whose entry points past the table's end. */
	fg_desc_raw(g, 1, 100, fg_gpa(g, 0x42000), 16, F_INDIR, 0);
	wire_st64(g->mem + 0x42000, canary_gpa(g) + 64);
	wire_st32(g->mem + 0x42008, WIRE_VIRTIO_HDR_LEN);
	wire_st16(g->mem + 0x4200c, 0);
	wire_st16(g->mem + 0x4200e, 0);
}

static void c_indirect_badlen(struct fg *g)
{
	fg_desc_raw(g, 1, 100, fg_gpa(g, 0x43000), 17, F_INDIR, 0);
}

static void c_too_many(struct fg *g)
{
	for (uint16_t i = 0; i < VQ_MAX_IOV + 2; i++)
		fg_desc_raw(g, 1, (uint16_t)(100 + i), fg_gpa(g, 0x44000 + 2u * i), 1, F_NEXT, (uint16_t)(101 + i));
	fg_desc_raw(g, 1, (uint16_t)(100 + VQ_MAX_IOV + 2), fg_gpa(g, 0x44100), 1, 0, 0);
}

static void c_write_then_read(struct fg *g)
{
	fg_desc_raw(g, 1, 100, fg_gpa(g, 0x45000), 44, F_WRITE | F_NEXT, 101);
	fg_desc_raw(g, 1, 101, fg_gpa(g, 0x45100), 44, 0, 0);
}

/* Every chain that leaves guest memory (or is malformed) stops VM 4's tx
 * queue with a log line: the REQUEST in the canary zone never reaches the
 * host listener, the canary zone is untouched, VM 5 goes on, and a driver
 * reset brings VM 4 back. */
static void test_crafted_tx_chains(void **state)
{
	static void (*const chains[])(struct fg *) = {
		c_beyond, c_straddle, c_below, c_wrap, c_huge, c_loop, c_next_range, c_nested_indirect,
		c_indirect_outside, c_indirect_to_canary, c_indirect_badlen, c_too_many, c_write_then_read,
	};
	struct fx *f = *state;
	int lfd = host_listen(f, 4, 4050);
	static uint8_t snap[4096];

	put_request(&f->g4, VISIBLE);
	put_request(&f->g4, VISIBLE + 64);
	memcpy(snap, f->g4.mem + VISIBLE, sizeof(snap));
	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
		char what[64];

		f->lg.len = 0;
		f->lg.text[0] = '\0';
		tx_chain(f, chains[i]);
		snprintf(what, sizeof(what), "chain %zu", i);
		if (strstr(f->lg.text, "malformed descriptor chain on the tx queue") == NULL)
			fail_msg("%s: no 'malformed descriptor chain' log line: %s", what, f->lg.text);
		assert_int_equal(try_accept(lfd), -1);
		assert_int_equal(dev_vm_nconns(f->vm4), 0);
		/* The canary zone holds REQUESTs: not read (no connection
		 * above), and not written. */
		assert_memory_equal(f->g4.mem + VISIBLE, snap, sizeof(snap));
		others_fine(f);
		/* Driver reset: fresh rings, the VM is served again. */
		dev_vm_detach(f->vm4);
		assert_int_equal(fg_reset(&f->g4), 0);
		for (int q = 0; q < 3; q++)
			f->g4.q[q].q.indirect = true;
		dev_vm_attach(f->vm4, &f->g4.q[0].q, &f->g4.q[1].q, &f->g4.q[2].q);
		fg_rx_give(&f->g4, 8, 4096);
		spin(f);
	}
	/* A clean connection after all that. */
	gsend(f, &f->g4, f->vm4, 4, 1400, VSK_CID_HOST, 4050, WIRE_OP_REQUEST, NULL, 0);
	{
		int fd = try_accept(lfd);

		assert_true(fd >= 0);
		close(fd);
	}
	close(lfd);
	memset(f->g4.mem + VISIBLE, CANARY, 128); /* the REQUESTs, for teardown's check */
}

/* rx chains (device-writable) into the canary zone, straddling the end of
 * memory, or read-only: the device writes nothing outside guest memory. */
static void test_crafted_rx_chains(void **state)
{
	struct fx *f = *state;
	struct fg *g = &f->g4;
	uint64_t base = canary_gpa(g);
	struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
	} bad[] = {
		{ base, 4096, F_WRITE },
		{ base - 10, 4096, F_WRITE },
		{ fg_gpa(g, 0x46000), 4096, 0 },        /* not writable */
		{ fg_gpa(g, 0x46000), UINT32_MAX, F_WRITE },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		int cfd;

		/* Use up the good rx buffers, then offer the crafted one. */
		dev_vm_detach(f->vm4);
		assert_int_equal(fg_reset(g), 0);
		memset(g->mem + VISIBLE, CANARY, BLOCK - VISIBLE);
		dev_vm_attach(f->vm4, &g->q[0].q, &g->q[1].q, &g->q[2].q);
		fg_desc_raw(g, 0, 100, bad[i].addr, bad[i].len, bad[i].flags, 0);
		fg_avail_raw(g, 0, 100);
		dev_vm_kick(f->vm4, 0);
		spin(f);
		/* Something for the guest: a host client asks for port 5000. */
		cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(cfd >= 0);
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/u4", f->dir);
		assert_int_equal(connect(cfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
		assert_int_equal(write(cfd, "CONNECT 5000\n", 13), 13);
		spin(f);
		assert_true(canary_ok(g));
		close(cfd);
		spin(f);
	}
	others_fine(f);
}

/* -------------------------------------------------- the host side files */

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	return st.st_mode & 07777;
}

static void test_socket_mode(void **state)
{
	struct fx *f = *state;
	struct dev_vm_cfg c;
	char path[128], err[256];
	mode_t old = umask(0);    /* the mode must not depend on the umask */

	snprintf(path, sizeof(path), "%s/v4.sock", f->dir);
	assert_int_equal(mode_of(path), 0600);
	snprintf(path, sizeof(path), "%s/u4", f->dir);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(dev_set_socket_mode(f->d, 01000), -EINVAL);
	assert_int_equal(dev_set_socket_mode(f->d, 0660), 0);
	dt_vm_cfg(f->dir, &c, 7, "", 0);
	assert_int_equal(dev_add_vm(f->d, &c, NULL, err, sizeof(err)), 0);
	assert_int_equal(mode_of(c.socket), 0660);
	assert_int_equal(mode_of(c.uds), 0660);
	umask(old);
}

static void test_stale_files(void **state)
{
	struct fx *f = *state;
	struct dev_vm_cfg c;
	char err[256], other[128], buf[16];
	int fd, lfd;

	/* A socket file nobody listens on: replaced. */
	dt_vm_cfg(f->dir, &c, 8, "", 0);
	close(listen_at(c.socket, SOCK_STREAM));
	assert_int_equal(dev_add_vm(f->d, &c, NULL, err, sizeof(err)), 0);
	/* A regular file: left alone, with its bytes. */
	dt_vm_cfg(f->dir, &c, 9, "", 0);
	fd = open(c.uds, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "precious", 8), 8);
	close(fd);
	assert_int_equal(dev_add_vm(f->d, &c, NULL, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "not a socket"));
	fd = open(c.uds, O_RDONLY | O_CLOEXEC);
	assert_int_equal(read(fd, buf, sizeof(buf)), 8);
	close(fd);
	assert_int_equal(access(c.socket, F_OK), -1); /* the half-made VM cleaned up */
	/* A symlink (to a stale socket): neither it nor its target replaced. */
	dt_vm_cfg(f->dir, &c, 10, "", 0);
	snprintf(other, sizeof(other), "%s/elsewhere", f->dir);
	close(listen_at(other, SOCK_STREAM));
	assert_int_equal(symlink(other, c.socket), 0);
	assert_int_equal(dev_add_vm(f->d, &c, NULL, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "symlink"));
	{
		struct stat st;

		assert_int_equal(lstat(c.socket, &st), 0);
		assert_true(S_ISLNK(st.st_mode));
	}
	/* A live socket (another device): not stolen. */
	dt_vm_cfg(f->dir, &c, 11, "", 0);
	lfd = listen_at(c.uds, SOCK_STREAM);
	assert_int_equal(dev_add_vm(f->d, &c, NULL, err, sizeof(err)), -EADDRINUSE);
	close(lfd);
}

static void test_world_writable_dir(void **state)
{
	struct fx *f = *state;
	struct dev_vm_cfg c;
	char sub[96], err[256];

	snprintf(sub, sizeof(sub), "%s/open", f->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(chmod(sub, 0777), 0);
	dt_vm_cfg(sub, &c, 12, "", 0);
	assert_int_equal(dev_add_vm(f->d, &c, NULL, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "writable by every user"));
	/* Sticky (like /tmp): others cannot remove our files; accepted. */
	assert_int_equal(chmod(sub, 01777), 0);
	assert_int_equal(dev_add_vm(f->d, &c, NULL, err, sizeof(err)), 0);
}

/* "<uds>_P" a symlink to a live listener elsewhere: not followed (RST),
 * the listener never sees the guest; a real socket there works. */
static void test_uds_port_symlink(void **state)
{
	struct fx *f = *state;
	char target[128], link[128];
	struct wire_virtio h;
	int lfd, fd;

	snprintf(target, sizeof(target), "%s/private.sock", f->dir);
	snprintf(link, sizeof(link), "%s/u4_4050", f->dir);
	lfd = listen_at(target, SOCK_STREAM);
	assert_int_equal(symlink(target, link), 0);
	gsend(f, &f->g4, f->vm4, 4, 1500, VSK_CID_HOST, 4050, WIRE_OP_REQUEST, NULL, 0);
	assert_int_equal(take(f, &f->g4, &h), 1);
	assert_int_equal(h.op, WIRE_OP_RST);
	assert_int_equal(try_accept(lfd), -1);
	assert_non_null(strstr(f->lg.text, "is a symlink: not followed"));
	/* A regular file there is no socket either. */
	assert_int_equal(unlink(link), 0);
	fd = open(link, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	close(fd);
	gsend(f, &f->g4, f->vm4, 4, 1501, VSK_CID_HOST, 4050, WIRE_OP_REQUEST, NULL, 0);
	assert_int_equal(take(f, &f->g4, &h), 1);
	assert_int_equal(h.op, WIRE_OP_RST);
	assert_int_equal(unlink(link), 0);
	close(lfd);
	lfd = host_listen(f, 4, 4050);
	gsend(f, &f->g4, f->vm4, 4, 1502, VSK_CID_HOST, 4050, WIRE_OP_REQUEST, NULL, 0);
	assert_int_equal(take(f, &f->g4, &h), 1);
	assert_int_equal(h.op, WIRE_OP_RESPONSE);
	fd = try_accept(lfd);
	assert_true(fd >= 0);
	close(fd);
	close(lfd);
}

/* Ports are u32 decimals: "<uds>_P" stays in the uds directory, and a
 * name that would not fit is refused, never truncated. */
static void test_port_paths(void **state)
{
	static const uint32_t ports[] = { 0, 1, 9, 4050, 0x40000000u, 0x7fffffffu, UINT32_MAX - 1, UINT32_MAX };
	struct fx *f = *state;
	struct sockaddr_un sun;
	struct dev_vm_cfg c;
	char want[128], err[256], uds[128];
	size_t dirlen = strlen(f->dir);

	snprintf(uds, sizeof(uds), "%s/u4", f->dir);
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		const char *tail;

		assert_int_equal(hostsock_port_path(uds, ports[i], &sun), 0);
		snprintf(want, sizeof(want), "%s/u4_%u", f->dir, ports[i]);
		assert_string_equal(sun.sun_path, want);
		/* Same directory, and nothing after "_" but digits. */
		assert_int_equal(strrchr(sun.sun_path, '/') - sun.sun_path, (long)dirlen);
		tail = strrchr(sun.sun_path, '_') + 1;
		assert_int_equal(strspn(tail, "0123456789"), strlen(tail));
		assert_null(strstr(sun.sun_path + dirlen, ".."));
	}
	/* The longest uds-path the config accepts still fits every port... */
	dt_vm_cfg(f->dir, &c, 13, "", 0);
	memset(c.uds, 'a', 96);
	c.uds[0] = '/';
	c.uds[96] = '\0';
	assert_int_equal(dev_cfg_check(&c, 1, err, sizeof(err)), 0);
	/* ...and one byte more is refused up front. */
	c.uds[96] = 'a';
	c.uds[97] = '\0';
	assert_int_equal(dev_cfg_check(&c, 1, err, sizeof(err)), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spoofed_src_cid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_group_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crafted_tx_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crafted_rx_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_world_writable_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uds_port_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_paths, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
