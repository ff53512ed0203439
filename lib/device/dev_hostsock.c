/* device host sockets: paths, connect without symlinks, the CONNECT
 * handshake's bytes (see dev_hostsock.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dev_hostsock.h"
#include "sock.h"
#include "vsk.h"

int hostsock_port_path(const char *uds, uint32_t port, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* "%u" of a u32: digits only, so no port names another directory;
	 * a name that does not fit is an error, never a truncated name (which
	 * could be another port's socket). */
	if ((size_t)snprintf(sun->sun_path, sizeof(sun->sun_path), "%s_%u", uds, port) >=
	    sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/* Whoever can write the uds directory could otherwise point "<uds>_P" at
 * a socket they cannot reach themselves (a confused deputy).  The file is
 * opened O_PATH|O_NOFOLLOW, checked, and connected through /proc/self/fd/N,
 * so it cannot be swapped between check and use. */
int hostsock_connect_nofollow(int fd, const struct sockaddr_un *sun)
{
	struct sockaddr_un via = { .sun_family = AF_UNIX };
	struct stat st;
	int pfd, rc;

	pfd = open(sun->sun_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		rc = -ELOOP;
		goto out;
	}
	if (!S_ISSOCK(st.st_mode)) {
		rc = -ECONNREFUSED;
		goto out;
	}
	snprintf(via.sun_path, sizeof(via.sun_path), "/proc/self/fd/%d", pfd);
	do
		rc = connect(fd, (struct sockaddr *)&via, sizeof(via));
	while (rc < 0 && errno == EINTR);
	/* No /proc (some containers): the checked path itself. */
	if (rc < 0 && errno == ENOENT)
		do
			rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
		while (rc < 0 && errno == EINTR);
	rc = rc < 0 ? -errno : 0;
	if (rc == -EWOULDBLOCK)
		rc = -EAGAIN;
out:
	close(pfd);
	return rc;
}

/* With the default send buffer the device wakes on EPOLLOUT every few
 * packets (guest->host 64 KiB packets: 0.5 -> 1.3 GB/s in
 * bench/device-datapath).  Best effort: the kernel caps it at wmem_max
 * (and doubles what it grants, for its bookkeeping). */
void hostsock_sndbuf(int fd, uint32_t buf_alloc)
{
	/* At most 1 MiB: the socket's share of a stalled reader stays small. */
	int v = buf_alloc >= (1u << 19) ? 1 << 20 : (int)(2 * buf_alloc);

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

int hostsock_open(int type, uint32_t cid, uint32_t port, uint64_t nonce, uint32_t buf_alloc,
		  int *bind_err)
{
	struct sockaddr_un me;
	socklen_t mlen;
	int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	*bind_err = 0;
	if (fd < 0)
		return -errno;
	mlen = vsk_hybrid_peer_name(&me, cid, port, nonce);
	if (bind(fd, (struct sockaddr *)&me, mlen) < 0)
		*bind_err = errno;
	hostsock_sndbuf(fd, buf_alloc);
	return fd;
}

int hostsock_read_line(int fd, char *line, unsigned *len, size_t cap)
{
	for (;;) {
		char ch;
		ssize_t r = recv(fd, &ch, 1, MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0)
			return -ECONNRESET;
		line[(*len)++] = ch;
		if (ch == '\n')
			return 1;
		if (*len == cap)
			return -EMSGSIZE;
	}
}

int hostsock_read_msg(int fd, char *line, unsigned *len, size_t cap)
{
	ssize_t r;

	do
		r = recv(fd, line, cap, MSG_DONTWAIT | MSG_TRUNC);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (r <= 0)
		return -ECONNRESET;
	if ((size_t)r > cap)
		return -EMSGSIZE;
	*len = (unsigned)r;
	return 1;
}

int hostsock_reply_ok(int fd, uint32_t hport)
{
	char line[VSK_HYBRID_LINE_MAX];
	int n = snprintf(line, sizeof(line), "OK %u\n", hport);
	ssize_t r;

	do
		r = send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	return r == n ? 0 : -EPIPE;
}

/* Refuse a socket directory that every user may write to without the
 * sticky bit: anyone there could remove our socket files and put their own
 * (or a symlink) in their place, and so take QEMU's connection (guest
 * memory) or the guest's traffic.  A sticky world-writable directory (/tmp)
 * keeps others from removing our files. */
static int dir_check(const char *path, const char *what, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &st) < 0) {
		int rc = -errno;

		snprintf(err, errlen, "%s %s: directory %s: %s", what, path, dir, strerror(-rc));
		return rc;
	}
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
		snprintf(err, errlen,
			 "%s %s: directory %s is writable by every user and not sticky, so anyone could "
			 "replace the socket; use a private directory (or chmod +t %s)", what, path, dir, dir);
		return -EPERM;
	}
	return 0;
}

int hostsock_listen(const char *path, const char *what, int type, unsigned mode, int backlog, char *err,
		    size_t errlen)
{
	int rc = dir_check(path, what, err, errlen);

	if (rc < 0)
		return rc;
	rc = sock_listen_unix(path, "", type | SOCK_NONBLOCK, backlog, (int)mode);
	if (rc == -EADDRINUSE) {
		struct stat st;
		const char *why = "another process listens there";

		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			why = "it is a symlink (not replaced)";
		else if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
			why = "it exists and is not a socket (not replaced)";
		snprintf(err, errlen, "%s %s: in use: %s", what, path, why);
	} else if (rc < 0)
		snprintf(err, errlen, "%s %s: bind/listen: %s", what, path, strerror(-rc));
	return rc;
}
