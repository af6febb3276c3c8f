/* filter.c - NIP-01 filter validation shared by the config ([group] filter), sync and query. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
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

/* ---- matching -------------------------------------------------------------------------- */

static bool has_string(const json_t *a, const char *s, size_t len)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
		if (json_string_length(v) == len && memcmp(json_string_value(v), s, len) == 0)
			return true;
	return false;
}

static bool tag_matches(const struct nostr_event *ev, char name, const json_t *values)
{
	size_t i;
	json_t *tag;

	json_array_foreach(ev->tags, i, tag) {
		json_t *n = json_array_get(tag, 0), *v = json_array_get(tag, 1);
		if (v && json_string_length(n) == 1 && json_string_value(n)[0] == name &&
		    has_string(values, json_string_value(v), json_string_length(v)))
			return true;
	}
	return false;
}

bool filter_match(const json_t *f, const struct nostr_event *ev)
{
	const char *key;
	json_t *v;
	char hex[65];
	size_t i;
	json_t *k;
	bool found;

	json_object_foreach((json_t *)f, key, v) {
		if (strcmp(key, "ids") == 0) {
			if (!has_string(v, ev->id_hex, 64))
				return false;
		} else if (strcmp(key, "authors") == 0) {
			hex_encode(ev->pubkey, 32, hex);
			if (!has_string(v, hex, 64))
				return false;
		} else if (strcmp(key, "kinds") == 0) {
			found = false;
			json_array_foreach(v, i, k)
				found |= json_integer_value(k) == (json_int_t)ev->kind;
			if (!found)
				return false;
		} else if (strcmp(key, "since") == 0) {
			if (ev->created_at < json_integer_value(v))
				return false;
		} else if (strcmp(key, "until") == 0) {
			if (ev->created_at > json_integer_value(v))
				return false;
		} else if (key[0] == '#') {
			if (!tag_matches(ev, key[1], v))
				return false;
		}
	}
	return true;
}

/* ---- canonical key ------------------------------------------------------------------------ */

static int cmp_values(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

	if (json_is_integer(x) && json_is_integer(y))
		return json_integer_value(x) < json_integer_value(y) ? -1 : json_integer_value(x) > json_integer_value(y);
	if (json_is_string(x) && json_is_string(y)) {
		size_t lx = json_string_length(x), ly = json_string_length(y);
		int c = memcmp(json_string_value(x), json_string_value(y), lx < ly ? lx : ly);
		return c ? c : lx < ly ? -1 : lx > ly;
	}
	return json_typeof(x) - json_typeof(y);
}

static json_t *sorted_copy(const json_t *a)
{
	size_t n = json_array_size(a);
	json_t **v = calloc(n ? n : 1, sizeof(*v)), *out = json_array();

	if (!v || !out) {
		free(v);
		json_decref(out);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(a, i);
	qsort(v, n, sizeof(*v), cmp_values);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || cmp_values(&v[i - 1], &v[i]) != 0)
			json_array_append(out, v[i]);
	free(v);
	return out;
}

char *filter_key(const json_t *f)
{
	json_t *k = json_object();
	const char *key;
	json_t *v;
	char *text;

	json_object_foreach((json_t *)f, key, v) {
		if (strcmp(key, "since") == 0 || strcmp(key, "until") == 0 || strcmp(key, "limit") == 0)
			continue;
		json_object_set_new(k, key, json_is_array(v) ? sorted_copy(v) : json_incref(v));
	}
	text = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(k);
	return text;
}
