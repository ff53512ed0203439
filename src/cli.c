/* Helpers shared by the subcommands: number/address parsing, error exits. */
#include <errno.h>
#include <stdarg.h>
#include <stdio_ext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_usage(const char *text, bool asked)
{
	fputs(text, asked ? stdout : stderr);
	return asked ? 0 : EXIT_USAGE;
}

/* "vsk CMD: <what is wrong>" and the hint to the command's --help. */
static void usage_line(const char *fmt, va_list ap)
{
	fprintf(stderr, "vsk %s: ", cli_cmd);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nsee 'vsk %s --help'\n", cli_cmd);
}

int cli_usage_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	usage_line(fmt, ap);
	va_end(ap);
	return EXIT_USAGE;
}

_Noreturn void cli_usage_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	usage_line(fmt, ap);
	va_end(ap);
	exit(EXIT_USAGE);
}

int cli_bad_option(void)
{
	fprintf(stderr, "see 'vsk %s --help'\n", cli_cmd);
	return EXIT_USAGE;
}

void cli_close_stdout(void)
{
	/* A write that failed earlier may have left its errno. */
	int e0 = errno;
	bool pending = __fpending(stdout) > 0, failed = ferror(stdout) != 0;
	int rc = fclose(stdout), e = errno;

	if (rc == 0 && !failed)
		return;
	/* Nothing was to be written to a closed stdout: nothing was lost. */
	if (rc != 0 && !failed && !pending && e == EBADF)
		return;
	if (rc != 0 && e == EPIPE)
		return;
	if (rc != 0) {
		errno = e;
		warn("write stdout");
	} else if (e0 == ENOSPC || e0 == EDQUOT || e0 == EFBIG || e0 == EIO || e0 == EBADF) {
		errno = e0;
		warn("write stdout");
	} else {
		warnx("write stdout: an earlier write failed");
	}
	_exit(1);
}

void cli_addr(const char *text, struct vsk_addr *a)
{
	char msg[256];

	if (vsk_addr_parse(text, a, msg, sizeof(msg)) < 0)
		errx(EXIT_USAGE, "%s", msg);
}

_Noreturn void cli_die_explain(int err, const char *op, const struct vsk_addr *a)
{
	char msg[512];

	errx(1, "%s", vsk_explain(err, op, a, msg, sizeof(msg)));
}

int cli_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

bool cli_color(void)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

	return isatty(STDOUT_FILENO) && (nc == NULL || *nc == '\0') &&
	       (term == NULL || strcmp(term, "dumb") != 0);
}

void cli_json_str(FILE *f, const char *s)
{
	if (s == NULL) {
		fputs("null", f);
		return;
	}
	putc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			putc(ch, f);
	}
	putc('"', f);
}

void cli_json_time(FILE *f, const struct timespec *ts)
{
	fprintf(f, "\"time\":%lld.%06ld", (long long)ts->tv_sec, ts->tv_nsec / 1000);
}

unsigned long cli_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			rl.rlim_cur = was;
	}
	return rl.rlim_cur == RLIM_INFINITY ? ~0ul : (unsigned long)rl.rlim_cur;
}
