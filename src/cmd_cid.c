/* vsk cid: the local CID (the seed's "Local CID: N" line first), the
 * transports present, the role that follows, and the CIDs this machine may
 * bind.  libvsk's probe computes; this file only prints.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage_text[] =
	"usage: vsk cid [--json]\n"
	"  --json     one JSON object: local_cid, local_cid_error, af_vsock,\n"
	"             transports {g2h, h2g, loopback}, virtio_device, role,\n"
	"             bindable_cids\n"
	"  -h, --help this text\n";

/* JSON string, or null when absent or empty. */
static void json_str(const char *s)
{
	cli_json_str(stdout, s != NULL && *s != '\0' ? s : NULL);
}

/* A CID as JSON: a number, or "any" for VMADDR_CID_ANY. */
static void json_cid(uint32_t cid)
{
	if (cid == VSK_CID_ANY)
		fputs("\"any\"", stdout);
	else
		printf("%u", (unsigned int)cid);
}

static void print_json(const struct vsk_transports *t)
{
	fputs("{\"local_cid\":", stdout);
	if (t->cid_err != 0)
		fputs("null", stdout);
	else
		json_cid(t->local_cid);
	fputs(",\"local_cid_error\":", stdout);
	json_str(t->cid_err != 0 ? strerror(t->cid_err) : NULL);
	printf(",\"af_vsock\":%s,\"transports\":{\"g2h\":", t->af_vsock ? "true" : "false");
	json_str(t->g2h ? t->g2h_name : NULL);
	fputs(",\"h2g\":", stdout);
	json_str(t->h2g ? t->h2g_name : NULL);
	printf(",\"loopback\":%s},\"virtio_device\":", t->loopback ? "true" : "false");
	json_str(t->virtio_dev ? t->virtio_dev_name : NULL);
	fputs(",\"role\":", stdout);
	json_str(t->role);
	fputs(",\"bindable_cids\":[", stdout);
	for (int i = 0; i < t->nbindable; i++) {
		if (i > 0)
			putchar(',');
		json_cid(t->bindable[i]);
	}
	fputs("]}\n", stdout);
}

static void print_text(const struct vsk_transports *t)
{
	char c[16];

	if (t->cid_err != 0)
		fputs("Local CID: unknown\n", stdout);
	else
		printf("Local CID: %u\n", (unsigned int)t->local_cid);
	if (t->cid_err == 0 && t->local_cid == VSK_CID_ANY) {
		printf("  %u is VMADDR_CID_ANY: no transport has a CID", (unsigned int)t->local_cid);
		if (!strcmp(t->g2h_name, "virtio") && !t->virtio_dev)
			printf(" (virtio transport loaded, but no virtio-vsock device;\n"
			       "  start the VM with QEMU -device vhost-vsock-pci,guest-cid=N, see 'vsk check')");
		putchar('\n');
	}
	printf("g2h transport: %s", t->g2h ? t->g2h_name : "none");
	if (t->virtio_dev)
		printf(" (device %s)", t->virtio_dev_name);
	else if (!strcmp(t->g2h_name, "virtio"))
		printf(" (no virtio-vsock device)");
	printf("\nh2g transport: %s\n", t->h2g ? t->h2g_name : "none");
	printf("loopback: %s\n", t->loopback ? "yes (CID 1)" : "no");
	printf("Role: %s\n", t->role);
	printf("Bindable CIDs: ");
	for (int i = 0; i < t->nbindable; i++)
		printf("%s%s", i ? ", " : "", vsk_cid_str(t->bindable[i], c, sizeof(c)));
	if (t->nbindable == 0)
		printf("none (socket(AF_VSOCK): %s)", strerror(t->sock_err));
	putchar('\n');
}

int cmd_cid(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vsk_transports t;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			return cli_usage(usage_text, true);
		default:
			return cli_bad_option();
		}
	}
	if (optind < argc)
		cli_usage_die("no arguments taken ('%s' is extra)", argv[optind]);

	vsk_probe_transports(&t);
	if (json)
		print_json(&t);
	else
		print_text(&t);
	fflush(stdout);
	if (t.cid_err != 0) {
		errno = t.cid_err;
		err(1, "ioctl IOCTL_VM_SOCKETS_GET_LOCAL_CID on /dev/vsock");
	}
	return 0;
}
