/* device host sockets: the Unix ("hybrid") host side of a VM, as
 * Firecracker and vhost-device-vsock lay it out.
 *   guest -> host port P: the device connects to "<uds>_P";
 *   host -> guest: host clients connect to "<uds>" and say "CONNECT <port>\n",
 *   the device answers "OK <hostport>\n" once the guest accepted.
 * Socket files are created with the device's mode in a directory that is
 * not open to everyone; "<uds>_P" is never followed through a symlink. */
#ifndef VSK_DEV_HOSTSOCK_H
#define VSK_DEV_HOSTSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

/* "<uds>_<port>" into *SUN: 0, or -ENAMETOOLONG (never a truncated name). */
int hostsock_port_path(const char *uds, uint32_t port, struct sockaddr_un *sun);
/* connect() FD to SUN without following a symlink at its last component:
 * 0, -ELOOP (a symlink), -ECONNREFUSED (not a socket), or connect's -errno
 * (-EAGAIN: the listener's backlog is full, retry). */
int hostsock_connect_nofollow(int fd, const struct sockaddr_un *sun);
/* A non-blocking Unix socket of TYPE (SOCK_STREAM or SOCK_SEQPACKET) for
 * guest endpoint CID:PORT, bound to the abstract peer name that tells the
 * host listener who called (vsk_hybrid_peer_name; a failed bind only loses
 * that, *BIND_ERR says why), send buffer sized for BUF_ALLOC.  fd or -errno. */
int hostsock_open(int type, uint32_t cid, uint32_t port, uint64_t nonce, uint32_t buf_alloc,
		  int *bind_err);
/* Let the host socket take twice the connection's buffer (at most 1 MiB). */
void hostsock_sndbuf(int fd, uint32_t buf_alloc);
/* Read the host client's CONNECT line byte by byte (nothing after the
 * newline is taken from the stream) into LINE[*LEN] (capacity CAP).
 * 1 = line complete, 0 = wait for more, -ECONNRESET (EOF or error),
 * -EMSGSIZE (no newline in CAP bytes). */
int hostsock_read_line(int fd, char *line, unsigned *len, size_t cap);
/* The same from a SOCK_SEQPACKET client: the line is one message.  1,
 * 0 = nothing yet, -ECONNRESET, -EMSGSIZE (a message over CAP bytes). */
int hostsock_read_msg(int fd, char *line, unsigned *len, size_t cap);
/* "OK <hport>\n" without blocking (a fresh socket always has room) and
 * without SIGPIPE.  0 or -EPIPE. */
int hostsock_reply_ok(int fd, uint32_t hport);
/* Listen on PATH (WHAT names it in ERR), a socket of TYPE (SOCK_STREAM or
 * SOCK_SEQPACKET), with permissions MODE; a leftover
 * socket file nobody answers on is replaced, anything else is not
 * (-EADDRINUSE); a directory every user may write to without the sticky
 * bit is refused (-EPERM).  fd or -errno. */
int hostsock_listen(const char *path, const char *what, int type, unsigned mode, int backlog, char *err,
		    size_t errlen);

#endif
