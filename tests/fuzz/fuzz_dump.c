/* libFuzzer harness for the `vsk dump` decoder.
 *
 * Input starting with a pcap/pcapng magic is read as a capture file through
 * libpcap (from memory), every record decoded; anything else is one raw
 * vsockmon record.  Every record goes through every output mode and the
 * connection table, the plot's timeline and the SVG plot, and through the
 * public vsk_packet_* API, so ASan sees each read the printers make.
 *
 *   clang -fsanitize=fuzzer,address,undefined ... (tests/fuzz/run SECONDS dump)
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pcap/pcap.h>

#include "conntrack.h"
#include "plot.h"
#include "print.h"
#include "timeline.h"
#include "vsk.h"
#include "wire.h"

static struct print_ctx *ctx[4];
static struct conntrack *ct;
static struct timeline *tl;
static FILE *devnull;
static struct pbuf out;

static void one(const struct timeval *ts, const uint8_t *d, uint32_t caplen, uint32_t len)
{
	struct print_filter f = { .cid_set = true, .cid = 2 };
	struct wire_rec r;
	struct ct_event ev;

	wire_rec_parse(d, caplen, &r);
	for (int i = 0; i < 4; i++)
		print_rec(ctx[i], &out, ts, caplen, len, &r);
	(void)print_match(&f, &r);
	if (conntrack_add(ct, ts, len, &r, &ev) == 1)
		(void)timeline_add(tl, ts, &r, &ev, conntrack_get(ct, ev.conn));
	out.len = 0; /* output content is not checked, only memory safety */

	/* The public face (lib/dump/decode.c) over the same bytes, into a small
	 * buffer so truncation is exercised too. */
	{
		struct vsk_packet p;
		char small[48];

		if (vsk_packet_decode(d, caplen, &p) == 0) {
			p.ts = *ts;
			p.len = len;
			(void)vsk_packet_format(&p, VSK_FMT_VERBOSE | VSK_FMT_HEX_ASCII, small, sizeof(small));
			(void)vsk_packet_format(&p, VSK_FMT_JSON, small, sizeof(small));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct print_opts modes[4] = {
		{ .utc = true },
		{ .utc = true, .verbose = 1, .hex = PRINT_HEX },
		{ .utc = true, .verbose = 1, .hex = PRINT_HEX_ASCII },
		{ .json = true, .hex = PRINT_HEX },
	};
	struct timeval ts = { 1700000000, 1 };
	char eb[PCAP_ERRBUF_SIZE];

	if (out.p == NULL && pbuf_init(&out, 1 << 16) < 0)
		return 0;
	for (int i = 0; i < 4; i++)
		if (print_ctx_new(&modes[i], &ctx[i]) < 0)
			return 0;
	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		return 0;
	if (conntrack_new(&ct) < 0 || timeline_new(&(struct tl_opts){ .only = -1, .max = 4 }, &tl) < 0)
		return 0;
	if (size >= 4 && (!memcmp(data, "\xd4\xc3\xb2\xa1", 4) || !memcmp(data, "\xa1\xb2\xc3\xd4", 4) ||
			  !memcmp(data, "\x4d\x3c\xb2\xa1", 4) || !memcmp(data, "\x0a\x0d\x0d\x0a", 4))) {
		FILE *f = fmemopen((void *)data, size, "rb");
		pcap_t *p = f ? pcap_fopen_offline(f, eb) : NULL;

		if (p == NULL && f != NULL)
			fclose(f);
		if (p != NULL) {
			struct pcap_pkthdr *h;
			const u_char *d;
			int n = 0;

			while (n++ < 10000 && pcap_next_ex(p, &h, &d) == 1)
				one(&h->ts, d, h->caplen, h->len);
			pcap_close(p); /* closes F */
		}
	} else {
		one(&ts, data, (uint32_t)size, (uint32_t)size);
	}
	for (int i = 0; i < 4; i++) {
		print_conns(ctx[i], ct, &out);
		out.len = 0;
		print_ctx_free(ctx[i]);
		ctx[i] = NULL;
	}
	/* The plot of whatever the input made of the connections. */
	(void)plot_svg(devnull, ct, tl, &(struct plot_opts){ .source = "fuzz", .only = -1 });
	timeline_free(tl);
	tl = NULL;
	conntrack_free(ct);
	ct = NULL;
	out.err = 0;
	return 0;
}
