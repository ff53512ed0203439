/* vsk listen: the nc-like server, many clients at once in one relay.
 *
 * Modes, one per run:
 *   default    each client's data goes to stdout (or -o FILE); the server
 *              sends nothing and shuts its sending side at once, so a peer
 *              waiting for a reply sees EOF.  stdin is not read.  With
 *              --once the connection is closed only when all of the
 *              client's data is out (a failed output resets it), and
 *              with --stdin stdin goes to the client (EOF: shutdown).
 *   --echo     each client's data goes back to it.
 *   --exec CMD /bin/sh -c CMD per client, its stdin/stdout piped to the
 *              connection through the relay (byte counts, half-close).
 * With several clients, output chunks interleave as they arrive (each
 * chunk, or SEQPACKET message, is written whole).  --once serves the first
 * client and exits: 0 if its connection ended cleanly, 1 if not; with
 * --exec the command's exit status.
 *
 * SIGINT, SIGTERM and SIGHUP stop the loop (a self-pipe the relay
 * watches); the Unix socket file we bound is removed and the exit is 0.
 *
 * Nothing waits in the loop: a pipe or socket on stdout is written without
 * blocking, one chunk at a time (what does not fit waits in a buffer until
 * stdout is writable, and the clients' data meanwhile in theirs), so a
 * slow reader of the output slows the clients down but never stops the
 * accepting, --echo or --exec ones.  Out of fds, accepting pauses for
 * 100 ms on a timer.
 * --systemd takes the listening socket from systemd socket activation
 * (fd 3, LISTEN_FDS=1) instead of ADDR.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cli_serve.h"
#include "relay.h"

static const char usage_text[] =
	"usage: vsk listen [-v] [--once [-N]] [--echo | --exec CMD | -o FILE] ADDR | --systemd\n"
	"  Accept connections on ADDR, many at once.  By default every client's\n"
	"  data is written to stdout and the server sends nothing.\n"
	"  -o, --output FILE  write received data to FILE instead of stdout\n"
	"  --echo             send each client's data back to it\n"
	"  -e, --exec CMD     run /bin/sh -c CMD per client, stdin/stdout to it\n"
	"                     (the peer address is in $VSK_PEER)\n"
	"  --once             serve one client, then exit (with --exec: its status)\n"
	"  -N, --stdin        with --once: send stdin to the client, shut down\n"
	"                     the sending side at stdin EOF (nc -l -N)\n"
	"  -k, --keep-open    serve clients until a signal stops it (default)\n"
	"  --systemd          accept on the socket systemd passed (LISTEN_FDS),\n"
	"                     not on ADDR\n"
	"  -v, --verbose      report each client and its byte counts on stderr\n"
	"  -h, --help         this text\n"
	"ADDR is a socket address ('-' is not: for stdin/stdout to one client\n"
	"use --once -N, or 'vsk proxy ADDR -').  SIGINT/SIGTERM/SIGHUP: exit 0,\n"
	"the Unix socket file removed.\n";

enum mode { MODE_SINK, MODE_ECHO, MODE_EXEC };

struct server {
	struct relay *r;
	struct vsk_addr addr;
	char text[VSK_PATH_MAX + 64];
	enum mode mode;
	const char *cmd;
	const char *outname;
	int lfd, out;
	bool once, verbose, send_stdin;
	struct cli_sockfile sf; /* the socket file we bound, removed at exit */
	pid_t once_pid;   /* --once --exec: the command, waited for at exit */
	int cmd_status;   /* ... and its exit status, -1 until known */
	pid_t *kids;      /* --exec commands not reaped yet, each its own */
	int nchild, kcap; /* process group: a stop ends what they started too */
	bool ending;      /* a stop ends them: their signal is not news */
	bool reap_armed;  /* a timer will look for ended commands again */
	int out_err;      /* errno of a failed output write: fatal */
	char *pend;       /* the rest of a chunk stdout did not take yet */
	size_t pend_off, pend_len;
	int served;
	int last_err;     /* errno the last connection ended with */
};

struct client {
	char peer[160];
	pid_t pid;
};

/* stdout's flags, given back at exit (a signal stops the loop first,
 * cli_serve.h; a second one kills, after on_kill gave them back). */
static int out_fd = -1, out_flags;

static void restore_out(void)
{
	if (out_fd >= 0)
		fcntl(out_fd, F_SETFL, out_flags);
}

/* From the signal handler: fcntl is async-signal-safe. */
static void on_kill(void)
{
	restore_out();
}

/* A pipe or socket on stdout is written without blocking (a regular file
 * or a terminal as before: those do not make a loop wait on a reader). */
static void out_nonblock(int fd)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || (fl & O_NONBLOCK) || fstat(fd, &st) < 0 ||
	    !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return;
	out_fd = fd;
	out_flags = fl;
	if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		out_fd = -1;
}

/* write() what fits: bytes written (EAGAIN: 0) or -errno. */
static ssize_t out_write(int fd, const char *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static void out_failed(struct server *s, int err)
{
	if (s->out_err == 0)
		s->out_err = err;
	relay_stop(s->r);
}

static void on_out_writable(void *ctx, int fd)
{
	struct server *s = ctx;
	ssize_t n = out_write(fd, s->pend + s->pend_off, s->pend_len);

	if (n < 0) {
		out_failed(s, (int)-n);
		return;
	}
	s->pend_off += (size_t)n;
	s->pend_len -= (size_t)n;
	if (s->pend_len > 0)
		return;
	free(s->pend);
	s->pend = NULL;
	relay_unwatch(s->r, fd);
	relay_sink_ready(s->r);
}

/* Output shared by all clients, each chunk written whole and alone: while
 * one is still going out, the others wait (-EAGAIN). */
static int sink_out(void *ctx, const void *buf, size_t len)
{
	struct server *s = ctx;
	ssize_t n;

	if (s->out_err != 0)
		return -s->out_err;
	/* Also the EOF waits for the pending chunk: with --once the client's
	 * connection ends only when all of its data is out (or failed). */
	if (s->pend != NULL)
		return -EAGAIN;
	if (len == 0)
		return 0;
	n = out_write(s->out, buf, len);
	if (n < 0) {
		out_failed(s, (int)-n);
		return (int)n;
	}
	if ((size_t)n == len)
		return 0;
	s->pend = malloc(len - (size_t)n);
	if (s->pend == NULL) {
		out_failed(s, ENOMEM);
		return -ENOMEM;
	}
	memcpy(s->pend, (const char *)buf + n, len - (size_t)n);
	s->pend_off = 0;
	s->pend_len = len - (size_t)n;
	if (relay_watch_events(s->r, s->out, EPOLLOUT, on_out_writable, s) < 0) {
		out_failed(s, EIO);
		return -EIO;
	}
	return 0;
}

/* A command ended: its status as a shell gives it (128+N: signal N);
 * a failure is one line even without -v (but --once exits with it). */
static void reaped(struct server *s, pid_t pid, int st)
{
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;

	for (int i = 0; i < s->nchild; i++)
		if (s->kids[i] == pid) {
			s->kids[i] = s->kids[--s->nchild];
			break;
		}
	if (pid == s->once_pid) {
		s->cmd_status = code;
		s->once_pid = 0;
	}
	/* With --once the exit status says it. */
	if (s->ending || (!s->verbose && (code == 0 || s->once)))
		return;
	if (WIFEXITED(st))
		fprintf(stderr, "vsk: command (pid %d) exited %d\n", (int)pid, code);
	else if (WIFSIGNALED(st))
		fprintf(stderr, "vsk: command (pid %d) killed by signal %d\n", (int)pid, WTERMSIG(st));
}

static void reap(struct server *s);

static void on_reap_timer(void *ctx)
{
	struct server *s = ctx;

	s->reap_armed = false;
	reap(s);
}

/* The commands that have ended by now. */
static void reap_ended(struct server *s)
{
	pid_t pid;
	int st;

	while (s->nchild > 0 && (pid = waitpid(-1, &st, WNOHANG)) > 0)
		reaped(s, pid, st);
}

/* A command may exit after its connection ended: while more commands run
 * than connections, look again every 100 ms (its status is logged). */
static void reap(struct server *s)
{
	reap_ended(s);
	if (s->nchild > relay_count(s->r) && !s->reap_armed && !s->once &&
	    relay_after(s->r, 100, on_reap_timer, s) != NULL)
		s->reap_armed = true;
}

/* /bin/sh -c CMD with stdin and stdout on two new pipes. */
static int spawn(const struct server *s, const char *peer, int *to_child, int *from_child,
		 pid_t *pidp)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	sigset_t stop, old;
	pid_t pid;
	int rc = 0;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		rc = -errno;
		goto fail;
	}
	/* Our stop handler must never run in the child (it would stop the
	 * server): the stop signals wait, blocked, until the child has the
	 * default actions back. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, &old);
	pid = fork();
	if (pid == 0) {
		/* SIG_IGN survives exec; the command gets the usual SIGPIPE. */
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0)
			_exit(127);
		/* Its own process group, so a stop reaches what it starts. */
		setpgid(0, 0);
		setenv("VSK_PEER", peer, 1);
		execl("/bin/sh", "sh", "-c", s->cmd, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		rc = -errno;
	else
		setpgid(pid, pid); /* also here: whichever runs first */
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		goto fail;
	close(in[0]);
	close(out[1]);
	*to_child = in[1];
	*from_child = out[0];
	*pidp = pid;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return rc;
}

static void serve_client(struct server *s, int cfd, const char *peer)
{
	struct relay_end a = { .rd = cfd, .wr = cfd }, b = { .rd = -1, .wr = -1 };
	struct client *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL) {
		warnx("accept %s: out of memory, client %s dropped", s->text, peer);
		s->last_err = ENOMEM;
		close(cfd);
		return;
	}
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	switch (s->mode) {
	case MODE_SINK:
		b.sink = sink_out;
		b.sink_ctx = s;
		if (s->send_stdin)
			b.rd = STDIN_FILENO;
		else if (s->once)
			a.wr = -1; /* no early shutdown: the close says all went out */
		break;
	case MODE_ECHO:
		a.wr = -1; /* the client's data goes out through B, its own fd */
		b.wr = cfd;
		break;
	case MODE_EXEC:
		rc = 0;
		if (s->nchild == s->kcap) {
			int cap = s->kcap > 0 ? 2 * s->kcap : 16;
			pid_t *k = realloc(s->kids, (size_t)cap * sizeof(*k));

			if (k == NULL) {
				rc = -ENOMEM;
			} else {
				s->kids = k;
				s->kcap = cap;
			}
		}
		if (rc == 0)
			rc = spawn(s, peer, &b.wr, &b.rd, &c->pid);
		if (rc < 0) {
			errno = -rc;
			warn("exec for %s", peer);
			s->last_err = -rc;
			close(cfd);
			free(c);
			return;
		}
		s->kids[s->nchild++] = c->pid;
		if (s->once)
			s->once_pid = c->pid;
		break;
	}
	rc = relay_add(s->r, &a, &b, c);
	if (rc < 0) {
		errno = -rc;
		warn("relay for %s", peer);
		s->last_err = -rc;
		free(c);
	}
}

static void on_accept(void *ctx, int lfd);

static void on_resume(void *ctx)
{
	struct server *s = ctx;

	if (s->lfd >= 0 && relay_watch(s->r, s->lfd, on_accept, s) < 0)
		warnx("accept %s: cannot watch the listening socket again", s->text);
}

static void on_accept(void *ctx, int lfd)
{
	struct server *s = ctx;
	char peer[160];

	/* Level-triggered: a bounded batch, the rest on the next round. */
	for (int i = 0; i < 64 && s->lfd >= 0; i++) {
		int cfd = vsk_accept(lfd, peer, sizeof(peer), SOCK_NONBLOCK);
		if (cfd == -EAGAIN)
			break;
		if (cfd < 0) {
			errno = -cfd;
			warn("accept %s", s->text);
			/* Out of fds: pause on a timer instead of spinning on
			 * the ready socket (the clients keep being served). */
			if ((cfd == -EMFILE || cfd == -ENFILE) && relay_unwatch(s->r, lfd) == 0 &&
			    relay_after(s->r, 100, on_resume, s) == NULL)
				relay_watch(s->r, lfd, on_accept, s);
			break;
		}
		if (s->verbose)
			fprintf(stderr, "vsk: connection from %s\n", peer);
		s->served++;
		if (s->once) {
			/* Exactly one client: later ones are refused, not queued. */
			relay_unwatch(s->r, s->lfd);
			close(s->lfd);
			s->lfd = -1;
		}
		serve_client(s, cfd, peer);
	}
	if (s->mode == MODE_EXEC)
		reap(s);
}

static void on_event(void *ctx, enum relay_event ev, const struct relay_info *info)
{
	struct server *s = ctx;
	struct client *c = info->udata;

	if (ev != RELAY_DONE)
		return;
	s->last_err = info->err;
	/* A failed output is said once, naming it, at exit. */
	if (info->err != 0 && (s->verbose || s->once) && s->out_err == 0)
		warnx("connection from %s: %s %s: %s", c->peer, info->op ? info->op : "relay",
		      info->side == 'a' ? "client" : s->mode == MODE_EXEC ? "command" :
		      s->send_stdin && info->op != NULL && !strcmp(info->op, "read") ? "stdin" : "output",
		      strerror(info->err));
	if (s->verbose && s->mode == MODE_ECHO)
		fprintf(stderr, "vsk: connection from %s closed: %" PRIu64 " bytes echoed\n", c->peer,
			info->a_to_b);
	else if (s->verbose)
		fprintf(stderr, "vsk: connection from %s closed: %" PRIu64 " bytes received, %" PRIu64
			" sent\n", c->peer, info->a_to_b, info->b_to_a);
	free(c);
	if (s->mode == MODE_EXEC)
		reap(s);
	/* The one client is done; the signal pipe alone keeps nothing going. */
	if (s->once && s->lfd < 0)
		relay_stop(s->r);
}

/* --once --exec: the command may outlive its stdout; its status is ours. */
static void wait_once(struct server *s)
{
	int st;
	pid_t pid;

	while (s->once_pid > 0 && !cli_stop_signal()) {
		pid = waitpid(s->once_pid, &st, 0);
		if (pid == s->once_pid)
			reaped(s, pid, st);
		else if (pid < 0 && errno != EINTR)
			break;
	}
}

/* Stopped by a signal: the commands still running, and what they started,
 * get SIGTERM (SIGKILL after 2 s), so none outlives the server. */
static void end_kids(struct server *s)
{
	pid_t pid;
	int st;

	s->ending = true;
	for (int i = 0; i < s->nchild; i++)
		kill(-s->kids[i], SIGTERM);
	for (int t = 0; t < 200 && s->nchild > 0; t++) {
		reap_ended(s);
		if (s->nchild > 0)
			usleep(10000);
	}
	for (int i = 0; i < s->nchild; i++)
		kill(-s->kids[i], SIGKILL);
	while (s->nchild > 0 && ((pid = waitpid(-1, &st, 0)) > 0 || errno == EINTR))
		if (pid > 0)
			reaped(s, pid, st);
}

static _Noreturn void die_output(const struct server *s)
{
	fprintf(stderr, "vsk %s: write %s: %s\n", cli_cmd, s->outname != NULL ? s->outname : "stdout",
		strerror(s->out_err));
	exit(1);
}

int cmd_listen(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, '1' },
		{ "stdin", no_argument, NULL, 'N' },
		{ "echo", no_argument, NULL, 'E' },
		{ "exec", required_argument, NULL, 'e' },
		{ "output", required_argument, NULL, 'o' },
		{ "keep-open", no_argument, NULL, 'k' },
		{ "systemd", no_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vsk_opts opts = VSK_OPTS_INIT;
	struct server s = { .lfd = -1, .out = STDOUT_FILENO, .cmd_status = -1 };
	bool echo = false, keep = false, systemd = false;
	int c, rc, stopfd;

	while ((c = getopt_long(argc, argv, "e:o:kvNh", longopts, NULL)) != -1) {
		switch (c) {
		case '1':
			s.once = true;
			break;
		case 'N':
			s.send_stdin = true;
			break;
		case 'E':
			echo = true;
			break;
		case 'e':
			s.cmd = optarg;
			break;
		case 'o':
			s.outname = optarg;
			break;
		case 'k':
			keep = true;
			break;
		case 'S':
			systemd = true;
			break;
		case 'v':
			s.verbose = true;
			break;
		case 'h':
			return cli_usage(usage_text, true);
		default:
			return cli_bad_option();
		}
	}
	if (systemd && argc - optind != 0)
		cli_usage_die("--systemd takes the socket from systemd: no ADDR");
	if (!systemd && argc - optind == 0)
		return cli_usage_err("missing ADDR: what to listen on (or --systemd)");
	if (!systemd && argc - optind > 1)
		return cli_usage_err("one ADDR, not %d ('%s' is extra)", argc - optind, argv[optind + 1]);
	if (echo && s.cmd != NULL)
		cli_usage_die("--echo and --exec cannot be used together");
	if (s.outname != NULL && (echo || s.cmd != NULL))
		cli_usage_die("-o is for the default mode, not with --echo or --exec");
	if (keep && s.once)
		cli_usage_die("--keep-open and --once cannot be used together");
	if (s.send_stdin && !s.once)
		return cli_usage_err("-N (--stdin) needs --once: stdin goes to one client");
	if (s.send_stdin && (echo || s.cmd != NULL))
		return cli_usage_err("-N (--stdin) is for the default mode: --%s answers the client itself",
				     echo ? "echo" : "exec");
	s.mode = echo ? MODE_ECHO : s.cmd != NULL ? MODE_EXEC : MODE_SINK;
	if (!systemd) {
		cli_addr(argv[optind], &s.addr);
		if (s.addr.kind == VSK_ADDR_STDIO)
			return cli_usage_err("'-' is no address to listen on: for stdin/stdout to one "
					     "client use 'vsk listen --once -N ADDR' or 'vsk proxy ADDR -'");
		vsk_addr_format(&s.addr, s.text, sizeof(s.text));
	}

	signal(SIGPIPE, SIG_IGN);
	if (s.send_stdin)
		cli_ensure_stdio(); /* fd 0 must be stdin, not the listener */
	if (s.outname != NULL) {
		s.out = open(s.outname, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (s.out < 0)
			err(1, "open %s", s.outname);
	}
	if (s.mode == MODE_SINK)
		out_nonblock(s.out);
	opts.nonblock = true;
	if (systemd)
		s.lfd = cli_systemd_listener(s.text, sizeof(s.text));
	else
		s.lfd = vsk_listen(&s.addr, &opts);
	if (s.lfd < 0)
		cli_die_explain(-s.lfd, "listen", &s.addr);
	if (!systemd) {
		/* The address the kernel bound: port 0 and any become numbers. */
		cli_sockfile_note(&s.sf, s.lfd);
		cli_bound_text(s.lfd, &s.addr, s.text, sizeof(s.text));
	}
	stopfd = cli_stop_signals(on_kill);
	rc = relay_new(&s.r, on_event, &s);
	if (rc == 0)
		rc = relay_watch(s.r, s.lfd, on_accept, &s);
	if (rc == 0)
		rc = cli_stop_relay(s.r, stopfd);
	if (rc < 0) {
		errno = -rc;
		cli_sockfile_remove(&s.sf);
		err(1, "relay for %s", s.text);
	}
	if (s.verbose)
		fprintf(stderr, "vsk: listening on %s\n", s.text);
	rc = relay_run(s.r, -1);
	/* What a stopped loop still holds for stdout: out now, blocking. */
	if (s.pend != NULL && s.out_err == 0) {
		int wr;

		restore_out();
		wr = cli_write_all(s.out, s.pend + s.pend_off, s.pend_len);
		if (wr < 0)
			s.out_err = -wr;
	}
	free(s.pend);
	restore_out();
	relay_free(s.r);
	if (s.lfd >= 0)
		close(s.lfd);
	cli_sockfile_remove(&s.sf);
	wait_once(&s);
	if (cli_stop_signal() != 0)
		end_kids(&s);
	free(s.kids);
	if (s.out_err != 0)
		die_output(&s);
	if (rc < 0) {
		errno = -rc;
		err(1, "relay for %s", s.text);
	}
	if (s.outname != NULL && close(s.out) < 0)
		err(1, "close %s", s.outname);
	if (cli_stop_signal() != 0)
		return 0;
	if (s.once && s.mode == MODE_EXEC && s.cmd_status > 0)
		return s.cmd_status;
	return s.once && s.last_err != 0 ? 1 : 0;
}
