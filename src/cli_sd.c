/* The listening socket of `listen --systemd` and `proxy --systemd`: taken
 * from systemd socket activation instead of bound by us. */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

int cli_systemd_listener(char *text, size_t len)
{
	struct vsk_addr a;
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
	/* In vsk's address format, as a bound ADDR would be printed. */
	if (vsk_listen_addr(3, NULL, &a) < 0)
		snprintf(text, len, "systemd fd 3");
	else
		snprintf(text, len, "%s (systemd fd 3)", vsk_addr_format(&a, name, sizeof(name)));
	return 3;
}
