/* device_tool: small peers for the `vsk device` lab (static, no libvsk).
 *
 *   device_tool pattern BYTES         BYTES of a fixed pseudo-random stream
 *                                     to stdout (both ends can md5sum it)
 *   device_tool pattern-check         read stdin to EOF and compare it with
 *                                     the start of that stream; print
 *                                     "BYTES ok" or "BYTES bad-at OFFSET"
 *                                     (nothing is stored: bounded memory)
 *   device_tool seq-send CID PORT SIZE...
 *                                     guest only: SOCK_SEQPACKET vsock client;
 *                                     per SIZE send one message and expect
 *                                     exactly it back as one message
 *   device_tool hseq-send UDS PORT SIZE...
 *                                     host: the same through vsk device's
 *                                     UDS_seqpacket (CONNECT/OK as messages)
 *   device_tool useq-echo PATH COUNT  host: Unix SOCK_SEQPACKET listener at
 *                                     PATH, one client, echo each message,
 *                                     print "msg LEN" (at most COUNT, or EOF)
 *
 * vsock modes refuse to run outside a lab guest (VSK_LAB_GUEST=1): the
 * development machine's CID 2 is a real hypervisor. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define MAXMSG (256 * 1024)

static uint8_t buf[MAXMSG], back[MAXMSG];

static uint64_t xs = 0x9E3779B97F4A7C15ull;

static uint8_t next_byte(void)
{
	xs ^= xs << 13;
	xs ^= xs >> 7;
	xs ^= xs << 17;
	return (uint8_t)(xs >> 24);
}

static int pattern(unsigned long long n)
{
	while (n > 0) {
		size_t k = n < sizeof(buf) ? (size_t)n : sizeof(buf);

		for (size_t i = 0; i < k; i++)
			buf[i] = next_byte();
		for (size_t off = 0; off < k;) {
			ssize_t w = write(1, buf + off, k - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				perror("write");
				return 1;
			}
			off += (size_t)w;
		}
		n -= k;
	}
	return 0;
}

/* Per SIZE one message on FD, expecting exactly it back as one message. */
static int seq_echo(int fd, int n, char **sizes)
{
	for (int i = 0; i < n; i++) {
		size_t len = strtoul(sizes[i], NULL, 10);
		ssize_t r;

		if (len > MAXMSG)
			len = MAXMSG;
		for (size_t j = 0; j < len; j++)
			buf[j] = next_byte();
		if (send(fd, buf, len, 0) != (ssize_t)len) {
			fprintf(stderr, "seq-send: send %zu: %s\n", len, strerror(errno));
			return 1;
		}
		r = recv(fd, back, sizeof(back), 0);
		if (r != (ssize_t)len || memcmp(buf, back, len) != 0) {
			fprintf(stderr, "seq-send: sent %zu bytes, got back %zd (%s)\n", len, r,
				r == (ssize_t)len ? "different bytes" : "different length");
			return 1;
		}
		printf("echo %zu ok\n", len);
	}
	close(fd);
	return 0;
}

static int seq_send(unsigned cid, unsigned port, int n, char **sizes)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_SEQPACKET, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "seq-send: connect %u:%u: %s\n", cid, port, strerror(errno));
		return 1;
	}
	return seq_echo(fd, n, sizes);
}

/* Host-initiated SEQPACKET through vsk device: "UDS_seqpacket", CONNECT
 * and OK one message each, then the same echo. */
static int hseq_send(const char *uds, unsigned port, int n, char **sizes)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char line[64];
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0), k;
	ssize_t r;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s_seqpacket", uds);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "hseq-send: connect %s: %s\n", a.sun_path, strerror(errno));
		return 1;
	}
	k = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (send(fd, line, (size_t)k, 0) != k) {
		fprintf(stderr, "hseq-send: send CONNECT: %s\n", strerror(errno));
		return 1;
	}
	r = recv(fd, line, sizeof(line) - 1, 0);
	if (r < 4 || memcmp(line, "OK ", 3) != 0 || line[r - 1] != '\n') {
		fprintf(stderr, "hseq-send: no 'OK <n>' message (got %zd bytes)\n", r);
		return 1;
	}
	line[r - 1] = '\0';
	printf("%s\n", line);
	return seq_echo(fd, n, sizes);
}

static int useq_echo(const char *path, int count)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0), fd;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4) < 0) {
		fprintf(stderr, "useq-echo: listen %s: %s\n", path, strerror(errno));
		return 1;
	}
	fd = accept(lfd, NULL, NULL);
	if (fd < 0) {
		perror("useq-echo: accept");
		return 1;
	}
	for (int i = 0; i < count; i++) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t r = recvmsg(fd, &mh, 0);

		if (r <= 0)
			break;
		printf("msg %zd%s\n", r, (mh.msg_flags & MSG_TRUNC) ? " truncated" : "");
		fflush(stdout);
		if (send(fd, buf, (size_t)r, MSG_NOSIGNAL) != r) {
			perror("useq-echo: send");
			return 1;
		}
	}
	close(fd);
	close(lfd);
	unlink(path);
	return 0;
}

static int pattern_check(void)
{
	unsigned long long total = 0, bad = 0;
	bool mismatch = false;

	for (;;) {
		ssize_t n = read(0, back, sizeof(back));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("read");
			return 1;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (next_byte() != back[i] && !mismatch) {
				mismatch = true;
				bad = total + (unsigned long long)i;
			}
		total += (unsigned long long)n;
	}
	if (mismatch)
		printf("%llu bad-at %llu\n", total, bad);
	else
		printf("%llu ok\n", total);
	return mismatch;
}

int main(int argc, char **argv)
{
	const char *g = getenv("VSK_LAB_GUEST");

	if (argc == 3 && !strcmp(argv[1], "pattern"))
		return pattern(strtoull(argv[2], NULL, 10));
	if (argc == 2 && !strcmp(argv[1], "pattern-check"))
		return pattern_check();
	if (argc == 4 && !strcmp(argv[1], "useq-echo"))
		return useq_echo(argv[2], atoi(argv[3]));
	if (argc >= 4 && !strcmp(argv[1], "hseq-send"))
		return hseq_send(argv[2], (unsigned)strtoul(argv[3], NULL, 10), argc - 4, argv + 4);
	if (argc >= 4 && !strcmp(argv[1], "seq-send")) {
		if (g == NULL || strcmp(g, "1") != 0) {
			fprintf(stderr, "device_tool: vsock modes run only inside a lab guest\n");
			return 2;
		}
		return seq_send((unsigned)strtoul(argv[2], NULL, 10), (unsigned)strtoul(argv[3], NULL, 10),
				argc - 4, argv + 4);
	}
	fprintf(stderr, "usage: device_tool pattern BYTES | pattern-check | seq-send CID PORT SIZE... | "
		"hseq-send UDS PORT SIZE... | useq-echo PATH COUNT\n");
	return 2;
}
