/* device configuration: the options of rust-vmm's vhost-device-vsock,
 * as --vm key=value lists, the YAML subset of --config FILE and single
 * keys for the CLI's flags, plus vsk's own keys (connect-timeout, map,
 * map-only).  Bad input is an error line for the user, never a guess. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"

/* "_4294967295": the longest suffix a port adds to the uds path. */
#define UDS_SUFFIX_MAX 11
/* The guest CID rule, said wherever a CID is refused. */
#define CID_RULE "a guest CID is 3..4294967294; 0, 1 and 2 are reserved (hypervisor, local, host), 4294967295 (-1) means any"
/* How much of a value a message echoes (a --vm value may be 4 KiB). */
#define ECHO_MAX 72

static const char keys_accepted[] =
	"guest-cid, socket, uds-path, forward-cid, forward-listen, groups, tx-buffer-size, queue-size, "
	"connect-timeout, map, map-only, max-conns";

void dev_cfg_init(struct dev_vm_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->cid = DEV_GUEST_CID_DEFAULT;
	c->queue_size = DEV_QUEUE_SIZE_DEFAULT;
}

static int num_u32(const char *s, uint32_t *v)
{
	char *end;
	unsigned long long x;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || x > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

static int copy_str(char *dst, size_t len, const char *val)
{
	if (strlen(val) >= len)
		return -ENAMETOOLONG;
	snprintf(dst, len, "%s", val);
	return 0;
}

/* Key names with '-' or '_' (the CLI uses one, the YAML the other). */
static bool key_is(const char *key, const char *want)
{
	for (; *key && *want; key++, want++)
		if (*key != *want && !((*key == '-' || *key == '_') && *want == '-'))
			return false;
	return *key == '\0' && *want == '\0';
}

static int parse_bool(const char *s, bool *v)
{
	static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(s, yes[i])) {
			*v = true;
			return 0;
		}
		if (!strcmp(s, no[i])) {
			*v = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* "9001+9002": decimal ports joined by '+', no duplicates. */
static int set_listen(struct dev_vm_cfg *c, const char *val, char *err, size_t errlen)
{
	char buf[DEV_FWD_LISTEN_MAX * 12], *save = NULL, *p;

	if (strlen(val) >= sizeof(buf) || val[0] == '\0') {
		snprintf(err, errlen, "forward-listen '%.40s': expected ports joined by '+' (at most %d)", val,
			 DEV_FWD_LISTEN_MAX);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", val);
	c->nforward_listen = 0;
	for (p = strtok_r(buf, "+", &save); p != NULL; p = strtok_r(NULL, "+", &save)) {
		uint32_t port;

		if (num_u32(p, &port) < 0 || port == VSK_PORT_ANY) {
			snprintf(err, errlen, "forward-listen '%.60s': '%.20s' is not a port (0 .. 4294967294)", val, p);
			return -EINVAL;
		}
		for (unsigned i = 0; i < c->nforward_listen; i++)
			if (c->forward_listen[i] == port) {
				snprintf(err, errlen, "forward-listen '%s': port %u given twice", val, port);
				return -EINVAL;
			}
		if (c->nforward_listen == DEV_FWD_LISTEN_MAX) {
			snprintf(err, errlen, "forward-listen '%s': more than %d ports", val, DEV_FWD_LISTEN_MAX);
			return -EINVAL;
		}
		c->forward_listen[c->nforward_listen++] = port;
	}
	if (strstr(val, "++") || val[0] == '+' || val[strlen(val) - 1] == '+') {
		snprintf(err, errlen, "forward-listen '%s': expected ports joined by '+'", val);
		return -EINVAL;
	}
	return 0;
}

/* The address kinds a map entry may name. */
static bool map_kind_ok(const struct vsk_addr *a)
{
	switch (a->kind) {
	case VSK_ADDR_VSOCK:
	case VSK_ADDR_VSOCK_SEQ:
		return a->cid != VSK_CID_ANY && a->port != VSK_PORT_ANY;
	case VSK_ADDR_HYBRID:
	case VSK_ADDR_HYBRID_SEQ:
	case VSK_ADDR_UNIX:
	case VSK_ADDR_TCP:
		return true;
	default:
		return false;
	}
}

/* "PORT=ADDR": the first '=' ends the port, so ADDR keeps its ':'s. */
static int add_map(struct dev_vm_cfg *c, const char *val, char *err, size_t errlen)
{
	const char *eq = strchr(val, '=');
	char port_s[16], aerr[256];
	struct dev_map m;

	memset(&m, 0, sizeof(m));
	if (eq == NULL || eq == val || (size_t)(eq - val) >= sizeof(port_s)) {
		snprintf(err, errlen, "map '%.60s': expected PORT=ADDR, e.g. 5000=tcp:127.0.0.1:80", val);
		return -EINVAL;
	}
	snprintf(port_s, sizeof(port_s), "%.*s", (int)(eq - val), val);
	if (num_u32(port_s, &m.port) < 0 || m.port == VSK_PORT_ANY) {
		snprintf(err, errlen, "map '%.60s': '%s' is not a port (0 .. 4294967294)", val, port_s);
		return -EINVAL;
	}
	if (vsk_addr_parse(eq + 1, &m.to, aerr, sizeof(aerr)) < 0) {
		snprintf(err, errlen, "map %u: %s", m.port, aerr);
		return -EINVAL;
	}
	if (!map_kind_ok(&m.to)) {
		snprintf(err, errlen, "map %u: '%.60s' cannot be connected to (expected unix:, tcp:, vsock:CID:PORT or hybrid:)",
			 m.port, eq + 1);
		return -EINVAL;
	}
	if (dev_cfg_map(c, m.port) != NULL) {
		snprintf(err, errlen, "map %u: port given twice", m.port);
		return -EINVAL;
	}
	if (c->nmap == DEV_MAP_MAX) {
		snprintf(err, errlen, "map %u: more than %d map entries", m.port, DEV_MAP_MAX);
		return -EINVAL;
	}
	c->map[c->nmap++] = m;
	return 0;
}

const struct dev_map *dev_cfg_map(const struct dev_vm_cfg *c, uint32_t port)
{
	for (unsigned i = 0; i < c->nmap; i++)
		if (c->map[i].port == port)
			return &c->map[i];
	return NULL;
}

/* What a number key takes, as its error message states it (the --flag
 * forms parse in src/cli_num.c with the same ranges; guest-cid says its
 * own rule). */
static const char *num_range(const char *key, char *buf, size_t len)
{
	buf[0] = '\0';
	if (key_is(key, "forward-cid"))
		snprintf(buf, len, " (expected a number 0..%u)", UINT32_MAX - 1);
	else if (key_is(key, "tx-buffer-size"))
		snprintf(buf, len, " (expected a number of bytes %u..%u)", DEV_TX_BUF_MIN, DEV_TX_BUF_MAX);
	else if (key_is(key, "queue-size"))
		snprintf(buf, len, " (expected a power of two 1..%u)", VQ_MAX_NUM);
	else if (key_is(key, "connect-timeout"))
		snprintf(buf, len, " (expected milliseconds 0..%u)", DEV_CONNECT_TIMEOUT_MAX);
	else if (key_is(key, "max-conns"))
		snprintf(buf, len, " (expected a number; 0 is the default %u)", DEV_MAX_CONNS_DEFAULT);
	else if (key_is(key, "map-only"))
		snprintf(buf, len, " (expected true, yes, on, 1 or false, no, off, 0)");
	return buf;
}

/* VAL for a message: whole, or its start, "..." and its end. */
static const char *shown(const char *val, char *buf, size_t len)
{
	size_t n = strlen(val), head;

	if (n < len) {
		snprintf(buf, len, "%s", val);
		return buf;
	}
	head = (len - 4) * 2 / 3;
	snprintf(buf, len, "%.*s...%s", (int)head, val, val + n - (len - 4 - head));
	return buf;
}

int dev_cfg_set(struct dev_vm_cfg *c, const char *key, const char *val, char *err, size_t errlen)
{
	char v[ECHO_MAX], k[40], range[80];
	int rc = 0;

	if (key_is(key, "guest-cid")) {
		if (num_u32(val, &c->cid) < 0) {
			snprintf(err, errlen, "invalid value for %s: '%s' (%s)",
				 shown(key, k, sizeof(k)), shown(val, v, sizeof(v)), CID_RULE);
			return -EINVAL;
		}
	} else if (key_is(key, "socket"))
		rc = copy_str(c->socket, sizeof(c->socket), val);
	else if (key_is(key, "uds-path"))
		rc = copy_str(c->uds, sizeof(c->uds), val);
	else if (key_is(key, "forward-cid")) {
		rc = num_u32(val, &c->forward_cid);
		c->forward = rc == 0;
	} else if (key_is(key, "forward-listen"))
		return set_listen(c, val, err, errlen);
	else if (key_is(key, "groups"))
		rc = copy_str(c->groups, sizeof(c->groups), val);
	else if (key_is(key, "tx-buffer-size"))
		rc = num_u32(val, &c->tx_buf);
	else if (key_is(key, "queue-size"))
		rc = num_u32(val, &c->queue_size);
	else if (key_is(key, "connect-timeout"))
		rc = num_u32(val, &c->connect_timeout_ms);
	else if (key_is(key, "map"))
		return add_map(c, val, err, errlen);
	else if (key_is(key, "map-only"))
		rc = parse_bool(val, &c->map_only);
	else if (key_is(key, "max-conns"))
		rc = num_u32(val, &c->max_conns);
	else {
		snprintf(err, errlen, "unknown key '%s' (accepted: %s)", shown(key, k, sizeof(k)), keys_accepted);
		return -EINVAL;
	}
	if (rc == -ENAMETOOLONG)
		snprintf(err, errlen, "invalid value for %s: '%s' is too long (%zu bytes, at most %zu)", key,
			 shown(val, v, sizeof(v)), strlen(val),
			 (key_is(key, "groups") ? sizeof(c->groups) : sizeof(c->socket)) - 1);
	else if (rc < 0)
		snprintf(err, errlen, "invalid value for %s: '%s'%s", key, shown(val, v, sizeof(v)),
			 num_range(key, range, sizeof(range)));
	return rc < 0 ? -EINVAL : 0;
}

int dev_cfg_parse_vm(const char *spec, struct dev_vm_cfg *c, char *err, size_t errlen)
{
	char buf[4096], *save = NULL, *item;

	dev_cfg_init(c);
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "--vm value too long");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');

		if (eq == NULL && key_is(item, "map-only")) {
			c->map_only = true; /* a switch may stand alone */
			continue;
		}
		if (eq == NULL) {
			char it[ECHO_MAX];

			snprintf(err, errlen, "'%s' is not key=value (keys: %s)", shown(item, it, sizeof(it)),
				 keys_accepted);
			return -EINVAL;
		}
		*eq = '\0';
		if (dev_cfg_set(c, item, eq + 1, err, errlen) < 0)
			return -EINVAL;
	}
	return dev_cfg_check(c, 1, err, errlen);
}

/* ------------------------------------------------------------- YAML */

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Cut a comment: '#' at the start or after a blank, outside quotes. */
static void cut_comment(char *s)
{
	char q = 0;

	for (char *p = s; *p; p++) {
		if (q) {
			if (*p == q)
				q = 0;
		} else if (*p == '"' || *p == '\'') {
			q = *p;
		} else if (*p == '#' && (p == s || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			return;
		}
	}
}

static int unquote(char *v)
{
	size_t n = strlen(v);

	if (n > 0 && (v[0] == '"' || v[0] == '\'')) {
		if (n < 2 || v[n - 1] != v[0])
			return -EINVAL;
		memmove(v, v + 1, n - 2);
		v[n - 2] = '\0';
	}
	return 0;
}

/* "[a, b]": each item of a flow list through dev_cfg_set(KEY). */
static int set_flow_list(struct dev_vm_cfg *c, const char *key, char *val, char *msg, size_t len)
{
	char *save = NULL, *item;

	val[strlen(val) - 1] = '\0';
	for (item = strtok_r(val + 1, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		item = trim(item);
		if (unquote(item) < 0) {
			snprintf(msg, len, "unbalanced quotes");
			return -EINVAL;
		}
		if (dev_cfg_set(c, key, item, msg, len) < 0)
			return -EINVAL;
	}
	return 0;
}

struct yaml {
	bool in_vms, have;
	int vm_indent;        /* of the current VM's '-' */
	char list_key[32];    /* "key:" with no value: a block list follows */
};

/* One line (comment cut, not empty) into C[*N]: 0 or -EINVAL with MSG. */
static int yaml_line(struct yaml *y, char *line, struct dev_cfgs *cs, char *msg, size_t len)
{
	struct dev_vm_cfg *c = cs->v;
	int *n = &cs->n;
	int ind = (int)strspn(line, " \t");
	char *s = trim(line), *colon, *val;
	bool dash = s[0] == '-' && (s[1] == '\0' || isspace((unsigned char)s[1]));

	if (!y->in_vms) {
		if (strcmp(s, "vms:") != 0) {
			snprintf(msg, len, "expected 'vms:'");
			return -EINVAL;
		}
		y->in_vms = true;
		return 0;
	}
	if (dash && y->have && ind > y->vm_indent) {
		/* An item of the list under the last "key:". */
		if (y->list_key[0] == '\0') {
			snprintf(msg, len, "a list item that belongs to no key (check the indentation)");
			return -EINVAL;
		}
		if (!key_is(y->list_key, "map")) {
			snprintf(msg, len, "'%s' takes one value, not a list", y->list_key);
			return -EINVAL;
		}
		s = trim(s + 1);
		if (unquote(s) < 0) {
			snprintf(msg, len, "unbalanced quotes");
			return -EINVAL;
		}
		return dev_cfg_set(&c[*n - 1], y->list_key, s, msg, len);
	}
	y->list_key[0] = '\0';
	if (dash) {
		if (dev_cfgs_add(cs) == NULL) {
			snprintf(msg, len, "out of memory");
			return -ENOMEM;
		}
		c = cs->v;
		y->have = true;
		y->vm_indent = ind;
		s = trim(s + 1);
		if (*s == '\0')
			return 0;
	}
	if (!y->have) {
		snprintf(msg, len, "expected '- guest_cid: N' to start a VM");
		return -EINVAL;
	}
	colon = strchr(s, ':');
	if (colon == NULL) {
		snprintf(msg, len, "expected 'key: value'");
		return -EINVAL;
	}
	*colon = '\0';
	s = trim(s);
	val = trim(colon + 1);
	if (*val == '\0') {
		if (strlen(s) >= sizeof(y->list_key)) {
			snprintf(msg, len, "unknown key '%.40s' (accepted: %s)", s, keys_accepted);
			return -EINVAL;
		}
		snprintf(y->list_key, sizeof(y->list_key), "%s", s);
		return 0;
	}
	if (val[0] == '[' && val[strlen(val) - 1] == ']') {
		if (!key_is(s, "map")) {
			snprintf(msg, len, "'%s' takes one value, not a list", s);
			return -EINVAL;
		}
		return set_flow_list(&c[*n - 1], s, val, msg, len);
	}
	if (unquote(val) < 0) {
		snprintf(msg, len, "unbalanced quotes");
		return -EINVAL;
	}
	return dev_cfg_set(&c[*n - 1], s, val, msg, len);
}

struct dev_vm_cfg *dev_cfgs_add(struct dev_cfgs *s)
{
	if (s->n == s->cap) {
		int cap = s->cap ? s->cap * 2 : 8;
		struct dev_vm_cfg *v = realloc(s->v, (size_t)cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		s->v = v;
		s->cap = cap;
	}
	dev_cfg_init(&s->v[s->n]);
	return &s->v[s->n++];
}

void dev_cfgs_free(struct dev_cfgs *s)
{
	free(s->v);
	*s = (struct dev_cfgs){ NULL, 0, 0 };
}

int dev_cfg_parse_file(const char *path, struct dev_cfgs *cs, char *err, size_t errlen)
{
	char line[1024], msg[256];
	struct yaml y = { .vm_indent = -1 };
	int lineno = 0, first = cs->n, rc = 0, *n = &cs->n;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(msg, sizeof(msg), "line too long");
			goto bad;
		}
		cut_comment(line);
		if (*trim(line) == '\0' || !strcmp(trim(line), "---"))
			continue;
		if (yaml_line(&y, line, cs, msg, sizeof(msg)) < 0)
			goto bad;
	}
	fclose(f);
	if (!y.in_vms || *n == first) {
		snprintf(err, errlen, "%s: no VMs listed (expected 'vms:' and '- guest_cid: N' items)", path);
		return -EINVAL;
	}
	for (int i = first; i < *n; i++) {
		rc = dev_cfg_check(&cs->v[i], 1, msg, sizeof(msg));
		if (rc < 0) {
			snprintf(err, errlen, "%s: VM %d: %s", path, i - first + 1, msg);
			return rc;
		}
	}
	return 0;
bad:
	snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
	fclose(f);
	return -EINVAL;
}

/* ------------------------------------------------------------ checks */

static int check_one(const struct dev_vm_cfg *v, char *err, size_t errlen)
{
	const char *g;

	if (v->cid < 3 || v->cid == UINT32_MAX) {
		snprintf(err, errlen, "guest CID %u is %s (%s)", v->cid, v->cid == UINT32_MAX ? "any" : "reserved",
			 CID_RULE);
		return -EINVAL;
	}
	if (v->socket[0] == '\0') {
		snprintf(err, errlen, "VM %u: socket is required (the vhost-user socket QEMU connects to)", v->cid);
		return -EINVAL;
	}
	if (v->uds[0] != '\0' && v->forward) {
		snprintf(err, errlen, "VM %u: uds-path and forward-cid name two host back ends; a VM has one", v->cid);
		return -EINVAL;
	}
	if (v->nforward_listen > 0 && !v->forward) {
		snprintf(err, errlen, "VM %u: forward-listen needs forward-cid (the vsock back end)", v->cid);
		return -EINVAL;
	}
	if (v->uds[0] == '\0' && !v->forward && !(v->map_only && v->nmap > 0)) {
		snprintf(err, errlen, "VM %u: a host back end is required: uds-path=PATH or forward-cid=CID "
			 "(or map-only with a map)", v->cid);
		return -EINVAL;
	}
	if (v->forward && v->forward_cid == VSK_CID_ANY) {
		snprintf(err, errlen, "VM %u: forward-cid %u is no address to connect to (use 0 .. 4294967294)",
			 v->cid, v->forward_cid);
		return -EINVAL;
	}
	if (v->uds[0] != '\0' && strlen(v->uds) + UDS_SUFFIX_MAX >= sizeof(v->uds)) {
		snprintf(err, errlen, "VM %u: uds-path too long for \"<path>_<port>\" (at most %zu bytes)",
			 v->cid, sizeof(v->uds) - 1 - UDS_SUFFIX_MAX);
		return -ENAMETOOLONG;
	}
	if (v->tx_buf != 0 && (v->tx_buf < DEV_TX_BUF_MIN || v->tx_buf > DEV_TX_BUF_MAX)) {
		snprintf(err, errlen, "VM %u: tx-buffer-size %u out of range (%u .. %u)", v->cid, v->tx_buf,
			 DEV_TX_BUF_MIN, DEV_TX_BUF_MAX);
		return -EINVAL;
	}
	if (v->queue_size != 0 && (v->queue_size > VQ_MAX_NUM || (v->queue_size & (v->queue_size - 1)))) {
		snprintf(err, errlen, "VM %u: queue-size %u: expected a power of two from 1 to %u", v->cid,
			 v->queue_size, VQ_MAX_NUM);
		return -EINVAL;
	}
	if (v->connect_timeout_ms > DEV_CONNECT_TIMEOUT_MAX) {
		snprintf(err, errlen, "VM %u: connect-timeout %u ms out of range (0 .. %u)", v->cid,
			 v->connect_timeout_ms, DEV_CONNECT_TIMEOUT_MAX);
		return -EINVAL;
	}
	if (v->map_only && v->nmap == 0) {
		snprintf(err, errlen, "VM %u: map-only without a map would refuse every guest connection", v->cid);
		return -EINVAL;
	}
	for (g = v->groups; *g; g++)
		if (!isalnum((unsigned char)*g) && !strchr("+-_.", *g))
			break;
	if (*g != '\0' || v->groups[0] == '+' || strstr(v->groups, "++") ||
	    (v->groups[0] && v->groups[strlen(v->groups) - 1] == '+')) {
		snprintf(err, errlen, "VM %u: groups '%.60s': expected names joined by '+'", v->cid, v->groups);
		return -EINVAL;
	}
	return 0;
}

/* The field VMs A and B (0-based) both use, as "guest CID 4" or
 * "socket /x"; false if they clash in none. */
static bool clash(const struct dev_vm_cfg *a, const struct dev_vm_cfg *b, char *what, size_t len)
{
	char p[ECHO_MAX];

	if (a->cid == b->cid)
		snprintf(what, len, "guest CID %u", a->cid);
	else if (!strcmp(a->socket, b->socket))
		snprintf(what, len, "socket %s", shown(a->socket, p, sizeof(p)));
	else if (a->uds[0] && !strcmp(a->uds, b->uds))
		snprintf(what, len, "uds-path %s", shown(a->uds, p, sizeof(p)));
	else
		return false;
	return true;
}

int dev_cfg_check(const struct dev_vm_cfg *c, int n, char *err, size_t errlen)
{
	char what[ECHO_MAX + 16];

	for (int i = 0; i < n; i++) {
		const struct dev_vm_cfg *v = &c[i];
		int rc = check_one(v, err, errlen);

		if (rc < 0)
			return rc;
		/* VMs by their place in --vm or --config order, counted from 1. */
		for (int j = 0; j < i; j++)
			if (clash(&c[j], v, what, sizeof(what))) {
				snprintf(err, errlen, "VMs %d and %d both use %s (VMs counted from 1 in the order given)",
					 j + 1, i + 1, what);
				return -EEXIST;
			}
	}
	return 0;
}
