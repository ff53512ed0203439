/* Temporary directories of the unit tests. */
#ifndef VSK_HELPER_TMP_H
#define VSK_HELPER_TMP_H

/* Remove DIR and everything below it (sockets, files, folders), without
 * a shell; 0, or -1 with errno when something could not be removed. */
int rm_tree(const char *dir);

#endif
