/* device switch (see dev_switch.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dev_rxq.h"
#include "dev_switch.h"
#include "device.h"

int switch_add(struct dev_switch *sw, struct dev_port *p)
{
	if (sw->n == sw->cap) {
		unsigned cap = sw->cap ? sw->cap * 2 : 8;
		struct dev_port **np = realloc(sw->ports, cap * sizeof(*np));

		if (np == NULL)
			return -ENOMEM;
		sw->ports = np;
		sw->cap = cap;
	}
	sw->ports[sw->n++] = p;
	return 0;
}

void switch_del(struct dev_switch *sw, struct dev_port *p)
{
	for (unsigned i = 0; i < sw->n; i++)
		if (sw->ports[i] == p) {
			memmove(&sw->ports[i], &sw->ports[i + 1], (sw->n - i - 1) * sizeof(sw->ports[0]));
			sw->n--;
			return;
		}
}

void switch_destroy(struct dev_switch *sw)
{
	free(sw->ports);
	sw->ports = NULL;
	sw->n = sw->cap = 0;
}

struct dev_port *switch_find(const struct dev_switch *sw, uint64_t cid)
{
	for (unsigned i = 0; i < sw->n; i++)
		if (sw->ports[i]->cid == cid)
			return sw->ports[i];
	return NULL;
}

/* Next '+'-separated name of S after *POS into NAME; false at the end. */
static bool group_next(const char *s, size_t *pos, char *name, size_t len)
{
	size_t n;

	if (*s == '\0' && *pos == 0) {
		snprintf(name, len, "default");
		*pos = 1;
		return true;
	}
	if (*pos > strlen(s))
		return false;
	n = strcspn(s + *pos, "+");
	snprintf(name, len, "%.*s", (int)n, s + *pos);
	*pos += n + 1;
	return true;
}

bool switch_same_group(const struct dev_port *a, const struct dev_port *b)
{
	char ga[DEV_GROUPS_MAX], gb[DEV_GROUPS_MAX];
	size_t pa = 0, pb;

	while (group_next(a->groups, &pa, ga, sizeof(ga)))
		for (pb = 0; group_next(b->groups, &pb, gb, sizeof(gb));)
			if (ga[0] != '\0' && strcmp(ga, gb) == 0)
				return true;
	return false;
}

struct dev_port *switch_route(const struct dev_switch *sw, const struct dev_port *from, uint64_t cid)
{
	struct dev_port *to = switch_find(sw, cid);

	if (to == NULL || to == from || !switch_same_group(from, to))
		return NULL;
	return to;
}

/* --------------------------------------------- hand-off between loops */

/* A packet on its way to another loop. */
struct dev_msg {
	struct dev_msg *next;
	struct dev_port *from, *to;
	uint32_t len;
	uint8_t hdr[WIRE_VIRTIO_HDR_LEN];
	uint8_t data[];
};

static void inbox_push(struct dev_inbox *in, struct dev_msg *m)
{
	struct dev_msg *old = atomic_load_explicit(&in->head, memory_order_relaxed);
	uint64_t one = 1;

	do
		m->next = old;
	while (!atomic_compare_exchange_weak_explicit(&in->head, &old, m, memory_order_release,
						      memory_order_relaxed));
	/* The first packet of a batch wakes the loop; it drains them all. */
	if (old == NULL && write(in->fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
		/* An eventfd write fails only when its counter is full, i.e.
		 * the loop has a wakeup pending anyway. */
	}
}

int switch_send(struct dev_port *from, struct dev_port *to, const uint8_t *hdr, const struct wire_virtio *h,
		const struct iovec *iov, unsigned n)
{
	struct dev_msg *m;

	if (to->inbox == from->inbox) {
		if (h->op == WIRE_OP_REQUEST && !rxq_usable(to->rxq))
			return -ENOTCONN;
		return rxq_send_copy(to->rxq, hdr, iov, n, h->len);
	}
	/* Another loop: TO's state is that loop's to read, so a REQUEST for a
	 * driver that is not up is answered from there. */
	if (atomic_fetch_add_explicit(&to->inbox->bytes, h->len, memory_order_relaxed) + h->len >
	    DEV_INBOX_BYTES) {
		atomic_fetch_sub_explicit(&to->inbox->bytes, h->len, memory_order_relaxed);
		return -ENOBUFS;
	}
	m = malloc(sizeof(*m) + h->len);
	if (m == NULL) {
		atomic_fetch_sub_explicit(&to->inbox->bytes, h->len, memory_order_relaxed);
		return -ENOBUFS;
	}
	m->from = from;
	m->to = to;
	m->len = h->len;
	memcpy(m->hdr, hdr, sizeof(m->hdr));
	if (vq_iov_to_buf(iov, n, 0, m->data, h->len) != h->len) {
		/* FROM's memory faulted under the copy: nothing to hand on. */
		atomic_fetch_sub_explicit(&to->inbox->bytes, h->len, memory_order_relaxed);
		free(m);
		return -EFAULT;
	}
	inbox_push(to->inbox, m);
	return 0;
}

/* The RST for a REQUEST that M's receiver cannot take, back to its sender. */
static void answer_rst(struct dev_msg *m, const struct wire_virtio *in)
{
	struct wire_virtio h;
	uint8_t hdr[WIRE_VIRTIO_HDR_LEN];

	rxq_rst_hdr(in, &h);
	wire_virtio_encode(&h, hdr, sizeof(hdr));
	switch_send(m->to, m->from, hdr, &h, NULL, 0);
}

void switch_inbox_drain(struct dev_inbox *in)
{
	struct dev_msg *m, *fifo = NULL;
	uint64_t v;

	/* Clear the wakeup first: a packet pushed after the exchange below
	 * finds the queue empty and wakes us again. */
	if (read(in->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	m = atomic_exchange_explicit(&in->head, NULL, memory_order_acquire);
	while (m != NULL) { /* newest first: reverse into arrival order */
		struct dev_msg *next = m->next;

		m->next = fifo;
		fifo = m;
		m = next;
	}
	while ((m = fifo) != NULL) {
		struct wire_virtio h;
		struct iovec iov = { m->data, m->len };

		fifo = m->next;
		atomic_fetch_sub_explicit(&in->bytes, m->len, memory_order_relaxed);
		wire_virtio_decode(m->hdr, sizeof(m->hdr), &h);
		if (h.op == WIRE_OP_REQUEST && !rxq_usable(m->to->rxq))
			answer_rst(m, &h);
		else if (m->len == 0)
			rxq_send_ctl(m->to->rxq, &h);
		else
			rxq_send_copy(m->to->rxq, m->hdr, &iov, 1, m->len);
		free(m);
	}
}

int switch_inbox_init(struct dev_inbox *in)
{
	atomic_init(&in->head, NULL);
	atomic_init(&in->bytes, 0);
	in->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return in->fd < 0 ? -errno : 0;
}

void switch_inbox_destroy(struct dev_inbox *in)
{
	struct dev_msg *m = atomic_exchange(&in->head, NULL);

	while (m != NULL) {
		struct dev_msg *next = m->next;

		free(m);
		m = next;
	}
	if (in->fd >= 0)
		close(in->fd);
	in->fd = -1;
}
