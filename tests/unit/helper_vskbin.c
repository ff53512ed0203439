/* Test helper: where the vsk binary under test is. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper_vskbin.h"

bool hv_find_vsk(char *buf, size_t len)
{
	const char *env = getenv("VSK_BIN");
	char self[PATH_MAX];
	ssize_t n;

	if (env != NULL && *env != '\0') {
		snprintf(buf, len, "%s", env);
		return access(buf, X_OK) == 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			int k;

			*slash = '\0';
			k = snprintf(buf, len, "%s/../../vsk", self);
			if (k > 0 && (size_t)k < len && access(buf, X_OK) == 0)
				return true;
		}
	}
	snprintf(buf, len, "./vsk");
	return access(buf, X_OK) == 0;
}
