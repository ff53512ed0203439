/* libFuzzer harness: the address parser every command uses.
 *
 * Bounded run: tests/fuzz/run [SECONDS] addr.  Long run: tests/fuzz/run 3600 addr.
 *
 * Input: the address text (cut at the first NUL).  Checked:
 *   - vsk_addr_parse() never reads or writes out of bounds (ASan) and, on
 *     failure, writes a NUL-terminated error line that fits its buffer;
 *   - round trip: when TEXT parses, vsk_addr_format() of the result parses
 *     again, to the same struct, and formats to the same text (the canonical
 *     form is a fixed point);
 *   - vsk_addr_format() into a short buffer stays inside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vsk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_addr(const struct vsk_addr *a, const struct vsk_addr *b)
{
	/* vsk_addr_parse() zeroes the struct first, so whole-struct equality
	 * is the contract, padding and unused fields included. */
	if (memcmp(a, b, sizeof(*a)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[1024], canon[1024], again[1024], err[64], tiny[7];
	struct vsk_addr a, b;
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;

	memcpy(text, data, n);
	text[n] = '\0';
	memset(err, 'X', sizeof(err));
	if (vsk_addr_parse(text, &a, err, sizeof(err)) < 0) {
		if (memchr(err, '\0', sizeof(err)) == NULL)
			abort(); /* error line not terminated */
		return 0;
	}
	vsk_addr_format(&a, canon, sizeof(canon));
	if (vsk_addr_parse(canon, &b, err, sizeof(err)) < 0)
		abort(); /* the canonical text of a parsed address must parse */
	same_addr(&a, &b);
	vsk_addr_format(&b, again, sizeof(again));
	if (strcmp(canon, again) != 0)
		abort();
	vsk_addr_format(&a, tiny, sizeof(tiny));
	if (memchr(tiny, '\0', sizeof(tiny)) == NULL)
		abort();
	(void)vsk_addr_socktype(&a);
	return 0;
}
