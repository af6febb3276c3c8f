/* publish.c - see publish.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "backoff.h"
#include "cache.h"
#include "clock.h"
#include "db.h"
#include "hex.h"
#include "log.h"
#include "outbox.h"
#include "pool.h"
#include "publish.h"
#include "relay.h"
#include "request.h"
#include "verifier.h"

/* A target's budget past its last attempt's timeout, so that timeout lands first. */
#define TARGET_SLACK_US 1000000ULL

struct publish;
struct target;

/* One job submit: the waiter that settles its outbox row and tells its target (while a
 * request waits for it). It stays attached after the outcome, so a late OK upgrades the
 * row, and goes when the job is freed. */
struct delivery {
	struct job_waiter w;
	struct publisher *P;
	int64_t oid, relay_id;
	struct target *t; /* NULL once the request answered or without a request */
};

enum target_state {
	T_WAITING, /* no outcome yet */
	T_DONE,    /* its job's outcome is known */
	T_STALLED, /* its relay cannot be reached: decided as pending */
	T_LATE,    /* no outcome within its budget from the first send */
};

struct target {
	struct publish *p;
	struct relay *relay; /* a reference */
	struct delivery *d;
	bool reserved;
	bool refused; /* broke one of the relay's NIP-11 limits: never queued */
	int64_t oid;
	enum target_state state;
	enum job_status status;
	char *message;
	double latency_ms;
	unsigned attempts;
	uint64_t deadline_us; /* first send + budget; 0 until sent */
};

struct publish {
	struct publisher *P;
	struct request *req;
	struct nostr_event ev;
	enum publish_wait wait;
	unsigned quorum, accepted, decided;
	uint64_t timeout_ms, overall_us; /* the client's timeout, and when it passes (0: none) */
	bool timed_out;
	bool submitting; /* inside the submit loop: answers wait until it ends */
	struct event *timer; /* the soonest of the targets' deadlines and the overall one */
	LIST_ENTRY(publish) link;
	size_t n;
	struct target t[];
};

struct publisher {
	struct publisher_env env;
	LIST_HEAD(, publish) open;
};

static void maybe_answer(struct publish *p);

/* ---- deliveries ------------------------------------------------------------------------------- */

static void target_outcome(struct target *t, const struct job *job);
static void target_sent(struct target *t, const struct job *job);
static void target_stalled(struct target *t, const char *why);

static void delivery_done(struct job_waiter *w, const struct job *job)
{
	struct delivery *d = (struct delivery *)w;
	struct outbox *o = d->P->env.outbox;

	switch (job->status) {
	case JOB_ACCEPTED:
		outbox_settle(o, d->oid, OUTBOX_ACCEPTED, job->attempts, job->message);
		cache_mark(d->P->env.cache, job->id, d->relay_id, CACHE_DELIVERED);
		break;
	case JOB_REJECTED:
		outbox_settle(o, d->oid, OUTBOX_REJECTED, job->attempts, job->message);
		break;
	case JOB_FAILED:
		outbox_settle(o, d->oid, OUTBOX_EXPIRED, job->attempts, job->message);
		break;
	case JOB_PENDING:
	case JOB_ABANDONED:
		/* Not delivered and not given up: the row stays pending for the next start. */
		break;
	}
	if (d->t)
		target_outcome(d->t, job);
}

static void delivery_sent(struct job_waiter *w, const struct job *job)
{
	struct delivery *d = (struct delivery *)w;

	if (d->t)
		target_sent(d->t, job);
}

static void delivery_stalled(struct job_waiter *w, const struct job *job, const char *why)
{
	struct delivery *d = (struct delivery *)w;

	(void)job;
	if (d->t)
		target_stalled(d->t, why);
}

static void delivery_release(struct job_waiter *w)
{
	struct delivery *d = (struct delivery *)w;

	if (d->t)
		d->t->d = NULL;
	free(d);
}

/* Submits ev to r for row oid; t (may be NULL) hears the outcome. 0 or a negative errno. */
static int deliver(struct publisher *P, struct relay *r, const struct nostr_event *ev, int64_t oid,
		   int64_t created_at, bool reserved, struct target *t)
{
	struct delivery *d = calloc(1, sizeof(*d));
	int e;

	if (!d) {
		if (reserved)
			relay_unreserve(r);
		return -ENOMEM;
	}
	d->w.done = delivery_done;
	d->w.sent = delivery_sent;
	d->w.stalled = delivery_stalled;
	d->w.release = delivery_release;
	d->w.keep = true;
	d->P = P;
	d->oid = oid;
	d->t = t;
	if (t)
		t->d = d;
	e = cache_relay_id(P->env.cache, relay_url(r), &d->relay_id);
	if (e == 0)
		e = relay_submit(r, ev, created_at, &d->w, reserved);
	else if (reserved)
		relay_unreserve(r);
	if (e < 0) {
		if (t)
			t->d = NULL;
		free(d);
	}
	return e;
}

/* ---- targets -------------------------------------------------------------------------------- */

static void arm_timer(struct publish *p)
{
	uint64_t soonest = p->overall_us && !p->timed_out ? p->overall_us : 0, now = clock_now_us();
	struct timeval tv;

	for (size_t i = 0; i < p->n; i++) {
		const struct target *t = &p->t[i];
		if (t->state == T_WAITING && t->deadline_us && (!soonest || t->deadline_us < soonest))
			soonest = t->deadline_us;
	}
	evtimer_del(p->timer);
	if (!soonest)
		return;
	clock_tv(&tv, soonest > now ? soonest - now : 0);
	evtimer_add(p->timer, &tv);
}

static void decide(struct target *t, enum target_state st)
{
	struct publish *p = t->p;

	t->state = st;
	p->decided++;
	if (st == T_DONE && t->status == JOB_ACCEPTED && ++p->accepted == p->quorum && p->n > 1)
		relay_note_quorum_decider(t->relay); /* this relay's answer decided the request */
}

static void target_outcome(struct target *t, const struct job *job)
{
	struct publish *p = t->p;
	bool was_waiting = t->state == T_WAITING;

	if (t->state == T_DONE)
		return;
	t->status = job->status == JOB_ABANDONED ? JOB_PENDING : job->status; /* abandoned: the outbox has it */
	free(t->message);
	t->message = strdup(job->message ? job->message : "");
	t->latency_ms = (double)job->latency_us / 1000.0;
	t->attempts = job->attempts;
	if (was_waiting) {
		decide(t, T_DONE);
	} else {
		/* Decided already (stalled or late): the outcome still shows, and an OK counts. */
		t->state = T_DONE;
		if (t->status == JOB_ACCEPTED && ++p->accepted == p->quorum && p->n > 1)
			relay_note_quorum_decider(t->relay);
	}
	maybe_answer(p);
}

/* The budget of every attempt: its timeouts, the backoffs between them, and a second. */
static uint64_t target_budget_us(const struct relay *r)
{
	const struct pool_opts *o = relay_opts(r);

	return o->max_attempts * o->publish_timeout_ms * 1000 +
	       backoff_total(o->backoff_base_ms, o->backoff_max_ms, o->max_attempts ? o->max_attempts - 1 : 0) * 1000 +
	       TARGET_SLACK_US;
}

static void target_sent(struct target *t, const struct job *job)
{
	(void)job;
	if (t->state != T_WAITING || t->deadline_us)
		return;
	t->deadline_us = clock_now_us() + target_budget_us(t->relay);
	arm_timer(t->p);
}

static void target_stalled(struct target *t, const char *why)
{
	char msg[400];

	if (t->state != T_WAITING)
		return;
	snprintf(msg, sizeof(msg), "relay unreachable: %s; the outbox keeps delivering it", why);
	free(t->message);
	t->message = strdup(msg);
	decide(t, T_STALLED);
	maybe_answer(t->p);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct publish *p = arg;
	uint64_t now = clock_now_us();
	char msg[200];

	(void)fd, (void)what;
	if (p->overall_us && now >= p->overall_us && !p->timed_out) {
		p->timed_out = true;
		snprintf(msg, sizeof(msg), "no answer within the request's timeout (%llu ms); the outbox keeps delivering it",
			 (unsigned long long)p->timeout_ms);
		for (size_t i = 0; i < p->n; i++)
			if (p->t[i].state == T_WAITING) {
				free(p->t[i].message);
				p->t[i].message = strdup(msg);
				decide(&p->t[i], T_LATE);
			}
	}
	for (size_t i = 0; i < p->n; i++) {
		struct target *t = &p->t[i];
		if (t->state == T_WAITING && t->deadline_us && now >= t->deadline_us) {
			snprintf(msg, sizeof(msg),
				 "no answer within %llu ms of the first send; the outbox keeps delivering it",
				 (unsigned long long)(target_budget_us(t->relay) / 1000));
			free(t->message);
			t->message = strdup(msg);
			decide(t, T_LATE);
		}
	}
	arm_timer(p);
	maybe_answer(p);
}

/* ---- the request ---------------------------------------------------------------------------- */

static const char *shown_status(const struct target *t)
{
	if (t->refused)
		return "refused";
	return job_status_name(t->state == T_DONE ? t->status : JOB_PENDING);
}

static json_t *targets_json(const struct publish *p)
{
	json_t *a = json_array();

	for (size_t i = 0; i < p->n; i++) {
		const struct target *t = &p->t[i];
		bool done = t->state == T_DONE && t->status != JOB_PENDING;
		json_t *o = json_pack("{s:s, s:s, s:s}", "relay", relay_name(t->relay), "url", relay_url(t->relay), "status",
				      shown_status(t));
		if (t->message && (t->state != T_WAITING))
			json_object_set_new(o, "message", json_string(t->message));
		if (done && !t->refused && (t->status == JOB_ACCEPTED || t->status == JOB_REJECTED))
			json_object_set_new(o, "latency_ms", json_real(t->latency_ms));
		if (done && !t->refused)
			json_object_set_new(o, "attempts", json_integer(t->attempts));
		json_array_append_new(a, o);
	}
	return a;
}

static void publish_free(struct publish *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct target *t = &p->t[i];
		if (t->d)
			t->d->t = NULL; /* the delivery goes on for the outbox */
		if (t->reserved)
			relay_unreserve(t->relay);
		relay_unref(t->relay);
		free(t->message);
	}
	if (p->timer)
		event_free(p->timer);
	LIST_REMOVE(p, link);
	event_clear(&p->ev);
	free(p);
}

static void answer_quorum(struct publish *p)
{
	struct request *r = p->req;

	if (p->accepted >= p->quorum)
		request_reply(r, json_pack("{s:s, s:i, s:i, s:o}", "event_id", p->ev.id_hex, "quorum", (int)p->quorum,
					   "accepted", (int)p->accepted, "relays", targets_json(p)));
	else
		request_fail_detail(r, RP_ERR_QUORUM_FAILED,
				    json_pack("{s:s, s:i, s:i, s:o}", "event_id", p->ev.id_hex, "quorum", (int)p->quorum,
					      "accepted", (int)p->accepted, "relays", targets_json(p)),
				    "event %s: %u of %zu relays accepted it%s, quorum was %u", p->ev.id_hex, p->accepted,
				    p->n, p->timed_out ? " within the request's timeout" : "", p->quorum);
}

static void maybe_answer(struct publish *p)
{
	if (!p->req || p->submitting || p->wait == PUBLISH_WAIT_QUEUED)
		return;
	if (p->accepted < p->quorum && p->accepted + (p->n - p->decided) >= p->quorum)
		return; /* still possible, not met */
	answer_quorum(p);
	p->req = NULL;
	publish_free(p);
}

/* Answers "event ID: ..." with an error before anything was queued, and frees. */
static void refuse(struct publish *p, enum rp_err code, const char *fmt, ...) _printf_(3, 4);
static void refuse(struct publish *p, enum rp_err code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	request_fail(p->req, code, "event %s: %s", p->ev.id_hex, msg);
	p->req = NULL;
	publish_free(p);
}

static void reply_queued(struct publish *p)
{
	json_t *names = json_array(), *failed = NULL;

	for (size_t i = 0; i < p->n; i++) {
		const struct target *t = &p->t[i];
		if (t->state == T_DONE && (t->status == JOB_FAILED || t->refused)) {
			if (!failed)
				failed = json_array();
			json_array_append_new(failed, json_pack("{s:s, s:s}", "relay", relay_name(t->relay), "message",
								t->message ? t->message : ""));
		} else {
			json_array_append_new(names, json_string(relay_name(t->relay)));
		}
	}
	json_t *res = json_pack("{s:s, s:o}", "event_id", p->ev.id_hex, "queued", names);
	if (failed)
		json_object_set_new(res, "not_queued", failed);
	request_reply(p->req, res);
	p->req = NULL;
	publish_free(p);
}

/* The rows are on disk: submit one job per target. */
static void committed(void *arg, int err)
{
	struct publish *p = arg;
	int64_t now = clock_wall_s();

	if (err < 0) {
		refuse(p, RP_ERR_INTERNAL, "the cache could not commit it (the batch was rolled back); not queued, "
					   "nothing was sent");
		return;
	}
	p->submitting = true;
	for (size_t i = 0; i < p->n; i++) {
		struct target *t = &p->t[i];
		if (t->refused)
			continue;
		int e = deliver(p->P, t->relay, &p->ev, t->oid, now, t->reserved, t);
		t->reserved = false; /* used or given back by deliver() */
		if (e < 0 && t->state == T_WAITING) {
			t->status = JOB_FAILED;
			t->message = strdup(e == -ESHUTDOWN ? "the relay was removed by a reload; the outbox keeps the row"
							     : strerror(-e));
			decide(t, T_DONE);
		}
	}
	p->submitting = false;
	if (p->wait == PUBLISH_WAIT_QUEUED) {
		reply_queued(p);
		return;
	}
	/* The request's own timeout runs from its arrival; its timer only starts now, so nothing
	 * answers the request while its commit is pending. */
	arm_timer(p);
	maybe_answer(p);
}

/* The event and one outbox row per target, in one savepoint: all or none. */
static int store(struct publish *p)
{
	struct publisher *P = p->P;
	enum cache_store res;
	int r;

	if (db_savepoint(P->env.db) < 0)
		return -EIO;
	r = cache_store_event_held(P->env.cache, &p->ev, 0, &res);
	bool in_cache = res == CACHE_NEW || res == CACHE_REPLACED || res == CACHE_DUPLICATE;
	for (size_t i = 0; r == 0 && i < p->n; i++) {
		int64_t relay_id;
		if (p->t[i].refused)
			continue;
		r = cache_relay_id(P->env.cache, relay_url(p->t[i].relay), &relay_id);
		if (r == 0)
			r = outbox_add(P->env.outbox, &p->ev, in_cache, relay_id, &p->t[i].oid);
	}
	return db_release(P->env.db, r);
}

/* Targets whose NIP-11 limits the event breaks are refused at once; true if any is left. */
static bool check_limits(struct publish *p)
{
	size_t len, left = 0;
	int64_t now = clock_wall_s();
	char why[300];

	event_json(&p->ev, &len);
	for (size_t i = 0; i < p->n; i++) {
		struct target *t = &p->t[i];
		if (limits_check_event(relay_limits(t->relay), &p->ev, len + strlen("[\"EVENT\",]"), now, why,
				       sizeof(why)) == 0) {
			left++;
			continue;
		}
		t->refused = true;
		t->status = JOB_REJECTED;
		t->message = strdup(why);
		decide(t, T_DONE);
	}
	return left > 0;
}

/* Room on every target (all or nothing), then the rows, then the jobs after the commit. */
static void admit(struct publish *p)
{
	if (!check_limits(p)) {
		answer_quorum(p); /* every target refused: nothing to queue */
		p->req = NULL;
		publish_free(p);
		return;
	}
	for (size_t i = 0; i < p->n; i++) {
		struct target *t = &p->t[i];
		int e = t->refused ? 0 : relay_reserve(t->relay, p->ev.id);
		if (t->refused)
			continue;
		if (e == -ESHUTDOWN) {
			refuse(p, RP_ERR_UNKNOWN_RELAY, "relay %s was removed by a reload; nothing was queued",
			       relay_name(t->relay));
			return;
		}
		if (e < 0) {
			refuse(p, RP_ERR_QUEUE_FULL, "relay %s has %u events queued (its limit); nothing was queued",
			       relay_name(t->relay), relay_queued(t->relay));
			return;
		}
		t->reserved = true;
	}
	if (store(p) < 0) {
		refuse(p, RP_ERR_INTERNAL, "the cache could not record it (write failed); not queued, nothing was sent");
		return;
	}
	if (db_after_commit(p->P->env.db, committed, p) < 0)
		refuse(p, RP_ERR_INTERNAL, "out of memory; not queued, nothing was sent");
}

static void verified(void *arg, const struct event_error *err)
{
	struct publish *p = arg;

	if (err) {
		request_fail_reason(p->req, err->code < EVENT_ERR__MAX ? RP_ERR_INVALID_EVENT : RP_ERR_SHUTTING_DOWN,
				    event_err_code(err->code), "event: %s", err->message);
		p->req = NULL;
		publish_free(p);
		return;
	}
	admit(p);
}

void publish_request(struct publisher *P, struct request *r, struct publish_args *a)
{
	struct publish *p = calloc(1, sizeof(*p) + a->n * sizeof(struct target));

	if (p)
		p->timer = evtimer_new(P->env.base, timer_cb, p);
	if (!p || !p->timer) {
		if (p)
			free(p);
		for (size_t i = 0; i < a->n; i++)
			relay_unref(a->targets[i]);
		event_clear(&a->ev);
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		return;
	}
	p->P = P;
	p->req = r;
	p->ev = a->ev;
	memset(&a->ev, 0, sizeof(a->ev));
	p->wait = a->wait;
	p->quorum = a->quorum;
	p->timeout_ms = a->timeout_ms;
	if (a->timeout_ms)
		p->overall_us = clock_now_us() + a->timeout_ms * 1000;
	p->n = a->n;
	for (size_t i = 0; i < a->n; i++) {
		p->t[i].p = p;
		p->t[i].relay = a->targets[i];
		p->t[i].status = JOB_PENDING;
	}
	LIST_INSERT_HEAD(&P->open, p, link);
	if (a->verified) {
		admit(p);
	} else if (verifier_submit(P->env.verifier, &p->ev, verified, p) < 0) {
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		p->req = NULL;
		publish_free(p);
	}
}

/* ---- the publisher ---------------------------------------------------------------------------- */

int publisher_new(const struct publisher_env *env, struct publisher **out)
{
	struct publisher *P = calloc(1, sizeof(*P));

	if (!P)
		return -ENOMEM;
	P->env = *env;
	LIST_INIT(&P->open);
	*out = P;
	return 0;
}

void publisher_free(struct publisher *P)
{
	struct publish *p;

	if (!P)
		return;
	while ((p = LIST_FIRST(&P->open))) {
		if (p->req)
			request_fail(p->req, RP_ERR_SHUTTING_DOWN, "event %s: the daemon is stopping", p->ev.id_hex);
		publish_free(p);
	}
	free(P);
}

/* ---- the outbox's rows ------------------------------------------------------------------------ */

struct resume {
	struct publisher *P;
	int n, skipped;
};

static int resume_row(void *arg, const struct outbox_row *row)
{
	struct resume *rs = arg;
	struct publisher *P = rs->P;
	struct relay *r = pool_find_relay(P->env.pool, row->url);
	struct nostr_event ev;
	struct event_error err;

	if (!r) {
		rs->skipped++;
		return 0;
	}
	if (!row->json) {
		/* The cache replaced it with a newer version of the same replaceable event. */
		outbox_settle(P->env.outbox, row->oid, OUTBOX_EXPIRED, 0,
			      "expired: superseded by a newer version of this replaceable event");
		return 0;
	}
	if (event_parse(row->json, row->json_len, &ev, &err) < 0) {
		log_err("outbox: row %lld holds an invalid event (%s), leaving it", (long long)row->oid, err.message);
		return 0;
	}
	if (!relay_has_pending(r, ev.id) && deliver(P, r, &ev, row->oid, row->created_at, false, NULL) == 0)
		rs->n++;
	event_clear(&ev);
	return 0;
}

int publisher_resume(struct publisher *P)
{
	struct resume rs = { .P = P };
	int r = outbox_each_pending(P->env.outbox, resume_row, &rs);

	if (r < 0)
		return r;
	if (rs.n)
		log_notice("outbox: resumed delivery of %d pending events", rs.n);
	if (rs.skipped)
		log_warn("outbox: %d pending rows are for relays that are not configured; they wait (or drop them)",
			 rs.skipped);
	return rs.n;
}

static void upload_committed(void *arg, int err)
{
	if (err == 0)
		publisher_resume(arg);
}

int publisher_upload(struct publisher *P, struct relay *r, const uint8_t (*ids)[32], size_t n)
{
	json_t *hexes = json_array(), *filters;
	sqlite3_stmt *st = NULL;
	const char *json;
	char *why = NULL;
	int64_t relay_id;
	size_t len;
	int added = 0, e;

	for (size_t i = 0; i < n; i++) {
		char hex[65];
		hex_encode(ids[i], 32, hex);
		json_array_append_new(hexes, json_string(hex));
	}
	filters = json_pack("[{s:o}]", "ids", hexes);
	e = cache_relay_id(P->env.cache, relay_url(r), &relay_id);
	if (e == 0)
		e = cache_query(P->env.cache, filters, (long long)n, &st, &why);
	json_decref(filters);
	while (e == 0 && (e = cache_query_next(st, &json, &len)) > 0) {
		struct nostr_event ev;
		struct event_error err;
		int64_t oid;
		if (event_parse(json, len, &ev, &err) < 0) {
			e = 0;
			continue;
		}
		if ((e = db_savepoint(P->env.db)) == 0)
			e = db_release(P->env.db, outbox_add(P->env.outbox, &ev, true, relay_id, &oid));
		event_clear(&ev);
		if (e == 0)
			added++;
	}
	if (st)
		sqlite3_finalize(st);
	free(why);
	if (e < 0)
		return e;
	if (added && db_after_commit(P->env.db, upload_committed, P) < 0)
		return -EIO;
	return added;
}

json_t *publisher_rows(struct publisher *P, const char *state_filter, const char *relay_url, long long limit,
		       char **why)
{
	json_t *rows = outbox_list(P->env.outbox, state_filter, relay_url, limit, why), *row;
	size_t i;

	json_array_foreach(rows, i, row) {
		const char *url = json_string_value(json_object_get(row, "url"));
		struct relay *r = pool_find_relay(P->env.pool, url);
		uint8_t id[32];
		json_object_set_new(row, "relay", r ? json_string(relay_name(r)) : json_null());
		if (strcmp(json_string_value(json_object_get(row, "state")), "pending") != 0)
			continue;
		if (!r)
			json_object_set_new(row, "state", json_string("pending (relay not configured)"));
		else if (hex_decode(json_string_value(json_object_get(row, "event_id")), 64, id) == 0 &&
			 relay_job_in_flight(r, id))
			json_object_set_new(row, "state", json_string("in_flight"));
	}
	return rows;
}

int publisher_retry(struct publisher *P, int64_t oid, const uint8_t *event_id)
{
	json_t *rows = outbox_select(P->env.outbox, oid, event_id);
	int n = (int)json_array_size(rows);

	if (n && outbox_rearm(P->env.outbox, rows) < 0)
		n = -EIO;
	json_decref(rows);
	if (n > 0)
		publisher_resume(P);
	return n;
}

int publisher_drop(struct publisher *P, int64_t oid, const uint8_t *event_id)
{
	json_t *rows = outbox_select(P->env.outbox, oid, event_id), *row;
	int n = (int)json_array_size(rows);
	size_t i;

	if (n && outbox_delete(P->env.outbox, rows) < 0)
		n = -EIO;
	json_array_foreach(rows, i, row) {
		struct relay *r = pool_find_relay(P->env.pool, json_string_value(json_object_get(row, "url")));
		uint8_t id[32];
		if (r && hex_decode(json_string_value(json_object_get(row, "event_id")), 64, id) == 0)
			relay_cancel(r, id);
	}
	json_decref(rows);
	return n;
}
