/* libFuzzer harness: descriptor chains against a fake guest memory table.
 *
 * Bounded run: tests/fuzz/run [SECONDS] vhost virtq.
 * Build and run by hand (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -D_GNU_SOURCE \
 *       tests/fuzz/fuzz_virtq.c lib/vhost/virtq.c lib/vhost/guestmem.c -o build/fuzz_virtq
 *   mkdir -p build/corpus_virtq
 *   build/fuzz_virtq -max_total_time=60 build/corpus_virtq tests/fuzz/corpus/virtq
 *
 * Input: 8 bytes of ring parameters, then the bytes of guest memory
 * (zero-padded to 64 KiB).  Guest memory is two adjacent regions in
 * separate heap blocks, so any access outside them is an ASan report.
 * Every popped element's segments are read and written in full: they must
 * lie inside guest memory.
 *
 * Parameter byte 1, bit 3: the upper region is a memfd mapped as the
 * vhost-user back end maps it (vu_mem_map_region), and after pop number
 * (byte 3 >> 2) % 16 the front end truncates it to (byte 2 & 7) * 4 KiB:
 * from then on accesses there fault, which the guard must turn into
 * -EFAULT and a broken queue (segments are then copied with the guarded
 * helpers, never touched directly).  Bit 4: after pop number 5 the table
 * is replaced (the upper region moved to another front-end address and
 * guest address), and the ring re-translated as vhost does on
 * SET_MEM_TABLE; it keeps working, or stops if it no longer translates.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtq.h"

#define HALF 0x8000u /* each region: 32 KiB */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int call_fd = -1, hi_fd = -1;

/* Segments that may lie in memory that faults: through the guard only. */
static void touch_guarded(const struct vq_elem *e)
{
	static uint8_t buf[1 << 16];

	vq_iov_to_buf(e->out, e->out_num, 0, buf, e->out_len < sizeof(buf) ? e->out_len : sizeof(buf));
	vq_buf_to_iov(e->in, e->in_num, 0, buf, e->in_len < sizeof(buf) ? e->in_len : sizeof(buf));
}

/* The upper region as a memfd mapping with the fuzz bytes in it. */
static int map_hi(struct vu_mem *m, const uint8_t *bytes, size_t n)
{
	uint8_t raw[32] = { 0 };
	char why[192];
	uint64_t v;

	if (hi_fd < 0)
		hi_fd = memfd_create("fuzz-hi", MFD_CLOEXEC);
	if (hi_fd < 0 || ftruncate(hi_fd, 0) < 0 || ftruncate(hi_fd, HALF) < 0 ||
	    (n && pwrite(hi_fd, bytes, n, 0) != (ssize_t)n))
		abort();
	v = HALF;
	memcpy(raw, &v, 8);             /* gpa */
	v = HALF;
	memcpy(raw + 8, &v, 8);         /* size */
	v = 0x10000000 + HALF;
	memcpy(raw + 16, &v, 8);        /* qva */
	return vu_mem_map_region(m, &m->r[1], raw, hi_fd, UINT64_MAX, why, sizeof(why));
}

static void touch(const struct vq_elem *e)
{
	volatile uint8_t sink = 0;

	for (unsigned i = 0; i < e->out_num; i++)
		for (size_t k = 0; k < e->out[i].iov_len; k += 64)
			sink ^= ((const uint8_t *)e->out[i].iov_base)[k];
	for (unsigned i = 0; i < e->out_num; i++)
		if (e->out[i].iov_len)
			sink ^= ((const uint8_t *)e->out[i].iov_base)[e->out[i].iov_len - 1];
	for (unsigned i = 0; i < e->in_num; i++)
		memset(e->in[i].iov_base, 0xa5, e->in[i].iov_len);
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vq_elem e;
	struct vu_mem m;
	struct vq q;
	uint8_t *lo, *hi, p[8] = { 0 };
	size_t body;
	bool shrink = false;

	if (call_fd < 0) {
		call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (vu_guard_install() < 0)
			abort();
	}
	memcpy(p, data, size < 8 ? size : 8);
	data += size < 8 ? size : 8;
	size -= size < 8 ? size : 8;
	lo = calloc(1, HALF);
	hi = calloc(1, HALF);
	if (!lo || !hi)
		goto out;
	body = size < HALF ? size : HALF;
	memcpy(lo, data, body);
	if (size > HALF)
		memcpy(hi, data + HALF, size - HALF < HALF ? size - HALF : HALF);

	memset(&m, 0, sizeof(m));
	m.n = 2;
	m.r[0] = (struct vu_region){ .gpa = 0, .size = HALF, .qva = 0x10000000, .host = lo };
	m.r[1] = (struct vu_region){ .gpa = HALF, .size = HALF, .qva = 0x10000000 + HALF, .host = hi };
	shrink = p[1] & 8;
	if (shrink && map_hi(&m, size > HALF ? data + HALF : NULL,
			     size > HALF ? (size - HALF < HALF ? size - HALF : HALF) : 0) < 0)
		goto out;

	vq_init(&q);
	q.num = 1u << (p[0] % 10);             /* 1 .. 512 */
	q.indirect = p[1] & 1;
	q.event_idx = p[1] & 2;
	q.desc_qva = 0x10000000;               /* desc at gpa 0 */
	q.avail_qva = 0x10000000 + 0x2000 + (p[2] & 0x3e);
	q.used_qva = 0x10000000 + 0x3000 + (p[3] & 0x3c);
	if (p[1] & 4)                          /* rings straddling the regions */
		q.used_qva = 0x10000000 + HALF - 8;
	q.last_avail_idx = (uint16_t)(p[4] | p[5] << 8);
	q.used_idx = (uint16_t)(p[6] | p[7] << 8);
	q.call_fd = call_fd;
	if (vq_map(&q, &m) < 0)
		goto out;
	for (unsigned i = 0; i < 64; i++) {
		int rc;

		if (shrink && i == (unsigned)(p[3] >> 2) % 16 && ftruncate(hi_fd, (p[2] & 7) * 4096) < 0)
			abort();
		if ((p[1] & 16) && i == 5) {
			/* Table replaced: the upper half moves (qva and gpa). */
			m.r[1].qva += 0x100000;
			m.r[1].gpa += 0x100000;
			vu_mem_changed(&m);
			if (vq_map(&q, &m) < 0)
				break;
		}
		rc = vq_pop(&q, &e);
		if (rc <= 0)
			break;
		if (shrink)
			touch_guarded(&e);
		else
			touch(&e);
		if (i == 3)
			vq_unpop(&q);
		else
			vq_push(&q, &e, e.in_len);
		if (i % 4 == 1)
			vq_disable_notify(&q);
		if (i % 4 == 2)
			vq_enable_notify(&q);
		vq_notify(&q);
	}
	uint64_t v;
	if (read(call_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		abort();
out:
	if (shrink)
		vu_mem_unmap_region(&m.r[1]);
	free(lo);
	free(hi);
	return 0;
}
