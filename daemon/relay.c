/* relay.c - one relay: its sessions, its jobs and their places (job.h), dispatch onto the
 * least-loaded usable session, OK handling by NIP-01 prefix, timeouts and retries, the
 * rate-limit cooldown, late OKs, subscriptions, draining on reload, and the relay's counters
 * and load integrals. When reach.c finds the relay unreachable, waiting jobs stay queued
 * (the outbox keeps them) but their waiters hear stalled() at once, with the last error. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "idmap.h"
#include "log.h"
#include "reach.h"
#include "relay.h"
#include "relay_impl.h"
#include "trace.h"

/* A failed job is still matched by a late OK for this long (at least). */
#define GRAVEYARD_MIN_USEC (60 * 1000000ULL)

enum pick { PICK_EVENT, PICK_REQ };

static uint64_t serials;

#define rlog(r, prio, fmt, ...) log_relay(prio, (r)->name, fmt, ##__VA_ARGS__)
#define JTRACE(r, s, j, what, ...) TRACE((r)->name, (s) ? (int)session_index(s) : -1, (j)->id, (j)->attempts, what, __VA_ARGS__)

static void dispatch(struct relay *r);
static void arm_age_timer(struct relay *r);

/* ---- places ---------------------------------------------------------------------------- */

static void move(struct relay *r, struct job *j, enum job_place to)
{
	struct job_dest d = { .place = to };

	job_move(&r->pl, j, &d);
}

static void requeue_front(struct relay *r, struct job *j)
{
	struct job_dest d = { .place = JOB_QUEUED, .front = true };

	job_move(&r->pl, j, &d);
	arm_age_timer(r);
}

static void arm_timer(struct event *ev, uint64_t at_us)
{
	uint64_t now = clock_now_us();
	struct timeval tv;

	clock_tv(&tv, at_us > now ? at_us - now : 0);
	evtimer_add(ev, &tv);
}

static void arm_reap(struct relay *r)
{
	struct job *j = TAILQ_FIRST(&r->pl.graveyard);

	if (j && !evtimer_pending(r->reap_timer, NULL))
		arm_timer(r->reap_timer, j->expires_us);
}

static void maybe_idle(struct relay *r)
{
	if (r->draining && !r->retired && relay_idle(r))
		r->owner_ops->idle(r->owner, r);
}

/* The outcome. A failed job goes to the graveyard, where a late OK can still upgrade it;
 * the others are done and freed once their waiters know. */
static void finish(struct relay *r, struct job *j, enum job_status st, const char *msg)
{
	j->status = st;
	job_set_message(j, msg);
	if (st != JOB_ACCEPTED && st != JOB_REJECTED)
		JTRACE(r, NULL, j, job_status_name(st), "%s", "");
	if (st == JOB_FAILED) {
		uint64_t keep = 3 * r->opts.publish_timeout_ms * 1000;
		struct job_dest d = { .place = JOB_GRAVEYARD,
				      .expires_us = clock_now_us() + (keep > GRAVEYARD_MIN_USEC ? keep : GRAVEYARD_MIN_USEC) };
		job_move(&r->pl, j, &d);
		arm_reap(r);
		r->c.failed++;
	} else {
		idmap_remove(r->jobs, j->id);
		move(r, j, JOB_DONE);
	}
	job_notify_done(j);
	if (st != JOB_FAILED)
		job_free(j);
	maybe_idle(r);
}

/* Forgets a graveyard job without telling anyone (it expired, or a new job replaces it). */
static void bury(struct relay *r, struct job *j)
{
	idmap_remove(r->jobs, j->id);
	move(r, j, JOB_DONE);
	job_free(j);
}

/* ---- submitting -------------------------------------------------------------------------- */

int relay_reserve(struct relay *r, const uint8_t id[32])
{
	const struct job *j;

	if (r->draining || r->retired)
		return -ESHUTDOWN; /* a retired relay has no job table any more */
	j = idmap_get(r->jobs, id);
	if (j && j->status == JOB_PENDING) {
		r->reserved++; /* the submit will join it, but may find it finished: hold a place anyway */
		return 0;
	}
	if (relay_queued(r) + r->reserved >= r->opts.queue) {
		r->c.queue_full++;
		return -ENOSPC;
	}
	r->reserved++;
	return 0;
}

void relay_unreserve(struct relay *r)
{
	if (r->reserved)
		r->reserved--;
}

/* Waiters of a job that waits on an unreachable relay hear it. */
static void tell_stalled(struct relay *r, struct job *j)
{
	JTRACE(r, NULL, j, "stalled", ",\"why\":\"relay unreachable\"");
	job_notify_stalled(j, r->reach.error);
}

int relay_submit(struct relay *r, const struct nostr_event *ev, int64_t created_at, struct job_waiter *w,
		 bool reserved)
{
	struct job *j;

	if (reserved)
		relay_unreserve(r);
	if (r->draining || r->retired)
		return -ESHUTDOWN; /* a retired relay has no job table any more */
	j = idmap_get(r->jobs, ev->id);
	if (j && j->status == JOB_PENDING) {
		LIST_INSERT_HEAD(&j->waiters, w, link);
		if (j->first_sent_us && w->sent)
			w->sent(w, j); /* joined a job that went out already */
		if (j->place != JOB_INFLIGHT && w->stalled && relay_unreachable(r, NULL))
			w->stalled(w, j, r->reach.error);
		return 0;
	}
	if (j)
		bury(r, j); /* failed before: try again with a new job */
	if (!reserved && relay_queued(r) + r->reserved >= r->opts.queue) {
		r->c.queue_full++;
		return -ENOSPC;
	}
	j = job_new(ev, created_at, w);
	if (!j || idmap_put(r->jobs, ev->id, j) < 0) {
		if (j)
			LIST_REMOVE(w, link); /* the caller keeps its waiter */
		job_free(j);
		return -ENOMEM;
	}
	move(r, j, JOB_QUEUED);
	r->c.submitted++;
	JTRACE(r, NULL, j, "queued", ",\"queued\":%u", r->pl.n[JOB_QUEUED]);
	if (relay_unreachable(r, NULL))
		tell_stalled(r, j);
	dispatch(r);
	arm_age_timer(r);
	return 0;
}

void relay_cancel(struct relay *r, const uint8_t id[32])
{
	struct job *j = r->jobs ? idmap_get(r->jobs, id) : NULL;

	if (!j)
		return;
	if (j->place == JOB_GRAVEYARD)
		bury(r, j);
	else
		finish(r, j, JOB_ABANDONED, "delivery cancelled");
}

bool relay_has_pending(const struct relay *r, const uint8_t id[32])
{
	const struct job *j = r->jobs ? idmap_get(r->jobs, id) : NULL;
	return j && j->status == JOB_PENDING;
}

bool relay_job_in_flight(const struct relay *r, const uint8_t id[32])
{
	const struct job *j = r->jobs ? idmap_get(r->jobs, id) : NULL;
	return j && j->place == JOB_INFLIGHT;
}

unsigned relay_queued(const struct relay *r)
{
	return r->pl.n[JOB_QUEUED] + r->pl.n[JOB_DELAYED];
}

void relay_note_quorum_decider(struct relay *r)
{
	r->quorum_last++;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

/* The usable session with the least load and room for one more: events count against the
 * window, subscriptions against max_subscriptions less what the caller leaves free.
 * Publish, sync and live subscriptions all pick here. */
static struct session *pick_session(const struct relay *r, enum pick what, unsigned reserve)
{
	unsigned max = relay_max_subscriptions(r), subs = max > reserve ? max - reserve : 1;
	unsigned limit = what == PICK_EVENT ? r->opts.inflight : subs, best_load = 0;
	struct session *best = NULL;

	for (unsigned i = 0; i < r->n_sessions; i++) {
		struct session *s = r->sessions[i];
		unsigned load = what == PICK_EVENT ? session_inflight(s) : session_subs(s);
		if (!session_usable(s) || load >= limit)
			continue;
		if (!best || load < best_load) {
			best = s;
			best_load = load;
		}
	}
	return best;
}

static void dispatch(struct relay *r)
{
	uint64_t now = clock_now_us();
	struct job_dest d = { .place = JOB_INFLIGHT, .timeout_us = r->opts.publish_timeout_ms * 1000 };
	struct job *j;

	if (r->retired)
		return;
	if (r->cooldown_until_us > now) {
		if (!evtimer_pending(r->cooldown_timer, NULL))
			arm_timer(r->cooldown_timer, r->cooldown_until_us);
		return;
	}
	while ((j = TAILQ_FIRST(&r->pl.queue)) && (d.session = pick_session(r, PICK_EVENT, 0))) {
		uint64_t waited = now - j->queued_since_us, wait_us;
		if (!rate_take(&r->rate, now, &wait_us)) {
			/* max_rate: the cooldown timer doubles as the bucket's wake-up. */
			r->rate_waits++;
			if (!evtimer_pending(r->cooldown_timer, NULL))
				arm_timer(r->cooldown_timer, now + wait_us);
			break;
		}
		if (job_move(&r->pl, j, &d) < 0)
			break;
		hist_add(&r->wait, waited);
		j->attempts++;
		JTRACE(r, d.session, j, "sent", ",\"waited_ms\":%.3f,\"inflight\":%u", (double)waited / 1000.0,
		       session_inflight(d.session));
		if (!j->first_sent_us) {
			j->first_sent_us = now;
			job_notify_sent(j);
		}
	}
}

/* Jobs older than max_age (counted from their first publish, across restarts) expire. */
static void arm_age_timer(struct relay *r)
{
	struct timeval tv = { .tv_sec = 1 };

	if (relay_queued(r) && !evtimer_pending(r->age_timer, NULL))
		evtimer_add(r->age_timer, &tv);
}

static const char *any_last_error(const struct relay *r)
{
	for (unsigned i = 0; i < r->n_sessions; i++)
		if (session_last_error(r->sessions[i])[0])
			return session_last_error(r->sessions[i]);
	return "none";
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
			 (unsigned long long)(r->opts.max_age_ms / 1000), any_last_error(r));
		r->c.expired++;
		finish(r, j, JOB_FAILED, msg);
	}
}

static void age_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;
	int64_t now = clock_wall_s();

	(void)fd, (void)what;
	expire_list(r, &r->pl.queue, now);
	expire_list(r, &r->pl.delayed, now);
	arm_age_timer(r);
}

/* A retry after a timeout waits out a backoff (per job, doubling) before it goes back to
 * the head of the queue. */
static void arm_delay_timer(struct relay *r)
{
	struct job *j = TAILQ_FIRST(&r->pl.delayed);

	evtimer_del(r->delay_timer);
	if (j)
		arm_timer(r->delay_timer, j->not_before_us);
}

static void delay_job(struct relay *r, struct job *j)
{
	uint64_t ms = backoff_step(r->opts.backoff_base_ms, r->opts.backoff_max_ms, j->attempts ? j->attempts - 1 : 0);
	struct job_dest d = { .place = JOB_DELAYED, .not_before_us = clock_now_us() + ms * 1000 };

	job_move(&r->pl, j, &d);
	arm_delay_timer(r);
	arm_age_timer(r);
}

static void delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;
	uint64_t now = clock_now_us();
	struct job *j = TAILQ_FIRST(&r->pl.delayed), *last_due = NULL;

	(void)fd, (void)what;
	/* The due jobs (a prefix of the list) go to the head of the queue in their order: the
	 * last one first. */
	for (; j && j->not_before_us <= now; j = TAILQ_NEXT(j, link))
		last_due = j;
	while (last_due) {
		struct job *prev = TAILQ_PREV(last_due, job_list, link);
		requeue_front(r, last_due);
		last_due = prev;
	}
	arm_delay_timer(r);
	dispatch(r);
}

static void cooldown_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	dispatch(arg);
}

/* ---- answers from sessions ------------------------------------------------------------------ */

static bool has_prefix(const char *msg, const char *prefix)
{
	return strncmp(msg, prefix, strlen(prefix)) == 0;
}

static void start_cooldown(struct relay *r)
{
	uint64_t ms = backoff_step(r->opts.backoff_base_ms, r->opts.backoff_max_ms, r->cooldown_step++);

	r->cooldown_until_us = clock_now_us() + ms * 1000;
	r->cooldowns++;
	rlog(r, LOG_NOTICE, "rate-limited: holding publishes for %llu ms", (unsigned long long)ms);
}

static void late_ok(struct relay *r, struct job *j, bool success, const char *msg)
{
	if (!success)
		return;
	/* The relay took the event after we gave up: the recorded result improves. */
	r->c.late_oks++;
	r->c.accepted++;
	rlog(r, LOG_NOTICE, "late OK for event %02x%02x%02x%02x...: failed -> accepted", j->id[0], j->id[1], j->id[2],
	     j->id[3]);
	idmap_remove(r->jobs, j->id);
	move(r, j, JOB_DONE);
	j->status = JOB_ACCEPTED;
	job_set_message(j, msg);
	job_notify_done(j);
	job_free(j);
}

static void trace_ok(struct relay *r, struct session *s, struct job *j, bool accepted, const char *msg)
{
	json_t *m = json_string(msg);
	char *q = m ? json_dumps(m, JSON_ENCODE_ANY) : NULL;

	JTRACE(r, s, j, "ok", ",\"accepted\":%s,\"message\":%.300s,\"latency_ms\":%.3f", accepted ? "true" : "false",
	       q ? q : "\"\"", (double)j->latency_us / 1000.0);
	free(q);
	json_decref(m);
}

static bool on_ok(void *owner, struct session *s, struct session_send *sent, const uint8_t id[32], bool accepted,
		  const char *msg)
{
	struct relay *r = owner;
	struct job *j = idmap_get(r->jobs, id);
	bool duplicate = has_prefix(msg, "duplicate:"), success = accepted || duplicate;

	(void)sent;
	if (!j)
		return false;
	if (j->place == JOB_GRAVEYARD) {
		late_ok(r, j, success, msg);
		return true;
	}
	/* The OK may answer an earlier attempt: it settles the job wherever it is now. */
	if (j->send.sent_us) {
		double ms;
		j->latency_us = clock_now_us() - j->send.sent_us;
		ms = (double)j->latency_us / 1000.0;
		hist_add(&r->ok_latency, j->latency_us);
		r->ok_ewma_ms = r->completed ? 0.9 * r->ok_ewma_ms + 0.1 * ms : ms;
		r->completed++;
	}
	if (trace_on())
		trace_ok(r, s, j, accepted, msg);
	if (success) {
		r->cooldown_step = 0;
		r->c.duplicates += duplicate;
		r->c.accepted++;
		finish(r, j, JOB_ACCEPTED, msg);
	} else if (has_prefix(msg, "rate-limited:")) {
		r->c.rate_limited++;
		start_cooldown(r);
		if (j->attempts >= r->opts.max_attempts) {
			finish(r, j, JOB_FAILED, msg);
		} else {
			r->c.retries++;
			requeue_front(r, j);
		}
	} else if (has_prefix(msg, "auth-required:") && !j->auth_retried && session_auth_expected(s)) {
		/* Once more after our AUTH: right behind it on this connection, or when it may come. */
		j->auth_retried = true;
		r->c.auth_retries++;
		j->attempts--;
		if (session_auth(s) == SESSION_AUTH_NONE)
			delay_job(r, j);
		else
			requeue_front(r, j);
	} else if (has_prefix(msg, "auth-required:") && *session_auth_problem(s)) {
		char why[600];
		r->c.auth_required++;
		r->c.rejected++;
		snprintf(why, sizeof(why), "%s (%s)", msg, session_auth_problem(s));
		finish(r, j, JOB_REJECTED, why);
	} else {
		if (has_prefix(msg, "auth-required:"))
			r->c.auth_required++;
		else if (has_prefix(msg, "invalid:"))
			r->c.rejected_invalid++;
		else
			r->c.rejected_other++;
		r->c.rejected++;
		finish(r, j, JOB_REJECTED, msg);
	}
	dispatch(r);
	return true;
}

static struct job *job_of(struct session_send *sent)
{
	return (struct job *)((char *)sent - offsetof(struct job, send));
}

static void on_timeout(void *owner, struct session *s, struct session_send *sent)
{
	struct relay *r = owner;
	struct job *j = job_of(sent);
	char msg[160];

	r->c.timeouts++;
	JTRACE(r, s, j, "timeout", ",\"after_ms\":%llu", (unsigned long long)r->opts.publish_timeout_ms);
	if (j->attempts >= r->opts.max_attempts) {
		snprintf(msg, sizeof(msg), "no OK from the relay within %llu ms, %u attempts",
			 (unsigned long long)r->opts.publish_timeout_ms, j->attempts);
		finish(r, j, JOB_FAILED, msg);
	} else {
		r->c.retries++;
		delay_job(r, j);
	}
	dispatch(r);
}

/* Unacknowledged jobs go back to the head of the queue; relays deduplicate by id, so a
 * re-send of an event that did arrive is answered "duplicate:" (a success). A job that
 * keeps losing its connection (perhaps it is what kills it) fails in the end. */
static void on_lost(void *owner, struct session *s, struct session_send *sent)
{
	struct relay *r = owner;
	struct job *j = job_of(sent);

	j->drops++;
	JTRACE(r, s, j, "requeued", ",\"reason\":\"session down\"");
	if (j->attempts)
		j->attempts--; /* a lost connection is not the event's attempt */
	if (j->drops > 3 * r->opts.max_attempts + 2)
		finish(r, j, JOB_FAILED, "the connection dropped every time this event was sent");
	else
		requeue_front(r, j);
}

static void on_notice(void *owner, struct session *s, const char *msg)
{
	struct relay *r = owner;

	unsigned long long dropped;
	char clean[240];

	r->c.notices++;
	snprintf(r->last_notice, sizeof(r->last_notice), "%s", msg);
	if (!log_limit_pass(&r->ll_notice, &dropped))
		return;
	if (dropped)
		rlog(r, LOG_NOTICE, "... and %llu more NOTICEs in the last minute (counted in relays)", dropped);
	rlog(r, LOG_NOTICE, "NOTICE on session %u: %s", session_index(s), log_clean(msg, clean, sizeof(clean)));
}

/* ---- reachability (reach.c decides) ------------------------------------------------------------ */

bool relay_unreachable(const struct relay *r, const char **why)
{
	return reach_unreachable(&r->reach, relay_sessions_ready(r), why);
}

/* Every waiting job's waiters hear it, once per outage. */
static void became_unreachable(void *arg)
{
	struct relay *r = arg;
	struct job *j, *next;

	rlog(r, LOG_WARNING, "unreachable (%s); %u jobs wait for it", r->reach.error, relay_queued(r));
	for (j = TAILQ_FIRST(&r->pl.queue); j; j = next) {
		next = TAILQ_NEXT(j, link);
		tell_stalled(r, j);
	}
	for (j = TAILQ_FIRST(&r->pl.delayed); j; j = next) {
		next = TAILQ_NEXT(j, link);
		tell_stalled(r, j);
	}
}

static void on_ready(void *owner, struct session *s)
{
	struct relay *r = owner;
	struct session_view v;

	session_view(s, &v);
	if (v.connects > 1)
		r->c.reconnects++;
	reach_ready(&r->reach);
	dispatch(r);
}

static void on_down(void *owner, struct session *s, bool connect_failed)
{
	struct relay *r = owner;

	if (connect_failed)
		reach_connect_failed(&r->reach, session_last_error(s), relay_sessions_ready(r));
	else if (relay_sessions_ready(r) == 0 && !r->retired)
		reach_all_down(&r->reach, r->opts.publish_timeout_ms * 1000);
	dispatch(r);
}

static void on_stopped(void *owner, struct session *s)
{
	struct relay *r = owner;

	(void)s;
	r->owner_ops->session_stopped(r->owner, r);
}

static const struct session_ops session_callbacks = {
	.ready = on_ready,
	.down = on_down,
	.stopped = on_stopped,
	.ok = on_ok,
	.timeout = on_timeout,
	.lost = on_lost,
	.notice = on_notice,
};

/* ---- subscriptions --------------------------------------------------------------------------- */

struct session_sub *relay_subscribe(struct relay *r, const char *id, const json_t *filters, unsigned reserve,
				    const struct sub_handler *h, void *arg, int *err)
{
	struct session *s = r->retired ? NULL : pick_session(r, PICK_REQ, reserve);

	if (!s) {
		*err = -EAGAIN;
		return NULL;
	}
	return session_subscribe(s, id, filters, h, arg, err);
}

struct session_sub *relay_neg_open(struct relay *r, const char *id, const json_t *filter, const char *hex,
				   unsigned reserve, const struct sub_handler *h, void *arg, int *err)
{
	struct session *s = r->retired ? NULL : pick_session(r, PICK_REQ, reserve);

	if (!s) {
		*err = -EAGAIN;
		return NULL;
	}
	return session_neg_open(s, id, filter, hex, h, arg, err);
}

void relay_unsubscribe(struct session_sub *sub)
{
	session_sub_close(sub);
}

/* ---- life cycle -------------------------------------------------------------------------- */

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;
	uint64_t now = clock_now_us();
	struct job *j;

	(void)fd, (void)what;
	while ((j = TAILQ_FIRST(&r->pl.graveyard)) && j->expires_us <= now)
		bury(r, j);
	arm_reap(r);
	maybe_idle(r);
}

/* ---- NIP-11 ------------------------------------------------------------------------------------- */

static void compute_limits(struct relay *r)
{
	const char *why;
	char buf[128];

	limits_none(&r->limits);
	if (json_is_object(json_object_get(r->info, "limitation")))
		limits_apply_json(&r->limits, json_object_get(r->info, "limitation"), true, &why, buf, sizeof(buf));
	if (r->limits_cfg)
		limits_apply_json(&r->limits, r->limits_cfg, false, &why, buf, sizeof(buf));
}

void relay_set_info(struct relay *r, const json_t *doc, const char *error)
{
	json_decref(r->info);
	r->info = doc ? json_incref((json_t *)doc) : NULL;
	snprintf(r->info_error, sizeof(r->info_error), "%s", error ? error : "");
	r->info_at = clock_wall_s();
	compute_limits(r);
	if (r->limits.payment_required || r->limits.restricted_writes)
		rlog(r, LOG_NOTICE, "NIP-11: the relay says %s%s%s; publishes may be refused", r->limits.payment_required ?
		     "payment_required" : "", r->limits.payment_required && r->limits.restricted_writes ? " and " : "",
		     r->limits.restricted_writes ? "restricted_writes" : "");
}

unsigned relay_max_subscriptions(const struct relay *r)
{
	int64_t nip11 = r->limits.max_subscriptions;

	return nip11 >= 1 && nip11 < r->opts.max_subscriptions ? (unsigned)nip11 : r->opts.max_subscriptions;
}

static void copy_settings(struct relay *r, const struct config_relay *cfg)
{
	json_decref(r->limits_cfg);
	r->limits_cfg = cfg->limits ? json_incref(cfg->limits) : NULL;
	compute_limits(r);
	free(r->url);
	r->url = strdup(cfg->url);
	r->wsurl = cfg->wsurl;
	r->tls_verify = cfg->tls_verify;
	r->opts = cfg->opts;
	rate_init(&r->rate, r->opts.max_rate, r->opts.rate_burst, clock_now_us());
	for (unsigned i = 0; i < r->n_sessions; i++)
		session_configure(r->sessions[i], &r->wsurl, r->tls_verify, &r->opts);
}

static int add_sessions(struct relay *r, unsigned n)
{
	struct session **v = reallocarray(r->sessions, n, sizeof(*v));

	if (!v)
		return -ENOMEM;
	r->sessions = v;
	while (r->n_sessions < n) {
		struct session *s = session_new(&r->env, r->name, r->n_sessions, &session_callbacks, r);
		if (!s)
			return -ENOMEM;
		session_configure(s, &r->wsurl, r->tls_verify, &r->opts);
		r->sessions[r->n_sessions++] = s;
		session_start(s);
	}
	return 0;
}

struct relay *relay_new(const struct session_env *env, const struct config_relay *cfg,
			const struct relay_owner_ops *ops, void *owner)
{
	struct relay *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->refs = 1;
	r->serial = ++serials;
	r->env = *env;
	r->owner_ops = ops;
	r->owner = owner;
	r->name = strdup(cfg->name);
	job_places_init(&r->pl);
	r->jobs = idmap_new();
	r->cooldown_timer = evtimer_new(env->base, cooldown_cb, r);
	r->reap_timer = evtimer_new(env->base, reap_cb, r);
	r->age_timer = evtimer_new(env->base, age_cb, r);
	r->delay_timer = evtimer_new(env->base, delay_cb, r);
	copy_settings(r, cfg);
	if (!r->name || !r->url || !r->jobs || !r->cooldown_timer || !r->reap_timer || !r->age_timer ||
	    !r->delay_timer || reach_init(&r->reach, env->base, became_unreachable, r) < 0 ||
	    add_sessions(r, cfg->opts.sessions) < 0) {
		relay_retire(r);
		relay_unref(r);
		return NULL;
	}
	rlog(r, LOG_INFO, "added (%s, %u sessions, window %u)", r->url, r->opts.sessions, r->opts.inflight);
	return r;
}

struct relay *relay_ref(struct relay *r)
{
	r->refs++;
	return r;
}

/* Abandons every job still pending (the relay goes away; the outbox keeps the rows). */
static void abandon_all(struct relay *r, const char *why)
{
	struct job *j;

	for (unsigned i = 0; i < r->n_sessions; i++)
		session_close(r->sessions[i], 1001, why, true);
	while ((j = TAILQ_FIRST(&r->pl.queue)) || (j = TAILQ_FIRST(&r->pl.delayed)))
		finish(r, j, JOB_ABANDONED, why);
	while ((j = TAILQ_FIRST(&r->pl.graveyard)))
		bury(r, j);
}

static void free_timer(struct event **ev)
{
	if (*ev)
		event_free(*ev);
	*ev = NULL;
}

void relay_retire(struct relay *r)
{
	if (r->retired)
		return;
	r->draining = false; /* no idle notices from inside the teardown */
	abandon_all(r, "relay removed or daemon stopping");
	r->retired = true;
	for (unsigned i = 0; i < r->n_sessions; i++)
		session_free(r->sessions[i]);
	free(r->sessions);
	r->sessions = NULL;
	r->n_sessions = 0;
	free_timer(&r->cooldown_timer);
	free_timer(&r->reap_timer);
	free_timer(&r->age_timer);
	free_timer(&r->delay_timer);
	reach_free(&r->reach);
	idmap_free(r->jobs);
	r->jobs = NULL;
}

void relay_unref(struct relay *r)
{
	if (!r || --r->refs)
		return;
	relay_retire(r);
	json_decref(r->info);
	json_decref(r->limits_cfg);
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
		reach_forget(&r->reach); /* a new address: unreachable at its first failure */
		for (unsigned i = 0; i < r->n_sessions; i++)
			session_close(r->sessions[i], 1001, "relay reconfigured", false);
	}
	if (want > r->n_sessions) {
		add_sessions(r, want);
	} else {
		/* Extra sessions finish their close handshake and are trimmed by the pool. */
		for (unsigned i = want; i < r->n_sessions; i++)
			session_close(r->sessions[i], 1001, "fewer sessions configured", true);
	}
	dispatch(r);
}

void relay_trim_sessions(struct relay *r)
{
	for (unsigned i = r->n_sessions; i-- > r->opts.sessions;) {
		struct session *s = r->sessions[i];
		if (session_state(s) != SESSION_STOPPED)
			continue;
		r->sessions[i] = r->sessions[--r->n_sessions];
		session_set_index(r->sessions[i], i);
		session_free(s);
	}
}

void relay_drain(struct relay *r)
{
	r->draining = true;
	rlog(r, LOG_NOTICE, "removed from the configuration: draining %u queued and %u in-flight jobs", relay_queued(r),
	     r->pl.n[JOB_INFLIGHT]);
	maybe_idle(r);
}

bool relay_draining(const struct relay *r)
{
	return r->draining || r->retired;
}

bool relay_idle(const struct relay *r)
{
	return relay_queued(r) == 0 && r->pl.n[JOB_INFLIGHT] == 0;
}

void relay_stop(struct relay *r, const char *why)
{
	for (unsigned i = 0; i < r->n_sessions; i++)
		session_close(r->sessions[i], 1001, why, true);
}

bool relay_all_stopped(const struct relay *r)
{
	for (unsigned i = 0; i < r->n_sessions; i++)
		if (session_state(r->sessions[i]) != SESSION_STOPPED)
			return false;
	return true;
}
