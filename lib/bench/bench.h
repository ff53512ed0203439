/* bench: traffic generator and meter behind `vsk bench` (internal to
 * libvsk and the CLI).
 *
 * Every test connection starts with a control header from the client
 * (BENCH_HDR_LEN bytes, one message on SEQPACKET) that tells the server the
 * mode and parameters.  Data is a deterministic pattern: the byte at stream
 * position N of a connection is bench_pattern[(start + N) % BENCH_PERIOD],
 * START chosen per connection; the receiver compares every byte with it, so
 * loss, duplication or corruption shows as a mismatch at a named offset
 * (unless the client asked for no check: then bytes are only counted).
 *
 * A test ends cleanly on both sides: the data sender shuts down its write
 * side; the receiver reads to EOF and answers with a report (bytes, the
 * first bad offset); the sender compares the byte count with what it sent,
 * reads the EOF, and both close with nothing unread (no reset).
 *   up    client sends, server reports        (-R: down, the reverse)
 *   rr    client sends a message, server checks it and echoes it back
 *   crr   one rr exchange per connection
 * --bidir runs up and down connections side by side.
 *
 * Nothing here prints; a failure is a negative errno plus a message in
 * the result.
 */
#ifndef VSK_BENCH_H
#define VSK_BENCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_HDR_LEN    48
#define BENCH_REPORT_LEN 40
#define BENCH_MSG_MAX    (1024u * 1024)   /* largest -l */
#define BENCH_PERIOD     (1048576u + 13)  /* pattern period: no power of two */
#define BENCH_STREAMS_MAX 4096u

/* Per-connection modes (on the wire). */
enum bench_mode { BENCH_UP = 1, BENCH_DOWN = 2, BENCH_RR = 3, BENCH_CRR = 4 };
/* What a client runs. */
enum bench_test { BENCH_T_UP, BENCH_T_DOWN, BENCH_T_BIDIR, BENCH_T_RR, BENCH_T_CRR };

struct bench_params {
	enum bench_test test;
	uint32_t msg_len;     /* bytes per send / per request */
	uint32_t streams;     /* parallel connections (-P) */
	uint64_t bytes;       /* throughput: bytes per stream; 0: by time */
	uint64_t count;       /* rr: round trips per stream, crr: connections; 0: by time */
	uint32_t duration_ms; /* when BYTES/COUNT is 0 */
	uint32_t idle_ms;     /* fail after this long without progress; 0: 10 s */
	bool nocheck;         /* count the bytes only: no side compares them */
	/* When *STOP (may be NULL) turns nonzero (a SIGINT handler sets it),
	 * the test ends at once: RES->interrupted, and 0 unless something
	 * had failed before. */
	const volatile sig_atomic_t *stop;
};

/* Latency histogram: log-linear buckets, about 1% wide. */
#define BENCH_LAT_SUB  128
#define BENCH_LAT_EXP  42
struct bench_lat {
	uint64_t n, min, max, sum;  /* nanoseconds */
	uint64_t bucket[BENCH_LAT_EXP * BENCH_LAT_SUB];
};
void bench_lat_add(struct bench_lat *l, uint64_t ns);
/* Nanoseconds at quantile Q (0..1): the bucket's midpoint, within min..max. */
uint64_t bench_lat_quantile(const struct bench_lat *l, double q);

struct bench_progress {
	double secs;          /* since the test started */
	uint64_t bytes_up, bytes_down; /* verified so far */
	uint64_t round_trips, conns;
};

struct bench_result {
	double secs;
	uint64_t bytes_up;    /* client -> server, as the server reported */
	uint64_t bytes_down;  /* server -> client, verified by the client */
	uint64_t round_trips; /* rr and crr */
	uint64_t conns;       /* connections completed */
	bool seqpacket;       /* the client's sockets were SOCK_SEQPACKET */
	bool interrupted;     /* ended early by *stop: the counts add the connections
			       * still open (sent or checked so far, no report confirmed them) */
	bool alien;           /* err: the peer did not speak the bench protocol (it is no
			       * 'vsk bench -s': an echo, a server that closes...); msg says how */
	struct bench_lat *lat;/* rr/crr round trips (crr: whole connections), owned */
	int err;              /* 0, or positive errno */
	const char *op;       /* for err from connect: the failed step, else NULL */
	char msg[256];        /* what failed, "" if nothing */
};

/* Opens one connection for the client: a connected fd, or -errno with
 * *OP naming the failed step (as vsk_connect()). */
typedef int (*bench_connect_fn)(void *ctx, const char **op);
typedef void (*bench_progress_fn)(void *ctx, const struct bench_progress *p);

/* Run one test.  Returns 0, or -errno with RES->msg saying what failed.
 * PROGRESS (may be NULL) is called about once a second.  bench_result_free()
 * afterwards either way. */
int bench_client(const struct bench_params *bp, bench_connect_fn connect_fn, void *cctx,
		 bench_progress_fn progress, void *pctx, struct bench_result *res);
void bench_result_free(struct bench_result *res);

/* The server: serves every test connection it accepts, many at a time, in
 * one thread. */
struct bench_conn_info {
	char peer[160];
	enum bench_mode mode;
	bool seqpacket;
	uint32_t msg_len;
	bool checked;         /* the data was compared (the client did not ask for no check) */
	uint64_t bytes_in, bytes_out, msgs;
	double secs;
	int err;              /* 0 ok, else positive errno (EBADMSG: bad data) */
	char msg[224];        /* what failed */
};
typedef void (*bench_conn_fn)(void *ctx, const struct bench_conn_info *info);

struct bench_server;
/* LFD (listening, stays the caller's, made O_NONBLOCK) may be -1: then only
 * bench_server_add(). */
int bench_server_new(struct bench_server **sp, int lfd, bench_conn_fn fn, void *ctx);
/* Serve a connected fd (owned from now on). */
int bench_server_add(struct bench_server *s, int fd, const char *peer);
/* Until bench_server_stop() (0) or TIMEOUT_MS passed (-ETIMEDOUT; < 0: none). */
int bench_server_run(struct bench_server *s, int timeout_ms);
/* Safe from another thread or a signal handler. */
void bench_server_stop(struct bench_server *s);
int bench_server_conns(const struct bench_server *s);
void bench_server_free(struct bench_server *s);

/* Names for the modes: "up", "down", "rr", "crr", else "unknown". */
const char *bench_mode_name(enum bench_mode m);

#endif
