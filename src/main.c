/* vsk: one binary, one table of subcommands (git's commands[] style). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pcap/pcap.h>
#include <zlib.h>

#include "cli.h"

/* Sorted by name; each command parses its own options. */
const struct cmd vsk_commands[] = {
	{ "bench",   cmd_bench,   "measure throughput, latency and connection rate over any address" },
	{ "check",   cmd_check,   "diagnose vsock support and print the fix for every gap" },
	{ "cid",     cmd_cid,     "print the local CID and the transports present" },
	{ "connect", cmd_connect, "connect to an address; stdin/stdout to the connection" },
	{ "device",  cmd_device,  "vhost-user-vsock backend: the host side of vsock for QEMU, no root" },
	{ "dump",    cmd_dump,    "capture and decode vsock traffic (vsockmon, pcap)" },
	{ "listen",  cmd_listen,  "accept connections; print, echo, save or exec for each" },
	{ "proxy",   cmd_proxy,   "relay every connection on one address to another" },
	{ "recv",    cmd_recv,    "the seed's host receiver (CID 2 port 4050 by default)" },
	{ "send",    cmd_send,    "the seed's guest sender (to CID 2 port 4050 by default)" },
};
const int vsk_ncommands = (int)(sizeof(vsk_commands) / sizeof(vsk_commands[0]));

const char *cli_cmd = "vsk";

static void usage(FILE *f)
{
	fprintf(f, "usage: vsk <command> [options] [args]\n\ncommands:\n");
	for (int i = 0; i < vsk_ncommands; i++)
		fprintf(f, "  %-9s %s\n", vsk_commands[i].name, vsk_commands[i].summary);
	fprintf(f, "  %-9s %s\n", "help", "'vsk help COMMAND': that command's options");
	fprintf(f, "  %-9s %s\n", "version", "vsk's version and the libraries it runs with [--json]");
	fprintf(f, "\naddresses: vsock:CID:PORT  vsock-seq:CID:PORT  hybrid:PATH:PORT  hybrid-seq:PATH:PORT\n"
		   "           unix:PATH  tcp:HOST:PORT  (CID: number|host|local|any)\n"
		   "           -  stdin/stdout, on one side of proxy (proxy ADDR -, proxy - ADDR)\n"
		   "\noptions: -h, --help  this text;  -V, --version  the version;\n"
		   "         --list-commands  the command names, one per line (for completion)\n"
		   "\n'vsk <command> --help' for a command's options; man vsk for more.\n");
}

static const struct cmd *find_cmd(const char *name)
{
	for (int i = 0; i < vsk_ncommands; i++)
		if (!strcmp(name, vsk_commands[i].name))
			return &vsk_commands[i];
	return NULL;
}

/* 'vsk version [--json]': also the libpcap and zlib this binary runs with,
 * as tcpdump --version names its libpcap. */
static int version(int argc, char **argv)
{
	bool json = argc > 1 && !strcmp(argv[1], "--json");

	/* Its usage mistakes say "vsk version: ...", not "vsk vsk: ...". */
	cli_cmd = "version";
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return cli_usage("usage: vsk version [--json]   (also vsk -V, vsk --version)\n"
				 "  vsk's version, then the libpcap and zlib it runs with\n"
				 "  --json      one JSON object: version, libpcap, zlib\n"
				 "  -h, --help  this text\n", true);
	if (argc > 2 || (argc == 2 && !json))
		return cli_usage_err("'%s': the only option is --json", argv[argc - 1]);
	if (!json) {
		printf("vsk %s\n%s\nzlib %s\n", VSK_VERSION, pcap_lib_version(), zlibVersion());
		return 0;
	}
	printf("{\"version\":");
	cli_json_str(stdout, VSK_VERSION);
	printf(",\"libpcap\":");
	cli_json_str(stdout, pcap_lib_version());
	printf(",\"zlib\":");
	cli_json_str(stdout, zlibVersion());
	printf("}\n");
	return 0;
}

/* Run CMD with argv[0] "vsk CMD", so getopt's own messages name it. */
static int run(const struct cmd *c, int argc, char **argv)
{
	static char name[32];

	snprintf(name, sizeof(name), "vsk %s", c->name);
	cli_cmd = c->name;
	argv[0] = name;
	return c->fn(argc, argv);
}

int main(int argc, char **argv)
{
	const struct cmd *c;

	atexit(cli_close_stdout);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "help")) {
		static char help_opt[] = "--help";
		char *hargv[] = { argv[2], help_opt, NULL };

		if (argc == 2) {
			usage(stdout);
			return 0;
		}
		if (argc > 3)
			errx(EXIT_USAGE, "help takes one command name (see 'vsk --help')");
		/* vsk --help lists help and version among the commands. */
		if (!strcmp(argv[2], "help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[2], "version"))
			return version(2, hargv);
		if ((c = find_cmd(argv[2])) == NULL)
			errx(EXIT_USAGE, "help: '%s' is not a vsk command (see 'vsk --help')", argv[2]);
		return run(c, 2, hargv);
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))
		return version(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--list-commands")) {
		/* For shell completion: generated from the table, so it cannot drift. */
		for (int i = 0; i < vsk_ncommands; i++)
			printf("%s\n", vsk_commands[i].name);
		return 0;
	}
	if ((c = find_cmd(argv[1])) != NULL)
		return run(c, argc - 1, argv + 1);
	if (argv[1][0] == '-')
		errx(EXIT_USAGE, "unknown option '%s' (see 'vsk --help'; a command's options go after it)",
		     argv[1]);
	errx(EXIT_USAGE, "'%s' is not a vsk command (see 'vsk --help')", argv[1]);
}
