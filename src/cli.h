/* Shared helpers of the vsk command-line front end (not part of libvsk). */
#ifndef VSK_CLI_H
#define VSK_CLI_H

#include <err.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "vsk.h"

#define EXIT_USAGE 2

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

/* The command table (src/main.c), sorted by name. */
extern const struct cmd vsk_commands[];
extern const int vsk_ncommands;

int cmd_bench(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_cid(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_device(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_listen(int argc, char **argv);
int cmd_proxy(int argc, char **argv);
int cmd_recv(int argc, char **argv);
int cmd_send(int argc, char **argv);

/* The running command's name ("listen"), set by main before dispatch;
 * each command's argv[0] is "vsk NAME", so getopt's messages carry it. */
extern const char *cli_cmd;

/* Usage TEXT: on stdout and 0 when ASKED (-h), else on stderr and 2. */
int cli_usage(const char *text, bool asked);
/* A usage mistake: "vsk CMD: <what is wrong>" and the hint
 * "see 'vsk CMD --help'" on stderr; returns 2 (EXIT_USAGE). */
int cli_usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, then exit 2. */
_Noreturn void cli_usage_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* getopt_long's '?' or ':': it has said what was wrong (as "vsk CMD:
 * ..."); add the hint and return 2. */
int cli_bad_option(void);
/* atexit: flush and close stdout; a failed write (a full disk, a closed
 * stdout) is "vsk: write stdout: ..." and exit status 1, as coreutils do.
 * A reader that went away (EPIPE) is not an error. */
void cli_close_stdout(void);
/* Numbers (src/cli_num.c), one parser per kind of quantity, each given
 * the option as typed ("-n", "--timeout") and its real MIN..MAX.  A mistake
 * is "vsk CMD: OPT 'TEXT': what is wrong: expected MIN..MAX UNIT" and the
 * hint, exit 2.
 *   count     a whole number: "4096"
 *   size      bytes, K/M/G/T suffixes (powers of 1024), a fraction when
 *             the result is whole: "1.5K" is 1536; 64-bit
 *   duration  milliseconds back; suffixes ms, s, m, h ("1.5s"); a bare
 *             number is in UNIT_MS (1000: the option takes seconds, 1: ms)
 *   CID       a number or any, host, local, hypervisor (as in addresses)
 *   port      a number, or any (VSK_PORT_ANY) when MAX is VSK_PORT_ANY */
uint64_t cli_count(const char *opt, const char *s, uint64_t min, uint64_t max);
uint64_t cli_size(const char *opt, const char *s, uint64_t min, uint64_t max);
uint64_t cli_duration_ms(const char *opt, const char *s, uint64_t unit_ms, uint64_t min_ms, uint64_t max_ms);
uint32_t cli_cid(const char *opt, const char *s, uint32_t min, uint32_t max);
uint32_t cli_port(const char *opt, const char *s, uint32_t min, uint32_t max);
/* The same without exiting: 0, or -1 with WHY saying what is wrong (the
 * part after "OPT 'TEXT': "). */
int cli_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *v, char *why, size_t len);
int cli_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *v, char *why, size_t len);
int cli_parse_duration(const char *s, uint64_t unit_ms, uint64_t min_ms, uint64_t max_ms, uint64_t *ms,
		       char *why, size_t len);
int cli_parse_cid(const char *s, uint32_t min, uint32_t max, uint32_t *v, char *why, size_t len);
int cli_parse_port(const char *s, uint32_t min, uint32_t max, uint32_t *v, char *why, size_t len);
/* The longest timeout any command takes (--timeout, -w): one day. */
#define CLI_TIMEOUT_MAX_MS 86400000u
/* Parse an address; on error print the parser's line and exit 2. */
void cli_addr(const char *text, struct vsk_addr *a);
/* Print "vsk: " + vsk_explain(err, op, a) and exit 1. */
_Noreturn void cli_die_explain(int err, const char *op, const struct vsk_addr *a);
/* write() all of BUF, EINTR and short writes handled; 0 or -errno. */
int cli_write_all(int fd, const void *buf, size_t len);
/* S as a JSON string with the escapes JSON requires; null for NULL. */
void cli_json_str(FILE *f, const char *s);
/* "time":SECONDS, the epoch seconds of TS with 6 decimals: the one form of
 * a time in vsk's JSON (docs/JSON.md). */
struct timespec;
void cli_json_time(FILE *f, const struct timespec *ts);
/* Raise the soft RLIMIT_NOFILE to the hard limit: a server holds an fd
 * per connection, and systemd's soft default (1024) would cap it long
 * before memory does.  Returns the soft limit now in force. */
unsigned long cli_raise_nofile(void);
/* true when stdout is a terminal, NO_COLOR is unset or empty
 * (no-color.org) and TERM is not "dumb". */
bool cli_color(void);
/* Socket activation (src/cli_sd.c): the one listening socket systemd
 * passed (fd 3, made non-blocking and close-on-exec, LISTEN_* unset), its
 * address as text in TEXT; exits 1 with a message when there is none. */
int cli_systemd_listener(char *text, size_t len);

#endif
