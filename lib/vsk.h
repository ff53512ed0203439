/* libvsk - AF_VSOCK toolkit library.
 *
 * Conventions: functions return 0 (or a non-negative fd/count) on success
 * and a negative errno value on failure.  Nothing here prints or exits.
 *
 * Use: cc prog.c $(pkg-config --cflags --libs vsk); link libvsk.so.1.
 * Every vsk_* function declared here is exported (and nothing else).
 * The usual sequence is parse, act, explain on failure:
 *
 *     struct vsk_addr a;
 *     char msg[512];
 *     const char *op;
 *     if (vsk_addr_parse("vsock:2:4050", &a, msg, sizeof(msg)) < 0)
 *             ... msg says what was expected ...
 *     int fd = vsk_connect(&a, NULL, &op);
 *     if (fd < 0)
 *             ... vsk_explain(-fd, op, &a, msg, sizeof(msg)) ...
 *
 * examples/host_receiver.c and examples/guest_sender.c are whole programs.
 * Sections: addresses, explained errors, connect/listen/accept, hybrid
 * (Firecracker-style) handshake, probing (local CID, transports, check),
 * systemd (socket activation, readiness).
 */
#ifndef VSK_H
#define VSK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- addr */

#define VSK_CID_HYPERVISOR 0u
#define VSK_CID_LOCAL      1u
#define VSK_CID_HOST       2u
#define VSK_CID_ANY        0xFFFFFFFFu
#define VSK_PORT_ANY       0xFFFFFFFFu

enum vsk_addr_kind {
	VSK_ADDR_VSOCK,     /* vsock:CID:PORT      SOCK_STREAM */
	VSK_ADDR_VSOCK_SEQ, /* vsock-seq:CID:PORT  SOCK_SEQPACKET */
	VSK_ADDR_HYBRID,    /* hybrid:PATH:PORT    Firecracker-style Unix socket */
	VSK_ADDR_UNIX,      /* unix:PATH */
	VSK_ADDR_TCP,       /* tcp:HOST:PORT (IPv6 as [addr]:port) */
	VSK_ADDR_STDIO,     /* - */
	VSK_ADDR_HYBRID_SEQ,/* hybrid-seq:PATH:PORT  the same, SOCK_SEQPACKET:
	                     * connects to "PATH_seqpacket", listens on "PATH_PORT" */
};

#define VSK_PATH_MAX 108 /* sizeof(sun_path) */

struct vsk_addr {
	enum vsk_addr_kind kind;
	uint32_t cid;            /* vsock kinds */
	uint32_t port;           /* vsock kinds, hybrid (the guest port) */
	char path[VSK_PATH_MAX]; /* unix, hybrid */
	char host[256];          /* tcp */
	char service[16];        /* tcp port, as text */
};

/* Parse TEXT into *A.  On failure returns -EINVAL and, if ERRBUF is given,
 * writes one line saying what was expected. */
int vsk_addr_parse(const char *text, struct vsk_addr *a, char *errbuf, size_t errlen);
/* Canonical text of A ("vsock:2:4050", "hybrid:/tmp/v.sock:1234", ...). */
const char *vsk_addr_format(const struct vsk_addr *a, char *buf, size_t len);
/* SOCK_STREAM or SOCK_SEQPACKET. */
int vsk_addr_socktype(const struct vsk_addr *a);
/* Text of a CID: "any" for VMADDR_CID_ANY, else the number. */
const char *vsk_cid_str(uint32_t cid, char *buf, size_t len);
/* Peer/local sockaddr of any family as text: "4:1234" for vsock,
 * "127.0.0.1:80" (also for an IPv4 peer of a dual-stack listener,
 * ::ffff:127.0.0.1), "[::1]:80", "unix:PATH" (or "unix" if unnamed). */
const char *vsk_sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen);

/* ------------------------------------------------------------- explain */

/* One sentence for a failed OP ("socket", "bind", "listen", "connect",
 * "accept", "handshake") on A with error ERR (positive errno), naming the
 * kernel rule behind it, e.g.
 *   "bind vsock:4:4050: CID 4 is not local (local CIDs: 3, 1); ..."
 * A may be NULL. Returns BUF. */
const char *vsk_explain(int err, const char *op, const struct vsk_addr *a, char *buf, size_t len);

/* ---------------------------------------------------------------- sock */

struct vsk_opts {
	int timeout_ms;     /* connect (+ hybrid handshake) timeout; 0 = none but the kernel's */
	uint32_t bind_port; /* vsock client: bind to this local port first; VSK_PORT_ANY = none */
	int backlog;        /* listen backlog; 0 = 128 */
	bool nonblock;      /* leave the returned fd O_NONBLOCK */
};
#define VSK_OPTS_INIT { 0, VSK_PORT_ANY, 0, false }

/* Bind and listen on A (vsock kinds, unix, tcp; hybrid listens on the Unix
 * socket "PATH_PORT", hybrid-seq the same as SOCK_SEQPACKET).  Returns the
 * listening fd or -errno. */
int vsk_listen(const struct vsk_addr *a, const struct vsk_opts *o);
/* Connect to A; for hybrid (and hybrid-seq, on "PATH_seqpacket") also
 * performs the CONNECT handshake; tcp tries each address of the name in
 * turn, all within O->timeout_ms.  Returns a
 * connected fd or -errno.  On failure *OP (if given) names the step that
 * failed ("resolve", "socket", "bind", "connect", "handshake") for
 * vsk_explain(). */
int vsk_connect(const struct vsk_addr *a, const struct vsk_opts *o, const char **op);
/* The address listening socket LFD is bound to, in *A: the port the kernel
 * chose for port 0 (tcp) or any (vsock), the numeric host for tcp (IPv4 or
 * IPv6), the path for unix ("@name" when abstract).  A hybrid listener is
 * the Unix socket "PATH_PORT": when ASKED (the address given to
 * vsk_listen(), may be NULL) is hybrid and names exactly that socket, *A
 * is hybrid with ASKED's PATH and PORT, else unix.  Works on any bound
 * socket, e.g. one systemd passed.  Returns 0 or -errno (-EAFNOSUPPORT
 * for another family). */
int vsk_listen_addr(int lfd, const struct vsk_addr *asked, struct vsk_addr *a);
/* accept4() with EINTR retried; the peer address is formatted into PEER. */
int vsk_accept(int lfd, char *peer, size_t peerlen, int flags);

/* -------------------------------------------------------------- hybrid */

/* Longest "CONNECT <port>\n" / "OK <port>\n" line we accept, newline included. */
#define VSK_HYBRID_LINE_MAX 32

/* Client side on a connected Unix stream socket: write "CONNECT PORT\n",
 * read "OK N\n" (peeked, so no stream data after it is consumed).  Returns 0,
 * -ECONNRESET if the peer closed (nobody listens at that guest port),
 * -EPROTO for a malformed reply, -ETIMEDOUT after TIMEOUT_MS (0 = none). */
int vsk_hybrid_connect(int fd, uint32_t port, int timeout_ms, uint32_t *assigned);
/* The same on a connected Unix SOCK_SEQPACKET socket (vsk device's
 * "<uds>_seqpacket"): "CONNECT PORT\n" as one message, "OK N\n" as one
 * message back.  Returns as vsk_hybrid_connect(). */
int vsk_hybrid_seq_connect(int fd, uint32_t port, int timeout_ms, uint32_t *assigned);
/* Parse one request line (without or with trailing newline).  Returns 0 and
 * the port, or -EINVAL. */
int vsk_hybrid_parse_connect(const char *line, size_t len, uint32_t *port);
/* Server side: read the CONNECT line from FD (blocking, bounded); returns 0
 * and *PORT, -ECONNRESET on EOF before newline, -EPROTO for garbage. */
int vsk_hybrid_accept(int fd, uint32_t *port, int timeout_ms);
/* Server side: write "OK PORT\n". */
int vsk_hybrid_reply(int fd, uint32_t port);
/* `vsk device` binds the Unix socket it connects to "<uds>_<port>" to an
 * abstract name carrying the guest's CID and port, so a host listener can
 * tell which guest endpoint called (accept()'s peer address).  NONCE keeps
 * names unique.  Fills *SUN and returns its length. */
socklen_t vsk_hybrid_peer_name(struct sockaddr_un *sun, uint32_t cid, uint32_t port, uint64_t nonce);
/* Parse such a peer address; 0 and the CID/port, or -EINVAL if SA is not one. */
int vsk_hybrid_peer_parse(const struct sockaddr *sa, socklen_t len, uint32_t *cid, uint32_t *port);

/* --------------------------------------------------------------- probe */

/* IOCTL_VM_SOCKETS_GET_LOCAL_CID on /dev/vsock. */
int vsk_local_cid(uint32_t *cid);

struct vsk_transports {
	bool dev_vsock;      /* /dev/vsock exists */
	bool af_vsock;       /* socket(AF_VSOCK) works */
	bool g2h;            /* a guest->host transport (virtio, vmci guest, hyperv) */
	bool h2g;            /* a host->guest transport (vhost_vsock, vmci host) */
	bool loopback;       /* vsock_loopback: CID 1 is bindable */
	bool vhost_dev;      /* /dev/vhost-vsock exists */
	char g2h_name[32];   /* "virtio", "vmci", "hyperv", "unknown" or "" */
	char h2g_name[32];   /* "vhost", "vmci", "" */
	uint32_t local_cid;  /* from the ioctl, VSK_CID_ANY if unknown */
	uint32_t bindable[4];/* CIDs this machine may bind (vsock_find_cid rule) */
	int nbindable;
	/* Added for `vsk cid` / `vsk check`. */
	int cid_err;         /* 0, or the errno of opening /dev/vsock or the ioctl */
	int sock_err;        /* 0, or the errno of socket(AF_VSOCK) */
	bool virtio_dev;     /* a virtio-vsock device (virtio id 0x13) is present */
	char virtio_dev_name[32]; /* its sysfs name, e.g. "virtio3" */
	char role[24];       /* "guest", "host", "host+guest (nested)", "loopback only", "none" */
};
/* Probe this machine: the CID ioctl, module/sysfs names, and ground truth
 * from bind() (never connect) on fresh sockets for CIDs {local, 1, 2}.
 * Returns 0; fields say what could not be found. */
int vsk_probe_transports(struct vsk_transports *t);

/* `vsk check`: one item per kernel option, module, device node, transport
 * and bindable CID, each with a status and the exact fixes for a gap. */
enum vsk_check_status { VSK_CHECK_OK, VSK_CHECK_WARN, VSK_CHECK_MISSING };
#define VSK_CHECK_FIX_MAX  4
#define VSK_CHECK_ITEM_MAX 48
struct vsk_check_item {
	const char *group;    /* "config", "guest-modules", "host-modules", "devices", "transports", "bind" */
	char name[48];        /* "CONFIG_VSOCKETS", "vhost_vsock", "/dev/vsock", "g2h", "CID 2" */
	enum vsk_check_status status;
	char detail[160];     /* "y (built in)", "loaded", "char 10:258, mode 0600", ... */
	char fix[VSK_CHECK_FIX_MAX][224];
	int nfix;
};
struct vsk_check_report {
	struct vsk_transports t;
	char config_source[160]; /* the config file read, "" if none was readable */
	struct vsk_check_item item[VSK_CHECK_ITEM_MAX];
	int nitem;
	bool usable;          /* AF_VSOCK works and a transport can carry traffic */
	char verdict[192];    /* one sentence: why usable or not */
};
/* Fill *R (large: allocate it).  Returns 0 or -errno (-ENOMEM). */
int vsk_check(struct vsk_check_report *r);
/* "ok", "warn", "missing". */
const char *vsk_check_status_name(enum vsk_check_status s);

/* -------------------------------------------------------------- systemd */

/* Socket activation: the number of listening sockets systemd passed
 * (fds 3 .. 3+N-1), 0 when none were passed to this process (LISTEN_PID
 * unset or another process's), -EINVAL for malformed variables, -EBADF if
 * a promised fd is not open.  The fds are made close-on-exec.  With
 * UNSET_ENV, LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are removed from
 * the environment whatever the result, so children do not see them. */
int vsk_sd_listen_fds(bool unset_env);
/* Check that FD is a listening socket and return its SO_TYPE
 * (SOCK_STREAM, SOCK_SEQPACKET); -EINVAL if it does not listen, -ENOTSOCK
 * if it is no socket.  NONBLOCK sets O_NONBLOCK on it. */
int vsk_sd_listener(int fd, bool nonblock);
/* sd_notify protocol: send STATE ("READY=1", "STATUS=text", several
 * separated by newlines) as one datagram to the Unix socket named by
 * NOTIFY_SOCKET (a path, or "@name" for an abstract one).  Returns 1 when
 * sent, 0 when NOTIFY_SOCKET is unset (not run by systemd), -EINVAL for an
 * empty STATE, -EAFNOSUPPORT for a name that is neither, or the -errno of
 * sendto(). */
int vsk_sd_notify(const char *state);


/* -------------------------------------------------------------- decode */

/* One vsock capture record (LINKTYPE_VSOCK, 271: the af_vsockmon_hdr the
 * kernel's vsockmon emits, the transport header, the payload), decoded.
 * Records are untrusted: every field is bounds-checked, and whatever the
 * record lacks is reported through has_mon / has_virtio / truncated. */
struct vsk_virtio_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type;   /* 1 STREAM, 2 SEQPACKET, 3 DGRAM */
	uint16_t op;     /* 1 REQUEST, 2 RESPONSE, 3 RST, 4 SHUTDOWN, 5 RW,
			    6 CREDIT_UPDATE, 7 CREDIT_REQUEST */
	uint32_t flags, buf_alloc, fwd_cnt;
};

struct vsk_packet {
	struct timeval ts;        /* capture time (from the file) */
	uint32_t caplen, len;     /* bytes captured / bytes on the wire */
	const uint8_t *data;      /* the record; valid until the next read */
	bool has_mon;             /* the 32-byte af_vsockmon_hdr is whole */
	bool has_virtio;          /* transport VIRTIO and its 44 bytes are whole */
	bool truncated;           /* something the headers promise is missing */
	uint64_t src_cid, dst_cid;/* af_vsockmon_hdr */
	uint32_t src_port, dst_port;
	uint16_t mon_op;          /* 1 CONNECT, 2 DISCONNECT, 3 CONTROL, 4 PAYLOAD */
	uint16_t transport;       /* 0 UNKNOWN, 1 NO_INFO, 2 VIRTIO */
	struct vsk_virtio_hdr virtio;
	const uint8_t *payload;   /* bytes after the transport header */
	size_t payload_len;
};

/* Decode the CAPLEN bytes at REC (timestamps and wire length are the
 * caller's to fill).  Never reads past CAPLEN.  0, or -EINVAL for NULL. */
int vsk_packet_decode(const void *rec, size_t caplen, struct vsk_packet *p);

enum {
	VSK_FMT_VERBOSE = 1 << 0,   /* add the decoded virtio header (vsk dump -v) */
	VSK_FMT_HEX = 1 << 1,       /* payload as hex (-x) */
	VSK_FMT_HEX_ASCII = 1 << 2, /* hex and ASCII (-X) */
	VSK_FMT_JSON = 1 << 3,      /* one JSON object (--json; docs/JSON.md) */
	VSK_FMT_UTC = 1 << 4,       /* timestamp in UTC rather than local time */
};
/* P as `vsk dump` prints it (by default tcpdump's line, e.g.
 * "03:30:52.706188 VIRTIO 4.4079680474 > 2.4050 CONNECT, length 76"),
 * newline-terminated.  Returns the length it needed (as snprintf does;
 * BUF holds a NUL-terminated prefix when LEN was too small) or -errno. */
int vsk_packet_format(const struct vsk_packet *p, unsigned flags, char *buf, size_t len);

/* Reading capture files: pcap or pcapng ("-" = stdin) of LINKTYPE_VSOCK. */
struct vsk_capture;
/* 0, or -errno with a one-line reason in ERRBUF (a file of another link
 * type is -EPROTONOSUPPORT). */
int vsk_capture_open(const char *path, struct vsk_capture **c, char *errbuf, size_t errlen);
/* 1 and *P filled (P->data valid until the next call), 0 at end of file,
 * -EIO for a damaged file. */
int vsk_capture_next(struct vsk_capture *c, struct vsk_packet *p);
void vsk_capture_close(struct vsk_capture *c);

#ifdef __cplusplus
}
#endif
#endif /* VSK_H */
