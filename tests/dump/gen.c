/* Generator of the crafted captures used by tests/dump/run and the bench.
 *
 *   gen DIR            write every edge-case file of TESTLIST into DIR
 *   gen bench N FILE   write N records of realistic stream traffic to FILE
 *
 * Files are written byte by byte here (not through libvsk's writer) so the
 * tests also check the reader against an independent encoder, and so
 * broken files (lying lengths, odd snaplens, cut records) can be made. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static FILE *f;
static const char *fname;
static uint32_t t_sec = 1700000000, t_usec;

static void out(const void *p, size_t n)
{
	if (fwrite(p, 1, n, f) != n) {
		perror(fname);
		exit(1);
	}
}

static void u16(uint16_t v) { uint8_t b[2]; wire_st16(b, v); out(b, 2); }
static void u32(uint32_t v) { uint8_t b[4]; wire_st32(b, v); out(b, 4); }

static void open_pcap(const char *dir, const char *name, uint32_t magic, uint32_t snaplen,
		      uint32_t linktype)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fname = path;
	f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	u32(magic);
	u16(2);
	u16(4);
	u32(0);
	u32(0);
	u32(snaplen);
	u32(linktype);
	t_sec = 1700000000;
	t_usec = 0;
}

static void close_file(void)
{
	if (fclose(f) != 0) {
		perror(fname);
		exit(1);
	}
	f = NULL;
}

/* A pcap record with explicit caplen/len; DATA must hold CAPLEN bytes. */
static void rec_raw(const void *data, uint32_t caplen, uint32_t len)
{
	t_usec += 1234;
	if (t_usec >= 1000000) {
		t_sec++;
		t_usec -= 1000000;
	}
	u32(t_sec);
	u32(t_usec);
	u32(caplen);
	u32(len);
	out(data, caplen);
}

struct pkt {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
	const char *payload;
	uint32_t plen;
};

/* Encode P as vsockmon does into B; returns the record length. */
static size_t encode(const struct pkt *p, uint8_t *b, size_t cap)
{
	struct wire_virtio h = {
		.src_cid = p->src_cid, .dst_cid = p->dst_cid, .src_port = p->src_port,
		.dst_port = p->dst_port, .len = p->plen, .type = p->type, .op = p->op,
		.flags = p->flags, .buf_alloc = p->buf_alloc, .fwd_cnt = p->fwd_cnt,
	};
	struct wire_mon m;

	if (76 + (size_t)p->plen > cap) {
		fprintf(stderr, "gen: packet too big\n");
		exit(1);
	}
	wire_mon_from_virtio(&h, &m);
	wire_mon_encode(&m, b, 32);
	wire_virtio_encode(&h, b + 32, 44);
	if (p->plen > 0)
		memcpy(b + 76, p->payload, p->plen);
	return 76 + p->plen;
}

static void rec(const struct pkt *p)
{
	uint8_t b[4096];
	size_t n = encode(p, b, sizeof(b));

	rec_raw(b, (uint32_t)n, (uint32_t)n);
}

/* One connection from (c,cp) to (s,sp): handshake, a request and a reply,
 * credit traffic, then shutdown and reset. */
static void conversation(uint64_t c, uint32_t cp, uint64_t s, uint32_t sp, uint16_t type)
{
	struct pkt p = { c, s, cp, sp, type, WIRE_OP_REQUEST, 0, 262144, 0, NULL, 0 };
	struct pkt q = { s, c, sp, cp, type, WIRE_OP_RESPONSE, 0, 262144, 0, NULL, 0 };

	rec(&p);
	rec(&q);
	p.op = WIRE_OP_RW;
	p.payload = "hello vsock\n";
	p.plen = 12;
	p.flags = type == WIRE_TYPE_SEQPACKET ? WIRE_SEQ_EOM | WIRE_SEQ_EOR : 0;
	rec(&p);
	q.op = WIRE_OP_CREDIT_UPDATE;
	q.fwd_cnt = 12;
	rec(&q);
	q.op = WIRE_OP_RW;
	/* Split literals: "\x02b" would otherwise be one escape. */
	q.payload = "\x00\x01\x02" "binary\xff\x7f" " reply, longer than sixteen bytes";
	q.plen = 44;
	q.flags = type == WIRE_TYPE_SEQPACKET ? WIRE_SEQ_EOM : 0;
	rec(&q);
	p.op = WIRE_OP_CREDIT_REQUEST;
	p.payload = NULL;
	p.plen = 0;
	p.flags = 0;
	p.fwd_cnt = 42;
	rec(&p);
	p.op = WIRE_OP_SHUTDOWN;
	p.flags = WIRE_SHUTDOWN_RCV | WIRE_SHUTDOWN_SEND;
	rec(&p);
	q.op = WIRE_OP_RST;
	q.flags = 0;
	q.payload = NULL;
	q.plen = 0;
	rec(&q);
}

static void gen_basic(const char *dir)
{
	open_pcap(dir, "basic.pcap", 0xa1b2c3d4, 262144, WIRE_LINKTYPE_VSOCK);
	/* The seed's line: guest 4, ephemeral port, to the host's 4050. */
	conversation(4, 4079680474u, 2, 4050, WIRE_TYPE_STREAM);
	conversation(2, 1025, 3, 22, WIRE_TYPE_STREAM);
	close_file();
}

static void gen_seqpacket(const char *dir)
{
	struct pkt d = { 3, 2, 5000, 6000, WIRE_TYPE_DGRAM, WIRE_OP_RW, 0, 0, 0, "dgram", 5 };

	open_pcap(dir, "seqpacket.pcap", 0xa1b2c3d4, 262144, WIRE_LINKTYPE_VSOCK);
	conversation(3, 1234, 2, 1235, WIRE_TYPE_SEQPACKET);
	rec(&d);
	close_file();
}

/* Records cut by the snaplen at every interesting point. */
static void gen_snapped(const char *dir)
{
	struct pkt p = { 3, 2, 1024, 4050, WIRE_TYPE_STREAM, WIRE_OP_RW, 0, 65536, 0,
			 "0123456789abcdefghijklmnopqrstuvwxyz", 36 };
	static const uint32_t cuts[] = { 0, 1, 31, 32, 33, 75, 76, 80 };
	uint8_t b[256];
	size_t n = encode(&p, b, sizeof(b));

	open_pcap(dir, "snapped.pcap", 0xa1b2c3d4, 262144, WIRE_LINKTYPE_VSOCK);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		rec_raw(b, cuts[i], (uint32_t)n);
	rec_raw(b, (uint32_t)n, (uint32_t)n);
	close_file();
}

/* Headers whose lengths lie, unknown enums. */
static void gen_liars(const char *dir)
{
	struct pkt p = { 3, 2, 1024, 4050, WIRE_TYPE_STREAM, WIRE_OP_RW, 0, 65536, 0, "abcd", 4 };
	uint8_t b[256];
	size_t n;

	open_pcap(dir, "liars.pcap", 0xa1b2c3d4, 262144, WIRE_LINKTYPE_VSOCK);
	n = encode(&p, b, sizeof(b));
	wire_st16(b + 28, 0xffff);            /* mon.len far beyond the record */
	rec_raw(b, (uint32_t)n, (uint32_t)n);
	n = encode(&p, b, sizeof(b));
	wire_st16(b + 28, 0);                 /* mon.len 0 with transport VIRTIO */
	rec_raw(b, (uint32_t)n, (uint32_t)n);
	n = encode(&p, b, sizeof(b));
	wire_st32(b + 32 + 24, 0xffffffffu);  /* virtio len 4 GiB */
	rec_raw(b, (uint32_t)n, (uint32_t)n);
	n = encode(&p, b, sizeof(b));
	wire_st16(b + 24, 9);                 /* vsockmon op 9 */
	rec_raw(b, (uint32_t)n, (uint32_t)n);
	n = encode(&p, b, sizeof(b));
	wire_st16(b + 26, 7);                 /* transport 7 */
	rec_raw(b, (uint32_t)n, (uint32_t)n);
	n = encode(&p, b, sizeof(b));
	wire_st16(b + 26, WIRE_TRANSPORT_NO_INFO);
	wire_st16(b + 28, 0);
	rec_raw(b, (uint32_t)n, (uint32_t)n);
	n = encode(&p, b, sizeof(b));
	wire_st16(b + 32 + 28, 9);            /* virtio type 9 */
	wire_st16(b + 32 + 30, 42);           /* virtio op 42 */
	wire_st32(b + 32 + 32, 0x80000003u);  /* flags with unknown bits */
	rec_raw(b, (uint32_t)n, (uint32_t)n);
	rec_raw(b, (uint32_t)n, 10);          /* len smaller than caplen */
	close_file();
}

static void gen_linktype(const char *dir)
{
	uint8_t eth[60] = { 0 };

	open_pcap(dir, "ether.pcap", 0xa1b2c3d4, 65535, 1);
	rec_raw(eth, sizeof(eth), sizeof(eth));
	close_file();
}

static void gen_snaplens(const char *dir)
{
	struct pkt p = { 3, 2, 1024, 4050, WIRE_TYPE_STREAM, WIRE_OP_REQUEST, 0, 65536, 0, NULL, 0 };

	open_pcap(dir, "snap0.pcap", 0xa1b2c3d4, 0, WIRE_LINKTYPE_VSOCK);
	rec(&p);
	close_file();
	open_pcap(dir, "snaphuge.pcap", 0xa1b2c3d4, 0xffffffffu, WIRE_LINKTYPE_VSOCK);
	rec(&p);
	close_file();
	/* A record claiming 1 GiB captured: libpcap must refuse, not allocate. */
	open_pcap(dir, "bigrec.pcap", 0xa1b2c3d4, 262144, WIRE_LINKTYPE_VSOCK);
	rec(&p);
	u32(t_sec);
	u32(0);
	u32(1u << 30);
	u32(1u << 30);
	close_file();
	/* The file ends inside the second record. */
	open_pcap(dir, "cutfile.pcap", 0xa1b2c3d4, 262144, WIRE_LINKTYPE_VSOCK);
	rec(&p);
	u32(t_sec);
	u32(0);
	u32(76);
	u32(76);
	out("\x03\x00\x00", 3);
	close_file();
}

/* Nanosecond pcap and pcapng carrying the same records as basic.pcap's
 * first conversation. */
static void gen_formats(const char *dir)
{
	struct pkt p = { 4, 2, 4079680474u, 4050, WIRE_TYPE_STREAM, WIRE_OP_REQUEST, 0, 262144, 0,
			 NULL, 0 };
	uint8_t b[256];
	size_t n;

	open_pcap(dir, "nsec.pcap", 0xa1b23c4d, 262144, WIRE_LINKTYPE_VSOCK);
	n = encode(&p, b, sizeof(b));
	u32(1700000000);
	u32(123456789);
	u32((uint32_t)n);
	u32((uint32_t)n);
	out(b, n);
	close_file();

	open_pcap(dir, "ng.pcapng", 0, 0, 0);
	/* Rewind: pcapng has no pcap file header. */
	if (fseek(f, 0, SEEK_SET) != 0) {
		perror(fname);
		exit(1);
	}
	/* Section header block. */
	u32(0x0a0d0d0a); u32(28); u32(0x1a2b3c4d); u16(1); u16(0);
	u32(0xffffffff); u32(0xffffffff); u32(28);
	/* Interface description block: LINKTYPE_VSOCK, default usec. */
	u32(1); u32(20); u16(WIRE_LINKTYPE_VSOCK); u16(0); u32(262144); u32(20);
	for (int i = 0; i < 2; i++) {
		uint64_t us = 1700000000ull * 1000000 + 500000 + (uint64_t)i;
		uint32_t pad, blen;

		p.op = i == 0 ? WIRE_OP_REQUEST : WIRE_OP_RW;
		p.payload = "ng";
		p.plen = i == 0 ? 0 : 2;
		n = encode(&p, b, sizeof(b));
		pad = (uint32_t)((4 - n % 4) % 4);
		blen = 32 + (uint32_t)n + pad;
		u32(6); u32(blen); u32(0);
		u32((uint32_t)(us >> 32)); u32((uint32_t)us);
		u32((uint32_t)n); u32((uint32_t)n);
		out(b, n);
		out("\0\0\0", pad);
		u32(blen);
	}
	close_file();
}

/* Credit: A fills B's window (buf_alloc 100), sends again with none left,
 * asks for credit, B updates, A goes on. */
static void gen_credit(const char *dir)
{
	static const char z[100] = { 0 };
	struct pkt a = { 3, 2, 7000, 80, WIRE_TYPE_STREAM, WIRE_OP_REQUEST, 0, 1000, 0, NULL, 0 };
	struct pkt b = { 2, 3, 80, 7000, WIRE_TYPE_STREAM, WIRE_OP_RESPONSE, 0, 100, 0, NULL, 0 };

	open_pcap(dir, "credit.pcap", 0xa1b2c3d4, 262144, WIRE_LINKTYPE_VSOCK);
	rec(&a);
	rec(&b);
	a.op = WIRE_OP_RW;
	a.payload = z;
	a.plen = 60;
	rec(&a);         /* credit 100 */
	a.plen = 40;
	rec(&a);         /* credit 40: uses it all -> "full" */
	a.plen = 10;
	rec(&a);         /* credit 0 -> stall */
	a.op = WIRE_OP_CREDIT_REQUEST;
	a.plen = 0;
	rec(&a);         /* stall */
	b.op = WIRE_OP_CREDIT_UPDATE;
	b.fwd_cnt = 110;
	rec(&b);
	a.op = WIRE_OP_RW;
	a.plen = 20;
	rec(&a);         /* credit 100 again */
	/* A second connection that is never closed and was caught mid-way. */
	b.src_port = 81;
	b.dst_port = 7001;
	b.op = WIRE_OP_RW;
	b.payload = "late";
	b.plen = 4;
	rec(&b);
	close_file();
}

/* P stamped S.US exactly (rec_raw adds its 1234 us step first). */
static void rec_at(uint32_t s, uint32_t us, const struct pkt *p)
{
	t_sec = us >= 1234 ? s : s - 1;
	t_usec = us >= 1234 ? us - 1234 : us + 1000000 - 1234;
	rec(p);
}

/* Time stamps for the -t forms: backwards, more than a day apart, leap
 * days, just after the epoch, a second boundary.  (Not the epoch itself:
 * tcpdump -ttt takes a previous record stamped 0.000000 for "no previous
 * record" and prints 00:00:00.000000 after it; vsk does not.) */
static void gen_times(const char *dir)
{
	struct pkt p = { 3, 2, 1024, 4050, WIRE_TYPE_STREAM, WIRE_OP_RW, 0, 262144, 0, "tick", 4 };
	static const uint32_t ts[][2] = {
		{ 1700000000, 500000 }, { 1700000000, 200000 }, { 1700090000, 900000 },
		{ 1699000000, 0 }, { 1709164800, 1 }, { 951782399, 999999 }, { 0, 1 },
		{ 1700000000, 999999 }, { 1700000001, 0 }, { 1700000001, 0 },
	};

	open_pcap(dir, "times.pcap", 0xa1b2c3d4, 262144, WIRE_LINKTYPE_VSOCK);
	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		rec_at(ts[i][0], ts[i][1], &p);
	close_file();
}

static void gen_bench(unsigned long n, const char *path)
{
	static char payload[1024];
	struct pkt a = { 3, 2, 49152, 4050, WIRE_TYPE_STREAM, WIRE_OP_RW, 0, 262144, 0, payload, 0 };
	struct pkt b = { 2, 3, 4050, 49152, WIRE_TYPE_STREAM, WIRE_OP_CREDIT_UPDATE, 0, 262144, 0,
			 NULL, 0 };

	memset(payload, 'v', sizeof(payload));
	fname = path;
	f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	u32(0xa1b2c3d4); u16(2); u16(4); u32(0); u32(0); u32(262144); u32(WIRE_LINKTYPE_VSOCK);
	for (unsigned long i = 0; i < n; i++) {
		/* Mostly data, a credit update every 4th record, a new
		 * connection every 1000 records. */
		if (i % 1000 == 0) {
			a.src_port++;
			b.dst_port++;
			a.op = WIRE_OP_REQUEST;
			a.plen = 0;
			rec(&a);
			continue;
		}
		if (i % 4 == 3) {
			b.fwd_cnt += 3 * 256;
			rec(&b);
			continue;
		}
		a.op = WIRE_OP_RW;
		a.plen = (uint32_t)(64 + i % 192);
		rec(&a);
	}
	close_file();
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "bench") == 0) {
		gen_bench(strtoul(argv[2], NULL, 10), argv[3]);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: gen DIR | gen bench N FILE\n");
		return 2;
	}
	gen_basic(argv[1]);
	gen_seqpacket(argv[1]);
	gen_snapped(argv[1]);
	gen_liars(argv[1]);
	gen_linktype(argv[1]);
	gen_snaplens(argv[1]);
	gen_formats(argv[1]);
	gen_credit(argv[1]);
	gen_times(argv[1]);
	return 0;
}
