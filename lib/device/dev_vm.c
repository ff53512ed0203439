/* device VMs (see dev_vm.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "dev_backend.h"
#include "dev_conntab.h"
#include "dev_hostsock.h"
#include "dev_rxq.h"
#include "dev_txq.h"
#include "dev_vm.h"
#include "vhost.h"
#include "vsk.h"

#define DEV_QRX 0
#define DEV_QTX 1
#define DEV_QEV 2

#define DEV_ACCEPT_PAUSE_MS 100 /* a listener rests this long after EMFILE */
#define DEV_TX_DESCS 8192              /* descriptors per tx round and VM */
#define DEV_TX_BYTES (8u * 1024u * 1024u) /* bytes per tx round and VM */

/* A listening socket of the VM as the loop polls it.  When accept() fails
 * for want of fds (or memory) it leaves the poll set for a while instead of
 * staying readable and spinning the loop; the failure is logged once per
 * burst. */
struct dev_accept {
	struct dev_ep ep;
	char what[VSK_PATH_MAX + 24]; /* for log lines: its path or vsock port */
	int64_t resume_at;       /* paused until then (0 = not paused) */
	bool failing;            /* a failure was logged; cleared by a success */
};

struct dev_vm {
	struct dev_env *env;
	struct dev_vm_cfg cfg;
	struct dev_accept vu_listen;
	struct dev_ep vu_sock, kick[VU_MAX_QUEUES];
	struct dev_accept host_listen[DEV_LISTEN_MAX]; /* idx: into lis */
	struct dev_listener lis[DEV_LISTEN_MAX];        /* the back end's sockets */
	unsigned nlis;
	unsigned max_handshake;          /* host clients without a connection yet */
	struct dev_backend be;
	struct vu_dev vu;
	bool vu_active;
	bool attached;                   /* test hook queues */
	struct vq *q[VU_MAX_QUEUES];
	bool ready[VU_MAX_QUEUES];
	bool dirty[VU_MAX_QUEUES];       /* tx and event pushed since the last
	                                  * notify (rx: rxq.dirty) */
	bool rx_kicked;                  /* rx buffers arrived: retry waiters */
	bool tx_more;                    /* tx work left over for next round */
	bool reset_event;                /* TRANSPORT_RESET owed to the guest */
	bool broken_logged;
	bool rx_broken_seen;             /* the broken rx ring was acted on */
	struct dev_rxq rxq;
	struct dev_conntab tab;
	struct dev_vmctx ctx;            /* what its connections see */
	struct dev_port port;            /* its place in the switch */
	struct dev_stats st;
	struct dev_stats pub;            /* st as of the last round's end */
};

static const char *const qname[VU_MAX_QUEUES] = { "rx", "tx", "event" };

/* The rx queue's view of the ring follows the VM's. */
static void sync_rxq(struct dev_vm *vm)
{
	vm->rxq.q = vm->q[DEV_QRX];
	vm->rxq.ready = vm->ready[DEV_QRX];
	vm->rxq.has_peer = vm->vu_active || vm->attached;
}

/* Drop the VM's connections (RST: tell the guest); the number dropped.
 * KEEP: host clients the guest never saw stay, for the driver when it is
 * back.  Dropping one never retires another of this VM: NEXT stays valid. */
static unsigned drop_conns(struct dev_vm *vm, bool rst, bool keep)
{
	struct dev_centry *e, *next;
	unsigned n = 0;

	for (e = vm->tab.all; e != NULL; e = next) {
		next = e->next;
		if (keep && conn_wait_driver(conn_of(e)))
			continue;
		conn_drop(conn_of(e), rst);
		n++;
	}
	return n;
}

static void vm_broken(struct dev_vm *vm, unsigned qidx)
{
	const struct vq *q = vm->q[qidx];

	if (!vm->broken_logged) {
		vm->broken_logged = true;
		if (q != NULL && q->mem != NULL && q->mem->faulted)
			dev_logf(vm->env->log, 0, "vm %u: guest memory faulted on the %s queue (the front end "
				 "truncated or unmapped it): VM's connections reset, queues stopped until the "
				 "front end sets them up again", vm->cfg.cid, qname[qidx]);
		else
			dev_logf(vm->env->log, 0, "vm %u: malformed descriptor chain on the %s queue: "
				 "VM's connections reset, queue stopped until the guest resets the device",
				 vm->cfg.cid, qname[qidx]);
	}
	vm->st.drops++;
	drop_conns(vm, false, false);
	rxq_clear(&vm->rxq);
}

/* Whatever wrote to the rx ring may have found it malformed. */
static void check_rx(struct dev_vm *vm)
{
	if (vm->rxq.broken && !vm->rx_broken_seen) {
		vm->rx_broken_seen = true;
		vm_broken(vm, DEV_QRX);
	}
}

/* ------------------------------------------------------ listeners */

/* What each listener may accept now: the front end's one at a time, host
 * clients while the VM is under its limits (the rest wait in the listen
 * backlog, holding none of our fds). */
static void update_listeners(struct dev_vm *vm)
{
	int epfd = vm->env->epfd;
	bool host_ok = vm->tab.n < vm->tab.max && vm->ctx.nhandshake < vm->max_handshake;

	dev_ep_set(epfd, &vm->vu_listen.ep, !vm->vu_active && vm->vu_listen.resume_at == 0 ? EPOLLIN : 0);
	for (unsigned i = 0; i < vm->nlis; i++)
		dev_ep_set(epfd, &vm->host_listen[i].ep, host_ok && vm->host_listen[i].resume_at == 0 ? EPOLLIN : 0);
}

/* accept4() on L (the peer's address into SA, SALEN unless NULL): an fd,
 * or -1 (nothing waiting, or L paused). */
static int listener_accept(struct dev_vm *vm, struct dev_accept *l, struct sockaddr *sa, socklen_t *salen)
{
	int fd, err;

	do
		fd = accept4(l->ep.fd, sa, salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd >= 0) {
		l->failing = false;
		return fd;
	}
	err = errno;
	if (err == EAGAIN || err == EWOULDBLOCK || err == ECONNABORTED)
		return -1;
	if (!l->failing)
		dev_logf(vm->env->log, 0, "vm %u: accept %s: %s%s; not accepting for %d ms", vm->cfg.cid, l->what,
			 strerror(err), err == EMFILE || err == ENFILE ? " (the fd limit: see ulimit -n)" : "",
			 DEV_ACCEPT_PAUSE_MS);
	l->failing = true;
	l->resume_at = dev_now_ms() + DEV_ACCEPT_PAUSE_MS;
	update_listeners(vm);
	return -1;
}

static void resume(struct dev_accept *a, int64_t now)
{
	if (a->resume_at != 0 && now >= a->resume_at)
		a->resume_at = 0;
}

static void listeners_resume(struct dev_vm *vm, int64_t now)
{
	resume(&vm->vu_listen, now);
	for (unsigned i = 0; i < vm->nlis; i++)
		resume(&vm->host_listen[i], now);
}

/* ----------------------------------------------------- the tx queue */

static void route(struct dev_vm *vm, const struct dev_txpkt *p)
{
	const struct wire_virtio *h = &p->h;
	struct dev_port *sib;
	int rc;

	if (h->src_cid != vm->cfg.cid) {
		vm->st.drops++;
		dev_logf(vm->env->log, 1, "vm %u: dropped a packet with src_cid %llu", vm->cfg.cid,
			 (unsigned long long)h->src_cid);
		return;
	}
	if (h->type != WIRE_TYPE_STREAM && h->type != WIRE_TYPE_SEQPACKET) {
		rxq_send_rst_for(&vm->rxq, h);
		return;
	}
	if (h->dst_cid == VSK_CID_HOST) {
		conn_guest_packet(&vm->ctx, h, p->iov, p->n);
		return;
	}
	sib = switch_route(vm->env->sw, &vm->port, h->dst_cid);
	rc = sib != NULL ? switch_send(&vm->port, sib, p->hdr, h, p->iov, p->n) : -ENOTCONN;
	if (rc == -ENOTCONN) {
		if (h->op == WIRE_OP_REQUEST)
			dev_logf(vm->env->log, 1, "vm %u: %u:%u -> %llu:%u: no such CID in this VM's groups, RST",
				 vm->cfg.cid, vm->cfg.cid, h->src_port, (unsigned long long)h->dst_cid, h->dst_port);
		rxq_send_rst_for(&vm->rxq, h);
		return;
	}
	if (rc < 0)
		vm->st.drops++;
	else
		vm->st.sibling++;
}

/* One round of the tx queue: up to DEV_TX_BATCH chains, DEV_TX_DESCS
 * descriptors and DEV_TX_BYTES bytes, whichever comes first, so a guest
 * whose chains are long (an indirect table of 32,768 empty descriptors)
 * takes no more of the loop than one with ordinary packets; the rest waits
 * for the next round, after the other VMs'. */
static void vm_tx(struct dev_vm *vm)
{
	struct vq *q = vm->q[DEV_QTX];
	struct vq_elem *e = &vm->env->txe;
	uint64_t bytes = 0;
	unsigned ndesc = 0;
	bool budget = false;
	int i;

	if (q == NULL || !vm->ready[DEV_QTX])
		return;
	vm->tx_more = false;
	vq_disable_notify(q);
	for (i = 0; i < DEV_TX_BATCH; i++) {
		struct dev_txpkt p;
		int rc = txq_next(q, e, &p);

		if (rc == 0)
			break;
		if (rc == -EIO || rc == -EFAULT) {
			vm_broken(vm, DEV_QTX);
			goto out;
		}
		if (rc < 0) {
			vm->st.drops++;
			dev_logf(vm->env->log, 1, "vm %u: malformed tx packet (%u bytes) dropped", vm->cfg.cid,
				 e->out_len);
		} else {
			vm->st.pkts_tx++;
			vm->st.bytes_tx += p.h.len;
			dev_tap_packet(vm->env->tap, p.hdr, p.iov, (int)p.n);
			route(vm, &p);
			check_rx(vm);
		}
		vq_push(q, e, 0);
		vm->dirty[DEV_QTX] = true;
		ndesc += e->ndesc;
		bytes += e->out_len;
		if (ndesc >= DEV_TX_DESCS || bytes >= DEV_TX_BYTES) {
			budget = true;
			break;
		}
	}
	if (i == DEV_TX_BATCH || budget || vq_enable_notify(q) == 1)
		vm->tx_more = true;
out:
	/* The small payloads gathered during the batch, one send each. */
	for (unsigned k = 0; k < vm->ctx.ngathered; k++)
		conn_batch_end(vm->ctx.gathered[k]);
	vm->ctx.ngathered = 0;
	check_rx(vm);
}

/* ------------------------------------------------ rx and event queues */

/* rx buffers arrived: the backlog first, then the connections waiting. */
static void vm_rx_kick(struct dev_vm *vm)
{
	struct dev_centry *e;

	if (rxq_flush(&vm->rxq))
		while ((e = conntab_take_waiting(&vm->tab)) != NULL)
			conn_rx_ready(conn_of(e));
	check_rx(vm);
}

/* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue, if usable. */
static void post_reset_event(struct dev_vm *vm)
{
	struct vq_elem *e = &vm->env->scratch[0];
	uint8_t ev[4] = { 0, 0, 0, 0 }; /* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET = 0 */
	struct vq *q = vm->q[DEV_QEV];
	int rc;

	if (!vm->reset_event || q == NULL || !vm->ready[DEV_QEV])
		return;
	rc = vq_pop(q, e);
	if (rc < 0) {
		vm_broken(vm, DEV_QEV);
		return;
	}
	if (rc == 0)
		return; /* retried when the guest adds event buffers */
	vq_buf_to_iov(e->in, e->in_num, 0, ev, sizeof(ev));
	vq_push(q, e, e->in_len >= sizeof(ev) ? sizeof(ev) : 0);
	vm->dirty[DEV_QEV] = true;
	vm->reset_event = false;
	dev_logf(vm->env->log, 1, "vm %u: TRANSPORT_RESET event posted", vm->cfg.cid);
}

static void kick(struct dev_vm *vm, unsigned i, bool drain)
{
	if (i >= VU_MAX_QUEUES || vm->q[i] == NULL || !vm->ready[i])
		return;
	if (drain)
		vq_kick_drain(vm->q[i]);
	if (i == DEV_QTX)
		vm_tx(vm);
	else if (i == DEV_QRX)
		vm_rx_kick(vm);
	else
		post_reset_event(vm);
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
	if (i == DEV_QRX) {
		vm->rxq.broken = false;
		vm->rx_broken_seen = false;
	}
	sync_rxq(vm);
	/* Rings that do not start at 0 were in use before this session: the
	 * guest holds connections we know nothing about. */
	if (i != DEV_QEV && vu->vq[i].last_avail_idx != 0)
		vm->reset_event = true;
	vm->kick[i].fd = vu->vq[i].kick_fd;
	if (vm->kick[i].fd >= 0)
		dev_ep_set(vm->env->epfd, &vm->kick[i], EPOLLIN);
	if (i == DEV_QTX)
		vm->tx_more = true;
	else if (i == DEV_QRX)
		vm->rx_kicked = true;
	dev_logf(vm->env->log, 1, "vm %u: %s queue started (%u entries)", vm->cfg.cid, qname[i],
		 vu->vq[i].num);
}

static void cb_queue_stopped(struct vu_dev *vu, unsigned i)
{
	struct dev_vm *vm = vu->opaque;

	if (i >= VU_MAX_QUEUES)
		return;
	dev_ep_del(vm->env->epfd, &vm->kick[i]);
	vm->kick[i].fd = -1;
	vm->ready[i] = false;
	sync_rxq(vm);
	dev_logf(vm->env->log, 1, "vm %u: %s queue stopped", vm->cfg.cid, qname[i]);
	if (i != DEV_QEV && vm->tab.n > 0) {
		/* The RSTs wait in the backlog: after a pause the same guest
		 * learns its connections are gone; a reset discards them. */
		unsigned n = drop_conns(vm, true, true);

		dev_logf(vm->env->log, 0, "vm %u: queues stopped (guest reset, reboot or QEMU stop): %u connections "
			 "dropped, %u host clients wait for the driver", vm->cfg.cid, n, vm->tab.n);
	}
}

static void cb_reset(struct vu_dev *vu)
{
	struct dev_vm *vm = vu->opaque;

	drop_conns(vm, false, true);
	rxq_clear(&vm->rxq);
	vm->reset_event = false;
	dev_logf(vm->env->log, 1, "vm %u: device reset", vm->cfg.cid);
}

static void cb_log(struct vu_dev *vu, const char *msg)
{
	struct dev_vm *vm = vu->opaque;

	dev_logf(vm->env->log, 0, "vm %u: vhost-user: %s", vm->cfg.cid, msg);
}

static const struct vu_ops dev_vu_ops = {
	.queue_started = cb_queue_started,
	.queue_stopped = cb_queue_stopped,
	.reset = cb_reset,
	.log = cb_log,
};

static void vu_closed(struct dev_vm *vm, const char *why)
{
	dev_ep_del(vm->env->epfd, &vm->vu_sock);
	vu_close(&vm->vu);
	vm->vu_sock.fd = -1;
	vm->vu_active = false;
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		vm->q[i] = NULL;
	sync_rxq(vm);
	dev_logf(vm->env->log, 0, "vm %u: QEMU disconnected (%s); waiting on %s", vm->cfg.cid, why,
		 vm->cfg.socket);
	update_listeners(vm);
}

static void vu_accept(struct dev_vm *vm)
{
	const struct dev_log *log = vm->env->log;
	int fd = listener_accept(vm, &vm->vu_listen, NULL, NULL), rc;

	if (fd < 0)
		return;
	rc = vu_init(&vm->vu, fd, VU_MAX_QUEUES, &dev_vu_ops, vm);
	if (rc < 0) {
		dev_logf(log, 0, "vm %u: vhost-user setup: %s", vm->cfg.cid, strerror(-rc));
		close(fd);
		return;
	}
	wire_st64(vm->vu.config, vm->cfg.cid); /* virtio_vsock_config.guest_cid */
	vm->vu.config_len = 8;
	/* queue-size: the largest ring this VM's front end may set. */
	vm->vu.max_queue_size = vm->cfg.queue_size ? vm->cfg.queue_size : VU_QUEUE_SIZE_DEFAULT;
	vm->vu_active = true;
	sync_rxq(vm);
	vm->vu_sock.fd = fd;
	dev_ep_set(vm->env->epfd, &vm->vu_sock, EPOLLIN);
	/* One front end at a time; a second waits in the backlog. */
	update_listeners(vm);
	dev_logf(log, 0, "vm %u: QEMU connected on %s", vm->cfg.cid, vm->cfg.socket);
}

/* The vhost-user socket polled readable, or writable while a reply waits:
 * vu_dispatch never blocks, a message may take several calls.  Afterwards
 * poll for what the back end needs next (no EPOLLIN while a reply waits:
 * nothing is read then, and a level-triggered EPOLLIN would spin). */
static void vu_readable(struct dev_vm *vm)
{
	for (int i = 0; i < 64 && vm->vu_active; i++) {
		int rc = vu_dispatch(&vm->vu);

		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			char why[200];

			snprintf(why, sizeof(why), "%s", vm->vu.errmsg[0] ? vm->vu.errmsg : strerror(-rc));
			vu_closed(vm, why);
			return;
		}
	}
	if (vm->vu_active)
		dev_ep_set(vm->env->epfd, &vm->vu_sock, vu_want_write(&vm->vu) ? EPOLLOUT : EPOLLIN);
}

/* A front end that did not finish a message, or did not take its reply,
 * in time is dropped. */
static void vu_timer(struct dev_vm *vm, int64_t now)
{
	char why[200];

	if (!vm->vu_active || vu_deadline(&vm->vu) == 0 || vu_expired(&vm->vu, now) == 0)
		return;
	snprintf(why, sizeof(why), "%s", vm->vu.errmsg);
	vu_closed(vm, why);
}

/* --------------------------------------------------- the host listener */

static void host_accept(struct dev_vm *vm, unsigned idx)
{
	const struct dev_listener *l = &vm->lis[idx];

	for (int i = 0; i < 16; i++) {
		struct sockaddr_vm peer;
		socklen_t plen = sizeof(peer);
		int fd;

		if (vm->tab.n >= vm->tab.max || vm->ctx.nhandshake >= vm->max_handshake)
			break; /* the rest wait in the backlog */
		memset(&peer, 0, sizeof(peer));
		fd = listener_accept(vm, &vm->host_listen[idx], l->kind == DL_VSOCK ? (struct sockaddr *)&peer : NULL,
				     l->kind == DL_VSOCK ? &plen : NULL);
		if (fd < 0)
			break;
		conn_host_accept(&vm->ctx, fd, l->kind, l->port,
				 plen >= sizeof(peer) && peer.svm_family == AF_VSOCK ? peer.svm_port : VSK_PORT_ANY);
	}
	update_listeners(vm);
}

/* ------------------------------------------------------------ the VM */

void vm_event(struct dev_vm *vm, struct dev_ep *e, uint32_t events)
{
	switch (e->kind) {
	case EP_VU_LISTEN:
		vu_accept(vm);
		break;
	case EP_VU_SOCK:
		vu_readable(vm);
		break;
	case EP_KICK:
		kick(vm, e->idx, true);
		break;
	case EP_HOST_LISTEN:
		host_accept(vm, e->idx);
		break;
	case EP_CONN:
		conn_host_event(e->obj, events);
		break;
	case EP_INBOX:
		break; /* the loop's own, never a VM's */
	case EP_CONN_SEQ:
		conn_seq_event(e->obj);
		break;
	}
	check_rx(vm);
	update_listeners(vm);
}

void vm_round(struct dev_vm *vm, int64_t now)
{
	struct dev_centry *e;

	if (vm->rx_kicked) {
		vm->rx_kicked = false;
		vm_rx_kick(vm);
	}
	if (vm->tx_more)
		vm_tx(vm);
	if (vm->reset_event)
		post_reset_event(vm);
	while (vm->tab.ntimed > 0 && (e = conntab_expired(&vm->tab, now)) != NULL)
		conn_timer(conn_of(e), now);
	vu_timer(vm, now);
	listeners_resume(vm, now);
	check_rx(vm);
	update_listeners(vm);
}

void vm_round_end(struct dev_vm *vm)
{
	struct dev_centry *e;

	/* One interrupt per queue per round: the batching the guest sees. */
	vm->dirty[DEV_QRX] = vm->rxq.dirty;
	vm->rxq.dirty = false;
	for (unsigned q = 0; q < VU_MAX_QUEUES; q++) {
		if (vm->dirty[q] && vm->q[q] != NULL && vm->ready[q])
			vq_notify(vm->q[q]);
		vm->dirty[q] = false;
	}
	while ((e = conntab_take_dead(&vm->tab)) != NULL)
		conn_free(conn_of(e));
	pthread_mutex_lock(vm->env->stats_lock);
	vm->pub = vm->st;
	pthread_mutex_unlock(vm->env->stats_lock);
}

bool vm_busy(const struct dev_vm *vm)
{
	return vm->tx_more || vm->rx_kicked;
}

int vm_timeout(const struct dev_vm *vm, int64_t now)
{
	int64_t dl = vm->vu_active ? vu_deadline(&vm->vu) : 0;

	if (dl == 0)
		return -1;
	return dl <= now ? 0 : dl - now > INT32_MAX ? INT32_MAX : (int)(dl - now);
}

bool vm_timed(const struct dev_vm *vm)
{
	if (vm->tab.ntimed > 0 || vm->vu_listen.resume_at != 0)
		return true;
	for (unsigned i = 0; i < vm->nlis; i++)
		if (vm->host_listen[i].resume_at != 0)
			return true;
	return false;
}

void vm_set_fd_share(struct dev_vm *vm, unsigned share)
{
	unsigned max = vm->cfg.max_conns ? vm->cfg.max_conns : DEV_MAX_CONNS_DEFAULT;

	if (share < max)
		max = share;
	vm->tab.max = max;
	/* Host clients that connect and say nothing hold an fd each: a quarter
	 * of the VM's share at most, so they cannot crowd out the rest. */
	vm->max_handshake = max / 4 > 16 ? max / 4 : (max < 16 ? max : 16);
	update_listeners(vm);
}

const struct dev_vm_cfg *vm_cfg(const struct dev_vm *vm)
{
	return &vm->cfg;
}

void vm_stats(const struct dev_vm *vm, bool live, struct dev_stats *s)
{
	if (live) {
		*s = vm->st;
		return;
	}
	pthread_mutex_lock(vm->env->stats_lock);
	*s = vm->pub;
	pthread_mutex_unlock(vm->env->stats_lock);
}

uint32_t dev_vm_cid(const struct dev_vm *vm)
{
	return vm->cfg.cid;
}

unsigned dev_vm_nconns(const struct dev_vm *vm)
{
	return vm->tab.n;
}

int vm_new(struct dev_env *env, const struct dev_vm_cfg *c, struct dev_vm **vmp, char *err, size_t errlen)
{
	struct dev_vm *vm = calloc(1, sizeof(*vm));
	int rc;

	if (vm == NULL)
		return -ENOMEM;
	vm->env = env;
	vm->cfg = *c;
	vm->vu.sock = -1;
	vm->vu_listen = (struct dev_accept){ .ep = { .kind = EP_VU_LISTEN, .fd = -1, .vm = vm } };
	snprintf(vm->vu_listen.what, sizeof(vm->vu_listen.what), "%s", vm->cfg.socket);
	vm->vu_sock = (struct dev_ep){ .kind = EP_VU_SOCK, .fd = -1, .vm = vm };
	for (unsigned i = 0; i < DEV_LISTEN_MAX; i++)
		vm->host_listen[i] = (struct dev_accept){ .ep = { .kind = EP_HOST_LISTEN, .fd = -1, .vm = vm,
								  .idx = i } };
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		vm->kick[i] = (struct dev_ep){ .kind = EP_KICK, .fd = -1, .vm = vm, .idx = i };
	vm->rxq = (struct dev_rxq){ .cid = c->cid, .st = &vm->st, .tap = env->tap, .log = env->log,
				    .scratch = &env->scratch[0] };
	vm->ctx = (struct dev_vmctx){ .vm = vm, .cid = c->cid, .uds = vm->cfg.uds, .be = &vm->be,
				      .connect_timeout_ms = c->connect_timeout_ms,
				      .buf_alloc = c->tx_buf ? c->tx_buf : DEV_TX_BUF_DEFAULT,
				      .epfd = env->epfd, .log = env->log, .rxq = &vm->rxq, .tab = &vm->tab,
				      .st = &vm->st, .scratch = env->scratch, .siov = env->siov,
				      .nonce = (uint64_t)getpid() << 32 };
	vm->port = (struct dev_port){ .cid = c->cid, .groups = vm->cfg.groups, .rxq = &vm->rxq,
				      .inbox = env->inbox };
	rc = conntab_init(&vm->tab, c->max_conns ? c->max_conns : DEV_MAX_CONNS_DEFAULT);
	if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	rc = backend_init(&vm->be, &vm->cfg, err, errlen);
	if (rc < 0)
		goto fail;
	rc = hostsock_listen(c->socket, "vhost-user socket", SOCK_STREAM, env->sock_mode, 4, err, errlen);
	if (rc < 0)
		goto fail;
	vm->vu_listen.ep.fd = rc;
	rc = backend_listen(&vm->cfg, env->sock_mode, vm->lis, &vm->nlis, err, errlen);
	if (rc < 0)
		goto fail;
	for (unsigned i = 0; i < vm->nlis; i++) {
		struct dev_accept *a = &vm->host_listen[i];

		a->ep.fd = vm->lis[i].fd;
		if (vm->lis[i].kind == DL_VSOCK)
			snprintf(a->what, sizeof(a->what), "vsock port %u", vm->lis[i].port);
		else
			snprintf(a->what, sizeof(a->what), "%s%s", vm->cfg.uds,
				 vm->lis[i].kind == DL_UDS_SEQ ? DEV_SEQ_SUFFIX : "");
	}
	vm->max_handshake = vm->tab.max / 4;
	if ((rc = dev_ep_set(env->epfd, &vm->vu_listen.ep, EPOLLIN)) < 0) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(-rc));
		goto fail;
	}
	for (unsigned i = 0; i < vm->nlis; i++)
		if ((rc = dev_ep_set(env->epfd, &vm->host_listen[i].ep, EPOLLIN)) < 0) {
			snprintf(err, errlen, "epoll_ctl: %s", strerror(-rc));
			goto fail;
		}
	rc = switch_add(env->sw, &vm->port);
	if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	*vmp = vm;
	return 0;
fail:
	if (vm->vu_listen.ep.fd >= 0) {
		dev_ep_del(env->epfd, &vm->vu_listen.ep);
		close(vm->vu_listen.ep.fd);
		unlink(c->socket);
	}
	for (unsigned i = 0; i < vm->nlis; i++)
		dev_ep_del(env->epfd, &vm->host_listen[i].ep);
	backend_unlisten(&vm->cfg, vm->lis, vm->nlis);
	backend_destroy(&vm->be);
	conntab_destroy(&vm->tab);
	free(vm);
	return rc;
}

void vm_free(struct dev_vm *vm)
{
	struct dev_env *env = vm->env;

	drop_conns(vm, false, false);
	if (vm->vu_active) {
		dev_ep_del(env->epfd, &vm->vu_sock);
		vu_close(&vm->vu);
		vm->vu_active = false;
	}
	rxq_clear(&vm->rxq);
	for (unsigned q = 0; q < VU_MAX_QUEUES; q++) {
		vm->q[q] = NULL;
		vm->ready[q] = false;
	}
	if (vm->vu_listen.ep.fd >= 0) {
		dev_ep_del(env->epfd, &vm->vu_listen.ep);
		close(vm->vu_listen.ep.fd);
		vm->vu_listen.ep.fd = -1;
		unlink(vm->cfg.socket);
	}
	for (unsigned i = 0; i < vm->nlis; i++)
		dev_ep_del(env->epfd, &vm->host_listen[i].ep);
	backend_unlisten(&vm->cfg, vm->lis, vm->nlis);
	vm->nlis = 0;
	vm_round_end(vm);
	switch_del(env->sw, &vm->port);
	backend_destroy(&vm->be);
	conntab_destroy(&vm->tab);
	free(vm);
}

/* ------------------------------------------------ test hook (fake guest) */

void dev_vm_attach(struct dev_vm *vm, struct vq *rx, struct vq *tx, struct vq *ev)
{
	vm->attached = true;
	vm->broken_logged = false; /* a new guest's first bad chain is news */
	vm->q[DEV_QRX] = rx;
	vm->q[DEV_QTX] = tx;
	vm->q[DEV_QEV] = ev;
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		vm->ready[i] = vm->q[i] != NULL;
	vm->rxq.broken = false;
	vm->rx_broken_seen = false;
	sync_rxq(vm);
	if ((rx != NULL && rx->last_avail_idx != 0) || (tx != NULL && tx->last_avail_idx != 0))
		vm->reset_event = true;
	/* A fake guest with kick eventfds is served by the VM's own loop, as
	 * a front end's guest is (the threads tests). */
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		if (vm->q[i] != NULL && vm->q[i]->kick_fd >= 0) {
			vm->kick[i].fd = vm->q[i]->kick_fd;
			dev_ep_set(vm->env->epfd, &vm->kick[i], EPOLLIN);
		}
	vm->rx_kicked = true;
	vm->tx_more = true;
}

void dev_vm_detach(struct dev_vm *vm)
{
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		if (vm->attached && vm->kick[i].fd >= 0) {
			dev_ep_del(vm->env->epfd, &vm->kick[i]);
			vm->kick[i].fd = -1;
		}
	drop_conns(vm, false, true);
	rxq_clear(&vm->rxq);
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		vm->q[i] = NULL;
		vm->ready[i] = false;
	}
	vm->attached = false;
	sync_rxq(vm);
}

void dev_vm_kick(struct dev_vm *vm, unsigned qidx)
{
	kick(vm, qidx, false);
}
