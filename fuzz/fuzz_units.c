/* fuzz_units.c - durations and sizes: parse, and parse(format(x)) == x. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), buf[64];
	uint64_t v, w;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (units_parse_duration_ms(s, &v) == 0) {
		units_format_duration_ms(v, buf, sizeof(buf));
		if (units_parse_duration_ms(buf, &w) != 0 || w != v)
			abort();
	}
	if (units_parse_size(s, &v) == 0) {
		units_format_size(v, buf, sizeof(buf));
		if (units_parse_size(buf, &w) != 0 || w != v)
			abort();
	}
	units_parse_uint(s, &v);
	free(s);
	return 0;
}
