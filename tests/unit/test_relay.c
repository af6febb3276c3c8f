/* test_relay.c - relay.c against a fake session layer (fake_session.c): dispatch onto the
 * least-loaded session within its window, timeouts with backoff and retry, the graveyard
 * and a late OK, the rate-limit cooldown, permanent rejections, jobs lost with a session
 * coming back in order, reachability (at once for a relay never reached, after the grace
 * for one that was), the queue bound with held places, the same event joining one job,
 * and draining. Real libevent timers run the waits, with short settings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "clock.h"
#include "fake_session.h"
#include "relay.h"
#include "testlib.h"

#define N_EVENTS 8

static struct event_base *base;
static struct nostr_event ev[N_EVENTS];
static unsigned idle_calls, stopped_calls;

struct rec {
	struct job_waiter w;
	unsigned done, sent, stalled, released;
	enum job_status status;
	char message[300], why[300];
};

static void rec_done(struct job_waiter *w, const struct job *j)
{
	struct rec *r = (struct rec *)w;
	r->done++;
	r->status = j->status;
	snprintf(r->message, sizeof(r->message), "%s", j->message ? j->message : "");
}

static void rec_sent(struct job_waiter *w, const struct job *j)
{
	(void)j;
	((struct rec *)w)->sent++;
}

static void rec_stalled(struct job_waiter *w, const struct job *j, const char *why)
{
	struct rec *r = (struct rec *)w;
	(void)j;
	r->stalled++;
	snprintf(r->why, sizeof(r->why), "%s", why);
}

static void rec_release(struct job_waiter *w)
{
	((struct rec *)w)->released++;
}

static void rec_init(struct rec *r, bool keep)
{
	memset(r, 0, sizeof(*r));
	r->w = (struct job_waiter){ .done = rec_done, .sent = rec_sent, .stalled = rec_stalled, .release = rec_release,
				    .keep = keep };
}

static void owner_idle(void *owner, struct relay *r)
{
	(void)owner, (void)r;
	idle_calls++;
}

static void owner_stopped(void *owner, struct relay *r)
{
	(void)owner, (void)r;
	stopped_calls++;
}

static const struct relay_owner_ops owner = { .idle = owner_idle, .session_stopped = owner_stopped };

static struct relay *make_relay(unsigned sessions, unsigned window, unsigned queue)
{
	struct session_env env = { .base = base };
	struct config_relay cfg = { .name = "r", .url = "ws://127.0.0.1:1/", .tls_verify = true };
	const char *why;

	assert_int_equal(wsurl_parse(cfg.url, &cfg.wsurl, &why), 0);
	cfg.opts = (struct pool_opts){ .sessions = sessions,
				       .inflight = window,
				       .queue = queue,
				       .max_attempts = 2,
				       .connect_timeout_ms = 1000,
				       .publish_timeout_ms = 200,
				       .ping_interval_ms = 30000,
				       .pong_timeout_ms = 1000,
				       .backoff_base_ms = 20,
				       .backoff_max_ms = 100,
				       .max_message = 1 << 20,
				       .max_age_ms = 3600000,
				       .sync_overlap_ms = 0 };
	struct relay *r = relay_new(&env, &cfg, &owner, NULL);
	assert_non_null(r);
	return r;
}

static void free_relay(struct relay *r)
{
	relay_retire(r);
	relay_unref(r);
}

static bool in_flight_on(void *arg)
{
	return session_inflight(arg) > 0;
}

static bool rec_stalled_cond(void *arg)
{
	return ((struct rec *)arg)->stalled > 0;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_dispatch_least_loaded(void **state)
{
	struct relay *r = make_relay(2, 2, 10);
	struct session *s0 = fake_session(r, 0), *s1 = fake_session(r, 1);
	struct rec w[5];

	(void)state;
	fake_ready(s0);
	fake_ready(s1);
	for (int i = 0; i < 5; i++) {
		rec_init(&w[i], false);
		assert_int_equal(relay_submit(r, &ev[i], 1700000000, &w[i].w, false), 0);
	}
	assert_int_equal(session_inflight(s0), 2);
	assert_int_equal(session_inflight(s1), 2);
	assert_int_equal(relay_queued(r), 1);
	assert_int_equal(w[0].sent, 1);
	assert_int_equal(w[4].sent, 0);
	/* An OK frees a slot on s0: the queued one goes there. */
	assert_true(fake_ok(s0, fake_inflight_id(s0, 0), true, ""));
	assert_int_equal(w[0].done, 1);
	assert_int_equal(w[0].status, JOB_ACCEPTED);
	assert_int_equal(relay_queued(r), 0);
	assert_int_equal(session_inflight(s0), 2);
	assert_int_equal(w[4].sent, 1);
	assert_true(relay_job_in_flight(r, ev[4].id));
	/* An OK for an id nobody publishes is unknown. */
	uint8_t other[32] = { 1 };
	assert_false(fake_ok(s1, other, true, ""));
	free_relay(r);
	for (int i = 1; i < 5; i++)
		assert_int_equal(w[i].status, JOB_ABANDONED);
}

static void test_timeouts_retry_fail_then_late_ok(void **state)
{
	struct relay *r = make_relay(1, 4, 10);
	struct session *s = fake_session(r, 0);
	struct rec w;
	struct relay_view v;

	(void)state;
	rec_init(&w, true);
	fake_ready(s);
	assert_int_equal(relay_submit(r, &ev[0], 1700000000, &w.w, false), 0);
	assert_true(fake_timeout_oldest(s));
	/* Waits out its backoff (20 ms), then goes again. */
	assert_int_equal(session_inflight(s), 0);
	assert_int_equal(relay_queued(r), 1);
	assert_true(run_until(base, in_flight_on, s, 2000));
	assert_int_equal(w.done, 0);
	assert_true(fake_timeout_oldest(s));
	assert_int_equal(w.done, 1);
	assert_int_equal(w.status, JOB_FAILED);
	assert_string_equal(w.message, "no OK from the relay within 200 ms, 2 attempts");
	assert_false(relay_has_pending(r, ev[0].id));
	/* The graveyard still matches a late OK: the outcome improves. */
	assert_true(fake_ok(s, ev[0].id, true, ""));
	assert_int_equal(w.done, 2);
	assert_int_equal(w.status, JOB_ACCEPTED);
	assert_int_equal(w.released, 1);
	relay_view(r, &v);
	assert_int_equal(v.c->timeouts, 2);
	assert_int_equal(v.c->retries, 1);
	assert_int_equal(v.c->late_oks, 1);
	assert_int_equal(v.c->failed, 1);
	free_relay(r);
}

static void test_rate_limited_cooldown(void **state)
{
	struct relay *r = make_relay(1, 4, 10);
	struct session *s = fake_session(r, 0);
	struct rec w;
	uint64_t t0;

	(void)state;
	rec_init(&w, false);
	fake_ready(s);
	assert_int_equal(relay_submit(r, &ev[0], 1700000000, &w.w, false), 0);
	t0 = clock_now_us();
	assert_true(fake_ok(s, ev[0].id, false, "rate-limited: slow down"));
	/* Held for the cooldown, not sent at once. */
	assert_int_equal(session_inflight(s), 0);
	assert_int_equal(relay_queued(r), 1);
	assert_true(run_until(base, in_flight_on, s, 2000));
	assert_true(clock_now_us() - t0 >= 20000);
	assert_true(fake_ok(s, ev[0].id, true, ""));
	assert_int_equal(w.status, JOB_ACCEPTED);
	struct relay_view v;
	relay_view(r, &v);
	assert_int_equal(v.c->rate_limited, 1);
	assert_int_equal(v.cooldowns, 1);
	free_relay(r);
}

static void test_rejections_are_final(void **state)
{
	struct relay *r = make_relay(1, 4, 10);
	struct session *s = fake_session(r, 0);
	struct rec w;
	struct relay_view v;

	(void)state;
	rec_init(&w, false);
	fake_ready(s);
	assert_int_equal(relay_submit(r, &ev[0], 1700000000, &w.w, false), 0);
	assert_true(fake_ok(s, ev[0].id, false, "invalid: bad signature"));
	assert_int_equal(w.status, JOB_REJECTED);
	assert_string_equal(w.message, "invalid: bad signature");
	assert_int_equal(session_inflight(s), 0);
	assert_int_equal(relay_queued(r), 0);
	relay_view(r, &v);
	assert_int_equal(v.c->rejected, 1);
	assert_int_equal(v.c->rejected_invalid, 1);
	/* "duplicate:" is a success. */
	rec_init(&w, false);
	assert_int_equal(relay_submit(r, &ev[1], 1700000000, &w.w, false), 0);
	assert_true(fake_ok(s, ev[1].id, false, "duplicate: have it"));
	assert_int_equal(w.status, JOB_ACCEPTED);
	free_relay(r);
}

static void test_lost_jobs_come_back_in_order(void **state)
{
	struct relay *r = make_relay(2, 4, 10);
	struct session *s0 = fake_session(r, 0), *s1 = fake_session(r, 1);
	struct rec w[3];

	(void)state;
	fake_ready(s0);
	for (int i = 0; i < 3; i++) {
		rec_init(&w[i], false);
		assert_int_equal(relay_submit(r, &ev[i], 1700000000, &w[i].w, false), 0);
	}
	assert_int_equal(session_inflight(s0), 3);
	fake_drop(s0, "connection closed by the relay");
	assert_int_equal(relay_queued(r), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(w[i].done, 0);
	fake_ready(s1);
	assert_int_equal(session_inflight(s1), 3);
	for (unsigned i = 0; i < 3; i++)
		assert_memory_equal(fake_inflight_id(s1, i), ev[i].id, 32);
	/* A lost connection is not an attempt: two timeouts are still needed to fail. */
	assert_true(fake_timeout_oldest(s1));
	assert_int_equal(w[0].done, 0);
	free_relay(r);
}

static void test_unreachable_at_once_when_never_reached(void **state)
{
	struct relay *r = make_relay(1, 4, 10);
	struct session *s = fake_session(r, 0);
	struct rec w;
	const char *why;

	(void)state;
	rec_init(&w, false);
	assert_false(relay_unreachable(r, &why)); /* still trying its first connection */
	assert_int_equal(relay_submit(r, &ev[0], 1700000000, &w.w, false), 0);
	assert_int_equal(w.stalled, 0);
	fake_connect_failed(s, "Connection refused");
	assert_true(relay_unreachable(r, &why));
	assert_string_equal(why, "Connection refused");
	assert_int_equal(w.stalled, 1);
	assert_string_equal(w.why, "Connection refused");
	/* A submit while unreachable hears it before relay_submit returns. */
	struct rec w2;
	rec_init(&w2, false);
	assert_int_equal(relay_submit(r, &ev[1], 1700000000, &w2.w, false), 0);
	assert_int_equal(w2.stalled, 1);
	/* The jobs stay: once the relay is up they go. */
	fake_ready(s);
	assert_false(relay_unreachable(r, &why));
	assert_int_equal(session_inflight(s), 2);
	free_relay(r);
}

static void test_unreachable_after_the_grace_when_it_was_up(void **state)
{
	struct relay *r = make_relay(1, 4, 10);
	struct session *s = fake_session(r, 0);
	struct rec w;
	const char *why;
	uint64_t t0;

	(void)state;
	rec_init(&w, false);
	fake_ready(s);
	fake_drop(s, "connection closed by the relay");
	t0 = clock_now_us();
	fake_connect_failed(s, "Connection refused");
	/* A short outage is a slow OK, not an unreachable relay. */
	assert_false(relay_unreachable(r, &why));
	assert_int_equal(relay_submit(r, &ev[0], 1700000000, &w.w, false), 0);
	assert_int_equal(w.stalled, 0);
	/* Down for a whole publish_timeout (200 ms): now it is. */
	assert_true(run_until(base, rec_stalled_cond, &w, 3000));
	assert_true(clock_now_us() - t0 >= 190000);
	assert_string_equal(w.why, "Connection refused");
	assert_true(relay_unreachable(r, &why));
	free_relay(r);
}

static void test_queue_bound_and_held_places(void **state)
{
	struct relay *r = make_relay(1, 4, 3);
	struct rec w[4];
	struct relay_view v;

	(void)state;
	/* Nothing ready: everything waits. Three places can be held, not four. */
	assert_int_equal(relay_reserve(r, ev[0].id), 0);
	assert_int_equal(relay_reserve(r, ev[1].id), 0);
	assert_int_equal(relay_reserve(r, ev[2].id), 0);
	assert_int_equal(relay_reserve(r, ev[3].id), -ENOSPC);
	for (int i = 0; i < 3; i++) {
		rec_init(&w[i], false);
		assert_int_equal(relay_submit(r, &ev[i], 1700000000, &w[i].w, true), 0);
	}
	assert_int_equal(relay_queued(r), 3);
	/* Without a held place, the bound holds. */
	rec_init(&w[3], false);
	assert_int_equal(relay_submit(r, &ev[3], 1700000000, &w[3].w, false), -ENOSPC);
	relay_view(r, &v);
	assert_int_equal(v.c->queue_full, 2);
	/* The same event joins its job, room or not. */
	struct rec again;
	rec_init(&again, false);
	assert_int_equal(relay_reserve(r, ev[0].id), 0);
	assert_int_equal(relay_submit(r, &ev[0], 1700000000, &again.w, true), 0);
	assert_int_equal(relay_queued(r), 3);
	fake_ready(fake_session(r, 0));
	assert_true(fake_ok(fake_session(r, 0), ev[0].id, true, ""));
	assert_int_equal(w[0].status, JOB_ACCEPTED);
	assert_int_equal(again.status, JOB_ACCEPTED);
	free_relay(r);
}

static void test_joining_a_sent_job_hears_sent(void **state)
{
	struct relay *r = make_relay(1, 4, 10);
	struct session *s = fake_session(r, 0);
	struct rec a, b;
	unsigned sends = fake_sends;

	(void)state;
	rec_init(&a, false);
	rec_init(&b, false);
	fake_ready(s);
	assert_int_equal(relay_submit(r, &ev[0], 1700000000, &a.w, false), 0);
	assert_int_equal(relay_submit(r, &ev[0], 1700000000, &b.w, false), 0);
	assert_int_equal(fake_sends - sends, 1); /* one job, sent once */
	assert_int_equal(a.sent, 1);
	assert_int_equal(b.sent, 1);
	assert_true(fake_ok(s, ev[0].id, true, ""));
	assert_int_equal(a.done + b.done, 2);
	free_relay(r);
}

static void test_drain_then_idle(void **state)
{
	struct relay *r = make_relay(1, 4, 10);
	struct session *s = fake_session(r, 0);
	struct rec w;

	(void)state;
	rec_init(&w, false);
	idle_calls = 0;
	fake_ready(s);
	assert_int_equal(relay_submit(r, &ev[0], 1700000000, &w.w, false), 0);
	relay_drain(r);
	assert_true(relay_draining(r));
	assert_int_equal(idle_calls, 0);
	struct rec late;
	rec_init(&late, false);
	assert_int_equal(relay_submit(r, &ev[1], 1700000000, &late.w, false), -ESHUTDOWN);
	assert_int_equal(relay_reserve(r, ev[1].id), -ESHUTDOWN);
	assert_true(fake_ok(s, ev[0].id, true, ""));
	assert_int_equal(idle_calls, 1);
	free_relay(r);
}

/* A request can hold a relay that a reload or the shutdown retired meanwhile (the pool let
 * it go; the request's reference keeps the object): everything it then asks is answered,
 * nothing touches the freed job table. */
static void test_a_retired_relay_refuses_politely(void **state)
{
	struct relay *r = make_relay(1, 4, 10);
	struct rec w;

	(void)state;
	rec_init(&w, false);
	relay_ref(r); /* what a publish request holds */
	relay_retire(r);
	relay_unref(r); /* the pool lets go */
	assert_true(relay_draining(r));
	assert_int_equal(relay_reserve(r, ev[0].id), -ESHUTDOWN);
	assert_int_equal(relay_submit(r, &ev[0], 1700000000, &w.w, true), -ESHUTDOWN);
	assert_false(relay_has_pending(r, ev[0].id));
	assert_false(relay_job_in_flight(r, ev[0].id));
	relay_cancel(r, ev[0].id);
	assert_int_equal(relay_queued(r), 0);
	assert_int_equal(w.done, 0);
	relay_unref(r); /* the request goes: the object with it */
}

static int setup(void **state)
{
	(void)state;
	base = event_base_new();
	return base ? signed_events(ev, N_EVENTS, 9, "relay test") : -1;
}

static int teardown(void **state)
{
	(void)state;
	signed_events_clear(ev, N_EVENTS);
	event_base_free(base);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_least_loaded),
		cmocka_unit_test(test_timeouts_retry_fail_then_late_ok),
		cmocka_unit_test(test_rate_limited_cooldown),
		cmocka_unit_test(test_rejections_are_final),
		cmocka_unit_test(test_lost_jobs_come_back_in_order),
		cmocka_unit_test(test_unreachable_at_once_when_never_reached),
		cmocka_unit_test(test_unreachable_after_the_grace_when_it_was_up),
		cmocka_unit_test(test_queue_bound_and_held_places),
		cmocka_unit_test(test_joining_a_sent_job_hears_sent),
		cmocka_unit_test(test_drain_then_idle),
		cmocka_unit_test(test_a_retired_relay_refuses_politely),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
