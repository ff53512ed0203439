/* device VMs: one guest as the device sees it.  Its vhost-user front end
 * (queues start and stop under it), its tx batch and the routing of each
 * packet (spoof check, then the host side or a sibling), its connections,
 * the TRANSPORT_RESET event, and the end-of-round work.  The loop above
 * hands a VM the events of its endpoints and calls its round functions;
 * a VM never calls up.
 *
 * struct dev_env is what a VM runs in (one per event loop): the epoll set,
 * the log, the pcap tap, the switch between VMs and scratch space. */
#ifndef VSK_DEV_VM_H
#define VSK_DEV_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev_conn.h"
#include "dev_log.h"
#include "dev_poll.h"
#include "dev_switch.h"
#include "dev_tap.h"
#include "device.h"

#define DEV_TIMER_MS 20 /* the loop wakes this often while deadlines are set */

struct dev_env {
	int epfd;
	const struct dev_log *log;                 /* the device's, shared */
	struct dev_tap *tap;                       /* the device's, shared */
	struct dev_switch *sw;                     /* the device's, shared */
	struct dev_inbox *inbox;                   /* this loop's */
	pthread_mutex_t *stats_lock;               /* guards the VMs' published counters */
	unsigned sock_mode;                        /* of the socket files made */
	struct vq_elem txe;                        /* the tx chain being handled */
	struct vq_elem scratch[DEV_SCRATCH_ELEMS]; /* rx chains */
	struct iovec siov[DEV_SCRATCH_IOV];
};

/* A VM for config C in ENV: its vhost-user socket and host listener are
 * listening when this returns 0; else -errno with ERR saying which step. */
int vm_new(struct dev_env *env, const struct dev_vm_cfg *c, struct dev_vm **vmp, char *err,
	   size_t errlen);
/* Close everything of VM, remove its socket files, free it. */
void vm_free(struct dev_vm *vm);
/* EVENTS on endpoint E of VM. */
void vm_event(struct dev_vm *vm, struct dev_ep *e, uint32_t events);
/* End of a loop round, part one: rx buffers that arrived, tx work left
 * over, the reset event, deadlines passed by NOW. */
void vm_round(struct dev_vm *vm, int64_t now);
/* Part two, after every VM's part one (siblings may have filled this VM's
 * ring): one interrupt per queue, free what was retired, publish the
 * counters. */
void vm_round_end(struct dev_vm *vm);
/* Work left that must not wait for an event. */
bool vm_busy(const struct dev_vm *vm);
/* Deadlines are set: wake within DEV_TIMER_MS. */
bool vm_timed(const struct dev_vm *vm);
/* Milliseconds from NOW to the front end's deadline (a vhost-user message
 * or reply in progress), or -1 when there is none. */
int vm_timeout(const struct dev_vm *vm, int64_t now);
/* The VM's share of the process's fds: at most SHARE connections (and its
 * configured max-conns), a quarter of them host clients in their handshake. */
void vm_set_fd_share(struct dev_vm *vm, unsigned share);
const struct dev_vm_cfg *vm_cfg(const struct dev_vm *vm);
/* The VM's counters: LIVE (from the VM's own thread) or as published at
 * the end of its loop's last round (from any thread). */
void vm_stats(const struct dev_vm *vm, bool live, struct dev_stats *s);

#endif
