/* vsk bench: throughput, round-trip latency and connection rate over any
 * address, with every byte checked unless --no-check (engine and protocol
 * in lib/bench/bench.h).
 *
 *   vsk bench -s ADDR        serve tests until killed
 *   vsk bench [MODE] ADDR    run one test against a server
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "cli_serve.h"

static const char usage_text[] =
	"usage: vsk bench -s [-q|-v] LISTEN_ADDR\n"
	"       vsk bench [-R | --bidir | --rr | --crr] [-l SIZE] [-P N]\n"
	"                 [-t SEC | -n SIZE | -c COUNT] [--no-check] [--json] ADDR\n"
	"  -s, --server       serve tests on LISTEN_ADDR (many, also at once) until killed\n"
	"  -R, --reverse      throughput server -> client (default client -> server)\n"
	"      --bidir        both directions at once (-P connections each way)\n"
	"      --rr           round trips of -l bytes: latency p50, p99, max\n"
	"      --crr          connections per second: connect, one round trip, close\n"
	"  -l, --length SIZE  bytes per send or per request (default 128K; rr, crr: 64)\n"
	"  -P, --parallel N   connections at once (default 1)\n"
	"  -t, --time SEC     run this long (default 10)\n"
	"  -n, --bytes SIZE   throughput: send SIZE bytes per connection instead\n"
	"  -c, --count N      rr: N round trips per connection; crr: N connections\n"
	"      --timeout MS   fail when nothing moves this long (default 10000)\n"
	"      --no-check     count the bytes but compare none (the output says so)\n"
	"      --json         the result as one JSON object\n"
	"  -q, --quiet        server: print errors only\n"
	"  -v, --verbose      server: a line for crr connections too\n"
	"  -h, --help         this text\n"
	"SIZE takes a K, M or G suffix (powers of 1024). ADDR: vsock:, vsock-seq:,\n"
	"hybrid:, unix:, tcp: (see vsk --help).\n";

struct opts {
	bool server, json, quiet, verbose;
	int test;              /* -1 until a mode option */
	struct bench_params bp;
	struct vsk_addr addr;
	char addr_text[VSK_PATH_MAX + 64];
	bool have_len, have_time;
};

/* SIZE with an optional K/M/G suffix. */
static uint64_t parse_size(const char *s, const char *what)
{
	char num[32];
	size_t n = strlen(s);
	uint64_t mult = 1;

	if (n > 0 && strchr("kKmMgG", s[n - 1]) != NULL) {
		char u = s[n - 1];
		mult = (u == 'k' || u == 'K') ? 1024 : (u == 'm' || u == 'M') ? 1024 * 1024 : 1024ull * 1024 * 1024;
		n--;
	}
	if (n >= sizeof(num))
		errx(EXIT_USAGE, "invalid %s: '%s' (expected a number with an optional K, M or G)", what, s);
	memcpy(num, s, n);
	num[n] = '\0';
	return (uint64_t)cli_u32(num, what, UINT32_MAX) * mult;
}

static void set_test(struct opts *o, int t)
{
	if (o->test >= 0 && o->test != t)
		errx(EXIT_USAGE, "choose one of -R, --bidir, --rr, --crr");
	o->test = t;
}

/* ------------------------------------------------------------- client */

static int connect_cb(void *ctx, const char **op)
{
	const struct vsk_addr *a = ctx;

	return vsk_connect(a, NULL, op);
}

static const char *test_name(enum bench_test t)
{
	static const char *const names[] = { "up", "down", "bidir", "rr", "crr" };

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

struct prog {
	double secs;
	uint64_t up, down, rts, conns;
};

static void on_progress(void *ctx, const struct bench_progress *p)
{
	struct prog *last = ctx;
	double dt = p->secs - last->secs;

	if (dt <= 0)
		return;
	printf("[%5.1f s]", p->secs);
	if (p->bytes_up > last->up)
		printf("  up %.1f MB/s", (double)(p->bytes_up - last->up) / dt / 1e6);
	if (p->bytes_down > last->down)
		printf("  down %.1f MB/s", (double)(p->bytes_down - last->down) / dt / 1e6);
	if (p->round_trips > last->rts)
		printf("  %.0f round trips/s", (double)(p->round_trips - last->rts) / dt);
	if (p->conns > last->conns)
		printf("  %.0f connections/s", (double)(p->conns - last->conns) / dt);
	putchar('\n');
	fflush(stdout);
	*last = (struct prog){ p->secs, p->bytes_up, p->bytes_down, p->round_trips, p->conns };
}

/* "38.2 us", "1.20 ms" */
static const char *dur(uint64_t ns, char *buf, size_t len)
{
	if (ns < 1000000)
		snprintf(buf, len, "%.1f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", (double)ns / 1e9);
	return buf;
}

/* How the data was checked, as the result lines end. */
static const char *checked_text(const struct bench_params *bp)
{
	return bp->nocheck ? "data not checked (--no-check)" : "data verified";
}

static void print_rate(const struct bench_params *bp, const char *dir, uint64_t bytes, double secs)
{
	double bps = secs > 0 ? (double)bytes / secs : 0;

	printf("%s: %" PRIu64 " bytes in %.3f s = %.1f MB/s (%.2f Gbit/s), %u connection%s, %s\n",
	       dir, bytes, secs, bps / 1e6, bps * 8 / 1e9, bp->streams, bp->streams == 1 ? "" : "s",
	       checked_text(bp));
}

static void print_text(const struct opts *o, const struct bench_result *r)
{
	const struct bench_params *bp = &o->bp;
	const struct bench_lat *l = r->lat;
	char a[32], b[32], c[32];
	double rate;

	switch (bp->test) {
	case BENCH_T_UP:
		print_rate(bp, "up", r->bytes_up, r->secs);
		break;
	case BENCH_T_DOWN:
		print_rate(bp, "down", r->bytes_down, r->secs);
		break;
	case BENCH_T_BIDIR:
		print_rate(bp, "up", r->bytes_up, r->secs);
		print_rate(bp, "down", r->bytes_down, r->secs);
		break;
	case BENCH_T_RR:
	case BENCH_T_CRR:
		rate = r->secs > 0 ? (double)(bp->test == BENCH_T_RR ? r->round_trips : r->conns) / r->secs : 0;
		printf("%s: %" PRIu64 " %s of %u bytes in %.3f s = %.0f/s; %s p50 %s, p99 %s, max %s; %s\n",
		       test_name(bp->test), bp->test == BENCH_T_RR ? r->round_trips : r->conns,
		       bp->test == BENCH_T_RR ? "round trips" : "connections", bp->msg_len, r->secs, rate,
		       bp->test == BENCH_T_RR ? "latency" : "connection time",
		       dur(bench_lat_quantile(l, 0.5), a, sizeof(a)),
		       dur(bench_lat_quantile(l, 0.99), b, sizeof(b)), dur(l->max, c, sizeof(c)),
		       checked_text(bp));
		break;
	}
}

static void json_lat(const struct bench_lat *l)
{
	if (l == NULL || l->n == 0) {
		fputs("null", stdout);
		return;
	}
	printf("{\"n\": %" PRIu64 ", \"min\": %.3f, \"mean\": %.3f, \"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}",
	       l->n, (double)l->min / 1e3, (double)l->sum / (double)l->n / 1e3,
	       (double)bench_lat_quantile(l, 0.5) / 1e3, (double)bench_lat_quantile(l, 0.99) / 1e3,
	       (double)l->max / 1e3);
}

static void print_json(const struct opts *o, const struct bench_result *r, const char *error)
{
	const struct bench_params *bp = &o->bp;
	double s = r->secs > 0 ? r->secs : 1;

	printf("{\"test\": \"%s\", \"address\": ", test_name(bp->test));
	cli_json_str(stdout, o->addr_text);
	printf(", \"socket\": \"%s\", \"msg_len\": %u, \"streams\": %u, \"secs\": %.6f, "
	       "\"bytes_up\": %" PRIu64 ", \"bytes_down\": %" PRIu64 ", "
	       "\"up_bytes_per_sec\": %.0f, \"down_bytes_per_sec\": %.0f, "
	       "\"round_trips\": %" PRIu64 ", \"conns\": %" PRIu64 ", \"per_sec\": %.1f, \"latency_us\": ",
	       r->seqpacket ? "seqpacket" : "stream", bp->msg_len, bp->streams, r->secs, r->bytes_up,
	       r->bytes_down, (double)r->bytes_up / s, (double)r->bytes_down / s, r->round_trips,
	       r->conns,
	       (double)(bp->test == BENCH_T_CRR ? r->conns : r->round_trips) / s);
	json_lat(bp->test == BENCH_T_RR || bp->test == BENCH_T_CRR ? r->lat : NULL);
	printf(", \"checked\": %s, \"verified\": %s, \"error\": ", bp->nocheck ? "false" : "true",
	       error == NULL && !bp->nocheck ? "true" : "false");
	cli_json_str(stdout, error);
	printf("}\n");
}

static int run_client(struct opts *o)
{
	struct bench_result res;
	struct prog last = { 0, 0, 0, 0, 0 };
	bool tty = !o->json && isatty(STDOUT_FILENO);
	int rc, status = 0;
	char msg[512];

	rc = bench_client(&o->bp, connect_cb, &o->addr, tty ? on_progress : NULL, &last, &res);
	if (rc < 0 && res.op != NULL) {
		/* The connect itself failed: the explained message. */
		vsk_explain(res.err, res.op, &o->addr, msg, sizeof(msg));
		if (o->json)
			print_json(o, &res, msg);
		bench_result_free(&res);
		errx(1, "%s", msg);
	}
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "bench %s: %s", o->addr_text, res.msg);
		status = 1;
	}
	if (o->json)
		print_json(o, &res, status ? msg : NULL);
	else if (status == 0)
		print_text(o, &res);
	fflush(stdout);
	bench_result_free(&res);
	if (status)
		errx(1, "%s", msg);
	return 0;
}

/* ------------------------------------------------------------- server */

static void on_conn(void *ctx, const struct bench_conn_info *i)
{
	const struct opts *o = ctx;

	if (i->err != 0) {
		warnx("bench from %s (%s): %s", i->peer, bench_mode_name(i->mode), i->msg);
		return;
	}
	if (o->quiet || (i->mode == BENCH_CRR && !o->verbose))
		return;
	printf("%s %s %s: %" PRIu64 " bytes in, %" PRIu64 " out, %.3f s, %s\n", i->peer,
	       bench_mode_name(i->mode), i->seqpacket ? "seqpacket" : "stream", i->bytes_in,
	       i->bytes_out, i->secs, i->checked ? "data verified" : "data not checked (--no-check)");
	fflush(stdout);
}

/* The server a signal stops (bench_server_stop() is async-signal-safe). */
static struct bench_server *volatile stop_server;

static void on_stop_signal(void)
{
	if (stop_server != NULL)
		bench_server_stop(stop_server);
}

/* Until SIGINT, SIGTERM or SIGHUP: then the socket file we bound is
 * removed and the exit is 0. */
static int run_server(struct opts *o)
{
	struct vsk_opts lo = VSK_OPTS_INIT;
	struct bench_server *s = NULL;
	struct cli_sockfile sf;
	int lfd, rc;

	lo.nonblock = true;
	lfd = vsk_listen(&o->addr, &lo);
	if (lfd < 0)
		cli_die_explain(-lfd, "listen", &o->addr);
	cli_sockfile_note(&sf, lfd);
	/* The address the kernel bound: port 0 and any become numbers. */
	cli_bound_text(lfd, &o->addr, o->addr_text, sizeof(o->addr_text));
	rc = bench_server_new(&s, lfd, on_conn, o);
	if (rc < 0) {
		errno = -rc;
		cli_sockfile_remove(&sf);
		err(1, "bench server on %s", o->addr_text);
	}
	stop_server = s;
	cli_stop_signals(on_stop_signal);
	if (!o->quiet)
		fprintf(stderr, "vsk: bench server listening on %s\n", o->addr_text);
	rc = bench_server_run(s, -1);
	stop_server = NULL;
	bench_server_free(s);
	close(lfd);
	cli_sockfile_remove(&sf);
	if (rc < 0) {
		errno = -rc;
		err(1, "bench server on %s", o->addr_text);
	}
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	enum { O_BIDIR = 256, O_RR, O_CRR, O_JSON, O_TIMEOUT, O_NOCHECK };
	static const struct option longopts[] = {
		{ "server", no_argument, NULL, 's' },
		{ "reverse", no_argument, NULL, 'R' },
		{ "bidir", no_argument, NULL, O_BIDIR },
		{ "rr", no_argument, NULL, O_RR },
		{ "crr", no_argument, NULL, O_CRR },
		{ "length", required_argument, NULL, 'l' },
		{ "parallel", required_argument, NULL, 'P' },
		{ "time", required_argument, NULL, 't' },
		{ "bytes", required_argument, NULL, 'n' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "no-check", no_argument, NULL, O_NOCHECK },
		{ "json", no_argument, NULL, O_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .test = -1 };
	uint64_t len = 0;
	int c;

	o.bp.streams = 1;
	while ((c = getopt_long(argc, argv, "sRl:P:t:n:c:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.server = true;
			break;
		case 'R':
			set_test(&o, BENCH_T_DOWN);
			break;
		case O_BIDIR:
			set_test(&o, BENCH_T_BIDIR);
			break;
		case O_RR:
			set_test(&o, BENCH_T_RR);
			break;
		case O_CRR:
			set_test(&o, BENCH_T_CRR);
			break;
		case 'l':
			len = parse_size(optarg, "length");
			o.have_len = true;
			break;
		case 'P':
			o.bp.streams = cli_u32(optarg, "parallel connections", BENCH_STREAMS_MAX);
			break;
		case 't':
			o.bp.duration_ms = cli_u32(optarg, "time", 86400) * 1000;
			o.have_time = true;
			break;
		case 'n':
			o.bp.bytes = parse_size(optarg, "bytes");
			break;
		case 'c':
			o.bp.count = cli_u32(optarg, "count", UINT32_MAX);
			break;
		case O_TIMEOUT:
			o.bp.idle_ms = cli_u32(optarg, "timeout", 86400000);
			break;
		case O_NOCHECK:
			o.bp.nocheck = true;
			break;
		case O_JSON:
			o.json = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			return cli_usage(usage_text, true);
		default:
			return cli_bad_option();
		}
	}
	if (argc - optind == 0)
		return cli_usage_err("missing ADDR: the server to measure against (or -s ADDR to be one)");
	if (argc - optind > 1)
		return cli_usage_err("one ADDR, not %d ('%s' is extra)", argc - optind, argv[optind + 1]);
	o.bp.test = o.test < 0 ? BENCH_T_UP : (enum bench_test)o.test;
	if (o.server && (o.test >= 0 || o.have_len || o.have_time || o.bp.bytes || o.bp.count || o.json ||
			 o.bp.nocheck))
		errx(EXIT_USAGE, "-s takes no test options: the client chooses the test");
	if (!o.server && (o.quiet || o.verbose))
		errx(EXIT_USAGE, "-q and -v are for the server (-s)");
	if (o.bp.bytes && (o.bp.test == BENCH_T_RR || o.bp.test == BENCH_T_CRR))
		errx(EXIT_USAGE, "-n is for throughput tests; use -c with --rr or --crr");
	if (o.bp.count && o.bp.test != BENCH_T_RR && o.bp.test != BENCH_T_CRR)
		errx(EXIT_USAGE, "-c is for --rr and --crr; use -n for throughput");
	if (o.have_time && (o.bp.bytes || o.bp.count))
		errx(EXIT_USAGE, "-t and -%c both bound the test: choose one", o.bp.bytes ? 'n' : 'c');
	if (o.have_time && o.bp.duration_ms == 0)
		errx(EXIT_USAGE, "invalid time: '0' (expected 1..86400 seconds)");
	if (o.have_len && (len == 0 || len > BENCH_MSG_MAX))
		errx(EXIT_USAGE, "invalid length: %" PRIu64 " (expected 1..%u bytes)", len, BENCH_MSG_MAX);
	o.bp.msg_len = o.have_len ? (uint32_t)len
		       : (o.bp.test == BENCH_T_RR || o.bp.test == BENCH_T_CRR) ? 64 : 128 * 1024;
	cli_addr(argv[optind], &o.addr);
	if (o.addr.kind == VSK_ADDR_STDIO)
		return cli_usage_err("'-' is no address to %s: bench needs a socket "
				     "(vsock:, vsock-seq:, hybrid:, unix:, tcp:)", o.server ? "serve on" : "measure");
	vsk_addr_format(&o.addr, o.addr_text, sizeof(o.addr_text));
	signal(SIGPIPE, SIG_IGN);
	return o.server ? run_server(&o) : run_client(&o);
}
