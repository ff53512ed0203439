/* device switch: which VM a guest packet for another guest's CID goes to.
 * Guests that share a group reach each other through the device; nobody
 * else is reachable.  Each VM has a port here (its CID, its groups, its rx
 * queue); a packet switched to a port is copied into that VM's rx backlog.
 * (With worker threads this is where a hand-off queue to another loop
 * goes.) */
#ifndef VSK_DEV_SWITCH_H
#define VSK_DEV_SWITCH_H

#include <stdbool.h>
#include <stdint.h>

struct dev_rxq;

struct dev_port {
	uint32_t cid;
	const char *groups;   /* '+'-separated names; "" = "default" */
	struct dev_rxq *rxq;
};

struct dev_switch {
	struct dev_port **ports;
	unsigned n, cap;
};

int switch_add(struct dev_switch *sw, struct dev_port *p);
void switch_del(struct dev_switch *sw, struct dev_port *p);
void switch_destroy(struct dev_switch *sw);
/* The port of CID, or NULL. */
struct dev_port *switch_find(const struct dev_switch *sw, uint64_t cid);
/* Do A and B share a group? */
bool switch_same_group(const struct dev_port *a, const struct dev_port *b);
/* The port FROM may send to at CID (another VM in one of its groups), or NULL. */
struct dev_port *switch_route(const struct dev_switch *sw, const struct dev_port *from, uint64_t cid);

#endif
