/* addr internals shared inside libvsk. */
#ifndef VSK_ADDR_H
#define VSK_ADDR_H

#include <stddef.h>
#include <stdint.h>

/* Strict decimal u32 of exactly N bytes: digits only, no sign, no
 * overflow.  0 or -EINVAL. */
int addr_parse_u32(const char *s, size_t n, uint32_t *out);

/* S for a message: whole if it fits LEN, else its start, "..." and its
 * end, LEN - 1 bytes in all (a path's directory and file name both show).
 * Returns BUF. */
const char *addr_elide(const char *s, char *buf, size_t len);
/* How much of a user's text a parse message echoes: messages stay whole in
 * a 256-byte buffer however long the text. */
#define ADDR_SHOW_MAX 72

#endif
