/* vsk proxy: every connection accepted on one address is relayed to a new
 * connection to another, any kinds on either side, all in one relay.
 *
 * The target connect is blocking (through vsk_connect, which also does the
 * hybrid handshake): while it runs the other connections wait, at most
 * --timeout MS (vsock's own default is 2 s).  A failed target connect
 * closes that client and is logged; the proxy keeps serving.
 * --systemd takes the listening socket from systemd socket activation
 * (fd 3, LISTEN_FDS=1) instead of LISTEN_ADDR.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "relay.h"

static const char usage_text[] =
	"usage: vsk proxy [-v] [--timeout MS] LISTEN_ADDR TARGET_ADDR\n"
	"       vsk proxy [-v] [--timeout MS] --systemd TARGET_ADDR\n"
	"  Accept connections on LISTEN_ADDR; relay each to a new connection to\n"
	"  TARGET_ADDR (vsock, vsock-seq, hybrid, unix, tcp: any pairing).\n"
	"  --timeout MS   target connect timeout\n"
	"  -s, --systemd  accept on the socket systemd passed (LISTEN_FDS)\n"
	"  -v, --verbose  report each connection and its byte counts on stderr\n"
	"  -h, --help     this text\n";

struct proxy {
	struct relay *r;
	struct vsk_addr from, to;
	struct vsk_opts opts;
	char from_text[VSK_PATH_MAX + 64], to_text[VSK_PATH_MAX + 64];
	bool verbose;
};

struct conn {
	char peer[160];
};

static void serve_client(struct proxy *p, int cfd, const char *peer)
{
	struct relay_end a = { .rd = cfd, .wr = cfd }, b;
	struct conn *c;
	const char *op = "connect";
	char msg[512];
	int tfd, rc;

	tfd = vsk_connect(&p->to, &p->opts, &op);
	if (tfd < 0) {
		warnx("%s (client %s closed)", vsk_explain(-tfd, op, &p->to, msg, sizeof(msg)), peer);
		close(cfd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		warnx("client %s: out of memory, closed", peer);
		close(cfd);
		close(tfd);
		return;
	}
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	b = (struct relay_end){ .rd = tfd, .wr = tfd };
	rc = relay_add(p->r, &a, &b, c);
	if (rc < 0) {
		errno = -rc;
		warn("relay for %s", peer);
		free(c);
		return;
	}
	if (p->verbose)
		fprintf(stderr, "vsk: connection from %s to %s\n", peer, p->to_text);
}

static void on_accept(void *ctx, int lfd)
{
	struct proxy *p = ctx;
	char peer[160];

	/* Level-triggered: a bounded batch, the rest on the next round. */
	for (int i = 0; i < 64; i++) {
		int cfd = vsk_accept(lfd, peer, sizeof(peer), SOCK_NONBLOCK);
		if (cfd == -EAGAIN)
			break;
		if (cfd < 0) {
			errno = -cfd;
			warn("accept %s", p->from_text);
			/* Out of fds: pause instead of spinning on the ready socket. */
			if (cfd == -EMFILE || cfd == -ENFILE)
				poll(NULL, 0, 100);
			break;
		}
		serve_client(p, cfd, peer);
	}
}

static void on_event(void *ctx, enum relay_event ev, const struct relay_info *info)
{
	struct proxy *p = ctx;
	struct conn *c = info->udata;

	if (ev != RELAY_DONE)
		return;
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
		{ "systemd", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vsk_opts lopts = VSK_OPTS_INIT;
	struct proxy p = { .opts = VSK_OPTS_INIT };
	bool systemd = false;
	int c, lfd = -1, rc;

	while ((c = getopt_long(argc, argv, "svh", longopts, NULL)) != -1) {
		switch (c) {
		case 'T':
			p.opts.timeout_ms = (int)cli_u32(optarg, "timeout", INT32_MAX);
			break;
		case 's':
			systemd = true;
			break;
		case 'v':
			p.verbose = true;
			break;
		case 'h':
			return cli_usage(usage_text, true);
		default:
			return cli_usage(usage_text, false);
		}
	}
	if (argc - optind != (systemd ? 1 : 2))
		return cli_usage(usage_text, false);
	if (!systemd)
		parse_side(argv[optind++], &p.from, p.from_text, sizeof(p.from_text));
	parse_side(argv[optind], &p.to, p.to_text, sizeof(p.to_text));

	signal(SIGPIPE, SIG_IGN);
	lopts.nonblock = true;
	if (systemd)
		lfd = cli_systemd_listener(p.from_text, sizeof(p.from_text));
	else
		lfd = vsk_listen(&p.from, &lopts);
	if (lfd < 0)
		cli_die_explain(-lfd, "listen", &p.from);
	rc = relay_new(&p.r, on_event, &p);
	if (rc == 0)
		rc = relay_watch(p.r, lfd, on_accept, &p);
	if (rc == 0) {
		if (p.verbose)
			fprintf(stderr, "vsk: proxy %s -> %s\n", p.from_text, p.to_text);
		/* Returns only on an epoll failure: the watch is never removed. */
		rc = relay_run(p.r, -1);
	}
	relay_free(p.r);
	close(lfd);
	if (rc < 0) {
		errno = -rc;
		err(1, "relay for %s", p.from_text);
	}
	return 0;
}
