/* device switch (see dev_switch.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev_switch.h"
#include "device.h"

int switch_add(struct dev_switch *sw, struct dev_port *p)
{
	if (sw->n == sw->cap) {
		unsigned cap = sw->cap ? sw->cap * 2 : 8;
		struct dev_port **np = realloc(sw->ports, cap * sizeof(*np));

		if (np == NULL)
			return -ENOMEM;
		sw->ports = np;
		sw->cap = cap;
	}
	sw->ports[sw->n++] = p;
	return 0;
}

void switch_del(struct dev_switch *sw, struct dev_port *p)
{
	for (unsigned i = 0; i < sw->n; i++)
		if (sw->ports[i] == p) {
			memmove(&sw->ports[i], &sw->ports[i + 1], (sw->n - i - 1) * sizeof(sw->ports[0]));
			sw->n--;
			return;
		}
}

void switch_destroy(struct dev_switch *sw)
{
	free(sw->ports);
	sw->ports = NULL;
	sw->n = sw->cap = 0;
}

struct dev_port *switch_find(const struct dev_switch *sw, uint64_t cid)
{
	for (unsigned i = 0; i < sw->n; i++)
		if (sw->ports[i]->cid == cid)
			return sw->ports[i];
	return NULL;
}

/* Next '+'-separated name of S after *POS into NAME; false at the end. */
static bool group_next(const char *s, size_t *pos, char *name, size_t len)
{
	size_t n;

	if (*s == '\0' && *pos == 0) {
		snprintf(name, len, "default");
		*pos = 1;
		return true;
	}
	if (*pos > strlen(s))
		return false;
	n = strcspn(s + *pos, "+");
	snprintf(name, len, "%.*s", (int)n, s + *pos);
	*pos += n + 1;
	return true;
}

bool switch_same_group(const struct dev_port *a, const struct dev_port *b)
{
	char ga[DEV_GROUPS_MAX], gb[DEV_GROUPS_MAX];
	size_t pa = 0, pb;

	while (group_next(a->groups, &pa, ga, sizeof(ga)))
		for (pb = 0; group_next(b->groups, &pb, gb, sizeof(gb));)
			if (ga[0] != '\0' && strcmp(ga, gb) == 0)
				return true;
	return false;
}

struct dev_port *switch_route(const struct dev_switch *sw, const struct dev_port *from, uint64_t cid)
{
	struct dev_port *to = switch_find(sw, cid);

	if (to == NULL || to == from || !switch_same_group(from, to))
		return NULL;
	return to;
}
