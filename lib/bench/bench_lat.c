/* bench: the latency histogram (struct bench_lat in bench.h): log-linear
 * buckets about 1% wide, so a p99 over millions of round trips costs no
 * memory per sample.  Used by the engine (rr round trips) and the client
 * loop (crr connections); depends on nothing. */
#include "bench.h"

/* Group 0 holds 0..SUB-1 exactly; group G >= 1 holds [SUB, 2 SUB) << (G-1)
 * in SUB buckets 2^(G-1) wide. */
static int lat_index(uint64_t ns)
{
	int e = 0;

	if (ns < BENCH_LAT_SUB)
		return (int)ns;
	while ((ns >> e) >= 2 * BENCH_LAT_SUB)
		e++;
	if (e + 1 >= BENCH_LAT_EXP)
		return BENCH_LAT_EXP * BENCH_LAT_SUB - 1;
	return (e + 1) * BENCH_LAT_SUB + (int)((ns >> e) - BENCH_LAT_SUB);
}

static uint64_t lat_value(int idx)
{
	int g = idx / BENCH_LAT_SUB, sub = idx % BENCH_LAT_SUB;

	if (g == 0)
		return (uint64_t)sub;
	/* The middle of the bucket. */
	return (((uint64_t)BENCH_LAT_SUB + (uint64_t)sub) << (g - 1)) + ((1ull << (g - 1)) >> 1);
}

void bench_lat_add(struct bench_lat *l, uint64_t ns)
{
	if (l->n == 0 || ns < l->min)
		l->min = ns;
	if (ns > l->max)
		l->max = ns;
	l->n++;
	l->sum += ns;
	l->bucket[lat_index(ns)]++;
}

uint64_t bench_lat_quantile(const struct bench_lat *l, double q)
{
	uint64_t rank, seen = 0, v;

	if (l->n == 0)
		return 0;
	rank = (uint64_t)(q * (double)l->n);
	if (rank >= l->n)
		rank = l->n - 1;
	for (int i = 0; i < BENCH_LAT_EXP * BENCH_LAT_SUB; i++) {
		seen += l->bucket[i];
		if (seen > rank) {
			v = lat_value(i);
			return v < l->min ? l->min : v > l->max ? l->max : v;
		}
	}
	return l->max;
}
