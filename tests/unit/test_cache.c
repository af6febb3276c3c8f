/* test_cache.c - the SQLite cache on real temp files: NIP-01 filter queries checked against
 * the in-memory matcher (common/filter.c) on a fixed data set, replaceable and addressable
 * semantics, group commit, cursors, reopening, and refusing a damaged file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include "cache.h"
#include "db.h"
#include "filter.h"
#include "hex.h"

static struct event_base *base;

static char *temp_path(void)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *p;
	int fd;

	assert_true(asprintf(&p, "%s/rp-cache-XXXXXX", dir) > 0);
	fd = mkstemp(p);
	assert_true(fd >= 0);
	close(fd);
	unlink(p);
	return p;
}

static void remove_db(const char *p)
{
	char buf[4096];

	unlink(p);
	snprintf(buf, sizeof(buf), "%s-wal", p);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s-shm", p);
	unlink(buf);
}

/* The database under the cache the test works with (one at a time). */
static struct db *db;

static struct cache *open_ok(const char *path)
{
	struct cache *c = NULL;
	char *why = NULL;

	if (db_open(path, base, &db, &why) < 0)
		fail_msg("db_open: %s", why);
	if (cache_new(db, &c) < 0)
		fail_msg("cache_new failed");
	return c;
}

static void close_both(struct cache *c)
{
	cache_free(c);
	db_close(db);
	db = NULL;
}

/* The 80 nostr-tools vectors, parsed. */
static struct nostr_event *load_vectors(size_t *n)
{
	char *path, *line = NULL;
	size_t cap = 0;
	ssize_t len;
	struct nostr_event *v = NULL;
	FILE *f;

	assert_true(asprintf(&path, "%s/nostr-events.jsonl", getenv("TEST_DATA_DIR")) > 0);
	f = fopen(path, "r");
	assert_non_null(f);
	*n = 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		struct event_error err;
		v = realloc(v, (*n + 1) * sizeof(*v));
		assert_int_equal(event_parse(line, (size_t)len, &v[*n], &err), 0);
		(*n)++;
	}
	free(line);
	free(path);
	fclose(f);
	return v;
}

static int cmp_newest(const void *a, const void *b)
{
	const struct nostr_event *x = *(const struct nostr_event *const *)a, *y = *(const struct nostr_event *const *)b;

	if (x->created_at != y->created_at)
		return x->created_at > y->created_at ? -1 : 1;
	return memcmp(x->id, y->id, 32);
}

/* Expected ids for one filter: match, newest first, first `limit`. */
static size_t expect_one(struct nostr_event *ev, size_t n, const json_t *f, const struct nostr_event **out)
{
	size_t k = 0;
	json_t *lim = json_object_get(f, "limit");

	for (size_t i = 0; i < n; i++)
		if (filter_match(f, &ev[i]))
			out[k++] = &ev[i];
	qsort(out, k, sizeof(*out), cmp_newest);
	if (lim && (size_t)json_integer_value(lim) < k)
		k = (size_t)json_integer_value(lim);
	return k;
}

static void check_query(struct cache *c, struct nostr_event *ev, size_t n, const char *filters_text)
{
	json_t *filters = json_loads(filters_text, 0, NULL);
	const struct nostr_event **want = calloc(n * 4 + 1, sizeof(*want)), **one = calloc(n + 1, sizeof(*one));
	size_t nw = 0, i, j;
	json_t *f;
	sqlite3_stmt *st;
	char *why = NULL;
	const char *json;
	size_t len;
	int r;

	assert_non_null(filters);
	/* Union of every filter's matches, deduplicated, newest first. */
	json_array_foreach(filters, i, f) {
		size_t k = expect_one(ev, n, f, one);
		for (j = 0; j < k; j++) {
			size_t m;
			for (m = 0; m < nw && want[m] != one[j]; m++)
				;
			if (m == nw)
				want[nw++] = one[j];
		}
	}
	qsort(want, nw, sizeof(*want), cmp_newest);
	if (cache_query(c, filters, -1, &st, &why) < 0)
		fail_msg("%s: %s", filters_text, why);
	for (i = 0; (r = cache_query_next(st, &json, &len)) == 1; i++) {
		json_t *got = json_loadb(json, len, JSON_ALLOW_NUL, NULL);
		if (i >= nw)
			fail_msg("%s: more results than expected (%zu)", filters_text, nw);
		assert_string_equal(json_string_value(json_object_get(got, "id")), want[i]->id_hex);
		json_decref(got);
	}
	assert_int_equal(r, 0);
	if (i != nw)
		fail_msg("%s: %zu results, expected %zu", filters_text, i, nw);
	sqlite3_finalize(st);
	json_decref(filters);
	free(want);
	free(one);
}

static void test_query_semantics(void **state)
{
	char *path = temp_path();
	struct cache *c = open_ok(path);
	size_t n, stored = 0;
	struct nostr_event *ev = load_vectors(&n);
	enum cache_store res;
	char f[1024];

	(void)state;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(cache_store_event(c, &ev[i], 0, &res), 0);
		stored += res == CACHE_NEW || res == CACHE_REPLACED;
	}
	assert_int_equal(db_flush(db), 0);
	/* The vectors have replaceable events; keep only what the cache kept for matching. */
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *q = json_pack("[{s:[s]}]", "ids", ev[i].id_hex);
		sqlite3_stmt *st;
		char *why;
		const char *j;
		size_t l;
		assert_int_equal(cache_query(c, q, -1, &st, &why), 0);
		if (cache_query_next(st, &j, &l) == 1)
			ev[kept++] = ev[i];
		else
			event_clear(&ev[i]);
		sqlite3_finalize(st);
		json_decref(q);
	}
	assert_true(kept >= 50);
	check_query(c, ev, kept, "[{}]");
	check_query(c, ev, kept, "[{\"kinds\":[1]}]");
	check_query(c, ev, kept, "[{\"kinds\":[0,3,7],\"limit\":5}]");
	check_query(c, ev, kept, "[{\"since\":1700000010,\"until\":1700000040}]");
	check_query(c, ev, kept, "[{\"limit\":0}]");
	check_query(c, ev, kept, "[{\"kinds\":[1],\"limit\":3},{\"kinds\":[30023]},{\"since\":4102444800}]");
	snprintf(f, sizeof(f), "[{\"ids\":[\"%s\",\"%s\"]}]", ev[3].id_hex, ev[7].id_hex);
	check_query(c, ev, kept, f);
	char pk[65];
	hex_encode(ev[5].pubkey, 32, pk);
	snprintf(f, sizeof(f), "[{\"authors\":[\"%s\"],\"kinds\":[1]}]", pk);
	check_query(c, ev, kept, f);
	/* Tag filters: whatever single-letter tags the vectors carry. */
	check_query(c, ev, kept, "[{\"#t\":[\"nostr\",\"x\"]}]");
	check_query(c, ev, kept, "[{\"#e\":[\"\"]},{\"#p\":[\"\"]}]");
	check_query(c, ev, kept, "[{\"#d\":[\"article\",\"\"]}]");
	for (size_t i = 0; i < kept; i++)
		event_clear(&ev[i]);
	free(ev);
	close_both(c);
	remove_db(path);
	free(path);
}

/* Signs a template with a fixed key. */
static void make(struct nostr_event *ev, int kind, int64_t created_at, const char *dtag, const char *content)
{
	static secp256k1_keypair kp;
	static int ready;
	struct event_error err;
	uint8_t sk[32] = { [31] = 9 };
	json_t *t;

	if (!ready) {
		assert_true(secp256k1_keypair_create(event_secp_context(), &kp, sk));
		ready = 1;
	}
	t = dtag ? json_pack("{s:i, s:I, s:s, s:[[s,s]]}", "kind", kind, "created_at", (json_int_t)created_at, "content",
			     content, "tags", "d", dtag)
		 : json_pack("{s:i, s:I, s:s}", "kind", kind, "created_at", (json_int_t)created_at, "content", content);
	assert_int_equal(event_sign_template(t, &kp, ev, &err), 0);
	json_decref(t);
}

static long long count_kind(struct cache *c, int kind)
{
	char q[64];
	json_t *f;
	sqlite3_stmt *st;
	char *why;
	const char *j;
	size_t l;
	long long n = 0;

	snprintf(q, sizeof(q), "[{\"kinds\":[%d]}]", kind);
	f = json_loads(q, 0, NULL);
	assert_int_equal(cache_query(c, f, -1, &st, &why), 0);
	while (cache_query_next(st, &j, &l) == 1)
		n++;
	sqlite3_finalize(st);
	json_decref(f);
	return n;
}

static void test_replaceable_and_addressable(void **state)
{
	char *path = temp_path();
	struct cache *c = open_ok(path);
	struct nostr_event a, b, old, tie1, tie2, art1, art2, other, eph;
	enum cache_store res;

	(void)state;
	make(&a, 0, 1000, NULL, "first profile");
	make(&b, 0, 2000, NULL, "second profile");
	make(&old, 0, 500, NULL, "stale profile");
	assert_int_equal(cache_store_event(c, &a, 0, &res), 0);
	assert_int_equal(res, CACHE_NEW);
	assert_int_equal(cache_store_event(c, &b, 0, &res), 0);
	assert_int_equal(res, CACHE_REPLACED);
	assert_int_equal(cache_store_event(c, &old, 0, &res), 0);
	assert_int_equal(res, CACHE_STALE);
	assert_int_equal(cache_store_event(c, &b, 0, &res), 0);
	assert_int_equal(res, CACHE_DUPLICATE);
	assert_int_equal(count_kind(c, 0), 1);

	/* A tie on created_at keeps the lowest id. */
	make(&tie1, 10002, 3000, NULL, "relays one");
	make(&tie2, 10002, 3000, NULL, "relays two");
	const struct nostr_event *lo = memcmp(tie1.id, tie2.id, 32) < 0 ? &tie1 : &tie2, *hi = lo == &tie1 ? &tie2 : &tie1;
	assert_int_equal(cache_store_event(c, hi, 0, &res), 0);
	assert_int_equal(cache_store_event(c, lo, 0, &res), 0);
	assert_int_equal(res, CACHE_REPLACED);
	assert_int_equal(cache_store_event(c, hi, 0, &res), 0);
	assert_int_equal(res, CACHE_STALE);

	/* Addressable: one per d tag. */
	make(&art1, 30023, 100, "post", "v1");
	make(&art2, 30023, 200, "post", "v2");
	make(&other, 30023, 150, "other", "another article");
	cache_store_event(c, &art1, 0, &res);
	cache_store_event(c, &other, 0, &res);
	cache_store_event(c, &art2, 0, &res);
	assert_int_equal(res, CACHE_REPLACED);
	assert_int_equal(count_kind(c, 30023), 2);

	/* Ephemeral events are not kept. */
	make(&eph, 20001, 100, NULL, "typing...");
	assert_int_equal(cache_store_event(c, &eph, 0, &res), 0);
	assert_int_equal(res, CACHE_EPHEMERAL);
	assert_int_equal(count_kind(c, 20001), 0);

	struct nostr_event *all[] = { &a, &b, &old, &tie1, &tie2, &art1, &art2, &other, &eph };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		event_clear(all[i]);
	close_both(c);
	remove_db(path);
	free(path);
}

static int committed_calls;
static void on_commit(void *arg, int err)
{
	(void)arg;
	assert_int_equal(err, 0);
	committed_calls++;
}

static void test_commit_cursor_reopen(void **state)
{
	char *path = temp_path();
	struct cache *c = open_ok(path);
	struct nostr_event ev;
	enum cache_store res;
	int64_t relay, until;
	long long n;

	(void)state;
	make(&ev, 1, 42, NULL, "kept across a reopen");
	assert_int_equal(cache_relay_id(c, "wss://r.example/", &relay), 0);
	assert_int_equal(cache_store_event(c, &ev, relay, &res), 0);
	assert_int_equal(cache_set_cursor(c, relay, "{\"kinds\":[1]}", 12345), 0);
	assert_int_equal(db_after_commit(db, on_commit, NULL), 0);
	assert_int_equal(committed_calls, 0); /* nothing promised before the commit */
	event_base_loop(base, EVLOOP_ONCE); /* the commit timer */
	assert_int_equal(committed_calls, 1);
	close_both(c);

	c = open_ok(path);
	assert_int_equal(cache_get_cursor(c, relay, "{\"kinds\":[1]}", &until), 0);
	assert_int_equal(until, 12345);
	assert_int_equal(cache_get_cursor(c, relay, "{\"kinds\":[2]}", &until), 0);
	assert_int_equal(until, 0);
	assert_int_equal(cache_count_events(c, &n), 0);
	assert_int_equal(n, 1);
	event_clear(&ev);
	close_both(c);
	remove_db(path);
	free(path);
}

static void test_refuses_damaged_files(void **state)
{
	char *path = temp_path(), *why = NULL;
	struct db *d = NULL;
	FILE *f;

	(void)state;
	f = fopen(path, "w");
	fputs("this is not a database, it is a text file that happens to be long enough to look like a header", f);
	fclose(f);
	assert_int_not_equal(db_open(path, base, &d, &why), 0);
	assert_null(d);
	assert_non_null(strstr(why, path));
	free(why);
	remove_db(path);
	free(path);
}

static int setup(void **state)
{
	(void)state;
	base = event_base_new();
	return base ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	event_base_free(base);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_semantics),
		cmocka_unit_test(test_replaceable_and_addressable),
		cmocka_unit_test(test_commit_cursor_reopen),
		cmocka_unit_test(test_refuses_damaged_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
