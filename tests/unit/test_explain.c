/* explain: each errno the issue lists gets the kernel rule, from given
 * facts; listener errors from real binds on paths in a temp dir; module
 * fixes the same as `vsk check` gives, on fake roots and on this machine. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "explain.h"
#include "probe.h"
#include "vsk.h"

#define REL "6.1.0-test"

/* A guest with CID 3 and no loopback, like this development machine. */
static struct vsk_transports guest(void)
{
	struct vsk_transports t;

	memset(&t, 0, sizeof(t));
	t.dev_vsock = t.af_vsock = t.g2h = true;
	t.local_cid = 3;
	t.bindable[0] = 3;
	t.bindable[1] = VSK_CID_ANY;
	t.nbindable = 2;
	return t;
}

/* The probe's files for the module fixes (NULL: none known). */
static const struct probe_files *files;

static const char *say(int err, const char *op, const char *addr, const struct vsk_transports *t)
{
	static char buf[512];
	struct vsk_addr a;

	assert_int_equal(vsk_addr_parse(addr, &a, NULL, 0), 0);
	return explain_with(err, op, &a, t, files, buf, sizeof(buf));
}

static void expect(const char *msg, const char *needle)
{
	if (strstr(msg, needle) == NULL)
		fail_msg("expected '%s' in: %s", needle, msg);
}

static void refuse(const char *msg, const char *needle)
{
	if (strstr(msg, needle) != NULL)
		fail_msg("did not expect '%s' in: %s", needle, msg);
}

/* ------------------------------------------------------ fake roots */

static char root[64];

static void put_file(const char *rel, const char *text)
{
	char path[256], dir[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0755);
			*p = '/';
		}
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int root_setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/vsk-explain-XXXXXX");
	assert_non_null(mkdtemp(root));
	return 0;
}

static int root_teardown(void **state)
{
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	files = NULL;
	return 0;
}

/* A kernel with modules: /proc/modules and the config (zlib reads plain
 * text too, so config.gz may be uncompressed). */
static void fake_kernel(struct probe_files *f, const char *config)
{
	put_file("/proc/modules", "vsock 45056 0 - Live 0xffffffffc0a00000\n");
	put_file("/proc/config.gz", config);
	probe_files_load(f, root, REL);
	files = f;
}

static void test_addrnotavail(void **state)
{
	struct vsk_transports t = guest();
	struct probe_files f;
	const char *m = say(EADDRNOTAVAIL, "bind", "vsock:4:4050", &t);

	expect(m, "bind vsock:4:4050: CID 4 is not local (local CIDs: 3, any)");
	expect(m, "(EADDRNOTAVAIL)");
	/* Without the probe's files: no guess, point to vsk check. */
	m = say(EADDRNOTAVAIL, "bind", "vsock:2:4050", &t);
	expect(m, "host->guest transport (vhost_vsock: see 'vsk check')");
	refuse(m, "modprobe");
	/* A kernel that has them as modules: the fix is named. */
	fake_kernel(&f, "CONFIG_MODULES=y\nCONFIG_VHOST_VSOCK=m\nCONFIG_VSOCKETS_LOOPBACK=m\n");
	m = say(EADDRNOTAVAIL, "bind", "vsock:2:4050", &t);
	expect(m, "(vhost_vsock: modprobe vhost_vsock), or use vsock:any:4050");
	expect(m, "guest's own CID is 3");
	/* CID 1 without loopback. */
	m = say(EADDRNOTAVAIL, "bind", "vsock:1:4050", &t);
	expect(m, "CID 1 needs the loopback transport (vsock_loopback: modprobe vsock_loopback)");
	probe_files_free(&f);
	/* A kernel built without them: rebuild, never modprobe. */
	fake_kernel(&f, "CONFIG_MODULES=y\n# CONFIG_VHOST_VSOCK is not set\n# CONFIG_VSOCKETS_LOOPBACK is not set\n");
	m = say(EADDRNOTAVAIL, "listen", "vsock:2:4050", &t);
	expect(m, "(vhost_vsock: rebuild the kernel with CONFIG_VHOST_VSOCK=m)");
	refuse(m, "modprobe");
	m = say(EADDRNOTAVAIL, "listen", "vsock:1:4050", &t);
	expect(m, "(vsock_loopback: rebuild the kernel with CONFIG_VSOCKETS_LOOPBACK=m)");
	refuse(m, "modprobe");
	m = say(ENODEV, "connect", "vsock:1:1", &t);
	expect(m, "CID 1 needs vsock_loopback (rebuild the kernel with CONFIG_VSOCKETS_LOOPBACK=m)");
	m = say(ENODEV, "connect", "vsock:9:1", &t);
	expect(m, "(vhost_vsock: rebuild the kernel with CONFIG_VHOST_VSOCK=m;");
	refuse(m, "modprobe");
	probe_files_free(&f);
	files = NULL;
	/* On a host the list shows 2. */
	t.h2g = true;
	t.bindable[0] = 2;
	m = say(EADDRNOTAVAIL, "bind", "vsock:7:1", &t);
	expect(m, "local CIDs: 2, any");
	expect(m, "the host may bind only 2 or any");
}

static void test_bind_rules(void **state)
{
	struct vsk_transports t = guest();
	const char *m;

	m = say(EACCES, "bind", "vsock:any:80", &t);
	expect(m, "port 80 is reserved");
	expect(m, "CAP_NET_BIND_SERVICE");
	m = say(EADDRINUSE, "bind", "vsock:1:6001", &t);
	expect(m, "port 6001 is already bound");
	expect(m, "CID any takes that port for every CID");
	m = say(EADDRINUSE, "bind", "vsock:any:6001", &t);
	expect(m, "(on some CID)");
}

static void test_connect_rules(void **state)
{
	struct vsk_transports t = guest();
	const char *m;

	m = say(ECONNRESET, "connect", "vsock:1:6999", &t);
	expect(m, "connect vsock:1:6999: nobody listens at CID 1 port 6999");
	expect(m, "(ECONNRESET)");
	m = say(ECONNREFUSED, "connect", "vsock:2:1", &t);
	expect(m, "nobody listens at CID 2 port 1");
	m = say(ETIMEDOUT, "connect", "vsock:5:1", &t);
	expect(m, "no answer from CID 5");
	m = say(ENODEV, "connect", "vsock:9:1", &t);
	expect(m, "no transport serves CID 9");
	expect(m, "vsk check");
	m = say(ENODEV, "connect", "vsock:1:1", &t);
	expect(m, "vsock_loopback");
	/* Peers that do not answer are a client's matter, never a listener's. */
	m = say(ECONNRESET, "listen", "vsock:1:6999", &t);
	refuse(m, "nobody listens");
	m = say(ESOCKTNOSUPPORT, "socket", "vsock-seq:2:1", &t);
	expect(m, "SOCK_SEQPACKET");
	t.dev_vsock = t.af_vsock = false;
	m = say(EAFNOSUPPORT, "socket", "vsock:2:1", &t);
	expect(m, "no AF_VSOCK");
	expect(m, "vsk check");
	m = say(ENODEV, "connect", "vsock:2:1", &t);
	expect(m, "no /dev/vsock");
}

static void test_paths_and_tcp(void **state)
{
	struct vsk_transports t = guest();
	const char *m;

	m = say(ENOENT, "connect", "unix:/tmp/nothing", &t);
	expect(m, "no socket at /tmp/nothing");
	m = say(ENOENT, "connect", "hybrid:/tmp/vm4.vsock:52", &t);
	expect(m, "vsk device");
	m = say(ECONNRESET, "handshake", "hybrid:/tmp/vm4.vsock:52", &t);
	expect(m, "nobody listens on guest port 52");
	m = say(EPROTO, "handshake", "hybrid:/tmp/vm4.vsock:52", &t);
	expect(m, "expected 'OK <port>'");
	m = say(ECONNREFUSED, "connect", "tcp:127.0.0.1:9", &t);
	expect(m, "nobody listens at 127.0.0.1 port 9");
	/* Timeouts: a listener that takes nothing, a handshake unanswered. */
	m = say(ETIMEDOUT, "connect", "tcp:127.0.0.1:9", &t);
	expect(m, "no answer from 127.0.0.1 port 9 within the connect timeout");
	expect(m, "listen queue is full");
	m = say(ETIMEDOUT, "connect", "unix:/tmp/busy", &t);
	expect(m, "/tmp/busy took no connection within the timeout");
	m = say(ETIMEDOUT, "handshake", "hybrid:/tmp/vm4.vsock:52", &t);
	expect(m, "no reply to 'CONNECT 52'");
	/* Unlisted errors fall back to strerror, still naming op and address. */
	m = say(EMFILE, "socket", "tcp:127.0.0.1:9", &t);
	expect(m, "socket tcp:127.0.0.1:9: Too many open files");
}

static void test_small_buffer(void **state)
{
	struct vsk_transports t = guest();
	struct vsk_addr a;
	char buf[16];

	assert_int_equal(vsk_addr_parse("vsock:4:4050", &a, NULL, 0), 0);
	explain_with(EADDRNOTAVAIL, "bind", &a, &t, NULL, buf, sizeof(buf));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	/* No address: still a sentence. */
	vsk_explain(EAFNOSUPPORT, "socket", NULL, buf, sizeof(buf));
	assert_true(strlen(buf) > 0);
}

/* ------------------------------------------- listeners on real paths */

/* vsk_listen ADDR (which must fail) and explain it as vsk listen does. */
static const char *listen_fails(const char *fmt, const char *arg, int want)
{
	static char buf[512];
	char text[300];
	struct vsk_addr a;
	int fd;

	snprintf(text, sizeof(text), fmt, arg);
	assert_int_equal(vsk_addr_parse(text, &a, NULL, 0), 0);
	fd = vsk_listen(&a, NULL);
	if (fd >= 0)
		close(fd);
	assert_int_equal(fd, -want);
	vsk_explain(-fd, "listen", &a, buf, sizeof(buf));
	/* Whole: the errno's name ends it. */
	assert_non_null(strstr(buf, ")"));
	return buf;
}

/* Server advice only: nothing a client would be told. */
static void no_client_advice(const char *m)
{
	refuse(m, "nobody listens");
	refuse(m, "vsk device");
	refuse(m, "no socket at");
}

static void test_listen_paths(void **state)
{
	char path[200], want[300];
	const char *m;
	struct stat st;
	int fd, lfd;
	struct vsk_addr a;

	/* The directory is missing: say so, name it. */
	m = listen_fails("unix:%s/nodir/x.sock", root, ENOENT);
	snprintf(want, sizeof(want), "directory %s/nodir does not exist", root);
	expect(m, want);
	expect(m, "(ENOENT)");
	no_client_advice(m);
	/* hybrid:PATH:PORT binds PATH_PORT: that file, that directory. */
	m = listen_fails("hybrid:%s/nodir/h:5000", root, ENOENT);
	snprintf(want, sizeof(want), "the socket file is %s/nodir/h_5000 (PATH_PORT)", root);
	expect(m, want);
	snprintf(want, sizeof(want), "directory %s/nodir does not exist", root);
	expect(m, want);
	no_client_advice(m);
	m = listen_fails("hybrid-seq:%s/nodir/h:7", root, ENOENT);
	snprintf(want, sizeof(want), "%s/nodir/h_7", root);
	expect(m, want);
	no_client_advice(m);

	/* A regular file is no listener, and vsk leaves it alone. */
	snprintf(path, sizeof(path), "%s/reg", root);
	put_file("/reg", "data\n");
	m = listen_fails("unix:%s/reg", root, EADDRINUSE);
	snprintf(want, sizeof(want), "%s is a regular file, not a socket", path);
	expect(m, want);
	expect(m, "never another file");
	refuse(m, "live listener");
	no_client_advice(m);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* A file under it: its "directory" is that file. */
	m = listen_fails("unix:%s/reg/x.sock", root, ENOTDIR);
	snprintf(want, sizeof(want), "%s is not a directory", path);
	expect(m, want);
	/* A directory, and a regular file where hybrid's PATH_PORT goes. */
	m = listen_fails("unix:%s", root, EADDRINUSE);
	expect(m, "is a directory, not a socket");
	put_file("/h_5001", "");
	m = listen_fails("hybrid:%s/h:5001", root, EADDRINUSE);
	snprintf(want, sizeof(want), "%s/h_5001 is a regular file, not a socket", root);
	expect(m, want);

	/* A live listener stays one. */
	snprintf(want, sizeof(want), "unix:%s/live.sock", root);
	assert_int_equal(vsk_addr_parse(want, &a, NULL, 0), 0);
	lfd = vsk_listen(&a, NULL);
	assert_true(lfd >= 0);
	m = listen_fails("unix:%s/live.sock", root, EADDRINUSE);
	snprintf(want, sizeof(want), "%s/live.sock is in use by a live listener", root);
	expect(m, want);
	no_client_advice(m);
	close(lfd);
	/* Its socket, now stale, is replaced by the next listener... */
	lfd = vsk_listen(&a, NULL);
	assert_true(lfd >= 0);
	close(lfd);
	/* ...and one that could not be removed is called stale, not live. */
	{
		char buf[512];

		explain_with(EADDRINUSE, "listen", &a, NULL, NULL, buf, sizeof(buf));
		expect(buf, "is a stale socket file (nobody accepts on it) that could not be removed");
		refuse(buf, "live listener");
	}
	/* An abstract name has no file: in use means a live listener. */
	snprintf(want, sizeof(want), "unix:@vsk-explain-%d", (int)getpid());
	assert_int_equal(vsk_addr_parse(want, &a, NULL, 0), 0);
	lfd = vsk_listen(&a, NULL);
	assert_true(lfd >= 0);
	snprintf(path, sizeof(path), "%d", (int)getpid());
	m = listen_fails("unix:@vsk-explain-%s", path, EADDRINUSE);
	expect(m, "the abstract name @vsk-explain-");
	expect(m, "is in use by a live listener");
	close(lfd);
	/* The client side keeps the client's words. */
	{
		char buf[512];

		snprintf(want, sizeof(want), "unix:%s/nothing.sock", root);
		assert_int_equal(vsk_addr_parse(want, &a, NULL, 0), 0);
		fd = vsk_connect(&a, NULL, NULL);
		assert_int_equal(fd, -ENOENT);
		vsk_explain(-fd, "connect", &a, buf, sizeof(buf));
		expect(buf, "no socket at");
		expect(buf, "nobody listens there");
		refuse(buf, "does not exist (bind");
		snprintf(want, sizeof(want), "unix:%s/reg", root);
		assert_int_equal(vsk_addr_parse(want, &a, NULL, 0), 0);
		fd = vsk_connect(&a, NULL, NULL);
		assert_int_equal(fd, -ECONNREFUSED);
		vsk_explain(-fd, "connect", &a, buf, sizeof(buf));
		expect(buf, "is a regular file, not a socket");
		refuse(buf, "stale");
	}
}

/* Long paths and hosts: elided in the middle, never cut off. */
static void test_long_echo(void **state)
{
	struct vsk_transports t = guest();
	char text[400], buf[512];
	struct vsk_addr a;
	size_t n;

	/* The longest path a listener takes, twice in the sentence. */
	memset(&a, 0, sizeof(a));
	a.kind = VSK_ADDR_HYBRID;
	a.port = 4294967295u;
	memset(a.path, 'p', 96);
	a.path[0] = '/';
	explain_with(ENOENT, "listen", &a, &t, NULL, buf, sizeof(buf));
	n = strlen(buf);
	assert_true(n < sizeof(buf) - 1);
	assert_string_equal(buf + n - strlen("(ENOENT)"), "(ENOENT)");
	/* The longest host, in the prefix and the text. */
	snprintf(text, sizeof(text), "tcp:%0255d:65535", 0);
	memset(text + 4, 'h', 255);
	assert_int_equal(vsk_addr_parse(text, &a, NULL, 0), 0);
	explain_with(ETIMEDOUT, "connect", &a, &t, NULL, buf, sizeof(buf));
	n = strlen(buf);
	assert_true(n < sizeof(buf) - 1);
	assert_string_equal(buf + n - strlen("(ETIMEDOUT)"), "(ETIMEDOUT)");
	expect(buf, "...");
	expect(buf, "port 65535 within the connect timeout");
}

/* ------------------------------------------- this machine's kernel */

static const struct vsk_check_item *check_item(const struct vsk_check_report *r, const char *group,
					       const char *name)
{
	for (int i = 0; i < r->nitem; i++)
		if (!strcmp(r->item[i].group, group) && !strcmp(r->item[i].name, name))
			return &r->item[i];
	return NULL;
}

/* explain's advice for loopback, vhost and vsockmon is vsk check's, word
 * for word, on the kernel this runs on. */
static void test_fix_agrees_live(void **state)
{
	struct vsk_check_report *r = malloc(sizeof(*r));
	const struct vsk_check_item *it;
	struct vsk_addr a;
	char buf[512], fix[224];
	int fd, checked = 0;

	assert_non_null(r);
	assert_int_equal(vsk_check(r), 0);
	if (!r->t.af_vsock) {
		print_message("skipped: socket(AF_VSOCK) fails here, no bind to explain\n");
		free(r);
		skip();
	}
	/* CID 1: a real bind (never connect) and the check's CID 1 fix. */
	it = check_item(r, "bind", "CID 1");
	assert_int_equal(vsk_addr_parse("vsock:1:5999", &a, NULL, 0), 0);
	fd = vsk_listen(&a, NULL);
	if (fd >= 0) {
		close(fd);
		print_message("note: CID 1 is bindable here (vsock_loopback loaded): its fix not compared\n");
	} else {
		assert_int_equal(fd, -EADDRNOTAVAIL);
		assert_non_null(it);
		assert_true(it->nfix >= 1);
		vsk_explain(-fd, "listen", &a, buf, sizeof(buf));
		expect(buf, it->fix[0]);
		if (strstr(it->fix[0], "modprobe") == NULL)
			refuse(buf, "modprobe");
		checked++;
	}
	/* CID 2: the host-modules vhost_vsock fix. */
	it = check_item(r, "host-modules", "vhost_vsock");
	assert_non_null(it);
	assert_int_equal(vsk_addr_parse("vsock:2:5999", &a, NULL, 0), 0);
	fd = vsk_listen(&a, NULL);
	if (fd >= 0) {
		close(fd);
		print_message("note: CID 2 is bindable here (a host): vhost_vsock's fix not compared\n");
	} else if (it->nfix == 0) {
		print_message("note: vhost_vsock is %s, yet CID 2 is not bindable: fix not compared\n", it->detail);
	} else {
		assert_int_equal(fd, -EADDRNOTAVAIL);
		vsk_explain(-fd, "listen", &a, buf, sizeof(buf));
		expect(buf, it->fix[0]);
		if (strstr(it->fix[0], "modprobe") == NULL)
			refuse(buf, "modprobe");
		checked++;
	}
	/* vsockmon: the text vsk dump prints. */
	it = check_item(r, "host-modules", "vsockmon");
	assert_non_null(it);
	probe_module_fix_here("vsockmon", fix, sizeof(fix));
	if (it->nfix == 0) {
		expect(fix, "vsockmon is loaded");
		print_message("note: vsockmon is %s here\n", it->detail);
	} else {
		assert_string_equal(fix, it->fix[0]);
		checked++;
	}
	print_message("note: %d of 3 fixes compared with vsk check's\n", checked);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_addrnotavail, root_setup, root_teardown),
		cmocka_unit_test_setup_teardown(test_listen_paths, root_setup, root_teardown),
		cmocka_unit_test(test_long_echo),
		cmocka_unit_test(test_fix_agrees_live),
		cmocka_unit_test(test_bind_rules),
		cmocka_unit_test(test_connect_rules),
		cmocka_unit_test(test_paths_and_tcp),
		cmocka_unit_test(test_small_buffer),
	};
	return cmocka_run_group_tests_name("explain", tests, NULL, NULL);
}
