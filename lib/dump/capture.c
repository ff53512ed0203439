/* capture: LINKTYPE_VSOCK pcap writer, libpcap reader, vsockmon links. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <pcap/pcap.h>

#include "capture.h"
#include "wire.h"

#define ARPHRD_VSOCKMON_ 826 /* include/uapi/linux/if_arp.h */

static void seterr(char *errbuf, const char *fmt, const char *a, const char *b)
{
	if (errbuf != NULL)
		snprintf(errbuf, CAPTURE_ERRBUF_SIZE, fmt, a, b);
}

/* ------------------------------------------------------------- writing */

struct capture_writer {
	pcap_t *dead;
	pcap_dumper_t *dump;
	FILE *f;
	uint32_t snaplen;
	uint8_t *buf;   /* record assembly, SNAPLEN bytes */
	int err;        /* first write error (-errno) */
};

static uint32_t clamp_snap(uint32_t snaplen)
{
	if (snaplen == 0 || snaplen > CAPTURE_SNAPLEN)
		return CAPTURE_SNAPLEN;
	/* Smaller than the headers makes records nobody can decode. */
	if (snaplen < WIRE_MON_HDR_LEN + WIRE_VIRTIO_HDR_LEN)
		return WIRE_MON_HDR_LEN + WIRE_VIRTIO_HDR_LEN;
	return snaplen;
}

static int writer_on(FILE *f, uint32_t snaplen, struct capture_writer **wp, char *errbuf)
{
	struct capture_writer *w;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->snaplen = clamp_snap(snaplen);
	w->buf = malloc(w->snaplen);
	w->dead = pcap_open_dead_with_tstamp_precision(DLT_VSOCK, (int)w->snaplen,
						       PCAP_TSTAMP_PRECISION_MICRO);
	if (w->buf == NULL || w->dead == NULL) {
		free(w->buf);
		if (w->dead != NULL)
			pcap_close(w->dead);
		free(w);
		return -ENOMEM;
	}
	w->f = f;
	w->dump = pcap_dump_fopen(w->dead, f);
	if (w->dump == NULL) {
		seterr(errbuf, "%s%s", pcap_geterr(w->dead), "");
		pcap_close(w->dead);
		free(w->buf);
		free(w);
		return -EIO;
	}
	*wp = w;
	return 0;
}

int capture_writer_open(const char *path, uint32_t snaplen, struct capture_writer **w,
			char *errbuf)
{
	FILE *f;
	int rc;

	if (strcmp(path, "-") == 0)
		return capture_writer_fdopen(STDOUT_FILENO, snaplen, w, errbuf);
	f = fopen(path, "wb");
	if (f == NULL) {
		/* Without the path: the caller's message names it. */
		rc = -errno;
		seterr(errbuf, "%s%s", strerror(-rc), "");
		return rc;
	}
	rc = writer_on(f, snaplen, w, errbuf);
	if (rc < 0)
		fclose(f);
	return rc;
}

int capture_writer_fdopen(int fd, uint32_t snaplen, struct capture_writer **w, char *errbuf)
{
	FILE *f;
	int dfd, rc;

	/* Our own descriptor, so closing the writer leaves the caller's fd open. */
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dfd < 0)
		return -errno;
	f = fdopen(dfd, "wb");
	if (f == NULL) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	rc = writer_on(f, snaplen, w, errbuf);
	if (rc < 0)
		fclose(f);
	return rc;
}

static int write_pkt(struct capture_writer *w, const struct timeval *ts, const uint8_t *buf,
		     size_t caplen, size_t wirelen)
{
	struct pcap_pkthdr h;

	if (caplen > w->snaplen)
		caplen = w->snaplen;
	if (wirelen < caplen)
		wirelen = caplen;
	if (wirelen > UINT32_MAX)
		wirelen = UINT32_MAX;
	if (ts != NULL)
		h.ts = *ts;
	else
		gettimeofday(&h.ts, NULL);
	h.caplen = (bpf_u_int32)caplen;
	h.len = (bpf_u_int32)wirelen;
	pcap_dump((u_char *)w->dump, &h, buf);
	/* pcap_dump() reports nothing; the stream does. */
	if (ferror(w->f) && w->err == 0)
		w->err = -EIO;
	return w->err;
}

int capture_write_rec(struct capture_writer *w, const struct timeval *ts,
		      const void *buf, size_t caplen, size_t wirelen)
{
	return write_pkt(w, ts, buf, caplen, wirelen);
}

int capture_write_virtio(struct capture_writer *w, const struct timeval *ts,
			 const void *virtio_hdr, const struct iovec *payload, int iovcnt)
{
	struct wire_virtio h;
	struct wire_mon m;
	size_t off, total = 0;

	if (wire_virtio_decode(virtio_hdr, WIRE_VIRTIO_HDR_LEN, &h) < 0)
		return -EINVAL;
	wire_mon_from_virtio(&h, &m);
	wire_mon_encode(&m, w->buf, w->snaplen);
	memcpy(w->buf + WIRE_MON_HDR_LEN, virtio_hdr, WIRE_VIRTIO_HDR_LEN);
	off = WIRE_MON_HDR_LEN + WIRE_VIRTIO_HDR_LEN;
	for (int i = 0; i < iovcnt && payload != NULL; i++) {
		size_t n = payload[i].iov_len;

		total += n;
		if (n > w->snaplen - off)
			n = w->snaplen - off;
		if (n > 0)
			memcpy(w->buf + off, payload[i].iov_base, n);
		off += n;
	}
	return write_pkt(w, ts, w->buf, off, WIRE_MON_HDR_LEN + WIRE_VIRTIO_HDR_LEN + total);
}

int capture_writer_flush(struct capture_writer *w)
{
	if (pcap_dump_flush(w->dump) < 0 && w->err == 0)
		w->err = -EIO;
	return w->err;
}

int capture_writer_close(struct capture_writer *w)
{
	int rc;

	if (w == NULL)
		return 0;
	rc = capture_writer_flush(w);
	/* pcap_dump_close() fclose()s; check the stream before it goes. */
	if (rc == 0 && ferror(w->f))
		rc = -EIO;
	pcap_dump_close(w->dump);
	pcap_close(w->dead);
	free(w->buf);
	free(w);
	return rc;
}

/* ------------------------------------------------------------- reading */

#define READ_BUF (1u << 20)

struct capture_reader {
	pcap_t *p;
	bool live;
	char *iobuf;   /* stdio buffer of the file libpcap reads */
};

int capture_reader_open(const char *path, struct capture_reader **rp, char *errbuf)
{
	char eb[PCAP_ERRBUF_SIZE] = "";
	struct capture_reader *r;
	FILE *f;
	int rc;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	/* Our own FILE with a big buffer: libpcap freads each record, and with
	 * stdio's default 4 KiB that is a read() every ~20 records. */
	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL) {
		rc = -errno;
		seterr(errbuf, "%s: %s", path, strerror(-rc));
		free(r);
		return rc;
	}
	/* glibc ignores the size unless it is given the buffer too.  Not for
	 * stdin, which outlives the reader (and pipes deliver 64 KiB anyway). */
	if (f != stdin) {
		r->iobuf = malloc(READ_BUF);
		if (r->iobuf != NULL)
			setvbuf(f, r->iobuf, _IOFBF, READ_BUF);
	}
	/* pcapng is detected by its magic. */
	r->p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, eb);
	if (r->p == NULL) {
		seterr(errbuf, "%s%s", eb, "");
		if (f != stdin)
			fclose(f);
		free(r->iobuf);
		free(r);
		return -EINVAL;
	}
	*rp = r;
	return 0;
}

int capture_reader_live(const char *ifname, uint32_t snaplen, struct capture_reader **rp,
			char *errbuf)
{
	char eb[PCAP_ERRBUF_SIZE] = "";
	struct capture_reader *r;
	int rc;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->live = true;
	r->p = pcap_create(ifname, eb);
	if (r->p == NULL) {
		seterr(errbuf, "%s%s", eb, "");
		free(r);
		return -ENODEV;
	}
	pcap_set_snaplen(r->p, (int)clamp_snap(snaplen));
	pcap_set_immediate_mode(r->p, 1);
	pcap_set_timeout(r->p, 200);
	rc = pcap_activate(r->p);
	if (rc < 0) {
		seterr(errbuf, "%s%s", pcap_geterr(r->p), "");
		rc = rc == PCAP_ERROR_PERM_DENIED ? -EPERM :
		     rc == PCAP_ERROR_NO_SUCH_DEVICE ? -ENODEV : -EIO;
		pcap_close(r->p);
		free(r);
		return rc;
	}
	*rp = r;
	return 0;
}

int capture_progress(const struct capture_reader *r, uint64_t *pos, uint64_t *size)
{
	FILE *f;
	struct stat st;
	off_t off;

	if (r->live || (f = pcap_file(r->p)) == NULL)
		return -ESPIPE;
	off = ftello(f);
	if (off < 0 || fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode))
		return -ESPIPE;
	*pos = (uint64_t)off;
	*size = (uint64_t)st.st_size;
	return 0;
}

int capture_linktype(const struct capture_reader *r)
{
	return pcap_datalink(r->p);
}

const char *capture_linktype_name(int dlt)
{
	const char *n = pcap_datalink_val_to_name(dlt);

	return n != NULL ? n : "unknown";
}

int capture_set_filter(struct capture_reader *r, const char *expr, char *errbuf)
{
	struct bpf_program prog;
	int rc = 0;

	if (pcap_compile(r->p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		seterr(errbuf, "%s%s", pcap_geterr(r->p), "");
		return -EINVAL;
	}
	if (pcap_setfilter(r->p, &prog) < 0) {
		seterr(errbuf, "%s%s", pcap_geterr(r->p), "");
		rc = -EINVAL;
	}
	pcap_freecode(&prog);
	return rc;
}

int capture_next(struct capture_reader *r, struct capture_pkt *p, char *errbuf)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int rc;

	rc = pcap_next_ex(r->p, &h, &data);
	switch (rc) {
	case 1:
		p->ts = h->ts;
		p->caplen = h->caplen;
		p->len = h->len;
		p->data = data;
		return 1;
	case 0:
		return -EAGAIN;
	case PCAP_ERROR_BREAK:
		/* End of file offline; pcap_breakloop() live. */
		return r->live ? -EAGAIN : 0;
	default:
		seterr(errbuf, "%s%s", pcap_geterr(r->p), "");
		return -EIO;
	}
}

void capture_break(struct capture_reader *r)
{
	pcap_breakloop(r->p);
}

uint32_t capture_dropped(struct capture_reader *r)
{
	struct pcap_stat st;

	if (!r->live || pcap_stats(r->p, &st) < 0)
		return 0;
	return st.ps_drop;
}

void capture_reader_close(struct capture_reader *r)
{
	if (r == NULL)
		return;
	pcap_close(r->p); /* fclose()s the file, before its buffer goes */
	free(r->iobuf);
	free(r);
}

/* ----------------------------------------------------- vsockmon links */

int capture_vsockmon_find(char *ifname, size_t len)
{
	DIR *d;
	struct dirent *e;
	int rc = -ENODEV;

	d = opendir("/sys/class/net");
	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX], line[32];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/type", e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(line, sizeof(line), f) != NULL && atoi(line) == ARPHRD_VSOCKMON_ &&
		    strlen(e->d_name) < len) {
			snprintf(ifname, len, "%s", e->d_name);
			rc = 0;
		}
		fclose(f);
		if (rc == 0)
			break;
	}
	closedir(d);
	return rc;
}

/* Append attribute TYPE with LEN bytes of DATA at the end of message N. */
static struct rtattr *nl_attr(struct nlmsghdr *n, size_t max, unsigned short type,
			      const void *data, size_t len)
{
	struct rtattr *a;
	size_t need = NLMSG_ALIGN(n->nlmsg_len) + RTA_SPACE(len);

	if (need > max)
		return NULL;
	a = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len > 0)
		memcpy(RTA_DATA(a), data, len);
	n->nlmsg_len = (uint32_t)need;
	return a;
}

/* Send request N and wait for its ACK; 0 or the kernel's -errno. */
static int nl_talk(struct nlmsghdr *n)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	union { struct nlmsghdr h; char b[4096]; } ans;
	int fd, rc;
	ssize_t got;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	n->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	n->nlmsg_seq = 1;
	do
		got = sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa));
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		rc = -errno;
		goto out;
	}
	do
		got = recv(fd, &ans, sizeof(ans), 0);
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		rc = -errno;
		goto out;
	}
	rc = -EPROTO;
	if (NLMSG_OK(&ans.h, (size_t)got) && ans.h.nlmsg_type == NLMSG_ERROR &&
	    ans.h.nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		const struct nlmsgerr *e = NLMSG_DATA(&ans.h);

		rc = e->error; /* 0 = ACK, else -errno */
	}
out:
	close(fd);
	return rc;
}

int capture_vsockmon_create(const char *ifname)
{
	union { struct nlmsghdr h; char b[512]; } req;
	struct ifinfomsg *ifi;
	struct rtattr *li;
	int rc;

	if (strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(*ifi));
	req.h.nlmsg_type = RTM_NEWLINK;
	req.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifi = NLMSG_DATA(&req.h);
	ifi->ifi_family = AF_UNSPEC;
	/* Up in the same request, as `ip link add ... up` does. */
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (nl_attr(&req.h, sizeof(req), IFLA_IFNAME, ifname, strlen(ifname) + 1) == NULL)
		return -EINVAL;
	li = nl_attr(&req.h, sizeof(req), IFLA_LINKINFO, NULL, 0);
	if (li == NULL || nl_attr(&req.h, sizeof(req), IFLA_INFO_KIND, "vsockmon", 8) == NULL)
		return -EINVAL;
	/* IFLA_LINKINFO nests everything appended after it. */
	li->rta_len = (unsigned short)((char *)&req.h + req.h.nlmsg_len - (char *)li);
	rc = nl_talk(&req.h);
	/* Without the module the kernel cannot resolve the kind. */
	if (rc == -EOPNOTSUPP || rc == -ENOENT)
		rc = -EOPNOTSUPP;
	return rc;
}

int capture_link_delete(const char *ifname)
{
	union { struct nlmsghdr h; char b[256]; } req;
	struct ifinfomsg *ifi;
	unsigned idx;

	idx = if_nametoindex(ifname);
	if (idx == 0)
		return -errno;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(*ifi));
	req.h.nlmsg_type = RTM_DELLINK;
	ifi = NLMSG_DATA(&req.h);
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)idx;
	return nl_talk(&req.h);
}
