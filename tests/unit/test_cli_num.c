/* src/cli_num.c: the number parsers of the command line (linked in by the
 * Makefile: $(B)/tests/test_cli_num also takes build/src/cli_num.o).  Each
 * kind: what it takes, what it refuses, and that the message states the
 * real range in the option's unit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"

/* cli_num.c's exiting forms call these (src/cli.c, src/main.c): here they
 * record the message and jump back instead of exiting. */
const char *cli_cmd = "test";
static char died[512];
static jmp_buf back;

_Noreturn void cli_usage_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(died, sizeof(died), fmt, ap);
	va_end(ap);
	longjmp(back, 1);
}

static void ok_size(const char *s, uint64_t min, uint64_t max, uint64_t want)
{
	char why[256] = "";
	uint64_t v = 0;

	if (cli_parse_size(s, min, max, &v, why, sizeof(why)) != 0)
		fail_msg("size '%s': refused: %s", s, why);
	if (v != want)
		fail_msg("size '%s': %llu, want %llu", s, (unsigned long long)v, (unsigned long long)want);
}

static void bad_size(const char *s, uint64_t min, uint64_t max, const char *want)
{
	char why[256] = "";
	uint64_t v;

	if (cli_parse_size(s, min, max, &v, why, sizeof(why)) == 0)
		fail_msg("size '%s' taken as %llu", s, (unsigned long long)v);
	if (strstr(why, want) == NULL)
		fail_msg("size '%s': '%s' does not say '%s'", s, why, want);
}

static void test_size(void **state)
{
	const uint64_t big = 1ull << 50;

	ok_size("1", 1, big, 1);
	ok_size("5G", 1, big, 5ull << 30);
	ok_size("4294967296", 1, big, 4294967296ull); /* 64-bit, also without a suffix */
	ok_size("1.5K", 1, big, 1536);
	ok_size("1.5k", 1, big, 1536);
	ok_size("0.5M", 1, big, 512 * 1024);
	ok_size("2T", 1, big, 2ull << 40);
	ok_size("1024T", 1, big, big);
	ok_size("1M", 1, 1048576, 1048576);
	bad_size("1.1K", 1, big, "not a whole number of bytes");
	bad_size("0", 1, big, "out of range: expected 1..1125899906842624 bytes (1..1024T)");
	bad_size("2M", 1, 1048576, "out of range: expected 1..1048576 bytes (1..1M)");
	bad_size("1025T", 1, big, "out of range");
	bad_size("99999999999999999999999999999999", 1, big, "out of range");
	bad_size("", 1, big, "not a size");
	bad_size("K", 1, big, "not a size");
	bad_size("-1", 1, big, "not a size");
	bad_size("+1", 1, big, "not a size");
	bad_size("1 K", 1, big, "not a size");
	bad_size("1KB", 1, big, "not a size");
	bad_size("1P", 1, big, "not a size");
	bad_size("1.", 1, big, "not a size");
	bad_size("0x10", 1, big, "not a size");
}

static void test_count(void **state)
{
	char why[256];
	uint64_t v;

	assert_int_equal(cli_parse_count("0", 0, 10, &v, why, sizeof(why)), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cli_parse_count("4096", 1, 4096, &v, why, sizeof(why)), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(cli_parse_count("18446744073709551615", 0, UINT64_MAX, &v, why, sizeof(why)), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(cli_parse_count("18446744073709551616", 0, UINT64_MAX, &v, why, sizeof(why)), -1);
	assert_int_equal(cli_parse_count("0", 1, 4096, &v, why, sizeof(why)), -1);
	assert_string_equal(why, "out of range: expected 1..4096");
	assert_int_equal(cli_parse_count("4097", 1, 4096, &v, why, sizeof(why)), -1);
	assert_int_equal(cli_parse_count("1.5", 1, 4096, &v, why, sizeof(why)), -1);
	assert_string_equal(why, "not a count: expected a whole number 1..4096");
	assert_int_equal(cli_parse_count("1K", 1, 4096, &v, why, sizeof(why)), -1);
	assert_int_equal(cli_parse_count("-3", 0, 4096, &v, why, sizeof(why)), -1);
	assert_int_equal(cli_parse_count("", 0, 4096, &v, why, sizeof(why)), -1);
}

static void test_duration(void **state)
{
	char why[256];
	uint64_t ms;

	/* Seconds are the option's unit: a bare number is seconds. */
	assert_int_equal(cli_parse_duration("10", 1000, 1, 86400000, &ms, why, sizeof(why)), 0);
	assert_int_equal(ms, 10000);
	assert_int_equal(cli_parse_duration("1.5", 1000, 1, 86400000, &ms, why, sizeof(why)), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(cli_parse_duration("500ms", 1000, 1, 86400000, &ms, why, sizeof(why)), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(cli_parse_duration("2m", 1000, 1, 86400000, &ms, why, sizeof(why)), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(cli_parse_duration("24h", 1000, 1, 86400000, &ms, why, sizeof(why)), 0);
	assert_int_equal(ms, 86400000);
	assert_int_equal(cli_parse_duration("0", 1000, 1, 86400000, &ms, why, sizeof(why)), -1);
	assert_string_equal(why, "out of range: expected 0.001..86400 s");
	assert_int_equal(cli_parse_duration("25h", 1000, 1, 86400000, &ms, why, sizeof(why)), -1);
	assert_int_equal(cli_parse_duration("0.0001", 1000, 1, 86400000, &ms, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not a whole number of milliseconds"));
	assert_int_equal(cli_parse_duration("2d", 1000, 1, 86400000, &ms, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not a duration: expected 0.001..86400 s (a number of seconds"));
	/* Milliseconds are the unit: a bare number is ms, 1s is 1000. */
	assert_int_equal(cli_parse_duration("250", 1, 1, 86400000, &ms, why, sizeof(why)), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(cli_parse_duration("1.5s", 1, 1, 86400000, &ms, why, sizeof(why)), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(cli_parse_duration("0", 1, 1, 86400000, &ms, why, sizeof(why)), -1);
	assert_string_equal(why, "out of range: expected 1..86400000 ms");
	assert_int_equal(cli_parse_duration("0", 1, 0, 3600000, &ms, why, sizeof(why)), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(cli_parse_duration("1.5", 1, 0, 3600000, &ms, why, sizeof(why)), -1);
	assert_int_equal(cli_parse_duration("5 s", 1, 0, 3600000, &ms, why, sizeof(why)), -1);
	assert_int_equal(cli_parse_duration("-5", 1, 0, 3600000, &ms, why, sizeof(why)), -1);
}

static void test_cid(void **state)
{
	char why[256];
	uint32_t v;

	assert_int_equal(cli_parse_cid("3", 3, 4294967294u, &v, why, sizeof(why)), 0);
	assert_int_equal(v, 3);
	assert_int_equal(cli_parse_cid("4294967294", 3, 4294967294u, &v, why, sizeof(why)), 0);
	assert_int_equal(cli_parse_cid("4294967295", 3, 4294967294u, &v, why, sizeof(why)), -1);
	assert_string_equal(why, "out of range: expected 3..4294967294");
	assert_int_equal(cli_parse_cid("abc", 3, 4294967294u, &v, why, sizeof(why)), -1);
	assert_string_equal(why, "not a CID: expected 3..4294967294");
	assert_int_equal(cli_parse_cid("host", 3, 4294967294u, &v, why, sizeof(why)), -1);
	assert_string_equal(why, "CID 2 is out of range: expected 3..4294967294");
	assert_int_equal(cli_parse_cid("2", 3, 4294967294u, &v, why, sizeof(why)), -1);
	/* Where the words are in range they are offered and taken. */
	assert_int_equal(cli_parse_cid("host", 0, 4294967294u, &v, why, sizeof(why)), 0);
	assert_int_equal(v, 2);
	assert_int_equal(cli_parse_cid("local", 0, 4294967294u, &v, why, sizeof(why)), 0);
	assert_int_equal(v, 1);
	assert_int_equal(cli_parse_cid("any", 0, UINT32_MAX, &v, why, sizeof(why)), 0);
	assert_true(v == UINT32_MAX);
	assert_int_equal(cli_parse_cid("x", 0, 4294967294u, &v, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "host (2), local (1), hypervisor (0)"));
	assert_null(strstr(why, "any"));
}

static void test_port(void **state)
{
	char why[256];
	uint32_t v;

	assert_int_equal(cli_parse_port("5201", 0, 4294967294u, &v, why, sizeof(why)), 0);
	assert_int_equal(v, 5201);
	assert_int_equal(cli_parse_port("any", 0, 4294967294u, &v, why, sizeof(why)), -1);
	assert_string_equal(why, "out of range: expected 0..4294967294");
	assert_int_equal(cli_parse_port("any", 0, UINT32_MAX, &v, why, sizeof(why)), 0);
	assert_true(v == UINT32_MAX);
	assert_int_equal(cli_parse_port("x", 0, UINT32_MAX, &v, why, sizeof(why)), -1);
	assert_string_equal(why, "not a port: expected 0..4294967294 or any");
}

/* The exiting forms: "OPT 'TEXT': why", what was typed quoted whole. */
static void test_die_message(void **state)
{
	volatile int jumped = 0;

	if (setjmp(back) == 0)
		cli_size("-l", "1.5M", 1, 1048576);
	else
		jumped = 1;
	assert_int_equal(jumped, 1);
	assert_string_equal(died, "-l '1.5M': out of range: expected 1..1048576 bytes (1..1M)");
	jumped = 0;
	if (setjmp(back) == 0)
		cli_duration_ms("-t", "0", 1000, 1, 86400000);
	else
		jumped = 1;
	assert_int_equal(jumped, 1);
	assert_string_equal(died, "-t '0': out of range: expected 0.001..86400 s");
	assert_int_equal(cli_count("-P", "8", 1, 4096), 8);
	assert_int_equal(cli_cid("--guest-cid", "7", 3, 4294967294u), 7);
	assert_int_equal(cli_port("--bind", "9", 0, 4294967294u), 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size),     cmocka_unit_test(test_count),
		cmocka_unit_test(test_duration), cmocka_unit_test(test_cid),
		cmocka_unit_test(test_port),     cmocka_unit_test(test_die_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
