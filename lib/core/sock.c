/* sock: open, bind, listen and accept for every address kind, and the
 * sockaddr builders that dial.c (connect) shares. */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sock.h"
#include "vsk.h"

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

int sock_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

void sock_vm_addr(struct sockaddr_vm *vm, uint32_t cid, uint32_t port)
{
	memset(vm, 0, sizeof(*vm));
	vm->svm_family = AF_VSOCK;
	vm->svm_cid = cid;
	vm->svm_port = port;
}

/* PATH (or "@name" for the abstract namespace) -> sockaddr_un. */
int sock_un_addr(struct sockaddr_un *un, socklen_t *len, const char *path, const char *suffix)
{
	char full[sizeof(un->sun_path) + 1];
	int n = snprintf(full, sizeof(full), "%s%s", path, suffix);

	if (n < 0 || (size_t)n >= sizeof(un->sun_path))
		return -ENAMETOOLONG;
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, full, (size_t)n);
	if (full[0] == '@')
		un->sun_path[0] = '\0'; /* abstract: length, not NUL, ends it */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n +
			   (full[0] == '@' ? 0 : 1));
	return 0;
}

/* A Unix socket path left behind by a dead listener: replace it only if it
 * is a socket and nothing answers on it (never unlink a regular file). */
static bool stale_socket(const struct sockaddr_un *un, socklen_t len)
{
	struct stat st;
	int fd, rc;

	if (un->sun_path[0] == '\0' || lstat(un->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	rc = connect(fd, (const struct sockaddr *)un, len);
	close(fd);
	return rc < 0 && errno == ECONNREFUSED;
}

static int bind_mode(int fd, const struct sockaddr_un *un, socklen_t len, int mode)
{
	mode_t old = 0;
	int rc, err;

	/* bind() creates the file as 0777 & ~umask: a umask of ~MODE gives
	 * exactly MODE, with no moment at which the file is more open.  The
	 * umask is process-wide; callers that care are single-threaded. */
	if (mode >= 0)
		old = umask(~(mode_t)mode & 0777);
	rc = bind(fd, (const struct sockaddr *)un, len);
	err = errno;
	if (mode >= 0)
		umask(old);
	errno = err;
	return rc;
}

int sock_listen_unix(const char *path, const char *suffix, int type, int backlog, int mode)
{
	struct sockaddr_un un;
	socklen_t len;
	int fd = -1, rc;

	rc = sock_un_addr(&un, &len, path, suffix);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = bind_mode(fd, &un, len, mode);
	if (rc < 0 && errno == EADDRINUSE && stale_socket(&un, len)) {
		unlink(un.sun_path);
		rc = bind_mode(fd, &un, len, mode);
	}
	if (rc < 0 || listen(fd, backlog) < 0) {
		rc = -errno;
		close_fd(&fd);
		return rc;
	}
	return fd;
}

static int listen_unix(const char *path, const char *suffix, int type, int backlog)
{
	return sock_listen_unix(path, suffix, type, backlog, -1);
}

/* An empty host (tcp::PORT) is every address of both families, as with
 * ncat -l: one AF_INET6 socket on :: with IPV6_V6ONLY off takes IPv4 too
 * (as ::ffff:a.b.c.d).  Returns the fd, -EAFNOSUPPORT when this host has
 * no IPv6 (the caller then takes 0.0.0.0), or another -errno. */
static int listen_tcp_dual(const struct vsk_addr *a, int backlog)
{
	struct addrinfo hints = { .ai_family = AF_INET6, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	int fd = -1, rc, one = 1, zero = 0;

	rc = getaddrinfo(NULL, a->service, &hints, &res);
	if (rc != 0)
		return rc == EAI_FAMILY || rc == EAI_ADDRFAMILY ? -EAFNOSUPPORT : rc == EAI_SYSTEM ? -errno : -ENOENT;
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT ? -EAFNOSUPPORT : -errno;
		goto out;
	}
	/* Without dual stack (IPV6_V6ONLY forced on) IPv4 would be lost. */
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0) {
		rc = -EAFNOSUPPORT;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		/* IPv6 disabled on every interface: bind to :: is refused. */
		rc = errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT ? -EAFNOSUPPORT : -errno;
		goto out;
	}
	rc = listen(fd, backlog) < 0 ? -errno : 0;
out:
	freeaddrinfo(res);
	if (rc < 0) {
		close_fd(&fd);
		return rc;
	}
	return fd;
}

static int listen_tcp(const struct vsk_addr *a, int backlog)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL, *ai;
	int fd = -1, rc, one = 1;

	if (a->host[0] == '\0') {
		fd = listen_tcp_dual(a, backlog);
		if (fd != -EAFNOSUPPORT)
			return fd;
		/* No IPv6 here: IPv4's every address. */
		hints.ai_family = AF_INET;
		fd = -1;
	}
	rc = getaddrinfo(a->host[0] ? a->host : NULL, a->service, &hints, &res);
	if (rc != 0)
		return rc == EAI_SYSTEM ? -errno : -ENOENT;
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
			break;
		rc = -errno;
		close_fd(&fd);
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : rc;
}

int vsk_listen(const struct vsk_addr *a, const struct vsk_opts *o)
{
	static const struct vsk_opts defaults = VSK_OPTS_INIT;
	struct sockaddr_vm vm;
	char suffix[16];
	int fd = -1, rc, backlog;

	if (o == NULL)
		o = &defaults;
	backlog = o->backlog > 0 ? o->backlog : 128;
	switch (a->kind) {
	case VSK_ADDR_VSOCK:
	case VSK_ADDR_VSOCK_SEQ:
		fd = socket(AF_VSOCK, vsk_addr_socktype(a) | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		sock_vm_addr(&vm, a->cid, a->port);
		if (bind(fd, (struct sockaddr *)&vm, sizeof(vm)) < 0 || listen(fd, backlog) < 0) {
			rc = -errno;
			close_fd(&fd);
			return rc;
		}
		break;
	case VSK_ADDR_HYBRID:
	case VSK_ADDR_HYBRID_SEQ:
		/* The device connects to "<uds-path>_<port>" for guest->host port. */
		snprintf(suffix, sizeof(suffix), "_%u", a->port);
		fd = listen_unix(a->path, suffix, vsk_addr_socktype(a), backlog);
		break;
	case VSK_ADDR_UNIX:
		fd = listen_unix(a->path, "", SOCK_STREAM, backlog);
		break;
	case VSK_ADDR_TCP:
		fd = listen_tcp(a, backlog);
		break;
	default:
		return -EINVAL;
	}
	if (fd >= 0 && o->nonblock && (rc = sock_set_nonblock(fd, true)) < 0) {
		close_fd(&fd);
		return rc;
	}
	return fd;
}

/* The kernel's name for LFD as a vsk address.  A hybrid listener is the
 * Unix socket "PATH_PORT": only the address it was asked for can tell, so
 * ASKED names PATH and PORT when the bound name is exactly that. */
int vsk_listen_addr(int lfd, const struct vsk_addr *asked, struct vsk_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss), tlen = sizeof(int);
	int type = SOCK_STREAM, rc;

	memset(a, 0, sizeof(*a));
	if (getsockname(lfd, (struct sockaddr *)&ss, &len) < 0 ||
	    getsockopt(lfd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
		return -errno;
	switch (ss.ss_family) {
	case AF_VSOCK: {
		const struct sockaddr_vm *vm = (const struct sockaddr_vm *)&ss;

		a->kind = type == SOCK_SEQPACKET ? VSK_ADDR_VSOCK_SEQ : VSK_ADDR_VSOCK;
		a->cid = vm->svm_cid;
		a->port = vm->svm_port;
		return 0;
	}
	case AF_INET:
	case AF_INET6:
		rc = getnameinfo((struct sockaddr *)&ss, len, a->host, sizeof(a->host), a->service,
				 sizeof(a->service), NI_NUMERICHOST | NI_NUMERICSERV);
		if (rc != 0)
			return rc == EAI_SYSTEM ? -errno : -EINVAL;
		a->kind = VSK_ADDR_TCP;
		return 0;
	case AF_UNIX: {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t n = len > off ? (size_t)len - off : 0;
		char want[sizeof(a->path) + 16];

		a->kind = VSK_ADDR_UNIX;
		if (n > 0 && un->sun_path[0] == '\0') /* abstract: "@name" */
			snprintf(a->path, sizeof(a->path), "@%.*s", (int)(n - 1), un->sun_path + 1);
		else if (n > 0)
			snprintf(a->path, sizeof(a->path), "%.*s", (int)strnlen(un->sun_path, n),
				 un->sun_path);
		if (asked != NULL && (asked->kind == VSK_ADDR_HYBRID || asked->kind == VSK_ADDR_HYBRID_SEQ)) {
			snprintf(want, sizeof(want), "%s_%u", asked->path, asked->port);
			if (!strcmp(want, a->path)) {
				*a = *asked;
				a->kind = type == SOCK_SEQPACKET ? VSK_ADDR_HYBRID_SEQ : VSK_ADDR_HYBRID;
			}
		}
		return 0;
	}
	default:
		return -EAFNOSUPPORT;
	}
}

int vsk_accept(int lfd, char *peer, size_t peerlen, int flags)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	do {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len, flags | SOCK_CLOEXEC);
	} while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
	if (fd < 0)
		return -errno;
	if (peer != NULL && peerlen > 0)
		vsk_sockaddr_format((struct sockaddr *)&ss, len, peer, peerlen);
	return fd;
}
