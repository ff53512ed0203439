/* A vhost-user front end for tests (what QEMU does for
 * vhost-user-vsock-pci), over a real Unix socket to a `vsk device` running
 * in another thread: messages with SCM_RIGHTS fds, replies with a timeout,
 * guest memory in a memfd with the rx and tx rings in it.  Every call
 * returns -errno on failure (no asserts: usable from any thread). */
#ifndef HELPER_FRONTEND_H
#define HELPER_FRONTEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Request codes (vhost-user.rst). */
enum {
	FE_GET_FEATURES = 1, FE_SET_FEATURES = 2, FE_SET_OWNER = 3, FE_SET_MEM_TABLE = 5,
	FE_SET_LOG_BASE = 6, FE_SET_VRING_NUM = 8, FE_SET_VRING_ADDR = 9, FE_SET_VRING_BASE = 10,
	FE_GET_VRING_BASE = 11, FE_SET_VRING_KICK = 12, FE_SET_VRING_CALL = 13,
	FE_GET_PROTOCOL_FEATURES = 15, FE_SET_PROTOCOL_FEATURES = 16, FE_GET_QUEUE_NUM = 17,
	FE_SET_VRING_ENABLE = 18, FE_GET_CONFIG = 24, FE_GET_INFLIGHT_FD = 31,
	FE_GET_MAX_MEM_SLOTS = 36, FE_ADD_MEM_REG = 37, FE_REM_MEM_REG = 38,
};

#define FE_RING(q)   (0x8000ull * (q))  /* gpa of ring q's desc; avail +0x1000, used +0x2000 */
#define FE_NUM       8                  /* ring size */

struct fe {
	int fd;                 /* connected to the device's vhost-user socket */
	int timeout_ms;         /* for each reply */
	int kick[2], call[2];   /* eventfds of rings 0 (rx) and 1 (tx) */
	uint64_t qva;           /* front-end address of gpa 0 */
};

/* Connect to PATH (retried for up to a second). */
int fe_connect(struct fe *f, const char *path);
void fe_close(struct fe *f);
#define FE_MAX_FDS 16
/* One sendmsg of LEN bytes of BUF on FD with NFDS fds (SCM_RIGHTS), as
 * they are (a test may send a lying header): bytes sent, or -errno. */
ssize_t fe_sendmsg(int fd, const void *buf, size_t len, const int *fds, unsigned nfds);
int fe_send(struct fe *f, uint32_t req, uint32_t flags, const void *payload, uint32_t size, const int *fds,
	    unsigned nfds);
/* One reply to REQ: its payload size, or -ETIMEDOUT / -ECONNRESET / -EPROTO. */
int fe_recv(struct fe *f, uint32_t req, void *out, size_t outlen);
/* REQ with NEED_REPLY: 0 and *ACK (0 = accepted), or -errno. */
int fe_ack(struct fe *f, uint32_t req, const void *payload, uint32_t size, const int *fds, unsigned nfds,
	   uint64_t *ack);
/* A GET_* request answered by a u64. */
int fe_get_u64(struct fe *f, uint32_t req, uint64_t *v);
/* Ack helpers for common payloads: the ack value (0 accepted), or
 * UINT64_MAX when no ack came (timeout, EOF). */
uint64_t fe_state(struct fe *f, uint32_t req, uint32_t idx, uint32_t num);
uint64_t fe_u64(struct fe *f, uint32_t req, uint64_t v);
uint64_t fe_vring_fd(struct fe *f, uint32_t req, uint32_t idx, int fd);
uint64_t fe_addr(struct fe *f, uint32_t idx, uint64_t desc_qva, uint64_t avail_qva, uint64_t used_qva);
/* One 32-byte region description. */
void fe_region(uint8_t raw[32], uint64_t gpa, uint64_t size, uint64_t qva, uint64_t off);
/* SET_MEM_TABLE with one region [0, SIZE) of FD at f->qva. */
uint64_t fe_mem_table(struct fe *f, int fd, uint64_t size);
/* ADD_MEM_REG / REM_MEM_REG of one region. */
uint64_t fe_mem_reg(struct fe *f, uint32_t req, int fd, uint64_t gpa, uint64_t size, uint64_t qva, uint64_t off);
/* Negotiate (protocol features with REPLY_ACK), SET_OWNER, SET_FEATURES. */
int fe_negotiate(struct fe *f);
/* Rings 0 and 1 (FE_NUM entries at FE_RING(q) + f->qva), kick/call
 * eventfds, enabled. */
int fe_rings(struct fe *f);
/* fe_negotiate, fe_mem_table (FD, SIZE), fe_rings. */
int fe_start(struct fe *f, int fd, uint64_t size);
/* GET_FEATURES round trip in ms (-1 if no reply within f->timeout_ms). */
double fe_rtt_ms(struct fe *f);

#endif
