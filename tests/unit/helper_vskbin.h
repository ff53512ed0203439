/* Test helper: where the vsk binary under test is. */
#ifndef HELPER_VSKBIN_H
#define HELPER_VSKBIN_H

#include <stdbool.h>
#include <stddef.h>

/* $VSK_BIN, else ../../vsk next to the test binary (build/tests/), else
 * ./vsk; true and the path in BUF when it is executable. */
bool hv_find_vsk(char *buf, size_t len);

#endif
