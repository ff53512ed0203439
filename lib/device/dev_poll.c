/* device poll set (see dev_poll.h). */
#include <errno.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <time.h>

#include "dev_poll.h"

int dev_ep_set(int epfd, struct dev_ep *e, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = e };

	if (e->fd < 0)
		return -EBADF;
	if (events == 0) {
		dev_ep_del(epfd, e);
		return 0;
	}
	if (e->added && e->events == events)
		return 0;
	if (epoll_ctl(epfd, e->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, e->fd, &ev) < 0)
		return -errno;
	e->added = true;
	e->events = events;
	return 0;
}

void dev_ep_del(int epfd, struct dev_ep *e)
{
	if (e->added && e->fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, e->fd, NULL);
	e->added = false;
	e->events = 0;
}

int64_t dev_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
