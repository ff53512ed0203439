/* dial: connecting without waiting (model in dial.h), and vsk_connect(),
 * which is a dial driven by poll(2). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "dial.h"
#include "hybrid_seq.h"
#include "sock.h"

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------- targets */

/* getaddrinfo's answer as at most DIAL_ADDRS entries; 0 or -errno
 * (-ENOENT for a name that does not resolve, as explain.c words it). */
static int resolve(const struct vsk_addr *a, int flags, struct dial_sa *sa, int *nsa)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = flags };
	struct addrinfo *res = NULL;
	int rc;

	*nsa = 0;
	rc = getaddrinfo(a->host[0] ? a->host : "localhost", a->service, &hints, &res);
	if (rc != 0)
		return rc == EAI_SYSTEM ? -errno : rc == EAI_MEMORY ? -ENOMEM : -ENOENT;
	for (struct addrinfo *ai = res; ai != NULL && *nsa < DIAL_ADDRS; ai = ai->ai_next) {
		struct dial_sa *s = &sa[*nsa];

		if (ai->ai_addrlen > sizeof(s->ss))
			continue;
		s->family = ai->ai_family;
		s->socktype = ai->ai_socktype;
		s->protocol = ai->ai_protocol;
		s->len = ai->ai_addrlen;
		memcpy(&s->ss, ai->ai_addr, ai->ai_addrlen);
		(*nsa)++;
	}
	freeaddrinfo(res);
	return *nsa > 0 ? 0 : -ENOENT;
}

int dial_target_init(struct dial_target *t, const struct vsk_addr *a, const struct vsk_opts *o)
{
	static const struct vsk_opts defaults = VSK_OPTS_INIT;
	struct dial_sa *s = &t->sa[0];
	int rc = 0;

	memset(t, 0, sizeof(*t));
	t->addr = *a;
	t->opts = o != NULL ? *o : defaults;
	t->numeric = true;
	t->err_op = "connect";
	switch (a->kind) {
	case VSK_ADDR_VSOCK:
	case VSK_ADDR_VSOCK_SEQ:
		s->family = AF_VSOCK;
		s->socktype = vsk_addr_socktype(a);
		s->len = sizeof(struct sockaddr_vm);
		sock_vm_addr((struct sockaddr_vm *)&s->ss, a->cid, a->port);
		t->nsa = 1;
		break;
	case VSK_ADDR_UNIX:
	case VSK_ADDR_HYBRID:
		s->family = AF_UNIX;
		s->socktype = SOCK_STREAM;
		rc = sock_un_addr((struct sockaddr_un *)&s->ss, &s->len, a->path, "");
		t->nsa = rc == 0;
		break;
	case VSK_ADDR_HYBRID_SEQ:
		/* "PATH_seqpacket": the same handshake, a message each way. */
		s->family = AF_UNIX;
		s->socktype = SOCK_SEQPACKET;
		rc = sock_un_addr((struct sockaddr_un *)&s->ss, &s->len, a->path, VSK_HYBRID_SEQ_SUFFIX);
		t->nsa = rc == 0;
		break;
	case VSK_ADDR_TCP:
		t->err_op = "resolve";
		/* A literal IP never resolves differently: no second look. */
		rc = resolve(a, AI_NUMERICHOST, t->sa, &t->nsa);
		if (rc < 0) {
			t->numeric = false;
			rc = resolve(a, 0, t->sa, &t->nsa);
		}
		break;
	default:
		rc = -EINVAL;
		break;
	}
	t->err = rc;
	return rc;
}

/* A resolution on its own thread.  The thread and the target each hold a
 * reference; whoever drops the last frees it, so the target can go while
 * getaddrinfo still runs. */
struct dial_refresh {
	atomic_int refs;
	int fds[2];             /* [0] the target's to wait on, [1] the thread's */
	struct vsk_addr addr;
	struct dial_sa sa[DIAL_ADDRS];
	int nsa, err;
};

static void refresh_put(struct dial_refresh *rf)
{
	if (atomic_fetch_sub(&rf->refs, 1) != 1)
		return;
	close_fd(&rf->fds[0]);
	close_fd(&rf->fds[1]);
	free(rf);
}

static void *refresh_main(void *arg)
{
	struct dial_refresh *rf = arg;
	char one = 1;

	rf->err = resolve(&rf->addr, 0, rf->sa, &rf->nsa);
	/* The socket write publishes the result; MSG_NOSIGNAL: the target may be gone. */
	while (send(rf->fds[1], &one, 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
	refresh_put(rf);
	return NULL;
}

int dial_target_refresh(struct dial_target *t)
{
	struct dial_refresh *rf;
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t th;
	int rc;

	if (t->numeric || t->addr.kind != VSK_ADDR_TCP)
		return -EINVAL;
	if (t->refresh != NULL)
		return -EALREADY;
	rf = calloc(1, sizeof(*rf));
	if (rf == NULL)
		return -ENOMEM;
	rf->addr = t->addr;
	atomic_init(&rf->refs, 2);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, rf->fds) < 0) {
		rc = -errno;
		free(rf);
		return rc;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Signals stay with the caller's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&th, &attr, refresh_main, rf);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc < 0) {
		close_fd(&rf->fds[0]);
		close_fd(&rf->fds[1]);
		free(rf);
		return rc;
	}
	t->refresh = rf;
	return rf->fds[0];
}

int dial_target_refreshed(struct dial_target *t)
{
	struct dial_refresh *rf = t->refresh;
	char one;
	int rc;

	if (rf == NULL)
		return -EINVAL;
	if (recv(rf->fds[0], &one, 1, MSG_DONTWAIT) != 1)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -EIO;
	t->refresh = NULL;
	rc = rf->err;
	if (rc == 0) {
		memcpy(t->sa, rf->sa, sizeof(t->sa));
		t->nsa = rf->nsa;
		t->err = 0;
	} else if (t->nsa == 0) {
		t->err = rc;
	}
	refresh_put(rf);
	return rc;
}

void dial_target_free(struct dial_target *t)
{
	if (t->refresh != NULL) {
		refresh_put(t->refresh);
		t->refresh = NULL;
	}
}

/* --------------------------------------------------------------- dials */

static int fail(struct dial *d, int err)
{
	close_fd(&d->fd);
	d->events = 0;
	d->retry_ms = 0;
	d->stage = DIAL_IDLE;
	return err;
}

/* Connected: hybrid goes on with the handshake, the rest is done. */
static int connected(struct dial *d)
{
	int rc;

	if (d->kind != VSK_ADDR_HYBRID && d->kind != VSK_ADDR_HYBRID_SEQ) {
		d->stage = DIAL_DONE;
		d->events = 0;
		return 0;
	}
	d->op = "handshake";
	if (d->stage != DIAL_SEND && d->stage != DIAL_REPLY) {
		d->req_len = (size_t)hybrid_request(d->req, sizeof(d->req), d->port);
		d->req_off = 0;
		d->line.n = 0;
		d->stage = DIAL_SEND;
	}
	if (d->stage == DIAL_SEND) {
		rc = hybrid_send_step(d->fd, d->req, d->req_len, &d->req_off);
		if (rc == -EAGAIN) {
			d->events = POLLOUT;
			return 1;
		}
		if (rc < 0)
			return fail(d, rc);
		d->stage = DIAL_REPLY;
	}
	rc = hybrid_reply_step(d->fd, &d->line, NULL);
	if (rc == -EAGAIN) {
		d->events = POLLIN | POLLRDHUP;
		return 1;
	}
	if (rc < 0)
		return fail(d, rc);
	d->stage = DIAL_DONE;
	d->events = 0;
	return 0;
}

static int vsock_options(struct dial *d, int fd)
{
	struct sockaddr_vm vm;

	if (d->timeout_ms > 0) {
		struct timeval tv = { .tv_sec = d->timeout_ms / 1000,
				      .tv_usec = (d->timeout_ms % 1000) * 1000 };
		/* The kernel times out a non-blocking connect by this too. */
		setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv));
	}
	if (d->bind_port == VSK_PORT_ANY)
		return 0;
	d->op = "bind";
	sock_vm_addr(&vm, VSK_CID_ANY, d->bind_port);
	return bind(fd, (struct sockaddr *)&vm, sizeof(vm)) < 0 ? -errno : 0;
}

/* Connect to the addresses from D->next on, until one is under way, has
 * connected, or none is left. */
static int try_addrs(struct dial *d)
{
	while (d->next < d->nsa) {
		const struct dial_sa *s = &d->sa[d->next];
		int rc;

		d->op = "socket";
		d->fd = socket(s->family, s->socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, s->protocol);
		if (d->fd < 0) {
			rc = -errno;
			/* An address family this host lacks (no IPv6): the next one. */
			if (rc != -EAFNOSUPPORT || d->next + 1 >= d->nsa)
				return fail(d, rc);
			d->next++;
			continue;
		}
		if (s->family == AF_VSOCK && (rc = vsock_options(d, d->fd)) < 0)
			return fail(d, rc);
		d->op = "connect";
		if (connect(d->fd, (const struct sockaddr *)&s->ss, s->len) == 0)
			return connected(d);
		rc = -errno;
		if (rc == -EINPROGRESS || rc == -EINTR) {
			d->stage = DIAL_CONNECTING;
			d->events = POLLOUT;
			return 1;
		}
		if (rc == -EAGAIN && s->family == AF_UNIX) {
			/* The listener's queue is full: ask again a little later. */
			close_fd(&d->fd);
			d->stage = DIAL_RETRY;
			d->events = 0;
			d->backoff_ms = d->backoff_ms == 0 ? DIAL_RETRY_FIRST_MS
				      : d->backoff_ms * 2 > DIAL_RETRY_MAX_MS ? DIAL_RETRY_MAX_MS
				      : d->backoff_ms * 2;
			d->retry_ms = d->backoff_ms;
			return 1;
		}
		close_fd(&d->fd);
		d->err = rc;
		d->next++;
	}
	return fail(d, d->err != 0 ? d->err : -ECONNREFUSED);
}

int dial_start(struct dial *d, const struct dial_target *t)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->kind = t->addr.kind;
	d->port = t->addr.port;
	d->bind_port = t->opts.bind_port;
	d->timeout_ms = t->opts.timeout_ms;
	d->op = t->err_op;
	if (t->nsa == 0)
		return t->err < 0 ? t->err : -EINVAL;
	d->nsa = t->nsa;
	memcpy(d->sa, t->sa, sizeof(d->sa[0]) * (size_t)t->nsa);
	return try_addrs(d);
}

int dial_step(struct dial *d, uint32_t revents)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	switch (d->stage) {
	case DIAL_RETRY:
		d->retry_ms = 0;
		return try_addrs(d);
	case DIAL_CONNECTING:
		if (revents == 0)
			return 1;
		if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr == 0 && !(revents & POLLOUT))
			soerr = (revents & (POLLERR | POLLHUP)) ? ECONNRESET : 0;
		if (soerr == 0 && !(revents & POLLOUT))
			return 1;
		if (soerr == 0)
			return connected(d);
		close_fd(&d->fd);
		d->err = -soerr;
		d->next++;
		return try_addrs(d);
	case DIAL_SEND:
	case DIAL_REPLY:
		return revents == 0 ? 1 : connected(d);
	case DIAL_DONE:
		return 0;
	default:
		return -EINVAL;
	}
}

int dial_take(struct dial *d)
{
	int fd = d->fd;

	d->fd = -1;
	d->stage = DIAL_IDLE;
	return fd;
}

void dial_cancel(struct dial *d)
{
	fail(d, 0);
}

int dial_wait(struct dial *d, int timeout_ms)
{
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	int rc = d->stage == DIAL_DONE ? 0 : d->stage == DIAL_IDLE ? -EINVAL : 1;

	while (rc == 1) {
		struct pollfd pfd = { .fd = d->fd, .events = (short)d->events };
		int64_t left = deadline > 0 ? deadline - now_ms() : -1;
		int wait = d->retry_ms > 0 ? d->retry_ms : -1;
		int pr;

		if (deadline > 0 && left <= 0)
			return fail(d, -ETIMEDOUT);
		if (left >= 0 && (wait < 0 || left < wait))
			wait = left > INT32_MAX ? INT32_MAX : (int)left;
		pr = poll(&pfd, d->fd >= 0 ? 1 : 0, wait);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return fail(d, -errno);
		if (pr > 0)
			rc = dial_step(d, (uint32_t)pfd.revents);
		else if (d->retry_ms > 0)
			rc = dial_step(d, 0);
	}
	return rc;
}

/* ------------------------------------------------------ the blocking API */

int vsk_connect(const struct vsk_addr *a, const struct vsk_opts *o, const char **op)
{
	static const struct vsk_opts defaults = VSK_OPTS_INIT;
	struct dial_target t;
	struct dial d;
	const char *dummy;
	int fd, rc;

	if (o == NULL)
		o = &defaults;
	if (op == NULL)
		op = &dummy;
	*op = "connect";
	if (a->kind == VSK_ADDR_STDIO)
		return -EINVAL;
	rc = dial_target_init(&t, a, o);
	if (rc == 0)
		rc = dial_start(&d, &t);
	else
		d.op = t.err_op;
	dial_target_free(&t);
	if (rc == 1)
		rc = dial_wait(&d, o->timeout_ms);
	*op = d.op;
	if (rc < 0)
		return rc;
	fd = dial_take(&d);
	if (!o->nonblock && (rc = sock_set_nonblock(fd, false)) < 0) {
		close(fd);
		return rc;
	}
	return fd;
}
