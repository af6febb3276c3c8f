/* test_filter.c - NIP-01 filter validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "filter.h"

static int validate(const char *text, char *err, size_t len)
{
	json_error_t jerr;
	json_t *f = json_loads(text, JSON_DECODE_ANY, &jerr);
	int r;

	assert_non_null(f);
	r = filter_validate(f, err, len);
	json_decref(f);
	return r;
}

static void test_good(void **state)
{
	char err[256];
	static const char *const good[] = {
		"{}",
		"{\"kinds\":[0,1,65535]}",
		"{\"#h\":[\"abc\"],\"#E\":[]}",
		"{\"since\":0,\"until\":1700000000,\"limit\":500}",
		"{\"ids\":[\"0000000000000000000000000000000000000000000000000000000000000000\"]}",
		"{\"authors\":[\"abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"]}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(validate(good[i], err, sizeof(err)), 0);
}

static void expect_bad(const char *text, const char *needle)
{
	char err[256] = "";

	assert_int_not_equal(validate(text, err, sizeof(err)), 0);
	if (!strstr(err, needle))
		fail_msg("error for %s was '%s', expected it to mention '%s'", text, err, needle);
}

static void test_bad(void **state)
{
	(void)state;
	expect_bad("[]", "object");
	expect_bad("{\"kinds\":[1.0]}", "\"kinds\"");
	expect_bad("{\"kinds\":[-1]}", "\"kinds\"");
	expect_bad("{\"kinds\":[65536]}", "\"kinds\"");
	expect_bad("{\"kinds\":1}", "\"kinds\"");
	expect_bad("{\"since\":-5}", "\"since\"");
	expect_bad("{\"limit\":\"10\"}", "\"limit\"");
	expect_bad("{\"ids\":[\"ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"]}", "\"ids\"");
	expect_bad("{\"authors\":[\"abc\"]}", "\"authors\"");
	expect_bad("{\"#hh\":[\"x\"]}", "unknown member");
	expect_bad("{\"#1\":[\"x\"]}", "unknown member");
	expect_bad("{\"#h\":[1]}", "\"#h\"");
	expect_bad("{\"search\":\"x\"}", "unknown member");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
