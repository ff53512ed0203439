/* guest -> device: tx packets for the host (the tx queue loop is in
 * device.c), the connection table and the hybrid host side (Unix sockets
 * "<uds>_P" for guest-initiated connections, clients of "<uds>" saying
 * "CONNECT <port>\n" for host-initiated ones).
 *
 * Behaviour follows virtio spec 5.10 and what the Linux guest driver
 * expects: an RST answers anything for a connection we do not know (but
 * never an RST), a SHUTDOWN with both flags is answered with RST once our
 * side is flushed, credit is checked on every RW.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "device_int.h"

/* ------------------------------------------------------------ the table */

static unsigned key_hash(uint32_t cid, uint32_t gport, uint32_t hport)
{
	uint64_t k = ((uint64_t)cid << 32 | gport) * 0x9E3779B97F4A7C15ull;

	k ^= (uint64_t)hport * 0xC2B2AE3D27D4EB4Full;
	return (unsigned)(k >> 40) & (DEV_HASH_SIZE - 1);
}

/* Key: (local CID 2, hport, peer CID, gport); the local CID is implied. */
static struct dev_conn *conn_lookup(struct dev *d, uint32_t cid, uint32_t gport, uint32_t hport)
{
	for (struct dev_conn *c = d->htab[key_hash(cid, gport, hport)]; c != NULL; c = c->hnext)
		if (c->vm->cfg.cid == cid && c->gport == gport && c->hport == hport)
			return c;
	return NULL;
}

static void conn_hash_add(struct dev_conn *c)
{
	unsigned h = key_hash(c->vm->cfg.cid, c->gport, c->hport);

	c->hnext = c->vm->dev->htab[h];
	c->vm->dev->htab[h] = c;
	c->hashed = true;
}

static void conn_hash_del(struct dev_conn *c)
{
	struct dev_conn **pp = &c->vm->dev->htab[key_hash(c->vm->cfg.cid, c->gport, c->hport)];

	for (; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	c->hashed = false;
}

static void conn_set_deadline(struct dev_conn *c, int64_t deadline)
{
	if (deadline != 0 && !c->timed)
		c->vm->dev->ntimed++;
	else if (deadline == 0 && c->timed)
		c->vm->dev->ntimed--;
	c->timed = deadline != 0;
	c->deadline = deadline;
}

static struct dev_conn *conn_new(struct dev_vm *vm, uint16_t type)
{
	struct dev_conn *c;

	if (vm->nconns >= DEV_MAX_CONNS_VM)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->vm = vm;
	c->type = type;
	c->ep.kind = EP_CONN;
	c->ep.fd = -1;
	c->ep.obj = c;
	c->buf_alloc = vm->cfg.tx_buf ? vm->cfg.tx_buf : DEV_TX_BUF_DEFAULT;
	c->next = vm->conns;
	if (vm->conns != NULL)
		vm->conns->prev = c;
	vm->conns = c;
	vm->nconns++;
	return c;
}

void dev_conn_free(struct dev_conn *c)
{
	struct dev_vm *vm = c->vm;

	if (c->ep.kind == EP_DEAD)
		return;
	if (c->hashed)
		conn_hash_del(c);
	conn_set_deadline(c, 0);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		vm->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	vm->nconns--;
	dev_ep_del(vm->dev, &c->ep);
	if (c->ep.fd >= 0) {
		close(c->ep.fd);
		c->ep.fd = -1;
	}
	free(c->pend);
	c->pend = NULL;
	if (c->tx_listed) {
		/* The batch's end must not touch C (it waits in the graveyard). */
		for (unsigned i = 0; i < vm->ntx_gathered; i++)
			if (vm->tx_gathered[i] == c)
				vm->tx_gathered[i] = NULL;
		c->tx_listed = false;
	}
	/* Events for C may still be in this round's epoll batch: free later. */
	c->ep.kind = EP_DEAD;
	c->dnext = vm->dev->grave;
	vm->dev->grave = c;
}

void dev_conn_update(struct dev_conn *c)
{
	uint32_t ev = 0;

	if (c->ep.kind == EP_DEAD || c->ep.fd < 0)
		return;
	if (c->state == CS_HANDSHAKE) {
		ev = EPOLLIN;
	} else if (c->state == CS_ESTABLISHED) {
		if (!c->host_eof && !c->guest_no_rcv && !c->rx_wait && dev_peer_credit(c) > 0)
			ev |= EPOLLIN;
		if (c->pend_len > 0)
			ev |= EPOLLOUT;
	}
	/* Nothing wanted: out of the set, so a hangup cannot spin the loop. */
	dev_ep_set(c->vm->dev, &c->ep, ev);
}

static const char *tname(uint16_t type)
{
	return type == WIRE_TYPE_SEQPACKET ? "seqpacket" : "stream";
}

/* Full close, our side flushed: RST completes the guest's close. */
static void conn_close_rst(struct dev_conn *c, const char *why)
{
	dev_logf(c->vm->dev, 1, "vm %u: %u:%u <-> host port %u: %s (%llu bytes in, %llu out)",
		 c->vm->cfg.cid, c->vm->cfg.cid, c->gport, c->hport, why,
		 (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out);
	dev_conn_ctl(c, WIRE_OP_RST, 0);
	dev_conn_free(c);
}

/* ------------------------------------------------- guest -> host bytes */

/* Room for ADD more bytes at the end of pend; bounded by what the guest's
 * credit allows plus SEQPACKET framing. */
static int pend_reserve(struct dev_conn *c, uint32_t add)
{
	uint64_t need = (uint64_t)c->pend_len + add;
	uint64_t limit = (uint64_t)c->buf_alloc * 2 + 4096;
	uint32_t cap;
	uint8_t *p;

	if (need > limit)
		return -ENOBUFS;
	if ((uint64_t)c->pend_off + need <= c->pend_cap)
		return 0;
	if (c->pend_off > 0) {
		memmove(c->pend, c->pend + c->pend_off, c->pend_len);
		if (c->seq_open)
			c->seq_hdr -= c->pend_off;
		c->pend_off = 0;
		if (need <= c->pend_cap)
			return 0;
	}
	cap = c->pend_cap ? c->pend_cap : 16384;
	while (cap < need)
		cap *= 2;
	p = realloc(c->pend, cap);
	if (p == NULL)
		return -ENOMEM;
	c->pend = p;
	c->pend_cap = cap;
	return 0;
}

static int pend_add_iov(struct dev_conn *c, const struct iovec *iov, unsigned n, size_t off, uint32_t len)
{
	int rc = pend_reserve(c, len);

	if (rc < 0)
		return rc;
	vq_iov_to_buf(iov, n, off, c->pend + c->pend_off + c->pend_len, len);
	c->pend_len += len;
	return 0;
}

static void credit_maybe(struct dev_conn *c)
{
	uint32_t used = c->rx_cnt - c->fwd_adv;

	/* The guest's view of our free space is low and we have freed some:
	 * tell it (the kernel's own rule of thumb, half the buffer). */
	if (c->fwd_cnt != c->fwd_adv && c->state == CS_ESTABLISHED &&
	    (used > c->buf_alloc || c->buf_alloc - used < c->buf_alloc / 2))
		dev_conn_ctl(c, WIRE_OP_CREDIT_UPDATE, 0);
}

/* Write what pend holds.  0, or -errno if the Unix peer is gone. */
static int pend_flush(struct dev_conn *c)
{
	while (c->pend_len > 0) {
		uint8_t *p = c->pend + c->pend_off;
		uint32_t msg = c->pend_len, take;
		ssize_t r;

		if (c->type == WIRE_TYPE_SEQPACKET) {
			if (c->seq_open && c->seq_hdr == c->pend_off)
				break; /* the head message has no EOM yet */
			msg = wire_le32(p);
			p += 4;
		}
		do
			r = send(c->ep.fd, p, msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		if (c->type == WIRE_TYPE_SEQPACKET) {
			take = msg + 4;
			c->fwd_cnt += msg;
		} else {
			take = (uint32_t)r;
			c->fwd_cnt += (uint32_t)r;
		}
		c->pend_off += take;
		c->pend_len -= take;
	}
	if (c->pend_len == 0) {
		/* Drained: give the buffer back, so an idle connection costs
		 * no more than its struct (1,000 connections: 33 -> 3 KB each). */
		free(c->pend);
		c->pend = NULL;
		c->pend_cap = 0;
		c->pend_off = 0;
	}
	return 0;
}

/* After the guest's SHUTDOWN or a flush: finish what the flags ask for. */
static void shutdown_check(struct dev_conn *c)
{
	if (c->pend_len > 0 || c->state != CS_ESTABLISHED)
		return;
	if (c->guest_no_send && c->guest_no_rcv) {
		conn_close_rst(c, "closed by guest");
		return;
	}
	if (c->guest_no_send && !c->shut_wr_done) {
		shutdown(c->ep.fd, SHUT_WR);
		c->shut_wr_done = true;
	}
}

static void conn_host_gone(struct dev_conn *c, int err, const char *op)
{
	char why[96];

	snprintf(why, sizeof(why), "%s to host: %s, RST to guest", op, strerror(err));
	conn_close_rst(c, why);
}

/* Remember C for the end of the tx batch: true, or false if the list is
 * full (cannot happen: one entry per packet at most). */
static bool tx_gather(struct dev_conn *c)
{
	struct dev_vm *vm = c->vm;

	if (c->tx_listed)
		return true;
	if (vm->ntx_gathered >= DEV_TX_BATCH)
		return false;
	vm->tx_gathered[vm->ntx_gathered++] = c;
	c->tx_listed = true;
	return true;
}

/* End of a tx batch: send what each listed connection gathered, then the
 * credit and shutdown work its packets put off. */
void dev_tx_flush_gathered(struct dev_vm *vm)
{
	for (unsigned i = 0; i < vm->ntx_gathered; i++) {
		struct dev_conn *c = vm->tx_gathered[i];
		int rc;

		if (c == NULL)
			continue; /* freed during the batch */
		vm->tx_gathered[i] = NULL;
		c->tx_listed = false;
		rc = c->pend_len > 0 ? pend_flush(c) : 0;
		if (rc < 0) {
			conn_host_gone(c, -rc, "write");
			continue;
		}
		credit_maybe(c);
		shutdown_check(c);
		if (c->ep.kind == EP_DEAD)
			continue;
		dev_conn_update(c);
	}
	vm->ntx_gathered = 0;
}

static void from_guest(struct dev_conn *c, const struct wire_virtio *h, const struct iovec *iov, unsigned n)
{
	uint32_t len = h->len, inflight = c->rx_cnt - c->fwd_cnt;
	size_t off = 0;
	int rc = 0;

	if (inflight > c->buf_alloc || len > c->buf_alloc - inflight) {
		dev_logf(c->vm->dev, 0, "vm %u: %u:%u -> host port %u: guest sent %u bytes beyond its credit, RST",
			 c->vm->cfg.cid, c->vm->cfg.cid, c->gport, c->hport, len);
		c->vm->st.drops++;
		conn_close_rst(c, "credit violation");
		return;
	}
	c->rx_cnt += len;
	c->bytes_in += len;
	if (c->guest_no_send || c->shut_wr_done) {
		c->fwd_cnt += len; /* after its own SHUTDOWN: discard */
		return;
	}
	if (c->type == WIRE_TYPE_STREAM) {
		/* Small payload: gather it, one send per connection after the
		 * tx batch (dev_tx_flush_gathered) instead of one sendmsg per
		 * packet.  fwd_cnt moves only when pend_flush() sends. */
		if (len > 0 && len <= DEV_TX_GATHER && tx_gather(c)) {
			if (pend_add_iov(c, iov, n, 0, len) < 0)
				conn_close_rst(c, "guest -> host buffer over its limit");
			return;
		}
		/* A larger one after gathered bytes goes behind them in pend. */
		if (c->pend_len == 0 && len > 0) {
			struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
			ssize_t r;

			do
				r = sendmsg(c->ep.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
			while (r < 0 && errno == EINTR);
			if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				conn_host_gone(c, errno, "write");
				return;
			}
			off = r > 0 ? (size_t)r : 0;
			c->fwd_cnt += (uint32_t)off;
		}
		if (off < len)
			rc = pend_add_iov(c, iov, n, off, (uint32_t)(len - off));
	} else {
		bool eom = h->flags & WIRE_SEQ_EOM;

		if (!c->seq_open && c->pend_len == 0 && eom) {
			struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
			ssize_t r;

			do
				r = sendmsg(c->ep.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
			while (r < 0 && errno == EINTR);
			if (r >= 0) {
				c->fwd_cnt += len;
				goto out;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				conn_host_gone(c, errno, "send");
				return;
			}
		}
		if (!c->seq_open) {
			rc = pend_reserve(c, 4);
			if (rc == 0) {
				c->seq_hdr = c->pend_off + c->pend_len;
				wire_st32(c->pend + c->seq_hdr, 0);
				c->pend_len += 4;
				c->seq_open = true;
			}
		}
		if (rc == 0)
			rc = pend_add_iov(c, iov, n, 0, len);
		if (rc == 0) {
			uint8_t *lp = c->pend + c->seq_hdr;

			wire_st32(lp, wire_le32(lp) + len);
			if (eom)
				c->seq_open = false;
		}
	}
	if (rc < 0) {
		conn_close_rst(c, "guest -> host buffer over its limit");
		return;
	}
	rc = pend_flush(c);
	if (rc < 0) {
		conn_host_gone(c, -rc, "write");
		return;
	}
out:
	credit_maybe(c);
}

/* ------------------------------------------- guest-initiated connections */

/* Let the host socket take twice our buffer before it pushes back: with
 * the default send buffer the device wakes on EPOLLOUT for every few
 * packets (guest->host 64 KiB packets: 0.5 -> 1.3 GB/s in
 * bench/device-datapath).  Best effort: the kernel caps it at wmem_max
 * (and doubles what it grants, for its bookkeeping). */
static void host_sndbuf(const struct dev_conn *c)
{
	/* At most 1 MiB: the socket's share of a stalled reader stays small. */
	int v = c->buf_alloc >= (1u << 19) ? 1 << 20 : (int)(2 * c->buf_alloc);

	setsockopt(c->ep.fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

/* 0 = connected, -EAGAIN = listener backlog full (retry), else -errno. */
static int host_connect(struct dev_conn *c)
{
	struct dev_vm *vm = c->vm;
	struct sockaddr_un sun, me;
	socklen_t mlen;
	int rc;

	rc = dev_uds_port_path(vm, c->hport, &sun);
	if (rc < 0)
		return rc;
	if (c->ep.fd < 0) {
		int type = c->type == WIRE_TYPE_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM;
		int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -errno;
		/* The abstract name tells the host listener which guest
		 * endpoint called; a failed bind only loses that. */
		mlen = vsk_hybrid_peer_name(&me, vm->cfg.cid, c->gport, vm->dev->nonce++);
		if (bind(fd, (struct sockaddr *)&me, mlen) < 0)
			dev_logf(vm->dev, 1, "vm %u: bind of the peer name: %s", vm->cfg.cid, strerror(errno));
		c->ep.fd = fd;
		host_sndbuf(c);
	}
	rc = dev_uds_connect(c->ep.fd, &sun);
	if (rc == -ELOOP)
		dev_logf(vm->dev, 0, "vm %u: %s is a symlink: not followed, RST to guest port %u", vm->cfg.cid,
			 sun.sun_path, c->gport);
	return rc == -EWOULDBLOCK ? -EAGAIN : rc;
}

static void established(struct dev_conn *c)
{
	c->state = CS_ESTABLISHED;
	conn_set_deadline(c, 0);
	c->vm->st.conns++;
}

static void connect_done(struct dev_conn *c, int rc)
{
	struct dev_vm *vm = c->vm;

	if (rc == -EAGAIN && c->retries++ < DEV_RETRIES) {
		c->state = CS_CONNECTING;
		conn_set_deadline(c, dev_now_ms() + DEV_RETRY_MS);
		return;
	}
	if (rc < 0) {
		dev_logf(vm->dev, 1, "vm %u: %u:%u -> host port %u: connect %s_%u: %s, RST to guest",
			 vm->cfg.cid, vm->cfg.cid, c->gport, c->hport, vm->cfg.uds, c->hport, strerror(-rc));
		dev_conn_ctl(c, WIRE_OP_RST, 0);
		dev_conn_free(c);
		return;
	}
	established(c);
	dev_logf(vm->dev, 1, "vm %u: %u:%u -> host port %u: connected to %s_%u (%s)", vm->cfg.cid,
		 vm->cfg.cid, c->gport, c->hport, vm->cfg.uds, c->hport, tname(c->type));
	dev_conn_ctl(c, WIRE_OP_RESPONSE, 0);
	dev_conn_update(c);
}

static void guest_request(struct dev_vm *vm, const struct wire_virtio *h)
{
	struct dev_conn *c = conn_new(vm, h->type);

	if (c == NULL) {
		dev_logf(vm->dev, 0, "vm %u: connection limit (%d) reached, RST", vm->cfg.cid, DEV_MAX_CONNS_VM);
		dev_send_rst_for(vm, h);
		return;
	}
	c->gport = h->src_port;
	c->hport = h->dst_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->state = CS_CONNECTING;
	conn_hash_add(c);
	connect_done(c, host_connect(c));
}

/* "OK <hostport>\n" to a host client (vsk_hybrid_reply's line), without
 * SIGPIPE if it left already and without blocking the loop: the socket is
 * fresh, so a short line always fits. */
static int reply_ok(struct dev_conn *c)
{
	char line[VSK_HYBRID_LINE_MAX];
	int n = snprintf(line, sizeof(line), "OK %u\n", c->hport);
	ssize_t r;

	do
		r = send(c->ep.fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	return r == n ? 0 : -EPIPE;
}

/* ---------------------------------------------------- guest -> device */

void dev_host_packet(struct dev_vm *vm, const struct wire_virtio *h, const struct iovec *iov,
		     unsigned n)
{
	struct dev_conn *c = conn_lookup(vm->dev, vm->cfg.cid, h->src_port, h->dst_port);

	if (c == NULL) {
		if (h->op == WIRE_OP_REQUEST)
			guest_request(vm, h);
		else
			dev_send_rst_for(vm, h);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (h->type != c->type) {
		conn_close_rst(c, "packet of the wrong type");
		return;
	}
	switch (h->op) {
	case WIRE_OP_REQUEST:
		conn_close_rst(c, "duplicate REQUEST");
		return;
	case WIRE_OP_RESPONSE:
		if (c->state != CS_WAIT_RESPONSE) {
			conn_close_rst(c, "unexpected RESPONSE");
			return;
		}
		if (reply_ok(c) < 0) {
			conn_close_rst(c, "host client gone before OK");
			return;
		}
		established(c);
		dev_logf(vm->dev, 1, "vm %u: host client -> %u:%u: connected (host port %u)", vm->cfg.cid,
			 vm->cfg.cid, c->gport, c->hport);
		break;
	case WIRE_OP_RST:
		/* Bytes gathered earlier in this batch would have been sent
		 * before the RST without gathering: best effort, send them. */
		if (c->tx_listed && c->pend_len > 0 && c->type == WIRE_TYPE_STREAM)
			(void)pend_flush(c);
		dev_logf(vm->dev, 1, "vm %u: %u:%u <-> host port %u: %s by guest (%llu bytes in, %llu out)",
			 vm->cfg.cid, vm->cfg.cid, c->gport, c->hport,
			 c->state == CS_WAIT_RESPONSE ? "refused" : "reset",
			 (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out);
		dev_conn_free(c);
		return;
	case WIRE_OP_SHUTDOWN:
		if (h->flags & WIRE_SHUTDOWN_SEND)
			c->guest_no_send = true;
		if (h->flags & WIRE_SHUTDOWN_RCV)
			c->guest_no_rcv = true;
		shutdown_check(c);
		if (c->ep.kind == EP_DEAD)
			return;
		break;
	case WIRE_OP_RW:
		if (c->state != CS_ESTABLISHED) {
			conn_close_rst(c, "data before the connection was up");
			return;
		}
		from_guest(c, h, iov, n);
		if (c->ep.kind == EP_DEAD)
			return;
		shutdown_check(c);
		if (c->ep.kind == EP_DEAD)
			return;
		break;
	case WIRE_OP_CREDIT_UPDATE:
		break; /* credit taken above */
	case WIRE_OP_CREDIT_REQUEST:
		if (c->state == CS_ESTABLISHED)
			dev_conn_ctl(c, WIRE_OP_CREDIT_UPDATE, 0);
		break;
	default:
		vm->st.drops++;
		break;
	}
	if (dev_peer_credit(c) > 0)
		c->stalled = false;
	/* A listed connection is updated once, after the batch. */
	if (!c->tx_listed)
		dev_conn_update(c);
}

/* ------------------------------------------ host-initiated connections */

void dev_uds_accept(struct dev_vm *vm)
{
	for (int i = 0; i < 16; i++) {
		struct dev_conn *c;
		int fd = accept4(vm->uds_listen.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				dev_logf(vm->dev, 0, "vm %u: accept %s: %s", vm->cfg.cid, vm->cfg.uds, strerror(errno));
			return;
		}
		if (!dev_vm_rx_ready(vm)) {
			dev_logf(vm->dev, 0, "vm %u: host client on %s closed: the guest's vsock driver is not up",
				 vm->cfg.cid, vm->cfg.uds);
			close(fd);
			continue;
		}
		c = conn_new(vm, WIRE_TYPE_STREAM);
		if (c == NULL) {
			dev_logf(vm->dev, 0, "vm %u: host client closed: connection limit reached", vm->cfg.cid);
			close(fd);
			continue;
		}
		c->host_initiated = true;
		c->state = CS_HANDSHAKE;
		c->ep.fd = fd;
		host_sndbuf(c);
		conn_set_deadline(c, dev_now_ms() + DEV_HANDSHAKE_MS);
		dev_conn_update(c);
	}
}

static uint32_t alloc_hport(struct dev_vm *vm, uint32_t gport)
{
	for (;;) {
		uint32_t p = vm->next_hport++;

		if (vm->next_hport < DEV_HPORT_FIRST || vm->next_hport == VSK_PORT_ANY)
			vm->next_hport = DEV_HPORT_FIRST;
		if (p >= DEV_HPORT_FIRST && p != VSK_PORT_ANY && !conn_lookup(vm->dev, vm->cfg.cid, gport, p))
			return p;
	}
}

/* Byte by byte, so nothing after the newline is taken from the stream. */
static void handshake_read(struct dev_conn *c)
{
	struct dev_vm *vm = c->vm;
	uint32_t port;

	for (;;) {
		char ch;
		ssize_t r = recv(c->ep.fd, &ch, 1, MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			dev_logf(vm->dev, 0, "vm %u: host client on %s closed before its CONNECT line", vm->cfg.cid,
				 vm->cfg.uds);
			dev_conn_free(c);
			return;
		}
		c->line[c->line_len++] = ch;
		if (ch == '\n')
			break;
		if (c->line_len == sizeof(c->line)) {
			dev_logf(vm->dev, 0, "vm %u: host client on %s: CONNECT line too long, closed", vm->cfg.cid,
				 vm->cfg.uds);
			dev_conn_free(c);
			return;
		}
	}
	if (vsk_hybrid_parse_connect(c->line, c->line_len, &port) < 0) {
		dev_logf(vm->dev, 0, "vm %u: host client on %s: not a CONNECT line: \"%.*s\", closed", vm->cfg.cid,
			 vm->cfg.uds, (int)strcspn(c->line, "\r\n"), c->line);
		dev_conn_free(c);
		return;
	}
	if (!dev_vm_rx_ready(vm)) {
		dev_logf(vm->dev, 0, "vm %u: host client for port %u closed: the guest's vsock driver is not up",
			 vm->cfg.cid, port);
		dev_conn_free(c);
		return;
	}
	c->gport = port;
	c->hport = alloc_hport(vm, port);
	conn_hash_add(c);
	c->state = CS_WAIT_RESPONSE;
	conn_set_deadline(c, dev_now_ms() + DEV_RESPONSE_MS);
	dev_conn_update(c);
	dev_conn_ctl(c, WIRE_OP_REQUEST, 0);
}

void dev_conn_event(struct dev_conn *c, uint32_t events)
{
	int rc;

	if (c->state == CS_HANDSHAKE) {
		handshake_read(c);
		return;
	}
	if (c->state != CS_ESTABLISHED)
		return;
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
		rc = c->pend_len > 0 ? pend_flush(c) : 0;
		if (rc < 0) {
			conn_host_gone(c, -rc, "write");
			return;
		}
		credit_maybe(c);
		shutdown_check(c);
		if (c->ep.kind == EP_DEAD)
			return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		dev_conn_pump(c);
	else
		dev_conn_update(c);
}

void dev_vm_drop_conns(struct dev_vm *vm, bool rst)
{
	while (vm->conns != NULL) {
		struct dev_conn *c = vm->conns;

		if (rst && c->state != CS_HANDSHAKE)
			dev_conn_ctl(c, WIRE_OP_RST, 0);
		dev_conn_free(c);
	}
}

void dev_timers(struct dev *d, int64_t now)
{
	for (int i = 0; i < d->nvms && d->ntimed > 0; i++) {
		struct dev_conn *c = d->vms[i]->conns, *next;

		for (; c != NULL; c = next) {
			next = c->next;
			if (!c->timed || now < c->deadline)
				continue;
			switch (c->state) {
			case CS_HANDSHAKE:
				dev_logf(d, 0, "vm %u: host client on %s sent no CONNECT line in %d ms, closed",
					 c->vm->cfg.cid, c->vm->cfg.uds, DEV_HANDSHAKE_MS);
				dev_conn_free(c);
				break;
			case CS_WAIT_RESPONSE:
				dev_logf(d, 0, "vm %u: guest port %u did not answer in %d ms, host client closed",
					 c->vm->cfg.cid, c->gport, DEV_RESPONSE_MS);
				dev_conn_ctl(c, WIRE_OP_RST, 0);
				dev_conn_free(c);
				break;
			case CS_CONNECTING:
				connect_done(c, host_connect(c));
				break;
			default:
				conn_set_deadline(c, 0);
				break;
			}
		}
	}
}
