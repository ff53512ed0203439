/* probe: local CID, transports, kernel config and modules.
 *
 * Names come from files (kernel config, /proc/modules, /sys/module,
 * modules.builtin, sysfs virtio devices); the bindable CIDs come from the
 * running kernel itself: bind() on a fresh AF_VSOCK socket per candidate
 * CID.  bind never sends a packet, so it is safe anywhere; connect is never
 * used here.  Every path is taken relative to a root so tests can fake one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include <linux/vm_sockets.h>

#include "probe.h"
#include "vsk.h"

/* ------------------------------------------------------------ text */

/* Next line of [*p, end) into *ls and *ll without the newline and trailing
 * CR/blanks; false at the end. */
static bool next_line(const char **p, const char *end, const char **ls, size_t *ll)
{
	const char *s = *p, *e;

	if (s >= end)
		return false;
	e = memchr(s, '\n', (size_t)(end - s));
	*p = e ? e + 1 : end;
	if (e == NULL)
		e = end;
	while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*ls = s;
	*ll = (size_t)(e - s);
	return true;
}

/* Module names treat '-' and '_' alike (the kernel does). */
static bool modname_eq(const char *a, size_t alen, const char *b)
{
	size_t i;

	for (i = 0; i < alen; i++) {
		char x = a[i] == '-' ? '_' : a[i];
		char y = b[i] == '-' ? '_' : b[i];

		if (b[i] == '\0' || x != y)
			return false;
	}
	return b[i] == '\0';
}

enum probe_kconf probe_config_lookup(const char *text, size_t len, const char *option)
{
	const char *p = text, *end = text + len, *s;
	size_t n, ol = strlen(option);

	if (text == NULL)
		return PROBE_KCONF_UNKNOWN;
	while (next_line(&p, end, &s, &n)) {
		while (n > 0 && (*s == ' ' || *s == '\t'))
			s++, n--;
		if (n >= 2 && s[0] == '#' && s[1] == ' ') {
			/* Only the exact "# CONFIG_X is not set" form is a value. */
			static const char tail[] = " is not set";
			size_t tl = sizeof(tail) - 1;

			if (n == 2 + ol + tl && !memcmp(s + 2, option, ol) && !memcmp(s + 2 + ol, tail, tl))
				return PROBE_KCONF_NOT_SET;
			continue;
		}
		if (n < ol + 2 || memcmp(s, option, ol) != 0 || s[ol] != '=')
			continue;
		if (n == ol + 2 && s[ol + 1] == 'y')
			return PROBE_KCONF_Y;
		if (n == ol + 2 && s[ol + 1] == 'm')
			return PROBE_KCONF_M;
		return PROBE_KCONF_NOT_SET;
	}
	/* A readable config without the option: the kernel cannot have it. */
	return PROBE_KCONF_NOT_SET;
}

static const struct {
	enum probe_kconf val;
	const char *name;
} kconf_names[] = {
	{ PROBE_KCONF_UNKNOWN, "unknown" },
	{ PROBE_KCONF_NOT_SET, "not set" },
	{ PROBE_KCONF_M, "m" },
	{ PROBE_KCONF_Y, "y" },
};

const char *probe_kconf_name(enum probe_kconf k)
{
	for (size_t i = 0; i < sizeof(kconf_names) / sizeof(kconf_names[0]); i++)
		if (kconf_names[i].val == k)
			return kconf_names[i].name;
	return "unknown";
}

int probe_proc_modules_state(const char *text, size_t len, const char *name)
{
	const char *p = text, *end = text + len, *s;
	size_t n;

	if (text == NULL)
		return 0;
	/* "name size refcount deps state address": state is field 5. */
	while (next_line(&p, end, &s, &n)) {
		const char *f[5];
		size_t fl[5];
		int nf = 0;
		size_t i = 0;

		while (nf < 5 && i < n) {
			while (i < n && s[i] == ' ')
				i++;
			if (i >= n)
				break;
			f[nf] = s + i;
			while (i < n && s[i] != ' ')
				i++;
			fl[nf] = (size_t)(s + i - f[nf]);
			nf++;
		}
		if (nf < 1 || !modname_eq(f[0], fl[0], name))
			continue;
		if (nf >= 5 && fl[4] == 4 && !memcmp(f[4], "Live", 4))
			return 1;
		return 2;
	}
	return 0;
}

bool probe_modlist_has(const char *text, size_t len, const char *name)
{
	const char *p = text, *end = text + len, *s;
	size_t n;

	if (text == NULL)
		return false;
	while (next_line(&p, end, &s, &n)) {
		const char *e = s, *b, *ko = NULL;

		/* First field: up to ':' (modules.dep) or blank. */
		while (e < s + n && *e != ':' && *e != ' ' && *e != '\t')
			e++;
		b = e;
		while (b > s && b[-1] != '/')
			b--;
		/* Strip ".ko" and any compression suffix after it. */
		for (const char *q = b; q + 3 <= e; q++)
			if (!memcmp(q, ".ko", 3) && (q + 3 == e || q[3] == '.')) {
				ko = q;
				break;
			}
		if (ko != NULL && modname_eq(b, (size_t)(ko - b), name))
			return true;
	}
	return false;
}

/* ------------------------------------------------------------ files */

int probe_path(char *buf, size_t len, const char *root, const char *rel)
{
	size_t rl = root ? strlen(root) : 0;
	int n;

	while (rl > 0 && root[rl - 1] == '/')
		rl--;
	n = snprintf(buf, len, "%.*s%s", (int)rl, rl ? root : "", rel);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Append N bytes to the growing buffer of T. */
static int text_append(struct probe_text *t, size_t *cap, const char *data, size_t n)
{
	if (t->len + n + 1 > *cap) {
		size_t nc = *cap ? *cap : 4096;
		char *nb;

		while (nc < t->len + n + 1)
			nc *= 2;
		if (nc > PROBE_TEXT_MAX + 1)
			return -EFBIG;
		nb = realloc(t->buf, nc);
		if (nb == NULL)
			return -ENOMEM;
		t->buf = nb;
		*cap = nc;
	}
	memcpy(t->buf + t->len, data, n);
	t->len += n;
	t->buf[t->len] = '\0';
	return 0;
}

int probe_read_text(const char *path, bool gz, struct probe_text *t)
{
	char chunk[8192];
	size_t cap = 0;
	int ret = 0, fd = -1;
	gzFile g = NULL;

	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "%s", path);
	if (gz) {
		errno = 0;
		g = gzopen(path, "rb");
		if (g == NULL) {
			ret = errno ? -errno : -ENOMEM;
			goto out;
		}
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			goto out;
		}
	}
	/* Empty text is still text: start with a NUL-terminated buffer. */
	ret = text_append(t, &cap, "", 0);
	while (ret == 0) {
		ssize_t n;

		if (gz) {
			int e;

			n = gzread(g, chunk, sizeof(chunk));
			if (n < 0) {
				gzerror(g, &e);
				ret = e == Z_ERRNO && errno ? -errno : -EIO;
				break;
			}
		} else {
			n = read(fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				ret = -errno;
				break;
			}
		}
		if (n == 0)
			break;
		ret = text_append(t, &cap, chunk, (size_t)n);
	}
out:
	if (g != NULL)
		gzclose(g);
	if (fd >= 0)
		close(fd);
	if (ret < 0) {
		free(t->buf);
		t->buf = NULL;
		t->len = 0;
		t->err = -ret;
	}
	return ret;
}

/* Read ROOT+REL into T, keeping the error in T if it fails. */
int probe_load_rel(struct probe_text *t, const char *root, const char *rel, bool gz)
{
	char path[sizeof(t->path)];
	int ret = probe_path(path, sizeof(path), root, rel);

	if (ret < 0) {
		memset(t, 0, sizeof(*t));
		t->err = -ret;
		return ret;
	}
	return probe_read_text(path, gz, t);
}

void probe_files_load(struct probe_files *f, const char *root, const char *release)
{
	char rel[160];
	struct utsname u;

	memset(f, 0, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "%s", root ? root : "/");
	if (release == NULL && uname(&u) == 0)
		release = u.release;
	snprintf(f->release, sizeof(f->release), "%s", release ? release : "");

	/* /proc/config.gz is the running kernel's own; /boot may be stale. */
	if (probe_load_rel(&f->config, f->root, "/proc/config.gz", true) < 0) {
		snprintf(rel, sizeof(rel), "/boot/config-%s", f->release);
		probe_load_rel(&f->config, f->root, rel, true);
	}
	probe_load_rel(&f->modules, f->root, "/proc/modules", false);
	snprintf(rel, sizeof(rel), "/lib/modules/%s/modules.builtin", f->release);
	probe_load_rel(&f->builtin, f->root, rel, false);
	snprintf(rel, sizeof(rel), "/lib/modules/%s/modules.dep", f->release);
	probe_load_rel(&f->dep, f->root, rel, false);
}

void probe_files_free(struct probe_files *f)
{
	free(f->config.buf);
	free(f->modules.buf);
	free(f->builtin.buf);
	free(f->dep.buf);
	f->config.buf = f->modules.buf = f->builtin.buf = f->dep.buf = NULL;
}

static bool exists_rel(const char *root, const char *rel, struct stat *st)
{
	char path[256];
	struct stat tmp;

	if (probe_path(path, sizeof(path), root, rel) < 0)
		return false;
	return stat(path, st ? st : &tmp) == 0;
}

/* ---------------------------------------------------------- modules */

static const struct {
	const char *name;
	const char *kconfig;
} module_kconfigs[] = {
	{ "vsock", "CONFIG_VSOCKETS" },
	{ "vmw_vsock_virtio_transport_common", "CONFIG_VIRTIO_VSOCKETS_COMMON" },
	{ "vmw_vsock_virtio_transport", "CONFIG_VIRTIO_VSOCKETS" },
	{ "vsock_loopback", "CONFIG_VSOCKETS_LOOPBACK" },
	{ "vsock_diag", "CONFIG_VSOCKETS_DIAG" },
	{ "vhost", "CONFIG_VHOST" },
	{ "vhost_vsock", "CONFIG_VHOST_VSOCK" },
	{ "vsockmon", "CONFIG_VSOCKMON" },
	{ "vmw_vsock_vmci_transport", "CONFIG_VMWARE_VMCI_VSOCKETS" },
	{ "hv_sock", "CONFIG_HYPERV_VSOCKETS" },
};

const char *probe_module_kconfig(const char *name)
{
	for (size_t i = 0; i < sizeof(module_kconfigs) / sizeof(module_kconfigs[0]); i++)
		if (modname_eq(module_kconfigs[i].name, strlen(module_kconfigs[i].name), name))
			return module_kconfigs[i].kconfig;
	return NULL;
}

/* A module file under /lib/modules/REL for NAME, as `modprobe` would find
 * it even where depmod never wrote modules.dep (the dirs of the modules
 * vsk asks about; '-' and '_' as the file is spelled upstream). */
static bool module_file(const struct probe_files *f, const char *name)
{
	static const char *const dirs[] = { "net/vmw_vsock", "drivers/vhost", "drivers/net", "drivers/hv" };
	static const char *const exts[] = { ".ko", ".ko.xz", ".ko.zst", ".ko.gz" };
	char rel[256];

	if (f->release[0] == '\0' || strlen(name) > 64)
		return false;
	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++)
		for (size_t e = 0; e < sizeof(exts) / sizeof(exts[0]); e++) {
			snprintf(rel, sizeof(rel), "/lib/modules/%s/kernel/%s/%s%s", f->release, dirs[d], name, exts[e]);
			if (exists_rel(f->root, rel, NULL))
				return true;
		}
	return false;
}

enum probe_mod probe_module_state(const struct probe_files *f, const char *name)
{
	const char *opt = probe_module_kconfig(name);
	enum probe_kconf k = PROBE_KCONF_UNKNOWN;
	char rel[128];

	if (f->config.buf != NULL && opt != NULL)
		k = probe_config_lookup(f->config.buf, f->config.len, opt);
	if (probe_proc_modules_state(f->modules.buf, f->modules.len, name) != 0)
		return PROBE_MOD_LOADED;
	/* A loadable module always has initstate in sysfs; a built-in one
	 * has a /sys/module dir only if it has parameters or a version. */
	snprintf(rel, sizeof(rel), "/sys/module/%s/initstate", name);
	if (exists_rel(f->root, rel, NULL))
		return PROBE_MOD_LOADED;
	if (k == PROBE_KCONF_Y || probe_modlist_has(f->builtin.buf, f->builtin.len, name))
		return PROBE_MOD_BUILTIN;
	snprintf(rel, sizeof(rel), "/sys/module/%s", name);
	if (exists_rel(f->root, rel, NULL))
		return PROBE_MOD_BUILTIN;
	if (k == PROBE_KCONF_M || probe_modlist_has(f->dep.buf, f->dep.len, name) || module_file(f, name))
		return PROBE_MOD_NOT_LOADED;
	/* Not loaded, and a readable config or module list says it is not
	 * there; a kernel without /proc/modules cannot load modules at all. */
	if (k == PROBE_KCONF_NOT_SET || f->dep.buf != NULL || f->modules.buf == NULL)
		return PROBE_MOD_MISSING;
	return PROBE_MOD_UNKNOWN;
}

static const struct {
	enum probe_mod val;
	const char *name;
} mod_names[] = {
	{ PROBE_MOD_UNKNOWN, "not loaded" },
	{ PROBE_MOD_MISSING, "not in this kernel" },
	{ PROBE_MOD_NOT_LOADED, "not loaded (module available)" },
	{ PROBE_MOD_LOADED, "loaded" },
	{ PROBE_MOD_BUILTIN, "built in" },
};

const char *probe_mod_name(enum probe_mod m)
{
	for (size_t i = 0; i < sizeof(mod_names) / sizeof(mod_names[0]); i++)
		if (mod_names[i].val == m)
			return mod_names[i].name;
	return "unknown";
}

bool probe_module_present(const struct probe_files *f, const char *name)
{
	enum probe_mod m = probe_module_state(f, name);

	return m == PROBE_MOD_LOADED || m == PROBE_MOD_BUILTIN;
}

/* ------------------------------------------------------------- live */

bool probe_rule_bindable(uint32_t g2h_cid, bool h2g, bool loopback, uint32_t cid)
{
	if (cid == VSK_CID_ANY)
		return true;
	if (g2h_cid != VSK_CID_ANY && cid == g2h_cid)
		return true;
	if (h2g && cid == VSK_CID_HOST)
		return true;
	return loopback && cid == VSK_CID_LOCAL;
}

int vsk_local_cid(uint32_t *cid)
{
	unsigned int v = VMADDR_CID_ANY;
	int fd, ret = 0;

	fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &v) < 0)
		ret = -errno;
	close(fd);
	if (ret == 0)
		*cid = v;
	return ret;
}

/* bind (never connect) a fresh stream socket to CID, port any. */
static int try_bind(uint32_t cid)
{
	struct sockaddr_vm sa;
	int fd, ret = 0;

	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.svm_family = AF_VSOCK;
	sa.svm_cid = cid;
	sa.svm_port = VMADDR_PORT_ANY;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static void add_cand(struct probe_live *l, uint32_t cid)
{
	for (int i = 0; i < l->ncand; i++)
		if (l->cand[i] == cid)
			return;
	if (l->ncand < PROBE_CAND_MAX)
		l->cand[l->ncand++] = cid;
}

void probe_live_gather(struct probe_live *l)
{
	uint32_t cid;
	int ret, fd;

	memset(l, 0, sizeof(*l));
	l->local_cid = VSK_CID_ANY;
	ret = vsk_local_cid(&cid);
	if (ret < 0)
		l->cid_err = -ret;
	else
		l->local_cid = cid;
	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		l->sock_err = errno;
		return;
	}
	close(fd);
	if (l->local_cid != VSK_CID_ANY)
		add_cand(l, l->local_cid);
	add_cand(l, VSK_CID_LOCAL);
	add_cand(l, VSK_CID_HOST);
	for (int i = 0; i < l->ncand; i++)
		l->bind_err[i] = -try_bind(l->cand[i]);
}

int probe_live_bind(const struct probe_live *l, uint32_t cid)
{
	for (int i = 0; i < l->ncand; i++) {
		if (l->cand[i] != cid)
			continue;
		if (l->bind_err[i] == 0)
			return 1;
		return l->bind_err[i] == EADDRNOTAVAIL ? 0 : -l->bind_err[i];
	}
	return -ENOENT;
}

/* -------------------------------------------------------- transports */

/* The first virtio device whose id is 0x13 (virtio-vsock). */
static bool find_virtio_vsock(const char *root, char *name, size_t len)
{
	char dir[256];
	struct dirent *de;
	DIR *d;
	bool found = false;

	if (probe_path(dir, sizeof(dir), root, "/sys/bus/virtio/devices") < 0)
		return false;
	d = opendir(dir);
	if (d == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL) {
		char rel[320];
		struct probe_text t;

		if (de->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "/sys/bus/virtio/devices/%.200s/device", de->d_name);
		if (probe_load_rel(&t, root, rel, false) < 0)
			continue;
		if (strtoul(t.buf, NULL, 0) == 0x13) {
			snprintf(name, len, "%.*s", (int)len - 1, de->d_name);
			found = true;
		}
		free(t.buf);
	}
	closedir(d);
	return found;
}

static const struct {
	const char *module;
	const char *name;
} g2h_modules[] = {
	{ "vmw_vsock_virtio_transport", "virtio" },
	{ "vmw_vsock_vmci_transport", "vmci" },
	{ "hv_sock", "hyperv" },
};

static void set_role(struct vsk_transports *t)
{
	uint32_t c = t->local_cid;
	/* A g2h transport carries traffic once it has a CID; Hyper-V's never
	 * reports one, and without the ioctl a virtio device is the sign. */
	bool g2h_up = t->g2h && ((c != VSK_CID_ANY && c > VSK_CID_HOST) ||
				 !strcmp(t->g2h_name, "hyperv") ||
				 (t->cid_err != 0 && t->virtio_dev));
	const char *role = "none";

	if (t->af_vsock) {
		if (g2h_up && t->h2g)
			role = "host+guest (nested)";
		else if (g2h_up)
			role = "guest";
		else if (t->h2g)
			role = "host";
		else if (t->loopback)
			role = "loopback only";
	}
	snprintf(t->role, sizeof(t->role), "%s", role);
}

void probe_transports_eval(const struct probe_files *f, const struct probe_live *l,
			   struct vsk_transports *t)
{
	struct stat st;
	bool h2g_sys, loop_sys;
	int b;

	memset(t, 0, sizeof(*t));
	t->local_cid = l->local_cid;
	t->cid_err = l->cid_err;
	t->sock_err = l->sock_err;
	t->af_vsock = l->sock_err == 0;
	t->dev_vsock = exists_rel(f->root, "/dev/vsock", &st) && S_ISCHR(st.st_mode);
	t->vhost_dev = exists_rel(f->root, "/dev/vhost-vsock", &st) && S_ISCHR(st.st_mode);
	t->virtio_dev = find_virtio_vsock(f->root, t->virtio_dev_name, sizeof(t->virtio_dev_name));

	for (size_t i = 0; i < sizeof(g2h_modules) / sizeof(g2h_modules[0]); i++)
		if (probe_module_present(f, g2h_modules[i].module)) {
			snprintf(t->g2h_name, sizeof(t->g2h_name), "%s", g2h_modules[i].name);
			break;
		}
	/* A guest CID from the ioctl proves a g2h transport we cannot name. */
	if (t->g2h_name[0] == '\0' && t->local_cid != VSK_CID_ANY && t->local_cid > VSK_CID_HOST)
		snprintf(t->g2h_name, sizeof(t->g2h_name), "unknown");
	t->g2h = t->g2h_name[0] != '\0';

	h2g_sys = t->vhost_dev || probe_module_present(f, "vhost_vsock");
	loop_sys = probe_module_present(f, "vsock_loopback");
	/* Ground truth over names: bind says what vsock_find_cid() allows. */
	b = probe_live_bind(l, VSK_CID_HOST);
	t->h2g = b >= 0 ? b == 1 : h2g_sys;
	b = probe_live_bind(l, VSK_CID_LOCAL);
	t->loopback = b >= 0 ? b == 1 : loop_sys;
	if (t->h2g)
		snprintf(t->h2g_name, sizeof(t->h2g_name), "%s",
			 h2g_sys ? "vhost" : probe_module_present(f, "vmw_vsock_vmci_transport") ? "vmci" : "unknown");

	if (t->af_vsock) {
		for (int i = 0; i < l->ncand && t->nbindable < 3; i++)
			if (l->bind_err[i] == 0)
				t->bindable[t->nbindable++] = l->cand[i];
		t->bindable[t->nbindable++] = VSK_CID_ANY;
	}
	set_role(t);
}

int vsk_probe_transports(struct vsk_transports *t)
{
	struct probe_files f;
	struct probe_live l;

	probe_files_load(&f, "/", NULL);
	probe_live_gather(&l);
	probe_transports_eval(&f, &l, t);
	probe_files_free(&f);
	return 0;
}
