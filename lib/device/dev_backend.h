/* device back ends: where a guest's connection to host port P goes, and
 * how its host socket is opened without waiting.
 *
 *   Unix ("hybrid", uds-path):  the Unix socket "<uds>_P" (never through a
 *                                symlink), SOCK_STREAM or SOCK_SEQPACKET
 *                                like the guest's socket;
 *   vsock (forward-cid):        AF_VSOCK (forward-cid, P), same type;
 *   the port map:               P's own address: unix:, tcp: (stream
 *                                only), vsock:, hybrid: (then CONNECT/OK
 *                                on that socket: "PATH", or
 *                                "PATH_seqpacket" for SEQPACKET);
 *   map-only:                   an unmapped port is refused.
 *
 * A dial is one connection attempt, a state machine the connection layer
 * drives: backend_dial() starts it, the caller waits for D->events on
 * D->fd (or until D->retry_at), hands what happened to
 * backend_dial_step(), and so on until 0 (connected: D->fd is the host
 * socket) or -errno (D->op names the step for vsk_explain(), D->to the
 * target).  The deadline is the caller's.  Nothing here waits: tcp: names
 * are resolved once, in backend_init(), before the loop runs.
 *
 * The host side's listeners of a VM are here too: "<uds>" (stream),
 * "<uds>_seqpacket" (SOCK_SEQPACKET) and the forward-listen AF_VSOCK
 * ports. */
#ifndef VSK_DEV_BACKEND_H
#define VSK_DEV_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "device.h"
#include "vsk.h"

#define DEV_SA_MAX       4  /* addresses of one tcp: name kept and tried */
#define DEV_LISTEN_MAX   (2 + DEV_FWD_LISTEN_MAX)
#define DEV_SEQ_SUFFIX   "_seqpacket"

struct dev_sa {
	socklen_t len;
	struct sockaddr_storage ss;
};

/* One map entry, ready to dial. */
struct dev_route {
	const struct dev_map *m;
	struct dev_sa sa[DEV_SA_MAX]; /* tcp: resolved at start */
	int nsa;
};

struct dev_backend {
	uint32_t cid;                 /* the guest's (peer names) */
	const char *uds;              /* Unix back end, or NULL */
	bool forward;
	uint32_t forward_cid;
	bool map_only;
	struct dev_route *routes;
	unsigned nroutes;
};

/* The back end of config C (which must outlive it): resolves the tcp:
 * map targets.  0, or -errno with ERR naming the entry. */
int backend_init(struct dev_backend *b, const struct dev_vm_cfg *c, char *err, size_t errlen);
void backend_destroy(struct dev_backend *b);

enum { DIAL_CONNECT, DIAL_RETRY, DIAL_SEND, DIAL_REPLY };

struct dev_dial {
	int fd;               /* the socket in progress or connected, -1 in between */
	uint32_t events;      /* EPOLL* to wait for on FD (0: wait for retry_at) */
	int64_t retry_at;     /* dev_now_ms(): call backend_dial_step(D, 0) then */
	const char *op;       /* the step running, or the one that failed */
	struct vsk_addr to;   /* the target, as logs name it */
	bool mapped;          /* TO is from the port map */
	/* private */
	int stage, type;
	bool nofollow, hybrid;
	uint32_t cid, gport, buf_alloc, guest_buf;
	uint64_t nonce;
	const struct dev_sa *sa; /* a route's addresses, or NULL: ONE */
	int nsa, next, backoff_ms;
	struct dev_sa one;
	char line[VSK_HYBRID_LINE_MAX];
	unsigned len, off;
};

/* Begin opening the host socket of TYPE (SOCK_STREAM or SOCK_SEQPACKET)
 * for guest port GPORT -> host PORT (NONCE, BUF_ALLOC: the peer name and
 * send buffer of Unix sockets; GUEST_BUF: the guest's buf_alloc, which
 * bounds the messages an AF_VSOCK SEQPACKET socket takes from its host
 * peer).  0 connected, 1 waiting, -errno failed
 * (-ECONNREFUSED with D->op "map": PORT is not mapped and the VM is
 * map-only). */
int backend_dial(const struct dev_backend *b, uint32_t port, int type, uint32_t gport, uint64_t nonce,
		 uint32_t buf_alloc, uint32_t guest_buf, struct dev_dial *d);
/* REVENTS (EPOLL*) happened on D->fd, or 0: D->retry_at has come.
 * Returns as backend_dial().  D->fd may be another socket afterwards. */
int backend_dial_step(struct dev_dial *d, uint32_t revents);
/* Close what D holds (a dial given up). */
void backend_dial_cancel(struct dev_dial *d);
/* "connect tcp:127.0.0.1:80: nobody listens at 127.0.0.1 port 80
 * (ECONNREFUSED)" for a dial that failed with ERR. */
const char *backend_dial_explain(const struct dev_dial *d, int err, char *buf, size_t len);

/* The host side's listeners of one VM. */
enum dev_listen_kind {
	DL_UDS,      /* "<uds>": stream clients say CONNECT <port> */
	DL_UDS_SEQ,  /* "<uds>_seqpacket": the same in one message each */
	DL_VSOCK,    /* forward-listen: AF_VSOCK port P, for guest port P */
};

struct dev_listener {
	enum dev_listen_kind kind;
	uint32_t port;        /* DL_VSOCK */
	int fd;
};

/* Listen on every host-side socket of config C with file mode MODE:
 * fills L[*N] (capacity DEV_LISTEN_MAX).  0, or -errno with ERR naming
 * the socket; on failure nothing stays open or on disk. */
int backend_listen(const struct dev_vm_cfg *c, unsigned mode, struct dev_listener *l, unsigned *n, char *err,
		   size_t errlen);
/* Close them and remove the socket files. */
void backend_unlisten(const struct dev_vm_cfg *c, struct dev_listener *l, unsigned n);

#endif
