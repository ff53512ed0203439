/* capture: pcap files and live vsockmon capture (internal to libvsk).
 *
 * Writer: LINKTYPE_VSOCK (271) pcap, each record af_vsockmon_hdr + the
 * transport header + payload, exactly what a vsockmon interface delivers,
 * so tcpdump, tshark and `vsk dump -r` read it.
 * Reader: pcap/pcapng files and live interfaces through libpcap.
 * Interfaces: find/create/remove a vsockmon link over rtnetlink.
 *
 * Errors are -errno; where libpcap has a message, it is copied into the
 * caller's ERRBUF (CAPTURE_ERRBUF_SIZE bytes).  Nothing prints.
 * A writer or reader is not thread-safe: callers serialize.
 */
#ifndef VSK_CAPTURE_H
#define VSK_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/uio.h>

#define CAPTURE_ERRBUF_SIZE 256   /* == PCAP_ERRBUF_SIZE */
#define CAPTURE_SNAPLEN     262144u

/* ------------------------------------------------------------- writing */

struct capture_writer;

/* Create PATH ("-" = stdout) as a LINKTYPE_VSOCK pcap with SNAPLEN
 * (0 = CAPTURE_SNAPLEN).  Records longer than SNAPLEN are cut, with the
 * original length kept in the record header as pcap does.  On error,
 * ERRBUF says what went wrong without naming PATH (the caller does). */
int capture_writer_open(const char *path, uint32_t snaplen, struct capture_writer **w,
			char *errbuf);
/* Same on an open file descriptor (not closed by capture_writer_close). */
int capture_writer_fdopen(int fd, uint32_t snaplen, struct capture_writer **w, char *errbuf);

/* Append one record as captured: BUF is the whole af_vsockmon record of
 * WIRELEN bytes of which CAPLEN are present.  TS NULL = now. */
int capture_write_rec(struct capture_writer *w, const struct timeval *ts,
		      const void *buf, size_t caplen, size_t wirelen);

/* Append "one packet the device moved": VIRTIO_HDR is the 44-byte
 * virtio_vsock_hdr as it was on the ring (little-endian bytes), PAYLOAD the
 * IOVCNT buffers that followed it (may be guest memory; only read).  The
 * vsockmon header is derived as the kernel does (wire_mon_from_virtio) and
 * the payload is recorded as given (the kernel records the hdr.len bytes
 * that followed the header: pass exactly those).  TS NULL = now. */
int capture_write_virtio(struct capture_writer *w, const struct timeval *ts,
			 const void *virtio_hdr, const struct iovec *payload, int iovcnt);

/* Flush buffered records to the file (call after each burst when live
 * readers such as `tcpdump -r -` follow the file). */
int capture_writer_flush(struct capture_writer *w);
/* Flush and close; returns the first error seen, if any.  NULL is a no-op. */
int capture_writer_close(struct capture_writer *w);

/* ------------------------------------------------------------- reading */

struct capture_reader;

struct capture_pkt {
	struct timeval ts;
	uint32_t caplen;       /* bytes in DATA */
	uint32_t len;          /* bytes on the wire */
	const uint8_t *data;   /* valid until the next capture_next() */
};

/* Open PATH ("-" = stdin), pcap or pcapng. */
int capture_reader_open(const char *path, struct capture_reader **r, char *errbuf);
/* Open interface IFNAME live (promiscuous off, immediate mode). */
int capture_reader_live(const char *ifname, uint32_t snaplen, struct capture_reader **r,
			char *errbuf);
/* The link type (DLT) of the source, and its name ("VSOCK", "EN10MB"...). */
int capture_linktype(const struct capture_reader *r);
const char *capture_linktype_name(int dlt);
/* For files: how far the reader is (bytes) and the file's size, for a
 * progress line.  -ESPIPE for live captures, pipes and stdin. */
int capture_progress(const struct capture_reader *r, uint64_t *pos, uint64_t *size);
/* Compile and install a BPF filter EXPR; -EINVAL with libpcap's message. */
int capture_set_filter(struct capture_reader *r, const char *expr, char *errbuf);
/* Next record: 1 and *P filled, 0 at end of file, -EAGAIN on a live
 * timeout or after capture_break(), -EIO (message in ERRBUF) on error. */
int capture_next(struct capture_reader *r, struct capture_pkt *p, char *errbuf);
/* Make a blocked capture_next() return (async-signal-safe). */
void capture_break(struct capture_reader *r);
/* Packets dropped by the kernel on a live capture (0 for files). */
uint32_t capture_dropped(struct capture_reader *r);
void capture_reader_close(struct capture_reader *r);

/* ----------------------------------------------------- vsockmon links */

/* Name of the first vsockmon interface into IFNAME: 0, or -ENODEV if none. */
int capture_vsockmon_find(char *ifname, size_t len);
/* Create vsockmon link IFNAME (RTM_NEWLINK, kind "vsockmon") and set it up.
 * -EOPNOTSUPP when the kernel has no vsockmon (module missing),
 * -EPERM without CAP_NET_ADMIN, -EEXIST if the name is taken. */
int capture_vsockmon_create(const char *ifname);
/* Delete link IFNAME (RTM_DELLINK). */
int capture_link_delete(const char *ifname);

#endif /* VSK_CAPTURE_H */
