/* test_outbox.c - the outbox's rows and their transitions on a real SQLite file: added
 * pending, settled accepted / rejected / expired, re-armed by a new publish or a retry,
 * listed and selected, deleted; the event's text kept once (in the events table when the
 * cache has it); a savepoint that fails leaves no row; a commit that fails leaves no row
 * and tells its callbacks. */
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

#include "cache.h"
#include "db.h"
#include "outbox.h"
#include "testlib.h"

static struct event_base *base;
static struct db *db;
static struct cache *cache;
static struct outbox *ob;
static char path[256];
static struct nostr_event ev[3];

static int open_all(void **state)
{
	char *why = NULL;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/rp-test-outbox-%d.db", (int)getpid());
	unlink(path);
	if (db_open(path, base, &db, &why) < 0 || cache_new(db, &cache) < 0 || outbox_new(db, &ob) < 0) {
		fprintf(stderr, "%s\n", why ? why : "setup");
		return -1;
	}
	return 0;
}

static int close_all(void **state)
{
	char p[300];

	(void)state;
	outbox_free(ob);
	cache_free(cache);
	db_close(db);
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	return 0;
}

struct seen {
	int n, with_json;
	int64_t oids[8];
};

static int count_row(void *arg, const struct outbox_row *row)
{
	struct seen *s = arg;

	s->oids[s->n++] = row->oid;
	s->with_json += row->json != NULL;
	assert_string_equal(row->url, "ws://a.example/");
	return 0;
}

static struct seen pending(void)
{
	struct seen s = { 0 };

	assert_int_equal(outbox_each_pending(ob, count_row, &s), 0);
	return s;
}

static long long count_of(const char *state)
{
	json_t *c = outbox_counts(ob);
	long long n = json_integer_value(json_object_get(c, state));

	json_decref(c);
	return n;
}

static void test_row_life(void **state)
{
	int64_t a, b, oid1, oid2, again;
	json_t *rows;

	(void)state;
	assert_int_equal(cache_relay_id(cache, "ws://a.example/", &a), 0);
	assert_int_equal(cache_relay_id(cache, "ws://b.example/", &b), 0);
	/* Not in the cache (say, an ephemeral event): the row keeps its text. */
	assert_int_equal(outbox_add(ob, &ev[0], false, a, &oid1), 0);
	assert_int_equal(outbox_add(ob, &ev[1], false, a, &oid2), 0);
	assert_int_equal(db_flush(db), 0);
	struct seen s = pending();
	assert_int_equal(s.n, 2);
	assert_int_equal(s.with_json, 2);
	assert_int_equal(count_of("pending"), 2);
	/* Outcomes. */
	assert_int_equal(outbox_settle(ob, oid1, OUTBOX_ACCEPTED, 1, ""), 0);
	assert_int_equal(outbox_settle(ob, oid2, OUTBOX_REJECTED, 1, "invalid: no"), 0);
	assert_int_equal(db_flush(db), 0);
	assert_int_equal(pending().n, 0);
	assert_int_equal(count_of("accepted"), 1);
	assert_int_equal(count_of("rejected"), 1);
	char *why = NULL;
	rows = outbox_list(ob, "failed", NULL, 100, &why);
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "message")), "invalid: no");
	json_decref(rows);
	/* The same event published again: the row is re-armed, not doubled. */
	assert_int_equal(outbox_add(ob, &ev[1], false, a, &again), 0);
	assert_int_equal(again, oid2);
	assert_int_equal(db_flush(db), 0);
	assert_int_equal(count_of("pending"), 1);
	assert_int_equal(count_of("rejected"), 0);
	/* Selected by event id, retried (re-armed) and dropped. */
	assert_int_equal(outbox_settle(ob, oid1, OUTBOX_EXPIRED, 3, "expired"), 0);
	rows = outbox_select(ob, 0, ev[0].id);
	assert_int_equal(json_array_size(rows), 1);
	assert_int_equal(outbox_rearm(ob, rows), 0);
	json_decref(rows);
	assert_int_equal(db_flush(db), 0);
	assert_int_equal(count_of("pending"), 2);
	rows = outbox_select(ob, oid2, NULL);
	assert_int_equal(outbox_delete(ob, rows), 0);
	json_decref(rows);
	assert_int_equal(db_flush(db), 0);
	s = pending();
	assert_int_equal(s.n, 1);
	assert_int_equal(s.oids[0], oid1);
	(void)b;
}

/* With the event in the cache, the row has no copy: the text comes from the events table. */
static void test_text_kept_once(void **state)
{
	int64_t a, oid;
	enum cache_store res;

	(void)state;
	assert_int_equal(cache_relay_id(cache, "ws://a.example/", &a), 0);
	assert_int_equal(cache_store_event(cache, &ev[2], 0, &res), 0);
	assert_int_equal(res, CACHE_NEW);
	assert_int_equal(outbox_add(ob, &ev[2], true, a, &oid), 0);
	assert_int_equal(db_flush(db), 0);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db_handle(db), "SELECT json IS NULL FROM outbox_events", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
	struct seen s = pending();
	assert_int_equal(s.n, 1);
	assert_int_equal(s.with_json, 1); /* joined from the events table */
}

static void test_failed_savepoint_leaves_nothing(void **state)
{
	int64_t a, oid;
	enum cache_store res;

	(void)state;
	assert_int_equal(cache_relay_id(cache, "ws://a.example/", &a), 0);
	assert_int_equal(db_flush(db), 0);
	assert_int_equal(db_savepoint(db), 0);
	assert_int_equal(cache_store_event(cache, &ev[0], 0, &res), 0);
	assert_int_equal(outbox_add(ob, &ev[0], true, a, &oid), 0);
	/* Something after them failed: the group goes, the batch goes on. */
	assert_int_equal(db_release(db, -EIO), -EIO);
	assert_int_equal(outbox_add(ob, &ev[1], false, a, &oid), 0);
	assert_int_equal(db_flush(db), 0);
	struct seen s = pending();
	assert_int_equal(s.n, 1);
	long long events = -1;
	assert_int_equal(cache_count_events(cache, &events), 0);
	assert_int_equal(events, 0);
}

static int refuse_commit(void *arg)
{
	(void)arg;
	return 1; /* SQLite turns the COMMIT into a ROLLBACK */
}

static int commit_err = 1;

static void after(void *arg, int err)
{
	(void)arg;
	commit_err = err;
}

static void test_failed_commit_leaves_nothing(void **state)
{
	int64_t a, oid;

	(void)state;
	assert_int_equal(cache_relay_id(cache, "ws://a.example/", &a), 0);
	assert_int_equal(db_flush(db), 0);
	assert_int_equal(outbox_add(ob, &ev[0], false, a, &oid), 0);
	assert_int_equal(db_after_commit(db, after, NULL), 0);
	sqlite3_commit_hook(db_handle(db), refuse_commit, NULL);
	assert_true(db_flush(db) < 0);
	sqlite3_commit_hook(db_handle(db), NULL, NULL);
	assert_true(commit_err < 0);
	assert_int_equal(db_commit_failures(db), 1);
	assert_int_equal(pending().n, 0);
	/* The next batch works, and the relay's id is looked up afresh. */
	int64_t a2;
	assert_int_equal(cache_relay_id(cache, "ws://a.example/", &a2), 0);
	assert_int_equal(outbox_add(ob, &ev[0], false, a2, &oid), 0);
	assert_int_equal(db_flush(db), 0);
	assert_int_equal(pending().n, 1);
}

static int setup(void **state)
{
	(void)state;
	base = event_base_new();
	return base ? signed_events(ev, 3, 5, "outbox test") : -1;
}

static int teardown(void **state)
{
	(void)state;
	signed_events_clear(ev, 3);
	event_base_free(base);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_row_life, open_all, close_all),
		cmocka_unit_test_setup_teardown(test_text_kept_once, open_all, close_all),
		cmocka_unit_test_setup_teardown(test_failed_savepoint_leaves_nothing, open_all, close_all),
		cmocka_unit_test_setup_teardown(test_failed_commit_leaves_nothing, open_all, close_all),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
