/* Unit tests for lib/dump/capture.c: the pcap writer (device packets with iovec
 * payloads, snaplen cuts) read back through the libpcap reader. */
#include <errno.h>
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
#include "wire.h"

static char path[64];

static int setup(void **state)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/vsk-test-capture-XXXXXX");
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

static void virtio_hdr(uint8_t *b, uint16_t op, uint32_t len)
{
	struct wire_virtio h = { .src_cid = 3, .dst_cid = 2, .src_port = 1024, .dst_port = 4050,
				 .len = len, .type = WIRE_TYPE_STREAM, .op = op,
				 .buf_alloc = 65536, .fwd_cnt = 7 };

	assert_int_equal(wire_virtio_encode(&h, b, WIRE_VIRTIO_HDR_LEN), 44);
}

static void test_write_virtio_read_back(void **state)
{
	char eb[CAPTURE_ERRBUF_SIZE] = "";
	struct capture_writer *w = NULL;
	struct capture_reader *r = NULL;
	struct capture_pkt p;
	struct timeval ts = { 1700000000, 42 };
	uint8_t hdr[44];
	struct iovec iov[2] = { { "hello ", 6 }, { "guest", 5 } };
	struct wire_rec rec;

	assert_int_equal(capture_writer_open(path, 0, &w, eb), 0);
	virtio_hdr(hdr, WIRE_OP_REQUEST, 0);
	assert_int_equal(capture_write_virtio(w, &ts, hdr, NULL, 0), 0);
	virtio_hdr(hdr, WIRE_OP_RW, 11);
	assert_int_equal(capture_write_virtio(w, &ts, hdr, iov, 2), 0);
	virtio_hdr(hdr, WIRE_OP_CREDIT_REQUEST, 0);
	assert_int_equal(capture_write_virtio(w, NULL, hdr, NULL, 0), 0);
	assert_int_equal(capture_writer_close(w), 0);

	assert_int_equal(capture_reader_open(path, &r, eb), 0);
	assert_int_equal(capture_linktype(r), 271);
	assert_string_equal(capture_linktype_name(271), "VSOCK");

	assert_int_equal(capture_next(r, &p, eb), 1);
	assert_int_equal(p.caplen, 76);
	assert_int_equal(p.ts.tv_sec, 1700000000);
	assert_int_equal(p.ts.tv_usec, 42);
	wire_rec_parse(p.data, p.caplen, &rec);
	assert_true(rec.has_virtio && !rec.truncated);
	assert_int_equal(rec.mon.op, WIRE_MON_OP_CONNECT);
	assert_int_equal(rec.mon.transport, WIRE_TRANSPORT_VIRTIO);
	assert_int_equal(rec.mon.len, 44);

	assert_int_equal(capture_next(r, &p, eb), 1);
	assert_int_equal(p.caplen, 87);
	assert_int_equal(p.len, 87);
	wire_rec_parse(p.data, p.caplen, &rec);
	assert_int_equal(rec.mon.op, WIRE_MON_OP_PAYLOAD);
	assert_int_equal(rec.payload_len, 11);
	assert_memory_equal(rec.payload, "hello guest", 11);

	assert_int_equal(capture_next(r, &p, eb), 1);
	wire_rec_parse(p.data, p.caplen, &rec);
	assert_int_equal(rec.mon.op, WIRE_MON_OP_CONTROL);
	assert_int_equal(rec.virtio.op, WIRE_OP_CREDIT_REQUEST);
	assert_true(p.ts.tv_sec > 1700000000); /* NULL ts = now */

	assert_int_equal(capture_next(r, &p, eb), 0);
	capture_reader_close(r);
}

static void test_snaplen_cut(void **state)
{
	char eb[CAPTURE_ERRBUF_SIZE] = "";
	struct capture_writer *w = NULL;
	struct capture_reader *r = NULL;
	struct capture_pkt p;
	uint8_t hdr[44], big[300];
	struct iovec iov = { big, sizeof(big) };

	memset(big, 'z', sizeof(big));
	/* A snaplen below the headers is raised to 76 so records stay decodable. */
	assert_int_equal(capture_writer_open(path, 10, &w, eb), 0);
	virtio_hdr(hdr, WIRE_OP_RW, sizeof(big));
	assert_int_equal(capture_write_virtio(w, NULL, hdr, &iov, 1), 0);
	assert_int_equal(capture_writer_close(w), 0);
	assert_int_equal(capture_reader_open(path, &r, eb), 0);
	assert_int_equal(capture_next(r, &p, eb), 1);
	assert_int_equal(p.caplen, 76);
	assert_int_equal(p.len, 76 + sizeof(big));
	capture_reader_close(r);

	assert_int_equal(capture_writer_open(path, 100, &w, eb), 0);
	assert_int_equal(capture_write_virtio(w, NULL, hdr, &iov, 1), 0);
	assert_int_equal(capture_writer_close(w), 0);
	assert_int_equal(capture_reader_open(path, &r, eb), 0);
	assert_int_equal(capture_next(r, &p, eb), 1);
	assert_int_equal(p.caplen, 100);
	assert_int_equal(p.len, 376);
	assert_int_equal(p.data[99], 'z');
	capture_reader_close(r);
}

static void test_raw_and_filter(void **state)
{
	char eb[CAPTURE_ERRBUF_SIZE] = "";
	struct capture_writer *w = NULL;
	struct capture_reader *r = NULL;
	struct capture_pkt p;
	uint8_t rec[200];
	struct wire_virtio h = { .src_cid = 3, .dst_cid = 2, .op = WIRE_OP_RW, .type = 1 };
	struct wire_mon m;

	wire_mon_from_virtio(&h, &m);
	wire_mon_encode(&m, rec, 32);
	wire_virtio_encode(&h, rec + 32, 44);
	memset(rec + 76, 'p', sizeof(rec) - 76);
	assert_int_equal(capture_writer_open(path, 0, &w, eb), 0);
	assert_int_equal(capture_write_rec(w, NULL, rec, 76, 76), 0);
	assert_int_equal(capture_write_rec(w, NULL, rec, 150, 150), 0);
	/* caplen above wirelen is corrected rather than written as a lie. */
	assert_int_equal(capture_write_rec(w, NULL, rec, 80, 10), 0);
	assert_int_equal(capture_writer_close(w), 0);

	assert_int_equal(capture_reader_open(path, &r, eb), 0);
	assert_int_equal(capture_set_filter(r, "len > 100", eb), 0);
	assert_int_equal(capture_next(r, &p, eb), 1);
	assert_int_equal(p.caplen, 150);
	assert_int_equal(capture_next(r, &p, eb), 0);
	assert_int_equal(capture_set_filter(r, "tcp port", eb), -EINVAL);
	assert_true(strlen(eb) > 0);
	capture_reader_close(r);

	assert_int_equal(capture_reader_open(path, &r, eb), 0);
	assert_int_equal(capture_next(r, &p, eb), 1);
	assert_int_equal(capture_next(r, &p, eb), 1);
	assert_int_equal(capture_next(r, &p, eb), 1);
	assert_int_equal(p.caplen, 80);
	assert_int_equal(p.len, 80);
	capture_reader_close(r);
}

static void test_errors(void **state)
{
	char eb[CAPTURE_ERRBUF_SIZE] = "";
	struct capture_writer *w = NULL;
	struct capture_reader *r = NULL;
	FILE *f;

	assert_int_equal(capture_writer_open("/nonexistent-dir/x.pcap", 0, &w, eb), -ENOENT);
	/* The caller names the path: the message does not repeat it. */
	assert_string_equal(eb, strerror(ENOENT));
	assert_int_equal(capture_reader_open("/nonexistent-dir/x.pcap", &r, eb), -ENOENT);
	/* Not a capture at all. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("this is not a pcap file, it is text\n", f);
	fclose(f);
	assert_int_equal(capture_reader_open(path, &r, eb), -EINVAL);
	assert_true(strlen(eb) > 0);
	/* Writing to a full device is reported, at the latest on close. */
	if (access("/dev/full", W_OK) == 0) {
		uint8_t hdr[44];
		int rc = 0;

		assert_int_equal(capture_writer_open("/dev/full", 0, &w, eb), 0);
		virtio_hdr(hdr, WIRE_OP_REQUEST, 0);
		for (int i = 0; i < 1000 && rc == 0; i++)
			rc = capture_write_virtio(w, NULL, hdr, NULL, 0);
		if (rc == 0)
			rc = capture_writer_close(w);
		else
			capture_writer_close(w);
		assert_int_equal(rc, -EIO);
	}
	assert_int_equal(capture_writer_close(NULL), 0);
	capture_reader_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_virtio_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snaplen_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_and_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
