/* vhost-user memory-table handlers: SET_MEM_TABLE, ADD_MEM_REG,
 * REM_MEM_REG, GET_MAX_MEM_SLOTS.
 *
 * Rule: after any change of the table every ring is translated again (or
 * stopped) before an old mapping goes, so no ring pointer ever outlives
 * the mapping it points into -- whatever its addresses are: 0 is a valid
 * front-end address, "unset" is vq.addr_set.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vhost_int.h"

/* Re-translate every ring after the memory table changed; rings that no
 * longer translate stop (queue_stopped) with a log line. */
static void remap_queues(struct vu_dev *d)
{
	for (unsigned i = 0; i < d->nqueues; i++) {
		struct vq *q = &d->vq[i];

		if (!q->num || !q->addr_set) {
			/* Nothing to translate, and nothing may point anywhere. */
			q->desc = q->avail = q->used = NULL;
		} else if (vq_map(q, &d->mem) < 0) {
			vu_fail(d, EFAULT, "ring %u: addresses no longer in guest memory, ring stopped", i);
		}
		vu_update_ready(d, i);
	}
}

/* Unmap a region the rings no longer use; a failed munmap is logged (its
 * address space stays counted, so the limits still hold). */
static void unmap(struct vu_dev *d, struct vu_region *r, const char *what)
{
	unsigned long long gpa = r->gpa, size = r->size;
	int rc = vu_mem_unmap_region(r);

	if (rc < 0)
		vu_fail(d, -rc, "%s: munmap of gpa 0x%llx size 0x%llx: %s (address space leaked)", what, gpa, size,
			strerror(-rc));
}

static int unmap_all(struct vu_dev *d, struct vu_mem *m, const char *what)
{
	int rc = 0;

	for (uint32_t i = 0; i < m->n && i < VU_MEM_MAX_REGIONS; i++)
		if (m->r[i].map) {
			unsigned long long gpa = m->r[i].gpa;
			int e = vu_mem_unmap_region(&m->r[i]);

			if (e < 0 && rc == 0)
				rc = vu_fail(d, -e, "%s: munmap of gpa 0x%llx: %s (address space leaked)", what, gpa,
					     strerror(-e));
		}
	m->n = 0;
	m->faulted = 0;
	return rc;
}

/* Bytes this VM may still map, with USED bytes counted against it. */
static uint64_t budget(const struct vu_dev *d, uint64_t used)
{
	return used < d->max_mem ? d->max_mem - used : 0;
}

static unsigned max_regions(const struct vu_dev *d)
{
	return d->max_regions < VU_MEM_MAX_REGIONS ? d->max_regions : VU_MEM_MAX_REGIONS;
}

int vu_set_mem_table(struct vu_dev *d, struct vu_msg *m)
{
	struct vu_mem old;
	char why[192];
	uint32_t n;
	int rc = 0;

	if (m->size < 8)
		return vu_fail(d, EINVAL, "SET_MEM_TABLE: payload is %u bytes, need 8", m->size);
	n = vu_le32(m->payload);
	if (n == 0 || n > VU_MEM_BASELINE_REGIONS || n > max_regions(d))
		return vu_fail(d, EINVAL, "SET_MEM_TABLE: %u regions (1 to %u allowed)", n,
			       max_regions(d) < VU_MEM_BASELINE_REGIONS ? max_regions(d) : VU_MEM_BASELINE_REGIONS);
	if (m->size < 8 + n * VU_REGION_SIZE)
		return vu_fail(d, EINVAL, "SET_MEM_TABLE: payload is %u bytes, %u regions need %u",
			       m->size, n, 8 + n * VU_REGION_SIZE);
	if (m->nfds != n || m->fds_truncated)
		return vu_fail(d, EINVAL, "SET_MEM_TABLE: %u fds for %u regions", m->nfds, n);
	/* The new table is built in place (the fault handler knows its
	 * mappings by &d->mem) while the rings still use the old one, which
	 * stays mapped until they have moved. */
	old = d->mem;
	memset(&d->mem, 0, sizeof(d->mem));
	for (uint32_t i = 0; i < n; i++) {
		struct vu_region *r = &d->mem.r[i];
		int j;

		rc = vu_mem_map_region(&d->mem, r, m->payload + 8 + i * VU_REGION_SIZE, m->fds[i],
				       budget(d, vu_mem_mapped(&d->mem)), why, sizeof(why));
		if (rc < 0) {
			vu_fail(d, -rc, "SET_MEM_TABLE: region %u: %s", i, why);
			goto out;
		}
		if ((j = vu_mem_overlap(&d->mem, r)) >= 0) {
			rc = vu_fail(d, EINVAL, "SET_MEM_TABLE: regions %d and %u overlap", j, i);
			unmap(d, r, "SET_MEM_TABLE");
			goto out;
		}
		d->mem.n = i + 1;
	}
out:
	if (rc < 0) {
		/* Keep the old table: nothing changed for running rings. */
		unmap_all(d, &d->mem, "SET_MEM_TABLE");
		d->mem = old;
		return rc;
	}
	/* New table in place: rings move to it before the old one goes. */
	remap_queues(d);
	unmap_all(d, &old, "SET_MEM_TABLE (old table)");
	return 0;
}

int vu_add_mem_reg(struct vu_dev *d, struct vu_msg *m)
{
	struct vu_region r;
	char why[192];
	int j, rc = vu_need_size(d, m, 8 + VU_REGION_SIZE, 1);

	if (rc < 0)
		return rc;
	if (d->mem.n >= max_regions(d))
		return vu_fail(d, ENOSPC, "ADD_MEM_REG: all %u slots in use", max_regions(d));
	rc = vu_mem_map_region(&d->mem, &r, m->payload + 8, m->fds[0], budget(d, vu_mem_mapped(&d->mem)), why,
			       sizeof(why));
	if (rc < 0)
		return vu_fail(d, -rc, "ADD_MEM_REG: %s", why);
	if ((j = vu_mem_overlap(&d->mem, &r)) >= 0) {
		rc = vu_fail(d, EINVAL, "ADD_MEM_REG: gpa 0x%llx size 0x%llx qva 0x%llx overlaps region %d",
			     (unsigned long long)r.gpa, (unsigned long long)r.size, (unsigned long long)r.qva, j);
		unmap(d, &r, "ADD_MEM_REG");
		return rc;
	}
	d->mem.r[d->mem.n++] = r;
	vu_mem_changed(&d->mem);
	remap_queues(d);
	return 0;
}

int vu_rem_mem_reg(struct vu_dev *d, struct vu_msg *m)
{
	struct vu_region gone;
	uint64_t gpa, size;
	uint32_t j;

	/* QEMU attaches the region's fd again; accept it or none. */
	if (m->size != 8 + VU_REGION_SIZE || m->nfds > 1 || m->fds_truncated)
		return vu_fail(d, EINVAL, "REM_MEM_REG: payload %u bytes with %u fds, expected %u with 0 or 1",
			       m->size, m->nfds, 8 + VU_REGION_SIZE);
	gpa = vu_le64(m->payload + 8);
	size = vu_le64(m->payload + 16);
	for (j = 0; j < d->mem.n; j++)
		if (d->mem.r[j].gpa == gpa && d->mem.r[j].size == size)
			break;
	if (j == d->mem.n)
		return vu_fail(d, ENOENT, "REM_MEM_REG: no region at gpa 0x%llx size 0x%llx",
			       (unsigned long long)gpa, (unsigned long long)size);
	gone = d->mem.r[j];
	d->mem.r[j] = d->mem.r[d->mem.n - 1];
	memset(&d->mem.r[--d->mem.n], 0, sizeof(d->mem.r[0]));
	vu_mem_changed(&d->mem);
	/* Rings move or stop before their memory goes away. */
	remap_queues(d);
	unmap(d, &gone, "REM_MEM_REG");
	return 0;
}

int vu_get_max_mem_slots(struct vu_dev *d, struct vu_msg *m)
{
	return vu_reply_u64(m, max_regions(d));
}
