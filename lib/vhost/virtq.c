/* Split virtqueues over vhost-user guest memory (virtio 1.x, 2.7).
 *
 * The rings live in memory the guest writes concurrently, so every field is
 * read once into a local copy (descriptors are memcpy'd whole) and checked
 * before use; shared indices use atomic loads/stores with the orderings
 * the spec asks for.
 *
 * Each public function that touches guest memory is one guarded section
 * (guestmem.h): sigsetjmp at its entry, the work in a static helper, and a
 * fault path that only marks the queue broken.  Nothing between the
 * sigsetjmp and the jump back holds a lock or allocates.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <unistd.h>

#include "virtq.h"

#define DESC_F_NEXT     1u
#define DESC_F_WRITE    2u
#define DESC_F_INDIRECT 4u
#define AVAIL_F_NO_INTERRUPT 1u
#define USED_F_NO_NOTIFY     1u
#define DESC_SIZE 16u

/* One descriptor as bytes (addr le64, len le32, flags le16, next le16). */
struct vq_desc_raw {
	uint8_t addr[8];
	uint8_t len[4];
	uint8_t flags[2];
	uint8_t next[2];
};
_Static_assert(sizeof(struct vq_desc_raw) == DESC_SIZE, "descriptor is 16 bytes");

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

/* --------------------------------------------------------- ring access */

static uint16_t ld16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED));
}

static uint16_t ld16_acquire(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE));
}

static void st16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELAXED);
}

static void st16_release(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELEASE);
}

static void st32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

/* Offsets inside the rings. */
static uint8_t *avail_flags(const struct vq *q) { return q->avail; }
static uint8_t *avail_idx(const struct vq *q) { return q->avail + 2; }
static uint8_t *avail_ring(const struct vq *q, uint32_t i) { return q->avail + 4 + 2 * i; }
static uint8_t *used_event(const struct vq *q) { return q->avail + 4 + 2 * q->num; }
static uint8_t *used_flags(const struct vq *q) { return q->used; }
static uint8_t *used_idx(const struct vq *q) { return q->used + 2; }
static uint8_t *used_elem(const struct vq *q, uint32_t i) { return q->used + 4 + 8 * i; }
static uint8_t *avail_event(const struct vq *q) { return q->used + 4 + 8 * q->num; }

static bool mapped(const struct vq *q)
{
	return q->num && q->desc && q->avail && q->used;
}

/* Mapped, and its table has not faulted (a fault seen through another
 * queue or a copy breaks this one too).  A queue broken by a malformed
 * chain stays usable for pushes and interrupts, as before. */
static bool usable(struct vq *q)
{
	if (q->mem && q->mem->faulted) {
		q->broken = true;
		return false;
	}
	return mapped(q);
}

void vq_init(struct vq *q)
{
	memset(q, 0, sizeof(*q));
	q->kick_fd = q->call_fd = q->err_fd = -1;
	q->notify_enabled = true;
}

int vq_map(struct vq *q, const struct vu_mem *mem)
{
	uint64_t n = q->num;

	q->desc = q->avail = q->used = NULL;
	q->mem = mem;
	if (!n || n > VQ_MAX_NUM || (n & (n - 1)))
		return -EINVAL;
	q->desc = vu_qva_to_va(mem, q->desc_qva, n * DESC_SIZE);
	q->avail = vu_qva_to_va(mem, q->avail_qva, 6 + 2 * n);
	q->used = vu_qva_to_va(mem, q->used_qva, 6 + 8 * n);
	/* The spec's alignments (16, 2, 4) checked on our pointers, since the
	 * atomics below rely on them and mmap_offset is peer-chosen. */
	if (!q->desc || !q->avail || !q->used ||
	    ((uintptr_t)q->desc & 15) || ((uintptr_t)q->avail & 1) || ((uintptr_t)q->used & 3)) {
		q->desc = q->avail = q->used = NULL;
		return -EFAULT;
	}
	return 0;
}

/* The fault path of every guarded function: the guard is already left. */
static int faulted(struct vq *q)
{
	q->broken = true;
	return -EFAULT;
}

int vq_resume(struct vq *q)
{
	struct vu_guard g;

	if (!mapped(q))
		return 0;
	if (sigsetjmp(g.env, 0))
		return faulted(q);
	vu_guard_enter(&g, q->mem);
	q->used_idx = ld16_acquire(used_idx(q));
	vu_guard_leave(&g);
	q->last_avail_idx = q->used_idx;
	q->signalled_used_valid = false;
	return 0;
}

/* --------------------------------------------------------------- pop */

static struct vq_desc desc_read(const uint8_t *table, uint32_t i)
{
	struct vq_desc_raw raw;
	struct vq_desc d;
	uint64_t a;
	uint32_t l;
	uint16_t f, nx;

	/* One copy: the guest may change the table while we look at it. */
	memcpy(&raw, table + (size_t)i * DESC_SIZE, sizeof(raw));
	memcpy(&a, raw.addr, 8);
	memcpy(&l, raw.len, 4);
	memcpy(&f, raw.flags, 2);
	memcpy(&nx, raw.next, 2);
	d.addr = le64toh(a);
	d.len = le32toh(l);
	d.flags = le16toh(f);
	d.next = le16toh(nx);
	return d;
}

/* Append guest buffer [addr, addr+len) to E, split at region borders. */
static int add_buffer(const struct vq *q, struct vq_elem *e, uint64_t addr, uint32_t len, bool write)
{
	struct iovec *iov = write ? e->in : e->out;
	unsigned *n = write ? &e->in_num : &e->out_num;
	uint32_t *total = write ? &e->in_len : &e->out_len;

	if ((uint64_t)*total + len > UINT32_MAX)
		return -EIO;
	*total += len;
	while (len > 0) {
		const struct vu_region *r = vu_mem_region_of(q->mem, addr, false);
		uint64_t off, chunk;

		if (!r || *n >= VQ_MAX_IOV)
			return -EIO;
		off = addr - r->gpa;
		chunk = r->size - off < len ? r->size - off : len;
		iov[*n].iov_base = r->host + off;
		iov[*n].iov_len = chunk;
		(*n)++;
		/* addr + chunk <= r->gpa + r->size, which the region check keeps
		 * from wrapping. */
		addr += chunk;
		len -= (uint32_t)chunk;
	}
	return 0;
}

static int walk_chain(struct vq *q, uint16_t head, struct vq_elem *e)
{
	const uint8_t *table = q->desc;
	uint32_t tnum = q->num, idx = head, walked = 0;
	bool indirect = false, seen_write = false;
	int rc;

	e->head = head;
	e->out_num = e->in_num = 0;
	e->out_len = e->in_len = 0;
	e->ndesc = 0;
	for (;;) {
		struct vq_desc d;

		/* More descriptors than the table holds means a loop. */
		if (idx >= tnum || ++walked > tnum)
			return -EIO;
		d = desc_read(table, idx);
		e->ndesc++;
		if (d.flags & DESC_F_INDIRECT) {
			if (!q->indirect || indirect || (d.flags & DESC_F_NEXT))
				return -EIO;
			if (d.len == 0 || d.len % DESC_SIZE || d.len / DESC_SIZE > VQ_MAX_NUM)
				return -EIO;
			table = vu_gpa_to_va(q->mem, d.addr, d.len);
			if (!table)
				return -EIO;
			tnum = d.len / DESC_SIZE;
			idx = 0;
			walked = 0;
			indirect = true;
			continue;
		}
		if (d.flags & DESC_F_WRITE)
			seen_write = true;
		else if (seen_write)
			return -EIO; /* readable after writable */
		rc = add_buffer(q, e, d.addr, d.len, d.flags & DESC_F_WRITE);
		if (rc < 0)
			return rc;
		if (!(d.flags & DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

static unsigned avail(const struct vq *q)
{
	return (uint16_t)(ld16_acquire(avail_idx(q)) - q->last_avail_idx);
}

unsigned vq_avail(const struct vq *q)
{
	struct vu_guard g;
	unsigned n;

	if (!mapped(q) || q->broken || (q->mem && q->mem->faulted))
		return 0;
	if (sigsetjmp(g.env, 0))
		return 0; /* broken at its next vq_pop: the table is faulted */
	vu_guard_enter(&g, q->mem);
	n = avail(q);
	vu_guard_leave(&g);
	return n;
}

static int pop(struct vq *q, struct vq_elem *e)
{
	uint16_t pending, head;

	/* Acquire: ring entries below idx are visible once idx is. */
	pending = (uint16_t)avail(q);
	if (pending == 0) {
		if (!q->event_idx || !q->notify_enabled)
			return 0;
		/* Empty with event idx: publish "kick me at last_avail_idx"
		 * and look again after a full fence, or a buffer added between
		 * our read and that store would get neither a kick nor a pop. */
		st16(avail_event(q), q->last_avail_idx);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		pending = (uint16_t)avail(q);
		if (pending == 0)
			return 0;
	}
	if (pending > q->num)
		return -EIO;
	head = ld16(avail_ring(q, q->last_avail_idx & (q->num - 1)));
	if (head >= q->num)
		return -EIO;
	if (walk_chain(q, head, e) < 0)
		return -EIO;
	q->last_avail_idx++;
	if (q->event_idx && q->notify_enabled)
		st16(avail_event(q), q->last_avail_idx);
	return 1;
}

int vq_pop(struct vq *q, struct vq_elem *e)
{
	struct vu_guard g;
	int rc;

	if (q->broken)
		return -EIO;
	if (!mapped(q))
		return -ENODEV;
	if (!usable(q))
		return -EIO;
	if (sigsetjmp(g.env, 0)) {
		rc = faulted(q);
		goto out;
	}
	vu_guard_enter(&g, q->mem);
	rc = pop(q, e);
	vu_guard_leave(&g);
	if (rc >= 0)
		return rc;
	q->broken = true;
out:
	e->out_num = e->in_num = 0;
	e->out_len = e->in_len = 0;
	return rc;
}

void vq_unpop(struct vq *q)
{
	q->last_avail_idx--;
}

/* -------------------------------------------------------------- push */

void vq_push(struct vq *q, const struct vq_elem *e, uint32_t written)
{
	struct vu_guard g;
	/* volatile: live across sigsetjmp, so not kept in a register. */
	volatile uint32_t len = written > e->in_len ? e->in_len : written;
	uint8_t *ue;

	if (!usable(q) || e->head >= q->num)
		return;
	if (sigsetjmp(g.env, 0)) {
		faulted(q);
		return;
	}
	vu_guard_enter(&g, q->mem);
	ue = used_elem(q, q->used_idx & (q->num - 1));
	st32(ue, e->head);
	st32(ue + 4, len);
	/* Release: the element is visible before the index that covers it. */
	st16_release(used_idx(q), (uint16_t)(q->used_idx + 1));
	vu_guard_leave(&g);
	q->used_idx++;
}

/* virtio's vring_need_event: did NEW pass EVENT since OLD? */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* Whether the guest wants an interrupt now (and remember that we sent it). */
static bool want_interrupt(struct vq *q)
{
	if (q->signalled_used_valid && q->signalled_used == q->used_idx)
		return false;
	if (q->event_idx) {
		uint16_t old = q->signalled_used;
		bool valid = q->signalled_used_valid;

		q->signalled_used = q->used_idx;
		q->signalled_used_valid = true;
		return !valid || need_event(ld16(used_event(q)), q->used_idx, old);
	}
	if (ld16(avail_flags(q)) & AVAIL_F_NO_INTERRUPT)
		return false;
	q->signalled_used = q->used_idx;
	q->signalled_used_valid = true;
	return true;
}

int vq_notify(struct vq *q)
{
	struct vu_guard g;
	uint64_t one = 1;
	ssize_t n;
	bool want;

	if (!usable(q) || q->call_fd < 0)
		return 0;
	/* Full fence: our used idx store must be ordered before reading the
	 * guest's suppression field, or both sides may wait for each other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (sigsetjmp(g.env, 0))
		return faulted(q);
	vu_guard_enter(&g, q->mem);
	want = want_interrupt(q);
	vu_guard_leave(&g);
	if (!want)
		return 0;
	do
		n = write(q->call_fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	/* EAGAIN: the counter is saturated, the guest is signalled anyway. */
	if (n < 0 && errno != EAGAIN)
		return -errno;
	return 1;
}

void vq_disable_notify(struct vq *q)
{
	struct vu_guard g;

	q->notify_enabled = false;
	/* With event idx, leaving avail_event behind is enough. */
	if (!usable(q) || q->event_idx)
		return;
	if (sigsetjmp(g.env, 0)) {
		faulted(q);
		return;
	}
	vu_guard_enter(&g, q->mem);
	st16(used_flags(q), ld16(used_flags(q)) | USED_F_NO_NOTIFY);
	vu_guard_leave(&g);
}

int vq_enable_notify(struct vq *q)
{
	struct vu_guard g;
	int more;

	q->notify_enabled = true;
	if (!usable(q))
		return 0;
	if (sigsetjmp(g.env, 0))
		return faulted(q), 0;
	vu_guard_enter(&g, q->mem);
	if (q->event_idx)
		st16(avail_event(q), q->last_avail_idx);
	else
		st16(used_flags(q), ld16(used_flags(q)) & ~USED_F_NO_NOTIFY);
	/* Our store must be visible before we look at avail idx again. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	more = ld16(avail_idx(q)) != q->last_avail_idx;
	vu_guard_leave(&g);
	return more;
}

int vq_kick_drain(struct vq *q)
{
	uint64_t v;
	ssize_t n;

	if (q->kick_fd < 0)
		return -EBADF;
	do
		n = read(q->kick_fd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == sizeof(v) ? 0 : -EIO;
}

/* ------------------------------------------------------------ copying */

/* Copies in either direction: TO_IOV writes the segments. */
static size_t copy_iov(const struct iovec *iov, unsigned n, size_t off, uint8_t *buf, size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len, c;

		if (off >= l) {
			off -= l;
			continue;
		}
		c = l - off < len - done ? l - off : len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, buf + done, c);
		else
			memcpy(buf + done, (const uint8_t *)iov[i].iov_base + off, c);
		done += c;
		off = 0;
	}
	return done;
}

size_t vq_iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
	struct vu_guard g;
	size_t done;

	if (sigsetjmp(g.env, 0)) {
		memset(buf, 0, len);
		return 0;
	}
	/* No table at hand: a fault in any guest mapping is caught (and
	 * marks that mapping's table faulted). */
	vu_guard_enter(&g, NULL);
	done = copy_iov(iov, n, off, buf, len, false);
	vu_guard_leave(&g);
	return done;
}

size_t vq_buf_to_iov(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len)
{
	struct vu_guard g;
	size_t done;

	if (sigsetjmp(g.env, 0))
		return 0;
	vu_guard_enter(&g, NULL);
	done = copy_iov(iov, n, off, (uint8_t *)(uintptr_t)buf, len, true);
	vu_guard_leave(&g);
	return done;
}
