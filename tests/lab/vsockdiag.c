/* vsockdiag: ask the kernel (sock_diag netlink, module vsock_diag) which
 * vsock sockets exist, so lab cases can wait for a listener without
 * connecting to it (a --once listener would take the probe as its client).
 *
 *   vsockdiag list                  one line per socket
 *   vsockdiag wait PORT [SECONDS]   exit 0 once a socket listens on PORT,
 *                                   1 after SECONDS (default 10)
 *
 * Netlink only: it never connects or sends on AF_VSOCK. */
#include <err.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/vm_sockets.h>
#include <linux/vm_sockets_diag.h>

#define ST_LISTEN 10 /* TCP_LISTEN, which vsock uses for sk_state */

struct req {
	struct nlmsghdr nlh;
	struct vsock_diag_req r;
};

static const struct {
	unsigned val;
	const char *name;
} states[] = {
	{ 1, "ESTABLISHED" }, { 2, "SYN_SENT" }, { 7, "CLOSE" },
	{ 8, "CLOSE_WAIT" },  { 9, "CLOSING" },  { ST_LISTEN, "LISTEN" },
};

static const char *state_name(unsigned v, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (states[i].val == v)
			return states[i].name;
	snprintf(buf, len, "unknown (%u)", v);
	return buf;
}

static unsigned num_arg(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v > 0xffffffffUL)
		errx(2, "invalid %s: %s", what, s);
	return (unsigned)v;
}

/* One dump. With want_port < 0 print every socket; otherwise return 1 when
 * a listening socket has that port. -1 on error (message printed). */
static int dump(long want_port)
{
	struct req q = {
		.nlh = { .nlmsg_len = sizeof(q), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.r = { .sdiag_family = AF_VSOCK, .vdiag_states = ~0u },
	};
	static char buf[32768] __attribute__((aligned(4)));
	int fd = -1, rc = -1, found = 0, done = 0;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0) {
		warn("socket AF_NETLINK NETLINK_SOCK_DIAG");
		goto out;
	}
	if (send(fd, &q, sizeof(q), 0) != (ssize_t)sizeof(q)) {
		warn("send sock_diag request");
		goto out;
	}
	while (!done) {
		ssize_t n;

		do
			n = recv(fd, buf, sizeof(buf), 0);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			warn("recv sock_diag");
			goto out;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n);
		     h = NLMSG_NEXT(h, n)) {
			const struct vsock_diag_msg *m = NLMSG_DATA(h);
			char sb[32];

			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				warnx("sock_diag: error reply (is vsock_diag loaded?)");
				goto out;
			}
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue; /* short record: not ours to trust */
			if (want_port < 0)
				printf("%s %s %u:%u -> %u:%u\n",
				       m->vdiag_type == SOCK_STREAM ? "stream" :
				       m->vdiag_type == SOCK_SEQPACKET ? "seqpacket" : "other",
				       state_name(m->vdiag_state, sb, sizeof(sb)),
				       m->vdiag_src_cid, m->vdiag_src_port,
				       m->vdiag_dst_cid, m->vdiag_dst_port);
			else if (m->vdiag_state == ST_LISTEN && m->vdiag_src_port == want_port)
				found = 1;
		}
	}
	rc = found;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "list"))
		return dump(-1) < 0;
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "wait")) {
		unsigned port = num_arg(argv[2], "port");
		unsigned secs = argc == 4 ? num_arg(argv[3], "seconds") : 10;
		const struct timespec tick = { .tv_nsec = 50 * 1000 * 1000 };

		/* Bounded: 20 polls a second for SECONDS. */
		for (unsigned i = 0; i <= secs * 20; i++) {
			int r = dump(port);

			if (r < 0)
				return 1;
			if (r > 0)
				return 0;
			nanosleep(&tick, NULL);
		}
		warnx("nothing listens on vsock port %u after %u s", port, secs);
		return 1;
	}
	fprintf(stderr, "usage: vsockdiag list | vsockdiag wait PORT [SECONDS]\n");
	return 2;
}
