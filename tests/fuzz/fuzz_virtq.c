/* libFuzzer harness: descriptor chains against a fake guest memory table.
 *
 * Bounded run: tests/fuzz/run [SECONDS] vhost virtq.
 * Build and run by hand (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -D_GNU_SOURCE \
 *       tests/fuzz/fuzz_virtq.c lib/virtq.c -o build/fuzz_virtq
 *   mkdir -p build/corpus_virtq
 *   build/fuzz_virtq -max_total_time=60 build/corpus_virtq tests/fuzz/corpus/virtq
 *
 * Input: 8 bytes of ring parameters, then the bytes of guest memory
 * (zero-padded to 64 KiB).  Guest memory is two adjacent regions in
 * separate heap blocks, so any access outside them is an ASan report.
 * Every popped element's segments are read and written in full: they must
 * lie inside guest memory.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virtq.h"

#define HALF 0x8000u /* each region: 32 KiB */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int call_fd = -1;

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

	if (call_fd < 0)
		call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
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
		int rc = vq_pop(&q, &e);

		if (rc <= 0)
			break;
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
	free(lo);
	free(hi);
	return 0;
}
