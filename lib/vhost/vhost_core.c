/* vhost-user back end, lowest layer: request names, failures, ring
 * readiness and the payload checks every handler starts with. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "vhost_int.h"

static const struct {
	uint32_t val;
	const char *name;
} request_names[] = {
#define VU_REQ_NAME(name, val) {val, #name},
	VU_REQUESTS(VU_REQ_NAME)
};

const char *vu_request_name(uint32_t req, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(request_names) / sizeof(request_names[0]); i++)
		if (request_names[i].val == req)
			return request_names[i].name;
	snprintf(buf, len, "unknown (%u)", req);
	return buf;
}

bool vu_has_feature(const struct vu_dev *d, unsigned bit)
{
	return bit < 64 && (d->acked_features & (1ull << bit));
}

bool vu_has_protocol_feature(const struct vu_dev *d, unsigned bit)
{
	return bit < 64 && (d->acked_protocol_features & (1ull << bit));
}

int vu_fail(struct vu_dev *d, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->errmsg, sizeof(d->errmsg), fmt, ap);
	va_end(ap);
	d->nerrors++;
	if (d->ops && d->ops->log)
		d->ops->log(d, d->errmsg);
	return -err;
}

void vu_close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

int64_t vu_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ queues */

void vu_set_ready(struct vu_dev *d, unsigned i, bool ready)
{
	struct vq *q = &d->vq[i];

	if (q->ready == ready)
		return;
	q->ready = ready;
	if (ready && d->ops && d->ops->queue_started)
		d->ops->queue_started(d, i);
	else if (!ready && d->ops && d->ops->queue_stopped)
		d->ops->queue_stopped(d, i);
}

void vu_update_ready(struct vu_dev *d, unsigned i)
{
	struct vq *q = &d->vq[i];

	vu_set_ready(d, i, q->started && q->enabled && q->kick_fd >= 0 && q->desc && !q->broken);
}

/* ---------------------------------------------------- payload checks */

int vu_need_size(struct vu_dev *d, const struct vu_msg *m, uint32_t size, unsigned nfds)
{
	char nb[32];
	const char *name = vu_request_name(m->request, nb, sizeof(nb));

	if (m->size != size)
		return vu_fail(d, EINVAL, "%s: payload is %u bytes, expected %u", name, m->size, size);
	if (m->nfds != nfds || m->fds_truncated)
		return vu_fail(d, EINVAL, "%s: %u fds attached, expected %u", name, m->nfds, nfds);
	return 0;
}

int vu_reply_u64(struct vu_msg *m, uint64_t v)
{
	vu_put_le64(m->reply, v);
	m->reply_size = 8;
	return 1;
}

int vu_ring_index(struct vu_dev *d, const struct vu_msg *m, uint32_t idx)
{
	char nb[32];

	if (idx >= d->nqueues)
		return vu_fail(d, EINVAL, "%s: ring %u does not exist (%u rings)",
			       vu_request_name(m->request, nb, sizeof(nb)), idx, d->nqueues);
	return (int)idx;
}
