/* vsk device: a vhost-user-vsock back end for QEMU (-device
 * vhost-user-vsock-pci), the host side of vsock with no vhost_vsock.ko and
 * no root.  Options follow rust-vmm's vhost-device-vsock. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "device/device.h"

static const char usage_text[] =
	"usage: vsk device [-v] [--pcap FILE] [--socket-mode MODE] [--guest-cid N] --socket PATH\n"
	"                  (--uds-path PATH | --forward-cid CID [--forward-listen P+Q])\n"
	"                  [--groups A+B] [--tx-buffer-size N] [--queue-size N]\n"
	"                  [--connect-timeout MS] [--map PORT=ADDR]... [--map-only]\n"
	"       vsk device [-v] [--pcap FILE] --vm guest-cid=N,socket=PATH,uds-path=PATH[,KEY=VALUE...]\n"
	"                  [--vm ...]\n"
	"       vsk device [-v] [--pcap FILE] --config FILE\n"
	"  --guest-cid N         the guest's CID, 3..4294967294 (default 3)\n"
	"  --socket PATH         vhost-user socket QEMU's -chardev connects to\n"
	"  --uds-path PATH       Unix back end: guest port P connects to PATH_P; host clients\n"
	"                        connect to PATH (stream) or PATH_seqpacket and say \"CONNECT <port>\\n\"\n"
	"  --forward-cid CID     vsock back end: guest port P connects to vsock CID:P\n"
	"  --forward-listen P+Q  vsock back end: listen on vsock ports P, Q for the guest's same ports\n"
	"  --groups A+B          sibling groups: guests sharing one reach each other (default \"default\")\n"
	"  --tx-buffer-size N    bytes buffered per connection toward the host, 4K..64M\n"
	"                        (default 256K)\n"
	"  --queue-size N        largest virtqueue the front end may set, a power of two\n"
	"                        1..32768 (default 1024)\n"
	"  --connect-timeout MS  hold host connections this long for the guest's driver and\n"
	"                        listener, up to 1h (default 0: closed at once; 30s too)\n"
	"  --map PORT=ADDR       guest port PORT goes to ADDR (unix:, tcp:, vsock:, hybrid:)\n"
	"  --map-only            unmapped guest ports get RST\n"
	"  --max-conns N         connections of the VM at once (default 65536; the fd limit\n"
	"                        may lower it)\n"
	"  --vm SPEC             one VM, the same keys (repeatable; several VMs in one process)\n"
	"  --config FILE         VMs from a YAML file (see vsk-device(1))\n"
	"  --pcap FILE           record every packet moved (LINKTYPE_VSOCK, for tcpdump -r;\n"
	"                        '-' = stdout, not with --json)\n"
	"  --socket-mode MODE    octal permissions of the sockets created (default 0600)\n"
	"  --threads N           serve the VMs from N event loops (1..256), one thread each\n"
	"                        (default: one per VM, at most one per online CPU)\n"
	"  --json                counters as JSON lines on stdout (docs/JSON.md)\n"
	"  -v, --verbose         log connection events\n"
	"  -h, --help            this text\n"
	"Counters are printed on SIGUSR1 and at exit (SIGINT, SIGTERM).\n";

static const char options_accepted[] =
	"--guest-cid, --socket, --uds-path, --forward-cid, --forward-listen, --groups, --tx-buffer-size, "
	"--queue-size, --connect-timeout, --map, --map-only, --max-conns, --vm, --config, --pcap, --socket-mode, "
	"--threads, --json, --verbose, --help";

static volatile sig_atomic_t want_stats, want_stop;
static int verbose;
static bool json;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		want_stats = 1;
	else
		want_stop = 1;
}

static void log_line(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level <= verbose)
		fprintf(stderr, "vsk device: %s\n", msg);
}

/* Why counters are printed: the JSON "reason" and the text's words. */
enum why { WHY_SIGNAL, WHY_FINAL, WHY_ERROR };
static const char *const why_json[] = { "signal", "final", "error" };
static const char *const why_text[] = { "on SIGUSR1", "at exit", "at the failure" };

/* One compact line per VM (and the total), stable keys: docs/JSON.md. */
static void print_stats_json(struct dev_vm *vm, const struct dev_stats *s, const struct timespec *now,
			     enum why why)
{
	printf("{");
	cli_json_time(stdout, now);
	printf(",\"reason\":\"%s\",\"total\":%s,", why_json[why], vm == NULL ? "true" : "false");
	if (vm != NULL)
		printf("\"vm\":%u,", dev_vm_cid(vm));
	printf("\"to_guest_packets\":%llu,\"from_guest_packets\":%llu,"
	       "\"to_guest_bytes\":%llu,\"from_guest_bytes\":%llu,\"connections\":%llu,"
	       "\"resets\":%llu,\"credit_stalls\":%llu,\"dropped_packets\":%llu,\"sibling_packets\":%llu}\n",
	       (unsigned long long)s->pkts_rx, (unsigned long long)s->pkts_tx,
	       (unsigned long long)s->bytes_rx, (unsigned long long)s->bytes_tx,
	       (unsigned long long)s->conns, (unsigned long long)s->resets,
	       (unsigned long long)s->stalls, (unsigned long long)s->drops,
	       (unsigned long long)s->sibling);
	fflush(stdout);
}

static void print_stats(struct dev *d, enum why why)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now); /* one time for every line of a report */
	for (int i = 0; i <= dev_vm_count(d); i++) {
		struct dev_vm *vm = i < dev_vm_count(d) ? dev_vm_at(d, i) : NULL;
		struct dev_stats s;
		char who[32];

		if (vm == NULL && dev_vm_count(d) == 1)
			break; /* the total would repeat the only VM */
		dev_get_stats(d, vm, &s);
		if (json) {
			print_stats_json(vm, &s, &now, why);
			continue;
		}
		if (vm != NULL)
			snprintf(who, sizeof(who), "vm %u", dev_vm_cid(vm));
		else
			snprintf(who, sizeof(who), "total");
		fprintf(stderr,
			"vsk device: %s: counters %s: packets %llu to guest, %llu from guest; bytes %llu to guest, "
			"%llu from guest; connections %llu; resets %llu; credit stalls %llu; dropped %llu; "
			"sibling %llu\n",
			who, why_text[why], (unsigned long long)s.pkts_rx, (unsigned long long)s.pkts_tx,
			(unsigned long long)s.bytes_rx, (unsigned long long)s.bytes_tx,
			(unsigned long long)s.conns, (unsigned long long)s.resets,
			(unsigned long long)s.stalls, (unsigned long long)s.drops,
			(unsigned long long)s.sibling);
	}
}

/* The start-up line of one VM: where QEMU and the host side connect. */
static void print_vm(const struct dev_vm_cfg *c)
{
	char back[160];

	if (c->forward)
		snprintf(back, sizeof(back), "host side vsock CID %u%s", c->forward_cid,
			 c->nforward_listen ? ", listening on vsock ports" : "");
	else if (c->uds[0])
		snprintf(back, sizeof(back), "host side %s", c->uds);
	else
		snprintf(back, sizeof(back), "host side: the port map only");
	fprintf(stderr, "vsk device: vm %u: vhost-user on %s, %s", c->cid, c->socket, back);
	for (unsigned i = 0; i < c->nforward_listen; i++)
		fprintf(stderr, "%s%u", i ? "+" : " ", c->forward_listen[i]);
	if (c->nmap)
		fprintf(stderr, ", %u port%s mapped%s", c->nmap, c->nmap == 1 ? "" : "s",
			c->map_only ? " (map only)" : "");
	if (c->groups[0])
		fprintf(stderr, ", groups %s", c->groups);
	fputc('\n', stderr);
}

/* "0600", "660", "0": octal digits only, at most 0777 (no setuid/sticky
 * bits: they mean nothing on a socket). */
static int parse_mode(const char *s, unsigned *mode)
{
	size_t n = strlen(s);
	unsigned v = 0;

	if (n == 0 || n > 4)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '7')
			return -1;
		v = v * 8 + (unsigned)(s[i] - '0');
	}
	if (v > 0777)
		return -1;
	*mode = v;
	return 0;
}

/* A per-VM flag: KEY=VAL through the same parser as --vm and --config. */
static void set_flag(struct dev_vm_cfg *one, const char *key, const char *val)
{
	char ebuf[512];

	if (dev_cfg_set(one, key, val, ebuf, sizeof(ebuf)) < 0)
		cli_usage_die("--%s: %s", key, ebuf);
}

int cmd_device(int argc, char **argv)
{
	enum { O_CID = 256, O_SOCKET, O_UDS, O_GROUPS, O_TXBUF, O_VM, O_CONFIG, O_PCAP, O_MODE, O_JSON,
	       O_QSIZE, O_FWD_CID, O_FWD_LISTEN, O_CTIMEOUT, O_MAP, O_MAP_ONLY, O_MAX_CONNS, O_THREADS };
	static const struct option longopts[] = {
		{ "guest-cid", required_argument, NULL, O_CID },
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "uds-path", required_argument, NULL, O_UDS },
		{ "forward-cid", required_argument, NULL, O_FWD_CID },
		{ "forward-listen", required_argument, NULL, O_FWD_LISTEN },
		{ "groups", required_argument, NULL, O_GROUPS },
		{ "tx-buffer-size", required_argument, NULL, O_TXBUF },
		{ "queue-size", required_argument, NULL, O_QSIZE },
		{ "connect-timeout", required_argument, NULL, O_CTIMEOUT },
		{ "map", required_argument, NULL, O_MAP },
		{ "map-only", no_argument, NULL, O_MAP_ONLY },
		{ "max-conns", required_argument, NULL, O_MAX_CONNS },
		{ "vm", required_argument, NULL, O_VM },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "pcap", required_argument, NULL, O_PCAP },
		{ "socket-mode", required_argument, NULL, O_MODE },
		{ "json", no_argument, NULL, O_JSON },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct dev_cfgs cfgs;
	static struct dev_vm_cfg one;
	const char *config = NULL, *pcap = NULL, *mode_arg = NULL, **vms = calloc((size_t)argc, sizeof(*vms));
	struct dev_vm_cfg *cfg;
	unsigned mode = DEV_SOCKET_MODE_DEFAULT, threads = 0;
	bool single = false;
	int nvm = 0, ncfg, c, rc;
	char ebuf[512];
	struct sigaction sa;
	struct dev *d = NULL;

	dev_cfg_init(&one);
	optind = 1;
	opterr = 0; /* our own one-line messages */
	while ((c = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
		const char *key = NULL;

		switch (c) {
		case O_CID:
			one.cid = cli_cid("--guest-cid", optarg, 3, VSK_CID_ANY - 1);
			single = true;
			break;
		case O_SOCKET:
			if (strlen(optarg) >= sizeof(one.socket))
				cli_usage_die("--socket path too long: %s", optarg);
			key = "socket";
			break;
		case O_UDS:
			if (strlen(optarg) >= sizeof(one.uds))
				cli_usage_die("--uds-path too long: %s", optarg);
			key = "uds-path";
			break;
		case O_FWD_CID:
			one.forward_cid = cli_cid("--forward-cid", optarg, 0, VSK_CID_ANY - 1);
			one.forward = true;
			single = true;
			break;
		case O_FWD_LISTEN:
			key = "forward-listen";
			break;
		case O_GROUPS:
			key = "groups";
			break;
		case O_TXBUF:
			one.tx_buf = (uint32_t)cli_size("--tx-buffer-size", optarg, DEV_TX_BUF_MIN, DEV_TX_BUF_MAX);
			single = true;
			break;
		case O_QSIZE:
			one.queue_size = (uint32_t)cli_count("--queue-size", optarg, 1, VQ_MAX_NUM);
			single = true;
			break;
		case O_CTIMEOUT:
			one.connect_timeout_ms = (uint32_t)cli_duration_ms("--connect-timeout", optarg, 1, 0,
									   DEV_CONNECT_TIMEOUT_MAX);
			single = true;
			break;
		case O_MAP:
			key = "map";
			break;
		case O_MAP_ONLY:
			one.map_only = true;
			single = true;
			break;
		case O_MAX_CONNS:
			key = "max-conns";
			break;
		case O_VM:
			vms[nvm++] = optarg; /* at most argc of them */
			break;
		case O_CONFIG:
			config = optarg;
			break;
		case O_PCAP:
			pcap = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case O_MODE:
			mode_arg = optarg;
			break;
		case O_THREADS:
			threads = (unsigned)cli_count("--threads", optarg, 1, 256);
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			free(vms);
			return cli_usage(usage_text, true);
		case ':':
			cli_usage_die("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt != 0)
				cli_usage_die("unknown option '-%c' (accepted: %s)", optopt, options_accepted);
			cli_usage_die("unknown option '%s' (accepted: %s)", argv[optind - 1], options_accepted);
		}
		if (key != NULL) {
			set_flag(&one, key, optarg);
			single = true;
		}
	}
	if (optind < argc)
		cli_usage_die("unexpected argument '%s' (a VM is given by options)", argv[optind]);
	/* Both on stdout, the counter lines would corrupt the pcap stream. */
	if (pcap != NULL && strcmp(pcap, "-") == 0 && json)
		return cli_usage_err("--pcap - writes pcap to stdout; it cannot also carry --json's counter lines");
	if (single + (nvm > 0) + (config != NULL) > 1)
		cli_usage_die("use one of the per-VM flags (--guest-cid, --socket, ...), --vm, --config");
	if (vms == NULL)
		err(1, "device setup");
	if (single) {
		if (dev_cfg_check(&one, 1, ebuf, sizeof(ebuf)) < 0)
			cli_usage_die("%s", ebuf);
		if ((cfg = dev_cfgs_add(&cfgs)) == NULL)
			err(1, "device setup");
		*cfg = one;
	}
	for (int i = 0; i < nvm; i++) {
		if ((cfg = dev_cfgs_add(&cfgs)) == NULL)
			err(1, "device setup");
		if (dev_cfg_parse_vm(vms[i], cfg, ebuf, sizeof(ebuf)) < 0)
			cli_usage_die("--vm %s: %s", vms[i], ebuf);
	}
	free(vms);
	if (config != NULL) {
		rc = dev_cfg_parse_file(config, &cfgs, ebuf, sizeof(ebuf));
		/* An unreadable file is a failure; a malformed one a usage error. */
		if (rc < 0)
			errx(rc == -EINVAL ? EXIT_USAGE : 1, "--config %s", ebuf);
	}
	cfg = cfgs.v;
	ncfg = cfgs.n;
	if (mode_arg != NULL && parse_mode(mode_arg, &mode) < 0)
		cli_usage_die("--socket-mode %s: expected octal permissions 0 to 0777, e.g. 0600 or 0660",
		     mode_arg);
	if (ncfg == 0)
		return cli_usage_err("no VM given: --socket PATH --uds-path PATH [--guest-cid N], --vm, or --config");
	if (dev_cfg_check(cfg, ncfg, ebuf, sizeof(ebuf)) < 0)
		cli_usage_die("%s", ebuf);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: the loop must wake */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	cli_raise_nofile(); /* a connection is an fd: the device shares the limit among its VMs */
	rc = dev_create(&d, log_line, NULL);
	if (rc < 0) {
		errno = -rc;
		err(1, "device setup");
	}
	dev_set_socket_mode(d, mode); /* checked above */
	if (threads == 0) {
		/* A loop per VM, as many as there are CPUs to run them: a busy
		 * guest then never waits for another's work (2 busy VMs on 2
		 * CPUs: 1.25-2.2x with two loops, bench/device-scale). */
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		threads = (unsigned)(cpus > 0 && cpus < ncfg ? cpus : ncfg);
		if (threads > 256)
			threads = 256;
	}
	rc = dev_set_threads(d, threads);
	if (rc < 0) {
		dev_destroy(d);
		errno = -rc;
		err(1, "device setup: %u threads", threads);
	}
	if (pcap != NULL && dev_set_pcap(d, pcap, ebuf, sizeof(ebuf)) < 0) {
		dev_destroy(d);
		errx(1, "pcap %s", ebuf);
	}
	for (int i = 0; i < ncfg; i++) {
		if (dev_add_vm(d, &cfg[i], NULL, ebuf, sizeof(ebuf)) < 0) {
			dev_destroy(d);
			errx(1, "vm %u: %s", cfg[i].cid, ebuf);
		}
		print_vm(&cfg[i]);
	}
	rc = dev_start(d);
	if (rc < 0) {
		dev_destroy(d);
		errno = -rc;
		err(1, "device: starting %u worker threads", threads - 1);
	}
	/* Under systemd (Type=notify): started once every socket listens. */
	snprintf(ebuf, sizeof(ebuf), "READY=1\nSTATUS=serving %d VM%s", ncfg, ncfg == 1 ? "" : "s");
	rc = vsk_sd_notify(ebuf);
	if (rc < 0)
		fprintf(stderr, "vsk device: sd_notify: %s\n", strerror(-rc));
	while (!want_stop) {
		if (want_stats) {
			want_stats = 0;
			print_stats(d, WHY_SIGNAL);
		}
		rc = dev_run_once(d, -1);
		if (rc < 0) {
			print_stats(d, WHY_ERROR);
			dev_destroy(d);
			errno = -rc;
			err(1, "epoll_wait");
		}
	}
	vsk_sd_notify("STOPPING=1");
	print_stats(d, WHY_FINAL);
	dev_destroy(d);
	dev_cfgs_free(&cfgs);
	return 0;
}
