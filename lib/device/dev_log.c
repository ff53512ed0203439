/* device logging (see dev_log.h). */
#include <stdarg.h>
#include <stdio.h>

#include "dev_log.h"

void dev_logf(const struct dev_log *l, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (l == NULL || l->fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	l->fn(l->arg, level, buf);
}
