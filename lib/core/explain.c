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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "explain.h"
#include "probe.h"
#include "vsk.h"

/* How much of a path or host a message echoes: with the address at the
 * front and the path once or twice in the text, a sentence stays whole in
 * the 512 bytes vsk.h suggests. */
#define ECHO_MAX 101

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

/* The server side: errors of bind/listen/accept never get client advice,
 * and those of connect/handshake never get a server's. */
static bool is_server(const char *op)
{
	return is_bind(op) || !strcmp(op, "accept");
}

/* The fix `vsk check` gives for module NAME (probe_module_fix), so the
 * two never disagree; without the probe's files, point to `vsk check`. */
static void module_fix(struct out *o, const struct probe_files *f, const char *name)
{
	char fix[224];

	if (f == NULL || *probe_module_fix(f, name, fix, sizeof(fix)) == '\0')
		put(o, "see 'vsk check'");
	else
		put(o, "%s", fix);
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
				const struct vsk_transports *t, const struct probe_files *f)
{
	char c[16];

	put(o, "CID %s is not local (", vsk_cid_str(a->cid, c, sizeof(c)));
	local_cids(o, t);
	put(o, "); a socket may bind only a CID of this machine or any");
	if (a->cid == VSK_CID_HOST && !t->h2g) {
		put(o, "; CID 2 is bindable only with a host->guest transport (vhost_vsock: ");
		module_fix(o, f, "vhost_vsock");
		put(o, "), or use vsock:any:%" PRIu32 " (a guest's own CID is %s)", a->port,
		    t->local_cid == VSK_CID_ANY ? "unknown" : vsk_cid_str(t->local_cid, c, sizeof(c)));
	} else if (a->cid == VSK_CID_LOCAL && !t->loopback) {
		put(o, "; CID 1 needs the loopback transport (vsock_loopback: ");
		module_fix(o, f, "vsock_loopback");
		put(o, ")");
	} else
		put(o, "; the host may bind only 2 or any, a guest its own CID, 1 with vsock_loopback");
}

static void vsock_connect_reset(struct out *o, const struct vsk_addr *a)
{
	char c[16];

	put(o, "nobody listens at CID %s port %" PRIu32 " (the peer answered with a reset)",
	    vsk_cid_str(a->cid, c, sizeof(c)), a->port);
}

static void no_transport(struct out *o, const struct vsk_addr *a, const struct vsk_transports *t,
			 const struct probe_files *f)
{
	char c[16];

	if (!t->dev_vsock && !t->af_vsock) {
		put(o, "this kernel has no AF_VSOCK support loaded (no /dev/vsock): ");
		module_fix(o, f, "vsock");
		put(o, ", or run 'vsk check'");
		return;
	}
	if (a == NULL || !is_vsock(a)) {
		put(o, "no vsock transport is loaded: run 'vsk check'");
		return;
	}
	put(o, "no transport serves CID %s: ", vsk_cid_str(a->cid, c, sizeof(c)));
	if (a->cid == VSK_CID_LOCAL) {
		put(o, "CID 1 needs vsock_loopback (");
		module_fix(o, f, "vsock_loopback");
		put(o, ")");
	} else if (a->cid <= VSK_CID_HOST) {
		put(o, "CID %s is reached through a guest->host transport (virtio-vsock in a VM); this machine has %s",
		    c, t->g2h ? "one, but it refused" : "none");
	} else if (t->h2g) {
		put(o, "CIDs above 2 are guests, reached through the host->guest transport, which is loaded but has no guest with that CID");
	} else {
		put(o, "CIDs above 2 are guests, reached through a host->guest transport (vhost_vsock: ");
		module_fix(o, f, "vhost_vsock");
		put(o, "; or a VM with 'vsk device' and its hybrid socket)");
	}
	put(o, "; run 'vsk check'");
}

static void explain_vsock(struct out *o, int err, const char *op, const struct vsk_addr *a,
			  const struct vsk_transports *t, const struct probe_files *f)
{
	char c[16];

	/* A listener is never told about peers that do not answer. */
	if (is_server(op) && (err == ECONNRESET || err == ECONNREFUSED || err == ETIMEDOUT || err == ENODEV ||
			    err == ENETUNREACH || err == EHOSTUNREACH)) {
		put(o, "%s", strerror(err));
		return;
	}
	switch (err) {
	case EADDRNOTAVAIL:
		if (is_bind(op))
			vsock_bind_notavail(o, a, t, f);
		else
			no_transport(o, a, t, f);
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
		no_transport(o, a, t, f);
		return;
	case EAFNOSUPPORT:
		put(o, "this kernel has no AF_VSOCK (CONFIG_VSOCKETS, module vsock: ");
		module_fix(o, f, "vsock");
		put(o, "); run 'vsk check'");
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

/* What a non-socket at a path is, for "X is a regular file, not a socket". */
static const char *file_kind(mode_t m)
{
	if (S_ISREG(m))
		return "a regular file";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	return "not a socket";
}

/* The directory PATH's file goes into ("." for a bare name). */
static void dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(buf, len, ".");
	else if (slash == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

/* Does a listener accept on the Unix socket at PATH?  Only asked after
 * bind found the name taken, as the listener's own stale check did. */
static bool unix_answers(const char *path)
{
	struct sockaddr_un un;
	int fd, rc;

	if (strlen(path) >= sizeof(un.sun_path))
		return false;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	memcpy(un.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true; /* cannot tell: do not call it stale */
	rc = connect(fd, (const struct sockaddr *)&un, sizeof(un));
	rc = rc == 0 || errno == EAGAIN || errno == EINPROGRESS || errno == EPROTOTYPE;
	close(fd);
	return rc;
}

/* bind/listen on a Unix path (unix:PATH, or hybrid:PATH:PORT, which binds
 * "PATH_PORT"): the server's side of the rules, never a client's advice. */
static void explain_path_listen(struct out *o, int err, const struct vsk_addr *a)
{
	bool hybrid = a->kind == VSK_ADDR_HYBRID || a->kind == VSK_ADDR_HYBRID_SEQ;
	char bound[VSK_PATH_MAX + 16], dir[VSK_PATH_MAX + 16], p[ECHO_MAX], d[ECHO_MAX];
	struct stat st;

	if (hybrid)
		snprintf(bound, sizeof(bound), "%s_%" PRIu32, a->path, a->port);
	else
		snprintf(bound, sizeof(bound), "%s", a->path);
	dir_of(bound, dir, sizeof(dir));
	addr_elide(bound, p, sizeof(p));
	addr_elide(dir, d, sizeof(d));
	/* Messages that name only the directory say which file it was for;
	 * the others name PATH_PORT themselves. */
	if (hybrid && (err == ENOENT || err == ENOTDIR || err == EROFS))
		put(o, "the socket file is %s (PATH_PORT): ", p);

	switch (err) {
	case ENOENT:
		put(o, "directory %s does not exist (bind creates the socket file, not its directory)", d);
		return;
	case ENOTDIR:
		put(o, "%s is not a directory (a part of it is a file)", d);
		return;
	case EADDRINUSE:
		if (bound[0] == '@')
			put(o, "the abstract name %s is in use by a live listener", p);
		else if (lstat(bound, &st) < 0)
			put(o, "%s is in use", p);
		else if (!S_ISSOCK(st.st_mode))
			put(o, "%s is %s, not a socket: vsk replaces only a stale socket, never another file", p,
			    file_kind(st.st_mode));
		else if (!unix_answers(bound))
			put(o, "%s is a stale socket file (nobody accepts on it) that could not be removed: remove it, or check the directory's permissions", p);
		else
			put(o, "%s is in use by a live listener", p);
		return;
	case EACCES:
	case EPERM:
		put(o, "permission denied creating %s: directory %s must be writable (and those above it searchable)",
		    p, d);
		return;
	case EROFS:
		put(o, "directory %s is on a read-only file system", d);
		return;
	case ENAMETOOLONG:
		put(o, "socket path too long (%zu bytes, at most %zu)%s", strlen(bound), (size_t)VSK_PATH_MAX - 1,
		    hybrid ? ": a hybrid listener binds PATH_PORT" : "");
		return;
	default:
		put(o, "%s", strerror(err));
		return;
	}
}

static void explain_path(struct out *o, int err, const char *op, const struct vsk_addr *a)
{
	bool hybrid = a->kind == VSK_ADDR_HYBRID || a->kind == VSK_ADDR_HYBRID_SEQ;
	char seq[VSK_PATH_MAX + 16], path[ECHO_MAX];
	struct stat st;

	if (is_server(op)) {
		if (is_bind(op))
			explain_path_listen(o, err, a);
		else
			put(o, "%s", strerror(err));
		return;
	}
	/* A hybrid-seq client connects to "PATH_seqpacket". */
	if (a->kind == VSK_ADDR_HYBRID_SEQ)
		snprintf(seq, sizeof(seq), "%s_seqpacket", a->path);
	else
		snprintf(seq, sizeof(seq), "%s", a->path);
	addr_elide(seq, path, sizeof(path));

	switch (err) {
	case ENOENT:
		put(o, "no socket at %s (nobody listens there%s)", path,
		    hybrid ? "; is 'vsk device --uds-path' running?" : "");
		return;
	case ECONNREFUSED:
		if (seq[0] != '@' && lstat(seq, &st) == 0 && !S_ISSOCK(st.st_mode))
			put(o, "%s is %s, not a socket", path, file_kind(st.st_mode));
		else
			put(o, "%s exists but nobody accepts on it (a stale socket file?)", path);
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
		put(o, "socket path too long (%zu bytes, at most %zu)", strlen(seq), (size_t)VSK_PATH_MAX - 1);
		return;
	default:
		put(o, "%s", strerror(err));
		return;
	}
}

static void explain_tcp(struct out *o, int err, const char *op, const struct vsk_addr *a)
{
	char host[ECHO_MAX];

	addr_elide(a->host[0] ? a->host : "localhost", host, sizeof(host));
	if (is_server(op)) {
		if (err == EADDRINUSE)
			put(o, "port %s is already in use", a->service);
		else if (err == EACCES)
			put(o, "port %s is privileged (ports < 1024 need CAP_NET_BIND_SERVICE)", a->service);
		else if (err == EADDRNOTAVAIL && a->host[0])
			put(o, "%s is not an address of this machine (tcp::PORT listens on all of them)", host);
		else if (err == ENOENT)
			put(o, "cannot resolve host '%s'", host);
		else
			put(o, "%s", strerror(err));
		return;
	}
	switch (err) {
	case ECONNREFUSED:
		put(o, "nobody listens at %s port %s", host, a->service);
		return;
	case EACCES:
		put(o, "permission denied (a firewall or an LSM refused)");
		return;
	case ENOENT:
		put(o, "cannot resolve host '%s'", host);
		return;
	case ETIMEDOUT:
		put(o, "no answer from %s port %s within the connect timeout (the host is down, packets are dropped, or its listen queue is full)",
		    host, a->service);
		return;
	default:
		put(o, "%s", strerror(err));
		return;
	}
}

const char *explain_with(int err, const char *op, const struct vsk_addr *a, const struct vsk_transports *t,
			 const struct probe_files *f, char *buf, size_t len)
{
	struct out o = { buf, len, 0 };
	const char *name = errname(err);
	char text[VSK_PATH_MAX + 300], shown[ECHO_MAX + 32];

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (op == NULL)
		op = "operation";
	if (a != NULL)
		put(&o, "%s %s: ", op, addr_elide(vsk_addr_format(a, text, sizeof(text)), shown, sizeof(shown)));
	else
		put(&o, "%s: ", op);

	if (a == NULL)
		put(&o, "%s", (err == EAFNOSUPPORT || err == ENODEV) ? "no vsock transport: run 'vsk check'"
								     : strerror(err));
	else if (is_vsock(a))
		explain_vsock(&o, err, op, a, t, f);
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
	struct probe_files *f = NULL;
	struct probe_live l;

	if (err < 0)
		err = -err;
	memset(&t, 0, sizeof(t));
	t.local_cid = VSK_CID_ANY;
	/* Local facts only matter for vsock addresses; probing binds sockets.
	 * The files are the ones `vsk check` reads, so the fixes agree. */
	if (a == NULL || is_vsock(a)) {
		f = malloc(sizeof(*f));
		if (f != NULL) {
			probe_files_load(f, "/", NULL);
			probe_live_gather(&l);
			probe_transports_eval(f, &l, &t);
		} else {
			vsk_probe_transports(&t);
		}
	}
	explain_with(err, op, a, &t, f, buf, len);
	if (f != NULL) {
		probe_files_free(f);
		free(f);
	}
	return buf;
}
