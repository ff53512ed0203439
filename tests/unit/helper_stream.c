/* Test helpers: checksummed random streams driven through fds with poll. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "helper_stream.h"

void hs_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* xorshift64*, one step per byte so the stream does not depend on how it
 * is cut into chunks. */
void hs_fill(uint64_t *state, unsigned char *buf, size_t len)
{
	uint64_t x = *state;

	for (size_t i = 0; i < len; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		buf[i] = (unsigned char)((x * 0x2545F4914F6CDD1DULL) >> 56);
	}
	*state = x;
}

uint32_t hs_crc_of(uint64_t seed, size_t len)
{
	unsigned char buf[4096];
	uint64_t st = seed ? seed : 1;
	uLong crc = crc32(0L, Z_NULL, 0);

	while (len > 0) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);
		hs_fill(&st, buf, n);
		crc = crc32(crc, buf, (uInt)n);
		len -= n;
	}
	return (uint32_t)crc;
}

void hs_flow_init(struct hs_flow *f, int wfd, int rfd, size_t total, uint64_t seed)
{
	memset(f, 0, sizeof(*f));
	f->wfd = wfd;
	f->rfd = rfd;
	f->total = total;
	f->seed = seed;
	f->state = seed ? seed : 1;
	f->crc_sent = (uint32_t)crc32(0L, Z_NULL, 0);
	f->crc_got = f->crc_sent;
	f->wdone = wfd < 0;
	f->rdone = rfd < 0;
	if (wfd >= 0)
		hs_nonblock(wfd);
	if (rfd >= 0)
		hs_nonblock(rfd);
}

static void flow_write(struct hs_flow *f)
{
	while (!f->wdone) {
		ssize_t n;

		if (f->pend_len == 0 && f->sent < f->total) {
			size_t want = f->total - f->sent;
			/* Chunk sizes vary so boundaries are not always aligned. */
			size_t cap = 1 + (size_t)(f->state % sizeof(f->pend));
			f->pend_len = want < cap ? want : cap;
			f->pend_off = 0;
			hs_fill(&f->state, f->pend, f->pend_len);
			f->crc_sent = (uint32_t)crc32(f->crc_sent, f->pend, (uInt)f->pend_len);
		}
		if (f->pend_len == 0) {
			if (f->close_wfd)
				close(f->wfd);
			else
				shutdown(f->wfd, SHUT_WR);
			f->wdone = true;
			return;
		}
		n = f->close_wfd ? write(f->wfd, f->pend + f->pend_off, f->pend_len)
				 : send(f->wfd, f->pend + f->pend_off, f->pend_len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && f->err == 0)
				f->err = errno;
			if (errno != EAGAIN)
				f->wdone = true;
			return;
		}
		f->pend_off += (size_t)n;
		f->pend_len -= (size_t)n;
		f->sent += (size_t)n;
	}
}

static void flow_read(struct hs_flow *f)
{
	unsigned char buf[65536];

	while (!f->rdone) {
		ssize_t n = read(f->rfd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				if (f->err == 0)
					f->err = errno;
				f->rdone = true;
			}
			return;
		}
		if (n == 0) {
			f->rdone = true;
			return;
		}
		f->crc_got = (uint32_t)crc32(f->crc_got, buf, (uInt)n);
		f->got += (size_t)n;
	}
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

int hs_drive(struct hs_flow *flows, int n, int timeout_ms)
{
	struct pollfd *pfd = calloc((size_t)n * 2, sizeof(*pfd));
	struct timespec t0;
	int rc = 0;

	if (pfd == NULL)
		return -ENOMEM;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int np = 0;
		long left = timeout_ms - ms_since(&t0);

		for (int i = 0; i < n; i++) {
			flow_write(&flows[i]);
			flow_read(&flows[i]);
		}
		for (int i = 0; i < n; i++) {
			if (!flows[i].wdone)
				pfd[np++] = (struct pollfd){ .fd = flows[i].wfd, .events = POLLOUT };
			if (!flows[i].rdone)
				pfd[np++] = (struct pollfd){ .fd = flows[i].rfd, .events = POLLIN };
		}
		if (np == 0)
			break;
		if (left <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (poll(pfd, (nfds_t)np, (int)(left < 1000 ? left : 1000)) < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
	}
	free(pfd);
	return rc;
}

long hs_read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
	struct timespec t0;
	size_t got = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long left = timeout_ms - ms_since(&t0);
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (!hs_wait_readable(fd, (int)left))
			return -ETIMEDOUT;
		n = read(fd, buf + got, cap - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0 || got + (size_t)n == cap)
			return (long)(got + (size_t)n);
		got += (size_t)n;
	}
}

int hs_wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int rc;

	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	return rc > 0;
}
