/* test_publish.c - publish.c's requests and deliveries with the real relay layer over fake
 * sessions (fake_session.c), a real SQLite file and real timers: quorum met and impossible,
 * time in the queue not charged (a target's clock starts at its first send), the target's
 * own budget and the request's overall timeout, an unreachable relay reported at once with
 * its error, the all-or-nothing queue check, the "queued" reply, a failed commit sending
 * nothing, rows settled by the outcome, and pending rows resumed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "cache.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "fake_session.h"
#include "outbox.h"
#include "pool.h"
#include "publish.h"
#include "relay.h"
#include "request.h"
#include "testlib.h"
#include "verifier.h"

#define N_EVENTS 12

static struct event_base *base;
static struct nostr_event ev[N_EVENTS];
static char dir[128], dbfile[256], conf_path[256];

struct world {
	struct config *config;
	struct db *db;
	struct cache *cache;
	struct outbox *outbox;
	struct pool *pool;
	struct verifier *verifier;
	struct publisher *P;
	struct relay *a, *b;
};

/* ---- a client that collects reply lines -------------------------------------------------- */

struct client {
	json_t *replies; /* one per final reply */
	struct request_list requests;
};

static struct client cl;

static void sink_write(void *client, const char *data, size_t len)
{
	struct client *c = client;
	json_t *line = json_loadb(data, len, 0, NULL);

	if (line)
		json_array_append_new(c->replies, line);
}

static size_t sink_backlog(void *client)
{
	(void)client;
	return 0;
}

static size_t sink_high_water(void *client)
{
	(void)client;
	return 1 << 20;
}

static void sink_done(void *client)
{
	(void)client;
}

static const struct request_sink sink = { sink_write, sink_backlog, sink_high_water, sink_done };

static struct request *new_request(int id)
{
	struct request_peer peer = { 0 };
	json_t *jid = json_integer(id);
	struct request *r = request_new(&sink, &cl, &cl.requests, jid, &peer, NULL);

	json_decref(jid);
	return r;
}

static json_t *reply_for(int id)
{
	size_t i;
	json_t *x;

	json_array_foreach(cl.replies, i, x)
		if (json_integer_value(json_object_get(x, "id")) == id)
			return x;
	return NULL;
}

/* ---- the world ------------------------------------------------------------------------------ */

static void write_config(unsigned queue)
{
	FILE *f = fopen(conf_path, "w");

	fprintf(f,
		"[daemon]\nsocket = %s/s.sock\ncache = %s\n"
		"[pool]\nsessions = 1\ninflight = 4\nqueue = %u\nmax_attempts = 1\npublish_timeout = 100ms\n"
		"backoff_base = 20ms\nbackoff_max = 100ms\n"
		"[relay a]\nurl = ws://127.0.0.1:1\n[relay b]\nurl = ws://127.0.0.1:2\n",
		dir, dbfile, queue);
	fclose(f);
}

static void world_up(struct world *w, unsigned queue)
{
	char *why = NULL;

	memset(w, 0, sizeof(*w));
	write_config(queue);
	unlink(dbfile);
	if (config_load(conf_path, &w->config, &why) < 0)
		fail_msg("config: %s", why);
	if (db_open(dbfile, base, &w->db, &why) < 0)
		fail_msg("db: %s", why);
	assert_int_equal(cache_new(w->db, &w->cache), 0);
	assert_int_equal(outbox_new(w->db, &w->outbox), 0);
	assert_int_equal(verifier_new(base, 0, &w->verifier), 0);
	assert_int_equal(pool_new(base, &w->pool), 0);
	pool_apply_config(w->pool, w->config);
	struct publisher_env env = { .base = base, .pool = w->pool, .db = w->db, .cache = w->cache,
				     .outbox = w->outbox, .verifier = w->verifier };
	assert_int_equal(publisher_new(&env, &w->P), 0);
	w->a = pool_find_relay(w->pool, "a");
	w->b = pool_find_relay(w->pool, "b");
	assert_non_null(w->a);
	assert_non_null(w->b);
	cl.replies = json_array();
	LIST_INIT(&cl.requests);
}

static void world_down(struct world *w)
{
	char p[300];

	verifier_free(w->verifier);
	pool_free(w->pool);
	db_flush(w->db);
	publisher_free(w->P);
	outbox_free(w->outbox);
	cache_free(w->cache);
	db_close(w->db);
	config_free(w->config);
	request_detach_all(&cl.requests);
	json_decref(cl.replies);
	unlink(dbfile);
	snprintf(p, sizeof(p), "%s-wal", dbfile);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbfile);
	unlink(p);
}

/* Publishes ev[i] to the given relays (a and/or b) with quorum q. */
static void publish(struct world *w, int id, int i, bool to_a, bool to_b, unsigned q, enum publish_wait wait,
		    uint64_t timeout_ms)
{
	struct relay *t[2];
	size_t n = 0;

	if (to_a)
		t[n++] = relay_ref(w->a);
	if (to_b)
		t[n++] = relay_ref(w->b);
	struct publish_args args = { .targets = t, .n = n, .quorum = q, .wait = wait, .timeout_ms = timeout_ms };
	struct event_error err;
	assert_int_equal(event_from_json(ev[i].obj, &args.ev, &err), 0);
	publish_request(w->P, new_request(id), &args);
}

static void run_for(unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static bool has_reply(void *arg)
{
	return reply_for((int)(intptr_t)arg) != NULL;
}

static bool in_flight(void *arg)
{
	return session_inflight(arg) > 0;
}

static json_t *wait_reply(int id, unsigned ms)
{
	if (!run_until(base, has_reply, (void *)(intptr_t)id, ms))
		fail_msg("no reply to request %d within %u ms", id, ms);
	return reply_for(id);
}

static const char *error_code(json_t *reply)
{
	return json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
}

static const char *target_field(json_t *reply, const char *relay, const char *field)
{
	json_t *res = json_object_get(reply, "result") ? json_object_get(reply, "result") : json_object_get(reply, "error");
	size_t i;
	json_t *t;

	json_array_foreach(json_object_get(res, "relays"), i, t)
		if (strcmp(json_string_value(json_object_get(t, "relay")), relay) == 0)
			return json_string_value(json_object_get(t, field));
	return NULL;
}

static const char *row_state(struct world *w, int i, const char *url)
{
	static char state[32];
	char *why = NULL;
	json_t *rows = outbox_list(w->outbox, NULL, url, 100, &why), *row;
	size_t k;

	db_flush(w->db);
	state[0] = '\0';
	json_array_foreach(rows, k, row)
		if (strcmp(json_string_value(json_object_get(row, "event_id")), ev[i].id_hex) == 0)
			snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(row, "state")));
	json_decref(rows);
	return state;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_quorum_all_met(void **state)
{
	struct world w;
	struct session *sa, *sb;

	(void)state;
	world_up(&w, 10);
	sa = fake_session(w.a, 0);
	sb = fake_session(w.b, 0);
	fake_ready(sa);
	fake_ready(sb);
	publish(&w, 1, 0, true, true, 2, PUBLISH_WAIT_OK, 0);
	/* Nothing goes out before the commit (a few ms). */
	assert_int_equal(session_inflight(sa), 0);
	assert_true(run_until(base, in_flight, sa, 2000));
	assert_true(run_until(base, in_flight, sb, 2000));
	assert_true(fake_ok(sa, ev[0].id, true, ""));
	assert_null(reply_for(1));
	assert_true(fake_ok(sb, ev[0].id, false, "duplicate: already have it"));
	json_t *r = wait_reply(1, 2000);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "accepted")), 2);
	assert_string_equal(row_state(&w, 0, "ws://127.0.0.1:1/"), "accepted");
	assert_string_equal(row_state(&w, 0, "ws://127.0.0.1:2/"), "accepted");
	world_down(&w);
}

static void test_quorum_impossible_and_any(void **state)
{
	struct world w;
	struct session *sa, *sb;

	(void)state;
	world_up(&w, 10);
	sa = fake_session(w.a, 0);
	sb = fake_session(w.b, 0);
	fake_ready(sa);
	fake_ready(sb);
	/* all: one rejection makes it impossible, answered without waiting for b. */
	publish(&w, 1, 0, true, true, 2, PUBLISH_WAIT_OK, 0);
	assert_true(run_until(base, in_flight, sa, 2000));
	assert_true(fake_ok(sa, ev[0].id, false, "blocked: not you"));
	json_t *r = wait_reply(1, 2000);
	assert_string_equal(error_code(r), "quorum_failed");
	assert_string_equal(target_field(r, "a", "status"), "rejected");
	assert_string_equal(target_field(r, "a", "message"), "blocked: not you");
	assert_string_equal(target_field(r, "b", "status"), "pending");
	assert_string_equal(row_state(&w, 0, "ws://127.0.0.1:1/"), "rejected");
	/* any: b's acceptance is enough after a's rejection. */
	publish(&w, 2, 1, true, true, 1, PUBLISH_WAIT_OK, 0);
	assert_true(run_until(base, in_flight, sa, 2000));
	assert_true(fake_ok(sa, ev[1].id, false, "invalid: no"));
	assert_null(reply_for(2));
	assert_true(run_until(base, in_flight, sb, 2000));
	assert_true(fake_ok(sb, ev[1].id, true, ""));
	r = wait_reply(2, 2000);
	assert_true(json_is_true(json_object_get(r, "ok")));
	world_down(&w);
}

/* The relay's session is not ready for longer than the target's whole budget (100 ms + 1 s
 * slack): the time in the queue is not charged. */
static void test_queue_time_not_charged(void **state)
{
	struct world w;
	struct session *sa;

	(void)state;
	world_up(&w, 10);
	sa = fake_session(w.a, 0);
	publish(&w, 1, 0, true, false, 1, PUBLISH_WAIT_OK, 0);
	run_for(1500);
	assert_null(reply_for(1));
	assert_int_equal(relay_queued(w.a), 1);
	fake_ready(sa);
	assert_int_equal(session_inflight(sa), 1);
	assert_true(fake_ok(sa, ev[0].id, true, ""));
	json_t *r = wait_reply(1, 2000);
	assert_true(json_is_true(json_object_get(r, "ok")));
	world_down(&w);
}

/* Once sent, the target's clock runs: no OK within every attempt's timeout and a second. */
static void test_target_budget_from_first_send(void **state)
{
	struct world w;
	struct session *sa;
	uint64_t t0;

	(void)state;
	world_up(&w, 10);
	sa = fake_session(w.a, 0);
	fake_ready(sa);
	publish(&w, 1, 0, true, false, 1, PUBLISH_WAIT_OK, 0);
	assert_true(run_until(base, in_flight, sa, 2000));
	t0 = clock_now_us();
	json_t *r = wait_reply(1, 5000); /* the fake session never times out by itself */
	assert_true(clock_now_us() - t0 >= 1000000);
	assert_string_equal(error_code(r), "quorum_failed");
	assert_string_equal(target_field(r, "a", "status"), "pending");
	assert_non_null(strstr(target_field(r, "a", "message"), "no answer within 1100 ms of the first send"));
	/* The row stays pending: the outbox keeps delivering. */
	assert_string_equal(row_state(&w, 0, "ws://127.0.0.1:1/"), "pending");
	world_down(&w);
}

static void test_overall_timeout_counts_the_queue(void **state)
{
	struct world w;
	uint64_t t0 = clock_now_us();

	(void)state;
	world_up(&w, 10);
	publish(&w, 1, 0, true, false, 1, PUBLISH_WAIT_OK, 300);
	json_t *r = wait_reply(1, 3000);
	assert_true(clock_now_us() - t0 >= 300000);
	assert_string_equal(error_code(r), "quorum_failed");
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
			       "within the request's timeout"));
	assert_non_null(strstr(target_field(r, "a", "message"), "no answer within the request's timeout (300 ms)"));
	assert_int_equal(relay_queued(w.a), 1); /* still delivering */
	world_down(&w);
}

static void test_unreachable_relay_answers_at_once(void **state)
{
	struct world w;
	uint64_t t0;

	(void)state;
	world_up(&w, 10);
	fake_ready(fake_session(w.b, 0));
	fake_connect_failed(fake_session(w.a, 0), "Connection refused");
	t0 = clock_now_us();
	publish(&w, 1, 0, true, true, 2, PUBLISH_WAIT_OK, 0);
	json_t *r = wait_reply(1, 2000);
	assert_true(clock_now_us() - t0 < 1000000);
	assert_string_equal(error_code(r), "quorum_failed");
	assert_string_equal(target_field(r, "a", "status"), "pending");
	assert_string_equal(target_field(r, "a", "message"),
			    "relay unreachable: Connection refused; the outbox keeps delivering it");
	world_down(&w);
}

static void test_queued_reply(void **state)
{
	struct world w;

	(void)state;
	world_up(&w, 10);
	publish(&w, 1, 0, true, true, 2, PUBLISH_WAIT_QUEUED, 0);
	json_t *r = wait_reply(1, 2000);
	json_t *q = json_object_get(json_object_get(r, "result"), "queued");
	assert_int_equal(json_array_size(q), 2);
	assert_int_equal(relay_queued(w.a), 1);
	assert_int_equal(relay_queued(w.b), 1);
	assert_string_equal(row_state(&w, 0, "ws://127.0.0.1:2/"), "pending");
	world_down(&w);
}

/* A full queue on one target refuses the request before anything is stored or sent. */
static void test_queue_full_is_all_or_nothing(void **state)
{
	struct world w;

	(void)state;
	world_up(&w, 2);
	publish(&w, 1, 0, true, false, 1, PUBLISH_WAIT_QUEUED, 0);
	publish(&w, 2, 1, true, false, 1, PUBLISH_WAIT_QUEUED, 0);
	wait_reply(2, 2000);
	publish(&w, 3, 2, true, true, 2, PUBLISH_WAIT_QUEUED, 0);
	json_t *r = wait_reply(3, 2000);
	assert_string_equal(error_code(r), "queue_full");
	assert_int_equal(relay_queued(w.b), 0);
	assert_string_equal(row_state(&w, 2, "ws://127.0.0.1:2/"), "");
	assert_string_equal(row_state(&w, 2, "ws://127.0.0.1:1/"), "");
	world_down(&w);
}

static int refuse_commit(void *arg)
{
	(void)arg;
	return 1;
}

static void test_failed_commit_sends_nothing(void **state)
{
	struct world w;
	unsigned sends = fake_sends;

	(void)state;
	world_up(&w, 10);
	fake_ready(fake_session(w.a, 0));
	db_flush(w.db);
	sqlite3_commit_hook(db_handle(w.db), refuse_commit, NULL);
	publish(&w, 1, 0, true, false, 1, PUBLISH_WAIT_OK, 0);
	json_t *r = wait_reply(1, 2000);
	sqlite3_commit_hook(db_handle(w.db), NULL, NULL);
	assert_string_equal(error_code(r), "internal_error");
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
			       "not queued, nothing was sent"));
	assert_int_equal(fake_sends, sends);
	assert_int_equal(relay_queued(w.a), 0);
	assert_string_equal(row_state(&w, 0, "ws://127.0.0.1:1/"), "");
	world_down(&w);
}

static void test_pending_rows_resume(void **state)
{
	struct world w;
	struct session *sa;
	int64_t a, oid;

	(void)state;
	world_up(&w, 10);
	sa = fake_session(w.a, 0);
	assert_int_equal(cache_relay_id(w.cache, "ws://127.0.0.1:1/", &a), 0);
	assert_int_equal(outbox_add(w.outbox, &ev[3], false, a, &oid), 0);
	assert_int_equal(db_flush(w.db), 0);
	assert_int_equal(publisher_resume(w.P), 1);
	assert_int_equal(publisher_resume(w.P), 0); /* already delivering */
	fake_ready(sa);
	assert_int_equal(session_inflight(sa), 1);
	assert_true(fake_ok(sa, ev[3].id, true, ""));
	assert_string_equal(row_state(&w, 3, "ws://127.0.0.1:1/"), "accepted");
	world_down(&w);
}

/* A reload removes a target while the request waits for its commit: the relay object lives
 * on (the request holds it) but is retired; the target answers so and the row waits. */
static void test_a_target_removed_before_the_commit(void **state)
{
	struct world w;
	struct config *fresh;
	char *why = NULL;
	struct session *sb;

	(void)state;
	world_up(&w, 10);
	sb = fake_session(w.b, 0);
	fake_ready(sb);
	publish(&w, 1, 0, true, true, 1, PUBLISH_WAIT_OK, 0);
	/* The reload: relay a is gone from the configuration. */
	FILE *f = fopen(conf_path, "w");
	fprintf(f, "[daemon]\nsocket = %s/s.sock\ncache = %s\n[relay b]\nurl = ws://127.0.0.1:2\n", dir, dbfile);
	fclose(f);
	if (config_load(conf_path, &fresh, &why) < 0)
		fail_msg("config: %s", why);
	pool_apply_config(w.pool, fresh);
	assert_null(pool_find_relay(w.pool, "a"));
	assert_true(run_until(base, in_flight, sb, 2000));
	assert_true(fake_ok(sb, ev[0].id, true, ""));
	json_t *r = wait_reply(1, 2000);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(target_field(r, "a", "status"), "failed");
	assert_string_equal(target_field(r, "a", "message"), "the relay was removed by a reload; the outbox keeps the row");
	assert_string_equal(row_state(&w, 0, "ws://127.0.0.1:1/"), "pending");
	world_down(&w);
	config_free(fresh);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rp-test-publish-%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(dbfile, sizeof(dbfile), "%s/cache.db", dir);
	snprintf(conf_path, sizeof(conf_path), "%s/d.conf", dir);
	base = event_base_new();
	return base ? signed_events(ev, N_EVENTS, 11, "publish test") : -1;
}

static int teardown(void **state)
{
	(void)state;
	signed_events_clear(ev, N_EVENTS);
	event_base_free(base);
	unlink(conf_path);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quorum_all_met),
		cmocka_unit_test(test_quorum_impossible_and_any),
		cmocka_unit_test(test_queue_time_not_charged),
		cmocka_unit_test(test_target_budget_from_first_send),
		cmocka_unit_test(test_overall_timeout_counts_the_queue),
		cmocka_unit_test(test_unreachable_relay_answers_at_once),
		cmocka_unit_test(test_queued_reply),
		cmocka_unit_test(test_queue_full_is_all_or_nothing),
		cmocka_unit_test(test_failed_commit_sends_nothing),
		cmocka_unit_test(test_pending_rows_resume),
		cmocka_unit_test(test_a_target_removed_before_the_commit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
