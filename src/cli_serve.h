/* What the servers (listen, proxy, bench -s, recv) share: stopping
 * cleanly on SIGINT, SIGTERM and SIGHUP, and removing the Unix socket file
 * they bound; and what the stdin/stdout relays (connect, proxy's '-')
 * share (src/cli_serve.c). */
#ifndef VSK_CLI_SERVE_H
#define VSK_CLI_SERVE_H

#include <stdbool.h>
#include <sys/types.h>

#include "vsk.h"

/* Catch SIGINT, SIGTERM and SIGHUP: each writes one byte to a self-pipe
 * whose read end (non-blocking, close-on-exec) is returned, for a loop to
 * watch; FN (may be NULL) is also called from the handler, so it must be
 * async-signal-safe.  The first signal puts the default action back, so a
 * second one ends a server that does not stop.  Exits 1 on failure. */
int cli_stop_signals(void (*fn)(void));
struct relay;
/* Make relay R's loop return when STOPFD (cli_stop_signals()) is readable;
 * 0 or -errno (relay_watch()). */
int cli_stop_relay(struct relay *r, int stopfd);
/* The signal that arrived (0: none yet). */
int cli_stop_signal(void);

/* The socket file a server bound itself, to remove at exit. */
struct cli_sockfile {
	char path[VSK_PATH_MAX + 1];
	dev_t dev;
	ino_t ino;
	bool set;
};
/* Remember LFD's socket file: only a Unix socket with a path name (not
 * abstract) that is a socket on disk now, identified by device and inode. */
void cli_sockfile_note(struct cli_sockfile *f, int lfd);
/* Unlink it if that path is still that very socket (not a file someone
 * put there since); idempotent. */
void cli_sockfile_remove(struct cli_sockfile *f);
/* The bound address of LFD as vsk address text ("tcp:127.0.0.1:41234",
 * "vsock:any:1049", "hybrid:/tmp/v.sock:5000"); ASKED is the address given
 * to vsk_listen() (NULL for a socket systemd passed).  Falls back to
 * ASKED's text when the kernel cannot say. */
const char *cli_bound_text(int lfd, const struct vsk_addr *asked, char *buf, size_t len);

struct relay_info;
/* How a relay between stdin/stdout and a socket ended (RC and INFO from
 * relay_pump() or the relay's RELAY_DONE; SOCK: the socket's side, 'a' or
 * 'b'; TEXT: its address): 0, else "vsk: OP ADDR|stdin|stdout: ..." and
 * exit 1.  A reader of stdout that went away (EPIPE) is 0, as nc's. */
int cli_stdio_status(int rc, const struct relay_info *info, char sock, const char *text);

/* Open /dev/null on whichever of fds 0, 1, 2 is closed, before any socket
 * is made: a relay that takes stdin/stdout must never get a socket there.
 * Exits 1 on failure. */
void cli_ensure_stdio(void);

#endif
