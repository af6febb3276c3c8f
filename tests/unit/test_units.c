/* test_units.c - durations and sizes: parse, range errors, shortest exact printing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "units.h"

static void test_duration_parse(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(units_parse_duration_ms("30", &v), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(units_parse_duration_ms("250ms", &v), 0);
	assert_int_equal(v, 250);
	assert_int_equal(units_parse_duration_ms("5m", &v), 0);
	assert_int_equal(v, 300000);
	assert_int_equal(units_parse_duration_ms("2h", &v), 0);
	assert_int_equal(v, 7200000);
	assert_int_equal(units_parse_duration_ms("10S", &v), 0);
	assert_int_equal(v, 10000);
	assert_int_equal(units_parse_duration_ms("", &v), -EINVAL);
	assert_int_equal(units_parse_duration_ms("s", &v), -EINVAL);
	assert_int_equal(units_parse_duration_ms("-1s", &v), -EINVAL);
	assert_int_equal(units_parse_duration_ms("1.5s", &v), -EINVAL);
	assert_int_equal(units_parse_duration_ms("10 s", &v), -EINVAL);
	assert_int_equal(units_parse_duration_ms("10d", &v), -EINVAL);
	assert_int_equal(units_parse_duration_ms("99999999999999999999", &v), -ERANGE);
	assert_int_equal(units_parse_duration_ms("18446744073709551h", &v), -ERANGE);
}

static void test_size_parse(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(units_parse_size("512", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(units_parse_size("64KiB", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(units_parse_size("1M", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(units_parse_size("2GiB", &v), 0);
	assert_int_equal(v, 2147483648ULL);
	assert_int_equal(units_parse_size("1MB", &v), -EINVAL);
	assert_int_equal(units_parse_size("KiB", &v), -EINVAL);
}

static void test_format(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(units_format_duration_ms(0, b, sizeof(b)), "0s");
	assert_string_equal(units_format_duration_ms(1500, b, sizeof(b)), "1500ms");
	assert_string_equal(units_format_duration_ms(30000, b, sizeof(b)), "30s");
	assert_string_equal(units_format_duration_ms(90000, b, sizeof(b)), "90s");
	assert_string_equal(units_format_duration_ms(120000, b, sizeof(b)), "2m");
	assert_string_equal(units_format_duration_ms(3600000, b, sizeof(b)), "1h");
	assert_string_equal(units_format_size(1000, b, sizeof(b)), "1000");
	assert_string_equal(units_format_size(65536, b, sizeof(b)), "64KiB");
	assert_string_equal(units_format_size(1536 * 1024, b, sizeof(b)), "1536KiB");
	assert_string_equal(units_format_size(1 << 30, b, sizeof(b)), "1GiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_size_parse),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
