/* vsk recv: the seed's host receiver.
 *
 * Default: bind VMADDR_CID_HOST (2) port 4050, accept one client, print
 * every read as "Received message: ...", then "Server closed.".  With
 * --hybrid PATH it listens where `vsk device` delivers guest connections
 * to port 4050 (the Unix socket PATH_4050) and still names the guest's CID.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "cli.h"

static const char usage_text[] =
	"usage: vsk recv [-k] [--hybrid PATH] [ADDR]\n"
	"  ADDR             where to listen (default vsock:2:4050)\n"
	"  --hybrid PATH    listen on PATH_<port>, where 'vsk device --uds-path PATH'\n"
	"                   delivers guest connections (port from ADDR, default 4050)\n"
	"  -k, --keep-open  serve clients one after another instead of exiting\n"
	"                   (--keep is the old spelling)\n"
	"  -h, --help       this text\n";

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

/* Print each read as one line, as the seed's C receiver does. */
static int serve(int fd)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
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
	struct vsk_addr a;
	bool keep = false;
	char name[VSK_PATH_MAX + 32];
	int c, lfd = -1, fd = -1, rc;

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
		errx(EXIT_USAGE, "recv takes at most one address (see 'vsk recv --help')");
	if (optind < argc)
		text = argv[optind];
	cli_addr(text, &a);
	if (hybrid != NULL) {
		if (a.kind != VSK_ADDR_VSOCK && a.kind != VSK_ADDR_HYBRID && a.kind != VSK_ADDR_VSOCK_SEQ &&
		    a.kind != VSK_ADDR_HYBRID_SEQ)
			errx(EXIT_USAGE, "--hybrid takes the port from a vsock: address, not '%s'", text);
		if (strlen(hybrid) + 12 > sizeof(a.path))
			errx(EXIT_USAGE, "--hybrid path too long: %s", hybrid);
		if (a.port == VSK_PORT_ANY)
			errx(EXIT_USAGE, "--hybrid needs a port number, not any");
		snprintf(a.path, sizeof(a.path), "%s", hybrid);
		/* A SEQPACKET address listens for the device's SEQPACKET calls. */
		a.kind = vsk_addr_socktype(&a) == SOCK_SEQPACKET ? VSK_ADDR_HYBRID_SEQ : VSK_ADDR_HYBRID;
		a.cid = VSK_CID_HOST;
	}
	if (a.kind == VSK_ADDR_STDIO)
		errx(EXIT_USAGE, "recv needs a socket address, not '-'");

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	lfd = vsk_listen(&a, NULL);
	if (lfd < 0)
		cli_die_explain(-lfd, "bind", &a);
	if (a.kind == VSK_ADDR_VSOCK || a.kind == VSK_ADDR_VSOCK_SEQ || a.kind == VSK_ADDR_HYBRID ||
	    a.kind == VSK_ADDR_HYBRID_SEQ)
		printf("VSOCK server is listening on CID=%d, port=%d...\n", (int)a.cid, (int)a.port);
	else
		printf("Server is listening on %s...\n", vsk_addr_format(&a, name, sizeof(name)));

	do {
		fd = vsk_accept(lfd, NULL, 0, 0);
		if (fd < 0) {
			errno = -fd;
			err(1, "accept %s", vsk_addr_format(&a, name, sizeof(name)));
		}
		print_client(fd);
		rc = serve(fd);
		close(fd);
		fd = -1;
		if (rc < 0 && rc != -ECONNRESET) {
			errno = -rc;
			warn("read from client");
		}
	} while (keep);
	close(lfd);
	lfd = -1;
	printf("Server closed.\n");
	return 0;
}
