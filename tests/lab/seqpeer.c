/* seqpeer: an independent SOCK_SEQPACKET vsock peer for the lab, so the
 * seqpacket case can see message boundaries (vsk's stdout cannot show them).
 *
 *   seqpeer send PORT MSG...   connect to CID 1 (loopback) PORT; per MSG send
 *                              it as one message and expect exactly it back
 *   seqpeer recv PORT COUNT    listen on any:PORT, accept one connection,
 *                              print "msg <len> <text>" per message (COUNT
 *                              at most, or until EOF)
 *   seqpeer hold PORT SECS     connect to CID 1 PORT, print "connected",
 *                              read nothing for SECS seconds, then read to
 *                              the end: "held: <n> msgs <n> bytes, eof" (or
 *                              "..., error <text>" when it was reset)
 *
 * Only ever talks to CID 1 and refuses to run outside a lab guest (the
 * guest's /init sets VSK_LAB_GUEST=1 and has /lab/plan): the development
 * machine's CID 2 is a real hypervisor. */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define BUFSZ 65536

static unsigned port_arg(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v > 0xffffffffUL)
		errx(2, "invalid port: %s", s);
	return (unsigned)v;
}

/* One message; sets *trunc when it did not fit. EINTR retried. */
static ssize_t recv_msg(int fd, char *buf, size_t len, int *trunc)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	do
		n = recvmsg(fd, &mh, 0);
	while (n < 0 && errno == EINTR);
	*trunc = n >= 0 && (mh.msg_flags & MSG_TRUNC);
	return n;
}

static int do_send(unsigned port, int nmsg, char **msgs)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_LOCAL,
				  .svm_port = port };
	struct timeval tv = { .tv_sec = 10 };
	static char buf[BUFSZ];
	int fd = -1, rc = 1, trunc;

	fd = socket(AF_VSOCK, SOCK_SEQPACKET, 0);
	if (fd < 0) {
		warn("socket AF_VSOCK SOCK_SEQPACKET");
		goto out;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		warn("setsockopt SO_RCVTIMEO");
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		warn("connect vsock-seq:1:%u", port);
		goto out;
	}
	for (int i = 0; i < nmsg; i++) {
		size_t len = strlen(msgs[i]);
		ssize_t n;

		if (send(fd, msgs[i], len, MSG_NOSIGNAL) != (ssize_t)len) {
			warn("send message %d", i + 1);
			goto out;
		}
		n = recv_msg(fd, buf, sizeof(buf), &trunc);
		if (n < 0) {
			warn("recv reply %d", i + 1);
			goto out;
		}
		if (trunc || (size_t)n != len || memcmp(buf, msgs[i], len)) {
			printf("reply %d: %zd bytes, want %zu bytes \"%s\"%s\n", i + 1, n, len,
			       msgs[i], trunc ? " (truncated)" : "");
			goto out;
		}
		printf("reply %d: %zu bytes ok\n", i + 1, len);
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static int do_recv(unsigned port, int count)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
				  .svm_port = port };
	static char buf[BUFSZ];
	int lfd = -1, fd = -1, rc = 1, trunc;

	lfd = socket(AF_VSOCK, SOCK_SEQPACKET, 0);
	if (lfd < 0) {
		warn("socket AF_VSOCK SOCK_SEQPACKET");
		goto out;
	}
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0) {
		warn("bind/listen vsock-seq:any:%u", port);
		goto out;
	}
	printf("listening\n");
	fflush(stdout);
	do
		fd = accept(lfd, NULL, NULL);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		warn("accept");
		goto out;
	}
	for (int i = 0; i < count; i++) {
		ssize_t n = recv_msg(fd, buf, sizeof(buf) - 1, &trunc);

		if (n < 0) {
			warn("recv");
			goto out;
		}
		if (n == 0)
			break;
		buf[n] = '\0';
		printf("msg %zd %s%s\n", n, buf, trunc ? " (truncated)" : "");
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (lfd >= 0)
		close(lfd);
	return rc;
}

/* A peer that stops reading: what is sent to it waits on its credit. */
static int do_hold(unsigned port, unsigned secs)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_LOCAL,
				  .svm_port = port };
	static char buf[BUFSZ];
	unsigned long long bytes = 0, msgs = 0;
	int fd, trunc;
	ssize_t n;

	fd = socket(AF_VSOCK, SOCK_SEQPACKET, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		warn("connect vsock-seq:1:%u", port);
		return 1;
	}
	printf("connected\n");
	fflush(stdout);
	sleep(secs);
	while ((n = recv_msg(fd, buf, sizeof(buf), &trunc)) > 0) {
		msgs++;
		bytes += (unsigned long long)n;
	}
	printf("held: %llu msgs %llu bytes, %s%s\n", msgs, bytes, n == 0 ? "eof" : "error ",
	       n == 0 ? "" : strerror(errno));
	close(fd);
	return n == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *guest = getenv("VSK_LAB_GUEST");

	if (!guest || strcmp(guest, "1") || access("/lab/plan", F_OK))
		errx(2, "refusing to run outside a vsk lab guest");
	if (argc >= 4 && !strcmp(argv[1], "send"))
		return do_send(port_arg(argv[2]), argc - 3, argv + 3);
	if (argc == 4 && !strcmp(argv[1], "recv"))
		return do_recv(port_arg(argv[2]), (int)port_arg(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "hold"))
		return do_hold(port_arg(argv[2]), port_arg(argv[3]));
	fprintf(stderr, "usage: seqpeer send PORT MSG... | seqpeer recv PORT COUNT | seqpeer hold PORT SECS\n");
	return 2;
}
