/* Test helpers shared by the vsk device tests: a log sink and VM configs
 * in a temporary directory. */
#ifndef HELPER_DEVTEST_H
#define HELPER_DEVTEST_H

#include <stddef.h>
#include <stdint.h>

#include "device/device.h"

struct dt_log {
	char text[16384]; /* every line the device logged, truncated when full */
	size_t len;
};

/* A dev_log_fn: appends MSG and a newline to the struct dt_log ARG. */
void dt_log(void *arg, int level, const char *msg);
/* VM CID with its sockets under DIR (DIR/vCID.sock, DIR/uCID), GROUPS and
 * tx-buffer-size TXBUF (0: the default). */
void dt_vm_cfg(const char *dir, struct dev_vm_cfg *c, uint32_t cid, const char *groups, uint32_t txbuf);

/* A front end's GET_FEATURES round trip on the vhost-user socket SOCK of a
 * VM of D, driving D's loop meanwhile (at most 2 s): 0 and the time taken
 * in *MS, or -errno.  The socket is closed again. */
int dt_vu_get_features(struct dev *d, const char *sock, double *ms);
/* Unix stream clients of PATH, non-blocking: how many connected (at most
 * N; those the listen backlog refused are not counted), their fds in FDS. */
int dt_unix_clients(const char *path, int *fds, int n);

#endif
