/* conntrack: connections of a capture, their counters and credit. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conntrack.h"

struct conntrack {
	struct ct_conn *v;       /* by first appearance */
	size_t n, cap;
	uint32_t *slot;          /* open addressing: index into V + 1, 0 = empty */
	size_t nslot, nkeys;     /* NKEYS: slots in use */
};

int conntrack_new(struct conntrack **ctp)
{
	struct conntrack *ct = calloc(1, sizeof(*ct));

	if (ct == NULL)
		return -ENOMEM;
	*ctp = ct;
	return 0;
}

void conntrack_free(struct conntrack *ct)
{
	if (ct == NULL)
		return;
	free(ct->v);
	free(ct->slot);
	free(ct);
}

size_t conntrack_count(const struct conntrack *ct)
{
	return ct->n;
}

const struct ct_conn *conntrack_get(const struct conntrack *ct, size_t i)
{
	return i < ct->n ? &ct->v[i] : NULL;
}

const char *ct_end_name(uint8_t end)
{
	return end == CT_END_SHUTDOWN ? "SHUTDOWN" : end == CT_END_RST ? "RST" : "open";
}

/* What direction D has sent that its peer has not yet forwarded. */
static bool inflight(const struct ct_conn *k, int d, uint32_t *n)
{
	if (!k->seen_req || !k->s[1 - d].credit_known)
		return false;
	*n = k->s[d].tx_cnt - k->s[1 - d].fwd_cnt;
	return true;
}

bool ct_credit(const struct ct_conn *k, int d, uint32_t *credit)
{
	uint32_t ba = k->s[1 - d].buf_alloc, n;

	if (!inflight(k, d, &n))
		return false;
	*credit = ba > n ? ba - n : 0;
	return true;
}

bool ct_limit(const struct ct_conn *k, int d, uint64_t *limit)
{
	uint64_t b = k->s[d].bytes;
	uint32_t n;
	int64_t l;

	if (!inflight(k, d, &n))
		return false;
	/* A hostile file can claim 4 GiB per record: keep the sum signed. */
	if (b > (1ull << 62))
		b = 1ull << 62;
	l = (int64_t)b + k->s[1 - d].buf_alloc - n;
	*limit = l < 0 ? 0 : (uint64_t)l;
	return true;
}

static size_t conn_hash(uint64_t c0, uint32_t p0, uint64_t c1, uint32_t p1, uint16_t type)
{
	/* Symmetric in the two endpoints: both directions land in one chain. */
	uint64_t a = (c0 * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)p0 * 0xc2b2ae3d27d4eb4full);
	uint64_t z = (c1 * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)p1 * 0xc2b2ae3d27d4eb4full);
	uint64_t h = (a + z) ^ type;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return (size_t)h;
}

/* Direction of (src -> dst) in K: 0 if src is endpoint 0, 1 if endpoint 1,
 * -1 if K is another connection. */
static int conn_dir(const struct ct_conn *k, const struct wire_mon *m, uint16_t type)
{
	if (k->type != type)
		return -1;
	if (k->cid[0] == m->src_cid && k->port[0] == m->src_port &&
	    k->cid[1] == m->dst_cid && k->port[1] == m->dst_port)
		return 0;
	if (k->cid[1] == m->src_cid && k->port[1] == m->src_port &&
	    k->cid[0] == m->dst_cid && k->port[0] == m->dst_port)
		return 1;
	return -1;
}

static int slots_grow(struct conntrack *ct)
{
	size_t nslot = ct->nslot ? ct->nslot * 2 : 1024;
	uint32_t *ns = calloc(nslot, sizeof(*ns));

	if (ns == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < ct->nslot; i++) {
		const struct ct_conn *k;
		size_t j;

		if (ct->slot[i] == 0)
			continue;
		k = &ct->v[ct->slot[i] - 1];
		j = conn_hash(k->cid[0], k->port[0], k->cid[1], k->port[1], k->type) & (nslot - 1);
		while (ns[j] != 0)
			j = (j + 1) & (nslot - 1);
		ns[j] = ct->slot[i];
	}
	free(ct->slot);
	ct->slot = ns;
	ct->nslot = nslot;
	return 0;
}

/* Append a connection started by R at TS; its index, or -errno. */
static long conn_new(struct conntrack *ct, const struct timeval *ts, const struct wire_rec *r)
{
	struct ct_conn *k;

	if (ct->n >= CT_CONNS_MAX)
		return -ENOSPC;
	if (ct->n == ct->cap) {
		size_t cap = ct->cap ? ct->cap * 2 : 256;
		struct ct_conn *nv = realloc(ct->v, cap * sizeof(*nv));

		if (nv == NULL)
			return -ENOMEM;
		ct->v = nv;
		ct->cap = cap;
	}
	k = &ct->v[ct->n];
	memset(k, 0, sizeof(*k));
	k->cid[0] = r->mon.src_cid;
	k->port[0] = r->mon.src_port;
	k->cid[1] = r->mon.dst_cid;
	k->port[1] = r->mon.dst_port;
	k->type = r->virtio.type;
	k->seen_req = r->virtio.op == WIRE_OP_REQUEST;
	k->first = k->last = *ts;
	return (long)ct->n++;
}

static int tv_cmp(const struct timeval *a, const struct timeval *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	return a->tv_usec < b->tv_usec ? -1 : a->tv_usec > b->tv_usec;
}

/* The payload bytes an RW record counts: its virtio len, but a lying len
 * cannot claim more than the record held. */
static uint32_t rw_bytes(const struct wire_rec *r, uint32_t len)
{
	size_t hdrs = WIRE_MON_HDR_LEN + (size_t)r->mon.len;
	uint32_t n = r->virtio.len;

	if (len < hdrs)
		return 0;
	return n > len - hdrs ? (uint32_t)(len - hdrs) : n;
}

/* Counters, credit and waits of K for the record R from endpoint DIR. */
static void account(struct ct_conn *k, int dir, const struct wire_rec *r, uint32_t len,
		    struct ct_event *ev)
{
	const struct wire_virtio *v = &r->virtio;
	struct ct_side *me = &k->s[dir], *peer = &k->s[1 - dir];
	uint32_t credit;

	ev->off = me->bytes;
	me->pkts++;
	if (v->op == WIRE_OP_RW) {
		uint32_t n = rw_bytes(r, len);

		ev->len = n;
		me->bytes += n;
		if (n > 0 && ct_credit(k, dir, &credit)) {
			if (credit == 0)
				ev->stall = true;
			else if (n >= credit)
				ev->full = true;
		}
		me->tx_cnt += n;
	} else if (v->op == WIRE_OP_CREDIT_REQUEST) {
		ev->stall = true;
	} else if (v->op == WIRE_OP_SHUTDOWN && k->end == CT_END_OPEN) {
		k->end = CT_END_SHUTDOWN;
	} else if (v->op == WIRE_OP_RST && k->end == CT_END_OPEN) {
		k->end = CT_END_RST;
	}
	me->stalls += ev->stall;
	me->full += ev->full;
	if ((ev->stall || ev->full) && !me->waiting) {
		me->waiting = true;
		me->waits++;
		ev->wait_begin = true;
	}
	/* Every header carries the sender's receive-buffer state: the peer's
	 * credit may have come back with it. */
	me->buf_alloc = v->buf_alloc;
	me->fwd_cnt = v->fwd_cnt;
	me->credit_known = true;
	/* Forwarded more than the capture saw the peer send: its records were
	 * lost (vsockmon drops when its reader lags).  It sent at least that
	 * much; without this, the wrapped difference would read as no credit
	 * for the rest of the connection. */
	if ((int32_t)(peer->tx_cnt - me->fwd_cnt) < 0)
		peer->tx_cnt = me->fwd_cnt;
	if (peer->waiting && (!ct_credit(k, 1 - dir, &credit) || credit > 0)) {
		peer->waiting = false;
		ev->wait_end = true;
	}
}

int conntrack_add(struct conntrack *ct, const struct timeval *ts, uint32_t len,
		  const struct wire_rec *r, struct ct_event *ev)
{
	const struct wire_virtio *v = &r->virtio;
	struct ct_conn *k = NULL;
	size_t i = 0;
	long idx = -1;
	int dir = 0;

	memset(ev, 0, sizeof(*ev));
	/* Only decoded virtio packets say which connection they belong to. */
	if (!r->has_virtio)
		return 0;
	if (ct->nslot == 0 || (ct->nkeys + 1) * 4 > ct->nslot * 3) {
		if (slots_grow(ct) < 0)
			return -ENOMEM;
	}
	i = conn_hash(r->mon.src_cid, r->mon.src_port, r->mon.dst_cid, r->mon.dst_port,
		      v->type) & (ct->nslot - 1);
	for (; ct->slot[i] != 0; i = (i + 1) & (ct->nslot - 1)) {
		dir = conn_dir(&ct->v[ct->slot[i] - 1], &r->mon, v->type);
		if (dir >= 0) {
			idx = (long)ct->slot[i] - 1;
			break;
		}
	}
	/* A REQUEST on a finished or already-requested pair starts a new one,
	 * which takes the old one's slot. */
	if (idx >= 0 && v->op == WIRE_OP_REQUEST &&
	    (ct->v[idx].end != CT_END_OPEN || ct->v[idx].seen_req))
		idx = -1;
	if (idx < 0) {
		bool reuse = ct->slot[i] != 0;

		idx = conn_new(ct, ts, r);
		if (idx < 0)
			return (int)idx;
		ct->slot[i] = (uint32_t)idx + 1;
		ct->nkeys += !reuse;
		dir = 0;
	}
	k = &ct->v[idx];
	if (tv_cmp(ts, &k->last) > 0)
		k->last = *ts;
	ev->conn = (uint32_t)idx;
	ev->dir = (uint8_t)dir;
	account(k, dir, r, len, ev);
	return 1;
}
