/* addr: the one parser for every address kind vsk speaks.
 *
 *   vsock:CID:PORT      CID = number | host (2) | local (1) | hypervisor (0) | any
 *   vsock-seq:CID:PORT  the same, SOCK_SEQPACKET
 *   hybrid:PATH:PORT    Firecracker / vhost-device-vsock Unix-socket protocol
 *   hybrid-seq:PATH:PORT  the same with SOCK_SEQPACKET (vsk device's
 *                       "<uds>_seqpacket")
 *   unix:PATH           (unix:@NAME for the abstract namespace)
 *   tcp:HOST:PORT       HOST may be [v6addr]; empty HOST = wildcard/loopback
 *   -                   stdin/stdout
 *
 * and the abstract Unix names `vsk device` gives its guest connections
 * (vsk_hybrid_peer_name/_parse), which read back as CID:PORT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "vsk.h"

static const struct {
	const char *name;
	uint32_t cid;
} cid_names[] = {
	{ "any", VSK_CID_ANY },
	{ "-1", VSK_CID_ANY },
	{ "hypervisor", VSK_CID_HYPERVISOR },
	{ "local", VSK_CID_LOCAL },
	{ "host", VSK_CID_HOST },
};

static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

const char *addr_elide(const char *s, char *buf, size_t len)
{
	size_t n = strlen(s), head, tail;

	if (len == 0)
		return buf;
	if (n < len || len < 8) {
		snprintf(buf, len, "%s", s);
		return buf;
	}
	/* Two thirds from the start, the rest from the end. */
	head = (len - 4) * 2 / 3;
	tail = len - 4 - head;
	snprintf(buf, len, "%.*s...%s", (int)head, s, s + n - tail);
	return buf;
}

int addr_parse_u32(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 10)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_cid(const char *s, size_t n, uint32_t *cid)
{
	for (size_t i = 0; i < sizeof(cid_names) / sizeof(cid_names[0]); i++)
		if (strlen(cid_names[i].name) == n && !strncmp(s, cid_names[i].name, n)) {
			*cid = cid_names[i].cid;
			return 0;
		}
	return addr_parse_u32(s, n, cid);
}

static int parse_port(const char *s, size_t n, uint32_t *port, bool allow_any)
{
	if (allow_any && n == 3 && !strncmp(s, "any", 3)) {
		*port = VSK_PORT_ANY;
		return 0;
	}
	return addr_parse_u32(s, n, port);
}

static int parse_vsock(const char *text, const char *rest, struct vsk_addr *a, char *errbuf,
		       size_t errlen)
{
	const char *colon = strchr(rest, ':');
	const char *scheme = a->kind == VSK_ADDR_VSOCK_SEQ ? "vsock-seq" : "vsock";

	if (colon == NULL || strchr(colon + 1, ':') != NULL)
		return fail(errbuf, errlen,
			    "invalid address '%s': expected %s:CID:PORT (CID a number, host, local or any; PORT a number or any)",
			    text, scheme);
	if (parse_cid(rest, (size_t)(colon - rest), &a->cid) < 0)
		return fail(errbuf, errlen,
			    "invalid CID in '%s': expected a number 0..4294967295, host (2), local (1), hypervisor (0) or any",
			    text);
	if (parse_port(colon + 1, strlen(colon + 1), &a->port, true) < 0)
		return fail(errbuf, errlen,
			    "invalid port in '%s': expected a number 0..4294967295 or any", text);
	return 0;
}

static int parse_path(const char *text, const char *path, size_t n, size_t reserve,
		      struct vsk_addr *a, char *errbuf, size_t errlen)
{
	if (n == 0)
		return fail(errbuf, errlen, "invalid address '%s': the socket path is empty", text);
	if (n + reserve >= sizeof(a->path))
		return fail(errbuf, errlen,
			    "invalid address '%s': socket path too long (%zu bytes, at most %zu)",
			    text, n, sizeof(a->path) - 1 - reserve);
	memcpy(a->path, path, n);
	a->path[n] = '\0';
	return 0;
}

static int parse_hybrid(const char *text, const char *rest, struct vsk_addr *a, char *errbuf,
			size_t errlen)
{
	const char *colon = strrchr(rest, ':');
	/* A hybrid listener binds "PATH_PORT": leave room for "_4294967295". */
	const size_t suffix = 11;

	const char *scheme = a->kind == VSK_ADDR_HYBRID_SEQ ? "hybrid-seq" : "hybrid";

	if (colon == NULL)
		return fail(errbuf, errlen, "invalid address '%s': expected %s:PATH:PORT", text, scheme);
	if (addr_parse_u32(colon + 1, strlen(colon + 1), &a->port) < 0)
		return fail(errbuf, errlen,
			    "invalid port in '%s': expected %s:PATH:PORT with PORT a number 0..4294967295",
			    text, scheme);
	return parse_path(text, rest, (size_t)(colon - rest), suffix, a, errbuf, errlen);
}

static int parse_tcp(const char *text, const char *rest, struct vsk_addr *a, char *errbuf,
		     size_t errlen)
{
	const char *host = rest, *colon;
	size_t hlen;
	uint32_t port;

	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');
		if (close == NULL || close[1] != ':')
			return fail(errbuf, errlen,
				    "invalid address '%s': expected tcp:[IPV6]:PORT", text);
		host = rest + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(rest, ':');
		if (colon == NULL)
			return fail(errbuf, errlen, "invalid address '%s': expected tcp:HOST:PORT",
				    text);
		hlen = (size_t)(colon - rest);
		if (memchr(rest, ':', hlen) != NULL)
			return fail(errbuf, errlen,
				    "invalid address '%s': write an IPv6 host in brackets, tcp:[::1]:PORT",
				    text);
	}
	if (addr_parse_u32(colon + 1, strlen(colon + 1), &port) < 0 || port > 65535)
		return fail(errbuf, errlen, "invalid port in '%s': expected a number 0..65535", text);
	if (hlen >= sizeof(a->host))
		return fail(errbuf, errlen, "invalid address '%s': host name too long (%zu bytes, at most %zu)", text,
			    hlen, sizeof(a->host) - 1);
	memcpy(a->host, host, hlen);
	a->host[hlen] = '\0';
	a->port = port;
	snprintf(a->service, sizeof(a->service), "%" PRIu32, port);
	return 0;
}

int vsk_addr_parse(const char *text, struct vsk_addr *a, char *errbuf, size_t errlen)
{
	char shown[ADDR_SHOW_MAX];
	static const char expected[] =
		"expected vsock:CID:PORT, vsock-seq:CID:PORT, hybrid:PATH:PORT, hybrid-seq:PATH:PORT, unix:PATH, "
		"tcp:HOST:PORT or -";

	if (text == NULL || a == NULL)
		return fail(errbuf, errlen, "no address given: %s", expected);
	memset(a, 0, sizeof(*a));
	/* The parsers below use TEXT for their messages only. */
	addr_elide(text, shown, sizeof(shown));
	a->cid = VSK_CID_ANY;
	a->port = VSK_PORT_ANY;

	if (!strcmp(text, "-")) {
		a->kind = VSK_ADDR_STDIO;
		return 0;
	}
	if (!strncmp(text, "vsock:", 6)) {
		a->kind = VSK_ADDR_VSOCK;
		return parse_vsock(shown, text + 6, a, errbuf, errlen);
	}
	if (!strncmp(text, "vsock-seq:", 10)) {
		a->kind = VSK_ADDR_VSOCK_SEQ;
		return parse_vsock(shown, text + 10, a, errbuf, errlen);
	}
	if (!strncmp(text, "hybrid:", 7)) {
		a->kind = VSK_ADDR_HYBRID;
		return parse_hybrid(shown, text + 7, a, errbuf, errlen);
	}
	if (!strncmp(text, "hybrid-seq:", 11)) {
		a->kind = VSK_ADDR_HYBRID_SEQ;
		return parse_hybrid(shown, text + 11, a, errbuf, errlen);
	}
	if (!strncmp(text, "unix:", 5)) {
		a->kind = VSK_ADDR_UNIX;
		return parse_path(shown, text + 5, strlen(text + 5), 0, a, errbuf, errlen);
	}
	if (!strncmp(text, "tcp:", 4)) {
		a->kind = VSK_ADDR_TCP;
		return parse_tcp(shown, text + 4, a, errbuf, errlen);
	}
	return fail(errbuf, errlen, "invalid address '%s': %s", shown, expected);
}

const char *vsk_cid_str(uint32_t cid, char *buf, size_t len)
{
	if (cid == VSK_CID_ANY)
		snprintf(buf, len, "any");
	else
		snprintf(buf, len, "%" PRIu32, cid);
	return buf;
}

static const char *port_str(uint32_t port, char *buf, size_t len)
{
	if (port == VSK_PORT_ANY)
		snprintf(buf, len, "any");
	else
		snprintf(buf, len, "%" PRIu32, port);
	return buf;
}

const char *vsk_addr_format(const struct vsk_addr *a, char *buf, size_t len)
{
	char c[16], p[16];

	switch (a->kind) {
	case VSK_ADDR_VSOCK:
	case VSK_ADDR_VSOCK_SEQ:
		snprintf(buf, len, "%s:%s:%s", a->kind == VSK_ADDR_VSOCK ? "vsock" : "vsock-seq",
			 vsk_cid_str(a->cid, c, sizeof(c)), port_str(a->port, p, sizeof(p)));
		break;
	case VSK_ADDR_HYBRID:
	case VSK_ADDR_HYBRID_SEQ:
		snprintf(buf, len, "%s:%s:%" PRIu32, a->kind == VSK_ADDR_HYBRID ? "hybrid" : "hybrid-seq", a->path,
			 a->port);
		break;
	case VSK_ADDR_UNIX:
		snprintf(buf, len, "unix:%s", a->path);
		break;
	case VSK_ADDR_TCP:
		/* Brackets also for a host that starts with '[' ("tcp:[[]:1"):
		 * unbracketed, the parser would take it for an IPv6 literal. */
		if (strchr(a->host, ':') != NULL || a->host[0] == '[')
			snprintf(buf, len, "tcp:[%s]:%s", a->host, a->service);
		else
			snprintf(buf, len, "tcp:%s:%s", a->host, a->service);
		break;
	case VSK_ADDR_STDIO:
		snprintf(buf, len, "-");
		break;
	default:
		snprintf(buf, len, "unknown (%d)", (int)a->kind);
		break;
	}
	return buf;
}

int vsk_addr_socktype(const struct vsk_addr *a)
{
	return a->kind == VSK_ADDR_VSOCK_SEQ || a->kind == VSK_ADDR_HYBRID_SEQ ? SOCK_SEQPACKET : SOCK_STREAM;
}

/* `vsk device` binds the Unix socket it connects to "<uds>_<port>" to an
 * abstract name that carries the guest endpoint, so a host listener can
 * name the caller as a vsock address.  The name is an address format, so
 * it lives here with the others; the CONNECT/OK handshake (hybrid.c) is a
 * protocol on top of sockets and uses this module, never the reverse. */
/* Abstract name "\0vsk-hybrid:<nonce>:<cid>:<port>". */
static const char peer_prefix[] = "vsk-hybrid:";

socklen_t vsk_hybrid_peer_name(struct sockaddr_un *sun, uint32_t cid, uint32_t port, uint64_t nonce)
{
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "%s%" PRIx64 ":%" PRIu32 ":%" PRIu32,
		     peer_prefix, nonce, cid, port);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

int vsk_hybrid_peer_parse(const struct sockaddr *sa, socklen_t len, uint32_t *cid, uint32_t *port)
{
	const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
	size_t off = offsetof(struct sockaddr_un, sun_path), n, pl = sizeof(peer_prefix) - 1;
	char name[sizeof(un->sun_path)];
	char *p, *end;
	unsigned long long c, pt;

	if (sa == NULL || sa->sa_family != AF_UNIX || (size_t)len <= off + 1 + pl ||
	    (size_t)len > sizeof(*un) || un->sun_path[0] != '\0')
		return -EINVAL;
	n = (size_t)len - off - 1;
	memcpy(name, un->sun_path + 1, n);
	name[n] = '\0';
	if (strncmp(name, peer_prefix, pl) != 0)
		return -EINVAL;
	p = strchr(name + pl, ':');
	if (p == NULL)
		return -EINVAL;
	errno = 0;
	c = strtoull(p + 1, &end, 10);
	if (end == p + 1 || *end != ':' || c > UINT32_MAX)
		return -EINVAL;
	p = end + 1;
	pt = strtoull(p, &end, 10);
	if (end == p || *end != '\0' || pt > UINT32_MAX || errno != 0)
		return -EINVAL;
	*cid = (uint32_t)c;
	*port = (uint32_t)pt;
	return 0;
}

const char *vsk_sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
	char ip[INET6_ADDRSTRLEN];
	uint32_t cid, port;

	if (sa == NULL || len < (socklen_t)sizeof(sa_family_t)) {
		snprintf(buf, buflen, "unknown");
		return buf;
	}
	switch (sa->sa_family) {
	case AF_VSOCK: {
		const struct sockaddr_vm *vm = (const struct sockaddr_vm *)sa;
		if (len < (socklen_t)sizeof(*vm))
			break;
		snprintf(buf, buflen, "%" PRIu32 ":%" PRIu32, vm->svm_cid, vm->svm_port);
		return buf;
	}
	case AF_INET: {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		if (len < (socklen_t)sizeof(*in))
			break;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, buflen, "%s:%u", ip, ntohs(in->sin_port));
		return buf;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (len < (socklen_t)sizeof(*in6))
			break;
		/* An IPv4 peer of a dual-stack listener (tcp::PORT) reads as IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof(ip));
			snprintf(buf, buflen, "%s:%u", ip, ntohs(in6->sin6_port));
			return buf;
		}
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, buflen, "[%s]:%u", ip, ntohs(in6->sin6_port));
		return buf;
	}
	case AF_UNIX: {
		const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
		size_t n = (size_t)len - offsetof(struct sockaddr_un, sun_path);
		if (vsk_hybrid_peer_parse(sa, len, &cid, &port) == 0) {
			snprintf(buf, buflen, "%" PRIu32 ":%" PRIu32, cid, port);
			return buf;
		}
		if (n == 0 || (size_t)len <= offsetof(struct sockaddr_un, sun_path))
			snprintf(buf, buflen, "unix");
		else if (un->sun_path[0] == '\0')
			snprintf(buf, buflen, "unix:@%.*s", (int)(n - 1), un->sun_path + 1);
		else
			snprintf(buf, buflen, "unix:%.*s", (int)strnlen(un->sun_path, n), un->sun_path);
		return buf;
	}
	default:
		snprintf(buf, buflen, "family %d", sa->sa_family);
		return buf;
	}
	snprintf(buf, buflen, "unknown");
	return buf;
}
