/* served.c - the --serve event set of fast_relay and REQ filter matching over it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "benchgen.h"
#include "served.h"

static const struct served_set *sort_set;

static int by_id_cmp(const void *a, const void *b)
{
	return strcmp(sort_set->ev[*(const size_t *)a].id, sort_set->ev[*(const size_t *)b].id);
}

static int desc_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

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
	if (r == 0) {
		s->by_id = malloc((s->n ? s->n : 1) * sizeof(*s->by_id));
		if (!s->by_id)
			return -ENOMEM;
		for (size_t i = 0; i < s->n; i++)
			s->by_id[i] = i;
		sort_set = s;
		qsort(s->by_id, s->n, sizeof(*s->by_id), by_id_cmp);
	}
	return r;
}

void served_free(struct served_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->ev[i].json);
	free(s->ev);
	free(s->by_id);
	s->ev = NULL;
	s->by_id = NULL;
	s->n = 0;
}

/* The events an ids filter names, newest first (into idx, at most n of them). */
static size_t lookup_ids(const struct served_set *s, json_t *ids, size_t *idx)
{
	size_t k = 0, i;
	json_t *v;

	json_array_foreach(ids, i, v) {
		const char *id = json_string_value(v);
		size_t lo = 0, hi = s->n;
		if (!id)
			continue;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = strcmp(s->ev[s->by_id[mid]].id, id);
			if (c == 0) {
				idx[k++] = s->by_id[mid];
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	qsort(idx, k, sizeof(*idx), desc_cmp);
	return k;
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
	if (f->ids && s->by_id) {
		size_t *idx = malloc((json_array_size(f->ids) + 1) * sizeof(*idx)), k = lookup_ids(s, f->ids, idx);
		if (!idx)
			abort();
		for (size_t j = 0; j < k && sent < f->limit; j++) {
			size_t i = idx[j];
			const struct served_event *e = &s->ev[i];
			if (e->created_at < f->since || e->created_at > f->until || !filter_match(f, e) ||
			    (seen && (seen[i / 8] & (1u << (i % 8)))))
				continue;
			if (seen)
				seen[i / 8] |= (uint8_t)(1u << (i % 8));
			emit(arg, e);
			sent++;
		}
		free(idx);
		return;
	}
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
