/* relay: the one bidirectional pump (internal to libvsk and the CLI).
 *
 * Many pairs of endpoints in one thread over one edge-triggered epoll.
 * Each endpoint has a read fd and a write fd: the same socket twice, 0/1
 * for stdio, two pipes for a child process.  Data flows A->B and B->A
 * independently through a bounded buffer each (no reading while it is
 * full).  EOF on one side's read fd becomes shutdown(SHUT_WR) of the other
 * side's write fd (close() if it is not a socket) once the buffered bytes
 * are written.  A pair ends when both directions ended, or at the first
 * error: then every fd of the pair is closed at once (TCP sockets with a
 * RST), a reset rather than silent loss.
 *
 * A SOCK_SEQPACKET source is read one whole message at a time and each is
 * passed on with one send, so boundaries survive when the destination is
 * SEQPACKET too (a sink gets one call per message).  A message larger than
 * RELAY_BUF_MESSAGE resets the pair (EMSGSIZE); an empty one reads as EOF.
 *
 * Between two stream sockets each direction moves its data with splice()
 * through a pipe of its own (no copy through user space), and small chunks
 * (requests and responses) by recv()/send() through a 4 KiB buffer, one
 * call each way; elsewhere, or when the source cannot splice, through a
 * buffer.  Pipes and buffers are made on first use and buffers freed while
 * idle, so idle pairs are cheap.
 *
 * A vsock SEQPACKET destination is written by a thread of its own (one per
 * such socket, made on its first message), with blocking sends handed over
 * one message at a time: the kernel's non-blocking send there can put part
 * of a message on the wire and still report EAGAIN (it sends what the
 * peer's credit allows and tells no one how much), and the kernel shows no
 * caller how much room the peer has (poll says "some", SIOCOUTQ counts
 * bytes not yet handed to the transport).  A blocking send always sends the
 * whole message; on its own thread it stalls only its own direction.
 *
 * The B side of a pair can be a dial still under way (relay_add_dial(): a
 * connect, for hybrid also the CONNECT/OK handshake), with a deadline of
 * its own; its events and timers are served by the same loop, so a target
 * that hangs delays none but its own client.
 *
 * Timers (relay_after()) and watches on the caller's fds run in the same
 * loop; epoll_wait() sleeps no longer than the first timer allows.
 *
 * The relay owns the fds it is given and closes each once.  Non-socket fds,
 * and sockets that splice, are switched to O_NONBLOCK, a vsock SEQPACKET
 * destination to blocking (its reads use MSG_DONTWAIT), and each is given
 * back its flags before close.  Writes to a pipe, and splice() into a
 * socket, can raise SIGPIPE: callers ignore it.
 */
#ifndef VSK_RELAY_H
#define VSK_RELAY_H

#include <stddef.h>
#include <stdint.h>

#define RELAY_BUF_STREAM  (64u * 1024)  /* per direction */
#define RELAY_BUF_MESSAGE (256u * 1024) /* largest SEQPACKET message relayed */

struct relay;

/* Data written into a sink instead of a write fd: BUF/LEN is one chunk
 * (one message in message mode); LEN 0 (BUF NULL) means EOF.  Returns 0
 * (all of it taken), -EAGAIN (none of it taken: the same chunk is offered
 * again after relay_sink_ready()), or -errno (which resets the pair).  It
 * must not block: that would stall every pair. */
typedef int (*relay_sink_fn)(void *ctx, const void *buf, size_t len);

struct relay_end {
	int rd;             /* read fd, -1: this side sends nothing */
	int wr;             /* write fd, -1: none (then sink, or receives nothing) */
	relay_sink_fn sink; /* used when WR is -1 */
	void *sink_ctx;
};

enum relay_event {
	RELAY_NEW,  /* from relay_add() or relay_add_dial() */
	RELAY_UP,   /* a dialed pair's B side is connected: data flows now */
	RELAY_DONE, /* the pair ended and its fds are closed */
};

struct relay_info {
	int id;             /* from relay_add() */
	void *udata;
	uint64_t a_to_b;    /* bytes written to B (read from A) */
	uint64_t b_to_a;
	uint64_t spliced;   /* of a_to_b + b_to_a, bytes moved by splice() */
	int err;            /* RELAY_DONE: 0 both ways ended at EOF, else positive errno */
	char side;          /* 'a' or 'b': the side whose fd failed, 0 if none */
	const char *op;     /* "read", "write", "shutdown", "sink" or NULL; for a
			       dial that failed (side 'b') its step: "socket",
			       "bind", "connect", "handshake" or "resolve" */
};

typedef void (*relay_event_fn)(void *ctx, enum relay_event ev, const struct relay_info *info);
typedef void (*relay_watch_fn)(void *ctx, int fd);
typedef void (*relay_timer_fn)(void *ctx);

struct dial_target;
struct relay_timer;

/* New relay; FN (may be NULL) hears of every pair's start and end. */
int relay_new(struct relay **rp, relay_event_fn fn, void *ctx);
/* Close every fd still owned, free R (NULL is fine). */
void relay_free(struct relay *r);
/* Add a pair.  A direction exists when its source has a read fd; its
 * destination then needs a write fd or a sink.  From now on the relay owns
 * all the fds (also on failure, when they are closed).  Returns the pair
 * id (>= 0) or -errno. */
int relay_add(struct relay *r, const struct relay_end *a, const struct relay_end *b, void *udata);
/* A pair whose B side is a connection to T, dialed without waiting
 * (dial.h): A's fds are the relay's from now on, and nothing is read from
 * A until B is connected (RELAY_UP); if A hangs up meanwhile (EPOLLHUP or
 * EPOLLERR; a half-close is a client waiting for its answer), the dial is
 * given up and the pair ends with ECONNRESET on side 'a'.  TIMEOUT_MS > 0 bounds the dial (the
 * connect and a hybrid handshake).  A dial that fails ends the pair like
 * an error does: A's fds closed with a reset, RELAY_DONE with the error,
 * side 'b' and the dial's step as OP.  T must outlive the call only.
 * Returns the pair id (>= 0) or -errno (then A's fds are closed). */
int relay_add_dial(struct relay *r, const struct relay_end *a, const struct dial_target *t,
		   int timeout_ms, void *udata);
/* Call FN(CTX, FD) whenever FD is readable (level-triggered), e.g. for a
 * listening socket.  FD stays the caller's. */
int relay_watch(struct relay *r, int fd, relay_watch_fn fn, void *ctx);
/* The same for EVENTS (EPOLLIN, EPOLLOUT, level-triggered). */
int relay_watch_events(struct relay *r, int fd, uint32_t events, relay_watch_fn fn, void *ctx);
int relay_unwatch(struct relay *r, int fd);
/* Call FN(CTX) once, MS milliseconds from now, from relay_run().  Returns
 * a handle for relay_cancel() (valid until FN runs), NULL without memory.
 * A pending timer keeps relay_run() running. */
struct relay_timer *relay_after(struct relay *r, int ms, relay_timer_fn fn, void *ctx);
void relay_cancel(struct relay *r, struct relay_timer *t);
/* A sink that said -EAGAIN can take data again: offer it once more. */
void relay_sink_ready(struct relay *r);
/* Serve until no pair and no watch is left, or relay_stop().  TIMEOUT_MS
 * < 0: no limit; else -ETIMEDOUT once it has passed.  0 or -errno. */
int relay_run(struct relay *r, int timeout_ms);
/* Make relay_run() return after the current round (callable from callbacks). */
void relay_stop(struct relay *r);
/* Pairs alive (dialing ones too). */
int relay_count(const struct relay *r);
/* User-space buffers allocated now (idle and splicing pairs hold none). */
int relay_buffers(const struct relay *r);
/* One pair start to end (the connect case).  Fills *INFO if given.
 * Returns 0, or -errno of the reset or of the setup. */
int relay_pump(const struct relay_end *a, const struct relay_end *b, struct relay_info *info);

#endif
