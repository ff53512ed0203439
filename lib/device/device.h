/* device: the virtio-vsock transport behind `vsk device` (internal to
 * libvsk, prefix dev_).
 *
 * One struct dev serves several VMs from one epoll loop.  Per VM:
 *   - a vhost-user listener (QEMU's -chardev socket) handled by lib/vhost,
 *     re-armed whenever QEMU goes away, so a restarted QEMU is served again;
 *   - rx queue 0 (device -> guest), tx queue 1 (guest -> device), event
 *     queue 2 (only when the front end hands it over; QEMU keeps it);
 *   - the hybrid host side: guest -> host port P connects to the Unix socket
 *     "<uds>_P"; host -> guest clients connect to "<uds>" and say
 *     "CONNECT <port>\n".
 * Guests sharing a group reach each other by CID through the device.
 *
 * Nothing here prints: lines go to the log callback (level 0 = always,
 * 1 = connection events for -v).
 */
#ifndef VSK_DEVICE_H
#define VSK_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "dev_log.h"
#include "virtq.h"

#define DEV_MAX_VMS       64
#define DEV_GROUPS_MAX    256   /* "a+b+c" text */
#define DEV_TX_BUF_DEFAULT (256u * 1024u) /* our buf_alloc per connection */
#define DEV_TX_BUF_MIN    4096u
#define DEV_TX_BUF_MAX    (64u * 1024u * 1024u)
#define DEV_SOCKET_MODE_DEFAULT 0600 /* owner only: QEMU and host clients run as us */
/* Connections per VM: one guest must not take every fd of the process.
 * The fd limit lowers it further (dev_add_vm): each VM gets an equal share
 * of RLIMIT_NOFILE after what the process and the front ends need. */
#define DEV_MAX_CONNS_DEFAULT 65536u

/* One VM as configured (--guest-cid/--socket/--uds-path, --vm, --config). */
struct dev_vm_cfg {
	uint32_t cid;
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char uds[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char groups[DEV_GROUPS_MAX]; /* '+'-separated names; "" = "default" */
	uint32_t tx_buf;             /* 0 = DEV_TX_BUF_DEFAULT */
	uint32_t max_conns;          /* 0 = DEV_MAX_CONNS_DEFAULT */
};

/* Parse "guest-cid=N,socket=PATH,uds-path=PATH[,groups=a+b][,tx-buffer-size=N]".
 * 0, or -EINVAL with one line in ERR. */
int dev_cfg_parse_vm(const char *spec, struct dev_vm_cfg *c, char *err, size_t errlen);
/* Parse the YAML subset of --config FILE:
 *     vms:
 *       - guest_cid: 4
 *         socket: /tmp/vhost4.socket
 *         uds_path: /tmp/vm4.vsock
 *         groups: default            (optional)
 *         tx_buffer_size: 65536      (optional)
 * '#' comments and blank lines are ignored; values may be quoted.  Appends
 * to C[*N] (capacity MAX).  0, or -errno with "FILE:LINE: what" in ERR. */
int dev_cfg_parse_file(const char *path, struct dev_vm_cfg *c, int *n, int max, char *err,
		       size_t errlen);
/* Check one VM config (CID range, paths, sizes) and a set for duplicates. */
int dev_cfg_check(const struct dev_vm_cfg *c, int n, char *err, size_t errlen);

/* Counters (a whole device, or one VM). */
struct dev_stats {
	uint64_t pkts_rx;      /* packets put on guests' rx queues */
	uint64_t pkts_tx;      /* packets taken from guests' tx queues */
	uint64_t bytes_rx;     /* payload bytes to guests */
	uint64_t bytes_tx;     /* payload bytes from guests */
	uint64_t conns;        /* host connections established */
	uint64_t resets;       /* RST sent to guests */
	uint64_t stalls;       /* times a host->guest flow waited for credit/buffers */
	uint64_t drops;        /* packets dropped: spoofed, malformed, over limits */
	uint64_t sibling;      /* packets switched between sibling VMs */
};

struct dev;
struct dev_vm;

/* Create a device; LOG may be NULL. */
int dev_create(struct dev **dp, dev_log_fn log, void *arg);
/* Serve the VMs from N event loops: loop 0 runs in dev_run_once(), loops 1
 * to N-1 in threads of their own once dev_start() is called; VMs are
 * spread over the loops in the order added.  Before the first dev_add_vm():
 * 0, -EINVAL (N is 0 or over 256) or -EBUSY.  With N > 1 the log callback
 * is called from every loop's thread. */
int dev_set_threads(struct dev *d, unsigned n);
unsigned dev_threads(const struct dev *d);
/* Start the worker threads of loops 1..N-1 (nothing with one loop); VMs
 * and the capture are set before.  0 or -errno. */
int dev_start(struct dev *d);
/* Stop and join the worker threads (dev_destroy does it too). */
void dev_stop(struct dev *d);
/* Permission bits of the socket files dev_add_vm() creates (default
 * DEV_SOCKET_MODE_DEFAULT); -EINVAL above 0777. */
int dev_set_socket_mode(struct dev *d, unsigned mode);
/* Add a VM: binds and listens on c->socket and on c->uds with the socket
 * mode.  A stale socket file (a socket nobody answers on) is replaced; a
 * live socket, a symlink or any other file is not (-EADDRINUSE).  A
 * directory writable by every user without the sticky bit is refused
 * (-EPERM).  Returns 0 or -errno (ERR says which step). */
int dev_add_vm(struct dev *d, const struct dev_vm_cfg *c, struct dev_vm **vmp, char *err,
	       size_t errlen);
/* Record every packet moved into the pcap file PATH. */
int dev_set_pcap(struct dev *d, const char *path, char *err, size_t errlen);
/* One round of the event loop: wait at most TIMEOUT_MS (-1 = forever),
 * handle what is ready.  0, or -errno for a failure of the loop itself. */
int dev_run_once(struct dev *d, int timeout_ms);
/* Counters: VM NULL = the whole device. */
void dev_get_stats(const struct dev *d, const struct dev_vm *vm, struct dev_stats *s);
int dev_vm_count(const struct dev *d);
struct dev_vm *dev_vm_at(struct dev *d, int i);
uint32_t dev_vm_cid(const struct dev_vm *vm);
/* Live host connections of VM. */
unsigned dev_vm_nconns(const struct dev_vm *vm);
/* Close everything, remove the socket files we created. */
void dev_destroy(struct dev *d);

/* Test hook: drive VM with queues that are not from vhost-user (a fake
 * guest).  RX and TX required, EV may be NULL.  dev_vm_kick() is what a
 * guest kick does; a queue whose kick_fd is an eventfd is kicked through
 * it instead, in the VM's loop (attach before dev_start(), detach after
 * dev_stop()). */
void dev_vm_attach(struct dev_vm *vm, struct vq *rx, struct vq *tx, struct vq *ev);
void dev_vm_detach(struct dev_vm *vm);
void dev_vm_kick(struct dev_vm *vm, unsigned qidx);

#endif /* VSK_DEVICE_H */
