/* device host-side paths: "<uds>_<port>" for a guest's connection to host
 * port P, and connecting there without following a symlink.  Split from
 * device_conn.c (the transport) because these are file-system rules. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "device_int.h"

int dev_uds_port_path(const struct dev_vm *vm, uint32_t port, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* "%u" of a u32: digits only, so no port names another directory;
	 * a name that does not fit is an error, never a truncated name (which
	 * could be another port's socket). */
	if ((size_t)snprintf(sun->sun_path, sizeof(sun->sun_path), "%s_%u", vm->cfg.uds, port) >=
	    sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/* connect() FD to the socket file SUN without following a symlink at its
 * last component: whoever can write the uds directory could otherwise
 * point "<uds>_P" at a socket they cannot reach themselves (a confused
 * deputy).  The file is opened O_PATH|O_NOFOLLOW, checked, and connected
 * through /proc/self/fd/N, so it cannot be swapped between check and use. */
int dev_uds_connect(int fd, const struct sockaddr_un *sun)
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
out:
	close(pfd);
	return rc;
}
