/* vsk check: the vsock doctor.  One line per kernel option, module, device
 * node, transport and CID with ok/warn/missing, the fixes indented under
 * their item, and a last line saying whether vsock is usable here (exit 0)
 * or not (exit 1).  libvsk's probe computes; this file only prints.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage_text[] =
	"usage: vsk check [--json]\n"
	"  --json     one JSON object: usable, verdict, role, local_cid,\n"
	"             config_source, items [{group, name, status, detail, fix}]\n"
	"  -h, --help this text\n"
	"exit status: 0 if vsock is usable here, 1 if not\n";

static const struct {
	const char *group;
	const char *title;
} group_titles[] = {
	{ "config", "Kernel config" },
	{ "guest-modules", "Modules a guest needs" },
	{ "host-modules", "Modules a host needs" },
	{ "devices", "Device nodes" },
	{ "transports", "Transports" },
	{ "bind", "Bindable CIDs (bind() tried here; the kernel's vsock_find_cid rule)" },
};

static const char *group_title(const char *group)
{
	for (size_t i = 0; i < sizeof(group_titles) / sizeof(group_titles[0]); i++)
		if (!strcmp(group_titles[i].group, group))
			return group_titles[i].title;
	return group;
}

static void json_str(const char *s)
{
	cli_json_str(stdout, s);
}

static void print_json(const struct vsk_check_report *r)
{
	const struct vsk_transports *t = &r->t;

	printf("{\"usable\":%s,\"verdict\":", r->usable ? "true" : "false");
	json_str(r->verdict);
	fputs(",\"role\":", stdout);
	json_str(t->role);
	fputs(",\"local_cid\":", stdout);
	if (t->cid_err != 0)
		fputs("null", stdout);
	else if (t->local_cid == VSK_CID_ANY)
		fputs("\"any\"", stdout);
	else
		printf("%u", (unsigned int)t->local_cid);
	fputs(",\"config_source\":", stdout);
	json_str(r->config_source[0] ? r->config_source : NULL);
	fputs(",\"items\":[", stdout);
	for (int i = 0; i < r->nitem; i++) {
		const struct vsk_check_item *it = &r->item[i];

		fputs(i ? ",{\"group\":" : "{\"group\":", stdout);
		json_str(it->group);
		fputs(",\"name\":", stdout);
		json_str(it->name);
		fputs(",\"status\":", stdout);
		json_str(vsk_check_status_name(it->status));
		fputs(",\"detail\":", stdout);
		json_str(it->detail);
		fputs(",\"fix\":[", stdout);
		for (int j = 0; j < it->nfix; j++) {
			if (j > 0)
				putchar(',');
			json_str(it->fix[j]);
		}
		fputs("]}", stdout);
	}
	fputs("]}\n", stdout);
}

static void print_text(const struct vsk_check_report *r, bool color)
{
	static const char *const colors[] = {
		[VSK_CHECK_OK] = "\033[32m",
		[VSK_CHECK_WARN] = "\033[33m",
		[VSK_CHECK_MISSING] = "\033[31m",
	};
	const char *group = NULL;

	for (int i = 0; i < r->nitem; i++) {
		const struct vsk_check_item *it = &r->item[i];
		const char *st = vsk_check_status_name(it->status);

		if (group == NULL || strcmp(group, it->group) != 0) {
			group = it->group;
			printf("%s%s", i ? "\n" : "", group_title(group));
			if (!strcmp(group, "config"))
				printf(" (%s)", r->config_source[0] ? r->config_source : "none readable");
			putchar('\n');
		}
		/* Pad by hand so colour codes do not upset the columns. */
		if (color)
			printf("  %s%s\033[0m%*s", colors[it->status], st, (int)(9 - strlen(st)), "");
		else
			printf("  %-9s", st);
		printf("%-34s %s\n", it->name, it->detail);
		for (int j = 0; j < it->nfix; j++)
			printf("           %s %s\n", j ? "    " : "fix:", it->fix[j]);
	}
	printf("\n%s\n", r->verdict);
}

int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vsk_check_report *r;
	bool json = false;
	int c, ret;

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

	r = malloc(sizeof(*r));
	if (r == NULL)
		err(1, "malloc");
	ret = vsk_check(r);
	if (ret < 0) {
		errno = -ret;
		err(1, "probe vsock support");
	}
	if (json)
		print_json(r);
	else
		print_text(r, cli_color());
	ret = r->usable ? 0 : 1;
	free(r);
	return ret;
}
