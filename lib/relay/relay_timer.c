/* relay: timers (model in relay.h).  Armed timers live in a binary
 * min-heap on their expiry, so relay_run() learns how long epoll_wait()
 * may sleep in O(1) and a thousand pending dial deadlines cost
 * O(log n) each to arm, fire or cancel.  Dials embed their timers; those
 * of relay_after() are allocated and freed here.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <time.h>

#include "relay_int.h"

int64_t relay_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put(struct relay *r, int i, struct relay_timer *t)
{
	r->heap[i] = t;
	t->idx = i;
}

static void sift_up(struct relay *r, int i)
{
	struct relay_timer *t = r->heap[i];

	while (i > 0 && r->heap[(i - 1) / 2]->when > t->when) {
		put(r, i, r->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	put(r, i, t);
}

static void sift_down(struct relay *r, int i)
{
	struct relay_timer *t = r->heap[i];

	for (;;) {
		int c = 2 * i + 1;

		if (c >= r->nheap)
			break;
		if (c + 1 < r->nheap && r->heap[c + 1]->when < r->heap[c]->when)
			c++;
		if (r->heap[c]->when >= t->when)
			break;
		put(r, i, r->heap[c]);
		i = c;
	}
	put(r, i, t);
}

void relay_timer_disarm(struct relay *r, struct relay_timer *t)
{
	int i = t->idx;
	struct relay_timer *last;

	if (i < 0)
		return;
	t->idx = -1;
	last = r->heap[--r->nheap];
	if (i == r->nheap)
		return;
	put(r, i, last);
	sift_up(r, i);
	sift_down(r, last->idx);
}

int relay_timer_arm(struct relay *r, struct relay_timer *t, int ms)
{
	relay_timer_disarm(r, t);
	if (r->nheap == r->capheap) {
		int cap = r->capheap ? 2 * r->capheap : 64;
		struct relay_timer **h = realloc(r->heap, sizeof(*h) * (size_t)cap);

		if (h == NULL)
			return -ENOMEM;
		r->heap = h;
		r->capheap = cap;
	}
	t->when = relay_now_ms() + (ms > 0 ? ms : 0);
	put(r, r->nheap++, t);
	sift_up(r, t->idx);
	return 0;
}

int relay_timer_wait(const struct relay *r)
{
	int64_t left;

	if (r->nheap == 0)
		return -1;
	left = r->heap[0]->when - relay_now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

void relay_timer_run(struct relay *r)
{
	int64_t now = relay_now_ms();

	/* A callback may arm new timers: only those due now run. */
	while (r->nheap > 0 && r->heap[0]->when <= now) {
		struct relay_timer *t = r->heap[0];
		relay_timer_fn fn = t->fn;
		void *ctx = t->ctx;

		relay_timer_disarm(r, t);
		if (t->owned)
			free(t);
		fn(ctx);
	}
}

void relay_timer_free_all(struct relay *r)
{
	while (r->nheap > 0) {
		struct relay_timer *t = r->heap[0];

		relay_timer_disarm(r, t);
		if (t->owned)
			free(t);
	}
	free(r->heap);
	r->heap = NULL;
	r->capheap = 0;
}

struct relay_timer *relay_after(struct relay *r, int ms, relay_timer_fn fn, void *ctx)
{
	struct relay_timer *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->idx = -1;
	t->fn = fn;
	t->ctx = ctx;
	t->owned = true;
	if (relay_timer_arm(r, t, ms) < 0) {
		free(t);
		return NULL;
	}
	return t;
}

void relay_cancel(struct relay *r, struct relay_timer *t)
{
	if (t == NULL)
		return;
	relay_timer_disarm(r, t);
	if (t->owned)
		free(t);
}
