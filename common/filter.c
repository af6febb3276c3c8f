/* filter.c - NIP-01 filter validation shared by the config ([group] filter), sync and query. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "filter.h"
#include "hex.h"

static int fail(char *err, size_t len, const char *key, const char *what)
{
	snprintf(err, len, "filter member \"%s\": %s", key, what);
	return -EINVAL;
}

static int check_hex_array(const char *key, const json_t *v, char *err, size_t len)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return fail(err, len, key, "expected an array of 64-character lowercase hex strings");
	json_array_foreach(v, i, e)
		if (!json_is_string(e) || json_string_length(e) != 64 || !hex_is_lower(json_string_value(e), 64))
			return fail(err, len, key, "expected an array of 64-character lowercase hex strings");
	return 0;
}

static int check_member(const char *key, const json_t *v, char *err, size_t len)
{
	size_t i;
	json_t *e;

	if (strcmp(key, "ids") == 0 || strcmp(key, "authors") == 0)
		return check_hex_array(key, v, err, len);
	if (strcmp(key, "kinds") == 0) {
		if (!json_is_array(v))
			return fail(err, len, key, "expected an array of integers 0-65535");
		json_array_foreach(v, i, e)
			if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 65535)
				return fail(err, len, key, "expected an array of integers 0-65535");
		return 0;
	}
	if (strcmp(key, "since") == 0 || strcmp(key, "until") == 0 || strcmp(key, "limit") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return fail(err, len, key, "expected a non-negative integer");
		return 0;
	}
	if (key[0] == '#' && key[1] && !key[2] &&
	    ((key[1] >= 'a' && key[1] <= 'z') || (key[1] >= 'A' && key[1] <= 'Z'))) {
		if (!json_is_array(v))
			return fail(err, len, key, "expected an array of strings");
		json_array_foreach(v, i, e)
			if (!json_is_string(e))
				return fail(err, len, key, "expected an array of strings");
		return 0;
	}
	return fail(err, len, key, "unknown member (expected ids, authors, kinds, since, until, limit or #<letter>)");
}

int filter_validate(const json_t *f, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	int r;

	if (!json_is_object(f)) {
		snprintf(err, errlen, "a filter must be a JSON object");
		return -EINVAL;
	}
	json_object_foreach((json_t *)f, key, v) {
		r = check_member(key, v, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}
