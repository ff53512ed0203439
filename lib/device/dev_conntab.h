/* device connection table of one VM: the hash by ports, the list of all
 * connections (with a limit), the ones with a deadline, the ones waiting
 * for rx buffers, and the retired ones waiting to be freed.
 *
 * Intrusive: a connection embeds a struct dev_centry as its first member
 * and the table links entries only, so it never sees a connection's
 * insides.  Retiring an entry takes it out of every list at once; it is
 * freed by its owner at the end of the loop round (events for it may still
 * be in that round's epoll batch). */
#ifndef VSK_DEV_CONNTAB_H
#define VSK_DEV_CONNTAB_H

#include <stdbool.h>
#include <stdint.h>

#define DEV_HPORT_FIRST 0x40000000u /* host ports of host->guest connections */

struct dev_centry {
	struct dev_centry *hnext;        /* hash chain */
	struct dev_centry *next, *prev;  /* every connection of the VM */
	struct dev_centry *tnext, *tprev;/* with a deadline */
	struct dev_centry *wnext, *wprev;/* waiting for rx buffers */
	uint32_t gport, hport;           /* the key (the guest's CID is the VM's) */
	int64_t deadline;                /* ms on dev_now_ms()'s clock */
	bool hashed, timed, waiting, dead;
};

struct dev_conntab {
	struct dev_centry **buckets;
	unsigned nbuckets;               /* a power of two */
	unsigned nhashed;
	struct dev_centry *all;
	unsigned n, max;
	struct dev_centry *timed;
	unsigned ntimed;
	struct dev_centry *waiting;
	struct dev_centry *dead;         /* retired, linked by next */
	uint32_t next_hport;
};

/* An empty table for at most MAX live connections.  0 or -ENOMEM. */
int conntab_init(struct dev_conntab *t, unsigned max);
/* Free the table's own memory (the entries are their owner's). */
void conntab_destroy(struct dev_conntab *t);
/* Count E in: 0, or -ENOSPC at the limit. */
int conntab_insert(struct dev_conntab *t, struct dev_centry *e);
/* Make E findable by its ports (set them first).  0 or -ENOMEM. */
int conntab_hash(struct dev_conntab *t, struct dev_centry *e);
struct dev_centry *conntab_lookup(const struct dev_conntab *t, uint32_t gport, uint32_t hport);
/* DEADLINE 0 = none. */
void conntab_set_deadline(struct dev_conntab *t, struct dev_centry *e, int64_t deadline);
/* An entry whose deadline has passed at NOW, or NULL.  Its owner must
 * move or clear the deadline before asking again. */
struct dev_centry *conntab_expired(const struct dev_conntab *t, int64_t now);
void conntab_set_waiting(struct dev_conntab *t, struct dev_centry *e, bool on);
/* Take one entry off the waiting list, or NULL. */
struct dev_centry *conntab_take_waiting(struct dev_conntab *t);
/* Out of every list, onto the dead list. */
void conntab_retire(struct dev_conntab *t, struct dev_centry *e);
/* Take one retired entry (to free it), or NULL. */
struct dev_centry *conntab_take_dead(struct dev_conntab *t);
/* A host port for a host-initiated connection to guest port GPORT, unused
 * with it. */
uint32_t conntab_alloc_hport(struct dev_conntab *t, uint32_t gport);

#endif
