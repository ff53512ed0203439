/* device connection internals: shared by dev_conn.c (the state machine),
 * the layers under it, dev_conn_host.c (host-initiated connections until
 * they are up), dev_conn_core.c (life, poll interest, control packets)
 * and dev_pump.c (host -> guest bytes).  Nothing else sees a struct
 * dev_conn. */
#ifndef VSK_DEV_CONN_INT_H
#define VSK_DEV_CONN_INT_H

#include <string.h>

#include "dev_backend.h"
#include "dev_conn.h"
#include "dev_conntab.h"
#include "dev_credit.h"
#include "dev_pend.h"
#include "dev_poll.h"
#include "vsk.h"

#define DEV_MAX_PKT    (64u * 1024u) /* payload per rx packet */
#define DEV_PUMP_BATCH 16            /* pump rounds per host fd wakeup */
#define DEV_RX_BYTES   (256u * 1024u) /* host -> guest bytes per readv: the
                                      * guest's whole default window, so one
                                      * syscall fills what it can take (4 KiB
                                      * buffers: 0.86x vs 0.83x the socket
                                      * alone with 64 KiB, A/B 4 runs) */

enum dev_conn_state {
	CS_HANDSHAKE,       /* host client, reading "CONNECT <port>\n" */
	CS_CONNECTING,      /* guest REQUEST, the host socket being dialed */
	CS_WAIT_RESPONSE,   /* REQUEST sent to the guest */
	CS_HOLD,            /* host client held (connect-timeout): driver not
	                     * up or refused; REQUEST again at the deadline */
	CS_ESTABLISHED,
	CS_CLOSED,          /* retired, freed at the end of the round */
};

struct dev_conn {
	struct dev_centry e;             /* first: the table's links and key */
	struct dev_vmctx *v;
	struct dev_ep ep;                /* the host socket */
	enum dev_conn_state state;
	uint16_t type;                   /* WIRE_TYPE_STREAM / SEQPACKET */
	bool host_initiated;
	int host_kind;                   /* host-initiated: enum dev_listen_kind */
	bool host_eof;                   /* host peer sent EOF (we sent SHUTDOWN) */
	bool guest_no_send, guest_no_rcv;/* the guest's SHUTDOWN flags */
	bool shut_wr_done;
	bool stalled;                    /* waiting for the guest's credit */
	bool tx_listed;                  /* in v->gathered this tx batch */
	struct dev_credit cr;
	struct dev_pend pend;            /* guest -> host bytes not yet sent */
	struct seqsend *seq;             /* AF_VSOCK SEQPACKET: sends whole messages */
	struct dev_ep sep;               /* its eventfd */
	uint32_t seq_inflight;           /* bytes of the message it sends */
	uint32_t seq_max;                /* its largest message toward the guest */
	char line[VSK_HYBRID_LINE_MAX];  /* the host client's CONNECT line */
	unsigned line_len;
	struct dev_dial *dial;           /* CS_CONNECTING: the host socket's dial */
	int64_t hold_deadline;           /* connect-timeout: held until then */
	int hold_ms, tries;              /* next wait, refusals so far */
	int64_t dial_deadline;
	uint64_t bytes_in, bytes_out;    /* payload each way, for -v */
};

/* The header of a packet of C to the guest. */
static inline void conn_hdr(const struct dev_conn *c, uint16_t op, uint32_t flags, struct wire_virtio *h)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSK_CID_HOST;
	h->dst_cid = c->v->cid;
	h->src_port = c->e.hport;
	h->dst_port = c->e.gport;
	h->type = c->type;
	h->op = op;
	h->flags = flags;
	h->buf_alloc = c->cr.buf_alloc;
	h->fwd_cnt = c->cr.fwd_cnt;
}

/* dev_conn_core.c: a connection's life, poll interest, control packets. */
struct dev_conn *conn_new(struct dev_vmctx *v, uint16_t type);
/* Every state change goes here (it counts pending host clients). */
void conn_set_state(struct dev_conn *c, enum dev_conn_state st);
/* A new connection was refused at the VM's limit: said once per burst. */
void conn_limit_reached(struct dev_vmctx *v, const char *who);
/* Our side is done: out of every list and the poll set, host socket
 * closed; the memory stays until conn_free().  Returns DEV_CLOSED. */
int conn_close(struct dev_conn *c);
/* The poll interest C's state asks for. */
void conn_update(struct dev_conn *c);
/* A payload-less packet of C to the guest; it also advertises our credit. */
void conn_ctl(struct dev_conn *c, uint16_t op, uint32_t flags);
/* Full close, our side flushed: RST completes the guest's close. */
int conn_close_rst(struct dev_conn *c, const char *why);
void conn_established(struct dev_conn *c);
const char *conn_tname(uint16_t type);

/* dev_conn_host.c: host-initiated connections before they are
 * established.  Each returns DEV_OPEN or DEV_CLOSED. */
int conn_host_handshake(struct dev_conn *c);  /* CS_HANDSHAKE: readable */
int conn_host_response(struct dev_conn *c);   /* the guest's RESPONSE */
int conn_host_timer(struct dev_conn *c);      /* a deadline of those states */
int conn_host_refused(struct dev_conn *c);    /* the guest's RST to our REQUEST */
int conn_host_hangup(struct dev_conn *c);     /* CS_HOLD: the client left */
/* The guest's driver went away: true if C, a host client the guest has
 * not accepted, waits for the driver (held again, with connect-timeout
 * time left, or still in its handshake). */
bool conn_host_wait_driver(struct dev_conn *c);

/* dev_conn_dial.c: guest-initiated connections until they are up. */
int conn_guest_request(struct dev_vmctx *v, const struct wire_virtio *h);
int conn_dial_event(struct dev_conn *c, uint32_t events);
int conn_dial_timer(struct dev_conn *c, int64_t now);

/* dev_conn_seq.c: AF_VSOCK SEQPACKET host sockets send through a
 * seqsend thread (a non-blocking send could cut a message). */
int conn_seq_attach(struct dev_conn *c);
/* Hand the next whole message of pend to the sender if it is idle:
 * 0, or -errno (out of memory). */
int conn_seq_flush(struct dev_conn *c);
/* Bytes taken by the host socket, or -errno: 1 when the sender reported. */
int conn_seq_result(struct dev_conn *c, ssize_t *sent);

/* dev_pump.c: one packet's worth of host bytes into the guest's rx ring.
 * CREDIT > 0 is what the guest can take.  Returns PUMP_* or -errno (the
 * host socket failed). */
enum {
	PUMP_MOVED = 1,    /* a packet went to the guest; more may follow */
	PUMP_AGAIN = 0,    /* the host socket has nothing now */
	PUMP_NORX = 2,     /* no rx buffers: wait for the guest */
	PUMP_EOF = 3,      /* the host side ended its sending */
	PUMP_STALL = 4,    /* a message waits for more credit */
	PUMP_TOOBIG = 5,   /* a message the guest can never take */
	PUMP_BROKEN = 6,   /* the rx ring is malformed */
};
int pump_stream(struct dev_conn *c, uint32_t credit);
int pump_seq(struct dev_conn *c, uint32_t credit);

#endif
