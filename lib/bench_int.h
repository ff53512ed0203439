/* bench internals shared by bench.c (connection engine, wire) and
 * bench_run.c (client and server loops). */
#ifndef VSK_BENCH_INT_H
#define VSK_BENCH_INT_H

#include <stdarg.h>
#include "bench.h"

#define BENCH_TURN       16            /* calls per connection per round */
#define BENCH_RECV_CHUNK (256u * 1024)  /* stream recv size: stays in cache for the check */

enum { BENCH_ST_OK = 0, BENCH_ST_MISMATCH = 1 };

struct bench_hdr {
	enum bench_mode mode;
	bool seqpacket;
	uint32_t msg_len, duration_ms, start;
	uint64_t limit;
};
void bench_hdr_encode(unsigned char *p, const struct bench_hdr *h);
int bench_hdr_decode(const unsigned char *p, size_t len, struct bench_hdr *h, char *why, size_t wlen);

enum bconn_phase { PH_HDR, PH_DATA, PH_REPORT_OUT, PH_REPORT_IN, PH_EOF, PH_DONE };

struct bench_report {
	uint8_t status;
	uint64_t bytes, msgs, bad_off, sum;
};

struct bconn {
	struct bconn *prev, *next;
	int fd;
	bool client;        /* this side opened it */
	bool seq;           /* this socket is SOCK_SEQPACKET */
	bool peer_seq;      /* the header says the client's is */
	bool registered, short_seen;
	unsigned events;
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
unsigned char *bench_pattern_new(void);
int bench_eng_init(struct bench_eng *e);
void bench_eng_fini(struct bench_eng *e);
/* Move C on; 1 when it is done (C->err says how), 0 to wait for events. */
int bconn_step(struct bench_eng *e, struct bconn *c, uint64_t now);
unsigned bconn_events(const struct bconn *c);
int bconn_watch(struct bench_eng *e, struct bconn *c);
void bconn_close(struct bench_eng *e, struct bconn *c);
int bconn_check_report(struct bconn *c);
int bconn_check_own(struct bconn *c);
/* Server side: the header has arrived in C->ctl; set C up (bench_run.c). */
int bench_server_start(struct bconn *c);
bool bench_is_seqpacket(int fd);
int bench_nonblock(int fd);
/* Learn C->fd's type; stream sockets become O_NONBLOCK, SEQPACKET ones
 * keep blocking sends bounded by SEND_TIMEOUT_MS. */
int bench_sock_setup(struct bconn *c, uint32_t send_timeout_ms);

#endif
