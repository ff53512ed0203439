/* relay internals shared by relay.c (pairs, the epoll loop, the API) and
 * relay_dir.c (moving one direction's data: buffers, splice). */
#ifndef VSK_RELAY_INT_H
#define VSK_RELAY_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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
/* Longest stall of the relay on one vsock SEQPACKET send. */
#define RELAY_SEQ_SEND_TIMEOUT_MS 5000
#define RELAY_SMALL     2048
#define RELAY_SMALL_BUF 4096

#define ROLE_RD 1u
#define ROLE_WR 2u

/* First member of every record the epoll set points at. */
enum rec_kind { REC_FD = 1, REC_WATCH };

struct relay_pair;

struct relay_fd {
	enum rec_kind kind;
	struct relay_pair *p;
	int fd;
	int oflags;     /* file status flags to give back before close, -1: untouched */
	bool sock;
	bool seqpacket;
	bool vsock_seq; /* AF_VSOCK SOCK_SEQPACKET: sends block (see relay_dir.c) */
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

struct relay {
	int epfd;
	relay_event_fn fn;
	void *ctx;
	struct relay_pair *pairs;       /* alive */
	struct relay_pair *dead;        /* ended; freed at the end of a round */
	struct relay_pair *ready;       /* pumped without waiting for an event */
	struct relay_watch *watches;
	int npairs, nwatch;
	int nbufs;                      /* user-space buffers allocated now */
	int next_id;
	bool stop;
};

/* Close F's fd (out of the epoll set first, flags given back). */
void relay_fd_close(struct relay *r, struct relay_fd *f);
/* Free D's buffer and close its pipe. */
void relay_dir_release(struct relay *r, struct relay_dir *d);
/* Move data in direction DI until it blocks or ends (0), uses its turn
 * (1), or fails (-errno, with *OP and *SIDE naming the failed call).
 * CLEAN: this run comes from a read event on the source that carries no
 * hang-up or error (then a short read may stand for EAGAIN). */
int relay_dir_run(struct relay_pair *p, int di, bool clean, const char **op, char *side);

#endif
