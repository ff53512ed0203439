/* hybrid-seq internals shared inside libvsk (lib/sock.c connects with it). */
#ifndef VSK_HYBRID_SEQ_H
#define VSK_HYBRID_SEQ_H

#include "vsk.h"

#define VSK_HYBRID_SEQ_SUFFIX "_seqpacket"

/* Connect to hybrid-seq address A ("PATH_seqpacket", SOCK_SEQPACKET) and
 * do the handshake for A's port.  A connected fd, or -errno with *OP the
 * step ("socket", "connect", "handshake"). */
int hybrid_seq_open(const struct vsk_addr *a, const struct vsk_opts *o, const char **op);

#endif
