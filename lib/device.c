/* device: the event loop of `vsk device`, its VMs, the tx queue loop and
 * the vhost-user glue.  The transport itself is in device_conn.c (guest ->
 * device) and device_rx.c (device -> guest); see device.h for the shape.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "device_int.h"
#include "sock.h"

static const char *const qname[VU_MAX_QUEUES] = { "rx", "tx", "event" };

void dev_logf(struct dev *d, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (d->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	d->log(d->logarg, level, buf);
}

int64_t dev_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dev_ep_set(struct dev *d, struct dev_ep *e, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = e };
	int rc = 0;

	if (e->fd < 0)
		return -EBADF;
	if (events == 0) {
		dev_ep_del(d, e);
		return 0;
	}
	if (e->added && e->events == events)
		return 0;
	if (epoll_ctl(d->ep, e->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, e->fd, &ev) < 0)
		rc = -errno;
	else {
		e->added = true;
		e->events = events;
	}
	return rc;
}

void dev_ep_del(struct dev *d, struct dev_ep *e)
{
	if (e->added && e->fd >= 0)
		epoll_ctl(d->ep, EPOLL_CTL_DEL, e->fd, NULL);
	e->added = false;
	e->events = 0;
}

void dev_tap(struct dev *d, const uint8_t *hdr, const struct iovec *iov, int n)
{
	if (d->pcap == NULL)
		return;
	if (capture_write_virtio(d->pcap, NULL, hdr, iov, n) < 0) {
		dev_logf(d, 0, "pcap: write failed, capture stopped");
		capture_writer_close(d->pcap);
		d->pcap = NULL;
		return;
	}
	d->pcap_dirty = true;
}

struct dev_vm *dev_vm_by_cid(struct dev *d, uint64_t cid)
{
	for (int i = 0; i < d->nvms; i++)
		if (d->vms[i]->cfg.cid == cid)
			return d->vms[i];
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

bool dev_vm_same_group(const struct dev_vm *a, const struct dev_vm *b)
{
	char ga[DEV_GROUPS_MAX], gb[DEV_GROUPS_MAX];
	size_t pa = 0, pb;

	while (group_next(a->cfg.groups, &pa, ga, sizeof(ga)))
		for (pb = 0; group_next(b->cfg.groups, &pb, gb, sizeof(gb));)
			if (ga[0] != '\0' && strcmp(ga, gb) == 0)
				return true;
	return false;
}

bool dev_vm_rx_ready(const struct dev_vm *vm)
{
	return vm->q[DEV_QRX] != NULL && vm->ready[DEV_QRX] && !vm->q[DEV_QRX]->broken;
}

void dev_vm_broken(struct dev_vm *vm, unsigned qidx)
{
	if (!vm->broken_logged) {
		vm->broken_logged = true;
		dev_logf(vm->dev, 0, "vm %u: malformed descriptor chain on the %s queue: "
			 "VM's connections reset, queue stopped until the guest resets the device",
			 vm->cfg.cid, qname[qidx]);
	}
	vm->st.drops++;
	dev_vm_drop_conns(vm, false);
	dev_backlog_clear(vm);
}

/* ----------------------------------------------------- the tx queue */

static void tx_packet(struct dev_vm *vm, const uint8_t *hdr, const struct wire_virtio *h,
		      const struct iovec *iov, unsigned n)
{
	struct dev_vm *sib;

	if (h->src_cid != vm->cfg.cid) {
		vm->st.drops++;
		dev_logf(vm->dev, 1, "vm %u: dropped a packet with src_cid %llu", vm->cfg.cid,
			 (unsigned long long)h->src_cid);
		return;
	}
	if (h->type != WIRE_TYPE_STREAM && h->type != WIRE_TYPE_SEQPACKET) {
		dev_send_rst_for(vm, h);
		return;
	}
	if (h->dst_cid == VSK_CID_HOST) {
		dev_host_packet(vm, h, iov, n);
		return;
	}
	sib = dev_vm_by_cid(vm->dev, h->dst_cid);
	if (sib == NULL || sib == vm || !dev_vm_same_group(vm, sib) ||
	    (h->op == WIRE_OP_REQUEST && !dev_vm_rx_ready(sib))) {
		if (h->op == WIRE_OP_REQUEST)
			dev_logf(vm->dev, 1, "vm %u: %u:%u -> %llu:%u: no such CID in this VM's groups, RST",
				 vm->cfg.cid, vm->cfg.cid, h->src_port, (unsigned long long)h->dst_cid,
				 h->dst_port);
		dev_send_rst_for(vm, h);
		return;
	}
	vm->st.sibling++;
	dev_send_copy(sib, hdr, iov, n, h->len);
}

void dev_tx_process(struct dev_vm *vm)
{
	struct dev *d = vm->dev;
	struct vq *q = vm->q[DEV_QTX];
	struct vq_elem *e = &d->txe;
	int i;

	if (q == NULL || !vm->ready[DEV_QTX])
		return;
	vm->tx_more = false;
	vq_disable_notify(q);
	for (i = 0; i < DEV_TX_BATCH; i++) {
		uint8_t hdr[WIRE_VIRTIO_HDR_LEN];
		struct iovec piov[VQ_MAX_IOV];
		struct wire_virtio h;
		unsigned pn;
		int rc = vq_pop(q, e);

		if (rc == 0)
			break;
		if (rc < 0) {
			dev_vm_broken(vm, DEV_QTX);
			goto out;
		}
		if (e->out_len < WIRE_VIRTIO_HDR_LEN ||
		    vq_iov_to_buf(e->out, e->out_num, 0, hdr, sizeof(hdr)) != sizeof(hdr) ||
		    wire_virtio_decode(hdr, sizeof(hdr), &h) < 0 ||
		    h.len > e->out_len - WIRE_VIRTIO_HDR_LEN || h.len > DEV_MAX_TX_LEN) {
			vm->st.drops++;
			dev_logf(d, 1, "vm %u: malformed tx packet (%u bytes) dropped", vm->cfg.cid, e->out_len);
		} else {
			pn = dev_iov_slice(e->out, e->out_num, WIRE_VIRTIO_HDR_LEN, h.len, piov, VQ_MAX_IOV);
			vm->st.pkts_tx++;
			vm->st.bytes_tx += h.len;
			dev_tap(d, hdr, piov, (int)pn);
			tx_packet(vm, hdr, &h, piov, pn);
		}
		/* The packet may have stopped the queue (reset on error). */
		if (!vm->ready[DEV_QTX])
			goto out;
		vq_push(q, e, 0);
		vm->dirty[DEV_QTX] = true;
	}
	if (i == DEV_TX_BATCH || vq_enable_notify(q) == 1)
		vm->tx_more = true;
out:
	dev_tx_flush_gathered(vm);
}

/* --------------------------------------------------------- vhost-user */

static void cb_queue_started(struct vu_dev *vu, unsigned i)
{
	struct dev_vm *vm = vu->opaque;

	if (i >= VU_MAX_QUEUES)
		return;
	vm->q[i] = &vu->vq[i];
	vm->ready[i] = true;
	vm->broken_logged = false;
	/* Rings that do not start at 0 were in use before this session: the
	 * guest holds connections we know nothing about. */
	if (i != DEV_QEV && vu->vq[i].last_avail_idx != 0)
		vm->reset_event = true;
	vm->kick[i].fd = vu->vq[i].kick_fd;
	if (vm->kick[i].fd >= 0)
		dev_ep_set(vm->dev, &vm->kick[i], EPOLLIN);
	if (i == DEV_QTX)
		vm->tx_more = true;
	else if (i == DEV_QRX)
		vm->rx_kicked = true;
	dev_logf(vm->dev, 1, "vm %u: %s queue started (%u entries)", vm->cfg.cid, qname[i], vu->vq[i].num);
}

static void cb_queue_stopped(struct vu_dev *vu, unsigned i)
{
	struct dev_vm *vm = vu->opaque;

	if (i >= VU_MAX_QUEUES)
		return;
	dev_ep_del(vm->dev, &vm->kick[i]);
	vm->kick[i].fd = -1;
	vm->ready[i] = false;
	dev_logf(vm->dev, 1, "vm %u: %s queue stopped", vm->cfg.cid, qname[i]);
	if (i != DEV_QEV && vm->nconns > 0) {
		dev_logf(vm->dev, 0, "vm %u: queues stopped (guest reset, reboot or QEMU stop): %u connections dropped",
			 vm->cfg.cid, vm->nconns);
		/* The RSTs wait in the backlog: after a pause the same guest
		 * learns its connections are gone; a reset discards them. */
		dev_vm_drop_conns(vm, true);
	}
}

static void cb_reset(struct vu_dev *vu)
{
	struct dev_vm *vm = vu->opaque;

	dev_vm_drop_conns(vm, false);
	dev_backlog_clear(vm);
	vm->reset_event = false;
	dev_logf(vm->dev, 1, "vm %u: device reset", vm->cfg.cid);
}

static void cb_log(struct vu_dev *vu, const char *msg)
{
	struct dev_vm *vm = vu->opaque;

	dev_logf(vm->dev, 0, "vm %u: vhost-user: %s", vm->cfg.cid, msg);
}

static const struct vu_ops dev_vu_ops = {
	.queue_started = cb_queue_started,
	.queue_stopped = cb_queue_stopped,
	.reset = cb_reset,
	.log = cb_log,
};

static void vm_vu_close(struct dev_vm *vm, const char *why)
{
	struct dev *d = vm->dev;

	dev_ep_del(d, &vm->vu_sock);
	vu_close(&vm->vu);
	vm->vu_sock.fd = -1;
	vm->vu_active = false;
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		vm->q[i] = NULL;
	dev_logf(d, 0, "vm %u: QEMU disconnected (%s); waiting on %s", vm->cfg.cid, why, vm->cfg.socket);
	dev_ep_set(d, &vm->vu_listen, EPOLLIN);
}

static void vm_accept_vu(struct dev_vm *vm)
{
	struct dev *d = vm->dev;
	int fd, rc;

	do
		fd = accept4(vm->vu_listen.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			dev_logf(d, 0, "vm %u: accept %s: %s", vm->cfg.cid, vm->cfg.socket, strerror(errno));
		return;
	}
	rc = vu_init(&vm->vu, fd, VU_MAX_QUEUES, &dev_vu_ops, vm);
	if (rc < 0) {
		dev_logf(d, 0, "vm %u: vhost-user setup: %s", vm->cfg.cid, strerror(-rc));
		close(fd);
		return;
	}
	wire_st64(vm->vu.config, vm->cfg.cid); /* virtio_vsock_config.guest_cid */
	vm->vu.config_len = 8;
	vm->vu_active = true;
	vm->vu_sock.fd = fd;
	dev_ep_set(d, &vm->vu_sock, EPOLLIN);
	/* One front end at a time; a second waits in the backlog. */
	dev_ep_set(d, &vm->vu_listen, 0);
	dev_logf(d, 0, "vm %u: QEMU connected on %s", vm->cfg.cid, vm->cfg.socket);
}

/* The vhost-user socket polled readable, or writable while a reply waits
 * (vu_want_write): vu_dispatch never blocks, a message may take several
 * calls.  Afterwards poll for whichever the back end needs next. */
static void vm_vu_readable(struct dev_vm *vm)
{
	for (int i = 0; i < 64 && vm->vu_active; i++) {
		int rc = vu_dispatch(&vm->vu);

		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			char why[200];

			snprintf(why, sizeof(why), "%s", vm->vu.errmsg[0] ? vm->vu.errmsg : strerror(-rc));
			vm_vu_close(vm, why);
			return;
		}
	}
	if (vm->vu_active)
		dev_ep_set(vm->dev, &vm->vu_sock, vu_want_write(&vm->vu) ? EPOLLOUT : EPOLLIN);
}

/* A front end that did not finish a message, or did not take its reply,
 * in time is dropped (vu_expired). */
static void vu_timers(struct dev *d)
{
	int64_t now = 0;

	for (int i = 0; i < d->nvms; i++) {
		struct dev_vm *vm = d->vms[i];

		if (!vm->vu_active || vu_deadline(&vm->vu) == 0)
			continue;
		if (now == 0)
			now = dev_now_ms();
		if (vu_expired(&vm->vu, now) < 0) {
			char why[200];

			snprintf(why, sizeof(why), "%s", vm->vu.errmsg);
			vm_vu_close(vm, why);
		}
	}
}

/* Earliest vhost-user deadline from now, in ms (-1: none). */
static int vu_next_timeout(struct dev *d)
{
	int64_t now = 0, best = -1;

	for (int i = 0; i < d->nvms; i++) {
		int64_t dl;

		if (!d->vms[i]->vu_active || (dl = vu_deadline(&d->vms[i]->vu)) == 0)
			continue;
		if (now == 0)
			now = dev_now_ms();
		dl = dl > now ? dl - now : 0;
		if (best < 0 || dl < best)
			best = dl;
	}
	return best > INT32_MAX ? INT32_MAX : (int)best;
}

static void vm_kick(struct dev_vm *vm, unsigned i, bool drain)
{
	if (i >= VU_MAX_QUEUES || vm->q[i] == NULL || !vm->ready[i])
		return;
	if (drain)
		vq_kick_drain(vm->q[i]);
	if (i == DEV_QTX)
		dev_tx_process(vm);
	else if (i == DEV_QRX)
		dev_rx_kick(vm);
	else
		dev_post_reset_event(vm);
}

/* ------------------------------------------------------------ the API */

int dev_create(struct dev **dp, dev_log_fn log, void *arg)
{
	struct dev *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -ENOMEM;
	d->ep = epoll_create1(EPOLL_CLOEXEC);
	if (d->ep < 0) {
		int err = errno;

		free(d);
		return -err;
	}
	d->log = log;
	d->logarg = arg;
	d->nonce = (uint64_t)getpid() << 32;
	d->sock_mode = DEV_SOCKET_MODE_DEFAULT;
	*dp = d;
	return 0;
}

/* Refuse a socket directory that every user may write to without the
 * sticky bit: anyone there could remove our socket files and put their own
 * (or a symlink) in their place, and so take QEMU's connection (guest
 * memory) or the guest's traffic.  A sticky world-writable directory (/tmp)
 * keeps others from removing our files. */
static int dir_check(const char *path, const char *what, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &st) < 0) {
		int rc = -errno;

		snprintf(err, errlen, "%s %s: directory %s: %s", what, path, dir, strerror(-rc));
		return rc;
	}
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
		snprintf(err, errlen,
			 "%s %s: directory %s is writable by every user and not sticky, so anyone could "
			 "replace the socket; use a private directory (or chmod +t %s)", what, path, dir, dir);
		return -EPERM;
	}
	return 0;
}

/* Listen on PATH with the device's socket mode; a leftover socket file
 * nobody answers on (never any other file) is replaced (lib/sock.c). */
static int listen_unix(struct dev *d, const char *path, const char *what, int backlog, char *err,
		       size_t errlen)
{
	int rc = dir_check(path, what, err, errlen);

	if (rc < 0)
		return rc;
	rc = sock_listen_unix(path, "", SOCK_STREAM | SOCK_NONBLOCK, backlog, (int)d->sock_mode);
	if (rc == -EADDRINUSE) {
		struct stat st;
		const char *why = "another process listens there";

		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			why = "it is a symlink (not replaced)";
		else if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
			why = "it exists and is not a socket (not replaced)";
		snprintf(err, errlen, "%s %s: in use: %s", what, path, why);
	} else if (rc < 0)
		snprintf(err, errlen, "%s %s: bind/listen: %s", what, path, strerror(-rc));
	return rc;
}

int dev_set_socket_mode(struct dev *d, unsigned mode)
{
	if (mode > 0777)
		return -EINVAL;
	d->sock_mode = mode;
	return 0;
}

int dev_add_vm(struct dev *d, const struct dev_vm_cfg *c, struct dev_vm **vmp, char *err, size_t errlen)
{
	struct dev_vm *vm;
	int rc;

	if (d->nvms >= DEV_MAX_VMS) {
		snprintf(err, errlen, "too many VMs (at most %d)", DEV_MAX_VMS);
		return -ENOSPC;
	}
	rc = dev_cfg_check(c, 1, err, errlen);
	if (rc < 0)
		return rc;
	for (int i = 0; i < d->nvms; i++) {
		const struct dev_vm_cfg *o = &d->vms[i]->cfg;

		if (o->cid == c->cid || !strcmp(o->socket, c->socket) || !strcmp(o->uds, c->uds)) {
			snprintf(err, errlen, "VM with guest CID %u: CID, socket or uds-path already used by VM %u",
				 c->cid, o->cid);
			return -EEXIST;
		}
	}
	vm = calloc(1, sizeof(*vm));
	if (vm == NULL)
		return -ENOMEM;
	vm->dev = d;
	vm->cfg = *c;
	vm->next_hport = DEV_HPORT_FIRST;
	vm->vu.sock = -1;
	vm->vu_listen = (struct dev_ep){ .kind = EP_VU_LISTEN, .fd = -1, .obj = vm };
	vm->vu_sock = (struct dev_ep){ .kind = EP_VU_SOCK, .fd = -1, .obj = vm };
	vm->uds_listen = (struct dev_ep){ .kind = EP_UDS_LISTEN, .fd = -1, .obj = vm };
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		vm->kick[i] = (struct dev_ep){ .kind = EP_KICK, .fd = -1, .obj = vm, .idx = i };
	rc = listen_unix(d, c->socket, "vhost-user socket", 4, err, errlen);
	if (rc < 0)
		goto fail;
	vm->vu_listen.fd = rc;
	rc = listen_unix(d, c->uds, "uds-path", 128, err, errlen);
	if (rc < 0)
		goto fail;
	vm->uds_listen.fd = rc;
	if ((rc = dev_ep_set(d, &vm->vu_listen, EPOLLIN)) < 0 ||
	    (rc = dev_ep_set(d, &vm->uds_listen, EPOLLIN)) < 0) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(-rc));
		goto fail;
	}
	d->vms[d->nvms++] = vm;
	if (vmp != NULL)
		*vmp = vm;
	return 0;
fail:
	if (vm->vu_listen.fd >= 0) {
		dev_ep_del(d, &vm->vu_listen);
		close(vm->vu_listen.fd);
		unlink(c->socket);
	}
	if (vm->uds_listen.fd >= 0) {
		dev_ep_del(d, &vm->uds_listen);
		close(vm->uds_listen.fd);
		unlink(c->uds);
	}
	free(vm);
	return rc;
}

int dev_set_pcap(struct dev *d, const char *path, char *err, size_t errlen)
{
	char ebuf[CAPTURE_ERRBUF_SIZE] = "";
	int rc;

	if (d->pcap != NULL)
		capture_writer_close(d->pcap);
	d->pcap = NULL;
	rc = capture_writer_open(path, 0, &d->pcap, ebuf);
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", path, ebuf[0] ? ebuf : strerror(-rc));
	return rc;
}

static void end_of_round(struct dev *d)
{
	for (int i = 0; i < d->nvms; i++) {
		struct dev_vm *vm = d->vms[i];

		if (vm->rx_kicked) {
			vm->rx_kicked = false;
			dev_rx_kick(vm);
		}
		if (vm->tx_more)
			dev_tx_process(vm);
		if (vm->reset_event)
			dev_post_reset_event(vm);
	}
	if (d->ntimed > 0)
		dev_timers(d, dev_now_ms());
	vu_timers(d);
	/* One interrupt per queue per round: the batching the guest sees. */
	for (int i = 0; i < d->nvms; i++)
		for (unsigned q = 0; q < VU_MAX_QUEUES; q++) {
			struct dev_vm *vm = d->vms[i];

			if (vm->dirty[q] && vm->q[q] != NULL && vm->ready[q])
				vq_notify(vm->q[q]);
			vm->dirty[q] = false;
		}
	if (d->pcap_dirty && d->pcap != NULL)
		capture_writer_flush(d->pcap);
	d->pcap_dirty = false;
	while (d->grave != NULL) {
		struct dev_conn *c = d->grave;

		d->grave = c->dnext;
		free(c);
	}
}

int dev_run_once(struct dev *d, int timeout_ms)
{
	struct epoll_event evs[64];
	int n;

	for (int i = 0; i < d->nvms; i++)
		if (d->vms[i]->tx_more || d->vms[i]->rx_kicked)
			timeout_ms = 0;
	if (d->ntimed > 0 && (timeout_ms < 0 || timeout_ms > DEV_RETRY_MS))
		timeout_ms = DEV_RETRY_MS;
	{
		int vt = vu_next_timeout(d);

		if (vt >= 0 && (timeout_ms < 0 || vt < timeout_ms))
			timeout_ms = vt;
	}
	n = epoll_wait(d->ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout_ms);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		struct dev_ep *e = evs[i].data.ptr;

		switch (e->kind) {
		case EP_VU_LISTEN:
			vm_accept_vu(e->obj);
			break;
		case EP_VU_SOCK:
			vm_vu_readable(e->obj);
			break;
		case EP_KICK:
			vm_kick(e->obj, e->idx, true);
			break;
		case EP_UDS_LISTEN:
			dev_uds_accept(e->obj);
			break;
		case EP_CONN:
			dev_conn_event(e->obj, evs[i].events);
			break;
		case EP_DEAD:
			break;
		}
	}
	end_of_round(d);
	return 0;
}

void dev_get_stats(const struct dev *d, const struct dev_vm *vm, struct dev_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < d->nvms; i++) {
		const struct dev_stats *v = &d->vms[i]->st;

		if (vm != NULL && d->vms[i] != vm)
			continue;
		s->pkts_rx += v->pkts_rx;
		s->pkts_tx += v->pkts_tx;
		s->bytes_rx += v->bytes_rx;
		s->bytes_tx += v->bytes_tx;
		s->conns += v->conns;
		s->resets += v->resets;
		s->stalls += v->stalls;
		s->drops += v->drops;
		s->sibling += v->sibling;
	}
}

int dev_vm_count(const struct dev *d)
{
	return d->nvms;
}

struct dev_vm *dev_vm_at(struct dev *d, int i)
{
	return i >= 0 && i < d->nvms ? d->vms[i] : NULL;
}

uint32_t dev_vm_cid(const struct dev_vm *vm)
{
	return vm->cfg.cid;
}

unsigned dev_vm_nconns(const struct dev_vm *vm)
{
	return vm->nconns;
}

void dev_vm_attach(struct dev_vm *vm, struct vq *rx, struct vq *tx, struct vq *ev)
{
	vm->attached = true;
	vm->broken_logged = false; /* a new guest's first bad chain is news */
	vm->q[DEV_QRX] = rx;
	vm->q[DEV_QTX] = tx;
	vm->q[DEV_QEV] = ev;
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		vm->ready[i] = vm->q[i] != NULL;
	if ((rx != NULL && rx->last_avail_idx != 0) || (tx != NULL && tx->last_avail_idx != 0))
		vm->reset_event = true;
	vm->rx_kicked = true;
	vm->tx_more = true;
}

void dev_vm_detach(struct dev_vm *vm)
{
	dev_vm_drop_conns(vm, false);
	dev_backlog_clear(vm);
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		vm->q[i] = NULL;
		vm->ready[i] = false;
	}
	vm->attached = false;
}

void dev_vm_kick(struct dev_vm *vm, unsigned qidx)
{
	vm_kick(vm, qidx, false);
}

void dev_destroy(struct dev *d)
{
	if (d == NULL)
		return;
	for (int i = 0; i < d->nvms; i++) {
		struct dev_vm *vm = d->vms[i];

		dev_vm_drop_conns(vm, false);
		if (vm->vu_active) {
			dev_ep_del(d, &vm->vu_sock);
			vu_close(&vm->vu);
			vm->vu_active = false;
		}
		dev_backlog_clear(vm);
		for (unsigned q = 0; q < VU_MAX_QUEUES; q++) {
			vm->q[q] = NULL;
			vm->ready[q] = false;
		}
		vm->tx_more = vm->rx_kicked = vm->reset_event = false;
		if (vm->vu_listen.fd >= 0) {
			close(vm->vu_listen.fd);
			vm->vu_listen.fd = -1;
			unlink(vm->cfg.socket);
		}
		if (vm->uds_listen.fd >= 0) {
			close(vm->uds_listen.fd);
			vm->uds_listen.fd = -1;
			unlink(vm->cfg.uds);
		}
	}
	end_of_round(d);
	for (int i = 0; i < d->nvms; i++)
		free(d->vms[i]);
	if (d->pcap != NULL)
		capture_writer_close(d->pcap);
	close(d->ep);
	free(d);
}
