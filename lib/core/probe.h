/* probe internals, exposed for unit tests: parsers of kernel text files,
 * the vsock_find_cid() rule, and evaluation against a redirectable root. */
#ifndef VSK_PROBE_H
#define VSK_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsk.h"

/* Largest kernel text file we read (modules.dep is ~1 MiB). */
#define PROBE_TEXT_MAX (16u << 20)

enum probe_kconf {
	PROBE_KCONF_UNKNOWN, /* no config readable */
	PROBE_KCONF_NOT_SET, /* "# CONFIG_X is not set", or absent from the file */
	PROBE_KCONF_M,
	PROBE_KCONF_Y,
};

enum probe_mod {
	PROBE_MOD_UNKNOWN,    /* not loaded; nothing says whether it exists */
	PROBE_MOD_MISSING,    /* this kernel has no such module */
	PROBE_MOD_NOT_LOADED, /* available as a module, not loaded */
	PROBE_MOD_LOADED,
	PROBE_MOD_BUILTIN,
};

/* One text file: buf is NUL-terminated (malloc'd) or NULL with err set. */
struct probe_text {
	char *buf;
	size_t len;
	int err;        /* positive errno when buf is NULL */
	char path[160]; /* the path read (or tried last) */
};

/* Every file the probe reads, under ROOT ("/" on a live system). */
struct probe_files {
	char root[128];
	char release[65];
	struct probe_text config;  /* proc/config.gz, else boot/config-REL */
	struct probe_text modules; /* proc/modules */
	struct probe_text builtin; /* lib/modules/REL/modules.builtin */
	struct probe_text dep;     /* lib/modules/REL/modules.dep */
};

/* What only the live kernel can say: socket, ioctl and bind results. */
#define PROBE_CAND_MAX 3
struct probe_live {
	int sock_err;        /* 0 if socket(AF_VSOCK) works, else errno */
	int cid_err;         /* 0 if the ioctl worked, else errno */
	uint32_t local_cid;  /* the ioctl's answer, VSK_CID_ANY if cid_err */
	int ncand;
	uint32_t cand[PROBE_CAND_MAX];     /* CIDs tried: {local, 1, 2} */
	int bind_err[PROBE_CAND_MAX];      /* 0 bound, else errno */
};

/* Value of OPTION ("CONFIG_VSOCKETS") in config TEXT. */
enum probe_kconf probe_config_lookup(const char *text, size_t len, const char *option);
const char *probe_kconf_name(enum probe_kconf k);
/* State of module NAME in /proc/modules TEXT: 0 not listed, 1 Live,
 * 2 listed in another state (Loading, Unloading). '-' and '_' are equal. */
int probe_proc_modules_state(const char *text, size_t len, const char *name);
/* Whether modules.builtin or modules.dep TEXT has a line for module NAME
 * ("kernel/net/vmw_vsock/vsock.ko[.xz]" or "...ko.xz: deps"). */
bool probe_modlist_has(const char *text, size_t len, const char *name);

/* Read PATH whole (through zlib if GZ, which also reads plain files). */
int probe_read_text(const char *path, bool gz, struct probe_text *t);
/* Read ROOT+REL into T (T->err set on failure). */
int probe_load_rel(struct probe_text *t, const char *root, const char *rel, bool gz);
/* Load every file under ROOT for kernel RELEASE (NULL = uname -r). */
void probe_files_load(struct probe_files *f, const char *root, const char *release);
void probe_files_free(struct probe_files *f);
/* ROOT + REL ("/sys/module/vsock") into BUF; -ENAMETOOLONG if it won't fit. */
int probe_path(char *buf, size_t len, const char *root, const char *rel);

/* The kernel option that builds module NAME, or NULL. */
const char *probe_module_kconfig(const char *name);
enum probe_mod probe_module_state(const struct probe_files *f, const char *name);
const char *probe_mod_name(enum probe_mod m);
/* Loaded or built in. */
bool probe_module_present(const struct probe_files *f, const char *name);

/* vsock_find_cid(): may a socket bind CID, given the g2h transport's local
 * CID (VSK_CID_ANY if none), whether an h2g transport and the loopback
 * transport are registered? */
bool probe_rule_bindable(uint32_t g2h_cid, bool h2g, bool loopback, uint32_t cid);

/* Ask the running kernel (socket, ioctl, bind; never connect). */
void probe_live_gather(struct probe_live *l);
/* The bind result for CID in L: 1 bound, 0 EADDRNOTAVAIL, -errno other,
 * -ENOENT if CID was not tried. */
int probe_live_bind(const struct probe_live *l, uint32_t cid);

/* Combine files and live results into *T. */
void probe_transports_eval(const struct probe_files *f, const struct probe_live *l,
			   struct vsk_transports *t);
/* The fix `vsk check` gives for module NAME ("modprobe vsock_loopback",
 * "rebuild the kernel with CONFIG_VSOCKMON=y"), "" if it is loaded or
 * built in.  Every piece of module advice (vsk_explain, vsk dump) comes
 * from here so that none contradicts `vsk check`.  Returns BUF. */
const char *probe_module_fix(const struct probe_files *f, const char *name, char *buf, size_t len);
/* The same for the running kernel (files under "/"); never "" (a loaded
 * module gets "NAME is loaded, yet did not serve: run 'vsk check'"). */
const char *probe_module_fix_here(const char *name, char *buf, size_t len);
/* The whole doctor report from files and live results. */
void probe_check_eval(const struct probe_files *f, const struct probe_live *l,
		      struct vsk_check_report *r);

#endif
