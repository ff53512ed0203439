/* vsk connect: the nc-like client.  stdin goes to the connection and the
 * connection to stdout, both at once, through the relay; at stdin EOF the
 * sending side is shut down and the command exits once the peer has ended
 * its side too.  A reader of stdout that went away (EPIPE: `| head`) ends
 * it quietly with exit 0, as nc's does.
 *
 * The connect (and for hybrid: the CONNECT/OK handshake) is a dial driven
 * by poll() with one deadline, --timeout or 10 s, before the relay starts:
 * a device that accepts but never answers cannot hold the command. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_serve.h"
#include "dial.h"
#include "relay.h"

#define CONNECT_TIMEOUT_MS 10000 /* the dial's deadline without --timeout */

static const char usage_text[] =
	"usage: vsk connect [-v] [--timeout MS | -w SECS] [--retry N] [--bind PORT] ADDR\n"
	"  Copy stdin to ADDR and ADDR to stdout at the same time.  At stdin EOF\n"
	"  the sending side is shut down; exits when both directions ended.\n"
	"  --timeout MS   connect (and handshake) timeout, 1 ms..24 h, default 10000\n"
	"                 (vsock: also SO_VM_SOCKETS_CONNECT_TIMEOUT; 2s, 1.5m too)\n"
	"  -w SECS        the same in seconds, as nc -w (500ms too)\n"
	"  --retry N      retry up to N times (0..1000000), 1 s apart, while nobody\n"
	"                 listens\n"
	"  --bind PORT    bind this local vsock port (0..4294967294) before connecting\n"
	"  -v, --verbose  report the connection and byte counts on stderr\n"
	"  -h, --help     this text\n"
	"ADDR is a socket address; stdin/stdout are always the other end ('-'\n"
	"is not an ADDR: to serve one client on stdin/stdout, 'vsk proxy ADDR -').\n";

/* Nobody listens (yet): worth another try with --retry. */
static bool retryable(int err)
{
	return err == ECONNREFUSED || err == ECONNRESET || err == ENOENT;
}

static void sleep_1s(void)
{
	struct timespec ts = { 1, 0 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One attempt: resolve (before any loop, so it may wait), then dial with
 * a deadline.  The connected fd, or -errno with *OP the failed step. */
static int dial_once(const struct vsk_addr *a, const struct vsk_opts *o, const char **op)
{
	struct dial_target t;
	struct dial d;
	int rc = dial_target_init(&t, a, o);

	*op = t.err_op;
	if (rc == 0) {
		rc = dial_start(&d, &t);
		if (rc == 1)
			rc = dial_wait(&d, o->timeout_ms > 0 ? o->timeout_ms : CONNECT_TIMEOUT_MS);
		*op = d.op;
	}
	dial_target_free(&t);
	return rc < 0 ? rc : dial_take(&d);
}

int cmd_connect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 'T' },
		{ "retry", required_argument, NULL, 'R' },
		{ "bind", required_argument, NULL, 'B' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vsk_opts opts = VSK_OPTS_INIT;
	struct relay_end in = { .rd = STDIN_FILENO, .wr = STDOUT_FILENO };
	struct relay_end conn;
	struct relay_info info;
	struct vsk_addr a;
	const char *op = "connect";
	char text[VSK_PATH_MAX + 64], local[160];
	uint32_t retry = 0;
	bool verbose = false, bind_set = false;
	int c, fd = -1, rc;

	while ((c = getopt_long(argc, argv, "vw:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'T':
			opts.timeout_ms = (int)cli_duration_ms("--timeout", optarg, 1, 1, CLI_TIMEOUT_MAX_MS);
			break;
		case 'w':
			opts.timeout_ms = (int)cli_duration_ms("-w", optarg, 1000, 1, CLI_TIMEOUT_MAX_MS);
			break;
		case 'R':
			retry = (uint32_t)cli_count("--retry", optarg, 0, 1000000);
			break;
		case 'B':
			opts.bind_port = cli_port("--bind", optarg, 0, VSK_PORT_ANY - 1);
			bind_set = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			return cli_usage(usage_text, true);
		default:
			return cli_bad_option();
		}
	}
	if (argc - optind == 0)
		return cli_usage_err("missing ADDR: where to connect");
	if (argc - optind > 1)
		return cli_usage_err("one ADDR, not %d ('%s' is extra)", argc - optind, argv[optind + 1]);
	cli_addr(argv[optind], &a);
	if (a.kind == VSK_ADDR_STDIO)
		return cli_usage_err("'-' is no address to connect to: stdin/stdout are the other end "
				     "already (to accept one client on stdin/stdout: 'vsk proxy ADDR -')");
	if (bind_set && a.kind != VSK_ADDR_VSOCK && a.kind != VSK_ADDR_VSOCK_SEQ)
		cli_usage_die("--bind is for vsock addresses only");
	vsk_addr_format(&a, text, sizeof(text));

	signal(SIGPIPE, SIG_IGN);
	cli_ensure_stdio();
	for (uint32_t attempt = 0;; attempt++) {
		fd = dial_once(&a, &opts, &op);
		if (fd >= 0 || !retryable(-fd) || attempt >= retry)
			break;
		if (verbose)
			fprintf(stderr, "vsk: %s %s: %s; retrying (%" PRIu32 " of %" PRIu32 ")\n",
				op, text, strerror(-fd), attempt + 1, retry);
		sleep_1s();
	}
	if (fd < 0)
		cli_die_explain(-fd, op, &a);
	if (verbose) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
			snprintf(local, sizeof(local), "unknown");
		else
			vsk_sockaddr_format((struct sockaddr *)&ss, len, local, sizeof(local));
		fprintf(stderr, "vsk: connected to %s from %s\n", text, local);
	}

	conn = (struct relay_end){ .rd = fd, .wr = fd };
	rc = relay_pump(&in, &conn, &info);
	if (verbose)
		fprintf(stderr, "vsk: %s: %" PRIu64 " bytes sent, %" PRIu64 " received\n", text,
			info.a_to_b, info.b_to_a);
	/* stdout's reader gone (`| head -c 10`) is 0: nothing more is wanted. */
	return cli_stdio_status(rc, &info, 'b', text);
}
