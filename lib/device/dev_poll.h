/* device poll set: what epoll_event.data.ptr points at, and the interest
 * each endpoint has registered.  No policy here: the VM and connection
 * layers decide what they want, this keeps the epoll set in step. */
#ifndef VSK_DEV_POLL_H
#define VSK_DEV_POLL_H

#include <stdbool.h>
#include <stdint.h>

/* Who handles an event (the loop passes it to the endpoint's VM). */
enum dev_ep_kind {
	EP_VU_LISTEN,   /* the VM's vhost-user socket: a front end connects */
	EP_VU_SOCK,     /* the front end's connection */
	EP_KICK,        /* a queue's kick eventfd (idx = queue) */
	EP_HOST_LISTEN, /* the VM's host-side listener (<uds>) */
	EP_CONN,        /* a connection's host socket (obj = struct dev_conn) */
	EP_INBOX,       /* the loop's inbox: packets from VMs on other loops
	                 * (vm = NULL, obj = struct dev_inbox) */
	EP_CONN_SEQ,    /* its whole-message sender is done (obj = the same) */
};

struct dev_ep {
	enum dev_ep_kind kind;
	int fd;
	void *vm;        /* struct dev_vm the endpoint belongs to */
	void *obj;       /* EP_CONN: the connection */
	unsigned idx;    /* EP_KICK: queue index */
	uint32_t events; /* interest registered (0 = not in the epoll set) */
	bool added;
};

/* Make E's interest EVENTS (0 removes it from the set).  0 or -errno. */
int dev_ep_set(int epfd, struct dev_ep *e, uint32_t events);
void dev_ep_del(int epfd, struct dev_ep *e);
/* CLOCK_MONOTONIC in ms: every device deadline is on this clock. */
int64_t dev_now_ms(void);

#endif
