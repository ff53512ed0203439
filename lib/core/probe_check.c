/* probe_check: the `vsk check` doctor.  Turns the probe's findings into
 * one item per kernel option, module, device node, transport and CID, each
 * with the exact commands that close a gap.  Computes only; the CLI prints.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "probe.h"
#include "vsk.h"

/* The QEMU/vsk lines a fix may need, kept in one place. */
#define FIX_QEMU_GUEST "on the host (with vhost_vsock loaded) start this VM with QEMU -device vhost-vsock-pci,guest-cid=N (N >= 3)"
#define FIX_QEMU_HOST  "then give each guest a CID: QEMU -device vhost-vsock-pci,guest-cid=N (N >= 3)"
#define FIX_QEMU_VU    "or without vhost_vsock: QEMU -chardev socket,id=vsk0,path=/tmp/vhost4.sock " \
		       "-device vhost-user-vsock-pci,chardev=vsk0 " \
		       "-object memory-backend-memfd,id=mem,size=512M,share=on -machine memory-backend=mem"
#define FIX_VSK_DEV    "  with the back end: vsk device --guest-cid 4 --socket /tmp/vhost4.sock --uds-path /tmp/vm4.vsock"

static const char *const config_options[] = {
	"CONFIG_VSOCKETS",          "CONFIG_VIRTIO_VSOCKETS", "CONFIG_VIRTIO_VSOCKETS_COMMON",
	"CONFIG_VSOCKETS_LOOPBACK", "CONFIG_VHOST_VSOCK",     "CONFIG_VSOCKMON",
	"CONFIG_VSOCKETS_DIAG",
};
static const char *const guest_modules[] = {
	"vmw_vsock_virtio_transport", "vmw_vsock_virtio_transport_common", "vsock",
};
static const char *const host_modules[] = {
	"vhost_vsock", "vmw_vsock_virtio_transport_common", "vhost", "vsock", "vsockmon",
};

static const struct {
	enum vsk_check_status val;
	const char *name;
} status_names[] = {
	{ VSK_CHECK_OK, "ok" },
	{ VSK_CHECK_WARN, "warn" },
	{ VSK_CHECK_MISSING, "missing" },
};

const char *vsk_check_status_name(enum vsk_check_status s)
{
	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (status_names[i].val == s)
			return status_names[i].name;
	return "unknown";
}

/* Append an item; NULL (and later calls ignore it) once the table is full. */
static struct vsk_check_item *add(struct vsk_check_report *r, const char *group, const char *name,
				  enum vsk_check_status st, const char *fmt, ...)
{
	struct vsk_check_item *it;
	va_list ap;

	if (r->nitem >= VSK_CHECK_ITEM_MAX)
		return NULL;
	it = &r->item[r->nitem++];
	memset(it, 0, sizeof(*it));
	it->group = group;
	it->status = st;
	snprintf(it->name, sizeof(it->name), "%s", name);
	va_start(ap, fmt);
	vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
	va_end(ap);
	return it;
}

static void fix(struct vsk_check_item *it, const char *fmt, ...)
{
	va_list ap;

	if (it == NULL || it->nfix >= VSK_CHECK_FIX_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(it->fix[it->nfix++], sizeof(it->fix[0]), fmt, ap);
	va_end(ap);
}

/* Can this kernel load modules at all?  No /proc/modules means no. */
static bool can_modprobe(const struct probe_files *f)
{
	return f->modules.buf != NULL ||
	       probe_config_lookup(f->config.buf, f->config.len, "CONFIG_MODULES") == PROBE_KCONF_Y;
}

/* The fix that makes module NAME present: modprobe, or a kernel rebuild.
 * The one source of this advice: `vsk check`, vsk_explain() and `vsk dump`
 * all take it from here.  "" when NAME is loaded or built in. */
const char *probe_module_fix(const struct probe_files *f, const char *name, char *buf, size_t len)
{
	const char *opt = probe_module_kconfig(name);
	enum probe_mod m = probe_module_state(f, name);

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (m == PROBE_MOD_LOADED || m == PROBE_MOD_BUILTIN)
		return buf;
	/* vhost is not selectable on its own: VHOST_VSOCK selects it, and
	 * modprobe vhost_vsock loads it as a dependency. */
	if (!strcmp(name, "vhost"))
		opt = "CONFIG_VHOST_VSOCK";
	if (m == PROBE_MOD_MISSING || !can_modprobe(f))
		snprintf(buf, len, "rebuild the kernel with %s=%s", opt ? opt : name, can_modprobe(f) ? "m" : "y");
	else if (!strcmp(name, "vhost"))
		snprintf(buf, len, "modprobe vhost_vsock  (loads vhost)");
	else
		snprintf(buf, len, "modprobe %s", name);
	return buf;
}

const char *probe_module_fix_here(const char *name, char *buf, size_t len)
{
	struct probe_files *f = malloc(sizeof(*f));

	if (f == NULL) {
		snprintf(buf, len, "modprobe %s, or run 'vsk check'", name);
		return buf;
	}
	probe_files_load(f, "/", NULL);
	if (*probe_module_fix(f, name, buf, len) == '\0')
		snprintf(buf, len, "%s is loaded, yet did not serve: run 'vsk check'", name);
	probe_files_free(f);
	free(f);
	return buf;
}

static void fix_module(struct vsk_check_item *it, const struct probe_files *f, const char *name)
{
	char text[sizeof(it->fix[0])];

	/* Callers ask only for a module that is missing, so text is not "". */
	if (*probe_module_fix(f, name, text, sizeof(text)) != '\0')
		fix(it, "%s", text);
}

static void check_config(struct vsk_check_report *r, const struct probe_files *f)
{
	bool told = false;

	for (size_t i = 0; i < sizeof(config_options) / sizeof(config_options[0]); i++) {
		const char *o = config_options[i];
		enum probe_kconf k = probe_config_lookup(f->config.buf, f->config.len, o);
		struct vsk_check_item *it;

		if (k == PROBE_KCONF_Y || k == PROBE_KCONF_M) {
			add(r, "config", o, VSK_CHECK_OK, "%s", k == PROBE_KCONF_Y ? "y (built in)" : "m (module)");
		} else if (k == PROBE_KCONF_NOT_SET) {
			it = add(r, "config", o, VSK_CHECK_MISSING, "not set");
			fix(it, "rebuild the kernel with %s=%s", o, can_modprobe(f) ? "m" : "y");
		} else {
			it = add(r, "config", o, VSK_CHECK_WARN, "unknown (no /proc/config.gz or /boot/config-%s)",
				 f->release);
			/* One gap, one fix: say it on the first line only. */
			if (!told && can_modprobe(f))
				fix(it, "modprobe configs  (gives /proc/config.gz if the kernel has CONFIG_IKCONFIG=m)");
			if (!told)
				fix(it, "or install this kernel's config as /boot/config-%s", f->release);
			told = true;
		}
	}
}

static void check_modules(struct vsk_check_report *r, const struct probe_files *f, const char *group,
			  const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum probe_mod m = probe_module_state(f, names[i]);
		const char *opt = probe_module_kconfig(names[i]);
		struct vsk_check_item *it;

		if (m == PROBE_MOD_LOADED || m == PROBE_MOD_BUILTIN) {
			add(r, group, names[i], VSK_CHECK_OK, "%s", probe_mod_name(m));
			continue;
		}
		if (m == PROBE_MOD_MISSING && opt != NULL && f->config.buf != NULL)
			it = add(r, group, names[i], VSK_CHECK_MISSING, "%s (%s not set)", probe_mod_name(m), opt);
		else
			it = add(r, group, names[i], VSK_CHECK_MISSING, "%s", probe_mod_name(m));
		fix_module(it, f, names[i]);
	}
}

static void check_devnode(struct vsk_check_report *r, const struct probe_files *f, const char *rel,
			  const char *module)
{
	char path[256], misc[96];
	struct vsk_check_item *it;
	struct probe_text t;
	struct stat st;

	if (probe_path(path, sizeof(path), f->root, rel) < 0 || stat(path, &st) < 0) {
		it = add(r, "devices", rel, VSK_CHECK_MISSING, "absent");
		/* Module there but no node (no devtmpfs): mknod from sysfs. */
		snprintf(misc, sizeof(misc), "/sys/class/misc/%s/dev", rel + strlen("/dev/"));
		if (probe_load_rel(&t, f->root, misc, false) == 0) {
			unsigned int ma, mi;

			if (sscanf(t.buf, "%u:%u", &ma, &mi) == 2)
				fix(it, "mknod %s c %u %u", rel, ma, mi);
			free(t.buf);
		}
		if (it != NULL && it->nfix == 0)
			fix_module(it, f, module);
		return;
	}
	if (!S_ISCHR(st.st_mode)) {
		add(r, "devices", rel, VSK_CHECK_WARN, "not a character device (mode %04o)",
		    (unsigned int)(st.st_mode & 07777));
		return;
	}
	it = add(r, "devices", rel, VSK_CHECK_OK, "char %u:%u, mode %04o", major(st.st_rdev),
		 minor(st.st_rdev), (unsigned int)(st.st_mode & 07777));
	/* The CID ioctl opens /dev/vsock for reading; sockets do not need it. */
	if (it != NULL && access(path, R_OK) != 0) {
		it->status = VSK_CHECK_WARN;
		snprintf(it->detail + strlen(it->detail), sizeof(it->detail) - strlen(it->detail),
			 ", not readable by uid %u", (unsigned int)getuid());
		fix(it, "run as root to read the local CID (sockets still work)");
	}
}

/* The fixes that give this machine a g2h transport with a CID. */
static void fix_guest(struct vsk_check_item *it, const struct probe_files *f, const struct vsk_transports *t)
{
	if (strcmp(t->g2h_name, "virtio") != 0 && !t->virtio_dev)
		fix_module(it, f, "vmw_vsock_virtio_transport");
	fix(it, "%s", FIX_QEMU_GUEST);
	fix(it, "%s", FIX_QEMU_VU);
	fix(it, "%s", FIX_VSK_DEV);
}

static void check_transports(struct vsk_check_report *r, const struct probe_files *f,
			     const struct vsk_transports *t)
{
	char c[16];
	struct vsk_check_item *it;

	if (t->af_vsock) {
		add(r, "transports", "AF_VSOCK", VSK_CHECK_OK, "socket(AF_VSOCK) works");
	} else {
		it = add(r, "transports", "AF_VSOCK", VSK_CHECK_MISSING, "socket(AF_VSOCK): %s",
			 strerror(t->sock_err));
		fix_module(it, f, "vsock");
	}

	if (t->cid_err != 0) {
		it = add(r, "transports", "local CID", VSK_CHECK_WARN, "ioctl on /dev/vsock: %s",
			 strerror(t->cid_err));
		if (t->cid_err == EACCES || t->cid_err == EPERM)
			fix(it, "run as root");
	} else if (t->local_cid == VSK_CID_ANY) {
		add(r, "transports", "local CID", VSK_CHECK_WARN,
		    "%u (VMADDR_CID_ANY): no transport has a CID", (unsigned int)t->local_cid);
	} else {
		add(r, "transports", "local CID", VSK_CHECK_OK, "%s (IOCTL_VM_SOCKETS_GET_LOCAL_CID)",
		    vsk_cid_str(t->local_cid, c, sizeof(c)));
	}

	if (!t->g2h) {
		it = add(r, "transports", "g2h", VSK_CHECK_MISSING, "none (not a vsock guest)");
		fix_guest(it, f, t);
	} else if (!strcmp(t->g2h_name, "virtio") && !t->virtio_dev) {
		it = add(r, "transports", "g2h", VSK_CHECK_WARN,
			 "virtio transport loaded, but no virtio-vsock device: it has no CID");
		fix_guest(it, f, t);
	} else {
		add(r, "transports", "g2h", VSK_CHECK_OK, "%s%s%s", t->g2h_name,
		    t->virtio_dev ? ", device " : "", t->virtio_dev ? t->virtio_dev_name : "");
	}
	/* Gaps of h2g and loopback get their fixes under their CID below. */
	if (t->h2g)
		add(r, "transports", "h2g", VSK_CHECK_OK, "%s%s", t->h2g_name,
		    t->vhost_dev ? " (/dev/vhost-vsock)" : "");
	else
		add(r, "transports", "h2g", VSK_CHECK_MISSING, "none (see CID 2 below)");
	if (t->loopback)
		add(r, "transports", "loopback", VSK_CHECK_OK, "vsock_loopback (CID 1)");
	else
		add(r, "transports", "loopback", VSK_CHECK_MISSING, "none (see CID 1 below)");
}

/* One bind item: the observed result, the rule's reason, and the fixes. */
static void check_bind(struct vsk_check_report *r, const struct probe_files *f, const struct probe_live *l,
		       const struct vsk_transports *t, uint32_t cid, bool h2g_sys, bool loop_sys)
{
	uint32_t g2h_cid = t->local_cid > VSK_CID_HOST ? t->local_cid : VSK_CID_ANY;
	bool predicted = probe_rule_bindable(g2h_cid, h2g_sys, loop_sys, cid);
	int b = probe_live_bind(l, cid);
	struct vsk_check_item *it;
	char name[24], c[16];

	snprintf(name, sizeof(name), "CID %s", vsk_cid_str(cid, c, sizeof(c)));
	if (b < 0 && b != -ENOENT) {
		add(r, "bind", name, VSK_CHECK_WARN, "bind: %s", strerror(-b));
		return;
	}
	if (b == 1 && cid == g2h_cid) {
		add(r, "bind", name, VSK_CHECK_OK, "bindable: the local CID of the g2h transport (%s)",
		    t->g2h_name[0] ? t->g2h_name : "unknown");
	} else if (b == 1 && cid == VSK_CID_HOST) {
		add(r, "bind", name, VSK_CHECK_OK, "bindable: an h2g transport (%s) is registered", t->h2g_name);
	} else if (b == 1 && cid == VSK_CID_LOCAL) {
		add(r, "bind", name, VSK_CHECK_OK, "bindable: the loopback transport is loaded");
	} else if (b == 1) {
		add(r, "bind", name, VSK_CHECK_WARN, "bindable, which the vsock_find_cid rule does not explain");
	} else if (cid == VSK_CID_HOST) {
		it = add(r, "bind", name, VSK_CHECK_MISSING,
			 "not bindable (EADDRNOTAVAIL): no h2g transport, so this machine cannot host guests");
		fix_module(it, f, "vhost_vsock");
		fix(it, "%s", FIX_QEMU_HOST);
		fix(it, "%s", FIX_QEMU_VU);
		fix(it, "%s", FIX_VSK_DEV);
	} else if (cid == VSK_CID_LOCAL) {
		it = add(r, "bind", name, VSK_CHECK_MISSING,
			 "not bindable (EADDRNOTAVAIL): no loopback transport");
		fix_module(it, f, "vsock_loopback");
	} else {
		add(r, "bind", name, VSK_CHECK_WARN,
		    "not bindable (EADDRNOTAVAIL), though the ioctl reports it as the local CID");
	}
	/* Names and ground truth disagree: say so rather than pick one. */
	if (b >= 0 && (b == 1) != predicted && r->nitem > 0 && cid != VSK_CID_ANY) {
		it = &r->item[r->nitem - 1];
		if (it->status == VSK_CHECK_OK)
			it->status = VSK_CHECK_WARN;
		snprintf(it->detail + strlen(it->detail), sizeof(it->detail) - strlen(it->detail),
			 "; sysfs/modules predict %s", predicted ? "bindable" : "not bindable");
	}
}

static void verdict(struct vsk_check_report *r)
{
	const struct vsk_transports *t = &r->t;
	char c[16], list[64] = "";
	bool cid_ok = false;

	for (int i = 0; i < t->nbindable; i++) {
		size_t n = strlen(list);

		snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
			 vsk_cid_str(t->bindable[i], c, sizeof(c)));
		if (t->bindable[i] != VSK_CID_ANY)
			cid_ok = true;
	}
	/* The role counts a transport that carries traffic even without a
	 * CID we could bind (Hyper-V, or a guest CID we may not read). */
	r->usable = t->af_vsock && (cid_ok || strcmp(t->role, "none") != 0);
	if (!t->af_vsock)
		snprintf(r->verdict, sizeof(r->verdict), "vsock is not usable here: socket(AF_VSOCK): %s",
			 strerror(t->sock_err));
	else if (!r->usable && !strcmp(t->g2h_name, "virtio") && !t->virtio_dev)
		snprintf(r->verdict, sizeof(r->verdict),
			 "vsock is not usable here: the virtio transport has no virtio-vsock device, "
			 "and no other transport has a CID (bindable: %s)", list);
	else if (!r->usable)
		snprintf(r->verdict, sizeof(r->verdict),
			 "vsock is not usable here: no transport has a CID (bindable: %s)", list);
	else
		snprintf(r->verdict, sizeof(r->verdict), "vsock is usable here: role %s, bindable CIDs: %s%s",
			 t->role, list, t->cid_err ? " (the local CID is unknown, so not tried)" : "");
}

void probe_check_eval(const struct probe_files *f, const struct probe_live *l, struct vsk_check_report *r)
{
	struct vsk_transports *t = &r->t;
	bool h2g_sys, loop_sys;

	memset(r, 0, sizeof(*r));
	probe_transports_eval(f, l, t);
	if (f->config.buf != NULL)
		snprintf(r->config_source, sizeof(r->config_source), "%s", f->config.path);

	check_config(r, f);
	check_modules(r, f, "guest-modules", guest_modules, sizeof(guest_modules) / sizeof(guest_modules[0]));
	check_modules(r, f, "host-modules", host_modules, sizeof(host_modules) / sizeof(host_modules[0]));
	check_devnode(r, f, "/dev/vsock", "vsock");
	check_devnode(r, f, "/dev/vhost-vsock", "vhost_vsock");
	check_transports(r, f, t);

	if (t->af_vsock) {
		h2g_sys = t->vhost_dev || probe_module_present(f, "vhost_vsock");
		loop_sys = probe_module_present(f, "vsock_loopback");
		for (int i = 0; i < l->ncand; i++)
			check_bind(r, f, l, t, l->cand[i], h2g_sys, loop_sys);
		add(r, "bind", "CID any", VSK_CHECK_OK, "always bindable (VMADDR_CID_ANY)");
	}
	verdict(r);
}

int vsk_check(struct vsk_check_report *r)
{
	struct probe_files *f;
	struct probe_live l;

	f = malloc(sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	probe_files_load(f, "/", NULL);
	probe_live_gather(&l);
	probe_check_eval(f, &l, r);
	probe_files_free(f);
	free(f);
	return 0;
}

/* The long fix lines must fit an item's fix field whole. */
_Static_assert(sizeof(FIX_QEMU_VU) <= sizeof(((struct vsk_check_item *)0)->fix[0]), "fix field too small");
_Static_assert(sizeof(FIX_QEMU_GUEST) <= sizeof(((struct vsk_check_item *)0)->fix[0]), "fix field too small");
