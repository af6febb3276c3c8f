/* served.c - the --serve event set of fast_relay and REQ filter matching over it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "benchgen.h"
#include "served.h"

int served_generate(struct served_set *s, uint64_t n, int64_t first_created_at)
{
	struct benchgen *g = benchgen_new(BENCHGEN_DEFAULT_KEYS);
	int r = 0;

	s->n = 0;
	s->ev = calloc(n ? n : 1, sizeof(*s->ev));
	if (!g || !s->ev) {
		benchgen_free(g);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < n && r == 0; i++) {
		struct served_event *e = &s->ev[i];
		const char *pk;

		e->created_at = first_created_at + (int64_t)i;
		r = benchgen_event(g, i, e->created_at, 0, &e->json, &e->len, e->id);
		if (r < 0)
			break;
		/* benchgen writes "pubkey":"<64 hex>"; keep it for authors filters. */
		pk = strstr(e->json, "\"pubkey\":\"");
		if (pk)
			memcpy(e->pubkey, pk + 10, 64);
		s->n++;
	}
	benchgen_free(g);
	return r;
}

void served_free(struct served_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->ev[i].json);
	free(s->ev);
	s->ev = NULL;
	s->n = 0;
}

int served_filter_read(json_t *f, uint64_t cap, struct served_filter *out, const char **why)
{
	const char *key;
	json_t *v;

	*out = (struct served_filter){ .since = 0, .until = INT64_MAX, .limit = cap };
	if (!json_is_object(f)) {
		*why = "invalid: a filter must be an object";
		return -EINVAL;
	}
	json_object_foreach(f, key, v) {
		if (strcmp(key, "since") == 0 || strcmp(key, "until") == 0 || strcmp(key, "limit") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				*why = "invalid: since, until and limit must be non-negative integers";
				return -EINVAL;
			}
			if (key[0] == 's')
				out->since = json_integer_value(v);
			else if (key[0] == 'u')
				out->until = json_integer_value(v);
			else if ((uint64_t)json_integer_value(v) < cap)
				out->limit = (uint64_t)json_integer_value(v);
		} else if (strcmp(key, "ids") == 0 || strcmp(key, "authors") == 0 || strcmp(key, "kinds") == 0) {
			if (!json_is_array(v)) {
				*why = "invalid: ids, authors and kinds must be arrays";
				return -EINVAL;
			}
			*(key[0] == 'i' ? &out->ids : key[0] == 'a' ? &out->authors : &out->kinds) = v;
		} else if (key[0] == '#') {
			out->never = true;
		}
	}
	return 0;
}

static bool array_has_string(json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

static bool array_has_int(json_t *a, json_int_t x)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
		if (json_is_integer(v) && json_integer_value(v) == x)
			return true;
	return false;
}

static bool filter_match(const struct served_filter *f, const struct served_event *e)
{
	return (!f->ids || array_has_string(f->ids, e->id)) && (!f->authors || array_has_string(f->authors, e->pubkey)) &&
	       (!f->kinds || array_has_int(f->kinds, 1));
}

/* Index one past the newest event with created_at <= until. */
static size_t upper_bound(const struct served_set *s, int64_t until)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->ev[mid].created_at <= until)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void served_query(const struct served_set *s, const struct served_filter *f, uint8_t *seen,
		  void (*emit)(void *arg, const struct served_event *e), void *arg)
{
	uint64_t sent = 0;

	if (f->never)
		return;
	for (size_t i = upper_bound(s, f->until); i-- > 0 && sent < f->limit;) {
		const struct served_event *e = &s->ev[i];
		if (e->created_at < f->since)
			break;
		if (!filter_match(f, e) || (seen && (seen[i / 8] & (1u << (i % 8)))))
			continue;
		if (seen)
			seen[i / 8] |= (uint8_t)(1u << (i % 8));
		emit(arg, e);
		sent++;
	}
}
