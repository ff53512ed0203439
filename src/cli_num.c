/* Numbers on the command line: one parser per kind of quantity (counts,
 * byte sizes, durations, CIDs, ports), each given the option's real range.
 * A mistake quotes what was typed, suffix and all, and states that range
 * in the option's own unit, e.g.
 *   vsk bench: -l '2M': out of range: expected 1..1048576 bytes (1M) ...
 * The cli_parse_* functions only parse (unit-tested in
 * tests/unit/test_cli_num.c); the cli_* ones exit 2 on a mistake. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef unsigned __int128 u128;

#define DIGITS_MAX 30 /* more than any 64-bit value needs: "out of range" */

/* A decimal number with an optional fraction ("12", "1.5"), no sign, no
 * blanks: *INT, the fraction's digits *FRAC over 10^*NFRAC; *END past it.
 * -1 when S does not start with one. */
static int parse_decimal(const char *s, u128 *ip, u128 *frac, unsigned *nfrac, const char **end,
			 bool allow_frac)
{
	const char *p = s;
	unsigned nd = 0;

	*ip = 0;
	*frac = 0;
	*nfrac = 0;
	while (*p >= '0' && *p <= '9') {
		if (++nd <= DIGITS_MAX)
			*ip = *ip * 10 + (unsigned)(*p - '0');
		p++;
	}
	if (nd > DIGITS_MAX)
		*ip = (u128)1 << 100; /* surely out of any range */
	if (allow_frac && *p == '.' && p[1] >= '0' && p[1] <= '9') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (*nfrac < 18) {
				*frac = *frac * 10 + (unsigned)(*p - '0');
				++*nfrac;
			} else if (*p != '0') {
				return -1; /* more precision than anything here has */
			}
			p++;
		}
	}
	if (nd == 0 && *nfrac == 0)
		return -1;
	*end = p;
	return 0;
}

static u128 pow10u(unsigned n)
{
	u128 v = 1;

	while (n--)
		v *= 10;
	return v;
}

/* INT.FRAC * MULT exactly, in *V; -1 when it is not a whole number. */
static int scale(u128 ip, u128 frac, unsigned nfrac, uint64_t mult, u128 *v)
{
	u128 d = pow10u(nfrac), f = frac * mult;

	if (f % d != 0)
		return -1;
	*v = ip * mult + f / d;
	return 0;
}

static bool eq_nocase(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if ((*a | 0x20) != (*b | 0x20))
			return false;
	return *a == *b;
}

/* ---------------------------------------------------------------- counts */

int cli_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *v, char *why, size_t len)
{
	const char *end;
	u128 ip, frac;
	unsigned nf;

	if (parse_decimal(s, &ip, &frac, &nf, &end, false) < 0 || *end != '\0') {
		snprintf(why, len, "not a count: expected a whole number %" PRIu64 "..%" PRIu64, min, max);
		return -1;
	}
	if (ip < min || ip > max) {
		snprintf(why, len, "out of range: expected %" PRIu64 "..%" PRIu64, min, max);
		return -1;
	}
	*v = (uint64_t)ip;
	return 0;
}

/* ----------------------------------------------------------------- sizes */

static const struct {
	char c;
	uint64_t mult;
} size_units[] = {
	{ 'K', 1ull << 10 }, { 'M', 1ull << 20 }, { 'G', 1ull << 30 }, { 'T', 1ull << 40 },
};

/* B in its shortest exact form: "1M", "1536", "1.5K" is not used. */
static void fmt_short(char *buf, size_t len, uint64_t b)
{
	for (int i = (int)(sizeof(size_units) / sizeof(size_units[0])) - 1; i >= 0; i--)
		if (b >= size_units[i].mult && b % size_units[i].mult == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", b / size_units[i].mult, size_units[i].c);
			return;
		}
	snprintf(buf, len, "%" PRIu64, b);
}

/* "1..1048576 bytes (1..1M)": the exact range, and the short one when it
 * says something. */
static void fmt_bytes(char *buf, size_t len, uint64_t min, uint64_t max)
{
	char lo[24], hi[24];

	fmt_short(lo, sizeof(lo), min);
	fmt_short(hi, sizeof(hi), max);
	if (max >= 1024)
		snprintf(buf, len, "%" PRIu64 "..%" PRIu64 " bytes (%s..%s)", min, max, lo, hi);
	else
		snprintf(buf, len, "%" PRIu64 "..%" PRIu64 " bytes", min, max);
}

int cli_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *v, char *why, size_t len)
{
	const char *end;
	char range[96];
	uint64_t mult = 1;
	u128 ip, frac, x;
	unsigned nf;
	int bad = 0;

	fmt_bytes(range, sizeof(range), min, max);
	if (parse_decimal(s, &ip, &frac, &nf, &end, true) < 0) {
		bad = 1;
	} else if (*end != '\0') {
		bad = 1;
		for (size_t i = 0; i < sizeof(size_units) / sizeof(size_units[0]); i++)
			if ((end[0] & ~0x20) == size_units[i].c && end[1] == '\0') {
				mult = size_units[i].mult;
				bad = 0;
			}
	}
	if (bad) {
		snprintf(why, len, "not a size: expected %s, a number with an optional "
			 "K, M, G or T (powers of 1024; 1.5K is 1536)", range);
		return -1;
	}
	if (scale(ip, frac, nf, mult, &x) < 0) {
		snprintf(why, len, "not a whole number of bytes: expected %s", range);
		return -1;
	}
	if (x < min || x > max) {
		snprintf(why, len, "out of range: expected %s", range);
		return -1;
	}
	*v = (uint64_t)x;
	return 0;
}

/* ------------------------------------------------------------- durations */

static const struct {
	const char *name;
	uint64_t ms;
} dur_units[] = {
	{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
};

/* MS in UNIT_MS units, the fraction trimmed: "0.5", "86400". */
static void fmt_in_unit(char *buf, size_t len, uint64_t ms, uint64_t unit_ms)
{
	int n = snprintf(buf, len, "%" PRIu64, ms / unit_ms);

	if (ms % unit_ms != 0 && unit_ms == 1000 && n > 0 && (size_t)n + 5 < len) {
		char *p = buf + n;

		snprintf(p, len - (size_t)n, ".%03u", (unsigned)(ms % 1000));
		for (p += strlen(p) - 1; *p == '0'; p--)
			*p = '\0';
	}
}

static const char *unit_name(uint64_t unit_ms)
{
	return unit_ms == 1000 ? "s" : unit_ms == 60000 ? "m" : unit_ms == 3600000 ? "h" : "ms";
}

int cli_parse_duration(const char *s, uint64_t unit_ms, uint64_t min_ms, uint64_t max_ms, uint64_t *ms,
		       char *why, size_t len)
{
	const char *end, *un = unit_name(unit_ms);
	char lo[32], hi[32];
	uint64_t mult = unit_ms;
	u128 ip, frac, x;
	unsigned nf;
	int bad = 0;

	fmt_in_unit(lo, sizeof(lo), min_ms, unit_ms);
	fmt_in_unit(hi, sizeof(hi), max_ms, unit_ms);
	if (parse_decimal(s, &ip, &frac, &nf, &end, true) < 0) {
		bad = 1;
	} else if (*end != '\0') {
		bad = 1;
		for (size_t i = 0; i < sizeof(dur_units) / sizeof(dur_units[0]); i++)
			if (!strcmp(end, dur_units[i].name)) {
				mult = dur_units[i].ms;
				bad = 0;
			}
	}
	if (bad) {
		snprintf(why, len, "not a duration: expected %s..%s %s (a number of %s, or one with "
			 "ms, s, m or h)", lo, hi, un, unit_ms == 1 ? "milliseconds" : "seconds");
		return -1;
	}
	if (scale(ip, frac, nf, mult, &x) < 0) {
		snprintf(why, len, "not a whole number of milliseconds: expected %s..%s %s", lo, hi, un);
		return -1;
	}
	if (x < min_ms || x > max_ms) {
		snprintf(why, len, "out of range: expected %s..%s %s", lo, hi, un);
		return -1;
	}
	*ms = (uint64_t)x;
	return 0;
}

/* ------------------------------------------------------------ CIDs, ports */

/* The words vsk_addr_parse() takes for a CID. */
static const struct {
	const char *name;
	uint32_t cid;
} cid_words[] = {
	{ "any", VSK_CID_ANY }, { "host", VSK_CID_HOST }, { "local", VSK_CID_LOCAL },
	{ "hypervisor", VSK_CID_HYPERVISOR },
};

int cli_parse_cid(const char *s, uint32_t min, uint32_t max, uint32_t *v, char *why, size_t len)
{
	char words[96] = "";
	const char *end;
	u128 ip, frac;
	unsigned nf;
	int bad = 0;

	/* The words that are in range, as the message offers them. */
	for (size_t i = 0, n = 0; i < sizeof(cid_words) / sizeof(cid_words[0]); i++)
		if (cid_words[i].cid >= min && cid_words[i].cid <= max)
			n += (size_t)snprintf(words + n, sizeof(words) - n, ", %s (%" PRIu32 ")",
					      cid_words[i].name, cid_words[i].cid);
	ip = 0;
	for (size_t i = 0; i < sizeof(cid_words) / sizeof(cid_words[0]); i++)
		if (eq_nocase(s, cid_words[i].name)) {
			ip = cid_words[i].cid;
			bad = -1; /* a word: no digits to parse */
		}
	if (bad == 0 && (parse_decimal(s, &ip, &frac, &nf, &end, false) < 0 || *end != '\0'))
		bad = 1;
	if (bad == 1) {
		snprintf(why, len, "not a CID: expected %" PRIu32 "..%" PRIu32 "%s", min, max, words);
		return -1;
	}
	if (ip < min || ip > max) {
		if (bad == -1)
			snprintf(why, len, "CID %" PRIu32 " is out of range: expected %" PRIu32 "..%" PRIu32 "%s",
				 (uint32_t)ip, min, max, words);
		else
			snprintf(why, len, "out of range: expected %" PRIu32 "..%" PRIu32 "%s", min, max, words);
		return -1;
	}
	*v = (uint32_t)ip;
	return 0;
}

int cli_parse_port(const char *s, uint32_t min, uint32_t max, uint32_t *v, char *why, size_t len)
{
	bool any_ok = max == VSK_PORT_ANY;
	const char *end;
	u128 ip, frac;
	unsigned nf;

	if (!strcmp(s, "any")) {
		ip = VSK_PORT_ANY;
	} else if (parse_decimal(s, &ip, &frac, &nf, &end, false) < 0 || *end != '\0') {
		snprintf(why, len, "not a port: expected %" PRIu32 "..%" PRIu32 "%s", min,
			 any_ok ? max - 1 : max, any_ok ? " or any" : "");
		return -1;
	}
	if (ip < min || ip > max) {
		snprintf(why, len, "out of range: expected %" PRIu32 "..%" PRIu32 "%s", min,
			 any_ok ? max - 1 : max, any_ok ? " or any" : "");
		return -1;
	}
	*v = (uint32_t)ip;
	return 0;
}

/* ---------------------------------------------------- the exiting forms */

static _Noreturn void num_die(const char *opt, const char *s, const char *why)
{
	cli_usage_die("%s '%s': %s", opt, s, why);
}

uint64_t cli_count(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char why[256];
	uint64_t v;

	if (cli_parse_count(s, min, max, &v, why, sizeof(why)) < 0)
		num_die(opt, s, why);
	return v;
}

uint64_t cli_size(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char why[256];
	uint64_t v;

	if (cli_parse_size(s, min, max, &v, why, sizeof(why)) < 0)
		num_die(opt, s, why);
	return v;
}

uint64_t cli_duration_ms(const char *opt, const char *s, uint64_t unit_ms, uint64_t min_ms, uint64_t max_ms)
{
	char why[256];
	uint64_t v;

	if (cli_parse_duration(s, unit_ms, min_ms, max_ms, &v, why, sizeof(why)) < 0)
		num_die(opt, s, why);
	return v;
}

uint32_t cli_cid(const char *opt, const char *s, uint32_t min, uint32_t max)
{
	char why[256];
	uint32_t v;

	if (cli_parse_cid(s, min, max, &v, why, sizeof(why)) < 0)
		num_die(opt, s, why);
	return v;
}

uint32_t cli_port(const char *opt, const char *s, uint32_t min, uint32_t max)
{
	char why[256];
	uint32_t v;

	if (cli_parse_port(s, min, max, &v, why, sizeof(why)) < 0)
		num_die(opt, s, why);
	return v;
}
