/* sock internals shared inside libvsk (lib/device.c listens through them). */
#ifndef VSK_SOCK_H
#define VSK_SOCK_H

/* Bind and listen on the Unix socket PATH SUFFIX ("@name": abstract), TYPE
 * as for socket(2) (flags such as SOCK_NONBLOCK allowed).  A leftover
 * socket file nobody answers on is replaced; any other file, a symlink or a
 * live socket is left alone (-EADDRINUSE).  MODE >= 0: the socket file is
 * created with exactly these permission bits (the umask is set around
 * bind(), so no other mode is ever visible); MODE < 0: the process umask
 * decides.  Returns the fd or -errno. */
int sock_listen_unix(const char *path, const char *suffix, int type, int backlog, int mode);

#endif
