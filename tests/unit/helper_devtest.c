/* Test helpers shared by the vsk device tests. */
#include <stdio.h>
#include <string.h>

#include "helper_devtest.h"

void dt_log(void *arg, int level, const char *msg)
{
	struct dt_log *l = arg;
	int n;

	(void)level;
	n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s\n", msg);
	if (n > 0 && (size_t)n < sizeof(l->text) - l->len)
		l->len += (size_t)n;
}

void dt_vm_cfg(const char *dir, struct dev_vm_cfg *c, uint32_t cid, const char *groups, uint32_t txbuf)
{
	memset(c, 0, sizeof(*c));
	c->cid = cid;
	snprintf(c->socket, sizeof(c->socket), "%s/v%u.sock", dir, cid);
	snprintf(c->uds, sizeof(c->uds), "%s/u%u", dir, cid);
	snprintf(c->groups, sizeof(c->groups), "%s", groups);
	c->tx_buf = txbuf;
}
