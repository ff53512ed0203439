/* relay internals shared by relay.c (pairs, the epoll loop, the API),
 * relay_dir.c (moving one direction's data: buffers, splice), relay_dial.c
 * (pairs whose B side is still being connected), relay_seq.c (the sender
 * threads of vsock SEQPACKET destinations) and relay_timer.c. */
#ifndef VSK_RELAY_INT_H
#define VSK_RELAY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dial.h"
#include "relay.h"

#define RELAY_MAX_EVENTS 64
/* Chunks one direction moves per turn before other pairs get theirs. */
#define RELAY_TURN_CHUNKS 16
/* Splice pipe capacity asked for (pages are only used while data is in it). */
#define RELAY_PIPE_SIZE (256 * 1024)
/* Between stream sockets: after a splice of under SMALL bytes the chunks
 * move by recv()/send() through a SMALL_BUF buffer (one call each way, the
 * source's emptiness known from a short read); a read that fills it goes
 * back to splice(). */
/* Stack of a vsock SEQPACKET sender thread (it only calls send()). */
#define RELAY_SEQ_STACK (64 * 1024)
#define RELAY_SMALL     2048
#define RELAY_SMALL_BUF 4096

#define ROLE_RD 1u
#define ROLE_WR 2u

/* First member of every record the epoll set points at. */
enum rec_kind { REC_FD = 1, REC_WATCH, REC_DIAL, REC_DIAL_CLIENT, REC_SEQ };

struct relay_pair;
struct relay_seq;

struct relay_timer {
	int64_t when;           /* CLOCK_MONOTONIC ms */
	int idx;                /* in r->heap, -1 while not armed */
	relay_timer_fn fn;
	void *ctx;
	bool owned;             /* from relay_after(): freed once fired or cancelled */
};

struct relay_fd {
	enum rec_kind kind;
	struct relay_pair *p;
	int fd;
	int oflags;     /* file status flags to give back before close, -1: untouched */
	bool sock;
	bool seqpacket;
	bool vsock_seq; /* AF_VSOCK SOCK_SEQPACKET: sent by a thread (relay_seq.c) */
	struct relay_seq *seq; /* that thread, once the first message needs it */
	bool polled;    /* in the epoll set (epoll refuses regular files) */
	unsigned roles;
};

struct relay_watch {
	enum rec_kind kind;
	int fd;
	relay_watch_fn fn;
	void *ctx;
	bool dead;
	struct relay_watch *next;
};

struct relay_dir {
	int src, dst;   /* index into pair->fds, -1: none */
	relay_sink_fn sink;
	void *sink_ctx;
	char *buf;      /* NULL until a read needs it, freed again when idle */
	size_t cap, off, len;
	int pipe[2];    /* splice path: -1 until first use */
	size_t pcap;    /* bytes one splice into the pipe asks for */
	size_t plen;    /* bytes in the pipe */
	bool splice;    /* both ends are stream sockets: try splice() */
	bool small;     /* ... but chunks are small: recv()/send() cost less */
	bool to_splice; /* ... no longer: splice once the buffer is empty */
	bool drained;   /* the last read emptied the source: none before its next edge */
	bool sink_wait; /* the sink said -EAGAIN: wait for relay_sink_ready() */
	bool eof;       /* the source ended */
	bool done;      /* ... and that was passed on */
	uint64_t bytes;
	uint64_t spliced; /* of BYTES, moved by splice() */
};

struct relay_pair {
	struct relay *r;
	struct relay_pair *prev, *next; /* r->pairs, then r->dead */
	struct relay_pair *ready_next;
	bool queued, dead;
	int id;
	void *udata;
	struct relay_fd fds[4];
	int nfd;
	struct relay_dir dir[2];        /* 0: A->B, 1: B->A */
};

/* A pair whose B side is a dial under way (relay_dial.c). */
struct relay_dialing {
	enum rec_kind kind;             /* REC_DIAL: the dial's socket */
	enum rec_kind client_kind;      /* REC_DIAL_CLIENT: A's read fd, for a hang-up */
	struct relay *r;
	struct relay_dialing *prev, *next; /* r->dialing, then r->dial_dead */
	struct relay_end a;
	struct dial d;
	struct relay_timer deadline, retry, fail_now;
	int polled;                     /* the fd registered in epoll, -1: none */
	bool client_polled;             /* A's read fd is in the epoll set */
	uint32_t polled_ev;
	int err;                        /* a failure waiting to be reported */
	int id;
	void *udata;
	bool dead;
};

struct relay {
	int epfd;
	relay_event_fn fn;
	void *ctx;
	struct relay_pair *pairs;       /* alive */
	struct relay_pair *dead;        /* ended; freed at the end of a round */
	struct relay_pair *ready;       /* pumped without waiting for an event */
	struct relay_watch *watches;
	struct relay_dialing *dialing, *dial_dead;
	struct relay_timer **heap;      /* armed timers, a binary min-heap on WHEN */
	int nheap, capheap;
	/* vsock SEQPACKET senders report finished sends here (relay_seq.c). */
	enum rec_kind seq_kind;         /* REC_SEQ: the eventfd's epoll record */
	int seq_efd;                    /* -1 until the first sender starts */
	pthread_mutex_t seq_mu;
	struct relay_seq *seq_done;
	struct relay_seq *seq_ready;    /* taken from seq_done, the loop's own */
	bool seq_all;                   /* tests: every SEQPACKET destination gets a sender */
	int npairs, nwatch;
	int nbufs;                      /* user-space buffers allocated now */
	int next_id;
	bool stop;
};

/* Close F's fd (out of the epoll set first, flags given back; a sender
 * thread still sending takes the fd over and closes it itself). */
void relay_fd_close(struct relay *r, struct relay_fd *f);
/* relay_pair.c.  Put P on the ready list: pumped after the next
 * epoll_wait(0). */
void relay_queue_pair(struct relay_pair *p);
/* Pump P for event EV on its fd record FI (FI < 0: no event, all of it). */
void relay_pair_pump(struct relay_pair *p, int fi, uint32_t ev);
void relay_pairs_run_ready(struct relay *r);
void relay_pairs_reap(struct relay *r);
void relay_pairs_close_all(struct relay *r);
/* The pair-making half of relay_add(), with the id given (a dial's). */
int relay_pair_add(struct relay *r, const struct relay_end *a, const struct relay_end *b,
		   void *udata, int id);
/* Close A's fds (with a reset for sockets): a pair that never started. */
void relay_close_end(const struct relay_end *a, bool reset);
int relay_new_id(struct relay *r);
void relay_report(struct relay *r, enum relay_event ev, const struct relay_info *info);

/* relay_timer.c: arm (again) or disarm T; the next expiry; run due ones. */
int relay_timer_arm(struct relay *r, struct relay_timer *t, int ms);
void relay_timer_disarm(struct relay *r, struct relay_timer *t);
/* Milliseconds until the first timer is due (0 if one is), -1: none. */
int relay_timer_wait(const struct relay *r);
void relay_timer_run(struct relay *r);
void relay_timer_free_all(struct relay *r);
int64_t relay_now_ms(void);

/* relay_dial.c: an event on the dial's socket, or on A's read fd. */
void relay_dial_event(struct relay_dialing *g, uint32_t events);
void relay_dial_client_event(struct relay_dialing *g, uint32_t events);
void relay_dial_reap(struct relay *r);
void relay_dial_free_all(struct relay *r);

/* relay_seq.c: hand the message BUF/LEN to F's sender.  LEN (all sent),
 * -EAGAIN (under way: the pair is queued when it is done), or -errno. */
ssize_t relay_seq_write(struct relay_pair *p, struct relay_fd *f, char *buf, size_t len);
/* The eventfd said senders are done: the pair of each, one per call, NULL
 * when none is left. */
struct relay_pair *relay_seq_next(struct relay *r);
/* F's sender goes: at once when idle, else it finishes its send, then
 * frees the buffer it holds and closes the fd.  Returns true when it took
 * the fd (and the direction's buffer *BUF, set to NULL) over. */
bool relay_seq_release(struct relay *r, struct relay_fd *f, char **buf);
int relay_seq_init(struct relay *r);
void relay_seq_fini(struct relay *r);
/* Tests: treat every SEQPACKET destination as vsock's (AF_UNIX's sends are
 * atomic anyway), so the sender threads can be tried without vsock. */
void relay_test_seq_all(struct relay *r, bool on);
/* Free D's buffer and close its pipe. */
void relay_dir_release(struct relay *r, struct relay_dir *d);
/* Move data in direction DI until it blocks or ends (0), uses its turn
 * (1), or fails (-errno, with *OP and *SIDE naming the failed call).
 * CLEAN: this run comes from a read event on the source that carries no
 * hang-up or error (then a short read may stand for EAGAIN). */
int relay_dir_run(struct relay_pair *p, int di, bool clean, const char **op, char *side);

#endif
