/* addr internals shared inside libvsk. */
#ifndef VSK_ADDR_H
#define VSK_ADDR_H

#include <stddef.h>
#include <stdint.h>

/* Strict decimal u32 of exactly N bytes: digits only, no sign, no
 * overflow.  0 or -EINVAL. */
int addr_parse_u32(const char *s, size_t n, uint32_t *out);

#endif
