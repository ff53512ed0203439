/* device connections: the virtio-vsock transport of one connection between
 * a guest endpoint and a host socket (virtio spec 5.10).
 *
 * A connection never frees itself or anything above it.  When it ends it
 * does the protocol's part (an RST or the host socket's close), leaves
 * every list (dev_conntab retire) and returns DEV_CLOSED; its memory stays
 * valid until the VM calls conn_free() at the end of the round, so an epoll
 * event still queued for it is harmless.  What else happened is left where
 * the VM looks: rx buffers needed (the table's waiting list), a broken rx
 * ring (dev_rxq.broken). */
#ifndef VSK_DEV_CONN_H
#define VSK_DEV_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtq.h"
#include "wire.h"

#define DEV_TX_BATCH      256   /* tx chains per round and VM */
#define DEV_SCRATCH_ELEMS 96    /* rx chains for one seqpacket message
                                 * (the guest's 4 KiB buffers: 384 KiB) */
#define DEV_SCRATCH_IOV   1024  /* UIO_MAXIOV: one recvmsg */

enum { DEV_OPEN = 0, DEV_CLOSED = 1 };

struct dev_backend;
struct dev_conn;
struct dev_centry;
struct dev_conntab;
struct dev_log;
struct dev_rxq;
struct dev_stats;

/* What a connection needs of its VM (the VM owns it). */
struct dev_vmctx {
	void *vm;                     /* the owner, for its endpoints' events */
	uint32_t cid;                 /* the guest's */
	const char *uds;              /* host side: "<uds>" and "<uds>_P" (or "") */
	const struct dev_backend *be; /* where guest connections go */
	uint32_t connect_timeout_ms;  /* host connections wait for the guest */
	uint32_t buf_alloc;           /* our receive buffer per connection */
	int epfd;
	const struct dev_log *log;
	struct dev_rxq *rxq;
	struct dev_conntab *tab;
	struct dev_stats *st;
	struct vq_elem *scratch;      /* DEV_SCRATCH_ELEMS, the loop's */
	struct iovec *siov;           /* DEV_SCRATCH_IOV, the loop's */
	uint64_t nonce;               /* peer names of host sockets */
	unsigned nhandshake;          /* host clients that sent no CONNECT yet */
	bool limit_logged;            /* "connection limit" said for this burst */
	/* Connections that gathered small payloads in this tx batch (at most
	 * one entry per packet); flushed by conn_batch_end(). */
	struct dev_conn *gathered[DEV_TX_BATCH];
	unsigned ngathered;
};

struct dev_conn *conn_of(struct dev_centry *e);
bool conn_is_dead(const struct dev_conn *c);

/* A guest packet for the host (dst CID 2), from the tx queue: to its
 * connection, a new one (REQUEST) or answered with RST. */
int conn_guest_packet(struct dev_vmctx *v, const struct wire_virtio *h, const struct iovec *iov,
		      unsigned n);
/* End of the tx batch: send what C gathered, then the credit and shutdown
 * work its packets put off. */
int conn_batch_end(struct dev_conn *c);
/* A host client accepted on the VM's listener of KIND (enum
 * dev_listen_kind; FD is the connection's now, closed on every path);
 * DL_VSOCK: the listener's PORT and the client's PEER_PORT. */
void conn_host_accept(struct dev_vmctx *v, int fd, int kind, uint32_t port, uint32_t peer_port);
/* EVENTS on C's host socket. */
int conn_host_event(struct dev_conn *c, uint32_t events);
/* C's whole-message sender (AF_VSOCK SEQPACKET host sockets) is done. */
int conn_seq_event(struct dev_conn *c);
/* C's deadline passed. */
int conn_timer(struct dev_conn *c, int64_t now);
/* rx buffers arrived while C waited for them. */
int conn_rx_ready(struct dev_conn *c);
/* The VM drops C (reset, reboot, broken ring); RST: tell the guest. */
void conn_drop(struct dev_conn *c, bool rst);
/* The guest's driver went away (reset, reboot): true if C stays, a host
 * client the guest has not accepted yet that waits for the driver (still
 * sending its CONNECT line, or with connect-timeout time left). */
bool conn_wait_driver(struct dev_conn *c);
/* Free a retired connection (taken from the table's dead list). */
void conn_free(struct dev_conn *c);

#endif
