/* vsk dump: capture (vsockmon) or read (pcap) vsock traffic and decode it. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "capture.h"
#include "conntrack.h"
#include "plot.h"
#include "print.h"
#include "probe.h"
#include "timeline.h"
#include "wire.h"

#define DUMP_IFNAME "vsockmon0"  /* what `ip link add type vsockmon` picks */
#define OUT_CHUNK   (1u << 20)   /* write text out in 1 MiB pieces */

struct dump_args {
	const char *iface, *rfile, *wfile, *plot;
	char *bpf;
	uint32_t count;          /* 0 = no limit */
	uint32_t snaplen;
	uint32_t plot_conn;      /* with plot_conn_set: the --conns row, from 1 */
	bool plot_conn_set;
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

static const char usage_text[] =
	"usage: vsk dump [-i IFACE | -r FILE] [-w FILE] [-c COUNT] [-n] [-t...] [-v] [-x | -X]\n"
	"                [--json] [--conns] [--plot FILE [--plot-conn N]] [--cid CID]\n"
	"                [--port PORT] [--op NAME] [--type NAME] [--keep] [--utc] [-s SNAPLEN]\n"
	"                [BPF expression]\n"
	"\n"
	"  -i, --interface IFACE  capture live on a vsockmon interface (default: the\n"
	"                         first one; as root one is created and removed on exit)\n"
	"  -r, --read FILE        read a pcap/pcapng file ('-' = stdin)\n"
	"  -w, --write FILE       write matching records as LINKTYPE_VSOCK pcap ('-' = stdout)\n"
	"  -c, --count N          stop after N matching records (1 or more)\n"
	"  -n                     accepted for tcpdump's sake: vsk never resolves names\n"
	"  -t                     no time stamp; -tt seconds since the epoch, -ttt since the\n"
	"                         previous line, -tttt date and time, -ttttt since the first\n"
	"  -v, --verbose          also decode the virtio header (type, op, flags, credit)\n"
	"  -x, --hex              payload as hex\n"
	"  -X, --hex-ascii        payload as hex and ASCII\n"
	"      --json             one JSON object per record (see man vsk-dump)\n"
	"      --conns            per-connection table at the end\n"
	"      --plot FILE        time-sequence and credit graph of every connection as\n"
	"                         SVG ('-' = stdout), written at the end; no record lines\n"
	"      --plot-conn N      only connection N (its row in the --conns table, from 1)\n"
	"      --cid CID          records from or to CID: a number, host (2), local (1),\n"
	"                         hypervisor (0), or any (no filter)\n"
	"      --port PORT        records from or to PORT: a number or any (no filter)\n"
	"      --op NAME          CONNECT|DISCONNECT|CONTROL|PAYLOAD or a virtio op, any case\n"
	"                         (REQUEST RESPONSE RST SHUTDOWN RW CREDIT_UPDATE CREDIT_REQUEST)\n"
	"      --type NAME        STREAM|SEQPACKET|DGRAM\n"
	"      --keep             leave a vsockmon interface this command created\n"
	"      --utc              timestamps in UTC rather than local time\n"
	"  -s, --snaplen N        live capture snapshot length (default 262144)\n"
	"  -h, --help             this help\n"
	"\n"
	"Options may follow the filter words, as with tcpdump ('--' ends the options).\n";

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

/* A and B name one file (by name, or one existing file by two names). */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (a == NULL || b == NULL || strcmp(a, "-") == 0)
		return false;
	if (strcmp(a, b) == 0)
		return true;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* --cid / --port: the words a vsock address takes there (the CLI's CID and
 * port parsers, as every command's); "any" (and -1 for a CID) is no filter,
 * while the number 4294967295 is a value to match. */
static bool cid_or_port_arg(const char *s, bool cid, uint32_t *v)
{
	if (!strcasecmp(s, "any") || (cid && !strcmp(s, "-1")))
		return false;
	*v = cid ? cli_cid("--cid", s, 0, UINT32_MAX) : cli_port("--port", s, 0, UINT32_MAX);
	return true;
}

/* An option given that only shapes record lines, by its short name; NULL
 * when there is none.  TS is the -t form ("-t" ... "-ttttt"). */
static const char *line_opt(const struct dump_args *a, const char *ts)
{
	if (a->po.verbose)
		return "-v";
	if (a->po.hex != PRINT_HEX_NONE)
		return a->po.hex == PRINT_HEX ? "-x" : "-X";
	if (a->po.ts != PRINT_TS_TIME)
		return ts;
	/* With --conns, --json shapes the table. */
	if (a->po.json && !a->conns)
		return "--json (without --conns)";
	return NULL;
}

static void parse(int argc, char **argv, struct dump_args *a)
{
	enum { O_JSON = 256, O_CONNS, O_CID, O_PORT, O_OP, O_TYPE, O_KEEP, O_UTC, O_PLOT,
	       O_PLOT_CONN };
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
		{ "plot", required_argument, NULL, O_PLOT },
		{ "plot-conn", required_argument, NULL, O_PLOT_CONN },
		{ "cid", required_argument, NULL, O_CID },
		{ "port", required_argument, NULL, O_PORT },
		{ "op", required_argument, NULL, O_OP },
		{ "type", required_argument, NULL, O_TYPE },
		{ "keep", no_argument, NULL, O_KEEP },
		{ "utc", no_argument, NULL, O_UTC },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *opname = NULL, *typename = NULL, *lo;
	char tsbuf[8];
	unsigned nt = 0;
	uint32_t v;
	int c;

	/* No '+': options may follow the filter words, as tcpdump's do. */
	while ((c = getopt_long(argc, argv, "i:r:w:c:s:vxXhnt", opts, NULL)) != -1) {
		switch (c) {
		case 'i': a->iface = optarg; break;
		case 'r': a->rfile = optarg; break;
		case 'w': a->wfile = optarg; break;
		case 'c': a->count = (uint32_t)cli_count("-c", optarg, 1, UINT32_MAX); break; /* 0: refused, as tcpdump does */
		case 's': a->snaplen = (uint32_t)cli_size("-s", optarg, 0, CAPTURE_SNAPLEN); break;
		case 'n': break; /* names are never resolved: -n and -nn are what vsk does */
		case 't': nt++; break;
		case 'v': a->po.verbose++; break;
		case 'x': if (a->po.hex == PRINT_HEX_NONE) a->po.hex = PRINT_HEX; break;
		case 'X': a->po.hex = PRINT_HEX_ASCII; break;
		case O_JSON: a->po.json = true; break;
		case O_CONNS: a->conns = true; break;
		case O_PLOT: a->plot = optarg; break;
		case O_PLOT_CONN:
			a->plot_conn = (uint32_t)cli_count("--plot-conn", optarg, 0, UINT32_MAX);
			a->plot_conn_set = true;
			break;
		case O_CID:
			a->pf.cid_set = cid_or_port_arg(optarg, true, &v);
			a->pf.cid = v;
			break;
		case O_PORT:
			a->pf.port_set = cid_or_port_arg(optarg, false, &v);
			a->pf.port = v;
			break;
		case O_OP: opname = optarg; break;
		case O_TYPE: typename = optarg; break;
		case O_KEEP: a->keep = true; break;
		case O_UTC: a->po.utc = true; break;
		case 'h': exit(cli_usage(usage_text, true));
		default: exit(cli_bad_option());
		}
	}
	if (nt > PRINT_TS_SINCE_FIRST)
		cli_usage_die("-t given %u times: -t to -ttttt pick the time stamp", nt);
	a->po.ts = (enum print_ts)nt;
	snprintf(tsbuf, sizeof(tsbuf), "-%.*s", (int)nt, "ttttt");
	if (opname != NULL && print_filter_op(&a->pf, opname) < 0)
		cli_usage_die("invalid op: '%s' (expected CONNECT, DISCONNECT, CONTROL, PAYLOAD, "
			      "REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE or CREDIT_REQUEST)",
			      opname);
	if (typename != NULL && print_filter_type(&a->pf, typename) < 0)
		cli_usage_die("invalid type: '%s' (expected STREAM, SEQPACKET or DGRAM)", typename);
	if (a->plot != NULL && a->plot[0] == '\0')
		cli_usage_die("--plot needs a file name ('-' for stdout)");
	if (a->iface != NULL && a->rfile != NULL)
		cli_usage_die("-i and -r are exclusive: capture live or read a file");
	if (a->keep && a->rfile != NULL)
		cli_usage_die("--keep applies to live capture only");
	lo = line_opt(a, tsbuf);
	if (a->wfile != NULL && strcmp(a->wfile, "-") == 0 && (a->conns || a->po.json || lo != NULL))
		cli_usage_die("-w - writes pcap to stdout; it cannot also carry text output");
	/* Without record lines, what shapes them would be dropped silently. */
	if (lo != NULL && a->wfile != NULL)
		cli_usage_die("%s shapes the record lines, but -w writes the records as pcap instead: "
			      "drop one of them", lo);
	if (lo != NULL && a->plot != NULL)
		cli_usage_die("%s shapes the record lines, but --plot draws the records instead: "
			      "drop one of them", lo);
	if (a->po.ts != PRINT_TS_TIME && a->po.json)
		cli_usage_die("%s picks the time stamp of text lines; --json's ts is always seconds "
			      "since the epoch", tsbuf);
	if (a->rfile != NULL && a->wfile != NULL && strcmp(a->rfile, "-") &&
	    strcmp(a->rfile, a->wfile) == 0)
		cli_usage_die("-r and -w name the same file '%s'", a->rfile);
	if (a->plot_conn_set && a->plot == NULL)
		cli_usage_die("--plot-conn picks the connection --plot draws: give --plot FILE");
	if (a->plot_conn_set && a->plot_conn == 0)
		cli_usage_die("--plot-conn counts the rows of --conns from 1");
	if (a->plot != NULL && strcmp(a->plot, "-") == 0 && (a->conns || a->po.json ||
	    (a->wfile != NULL && strcmp(a->wfile, "-") == 0)))
		cli_usage_die("--plot - writes SVG to stdout; it cannot also carry text or pcap");
	if (a->plot != NULL && strcmp(a->plot, "-") != 0 &&
	    (same_file(a->rfile, a->plot) || same_file(a->wfile, a->plot)))
		cli_usage_die("--plot names the file '%s' that -r or -w already uses", a->plot);
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

/* PATH is "-" and the reader of stdout went away: pcap or SVG that could
 * not be written there is a normal end, as EPIPE is for text.  (The
 * writers say only that writing failed; a pipe without a reader polls as
 * POLLERR on its write end.) */
static bool stdout_gone(const char *path)
{
	struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLOUT };

	return path != NULL && strcmp(path, "-") == 0 && poll(&p, 1, 0) == 1 &&
	       (p.revents & POLLERR) != 0;
}

/* Find or make the vsockmon interface; *CREATED says we must remove it. */
static const char *live_iface(const struct dump_args *a, char *name, size_t len, bool *created)
{
	char fix[224];
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
		errx(1, "this kernel has no vsockmon: %s", /* the fix `vsk check` gives */
		     probe_module_fix_here("vsockmon", fix, sizeof(fix)));
	if (rc < 0) {
		errno = -rc;
		err(1, "create vsockmon interface %s", name);
	}
	*created = true;
	return name;
}

/* Feed one record to the connection table and the plot's timeline. */
static int track(struct conntrack *ct, struct timeline *tl, const struct capture_pkt *p,
		 const struct wire_rec *rec)
{
	struct ct_event ev;
	int rc = conntrack_add(ct, &p->ts, p->len, rec, &ev);

	/* More than CT_CONNS_MAX connections (-ENOSPC): the rest are not counted. */
	if (rc == -ENOMEM)
		return rc;
	if (rc == 1 && tl != NULL)
		return timeline_add(tl, &p->ts, rec, &ev, conntrack_get(ct, ev.conn));
	return 0;
}

static FILE *plot_open(const char *path)
{
	FILE *f;

	if (strcmp(path, "-") == 0)
		return stdout;
	f = fopen(path, "w");
	if (f == NULL)
		warn("open %s (--plot)", path);
	return f;
}

/* Close the plot's file F; an unfinished (FAILED) one that is a regular
 * file is removed rather than left half written.  0 or -errno. */
static int plot_close(FILE *f, const char *path, bool failed)
{
	struct stat st;
	bool reg = f != stdout && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
	int rc = 0;

	if (f == stdout ? fflush(f) != 0 : fclose(f) != 0)
		rc = -errno;
	if ((failed || rc < 0) && reg)
		unlink(path);
	return rc;
}

/* Draw the plot into F and close it; 0 or -errno after saying what failed. */
static int plot_finish(const struct dump_args *a, FILE *f, const struct conntrack *ct,
		       const struct timeline *tl, const char *src)
{
	struct plot_opts po = { .source = src, .only = a->plot_conn_set ? (long)a->plot_conn - 1 : -1 };
	size_t n = conntrack_count(ct);
	int rc = plot_svg(f, ct, tl, &po), crc;

	if (rc == -ENOENT)
		warnx("--plot-conn %u: %s has %zu connection%s (the rows of --conns)", a->plot_conn,
		      src, n, n == 1 ? "" : "s");
	else if (rc == 0 && po.only < 0 && n > TL_CONNS_MAX)
		warnx("--plot %s: the first %u of %zu connections are drawn; --plot-conn N draws "
		      "connection N", a->plot, TL_CONNS_MAX, n);
	crc = plot_close(f, a->plot, rc < 0);
	if (rc == 0)
		rc = crc;
	if (rc < 0 && rc != -ENOENT && stdout_gone(a->plot)) {
		clearerr(stdout); /* nothing was lost: no complaint at exit either */
		return 0;
	}
	if (rc < 0 && rc != -ENOENT) {
		errno = -rc;
		warn("write %s (--plot)", a->plot);
	}
	return rc;
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
	struct timeline *tl = NULL;
	FILE *pf = NULL;
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
	if (a.plot != NULL && (pf = plot_open(a.plot)) == NULL) {
		status = 1;
		goto out;
	}
	if (print_ctx_new(&a.po, &pc) < 0 || pbuf_init(&out, OUT_CHUNK + 65536) < 0 ||
	    ((a.conns || a.plot != NULL) && conntrack_new(&ct) < 0) ||
	    (a.plot != NULL && timeline_new(&(struct tl_opts){
		.only = a.plot_conn_set ? (long)a.plot_conn - 1 : -1 }, &tl) < 0)) {
		warnx("out of memory");
		status = 1;
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A reader that goes away (| head) is a normal end: see EPIPE and stop
	 * with status 0 instead of dying of SIGPIPE (and an interface we made
	 * is still removed). */
	signal(SIGPIPE, SIG_IGN);
	g_reader = r;
	/* Progress only where a person watches and it cannot mix with the
	 * records: a terminal on stderr, stdout elsewhere (or nothing printed
	 * to it: --plot into a file without --conns), a file being read. */
	progress = !live && isatty(STDERR_FILENO) && (!isatty(STDOUT_FILENO) ||
		   (a.plot != NULL && strcmp(a.plot, "-") != 0 && !a.conns));

	while (!g_stop && (a.count == 0 || seen < a.count)) {
		struct capture_pkt p;
		struct wire_rec rec;

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
		if (ct != NULL && track(ct, tl, &p, &rec) < 0) {
			warnx("out of memory for the connection table");
			status = 1;
			break;
		}
		if (w != NULL) {
			rc = capture_write_rec(w, &p.ts, p.data, p.caplen, p.len);
			if (rc == 0 && live)
				rc = capture_writer_flush(w);
			if (rc < 0) {
				if (!stdout_gone(a.wfile)) {
					errno = -rc;
					warn("write %s", a.wfile);
					status = 1;
				}
				break;
			}
			continue;
		}
		if (a.plot != NULL)
			continue; /* the picture instead of the lines, as -w */
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
	if (pf != NULL) {
		/* Also after a read error: the picture of what was read. */
		if (plot_finish(&a, pf, ct, tl, src) < 0)
			status = 1;
		pf = NULL;
	}
out:
	if (pf != NULL)
		plot_close(pf, a.plot, true);
	g_reader = NULL;
	if (w != NULL && (rc = capture_writer_close(w)) < 0 && !stdout_gone(a.wfile)) {
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
	timeline_free(tl);
	pbuf_free(&out);
	free(a.bpf);
	return status;
}
