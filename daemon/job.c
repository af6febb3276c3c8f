/* job.c - see job.h. */
#include <assert.h>
#include <errno.h>
#ifdef UNIT_TESTING
/* The unit test checks that job_check() catches a broken invariant: a failed assertion
 * calls the test's hook, which does not return. */
#undef assert
void job_assert_failed(const char *expression);
#define assert(e) ((e) ? (void)0 : job_assert_failed(#e))
#endif
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job.h"

const char *job_place_name(enum job_place p)
{
	switch (p) {
	case JOB_NEW: return "new";
	case JOB_QUEUED: return "queued";
	case JOB_DELAYED: return "delayed";
	case JOB_INFLIGHT: return "inflight";
	case JOB_GRAVEYARD: return "graveyard";
	case JOB_DONE: return "done";
	case JOB__PLACES: break;
	}
	return "?";
}

const char *job_status_name(enum job_status s)
{
	switch (s) {
	case JOB_PENDING: return "pending";
	case JOB_ACCEPTED: return "accepted";
	case JOB_REJECTED: return "rejected";
	case JOB_FAILED: return "failed";
	case JOB_ABANDONED: return "abandoned";
	}
	return "?";
}

void job_places_init(struct job_places *pl)
{
	memset(pl, 0, sizeof(*pl));
	TAILQ_INIT(&pl->queue);
	TAILQ_INIT(&pl->delayed);
	TAILQ_INIT(&pl->graveyard);
}

/* ["EVENT", {...}] once, reused for every attempt. */
static int make_text(struct job *j, const struct nostr_event *ev)
{
	size_t len;
	const char *json = event_json(ev, &len);

	j->text = json ? malloc(len + 11) : NULL;
	if (!j->text)
		return -ENOMEM;
	memcpy(j->text, "[\"EVENT\",", 9);
	memcpy(j->text + 9, json, len);
	j->text[9 + len] = ']';
	j->text[10 + len] = '\0';
	j->text_len = len + 10;
	return 0;
}

struct job *job_new(const struct nostr_event *ev, int64_t created_at, struct job_waiter *w)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	LIST_INIT(&j->waiters);
	if (make_text(j, ev) < 0) {
		free(j);
		return NULL;
	}
	memcpy(j->id, ev->id, 32);
	j->place = JOB_NEW;
	j->status = JOB_PENDING;
	j->enqueued_us = clock_now_us();
	j->created_at = created_at;
	LIST_INSERT_HEAD(&j->waiters, w, link);
	return j;
}

void job_free(struct job *j)
{
	struct job_waiter *w;

	if (!j)
		return;
	assert(j->place == JOB_NEW || j->place == JOB_DONE);
	while ((w = LIST_FIRST(&j->waiters))) {
		LIST_REMOVE(w, link);
		if (w->release)
			w->release(w);
	}
	free(j->text);
	free(j->message);
	free(j);
}

void job_set_message(struct job *j, const char *msg)
{
	free(j->message);
	j->message = strdup(msg ? msg : "");
}

/* ---- places ------------------------------------------------------------------------------ */

static struct job_list *list_of(struct job_places *pl, enum job_place p)
{
	switch (p) {
	case JOB_QUEUED: return &pl->queue;
	case JOB_DELAYED: return &pl->delayed;
	case JOB_GRAVEYARD: return &pl->graveyard;
	default: return NULL;
	}
}

static bool is_waiting(enum job_place p)
{
	return p == JOB_QUEUED || p == JOB_DELAYED;
}

/* NEW and DONE are passing states, not places anyone counts. */
static bool counted(enum job_place p)
{
	return p != JOB_NEW && p != JOB_DONE;
}

void job_check(const struct job *j)
{
	bool linked = j->link.tqe_prev != NULL;

	assert(j->place < JOB__PLACES);
	switch (j->place) {
	case JOB_QUEUED:
	case JOB_DELAYED:
	case JOB_GRAVEYARD:
		assert(linked && !j->send.on);
		break;
	case JOB_INFLIGHT:
		/* On its session, or just handed back by it (inside the session's callback). */
		assert(!linked && (j->send.on || j->send.sent_us));
		break;
	case JOB_NEW:
	case JOB_DONE:
	case JOB__PLACES:
		assert(!linked && !j->send.on);
		break;
	}
	(void)linked;
}

static void unplace(struct job_places *pl, struct job *j)
{
	struct job_list *l = list_of(pl, j->place);

	if (l) {
		TAILQ_REMOVE(l, j, link);
		j->link.tqe_prev = NULL;
	} else if (j->place == JOB_INFLIGHT) {
		session_forget(&j->send); /* a no-op when the session handed it back already */
	}
	if (counted(j->place))
		pl->n[j->place]--;
}

static void place(struct job_places *pl, struct job *j, const struct job_dest *to)
{
	struct job *it;

	switch (to->place) {
	case JOB_QUEUED:
		if (to->front)
			TAILQ_INSERT_HEAD(&pl->queue, j, link);
		else
			TAILQ_INSERT_TAIL(&pl->queue, j, link);
		break;
	case JOB_DELAYED:
		j->not_before_us = to->not_before_us;
		TAILQ_FOREACH_REVERSE(it, &pl->delayed, job_list, link)
			if (it->not_before_us <= j->not_before_us)
				break;
		if (it)
			TAILQ_INSERT_AFTER(&pl->delayed, it, j, link);
		else
			TAILQ_INSERT_HEAD(&pl->delayed, j, link);
		break;
	case JOB_GRAVEYARD:
		/* Every graveyard stay is equally long: appending keeps the list by expiry. */
		j->expires_us = to->expires_us;
		TAILQ_INSERT_TAIL(&pl->graveyard, j, link);
		break;
	default:
		break;
	}
	j->place = to->place;
	if (counted(to->place))
		pl->n[to->place]++;
}

int job_move(struct job_places *pl, struct job *j, const struct job_dest *to)
{
	enum job_place from = j->place;
	uint64_t now = clock_now_us();

	job_check(j);
	assert(to->place != JOB_NEW && to->place < JOB__PLACES);
	if (to->place == JOB_INFLIGHT) {
		/* The session takes it first: a failed send leaves the job where it was. */
		int r;
		assert(from != JOB_INFLIGHT);
		r = session_send_event(to->session, &j->send, j->id, j->text, j->text_len, to->timeout_us);
		if (r < 0)
			return r;
	}
	unplace(pl, j);
	place(pl, j, to);
	if (to->place == JOB_QUEUED && from != JOB_QUEUED)
		j->queued_since_us = now;
	if (is_waiting(from) != is_waiting(to->place))
		integral_set(&pl->waiting_time, pl->n[JOB_QUEUED] + pl->n[JOB_DELAYED], now);
	if ((from == JOB_INFLIGHT) != (to->place == JOB_INFLIGHT))
		integral_set(&pl->inflight_time, pl->n[JOB_INFLIGHT], now);
	job_check(j);
	return 0;
}

/* ---- waiters ------------------------------------------------------------------------------- */

void job_notify_done(struct job *j)
{
	struct job_waiter *w, *next;

	for (w = LIST_FIRST(&j->waiters); w; w = next) {
		next = LIST_NEXT(w, link);
		if (!w->keep)
			LIST_REMOVE(w, link);
		w->done(w, j);
	}
}

void job_notify_sent(struct job *j)
{
	struct job_waiter *w, *next;

	for (w = LIST_FIRST(&j->waiters); w; w = next) {
		next = LIST_NEXT(w, link);
		if (w->sent)
			w->sent(w, j);
	}
}

void job_notify_stalled(struct job *j, const char *why)
{
	struct job_waiter *w, *next;

	for (w = LIST_FIRST(&j->waiters); w; w = next) {
		next = LIST_NEXT(w, link);
		if (w->stalled)
			w->stalled(w, j, why);
	}
}
