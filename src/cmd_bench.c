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
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "cli_serve.h"

static const char usage_text[] =
	"usage: vsk bench -s [-q|-v] LISTEN_ADDR\n"
	"       vsk bench [-R | --bidir | --rr | --crr] [-l SIZE] [-P N]\n"
	"                 [-t SECS | -n SIZE | -c COUNT] [--timeout MS]\n"
	"                 [--no-check] [--json] ADDR\n"
	"  -s, --server       serve tests on LISTEN_ADDR (many at once) until killed\n"
	"  -R, --reverse      throughput server -> client (default client -> server)\n"
	"      --bidir        both directions at once (-P connections each way)\n"
	"      --rr           round trips of -l bytes: latency p50, p99, max\n"
	"      --crr          connections per second: connect, one round trip, close\n"
	"  -l, --length SIZE  bytes per send or request, 1..1M (default 128K, rr/crr 64)\n"
	"  -P, --parallel N   connections at once, 1..4096 (default 1)\n"
	"  -t, --time SECS    run this long, up to 86400 (default 10; 1.5, 500ms, 2m too)\n"
	"  -n, --bytes SIZE   throughput: send SIZE bytes per connection instead\n"
	"  -c, --count N      rr: N round trips per connection; crr: N connections\n"
	"      --timeout MS   fail when nothing moves this long, 1 ms..24 h\n"
	"                     (default 10000; 30s, 1m too)\n"
	"      --no-check     count the bytes but compare none (the output says so)\n"
	"      --json         the result as one JSON object (docs/JSON.md), also on\n"
	"                     failure and when interrupted\n"
	"  -q, --quiet        server: print errors only\n"
	"  -v, --verbose      server: a line for crr connections too\n"
	"  -h, --help         this text\n"
	"SIZE: bytes, K, M, G, T suffixes (powers of 1024; 1.5K is 1536).  0 is no\n"
	"value here.  Ctrl-C (SIGINT, SIGTERM) stops a client: it prints what it\n"
	"measured so far, marked interrupted, and exits 1.\n"
	"ADDR: vsock:, vsock-seq:, hybrid:, unix:, tcp: (see vsk --help).\n";

#define BENCH_BYTES_MAX (1ull << 50) /* -n: 1024T per connection */

struct opts {
	bool server, json, quiet, verbose;
	int test;              /* -1 until a mode option */
	struct bench_params bp;
	struct vsk_addr addr;
	char addr_text[VSK_PATH_MAX + 64];
	bool have_len, have_time;
};

/* The client's SIGINT/SIGTERM: the first ends the test (bench_params.stop),
 * a second one kills as the default would. */
static volatile sig_atomic_t stop_sig;

static void on_stop(int sig)
{
	if (stop_sig != 0) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	stop_sig = sig;
}

static void set_test(struct opts *o, int t)
{
	if (o->test >= 0 && o->test != t)
		cli_usage_die("choose one of -R, --bidir, --rr, --crr");
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
static const char *checked_text(const struct bench_params *bp, const struct bench_result *r)
{
	if (r->interrupted)
		return stop_sig == SIGTERM ? "interrupted by SIGTERM (counted so far)"
					   : "interrupted by SIGINT (counted so far)";
	return bp->nocheck ? "data not checked (--no-check)" : "data verified";
}

static void print_rate(const struct bench_params *bp, const struct bench_result *r, const char *dir,
		       uint64_t bytes)
{
	double bps = r->secs > 0 ? (double)bytes / r->secs : 0;

	printf("%s: %" PRIu64 " bytes in %.3f s = %.1f MB/s (%.2f Gbit/s), %u connection%s, %s\n",
	       dir, bytes, r->secs, bps / 1e6, bps * 8 / 1e9, bp->streams, bp->streams == 1 ? "" : "s",
	       checked_text(bp, r));
}

static void print_text(const struct opts *o, const struct bench_result *r)
{
	const struct bench_params *bp = &o->bp;
	const struct bench_lat *l = r->lat;
	char a[32], b[32], c[32];
	double rate;

	switch (bp->test) {
	case BENCH_T_UP:
		print_rate(bp, r, "up", r->bytes_up);
		break;
	case BENCH_T_DOWN:
		print_rate(bp, r, "down", r->bytes_down);
		break;
	case BENCH_T_BIDIR:
		print_rate(bp, r, "up", r->bytes_up);
		print_rate(bp, r, "down", r->bytes_down);
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
		       checked_text(bp, r));
		break;
	}
}

static void json_lat(const struct bench_lat *l)
{
	if (l == NULL || l->n == 0) {
		fputs("null", stdout);
		return;
	}
	printf("{\"samples\":%" PRIu64 ",\"min_us\":%.3f,\"mean_us\":%.3f,\"p50_us\":%.3f,"
	       "\"p99_us\":%.3f,\"max_us\":%.3f}",
	       l->n, (double)l->min / 1e3, (double)l->sum / (double)l->n / 1e3,
	       (double)bench_lat_quantile(l, 0.5) / 1e3, (double)bench_lat_quantile(l, 0.99) / 1e3,
	       (double)l->max / 1e3);
}

/* One compact object, the fields of docs/JSON.md in that order. */
static void print_json(const struct opts *o, const struct timespec *t0, const struct bench_result *r,
		       const char *error)
{
	const struct bench_params *bp = &o->bp;
	bool lat = bp->test == BENCH_T_RR || bp->test == BENCH_T_CRR;
	double s = r->secs > 0 ? r->secs : 1;

	printf("{");
	cli_json_time(stdout, t0);
	printf(",\"test\":\"%s\",\"address\":", test_name(bp->test));
	cli_json_str(stdout, o->addr_text);
	printf(",\"socket\":\"%s\",\"length_bytes\":%u,\"parallel\":%u,\"duration_sec\":%.6f,"
	       "\"up_bytes\":%" PRIu64 ",\"down_bytes\":%" PRIu64 ","
	       "\"up_bytes_per_sec\":%.0f,\"down_bytes_per_sec\":%.0f,"
	       "\"round_trips\":%" PRIu64 ",\"round_trips_per_sec\":%.1f,"
	       "\"connections\":%" PRIu64 ",\"connections_per_sec\":%.1f,\"latency\":",
	       r->seqpacket ? "seqpacket" : "stream", bp->msg_len, bp->streams, r->secs, r->bytes_up,
	       r->bytes_down, (double)r->bytes_up / s, (double)r->bytes_down / s, r->round_trips,
	       (double)r->round_trips / s, r->conns, (double)r->conns / s);
	json_lat(lat ? r->lat : NULL);
	printf(",\"checked\":%s,\"verified\":%s,\"interrupted\":%s,\"error\":",
	       bp->nocheck ? "false" : "true", error == NULL && !bp->nocheck ? "true" : "false",
	       r->interrupted ? "true" : "false");
	cli_json_str(stdout, error);
	printf("}\n");
}

static int run_client(struct opts *o)
{
	struct bench_result res;
	struct prog last = { 0, 0, 0, 0, 0 };
	bool tty = !o->json && isatty(STDOUT_FILENO);
	struct sigaction sa;
	struct timespec t0;
	char msg[512] = "";
	int rc;

	/* No SA_RESTART: a connect() the signal interrupts ends with EINTR. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	o->bp.stop = &stop_sig;
	clock_gettime(CLOCK_REALTIME, &t0);
	rc = bench_client(&o->bp, connect_cb, &o->addr, tty ? on_progress : NULL, &last, &res);
	if (rc < 0 && res.op != NULL)
		/* The connect itself failed: the explained message. */
		vsk_explain(res.err, res.op, &o->addr, msg, sizeof(msg));
	else if (rc < 0 && res.alien && strstr(res.msg, "closed") != NULL)
		/* A bench server that stopped closes too: say both. */
		snprintf(msg, sizeof(msg), "%s: no report from the peer (%s): it is not 'vsk bench -s', "
			 "or that server stopped", o->addr_text, res.msg);
	else if (rc < 0 && res.alien)
		snprintf(msg, sizeof(msg), "%s: the peer did not answer like 'vsk bench -s' (%s)",
			 o->addr_text, res.msg);
	else if (rc < 0)
		snprintf(msg, sizeof(msg), "%s: %s", o->addr_text, res.msg);
	else if (res.interrupted)
		/* As iperf3: what was measured so far, then exit 1. */
		snprintf(msg, sizeof(msg), "%s: interrupted by %s after %.3f s", o->addr_text,
			 stop_sig == SIGTERM ? "SIGTERM" : "SIGINT", res.secs);
	if (o->json)
		print_json(o, &t0, &res, msg[0] != '\0' ? msg : NULL);
	else if (rc == 0)
		print_text(o, &res);
	fflush(stdout);
	bench_result_free(&res);
	if (msg[0] != '\0') {
		fprintf(stderr, "vsk bench: %s\n", msg);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------- server */

static void on_conn(void *ctx, const struct bench_conn_info *i)
{
	const struct opts *o = ctx;

	if (i->err == EPIPE || i->err == ECONNRESET) {
		/* An interrupted client (Ctrl-C): no fault of ours; -q hushes it. */
		if (!o->quiet)
			warnx("bench from %s (%s): the client went away before its report (%s)", i->peer,
			      bench_mode_name(i->mode), i->msg);
		return;
	}
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
			o.bp.msg_len = (uint32_t)cli_size("-l", optarg, 1, BENCH_MSG_MAX);
			o.have_len = true;
			break;
		case 'P':
			o.bp.streams = (uint32_t)cli_count("-P", optarg, 1, BENCH_STREAMS_MAX);
			break;
		case 't':
			o.bp.duration_ms = (uint32_t)cli_duration_ms("-t", optarg, 1000, 1, 86400000);
			o.have_time = true;
			break;
		case 'n':
			o.bp.bytes = cli_size("-n", optarg, 1, BENCH_BYTES_MAX);
			break;
		case 'c':
			o.bp.count = cli_count("-c", optarg, 1, UINT32_MAX);
			break;
		case O_TIMEOUT:
			o.bp.idle_ms = (uint32_t)cli_duration_ms("--timeout", optarg, 1, 1, CLI_TIMEOUT_MAX_MS);
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
		cli_usage_die("-s takes no test options: the client chooses the test");
	if (!o.server && (o.quiet || o.verbose))
		cli_usage_die("-q and -v are for the server (-s)");
	if (o.bp.bytes && (o.bp.test == BENCH_T_RR || o.bp.test == BENCH_T_CRR))
		cli_usage_die("-n is for throughput tests; use -c with --rr or --crr");
	if (o.bp.count && o.bp.test != BENCH_T_RR && o.bp.test != BENCH_T_CRR)
		cli_usage_die("-c is for --rr and --crr; use -n for throughput");
	if (o.have_time && (o.bp.bytes || o.bp.count))
		cli_usage_die("-t and -%c both bound the test: choose one", o.bp.bytes ? 'n' : 'c');
	if (!o.have_len)
		o.bp.msg_len = (o.bp.test == BENCH_T_RR || o.bp.test == BENCH_T_CRR) ? 64 : 128 * 1024;
	cli_addr(argv[optind], &o.addr);
	if (o.addr.kind == VSK_ADDR_STDIO)
		return cli_usage_err("'-' is no address to %s: bench needs a socket "
				     "(vsock:, vsock-seq:, hybrid:, unix:, tcp:)", o.server ? "serve on" : "measure");
	vsk_addr_format(&o.addr, o.addr_text, sizeof(o.addr_text));
	signal(SIGPIPE, SIG_IGN);
	return o.server ? run_server(&o) : run_client(&o);
}
