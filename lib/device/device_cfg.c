/* device configuration: --vm key=value lists and the YAML subset of
 * --config FILE that rust-vmm's vhost-device-vsock reads.  Bad input is an
 * error line for the user, never a guess. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"

/* "_4294967295": the longest suffix a port adds to the uds path. */
#define UDS_SUFFIX_MAX 11

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

static int set_key(struct dev_vm_cfg *c, const char *key, const char *val, char *err, size_t errlen)
{
	int rc = 0;

	if (key_is(key, "guest-cid"))
		rc = num_u32(val, &c->cid);
	else if (key_is(key, "socket"))
		rc = copy_str(c->socket, sizeof(c->socket), val);
	else if (key_is(key, "uds-path"))
		rc = copy_str(c->uds, sizeof(c->uds), val);
	else if (key_is(key, "groups"))
		rc = copy_str(c->groups, sizeof(c->groups), val);
	else if (key_is(key, "tx-buffer-size"))
		rc = num_u32(val, &c->tx_buf);
	else {
		snprintf(err, errlen, "unknown key '%s' (expected guest-cid, socket, uds-path, groups, tx-buffer-size)",
			 key);
		return -EINVAL;
	}
	if (rc < 0)
		snprintf(err, errlen, "invalid value for %s: '%s'", key, val);
	return rc < 0 ? -EINVAL : 0;
}

int dev_cfg_parse_vm(const char *spec, struct dev_vm_cfg *c, char *err, size_t errlen)
{
	char buf[1024], *save = NULL, *item;

	memset(c, 0, sizeof(*c));
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "--vm value too long");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');

		if (eq == NULL) {
			snprintf(err, errlen, "'%s' is not key=value", item);
			return -EINVAL;
		}
		*eq = '\0';
		if (set_key(c, item, eq + 1, err, errlen) < 0)
			return -EINVAL;
	}
	return dev_cfg_check(c, 1, err, errlen);
}

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

int dev_cfg_parse_file(const char *path, struct dev_vm_cfg *c, int *n, int max, char *err,
		       size_t errlen)
{
	char line[1024], msg[256];
	bool in_vms = false, have = false;
	int lineno = 0, first = *n, rc = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *colon, *val;
		bool item = false;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(msg, sizeof(msg), "line too long");
			goto bad;
		}
		cut_comment(line);
		s = trim(line);
		if (*s == '\0' || !strcmp(s, "---"))
			continue;
		if (!in_vms) {
			if (strcmp(s, "vms:") != 0) {
				snprintf(msg, sizeof(msg), "expected 'vms:'");
				goto bad;
			}
			in_vms = true;
			continue;
		}
		if (s[0] == '-' && (s[1] == '\0' || isspace((unsigned char)s[1]))) {
			item = true;
			s = trim(s + 1);
		}
		if (item) {
			if (*n >= max) {
				snprintf(msg, sizeof(msg), "too many VMs (at most %d)", max);
				goto bad;
			}
			memset(&c[*n], 0, sizeof(c[*n]));
			(*n)++;
			have = true;
			if (*s == '\0')
				continue;
		}
		if (!have) {
			snprintf(msg, sizeof(msg), "expected '- guest_cid: N' to start a VM");
			goto bad;
		}
		colon = strchr(s, ':');
		if (colon == NULL) {
			snprintf(msg, sizeof(msg), "expected 'key: value'");
			goto bad;
		}
		*colon = '\0';
		val = trim(colon + 1);
		if (unquote(val) < 0) {
			snprintf(msg, sizeof(msg), "unbalanced quotes");
			goto bad;
		}
		if (set_key(&c[*n - 1], trim(s), val, msg, sizeof(msg)) < 0)
			goto bad;
	}
	fclose(f);
	if (!in_vms || *n == first) {
		snprintf(err, errlen, "%s: no VMs listed (expected 'vms:' and '- guest_cid: N' items)", path);
		return -EINVAL;
	}
	for (int i = first; i < *n; i++) {
		rc = dev_cfg_check(&c[i], 1, msg, sizeof(msg));
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

int dev_cfg_check(const struct dev_vm_cfg *c, int n, char *err, size_t errlen)
{
	for (int i = 0; i < n; i++) {
		const struct dev_vm_cfg *v = &c[i];
		const char *g;

		if (v->cid < 3 || v->cid == UINT32_MAX) {
			snprintf(err, errlen, "guest CID %u is reserved (use 3 .. 4294967294)", v->cid);
			return -EINVAL;
		}
		if (v->socket[0] == '\0' || v->uds[0] == '\0') {
			snprintf(err, errlen, "VM %u: socket and uds-path are both required", v->cid);
			return -EINVAL;
		}
		if (strlen(v->uds) + UDS_SUFFIX_MAX >= sizeof(v->uds)) {
			snprintf(err, errlen, "VM %u: uds-path too long for \"<path>_<port>\" (at most %zu bytes)",
				 v->cid, sizeof(v->uds) - 1 - UDS_SUFFIX_MAX);
			return -ENAMETOOLONG;
		}
		if (v->tx_buf != 0 && (v->tx_buf < DEV_TX_BUF_MIN || v->tx_buf > DEV_TX_BUF_MAX)) {
			snprintf(err, errlen, "VM %u: tx-buffer-size %u out of range (%u .. %u)", v->cid, v->tx_buf,
				 DEV_TX_BUF_MIN, DEV_TX_BUF_MAX);
			return -EINVAL;
		}
		for (g = v->groups; *g; g++)
			if (!isalnum((unsigned char)*g) && !strchr("+-_.", *g))
				break;
		if (*g != '\0' || v->groups[0] == '+' || strstr(v->groups, "++") ||
		    (v->groups[0] && v->groups[strlen(v->groups) - 1] == '+')) {
			snprintf(err, errlen, "VM %u: groups '%s': expected names joined by '+'", v->cid, v->groups);
			return -EINVAL;
		}
		for (int j = 0; j < i; j++)
			if (c[j].cid == v->cid || !strcmp(c[j].socket, v->socket) || !strcmp(c[j].uds, v->uds)) {
				snprintf(err, errlen, "VMs %u and %u share a CID, socket or uds-path", c[j].cid, v->cid);
				return -EEXIST;
			}
	}
	return 0;
}
