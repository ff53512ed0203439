/* device configuration: vhost-device-vsock's options and keys as its
 * README writes them (every command line and the YAML of
 * rust-vmm/vhost-device's vhost-device-vsock/README.md), upstream's
 * defaults, both key spellings, vsk's own keys (connect-timeout, map,
 * map-only) and the one-line refusals.  Parsing only: nothing listens. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "device/device.h"
#include "vsk.h"

static struct dev_vm_cfg cfgs[8];

static void vm_ok(const char *spec, struct dev_vm_cfg *c)
{
	char err[512] = "";
	int rc = dev_cfg_parse_vm(spec, c, err, sizeof(err));

	if (rc != 0)
		fail_msg("--vm %s: %d %s", spec, rc, err);
}

/* SPEC is refused with a line containing every WORDS ('|'-separated). */
static void vm_bad(const char *spec, const char *words)
{
	struct dev_vm_cfg c;
	char err[512] = "", w[256], *save = NULL;

	assert_int_not_equal(dev_cfg_parse_vm(spec, &c, err, sizeof(err)), 0);
	assert_null(strchr(err, '\n'));
	snprintf(w, sizeof(w), "%s", words);
	for (char *p = strtok_r(w, "|", &save); p != NULL; p = strtok_r(NULL, "|", &save))
		if (strstr(err, p) == NULL)
			fail_msg("--vm %s: error '%s' does not name '%s'", spec, err, p);
}

static int yaml(const char *text, struct dev_vm_cfg *c, int *n, char *err, size_t errlen)
{
	char path[] = "/tmp/vsk-devcfg.XXXXXX";
	struct dev_cfgs cs = { NULL, 0, 0 };
	int fd = mkstemp(path), rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	rc = dev_cfg_parse_file(path, &cs, err, errlen);
	*n = cs.n;
	assert_true(cs.n <= 8);
	for (int i = 0; i < cs.n; i++)
		c[i] = cs.v[i];
	dev_cfgs_free(&cs);
	unlink(path);
	return rc;
}

/* The README's --vm lines, as written there. */
static void test_readme_vm_lines(void **state)
{
	struct dev_vm_cfg *c = cfgs;

	(void)state;
	vm_ok("guest-cid=4,uds-path=/tmp/vm4.vsock,socket=/tmp/vhost4.socket", &c[0]);
	assert_int_equal(c[0].cid, 4);
	assert_string_equal(c[0].uds, "/tmp/vm4.vsock");
	assert_string_equal(c[0].socket, "/tmp/vhost4.socket");
	assert_false(c[0].forward);
	assert_int_equal(c[0].queue_size, 1024);

	vm_ok("guest-cid=4,forward-cid=1,forward-listen=9001+9002,socket=/tmp/vhost4.socket", &c[0]);
	assert_true(c[0].forward);
	assert_int_equal(c[0].forward_cid, 1);
	assert_int_equal(c[0].nforward_listen, 2);
	assert_int_equal(c[0].forward_listen[0], 9001);
	assert_int_equal(c[0].forward_listen[1], 9002);
	assert_string_equal(c[0].uds, "");

	/* The three --vm of one process. */
	vm_ok("guest-cid=3,socket=/tmp/vhost3.socket,uds-path=/tmp/vm3.vsock,groups=group1+groupA", &c[0]);
	vm_ok("guest-cid=4,socket=/tmp/vhost4.socket,uds-path=/tmp/vm4.vsock,tx-buffer-size=32768,queue-size=256",
	      &c[1]);
	vm_ok("guest-cid=5,socket=/tmp/vhost5.socket,forward-cid=1,forward-listen=9001+9002,tx-buffer-size=32768,"
	      "queue-size=1024", &c[2]);
	assert_string_equal(c[0].groups, "group1+groupA");
	assert_int_equal(c[1].tx_buf, 32768);
	assert_int_equal(c[1].queue_size, 256);
	assert_int_equal(c[2].forward_cid, 1);
	assert_int_equal(c[2].queue_size, 1024);
	assert_int_equal(dev_cfg_check(c, 3, (char[256]){ 0 }, 256), 0);

	vm_ok("guest-cid=4,uds-path=/tmp/vm4.vsock,socket=/tmp/vhost4.socket,tx-buffer-size=65536,queue-size=1024",
	      &c[0]);
	assert_int_equal(c[0].tx_buf, 65536);
	/* Siblings. */
	vm_ok("guest-cid=3,uds-path=/tmp/vm3.vsock,socket=/tmp/vhost3.socket,groups=group1+group2", &c[0]);
	vm_ok("guest-cid=4,uds-path=/tmp/vm4.vsock,socket=/tmp/vhost4.socket,groups=group1", &c[1]);
	assert_int_equal(dev_cfg_check(c, 2, (char[256]){ 0 }, 256), 0);
	/* The usage section's spelling: guest_cid= with uds-path=. */
	vm_ok("guest_cid=7,socket=/tmp/v7.socket,uds-path=/tmp/vm7.vsock,tx-buffer-size=65536,queue-size=512,"
	      "groups=a+b", &c[0]);
	assert_int_equal(c[0].cid, 7);
	assert_int_equal(c[0].queue_size, 512);
	vm_ok("guest_cid=7,socket=/tmp/v7.socket,forward-cid=1,forward-listen=9001,tx-buffer-size=65536,"
	      "queue-size=1024,groups=a", &c[0]);
	assert_int_equal(c[0].nforward_listen, 1);
}

/* The README's YAML, as written there: 4-space indents, mixed spellings
 * (forward-cid beside tx_buffer_size). */
static void test_readme_yaml(void **state)
{
	static const char text[] =
		"vms:\n"
		"    - guest_cid: 3\n"
		"      socket: /tmp/vhost3.socket\n"
		"      uds_path: /tmp/vm3.vsock\n"
		"      tx_buffer_size: 65536\n"
		"      queue_size: 1024\n"
		"      groups: group1+groupA\n"
		"    - guest_cid: 4\n"
		"      socket: /tmp/vhost4.socket\n"
		"      uds_path: /tmp/vm4.vsock\n"
		"      tx_buffer_size: 32768\n"
		"      queue_size: 256\n"
		"      groups: group2+groupB\n"
		"    - guest_cid: 5\n"
		"      socket: /tmp/vhost5.socket\n"
		"      forward-cid: 1\n"
		"      forward-listen: 9001+9002\n"
		"      tx_buffer_size: 32768\n"
		"      queue_size: 1024\n";
	char err[512] = "";
	int n;

	(void)state;
	if (yaml(text, cfgs, &n, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(n, 3);
	assert_int_equal(cfgs[0].cid, 3);
	assert_string_equal(cfgs[0].groups, "group1+groupA");
	assert_int_equal(cfgs[1].queue_size, 256);
	assert_string_equal(cfgs[1].uds, "/tmp/vm4.vsock");
	assert_true(cfgs[2].forward);
	assert_int_equal(cfgs[2].forward_cid, 1);
	assert_int_equal(cfgs[2].nforward_listen, 2);
	assert_int_equal(cfgs[2].tx_buf, 32768);
	assert_int_equal(dev_cfg_check(cfgs, n, err, sizeof(err)), 0);
}

/* Upstream's defaults: CID 3 (in --vm and YAML too), queue 1024, group
 * "default" (an empty groups field). */
static void test_defaults(void **state)
{
	struct dev_vm_cfg c;
	char err[512];
	int n;

	(void)state;
	vm_ok("socket=/tmp/v.socket,uds-path=/tmp/vm.vsock", &c);
	assert_int_equal(c.cid, 3);
	assert_int_equal(c.queue_size, 1024);
	assert_string_equal(c.groups, "");
	assert_int_equal(c.tx_buf, 0);
	assert_int_equal(c.connect_timeout_ms, 0);
	assert_false(c.map_only);
	assert_int_equal(yaml("vms:\n  - socket: /tmp/v.socket\n    uds_path: /tmp/vm.vsock\n", cfgs, &n, err,
			      sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(cfgs[0].cid, 3);
	assert_int_equal(cfgs[0].queue_size, 1024);
	dev_cfg_init(&c);
	assert_int_equal(c.cid, DEV_GUEST_CID_DEFAULT);
}

/* Every key in both spellings, in --vm and YAML. */
static void test_both_spellings(void **state)
{
	static const char *const keys[][2] = {
		{ "guest-cid", "guest_cid" }, { "uds-path", "uds_path" }, { "tx-buffer-size", "tx_buffer_size" },
		{ "queue-size", "queue_size" }, { "forward-cid", "forward_cid" },
		{ "forward-listen", "forward_listen" }, { "connect-timeout", "connect_timeout" },
		{ "map-only", "map_only" },
	};
	static const char *const vals[] = { "9", "/tmp/x.vsock", "8192", "64", "1", "7+8", "250", "true" };
	struct dev_vm_cfg c[2];
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		for (int s = 0; s < 2; s++) {
			dev_cfg_init(&c[s]);
			if (dev_cfg_set(&c[s], keys[i][s], vals[i], err, sizeof(err)) != 0)
				fail_msg("%s=%s: %s", keys[i][s], vals[i], err);
		}
		assert_memory_equal(&c[0], &c[1], sizeof(c[0]));
	}
}

/* Unknown keys and options: one line naming it and the accepted ones. */
static void test_unknown_keys(void **state)
{
	char err[512];
	int n;

	(void)state;
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,color=red", "'color'|accepted: guest-cid|queue-size|map-only");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,group=a", "'group'|groups");
	vm_bad("guest-cid=4,socket=/a,uds-path", "'uds-path' is not key=value");
	assert_int_equal(yaml("vms:\n  - guest_cid: 4\n    sockett: /x\n", cfgs, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":3: unknown key 'sockett' (accepted: "));
}

/* Conflicting and out-of-range values: one line naming the VM and the rule. */
static void test_conflicts(void **state)
{
	(void)state;
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,forward-cid=1", "VM 4|uds-path and forward-cid|one");
	vm_bad("guest-cid=4,socket=/a", "VM 4|uds-path=PATH or forward-cid=CID");
	vm_bad("guest-cid=4,uds-path=/b", "VM 4|socket is required");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,forward-listen=9001", "VM 4|forward-listen needs forward-cid");
	vm_bad("guest-cid=4,socket=/a,forward-cid=1,forward-listen=9001+9001", "9001 given twice");
	vm_bad("guest-cid=4,socket=/a,forward-cid=1,forward-listen=9001++9002", "forward-listen");
	vm_bad("guest-cid=4,socket=/a,forward-cid=1,forward-listen=x", "'x' is not a port");
	vm_bad("guest-cid=4,socket=/a,forward-cid=4294967295", "VM 4|forward-cid 4294967295");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,queue-size=1000", "VM 4|queue-size 1000|power of two");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,queue-size=65536", "VM 4|queue-size 65536");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,queue-size=0x10", "invalid value for queue-size");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,connect-timeout=3600001", "VM 4|connect-timeout");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,tx-buffer-size=10", "VM 4|tx-buffer-size 10");
	vm_bad("guest-cid=2,socket=/a,uds-path=/b", "guest CID 2 is reserved");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,map-only", "VM 4|map-only without a map");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,map-only=maybe", "map-only");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,map=5000=tcp:127.0.0.1:80,map=5000=unix:/x", "map 5000|twice");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,map=5000", "PORT=ADDR");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,map=x=unix:/x", "'x' is not a port");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,map=5000=ftp:x", "map 5000|invalid address 'ftp:x'");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,map=5000=-", "map 5000|cannot be connected to");
	vm_bad("guest-cid=4,socket=/a,uds-path=/b,map=5000=vsock:any:5", "map 5000|cannot be connected to");
}

/* PORT=ADDR: the first '=' ends the port; ADDR keeps ':' and '='. */
static void test_map_syntax(void **state)
{
	struct dev_vm_cfg c;
	const struct dev_map *m;

	(void)state;
	vm_ok("guest-cid=4,socket=/a,uds-path=/b,map=5000=tcp:127.0.0.1:80,map=5001=tcp:[::1]:8080,"
	      "map=5002=unix:/run/a=b:c.sock,map=5003=vsock:1:7000,map=5004=hybrid:/tmp/other.vsock:9000",
	      &c);
	assert_int_equal(c.nmap, 5);
	m = dev_cfg_map(&c, 5000);
	assert_non_null(m);
	assert_int_equal(m->to.kind, VSK_ADDR_TCP);
	assert_string_equal(m->to.host, "127.0.0.1");
	assert_int_equal(m->to.port, 80);
	assert_string_equal(dev_cfg_map(&c, 5001)->to.host, "::1");
	assert_string_equal(dev_cfg_map(&c, 5002)->to.path, "/run/a=b:c.sock");
	assert_int_equal(dev_cfg_map(&c, 5003)->to.cid, 1);
	assert_int_equal(dev_cfg_map(&c, 5004)->to.port, 9000);
	assert_string_equal(dev_cfg_map(&c, 5004)->to.path, "/tmp/other.vsock");
	assert_null(dev_cfg_map(&c, 5005));
	/* A gateway VM: a map and nothing else. */
	vm_ok("guest-cid=4,socket=/a,map=80=tcp:127.0.0.1:8080,map-only", &c);
	assert_true(c.map_only);
	assert_string_equal(c.uds, "");
	assert_false(c.forward);
}

static void test_yaml_map_forms(void **state)
{
	static const char text[] =
		"vms:\n"
		"  - guest_cid: 4\n"
		"    socket: /tmp/v4.socket\n"
		"    uds_path: /tmp/vm4.vsock\n"
		"    map:\n"
		"      - 5000=tcp:127.0.0.1:80      # block list\n"
		"      - \"5001=unix:/run/db.sock\"\n"
		"    map_only: yes\n"
		"    connect_timeout: 2000\n"
		"  - guest_cid: 5\n"
		"    socket: /tmp/v5.socket\n"
		"    forward_cid: 1\n"
		"    map:\n"
		"    - 6000=vsock:1:6001\n"
		"  - guest_cid: 6\n"
		"    socket: /tmp/v6.socket\n"
		"    uds_path: /tmp/vm6.vsock\n"
		"    map: [7000=tcp:127.0.0.1:7, '7001=hybrid:/tmp/x.vsock:7']\n"
		"    forward_listen: 1\n";
	char err[512] = "";
	int n;

	(void)state;
	/* (VM 6 names forward_listen without forward_cid: the check says so.) */
	assert_int_equal(yaml(text, cfgs, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "VM 3: VM 6: forward-listen needs forward-cid"));
	assert_int_equal(n, 3);
	assert_int_equal(cfgs[0].nmap, 2);
	assert_true(cfgs[0].map_only);
	assert_int_equal(cfgs[0].connect_timeout_ms, 2000);
	assert_string_equal(dev_cfg_map(&cfgs[0], 5001)->to.path, "/run/db.sock");
	assert_int_equal(cfgs[1].nmap, 1);
	assert_int_equal(dev_cfg_map(&cfgs[1], 6000)->to.port, 6001);
	assert_int_equal(cfgs[2].nmap, 2);
	assert_int_equal(dev_cfg_map(&cfgs[2], 7001)->to.kind, VSK_ADDR_HYBRID);
	/* A list item under a key with a value belongs to nothing. */
	assert_int_equal(yaml("vms:\n  - guest_cid: 4\n    socket: /a\n      - 5000=unix:/x\n", cfgs, &n, err,
			      sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":4: a list item that belongs to no key"));
	/* A list under a key that takes one value. */
	assert_int_equal(yaml("vms:\n  - guest_cid: 4\n    socket:\n      - /a\n      - /b\n", cfgs, &n, err,
			      sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":4: 'socket' takes one value, not a list"));
}

/* Two VMs that clash: named by their place (1-based), the field and its value. */
static void test_duplicates(void **state)
{
	struct dev_vm_cfg c[3];
	char err[512], spec[5000];
	int n;

	(void)state;
	vm_ok("guest-cid=4,socket=/s1,uds-path=/u1", &c[0]);
	vm_ok("guest-cid=5,socket=/s2,uds-path=/u2", &c[1]);
	vm_ok("guest-cid=4,socket=/s3,uds-path=/u3", &c[2]);
	assert_int_equal(dev_cfg_check(c, 2, err, sizeof(err)), 0);
	assert_int_equal(dev_cfg_check(c, 3, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "VMs 1 and 3 both use guest CID 4"));
	vm_ok("guest-cid=6,socket=/s2,uds-path=/u3", &c[2]);
	assert_int_equal(dev_cfg_check(c, 3, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "VMs 2 and 3 both use socket /s2"));
	vm_ok("guest-cid=6,socket=/s3,uds-path=/u2", &c[2]);
	assert_int_equal(dev_cfg_check(c, 3, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "VMs 2 and 3 both use uds-path /u2"));
	/* Two forward-cid VMs have no uds-path: no clash there. */
	vm_ok("guest-cid=7,socket=/s7,forward-cid=1", &c[0]);
	vm_ok("guest-cid=8,socket=/s8,forward-cid=1", &c[1]);
	assert_int_equal(dev_cfg_check(c, 2, err, sizeof(err)), 0);
	/* The same in a --config file, counted in its order. */
	assert_int_equal(yaml("vms:\n  - guest_cid: 4\n    socket: /a\n    uds_path: /b\n"
			      "  - guest_cid: 5\n    socket: /c\n    uds_path: /d\n"
			      "  - guest_cid: 6\n    socket: /c\n    uds_path: /e\n", cfgs, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_int_equal(dev_cfg_check(cfgs, n, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "VMs 2 and 3 both use socket /c"));
	/* A long socket path is elided, the message whole. */
	snprintf(spec, sizeof(spec), "guest-cid=4,socket=/%0100d,uds-path=/u", 0);
	vm_ok(spec, &c[0]);
	snprintf(spec, sizeof(spec), "guest-cid=5,socket=/%0100d,uds-path=/v", 0);
	vm_ok(spec, &c[1]);
	assert_int_equal(dev_cfg_check(c, 2, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "VMs 1 and 2 both use socket /000"));
	assert_non_null(strstr(err, "..."));
	assert_non_null(strstr(err, "(VMs counted from 1 in the order given)"));
}

/* The guest CID rule, said where a CID is refused. */
static void test_cid_rule(void **state)
{
	char spec[5000];

	(void)state;
	vm_bad("guest-cid=abc,socket=/a,uds-path=/b", "invalid value for guest-cid: 'abc'|3..4294967294|"
	       "0, 1 and 2 are reserved|4294967295 (-1) means any");
	vm_bad("guest-cid=-1,socket=/a,uds-path=/b", "'-1'|3..4294967294");
	vm_bad("guest-cid=0,socket=/a,uds-path=/b", "guest CID 0 is reserved|3..4294967294");
	vm_bad("guest-cid=1,socket=/a,uds-path=/b", "guest CID 1 is reserved");
	vm_bad("guest-cid=4294967295,socket=/a,uds-path=/b", "guest CID 4294967295 is any|3..4294967294");
	vm_bad("guest-cid=4294967296,socket=/a,uds-path=/b", "'4294967296'|3..4294967294");
	/* The bounds themselves are guests. */
	vm_ok("guest-cid=3,socket=/a,uds-path=/b", &cfgs[0]);
	vm_ok("guest-cid=4294967294,socket=/a,uds-path=/b", &cfgs[0]);
	/* Not the whole address range a vsock address allows. */
	vm_bad("guest-cid=x,socket=/a,uds-path=/b", "3..4294967294");
	{
		struct dev_vm_cfg c;
		char err[512];

		assert_int_not_equal(dev_cfg_parse_vm("guest-cid=x,socket=/a,uds-path=/b", &c, err, sizeof(err)), 0);
		assert_null(strstr(err, "0..4294967295"));
	}
	/* A path too long is said so, with the numbers, and elided. */
	snprintf(spec, sizeof(spec), "guest-cid=4,socket=/%04000d,uds-path=/b", 0);
	vm_bad(spec, "invalid value for socket|is too long (4001 bytes, at most|...");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readme_vm_lines),
		cmocka_unit_test(test_readme_yaml),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_both_spellings),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_conflicts),
		cmocka_unit_test(test_map_syntax),
		cmocka_unit_test(test_yaml_map_forms),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_cid_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
