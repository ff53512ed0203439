/* explain: errno + address + local facts -> one sentence naming the rule.
 *
 * The kernel's AF_VSOCK rules that users trip over (net/vmw_vsock/af_vsock.c):
 *  - bind: vsock_find_cid() accepts only a CID of this machine: the local
 *    CID of the guest->host transport, VMADDR_CID_HOST (2) when a
 *    host->guest transport (vhost_vsock) is loaded, VMADDR_CID_LOCAL (1)
 *    when vsock_loopback is loaded, or VMADDR_CID_ANY.
 *  - bind: ports <= 1023 (LAST_RESERVED_PORT) need CAP_NET_BIND_SERVICE.
 *  - bind: a port bound with VMADDR_CID_ANY is taken for every CID.
 *  - connect: the transport is chosen by the remote CID (CID 2 or less
 *    and a guest -> g2h; CID 1 -> loopback; others -> h2g); none -> ENODEV.
 *  - connect to a port nobody listens on: the peer answers RST ->
 *    ECONNRESET (virtio) or ECONNREFUSED.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "explain.h"
#include "vsk.h"

struct out {
	char *buf;
	size_t len, pos;
};

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->pos >= o->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->pos += (size_t)n < o->len - o->pos ? (size_t)n : o->len - o->pos - 1;
}

static const struct {
	int err;
	const char *name;
} errnames[] = {
	{ EADDRNOTAVAIL, "EADDRNOTAVAIL" }, { EACCES, "EACCES" },
	{ EADDRINUSE, "EADDRINUSE" },       { ECONNRESET, "ECONNRESET" },
	{ ECONNREFUSED, "ECONNREFUSED" },   { ETIMEDOUT, "ETIMEDOUT" },
	{ EAFNOSUPPORT, "EAFNOSUPPORT" },   { ENODEV, "ENODEV" },
	{ ENOENT, "ENOENT" },               { ENETUNREACH, "ENETUNREACH" },
	{ EHOSTUNREACH, "EHOSTUNREACH" },   { ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT" },
	{ EOPNOTSUPP, "EOPNOTSUPP" },       { EPROTO, "EPROTO" },
	{ EPERM, "EPERM" },                 { EINVAL, "EINVAL" },
	{ ENAMETOOLONG, "ENAMETOOLONG" },   { EPIPE, "EPIPE" },
	{ EPROTONOSUPPORT, "EPROTONOSUPPORT" },
};

static const char *errname(int err)
{
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].err == err)
			return errnames[i].name;
	return NULL;
}

static bool is_vsock(const struct vsk_addr *a)
{
	return a != NULL && (a->kind == VSK_ADDR_VSOCK || a->kind == VSK_ADDR_VSOCK_SEQ);
}

static bool is_bind(const char *op)
{
	return !strcmp(op, "bind") || !strcmp(op, "listen");
}

static void local_cids(struct out *o, const struct vsk_transports *t)
{
	char c[16];

	put(o, "local CIDs: ");
	for (int i = 0; i < t->nbindable; i++)
		put(o, "%s%s", i ? ", " : "", vsk_cid_str(t->bindable[i], c, sizeof(c)));
	if (t->nbindable == 0)
		put(o, "none");
}

static void vsock_bind_notavail(struct out *o, const struct vsk_addr *a,
				const struct vsk_transports *t)
{
	char c[16];

	put(o, "CID %s is not local (", vsk_cid_str(a->cid, c, sizeof(c)));
	local_cids(o, t);
	put(o, "); a socket may bind only a CID of this machine or any");
	if (a->cid == VSK_CID_HOST && !t->h2g)
		put(o, "; CID 2 is bindable only with a host->guest transport: modprobe vhost_vsock, or use vsock:any:%" PRIu32 " (a guest's own CID is %s)",
		    a->port, t->local_cid == VSK_CID_ANY ? "unknown" : vsk_cid_str(t->local_cid, c, sizeof(c)));
	else if (a->cid == VSK_CID_LOCAL && !t->loopback)
		put(o, "; CID 1 needs the loopback transport: modprobe vsock_loopback");
	else
		put(o, "; the host may bind only 2 or any, a guest its own CID, 1 with vsock_loopback");
}

static void vsock_connect_reset(struct out *o, const struct vsk_addr *a)
{
	char c[16];

	put(o, "nobody listens at CID %s port %" PRIu32 " (the peer answered with a reset)",
	    vsk_cid_str(a->cid, c, sizeof(c)), a->port);
}

static void no_transport(struct out *o, const struct vsk_addr *a, const struct vsk_transports *t)
{
	char c[16];

	if (!t->dev_vsock && !t->af_vsock) {
		put(o, "this kernel has no AF_VSOCK support loaded (no /dev/vsock): modprobe vsock, or run 'vsk check'");
		return;
	}
	if (a == NULL || !is_vsock(a)) {
		put(o, "no vsock transport is loaded: run 'vsk check'");
		return;
	}
	put(o, "no transport serves CID %s: ", vsk_cid_str(a->cid, c, sizeof(c)));
	if (a->cid == VSK_CID_LOCAL)
		put(o, "CID 1 needs vsock_loopback (modprobe vsock_loopback)");
	else if (a->cid <= VSK_CID_HOST)
		put(o, "CID %s is reached through a guest->host transport (virtio-vsock in a VM); this machine has %s",
		    c, t->g2h ? "one, but it refused" : "none");
	else
		put(o, "CIDs above 2 are guests, reached through a host->guest transport (modprobe vhost_vsock, or vsk device)%s",
		    t->h2g ? ", which is loaded but has no guest with that CID" : "");
	put(o, "; run 'vsk check'");
}

static void explain_vsock(struct out *o, int err, const char *op, const struct vsk_addr *a,
			  const struct vsk_transports *t)
{
	char c[16];

	switch (err) {
	case EADDRNOTAVAIL:
		if (is_bind(op))
			vsock_bind_notavail(o, a, t);
		else
			no_transport(o, a, t);
		return;
	case EACCES:
		if (is_bind(op))
			put(o, "port %" PRIu32 " is reserved (ports <= 1023 need CAP_NET_BIND_SERVICE): run as root, grant the capability, or pick a port above 1023",
			    a->port);
		else
			put(o, "permission denied (an LSM or the transport refused; binding a reserved port <= 1023 needs CAP_NET_BIND_SERVICE)");
		return;
	case EADDRINUSE:
		put(o, "port %" PRIu32 " is already bound%s; a socket bound to CID any takes that port for every CID, so a specific CID and any cannot share a port",
		    a->port, a->cid == VSK_CID_ANY ? " (on some CID)" : "");
		return;
	case ECONNRESET:
	case ECONNREFUSED:
		vsock_connect_reset(o, a);
		return;
	case ETIMEDOUT:
		put(o, "no answer from CID %s within the connect timeout (the VM may be down or paused, or its vsock driver not loaded)",
		    vsk_cid_str(a->cid, c, sizeof(c)));
		return;
	case ENODEV:
	case ENETUNREACH:
	case EHOSTUNREACH:
		no_transport(o, a, t);
		return;
	case EAFNOSUPPORT:
		put(o, "this kernel has no AF_VSOCK (CONFIG_VSOCKETS, module vsock): run 'vsk check'");
		return;
	case ESOCKTNOSUPPORT:
	case EOPNOTSUPP:
	case EPROTONOSUPPORT:
		if (a->kind == VSK_ADDR_VSOCK_SEQ)
			put(o, "the transport does not support SOCK_SEQPACKET (virtio needs VIRTIO_VSOCK_F_SEQPACKET, Linux 5.14 or later)");
		else
			put(o, "operation not supported by this vsock transport");
		return;
	case EINVAL:
		if (is_bind(op))
			put(o, "invalid address for bind (the socket may already be bound)");
		else
			put(o, "invalid argument");
		return;
	default:
		put(o, "%s", strerror(err));
		return;
	}
}

static void explain_path(struct out *o, int err, const char *op, const struct vsk_addr *a)
{
	bool hybrid = a->kind == VSK_ADDR_HYBRID || a->kind == VSK_ADDR_HYBRID_SEQ;
	char seq[VSK_PATH_MAX + 16];
	const char *path = a->path;

	/* A hybrid-seq client connects to "PATH_seqpacket". */
	if (a->kind == VSK_ADDR_HYBRID_SEQ && !is_bind(op)) {
		snprintf(seq, sizeof(seq), "%s_seqpacket", a->path);
		path = seq;
	}

	switch (err) {
	case ENOENT:
		put(o, "no socket at %s (nobody listens there%s)", path,
		    hybrid ? "; is 'vsk device --uds-path' running?" : "");
		return;
	case ECONNREFUSED:
		put(o, "%s exists but nobody accepts on it (a stale socket file?)", path);
		return;
	case EADDRINUSE:
		put(o, "%s is in use by a live listener", path);
		return;
	case EACCES:
		put(o, "permission denied on %s or a directory above it", path);
		return;
	case ECONNRESET:
	case EPIPE:
		if (hybrid && !strcmp(op, "handshake"))
			put(o, "the device closed the connection: nobody listens on guest port %" PRIu32 " (or the guest's vsock driver is not up)",
			    a->port);
		else
			put(o, "connection reset by the peer");
		return;
	case EPROTO:
		put(o, "malformed reply to 'CONNECT %" PRIu32 "' (expected 'OK <port>'): is %s a hybrid vsock socket?",
		    a->port, path);
		return;
	case ETIMEDOUT:
		if (hybrid && !strcmp(op, "handshake"))
			put(o, "no reply to 'CONNECT %" PRIu32 "' within the timeout", a->port);
		else
			put(o, "%s took no connection within the timeout (its listen queue is full: the server is not accepting)",
			    path);
		return;
	case ENAMETOOLONG:
		put(o, "socket path too long (a Unix socket path holds at most 107 bytes)");
		return;
	default:
		put(o, "%s", strerror(err));
		return;
	}
}

static void explain_tcp(struct out *o, int err, const char *op, const struct vsk_addr *a)
{
	switch (err) {
	case ECONNREFUSED:
		put(o, "nobody listens at %s port %s", a->host[0] ? a->host : "localhost", a->service);
		return;
	case EADDRINUSE:
		put(o, "port %s is already in use", a->service);
		return;
	case EACCES:
		put(o, "port %s is privileged (ports < 1024 need CAP_NET_BIND_SERVICE)", a->service);
		return;
	case ENOENT:
		put(o, "cannot resolve host '%s'", a->host);
		return;
	case ETIMEDOUT:
		put(o, "no answer from %s port %s within the connect timeout (the host is down, packets are dropped, or its listen queue is full)",
		    a->host[0] ? a->host : "localhost", a->service);
		return;
	default:
		put(o, "%s", strerror(err));
		return;
	}
}

const char *explain_with(int err, const char *op, const struct vsk_addr *a,
			 const struct vsk_transports *t, char *buf, size_t len)
{
	struct out o = { buf, len, 0 };
	const char *name = errname(err);
	char text[VSK_PATH_MAX + 64];

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (op == NULL)
		op = "operation";
	if (a != NULL)
		put(&o, "%s %s: ", op, vsk_addr_format(a, text, sizeof(text)));
	else
		put(&o, "%s: ", op);

	if (a == NULL)
		put(&o, "%s", (err == EAFNOSUPPORT || err == ENODEV) ? "no vsock transport: run 'vsk check'"
								     : strerror(err));
	else if (is_vsock(a))
		explain_vsock(&o, err, op, a, t);
	else if (a->kind == VSK_ADDR_UNIX || a->kind == VSK_ADDR_HYBRID || a->kind == VSK_ADDR_HYBRID_SEQ)
		explain_path(&o, err, op, a);
	else if (a->kind == VSK_ADDR_TCP)
		explain_tcp(&o, err, op, a);
	else
		put(&o, "%s", strerror(err));
	if (name != NULL)
		put(&o, " (%s)", name);
	return buf;
}

const char *vsk_explain(int err, const char *op, const struct vsk_addr *a, char *buf, size_t len)
{
	struct vsk_transports t;

	if (err < 0)
		err = -err;
	memset(&t, 0, sizeof(t));
	t.local_cid = VSK_CID_ANY;
	/* Local facts only matter for vsock addresses; probing binds sockets. */
	if (a == NULL || is_vsock(a))
		vsk_probe_transports(&t);
	return explain_with(err, op, a, &t, buf, len);
}
