/* vhost-user framing on the non-blocking front-end socket: a message is
 * read as its bytes arrive, over as many calls as it takes, and a reply
 * the socket cannot take waits in d->io; nothing here ever waits.  Each
 * message (and the taking of its reply) has a deadline, d->msg_timeout_ms
 * after its first byte, so a front end that drips bytes or never reads
 * is dropped instead of holding anything up.
 *
 * Exactly the bytes of the current message are read (header, then the
 * payload size it announces): SCM_RIGHTS fds travel with the first byte
 * of their sendmsg, so they are never mixed up with the next message's.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "vhost_int.h"

/* Keep up to VU_MAX_FDS received fds; close the rest. */
static void take_fds(struct vu_io *io, struct msghdr *mh)
{
	if (mh->msg_flags & MSG_CTRUNC)
		io->in_truncated = true;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t k = 0; k < n; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
			if (io->in_nfds < VU_MAX_FDS) {
				io->in_fds[io->in_nfds++] = fd;
			} else {
				vu_close_fd(&fd);
				io->in_truncated = true;
			}
		}
	}
}

static uint32_t in_size(const struct vu_io *io)
{
	return vu_le32(io->in + 8);
}

/* The header is complete: refuse what cannot be a message. */
static int check_header(struct vu_dev *d)
{
	uint32_t req = vu_le32(d->io.in), flags = vu_le32(d->io.in + 4), size = in_size(&d->io);
	char nb[32];

	if ((flags & VU_VERSION_MASK) != VU_VERSION)
		return vu_fail(d, EPROTO, "%s: version %u, expected 1", vu_request_name(req, nb, sizeof(nb)),
			       flags & VU_VERSION_MASK);
	if (size > VU_MAX_PAYLOAD)
		return vu_fail(d, EMSGSIZE, "%s: payload size %u over %u", vu_request_name(req, nb, sizeof(nb)),
			       size, VU_MAX_PAYLOAD);
	return 0;
}

static int in_timeout(struct vu_dev *d)
{
	char nb[32];
	const char *name = d->io.in_got >= VU_HDR_SIZE ? vu_request_name(vu_le32(d->io.in), nb, sizeof(nb))
						       : "message header";
	uint32_t want = d->io.in_got >= VU_HDR_SIZE ? VU_HDR_SIZE + in_size(&d->io) : VU_HDR_SIZE;

	return vu_fail(d, ETIMEDOUT, "%s: only %u of %u bytes after %u ms: front end too slow, dropped", name,
		       d->io.in_got, want, d->msg_timeout_ms);
}

int vu_io_recv(struct vu_dev *d)
{
	struct vu_io *io = &d->io;

	for (;;) {
		union {
			char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
			struct cmsghdr align;
		} cbuf;
		uint32_t want = io->in_got < VU_HDR_SIZE ? VU_HDR_SIZE : VU_HDR_SIZE + in_size(io);
		struct iovec iov = { io->in + io->in_got, want - io->in_got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf) };
		ssize_t n;

		if (io->in_got == want)
			return 1;
		if (io->in_got > 0 && vu_clock_ms() >= io->in_deadline)
			return in_timeout(d);
		n = recvmsg(d->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -EAGAIN;
		if (n < 0)
			return vu_fail(d, errno, "recvmsg: %s", strerror(errno));
		take_fds(io, &mh);
		if (n == 0) {
			char nb[32];

			if (io->in_got == 0)
				return vu_fail(d, ECONNRESET, "front end closed the connection");
			return vu_fail(d, ECONNRESET, "%s: connection closed after %u of %u bytes",
				       io->in_got >= VU_HDR_SIZE ? vu_request_name(vu_le32(io->in), nb, sizeof(nb))
								 : "message header", io->in_got, want);
		}
		if (io->in_got == 0)
			io->in_deadline = vu_clock_ms() + d->msg_timeout_ms;
		io->in_got += (uint32_t)n;
		if (io->in_got == VU_HDR_SIZE) {
			int rc = check_header(d);

			if (rc < 0)
				return rc;
		}
	}
}

void vu_io_msg(struct vu_dev *d, struct vu_msg *m)
{
	struct vu_io *io = &d->io;

	memset(m, 0, sizeof(*m));
	m->request = vu_le32(io->in);
	m->flags = vu_le32(io->in + 4);
	m->size = in_size(io);
	m->payload = io->in + VU_HDR_SIZE;
	m->fds = io->in_fds;
	m->nfds = io->in_nfds;
	m->fds_truncated = io->in_truncated;
	m->reply = io->out + VU_HDR_SIZE;
}

void vu_io_msg_done(struct vu_dev *d)
{
	struct vu_io *io = &d->io;

	/* Whatever a handler did not take is closed here, on every path. */
	for (unsigned i = 0; i < io->in_nfds && i < VU_MAX_FDS; i++)
		vu_close_fd(&io->in_fds[i]);
	io->in_nfds = 0;
	io->in_truncated = false;
	io->in_got = 0;
	io->in_deadline = 0;
}

void vu_io_reset(struct vu_dev *d)
{
	vu_io_msg_done(d);
	d->io.out_len = d->io.out_off = 0;
	d->io.out_deadline = 0;
}

bool vu_want_write(const struct vu_dev *d)
{
	return d->io.out_off < d->io.out_len;
}

int vu_flush(struct vu_dev *d)
{
	struct vu_io *io = &d->io;

	while (io->out_off < io->out_len) {
		ssize_t n = send(d->sock, io->out + io->out_off, io->out_len - io->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -EAGAIN;
		if (n < 0) {
			char nb[32];

			return vu_fail(d, errno, "reply to %s: send: %s",
				       vu_request_name(io->out_request, nb, sizeof(nb)), strerror(errno));
		}
		io->out_off += (uint32_t)n;
	}
	io->out_len = io->out_off = 0;
	io->out_deadline = 0;
	return 0;
}

int vu_io_reply(struct vu_dev *d, uint32_t request, uint32_t size)
{
	struct vu_io *io = &d->io;
	int rc;

	vu_put_le32(io->out, request);
	vu_put_le32(io->out + 4, VU_VERSION | VU_FLAG_REPLY);
	vu_put_le32(io->out + 8, size);
	io->out_len = VU_HDR_SIZE + size;
	io->out_off = 0;
	io->out_request = request;
	io->out_deadline = vu_clock_ms() + d->msg_timeout_ms;
	rc = vu_flush(d);
	return rc == -EAGAIN ? 0 : rc;
}

int64_t vu_deadline(const struct vu_dev *d)
{
	int64_t in = d->io.in_got > 0 ? d->io.in_deadline : 0;
	int64_t out = vu_want_write(d) ? d->io.out_deadline : 0;

	if (in && out)
		return in < out ? in : out;
	return in ? in : out;
}

int vu_expired(struct vu_dev *d, int64_t now_ms)
{
	char nb[32];

	if (d->sock < 0)
		return 0;
	if (vu_want_write(d) && now_ms >= d->io.out_deadline)
		return vu_fail(d, ETIMEDOUT, "reply to %s: not read by the front end within %u ms "
			       "(%u of %u bytes sent), dropped", vu_request_name(d->io.out_request, nb, sizeof(nb)),
			       d->msg_timeout_ms, d->io.out_off, d->io.out_len);
	if (d->io.in_got > 0 && now_ms >= d->io.in_deadline)
		return in_timeout(d);
	return 0;
}
