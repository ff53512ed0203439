/* device: the event loop of `vsk device` and the library's device API
 * (device.h).  The loop waits on one epoll set, hands each event to the VM
 * its endpoint belongs to, then runs the end of the round over every VM:
 * the work events left (rx buffers, tx left over, deadlines), then one
 * interrupt per queue, then the pcap flush.  The layers below are in
 * docs/ARCHITECTURE.md: dev_vm -> dev_conn -> {dev_pump, dev_pend,
 * dev_hostsock, dev_rxq, dev_txq, dev_conntab} -> virtq / wire. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dev_vm.h"
#include "device.h"

struct dev {
	struct dev_env env;
	struct dev_vm **vms;
	int nvms, cap;
};

int dev_create(struct dev **dp, dev_log_fn log, void *arg)
{
	struct dev *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -ENOMEM;
	d->env.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->env.epfd < 0) {
		int err = errno;

		free(d);
		return -err;
	}
	d->env.log = (struct dev_log){ .fn = log, .arg = arg };
	d->env.tap.log = &d->env.log;
	d->env.sock_mode = DEV_SOCKET_MODE_DEFAULT;
	*dp = d;
	return 0;
}

int dev_set_socket_mode(struct dev *d, unsigned mode)
{
	if (mode > 0777)
		return -EINVAL;
	d->env.sock_mode = mode;
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
		const struct dev_vm_cfg *o = vm_cfg(d->vms[i]);

		if (o->cid == c->cid || !strcmp(o->socket, c->socket) || (c->uds[0] && !strcmp(o->uds, c->uds))) {
			snprintf(err, errlen, "VM with guest CID %u: CID, socket or uds-path already used by VM %u",
				 c->cid, o->cid);
			return -EEXIST;
		}
	}
	if (d->nvms == d->cap) {
		int cap = d->cap ? d->cap * 2 : 8;
		struct dev_vm **v = realloc(d->vms, (size_t)cap * sizeof(*v));

		if (v == NULL) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		d->vms = v;
		d->cap = cap;
	}
	rc = vm_new(&d->env, c, &vm, err, errlen);
	if (rc < 0)
		return rc;
	d->vms[d->nvms++] = vm;
	if (vmp != NULL)
		*vmp = vm;
	return 0;
}

int dev_set_pcap(struct dev *d, const char *path, char *err, size_t errlen)
{
	return dev_tap_open(&d->env.tap, path, err, errlen);
}

static void end_of_round(struct dev *d)
{
	int64_t now = dev_now_ms();

	for (int i = 0; i < d->nvms; i++)
		vm_round(d->vms[i], now);
	/* After every VM's round: a sibling may have filled this VM's ring. */
	for (int i = 0; i < d->nvms; i++)
		vm_round_end(d->vms[i]);
	dev_tap_flush(&d->env.tap);
}

int dev_run_once(struct dev *d, int timeout_ms)
{
	struct epoll_event evs[64];
	bool timed = false;
	int n;

	for (int i = 0; i < d->nvms; i++) {
		if (vm_busy(d->vms[i]))
			timeout_ms = 0;
		timed |= vm_timed(d->vms[i]);
	}
	if (timed && (timeout_ms < 0 || timeout_ms > DEV_TIMER_MS))
		timeout_ms = DEV_TIMER_MS;
	n = epoll_wait(d->env.epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout_ms);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		struct dev_ep *e = evs[i].data.ptr;

		vm_event(e->vm, e, evs[i].events);
	}
	end_of_round(d);
	return 0;
}

void dev_get_stats(const struct dev *d, const struct dev_vm *vm, struct dev_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < d->nvms; i++) {
		const struct dev_stats *v = vm_stats(d->vms[i]);

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

void dev_destroy(struct dev *d)
{
	if (d == NULL)
		return;
	for (int i = 0; i < d->nvms; i++)
		vm_free(d->vms[i]);
	free(d->vms);
	dev_tap_close(&d->env.tap);
	switch_destroy(&d->env.sw);
	close(d->env.epfd);
	free(d);
}
