/* device connection table (see dev_conntab.h). */
#include <errno.h>
#include <stdlib.h>

#include "dev_conntab.h"
#include "vsk.h"

#define BUCKETS_MIN 64u

static unsigned key_hash(uint32_t gport, uint32_t hport, unsigned nbuckets)
{
	uint64_t k = ((uint64_t)gport << 32 | hport) * 0x9E3779B97F4A7C15ull;

	return (unsigned)(k >> 32) & (nbuckets - 1);
}

int conntab_init(struct dev_conntab *t, unsigned max)
{
	*t = (struct dev_conntab){ .max = max, .next_hport = DEV_HPORT_FIRST };
	t->buckets = calloc(BUCKETS_MIN, sizeof(*t->buckets));
	if (t->buckets == NULL)
		return -ENOMEM;
	t->nbuckets = BUCKETS_MIN;
	return 0;
}

void conntab_destroy(struct dev_conntab *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = 0;
}

int conntab_insert(struct dev_conntab *t, struct dev_centry *e)
{
	if (t->n >= t->max)
		return -ENOSPC;
	e->prev = NULL;
	e->next = t->all;
	if (t->all != NULL)
		t->all->prev = e;
	t->all = e;
	t->n++;
	return 0;
}

/* Twice the buckets once there are more entries than buckets, so chains
 * stay short at any number of connections.  A failed allocation keeps the
 * old table: slower, still correct. */
static void grow(struct dev_conntab *t)
{
	unsigned nb = t->nbuckets * 2;
	struct dev_centry **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return;
	for (unsigned i = 0; i < t->nbuckets; i++)
		while (t->buckets[i] != NULL) {
			struct dev_centry *e = t->buckets[i];
			unsigned h = key_hash(e->gport, e->hport, nb);

			t->buckets[i] = e->hnext;
			e->hnext = b[h];
			b[h] = e;
		}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
}

int conntab_hash(struct dev_conntab *t, struct dev_centry *e)
{
	unsigned h;

	if (t->nhashed >= t->nbuckets)
		grow(t);
	h = key_hash(e->gport, e->hport, t->nbuckets);
	e->hnext = t->buckets[h];
	t->buckets[h] = e;
	e->hashed = true;
	t->nhashed++;
	return 0;
}

struct dev_centry *conntab_lookup(const struct dev_conntab *t, uint32_t gport, uint32_t hport)
{
	for (struct dev_centry *e = t->buckets[key_hash(gport, hport, t->nbuckets)]; e != NULL; e = e->hnext)
		if (e->gport == gport && e->hport == hport)
			return e;
	return NULL;
}

static void unhash(struct dev_conntab *t, struct dev_centry *e)
{
	struct dev_centry **pp = &t->buckets[key_hash(e->gport, e->hport, t->nbuckets)];

	for (; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			t->nhashed--;
			break;
		}
	e->hashed = false;
}

void conntab_set_deadline(struct dev_conntab *t, struct dev_centry *e, int64_t deadline)
{
	e->deadline = deadline;
	if (deadline != 0 && !e->timed) {
		e->tprev = NULL;
		e->tnext = t->timed;
		if (t->timed != NULL)
			t->timed->tprev = e;
		t->timed = e;
		t->ntimed++;
		e->timed = true;
	} else if (deadline == 0 && e->timed) {
		if (e->tprev != NULL)
			e->tprev->tnext = e->tnext;
		else
			t->timed = e->tnext;
		if (e->tnext != NULL)
			e->tnext->tprev = e->tprev;
		t->ntimed--;
		e->timed = false;
	}
}

struct dev_centry *conntab_expired(const struct dev_conntab *t, int64_t now)
{
	for (struct dev_centry *e = t->timed; e != NULL; e = e->tnext)
		if (now >= e->deadline)
			return e;
	return NULL;
}

void conntab_set_waiting(struct dev_conntab *t, struct dev_centry *e, bool on)
{
	if (on && !e->waiting) {
		e->wprev = NULL;
		e->wnext = t->waiting;
		if (t->waiting != NULL)
			t->waiting->wprev = e;
		t->waiting = e;
		e->waiting = true;
	} else if (!on && e->waiting) {
		if (e->wprev != NULL)
			e->wprev->wnext = e->wnext;
		else
			t->waiting = e->wnext;
		if (e->wnext != NULL)
			e->wnext->wprev = e->wprev;
		e->waiting = false;
	}
}

struct dev_centry *conntab_take_waiting(struct dev_conntab *t)
{
	struct dev_centry *e = t->waiting;

	if (e != NULL)
		conntab_set_waiting(t, e, false);
	return e;
}

void conntab_retire(struct dev_conntab *t, struct dev_centry *e)
{
	if (e->dead)
		return;
	if (e->hashed)
		unhash(t, e);
	conntab_set_deadline(t, e, 0);
	conntab_set_waiting(t, e, false);
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		t->all = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	t->n--;
	e->dead = true;
	e->prev = NULL;
	e->next = t->dead;
	t->dead = e;
}

struct dev_centry *conntab_take_dead(struct dev_conntab *t)
{
	struct dev_centry *e = t->dead;

	if (e != NULL)
		t->dead = e->next;
	return e;
}

uint32_t conntab_alloc_hport(struct dev_conntab *t, uint32_t gport)
{
	for (;;) {
		uint32_t p = t->next_hport++;

		if (t->next_hport < DEV_HPORT_FIRST || t->next_hport == VSK_PORT_ANY)
			t->next_hport = DEV_HPORT_FIRST;
		if (p >= DEV_HPORT_FIRST && p != VSK_PORT_ANY && conntab_lookup(t, gport, p) == NULL)
			return p;
	}
}
