/* device: the event loops of `vsk device` and the library's device API
 * (device.h).  A loop waits on its epoll set, hands each event to the VM
 * its endpoint belongs to (or drains its inbox), then runs the end of the
 * round over its VMs: the work events left (rx buffers, tx left over,
 * deadlines), then one interrupt per queue, then the pcap flush.  Loop 0
 * runs in the caller's dev_run_once(); with dev_set_threads(d, N) loops 1
 * to N-1 run in threads of their own (dev_start), each with its own VMs,
 * epoll set and scratch space; VMs on different loops meet only in the
 * switch's hand-off queues.  The layers below are in
 * docs/ARCHITECTURE.md. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dev_vm.h"
#include "device.h"

#define DEV_FD_RESERVE 64 /* stdio, the epoll sets, the pcap file, the caller's own */
#define DEV_FD_PER_VM  32 /* a front end's socket, listeners, 9 ring eventfds,
                           * the fds a vhost-user message may carry */
#define DEV_THREADS_MAX 256

struct dev_loop {
	struct dev_env env;
	struct dev_inbox inbox;
	struct dev_ep inbox_ep;
	pthread_mutex_t stats_lock;
	struct dev_vm **vms;
	int nvms, cap;
	struct dev *d;
	pthread_t th;
	bool thread;                  /* th runs this loop */
};

struct dev {
	struct dev_log log;
	struct dev_tap tap;
	struct dev_switch sw;
	unsigned sock_mode;
	struct dev_loop **loops;      /* loops[0] runs in dev_run_once() */
	unsigned nloops;
	struct dev_vm **vms;          /* every VM, in the order added */
	int nvms, cap;
	atomic_bool stop;
	bool running;                 /* worker threads started */
	unsigned long fd_limit, fd_share; /* as share_fds() found them */
	bool fd_said;                 /* a low share was logged */
};

static void loop_free(struct dev_loop *l)
{
	if (l == NULL)
		return;
	switch_inbox_destroy(&l->inbox);
	if (l->env.epfd >= 0)
		close(l->env.epfd);
	pthread_mutex_destroy(&l->stats_lock);
	free(l->vms);
	free(l);
}

static struct dev_loop *loop_new(struct dev *d)
{
	struct dev_loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->d = d;
	l->inbox.fd = -1;
	pthread_mutex_init(&l->stats_lock, NULL);
	l->env.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->env.epfd < 0 || switch_inbox_init(&l->inbox) < 0)
		goto fail;
	l->env.log = &d->log;
	l->env.tap = &d->tap;
	l->env.sw = &d->sw;
	l->env.inbox = &l->inbox;
	l->env.stats_lock = &l->stats_lock;
	l->env.sock_mode = d->sock_mode;
	l->inbox_ep = (struct dev_ep){ .kind = EP_INBOX, .fd = l->inbox.fd, .obj = &l->inbox };
	if (dev_ep_set(l->env.epfd, &l->inbox_ep, EPOLLIN) < 0)
		goto fail;
	return l;
fail:
	loop_free(l);
	return NULL;
}

int dev_create(struct dev **dp, dev_log_fn log, void *arg)
{
	struct dev *d = calloc(1, sizeof(*d));
	int rc = -ENOMEM;

	if (d == NULL)
		return -ENOMEM;
	d->log = (struct dev_log){ .fn = log, .arg = arg };
	dev_tap_init(&d->tap, &d->log);
	d->sock_mode = DEV_SOCKET_MODE_DEFAULT;
	atomic_init(&d->stop, false);
	d->loops = calloc(1, sizeof(*d->loops));
	if (d->loops == NULL || (d->loops[0] = loop_new(d)) == NULL) {
		rc = errno ? -errno : -ENOMEM;
		free(d->loops);
		free(d);
		return rc;
	}
	d->nloops = 1;
	*dp = d;
	return 0;
}

int dev_set_threads(struct dev *d, unsigned n)
{
	struct dev_loop **loops;

	if (n == 0 || n > DEV_THREADS_MAX)
		return -EINVAL;
	if (d->nvms > 0 || d->running)
		return -EBUSY;
	while (d->nloops > n)
		loop_free(d->loops[--d->nloops]);
	loops = realloc(d->loops, n * sizeof(*loops));
	if (loops == NULL)
		return -ENOMEM;
	d->loops = loops;
	while (d->nloops < n) {
		struct dev_loop *l = loop_new(d);

		if (l == NULL)
			return -ENOMEM;
		d->loops[d->nloops++] = l;
	}
	return 0;
}

unsigned dev_threads(const struct dev *d)
{
	return d->nloops;
}

int dev_set_socket_mode(struct dev *d, unsigned mode)
{
	if (mode > 0777)
		return -EINVAL;
	d->sock_mode = mode;
	for (unsigned i = 0; i < d->nloops; i++)
		d->loops[i]->env.sock_mode = mode;
	return 0;
}

/* Every VM gets an equal share of the fds left after the process's own and
 * the front ends': one guest's connections (or a flood of host clients)
 * can never starve another VM's front end of the fd it needs. */
static void share_fds(struct dev *d)
{
	struct rlimit rl;
	unsigned long lim = ~0ul, used = DEV_FD_RESERVE + DEV_FD_PER_VM * (unsigned long)d->nvms, share;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		lim = (unsigned long)rl.rlim_cur;
	share = lim > used ? (lim - used) / (unsigned long)d->nvms : 1;
	if (share == 0)
		share = 1;
	d->fd_limit = lim;
	d->fd_share = share;
	for (int i = 0; i < d->nvms; i++)
		vm_set_fd_share(d->vms[i], share > 0xffffffffu ? 0xffffffffu : (unsigned)share);
}

/* Room for one more in *V (capacity *CAP): 0 or -ENOMEM. */
static int grow(struct dev_vm ***v, int n, int *cap)
{
	struct dev_vm **nv;
	int nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 8;
	nv = realloc(*v, (size_t)nc * sizeof(*nv));
	if (nv == NULL)
		return -ENOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}

int dev_add_vm(struct dev *d, const struct dev_vm_cfg *c, struct dev_vm **vmp, char *err, size_t errlen)
{
	struct dev_loop *l = d->loops[(unsigned)d->nvms % d->nloops];
	struct dev_vm *vm;
	int rc;

	if (d->running) {
		snprintf(err, errlen, "VMs are added before the worker threads start");
		return -EBUSY;
	}
	rc = dev_cfg_check(c, 1, err, errlen);
	if (rc < 0)
		return rc;
	for (int i = 0; i < d->nvms; i++) {
		const struct dev_vm_cfg *o = vm_cfg(d->vms[i]);

		if (o->cid == c->cid || !strcmp(o->socket, c->socket) || (c->uds[0] && !strcmp(o->uds, c->uds))) {
			snprintf(err, errlen, "VM with guest CID %u: CID, socket or uds-path already used by VM %u",
				 c->cid, o->cid);
			return -EEXIST;
		}
	}
	d->fd_said = false; /* the share changes */
	if (grow(&d->vms, d->nvms, &d->cap) < 0 || grow(&l->vms, l->nvms, &l->cap) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = vm_new(&l->env, c, &vm, err, errlen);
	if (rc < 0)
		return rc;
	d->vms[d->nvms++] = vm;
	l->vms[l->nvms++] = vm;
	share_fds(d);
	if (vmp != NULL)
		*vmp = vm;
	return 0;
}

int dev_set_pcap(struct dev *d, const char *path, char *err, size_t errlen)
{
	if (d->running) {
		snprintf(err, errlen, "the capture is set before the worker threads start");
		return -EBUSY;
	}
	return dev_tap_open(&d->tap, path, err, errlen);
}

static void end_of_round(struct dev_loop *l)
{
	int64_t now = dev_now_ms();

	for (int i = 0; i < l->nvms; i++)
		vm_round(l->vms[i], now);
	/* After every VM's round: a sibling may have filled this VM's ring. */
	for (int i = 0; i < l->nvms; i++)
		vm_round_end(l->vms[i]);
	dev_tap_flush(l->env.tap);
}

static int loop_once(struct dev_loop *l, int timeout_ms)
{
	struct epoll_event evs[64];
	bool timed = false;
	int n;

	int64_t now = dev_now_ms();

	for (int i = 0; i < l->nvms; i++) {
		int t = vm_timeout(l->vms[i], now);

		if (vm_busy(l->vms[i]))
			timeout_ms = 0;
		if (t >= 0 && (timeout_ms < 0 || t < timeout_ms))
			timeout_ms = t;
		timed |= vm_timed(l->vms[i]);
	}
	if (timed && (timeout_ms < 0 || timeout_ms > DEV_TIMER_MS))
		timeout_ms = DEV_TIMER_MS;
	n = epoll_wait(l->env.epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout_ms);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		struct dev_ep *e = evs[i].data.ptr;

		if (e->kind == EP_INBOX)
			switch_inbox_drain(e->obj);
		else
			vm_event(e->vm, e, evs[i].events);
	}
	end_of_round(l);
	return 0;
}

/* Once the VMs are set up (the first round, or dev_start): a share of fds
 * too small to be useful is worth a line. */
static void say_fd_share(struct dev *d)
{
	if (d->fd_said || d->nvms == 0)
		return;
	d->fd_said = true;
	if (d->fd_share < 64)
		dev_logf(&d->log, 0, "the fd limit (%lu) leaves each of %d VMs %lu connections; raise it "
			 "(ulimit -n, LimitNOFILE=)", d->fd_limit, d->nvms, d->fd_share);
}

int dev_run_once(struct dev *d, int timeout_ms)
{
	say_fd_share(d);
	return loop_once(d->loops[0], timeout_ms);
}

static void *loop_main(void *arg)
{
	struct dev_loop *l = arg;

	while (!atomic_load(&l->d->stop))
		if (loop_once(l, -1) < 0) {
			dev_logf(&l->d->log, 0, "event loop: epoll_wait: %s", strerror(errno));
			break;
		}
	return NULL;
}

int dev_start(struct dev *d)
{
	sigset_t all, old;
	int rc = 0;

	say_fd_share(d);
	if (d->running || d->nloops == 1)
		return 0;
	atomic_store(&d->stop, false);
	/* Signals stay with the caller's thread (SIGUSR1, SIGTERM). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 1; i < d->nloops; i++) {
		rc = -pthread_create(&d->loops[i]->th, NULL, loop_main, d->loops[i]);
		if (rc < 0)
			break;
		d->loops[i]->thread = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	d->running = true;
	if (rc < 0)
		dev_stop(d);
	return rc;
}

void dev_stop(struct dev *d)
{
	uint64_t one = 1;

	if (!d->running)
		return;
	atomic_store(&d->stop, true);
	for (unsigned i = 1; i < d->nloops; i++) {
		struct dev_loop *l = d->loops[i];

		if (!l->thread)
			continue;
		/* The inbox's eventfd wakes the loop; it sees the stop flag. */
		if (write(l->inbox.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			dev_logf(&d->log, 0, "stop: eventfd: %s", strerror(errno));
		pthread_join(l->th, NULL);
		l->thread = false;
	}
	d->running = false;
}

void dev_get_stats(const struct dev *d, const struct dev_vm *vm, struct dev_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned k = 0; k < d->nloops; k++) {
		const struct dev_loop *l = d->loops[k];

		for (int i = 0; i < l->nvms; i++) {
			struct dev_stats v;

			if (vm != NULL && l->vms[i] != vm)
				continue;
			/* The caller's loop is read as it is; a worker's as it
			 * published it at the end of its last round. */
			vm_stats(l->vms[i], k == 0 || !d->running, &v);
			s->pkts_rx += v.pkts_rx;
			s->pkts_tx += v.pkts_tx;
			s->bytes_rx += v.bytes_rx;
			s->bytes_tx += v.bytes_tx;
			s->conns += v.conns;
			s->resets += v.resets;
			s->stalls += v.stalls;
			s->drops += v.drops;
			s->sibling += v.sibling;
		}
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

void dev_destroy(struct dev *d)
{
	if (d == NULL)
		return;
	dev_stop(d);
	for (int i = 0; i < d->nvms; i++)
		vm_free(d->vms[i]);
	free(d->vms);
	for (unsigned i = 0; i < d->nloops; i++)
		loop_free(d->loops[i]);
	free(d->loops);
	dev_tap_close(&d->tap);
	pthread_mutex_destroy(&d->tap.lock);
	switch_destroy(&d->sw);
	free(d);
}
