/* test_job.c - a job's places and the one function that moves it: every move between the
 * relay's lists and a session's in-flight table, the counts and load integrals it keeps, a
 * failed send leaving the job where it was, the delayed list kept in order, waiters told
 * and released, and job_check() catching a job whose place and lists disagree. The session
 * below is a fake: job.c only needs it to take and forget an in-flight entry. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "clock.h"
#include "job.h"
#include "testlib.h"

/* ---- the fake session ------------------------------------------------------------------- */

struct session {
	bool accept;
	unsigned inflight;
};

int session_send_event(struct session *s, struct session_send *sent, const uint8_t id[32], const char *text,
		       size_t len, uint64_t timeout_us)
{
	(void)text, (void)len;
	if (!s->accept)
		return -ENOTCONN;
	memcpy(sent->id, id, 32);
	sent->on = s;
	sent->sent_us = clock_now_us();
	sent->deadline_us = sent->sent_us + timeout_us;
	s->inflight++;
	return 0;
}

void session_forget(struct session_send *sent)
{
	if (!sent->on)
		return;
	sent->on->inflight--;
	sent->on = NULL;
}

/* ---- job.c's assertions, caught --------------------------------------------------------------- */

static jmp_buf assert_jump;
static bool expecting_assert;
static const char *failed_expression;

void job_assert_failed(const char *expression);
void job_assert_failed(const char *expression)
{
	if (!expecting_assert)
		fail_msg("job.c: assertion failed: %s", expression);
	failed_expression = expression;
	longjmp(assert_jump, 1);
}

/* True if stmt trips one of job.c's assertions. */
#define ASSERTS(stmt)                                                                              \
	({                                                                                         \
		volatile bool tripped_ = false;                                                    \
		expecting_assert = true;                                                           \
		if (setjmp(assert_jump) == 0)                                                      \
			stmt;                                                                      \
		else                                                                               \
			tripped_ = true;                                                           \
		expecting_assert = false;                                                          \
		tripped_;                                                                          \
	})

/* ---- helpers ------------------------------------------------------------------------------- */

static struct nostr_event ev;
static unsigned done_calls, released;
static enum job_status last_status;

static void on_done(struct job_waiter *w, const struct job *j)
{
	(void)w;
	done_calls++;
	last_status = j->status;
}

static void on_release(struct job_waiter *w)
{
	(void)w;
	released++;
}

static int setup(void **state)
{
	(void)state;
	done_calls = released = 0;
	return signed_events(&ev, 1, 7, "a job");
}

static int teardown(void **state)
{
	(void)state;
	event_clear(&ev);
	return 0;
}

static struct job *new_job(struct job_waiter *w)
{
	struct job *j = job_new(&ev, 1700000000, w);

	assert_non_null(j);
	assert_int_equal(j->place, JOB_NEW);
	return j;
}

static void go(struct job_places *pl, struct job *j, enum job_place to)
{
	struct job_dest d = { .place = to };

	assert_int_equal(job_move(pl, j, &d), 0);
	assert_int_equal(j->place, to);
}

static unsigned list_len(struct job_list *l)
{
	unsigned n = 0;
	struct job *j;

	TAILQ_FOREACH(j, l, link)
		n++;
	return n;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_text_and_waiter(void **state)
{
	struct job_waiter w = { .done = on_done };
	struct job *j = new_job(&w);

	(void)state;
	assert_memory_equal(j->id, ev.id, 32);
	assert_true(strncmp(j->text, "[\"EVENT\",{", 10) == 0 && j->text[j->text_len - 1] == ']');
	assert_ptr_equal(LIST_FIRST(&j->waiters), &w);
	assert_int_equal(j->status, JOB_PENDING);
	job_free(j);
}

static void test_the_usual_life(void **state)
{
	struct job_places pl;
	struct session s = { .accept = true };
	struct job_waiter w = { .done = on_done };
	struct job *j = new_job(&w);
	struct job_dest inflight = { .place = JOB_INFLIGHT, .session = &s, .timeout_us = 1000000 };

	(void)state;
	job_places_init(&pl);
	go(&pl, j, JOB_QUEUED);
	assert_int_equal(pl.n[JOB_QUEUED], 1);
	assert_ptr_equal(TAILQ_FIRST(&pl.queue), j);
	assert_true(pl.waiting_time.v == 1);
	assert_int_equal(job_move(&pl, j, &inflight), 0);
	assert_int_equal(j->place, JOB_INFLIGHT);
	assert_ptr_equal(j->send.on, &s);
	assert_int_equal(s.inflight, 1);
	assert_int_equal(pl.n[JOB_QUEUED], 0);
	assert_int_equal(pl.n[JOB_INFLIGHT], 1);
	assert_true(TAILQ_EMPTY(&pl.queue));
	assert_true(pl.waiting_time.v == 0 && pl.inflight_time.v == 1);
	/* Done: out of the session's table too. */
	go(&pl, j, JOB_DONE);
	assert_null(j->send.on);
	assert_int_equal(s.inflight, 0);
	assert_int_equal(pl.n[JOB_INFLIGHT], 0);
	assert_true(pl.inflight_time.v == 0);
	j->status = JOB_ACCEPTED;
	job_notify_done(j);
	assert_int_equal(done_calls, 1);
	assert_int_equal(last_status, JOB_ACCEPTED);
	assert_true(LIST_EMPTY(&j->waiters)); /* not a keep waiter: detached */
	job_free(j);
}

static void test_a_failed_send_leaves_the_job_queued(void **state)
{
	struct job_places pl;
	struct session refusing = { .accept = false };
	struct job_waiter w = { .done = on_done };
	struct job *j = new_job(&w);
	struct job_dest inflight = { .place = JOB_INFLIGHT, .session = &refusing, .timeout_us = 1000 };

	(void)state;
	job_places_init(&pl);
	go(&pl, j, JOB_QUEUED);
	assert_int_equal(job_move(&pl, j, &inflight), -ENOTCONN);
	assert_int_equal(j->place, JOB_QUEUED);
	assert_int_equal(pl.n[JOB_QUEUED], 1);
	assert_int_equal(pl.n[JOB_INFLIGHT], 0);
	assert_ptr_equal(TAILQ_FIRST(&pl.queue), j);
	go(&pl, j, JOB_DONE);
	job_free(j);
}

/* Retries wait in the delayed list, soonest first, whatever order they arrive in; a requeue
 * goes to the head of the queue. */
static void test_delayed_order_and_requeue_front(void **state)
{
	struct job_places pl;
	struct session s = { .accept = true };
	struct job_waiter w[4] = { { .done = on_done }, { .done = on_done }, { .done = on_done }, { .done = on_done } };
	struct job *j[4];
	uint64_t at[4] = { 300, 100, 400, 200 };
	struct job *it;
	uint64_t last = 0;

	(void)state;
	job_places_init(&pl);
	for (int i = 0; i < 4; i++) {
		struct job_dest d = { .place = JOB_DELAYED, .not_before_us = at[i] };
		struct job_dest f = { .place = JOB_INFLIGHT, .session = &s, .timeout_us = 1 };
		j[i] = new_job(&w[i]);
		go(&pl, j[i], JOB_QUEUED);
		assert_int_equal(job_move(&pl, j[i], &f), 0);
		assert_int_equal(job_move(&pl, j[i], &d), 0);
		assert_null(j[i]->send.on);
	}
	assert_int_equal(s.inflight, 0);
	assert_int_equal(pl.n[JOB_DELAYED], 4);
	assert_int_equal(list_len(&pl.delayed), 4);
	TAILQ_FOREACH(it, &pl.delayed, link) {
		assert_true(it->not_before_us >= last);
		last = it->not_before_us;
	}
	assert_true(pl.waiting_time.v == 4);
	/* One goes back to the tail, another to the head. */
	go(&pl, j[0], JOB_QUEUED);
	struct job_dest front = { .place = JOB_QUEUED, .front = true };
	assert_int_equal(job_move(&pl, j[2], &front), 0);
	assert_ptr_equal(TAILQ_FIRST(&pl.queue), j[2]);
	assert_ptr_equal(TAILQ_LAST(&pl.queue, job_list), j[0]);
	assert_int_equal(pl.n[JOB_QUEUED], 2);
	assert_int_equal(pl.n[JOB_DELAYED], 2);
	assert_true(pl.waiting_time.v == 4); /* still waiting, both lists count */
	for (int i = 0; i < 4; i++) {
		go(&pl, j[i], JOB_DONE);
		job_free(j[i]);
	}
	for (int p = 0; p < JOB__PLACES; p++)
		assert_int_equal(pl.n[p], 0);
}

/* An entry the session handed back (timeout, lost, OK) is already out of its table: the
 * move takes the job on without asking the session again. */
static void test_handed_back_then_graveyard(void **state)
{
	struct job_places pl;
	struct session s = { .accept = true };
	struct job_waiter keep = { .done = on_done, .release = on_release, .keep = true };
	struct job *j = new_job(&keep);
	struct job_dest inflight = { .place = JOB_INFLIGHT, .session = &s, .timeout_us = 1 };
	struct job_dest grave = { .place = JOB_GRAVEYARD, .expires_us = 12345 };

	(void)state;
	job_places_init(&pl);
	go(&pl, j, JOB_QUEUED);
	assert_int_equal(job_move(&pl, j, &inflight), 0);
	session_forget(&j->send); /* what the session does before its timeout callback */
	assert_int_equal(job_move(&pl, j, &grave), 0);
	assert_int_equal(j->expires_us, 12345);
	assert_ptr_equal(TAILQ_FIRST(&pl.graveyard), j);
	assert_int_equal(pl.n[JOB_GRAVEYARD], 1);
	assert_true(pl.inflight_time.v == 0 && pl.waiting_time.v == 0);
	j->status = JOB_FAILED;
	job_notify_done(j);
	assert_int_equal(done_calls, 1);
	assert_ptr_equal(LIST_FIRST(&j->waiters), &keep); /* a keep waiter stays for a late OK */
	go(&pl, j, JOB_DONE);
	job_free(j);
	assert_int_equal(released, 1);
}

static void test_check_catches_a_broken_invariant(void **state)
{
	struct job_places pl;
	struct session s = { .accept = true };
	struct job_waiter w = { .done = on_done };
	struct job *j = new_job(&w);

	(void)state;
	job_places_init(&pl);
	go(&pl, j, JOB_QUEUED);
	job_check(j);
	/* Claims to be in flight while still linked in the queue. */
	j->place = JOB_INFLIGHT;
	assert_true(ASSERTS(job_check(j)));
	assert_non_null(strstr(failed_expression, "!linked"));
	/* Claims to be queued while a session holds it. */
	j->place = JOB_QUEUED;
	j->send.on = &s;
	assert_true(ASSERTS(job_check(j)));
	j->send.on = NULL;
	/* A job cannot be moved to NEW. */
	struct job_dest back = { .place = JOB_NEW };
	assert_true(ASSERTS(job_move(&pl, j, &back)));
	assert_false(ASSERTS(job_check(j)));
	job_check(j);
	go(&pl, j, JOB_DONE);
	job_free(j);
}

static unsigned sent_calls, stalled_calls;

static void on_sent(struct job_waiter *w, const struct job *j)
{
	(void)w, (void)j;
	sent_calls++;
}

static void on_stalled(struct job_waiter *w, const struct job *j, const char *why)
{
	(void)w, (void)j;
	assert_string_equal(why, "Connection refused");
	stalled_calls++;
}

static void test_waiters_hear_sent_and_stalled(void **state)
{
	struct job_waiter a = { .done = on_done, .sent = on_sent, .stalled = on_stalled };
	struct job_waiter b = { .done = on_done }; /* without the optional callbacks */
	struct job *j = new_job(&a);

	(void)state;
	LIST_INSERT_HEAD(&j->waiters, &b, link);
	job_notify_sent(j);
	job_notify_stalled(j, "Connection refused");
	assert_int_equal(sent_calls, 1);
	assert_int_equal(stalled_calls, 1);
	job_notify_done(j);
	assert_int_equal(done_calls, 2);
	assert_true(LIST_EMPTY(&j->waiters));
	job_free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_text_and_waiter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_usual_life, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_send_leaves_the_job_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delayed_order_and_requeue_front, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handed_back_then_graveyard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_catches_a_broken_invariant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_hear_sent_and_stalled, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
