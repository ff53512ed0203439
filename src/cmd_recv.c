/* vsk recv: the seed's host receiver.
 *
 * Default: bind VMADDR_CID_HOST (2) port 4050, accept one client, print
 * every read as "Received message: ...", then "Server closed.".  With
 * --hybrid PATH it listens where `vsk device` delivers guest connections
 * to port 4050 (the Unix socket PATH_4050) and still names the guest's CID.
 * The listening line names the port actually bound (vsock:any:any).
 * SIGINT, SIGTERM and SIGHUP end it cleanly: the Unix socket file it
 * bound is removed, "Server closed." printed, exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "cli.h"
#include "cli_serve.h"

static const char usage_text[] =
	"usage: vsk recv [-k] [--hybrid PATH] [ADDR]\n"
	"  ADDR             where to listen (default vsock:2:4050)\n"
	"  --hybrid PATH    listen on PATH_<port>, where 'vsk device --uds-path PATH'\n"
	"                   delivers guest connections (port from ADDR, default 4050)\n"
	"  -k, --keep-open  serve clients one after another instead of exiting\n"
	"                   (--keep is the old spelling)\n"
	"  -h, --help       this text\n"
	"ADDR is a socket address ('-' is not).  SIGINT/SIGTERM/SIGHUP: exit 0,\n"
	"the Unix socket file removed.\n";

static void print_client(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint32_t cid, port;
	char text[160];

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
		printf("Client connected\n");
		return;
	}
	if (ss.ss_family == AF_VSOCK) {
		const struct sockaddr_vm *vm = (const struct sockaddr_vm *)&ss;
		printf("Client connected: CID=%" PRIu32 ", port=%" PRIu32 "\n", vm->svm_cid, vm->svm_port);
	} else if (vsk_hybrid_peer_parse((struct sockaddr *)&ss, len, &cid, &port) == 0) {
		printf("Client connected: CID=%" PRIu32 ", port=%" PRIu32 "\n", cid, port);
	} else {
		printf("Client connected: %s\n",
		       vsk_sockaddr_format((struct sockaddr *)&ss, len, text, sizeof(text)));
	}
}

/* Wait until FD is readable: 0, or -EINTR once a stop signal came. */
static int wait_in(int fd, int stopfd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = stopfd, .events = POLLIN } };

	for (;;) {
		if (cli_stop_signal() != 0)
			return -EINTR;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents != 0)
			return -EINTR;
		if (p[0].revents != 0)
			return 0;
	}
}

/* Print each read as one line, as the seed's C receiver does. */
static int serve(int fd, int stopfd)
{
	char buf[4096];

	for (;;) {
		ssize_t n;
		int rc = wait_in(fd, stopfd);

		if (rc < 0)
			return rc;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		fputs("Received message: ", stdout);
		fwrite(buf, 1, (size_t)n, stdout);
		fputc('\n', stdout);
	}
}

int cmd_recv(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "hybrid", required_argument, NULL, 'H' },
		{ "keep-open", no_argument, NULL, 'k' },
		{ "keep", no_argument, NULL, 'k' }, /* the old name */
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *hybrid = NULL, *text = "vsock:2:4050";
	struct vsk_addr a, bound;
	struct cli_sockfile sf;
	bool keep = false;
	char name[VSK_PATH_MAX + 32];
	int c, lfd = -1, fd = -1, rc, stopfd;

	while ((c = getopt_long(argc, argv, "kh", longopts, NULL)) != -1) {
		switch (c) {
		case 'H':
			hybrid = optarg;
			break;
		case 'k':
			keep = true;
			break;
		case 'h':
			return cli_usage(usage_text, true);
		default:
			return cli_bad_option();
		}
	}
	if (argc - optind > 1)
		cli_usage_die("one ADDR at most, not %d ('%s' is extra)", argc - optind, argv[optind + 1]);
	if (optind < argc)
		text = argv[optind];
	cli_addr(text, &a);
	if (hybrid != NULL) {
		if (a.kind != VSK_ADDR_VSOCK && a.kind != VSK_ADDR_HYBRID && a.kind != VSK_ADDR_VSOCK_SEQ &&
		    a.kind != VSK_ADDR_HYBRID_SEQ)
			cli_usage_die("--hybrid takes the port from a vsock: address, not '%s'", text);
		if (strlen(hybrid) + 12 > sizeof(a.path))
			cli_usage_die("--hybrid path too long (%zu bytes, at most %zu)", strlen(hybrid), sizeof(a.path) - 12);
		if (a.port == VSK_PORT_ANY)
			cli_usage_die("--hybrid needs a port number, not any");
		snprintf(a.path, sizeof(a.path), "%s", hybrid);
		/* A SEQPACKET address listens for the device's SEQPACKET calls. */
		a.kind = vsk_addr_socktype(&a) == SOCK_SEQPACKET ? VSK_ADDR_HYBRID_SEQ : VSK_ADDR_HYBRID;
		a.cid = VSK_CID_HOST;
	}
	if (a.kind == VSK_ADDR_STDIO)
		return cli_usage_err("'-' is no address to receive on: give a socket address "
				     "(default vsock:2:4050)");

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	lfd = vsk_listen(&a, NULL);
	if (lfd < 0)
		cli_die_explain(-lfd, "listen", &a);
	cli_sockfile_note(&sf, lfd);
	stopfd = cli_stop_signals(NULL);
	/* The port the kernel bound for "any"; CID any stays -1 (VMADDR_CID_ANY
	 * as the seed's %d prints it), a hybrid address its CID 2. */
	if (vsk_listen_addr(lfd, &a, &bound) < 0 || bound.kind != a.kind)
		bound = a;
	if (a.kind == VSK_ADDR_HYBRID || a.kind == VSK_ADDR_HYBRID_SEQ)
		bound.cid = a.cid;
	if (a.kind == VSK_ADDR_VSOCK || a.kind == VSK_ADDR_VSOCK_SEQ || a.kind == VSK_ADDR_HYBRID ||
	    a.kind == VSK_ADDR_HYBRID_SEQ)
		printf("VSOCK server is listening on CID=%d, port=%d...\n", (int)bound.cid, (int)bound.port);
	else
		printf("Server is listening on %s...\n", vsk_addr_format(&bound, name, sizeof(name)));

	do {
		rc = wait_in(lfd, stopfd);
		if (rc == -EINTR)
			break;
		fd = rc < 0 ? rc : vsk_accept(lfd, NULL, 0, 0);
		if (fd < 0) {
			cli_sockfile_remove(&sf);
			errno = -fd;
			err(1, "accept %s", vsk_addr_format(&bound, name, sizeof(name)));
		}
		print_client(fd);
		rc = serve(fd, stopfd);
		close(fd);
		fd = -1;
		if (rc < 0 && rc != -ECONNRESET && rc != -EINTR) {
			errno = -rc;
			warn("read from client");
		}
	} while (keep && cli_stop_signal() == 0);
	close(lfd);
	lfd = -1;
	cli_sockfile_remove(&sf);
	printf("Server closed.\n");
	return 0;
}
