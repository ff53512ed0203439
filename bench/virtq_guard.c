/* The cost of the guest memory fault guard (lib/vhost/guestmem.h) on the ring
 * operations the device does per packet: vq_pop, a 44-byte header copy
 * out (vq_iov_to_buf), vq_push; a batch of 256 between
 * vq_disable_notify and vq_enable_notify, as the device's tx loop does.
 * Guest and device in one thread, the ring in heap memory (no faults: this
 * measures the guard's fixed cost).  Thread CPU time, best of ROUNDS.
 * Built by bench/virtq-guard against the current lib/vhost/virtq.c and against
 * the one before the guard; compiles against either header.
 *
 *   virtq_guard [ROUNDS]     prints "ns-per-element N.NN"
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "virtq.h"

#define NUM   256
#define ITERS 20000

static double cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
	static struct vu_mem m;
	static struct vq_elem e;
	int rounds = argc > 1 ? atoi(argv[1]) : 15;
	size_t sz = 1 << 20;
	uint8_t *mem = aligned_alloc(4096, sz), hdr[44];
	uint16_t aidx = 0;
	double best = 1e18;
	struct vq q;

	if (!mem || rounds < 1)
		return 2;
	memset(mem, 0, sz);
	m.n = 1;
	m.r[0].size = sz;
	m.r[0].qva = 0x1000000;
	m.r[0].host = mem;
	vq_init(&q);
	q.num = NUM;
	q.desc_qva = 0x1000000;
	q.avail_qva = 0x1000000 + 0x2000;
	q.used_qva = 0x1000000 + 0x3000;
	q.event_idx = 1;
	if (vq_map(&q, &m) < 0)
		return 2;
	for (int i = 0; i < NUM; i++) {
		uint64_t a = htole64(0x10000 + 64 * i);
		uint32_t l = htole32(64);

		memcpy(mem + 16 * i, &a, 8);
		memcpy(mem + 16 * i + 8, &l, 4);
	}
	for (int r = 0; r < rounds; r++) {
		double t0 = cpu_ns(), ns;

		for (int it = 0; it < ITERS; it++) {
			uint16_t x;

			for (int k = 0; k < NUM; k++, aidx++) {
				uint16_t h = htole16((uint16_t)(aidx % NUM));

				memcpy(mem + 0x2000 + 4 + 2 * (aidx % NUM), &h, 2);
			}
			x = htole16(aidx);
			memcpy(mem + 0x2000 + 2, &x, 2);
			vq_disable_notify(&q);
			while (vq_pop(&q, &e) == 1) {
				vq_iov_to_buf(e.out, e.out_num, 0, hdr, sizeof(hdr));
				vq_push(&q, &e, 0);
			}
			vq_enable_notify(&q);
		}
		ns = (cpu_ns() - t0) / ((double)ITERS * NUM);
		if (ns < best)
			best = ns;
	}
	printf("ns-per-element %.2f\n", best);
	return 0;
}
