/* hybrid-seq internals shared inside libvsk (lib/core/dial.c connects to
 * "PATH" VSK_HYBRID_SEQ_SUFFIX; the device listens there). */
#ifndef VSK_HYBRID_SEQ_H
#define VSK_HYBRID_SEQ_H

#include "vsk.h"

#define VSK_HYBRID_SEQ_SUFFIX "_seqpacket"

#endif
