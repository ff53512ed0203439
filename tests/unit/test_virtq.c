/* Unit tests for lib/vhost/virtq.c: a fake guest in a memfd lays out descriptor
 * tables and rings at guest-physical addresses; vq_pop/vq_push/vq_notify
 * run against it.  Malformed chains must be errors, never reads outside
 * guest memory (run under -fsanitize=address too). */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "virtq.h"

#define GPA_BASE  0x100000ull      /* guest memory starts here */
#define QVA_BASE  0x7f0000000000ull /* where "QEMU" mapped it */
#define MEM_SIZE  (1u << 20)
#define NUM       8u
#define DESC_GPA  (GPA_BASE + 0x0000)
#define AVAIL_GPA (GPA_BASE + 0x1000)
#define USED_GPA  (GPA_BASE + 0x2000)
#define IND_GPA   (GPA_BASE + 0x3000) /* indirect tables */
#define BUF_GPA   (GPA_BASE + 0x10000)

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

struct guest {
	int memfd;
	uint8_t *mem;   /* the guest's view (MEM_SIZE bytes at GPA_BASE) */
	struct vu_mem vm;
	struct vq q;
	struct vq_elem e;
	uint16_t avail_idx;
};

static uint8_t *g_ptr(struct guest *g, uint64_t gpa)
{
	return g->mem + (gpa - GPA_BASE);
}

static void put16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }

static void desc_at(uint8_t *table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = table + 16 * i;

	put64(d, addr);
	put32(d + 8, len);
	put16(d + 12, flags);
	put16(d + 14, next);
}

static void desc(struct guest *g, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc_at(g_ptr(g, DESC_GPA), i, addr, len, flags, next);
}

/* Make HEAD available, as a driver does (entry, then idx). */
static void avail_add(struct guest *g, uint16_t head)
{
	put16(g_ptr(g, AVAIL_GPA) + 4 + 2 * (g->avail_idx % g->q.num), head);
	g->avail_idx++;
	put16(g_ptr(g, AVAIL_GPA) + 2, g->avail_idx);
}

static uint16_t used_idx_of(struct guest *g) { return get16(g_ptr(g, USED_GPA) + 2); }

static int setup(void **state)
{
	struct guest *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	g->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(g->memfd >= 0);
	assert_int_equal(ftruncate(g->memfd, MEM_SIZE), 0);
	g->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g->memfd, 0);
	assert_true(g->mem != MAP_FAILED);
	/* The device's own mapping of the same memfd, like a vhost-user
	 * back end gets: two views of one memory. */
	g->vm.n = 1;
	g->vm.r[0].gpa = GPA_BASE;
	g->vm.r[0].size = MEM_SIZE;
	g->vm.r[0].qva = QVA_BASE;
	g->vm.r[0].map = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g->memfd, 0);
	assert_true(g->vm.r[0].map != MAP_FAILED);
	g->vm.r[0].map_len = MEM_SIZE;
	g->vm.r[0].host = g->vm.r[0].map;
	vq_init(&g->q);
	g->q.num = NUM;
	g->q.desc_qva = QVA_BASE + (DESC_GPA - GPA_BASE);
	g->q.avail_qva = QVA_BASE + (AVAIL_GPA - GPA_BASE);
	g->q.used_qva = QVA_BASE + (USED_GPA - GPA_BASE);
	g->q.indirect = true;
	assert_int_equal(vq_map(&g->q, &g->vm), 0);
	*state = g;
	return 0;
}

static int teardown(void **state)
{
	struct guest *g = *state;

	if (g->q.call_fd >= 0)
		close(g->q.call_fd);
	if (g->q.kick_fd >= 0)
		close(g->q.kick_fd);
	munmap(g->vm.r[0].map, MEM_SIZE);
	munmap(g->mem, MEM_SIZE);
	close(g->memfd);
	free(g);
	return 0;
}

/* Host pointer the device should see for guest address GPA. */
static void *dev_ptr(struct guest *g, uint64_t gpa)
{
	return (uint8_t *)g->vm.r[0].host + (gpa - GPA_BASE);
}

static void test_translate(void **state)
{
	struct guest *g = *state;
	const struct vu_mem *m = &g->vm;

	assert_ptr_equal(vu_gpa_to_va(m, GPA_BASE, MEM_SIZE), dev_ptr(g, GPA_BASE));
	assert_ptr_equal(vu_gpa_to_va(m, GPA_BASE + MEM_SIZE - 1, 1), dev_ptr(g, GPA_BASE + MEM_SIZE - 1));
	assert_null(vu_gpa_to_va(m, GPA_BASE + MEM_SIZE - 1, 2));
	assert_null(vu_gpa_to_va(m, GPA_BASE + MEM_SIZE, 0));
	assert_null(vu_gpa_to_va(m, GPA_BASE - 1, 1));
	assert_null(vu_gpa_to_va(m, GPA_BASE + 16, UINT64_MAX)); /* would wrap */
	assert_null(vu_gpa_to_va(m, UINT64_MAX, 2));
	assert_ptr_equal(vu_qva_to_va(m, QVA_BASE + 0x10, 0x10), dev_ptr(g, GPA_BASE + 0x10));
	assert_null(vu_qva_to_va(m, GPA_BASE, 1)); /* a gpa is not a qva */
}

static void test_map_errors(void **state)
{
	struct guest *g = *state;
	struct vq q = g->q;

	q.num = 6;
	assert_int_equal(vq_map(&q, &g->vm), -EINVAL);
	q.num = NUM;
	q.used_qva = QVA_BASE + MEM_SIZE - 16; /* used ring runs past the end */
	assert_int_equal(vq_map(&q, &g->vm), -EFAULT);
	assert_null(q.desc);
	q.used_qva = g->q.used_qva + 2; /* misaligned */
	assert_int_equal(vq_map(&q, &g->vm), -EFAULT);
	struct vq_elem e;
	assert_int_equal(vq_pop(&q, &e), -ENODEV);
}

static void test_simple_chain(void **state)
{
	struct guest *g = *state;
	struct vq_elem *e = &g->e;

	desc(g, 3, BUF_GPA, 44, F_NEXT, 5);
	desc(g, 5, BUF_GPA + 0x100, 100, 0, 0);
	assert_int_equal(vq_pop(&g->q, e), 0);
	avail_add(g, 3);
	assert_int_equal(vq_avail(&g->q), 1);
	assert_int_equal(vq_pop(&g->q, e), 1);
	assert_int_equal(e->head, 3);
	assert_int_equal(e->out_num, 2);
	assert_int_equal(e->in_num, 0);
	assert_int_equal(e->out_len, 144);
	assert_ptr_equal(e->out[0].iov_base, dev_ptr(g, BUF_GPA));
	assert_int_equal(e->out[0].iov_len, 44);
	assert_ptr_equal(e->out[1].iov_base, dev_ptr(g, BUF_GPA + 0x100));
	assert_int_equal(vq_pop(&g->q, e), 0);
	assert_int_equal(used_idx_of(g), 0);
	vq_push(&g->q, e, 0);
	assert_int_equal(used_idx_of(g), 1);
	assert_int_equal(get32(g_ptr(g, USED_GPA) + 4), 3);
	assert_int_equal(get32(g_ptr(g, USED_GPA) + 8), 0);
}

static void test_in_buffers(void **state)
{
	struct guest *g = *state;
	struct vq_elem *e = &g->e;
	const char msg[] = "hello guest";

	desc(g, 0, BUF_GPA, 16, F_NEXT, 1);
	desc(g, 1, BUF_GPA + 0x100, 8, F_NEXT | F_WRITE, 2);
	desc(g, 2, BUF_GPA + 0x200, 8, F_WRITE, 0);
	avail_add(g, 0);
	assert_int_equal(vq_pop(&g->q, e), 1);
	assert_int_equal(e->out_num, 1);
	assert_int_equal(e->in_num, 2);
	assert_int_equal(e->in_len, 16);
	/* Copying across the two writable segments lands in guest memory. */
	assert_int_equal(vq_buf_to_iov(e->in, e->in_num, 0, msg, sizeof(msg)), 12);
	assert_memory_equal(g_ptr(g, BUF_GPA + 0x100), "hello gu", 8);
	assert_memory_equal(g_ptr(g, BUF_GPA + 0x200), "est", 4);
	memcpy(g_ptr(g, BUF_GPA), "0123456789abcdef", 16);
	char out[8];
	assert_int_equal(vq_iov_to_buf(e->out, e->out_num, 10, out, sizeof(out)), 6);
	assert_memory_equal(out, "abcdef", 6);
	vq_push(&g->q, e, 1000); /* more than offered: clamped */
	assert_int_equal(get32(g_ptr(g, USED_GPA) + 8), 16);
}

static void test_indirect(void **state)
{
	struct guest *g = *state;
	struct vq_elem *e = &g->e;
	uint8_t *ind = g_ptr(g, IND_GPA);

	desc_at(ind, 0, BUF_GPA, 44, F_NEXT, 2);
	desc_at(ind, 2, BUF_GPA + 0x100, 10, F_NEXT, 1);
	desc_at(ind, 1, BUF_GPA + 0x200, 64, F_WRITE, 0);
	/* A direct descriptor first, then the indirect one ends the chain. */
	desc(g, 4, BUF_GPA + 0x300, 4, F_NEXT, 6);
	desc(g, 6, IND_GPA, 3 * 16, F_INDIRECT, 0);
	avail_add(g, 4);
	assert_int_equal(vq_pop(&g->q, e), 1);
	assert_int_equal(e->head, 4);
	assert_int_equal(e->out_num, 3);
	assert_int_equal(e->out_len, 58);
	assert_int_equal(e->in_num, 1);
	assert_ptr_equal(e->in[0].iov_base, dev_ptr(g, BUF_GPA + 0x200));
	vq_push(&g->q, e, 64);

	/* Without the negotiated feature the same chain is malformed. */
	g->q.indirect = false;
	avail_add(g, 4);
	assert_int_equal(vq_pop(&g->q, e), -EIO);
}

static void test_wraparound(void **state)
{
	struct guest *g = *state;
	struct vq_elem *e = &g->e;

	/* Both 16-bit indices start just before the wrap. */
	g->avail_idx = 65534;
	put16(g_ptr(g, AVAIL_GPA) + 2, g->avail_idx);
	g->q.last_avail_idx = 65534;
	g->q.used_idx = 65534;
	for (unsigned i = 0; i < 6; i++)
		desc(g, i, BUF_GPA + 0x100 * i, 32, F_WRITE, 0);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 6; i++)
			avail_add(g, (uint16_t)i);
		assert_int_equal(vq_avail(&g->q), 6);
		for (unsigned i = 0; i < 6; i++) {
			assert_int_equal(vq_pop(&g->q, e), 1);
			assert_int_equal(e->head, i);
			vq_push(&g->q, e, 32);
		}
		assert_int_equal(vq_pop(&g->q, e), 0);
	}
	assert_int_equal(g->q.last_avail_idx, (uint16_t)(65534 + 18));
	assert_int_equal(used_idx_of(g), (uint16_t)(65534 + 18));
}

static uint64_t call_count(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static void push_one(struct guest *g, uint16_t head)
{
	desc(g, head, BUF_GPA, 8, F_WRITE, 0);
	avail_add(g, head);
	assert_int_equal(vq_pop(&g->q, &g->e), 1);
	vq_push(&g->q, &g->e, 8);
}

static void test_notify_flags(void **state)
{
	struct guest *g = *state;

	g->q.call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(g->q.call_fd >= 0);
	push_one(g, 0);
	assert_int_equal(vq_notify(&g->q), 1);
	assert_int_equal(call_count(g->q.call_fd), 1);
	/* Nothing new since: no interrupt. */
	assert_int_equal(vq_notify(&g->q), 0);
	/* The driver asks for no interrupts. */
	put16(g_ptr(g, AVAIL_GPA), 1);
	push_one(g, 1);
	assert_int_equal(vq_notify(&g->q), 0);
	assert_int_equal(call_count(g->q.call_fd), 0);
	put16(g_ptr(g, AVAIL_GPA), 0);
	assert_int_equal(vq_notify(&g->q), 1);
	/* Batch: three pushes, one interrupt. */
	push_one(g, 2);
	push_one(g, 3);
	push_one(g, 4);
	assert_int_equal(vq_notify(&g->q), 1);
	assert_int_equal(call_count(g->q.call_fd), 2);

	/* Kick suppression without event idx: the used flags bit. */
	vq_disable_notify(&g->q);
	assert_int_equal(get16(g_ptr(g, USED_GPA)) & 1, 1);
	desc(g, 5, BUF_GPA, 8, F_WRITE, 0);
	avail_add(g, 5);
	assert_int_equal(vq_enable_notify(&g->q), 1); /* one arrived meanwhile */
	assert_int_equal(get16(g_ptr(g, USED_GPA)) & 1, 0);
	assert_int_equal(vq_pop(&g->q, &g->e), 1);
	assert_int_equal(vq_enable_notify(&g->q), 0);
}

static void test_event_idx(void **state)
{
	struct guest *g = *state;
	uint8_t *used_event = g_ptr(g, AVAIL_GPA) + 4 + 2 * NUM;
	uint8_t *avail_event = g_ptr(g, USED_GPA) + 4 + 8 * NUM;

	g->q.event_idx = true;
	g->q.call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(g->q.call_fd >= 0);
	/* The flags field is ignored with event idx. */
	put16(g_ptr(g, AVAIL_GPA), 1);
	put16(used_event, 0);
	push_one(g, 0);                         /* used idx 1 */
	assert_int_equal(get16(avail_event), 1); /* kick me at the next one */
	assert_int_equal(vq_notify(&g->q), 1);
	/* The driver wants an interrupt only once used idx passes 3. */
	put16(used_event, 3);
	push_one(g, 1);                         /* 2 */
	assert_int_equal(vq_notify(&g->q), 0);
	push_one(g, 2);                         /* 3 */
	assert_int_equal(vq_notify(&g->q), 0);
	push_one(g, 3);                         /* 4: crossed 3 */
	assert_int_equal(vq_notify(&g->q), 1);
	push_one(g, 4);
	assert_int_equal(vq_notify(&g->q), 0);  /* event 3 already behind */
	assert_int_equal(call_count(g->q.call_fd), 2);

	/* An empty pop re-arms the kick at the current position. */
	put16(avail_event, 0);
	assert_int_equal(vq_pop(&g->q, &g->e), 0);
	assert_int_equal(get16(avail_event), 5);
	/* Kick suppression: avail_event stays behind while disabled. */
	vq_disable_notify(&g->q);
	push_one(g, 5);
	assert_int_equal(get16(avail_event), 5);
	assert_int_equal(get16(g_ptr(g, USED_GPA)) & 1, 0); /* no flag */
	assert_int_equal(vq_enable_notify(&g->q), 0);
	assert_int_equal(get16(avail_event), 6);
}

static void test_unpop_and_kick(void **state)
{
	struct guest *g = *state;

	desc(g, 2, BUF_GPA, 8, 0, 0);
	avail_add(g, 2);
	assert_int_equal(vq_pop(&g->q, &g->e), 1);
	vq_unpop(&g->q);
	assert_int_equal(vq_avail(&g->q), 1);
	assert_int_equal(vq_pop(&g->q, &g->e), 1);
	assert_int_equal(g->e.head, 2);

	uint64_t one = 1;
	assert_int_equal(vq_kick_drain(&g->q), -EBADF);
	g->q.kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(write(g->q.kick_fd, &one, 8), 8);
	assert_int_equal(vq_kick_drain(&g->q), 0);
	assert_int_equal(vq_kick_drain(&g->q), -EAGAIN);
}

/* Two regions adjacent in guest-physical space but mapped separately:
 * a buffer across the border becomes two segments. */
static void test_region_split(void **state)
{
	struct guest *g = *state;
	struct vu_region *r0 = &g->vm.r[0], *r1 = &g->vm.r[1];

	*r1 = *r0;
	r0->size = MEM_SIZE / 2;
	r1->gpa = GPA_BASE + MEM_SIZE / 2;
	r1->size = MEM_SIZE / 2;
	r1->qva = QVA_BASE + 0x10000000;
	r1->map = NULL; /* teardown unmaps r[0] only */
	r1->host = r0->host + MEM_SIZE / 2;
	g->vm.n = 2;
	desc(g, 0, GPA_BASE + MEM_SIZE / 2 - 10, 30, 0, 0);
	avail_add(g, 0);
	assert_int_equal(vq_pop(&g->q, &g->e), 1);
	assert_int_equal(g->e.out_num, 2);
	assert_int_equal(g->e.out[0].iov_len, 10);
	assert_int_equal(g->e.out[1].iov_len, 20);
	assert_ptr_equal(g->e.out[1].iov_base, r1->host);
	r0->size = MEM_SIZE;
	g->vm.n = 1;
}

/* ------------------------------------------------------- malformed */

/* Make chain HEAD available and expect vq_pop to refuse it, and keep
 * refusing (the queue is broken). */
static void expect_bad(struct guest *g, uint16_t head)
{
	avail_add(g, head);
	assert_int_equal(vq_pop(&g->q, &g->e), -EIO);
	assert_true(g->q.broken);
	assert_int_equal(g->e.out_num + g->e.in_num, 0);
	assert_int_equal(vq_pop(&g->q, &g->e), -EIO);
	assert_int_equal(used_idx_of(g), 0);
}

static void test_bad_head(void **state)
{
	expect_bad(*state, NUM);
}

static void test_bad_next(void **state)
{
	struct guest *g = *state;

	desc(g, 0, BUF_GPA, 8, F_NEXT, NUM + 3);
	expect_bad(g, 0);
}

static void test_loop(void **state)
{
	struct guest *g = *state;

	/* Zero lengths: only the walk count can end this loop. */
	desc(g, 0, BUF_GPA, 0, F_NEXT, 1);
	desc(g, 1, BUF_GPA, 0, F_NEXT, 0);
	expect_bad(g, 0);
}

static void test_outside_memory(void **state)
{
	struct guest *g = *state;

	desc(g, 0, GPA_BASE + MEM_SIZE - 4, 8, 0, 0); /* straddles the end */
	expect_bad(g, 0);
}

static void test_below_memory(void **state)
{
	struct guest *g = *state;

	desc(g, 0, 0, 8, 0, 0);
	expect_bad(g, 0);
}

static void test_read_after_write(void **state)
{
	struct guest *g = *state;

	desc(g, 0, BUF_GPA, 8, F_WRITE | F_NEXT, 1);
	desc(g, 1, BUF_GPA, 8, 0, 0);
	expect_bad(g, 0);
}

static void test_nested_indirect(void **state)
{
	struct guest *g = *state;

	desc_at(g_ptr(g, IND_GPA), 0, IND_GPA + 0x100, 16, F_INDIRECT, 0);
	desc(g, 0, IND_GPA, 16, F_INDIRECT, 0);
	expect_bad(g, 0);
}

static void test_indirect_bad_len(void **state)
{
	struct guest *g = *state;

	desc(g, 0, IND_GPA, 24, F_INDIRECT, 0);
	expect_bad(g, 0);
}

static void test_indirect_zero_len(void **state)
{
	struct guest *g = *state;

	desc(g, 0, IND_GPA, 0, F_INDIRECT, 0);
	expect_bad(g, 0);
}

static void test_indirect_with_next(void **state)
{
	struct guest *g = *state;

	desc_at(g_ptr(g, IND_GPA), 0, BUF_GPA, 16, 0, 0);
	desc(g, 0, IND_GPA, 16, F_INDIRECT | F_NEXT, 1);
	desc(g, 1, BUF_GPA, 8, 0, 0);
	expect_bad(g, 0);
}

static void test_indirect_outside(void **state)
{
	struct guest *g = *state;

	desc(g, 0, GPA_BASE + MEM_SIZE - 16, 32, F_INDIRECT, 0);
	expect_bad(g, 0);
}

static void test_indirect_loop(void **state)
{
	struct guest *g = *state;
	uint8_t *ind = g_ptr(g, IND_GPA);

	desc_at(ind, 0, BUF_GPA, 0, F_NEXT, 1);
	desc_at(ind, 1, BUF_GPA, 0, F_NEXT, 0);
	desc(g, 0, IND_GPA, 32, F_INDIRECT, 0);
	expect_bad(g, 0);
}

static void test_indirect_next_out_of_table(void **state)
{
	struct guest *g = *state;

	/* Index 2 exists in the ring's table but not in this 2-entry one. */
	desc_at(g_ptr(g, IND_GPA), 0, BUF_GPA, 8, F_NEXT, 2);
	desc(g, 0, IND_GPA, 32, F_INDIRECT, 0);
	expect_bad(g, 0);
}

static void test_avail_too_far(void **state)
{
	struct guest *g = *state;

	desc(g, 0, BUF_GPA, 8, 0, 0);
	put16(g_ptr(g, AVAIL_GPA) + 2, NUM + 1);
	assert_int_equal(vq_pop(&g->q, &g->e), -EIO);
	assert_true(g->q.broken);
}

static void test_too_many_segments(void **state)
{
	struct guest *g = *state;
	uint8_t *ind = g_ptr(g, IND_GPA);
	unsigned n = VQ_MAX_IOV + 1;

	for (unsigned i = 0; i < n; i++)
		desc_at(ind, i, BUF_GPA + i, 1, i + 1 < n ? F_NEXT : 0, (uint16_t)(i + 1));
	desc(g, 0, IND_GPA, n * 16, F_INDIRECT, 0);
	expect_bad(g, 0);
}

/* Two 3 GiB buffers (sparse memory): 6 GiB does not fit a u32 length. */
static void test_len_overflow(void **state)
{
	struct guest *g = *state;
	uint64_t big = 8ull << 30, gpa = 1ull << 40;
	struct vu_mem vm = { 0 };
	int fd = memfd_create("big", MFD_CLOEXEC);
	void *map;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)big), 0);
	map = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (map == MAP_FAILED) {
		close(fd);
		print_message("skipped: no 8 GiB of address space for the mapping (%s)\n", strerror(errno));
		skip();
	}
	vm = g->vm;
	vm.n = 2;
	vm.r[1].gpa = gpa;
	vm.r[1].size = big;
	vm.r[1].qva = 1ull << 46;
	vm.r[1].host = map;
	g->q.mem = &vm;
	desc(g, 0, gpa, 3u << 30, F_NEXT, 1);
	desc(g, 1, gpa + (3ull << 30), 3u << 30, 0, 0);
	avail_add(g, 0);
	assert_int_equal(vq_pop(&g->q, &g->e), -EIO);
	/* 3 GiB alone is fine. */
	g->q.broken = false;
	desc(g, 2, gpa, 3u << 30, 0, 0);
	avail_add(g, 2);
	g->q.last_avail_idx++; /* skip the bad chain */
	assert_int_equal(vq_pop(&g->q, &g->e), 1);
	assert_int_equal(g->e.out_len, 3u << 30);
	g->q.mem = &g->vm;
	munmap(map, big);
	close(fd);
}

/* Every descriptor walked is counted, zero-length ones and the indirect
 * one too: what the device bounds a round by (issue 14 item 9). */
static void test_ndesc(void **state)
{
	struct guest *g = *state;
	const unsigned n = 4096;

	desc(g, 0, BUF_GPA, 44, F_NEXT, 1);
	desc(g, 1, BUF_GPA + 0x100, 0, F_NEXT, 2);
	desc(g, 2, BUF_GPA + 0x200, 8, 0, 0);
	avail_add(g, 0);
	assert_int_equal(vq_pop(&g->q, &g->e), 1);
	assert_int_equal(g->e.ndesc, 3);
	assert_int_equal(g->e.out_num, 2);
	vq_push(&g->q, &g->e, 0);
	/* An indirect table of 4095 empty descriptors and one buffer. */
	for (unsigned i = 0; i < n; i++)
		desc_at(g_ptr(g, IND_GPA), i, BUF_GPA, i == n - 1 ? 44 : 0, i == n - 1 ? 0 : F_NEXT,
			(uint16_t)(i + 1));
	desc(g, 3, IND_GPA, n * 16, F_INDIRECT, 0);
	avail_add(g, 3);
	assert_int_equal(vq_pop(&g->q, &g->e), 1);
	assert_int_equal(g->e.ndesc, n + 1);
	assert_int_equal(g->e.out_num, 1);
	assert_int_equal(g->e.out_len, 44);
}

/* A (re)started ring resumes where the used ring says. */
static void test_resume(void **state)
{
	struct guest *g = *state;

	put16(g_ptr(g, USED_GPA) + 2, 5);
	g->q.last_avail_idx = 2;
	assert_int_equal(vq_resume(&g->q), 0);
	assert_int_equal(g->q.used_idx, 5);
	assert_int_equal(g->q.last_avail_idx, 5);
	/* Not mapped: nothing read, nothing changed. */
	g->q.used = NULL;
	g->q.last_avail_idx = 1;
	assert_int_equal(vq_resume(&g->q), 0);
	assert_int_equal(g->q.last_avail_idx, 1);
}

static void test_map_region(void **state)
{
	uint8_t raw[32];
	struct vu_mem m = { 0 };
	struct vu_region r;
	char why[192];
	int fd = memfd_create("region", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8192), 0);
	assert_int_equal(pwrite(fd, "abc", 3, 4096 + 100), 3);
	put64(raw, 0x40000);      /* gpa */
	put64(raw + 8, 4096);     /* size */
	put64(raw + 16, 0x7000);  /* qva */
	put64(raw + 24, 4096);    /* offset */
	assert_int_equal(vu_mem_map_region(&m, &r, raw, fd, UINT64_MAX, why, sizeof(why)), 0);
	assert_memory_equal(r.host + 100, "abc", 3);
	vu_mem_unmap_region(&r);
	assert_null(r.map);
	/* The file is shorter than offset + size: refused, not a SIGBUS later. */
	put64(raw + 24, 4097);
	assert_int_equal(vu_mem_map_region(&m, &r, raw, fd, UINT64_MAX, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "file has"));
	/* Wrapping ranges. */
	put64(raw + 24, 0);
	put64(raw, UINT64_MAX - 100);
	assert_int_equal(vu_mem_map_region(&m, &r, raw, fd, UINT64_MAX, why, sizeof(why)), -EINVAL);
	put64(raw, 0);
	put64(raw + 8, 0);
	assert_int_equal(vu_mem_map_region(&m, &r, raw, fd, UINT64_MAX, why, sizeof(why)), -EINVAL);
	put64(raw + 8, 4096);
	put64(raw + 24, UINT64_MAX - 10);
	assert_int_equal(vu_mem_map_region(&m, &r, raw, fd, UINT64_MAX, why, sizeof(why)), -EINVAL);
	close(fd);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_translate),
		T(test_map_errors),
		T(test_simple_chain),
		T(test_in_buffers),
		T(test_indirect),
		T(test_wraparound),
		T(test_notify_flags),
		T(test_event_idx),
		T(test_unpop_and_kick),
		T(test_region_split),
		T(test_bad_head),
		T(test_bad_next),
		T(test_loop),
		T(test_outside_memory),
		T(test_below_memory),
		T(test_read_after_write),
		T(test_nested_indirect),
		T(test_indirect_bad_len),
		T(test_indirect_zero_len),
		T(test_indirect_with_next),
		T(test_indirect_outside),
		T(test_indirect_loop),
		T(test_indirect_next_out_of_table),
		T(test_avail_too_far),
		T(test_too_many_segments),
		T(test_len_overflow),
		T(test_ndesc),
		T(test_resume),
		cmocka_unit_test(test_map_region),
	};

	return cmocka_run_group_tests_name("virtq", tests, NULL, NULL);
}
