/* Servers' shared exit path: a self-pipe for SIGINT/SIGTERM/SIGHUP and the
 * removal of the socket file they bound (model in cli_serve.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "cli_serve.h"
#include "relay.h"

static const int stop_sigs[] = { SIGINT, SIGTERM, SIGHUP };
static int stop_pipe[2] = { -1, -1 };
static volatile sig_atomic_t stop_sig;
static void (*stop_fn)(void);

static void on_stop(int sig)
{
	int e = errno; /* the interrupted code may look at errno */
	ssize_t n;

	stop_sig = sig;
	for (size_t i = 0; i < sizeof(stop_sigs) / sizeof(stop_sigs[0]); i++)
		signal(stop_sigs[i], SIG_DFL);
	n = write(stop_pipe[1], "x", 1); /* full pipe: a stop is pending anyway */
	(void)n;
	if (stop_fn != NULL)
		stop_fn();
	errno = e;
}

int cli_stop_signals(void (*fn)(void))
{
	struct sigaction sa;

	if (stop_pipe[0] < 0 && pipe2(stop_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		err(1, "pipe");
	stop_fn = fn;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: blocking calls wake up */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(stop_sigs) / sizeof(stop_sigs[0]); i++)
		sigaction(stop_sigs[i], &sa, NULL);
	return stop_pipe[0];
}

/* The stop pipe is readable: empty it, end the loop. */
static void on_stop_pipe(void *ctx, int fd)
{
	char b[16];

	while (read(fd, b, sizeof(b)) > 0)
		;
	relay_stop(ctx);
}

int cli_stop_relay(struct relay *r, int stopfd)
{
	return relay_watch(r, stopfd, on_stop_pipe, r);
}

int cli_stop_signal(void)
{
	return stop_sig;
}

void cli_sockfile_note(struct cli_sockfile *f, int lfd)
{
	struct sockaddr_un un;
	socklen_t len = sizeof(un);
	size_t off = offsetof(struct sockaddr_un, sun_path), n;
	struct stat st;

	memset(f, 0, sizeof(*f));
	if (getsockname(lfd, (struct sockaddr *)&un, &len) < 0 || un.sun_family != AF_UNIX ||
	    len <= off || un.sun_path[0] == '\0')
		return;
	n = strnlen(un.sun_path, len - off);
	memcpy(f->path, un.sun_path, n);
	f->path[n] = '\0';
	if (lstat(f->path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->set = true;
}

void cli_sockfile_remove(struct cli_sockfile *f)
{
	struct stat st;

	if (!f->set)
		return;
	f->set = false;
	if (lstat(f->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == f->dev &&
	    st.st_ino == f->ino && unlink(f->path) < 0 && errno != ENOENT)
		warn("remove %s", f->path);
}

const char *cli_bound_text(int lfd, const struct vsk_addr *asked, char *buf, size_t len)
{
	struct vsk_addr a;

	if (vsk_listen_addr(lfd, asked, &a) == 0)
		return vsk_addr_format(&a, buf, len);
	if (asked != NULL)
		return vsk_addr_format(asked, buf, len);
	snprintf(buf, len, "fd %d", lfd);
	return buf;
}

void cli_ensure_stdio(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			err(1, "open /dev/null");
}

/* How a stdin/stdout relay ended (SOCK: the socket's side, 'a' or 'b'):
 * 0, or 1 with a message.  A reader of stdout that went away (EPIPE) ends
 * it quietly, as nc's does. */
int cli_stdio_status(int rc, const struct relay_info *info, char sock, const char *text)
{
	if (rc == 0 && info->err == 0)
		return 0;
	errno = rc < 0 ? -rc : info->err;
	if (info->op == NULL)
		err(1, "relay %s", text);
	if (info->side != sock && errno == EPIPE && !strcmp(info->op, "write"))
		return 0;
	err(1, "%s %s", info->op,
	    info->side == sock ? text : (!strcmp(info->op, "read") ? "stdin" : "stdout"));
}
