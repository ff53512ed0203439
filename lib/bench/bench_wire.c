/* bench: what goes on the wire (model in bench.h), with no state of its
 * own: the control header and the report, the data pattern, and the
 * stream sum that protocol version 1 peers still exchange.  The engine
 * (bench.c) and the loops (bench_run.c) build on this; it calls neither.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Header, little-endian:
 *   0 magic "VSKB"   4 version   5 mode   6 flags   7 zero
 *   8 msg_len        12 duration_ms  16 limit (bytes, or round trips)
 *   24 start (pattern offset)        28..47 zero
 * flags: bit 0 the client's socket is SEQPACKET; bit 1 (version 2) the
 * data is not checked. */
void bench_hdr_encode(unsigned char *p, const struct bench_hdr *h)
{
	memset(p, 0, BENCH_HDR_LEN);
	memcpy(p, "VSKB", 4);
	p[4] = h->version ? h->version : BENCH_PROTO;
	p[5] = (unsigned char)h->mode;
	p[6] = (unsigned char)((h->seqpacket ? BENCH_F_SEQ : 0) | (h->nocheck ? BENCH_F_NOCHECK : 0));
	put32(p + 8, h->msg_len);
	put32(p + 12, h->duration_ms);
	put64(p + 16, h->limit);
	put32(p + 24, h->start);
}

int bench_hdr_decode(const unsigned char *p, size_t len, struct bench_hdr *h, char *why, size_t wlen)
{
	if (len != BENCH_HDR_LEN || memcmp(p, "VSKB", 4) != 0) {
		snprintf(why, wlen, "not a vsk bench client (no VSKB header)");
		return -EPROTO;
	}
	if (p[4] != 1 && p[4] != BENCH_PROTO) {
		snprintf(why, wlen, "bench protocol version %u, this server speaks 1 and %u", p[4],
			 BENCH_PROTO);
		return -EPROTO;
	}
	h->version = p[4];
	h->mode = (enum bench_mode)p[5];
	h->seqpacket = p[6] & BENCH_F_SEQ;
	h->nocheck = h->version >= 2 && (p[6] & BENCH_F_NOCHECK);
	h->msg_len = get32(p + 8);
	h->duration_ms = get32(p + 12);
	h->limit = get64(p + 16);
	h->start = get32(p + 24);
	if (h->mode < BENCH_UP || h->mode > BENCH_CRR) {
		snprintf(why, wlen, "unknown bench mode %u", p[5]);
		return -EPROTO;
	}
	if (h->msg_len == 0 || h->msg_len > BENCH_MSG_MAX || h->start >= BENCH_PERIOD) {
		snprintf(why, wlen, "bad header: message length %u (1..%u), start %u", h->msg_len,
			 BENCH_MSG_MAX, h->start);
		return -EPROTO;
	}
	return 0;
}

/* Report: 0 "VSKR"  4 status  8 bytes  16 messages  24 first bad offset
 * 32 sum (version 1 only; 0 from version 2 on) */
void bench_report_encode(unsigned char *p, const struct bench_report *r)
{
	memset(p, 0, BENCH_REPORT_LEN);
	memcpy(p, "VSKR", 4);
	p[4] = r->status;
	put64(p + 8, r->bytes);
	put64(p + 16, r->msgs);
	put64(p + 24, r->bad_off);
	put64(p + 32, r->sum);
}

int bench_report_decode(const unsigned char *p, size_t len, struct bench_report *r)
{
	if (len != BENCH_REPORT_LEN || memcmp(p, "VSKR", 4) != 0)
		return -EPROTO;
	r->status = p[4];
	r->bytes = get64(p + 8);
	r->msgs = get64(p + 16);
	r->bad_off = get64(p + 24);
	r->sum = get64(p + 32);
	return 0;
}

unsigned char *bench_pattern_new(void)
{
	size_t len = (size_t)BENCH_PERIOD + BENCH_MSG_MAX;
	unsigned char *p = malloc(len);
	uint64_t x = 0x9E3779B97F4A7C15ull;

	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < BENCH_PERIOD; i++) {
		/* xorshift64*: no byte value and no short cycle stands out */
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		p[i] = (unsigned char)((x * 0x2545F4914F6CDD1Dull) >> 56);
	}
	/* Any window of up to BENCH_MSG_MAX bytes is contiguous. */
	memcpy(p + BENCH_PERIOD, p, BENCH_MSG_MAX);
	return p;
}

uint64_t bench_sum64(uint64_t pos, const unsigned char *b, size_t n)
{
	uint64_t s = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;

	for (; i < n && (pos + i) % 8 != 0; i++)
		s += (uint64_t)b[i] << (8 * ((pos + i) % 8));
	/* Four sums of whole words: the compiler turns this into vector adds
	 * (a byte-wise load ran at 3 GB/s, this at memory speed). */
	for (; i + 32 <= n; i += 32) {
		uint64_t w[4];
		memcpy(w, b + i, sizeof(w));
		s0 += le64toh(w[0]);
		s1 += le64toh(w[1]);
		s2 += le64toh(w[2]);
		s3 += le64toh(w[3]);
	}
	s += s0 + s1 + s2 + s3;
	for (; i + 8 <= n; i += 8)
		s += get64(b + i);
	for (; i < n; i++)
		s += (uint64_t)b[i] << (8 * ((pos + i) % 8));
	return s;
}

const char *bench_mode_name(enum bench_mode m)
{
	static const struct {
		enum bench_mode m;
		const char *name;
	} names[] = { { BENCH_UP, "up" }, { BENCH_DOWN, "down" }, { BENCH_RR, "rr" }, { BENCH_CRR, "crr" } };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].m == m)
			return names[i].name;
	return "unknown";
}
