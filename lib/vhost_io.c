/* vhost-user framing: whole reads and writes on the front-end socket,
 * fds from SCM_RIGHTS collected on the way.  The socket is non-blocking;
 * once a message has started, a peer that stalls gets
 * VU_PAYLOAD_TIMEOUT_MS per wait, so one VM cannot hang the event loop.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost.h"

/* Wait up to the payload timeout for FD to become readable/writable. */
static int wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, VU_PAYLOAD_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

/* Keep up to VU_MAX_FDS received fds; close the rest. */
static void take_fds(struct msghdr *mh, int *fds, unsigned *nfds, bool *truncated)
{
	if (mh->msg_flags & MSG_CTRUNC)
		*truncated = true;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t k = 0; k < n; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
			if (*nfds < VU_MAX_FDS) {
				fds[(*nfds)++] = fd;
			} else {
				close(fd);
				*truncated = true;
			}
		}
	}
}

int vu_io_read(int sock, void *buf, size_t len, bool first, int *fds, unsigned *nfds, bool *truncated)
{
	size_t got = 0;

	while (got < len) {
		union {
			char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = { (uint8_t *)buf + got, len - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf) };
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc;

			if (first && got == 0)
				return -EAGAIN;
			rc = wait_fd(sock, POLLIN);
			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return -errno;
		take_fds(&mh, fds, nfds, truncated);
		if (n == 0)
			return -ECONNRESET;
		got += (size_t)n;
	}
	return 0;
}

int vu_io_write(int sock, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(sock, (const uint8_t *)buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_fd(sock, POLLOUT);

			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}
