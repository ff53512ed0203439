/* vsk proxy: every connection accepted on one address is relayed to a new
 * connection to another, any kinds on either side, all in one relay.
 *
 * Nothing waits in the loop: the target connect (and the hybrid
 * handshake) of each client is a dial the relay runs beside the other
 * connections, bounded by --timeout (10 s by default; vsock's kernel gives
 * up after 2 s by itself).  A failed dial closes that client (a reset for
 * TCP) and is logged with its explanation; the proxy keeps serving.  A
 * tcp: target's name is resolved before the loop starts, and again (on a
 * thread) only after a connect to it failed.  Out of fds, accepting
 * pauses for 100 ms on a timer.
 * --systemd takes the listening socket from systemd socket activation
 * (fd 3, LISTEN_FDS=1) instead of LISTEN_ADDR.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dial.h"
#include "relay.h"

#define PROXY_TIMEOUT_MS 10000   /* a dial's deadline without --timeout */
#define PROXY_PAUSE_MS 100       /* out of fds: accept again after this */
#define PROXY_RESOLVE_GAP_MS 1000 /* at most one new resolution this often */

static const char usage_text[] =
	"usage: vsk proxy [-v] [--timeout MS | -w SECS] LISTEN_ADDR TARGET_ADDR\n"
	"       vsk proxy [-v] [--timeout MS | -w SECS] --systemd TARGET_ADDR\n"
	"  Accept connections on LISTEN_ADDR; relay each to a new connection to\n"
	"  TARGET_ADDR (vsock, vsock-seq, hybrid, unix, tcp: any pairing).\n"
	"  --timeout MS   target connect (and handshake) timeout, 1 ms..24 h\n"
	"                 (default 10000; 2s, 1.5m too)\n"
	"  -w SECS        the same in seconds, as nc -w (500ms too)\n"
	"  --systemd      accept on the socket systemd passed (LISTEN_FDS)\n"
	"  -v, --verbose  report each connection and its byte counts on stderr\n"
	"  -h, --help     this text\n";

struct proxy {
	struct relay *r;
	struct vsk_addr from, to;
	struct vsk_opts opts;
	struct dial_target target;
	char from_text[VSK_PATH_MAX + 64], to_text[VSK_PATH_MAX + 64];
	int lfd;
	int timeout_ms;
	int resolve_fd;          /* a resolution running, -1: none */
	int64_t resolved_ms;     /* when the last one started */
	bool verbose;
};

struct conn {
	char peer[160];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_resolved(void *ctx, int fd)
{
	struct proxy *p = ctx;
	int rc;

	relay_unwatch(p->r, fd);
	p->resolve_fd = -1;
	rc = dial_target_refreshed(&p->target);
	if (rc < 0) {
		char msg[512];

		warnx("%s", vsk_explain(-rc, "resolve", &p->to, msg, sizeof(msg)));
	} else if (p->verbose) {
		fprintf(stderr, "vsk: %s resolved again: %d address%s\n", p->to_text, p->target.nsa,
			p->target.nsa == 1 ? "" : "es");
	}
}

/* The target's name may have moved: look it up again, off the loop. */
static void resolve_again(struct proxy *p)
{
	int fd;

	if (p->resolve_fd >= 0 || now_ms() - p->resolved_ms < PROXY_RESOLVE_GAP_MS)
		return;
	fd = dial_target_refresh(&p->target);
	if (fd < 0)
		return; /* a literal address, or no thread: the old addresses serve */
	p->resolved_ms = now_ms();
	if (relay_watch(p->r, fd, on_resolved, p) < 0) {
		/* Not watched, never read: dropped with the target at exit. */
		return;
	}
	p->resolve_fd = fd;
}

static void on_accept(void *ctx, int lfd);

static void on_resume(void *ctx)
{
	struct proxy *p = ctx;

	if (relay_watch(p->r, p->lfd, on_accept, p) < 0)
		warnx("accept %s: cannot watch the listening socket again", p->from_text);
}

static void pause_accept(struct proxy *p)
{
	/* Out of fds: stop taking clients for a moment instead of spinning
	 * on a listener that stays readable. */
	relay_unwatch(p->r, p->lfd);
	if (relay_after(p->r, PROXY_PAUSE_MS, on_resume, p) == NULL)
		relay_watch(p->r, p->lfd, on_accept, p);
}

static void on_accept(void *ctx, int lfd)
{
	struct proxy *p = ctx;
	char peer[160];

	/* Level-triggered: a bounded batch, the rest on the next round. */
	for (int i = 0; i < 64; i++) {
		struct relay_end a;
		struct conn *c;
		int cfd = vsk_accept(lfd, peer, sizeof(peer), SOCK_NONBLOCK);

		if (cfd == -EAGAIN)
			break;
		if (cfd < 0) {
			errno = -cfd;
			warn("accept %s", p->from_text);
			if (cfd == -EMFILE || cfd == -ENFILE)
				pause_accept(p);
			break;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			warnx("client %s: out of memory, closed", peer);
			close(cfd);
			continue;
		}
		snprintf(c->peer, sizeof(c->peer), "%s", peer);
		a = (struct relay_end){ .rd = cfd, .wr = cfd };
		if (relay_add_dial(p->r, &a, &p->target, p->timeout_ms, c) < 0) {
			warnx("client %s: cannot relay it, closed", peer);
			free(c);
		}
	}
}

/* Was OP a step of the target's dial (rather than of the data)? */
static bool dial_op(const char *op)
{
	static const char *const ops[] = { "socket", "bind", "connect", "handshake", "resolve" };

	for (size_t i = 0; op != NULL && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(op, ops[i]))
			return true;
	return false;
}

static void on_event(void *ctx, enum relay_event ev, const struct relay_info *info)
{
	struct proxy *p = ctx;
	struct conn *c = info->udata;
	char msg[512];

	if (ev == RELAY_NEW)
		return;
	if (ev == RELAY_UP) {
		if (p->verbose)
			fprintf(stderr, "vsk: connection from %s to %s\n", c->peer, p->to_text);
		return;
	}
	if (info->err != 0 && info->side == 'b' && dial_op(info->op)) {
		warnx("%s (client %s closed)", vsk_explain(info->err, info->op, &p->to, msg, sizeof(msg)),
		      c->peer);
		if (!strcmp(info->op, "connect") || !strcmp(info->op, "resolve"))
			resolve_again(p);
		free(c);
		return;
	}
	if (p->verbose && info->err != 0)
		warnx("connection from %s reset: %s %s: %s", c->peer, info->op ? info->op : "relay",
		      info->side == 'a' ? "client" : p->to_text, strerror(info->err));
	if (p->verbose)
		fprintf(stderr, "vsk: connection from %s closed: %" PRIu64 " bytes to %s, %" PRIu64
			" back\n", c->peer, info->a_to_b, p->to_text, info->b_to_a);
	free(c);
}

static void parse_side(const char *text, struct vsk_addr *a, char *buf, size_t len)
{
	cli_addr(text, a);
	if (a->kind == VSK_ADDR_STDIO)
		errx(EXIT_USAGE, "proxy needs socket addresses, not '-'");
	vsk_addr_format(a, buf, len);
}

int cmd_proxy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 'T' },
		{ "systemd", no_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vsk_opts lopts = VSK_OPTS_INIT;
	struct proxy p = { .opts = VSK_OPTS_INIT, .lfd = -1, .resolve_fd = -1 };
	bool systemd = false;
	char msg[512];
	int c, rc;

	while ((c = getopt_long(argc, argv, "vw:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'T':
			p.opts.timeout_ms = (int)cli_duration_ms("--timeout", optarg, 1, 1, CLI_TIMEOUT_MAX_MS);
			break;
		case 'w':
			p.opts.timeout_ms = (int)cli_duration_ms("-w", optarg, 1000, 1, CLI_TIMEOUT_MAX_MS);
			break;
		case 'S':
			systemd = true;
			break;
		case 'v':
			p.verbose = true;
			break;
		case 'h':
			return cli_usage(usage_text, true);
		default:
			return cli_bad_option();
		}
	}
	if (systemd && argc - optind != 1)
		return cli_usage_err(argc - optind == 0 ? "missing TO: where to relay each connection"
						       : "--systemd takes the listening socket from systemd: give only TO");
	if (!systemd && argc - optind < 2)
		return cli_usage_err(argc - optind == 0 ? "missing FROM and TO: the address to listen on and where to relay"
						       : "missing TO: where to relay each connection on %s",
				     argv[optind]);
	if (!systemd && argc - optind > 2)
		return cli_usage_err("one FROM and one TO, not %d addresses ('%s' is extra)", argc - optind,
				     argv[optind + 2]);
	if (!systemd)
		parse_side(argv[optind++], &p.from, p.from_text, sizeof(p.from_text));
	parse_side(argv[optind], &p.to, p.to_text, sizeof(p.to_text));

	p.timeout_ms = p.opts.timeout_ms > 0 ? p.opts.timeout_ms : PROXY_TIMEOUT_MS;

	signal(SIGPIPE, SIG_IGN);
	lopts.nonblock = true;
	if (systemd)
		p.lfd = cli_systemd_listener(p.from_text, sizeof(p.from_text));
	else
		p.lfd = vsk_listen(&p.from, &lopts);
	if (p.lfd < 0)
		cli_die_explain(-p.lfd, "listen", &p.from);
	/* The one lookup that may wait, before the loop; clients arriving
	 * while the name does not resolve are refused and it is tried again. */
	rc = dial_target_init(&p.target, &p.to, &p.opts);
	if (rc < 0)
		warnx("%s", vsk_explain(-rc, p.target.err_op, &p.to, msg, sizeof(msg)));
	rc = relay_new(&p.r, on_event, &p);
	if (rc == 0)
		rc = relay_watch(p.r, p.lfd, on_accept, &p);
	if (rc == 0) {
		if (p.verbose)
			fprintf(stderr, "vsk: proxy %s -> %s\n", p.from_text, p.to_text);
		/* Returns only on an epoll failure: the listener is always
		 * watched or about to be again. */
		rc = relay_run(p.r, -1);
	}
	relay_free(p.r);
	dial_target_free(&p.target);
	close(p.lfd);
	if (rc < 0) {
		errno = -rc;
		err(1, "relay for %s", p.from_text);
	}
	return 0;
}
