/* dropuid: run a program as uid/gid 65534 with no supplementary groups, so
 * it has no capabilities (the guest's busybox setpriv cannot change uid).
 * Used by the lab to provoke EACCES on ports <= 1023.
 *
 * usage: dropuid PROG [ARGS...]
 * Built static by tests/lab/lib.sh; runs inside QEMU lab guests. */
#include <err.h>
#include <grp.h>
#include <stdio.h>
#include <unistd.h>

#define NOBODY 65534

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: dropuid PROG [ARGS...]\n");
		return 2;
	}
	/* Groups first: after setuid() we could no longer change them. */
	if (setgroups(0, NULL) < 0)
		err(1, "setgroups");
	if (setgid(NOBODY) < 0)
		err(1, "setgid %d", NOBODY);
	if (setuid(NOBODY) < 0)
		err(1, "setuid %d", NOBODY);
	/* A uid change from root clears the capability sets; make sure. */
	if (setuid(0) == 0)
		errx(1, "setuid 0 still works after dropping privileges");
	execvp(argv[1], argv + 1);
	err(127, "exec %s", argv[1]);
}
