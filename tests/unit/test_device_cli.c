/* vsk device as a user starts it: the command lines of rust-vmm's
 * vhost-device-vsock README (with paths in a temporary directory) start
 * it, every socket appears, SIGTERM ends it with 0 and the sockets go;
 * usage mistakes are one line and a hint, exit 2.  Only the Unix back end and a
 * forward-cid VM without forward-listen (which opens no AF_VSOCK socket
 * until a guest connects) run here; the README's forward-listen lines run
 * in the lab (tests/lab/cases.sh device_dropin_vsock). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "helper_vskbin.h"
#include "helper_tmp.h"

static char vsk[512], dir[64];

static int setup(void **state)
{
	(void)state;
	if (!hv_find_vsk(vsk, sizeof(vsk)))
		return -1;
	snprintf(dir, sizeof(dir), "/tmp/vsk-devcli.XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rm_tree(dir) == 0 ? 0 : -1;
}

/* LINE with "@" replaced by the directory, split at blanks. */
static int split(const char *line, char **argv, int max, char *buf, size_t len)
{
	size_t o = 0;
	int n = 0;
	char *save = NULL;

	for (const char *p = line; *p && o + sizeof(dir) < len; p++) {
		if (*p == '@')
			o += (size_t)snprintf(buf + o, len - o, "%s", dir);
		else
			buf[o++] = *p;
	}
	buf[o] = '\0';
	argv[n++] = vsk;
	argv[n++] = "device";
	for (char *t = strtok_r(buf, " ", &save); t != NULL && n < max - 1; t = strtok_r(NULL, " ", &save))
		argv[n++] = t;
	argv[n] = NULL;
	return n;
}

static pid_t start(const char *line, const char *errfile)
{
	static char buf[2048];
	char *argv[32];
	pid_t pid;

	split(line, argv, 32, buf, sizeof(buf));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 2);
		dup2(fd, 1);
		execv(vsk, argv);
		_exit(127);
	}
	return pid;
}

static bool wait_file(const char *path, int ms)
{
	struct stat st;

	for (int i = 0; i < ms / 10; i++) {
		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			return true;
		usleep(10000);
	}
	return false;
}

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* LINE starts vsk device; every socket of SOCKS ("@/a @/b") appears; it
 * exits 0 on SIGTERM and removes them. */
static void starts(const char *line, const char *socks)
{
	char errf[128], text[4096], sbuf[1024], *sv[16], *save = NULL;
	int n = 0, st;
	pid_t pid;

	snprintf(errf, sizeof(errf), "%s/err.txt", dir);
	pid = start(line, errf);
	{
		static char b[1024];
		size_t o = 0;

		for (const char *p = socks; *p && o + sizeof(dir) < sizeof(b); p++)
			if (*p == '@')
				o += (size_t)snprintf(b + o, sizeof(b) - o, "%s", dir);
			else
				b[o++] = *p;
		b[o] = '\0';
		snprintf(sbuf, sizeof(sbuf), "%s", b);
	}
	for (char *t = strtok_r(sbuf, " ", &save); t != NULL && n < 16; t = strtok_r(NULL, " ", &save))
		sv[n++] = t;
	for (int i = 0; i < n; i++)
		if (!wait_file(sv[i], 3000)) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			slurp(errf, text, sizeof(text));
			fail_msg("vsk device %s: no socket %s; it said: %s", line, sv[i], text);
		}
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	slurp(errf, text, sizeof(text));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("vsk device %s: status 0x%x: %s", line, st, text);
	for (int i = 0; i < n; i++)
		if (access(sv[i], F_OK) == 0)
			fail_msg("vsk device %s left %s behind", line, sv[i]);
}

static void test_readme_lines_start(void **state)
{
	char path[128];
	FILE *f;

	(void)state;
	starts("--vm guest-cid=4,uds-path=@/vm4.vsock,socket=@/vhost4.socket",
	       "@/vhost4.socket @/vm4.vsock @/vm4.vsock_seqpacket");
	starts("--vm guest-cid=4,uds-path=@/vm4.vsock,socket=@/vhost4.socket,tx-buffer-size=65536,queue-size=1024",
	       "@/vhost4.socket @/vm4.vsock");
	starts("--vm guest-cid=3,uds-path=@/vm3.vsock,socket=@/vhost3.socket,groups=group1+group2 "
	       "--vm guest-cid=4,uds-path=@/vm4.vsock,socket=@/vhost4.socket,groups=group1",
	       "@/vhost3.socket @/vm3.vsock @/vhost4.socket @/vm4.vsock");
	/* The usage section's forms. */
	starts("--guest-cid=4 --socket=@/vhost4.socket --uds-path=@/vm4.vsock --tx-buffer-size=65536 "
	       "--queue-size=1024 --groups=group1+group2", "@/vhost4.socket @/vm4.vsock");
	starts("--vm guest_cid=4,socket=@/vhost4.socket,uds-path=@/vm4.vsock,tx-buffer-size=65536,queue-size=512,"
	       "groups=a+b", "@/vhost4.socket @/vm4.vsock");
	/* Guest CID omitted: 3. */
	starts("--socket @/vhost3.socket --uds-path @/vm3.vsock", "@/vhost3.socket @/vm3.vsock");
	/* The vsock back end without forward-listen opens no vsock socket
	 * until a guest connects. */
	starts("--vm guest-cid=5,socket=@/vhost5.socket,forward-cid=1,tx-buffer-size=32768,queue-size=1024",
	       "@/vhost5.socket");
	/* The README's YAML, its Unix VMs (the third listens on vsock ports:
	 * in the lab). */
	snprintf(path, sizeof(path), "%s/vms.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "vms:\n"
		   "    - guest_cid: 3\n      socket: %s/vhost3.socket\n      uds_path: %s/vm3.vsock\n"
		   "      tx_buffer_size: 65536\n      queue_size: 1024\n      groups: group1+groupA\n"
		   "    - guest_cid: 4\n      socket: %s/vhost4.socket\n      uds_path: %s/vm4.vsock\n"
		   "      tx_buffer_size: 32768\n      queue_size: 256\n      groups: group2+groupB\n",
		dir, dir, dir, dir);
	fclose(f);
	starts("--config=@/vms.yaml", "@/vhost3.socket @/vm3.vsock @/vhost4.socket @/vm4.vsock");
}

/* LINE is refused: exit 2, one line containing every WORDS item, the hint. */
static void refused(const char *line, const char *words)
{
	char errf[128], text[4096], w[512], *save = NULL;
	int st;
	pid_t pid;

	snprintf(errf, sizeof(errf), "%s/err.txt", dir);
	pid = start(line, errf);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	slurp(errf, text, sizeof(text));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 2)
		fail_msg("vsk device %s: status 0x%x, want exit 2: %s", line, st, text);
	/* What is wrong on one line, then the hint, as every command. */
	if (strncmp(text, "vsk device: ", 12) != 0 || strstr(text, "\nsee 'vsk device --help'\n") == NULL ||
	    strchr(text, '\n') + 1 != strstr(text, "see 'vsk device --help'"))
		fail_msg("vsk device %s: want 'vsk device: ...' and the hint: %s", line, text);
	snprintf(w, sizeof(w), "%s", words);
	for (char *p = strtok_r(w, "|", &save); p != NULL; p = strtok_r(NULL, "|", &save))
		if (strstr(text, p) == NULL)
			fail_msg("vsk device %s: '%s' does not name '%s'", line, text, p);
}

static void test_usage_errors(void **state)
{
	(void)state;
	refused("--socket @/v.sock --uds-path @/u --colour red", "unknown option '--colour'|--forward-listen|--map-only");
	refused("--vm socket=@/v.sock,uds-path=@/u,colour=red", "unknown key 'colour'|accepted: guest-cid");
	refused("--vm guest-cid=4,socket=@/v.sock,uds-path=@/u,forward-cid=1", "VM 4|uds-path and forward-cid");
	refused("--socket @/v.sock --uds-path @/u --forward-cid 1", "VM 3|uds-path and forward-cid");
	refused("--guest-cid 4 --socket @/v.sock", "VM 4|uds-path=PATH or forward-cid=CID");
	refused("--socket @/v.sock --uds-path @/u --queue-size 100", "VM 3|queue-size 100|power of two");
	refused("--socket @/v.sock --forward-cid 1 --forward-listen 9001+x", "forward-listen|'x' is not a port");
	refused("--socket @/v.sock --uds-path @/u --map 80", "--map|PORT=ADDR");
	refused("--socket @/v.sock --uds-path @/u --vm socket=@/w.sock,uds-path=@/x", "use one of");
	refused("--socket", "option '--socket' needs a value");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readme_lines_start),
		cmocka_unit_test(test_usage_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
