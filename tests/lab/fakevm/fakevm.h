/* fakevm: shared parts (see main.c). */
#ifndef FAKEVM_H
#define FAKEVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QN        256u
#define MEMSZ     (8u << 20)
#define UADDR     0x100000000ull      /* the "QEMU address" of guest memory */
#define RXBUF     0x10000ul           /* QN rx buffers of RXLEN */
#define RXLEN     4096u
#define TXHDR     0x120000ul          /* NTX headers, 64 bytes apart */
#define TXPAY     0x130000ul          /* NTX payloads of TXPAYLEN */
#define TXPAYLEN  32768u
#define NTX       (QN / 2)
#define EVBUF     0x600000ul
#define HDR       44u
#define GBUF      (256u * 1024u)      /* our buf_alloc, Linux's default */

enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQUEST };
enum { T_STREAM = 1, T_SEQ = 2 };
#define F_EOM 1u
#define SHUT_RCV_F 1u
#define SHUT_SEND_F 2u
#define FNV0 0xcbf29ce484222325ull

struct conn {
	bool used, up, reset, peer_shut_send, peer_shut_rcv, listening_side;
	uint16_t type;
	uint32_t lport, rport;
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint32_t fwd_cnt, fwd_adv;
	uint64_t rx_bytes, rx_hash;
	/* SEQPACKET: messages as they arrive */
	uint64_t msg_len, msg_hash;
	unsigned nmsg;
	uint64_t msg_lens[64], msg_hashes[64];
	/* the listening side (h2g): bytes received, not yet echoed */
	uint8_t *echo;
	size_t echo_len, echo_cap;
	unsigned credit_updates;
};

/* A host program on a thread of its own (host.c). */
struct host {
	int lfd, fd;
	int type;
	uint32_t port;
	uint64_t bytes, hash;
	unsigned nmsg;
	uint64_t msg_lens[64], msg_hashes[64];
	bool truncated, done, ok_eof;
	char err[160];
	uint64_t want;        /* h2g: bytes to send */
	uint32_t local_port;  /* h2g: the client's own port */
};

/* guest.c: the front end and the driver. */
extern const char *test;
extern uint32_t cid;
extern struct conn conns[8];
extern uint32_t listen_port; /* h2g: the guest listens here */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
double now(void);
uint8_t pat(uint64_t i);
uint64_t fnv(uint64_t h, const uint8_t *p, size_t n);
void vu_setup(const char *path);
void tx(struct conn *c, uint16_t op, uint32_t flags, const uint8_t *p, uint32_t len);
uint32_t credit(const struct conn *c);
/* Wait up to MS for the device, then take what it did. */
void drive(int ms);
void send_bytes(struct conn *c, const uint8_t *p, size_t len, double deadline);
struct conn *connect_to(uint16_t type, uint32_t port, double deadline);
void full_close(struct conn *c, double deadline);

/* host.c */
int vsock_listen(int type, uint32_t port);
void *host_echo(void *arg);
void *host_seq(void *arg);
void *host_client(void *arg);
void host_start(struct host *h, void *(*fn)(void *));
void host_wait(struct host *h, double deadline);

#endif
