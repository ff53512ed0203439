/* device credit: virtio-vsock flow control of one connection (virtio spec
 * 5.10.6.3), both directions, as plain arithmetic.  Counters wrap at 2^32
 * like the guest's, so every difference is taken unsigned. */
#ifndef VSK_DEV_CREDIT_H
#define VSK_DEV_CREDIT_H

#include <stdbool.h>
#include <stdint.h>

struct dev_credit {
	/* Device -> guest: the guest's window and what we sent into it. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* Guest -> device: our window.  rx_cnt = bytes the guest sent,
	 * fwd_cnt = bytes handed to the host socket, fwd_adv = the fwd_cnt
	 * the guest was last told. */
	uint32_t buf_alloc, rx_cnt, fwd_cnt, fwd_adv;
};

/* Every guest packet carries its current window. */
static inline void credit_from_peer(struct dev_credit *c, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	c->peer_buf_alloc = buf_alloc;
	c->peer_fwd_cnt = fwd_cnt;
}

/* Bytes the guest can still take. */
static inline uint32_t credit_peer_room(const struct dev_credit *c)
{
	uint32_t inflight = c->tx_cnt - c->peer_fwd_cnt;

	/* A guest that lowers buf_alloc below what is in flight has no room. */
	if (inflight >= c->peer_buf_alloc)
		return 0;
	return c->peer_buf_alloc - inflight;
}

/* May the guest send LEN more bytes (our buffer not yet handed on)? */
static inline bool credit_guest_may_send(const struct dev_credit *c, uint32_t len)
{
	uint32_t inflight = c->rx_cnt - c->fwd_cnt;

	return inflight <= c->buf_alloc && len <= c->buf_alloc - inflight;
}

/* The guest's view of our free space is low and we have freed some: time
 * for a CREDIT_UPDATE (the kernel's own rule of thumb, half the buffer). */
static inline bool credit_update_due(const struct dev_credit *c)
{
	uint32_t used = c->rx_cnt - c->fwd_adv;

	return c->fwd_cnt != c->fwd_adv && (used > c->buf_alloc || c->buf_alloc - used < c->buf_alloc / 2);
}

#endif
