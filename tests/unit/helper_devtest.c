/* Test helpers shared by the vsk device tests. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "helper_devtest.h"

void dt_log(void *arg, int level, const char *msg)
{
	struct dt_log *l = arg;
	int n;

	(void)level;
	n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s\n", msg);
	if (n > 0 && (size_t)n < sizeof(l->text) - l->len)
		l->len += (size_t)n;
}

void dt_vm_cfg(const char *dir, struct dev_vm_cfg *c, uint32_t cid, const char *groups, uint32_t txbuf)
{
	memset(c, 0, sizeof(*c));
	c->cid = cid;
	snprintf(c->socket, sizeof(c->socket), "%s/v%u.sock", dir, cid);
	snprintf(c->uds, sizeof(c->uds), "%s/u%u", dir, cid);
	snprintf(c->groups, sizeof(c->groups), "%s", groups);
	c->tx_buf = txbuf;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

int dt_vu_get_features(struct dev *d, const char *sock, double *ms)
{
	/* GET_FEATURES (1), version 1, no payload; the reply adds a le64. */
	static const unsigned char req[12] = { 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 };
	unsigned char rep[20];
	size_t got = 0;
	double t0 = now_ms();
	int fd = unix_connect(sock), rc = -ETIMEDOUT;

	if (fd < 0)
		return fd;
	if (send(fd, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req)) {
		rc = -errno;
		goto out;
	}
	while (now_ms() - t0 < 2000) {
		ssize_t r;

		if (dev_run_once(d, 1) < 0) {
			rc = -EIO;
			goto out;
		}
		r = recv(fd, rep + got, sizeof(rep) - got, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN)) {
			rc = -ECONNRESET;
			goto out;
		}
		if (r > 0)
			got += (size_t)r;
		if (got == sizeof(rep)) {
			*ms = now_ms() - t0;
			rc = rep[0] == 1 && (rep[4] & 4) ? 0 : -EPROTO;
			goto out;
		}
	}
out:
	close(fd);
	return rc;
}

int dt_unix_clients(const char *path, int *fds, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		int fd = unix_connect(path);

		if (fd >= 0)
			fds[k++] = fd;
	}
	return k;
}
