/* Unit tests for lib/dump/wire.c: byte layouts, bounds checks, op mapping,
 * record splitting on hostile lengths, name tables. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "wire.h"

static void test_le_roundtrip(void **state)
{
	uint8_t b[16];
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	memset(b, 0, sizeof(b));
	assert_int_equal(wire_put_le16(b, sizeof(b), 0, 0x1234), 0);
	assert_int_equal(b[0], 0x34);
	assert_int_equal(b[1], 0x12);
	assert_int_equal(wire_put_le32(b, sizeof(b), 2, 0xa1b2c3d4u), 0);
	assert_int_equal(b[2], 0xd4);
	assert_int_equal(b[5], 0xa1);
	assert_int_equal(wire_put_le64(b, sizeof(b), 8, 0x0102030405060708ull), 0);
	assert_int_equal(b[8], 0x08);
	assert_int_equal(b[15], 0x01);
	assert_int_equal(wire_get_le16(b, sizeof(b), 0, &v16), 0);
	assert_int_equal(v16, 0x1234);
	assert_int_equal(wire_get_le32(b, sizeof(b), 2, &v32), 0);
	assert_int_equal(v32, 0xa1b2c3d4u);
	assert_int_equal(wire_get_le64(b, sizeof(b), 8, &v64), 0);
	assert_true(v64 == 0x0102030405060708ull);
}

static void test_le_bounds(void **state)
{
	uint8_t b[8] = { 0 };
	uint16_t v16 = 7;
	uint32_t v32 = 7;
	uint64_t v64 = 7;

	/* Last valid offsets work, one past fails, and nothing is touched. */
	assert_int_equal(wire_get_le16(b, 8, 6, &v16), 0);
	assert_int_equal(wire_get_le16(b, 8, 7, &v16), -EMSGSIZE);
	assert_int_equal(wire_get_le32(b, 8, 5, &v32), -EMSGSIZE);
	assert_int_equal(v32, 7);
	assert_int_equal(wire_get_le64(b, 7, 0, &v64), -EMSGSIZE);
	assert_true(v64 == 7);
	/* Offsets near SIZE_MAX must not wrap around. */
	assert_int_equal(wire_get_le32(b, 8, SIZE_MAX - 1, &v32), -EMSGSIZE);
	assert_int_equal(wire_put_le64(b, 8, SIZE_MAX, 1), -EMSGSIZE);
	assert_int_equal(wire_put_le16(b, 0, 0, 1), -EMSGSIZE);
	for (int i = 0; i < 8; i++)
		assert_int_equal(b[i], 0);
}

static void test_virtio_layout(void **state)
{
	struct wire_virtio h = {
		.src_cid = 3, .dst_cid = 2, .src_port = 0x11223344, .dst_port = 4050,
		.len = 5, .type = WIRE_TYPE_SEQPACKET, .op = WIRE_OP_RW,
		.flags = WIRE_SEQ_EOM | WIRE_SEQ_EOR, .buf_alloc = 262144, .fwd_cnt = 99,
	};
	struct wire_virtio d;
	uint8_t b[WIRE_VIRTIO_HDR_LEN];

	assert_int_equal(wire_virtio_encode(&h, b, sizeof(b) - 1), -EMSGSIZE);
	assert_int_equal(wire_virtio_encode(&h, b, sizeof(b)), 44);
	/* Offsets from the virtio spec. */
	assert_int_equal(b[0], 3);
	assert_int_equal(b[8], 2);
	assert_int_equal(b[16], 0x44);
	assert_int_equal(b[20], 0xd2); /* 4050 = 0x0fd2 */
	assert_int_equal(b[24], 5);    /* len */
	assert_int_equal(b[28], 2);    /* type */
	assert_int_equal(b[30], 5);    /* op */
	assert_int_equal(b[32], 3);    /* flags */
	assert_int_equal(b[38], 4);    /* buf_alloc 0x40000 */
	assert_int_equal(b[40], 99);   /* fwd_cnt */
	assert_int_equal(wire_virtio_decode(b, 43, &d), -EMSGSIZE);
	assert_int_equal(wire_virtio_decode(b, 44, &d), 0);
	/* Field by field: the struct has padding memcmp would look at. */
	assert_true(d.src_cid == h.src_cid && d.dst_cid == h.dst_cid);
	assert_int_equal(d.src_port, h.src_port);
	assert_int_equal(d.dst_port, h.dst_port);
	assert_int_equal(d.len, h.len);
	assert_int_equal(d.type, h.type);
	assert_int_equal(d.op, h.op);
	assert_int_equal(d.flags, h.flags);
	assert_int_equal(d.buf_alloc, h.buf_alloc);
	assert_int_equal(d.fwd_cnt, h.fwd_cnt);
}

static void test_mon_from_virtio(void **state)
{
	static const struct { uint16_t vop, mop; } map[] = {
		{ WIRE_OP_INVALID, WIRE_MON_OP_UNKNOWN },
		{ WIRE_OP_REQUEST, WIRE_MON_OP_CONNECT },
		{ WIRE_OP_RESPONSE, WIRE_MON_OP_CONNECT },
		{ WIRE_OP_RST, WIRE_MON_OP_DISCONNECT },
		{ WIRE_OP_SHUTDOWN, WIRE_MON_OP_DISCONNECT },
		{ WIRE_OP_RW, WIRE_MON_OP_PAYLOAD },
		{ WIRE_OP_CREDIT_UPDATE, WIRE_MON_OP_CONTROL },
		{ WIRE_OP_CREDIT_REQUEST, WIRE_MON_OP_CONTROL },
		{ 8, WIRE_MON_OP_UNKNOWN },
		{ 0xffff, WIRE_MON_OP_UNKNOWN },
	};
	struct wire_virtio h = { .src_cid = 4, .dst_cid = 2, .src_port = 1025, .dst_port = 4050 };
	struct wire_mon m, d;
	uint8_t b[WIRE_MON_HDR_LEN];

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		assert_int_equal(wire_mon_op_of(map[i].vop), map[i].mop);
	h.op = WIRE_OP_RW;
	wire_mon_from_virtio(&h, &m);
	assert_true(m.src_cid == 4 && m.dst_cid == 2);
	assert_int_equal(m.src_port, 1025);
	assert_int_equal(m.dst_port, 4050);
	assert_int_equal(m.op, WIRE_MON_OP_PAYLOAD);
	assert_int_equal(m.transport, WIRE_TRANSPORT_VIRTIO);
	assert_int_equal(m.len, 44);
	memset(b, 0xee, sizeof(b));
	assert_int_equal(wire_mon_encode(&m, b, sizeof(b)), 32);
	assert_int_equal(b[24], 4);  /* op at offset 24 */
	assert_int_equal(b[26], 2);  /* transport */
	assert_int_equal(b[28], 44); /* len */
	assert_int_equal(b[30], 0);  /* reserved zeroed */
	assert_int_equal(b[31], 0);
	assert_int_equal(wire_mon_decode(b, 31, &d), -EMSGSIZE);
	assert_int_equal(wire_mon_decode(b, 32, &d), 0);
	assert_true(d.src_cid == m.src_cid && d.dst_cid == m.dst_cid);
	assert_int_equal(d.src_port, m.src_port);
	assert_int_equal(d.dst_port, m.dst_port);
	assert_int_equal(d.op, m.op);
	assert_int_equal(d.transport, m.transport);
	assert_int_equal(d.len, m.len);
}

/* Build a record: mon + virtio + PAYLOAD bytes; returns its length. */
static size_t mkrec(uint8_t *b, uint16_t mon_len, uint32_t vlen, size_t payload)
{
	struct wire_virtio h = { .src_cid = 3, .dst_cid = 2, .src_port = 5, .dst_port = 6,
				 .len = vlen, .type = 1, .op = WIRE_OP_RW };
	struct wire_mon m;

	wire_mon_from_virtio(&h, &m);
	m.len = mon_len;
	wire_mon_encode(&m, b, 32);
	wire_virtio_encode(&h, b + 32, 44);
	memset(b + 76, 'x', payload);
	return 76 + payload;
}

static void test_rec_parse(void **state)
{
	uint8_t b[256];
	struct wire_rec r;
	size_t n;

	n = mkrec(b, 44, 10, 10);
	assert_int_equal(wire_rec_parse(b, n, &r), 0);
	assert_true(r.has_mon && r.has_virtio && !r.truncated);
	assert_int_equal(r.thdr_len, 44);
	assert_ptr_equal(r.payload, b + 76);
	assert_int_equal(r.payload_len, 10);

	/* Snapped payload: virtio len promises more than captured. */
	assert_int_equal(wire_rec_parse(b, n - 3, &r), 0);
	assert_true(r.has_virtio && r.truncated);
	assert_int_equal(r.payload_len, 7);

	/* Header cut inside the virtio header. */
	assert_int_equal(wire_rec_parse(b, 50, &r), 0);
	assert_true(r.has_mon && !r.has_virtio && r.truncated);
	assert_int_equal(r.thdr_len, 18);
	assert_int_equal(r.payload_len, 0);

	/* Shorter than the vsockmon header, and empty. */
	assert_int_equal(wire_rec_parse(b, 31, &r), 0);
	assert_true(!r.has_mon && r.truncated);
	assert_int_equal(wire_rec_parse(NULL, 0, &r), 0);
	assert_true(!r.has_mon && r.truncated);

	/* mon.len lies (huge): clamped to the bytes present. */
	n = mkrec(b, 0xffff, 0, 0);
	assert_int_equal(wire_rec_parse(b, n, &r), 0);
	assert_true(r.truncated && r.has_virtio);
	assert_int_equal(r.thdr_len, 44);
	assert_int_equal(r.payload_len, 0);

	/* mon.len too small for a virtio header: not decoded. */
	n = mkrec(b, 8, 0, 0);
	assert_int_equal(wire_rec_parse(b, n, &r), 0);
	assert_true(!r.has_virtio && r.truncated);
	assert_int_equal(r.thdr_len, 8);
	assert_int_equal(r.payload_len, 36);

	/* Unknown transport: header skipped by mon.len, no virtio decode. */
	n = mkrec(b, 44, 0, 4);
	b[26] = 9;
	assert_int_equal(wire_rec_parse(b, n, &r), 0);
	assert_true(r.has_mon && !r.has_virtio && !r.truncated);
	assert_int_equal(r.mon.transport, 9);
	assert_int_equal(r.payload_len, 4);
}

static void test_names(void **state)
{
	char buf[64];
	uint32_t v = 0;

	assert_string_equal(wire_name(wire_ops, WIRE_OP_CREDIT_REQUEST), "CREDIT_REQUEST");
	assert_string_equal(wire_name(wire_types, WIRE_TYPE_DGRAM), "DGRAM");
	assert_string_equal(wire_name(wire_mon_ops, WIRE_MON_OP_PAYLOAD), "PAYLOAD");
	assert_string_equal(wire_name(wire_transports, WIRE_TRANSPORT_VIRTIO), "VIRTIO");
	assert_null(wire_name(wire_ops, 8));
	assert_string_equal(wire_name_or(wire_types, 0, buf, sizeof(buf)), "unknown (0)");
	assert_string_equal(wire_name_or(wire_ops, 65535, buf, sizeof(buf)), "unknown (65535)");
	assert_int_equal(wire_name_lookup(wire_ops, "credit_update", &v), 0);
	assert_int_equal(v, WIRE_OP_CREDIT_UPDATE);
	assert_int_equal(wire_name_lookup(wire_types, "SeqPacket", &v), 0);
	assert_int_equal(v, WIRE_TYPE_SEQPACKET);
	assert_int_equal(wire_name_lookup(wire_ops, "bogus", &v), -ENOENT);
}

static void test_flags(void **state)
{
	char buf[64];

	assert_string_equal(wire_flags_str(WIRE_OP_SHUTDOWN, 1, 3, buf, sizeof(buf)), "RCV|SEND");
	assert_string_equal(wire_flags_str(WIRE_OP_SHUTDOWN, 1, 2, buf, sizeof(buf)), "SEND");
	assert_string_equal(wire_flags_str(WIRE_OP_RW, WIRE_TYPE_SEQPACKET, 1, buf, sizeof(buf)), "EOM");
	assert_string_equal(wire_flags_str(WIRE_OP_RW, WIRE_TYPE_SEQPACKET, 3, buf, sizeof(buf)), "EOM|EOR");
	/* Same bits on a stream RW mean nothing: shown raw. */
	assert_string_equal(wire_flags_str(WIRE_OP_RW, WIRE_TYPE_STREAM, 1, buf, sizeof(buf)), "0x1");
	assert_string_equal(wire_flags_str(WIRE_OP_SHUTDOWN, 1, 0x13, buf, sizeof(buf)), "RCV|SEND|0x10");
	assert_string_equal(wire_flags_str(WIRE_OP_REQUEST, 1, 0, buf, sizeof(buf)), "none");
	/* Tiny buffers are cut, still terminated. */
	assert_string_equal(wire_flags_str(WIRE_OP_SHUTDOWN, 1, 3, buf, 4), "RCV");
	assert_string_equal(wire_flags_str(WIRE_OP_SHUTDOWN, 1, 3, buf, 2), "R");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_le_roundtrip),
		cmocka_unit_test(test_le_bounds),
		cmocka_unit_test(test_virtio_layout),
		cmocka_unit_test(test_mon_from_virtio),
		cmocka_unit_test(test_rec_parse),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
