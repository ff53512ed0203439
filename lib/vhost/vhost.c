/* vhost-user back end: the dispatcher (one flat switch, one vu_<msg>()
 * handler per request), feature and config handlers, init and close.
 *
 * The other handlers are in vhost_mem.c (memory table) and vhost_ring.c
 * (vrings); framing is in vhost_io.c, the shared helpers in vhost_core.c
 * (see vhost_int.h for the layering).
 *
 * Every message is untrusted.  Handlers check the payload size and fd count
 * before anything else; fds a handler does not take stay in the message and
 * the dispatcher closes them, so no error path can leak one.  Only the
 * dispatcher replies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vhost_int.h"

#define VU_CONFIG_HDR 12u    /* offset, size, flags: le32 each */

/* ------------------------------------------------------------ resets */

static void queue_reset(struct vu_dev *d, unsigned i)
{
	struct vq *q = &d->vq[i];

	vu_set_ready(d, i, false);
	vu_close_fd(&q->kick_fd);
	vu_close_fd(&q->call_fd);
	vu_close_fd(&q->err_fd);
	vq_init(q);
	q->mem = &d->mem;
	/* Without protocol features rings start enabled (vhost-user.rst). */
	q->enabled = !vu_has_feature(d, VU_F_PROTOCOL_FEATURES) && d->acked_features;
}

static void device_reset(struct vu_dev *d)
{
	for (unsigned i = 0; i < d->nqueues; i++)
		vu_set_ready(d, i, false);
	d->acked_features = 0;
	for (unsigned i = 0; i < d->nqueues; i++)
		queue_reset(d, i);
	vu_mem_changed(&d->mem);
	if (d->ops && d->ops->reset)
		d->ops->reset(d);
}

/* ----------------------------------------------------------- handlers */

static int vu_get_features(struct vu_dev *d, struct vu_msg *m)
{
	return vu_reply_u64(m, d->features);
}

static int vu_set_features(struct vu_dev *d, struct vu_msg *m)
{
	uint64_t f;
	int rc = vu_need_size(d, m, 8, 0);

	if (rc < 0)
		return rc;
	f = vu_le64(m->payload);
	if (f & ~d->features)
		return vu_fail(d, EINVAL, "SET_FEATURES: 0x%llx has bits never offered (0x%llx)",
			       (unsigned long long)f, (unsigned long long)d->features);
	d->acked_features = f;
	for (unsigned i = 0; i < d->nqueues; i++) {
		struct vq *q = &d->vq[i];

		q->event_idx = vu_has_feature(d, VQ_F_EVENT_IDX);
		q->indirect = vu_has_feature(d, VQ_F_INDIRECT_DESC);
		/* Without protocol features rings are enabled at once; with
		 * them, SET_FEATURES never disables a ring. */
		if (!vu_has_feature(d, VU_F_PROTOCOL_FEATURES))
			q->enabled = true;
		vu_update_ready(d, i);
	}
	if (d->ops && d->ops->features_set)
		d->ops->features_set(d);
	return 0;
}

static int vu_get_protocol_features(struct vu_dev *d, struct vu_msg *m)
{
	return vu_reply_u64(m, d->protocol_features);
}

static int vu_set_protocol_features(struct vu_dev *d, struct vu_msg *m)
{
	uint64_t f;
	int rc = vu_need_size(d, m, 8, 0);

	if (rc < 0)
		return rc;
	f = vu_le64(m->payload);
	if (f & ~d->protocol_features)
		return vu_fail(d, EINVAL, "SET_PROTOCOL_FEATURES: 0x%llx has bits never offered (0x%llx)",
			       (unsigned long long)f, (unsigned long long)d->protocol_features);
	d->acked_protocol_features = f;
	return 0;
}

static int vu_set_owner(struct vu_dev *d, struct vu_msg *m)
{
	d->owner = true;
	return 0;
}

static int vu_reset(struct vu_dev *d, struct vu_msg *m)
{
	device_reset(d);
	return 0;
}

static int vu_get_queue_num(struct vu_dev *d, struct vu_msg *m)
{
	return vu_reply_u64(m, d->nqueues);
}

static int vu_get_config(struct vu_dev *d, struct vu_msg *m)
{
	uint32_t off, size;

	if (m->size < VU_CONFIG_HDR || m->nfds)
		return vu_fail(d, EINVAL, "GET_CONFIG: payload %u bytes with %u fds", m->size, m->nfds);
	off = vu_le32(m->payload);
	size = vu_le32(m->payload + 4);
	memcpy(m->reply, m->payload, VU_CONFIG_HDR);
	m->reply_size = VU_CONFIG_HDR;
	if (off > d->config_len || size > d->config_len - off || size > VU_CONFIG_MAX) {
		/* Header-only reply: the front end sees the size mismatch. */
		vu_put_le32(m->reply + 4, 0);
		vu_fail(d, EINVAL, "GET_CONFIG: bytes %u+%u outside the %u-byte config", off, size, d->config_len);
		return 1;
	}
	memcpy(m->reply + VU_CONFIG_HDR, d->config + off, size);
	m->reply_size += size;
	return 1;
}

static int vu_set_config(struct vu_dev *d, struct vu_msg *m)
{
	/* virtio-vsock config space is read-only for the driver. */
	return vu_fail(d, EPERM, "SET_CONFIG: the device config is read-only");
}

static int vu_unsupported(struct vu_dev *d, struct vu_msg *m)
{
	char nb[32];

	return vu_fail(d, ENOSYS, "%s: not supported", vu_request_name(m->request, nb, sizeof(nb)));
}

/* Requests whose reply the front end always waits for. */
static bool expects_reply(uint32_t req)
{
	switch (req) {
	case VU_GET_FEATURES:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_GET_VRING_BASE:
	case VU_GET_QUEUE_NUM:
	case VU_GET_CONFIG:
	case VU_GET_MAX_MEM_SLOTS:
	case VU_GET_INFLIGHT_FD:
	case VU_GET_STATUS:
	case VU_POSTCOPY_ADVISE:
		return true;
	default:
		return false;
	}
}

static int handle(struct vu_dev *d, struct vu_msg *m)
{
	switch (m->request) {
	case VU_GET_FEATURES:          return vu_get_features(d, m);
	case VU_SET_FEATURES:          return vu_set_features(d, m);
	case VU_GET_PROTOCOL_FEATURES: return vu_get_protocol_features(d, m);
	case VU_SET_PROTOCOL_FEATURES: return vu_set_protocol_features(d, m);
	case VU_SET_OWNER:             return vu_set_owner(d, m);
	case VU_RESET_OWNER:           return vu_reset(d, m);
	case VU_RESET_DEVICE:          return vu_reset(d, m);
	case VU_SET_MEM_TABLE:         return vu_set_mem_table(d, m);
	case VU_ADD_MEM_REG:           return vu_add_mem_reg(d, m);
	case VU_REM_MEM_REG:           return vu_rem_mem_reg(d, m);
	case VU_GET_MAX_MEM_SLOTS:     return vu_get_max_mem_slots(d, m);
	case VU_GET_QUEUE_NUM:         return vu_get_queue_num(d, m);
	case VU_SET_VRING_NUM:         return vu_set_vring_num(d, m);
	case VU_SET_VRING_ADDR:        return vu_set_vring_addr(d, m);
	case VU_SET_VRING_BASE:        return vu_set_vring_base(d, m);
	case VU_GET_VRING_BASE:        return vu_get_vring_base(d, m);
	case VU_SET_VRING_KICK:        return vu_set_vring_kick(d, m);
	case VU_SET_VRING_CALL:        return vu_set_vring_call(d, m);
	case VU_SET_VRING_ERR:         return vu_set_vring_err(d, m);
	case VU_SET_VRING_ENABLE:      return vu_set_vring_enable(d, m);
	case VU_GET_CONFIG:            return vu_get_config(d, m);
	case VU_SET_CONFIG:            return vu_set_config(d, m);
	default:                       return vu_unsupported(d, m);
	}
}

/* ------------------------------------------------------------ dispatch */

int vu_dispatch(struct vu_dev *d)
{
	struct vu_msg m;
	char nb[32];
	int rc, ret;

	if (d->sock < 0)
		return -EBADF;
	/* A waiting reply goes first; until it is out nothing is read, so a
	 * front end that does not read its replies is not read either. */
	ret = vu_flush(d);
	if (ret < 0)
		return ret;
	ret = vu_io_recv(d);
	if (ret <= 0)
		return ret;
	vu_io_msg(d, &m);
	d->nmsgs++;
	rc = handle(d, &m);
	if (rc == 1) {
		ret = vu_io_reply(d, m.request, m.reply_size);
	} else if (expects_reply(m.request)) {
		/* The front end waits for an answer we cannot give: drop it
		 * rather than leave it hanging (the spec allows closing). */
		ret = rc < 0 ? rc
			     : vu_fail(d, EPROTO, "%s: no reply possible", vu_request_name(m.request, nb, sizeof(nb)));
	} else if ((m.flags & VU_FLAG_NEED_REPLY) && vu_has_protocol_feature(d, VU_PF_REPLY_ACK)) {
		vu_put_le64(m.reply, rc < 0 ? (uint64_t)-rc : 0);
		ret = vu_io_reply(d, m.request, 8);
	} else {
		ret = 0;
	}
	vu_io_msg_done(d);
	return ret;
}

/* ------------------------------------------------------- lifecycle */

int vu_init(struct vu_dev *d, int sock, unsigned nqueues, const struct vu_ops *ops, void *opaque)
{
	int fl, rc;

	if (sock < 0 || nqueues == 0 || nqueues > VU_MAX_QUEUES)
		return -EINVAL;
	rc = vu_guard_install();
	if (rc < 0)
		return rc;
	memset(d, 0, sizeof(*d));
	fl = fcntl(sock, F_GETFL);
	if (fl < 0 || fcntl(sock, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	d->sock = sock;
	d->nqueues = nqueues;
	d->ops = ops;
	d->opaque = opaque;
	d->features = (1ull << VU_F_VERSION_1) | (1ull << VU_F_EVENT_IDX) | (1ull << VU_F_INDIRECT_DESC) |
		      (1ull << VU_F_VSOCK_SEQPACKET) | (1ull << VU_F_PROTOCOL_FEATURES);
	d->protocol_features = (1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) |
			       (1ull << VU_PF_RESET_DEVICE) | (1ull << VU_PF_CONFIGURE_MEM_SLOTS);
	d->max_queue_size = VU_QUEUE_SIZE_DEFAULT;
	d->max_mem = VU_MAX_MEM_DEFAULT;
	d->max_regions = VU_MEM_MAX_REGIONS;
	d->msg_timeout_ms = VU_MSG_TIMEOUT_MS;
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		vq_init(&d->vq[i]);
		d->vq[i].mem = &d->mem;
	}
	return 0;
}

void vu_close(struct vu_dev *d)
{
	for (unsigned i = 0; i < d->nqueues && i < VU_MAX_QUEUES; i++)
		vu_set_ready(d, i, false);
	if (d->sock >= 0 && d->ops && d->ops->reset)
		d->ops->reset(d);
	for (unsigned i = 0; i < d->nqueues && i < VU_MAX_QUEUES; i++) {
		struct vq *q = &d->vq[i];

		vu_close_fd(&q->kick_fd);
		vu_close_fd(&q->call_fd);
		vu_close_fd(&q->err_fd);
		vq_init(q);
		q->mem = &d->mem;
	}
	/* Rings were cleared above, so nothing points into the mappings. */
	if (vu_mem_clear(&d->mem) < 0)
		vu_fail(d, EINVAL, "close: munmap of guest memory failed (address space leaked)");
	vu_io_reset(d);
	vu_close_fd(&d->sock);
	d->acked_features = d->acked_protocol_features = 0;
	d->owner = false;
}
