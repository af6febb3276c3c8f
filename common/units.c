/* units.c - durations and sizes in the exact, human forms config files use. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "units.h"

int units_parse_uint(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

struct unit {
	const char *suffix;
	uint64_t factor;
};

/* Splits "123suffix" and multiplies by the factor of the matching suffix. */
static int parse_with_units(const char *s, const struct unit *units, uint64_t *out)
{
	char digits[32];
	size_t n = strspn(s, "0123456789");
	uint64_t v;
	int r;

	if (n == 0 || n >= sizeof(digits))
		return n == 0 ? -EINVAL : -ERANGE;
	memcpy(digits, s, n);
	digits[n] = '\0';
	r = units_parse_uint(digits, &v);
	if (r < 0)
		return r;
	for (const struct unit *u = units; u->suffix; u++) {
		if (strcasecmp(s + n, u->suffix) != 0)
			continue;
		if (u->factor && v > UINT64_MAX / u->factor)
			return -ERANGE;
		*out = v * u->factor;
		return 0;
	}
	return -EINVAL;
}

static const struct unit duration_units[] = {
	{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { NULL, 0 },
};

static const struct unit size_units[] = {
	{ "", 1 },
	{ "B", 1 },
	{ "K", 1024 },
	{ "KiB", 1024 },
	{ "M", 1024 * 1024 },
	{ "MiB", 1024 * 1024 },
	{ "G", 1024ULL * 1024 * 1024 },
	{ "GiB", 1024ULL * 1024 * 1024 },
	{ NULL, 0 },
};

int units_parse_duration_ms(const char *s, uint64_t *out)
{
	return parse_with_units(s, duration_units, out);
}

int units_parse_size(const char *s, uint64_t *out)
{
	return parse_with_units(s, size_units, out);
}

char *units_format_duration_ms(uint64_t ms, char *buf, size_t len)
{
	if (ms != 0 && ms % 3600000 == 0)
		snprintf(buf, len, "%" PRIu64 "h", ms / 3600000);
	else if (ms != 0 && ms % 60000 == 0)
		snprintf(buf, len, "%" PRIu64 "m", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(buf, len, "%" PRIu64 "ms", ms);
	return buf;
}

char *units_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const uint64_t gib = 1024ULL * 1024 * 1024;

	if (bytes != 0 && bytes % gib == 0)
		snprintf(buf, len, "%" PRIu64 "GiB", bytes / gib);
	else if (bytes != 0 && bytes % (1024 * 1024) == 0)
		snprintf(buf, len, "%" PRIu64 "MiB", bytes / (1024 * 1024));
	else if (bytes != 0 && bytes % 1024 == 0)
		snprintf(buf, len, "%" PRIu64 "KiB", bytes / 1024);
	else
		snprintf(buf, len, "%" PRIu64, bytes);
	return buf;
}
