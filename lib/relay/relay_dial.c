/* relay: pairs whose B side is still being connected (model in relay.h,
 * the dial itself in dial.c).  The dial's socket is in the epoll set
 * (level-triggered, for the events the dial asks for) with a pointer to
 * the record; a deadline timer bounds the whole dial and a retry timer
 * serves a Unix listener that was full.  A's read fd is watched too, for
 * a client that hangs up before its target answers (EPOLLHUP or EPOLLERR:
 * gone both ways; a mere half-close is a client waiting for its answer).
 * Once connected, the record becomes an ordinary pair under the same id;
 * a failure is reported as the pair's end.  Records are freed after the round, like pairs, since an
 * event of the round may still point at one.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "relay_int.h"

static void unlink_dialing(struct relay_dialing **head, struct relay_dialing *g)
{
	if (g->prev != NULL)
		g->prev->next = g->next;
	else
		*head = g->next;
	if (g->next != NULL)
		g->next->prev = g->prev;
	g->prev = g->next = NULL;
}

static void push_dialing(struct relay_dialing **head, struct relay_dialing *g)
{
	g->prev = NULL;
	g->next = *head;
	if (*head != NULL)
		(*head)->prev = g;
	*head = g;
}

static void unpoll(struct relay_dialing *g)
{
	if (g->polled >= 0)
		epoll_ctl(g->r->epfd, EPOLL_CTL_DEL, g->polled, NULL);
	g->polled = -1;
	g->polled_ev = 0;
}

/* Out of the loop: timers off, the dial's fd out of the epoll set. */
static void retire(struct relay_dialing *g)
{
	struct relay *r = g->r;

	unpoll(g);
	if (g->client_polled)
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, g->a.rd, NULL);
	g->client_polled = false;
	relay_timer_disarm(r, &g->deadline);
	relay_timer_disarm(r, &g->retry);
	relay_timer_disarm(r, &g->fail_now);
	unlink_dialing(&r->dialing, g);
	push_dialing(&r->dial_dead, g);
	g->dead = true;
}

static void dial_failed(struct relay_dialing *g, int err)
{
	struct relay *r = g->r;
	struct relay_info info = { .id = g->id, .udata = g->udata, .side = 'b' };

	dial_cancel(&g->d);
	relay_close_end(&g->a, true);
	retire(g);
	r->npairs--;
	info.err = err < 0 ? -err : err;
	info.op = g->d.op != NULL ? g->d.op : "connect";
	relay_report(r, RELAY_DONE, &info);
}

static void dial_connected(struct relay_dialing *g)
{
	struct relay *r = g->r;
	int fd = dial_take(&g->d);
	struct relay_end b = { .rd = fd, .wr = fd };
	struct relay_info info = { .id = g->id, .udata = g->udata };
	int rc;

	retire(g);
	/* The pair takes over the count this record held. */
	r->npairs--;
	rc = relay_pair_add(r, &g->a, &b, g->udata, g->id);
	if (rc < 0) {
		/* The pair's setup failed (its fds are closed by now). */
		info.err = -rc;
		info.op = "relay";
		relay_report(r, RELAY_DONE, &info);
		return;
	}
	relay_report(r, RELAY_UP, &info);
}

/* Report ERR from the loop (a 0 ms timer), not from the caller's call. */
static void fail_later(struct relay_dialing *g, int err)
{
	dial_cancel(&g->d);
	unpoll(g);
	relay_timer_disarm(g->r, &g->deadline);
	relay_timer_disarm(g->r, &g->retry);
	g->err = err;
	if (relay_timer_arm(g->r, &g->fail_now, 0) < 0)
		dial_failed(g, err);
}

/* Wait for what the dial asks for next. */
static void dial_park(struct relay_dialing *g)
{
	struct relay *r = g->r;
	struct epoll_event ev = { .data.ptr = g };
	int rc = 0;

	if (g->d.fd != g->polled)
		unpoll(g);
	if (g->d.fd >= 0 && g->d.events != 0) {
		ev.events = g->d.events;
		if (g->polled < 0)
			rc = epoll_ctl(r->epfd, EPOLL_CTL_ADD, g->d.fd, &ev);
		else if (g->polled_ev != g->d.events)
			rc = epoll_ctl(r->epfd, EPOLL_CTL_MOD, g->d.fd, &ev);
		if (rc < 0) {
			fail_later(g, -errno);
			return;
		}
		g->polled = g->d.fd;
		g->polled_ev = g->d.events;
	}
	if (g->d.retry_ms > 0 && relay_timer_arm(r, &g->retry, g->d.retry_ms) < 0)
		fail_later(g, -ENOMEM);
}

static void dial_result(struct relay_dialing *g, int rc)
{
	if (rc == 0)
		dial_connected(g);
	else if (rc < 0)
		dial_failed(g, rc);
	else
		dial_park(g);
}

void relay_dial_event(struct relay_dialing *g, uint32_t events)
{
	if (g->dead)
		return;
	dial_result(g, dial_step(&g->d, events));
}

void relay_dial_client_event(struct relay_dialing *g, uint32_t events)
{
	struct relay_info info = { .id = g->id, .udata = g->udata, .side = 'a', .op = "read" };
	struct relay *r = g->r;

	if (g->dead || !(events & (EPOLLHUP | EPOLLERR)))
		return;
	/* The client left: nobody to connect for.  Its fds and the dial go;
	 * no reset is owed to a peer that is gone. */
	dial_cancel(&g->d);
	relay_close_end(&g->a, false);
	retire(g);
	r->npairs--;
	info.err = ECONNRESET;
	relay_report(r, RELAY_DONE, &info);
}

/* Watch A's read fd for a hang-up while the dial runs (not all fds can be
 * watched: a regular file cannot, and needs no watching). */
static void watch_client(struct relay_dialing *g)
{
	struct epoll_event ev = { .events = 0, .data.ptr = &g->client_kind };

	/* Nothing asked for: EPOLLHUP and EPOLLERR are reported anyway.  No
	 * EPOLLIN (the data waits in the socket until the pair runs), no
	 * EPOLLRDHUP (level-triggered, a half-close would fire forever). */
	if (epoll_ctl(g->r->epfd, EPOLL_CTL_ADD, g->a.rd, &ev) == 0)
		g->client_polled = true;
}

static void on_deadline(void *ctx)
{
	struct relay_dialing *g = ctx;

	dial_failed(g, -ETIMEDOUT);
}

static void on_retry(void *ctx)
{
	struct relay_dialing *g = ctx;

	dial_result(g, dial_step(&g->d, 0));
}

/* A dial that failed at once is reported from the loop, never from inside
 * relay_add_dial(): the caller's state is settled by then. */
static void on_fail_now(void *ctx)
{
	struct relay_dialing *g = ctx;

	dial_failed(g, g->err);
}

int relay_add_dial(struct relay *r, const struct relay_end *a, const struct dial_target *t,
		   int timeout_ms, void *udata)
{
	struct relay_dialing *g = calloc(1, sizeof(*g));
	struct relay_info info;
	int rc;

	if (g == NULL || a->rd < 0 || (a->wr < 0 && a->sink == NULL)) {
		free(g);
		relay_close_end(a, false);
		return g == NULL ? -ENOMEM : -EINVAL;
	}
	g->kind = REC_DIAL;
	g->client_kind = REC_DIAL_CLIENT;
	g->r = r;
	g->a = *a;
	g->polled = -1;
	g->udata = udata;
	g->id = relay_new_id(r);
	g->deadline = (struct relay_timer){ .idx = -1, .fn = on_deadline, .ctx = g };
	g->retry = (struct relay_timer){ .idx = -1, .fn = on_retry, .ctx = g };
	g->fail_now = (struct relay_timer){ .idx = -1, .fn = on_fail_now, .ctx = g };
	push_dialing(&r->dialing, g);
	r->npairs++;
	info = (struct relay_info){ .id = g->id, .udata = udata };
	relay_report(r, RELAY_NEW, &info);
	rc = dial_start(&g->d, t);
	if (rc >= 0 && timeout_ms > 0 && relay_timer_arm(r, &g->deadline, timeout_ms) < 0) {
		dial_cancel(&g->d);
		rc = -ENOMEM;
	}
	if (rc < 0) {
		fail_later(g, rc);
		return g->id;
	}
	watch_client(g);
	/* Connected at once (a Unix listener with room): finished from the
	 * loop too, so RELAY_UP never comes from inside this call. */
	if (rc == 0)
		g->d.retry_ms = 1;
	dial_park(g);
	return g->id;
}

void relay_dial_reap(struct relay *r)
{
	while (r->dial_dead != NULL) {
		struct relay_dialing *g = r->dial_dead;

		unlink_dialing(&r->dial_dead, g);
		free(g);
	}
}

void relay_dial_free_all(struct relay *r)
{
	while (r->dialing != NULL) {
		struct relay_dialing *g = r->dialing;

		dial_cancel(&g->d);
		relay_close_end(&g->a, false);
		retire(g);
		r->npairs--;
	}
	relay_dial_reap(r);
}
