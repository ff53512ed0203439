/* relay: moving the data of one direction (model in relay.h, engine in
 * relay.c).  A buffer is filled only when empty and drained completely
 * before the next read; between stream sockets a pipe takes its place and
 * splice() moves the pages.  Both are made on first use.  A vsock
 * SEQPACKET destination is written by its sender thread (relay_seq.c): the
 * buffer stays as it is until the thread says the message went.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay_int.h"

/* F's sender thread goes; true when it took the fd (and the buffer of
 * the direction F is the destination of) over. */
static bool seq_release(struct relay *r, struct relay_fd *f)
{
	struct relay_pair *p = f->p;

	for (int i = 0; i < 2; i++) {
		struct relay_dir *d = &p->dir[i];

		if (d->dst != (int)(f - p->fds))
			continue;
		if (!relay_seq_release(r, f, &d->buf))
			return false;
		/* The thread frees it: no longer the relay's. */
		r->nbufs--;
		d->len = 0;
		return true;
	}
	return relay_seq_release(r, f, &(char *){ NULL });
}

void relay_fd_close(struct relay *r, struct relay_fd *f)
{
	bool taken;

	if (f->fd < 0)
		return;
	/* DEL before close: a dup elsewhere would keep the registration alive. */
	if (f->polled)
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, f->fd, NULL);
	f->polled = false;
	if (f->oflags >= 0)
		fcntl(f->fd, F_SETFL, f->oflags);
	taken = f->seq != NULL && seq_release(r, f);
	if (!taken)
		close(f->fd); /* no retry on EINTR: Linux has closed it anyway */
	f->fd = -1;
}

void relay_dir_release(struct relay *r, struct relay_dir *d)
{
	for (int i = 0; i < 2; i++)
		if (d->pipe[i] >= 0) {
			close(d->pipe[i]);
			d->pipe[i] = -1;
		}
	if (d->buf != NULL) {
		free(d->buf);
		d->buf = NULL;
		r->nbufs--;
	}
}

/* > 0 bytes, 0 EOF, -EAGAIN, or -errno. */
static ssize_t src_read(const struct relay_fd *f, struct relay_dir *d)
{
	for (;;) {
		ssize_t n;

		if (f->seqpacket) {
			struct iovec iov = { .iov_base = d->buf, .iov_len = d->cap };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

			n = recvmsg(f->fd, &mh, MSG_DONTWAIT);
			/* A short buffer would silently drop the message's tail. */
			if (n >= 0 && (mh.msg_flags & MSG_TRUNC))
				return -EMSGSIZE;
		} else if (f->sock) {
			n = recv(f->fd, d->buf, d->cap, MSG_DONTWAIT);
		} else {
			n = read(f->fd, d->buf, d->cap);
		}
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

/* Bytes written (> 0), -EAGAIN, or -errno.  A vsock SEQPACKET socket
 * gets its messages through its sender thread (relay_seq.c): -EAGAIN
 * while one is under way, its whole length once it went. */
static ssize_t dst_write(struct relay_pair *p, struct relay_fd *f, char *buf, size_t len)
{
	if (f->vsock_seq)
		return relay_seq_write(p, f, buf, len);
	for (;;) {
		ssize_t n;

		if (f->sock)
			n = send(f->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			n = write(f->fd, buf, len);
		if (n > 0)
			return n;
		if (n == 0)
			return -EIO; /* write() of len > 0 returning 0: no progress ever */
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			return -EAGAIN;
		return -errno;
	}
}

/* Pass the source's EOF on to the destination. */
static int dir_finish(struct relay_pair *p, struct relay_dir *d)
{
	struct relay_fd *f;

	d->done = true;
	if (d->dst < 0)
		return d->sink != NULL ? d->sink(d->sink_ctx, NULL, 0) : 0;
	f = &p->fds[d->dst];
	if (f->fd < 0)
		return 0;
	if (f->sock) {
		/* ENOTCONN: the peer is gone already, nothing left to tell it. */
		if (shutdown(f->fd, SHUT_WR) < 0 && errno != ENOTCONN)
			return -errno;
		return 0;
	}
	/* A pipe or stdout only learns of EOF by close; a fd that is also read
	 * from (a tty) cannot be half-closed and stays until the pair ends. */
	if (!(f->roles & ROLE_RD))
		relay_fd_close(p->r, f);
	return 0;
}

/* A buffer for D, made when a read needs one. */
static int dir_buffer(struct relay *r, struct relay_dir *d)
{
	if (d->buf != NULL)
		return 0;
	d->buf = malloc(d->cap);
	if (d->buf == NULL)
		return -ENOMEM;
	r->nbufs++;
	return 0;
}

/* Idle: give the buffer back until data comes. */
static void dir_unbuffer(struct relay *r, struct relay_dir *d)
{
	if (d->buf == NULL || d->len > 0)
		return;
	free(d->buf);
	d->buf = NULL;
	r->nbufs--;
}

/* splice() with EINTR retried: bytes moved, 0 at EOF, or -errno. */
static ssize_t splice_once(int in, int out, size_t len)
{
	for (;;) {
		ssize_t n = splice(in, NULL, out, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

/* The direction's pipe, made on first use.  0, or -errno (then the
 * direction falls back to a buffer). */
static int dir_pipe(struct relay_dir *d)
{
	int sz;

	if (d->pipe[0] >= 0)
		return 0;
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		d->pipe[0] = d->pipe[1] = -1;
		return -errno;
	}
	/* A bigger pipe means fewer calls per byte; refused above the user's
	 * pipe limits, then the default size serves. */
	sz = fcntl(d->pipe[1], F_SETPIPE_SZ, RELAY_PIPE_SIZE);
	if (sz < 0)
		sz = fcntl(d->pipe[1], F_GETPIPE_SZ);
	d->pcap = sz > 0 ? (size_t)sz : 65536;
	return 0;
}

/* The splice path of dir_run(): the pipe is filled only when empty and
 * drained completely, like the buffer.  Returns as dir_run() does; 2 asks
 * for the buffer path (the source cannot splice, nothing was moved yet),
 * 3 says EOF with the pipe empty, 4 asks for the buffer path because the
 * chunks are small. */
static int dir_splice(struct relay_pair *p, struct relay_dir *d, const char **op, char *side,
		      char src_side, char dst_side)
{
	for (int turn = 0; turn < RELAY_TURN_CHUNKS; turn++) {
		ssize_t n;

		if (d->done)
			return 0;
		while (d->plen > 0) {
			n = splice_once(d->pipe[0], p->fds[d->dst].fd, d->plen);
			if (n == -EAGAIN)
				return 0;
			if (n <= 0) {
				*op = "write";
				*side = dst_side;
				return n < 0 ? (int)n : -EIO;
			}
			d->plen -= (size_t)n;
			d->bytes += (uint64_t)n;
			d->spliced += (uint64_t)n;
		}
		if (d->eof)
			return 3; /* finish as the buffer path does */
		if (d->small)
			return 4;
		if (dir_pipe(d) < 0)
			return 2;
		n = splice_once(p->fds[d->src].fd, d->pipe[1], d->pcap);
		if (n == -EAGAIN)
			return 0;
		if ((n == -EINVAL || n == -ENOSYS) && d->bytes == 0)
			return 2;
		if (n < 0) {
			*op = "read";
			*side = src_side;
			return (int)n;
		}
		if (n == 0)
			d->eof = true;
		/* Request/response sized: two splices and a pipe per chunk cost
		 * more than a recv and a send.  The buffer is small (none is
		 * allocated now: the splice path never holds one). */
		if (n > 0 && n < RELAY_SMALL && d->buf == NULL) {
			d->small = true;
			d->cap = RELAY_SMALL_BUF;
		}
		d->plen = (size_t)n;
	}
	return 1;
}

/* Move data in direction DI until it blocks or ends (0), uses its turn
 * (1), or fails (-errno, with *OP and *SIDE naming the failed call). */
int relay_dir_run(struct relay_pair *p, int di, bool clean, const char **op, char *side)
{
	struct relay_dir *d = &p->dir[di];
	char src_side = di == 0 ? 'a' : 'b', dst_side = di == 0 ? 'b' : 'a';

	/* Bytes still in the buffer go first (back from small chunks). */
	if (d->splice && d->len == 0) {
		int rc = dir_splice(p, d, op, side, src_side, dst_side);

		if (rc < 2)
			return rc;
		if (rc == 2) {
			/* Not for this source: buffers from now on. */
			d->splice = false;
			relay_dir_release(p->r, d);
		}
		/* rc 3: at EOF with the pipe empty; the loop below finishes.
		 * rc 4: small chunks, the loop below moves them. */
	}
	for (int turn = 0; turn < RELAY_TURN_CHUNKS; turn++) {
		ssize_t n;
		int rc;

		if (d->done)
			return 0;
		while (d->len > 0) {
			if (d->dst < 0) {
				rc = d->sink(d->sink_ctx, d->buf + d->off, d->len);
				if (rc == -EAGAIN) {
					d->sink_wait = true;
					return 0;
				}
				if (rc < 0) {
					*op = "sink";
					*side = dst_side;
					return rc;
				}
				n = (ssize_t)d->len;
			} else {
				n = dst_write(p, &p->fds[d->dst], d->buf + d->off, d->len);
				if (n == -EAGAIN)
					return 0;
				if (n < 0) {
					*op = "write";
					*side = dst_side;
					return (int)n;
				}
			}
			d->off += (size_t)n;
			d->len -= (size_t)n;
			d->bytes += (uint64_t)n;
		}
		d->off = 0;
		if (d->to_splice && !d->eof) {
			/* Big chunks again: splice from the next round. */
			d->to_splice = d->small = false;
			dir_unbuffer(p->r, d);
			d->cap = RELAY_BUF_STREAM;
			return 1;
		}
		if (d->eof) {
			rc = dir_finish(p, d);
			if (rc == -EAGAIN && d->dst < 0) {
				/* The sink takes the EOF later. */
				d->done = false;
				d->sink_wait = true;
				return 0;
			}
			if (rc < 0) {
				*op = d->dst < 0 ? "sink" : "shutdown";
				*side = dst_side;
				return rc;
			}
			return 0;
		}
		if (d->drained) {
			dir_unbuffer(p->r, d);
			return 0;
		}
		if (dir_buffer(p->r, d) < 0) {
			*op = "read";
			*side = src_side;
			return -ENOMEM;
		}
		n = src_read(&p->fds[d->src], d);
		if (n == -EAGAIN) {
			dir_unbuffer(p->r, d);
			return 0;
		}
		/* A stream socket's recv() returns all it holds up to the size
		 * asked: a short one means it was empty then, and anything later
		 * brings a new edge (unless a hang-up is pending: then read on). */
		if (n > 0 && (size_t)n < d->cap && clean && p->fds[d->src].sock &&
		    !p->fds[d->src].seqpacket)
			d->drained = true;
		if (d->small && (size_t)n == d->cap)
			d->to_splice = true;
		if (n < 0) {
			*op = "read";
			*side = src_side;
			return (int)n;
		}
		if (n == 0)
			d->eof = true;
		d->len = (size_t)n;
	}
	return 1;
}
