/* bench internals, in layers (each calls only the ones above it):
 *   bench_wire.c  header and report codecs, the pattern, the v1 sum
 *   bench_lat.c   latency histogram (public part in bench.h)
 *   bench.c       one connection's state machine (struct bconn)
 *   bench_run.c   the client and server loops that own the connections */
#ifndef VSK_BENCH_INT_H
#define VSK_BENCH_INT_H

#include <stdarg.h>
#include "bench.h"

#define BENCH_TURN       16            /* calls per connection per round */
#define BENCH_RECV_CHUNK (256u * 1024)  /* stream recv size: stays in cache for the check */
#define BENCH_DEFAULT_SECS 10          /* a test bounded by neither bytes nor count */

/* ---------------------------------------------------- wire (bench_wire.c) */

/* Protocol version the client speaks.  Version 1 also summed every byte
 * on both sides (the sum went in the report); a server still serves
 * version 1 clients so, version 2 ones only compare. */
#define BENCH_PROTO      2
#define BENCH_F_SEQ      1u   /* header flag: the client's socket is SEQPACKET */
#define BENCH_F_NOCHECK  2u   /* header flag (v2): nobody compares the data */

enum { BENCH_ST_OK = 0, BENCH_ST_MISMATCH = 1 };

struct bench_hdr {
	uint8_t version;      /* 0 on encode: BENCH_PROTO */
	enum bench_mode mode;
	bool seqpacket, nocheck;
	uint32_t msg_len, duration_ms, start;
	uint64_t limit;
};
void bench_hdr_encode(unsigned char *p, const struct bench_hdr *h);
/* 0, or -EPROTO with WHY saying what is wrong with it. */
int bench_hdr_decode(const unsigned char *p, size_t len, struct bench_hdr *h, char *why, size_t wlen);

struct bench_report {
	uint8_t status;
	uint64_t bytes, msgs, bad_off, sum;
};
void bench_report_encode(unsigned char *p, const struct bench_report *r);
int bench_report_decode(const unsigned char *p, size_t len, struct bench_report *r);

/* BENCH_PERIOD bytes of pattern, then its first BENCH_MSG_MAX again (so a
 * window of up to BENCH_MSG_MAX never wraps); malloc'd, NULL if out of
 * memory. */
unsigned char *bench_pattern_new(void);
/* Sum of the bytes as little-endian 64-bit words aligned on stream
 * position POS: the same however the stream was cut (version 1). */
uint64_t bench_sum64(uint64_t pos, const unsigned char *b, size_t n);

/* ---------------------------------------------- one connection (bench.c) */

enum bconn_phase { PH_HDR, PH_DATA, PH_REPORT_OUT, PH_REPORT_IN, PH_EOF, PH_DONE };

struct bconn {
	struct bconn *prev, *next;
	int fd;
	bool client;        /* this side opened it */
	bool seq;           /* this socket is SOCK_SEQPACKET */
	bool peer_seq;      /* the header says the client's is */
	bool registered, short_seen;
	bool sums;          /* the peer speaks version 1: sum every byte */
	bool nocheck;       /* count the data, do not compare it */
	bool alien;         /* client: the peer answered unlike a bench server */
	unsigned events;
	unsigned revents;   /* client: what epoll said this time */
	enum bench_mode mode;
	enum bconn_phase ph;
	uint32_t msg_len, start;
	uint64_t limit;     /* bytes (up/down) or round trips (rr); 0: deadline */
	uint64_t deadline;  /* ns, CLOCK_MONOTONIC */
	uint64_t tx, rx, sum_tx, sum_rx, msgs;
	uint8_t status;
	uint64_t bad_off;
	unsigned char bad_got, bad_want;
	uint64_t t0, t_rt, t_last;
	uint32_t txq, want; /* rr client: request bytes left to send, response bytes due */
	size_t echo;        /* rr server: bytes checked, not yet echoed */
	unsigned char ctl[BENCH_HDR_LEN];
	size_t ctl_len, ctl_off;
	struct bench_report rep;
	struct bench_lat *lat;
	int slot;
	int err;
	char msg[224];
	char peer[160];
};

struct bench_eng {
	int epfd;
	unsigned char *pat;  /* BENCH_PERIOD + BENCH_MSG_MAX bytes */
	unsigned char *rbuf; /* BENCH_MSG_MAX, shared by every connection */
};

uint64_t bench_now(void);
int bench_eng_init(struct bench_eng *e);
void bench_eng_fini(struct bench_eng *e);
/* Move C on; 1 when it is done (C->err says how), 0 to wait for events. */
int bconn_step(struct bench_eng *e, struct bconn *c, uint64_t now);
unsigned bconn_events(const struct bconn *c);
int bconn_watch(struct bench_eng *e, struct bconn *c);
void bconn_close(struct bench_eng *e, struct bconn *c);
int bconn_check_report(struct bconn *c);
int bconn_check_own(struct bconn *c);
bool bench_is_seqpacket(int fd);
int bench_nonblock(int fd);
/* Learn C->fd's type; stream sockets become O_NONBLOCK, SEQPACKET ones
 * keep blocking sends bounded by SEND_TIMEOUT_MS. */
int bench_sock_setup(struct bconn *c, uint32_t send_timeout_ms);

#endif
