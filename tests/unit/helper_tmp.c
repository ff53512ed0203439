/* Temporary directories of the unit tests: removed with nftw, not
 * "rm -rf" through system(), so a path needs no quoting. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <unistd.h>

#include "helper_tmp.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int rm_tree(const char *dir)
{
	/* Depth first, not following links: a link is removed, not its target. */
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
