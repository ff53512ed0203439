/* vsk dump: capture (vsockmon) or read (pcap) vsock traffic and decode it. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "capture.h"
#include "conntrack.h"
#include "print.h"
#include "wire.h"

#define DUMP_IFNAME "vsockmon0"  /* what `ip link add type vsockmon` picks */
#define OUT_CHUNK   (1u << 20)   /* write text out in 1 MiB pieces */

struct dump_args {
	const char *iface, *rfile, *wfile;
	char *bpf;
	uint32_t count;          /* 0 = no limit */
	uint32_t snaplen;
	bool keep, conns;
	struct print_opts po;
	struct print_filter pf;
};

static struct capture_reader *volatile g_reader;
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
	if (g_reader != NULL)
		capture_break(g_reader);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vsk dump [-i IFACE | -r FILE] [-w FILE] [-c COUNT] [-v] [-x | -X] [--json]\n"
		"                [--conns] [--cid N] [--port N] [--op NAME] [--type NAME]\n"
		"                [--keep] [--utc] [-s SNAPLEN] [BPF expression]\n"
		"\n"
		"  -i, --interface IFACE  capture live on a vsockmon interface (default: the\n"
		"                         first one; as root one is created and removed on exit)\n"
		"  -r, --read FILE        read a pcap/pcapng file ('-' = stdin)\n"
		"  -w, --write FILE       write matching records as LINKTYPE_VSOCK pcap ('-' = stdout)\n"
		"  -c, --count N          stop after N matching records\n"
		"  -v, --verbose          also decode the virtio header (type, op, flags, credit)\n"
		"  -x / -X                payload as hex / hex and ASCII\n"
		"      --json             one JSON object per record (see man vsk-dump)\n"
		"      --conns            per-connection table at the end\n"
		"      --cid N, --port N  records from or to this CID / port\n"
		"      --op NAME          CONNECT|DISCONNECT|CONTROL|PAYLOAD or a virtio op\n"
		"                         (REQUEST RESPONSE RST SHUTDOWN RW CREDIT_UPDATE CREDIT_REQUEST)\n"
		"      --type NAME        STREAM|SEQPACKET|DGRAM\n"
		"      --keep             leave a vsockmon interface this command created\n"
		"      --utc              timestamps in UTC rather than local time\n"
		"  -s, --snaplen N        live capture snapshot length (default 262144)\n");
}

/* Join the trailing words into one BPF expression, as tcpdump does. */
static char *join_args(int argc, char **argv)
{
	size_t n = 1;
	char *s;

	for (int i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	s = calloc(1, n);
	if (s == NULL)
		err(1, "malloc");
	for (int i = 0; i < argc; i++) {
		if (i > 0)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

static void parse(int argc, char **argv, struct dump_args *a)
{
	enum { O_JSON = 256, O_CONNS, O_CID, O_PORT, O_OP, O_TYPE, O_KEEP, O_UTC };
	static const struct option opts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "read", required_argument, NULL, 'r' },
		{ "write", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'c' },
		{ "snaplen", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "hex", no_argument, NULL, 'x' },
		{ "hex-ascii", no_argument, NULL, 'X' },
		{ "json", no_argument, NULL, O_JSON },
		{ "conns", no_argument, NULL, O_CONNS },
		{ "cid", required_argument, NULL, O_CID },
		{ "port", required_argument, NULL, O_PORT },
		{ "op", required_argument, NULL, O_OP },
		{ "type", required_argument, NULL, O_TYPE },
		{ "keep", no_argument, NULL, O_KEEP },
		{ "utc", no_argument, NULL, O_UTC },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *opname = NULL, *typename = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+i:r:w:c:s:vxXh", opts, NULL)) != -1) {
		switch (c) {
		case 'i': a->iface = optarg; break;
		case 'r': a->rfile = optarg; break;
		case 'w': a->wfile = optarg; break;
		case 'c': a->count = cli_u32(optarg, "count", UINT32_MAX); break;
		case 's': a->snaplen = cli_u32(optarg, "snaplen", CAPTURE_SNAPLEN); break;
		case 'v': a->po.verbose++; break;
		case 'x': if (a->po.hex == PRINT_HEX_NONE) a->po.hex = PRINT_HEX; break;
		case 'X': a->po.hex = PRINT_HEX_ASCII; break;
		case O_JSON: a->po.json = true; break;
		case O_CONNS: a->conns = true; break;
		case O_CID:
			a->pf.cid = cli_u32(optarg, "cid", UINT32_MAX);
			a->pf.cid_set = true;
			break;
		case O_PORT:
			a->pf.port = cli_u32(optarg, "port", UINT32_MAX);
			a->pf.port_set = true;
			break;
		case O_OP: opname = optarg; break;
		case O_TYPE: typename = optarg; break;
		case O_KEEP: a->keep = true; break;
		case O_UTC: a->po.utc = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(EXIT_USAGE);
		}
	}
	if (opname != NULL && print_filter_op(&a->pf, opname) < 0)
		errx(EXIT_USAGE, "invalid op: '%s' (expected CONNECT, DISCONNECT, CONTROL, PAYLOAD, "
		     "REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE or CREDIT_REQUEST)", opname);
	if (typename != NULL && print_filter_type(&a->pf, typename) < 0)
		errx(EXIT_USAGE, "invalid type: '%s' (expected STREAM, SEQPACKET or DGRAM)", typename);
	if (a->iface != NULL && a->rfile != NULL)
		errx(EXIT_USAGE, "-i and -r are exclusive: capture live or read a file");
	if (a->keep && a->rfile != NULL)
		errx(EXIT_USAGE, "--keep applies to live capture only");
	if (a->wfile != NULL && strcmp(a->wfile, "-") == 0 && (a->conns || a->po.json ||
	    a->po.verbose || a->po.hex != PRINT_HEX_NONE))
		errx(EXIT_USAGE, "-w - writes pcap to stdout; it cannot also carry text output");
	if (a->rfile != NULL && a->wfile != NULL && strcmp(a->rfile, "-") &&
	    strcmp(a->rfile, a->wfile) == 0)
		errx(EXIT_USAGE, "-r and -w name the same file '%s'", a->rfile);
	if (optind < argc)
		a->bpf = join_args(argc - optind, argv + optind);
}

/* Write the text out; 0, or -errno after saying what failed (a reader
 * that went away, EPIPE, is a normal end and not reported). */
static int flush_out(struct pbuf *b)
{
	int rc;

	if (b->err != 0) {
		warnx("output buffer: %s", strerror(-b->err));
		return b->err;
	}
	rc = cli_write_all(STDOUT_FILENO, b->p, b->len);
	b->len = 0;
	if (rc < 0 && rc != -EPIPE) {
		errno = -rc;
		warn("write stdout");
	}
	return rc;
}

/* Find or make the vsockmon interface; *CREATED says we must remove it. */
static const char *live_iface(const struct dump_args *a, char *name, size_t len, bool *created)
{
	int rc;

	*created = false;
	if (a->iface != NULL)
		return a->iface;
	if (capture_vsockmon_find(name, len) == 0)
		return name;
	if (geteuid() != 0)
		errx(1, "no vsockmon interface: as root 'vsk dump' creates one, or run "
		     "'ip link add type vsockmon && ip link set vsockmon0 up'");
	snprintf(name, len, "%s", DUMP_IFNAME);
	rc = capture_vsockmon_create(name);
	if (rc == -EOPNOTSUPP)
		errx(1, "this kernel has no vsockmon: 'modprobe vsockmon' "
		     "(or build with CONFIG_VSOCKMON=m)");
	if (rc < 0) {
		errno = -rc;
		err(1, "create vsockmon interface %s", name);
	}
	*created = true;
	return name;
}

static void show_progress(const struct capture_reader *r, uint32_t nread)
{
	uint64_t pos, size;

	if (capture_progress(r, &pos, &size) == 0 && size > 0)
		fprintf(stderr, "\rvsk dump: %u records, %u%%", nread,
			(unsigned)(pos * 100 / size));
	else
		fprintf(stderr, "\rvsk dump: %u records", nread);
}

int cmd_dump(int argc, char **argv)
{
	struct dump_args a = { .po = { 0 } };
	char eb[CAPTURE_ERRBUF_SIZE] = "", ifbuf[32];
	struct capture_reader *r = NULL;
	struct capture_writer *w = NULL;
	struct print_ctx *pc = NULL;
	struct conntrack *ct = NULL;
	struct pbuf out = { 0 };
	struct sigaction sa;
	const char *src, *ifname = NULL;
	bool created = false, live;
	uint32_t seen = 0, nread = 0;
	int rc, orc = 0, status = 0, dlt;
	bool progress, shown = false;
	time_t last_progress = time(NULL);

	parse(argc, argv, &a);
	live = a.rfile == NULL;
	if (live) {
		ifname = live_iface(&a, ifbuf, sizeof(ifbuf), &created);
		src = ifname;
		rc = capture_reader_live(ifname, a.snaplen, &r, eb);
	} else {
		src = strcmp(a.rfile, "-") == 0 ? "stdin" : a.rfile;
		rc = capture_reader_open(a.rfile, &r, eb);
	}
	if (rc < 0) {
		/* libpcap's file messages already start with the path. */
		if (!live && eb[0] && strncmp(eb, a.rfile, strlen(a.rfile)) == 0)
			warnx("read %s", eb);
		else
			warnx("%s %s: %s", live ? "capture on" : "read", src,
			      eb[0] ? eb : strerror(-rc));
		status = 1;
		goto out;
	}
	dlt = capture_linktype(r);
	if (dlt != (int)WIRE_LINKTYPE_VSOCK) {
		warnx("%s: link type %s (%d), not VSOCK (%u)", src, capture_linktype_name(dlt), dlt,
		      WIRE_LINKTYPE_VSOCK);
		status = 1;
		goto out;
	}
	if (a.bpf != NULL && capture_set_filter(r, a.bpf, eb) < 0) {
		warnx("filter '%s': %s", a.bpf, eb);
		status = EXIT_USAGE;
		goto out;
	}
	if (live)
		/* As tcpdump does: says when records start to flow. */
		fprintf(stderr, "vsk dump: listening on %s%s, link-type VSOCK (271)\n", ifname,
			created ? (a.keep ? " (created, kept)" : " (created, removed on exit)") : "");
	if (a.wfile != NULL && (rc = capture_writer_open(a.wfile, a.snaplen, &w, eb)) < 0) {
		warnx("write %s: %s", a.wfile, eb[0] ? eb : strerror(-rc));
		status = 1;
		goto out;
	}
	if (print_ctx_new(&a.po, &pc) < 0 || pbuf_init(&out, OUT_CHUNK + 65536) < 0 ||
	    (a.conns && conntrack_new(&ct) < 0)) {
		warnx("out of memory");
		status = 1;
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* An interface we made must go even when our reader does (| head):
	 * see EPIPE instead of dying of SIGPIPE. */
	if (created)
		signal(SIGPIPE, SIG_IGN);
	g_reader = r;
	/* Progress only where a person watches and it cannot mix with the
	 * records: a terminal on stderr, stdout elsewhere, a file being read. */
	progress = !live && isatty(STDERR_FILENO) && !isatty(STDOUT_FILENO);

	while (!g_stop && (a.count == 0 || seen < a.count)) {
		struct capture_pkt p;
		struct wire_rec rec;
		struct ct_event ev;

		rc = capture_next(r, &p, eb);
		if (rc == 0)
			break;
		if (rc == -EAGAIN) {
			if (out.len > 0 && (orc = flush_out(&out)) < 0)
				break;
			continue;
		}
		if (rc < 0) {
			if ((orc = flush_out(&out)) == 0)
				warnx("read %s: %s", src, eb);
			status = 1;
			break;
		}
		if (progress && (++nread & 0xffff) == 0 && time(NULL) != last_progress) {
			last_progress = time(NULL);
			show_progress(r, nread);
			shown = true;
		}
		wire_rec_parse(p.data, p.caplen, &rec);
		if (!print_match(&a.pf, &rec))
			continue;
		seen++;
		if (ct != NULL && conntrack_add(ct, &p.ts, p.len, &rec, &ev) == -ENOMEM) {
			warnx("out of memory for the connection table");
			status = 1;
			break;
		}
		if (w != NULL) {
			rc = capture_write_rec(w, &p.ts, p.data, p.caplen, p.len);
			if (rc == 0 && live)
				rc = capture_writer_flush(w);
			if (rc < 0) {
				errno = -rc;
				warn("write %s", a.wfile);
				status = 1;
				break;
			}
			continue;
		}
		print_rec(pc, &out, &p.ts, p.caplen, p.len, &rec);
		if ((out.len >= OUT_CHUNK || live) && (orc = flush_out(&out)) < 0)
			break;
	}
	if (orc == 0 && a.conns && !(w != NULL && strcmp(a.wfile, "-") == 0)) {
		print_conns(pc, ct, &out);
		orc = flush_out(&out);
	} else if (orc == 0) {
		orc = flush_out(&out);
	}
	/* A reader that went away (EPIPE) is a normal end, like ^C. */
	if (orc < 0 && orc != -EPIPE)
		status = 1;
	if (live) {
		uint32_t drops = capture_dropped(r);

		if (drops > 0)
			warnx("%u records dropped by the kernel", drops);
	}
	if (shown)
		fputs("\r\033[K", stderr);
out:
	g_reader = NULL;
	if (w != NULL && (rc = capture_writer_close(w)) < 0) {
		errno = -rc;
		warn("write %s", a.wfile);
		status = 1;
	}
	capture_reader_close(r);
	if (created && !a.keep && (rc = capture_link_delete(ifname)) < 0) {
		errno = -rc;
		warn("remove interface %s", ifname);
	}
	print_ctx_free(pc);
	conntrack_free(ct);
	pbuf_free(&out);
	free(a.bpf);
	return status;
}
