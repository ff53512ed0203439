/* device internals shared by lib/device.c (event loop, VMs, vhost-user
 * glue), lib/device_conn.c (virtio-vsock transport) and lib/device_rx.c
 * (the device -> guest direction).  Not installed, not exported. */
#ifndef VSK_DEVICE_INT_H
#define VSK_DEVICE_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "capture.h"
#include "device.h"
#include "vhost.h"
#include "virtq.h"
#include "vsk.h"
#include "wire.h"

#define DEV_QRX 0
#define DEV_QTX 1
#define DEV_QEV 2

#define DEV_MAX_PKT         (64u * 1024u)  /* payload per rx packet */
#define DEV_TX_BATCH        256            /* tx chains per round and VM */
#define DEV_MAX_TX_LEN      (1024u * 1024u) /* larger RW payloads are malformed */
#define DEV_TX_GATHER       2048u          /* stream RW payloads up to this are
                                            * gathered in pend, sent after the batch */
#define DEV_PUMP_BATCH      16             /* rx packets per host fd wakeup */
#define DEV_SCRATCH_ELEMS   96             /* rx chains for one seqpacket message
                                            * (the guest's 4 KiB buffers: 384 KiB) */
#define DEV_SCRATCH_IOV     1024           /* UIO_MAXIOV: one recvmsg */
#define DEV_MAX_CONNS_VM    1024
#define DEV_BACKLOG_BYTES   (16u * 1024u * 1024u)
#define DEV_BACKLOG_PKTS    65536u
#define DEV_HANDSHAKE_MS    5000
#define DEV_RESPONSE_MS     5000
#define DEV_RETRY_MS        20
#define DEV_RETRIES         50
#define DEV_HASH_SIZE       4096u          /* power of two */
#define DEV_HPORT_FIRST     0x40000000u    /* host ports of host->guest connections */

enum dev_ep_kind { EP_DEAD, EP_VU_LISTEN, EP_VU_SOCK, EP_KICK, EP_UDS_LISTEN, EP_CONN };

/* What epoll_event.data.ptr points at. */
struct dev_ep {
	enum dev_ep_kind kind;
	int fd;
	void *obj;          /* struct dev_vm or struct dev_conn */
	unsigned idx;       /* queue index for EP_KICK */
	uint32_t events;    /* interest registered (0 = not in the epoll set) */
	bool added;
};

/* A packet owned by the device, waiting for guest rx buffers. */
struct dev_pkt {
	struct dev_pkt *next;
	uint8_t hdr[WIRE_VIRTIO_HDR_LEN];
	uint32_t len;       /* payload bytes */
	uint32_t off;       /* payload bytes already delivered (split RW) */
	uint8_t data[];
};

enum dev_conn_state {
	CS_HANDSHAKE,       /* host client, reading "CONNECT <port>\n" */
	CS_CONNECTING,      /* guest REQUEST, connect() to <uds>_P to retry */
	CS_WAIT_RESPONSE,   /* REQUEST sent to the guest */
	CS_ESTABLISHED,
};

struct dev_conn {
	struct dev_conn *hnext;          /* hash chain */
	struct dev_conn *next, *prev;    /* VM's list */
	struct dev_conn *dnext;          /* graveyard */
	struct dev_vm *vm;
	struct dev_ep ep;
	enum dev_conn_state state;
	uint16_t type;                   /* WIRE_TYPE_STREAM / SEQPACKET */
	bool host_initiated, hashed, timed;
	uint32_t gport, hport;           /* guest-side and host-side ports */

	bool host_eof;                   /* Unix peer sent EOF (we sent SHUTDOWN) */
	bool guest_no_send, guest_no_rcv;/* guest's SHUTDOWN flags */
	bool shut_wr_done;
	bool stalled;                    /* waiting for the guest's credit */
	bool rx_wait;                    /* waiting for guest rx buffers */
	bool tx_listed;                  /* in vm->tx_gathered this tx batch */

	/* Credit: the guest's receive window and ours. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint32_t buf_alloc, rx_cnt, fwd_cnt, fwd_adv;

	/* Guest -> host bytes the Unix socket did not take yet (<= buf_alloc,
	 * which the guest's credit guarantees).  SEQPACKET: messages framed as
	 * le32 length + bytes; an unfinished one (no EOM yet) at the tail. */
	uint8_t *pend;
	uint32_t pend_off, pend_len, pend_cap;
	bool seq_open;                   /* unfinished message at the tail */
	uint32_t seq_hdr;                /* its length field's offset */

	char line[VSK_HYBRID_LINE_MAX];
	unsigned line_len;
	int64_t deadline;                /* ms, CLOCK_MONOTONIC; 0 = none */
	int retries;
	uint64_t bytes_in, bytes_out;    /* this connection's payload, for -v */
};

struct dev_vm {
	struct dev *dev;
	struct dev_vm_cfg cfg;
	struct dev_ep vu_listen, vu_sock, kick[VU_MAX_QUEUES], uds_listen;
	struct vu_dev vu;
	bool vu_active;
	bool attached;                   /* test hook queues */
	struct vq *q[VU_MAX_QUEUES];
	bool ready[VU_MAX_QUEUES];
	bool dirty[VU_MAX_QUEUES];       /* pushed since the last notify */
	bool rx_starved;                 /* popped an empty rx ring */
	bool rx_kicked;                  /* rx buffers arrived: retry waiters */
	bool tx_more;                    /* tx work left over for next round */
	/* Connections with small payloads gathered in pend during the current
	 * tx batch (at most one entry per packet); NULL once freed. */
	struct dev_conn *tx_gathered[DEV_TX_BATCH];
	unsigned ntx_gathered;
	bool reset_event;                /* TRANSPORT_RESET owed to the guest */
	bool broken_logged;
	struct dev_conn *conns;
	unsigned nconns;
	struct dev_pkt *bl_head, *bl_tail;
	size_t bl_bytes;
	unsigned bl_count;
	uint32_t next_hport;
	struct dev_stats st;
};

struct dev {
	int ep;
	dev_log_fn log;
	void *logarg;
	struct dev_vm *vms[DEV_MAX_VMS];
	int nvms;
	struct dev_conn *htab[DEV_HASH_SIZE];
	struct dev_conn *grave;
	unsigned ntimed;
	unsigned sock_mode;              /* of the socket files we create */
	struct capture_writer *pcap;
	bool pcap_dirty;
	uint64_t nonce;
	int64_t last_timers;
	struct vq_elem txe;              /* the tx chain being handled */
	struct vq_elem scratch[DEV_SCRATCH_ELEMS]; /* rx chains */
	struct iovec siov[DEV_SCRATCH_IOV];
};

/* device.c */
/* Handle up to DEV_TX_BATCH chains of the VM's tx queue. */
void dev_tx_process(struct dev_vm *vm);
void dev_logf(struct dev *d, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int64_t dev_now_ms(void);
int dev_ep_set(struct dev *d, struct dev_ep *e, uint32_t events);
void dev_ep_del(struct dev *d, struct dev_ep *e);
void dev_tap(struct dev *d, const uint8_t *hdr, const struct iovec *iov, int n);
struct dev_vm *dev_vm_by_cid(struct dev *d, uint64_t cid);
bool dev_vm_same_group(const struct dev_vm *a, const struct dev_vm *b);
bool dev_vm_rx_ready(const struct dev_vm *vm);
void dev_vm_broken(struct dev_vm *vm, unsigned qidx);

/* device_path.c: host-side socket paths */
/* "<uds>_<port>" into *SUN: 0, or -ENAMETOOLONG (never a truncated name). */
int dev_uds_port_path(const struct dev_vm *vm, uint32_t port, struct sockaddr_un *sun);
/* connect() FD to SUN without following a symlink at its last component:
 * 0, -ELOOP (a symlink), -ECONNREFUSED (not a socket), or connect's -errno. */
int dev_uds_connect(int fd, const struct sockaddr_un *sun);

/* device_conn.c: guest -> device, the connection table, host sockets */
/* A guest packet for the host (dst_cid 2), from the tx queue. */
void dev_host_packet(struct dev_vm *vm, const struct wire_virtio *h, const struct iovec *iov, unsigned n);
/* End of a tx batch: send the small payloads gathered per connection. */
void dev_tx_flush_gathered(struct dev_vm *vm);
void dev_conn_event(struct dev_conn *c, uint32_t events);
void dev_uds_accept(struct dev_vm *vm);
void dev_vm_drop_conns(struct dev_vm *vm, bool rst);
void dev_timers(struct dev *d, int64_t now);
void dev_conn_free(struct dev_conn *c);
void dev_conn_update(struct dev_conn *c);

/* device_rx.c: device -> guest */
void dev_hdr_for(const struct dev_conn *c, uint16_t op, uint32_t flags, struct wire_virtio *h);
/* Queue or deliver a payload-less packet (RESPONSE, RST, ...). */
void dev_send_ctl(struct dev_vm *vm, const struct wire_virtio *h);
/* Same for a host connection: fills the header, advertises credit. */
void dev_conn_ctl(struct dev_conn *c, uint16_t op, uint32_t flags);
/* Answer packet H (from VM) with RST, unless it is an RST. */
void dev_send_rst_for(struct dev_vm *vm, const struct wire_virtio *h);
/* Queue a packet with payload (sibling traffic). */
void dev_send_copy(struct dev_vm *vm, const uint8_t *hdr, const struct iovec *iov, unsigned n,
		   uint32_t len);
/* Deliver queued packets; true when the backlog is empty. */
bool dev_backlog_flush(struct dev_vm *vm);
void dev_backlog_clear(struct dev_vm *vm);
/* Move host bytes of C into guest rx buffers while credit and buffers last. */
void dev_conn_pump(struct dev_conn *c);
/* Sub-range [off, off+len) of IOV into OUT (at most MAX entries). */
unsigned dev_iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len,
		       struct iovec *out, unsigned max);
/* Bytes the guest can still take on C. */
uint32_t dev_peer_credit(const struct dev_conn *c);
/* rx buffers ran out: remember C, stop reading its socket. */
void dev_rx_wait(struct dev_conn *c);
/* rx buffers arrived: flush backlog, wake waiters. */
void dev_rx_kick(struct dev_vm *vm);
/* Post VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue if usable. */
void dev_post_reset_event(struct dev_vm *vm);

#endif
