/* explain internals, exposed for unit tests: the sentence from given facts. */
#ifndef VSK_EXPLAIN_H
#define VSK_EXPLAIN_H

#include "probe.h"
#include "vsk.h"

/* F: the probe's files, for module fixes ("modprobe X" or "rebuild the
 * kernel with CONFIG_X", as `vsk check` says); NULL points to vsk check. */
const char *explain_with(int err, const char *op, const struct vsk_addr *a, const struct vsk_transports *t,
			 const struct probe_files *f, char *buf, size_t len);

#endif
