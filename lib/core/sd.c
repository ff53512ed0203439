/* sd: the two systemd protocols a daemon needs, without libsystemd.
 *
 * Socket activation: systemd passes listening sockets as fds 3, 4, ...
 * and says how many in LISTEN_FDS, for the process in LISTEN_PID (a child
 * forked with the same environment must not take them).
 * Readiness: a datagram "READY=1" (or "STATUS=...", newline-separated
 * assignments) to the Unix socket named in NOTIFY_SOCKET, a path or an
 * abstract name written with a leading '@'.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vsk.h"

#define SD_LISTEN_FDS_START 3
/* More than any unit would pass; bounds the fcntl loop on bad input. */
#define SD_LISTEN_FDS_MAX 4096

/* Strict decimal: digits only, no sign, no blanks, fits in long. */
static int parse_ulong(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || *v > max)
		return -EINVAL;
	return 0;
}

int vsk_sd_listen_fds(bool unset_env)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	unsigned long pid, n = 0;
	int rc = 0;

	if (pid_s == NULL || fds_s == NULL)
		goto out;
	rc = parse_ulong(pid_s, INT_MAX, &pid);
	if (rc < 0)
		goto out;
	/* Meant for another process (we are a child that inherited them). */
	if ((pid_t)pid != getpid())
		goto out;
	rc = parse_ulong(fds_s, SD_LISTEN_FDS_MAX, &n);
	if (rc < 0)
		goto out;
	for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + (int)n; fd++) {
		int fl = fcntl(fd, F_GETFD);

		/* Children we start (listen --exec) must not inherit them. */
		if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
			rc = -errno;
			goto out;
		}
	}
	rc = (int)n;
out:
	if (unset_env) {
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
	}
	return rc;
}

int vsk_sd_listener(int fd, bool nonblock)
{
	int listening = 0, type = 0, fl;
	socklen_t len = sizeof(listening);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
		return -errno;
	if (!listening)
		return -EINVAL;
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	if (nonblock) {
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
	}
	return type;
}

int vsk_sd_notify(const char *state)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t slen;
	size_t nlen, len;
	ssize_t n;
	int fd = -1, rc = 0;

	if (state == NULL || *state == '\0')
		return -EINVAL;
	if (name == NULL || *name == '\0')
		return 0; /* not started by systemd: nothing to tell */
	/* systemd may also name an AF_VSOCK address here; vsk speaks only
	 * Unix sockets for this. */
	if (name[0] != '/' && name[0] != '@')
		return -EAFNOSUPPORT;
	nlen = strlen(name);
	if (nlen >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, name, nlen);
	if (name[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract: the length says where it ends */
	slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + nlen);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	len = strlen(state);
	do
		n = sendto(fd, state, len, MSG_NOSIGNAL, (struct sockaddr *)&sun, slen);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		rc = -errno;
	else if ((size_t)n != len)
		rc = -EMSGSIZE; /* a datagram goes whole or not at all */
	else
		rc = 1;
	close(fd);
	fd = -1;
	return rc;
}
