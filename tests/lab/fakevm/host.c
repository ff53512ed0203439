/* fakevm: the host programs of the vsock back end, blocking AF_VSOCK
 * sockets on CID 1 (vsock_loopback), each on a thread of its own. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "fakevm.h"

int vsock_listen(int type, uint32_t port)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
	int fd = socket(AF_VSOCK, type | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
		die("listen vsock:any:%u: %s", port, strerror(errno));
	return fd;
}

static void timeouts(int fd)
{
	struct timeval tv = { .tv_sec = 30 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* stream: echo what comes while it comes; after EOF "BYE\n", then our EOF. */
void *host_echo(void *arg)
{
	struct host *h = arg;
	static uint8_t buf[65536];

	h->fd = accept(h->lfd, NULL, NULL);
	if (h->fd < 0) {
		snprintf(h->err, sizeof(h->err), "accept: %s", strerror(errno));
		goto out;
	}
	timeouts(h->fd);
	for (;;) {
		ssize_t r = recv(h->fd, buf, sizeof(buf), 0);

		if (r == 0)
			break;
		if (r < 0) {
			snprintf(h->err, sizeof(h->err), "recv: %s", strerror(errno));
			goto out;
		}
		h->bytes += (uint64_t)r;
		h->hash = fnv(h->hash, buf, (size_t)r);
		if (send_all(h->fd, buf, (size_t)r) < 0) {
			snprintf(h->err, sizeof(h->err), "send: %s", strerror(errno));
			goto out;
		}
	}
	h->ok_eof = true;
	/* Our side still sends after the guest's half-close. */
	if (send_all(h->fd, (const uint8_t *)"BYE\n", 4) < 0 || shutdown(h->fd, SHUT_WR) < 0)
		snprintf(h->err, sizeof(h->err), "send after EOF: %s", strerror(errno));
	/* Until the device lets go (the guest's full close). */
	while (recv(h->fd, buf, sizeof(buf), 0) > 0)
		;
out:
	__atomic_store_n(&h->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* seq: read late (the device runs short of credit), one message each,
 * each sent back whole. */
void *host_seq(void *arg)
{
	struct host *h = arg;
	static uint8_t buf[300000];

	h->fd = accept(h->lfd, NULL, NULL);
	if (h->fd < 0) {
		snprintf(h->err, sizeof(h->err), "accept: %s", strerror(errno));
		goto out;
	}
	timeouts(h->fd);
	usleep(500000);
	for (;;) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t r = recvmsg(h->fd, &mh, 0);

		if (r == 0)
			break;
		if (r < 0) {
			snprintf(h->err, sizeof(h->err), "recvmsg: %s", strerror(errno));
			goto out;
		}
		if (mh.msg_flags & MSG_TRUNC)
			h->truncated = true;
		if (h->nmsg < 64) {
			h->msg_lens[h->nmsg] = (uint64_t)r;
			h->msg_hashes[h->nmsg] = fnv(FNV0, buf, (size_t)r);
		}
		h->nmsg++;
		if (h->nmsg < 3)
			usleep(200000);
		if (send(h->fd, buf, (size_t)r, MSG_NOSIGNAL) != r) {
			snprintf(h->err, sizeof(h->err), "send of %zd: %s", r, strerror(errno));
			goto out;
		}
	}
	h->ok_eof = true;
out:
	__atomic_store_n(&h->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* h2g: a client of the device's forward-listen port. */
void *host_client(void *arg)
{
	struct host *h = arg;
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_LOCAL, .svm_port = h->port };
	socklen_t sl = sizeof(sa);
	static uint8_t buf[65536];
	uint64_t sent = 0, got = 0;

	h->fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	timeouts(h->fd);
	if (connect(h->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(h->err, sizeof(h->err), "connect vsock:1:%u: %s", h->port, strerror(errno));
		goto out;
	}
	getsockname(h->fd, (struct sockaddr *)&sa, &sl);
	h->local_port = sa.svm_port;
	/* Send and read back in turns of 64 KiB (the guest echoes). */
	while (got < h->want) {
		if (sent < h->want) {
			size_t n = h->want - sent < sizeof(buf) ? (size_t)(h->want - sent) : sizeof(buf);

			for (size_t i = 0; i < n; i++)
				buf[i] = pat(sent + i);
			if (send_all(h->fd, buf, n) < 0) {
				snprintf(h->err, sizeof(h->err), "send: %s", strerror(errno));
				goto out;
			}
			sent += n;
			if (sent == h->want)
				shutdown(h->fd, SHUT_WR);
		}
		while (got < sent) {
			ssize_t r = recv(h->fd, buf, sizeof(buf), 0);

			if (r <= 0) {
				snprintf(h->err, sizeof(h->err), "recv after %llu bytes: %s", (unsigned long long)got,
					 r == 0 ? "EOF" : strerror(errno));
				goto out;
			}
			h->hash = fnv(h->hash, buf, (size_t)r);
			got += (uint64_t)r;
		}
	}
	h->bytes = got;
	h->ok_eof = recv(h->fd, buf, sizeof(buf), 0) == 0;
out:
	__atomic_store_n(&h->done, true, __ATOMIC_RELEASE);
	return NULL;
}

void host_start(struct host *h, void *(*fn)(void *))
{
	pthread_t th;

	h->hash = FNV0;
	if (pthread_create(&th, NULL, fn, h) != 0)
		die("pthread_create");
	pthread_detach(th);
}

void host_wait(struct host *h, double deadline)
{
	while (!__atomic_load_n(&h->done, __ATOMIC_ACQUIRE)) {
		if (now() > deadline)
			die("the host side did not finish in time");
		drive(10);
	}
	if (h->err[0])
		die("host side: %s", h->err);
}
