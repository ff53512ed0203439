/* probe: kernel text parsers, the vsock_find_cid rule, and the doctor's
 * evaluation against fake roots (crafted /proc, /sys, /dev, /lib/modules)
 * with crafted live results; plus the live ioctl/bind probe on this machine
 * (bind only, never connect). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "probe.h"
#include "vsk.h"

#define REL "6.1.0-test"

/* ------------------------------------------------------ fake roots */

struct fake {
	char root[64];
	struct probe_files f;
	struct probe_live l;
	struct vsk_check_report *r;
};

static void mkdirs(const char *path)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0755);
			*p = '/';
		}
	mkdir(tmp, 0755);
}

/* Write TEXT to ROOT+REL, creating parent directories. */
static void put(const struct fake *fk, const char *rel, const char *text)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s%s", fk->root, rel);
	*strrchr(path, '/') = '\0';
	mkdirs(path);
	snprintf(path, sizeof(path), "%s%s", fk->root, rel);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static void putdir(const struct fake *fk, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s%s", fk->root, rel);
	mkdirs(path);
}

/* A character device node; false if this sandbox forbids mknod. */
static bool putchr(const struct fake *fk, const char *rel, unsigned int ma, unsigned int mi)
{
	char path[512];

	putdir(fk, "/dev");
	snprintf(path, sizeof(path), "%s%s", fk->root, rel);
	return mknod(path, S_IFCHR | 0600, makedev(ma, mi)) == 0;
}

static int setup(void **state)
{
	struct fake *fk = calloc(1, sizeof(*fk));

	assert_non_null(fk);
	snprintf(fk->root, sizeof(fk->root), "/tmp/vsk-probe-XXXXXX");
	assert_non_null(mkdtemp(fk->root));
	fk->r = malloc(sizeof(*fk->r));
	assert_non_null(fk->r);
	fk->l.local_cid = VSK_CID_ANY;
	*state = fk;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fake *fk = *state;

	probe_files_free(&fk->f);
	nftw(fk->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fk->r);
	free(fk);
	return 0;
}

/* Live results: local CID and the bind outcome of each candidate. */
static void live(struct fake *fk, int sock_err, uint32_t cid, int n, ...)
{
	va_list ap;

	memset(&fk->l, 0, sizeof(fk->l));
	fk->l.sock_err = sock_err;
	fk->l.local_cid = cid;
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		fk->l.cand[i] = va_arg(ap, uint32_t);
		fk->l.bind_err[i] = va_arg(ap, int);
	}
	va_end(ap);
	fk->l.ncand = n;
}

static void eval(struct fake *fk)
{
	probe_files_free(&fk->f);
	probe_files_load(&fk->f, fk->root, REL);
	probe_check_eval(&fk->f, &fk->l, fk->r);
}

static const struct vsk_check_item *item(const struct vsk_check_report *r, const char *group, const char *name)
{
	for (int i = 0; i < r->nitem; i++)
		if (!strcmp(r->item[i].group, group) && !strcmp(r->item[i].name, name))
			return &r->item[i];
	fail_msg("no item %s/%s in the report", group, name);
	return NULL;
}

static bool has_fix(const struct vsk_check_item *it, const char *needle)
{
	for (int i = 0; i < it->nfix; i++)
		if (strstr(it->fix[i], needle) != NULL)
			return true;
	return false;
}

/* /proc/modules of a Debian 6.1 lab guest, modules named by the caller. */
static void proc_modules(struct fake *fk, const char *const *mods)
{
	char text[2048] = "";

	for (; *mods; mods++) {
		size_t n = strlen(text);
		snprintf(text + n, sizeof(text) - n, "%s 45056 0 - Live 0xffffffffc0a00000\n", *mods);
	}
	put(fk, "/proc/modules", text);
}

/* -------------------------------------------------------- parsers */

static const char config_text[] =
	"#\n# Automatically generated file; DO NOT EDIT.\n#\n"
	"CONFIG_VSOCKETS=m\n"
	"CONFIG_VSOCKETS_DIAG=y\n"
	"# CONFIG_VSOCKETS_LOOPBACK is not set\n"
	"  CONFIG_VIRTIO_VSOCKETS=y  \r\n"
	"#CONFIG_VHOST_VSOCK is not set\n"
	"# CONFIG_VSOCKMON is not set, really\n"
	"CONFIG_HYPERV_VSOCKETS=n\n"
	"CONFIG_LOCALVERSION=\"-vsk\"\n"
	"CONFIG_VIRTIO_VSOCKETS_COMMON=m";

static void test_config_lookup(void **state)
{
	size_t n = strlen(config_text);

	(void)state;
	assert_int_equal(probe_config_lookup(config_text, n, "CONFIG_VSOCKETS"), PROBE_KCONF_M);
	assert_int_equal(probe_config_lookup(config_text, n, "CONFIG_VSOCKETS_DIAG"), PROBE_KCONF_Y);
	assert_int_equal(probe_config_lookup(config_text, n, "CONFIG_VSOCKETS_LOOPBACK"), PROBE_KCONF_NOT_SET);
	/* Leading blanks and a trailing CR are tolerated. */
	assert_int_equal(probe_config_lookup(config_text, n, "CONFIG_VIRTIO_VSOCKETS"), PROBE_KCONF_Y);
	/* Last line without newline. */
	assert_int_equal(probe_config_lookup(config_text, n, "CONFIG_VIRTIO_VSOCKETS_COMMON"), PROBE_KCONF_M);
	/* Malformed comments are no value: the option is absent = not set. */
	assert_int_equal(probe_config_lookup(config_text, n, "CONFIG_VHOST_VSOCK"), PROBE_KCONF_NOT_SET);
	assert_int_equal(probe_config_lookup(config_text, n, "CONFIG_VSOCKMON"), PROBE_KCONF_NOT_SET);
	assert_int_equal(probe_config_lookup(config_text, n, "CONFIG_HYPERV_VSOCKETS"), PROBE_KCONF_NOT_SET);
	assert_int_equal(probe_config_lookup(config_text, n, "CONFIG_LOCALVERSION"), PROBE_KCONF_NOT_SET);
	/* A prefix of a present option is not that option. */
	assert_int_equal(probe_config_lookup(config_text, n, "CONFIG_VSOCK"), PROBE_KCONF_NOT_SET);
	/* Only LEN bytes count. */
	assert_int_equal(probe_config_lookup(config_text, 60, "CONFIG_VSOCKETS_DIAG"), PROBE_KCONF_NOT_SET);
	assert_int_equal(probe_config_lookup(NULL, 0, "CONFIG_VSOCKETS"), PROBE_KCONF_UNKNOWN);
	assert_string_equal(probe_kconf_name(PROBE_KCONF_NOT_SET), "not set");
	assert_string_equal(probe_kconf_name((enum probe_kconf)77), "unknown");
}

static void test_proc_modules_parse(void **state)
{
	static const char text[] =
		"vsock_loopback 16384 0 - Live 0xffffffffc0a4e000\n"
		"vmw_vsock_virtio_transport_common 57344 1 vsock_loopback, Live 0xffffffffc0a3a000\n"
		"vsock 57344 2 vsock_loopback,vmw_vsock_virtio_transport_common, Live 0xffffffffc0a24000\n"
		"vhost_vsock 24576 0 - Loading 0xffffffffc0a60000 (E)\n"
		"virtio-pci-legacy-dev 12288 1 virtio_pci, Live 0x0\n"
		"truncated\n";
	size_t n = sizeof(text) - 1;

	(void)state;
	assert_int_equal(probe_proc_modules_state(text, n, "vsock"), 1);
	assert_int_equal(probe_proc_modules_state(text, n, "vsock_loopback"), 1);
	assert_int_equal(probe_proc_modules_state(text, n, "vmw_vsock_virtio_transport_common"), 1);
	assert_int_equal(probe_proc_modules_state(text, n, "vmw_vsock_virtio_transport"), 0);
	assert_int_equal(probe_proc_modules_state(text, n, "vhost_vsock"), 2);
	assert_int_equal(probe_proc_modules_state(text, n, "vhost"), 0);
	/* '-' and '_' are the same in module names. */
	assert_int_equal(probe_proc_modules_state(text, n, "virtio_pci_legacy_dev"), 1);
	/* A line with only a name is listed but not known to be Live. */
	assert_int_equal(probe_proc_modules_state(text, n, "truncated"), 2);
	assert_int_equal(probe_proc_modules_state(NULL, 0, "vsock"), 0);
}

static void test_modlist_parse(void **state)
{
	static const char builtin[] =
		"kernel/net/vmw_vsock/vsock.ko\n"
		"kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko\n"
		"kernel/drivers/vhost/vhost-iotlb.ko\n";
	static const char dep[] =
		"kernel/drivers/vhost/vhost_vsock.ko.xz: kernel/drivers/vhost/vhost.ko.xz "
		"kernel/net/vmw_vsock/vsock.ko.xz\n"
		"kernel/drivers/net/vsockmon.ko.zst:\n"
		"kernel/net/vmw_vsock/vsock_loopbackXko:\n"
		"garbage line without module\n";

	(void)state;
	assert_true(probe_modlist_has(builtin, strlen(builtin), "vsock"));
	assert_true(probe_modlist_has(builtin, strlen(builtin), "vmw_vsock_virtio_transport_common"));
	assert_false(probe_modlist_has(builtin, strlen(builtin), "vmw_vsock_virtio_transport"));
	assert_true(probe_modlist_has(builtin, strlen(builtin), "vhost_iotlb"));
	assert_true(probe_modlist_has(dep, strlen(dep), "vhost_vsock"));
	assert_true(probe_modlist_has(dep, strlen(dep), "vsockmon"));
	/* vhost appears only as a dependency, not as its own line. */
	assert_false(probe_modlist_has(dep, strlen(dep), "vhost"));
	assert_false(probe_modlist_has(dep, strlen(dep), "vsock"));
	assert_false(probe_modlist_has(dep, strlen(dep), "vsock_loopback"));
	assert_false(probe_modlist_has(NULL, 0, "vsock"));
}

static void test_path_join(void **state)
{
	char buf[32];

	(void)state;
	assert_int_equal(probe_path(buf, sizeof(buf), "/", "/proc/modules"), 0);
	assert_string_equal(buf, "/proc/modules");
	assert_int_equal(probe_path(buf, sizeof(buf), "/tmp/r//", "/proc/modules"), 0);
	assert_string_equal(buf, "/tmp/r/proc/modules");
	assert_int_equal(probe_path(buf, sizeof(buf), NULL, "/dev/vsock"), 0);
	assert_string_equal(buf, "/dev/vsock");
	assert_int_equal(probe_path(buf, sizeof(buf), "/a/very/long/root/dir", "/proc/modules"), -ENAMETOOLONG);
}

/* --------------------------------------------------- config files */

static void test_config_gz(void **state)
{
	struct fake *fk = *state;
	char path[512];
	gzFile g;

	putdir(fk, "/proc");
	snprintf(path, sizeof(path), "%s/proc/config.gz", fk->root);
	g = gzopen(path, "wb");
	assert_non_null(g);
	assert_true(gzputs(g, "CONFIG_VSOCKETS=y\n# CONFIG_VHOST_VSOCK is not set\nCONFIG_VSOCKMON=m\n") > 0);
	assert_int_equal(gzclose(g), Z_OK);
	/* A stale /boot config must lose to the running kernel's own. */
	put(fk, "/boot/config-" REL, "CONFIG_VSOCKETS=m\n");

	probe_files_load(&fk->f, fk->root, REL);
	assert_non_null(fk->f.config.buf);
	assert_string_equal(fk->f.config.path, path);
	assert_int_equal(probe_config_lookup(fk->f.config.buf, fk->f.config.len, "CONFIG_VSOCKETS"), PROBE_KCONF_Y);
	assert_int_equal(probe_config_lookup(fk->f.config.buf, fk->f.config.len, "CONFIG_VHOST_VSOCK"),
			 PROBE_KCONF_NOT_SET);
	assert_int_equal(probe_config_lookup(fk->f.config.buf, fk->f.config.len, "CONFIG_VSOCKMON"), PROBE_KCONF_M);
}

static void test_config_boot_fallback(void **state)
{
	struct fake *fk = *state;

	put(fk, "/boot/config-" REL, "CONFIG_VSOCKETS=m\n");
	put(fk, "/boot/config-other", "CONFIG_VSOCKETS=y\n");
	probe_files_load(&fk->f, fk->root, REL);
	assert_non_null(fk->f.config.buf);
	assert_non_null(strstr(fk->f.config.path, "/boot/config-" REL));
	assert_int_equal(probe_config_lookup(fk->f.config.buf, fk->f.config.len, "CONFIG_VSOCKETS"), PROBE_KCONF_M);
}

static void test_config_none(void **state)
{
	struct fake *fk = *state;
	struct probe_text t;

	probe_files_load(&fk->f, fk->root, REL);
	assert_null(fk->f.config.buf);
	assert_int_equal(fk->f.config.err, ENOENT);
	assert_null(fk->f.modules.buf);
	assert_int_equal(probe_read_text("/nonexistent/vsk/file", false, &t), -ENOENT);
	assert_int_equal(probe_read_text("/nonexistent/vsk/file.gz", true, &t), -ENOENT);
	assert_null(t.buf);

	/* Without a config every option reads unknown; one fix says how. */
	put(fk, "/proc/modules", "vsock 1 0 - Live 0x0\n");
	live(fk, 0, 1, 2, VSK_CID_LOCAL, 0, VSK_CID_HOST, EADDRNOTAVAIL);
	eval(fk);
	assert_string_equal(fk->r->config_source, "");
	assert_int_equal(item(fk->r, "config", "CONFIG_VSOCKETS")->status, VSK_CHECK_WARN);
	assert_true(has_fix(item(fk->r, "config", "CONFIG_VSOCKETS"), "modprobe configs"));
	assert_int_equal(item(fk->r, "config", "CONFIG_VHOST_VSOCK")->status, VSK_CHECK_WARN);
	assert_int_equal(item(fk->r, "config", "CONFIG_VHOST_VSOCK")->nfix, 0);
}

/* ------------------------------------------------ the bind rule */

static void test_rule(void **state)
{
	static const struct {
		uint32_t g2h;
		bool h2g, lo;
		uint32_t cid;
		bool want;
	} cases[] = {
		{ 3, false, false, 3, true },   /* a guest's own CID */
		{ 3, false, false, 4, false },  /* another guest's CID */
		{ 3, false, false, 2, false },  /* host CID without h2g */
		{ 3, true, false, 2, true },    /* nested: h2g makes 2 local */
		{ 3, false, false, 1, false },  /* no loopback */
		{ VSK_CID_ANY, false, true, 1, true },
		{ VSK_CID_ANY, false, true, 2, false },
		{ VSK_CID_ANY, true, false, 2, true },
		{ VSK_CID_ANY, false, false, VSK_CID_ANY, true }, /* any, always */
		{ VSK_CID_ANY, false, false, 0, false },          /* hypervisor */
		{ VSK_CID_ANY, true, true, 3, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = probe_rule_bindable(cases[i].g2h, cases[i].h2g, cases[i].lo, cases[i].cid);
		if (got != cases[i].want)
			fail_msg("case %zu: cid %u -> %d, want %d", i, cases[i].cid, got, cases[i].want);
	}
}

static void test_live_bind_lookup(void **state)
{
	struct fake *fk = *state;

	live(fk, 0, 3, 3, 3u, 0, VSK_CID_LOCAL, EADDRNOTAVAIL, VSK_CID_HOST, EACCES);
	assert_int_equal(probe_live_bind(&fk->l, 3), 1);
	assert_int_equal(probe_live_bind(&fk->l, VSK_CID_LOCAL), 0);
	assert_int_equal(probe_live_bind(&fk->l, VSK_CID_HOST), -EACCES);
	assert_int_equal(probe_live_bind(&fk->l, 7), -ENOENT);
}

/* ------------------------------------------------ module state */

static void test_module_state(void **state)
{
	struct fake *fk = *state;
	static const char *const mods[] = { "vsock", NULL };

	proc_modules(fk, mods);
	putdir(fk, "/sys/module/vhost/initstate");
	putdir(fk, "/sys/module/vsock_diag");
	put(fk, "/boot/config-" REL, "CONFIG_VIRTIO_VSOCKETS=y\nCONFIG_VSOCKMON=m\n"
				    "# CONFIG_VSOCKETS_LOOPBACK is not set\n");
	put(fk, "/lib/modules/" REL "/modules.builtin", "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko\n");
	put(fk, "/lib/modules/" REL "/modules.dep", "kernel/drivers/vhost/vhost_vsock.ko.xz: x.ko\n");
	probe_files_load(&fk->f, fk->root, REL);

	assert_int_equal(probe_module_state(&fk->f, "vsock"), PROBE_MOD_LOADED);
	assert_int_equal(probe_module_state(&fk->f, "vhost"), PROBE_MOD_LOADED);   /* initstate */
	assert_int_equal(probe_module_state(&fk->f, "vsock_diag"), PROBE_MOD_BUILTIN); /* sysfs dir */
	assert_int_equal(probe_module_state(&fk->f, "vmw_vsock_virtio_transport"), PROBE_MOD_BUILTIN); /* =y */
	assert_int_equal(probe_module_state(&fk->f, "vmw_vsock_virtio_transport_common"), PROBE_MOD_BUILTIN);
	assert_int_equal(probe_module_state(&fk->f, "vsockmon"), PROBE_MOD_NOT_LOADED);  /* =m */
	assert_int_equal(probe_module_state(&fk->f, "vhost_vsock"), PROBE_MOD_NOT_LOADED); /* modules.dep */
	assert_int_equal(probe_module_state(&fk->f, "vsock_loopback"), PROBE_MOD_MISSING);
	assert_string_equal(probe_mod_name(PROBE_MOD_BUILTIN), "built in");
	assert_string_equal(probe_mod_name((enum probe_mod)42), "unknown");
	assert_string_equal(probe_module_kconfig("vhost-vsock"), "CONFIG_VHOST_VSOCK");
	assert_null(probe_module_kconfig("nosuch"));
}

/* The one fix text every piece of advice takes (vsk check, vsk_explain,
 * vsk dump): modprobe only where the module exists, else a rebuild. */
static void test_module_fix(void **state)
{
	struct fake *fk = *state;
	static const char *const mods[] = { "vsock", NULL };
	char fix[224], path[512];

	proc_modules(fk, mods);
	put(fk, "/boot/config-" REL, "CONFIG_MODULES=y\nCONFIG_VSOCKMON=m\n"
				    "# CONFIG_VSOCKETS_LOOPBACK is not set\n# CONFIG_VHOST_VSOCK is not set\n");
	probe_files_load(&fk->f, fk->root, REL);
	assert_string_equal(probe_module_fix(&fk->f, "vsockmon", fix, sizeof(fix)), "modprobe vsockmon");
	assert_string_equal(probe_module_fix(&fk->f, "vsock_loopback", fix, sizeof(fix)),
			    "rebuild the kernel with CONFIG_VSOCKETS_LOOPBACK=m");
	assert_string_equal(probe_module_fix(&fk->f, "vhost_vsock", fix, sizeof(fix)),
			    "rebuild the kernel with CONFIG_VHOST_VSOCK=m");
	assert_string_equal(probe_module_fix(&fk->f, "vhost", fix, sizeof(fix)),
			    "rebuild the kernel with CONFIG_VHOST_VSOCK=m");
	/* Loaded: nothing to fix. */
	assert_string_equal(probe_module_fix(&fk->f, "vsock", fix, sizeof(fix)), "");
	/* The check report says the same. */
	live(fk, 0, VSK_CID_ANY, 2, VSK_CID_LOCAL, EADDRNOTAVAIL, VSK_CID_HOST, EADDRNOTAVAIL);
	eval(fk);
	assert_true(has_fix(item(fk->r, "host-modules", "vsockmon"), "modprobe vsockmon"));
	assert_true(has_fix(item(fk->r, "bind", "CID 1"), "rebuild the kernel with CONFIG_VSOCKETS_LOOPBACK=m"));
	probe_files_free(&fk->f);
	/* No config: the module file under /lib/modules/REL decides, with
	 * or without modules.dep. */
	snprintf(path, sizeof(path), "%s/boot/config-" REL, fk->root);
	assert_int_equal(remove(path), 0);
	put(fk, "/lib/modules/" REL "/kernel/drivers/net/vsockmon.ko.xz", "");
	probe_files_load(&fk->f, fk->root, REL);
	assert_int_equal(probe_module_state(&fk->f, "vsockmon"), PROBE_MOD_NOT_LOADED);
	assert_string_equal(probe_module_fix(&fk->f, "vsockmon", fix, sizeof(fix)), "modprobe vsockmon");
	probe_files_free(&fk->f);
	put(fk, "/lib/modules/" REL "/modules.dep", "kernel/net/vmw_vsock/vsock.ko.xz:\n");
	snprintf(path, sizeof(path), "%s/lib/modules/" REL "/kernel/drivers/net/vsockmon.ko.xz", fk->root);
	assert_int_equal(remove(path), 0);
	probe_files_load(&fk->f, fk->root, REL);
	assert_int_equal(probe_module_state(&fk->f, "vsockmon"), PROBE_MOD_MISSING);
	assert_string_equal(probe_module_fix(&fk->f, "vsockmon", fix, sizeof(fix)),
			    "rebuild the kernel with CONFIG_VSOCKMON=m");
	probe_files_free(&fk->f);
	/* No module support (like a kernel with CONFIG_MODULES unset): =y. */
	snprintf(path, sizeof(path), "%s/proc/modules", fk->root);
	assert_int_equal(remove(path), 0);
	put(fk, "/boot/config-" REL, "# CONFIG_MODULES is not set\n# CONFIG_VSOCKMON is not set\n");
	probe_files_load(&fk->f, fk->root, REL);
	assert_string_equal(probe_module_fix(&fk->f, "vsockmon", fix, sizeof(fix)),
			    "rebuild the kernel with CONFIG_VSOCKMON=y");
	/* A small buffer is cut, never overrun. */
	assert_int_equal(strlen(probe_module_fix(&fk->f, "vsockmon", fix, 8)), 7);
}

static void test_module_state_unknown(void **state)
{
	struct fake *fk = *state;
	char path[512];

	/* Modules work, but nothing says whether vsockmon exists. */
	put(fk, "/proc/modules", "vsock 1 0 - Live 0x0\n");
	probe_files_load(&fk->f, fk->root, REL);
	assert_int_equal(probe_module_state(&fk->f, "vsockmon"), PROBE_MOD_UNKNOWN);
	probe_files_free(&fk->f);
	/* No /proc/modules: this kernel cannot load modules at all. */
	snprintf(path, sizeof(path), "%s/proc/modules", fk->root);
	assert_int_equal(remove(path), 0);
	probe_files_load(&fk->f, fk->root, REL);
	assert_int_equal(probe_module_state(&fk->f, "vsockmon"), PROBE_MOD_MISSING);
}

/* ------------------------------------------- roles from fake roots */

static void test_eval_loopback_only(void **state)
{
	struct fake *fk = *state;
	static const char *const mods[] = { "vsock_loopback", "vmw_vsock_virtio_transport_common", "vsock", NULL };
	const struct vsk_check_item *it;

	proc_modules(fk, mods);
	put(fk, "/lib/modules/" REL "/modules.dep", "kernel/drivers/vhost/vhost_vsock.ko: kernel/drivers/vhost/vhost.ko\n"
						    "kernel/drivers/vhost/vhost.ko:\n"
						    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko:\n");
	live(fk, 0, VSK_CID_LOCAL, 2, VSK_CID_LOCAL, 0, VSK_CID_HOST, EADDRNOTAVAIL);
	eval(fk);

	assert_true(fk->r->t.af_vsock);
	assert_true(fk->r->t.loopback);
	assert_false(fk->r->t.h2g);
	assert_false(fk->r->t.g2h);
	assert_string_equal(fk->r->t.role, "loopback only");
	assert_int_equal(fk->r->t.nbindable, 2);
	assert_int_equal(fk->r->t.bindable[0], VSK_CID_LOCAL);
	assert_int_equal(fk->r->t.bindable[1], VSK_CID_ANY);
	assert_true(fk->r->usable);
	assert_int_equal(item(fk->r, "bind", "CID 1")->status, VSK_CHECK_OK);
	it = item(fk->r, "bind", "CID 2");
	assert_int_equal(it->status, VSK_CHECK_MISSING);
	assert_true(has_fix(it, "modprobe vhost_vsock"));
	assert_true(has_fix(it, "-device vhost-user-vsock-pci,chardev=vsk0"));
	assert_true(has_fix(it, "vsk device --guest-cid 4 --socket /tmp/vhost4.sock --uds-path /tmp/vm4.vsock"));
	assert_int_equal(item(fk->r, "guest-modules", "vsock")->status, VSK_CHECK_OK);
	/* vhost comes with vhost_vsock; it is not loaded by its own name. */
	assert_true(has_fix(item(fk->r, "host-modules", "vhost"), "modprobe vhost_vsock"));
	it = item(fk->r, "guest-modules", "vmw_vsock_virtio_transport");
	assert_int_equal(it->status, VSK_CHECK_MISSING);
	assert_true(has_fix(it, "modprobe vmw_vsock_virtio_transport"));
	assert_int_equal(item(fk->r, "transports", "g2h")->status, VSK_CHECK_MISSING);
}

static void test_eval_vhost_host(void **state)
{
	struct fake *fk = *state;
	static const char *const mods[] = { "vhost_vsock", "vhost", "vhost_iotlb", "vsock_loopback",
					    "vmw_vsock_virtio_transport_common", "vsock", NULL };
	bool node;

	proc_modules(fk, mods);
	node = putchr(fk, "/dev/vhost-vsock", 10, 241);
	live(fk, 0, VSK_CID_HOST, 2, VSK_CID_LOCAL, 0, VSK_CID_HOST, 0);
	eval(fk);

	assert_true(fk->r->t.h2g);
	assert_string_equal(fk->r->t.h2g_name, "vhost");
	assert_string_equal(fk->r->t.role, "host");
	assert_int_equal(fk->r->t.nbindable, 3);
	assert_true(fk->r->usable);
	assert_int_equal(item(fk->r, "bind", "CID 2")->status, VSK_CHECK_OK);
	assert_int_equal(item(fk->r, "host-modules", "vhost_vsock")->status, VSK_CHECK_OK);
	if (node) {
		assert_true(fk->r->t.vhost_dev);
		assert_int_equal(item(fk->r, "devices", "/dev/vhost-vsock")->status, VSK_CHECK_OK);
		assert_non_null(strstr(item(fk->r, "devices", "/dev/vhost-vsock")->detail, "10:241"));
	} else {
		print_message("note: mknod not permitted here, device-node part not checked\n");
	}
}

static void test_eval_virtio_no_device(void **state)
{
	struct fake *fk = *state;
	static const char *const mods[] = { "vmw_vsock_virtio_transport", "vmw_vsock_virtio_transport_common",
					    "vsock", NULL };
	const struct vsk_check_item *it;

	proc_modules(fk, mods);
	put(fk, "/sys/bus/virtio/devices/virtio0/device", "0x0001\n"); /* a net device only */
	live(fk, 0, VSK_CID_ANY, 2, VSK_CID_LOCAL, EADDRNOTAVAIL, VSK_CID_HOST, EADDRNOTAVAIL);
	eval(fk);

	assert_true(fk->r->t.g2h);
	assert_string_equal(fk->r->t.g2h_name, "virtio");
	assert_false(fk->r->t.virtio_dev);
	assert_string_equal(fk->r->t.role, "none");
	assert_false(fk->r->usable);
	assert_non_null(strstr(fk->r->verdict, "not usable"));
	assert_non_null(strstr(fk->r->verdict, "no virtio-vsock device"));
	it = item(fk->r, "transports", "g2h");
	assert_int_equal(it->status, VSK_CHECK_WARN);
	assert_non_null(strstr(it->detail, "no virtio-vsock device"));
	assert_true(has_fix(it, "-device vhost-vsock-pci,guest-cid="));
	assert_false(has_fix(it, "modprobe"));
	assert_int_equal(item(fk->r, "transports", "local CID")->status, VSK_CHECK_WARN);
	/* Only ANY is bindable. */
	assert_int_equal(fk->r->t.nbindable, 1);
}

static void test_eval_guest_with_device(void **state)
{
	struct fake *fk = *state;

	/* This dev machine's shape: everything built in, no /proc/modules. */
	put(fk, "/proc/config.gz", "CONFIG_VSOCKETS=y\nCONFIG_VIRTIO_VSOCKETS=y\nCONFIG_VIRTIO_VSOCKETS_COMMON=y\n"
				  "# CONFIG_VSOCKETS_LOOPBACK is not set\n# CONFIG_MODULES is not set\n");
	putdir(fk, "/sys/module/vmw_vsock_virtio_transport/parameters");
	put(fk, "/sys/bus/virtio/devices/virtio1/device", "0x0002\n");
	put(fk, "/sys/bus/virtio/devices/virtio3/device", "0x0013\n");
	live(fk, 0, 3, 3, 3u, 0, VSK_CID_LOCAL, EADDRNOTAVAIL, VSK_CID_HOST, EADDRNOTAVAIL);
	eval(fk);

	assert_string_equal(fk->r->t.role, "guest");
	assert_true(fk->r->t.virtio_dev);
	assert_string_equal(fk->r->t.virtio_dev_name, "virtio3");
	assert_int_equal(fk->r->t.nbindable, 2);
	assert_int_equal(fk->r->t.bindable[0], 3);
	assert_true(fk->r->usable);
	assert_int_equal(item(fk->r, "bind", "CID 3")->status, VSK_CHECK_OK);
	/* No module support: fixes say rebuild, never modprobe. */
	assert_true(has_fix(item(fk->r, "bind", "CID 1"), "CONFIG_VSOCKETS_LOOPBACK=y"));
	assert_false(has_fix(item(fk->r, "bind", "CID 1"), "modprobe"));
	assert_int_equal(item(fk->r, "config", "CONFIG_VSOCKETS_LOOPBACK")->status, VSK_CHECK_MISSING);
	assert_int_equal(item(fk->r, "guest-modules", "vmw_vsock_virtio_transport_common")->status, VSK_CHECK_OK);
	assert_non_null(strstr(fk->r->config_source, "/proc/config.gz"));
}

static void test_eval_nested(void **state)
{
	struct fake *fk = *state;
	static const char *const mods[] = { "vhost_vsock", "vmw_vsock_virtio_transport", "vsock", NULL };

	proc_modules(fk, mods);
	put(fk, "/sys/bus/virtio/devices/virtio5/device", "0x0013\n");
	live(fk, 0, 5, 3, 5u, 0, VSK_CID_LOCAL, EADDRNOTAVAIL, VSK_CID_HOST, 0);
	eval(fk);
	assert_string_equal(fk->r->t.role, "host+guest (nested)");
	assert_int_equal(fk->r->t.nbindable, 3);
}

static void test_eval_guest_unprivileged(void **state)
{
	struct fake *fk = *state;
	static const char *const mods[] = { "vmw_vsock_virtio_transport", "vsock", NULL };

	/* Not root: the ioctl fails, so the guest CID cannot be tried, but
	 * the virtio device shows the guest transport works. */
	proc_modules(fk, mods);
	put(fk, "/sys/bus/virtio/devices/virtio3/device", "0x0013\n");
	live(fk, 0, VSK_CID_ANY, 2, VSK_CID_LOCAL, EADDRNOTAVAIL, VSK_CID_HOST, EADDRNOTAVAIL);
	fk->l.cid_err = EACCES;
	eval(fk);
	assert_string_equal(fk->r->t.role, "guest");
	assert_true(fk->r->usable);
	assert_true(has_fix(item(fk->r, "transports", "local CID"), "run as root"));
	assert_non_null(strstr(fk->r->verdict, "local CID is unknown"));
}

static void test_eval_host_idle_virtio(void **state)
{
	struct fake *fk = *state;
	static const char *const mods[] = { "vhost_vsock", "vmw_vsock_virtio_transport", "vsock", NULL };

	/* A lab guest with every module loaded but no virtio-vsock device:
	 * the ioctl falls back to the h2g CID 2, which is no guest CID. */
	proc_modules(fk, mods);
	live(fk, 0, VSK_CID_HOST, 2, VSK_CID_LOCAL, EADDRNOTAVAIL, VSK_CID_HOST, 0);
	eval(fk);
	assert_true(fk->r->t.g2h);
	assert_string_equal(fk->r->t.role, "host");
	assert_int_equal(item(fk->r, "transports", "g2h")->status, VSK_CHECK_WARN);
	assert_true(fk->r->usable);
}

static void test_eval_no_af_vsock(void **state)
{
	struct fake *fk = *state;
	const struct vsk_check_item *it;

	put(fk, "/proc/modules", "");
	put(fk, "/sys/class/misc/vsock/dev", "10:258\n");
	live(fk, EAFNOSUPPORT, VSK_CID_ANY, 0);
	fk->l.cid_err = ENOENT;
	eval(fk);

	assert_false(fk->r->t.af_vsock);
	assert_false(fk->r->usable);
	assert_int_equal(fk->r->t.nbindable, 0);
	assert_string_equal(fk->r->t.role, "none");
	it = item(fk->r, "transports", "AF_VSOCK");
	assert_int_equal(it->status, VSK_CHECK_MISSING);
	assert_true(has_fix(it, "modprobe vsock"));
	/* The misc device is registered but the node is missing. */
	it = item(fk->r, "devices", "/dev/vsock");
	assert_int_equal(it->status, VSK_CHECK_MISSING);
	assert_true(has_fix(it, "mknod /dev/vsock c 10 258"));
	for (int i = 0; i < fk->r->nitem; i++)
		assert_string_not_equal(fk->r->item[i].group, "bind");
}

static void test_eval_names_disagree(void **state)
{
	struct fake *fk = *state;
	static const char *const mods[] = { "vsock", NULL };
	const struct vsk_check_item *it;

	/* bind says CID 1 works though no loopback module is visible:
	 * ground truth wins, and the report says names disagreed. */
	proc_modules(fk, mods);
	live(fk, 0, VSK_CID_LOCAL, 2, VSK_CID_LOCAL, 0, VSK_CID_HOST, EADDRNOTAVAIL);
	eval(fk);
	assert_true(fk->r->t.loopback);
	it = item(fk->r, "bind", "CID 1");
	assert_int_equal(it->status, VSK_CHECK_WARN);
	assert_non_null(strstr(it->detail, "predict not bindable"));
}

static void test_status_names(void **state)
{
	(void)state;
	assert_string_equal(vsk_check_status_name(VSK_CHECK_OK), "ok");
	assert_string_equal(vsk_check_status_name(VSK_CHECK_WARN), "warn");
	assert_string_equal(vsk_check_status_name(VSK_CHECK_MISSING), "missing");
	assert_string_equal(vsk_check_status_name((enum vsk_check_status)9), "unknown");
}

/* ------------------------------------------------- this machine */

static void test_local_cid_live(void **state)
{
	struct stat st;
	uint32_t cid = 0;
	int ret;

	(void)state;
	if (stat("/dev/vsock", &st) < 0) {
		print_message("skipped: /dev/vsock absent (%s)\n", strerror(errno));
		skip();
	}
	ret = vsk_local_cid(&cid);
	if (ret == -EACCES) {
		print_message("skipped: /dev/vsock not readable as uid %u\n", (unsigned int)getuid());
		skip();
	}
	assert_int_equal(ret, 0);
	if (access("/sys/bus/virtio/drivers/vmw_vsock_virtio_transport", F_OK) != 0) {
		print_message("skipped: not a virtio-vsock guest, local CID %u not checked\n", cid);
		skip();
	}
	assert_true(cid > VSK_CID_HOST);
	assert_true(cid != VSK_CID_ANY);
}

static void test_transports_live(void **state)
{
	struct vsk_transports t;
	bool own = false;

	(void)state;
	assert_int_equal(vsk_probe_transports(&t), 0);
	if (!t.af_vsock) {
		print_message("skipped: socket(AF_VSOCK): %s\n", strerror(t.sock_err));
		skip();
	}
	/* bind() ground truth: ANY always, and the g2h CID is always ours. */
	assert_true(t.nbindable >= 1);
	assert_int_equal(t.bindable[t.nbindable - 1], VSK_CID_ANY);
	for (int i = 0; i < t.nbindable; i++)
		if (t.bindable[i] == t.local_cid)
			own = true;
	if (t.cid_err == 0 && t.local_cid != VSK_CID_ANY)
		assert_true(own);
	if (t.cid_err == 0 && t.local_cid > VSK_CID_HOST && t.local_cid != VSK_CID_ANY) {
		assert_true(t.g2h);
		assert_non_null(strstr(t.role, "guest"));
	}
	assert_true(t.dev_vsock || t.cid_err != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_lookup),
		cmocka_unit_test(test_proc_modules_parse),
		cmocka_unit_test(test_modlist_parse),
		cmocka_unit_test(test_path_join),
		cmocka_unit_test(test_rule),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test_setup_teardown(test_config_gz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_boot_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_bind_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_module_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_module_state_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_module_fix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_loopback_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_vhost_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_virtio_no_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_guest_with_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_nested, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_guest_unprivileged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_host_idle_virtio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_no_af_vsock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_names_disagree, setup, teardown),
		cmocka_unit_test(test_local_cid_live),
		cmocka_unit_test(test_transports_live),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
