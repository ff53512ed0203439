/* vsk send: the seed's guest sender.
 *
 * Default: connect to CID 2 port 4050, send "Hello, Host! This is a message
 * from the VM.", close, printing the seed's three lines.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

static const char usage_text[] =
	"usage: vsk send [-t MS | -w SECS] [ADDR [MESSAGE]]\n"
	"  ADDR              where to connect (default vsock:2:4050)\n"
	"  MESSAGE           what to send (default the seed's greeting)\n"
	"  -t, --timeout MS  give up connecting after MS milliseconds, 1 ms..24 h\n"
	"                    (default: the transport's own; 2s, 1.5m too)\n"
	"  -w SECS           the same in seconds, as nc -w (500ms too)\n"
	"  -h, --help        this text\n";

static const char seed_message[] = "Hello, Host! This is a message from the VM.";

int cmd_send(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vsk_opts o = VSK_OPTS_INIT;
	const char *text = "vsock:2:4050", *msg = seed_message, *op = NULL;
	char name[VSK_PATH_MAX + 32];
	struct vsk_addr a;
	ssize_t n;
	int c, fd = -1, rc;

	while ((c = getopt_long(argc, argv, "t:w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			o.timeout_ms = (int)cli_duration_ms("-t", optarg, 1, 1, CLI_TIMEOUT_MAX_MS);
			break;
		case 'w':
			o.timeout_ms = (int)cli_duration_ms("-w", optarg, 1000, 1, CLI_TIMEOUT_MAX_MS);
			break;
		case 'h':
			return cli_usage(usage_text, true);
		default:
			return cli_bad_option();
		}
	}
	if (argc - optind > 2)
		cli_usage_die("an ADDR and one MESSAGE, not %d arguments ('%s' is extra): quote the message", argc - optind, argv[optind + 2]);
	if (optind < argc)
		text = argv[optind];
	if (optind + 1 < argc)
		msg = argv[optind + 1];
	cli_addr(text, &a);
	if (a.kind == VSK_ADDR_STDIO)
		return cli_usage_err("'-' is no address to send to: give a socket address "
				     "(default vsock:2:4050); to send stdin: 'vsk connect ADDR'");
	if ((a.kind == VSK_ADDR_VSOCK || a.kind == VSK_ADDR_VSOCK_SEQ) &&
	    (a.cid == VSK_CID_ANY || a.port == VSK_PORT_ANY))
		cli_usage_die("cannot connect to %s: name a CID and a port", text);

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	fd = vsk_connect(&a, &o, &op);
	if (fd < 0)
		cli_die_explain(-fd, op, &a);
	if (a.kind == VSK_ADDR_VSOCK || a.kind == VSK_ADDR_VSOCK_SEQ)
		printf("Connected to host: CID=%" PRIu32 ", port=%" PRIu32 "\n", a.cid, a.port);
	else
		printf("Connected to host: %s\n", vsk_addr_format(&a, name, sizeof(name)));

	if (vsk_addr_socktype(&a) == SOCK_SEQPACKET) {
		/* One message, one send: the boundary is the point of seqpacket. */
		do
			n = send(fd, msg, strlen(msg), 0);
		while (n < 0 && errno == EINTR);
		rc = n < 0 ? -errno : 0;
	} else {
		rc = cli_write_all(fd, msg, strlen(msg));
	}
	if (rc < 0) {
		errno = -rc;
		err(1, "send %s", vsk_addr_format(&a, name, sizeof(name)));
	}
	printf("Sent message to host: %s\n", msg);
	close(fd);
	fd = -1;
	printf("Connection closed.\n");
	return 0;
}
