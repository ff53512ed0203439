/* vsk: one binary, one table of subcommands (git's commands[] style). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void usage(FILE *f)
{
	fprintf(f, "usage: vsk <command> [options] [args]\n\ncommands:\n");
	for (int i = 0; i < vsk_ncommands; i++)
		fprintf(f, "  %-9s %s\n", vsk_commands[i].name, vsk_commands[i].summary);
	fprintf(f, "\naddresses: vsock:CID:PORT  vsock-seq:CID:PORT  hybrid:PATH:PORT  hybrid-seq:PATH:PORT\n"
		   "           unix:PATH  tcp:HOST:PORT  -   (CID: number|host|local|any)\n"
		   "\n'vsk <command> --help' for a command's options; man vsk for more.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("vsk %s\n", VSK_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--list-commands")) {
		/* For shell completion: generated from the table, so it cannot drift. */
		for (int i = 0; i < vsk_ncommands; i++)
			printf("%s\n", vsk_commands[i].name);
		return 0;
	}
	for (int i = 0; i < vsk_ncommands; i++)
		if (!strcmp(argv[1], vsk_commands[i].name))
			return vsk_commands[i].fn(argc - 1, argv + 1);
	errx(EXIT_USAGE, "'%s' is not a vsk command (see 'vsk --help')", argv[1]);
}
