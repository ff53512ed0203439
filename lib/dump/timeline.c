/* timeline: per-connection time bins for the time-sequence plot. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "timeline.h"

struct timeline {
	struct tl_opts o;
	struct tl_conn **c;      /* [conntrack index] (only: one slot) */
	size_t n;
};

/* Times beyond this are clamped: about 35 years in microseconds, so bin
 * arithmetic cannot overflow on hostile 64-bit timestamps. */
#define TL_T_MAX (1ll << 50)

int timeline_new(const struct tl_opts *o, struct timeline **tlp)
{
	struct timeline *tl = calloc(1, sizeof(*tl));

	if (tl == NULL)
		return -ENOMEM;
	tl->o = *o;
	if (tl->o.max == 0)
		tl->o.max = TL_CONNS_MAX;
	tl->n = tl->o.only >= 0 ? 1 : tl->o.max;
	tl->c = calloc(tl->n, sizeof(*tl->c));
	if (tl->c == NULL) {
		free(tl);
		return -ENOMEM;
	}
	*tlp = tl;
	return 0;
}

void timeline_free(struct timeline *tl)
{
	if (tl == NULL)
		return;
	for (size_t i = 0; i < tl->n; i++)
		free(tl->c[i]);
	free(tl->c);
	free(tl);
}

static struct tl_conn **slot_of(const struct timeline *tl, uint32_t conn)
{
	if (tl->o.only >= 0)
		return (long)conn == tl->o.only ? &tl->c[0] : NULL;
	return conn < tl->n ? &tl->c[conn] : NULL;
}

const struct tl_conn *timeline_get(const struct timeline *tl, uint32_t conn)
{
	struct tl_conn **s = slot_of(tl, conn);

	return s != NULL ? *s : NULL;
}

size_t tl_bin_of(const struct tl_conn *c, int64_t t)
{
	int64_t i = t < 0 ? 0 : t / c->width;

	return i >= TL_BINS ? TL_BINS - 1 : (size_t)i;
}

/* Microseconds from A to B, clamped to 0..TL_T_MAX. */
static int64_t since(const struct timeval *a, const struct timeval *b)
{
	int64_t s, us;

	if (__builtin_sub_overflow((int64_t)b->tv_sec, (int64_t)a->tv_sec, &s))
		return b->tv_sec < a->tv_sec ? 0 : TL_T_MAX;
	if (s < -1)
		return 0;
	if (s > TL_T_MAX / 1000000)
		return TL_T_MAX;
	/* A hostile file's tv_usec may be far beyond a second: still fits. */
	us = s * 1000000 + ((int64_t)b->tv_usec - (int64_t)a->tv_usec);
	return us < 0 ? 0 : us > TL_T_MAX ? TL_T_MAX : us;
}

static uint16_t sat16(uint32_t v)
{
	return v > UINT16_MAX ? UINT16_MAX : (uint16_t)v;
}

/* A := A and B as one bin (B later in time). */
static void bin_merge(struct tl_bin *a, const struct tl_bin *b)
{
	if (b->flags & TL_B_DATA) {
		if (!(a->flags & TL_B_DATA)) {
			a->lo = b->lo;
			a->hi = b->hi;
		} else {
			a->lo = b->lo < a->lo ? b->lo : a->lo;
			a->hi = b->hi > a->hi ? b->hi : a->hi;
		}
	}
	if (b->flags & TL_B_LIMIT) {
		if (!(a->flags & TL_B_LIMIT)) {
			a->lim_first = b->lim_first;
			a->lim_min = b->lim_min;
			a->lim_max = b->lim_max;
		} else {
			a->lim_min = b->lim_min < a->lim_min ? b->lim_min : a->lim_min;
			a->lim_max = b->lim_max > a->lim_max ? b->lim_max : a->lim_max;
		}
		a->lim_last = b->lim_last;
	}
	if (b->cr > 0)
		a->cr_off = b->cr_off;
	if (b->eom > 0)
		a->eom_off = b->eom_off;
	a->rw = b->rw > UINT32_MAX - a->rw ? UINT32_MAX : a->rw + b->rw;
	a->cu = sat16((uint32_t)a->cu + b->cu);
	a->cr = sat16((uint32_t)a->cr + b->cr);
	a->eom = sat16((uint32_t)a->eom + b->eom);
	a->flags |= b->flags;
}

/* Double the bin width until time T fits. */
static void fit(struct tl_conn *c, int64_t t)
{
	while (t / c->width >= TL_BINS) {
		for (int d = 0; d < 2; d++) {
			struct tl_bin *b = c->bin[d];

			for (size_t i = 0; i < TL_BINS / 2; i++) {
				struct tl_bin m = b[2 * i];

				bin_merge(&m, &b[2 * i + 1]);
				b[i] = m;
			}
			memset(&b[TL_BINS / 2], 0, TL_BINS / 2 * sizeof(*b));
		}
		c->width *= 2;
	}
}

static void put_limit(struct tl_bin *b, uint64_t lim)
{
	if (!(b->flags & TL_B_LIMIT)) {
		b->lim_first = b->lim_min = b->lim_max = lim;
		b->flags |= TL_B_LIMIT;
	}
	if (lim < b->lim_min)
		b->lim_min = lim;
	if (lim > b->lim_max)
		b->lim_max = lim;
	b->lim_last = lim;
}

/* Direction D waited from FROM to TO. */
static void put_wait(struct tl_conn *c, int d, int64_t from, int64_t to)
{
	for (size_t i = tl_bin_of(c, from), j = tl_bin_of(c, to); i <= j; i++)
		c->bin[d][i].flags |= TL_B_WAIT;
}

int timeline_add(struct timeline *tl, const struct timeval *ts, const struct wire_rec *r,
		 const struct ct_event *ev, const struct ct_conn *k)
{
	const struct wire_virtio *v = &r->virtio;
	struct tl_conn **s = slot_of(tl, ev->conn), *c;
	int d = ev->dir, p = 1 - ev->dir;
	struct tl_bin *mine, *theirs;
	uint64_t lim;
	int64_t t;

	if (s == NULL)
		return 0;
	if (*s == NULL) {
		*s = calloc(1, sizeof(**s));
		if (*s == NULL)
			return -ENOMEM;
		(*s)->first = k->first;
		(*s)->width = 1;
	}
	c = *s;
	t = since(&c->first, ts);
	fit(c, t);
	if (t > c->end)
		c->end = t;
	mine = &c->bin[d][tl_bin_of(c, t)];
	theirs = &c->bin[p][tl_bin_of(c, t)];
	switch (v->op) {
	case WIRE_OP_RW:
		mine->rw = mine->rw == UINT32_MAX ? UINT32_MAX : mine->rw + 1;
		if (ev->len > 0) {
			uint64_t end = ev->off + ev->len;

			if (!(mine->flags & TL_B_DATA)) {
				mine->lo = ev->off;
				mine->hi = end;
				mine->flags |= TL_B_DATA;
			}
			mine->lo = ev->off < mine->lo ? ev->off : mine->lo;
			mine->hi = end > mine->hi ? end : mine->hi;
		}
		if (k->type == WIRE_TYPE_SEQPACKET && (v->flags & WIRE_SEQ_EOM)) {
			mine->eom = sat16((uint32_t)mine->eom + 1);
			mine->eom_off = ev->off + ev->len;
		}
		break;
	case WIRE_OP_CREDIT_UPDATE:
		theirs->cu = sat16((uint32_t)theirs->cu + 1);
		break;
	case WIRE_OP_CREDIT_REQUEST:
		mine->cr = sat16((uint32_t)mine->cr + 1);
		mine->cr_off = ev->off;
		break;
	case WIRE_OP_REQUEST:
	case WIRE_OP_RESPONSE:
	case WIRE_OP_SHUTDOWN:
	case WIRE_OP_RST:
		if (c->nmark == TL_MARKS) {
			c->marks_lost++;
			break;
		}
		c->mark[c->nmark++] = (struct tl_mark){ .t = t, .op = v->op, .dir = (uint8_t)d,
							.flags = v->flags };
		break;
	default:
		break;
	}
	/* The limit of both directions after this record: the step line. */
	if (ct_limit(k, d, &lim))
		put_limit(mine, lim);
	if (ct_limit(k, p, &lim))
		put_limit(theirs, lim);
	/* A wait is put into the bins when it ends; one still open at the
	 * end is the reader's to draw (waiting, wait_since). */
	if (ev->wait_begin) {
		c->waiting[d] = true;
		c->wait_since[d] = t;
	}
	if (ev->wait_end && c->waiting[p]) {
		put_wait(c, p, c->wait_since[p], t);
		c->waiting[p] = false;
	}
	return 0;
}
