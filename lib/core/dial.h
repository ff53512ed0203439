/* dial: connecting to an address without waiting (internal to libvsk and
 * the CLI).
 *
 * A target is an address resolved once, before any event loop runs (only
 * tcp: needs getaddrinfo; the other kinds are built in place).  A dial is
 * one connection attempt to a target, a state machine its caller drives:
 * dial_start() begins, the caller waits for D->events on D->fd (or for
 * D->retry_ms), reports what happened to dial_step(), and so on until it
 * returns 0 (connected, for hybrid: the CONNECT/OK handshake done; take the
 * fd with dial_take()) or -errno (D->op names the failed step: "socket",
 * "bind", "connect", "handshake" or "resolve", as vsk_explain() wants).
 * Nothing here waits; the deadline is the caller's timer, and for vsock
 * also the kernel's: OPTS->timeout_ms > 0 sets SO_VM_SOCKETS_CONNECT_TIMEOUT
 * (the kernel times out a non-blocking vsock connect by itself, 2 s by
 * default).
 *
 * The addresses of a tcp: target are tried in order: one that fails at
 * once (refused, unreachable) gives way to the next; one that hangs takes
 * the caller's deadline.  A Unix listener whose queue is full refuses a
 * non-blocking connect (EAGAIN) instead of queueing it: the dial retries
 * with a growing delay (D->retry_ms) until it gets in or its deadline ends.
 *
 * When a name may have moved (a dial failed to connect), the caller can
 * have it resolved again on a thread of its own: dial_target_refresh()
 * returns a fd that becomes readable when the answer is there, and
 * dial_target_refreshed() puts the new addresses in place.  Dials already
 * running keep the addresses they started with (each holds a copy).
 */
#ifndef VSK_DIAL_H
#define VSK_DIAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hybrid.h"
#include "vsk.h"

#define DIAL_ADDRS 8            /* addresses of one name kept and tried */
#define DIAL_RETRY_FIRST_MS 5   /* first wait after EAGAIN from a full Unix listener */
#define DIAL_RETRY_MAX_MS 200   /* ... doubling up to this */

struct dial_sa {
	int family, socktype, protocol;
	socklen_t len;
	struct sockaddr_storage ss;
};

struct dial_refresh;

struct dial_target {
	struct vsk_addr addr;
	struct vsk_opts opts;
	struct dial_sa sa[DIAL_ADDRS];
	int nsa;
	int err;                /* nsa == 0: why (-errno) ... */
	const char *err_op;     /* ... in which step ("resolve", "connect") */
	bool numeric;           /* nothing that could resolve differently later */
	struct dial_refresh *refresh; /* a resolution running, or NULL */
};

enum dial_stage { DIAL_IDLE, DIAL_CONNECTING, DIAL_RETRY, DIAL_SEND, DIAL_REPLY, DIAL_DONE };

struct dial {
	int fd;                 /* the socket in progress, -1 in between */
	uint32_t events;        /* poll(2) bits to wait for on FD (EPOLL* are the same values) */
	int retry_ms;           /* > 0: call dial_step(D, 0) after this long instead */
	const char *op;         /* the step running, or the one that failed */
	/* private */
	enum dial_stage stage;
	enum vsk_addr_kind kind;
	uint32_t port;          /* hybrid: the guest port to ask for */
	uint32_t bind_port;
	int timeout_ms;
	int backoff_ms;
	int err;                /* the last address's error, for when none is left */
	int next, nsa;
	struct dial_sa sa[DIAL_ADDRS];
	char req[VSK_HYBRID_LINE_MAX];
	size_t req_len, req_off;
	struct hybrid_line line;
};

/* Resolve A now (getaddrinfo may wait: call this before a loop runs).
 * OPTS may be NULL.  0, or -errno when the address cannot be used; the
 * target is valid either way and a dial to it fails with T->err. */
int dial_target_init(struct dial_target *t, const struct vsk_addr *a, const struct vsk_opts *o);
/* Free T (a resolution still running finishes on its own and is dropped). */
void dial_target_free(struct dial_target *t);
/* Resolve T's name again on a thread.  Returns a fd to wait on for
 * readable (it stays T's), -EALREADY while one runs, -EINVAL when T has
 * nothing to resolve (a literal IP, another kind), or -errno. */
int dial_target_refresh(struct dial_target *t);
/* The resolution's fd is readable: take its answer.  0 when T has new
 * addresses, else -errno (then T keeps the old ones, if any). */
int dial_target_refreshed(struct dial_target *t);

/* Begin a dial to T (T may change or go away afterwards).  0 connected,
 * 1 waiting (see D->events, D->retry_ms), -errno failed (D->op). */
int dial_start(struct dial *d, const struct dial_target *t);
/* REVENTS (poll bits) happened on D->fd, or 0: D->retry_ms has passed.
 * Returns as dial_start(). */
int dial_step(struct dial *d, uint32_t revents);
/* The connected fd (non-blocking) is the caller's from now on. */
int dial_take(struct dial *d);
/* Close what D holds (a dial given up). */
void dial_cancel(struct dial *d);
/* Drive D with poll(2) until it is done or TIMEOUT_MS (0: no limit) has
 * passed (-ETIMEDOUT, D->op the step that was running).  Returns as
 * dial_start(), never 1. */
int dial_wait(struct dial *d, int timeout_ms);

#endif
