/* relay.c - one relay: the bounded job queue, dispatch onto the least-loaded ready session
 * with window space, OK handling by NIP-01 prefix, timeouts and retries, the rate-limit
 * cooldown, late OKs, draining on reload, and the relay's counters. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "daemon.h"
#include "cache.h"
#include "idmap.h"
#include "log.h"
#include "pool.h"
#include "relay.h"
#include "trace.h"

/* A failed job is still matched by a late OK for this long. */
#define GRAVEYARD_MIN_USEC (60 * 1000000ULL)

#define rlog(r, prio, fmt, ...) log_relay(prio, (r)->name, fmt, ##__VA_ARGS__)

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

static void tv_from_usec(struct timeval *tv, uint64_t us)
{
	tv->tv_sec = (time_t)(us / 1000000);
	tv->tv_usec = (suseconds_t)(us % 1000000);
}

static void arm_age_timer(struct relay *r);

/* ---- jobs ------------------------------------------------------------------------------ */

static void job_free(struct job *j)
{
	struct job_waiter *w;

	while ((w = LIST_FIRST(&j->waiters))) {
		LIST_REMOVE(w, link);
		if (w->release)
			w->release(w);
	}
	free(j->text);
	free(j->message);
	free(j);
}

static void set_message(struct job *j, const char *msg)
{
	free(j->message);
	j->message = strdup(msg ? msg : "");
}

/* Takes a job out of the queue or its session's in-flight list. */
static void job_unplace(struct relay *r, struct job *j)
{
	if (j->queued) {
		TAILQ_REMOVE(&r->queue, j, link);
		r->queue_len--;
		j->queued = false;
		stats_queue_changed(r, -1);
	} else if (j->not_before_us) {
		TAILQ_REMOVE(&r->delayed, j, link);
		r->delayed_len--;
		j->not_before_us = 0;
		stats_queue_changed(r, -1);
	} else if (j->session) {
		TAILQ_REMOVE(&j->session->inflight, j, link);
		j->session->n_inflight--;
		stats_inflight_changed(r, j->session, -1);
		j->session = NULL;
	}
}

static void arm_reap(struct relay *r)
{
	struct job *j = TAILQ_FIRST(&r->graveyard);
	uint64_t now = clock_now_us();
	struct timeval tv;

	if (!j || evtimer_pending(r->reap_timer, NULL))
		return;
	tv_from_usec(&tv, j->expires_us > now ? j->expires_us - now : 0);
	evtimer_add(r->reap_timer, &tv);
}

/* Tells every waiter the outcome. Waiters without keep are detached first (their done()
 * may free them); keep waiters stay for a later upgrade. */
static void notify_waiters(struct job *j)
{
	struct job_waiter *w, *next;

	for (w = LIST_FIRST(&j->waiters); w; w = next) {
		next = LIST_NEXT(w, link);
		if (!w->keep)
			LIST_REMOVE(w, link);
		w->done(w, j);
	}
}

/* Final outcome. Failed jobs go to the graveyard, where a late OK can still upgrade them. */
static void job_finish(struct relay *r, struct job *j, enum job_status st, const char *msg)
{
	j->status = st;
	set_message(j, msg);
	if (st != JOB_ACCEPTED && st != JOB_REJECTED)
		TRACE(r, NULL, j, job_status_name(st), "%s", "");
	if (st == JOB_ABANDONED) {
		idmap_remove(r->jobs, j->id);
	} else if (st == JOB_FAILED) {
		uint64_t keep = 3 * r->opts.publish_timeout_ms * 1000;
		j->expires_us = clock_now_us() + (keep > GRAVEYARD_MIN_USEC ? keep : GRAVEYARD_MIN_USEC);
		TAILQ_INSERT_TAIL(&r->graveyard, j, link);
		arm_reap(r);
		r->c.failed++;
	} else {
		idmap_remove(r->jobs, j->id);
	}
	notify_waiters(j);
	if (st != JOB_FAILED)
		job_free(j);
	if (r->draining && relay_idle(r))
		pool_relay_idle(r->pool, r);
}

/* Puts a list of jobs back at the head of the queue, in their order. */
static void requeue_front(struct relay *r, struct job_list *list)
{
	struct job *j;
	unsigned n = 0;

	uint64_t now = clock_now_us();

	TAILQ_FOREACH(j, list, link) {
		j->queued = true;
		j->session = NULL;
		j->queued_since_us = now;
		n++;
	}
	TAILQ_CONCAT(list, &r->queue, link);
	TAILQ_CONCAT(&r->queue, list, link);
	r->queue_len += n;
	if (n)
		stats_queue_changed(r, (int)n);
	arm_age_timer(r);
}

static void requeue_one(struct relay *r, struct job *j)
{
	struct job_list one = TAILQ_HEAD_INITIALIZER(one);

	TAILQ_INSERT_TAIL(&one, j, link);
	requeue_front(r, &one);
}

/* ["EVENT", {...}] once, reused for every attempt. */
static int job_text(struct job *j, const struct nostr_event *ev)
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

int relay_submit(struct relay *r, const struct nostr_event *ev, struct job_waiter *w)
{
	return relay_submit_at(r, ev, (int64_t)time(NULL), w);
}

int relay_submit_at(struct relay *r, const struct nostr_event *ev, int64_t created_at, struct job_waiter *w)
{
	struct job *j = idmap_get(r->jobs, ev->id);

	if (r->draining)
		return -ESHUTDOWN;
	if (j && j->status == JOB_PENDING) {
		LIST_INSERT_HEAD(&j->waiters, w, link);
		return 0;
	}
	if (j) {
		/* Failed before: forget the old job and try again. */
		TAILQ_REMOVE(&r->graveyard, j, link);
		idmap_remove(r->jobs, j->id);
		job_free(j);
	}
	if (relay_queued(r) >= r->opts.queue) {
		r->c.queue_full++;
		return -ENOSPC;
	}
	j = calloc(1, sizeof(*j));
	if (!j || job_text(j, ev) < 0 || idmap_put(r->jobs, ev->id, j) < 0) {
		if (j)
			job_free(j);
		return -ENOMEM;
	}
	j->relay = r;
	memcpy(j->id, ev->id, 32);
	j->status = JOB_PENDING;
	j->enqueued_us = clock_now_us();
	j->created_at = created_at;
	LIST_INIT(&j->waiters);
	LIST_INSERT_HEAD(&j->waiters, w, link);
	TAILQ_INSERT_TAIL(&r->queue, j, link);
	j->queued = true;
	j->queued_since_us = j->enqueued_us;
	r->queue_len++;
	stats_queue_changed(r, 1);
	r->c.submitted++;
	TRACE(r, NULL, j, "queued", ",\"queued\":%u", r->queue_len);
	relay_dispatch(r);
	arm_age_timer(r);
	return 0;
}

unsigned relay_queued(const struct relay *r)
{
	return r->queue_len + r->delayed_len;
}

bool relay_has_pending(const struct relay *r, const uint8_t id[32])
{
	const struct job *j = idmap_get(r->jobs, id);
	return j && j->status == JOB_PENDING;
}

bool relay_job_in_flight(const struct relay *r, const uint8_t id[32])
{
	const struct job *j = idmap_get(r->jobs, id);
	return j && j->status == JOB_PENDING && j->session;
}

void relay_cancel(struct relay *r, const uint8_t id[32])
{
	struct job *j = idmap_get(r->jobs, id);

	if (!j)
		return;
	if (j->status == JOB_FAILED) {
		TAILQ_REMOVE(&r->graveyard, j, link);
		idmap_remove(r->jobs, j->id);
		job_free(j);
		return;
	}
	job_unplace(r, j);
	job_finish(r, j, JOB_ABANDONED, "delivery cancelled");
}

void relay_forget_waiter(struct job_waiter *w)
{
	LIST_REMOVE(w, link);
}

/* ---- dispatch ----------------------------------------------------------------------------- */

/* The ready session with the fewest jobs in flight and room in its window. */
static struct session *pick_session(struct relay *r)
{
	struct session *best = NULL;

	for (unsigned i = 0; i < r->n_sessions; i++) {
		struct session *s = r->sessions[i];
		if (s->state != SESSION_READY || s->stop_after_close || s->n_inflight >= r->opts.inflight)
			continue;
		if (!best || s->n_inflight < best->n_inflight)
			best = s;
	}
	return best;
}

static void arm_job_timer(struct relay *r, struct session *s)
{
	struct job *head = TAILQ_FIRST(&s->inflight);
	uint64_t now = clock_now_us(), due;
	struct timeval tv;

	if (!head) {
		evtimer_del(s->job_timer);
		return;
	}
	if (evtimer_pending(s->job_timer, NULL))
		return;
	due = head->sent_us + r->opts.publish_timeout_ms * 1000;
	tv_from_usec(&tv, due > now ? due - now : 0);
	evtimer_add(s->job_timer, &tv);
}

void relay_dispatch(struct relay *r)
{
	uint64_t now = clock_now_us();
	struct session *s;
	struct job *j;

	if (r->cooldown_until_us > now) {
		struct timeval tv;
		if (!evtimer_pending(r->cooldown_timer, NULL)) {
			tv_from_usec(&tv, r->cooldown_until_us - now);
			evtimer_add(r->cooldown_timer, &tv);
		}
		return;
	}
	while ((j = TAILQ_FIRST(&r->queue)) && (s = pick_session(r))) {
		if (session_send_text(s, j->text, j->text_len) < 0)
			break;
		job_unplace(r, j);
		j->session = s;
		TAILQ_INSERT_TAIL(&s->inflight, j, link);
		s->n_inflight++;
		stats_inflight_changed(r, s, 1);
		stats_dispatched(r, j->queued_since_us);
		j->sent_us = now;
		j->attempts++;
		TRACE(r, s, j, "sent", ",\"waited_ms\":%.3f,\"inflight\":%u", (double)(now - j->queued_since_us) / 1000.0,
		      s->n_inflight);
		arm_job_timer(r, s);
	}
}

/* Jobs older than max_age (counted from their first publish, across restarts) expire. */
static void arm_age_timer(struct relay *r)
{
	struct timeval tv = { .tv_sec = 1 };

	if ((r->queue_len || r->delayed_len) && !evtimer_pending(r->age_timer, NULL))
		evtimer_add(r->age_timer, &tv);
}

static void expire_list(struct relay *r, struct job_list *list, int64_t now)
{
	struct job *j, *next;
	char msg[400];

	for (j = TAILQ_FIRST(list); j; j = next) {
		next = TAILQ_NEXT(j, link);
		if (now - j->created_at < (int64_t)(r->opts.max_age_ms / 1000))
			continue;
		snprintf(msg, sizeof(msg), "expired: not delivered within max_age (%llu s); last error: %s",
			 (unsigned long long)(r->opts.max_age_ms / 1000),
			 r->sessions[0]->last_error[0] ? r->sessions[0]->last_error : "none");
		job_unplace(r, j);
		r->c.expired++;
		job_finish(r, j, JOB_FAILED, msg);
	}
}

static void age_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;
	int64_t now = (int64_t)time(NULL);

	(void)fd, (void)what;
	expire_list(r, &r->queue, now);
	expire_list(r, &r->delayed, now);
	arm_age_timer(r);
}

/* Retries after a timeout wait out a backoff (per job, doubling from backoff_base up to
 * backoff_max) before they go back to the head of the queue. */
static void arm_delay_timer(struct relay *r)
{
	struct job *j = TAILQ_FIRST(&r->delayed);
	uint64_t now = clock_now_us();
	struct timeval tv;

	evtimer_del(r->delay_timer);
	if (!j)
		return;
	tv_from_usec(&tv, j->not_before_us > now ? j->not_before_us - now : 0);
	evtimer_add(r->delay_timer, &tv);
}

static void delay_job(struct relay *r, struct job *j)
{
	uint64_t backoff = r->opts.backoff_base_ms;
	struct job *it;

	for (unsigned i = 1; i < j->attempts && backoff < r->opts.backoff_max_ms; i++)
		backoff *= 2;
	if (backoff > r->opts.backoff_max_ms)
		backoff = r->opts.backoff_max_ms;
	j->not_before_us = clock_now_us() + backoff * 1000;
	TAILQ_FOREACH_REVERSE(it, &r->delayed, job_list, link)
		if (it->not_before_us <= j->not_before_us)
			break;
	if (it)
		TAILQ_INSERT_AFTER(&r->delayed, it, j, link);
	else
		TAILQ_INSERT_HEAD(&r->delayed, j, link);
	r->delayed_len++;
	stats_queue_changed(r, 1);
	arm_delay_timer(r);
	arm_age_timer(r);
}

static void delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;
	struct job_list due = TAILQ_HEAD_INITIALIZER(due);
	uint64_t now = clock_now_us();
	struct job *j;

	(void)fd, (void)what;
	while ((j = TAILQ_FIRST(&r->delayed)) && j->not_before_us <= now) {
		job_unplace(r, j);
		TAILQ_INSERT_TAIL(&due, j, link);
	}
	requeue_front(r, &due);
	arm_delay_timer(r);
	relay_dispatch(r);
}

static void cooldown_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	relay_dispatch(arg);
}

/* ---- relay answers ------------------------------------------------------------------------ */

static bool has_prefix(const char *msg, const char *prefix)
{
	return strncmp(msg, prefix, strlen(prefix)) == 0;
}

static void start_cooldown(struct relay *r)
{
	r->cooldown_ms = r->cooldown_ms ? r->cooldown_ms * 2 : r->opts.backoff_base_ms;
	if (r->cooldown_ms > r->opts.backoff_max_ms)
		r->cooldown_ms = r->opts.backoff_max_ms;
	r->cooldown_until_us = clock_now_us() + r->cooldown_ms * 1000;
	r->st.cooldowns++;
	rlog(r, LOG_NOTICE, "rate-limited: holding publishes for %llu ms", (unsigned long long)r->cooldown_ms);
}

static void handle_graveyard_ok(struct relay *r, struct job *j, bool success, const char *msg)
{
	if (!success)
		return;
	/* The relay took the event after we gave up: the recorded result improves. */
	r->c.late_oks++;
	r->c.accepted++;
	rlog(r, LOG_NOTICE, "late OK for event %02x%02x%02x%02x...: failed -> accepted", j->id[0], j->id[1], j->id[2],
	     j->id[3]);
	TAILQ_REMOVE(&r->graveyard, j, link);
	idmap_remove(r->jobs, j->id);
	j->status = JOB_ACCEPTED;
	set_message(j, msg);
	notify_waiters(j);
	job_free(j);
}

void relay_handle_ok(struct relay *r, struct session *s, const uint8_t id[32], bool accepted, const char *msg)
{
	struct job *j = idmap_get(r->jobs, id);
	bool duplicate = has_prefix(msg, "duplicate:"), success = accepted || duplicate;

	if (!j) {
		s->c.unknown_oks++;
		log_session(LOG_DEBUG, r->name, s->index, "OK for an event we are not publishing, ignoring");
		return;
	}
	if (j->status == JOB_FAILED) {
		handle_graveyard_ok(r, j, success, msg);
		return;
	}
	/* The OK may answer an earlier attempt: it settles the job wherever it is now. */
	struct session *on = j->session;
	job_unplace(r, j);
	if (j->sent_us) {
		j->latency_us = clock_now_us() - j->sent_us;
		stats_ok(r, on ? on : s, j->latency_us);
	}
	if (trace_on()) {
		json_t *m = json_string(msg);
		char *q = m ? json_dumps(m, JSON_ENCODE_ANY) : NULL;
		TRACE(r, on ? on : s, j, "ok", ",\"accepted\":%s,\"message\":%.300s,\"latency_ms\":%.3f",
		      accepted ? "true" : "false", q ? q : "\"\"", (double)j->latency_us / 1000.0);
		free(q);
		json_decref(m);
	}
	if (success) {
		r->cooldown_ms = 0;
		if (duplicate)
			r->c.duplicates++;
		r->c.accepted++;
		job_finish(r, j, JOB_ACCEPTED, msg);
	} else if (has_prefix(msg, "rate-limited:")) {
		r->c.rate_limited++;
		start_cooldown(r);
		if (j->attempts >= r->opts.max_attempts) {
			job_finish(r, j, JOB_FAILED, msg);
		} else {
			r->c.retries++;
			requeue_one(r, j);
		}
	} else {
		if (has_prefix(msg, "auth-required:"))
			r->c.auth_required++;
		else if (has_prefix(msg, "invalid:"))
			r->c.rejected_invalid++;
		else
			r->c.rejected_other++;
		r->c.rejected++;
		job_finish(r, j, JOB_REJECTED, msg);
	}
	arm_job_timer(r, s);
	relay_dispatch(r);
}

void relay_handle_notice(struct relay *r, struct session *s, const char *msg)
{
	r->c.notices++;
	snprintf(r->last_notice, sizeof(r->last_notice), "%s", msg);
	rlog(r, LOG_NOTICE, "NOTICE on session %u: %s", s->index, msg);
}

void relay_job_timer(struct session *s)
{
	struct relay *r = s->relay;
	uint64_t now = clock_now_us(), timeout = r->opts.publish_timeout_ms * 1000;
	struct job *j;
	char msg[160];

	while ((j = TAILQ_FIRST(&s->inflight)) && j->sent_us + timeout <= now) {
		job_unplace(r, j);
		r->c.timeouts++;
		TRACE(r, s, j, "timeout", ",\"after_ms\":%llu", (unsigned long long)r->opts.publish_timeout_ms);
		if (j->attempts >= r->opts.max_attempts) {
			snprintf(msg, sizeof(msg), "no OK from the relay within %llu ms, %u attempts",
				 (unsigned long long)r->opts.publish_timeout_ms, j->attempts);
			job_finish(r, j, JOB_FAILED, msg);
		} else {
			r->c.retries++;
			delay_job(r, j);
		}
	}
	arm_job_timer(r, s);
	relay_dispatch(r);
}

/* ---- sessions up and down ---------------------------------------------------------------- */

void relay_session_ready(struct relay *r, struct session *s)
{
	(void)s;
	relay_dispatch(r);
}

void relay_session_down(struct relay *r, struct session *s)
{
	struct job_list back = TAILQ_HEAD_INITIALIZER(back);
	unsigned max_drops = 3 * r->opts.max_attempts + 2;
	struct job *j;

	evtimer_del(s->job_timer);
	/* Unacknowledged jobs go back to the head of the queue; relays deduplicate by id, so a
	 * re-send of an event that did arrive is answered "duplicate:" (a success). A job that
	 * keeps losing its connection (perhaps it is what kills it) fails in the end. */
	while ((j = TAILQ_FIRST(&s->inflight))) {
		job_unplace(r, j);
		j->drops++;
		TRACE(r, s, j, "requeued", ",\"reason\":\"session down\"");
		if (j->attempts)
			j->attempts--; /* a lost connection is not the event's attempt */
		if (j->drops > max_drops)
			job_finish(r, j, JOB_FAILED, "the connection dropped every time this event was sent");
		else
			TAILQ_INSERT_TAIL(&back, j, link);
	}
	requeue_front(r, &back);
	relay_dispatch(r);
}

/* ---- life cycle -------------------------------------------------------------------------- */

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;
	uint64_t now = clock_now_us();
	struct job *j;

	(void)fd, (void)what;
	while ((j = TAILQ_FIRST(&r->graveyard)) && j->expires_us <= now) {
		TAILQ_REMOVE(&r->graveyard, j, link);
		idmap_remove(r->jobs, j->id);
		job_free(j);
	}
	arm_reap(r);
	if (r->draining && relay_idle(r))
		pool_relay_idle(r->pool, r);
}

static void copy_settings(struct relay *r, const struct config_relay *cfg)
{
	if (r->url && strcmp(r->url, cfg->url) != 0)
		r->cache_id = 0;
	free(r->url);
	r->url = strdup(cfg->url);
	r->wsurl = cfg->wsurl;
	r->tls_verify = cfg->tls_verify;
	r->opts = cfg->opts;
}

static int add_sessions(struct relay *r, unsigned n)
{
	struct session **v = reallocarray(r->sessions, n, sizeof(*v));

	if (!v)
		return -ENOMEM;
	r->sessions = v;
	while (r->n_sessions < n) {
		struct session *s = session_new(r, r->n_sessions);
		if (!s)
			return -ENOMEM;
		r->sessions[r->n_sessions++] = s;
		if (!r->pool->stopping)
			session_start(s);
	}
	return 0;
}

struct relay *relay_new(struct pool *p, const struct config_relay *cfg)
{
	struct relay *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->pool = p;
	r->name = strdup(cfg->name);
	TAILQ_INIT(&r->queue);
	TAILQ_INIT(&r->graveyard);
	TAILQ_INIT(&r->delayed);
	r->jobs = idmap_new();
	r->cooldown_timer = evtimer_new(p->base, cooldown_cb, r);
	r->reap_timer = evtimer_new(p->base, reap_cb, r);
	r->age_timer = evtimer_new(p->base, age_cb, r);
	r->delay_timer = evtimer_new(p->base, delay_cb, r);
	copy_settings(r, cfg);
	if (!r->name || !r->url || !r->jobs || !r->cooldown_timer || !r->reap_timer || !r->age_timer || !r->delay_timer ||
	    add_sessions(r, cfg->opts.sessions) < 0) {
		relay_free(r);
		return NULL;
	}
	rlog(r, LOG_INFO, "added (%s, %u sessions, window %u)", r->url, r->opts.sessions, r->opts.inflight);
	return r;
}

/* Abandons every job still pending (the relay goes away; the outbox keeps the rows). */
static void abandon_all(struct relay *r, const char *why)
{
	struct job *j;

	for (unsigned i = 0; i < r->n_sessions; i++)
		while ((j = TAILQ_FIRST(&r->sessions[i]->inflight))) {
			job_unplace(r, j);
			job_finish(r, j, JOB_ABANDONED, why);
		}
	while ((j = TAILQ_FIRST(&r->queue)) || (j = TAILQ_FIRST(&r->delayed))) {
		job_unplace(r, j);
		job_finish(r, j, JOB_ABANDONED, why);
	}
}

void relay_free(struct relay *r)
{
	struct job *j;

	if (!r)
		return;
	r->draining = false; /* no idle notifications from inside the teardown */
	abandon_all(r, r->pool->stopping ? "the daemon is stopping" : "relay removed");
	while ((j = TAILQ_FIRST(&r->graveyard))) {
		TAILQ_REMOVE(&r->graveyard, j, link);
		job_free(j);
	}
	for (unsigned i = 0; i < r->n_sessions; i++)
		session_free(r->sessions[i]);
	free(r->sessions);
	idmap_free(r->jobs);
	if (r->cooldown_timer)
		event_free(r->cooldown_timer);
	if (r->reap_timer)
		event_free(r->reap_timer);
	if (r->age_timer)
		event_free(r->age_timer);
	if (r->delay_timer)
		event_free(r->delay_timer);
	free(r->name);
	free(r->url);
	free(r);
}

void relay_reconfigure(struct relay *r, const struct config_relay *cfg)
{
	bool reconnect = strcmp(r->url, cfg->url) != 0 || r->tls_verify != cfg->tls_verify ||
			 r->opts.max_message != cfg->opts.max_message;
	unsigned want = cfg->opts.sessions;

	copy_settings(r, cfg);
	if (reconnect) {
		rlog(r, LOG_NOTICE, "reconnecting its sessions to %s", r->url);
		for (unsigned i = 0; i < r->n_sessions; i++)
			session_close(r->sessions[i], 1001, "relay reconfigured", false);
	}
	if (want > r->n_sessions) {
		add_sessions(r, want);
	} else {
		/* Extra sessions finish their close handshake and are removed by the pool. */
		for (unsigned i = want; i < r->n_sessions; i++)
			session_close(r->sessions[i], 1001, "fewer sessions configured", true);
	}
	relay_dispatch(r);
}

void relay_remove_session(struct relay *r, struct session *s)
{
	unsigned i;

	for (i = 0; i < r->n_sessions && r->sessions[i] != s; i++)
		;
	if (i == r->n_sessions || i < r->opts.sessions)
		return;
	r->sessions[i] = r->sessions[--r->n_sessions];
	r->sessions[i]->index = i;
	session_free(s);
}

void relay_drain(struct relay *r)
{
	r->draining = true;
	rlog(r, LOG_NOTICE, "removed from the configuration: draining %u queued and in-flight jobs", r->queue_len);
	if (relay_idle(r))
		pool_relay_idle(r->pool, r);
}

bool relay_idle(const struct relay *r)
{
	if (r->queue_len || r->delayed_len)
		return false;
	for (unsigned i = 0; i < r->n_sessions; i++)
		if (r->sessions[i]->n_inflight)
			return false;
	return true;
}

int relay_cache_id(struct relay *r, struct cache *c, int64_t *id)
{
	if (!r->cache_id && cache_relay_id(c, r->url, &r->cache_id) < 0)
		return -EIO;
	*id = r->cache_id;
	return 0;
}

unsigned relay_sessions_ready(const struct relay *r)
{
	unsigned n = 0;

	for (unsigned i = 0; i < r->n_sessions; i++)
		n += r->sessions[i]->state == SESSION_READY;
	return n;
}

json_t *relay_json(const struct relay *r)
{
	json_t *sessions = json_array(), *o;
	unsigned inflight = 0;
	const char *last_error = NULL;
	uint64_t now = clock_now_us();

	for (unsigned i = 0; i < r->n_sessions; i++) {
		json_array_append_new(sessions, session_json(r->sessions[i]));
		inflight += r->sessions[i]->n_inflight;
		if (r->sessions[i]->last_error[0])
			last_error = r->sessions[i]->last_error;
	}
	o = json_pack("{s:s, s:s, s:b, s:i, s:i, s:i, s:i, s:i, s:s?, s:s?}", "name", r->name, "url", r->url,
		      "draining", r->draining, "sessions_ready", (int)relay_sessions_ready(r), "sessions_configured",
		      (int)r->opts.sessions, "window", (int)r->opts.inflight, "inflight", (int)inflight, "queued",
		      (int)(r->queue_len + r->delayed_len), "last_error", last_error, "last_notice",
		      r->last_notice[0] ? r->last_notice : NULL);
	json_object_set_new(o, "cooldown_ms",
			    json_integer(r->cooldown_until_us > now ? (json_int_t)((r->cooldown_until_us - now) / 1000) : 0));
	json_object_set_new(o, "counters",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				      "submitted", (json_int_t)r->c.submitted, "accepted", (json_int_t)r->c.accepted,
				      "duplicates", (json_int_t)r->c.duplicates, "rejected", (json_int_t)r->c.rejected,
				      "rejected_invalid", (json_int_t)r->c.rejected_invalid, "rejected_other",
				      (json_int_t)r->c.rejected_other, "auth_required", (json_int_t)r->c.auth_required,
				      "rate_limited", (json_int_t)r->c.rate_limited, "failed", (json_int_t)r->c.failed,
				      "timeouts", (json_int_t)r->c.timeouts, "retries", (json_int_t)r->c.retries,
				      "late_oks", (json_int_t)r->c.late_oks, "reconnects", (json_int_t)r->c.reconnects,
				      "notices", (json_int_t)r->c.notices, "queue_full", (json_int_t)r->c.queue_full, "expired",
				      (json_int_t)r->c.expired));
	json_object_set_new(o, "sessions", sessions);
	return o;
}
