/* wire: on-the-wire layouts of vsock capture records (internal to libvsk).
 *
 * A vsockmon capture record (LINKTYPE_VSOCK, 271) is
 *     af_vsockmon_hdr (32 bytes) | transport header (mon.len bytes) | payload
 * and for the virtio transport the transport header is the 44-byte
 * virtio_vsock_hdr.  All fields are little-endian.
 *
 * The structs below are byte arrays, so they have no padding and no
 * alignment needs and can be overlaid on untrusted buffers only after a
 * length check; the decode functions do that check.  No libpcap here:
 * `vsk device` uses this module too.
 */
#ifndef VSK_WIRE_H
#define VSK_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_LINKTYPE_VSOCK   271u
#define WIRE_MON_HDR_LEN      32u
#define WIRE_VIRTIO_HDR_LEN   44u

/* af_vsockmon_hdr as bytes. */
struct wire_mon_hdr {
	uint8_t src_cid[8];
	uint8_t dst_cid[8];
	uint8_t src_port[4];
	uint8_t dst_port[4];
	uint8_t op[2];
	uint8_t transport[2];
	uint8_t len[2];        /* length of the transport header that follows */
	uint8_t reserved[2];
};

/* virtio_vsock_hdr as bytes. */
struct wire_virtio_hdr {
	uint8_t src_cid[8];
	uint8_t dst_cid[8];
	uint8_t src_port[4];
	uint8_t dst_port[4];
	uint8_t len[4];        /* payload bytes that follow */
	uint8_t type[2];
	uint8_t op[2];
	uint8_t flags[4];
	uint8_t buf_alloc[4];
	uint8_t fwd_cnt[4];
};

_Static_assert(sizeof(struct wire_mon_hdr) == WIRE_MON_HDR_LEN, "af_vsockmon_hdr is 32 bytes");
_Static_assert(sizeof(struct wire_virtio_hdr) == WIRE_VIRTIO_HDR_LEN, "virtio_vsock_hdr is 44 bytes");

/* af_vsockmon_hdr.op */
enum {
	WIRE_MON_OP_UNKNOWN = 0,
	WIRE_MON_OP_CONNECT = 1,
	WIRE_MON_OP_DISCONNECT = 2,
	WIRE_MON_OP_CONTROL = 3,
	WIRE_MON_OP_PAYLOAD = 4,
};
/* af_vsockmon_hdr.transport */
enum {
	WIRE_TRANSPORT_UNKNOWN = 0,
	WIRE_TRANSPORT_NO_INFO = 1,
	WIRE_TRANSPORT_VIRTIO = 2,
};
/* virtio_vsock_hdr.type */
enum {
	WIRE_TYPE_STREAM = 1,
	WIRE_TYPE_SEQPACKET = 2,
	WIRE_TYPE_DGRAM = 3,
};
/* virtio_vsock_hdr.op */
enum {
	WIRE_OP_INVALID = 0,
	WIRE_OP_REQUEST = 1,
	WIRE_OP_RESPONSE = 2,
	WIRE_OP_RST = 3,
	WIRE_OP_SHUTDOWN = 4,
	WIRE_OP_RW = 5,
	WIRE_OP_CREDIT_UPDATE = 6,
	WIRE_OP_CREDIT_REQUEST = 7,
};
/* virtio_vsock_hdr.flags: meaning depends on op (and type). */
enum {
	WIRE_SHUTDOWN_RCV = 1,  /* op SHUTDOWN */
	WIRE_SHUTDOWN_SEND = 2,
	WIRE_SEQ_EOM = 1,       /* op RW, type SEQPACKET */
	WIRE_SEQ_EOR = 2,
};

/* Host-order views of the two headers. */
struct wire_mon {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint16_t op, transport, len;
};

struct wire_virtio {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

/* ------------------------------------------------------------ accessors */

/* Unchecked little-endian loads/stores on fixed-size struct fields (the
 * array size is the bound).  Use the checked variants for offsets. */
static inline uint16_t wire_le16(const uint8_t p[2])
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t wire_le32(const uint8_t p[4])
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t wire_le64(const uint8_t p[8])
{
	return (uint64_t)wire_le32(p) | (uint64_t)wire_le32(p + 4) << 32;
}
static inline void wire_st16(uint8_t p[2], uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void wire_st32(uint8_t p[4], uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void wire_st64(uint8_t p[8], uint64_t v)
{
	wire_st32(p, (uint32_t)v);
	wire_st32(p + 4, (uint32_t)(v >> 32));
}

/* Bounds-checked: read/write at OFF in a buffer of LEN bytes.  Return 0, or
 * -EMSGSIZE if OFF+width exceeds LEN (nothing read or written then). */
int wire_get_le16(const void *buf, size_t len, size_t off, uint16_t *v);
int wire_get_le32(const void *buf, size_t len, size_t off, uint32_t *v);
int wire_get_le64(const void *buf, size_t len, size_t off, uint64_t *v);
int wire_put_le16(void *buf, size_t len, size_t off, uint16_t v);
int wire_put_le32(void *buf, size_t len, size_t off, uint32_t v);
int wire_put_le64(void *buf, size_t len, size_t off, uint64_t v);

/* ---------------------------------------------------- header en/decoding */

/* Decode from BUF of LEN bytes; -EMSGSIZE if LEN is shorter than the header. */
int wire_mon_decode(const void *buf, size_t len, struct wire_mon *m);
int wire_virtio_decode(const void *buf, size_t len, struct wire_virtio *h);
/* Encode into BUF of LEN bytes; return the header length or -EMSGSIZE.
 * The vsockmon reserved bytes are written as zero. */
int wire_mon_encode(const struct wire_mon *m, void *buf, size_t len);
int wire_virtio_encode(const struct wire_virtio *h, void *buf, size_t len);

/* The vsockmon op the kernel records for a virtio op
 * (virtio_transport_build_skb): REQUEST/RESPONSE -> CONNECT,
 * RST/SHUTDOWN -> DISCONNECT, RW -> PAYLOAD, CREDIT_* -> CONTROL,
 * anything else -> UNKNOWN. */
uint16_t wire_mon_op_of(uint16_t virtio_op);
/* Fill *M as vsockmon does for virtio header H: addresses copied, op mapped,
 * transport VIRTIO, len 44. */
void wire_mon_from_virtio(const struct wire_virtio *h, struct wire_mon *m);

/* ------------------------------------------------------------- records */

/* One capture record split into its parts.  Every pointer points into the
 * caller's buffer and every length is clamped to what was captured. */
struct wire_rec {
	struct wire_mon mon;
	struct wire_virtio virtio;
	bool has_mon;          /* the 32-byte vsockmon header was captured */
	bool has_virtio;       /* transport VIRTIO and its 44 bytes captured */
	bool truncated;        /* something the headers promise is missing */
	const uint8_t *thdr;   /* transport header as captured */
	size_t thdr_len;
	const uint8_t *payload;/* bytes after the transport header */
	size_t payload_len;
};

/* Split a captured record of CAPLEN bytes.  Never fails: whatever is
 * missing is reported through has_* / truncated.  Returns 0. */
int wire_rec_parse(const uint8_t *buf, size_t caplen, struct wire_rec *r);

/* ---------------------------------------------------------- name tables */

struct wire_name {
	uint32_t val;
	const char *name;
};
/* Tables end with { 0, NULL }. */
extern const struct wire_name wire_mon_ops[];     /* CONNECT ... (tcpdump's words) */
extern const struct wire_name wire_transports[];  /* UNKNOWN, NO_INFO, VIRTIO */
extern const struct wire_name wire_types[];       /* STREAM, SEQPACKET, DGRAM */
extern const struct wire_name wire_ops[];         /* INVALID, REQUEST ... CREDIT_REQUEST */

/* Name of VAL in T, or NULL. */
const char *wire_name(const struct wire_name *t, uint32_t val);
/* Name of VAL in T, or "unknown (VAL)" written into BUF. */
const char *wire_name_or(const struct wire_name *t, uint32_t val, char *buf, size_t len);
/* Case-insensitive NAME -> value; 0 or -ENOENT. */
int wire_name_lookup(const struct wire_name *t, const char *name, uint32_t *val);
/* Flags decoded for this op/type: "RCV|SEND", "EOM|EOR", "none", with
 * unknown bits appended as "0x..".  Returns BUF. */
const char *wire_flags_str(uint16_t op, uint16_t type, uint32_t flags, char *buf, size_t len);

#endif /* VSK_WIRE_H */
