/* vhost-user internals shared by the back end's files, bottom up:
 *   vhost_core.c  request names, failures, ring readiness, payload checks
 *   vhost_io.c    framing: incremental reads and writes, deadlines
 *   vhost_mem.c   memory-table handlers (SET_MEM_TABLE, ADD/REM_MEM_REG)
 *   vhost_ring.c  vring handlers (NUM, ADDR, BASE, KICK/CALL/ERR, ENABLE)
 *   vhost.c       the dispatcher, feature/config handlers, init and close
 * Each file uses only the ones above it in this list.  Not installed. */
#ifndef VSK_VHOST_INT_H
#define VSK_VHOST_INT_H

#include <endian.h>
#include <string.h>

#include "vhost.h"

/* Request codes (vhost-user.rst "Front-end message types"), one list
 * for both the enum and the name table. */
#define VU_REQUESTS(X) \
	X(GET_FEATURES, 1) X(SET_FEATURES, 2) X(SET_OWNER, 3) X(RESET_OWNER, 4) \
	X(SET_MEM_TABLE, 5) X(SET_LOG_BASE, 6) X(SET_LOG_FD, 7) X(SET_VRING_NUM, 8) \
	X(SET_VRING_ADDR, 9) X(SET_VRING_BASE, 10) X(GET_VRING_BASE, 11) \
	X(SET_VRING_KICK, 12) X(SET_VRING_CALL, 13) X(SET_VRING_ERR, 14) \
	X(GET_PROTOCOL_FEATURES, 15) X(SET_PROTOCOL_FEATURES, 16) X(GET_QUEUE_NUM, 17) \
	X(SET_VRING_ENABLE, 18) X(SEND_RARP, 19) X(NET_SET_MTU, 20) \
	X(SET_BACKEND_REQ_FD, 21) X(IOTLB_MSG, 22) X(SET_VRING_ENDIAN, 23) X(GET_CONFIG, 24) \
	X(SET_CONFIG, 25) X(CREATE_CRYPTO_SESSION, 26) X(CLOSE_CRYPTO_SESSION, 27) \
	X(POSTCOPY_ADVISE, 28) X(POSTCOPY_LISTEN, 29) X(POSTCOPY_END, 30) \
	X(GET_INFLIGHT_FD, 31) X(SET_INFLIGHT_FD, 32) X(GPU_SET_SOCKET, 33) \
	X(RESET_DEVICE, 34) X(VRING_KICK, 35) X(GET_MAX_MEM_SLOTS, 36) X(ADD_MEM_REG, 37) \
	X(REM_MEM_REG, 38) X(SET_STATUS, 39) X(GET_STATUS, 40)

#define VU_REQ_ENUM(name, val) VU_##name = val,
enum { VU_REQUESTS(VU_REQ_ENUM) };

#define VU_VERSION      0x1u
#define VU_VERSION_MASK 0x3u
#define VU_FLAG_REPLY   0x4u
#define VU_FLAG_NEED_REPLY 0x8u
#define VU_REGION_SIZE 32u   /* gpa, size, qva, mmap_offset: le64 each */

/* One received message as the handlers see it: views into d->io. */
struct vu_msg {
	uint32_t request, flags, size;
	const uint8_t *payload;    /* size bytes */
	int *fds;                  /* nfds fds; a handler keeping fds[i] sets it
	                            * to -1, the dispatcher closes the rest */
	unsigned nfds;
	bool fds_truncated;
	uint8_t *reply;            /* room for a VU_MAX_PAYLOAD reply payload */
	uint32_t reply_size;
};

static inline uint32_t vu_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static inline uint64_t vu_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static inline void vu_put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static inline void vu_put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

/* vhost_core.c */
/* Record a problem in d->errmsg, count it, pass it to ops->log; -ERR. */
int vu_fail(struct vu_dev *d, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void vu_close_fd(int *fd);
bool vu_has_protocol_feature(const struct vu_dev *d, unsigned bit);
/* Fire queue_started/queue_stopped on a change of readiness. */
void vu_set_ready(struct vu_dev *d, unsigned i, bool ready);
/* Ready = started && enabled && kick fd && rings mapped && not broken. */
void vu_update_ready(struct vu_dev *d, unsigned i);
/* Payload exactly SIZE bytes with exactly NFDS fds, else a failure. */
int vu_need_size(struct vu_dev *d, const struct vu_msg *m, uint32_t size, unsigned nfds);
/* Ring index IDX checked against d->nqueues: IDX or a failure. */
int vu_ring_index(struct vu_dev *d, const struct vu_msg *m, uint32_t idx);
/* Reply with one u64: returns 1 (a handler's "reply in m->reply"). */
int vu_reply_u64(struct vu_msg *m, uint64_t v);
int64_t vu_clock_ms(void);

/* vhost_io.c */
/* Read what is there of the current message: 1 = a whole message is in
 * d->io (header checked), -EAGAIN = not yet, -errno = framing broken. */
int vu_io_recv(struct vu_dev *d);
/* The message in d->io as the handlers see it. */
void vu_io_msg(struct vu_dev *d, struct vu_msg *m);
/* Close the fds nobody took and start on the next message. */
void vu_io_msg_done(struct vu_dev *d);
/* Send the SIZE-byte reply payload already at m->reply for REQUEST; what
 * the socket does not take waits (vu_want_write).  0 or -errno. */
int vu_io_reply(struct vu_dev *d, uint32_t request, uint32_t size);
/* Forget any message under way and any waiting reply (fds closed). */
void vu_io_reset(struct vu_dev *d);

/* Handlers (vhost_mem.c, vhost_ring.c): 1 = reply in m->reply, 0 = done,
 * -errno = rejected (d->errmsg says why). */
int vu_set_mem_table(struct vu_dev *d, struct vu_msg *m);
int vu_add_mem_reg(struct vu_dev *d, struct vu_msg *m);
int vu_rem_mem_reg(struct vu_dev *d, struct vu_msg *m);
int vu_get_max_mem_slots(struct vu_dev *d, struct vu_msg *m);
int vu_set_vring_num(struct vu_dev *d, struct vu_msg *m);
int vu_set_vring_addr(struct vu_dev *d, struct vu_msg *m);
int vu_set_vring_base(struct vu_dev *d, struct vu_msg *m);
int vu_get_vring_base(struct vu_dev *d, struct vu_msg *m);
int vu_set_vring_kick(struct vu_dev *d, struct vu_msg *m);
int vu_set_vring_call(struct vu_dev *d, struct vu_msg *m);
int vu_set_vring_err(struct vu_dev *d, struct vu_msg *m);
int vu_set_vring_enable(struct vu_dev *d, struct vu_msg *m);

/* vhost_ring.c: 1 if eventfd FD counts in semaphore mode, 0 if not,
 * -errno.  From /proc/self/fdinfo ("eventfd-semaphore:", which newer
 * kernels print: 6.18 here); without that line (older kernels) by its
 * behaviour when PROBE is set, else 0 (unknown, accepted). */
int vu_eventfd_semaphore(int fd, bool probe);
/* The behavioural test alone: a read of a semaphore eventfd returns 1,
 * a normal one returns its whole count, so after adding 2 a read tells
 * them apart.  Consumes pending events (of a kick fd: harmless, a
 * started queue is looked at anyway). */
int vu_eventfd_probe_semaphore(int fd);

#endif
