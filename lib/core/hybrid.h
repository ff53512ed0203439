/* hybrid internals shared inside libvsk (and the CLI): the handshake in
 * steps that never wait, for event loops.  Each step returns -EAGAIN when
 * it needs FD to become readable (or writable, for a send) and is then
 * called again with the same state. */
#ifndef VSK_HYBRID_INT_H
#define VSK_HYBRID_INT_H

#include <stddef.h>
#include <stdint.h>

#include "vsk.h"

/* A line being read: the bytes so far (never more than the line). */
struct hybrid_line {
	char line[VSK_HYBRID_LINE_MAX + 1];
	size_t n;
};

/* "CONNECT PORT\n" into BUF; its length (as snprintf). */
int hybrid_request(char *buf, size_t len, uint32_t port);
/* Send BUF[*OFF..LEN) without waiting; 0 once all is out, -EAGAIN,
 * -ECONNRESET when the peer left, or -errno. */
int hybrid_send_step(int fd, const char *buf, size_t len, size_t *off);
/* Read on towards one '\n'-terminated line of at most VSK_HYBRID_LINE_MAX
 * bytes, consuming nothing after it.  Its length (newline excluded; the
 * line NUL-terminated in L), -EAGAIN, -ECONNRESET at EOF, -EPROTO when no
 * newline came within the limit. */
int hybrid_line_step(int fd, struct hybrid_line *l);
/* The client's wait for "OK N\n": 0 and *ASSIGNED, -EAGAIN, -ECONNRESET
 * (the server closed: nobody listens on that guest port), -EPROTO. */
int hybrid_reply_step(int fd, struct hybrid_line *l, uint32_t *assigned);
/* The server's wait for "CONNECT PORT\n": 0 and *PORT, -EAGAIN,
 * -ECONNRESET, -EPROTO. */
int hybrid_request_step(int fd, struct hybrid_line *l, uint32_t *port);

#endif
