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
 *
 * '-' on one side is stdin/stdout, as socat's: "FROM -" accepts one
 * connection on FROM and relays it to stdin/stdout, "- TO" connects to TO
 * and relays stdin/stdout (what vsk connect does).  SIGINT, SIGTERM and
 * SIGHUP stop the server cleanly: the Unix socket file we bound is
 * removed, exit 0.
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
#include "cli_serve.h"
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
	"  '-' as TARGET_ADDR: accept ONE connection, relay it to stdin/stdout\n"
	"  (socat UNIX-LISTEN:P -); '-' as LISTEN_ADDR: connect to TARGET_ADDR,\n"
	"  relay stdin/stdout (socat - UNIX-CONNECT:P).  Not both.\n"
	"  --timeout MS   target connect (and handshake) timeout, 1 ms..24 h\n"
	"                 (default 10000; 2s, 1.5m too)\n"
	"  -w SECS        the same in seconds, as nc -w (500ms too)\n"
	"  --systemd      accept on the socket systemd passed (LISTEN_FDS)\n"
	"  -v, --verbose  report each connection and its byte counts on stderr\n"
	"  -h, --help     this text\n"
	"SIGINT/SIGTERM/SIGHUP: exit 0, the Unix socket file removed.\n";

struct proxy {
	struct relay *r;
	struct vsk_addr from, to;
	struct vsk_opts opts;
	struct dial_target target;
	char from_text[VSK_PATH_MAX + 64], to_text[VSK_PATH_MAX + 64];
	int lfd;
	struct cli_sockfile sf;  /* the socket file we bound, removed at exit */
	int timeout_ms;
	/* TO is '-': the one client's connection to stdin/stdout. */
	bool to_stdio, got_client;
	struct relay_info done;
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

/* TO is '-': this one client gets stdin/stdout; later ones are refused. */
static void accept_stdio(struct proxy *p, const struct relay_end *a, struct conn *c)
{
	struct relay_end io = { .rd = STDIN_FILENO, .wr = STDOUT_FILENO };
	int rc;

	relay_unwatch(p->r, p->lfd);
	close(p->lfd);
	p->lfd = -1;
	p->got_client = true;
	if (p->verbose)
		fprintf(stderr, "vsk: connection from %s to stdin/stdout\n", c->peer);
	rc = relay_add(p->r, a, &io, c);
	if (rc < 0) {
		p->done.err = -rc;
		p->done.op = NULL;
		free(c);
		relay_stop(p->r);
	}
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
		if (p->to_stdio) {
			accept_stdio(p, &a, c);
			return;
		}
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
	if (p->to_stdio) {
		/* The one connection ended: so does the command. */
		p->done = *info;
		free(c);
		relay_stop(p->r);
		return;
	}
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
	vsk_addr_format(a, buf, len);
}

/* "vsk proxy - TO": connect to TO (a dial with the deadline), then relay
 * stdin/stdout, as vsk connect does. */
static int proxy_from_stdio(struct proxy *p)
{
	struct relay_end io = { .rd = STDIN_FILENO, .wr = STDOUT_FILENO }, conn;
	struct relay_info info;
	struct dial d;
	int rc, fd;

	cli_ensure_stdio();
	rc = dial_target_init(&p->target, &p->to, &p->opts);
	if (rc < 0)
		cli_die_explain(-rc, p->target.err_op, &p->to);
	rc = dial_start(&d, &p->target);
	if (rc == 1)
		rc = dial_wait(&d, p->timeout_ms);
	if (rc < 0)
		cli_die_explain(-rc, d.op, &p->to);
	fd = dial_take(&d);
	dial_target_free(&p->target);
	if (p->verbose)
		fprintf(stderr, "vsk: stdin/stdout to %s\n", p->to_text);
	conn = (struct relay_end){ .rd = fd, .wr = fd };
	rc = relay_pump(&io, &conn, &info);
	if (p->verbose)
		fprintf(stderr, "vsk: %s: %" PRIu64 " bytes sent, %" PRIu64 " received\n", p->to_text,
			info.a_to_b, info.b_to_a);
	return cli_stdio_status(rc, &info, 'b', p->to_text);
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
	int c, rc, stopfd;

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
	if (!systemd && p.from.kind == VSK_ADDR_STDIO && p.to.kind == VSK_ADDR_STDIO)
		return cli_usage_err("'-' on both sides: one of FROM and TO must be a socket address");
	p.to_stdio = p.to.kind == VSK_ADDR_STDIO;

	p.timeout_ms = p.opts.timeout_ms > 0 ? p.opts.timeout_ms : PROXY_TIMEOUT_MS;

	signal(SIGPIPE, SIG_IGN);
	if (!systemd && p.from.kind == VSK_ADDR_STDIO)
		return proxy_from_stdio(&p);
	if (p.to_stdio)
		cli_ensure_stdio();
	lopts.nonblock = true;
	if (systemd)
		p.lfd = cli_systemd_listener(p.from_text, sizeof(p.from_text));
	else
		p.lfd = vsk_listen(&p.from, &lopts);
	if (p.lfd < 0)
		cli_die_explain(-p.lfd, "listen", &p.from);
	if (!systemd) {
		/* The address the kernel bound: port 0 and any become numbers. */
		cli_sockfile_note(&p.sf, p.lfd);
		cli_bound_text(p.lfd, &p.from, p.from_text, sizeof(p.from_text));
	}
	/* The one lookup that may wait, before the loop; clients arriving
	 * while the name does not resolve are refused and it is tried again. */
	if (!p.to_stdio) {
		rc = dial_target_init(&p.target, &p.to, &p.opts);
		if (rc < 0)
			warnx("%s", vsk_explain(-rc, p.target.err_op, &p.to, msg, sizeof(msg)));
	}
	stopfd = cli_stop_signals(NULL);
	rc = relay_new(&p.r, on_event, &p);
	if (rc == 0)
		rc = relay_watch(p.r, p.lfd, on_accept, &p);
	if (rc == 0)
		rc = cli_stop_relay(p.r, stopfd);
	if (rc == 0) {
		if (p.verbose)
			fprintf(stderr, "vsk: proxy %s -> %s\n", p.from_text,
				p.to_stdio ? "stdin/stdout" : p.to_text);
		/* Returns on a signal, an epoll failure, or (TO '-') when the
		 * one connection ended. */
		rc = relay_run(p.r, -1);
	}
	relay_free(p.r);
	if (!p.to_stdio)
		dial_target_free(&p.target);
	if (p.lfd >= 0)
		close(p.lfd);
	cli_sockfile_remove(&p.sf);
	if (rc < 0) {
		errno = -rc;
		err(1, "relay for %s", p.from_text);
	}
	if (p.to_stdio && p.got_client && cli_stop_signal() == 0) {
		if (p.verbose)
			fprintf(stderr, "vsk: %s: %" PRIu64 " bytes to stdout, %" PRIu64 " from stdin\n",
				p.from_text, p.done.a_to_b, p.done.b_to_a);
		return cli_stdio_status(0, &p.done, 'a', p.from_text);
	}
	return 0;
}
