/* sock internals shared inside libvsk (lib/device.c listens through them,
 * lib/core/dial.c connects with the address builders). */
#ifndef VSK_SOCK_H
#define VSK_SOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>

/* Bind and listen on the Unix socket PATH SUFFIX ("@name": abstract), TYPE
 * as for socket(2) (flags such as SOCK_NONBLOCK allowed).  A leftover
 * socket file nobody answers on is replaced; any other file, a symlink or a
 * live socket is left alone (-EADDRINUSE).  MODE >= 0: the socket file is
 * created with exactly these permission bits (the umask is set around
 * bind(), so no other mode is ever visible); MODE < 0: the process umask
 * decides.  Returns the fd or -errno. */
int sock_listen_unix(const char *path, const char *suffix, int type, int backlog, int mode);
/* PATH SUFFIX ("@name": abstract) as a sockaddr_un and its length; 0 or
 * -ENAMETOOLONG. */
int sock_un_addr(struct sockaddr_un *un, socklen_t *len, const char *path, const char *suffix);
void sock_vm_addr(struct sockaddr_vm *vm, uint32_t cid, uint32_t port);
/* O_NONBLOCK on or off; 0 or -errno. */
int sock_set_nonblock(int fd, bool on);

#endif
