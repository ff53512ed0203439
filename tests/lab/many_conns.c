/* many_conns: N vsock stream connections to CID:PORT held open at once,
 * each echoed (static, no libvsk; lab guests only).
 *
 *   many_conns CID PORT N [HOLD]
 *
 * Opens N connections (non-blocking, at most 256 connecting at a time),
 * sends each its own 64-byte message once connected, and waits until every
 * connection has read exactly its message back.  Only then, with all N
 * still open, it prints "HELD N", keeps them open HOLD more seconds (the
 * host looks at the device meanwhile; default 0) and closes them.  Exit 0 when every echo
 * was right, 1 otherwise (the first failures are printed).  Bounded: 120 s.
 *
 * Refuses to run outside a lab guest (VSK_LAB_GUEST=1): the development
 * machine's CID 2 is a real hypervisor. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define MSG 64
#define INFLIGHT 256

struct conn {
	int fd;
	bool connected, sent;
	unsigned got;
	char want[MSG], back[MSG];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_one(struct conn *c, unsigned cid, unsigned port, int ep, unsigned i)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.u32 = i };

	c->fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	snprintf(c->want, sizeof(c->want), "conn %06u of many_conns, each with its own bytes ....", i);
	memset(c->want + strlen(c->want), '.', MSG - strlen(c->want));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		return -errno;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	const char *g = getenv("VSK_LAB_GUEST");
	struct rlimit rl;
	struct conn *cs;
	unsigned cid, port, n, opened = 0, connecting = 0, done = 0, bad = 0;
	double t0 = now();
	int ep;

	if (g == NULL || strcmp(g, "1") != 0) {
		fprintf(stderr, "many_conns: only inside a lab guest (VSK_LAB_GUEST=1)\n");
		return 2;
	}
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: many_conns CID PORT N [HOLD]\n");
		return 2;
	}
	cid = (unsigned)strtoul(argv[1], NULL, 10);
	port = (unsigned)strtoul(argv[2], NULL, 10);
	n = (unsigned)strtoul(argv[3], NULL, 10);
	rl.rlim_cur = rl.rlim_max = n + 64;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		perror("many_conns: setrlimit");
		return 1;
	}
	cs = calloc(n, sizeof(*cs));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (cs == NULL || ep < 0) {
		perror("many_conns");
		return 1;
	}
	while (done < n && now() - t0 < 120) {
		struct epoll_event evs[256];
		int k;

		while (opened < n && connecting < INFLIGHT) {
			int rc = open_one(&cs[opened], cid, port, ep, opened);

			if (rc < 0) {
				fprintf(stderr, "connection %u: %s\n", opened, strerror(-rc));
				return 1;
			}
			opened++;
			connecting++;
		}
		k = epoll_wait(ep, evs, 256, 1000);
		for (int j = 0; j < k; j++) {
			struct conn *c = &cs[evs[j].data.u32];
			ssize_t r;

			if (!c->connected) {
				int err = 0;
				socklen_t len = sizeof(err);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err != 0) {
					fprintf(stderr, "connection %u: connect: %s\n", evs[j].data.u32, strerror(err));
					return 1;
				}
				c->connected = true;
				connecting--;
			}
			if (!c->sent) {
				if (send(c->fd, c->want, MSG, MSG_NOSIGNAL) != MSG) {
					fprintf(stderr, "connection %u: send: %s\n", evs[j].data.u32, strerror(errno));
					return 1;
				}
				c->sent = true;
				struct epoll_event ev = { .events = EPOLLIN, .data.u32 = evs[j].data.u32 };
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			}
			r = recv(c->fd, c->back + c->got, MSG - c->got, MSG_DONTWAIT);
			if (r > 0) {
				c->got += (unsigned)r;
				if (c->got == MSG) {
					if (memcmp(c->back, c->want, MSG) != 0 && bad++ < 5)
						fprintf(stderr, "connection %u: wrong echo\n", evs[j].data.u32);
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
					done++;
				}
			} else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				fprintf(stderr, "connection %u: closed after %u bytes: %s\n", evs[j].data.u32, c->got,
					r == 0 ? "EOF" : strerror(errno));
				return 1;
			}
		}
	}
	if (done < n) {
		fprintf(stderr, "many_conns: %u of %u echoed in 120 s (%u opened)\n", done, n, opened);
		return 1;
	}
	printf("HELD %u (all open, every echo checked) in %.1f s\n", n, now() - t0);
	fflush(stdout);
	if (argc == 5)
		sleep((unsigned)strtoul(argv[4], NULL, 10));
	for (unsigned i = 0; i < n; i++)
		close(cs[i].fd);
	return bad == 0 ? 0 : 1;
}
