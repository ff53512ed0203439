/* The listening socket of `listen --systemd` and `proxy --systemd`: taken
 * from systemd socket activation instead of bound by us. */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

int cli_systemd_listener(char *text, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t slen = sizeof(ss);
	char name[VSK_PATH_MAX + 64];
	int n, type;

	n = vsk_sd_listen_fds(true);
	if (n < 0) {
		errno = -n;
		err(1, "socket activation: LISTEN_FDS");
	}
	if (n == 0)
		errx(1, "socket activation: no socket passed to this process "
			"(LISTEN_FDS and LISTEN_PID unset or for another pid)");
	if (n > 1)
		errx(1, "socket activation: %d sockets passed, expected 1 "
			"(one ListenStream= or ListenSequentialPacket= per unit)", n);
	/* fd 3 is the first (and only) socket systemd passes. */
	type = vsk_sd_listener(3, true);
	if (type < 0) {
		errno = -type;
		err(1, "socket activation: fd 3 is not a listening socket");
	}
	if (getsockname(3, (struct sockaddr *)&ss, &slen) < 0)
		snprintf(text, len, "systemd fd 3");
	else
		snprintf(text, len, "%s (systemd fd 3)",
			 vsk_sockaddr_format((struct sockaddr *)&ss, slen, name, sizeof(name)));
	return 3;
}
