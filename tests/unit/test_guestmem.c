/* Unit tests for lib/vhost/guestmem.c: what may be mapped as guest memory (file
 * systems, sizes, seals, page rounding, limits), munmap of every mapping,
 * and the SIGBUS/SIGSEGV guard: a front end that shrinks its memory file
 * breaks its queues, never the process, while real bugs still crash
 * (checked in forked children). */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "virtq.h"

#define QVA 0x7f3000000000ull

static void put16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }

static void raw_region(uint8_t raw[32], uint64_t gpa, uint64_t size, uint64_t qva, uint64_t off)
{
	put64(raw, gpa);
	put64(raw + 8, size);
	put64(raw + 16, qva);
	put64(raw + 24, off);
}

static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;

	assert_non_null(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static int memfd(const char *name, unsigned flags, off_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC | flags);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	return fd;
}

/* Map [0, SIZE) of FD as the only region of M (gpa 0, qva QVA). */
static int map_one(struct vu_mem *m, int fd, uint64_t size, char *why, size_t whylen)
{
	uint8_t raw[32];
	int rc;

	raw_region(raw, 0, size, QVA, 0);
	rc = vu_mem_map_region(m, &m->r[0], raw, fd, UINT64_MAX, why, whylen);
	if (rc == 0)
		m->n = 1;
	return rc;
}

/* /proc/meminfo field NAME (kB or a count), -1 if absent. */
static long meminfo(const char *name)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, strlen(name)) && line[strlen(name)] == ':')
			v = strtol(line + strlen(name) + 1, NULL, 10);
	fclose(f);
	return v;
}

/* ------------------------------------------------------------ mapping */

static void test_seal_and_round(void **state)
{
	struct vu_mem m = { 0 };
	uint8_t raw[32];
	char why[192];
	long page = sysconf(_SC_PAGESIZE);
	int fd = memfd("sealable", MFD_ALLOW_SEALING, 4 * page), plain = memfd("plain", 0, 4 * page);

	/* A sealable memfd can no longer shrink once mapped (grow: fine). */
	raw_region(raw, 0x1000, 100, QVA, page + 100);
	assert_int_equal(pwrite(fd, "xyz", 3, page + 100), 3);
	assert_int_equal(vu_mem_map_region(&m, &m.r[0], raw, fd, UINT64_MAX, why, sizeof(why)), 0);
	assert_true(m.r[0].sealed);
	assert_true(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK);
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(fd, 8 * page), 0);
	/* Only the page holding the region is mapped, not the file from 0. */
	assert_int_equal(m.r[0].map_off, (uint64_t)page);
	assert_int_equal(m.r[0].map_len, (size_t)page);
	assert_memory_equal(m.r[0].host, "xyz", 3);
	assert_int_equal(vu_mem_unmap_region(&m.r[0]), 0);
	/* A memfd without MFD_ALLOW_SEALING is mapped unsealed (guarded). */
	raw_region(raw, 0, 2 * page + 1, QVA, 0);
	assert_int_equal(vu_mem_map_region(&m, &m.r[0], raw, plain, UINT64_MAX, why, sizeof(why)), 0);
	assert_false(m.r[0].sealed);
	assert_int_equal(m.r[0].map_len, (size_t)(3 * page));
	assert_int_equal(vu_mem_unmap_region(&m.r[0]), 0);
	close(fd);
	close(plain);
}

static void test_refused_files(void **state)
{
	struct vu_mem m = { 0 };
	char why[192], path[] = "vsk-guestmem-XXXXXX";
	struct statfs sfs;
	uint8_t raw[32];
	int fd, p[2];

	raw_region(raw, 0, 4096, QVA, 0);
	/* A regular file on a disk file system (the build directory). */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(fstatfs(fd, &sfs), 0);
	if (sfs.f_type != 0x01021994) {
		assert_int_equal(vu_mem_map_region(&m, &m.r[0], raw, fd, UINT64_MAX, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "file system"));
		assert_null(m.r[0].map);
	}
	close(fd);
	/* Not a file at all. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(vu_mem_map_region(&m, &m.r[0], raw, p[0], UINT64_MAX, why, sizeof(why)), -EINVAL);
	close(p[0]);
	close(p[1]);
	/* Shorter than offset + size. */
	fd = memfd("short", 0, 4096);
	raw_region(raw, 0, 4096, QVA, 1);
	assert_int_equal(vu_mem_map_region(&m, &m.r[0], raw, fd, UINT64_MAX, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "file has"));
	close(fd);
}

static void test_limits(void **state)
{
	struct vu_mem m = { 0 };
	uint64_t bytes, maxb;
	unsigned regions, maxr;
	uint8_t raw[32];
	char why[192];
	int fd = memfd("limits", 0, 1 << 20);

	raw_region(raw, 0, 1 << 20, QVA, 0);
	/* The table's budget. */
	assert_int_equal(vu_mem_map_region(&m, &m.r[0], raw, fd, (1 << 20) - 1, why, sizeof(why)), -ENOMEM);
	assert_non_null(strstr(why, "limit"));
	/* The process's bytes and regions. */
	vu_mem_process_usage(&bytes, &regions, &maxb, &maxr);
	assert_int_equal(maxb, VU_PROC_MAX_BYTES_DEFAULT);
	assert_int_equal(maxr, VU_PROC_MAX_REGIONS_DEFAULT);
	vu_mem_set_process_limits(bytes + (1 << 19), 0);
	assert_int_equal(vu_mem_map_region(&m, &m.r[0], raw, fd, UINT64_MAX, why, sizeof(why)), -ENOMEM);
	assert_non_null(strstr(why, "process"));
	vu_mem_set_process_limits(VU_PROC_MAX_BYTES_DEFAULT, 0);
	assert_int_equal(vu_mem_map_region(&m, &m.r[0], raw, fd, UINT64_MAX, why, sizeof(why)), 0);
	vu_mem_process_usage(NULL, &regions, NULL, NULL);
	vu_mem_set_process_limits(0, regions);
	assert_int_equal(vu_mem_map_region(&m, &m.r[1], raw, fd, UINT64_MAX, why, sizeof(why)), -ENOSPC);
	assert_non_null(strstr(why, "regions"));
	vu_mem_set_process_limits(0, VU_PROC_MAX_REGIONS_DEFAULT);
	vu_mem_process_usage(&bytes, &regions, NULL, NULL);
	m.n = 1;
	assert_int_equal(vu_mem_mapped(&m), 1 << 20);
	assert_int_equal(vu_mem_clear(&m), 0);
	{
		uint64_t b2;
		unsigned r2;

		vu_mem_process_usage(&b2, &r2, NULL, NULL);
		assert_int_equal(b2, bytes - (1 << 20));
		assert_int_equal(r2, regions - 1);
	}
	close(fd);
}

/* Map and unmap many times: no mapping left behind. */
static void test_no_leak(void **state)
{
	struct vu_mem m = { 0 };
	char why[192];
	int fd = memfd("cycle", 0, 1 << 16), before;

	before = count_maps();
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(map_one(&m, fd, 4096, why, sizeof(why)), 0);
		assert_int_equal(vu_mem_clear(&m), 0);
	}
	assert_int_equal(count_maps(), before);
	close(fd);
}

/* hugetlbfs: the reservation happens at mmap, so too few free huge pages
 * is an ENOMEM now rather than a SIGBUS on first touch. */
static void test_hugetlb_shortage(void **state)
{
	long hp = meminfo("Hugepagesize"), free_hp = meminfo("HugePages_Free");
	struct vu_mem m = { 0 };
	char why[192], buf[32] = "";
	FILE *f = fopen("/proc/sys/vm/nr_overcommit_hugepages", "r");
	int fd;

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	fd = memfd_create("huge", MFD_CLOEXEC | MFD_HUGETLB);
	if (fd < 0 || hp <= 0 || free_hp < 0) {
		if (fd >= 0)
			close(fd);
		print_message("skipped: no hugetlbfs in this kernel (memfd_create MFD_HUGETLB)\n");
		skip();
	}
	if (free_hp > 16 || atol(buf) > 0) {
		close(fd);
		print_message("skipped: %ld free (or overcommitted) huge pages, too many to run out of\n", free_hp);
		skip();
	}
	assert_int_equal(ftruncate(fd, (free_hp + 1) * hp * 1024), 0);
	assert_int_equal(map_one(&m, fd, (uint64_t)(free_hp + 1) * hp * 1024, why, sizeof(why)), -ENOMEM);
	assert_non_null(strstr(why, "huge pages"));
	close(fd);
}

/* A 4 KiB region of a hugetlbfs file maps a whole huge page and must be
 * unmapped as one (an unrounded munmap fails with EINVAL: a leak). */
static void test_hugetlb_unmap(void **state)
{
	long hp = meminfo("Hugepagesize"), free_hp = meminfo("HugePages_Free");
	struct vu_mem m = { 0 };
	char why[192];
	int fd, before;

	if (free_hp < 1 || hp <= 0) {
		print_message("skipped: needs one free huge page (vm.nr_hugepages is 0 or all in use)\n");
		skip();
	}
	fd = memfd_create("huge", MFD_CLOEXEC | MFD_HUGETLB);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, hp * 1024), 0);
	before = count_maps();
	for (int i = 0; i < 500; i++) {
		assert_int_equal(map_one(&m, fd, 4096, why, sizeof(why)), 0);
		assert_true(m.r[0].hugetlb);
		assert_int_equal(m.r[0].map_len, (size_t)hp * 1024);
		m.r[0].host[0] = (uint8_t)i;
		assert_int_equal(vu_mem_clear(&m), 0);
	}
	assert_int_equal(count_maps(), before);
	close(fd);
}

/* -------------------------------------------------------------- guard */

#define NUM 8
#define RING 0x0000     /* desc; avail +0x1000, used +0x2000 */
#define BUF  0x4000

struct shrunk {
	int fd;
	struct vu_mem m;
	struct vq q;
};

/* A ring in a memfd (no sealing) with one chain available, mapped as a
 * table; the guest's view is written with pwrite, never mapped. */
static void shrunk_setup(struct shrunk *s, uint64_t qva_of_table)
{
	uint8_t b[16];
	char why[192];

	memset(s, 0, sizeof(*s));
	s->fd = memfd("shrunk", 0, 1 << 16);
	put64(b, BUF);
	put32(b + 8, 44);
	put16(b + 12, 0);
	put16(b + 14, 0);
	assert_int_equal(pwrite(s->fd, b, 16, RING), 16);
	put16(b, 0);
	put16(b + 2, 1);      /* avail idx 1 */
	put16(b + 4, 0);      /* ring[0] = head 0 */
	assert_int_equal(pwrite(s->fd, b, 6, RING + 0x1000), 6);
	assert_int_equal(map_one(&s->m, s->fd, 1 << 16, why, sizeof(why)), 0);
	vq_init(&s->q);
	s->q.num = NUM;
	s->q.desc_qva = qva_of_table + RING;
	s->q.avail_qva = qva_of_table + RING + 0x1000;
	s->q.used_qva = qva_of_table + RING + 0x2000;
	assert_int_equal(vq_map(&s->q, &s->m), 0);
}

static void test_guard_shrunk(void **state)
{
	struct shrunk s;
	struct vq_elem e;
	struct iovec iov;
	uint8_t buf[64];
	int call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	assert_int_equal(vu_guard_install(), 0);
	shrunk_setup(&s, QVA);
	s.q.call_fd = call;
	iov.iov_base = s.m.r[0].host + BUF;
	iov.iov_len = sizeof(buf);
	/* The front end truncates its memory file under the mapping. */
	assert_int_equal(ftruncate(s.fd, 0), 0);
	assert_int_equal(vq_pop(&s.q, &e), -EFAULT);
	assert_true(s.q.broken);
	assert_true(s.m.faulted);
	assert_int_equal(e.out_num + e.in_num, 0);
	assert_int_equal(vq_pop(&s.q, &e), -EIO);
	assert_int_equal(vq_avail(&s.q), 0);
	assert_int_equal(vq_notify(&s.q), 0);
	vq_disable_notify(&s.q);
	assert_int_equal(vq_enable_notify(&s.q), 0);
	/* Copies: 0, and our buffer holds no stale bytes. */
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(vq_iov_to_buf(&iov, 1, 0, buf, sizeof(buf)), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(vq_buf_to_iov(&iov, 1, 0, buf, sizeof(buf)), 0);
	/* A second queue on the same table breaks at its first use. */
	{
		struct vq q2 = s.q;

		q2.broken = false;
		s.m.faulted = 1;
		vq_push(&q2, &e, 0);
		assert_true(q2.broken);
	}
	/* The file grows back (zero pages): once the ring is set up again
	 * and the table's fault forgotten, the ring works (it is empty). */
	assert_int_equal(ftruncate(s.fd, 1 << 16), 0);
	vu_mem_changed(&s.m);
	s.q.broken = false;
	assert_int_equal(vq_resume(&s.q), 0);
	assert_int_equal(vq_pop(&s.q, &e), 0);
	assert_int_equal(vq_iov_to_buf(&iov, 1, 0, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(vu_mem_clear(&s.m), 0);
	close(s.fd);
	close(call);
}

/* Run scenario NAME in a fresh process (this binary re-executed, so no
 * cmocka signal handler is there to catch anything), stderr and cores
 * off; true if it died (by a signal, or a sanitizer's exit) instead of
 * finishing. */
static bool child_dies(const char *name)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no = { 0, 0 };
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		setrlimit(RLIMIT_CORE, &no);
		if (null >= 0)
			dup2(null, 2);
		execl("/proc/self/exe", "test_guestmem", "--crash", name, (char *)NULL);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 3); /* exec failed */
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Guest memory touched outside any guard. */
static void touch_unguarded(void)
{
	struct shrunk s;

	shrunk_setup(&s, QVA);
	if (ftruncate(s.fd, 0) < 0)
		return;
	*(volatile uint8_t *)(s.m.r[0].host + BUF) = 1;
}

/* A guarded copy from memory that is no guest mapping (a stale pointer). */
static void copy_unmapped(void)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec iov = { p, 16 };
	uint8_t buf[16];

	munmap(p, page);
	vq_iov_to_buf(&iov, 1, 0, buf, sizeof(buf));
}

/* A ring of table B whose pointers (by a bug) lead into table A: the
 * guard of B does not cover A. */
static void cross_table(void)
{
	struct shrunk a, b;
	struct vq_elem e;

	shrunk_setup(&a, QVA);
	shrunk_setup(&b, QVA);
	if (ftruncate(a.fd, 0) < 0)
		return;
	b.q.desc = a.q.desc;
	b.q.avail = a.q.avail;
	b.q.used = a.q.used;
	vq_pop(&b.q, &e);
}

/* The control: the same fault inside the guard of its own table. */
static void guarded_fault(void)
{
	struct shrunk s;
	struct vq_elem e;

	shrunk_setup(&s, QVA);
	if (ftruncate(s.fd, 0) < 0 || vq_pop(&s.q, &e) != -EFAULT)
		_exit(1);
}

static const struct {
	const char *name;
	void (*fn)(void);
} crashes[] = {
	{ "touch_unguarded", touch_unguarded },
	{ "copy_unmapped", copy_unmapped },
	{ "cross_table", cross_table },
	{ "guarded_fault", guarded_fault },
};

static void test_guard_real_bugs_crash(void **state)
{
	assert_true(child_dies("touch_unguarded"));
	assert_true(child_dies("copy_unmapped"));
	assert_true(child_dies("cross_table"));
	/* And the harmless control survives: the children die of the bug. */
	assert_false(child_dies("guarded_fault"));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_and_round),
		cmocka_unit_test(test_refused_files),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_no_leak),
		cmocka_unit_test(test_hugetlb_shortage),
		cmocka_unit_test(test_hugetlb_unmap),
		cmocka_unit_test(test_guard_shrunk),
		cmocka_unit_test(test_guard_real_bugs_crash),
	};

	if (argc == 3 && !strcmp(argv[1], "--crash")) {
		if (vu_guard_install() < 0)
			return 1;
		for (size_t i = 0; i < sizeof(crashes) / sizeof(crashes[0]); i++)
			if (!strcmp(argv[2], crashes[i].name)) {
				crashes[i].fn();
				return 0;
			}
		return 2;
	}
	return cmocka_run_group_tests_name("guestmem", tests, NULL, NULL);
}
