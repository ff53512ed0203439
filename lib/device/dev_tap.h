/* device pcap tap: every packet the device moves, as a LINKTYPE_VSOCK
 * record (lib/dump/capture.c).  A write error stops the capture with one log
 * line; the device carries on.  Shared by every loop: records are written
 * under a mutex (only while a capture is on). */
#ifndef VSK_DEV_TAP_H
#define VSK_DEV_TAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct capture_writer;
struct dev_log;

struct dev_tap {
	bool on;                  /* a capture was opened (set before the loops run) */
	pthread_mutex_t lock;
	struct capture_writer *w; /* NULL once stopped by an error */
	bool dirty;               /* records written since the last flush */
	uint8_t *bounce;          /* a packet's payload, out of guest memory */
	size_t cap;
	const struct dev_log *log;
};

static inline bool dev_tap_on(const struct dev_tap *t)
{
	return t->on;
}

void dev_tap_init(struct dev_tap *t, const struct dev_log *log);
/* Start recording into PATH ("-" = stdout); replaces a capture running. */
int dev_tap_open(struct dev_tap *t, const char *path, char *err, size_t errlen);
/* One packet: its 44-byte header HDR and payload IOV[N]. */
void dev_tap_packet(struct dev_tap *t, const uint8_t *hdr, const struct iovec *iov, int n);
/* Once per loop round: what was written reaches the file. */
void dev_tap_flush(struct dev_tap *t);
void dev_tap_close(struct dev_tap *t);

#endif
