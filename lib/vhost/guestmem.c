/* Guest memory: checked mappings of the front end's files, the process
 * registry of those mappings, and the SIGBUS/SIGSEGV guard (guestmem.h).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "guestmem.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

/* ------------------------------------------------------- translation */

static void *translate(const struct vu_mem *m, uint64_t a, uint64_t len, bool by_qva)
{
	const struct vu_region *r = vu_mem_region_of(m, a, by_qva);
	uint64_t off;

	if (!r)
		return NULL;
	off = a - (by_qva ? r->qva : r->gpa);
	/* off < size, so size - off cannot wrap: no overflow in the check. */
	if (len > r->size - off)
		return NULL;
	return r->host + off;
}

void *vu_gpa_to_va(const struct vu_mem *m, uint64_t gpa, uint64_t len)
{
	return translate(m, gpa, len, false);
}

void *vu_qva_to_va(const struct vu_mem *m, uint64_t qva, uint64_t len)
{
	return translate(m, qva, len, true);
}

int vu_mem_overlap(const struct vu_mem *m, const struct vu_region *r)
{
	for (uint32_t i = 0; i < m->n && i < VU_MEM_MAX_REGIONS; i++) {
		const struct vu_region *o = &m->r[i];

		/* Both ranges are known not to wrap (vu_mem_map_region). */
		if (o == r)
			continue;
		if (r->gpa < o->gpa + o->size && o->gpa < r->gpa + r->size)
			return (int)i;
		if (r->qva < o->qva + o->size && o->qva < r->qva + r->size)
			return (int)i;
	}
	return -1;
}

/* ---------------------------------------------------------- registry */

/* Every guest mapping of the process, for the fault handler: lock-free
 * (written with atomics, read from a signal handler).  A slot is taken by
 * a CAS on owner, then start and end are published; end is cleared first
 * on release, so a reader that sees end != 0 sees a valid start. */
static struct {
	struct vu_mem *owner;
	uintptr_t start, end;
} slots[VU_PROC_SLOTS];

static uint64_t proc_bytes, lim_bytes = VU_PROC_MAX_BYTES_DEFAULT;
static unsigned proc_regions, lim_regions = VU_PROC_MAX_REGIONS_DEFAULT;

void vu_mem_set_process_limits(uint64_t max_bytes, unsigned max_regions)
{
	if (max_bytes)
		__atomic_store_n(&lim_bytes, max_bytes, __ATOMIC_RELAXED);
	if (max_regions)
		__atomic_store_n(&lim_regions, max_regions < VU_PROC_SLOTS ? max_regions : VU_PROC_SLOTS,
				 __ATOMIC_RELAXED);
}

void vu_mem_process_usage(uint64_t *bytes, unsigned *regions, uint64_t *max_bytes, unsigned *max_regions)
{
	if (bytes)
		*bytes = __atomic_load_n(&proc_bytes, __ATOMIC_RELAXED);
	if (regions)
		*regions = __atomic_load_n(&proc_regions, __ATOMIC_RELAXED);
	if (max_bytes)
		*max_bytes = __atomic_load_n(&lim_bytes, __ATOMIC_RELAXED);
	if (max_regions)
		*max_regions = __atomic_load_n(&lim_regions, __ATOMIC_RELAXED);
}

/* Count LEN bytes and one region against the process limits. */
static int proc_reserve(uint64_t len, char *why, size_t whylen)
{
	unsigned n = __atomic_add_fetch(&proc_regions, 1, __ATOMIC_RELAXED);
	unsigned nmax = __atomic_load_n(&lim_regions, __ATOMIC_RELAXED);
	uint64_t b, bmax = __atomic_load_n(&lim_bytes, __ATOMIC_RELAXED);

	if (n > nmax) {
		__atomic_sub_fetch(&proc_regions, 1, __ATOMIC_RELAXED);
		snprintf(why, whylen, "the process maps %u regions already (its limit)", nmax);
		return -ENOSPC;
	}
	b = __atomic_add_fetch(&proc_bytes, len, __ATOMIC_RELAXED);
	if (b > bmax || b < len) {
		__atomic_sub_fetch(&proc_bytes, len, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&proc_regions, 1, __ATOMIC_RELAXED);
		snprintf(why, whylen, "mapping %llu bytes would take the process over its limit of %llu "
			 "(%llu mapped)", (unsigned long long)len, (unsigned long long)bmax,
			 (unsigned long long)(b - len));
		return -ENOMEM;
	}
	return 0;
}

static void proc_release(uint64_t len)
{
	__atomic_sub_fetch(&proc_bytes, len, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&proc_regions, 1, __ATOMIC_RELAXED);
}

/* A free slot for [start, start+len) of OWNER: its index + 1 (0: none;
 * cannot happen while proc_regions <= VU_PROC_SLOTS). */
static unsigned slot_take(struct vu_mem *owner, void *start, size_t len)
{
	for (unsigned i = 0; i < VU_PROC_SLOTS; i++) {
		struct vu_mem *none = NULL;

		if (__atomic_compare_exchange_n(&slots[i].owner, &none, owner, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			__atomic_store_n(&slots[i].start, (uintptr_t)start, __ATOMIC_RELEASE);
			__atomic_store_n(&slots[i].end, (uintptr_t)start + len, __ATOMIC_RELEASE);
			return i + 1;
		}
	}
	return 0;
}

static void slot_give(unsigned s)
{
	if (s == 0 || s > VU_PROC_SLOTS)
		return;
	__atomic_store_n(&slots[s - 1].end, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&slots[s - 1].start, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&slots[s - 1].owner, NULL, __ATOMIC_RELEASE);
}

/* Async-signal-safe: the table whose mapping holds ADDR, or NULL. */
static struct vu_mem *slot_owner(uintptr_t addr)
{
	for (unsigned i = 0; i < VU_PROC_SLOTS; i++) {
		uintptr_t end = __atomic_load_n(&slots[i].end, __ATOMIC_ACQUIRE);

		if (end && addr < end && addr >= __atomic_load_n(&slots[i].start, __ATOMIC_ACQUIRE))
			return __atomic_load_n(&slots[i].owner, __ATOMIC_ACQUIRE);
	}
	return NULL;
}

/* ------------------------------------------------------------ mapping */

static uint64_t raw64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

/* Name of a file system magic, for the refusal message. */
static const char *fs_name(unsigned long type, char *buf, size_t len)
{
	static const struct {
		unsigned long magic;
		const char *name;
	} fs[] = {
		{ 0x65735546, "fuse" }, { 0x6969, "nfs" }, { 0xef53, "ext2/3/4" }, { 0x58465342, "xfs" },
		{ 0x9123683e, "btrfs" }, { 0x794c7630, "overlayfs" }, { 0xff534d42, "cifs" },
		{ 0xfe534d42, "smb2" }, { 0x01021997, "9p" }, { 0x00c36400, "ceph" }, { 0x2fc12fc1, "zfs" },
		{ 0xf2f52010, "f2fs" }, { 0x62656572, "sysfs" }, { 0x9fa0, "proc" }, { 0x1373, "devfs" },
	};

	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
		if (fs[i].magic == type)
			return fs[i].name;
	snprintf(buf, len, "unknown (0x%lx)", type);
	return buf;
}

/* Forbid shrinking a sealable file (a memfd made with MFD_ALLOW_SEALING
 * and no F_SEAL_SEAL): then no truncate can take pages from under us.
 * True if F_SEAL_SHRINK is set when this returns. */
static bool seal_shrink(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0)
		return false; /* not a memfd (a /dev/shm or hugetlbfs file) */
	if (seals & F_SEAL_SHRINK)
		return true;
	if (seals & F_SEAL_SEAL)
		return false;
	return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0;
}

int vu_mem_map_region(struct vu_mem *owner, struct vu_region *r, const uint8_t raw[32], int fd,
		      uint64_t budget, char *why, size_t whylen)
{
	struct statfs sfs;
	struct stat st;
	uint64_t end, len;
	char nb[32];
	void *map;
	int rc;

	memset(r, 0, sizeof(*r));
	r->gpa = raw64(raw);
	r->size = raw64(raw + 8);
	r->qva = raw64(raw + 16);
	r->mmap_offset = raw64(raw + 24);
	end = r->mmap_offset + r->size;
	/* Checked here so that no later "base + size" can wrap. */
	if (r->size == 0 || r->gpa + r->size < r->gpa || r->qva + r->size < r->qva ||
	    end < r->size || end > (uint64_t)INT64_MAX || (uint64_t)(size_t)end != end) {
		snprintf(why, whylen, "gpa 0x%llx size 0x%llx qva 0x%llx offset 0x%llx: empty or wrapping range",
			 (unsigned long long)r->gpa, (unsigned long long)r->size,
			 (unsigned long long)r->qva, (unsigned long long)r->mmap_offset);
		goto inval;
	}
	if (fstatfs(fd, &sfs) < 0) {
		rc = -errno;
		snprintf(why, whylen, "fstatfs: %s", strerror(-rc));
		goto fail;
	}
	if ((unsigned long)sfs.f_type != TMPFS_MAGIC && (unsigned long)sfs.f_type != HUGETLBFS_MAGIC) {
		snprintf(why, whylen, "gpa 0x%llx: the memory fd is on a %s file system; only memfd, tmpfs "
			 "(/dev/shm) and hugetlbfs memory is mapped (a page fault elsewhere can wait on "
			 "a disk or a server, stalling every VM)", (unsigned long long)r->gpa,
			 fs_name((unsigned long)sfs.f_type, nb, sizeof(nb)));
		rc = -EINVAL;
		goto fail;
	}
	r->hugetlb = (unsigned long)sfs.f_type == HUGETLBFS_MAGIC;
	/* Sealed before the size check, so the size cannot drop after it. */
	r->sealed = seal_shrink(fd);
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(why, whylen, "fstat: %s", strerror(-rc));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "gpa 0x%llx: the memory fd is not a regular file", (unsigned long long)r->gpa);
		goto inval;
	}
	/* A file shorter than the region would SIGBUS us on access. */
	if ((uint64_t)st.st_size < end) {
		snprintf(why, whylen, "gpa 0x%llx: file has %lld bytes, region needs %llu",
			 (unsigned long long)r->gpa, (long long)st.st_size, (unsigned long long)end);
		goto inval;
	}
	/* hugetlbfs reports its huge page size as the block size; mmap and
	 * munmap work in whole pages of it. */
	r->page = r->hugetlb ? (size_t)st.st_blksize : (size_t)sysconf(_SC_PAGESIZE);
	if (r->page == 0 || (r->page & (r->page - 1))) {
		snprintf(why, whylen, "gpa 0x%llx: page size %zu", (unsigned long long)r->gpa, r->page);
		goto inval;
	}
	/* Map only the pages the region covers: mmap_offset need not be
	 * page aligned, and a far offset must not cost address space. */
	r->map_off = r->mmap_offset & ~(uint64_t)(r->page - 1);
	len = (end - r->map_off + r->page - 1) & ~(uint64_t)(r->page - 1);
	if (len > budget) {
		snprintf(why, whylen, "gpa 0x%llx size 0x%llx: %llu more bytes mapped would exceed this VM's "
			 "limit (%llu bytes left)", (unsigned long long)r->gpa, (unsigned long long)r->size,
			 (unsigned long long)len, (unsigned long long)budget);
		rc = -ENOMEM;
		goto fail;
	}
	rc = proc_reserve(len, why, whylen);
	if (rc < 0)
		goto fail;
	/* No MAP_NORESERVE: hugetlbfs reserves its pages here, so a shortage
	 * is this ENOMEM instead of a SIGBUS on first touch. */
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)r->map_off);
	if (map == MAP_FAILED) {
		rc = -errno;
		proc_release(len);
		snprintf(why, whylen, "gpa 0x%llx size 0x%llx: mmap: %s%s", (unsigned long long)r->gpa,
			 (unsigned long long)r->size, strerror(-rc),
			 r->hugetlb && rc == -ENOMEM ? " (not enough free huge pages)" : "");
		goto fail;
	}
	r->map = map;
	r->map_len = len;
	r->host = (uint8_t *)map + (r->mmap_offset - r->map_off);
	r->slot = slot_take(owner, map, len);
	return 0;
inval:
	rc = -EINVAL;
fail:
	memset(r, 0, sizeof(*r));
	return rc;
}

int vu_mem_unmap_region(struct vu_region *r)
{
	int rc = 0;

	/* Forgotten by the fault handler before the pages go. */
	slot_give(r->slot);
	if (r->map) {
		if (munmap(r->map, r->map_len) < 0)
			rc = -errno;
		else
			proc_release(r->map_len);
	}
	memset(r, 0, sizeof(*r));
	return rc;
}

int vu_mem_clear(struct vu_mem *m)
{
	int rc = 0;

	for (uint32_t i = 0; i < m->n && i < VU_MEM_MAX_REGIONS; i++) {
		int e = vu_mem_unmap_region(&m->r[i]);

		if (e < 0 && rc == 0)
			rc = e;
	}
	m->n = 0;
	m->faulted = 0;
	return rc;
}

uint64_t vu_mem_mapped(const struct vu_mem *m)
{
	uint64_t b = 0;

	for (uint32_t i = 0; i < m->n && i < VU_MEM_MAX_REGIONS; i++)
		b += m->r[i].map_len;
	return b;
}

void vu_mem_changed(struct vu_mem *m)
{
	m->faulted = 0;
}

/* -------------------------------------------------------------- guard */

__thread struct vu_guard *vu_guard_top __attribute__((tls_model("initial-exec")));

static struct sigaction old_bus, old_segv;
static int installing; /* a spin lock for vu_guard_install */

/* Not ours: what would have happened without us.  The previous handler if
 * there was one; else the default action, by returning to the faulting
 * instruction with SIG_DFL in place (a core dump with the real stack). */
static void pass_on(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *old = sig == SIGBUS ? &old_bus : &old_segv;

	if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
		old->sa_sigaction(sig, si, uc);
		return;
	}
	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
		return;
	}
	signal(sig, SIG_DFL);
	/* Sent by someone (kill), not a fault: no instruction to re-run. */
	if (si->si_code <= 0)
		raise(sig);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	struct vu_guard *g = vu_guard_top;

	/* si_code > 0: raised by the kernel for this thread's access. */
	if (g && si->si_code > 0) {
		struct vu_mem *owner = slot_owner((uintptr_t)si->si_addr);

		if (owner && (!g->mem || g->mem == owner)) {
			owner->faulted = 1;
			vu_guard_top = g->prev;
			siglongjmp(g->env, 1);
		}
	}
	pass_on(sig, si, uc);
}

/* Put on_fault in place for SIG unless it is there, keeping what was. */
static int install_one(int sig, struct sigaction *old)
{
	struct sigaction sa, cur;

	if (sigaction(sig, NULL, &cur) < 0)
		return -errno;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_fault)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sigemptyset(&sa.sa_mask);
	/* NODEFER: the jump out of the handler (savemask 0) must not leave
	 * the signal blocked; ONSTACK: a thread's alternate stack if any. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	*old = cur;
	return sigaction(sig, &sa, NULL) < 0 ? -errno : 0;
}

int vu_guard_install(void)
{
	int rc, expect = 0;

	/* Checked on every call: a handler installed after ours (a test
	 * framework's, say) is chained to, not lost for good. */
	while (!__atomic_compare_exchange_n(&installing, &expect, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		expect = 0;
	rc = install_one(SIGBUS, &old_bus);
	if (rc == 0)
		rc = install_one(SIGSEGV, &old_segv);
	__atomic_store_n(&installing, 0, __ATOMIC_RELEASE);
	return rc;
}
