/* Test helpers: checksummed random streams driven through fds with poll. */
#ifndef HELPER_STREAM_H
#define HELPER_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One stream: TOTAL pseudo-random bytes (from SEED) written to WFD, then
 * WFD half-closed (shutdown, or close if CLOSE_WFD); RFD read until EOF.
 * WFD < 0: nothing to send; RFD < 0: nothing to receive. */
struct hs_flow {
	int wfd, rfd;
	size_t total;
	uint64_t seed;
	bool close_wfd;
	/* results */
	size_t sent, got;
	uint32_t crc_sent, crc_got;
	bool wdone, rdone;
	int err;            /* first errno seen, 0 if none */
	/* private */
	uint64_t state;
	unsigned char pend[4096];
	size_t pend_off, pend_len;
};

void hs_flow_init(struct hs_flow *f, int wfd, int rfd, size_t total, uint64_t seed);
/* Drive all flows at once until each is done or TIMEOUT_MS passes.
 * Returns 0, or -ETIMEDOUT, or -errno of a failed poll. */
int hs_drive(struct hs_flow *flows, int n, int timeout_ms);
/* crc32 of LEN bytes generated from SEED (what a flow sends). */
uint32_t hs_crc_of(uint64_t seed, size_t len);
/* Fill BUF with the generator's bytes. */
void hs_fill(uint64_t *state, unsigned char *buf, size_t len);
/* Read FD until EOF into BUF (at most CAP bytes), bounded by TIMEOUT_MS;
 * returns bytes read or -errno (-ETIMEDOUT). */
long hs_read_all(int fd, char *buf, size_t cap, int timeout_ms);
/* Wait until FD is readable; 1 ready, 0 timeout. */
int hs_wait_readable(int fd, int timeout_ms);
/* Set O_NONBLOCK. */
void hs_nonblock(int fd);

#endif
