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
#include "vsk.h"

#define DEV_GROUPS_MAX    256   /* "a+b+c" text */
#define DEV_TX_BUF_DEFAULT (256u * 1024u) /* our buf_alloc per connection */
#define DEV_TX_BUF_MIN    4096u
#define DEV_TX_BUF_MAX    (64u * 1024u * 1024u)
#define DEV_SOCKET_MODE_DEFAULT 0600 /* owner only: QEMU and host clients run as us */
/* Connections per VM: one guest must not take every fd of the process.
 * The fd limit lowers it further (dev_add_vm): each VM gets an equal share
 * of RLIMIT_NOFILE after what the process and the front ends need. */
#define DEV_MAX_CONNS_DEFAULT 65536u
#define DEV_GUEST_CID_DEFAULT   3u   /* vhost-device-vsock's, also in --vm */
#define DEV_QUEUE_SIZE_DEFAULT  1024u
#define DEV_FWD_LISTEN_MAX      32   /* forward-listen ports per VM */
#define DEV_MAP_MAX             32   /* port map entries per VM */
#define DEV_CONNECT_TIMEOUT_MAX 3600000u /* ms */

/* One entry of a VM's port map: guest -> host port PORT goes to TO
 * instead of the VM's back end. */
struct dev_map {
	uint32_t port;
	struct vsk_addr to;
};

/* One VM as configured (--guest-cid/--socket/... flags, --vm, --config).
 * A field left 0 means its default; dev_cfg_init() sets the defaults
 * explicitly. */
struct dev_vm_cfg {
	uint32_t cid;
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/* The host back end: uds-path (Unix, "hybrid") or forward-cid
	 * (AF_VSOCK), never both. */
	char uds[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool forward;                /* forward-cid given */
	uint32_t forward_cid;
	uint32_t forward_listen[DEV_FWD_LISTEN_MAX]; /* AF_VSOCK ports listened on */
	unsigned nforward_listen;
	char groups[DEV_GROUPS_MAX]; /* '+'-separated names; "" = "default" */
	uint32_t tx_buf;             /* 0 = DEV_TX_BUF_DEFAULT */
	uint32_t max_conns;          /* 0 = DEV_MAX_CONNS_DEFAULT */
	/* The largest ring the front end may set (SET_VRING_NUM); 0 =
	 * DEV_QUEUE_SIZE_DEFAULT.  Kept here, enforced by the vhost layer. */
	uint32_t queue_size;
	/* Host-initiated connections wait this long for the guest's driver
	 * and listener (retried); 0 = closed at once, as before. */
	uint32_t connect_timeout_ms;
	struct dev_map map[DEV_MAP_MAX];
	unsigned nmap;
	bool map_only;               /* unmapped guest -> host ports get RST */
};

/* Upstream's defaults: guest CID 3, queue size 1024, everything else 0. */
void dev_cfg_init(struct dev_vm_cfg *c);
/* Set one key (either spelling: "uds-path" or "uds_path") from text, as
 * --vm, --config and the flags give it.  Keys: guest-cid, socket,
 * uds-path, forward-cid, forward-listen (P+Q), groups, tx-buffer-size,
 * queue-size, connect-timeout (ms), map (PORT=ADDR, repeatable), map-only
 * (true/false), max-conns (vsk's own: connections at once, 0 = 65,536).  0, or -EINVAL with one line in ERR. */
int dev_cfg_set(struct dev_vm_cfg *c, const char *key, const char *val, char *err, size_t errlen);
/* Parse "key=value,key=value..." (--vm): dev_cfg_init() and
 * dev_cfg_set() for each item, then dev_cfg_check().  0, or -EINVAL with
 * one line in ERR. */
int dev_cfg_parse_vm(const char *spec, struct dev_vm_cfg *c, char *err, size_t errlen);
/* A growing list of VM configs (no fixed number of VMs). */
struct dev_cfgs {
	struct dev_vm_cfg *v;
	int n, cap;
};

/* A new entry at the end of S, set to the defaults (dev_cfg_init), or
 * NULL when out of memory. */
struct dev_vm_cfg *dev_cfgs_add(struct dev_cfgs *s);
void dev_cfgs_free(struct dev_cfgs *s);
/* Parse the YAML subset of --config FILE, vhost-device-vsock's layout:
 *     vms:
 *         - guest_cid: 4
 *           socket: /tmp/vhost4.socket
 *           uds_path: /tmp/vm4.vsock     (or forward_cid: 1)
 *           map:                         (a list, or one PORT=ADDR)
 *             - 5000=tcp:127.0.0.1:80
 * any key dev_cfg_set() knows; '#' comments and blank lines are ignored;
 * values may be quoted.  Appends to S.  0, or -errno with "FILE:LINE:
 * what" in ERR. */
int dev_cfg_parse_file(const char *path, struct dev_cfgs *s, char *err, size_t errlen);
/* Check one VM config (CID range, back end, paths, sizes, map) and a set
 * for duplicates; the line in ERR names the VM and the rule. */
int dev_cfg_check(const struct dev_vm_cfg *c, int n, char *err, size_t errlen);
/* The map entry for guest -> host PORT, or NULL. */
const struct dev_map *dev_cfg_map(const struct dev_vm_cfg *c, uint32_t port);

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
