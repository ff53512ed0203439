/* Test helpers for the relay tests: a relay run in a thread, its events
 * recorded; socket pairs. */
#ifndef HELPER_RELAY_H
#define HELPER_RELAY_H

#include <pthread.h>
#include <stdint.h>

#include "helper_stream.h"
#include "relay.h"

#define MAXDONE 512

/* What the relay reported, read by the test after the thread joined. */
struct events {
	int nnew, nup, ndone;
	struct relay_info done[MAXDONE];
};

struct runner {
	pthread_t th;
	struct relay *r;
	struct events ev;
	int timeout_ms;
	int rc;
};

void runner_init(struct runner *rn);
void runner_start(struct runner *rn);
/* Join the relay thread; relay_run() returns once every pair ended. */
void runner_finish(struct runner *rn);
struct relay_end sock_end(int fd);
/* Two socketpairs X and Y; the relay gets X[1] and Y[0], the test keeps
 * X[0] (side A's peer) and Y[1] (side B's peer). */
void two_pairs(int type, int x[2], int y[2]);
/* A connected TCP pair on loopback: FD[0] the connecting end. */
void tcp_pair(int fd[2]);
void check_flow(const struct hs_flow *f);
/* Connect to loopback PORT without waiting until a connect hangs (the
 * listener's accept queue is full); the sockets go to HOLD, closed by the
 * caller.  Their count. */
int fill_tcp_queue(uint16_t port, int *hold, int max);

#endif
