/* device_fault: load and fault generators for the `vsk device` fault lab
 * (static, no libvsk; tests/lab/device_faults.sh runs them).
 *
 *   device_fault flood CID PORT N      guest: N connects to a port nobody
 *                                      listens on; each must fail with
 *                                      ECONNRESET (the device's RST)
 *   device_fault churn CID PORT N      guest: N times connect, send an
 *                                      8-byte tag, read it back from an echo
 *                                      server, close
 *   device_fault hold CID PORT N       guest: open N connections to an echo
 *                                      server, check each echoes, print
 *                                      "held N" and keep them open (until
 *                                      killed or the guest reboots)
 *   device_fault send-for CID PORT SECS
 *                                      guest: send the pattern stream for
 *                                      SECS seconds, half-close, wait for
 *                                      the peer's close; prints "sent N"
 *   device_fault verify                host: stdin must be a prefix of the
 *                                      pattern stream; prints "verified N"
 *                                      or "mismatch at N" (exit 1)
 *
 * The pattern is device_tool's (same generator and seed), so either tool's
 * output checks against the other.  vsock modes refuse to run outside a
 * lab guest (VSK_LAB_GUEST=1): this machine's CID 2 is a real hypervisor.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define CHUNK 65536
#define MAXHOLD 1024

static uint8_t buf[CHUNK], got[CHUNK];
static uint64_t xs = 0x9E3779B97F4A7C15ull;

/* device_tool's generator: both tools must produce the same stream. */
static uint8_t next_byte(void)
{
	xs ^= xs << 13;
	xs ^= xs >> 7;
	xs ^= xs << 17;
	return (uint8_t)(xs >> 24);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int vconnect(unsigned cid, unsigned port, int *err)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*err = 0;
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = read(fd, p + off, n - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const uint8_t *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = send(fd, p + off, n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

static int flood(unsigned cid, unsigned port, long n)
{
	long reset = 0, other = 0, ok = 0;
	int first_err = 0;
	double t0 = now_s();

	for (long i = 0; i < n; i++) {
		int err, fd = vconnect(cid, port, &err);

		if (fd >= 0) {
			ok++;
			close(fd);
		} else if (err == ECONNRESET) {
			reset++;
		} else {
			if (other++ == 0)
				first_err = err;
		}
	}
	printf("flood %ld reset %ld other %ld ok %ld in %.2f s%s%s\n", n, reset, other, ok, now_s() - t0,
	       other ? ", first other error: " : "", other ? strerror(first_err) : "");
	return reset == n ? 0 : 1;
}

/* Echo one tag on a fresh connection: 0, or -1 with a line on stderr. */
static int echo_once(int fd, long i)
{
	char tag[9], back[9];

	snprintf(tag, sizeof(tag), "c%07ld", i % 10000000);
	if (write_full(fd, (const uint8_t *)tag, 8) < 0 || read_full(fd, (uint8_t *)back, 8) < 0) {
		fprintf(stderr, "connection %ld: echo failed: %s\n", i, strerror(errno));
		return -1;
	}
	if (memcmp(tag, back, 8) != 0) {
		fprintf(stderr, "connection %ld: sent %.8s, got %.8s back\n", i, tag, back);
		return -1;
	}
	return 0;
}

static int churn(unsigned cid, unsigned port, long n)
{
	long ok = 0;
	double t0 = now_s();

	for (long i = 0; i < n; i++) {
		int err, fd = vconnect(cid, port, &err);

		if (fd < 0) {
			fprintf(stderr, "connection %ld: connect: %s\n", i, strerror(err));
			continue;
		}
		if (echo_once(fd, i) == 0)
			ok++;
		close(fd);
	}
	printf("churn %ld ok %ld in %.2f s\n", n, ok, now_s() - t0);
	return ok == n ? 0 : 1;
}

static int hold(unsigned cid, unsigned port, long n)
{
	static int fds[MAXHOLD];
	long ok = 0;

	if (n > MAXHOLD)
		n = MAXHOLD;
	for (long i = 0; i < n; i++) {
		int err;

		fds[i] = vconnect(cid, port, &err);
		if (fds[i] < 0)
			fprintf(stderr, "connection %ld: connect: %s\n", i, strerror(err));
		else if (echo_once(fds[i], i) == 0)
			ok++;
	}
	printf("held %ld\n", ok);
	fflush(stdout);
	/* Keep them open until killed (or the guest reboots under us). */
	while (pause() < 0 && errno == EINTR)
		;
	return 0;
}

static int send_for(unsigned cid, unsigned port, double secs)
{
	unsigned long long sent = 0;
	double end = now_s() + secs;
	int err, fd = vconnect(cid, port, &err);

	if (fd < 0) {
		fprintf(stderr, "send-for: connect %u:%u: %s\n", cid, port, strerror(err));
		return 1;
	}
	while (now_s() < end) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = next_byte();
		if (write_full(fd, buf, sizeof(buf)) < 0) {
			fprintf(stderr, "send-for: send after %llu bytes: %s\n", sent, strerror(errno));
			return 1;
		}
		sent += sizeof(buf);
	}
	shutdown(fd, SHUT_WR);
	/* The peer closes once it has everything: then all was delivered. */
	while (read(fd, got, sizeof(got)) > 0)
		;
	close(fd);
	printf("sent %llu\n", sent);
	return 0;
}

static int verify(void)
{
	unsigned long long n = 0;
	ssize_t r;

	while ((r = read(0, got, sizeof(got))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perror("verify: read");
			return 1;
		}
		for (ssize_t i = 0; i < r; i++, n++)
			if (got[i] != next_byte()) {
				printf("mismatch at %llu\n", n);
				return 1;
			}
	}
	printf("verified %llu\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	const char *g = getenv("VSK_LAB_GUEST");
	unsigned cid, port;

	if (argc == 2 && !strcmp(argv[1], "verify"))
		return verify();
	if (argc != 5) {
		fprintf(stderr, "usage: device_fault flood|churn|hold CID PORT N | send-for CID PORT SECS | verify\n");
		return 2;
	}
	if (g == NULL || strcmp(g, "1") != 0) {
		fprintf(stderr, "device_fault: vsock modes run only inside a lab guest\n");
		return 2;
	}
	cid = (unsigned)strtoul(argv[2], NULL, 10);
	port = (unsigned)strtoul(argv[3], NULL, 10);
	if (!strcmp(argv[1], "flood"))
		return flood(cid, port, atol(argv[4]));
	if (!strcmp(argv[1], "churn"))
		return churn(cid, port, atol(argv[4]));
	if (!strcmp(argv[1], "hold"))
		return hold(cid, port, atol(argv[4]));
	if (!strcmp(argv[1], "send-for"))
		return send_for(cid, port, atof(argv[4]));
	fprintf(stderr, "device_fault: unknown mode %s\n", argv[1]);
	return 2;
}
