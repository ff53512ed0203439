/* Guest memory shared by a vhost-user front end: the memory table, its
 * mappings, the limits on them, and the fault guard.
 *
 * Internal to libvsk (prefix vu_mem / vu_guard).  Included by virtq.h.
 *
 * What may be mapped: a regular file on tmpfs (memfd, /dev/shm) or
 * hugetlbfs (MFD_HUGETLB, /dev/hugepages), at least mmap_offset + size
 * bytes long.  A page fault there never waits for another process (FUSE,
 * NFS and disk files are refused: their faults can sleep on a server).
 * A memfd that allows sealing gets F_SEAL_SHRINK, so the front end can no
 * longer shrink it under us; hugetlbfs is mapped without MAP_NORESERVE, so
 * a shortage of huge pages is an ENOMEM at map time, not a SIGBUS later.
 *
 * What can still fault (a file that cannot be sealed and is truncated, a
 * hole punched into hugetlbfs when no huge page is free): every user-space
 * access to guest memory in libvsk runs inside a guard (vq_* in virtq.c).
 * A SIGBUS or SIGSEGV whose address lies in a mapping of the guarded
 * table ends the guarded call early (-EFAULT, the table marked faulted,
 * its queues broken); any other fault gets the previous handler or the
 * default action (a core dump), so real bugs still crash.  The guard is
 * per thread and async-signal-safe (thread-local pointer, lock-free
 * registry).  Kernel-side accesses (readv, recvmsg, sendmsg on iovecs into
 * guest memory) do not raise a signal: they fail with EFAULT, which the
 * caller must treat like a broken queue.
 *
 * Limits: per table (struct vu_mem users pass a budget) and per process
 * (vu_mem_set_process_limits; atomics, safe with threads).
 */
#ifndef VSK_GUESTMEM_H
#define VSK_GUESTMEM_H

#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VU_MEM_BASELINE_REGIONS 8  /* SET_MEM_TABLE carries at most 8 */
#define VU_MEM_MAX_REGIONS      32 /* with ADD_MEM_REG (GET_MAX_MEM_SLOTS) */

/* Process-wide defaults.  256 VMs of 32 regions each (QEMU uses one to a
 * few; the device has no fixed VM count, bench/device-scale runs 256);
 * 64 TiB is 64 VMs at the per-VM default of 1 TiB and half of x86-64's
 * 128 TiB user address space, so a table being replaced (old and new
 * mapped for a moment) and the rest of the process always fit. */
#define VU_PROC_SLOTS               16384u /* hard cap on process regions */
#define VU_PROC_MAX_REGIONS_DEFAULT 8192u
#define VU_PROC_MAX_BYTES_DEFAULT   (64ull << 40)

struct vu_mem;

struct vu_region {
	uint64_t gpa;         /* guest physical address of the first byte */
	uint64_t size;        /* bytes */
	uint64_t qva;         /* the front end's virtual address (vring addrs) */
	uint64_t mmap_offset; /* offset of the region in its fd */
	void *map;            /* our mmap() of the fd (NULL: none) */
	size_t map_len;       /* bytes mapped, a multiple of the page size */
	uint64_t map_off;     /* file offset of map: mmap_offset rounded down */
	size_t page;          /* page size of the mapping (hugetlbfs: huge) */
	uint8_t *host;        /* byte gpa is host[gpa - r.gpa] */
	unsigned slot;        /* registry slot + 1 (0: not registered) */
	bool hugetlb;         /* on hugetlbfs */
	bool sealed;          /* F_SEAL_SHRINK is set on the file */
};

struct vu_mem {
	uint32_t n;           /* regions in use: r[0..n) */
	struct vu_region r[VU_MEM_MAX_REGIONS];
	/* Set by the fault handler when a guarded access to one of these
	 * regions faulted; cleared when the table changes (vu_mem_clear,
	 * vu_mem_changed). */
	volatile sig_atomic_t faulted;
};

/* Region of M holding address A (a gpa, or a qva if BY_QVA), or NULL. */
static inline const struct vu_region *vu_mem_region_of(const struct vu_mem *m, uint64_t a, bool by_qva)
{
	uint32_t n = m->n < VU_MEM_MAX_REGIONS ? m->n : VU_MEM_MAX_REGIONS;

	for (uint32_t i = 0; i < n; i++) {
		const struct vu_region *r = &m->r[i];
		uint64_t base = by_qva ? r->qva : r->gpa;

		if (r->host && a >= base && a - base < r->size)
			return r;
	}
	return NULL;
}

/* Host pointer for [gpa, gpa+len) when that range lies wholly inside one
 * region (overflow-safe; len 0 needs gpa inside a region), else NULL. */
void *vu_gpa_to_va(const struct vu_mem *m, uint64_t gpa, uint64_t len);
/* Same for a front-end virtual address (SET_VRING_ADDR). */
void *vu_qva_to_va(const struct vu_mem *m, uint64_t qva, uint64_t len);

/* Decode one 32-byte region description (gpa, size, qva, mmap_offset;
 * le64 each) into *R, check FD (see the top of this file), and map it
 * MAP_SHARED for table OWNER (FD is not closed).  At most BUDGET bytes may
 * be mapped (the table's remaining allowance), and the process limits
 * hold.  0, or -errno with WHY saying what was wrong. */
int vu_mem_map_region(struct vu_mem *owner, struct vu_region *r, const uint8_t raw[32], int fd,
		      uint64_t budget, char *why, size_t whylen);
/* Unmap R (with its page-rounded length) and forget it.  0, or -errno if
 * munmap failed (the address space stays counted: a leak, not a reuse). */
int vu_mem_unmap_region(struct vu_region *r);
/* Unmap every region, n = 0, faulted cleared.  The first munmap error, or 0. */
int vu_mem_clear(struct vu_mem *m);
/* Bytes mapped for M's regions. */
uint64_t vu_mem_mapped(const struct vu_mem *m);
/* Index of a region of M other than R whose gpa or qva range overlaps R,
 * or -1. */
int vu_mem_overlap(const struct vu_mem *m, const struct vu_region *r);
/* The table changed (a region added or removed): forget a fault seen on
 * the old one (a fault on the new table sets it again). */
void vu_mem_changed(struct vu_mem *m);

/* Process-wide limits (every table together): bytes mapped and regions
 * (at most VU_PROC_SLOTS).  0 keeps a value.  Thread-safe. */
void vu_mem_set_process_limits(uint64_t max_bytes, unsigned max_regions);
/* Current use and limits, for logs and tests. */
void vu_mem_process_usage(uint64_t *bytes, unsigned *regions, uint64_t *max_bytes, unsigned *max_regions);

/* ---------------------------------------------------------- the guard */

struct vu_guard {
	sigjmp_buf env;
	const struct vu_mem *mem; /* faults in its regions are caught; NULL: any table's */
	struct vu_guard *prev;
};

/* The innermost guard of this thread (NULL: none).  initial-exec: a plain
 * %fs-relative load in the signal handler, never a lazy TLS allocation. */
extern __thread struct vu_guard *vu_guard_top __attribute__((tls_model("initial-exec")));

/* Install the SIGBUS/SIGSEGV handler; what was there before is kept and
 * gets every fault that is not ours.  Later calls put it back if another
 * handler replaced it (then chaining to that one).  Two sigaction calls
 * when it is in place already.  0 or -errno.  While another handler has
 * replaced ours, a guest fault crashes the process as without the guard. */
int vu_guard_install(void);

/* Usage (the sigsetjmp must be in the function that stays on the stack):
 *   struct vu_guard g;
 *   if (sigsetjmp(g.env, 0))
 *           return <fault: the guard is already left>;
 *   vu_guard_enter(&g, mem);
 *   ... touch guest memory ...
 *   vu_guard_leave(&g);
 * savemask 0: no syscall; the handler runs SA_NODEFER, so nothing stays
 * blocked after the jump. */
static inline void vu_guard_enter(struct vu_guard *g, const struct vu_mem *mem)
{
	g->mem = mem;
	g->prev = vu_guard_top;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	vu_guard_top = g;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void vu_guard_leave(struct vu_guard *g)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	vu_guard_top = g->prev;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

#endif
