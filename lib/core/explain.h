/* explain internals, exposed for unit tests: the sentence from given facts. */
#ifndef VSK_EXPLAIN_H
#define VSK_EXPLAIN_H

#include "vsk.h"

const char *explain_with(int err, const char *op, const struct vsk_addr *a,
			 const struct vsk_transports *t, char *buf, size_t len);

#endif
