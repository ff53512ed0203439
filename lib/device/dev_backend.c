/* device back ends: targets, dials that never wait, the host side's
 * listeners (see dev_backend.h). */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "dev_backend.h"
#include "dev_hostsock.h"
#include "dev_poll.h"

#define RETRY_FIRST_MS 5    /* a full Unix listener: connect again after ... */
#define RETRY_MAX_MS   100  /* ... doubling up to this */
#define VSOCK_SEQ_MAX  (256u * 1024u) /* AF_VSOCK's own largest buffer by default */

/* ------------------------------------------------------------ targets */

static int resolve(struct dev_route *r, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL, *ai;
	const struct vsk_addr *a = &r->m->to;
	int rc = getaddrinfo(a->host[0] ? a->host : "localhost", a->service, &hints, &res);

	if (rc != 0) {
		snprintf(err, errlen, "map %u: cannot resolve '%s': %s", r->m->port, a->host,
			 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return rc == EAI_SYSTEM ? -errno : -ENOENT;
	}
	for (ai = res; ai != NULL && r->nsa < DEV_SA_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(r->sa[0].ss))
			continue;
		memcpy(&r->sa[r->nsa].ss, ai->ai_addr, ai->ai_addrlen);
		r->sa[r->nsa++].len = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	return 0;
}

int backend_init(struct dev_backend *b, const struct dev_vm_cfg *c, char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	b->cid = c->cid;
	b->uds = c->uds[0] ? c->uds : NULL;
	b->forward = c->forward;
	b->forward_cid = c->forward_cid;
	b->map_only = c->map_only;
	if (c->nmap == 0)
		return 0;
	b->routes = calloc(c->nmap, sizeof(*b->routes));
	if (b->routes == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < c->nmap; i++) {
		struct dev_route *r = &b->routes[b->nroutes++];

		r->m = &c->map[i];
		if (r->m->to.kind == VSK_ADDR_TCP) {
			int rc = resolve(r, err, errlen);

			if (rc < 0) {
				backend_destroy(b);
				return rc;
			}
		}
	}
	return 0;
}

void backend_destroy(struct dev_backend *b)
{
	free(b->routes);
	b->routes = NULL;
	b->nroutes = 0;
}

/* PATH SUFFIX as a Unix address ("@name": abstract).  0 or -ENAMETOOLONG. */
static int un_sa(struct dev_sa *sa, const char *path, const char *suffix)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&sa->ss;
	size_t n = strlen(path) + strlen(suffix);

	memset(sa, 0, sizeof(*sa));
	if (n >= sizeof(un->sun_path))
		return -ENAMETOOLONG;
	un->sun_family = AF_UNIX;
	snprintf(un->sun_path, sizeof(un->sun_path), "%s%s", path, suffix);
	if (path[0] == '@') {
		un->sun_path[0] = '\0'; /* abstract: the length ends it */
		sa->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		sa->len = (socklen_t)sizeof(*un);
	}
	return 0;
}

static void vm_sa(struct dev_sa *sa, uint32_t cid, uint32_t port)
{
	struct sockaddr_vm *vm = (struct sockaddr_vm *)&sa->ss;

	memset(sa, 0, sizeof(*sa));
	vm->svm_family = AF_VSOCK;
	vm->svm_cid = cid;
	vm->svm_port = port;
	sa->len = sizeof(*vm);
}

/* -------------------------------------------------------------- dials */

static void dial_close(struct dev_dial *d)
{
	if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
	}
}

/* The CONNECT line of a hybrid target: out, then wait for "OK". */
static int handshake_send(struct dev_dial *d)
{
	ssize_t r;

	d->op = "handshake";
	while (d->off < d->len) {
		do
			r = send(d->fd, d->line + d->off, d->len - d->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			d->stage = DIAL_SEND;
			d->events = EPOLLOUT;
			return 1;
		}
		if (r < 0)
			return errno == EPIPE ? -ECONNRESET : -errno;
		d->off += (unsigned)r;
	}
	d->stage = DIAL_REPLY;
	d->events = EPOLLIN;
	d->len = 0;
	return 1;
}

/* "OK <port>\n": a line read byte by byte (stream; nothing after it is
 * taken) or one message (SEQPACKET). */
static int handshake_reply(struct dev_dial *d)
{
	uint32_t got;
	size_t n;
	int rc;

	if (d->type == SOCK_SEQPACKET) {
		ssize_t r;

		do
			r = recv(d->fd, d->line, sizeof(d->line), MSG_DONTWAIT | MSG_TRUNC);
		while (r < 0 && errno == EINTR);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		if (r <= 0)
			return r == 0 ? -ECONNRESET : -errno;
		if ((size_t)r > sizeof(d->line))
			return -EPROTO;
		d->len = (unsigned)r;
	} else {
		rc = hostsock_read_line(d->fd, d->line, &d->len, sizeof(d->line));
		if (rc == 0)
			return 1;
		if (rc < 0)
			return rc == -EMSGSIZE ? -EPROTO : rc;
	}
	/* "OK <u32>\n" (a '\r' before the newline tolerated), nothing else. */
	n = d->len - 1;
	if (n > 0 && d->line[n - 1] == '\r')
		n--;
	if (d->line[d->len - 1] != '\n' || n <= 3 || memcmp(d->line, "OK ", 3) != 0 ||
	    addr_parse_u32(d->line + 3, n - 3, &got) < 0)
		return -EPROTO;
	return 0;
}

/* Connect D->sa[D->next]: 0 connected, 1 in progress, -errno. */
static int attempt(struct dev_dial *d)
{
	const struct dev_sa *sa = d->sa != NULL ? &d->sa[d->next] : &d->one;
	int family = ((const struct sockaddr *)&sa->ss)->sa_family, rc, berr;

	d->op = "socket";
	if (family == AF_UNIX) {
		d->fd = hostsock_open(d->type, d->cid, d->gport, d->nonce, d->buf_alloc, &berr);
		if (d->fd < 0)
			return d->fd;
	} else {
		d->fd = socket(family, d->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (d->fd < 0)
			return -errno;
		if (family != AF_VSOCK)
			hostsock_sndbuf(d->fd, d->buf_alloc);
		if (family == AF_VSOCK && d->type == SOCK_SEQPACKET) {
			/* The host peer may send no message larger than this
			 * socket's buffer: no larger than the guest takes. */
			unsigned long long sz = d->guest_buf < VSOCK_SEQ_MAX ? d->guest_buf : VSOCK_SEQ_MAX;

			if (sz < 4096)
				sz = 4096;
			setsockopt(d->fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &sz, sizeof(sz));
		}
	}
	d->op = "connect";
	if (d->nofollow) {
		rc = hostsock_connect_nofollow(d->fd, (const struct sockaddr_un *)&sa->ss);
	} else {
		do
			rc = connect(d->fd, (const struct sockaddr *)&sa->ss, sa->len);
		while (rc < 0 && errno == EINTR);
		rc = rc < 0 ? -errno : 0;
		if (rc == -EWOULDBLOCK)
			rc = -EAGAIN;
	}
	if (rc == -EINPROGRESS) {
		d->stage = DIAL_CONNECT;
		d->events = EPOLLOUT;
		return 1;
	}
	if (rc == -EAGAIN && family == AF_UNIX) {
		/* A full Unix listener refuses a non-blocking connect: again,
		 * a little later, until the caller's deadline. */
		dial_close(d);
		d->stage = DIAL_RETRY;
		d->events = 0;
		d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : RETRY_FIRST_MS;
		if (d->backoff_ms > RETRY_MAX_MS)
			d->backoff_ms = RETRY_MAX_MS;
		d->retry_at = dev_now_ms() + d->backoff_ms;
		return 1;
	}
	return rc;
}

/* The socket is connected: the handshake for hybrid targets, else done. */
static int connected(struct dev_dial *d)
{
	d->events = 0;
	d->retry_at = 0;
	if (!d->hybrid)
		return 0;
	d->len = (unsigned)snprintf(d->line, sizeof(d->line), "CONNECT %u\n", d->to.port);
	d->off = 0;
	return handshake_send(d);
}

/* The current address failed with RC: the next one, if any. */
static int next_or_fail(struct dev_dial *d, int rc)
{
	while (rc < 0 && d->stage != DIAL_SEND && d->stage != DIAL_REPLY && d->next + 1 < d->nsa) {
		dial_close(d);
		d->next++;
		rc = attempt(d);
		if (rc == 0)
			return connected(d);
	}
	if (rc < 0)
		dial_close(d);
	return rc;
}

int backend_dial(const struct dev_backend *b, uint32_t port, int type, uint32_t gport, uint64_t nonce,
		 uint32_t buf_alloc, uint32_t guest_buf, struct dev_dial *d)
{
	const struct dev_route *r = NULL;
	int rc;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->type = type;
	d->cid = b->cid;
	d->gport = gport;
	d->nonce = nonce;
	d->buf_alloc = buf_alloc;
	d->guest_buf = guest_buf;
	d->sa = NULL; /* D->one (D may be copied) */
	d->nsa = 1;
	d->op = "connect";
	for (unsigned i = 0; i < b->nroutes; i++)
		if (b->routes[i].m->port == port)
			r = &b->routes[i];
	if (r != NULL) {
		d->to = r->m->to;
		d->mapped = true;
		switch (d->to.kind) {
		case VSK_ADDR_TCP:
			if (type != SOCK_STREAM) {
				d->op = "map";
				return -ESOCKTNOSUPPORT; /* TCP keeps no message boundaries */
			}
			d->sa = r->sa;
			d->nsa = r->nsa;
			break;
		case VSK_ADDR_VSOCK:
		case VSK_ADDR_VSOCK_SEQ:
			d->to.kind = type == SOCK_SEQPACKET ? VSK_ADDR_VSOCK_SEQ : VSK_ADDR_VSOCK;
			vm_sa(&d->one, d->to.cid, d->to.port);
			break;
		case VSK_ADDR_HYBRID:
		case VSK_ADDR_HYBRID_SEQ:
			/* The guest's socket type says which; both spellings do. */
			d->to.kind = type == SOCK_SEQPACKET ? VSK_ADDR_HYBRID_SEQ : VSK_ADDR_HYBRID;
			d->hybrid = true;
			rc = un_sa(&d->one, d->to.path, type == SOCK_SEQPACKET ? DEV_SEQ_SUFFIX : "");
			if (rc < 0)
				return rc;
			break;
		default: /* unix */
			rc = un_sa(&d->one, d->to.path, "");
			if (rc < 0)
				return rc;
			break;
		}
	} else if (b->map_only || (b->uds == NULL && !b->forward)) {
		d->op = "map";
		d->to.kind = VSK_ADDR_VSOCK;
		d->to.cid = VSK_CID_HOST;
		d->to.port = port;
		return -ECONNREFUSED;
	} else if (b->uds != NULL) {
		d->to.kind = VSK_ADDR_UNIX;
		rc = hostsock_port_path(b->uds, port, (struct sockaddr_un *)&d->one.ss);
		if (rc < 0)
			return rc;
		d->one.len = sizeof(struct sockaddr_un);
		snprintf(d->to.path, sizeof(d->to.path), "%s", ((struct sockaddr_un *)&d->one.ss)->sun_path);
		d->nofollow = true;
	} else {
		d->to.kind = type == SOCK_SEQPACKET ? VSK_ADDR_VSOCK_SEQ : VSK_ADDR_VSOCK;
		d->to.cid = b->forward_cid;
		d->to.port = port;
		vm_sa(&d->one, b->forward_cid, port);
	}
	if (d->nsa == 0) {
		d->op = "resolve";
		return -ENOENT;
	}
	rc = attempt(d);
	if (rc == 0)
		return connected(d);
	return rc == 1 ? 1 : next_or_fail(d, rc);
}

int backend_dial_step(struct dev_dial *d, uint32_t revents)
{
	int rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	switch (d->stage) {
	case DIAL_RETRY:
		if (revents != 0 || d->retry_at > dev_now_ms())
			return 1;
		rc = attempt(d);
		if (rc == 0)
			return connected(d);
		return rc == 1 ? 1 : next_or_fail(d, rc);
	case DIAL_CONNECT:
		if (revents == 0)
			return 1;
		if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr == 0 && !(revents & (EPOLLERR | EPOLLHUP)))
			return connected(d);
		if (soerr == 0)
			soerr = ECONNRESET; /* hung up without a reason */
		return next_or_fail(d, -soerr);
	case DIAL_SEND:
		rc = handshake_send(d);
		break;
	default:
		if (revents == 0)
			return 1;
		rc = handshake_reply(d);
		break;
	}
	if (rc < 0)
		dial_close(d);
	if (rc == 0) {
		d->events = 0;
		d->op = "connect";
	}
	return rc;
}

void backend_dial_cancel(struct dev_dial *d)
{
	dial_close(d);
}

const char *backend_dial_explain(const struct dev_dial *d, int err, char *buf, size_t len)
{
	char t[VSK_PATH_MAX + 64];

	if (err < 0)
		err = -err;
	if (!strcmp(d->op, "map") && err == ECONNREFUSED)
		snprintf(buf, len, "port %u is not in the port map (map-only)", d->to.port);
	else if (!strcmp(d->op, "map"))
		snprintf(buf, len, "map %s: a SEQPACKET connection cannot go to tcp: (no message boundaries)",
			 vsk_addr_format(&d->to, t, sizeof(t)));
	else
		vsk_explain(err, d->op, &d->to, buf, len);
	return buf;
}

/* ---------------------------------------------------------- listeners */

static int listen_vsock(uint32_t port, char *err, size_t errlen)
{
	struct dev_sa sa;
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), rc;
	struct vsk_addr a = { .kind = VSK_ADDR_VSOCK, .cid = VSK_CID_ANY, .port = port };
	char why[256];

	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "forward-listen: %s", vsk_explain(-rc, "socket", &a, why, sizeof(why)));
		return rc;
	}
	vm_sa(&sa, VSK_CID_ANY, port);
	if (bind(fd, (struct sockaddr *)&sa.ss, sa.len) < 0 || listen(fd, 128) < 0) {
		rc = -errno;
		snprintf(err, errlen, "forward-listen: %s", vsk_explain(-rc, "bind", &a, why, sizeof(why)));
		close(fd);
		return rc;
	}
	return fd;
}

int backend_listen(const struct dev_vm_cfg *c, unsigned mode, struct dev_listener *l, unsigned *n, char *err,
		   size_t errlen)
{
	char seq[sizeof(c->uds) + sizeof(DEV_SEQ_SUFFIX)];
	int fd;

	*n = 0;
	if (c->uds[0]) {
		fd = hostsock_listen(c->uds, "uds-path", SOCK_STREAM, mode, 128, err, errlen);
		if (fd < 0)
			goto fail;
		l[(*n)++] = (struct dev_listener){ .kind = DL_UDS, .fd = fd };
		snprintf(seq, sizeof(seq), "%s%s", c->uds, DEV_SEQ_SUFFIX);
		fd = hostsock_listen(seq, "uds-path", SOCK_SEQPACKET, mode, 128, err, errlen);
		if (fd < 0)
			goto fail;
		l[(*n)++] = (struct dev_listener){ .kind = DL_UDS_SEQ, .fd = fd };
	}
	for (unsigned i = 0; i < c->nforward_listen; i++) {
		fd = listen_vsock(c->forward_listen[i], err, errlen);
		if (fd < 0)
			goto fail;
		l[(*n)++] = (struct dev_listener){ .kind = DL_VSOCK, .port = c->forward_listen[i], .fd = fd };
	}
	return 0;
fail:
	backend_unlisten(c, l, *n);
	*n = 0;
	return fd;
}

void backend_unlisten(const struct dev_vm_cfg *c, struct dev_listener *l, unsigned n)
{
	char seq[sizeof(c->uds) + sizeof(DEV_SEQ_SUFFIX)];

	for (unsigned i = 0; i < n; i++) {
		if (l[i].fd < 0)
			continue;
		close(l[i].fd);
		l[i].fd = -1;
		if (l[i].kind == DL_UDS) {
			unlink(c->uds);
		} else if (l[i].kind == DL_UDS_SEQ) {
			snprintf(seq, sizeof(seq), "%s%s", c->uds, DEV_SEQ_SUFFIX);
			unlink(seq);
		}
	}
}
