/* decode: the public capture API (vsk_capture_*, vsk_packet_*) on files
 * written by the device's pcap writer, and on hostile records. */
#include <errno.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture.h"
#include "vsk.h"
#include "wire.h"

static char path[64];

static int setup(void **state)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/vsk-test-decode-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static void put_virtio(struct capture_writer *w, uint16_t op, const char *payload)
{
	struct wire_virtio h = { .src_cid = 4, .dst_cid = 2, .src_port = 1049, .dst_port = 4050,
				 .len = payload ? (uint32_t)strlen(payload) : 0,
				 .type = WIRE_TYPE_STREAM, .op = op, .buf_alloc = 262144, .fwd_cnt = 9 };
	struct timeval ts = { 1700000000, 42 };
	struct iovec iov = { (void *)payload, payload ? strlen(payload) : 0 };
	uint8_t hdr[WIRE_VIRTIO_HDR_LEN];

	assert_int_equal(wire_virtio_encode(&h, hdr, sizeof(hdr)), WIRE_VIRTIO_HDR_LEN);
	assert_int_equal(capture_write_virtio(w, &ts, hdr, payload ? &iov : NULL, payload ? 1 : 0), 0);
}

static void test_read_and_format(void **state)
{
	char eb[CAPTURE_ERRBUF_SIZE] = "", line[512];
	struct capture_writer *w = NULL;
	struct vsk_capture *c = NULL;
	struct vsk_packet p;

	assert_int_equal(capture_writer_open(path, 0, &w, eb), 0);
	put_virtio(w, WIRE_OP_REQUEST, NULL);
	put_virtio(w, WIRE_OP_RW, "hello");
	assert_int_equal(capture_writer_close(w), 0);

	assert_int_equal(vsk_capture_open(path, &c, eb, sizeof(eb)), 0);
	assert_int_equal(vsk_capture_next(c, &p), 1);
	assert_true(p.has_mon && p.has_virtio && !p.truncated);
	assert_int_equal(p.src_cid, 4);
	assert_int_equal(p.dst_port, 4050);
	assert_int_equal(p.mon_op, 1); /* CONNECT */
	assert_int_equal(p.virtio.op, 1); /* REQUEST */
	assert_int_equal(p.virtio.buf_alloc, 262144);
	assert_int_equal(p.len, 76);
	{
		int n = vsk_packet_format(&p, VSK_FMT_UTC, line, sizeof(line));
		assert_int_equal(n, (int)strlen(line));
	}
	assert_string_equal(line, "22:13:20.000042 VIRTIO 4.1049 > 2.4050 CONNECT, length 76\n");

	assert_int_equal(vsk_capture_next(c, &p), 1);
	assert_int_equal(p.mon_op, 4); /* PAYLOAD */
	assert_int_equal(p.payload_len, 5);
	assert_memory_equal(p.payload, "hello", 5);
	vsk_packet_format(&p, VSK_FMT_UTC | VSK_FMT_VERBOSE, line, sizeof(line));
	assert_non_null(strstr(line, "PAYLOAD, length 81"));
	assert_non_null(strstr(line, "RW"));
	assert_non_null(strstr(line, "buf_alloc 262144"));
	vsk_packet_format(&p, VSK_FMT_JSON, line, sizeof(line));
	assert_int_equal(line[0], '{');
	/* Too small a buffer: a NUL-terminated prefix, and the size needed. */
	{
		char small[8];
		int need = vsk_packet_format(&p, VSK_FMT_UTC, small, sizeof(small));
		assert_true(need > (int)sizeof(small));
		assert_int_equal(strlen(small), sizeof(small) - 1);
	}
	assert_int_equal(vsk_capture_next(c, &p), 0);
	vsk_capture_close(c);
}

static void test_hostile_records(void **state)
{
	uint8_t rec[WIRE_MON_HDR_LEN + WIRE_VIRTIO_HDR_LEN];
	struct vsk_packet p;
	char line[256];

	memset(rec, 0xff, sizeof(rec));
	/* Ten bytes: no header is whole; nothing is read past them. */
	assert_int_equal(vsk_packet_decode(rec, 10, &p), 0);
	assert_false(p.has_mon);
	assert_true(p.truncated);
	assert_true(vsk_packet_format(&p, VSK_FMT_UTC, line, sizeof(line)) > 0);
	assert_non_null(strstr(line, "truncated"));
	/* A whole record of 0xff: unknown op/transport named, not a crash. */
	assert_int_equal(vsk_packet_decode(rec, sizeof(rec), &p), 0);
	assert_true(p.has_mon);
	assert_false(p.has_virtio);
	vsk_packet_format(&p, VSK_FMT_UTC | VSK_FMT_VERBOSE, line, sizeof(line));
	assert_non_null(strstr(line, "unknown"));
	assert_int_equal(vsk_packet_decode(NULL, 1, &p), -EINVAL);
	assert_int_equal(vsk_packet_decode(NULL, 0, &p), 0);
}

static void test_other_linktype(void **state)
{
	char eb[256] = "";
	struct vsk_capture *c = NULL;
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
	pcap_dumper_t *d;

	assert_non_null(dead);
	d = pcap_dump_open(dead, path);
	assert_non_null(d);
	pcap_dump_close(d);
	pcap_close(dead);
	assert_int_equal(vsk_capture_open(path, &c, eb, sizeof(eb)), -EPROTONOSUPPORT);
	assert_null(c);
	assert_non_null(strstr(eb, "not VSOCK"));
	assert_true(vsk_capture_open("/nonexistent/x.pcap", &c, eb, sizeof(eb)) < 0);
	assert_true(strlen(eb) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_and_format, setup, teardown),
		cmocka_unit_test(test_hostile_records),
		cmocka_unit_test_setup_teardown(test_other_linktype, setup, teardown),
	};
	return cmocka_run_group_tests_name("decode", tests, NULL, NULL);
}
