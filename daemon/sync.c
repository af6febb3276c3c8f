/* sync.c - one sync request: for each relay, the window [cursor - overlap (or --since),
 * now], cut into time slices when large, each slice paginated newest first with REQs of
 * {filter, since, until, limit: SYNC_PAGE} on the relay's ready sessions. Every event is
 * checked against the filter, verified (worker threads) and stored with a "seen" mark.
 * The cursor advances to the window's end only when every slice is exhausted and stored,
 * so an outage or a crash never leaves a gap: the next sync repeats the window.
 *
 * Pagination: the next page ends at the oldest created_at of the last page (inclusive, so
 * events sharing that second are not skipped); when a page brings nothing older, the end
 * moves one second back. A slice is done when a page comes back empty. */
#include <errno.h>
#include <sys/queue.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "cache.h"
#include "clock.h"
#include "db.h"
#include "filter.h"
#include "log.h"
#include "negsync.h"
#include "relay.h"
#include "request.h"
#include "sync.h"
#include "verifier.h"

#define MAX_SLICES 4
#define MAX_RETRIES 8
#define RETRY_BASE_MS 500
#define RETRY_MAX_MS 30000
#define PAGE_TIMEOUT_MS 30000
#define LARGE_WINDOW_S (2 * 86400)
/* Backpressure: a page with this many events out for verification stops reading from its
 * session until it is back under HOLD_LOW, so a relay faster than verification (or one that
 * ignores "limit") fills its own send buffer, not our memory. */
#define HOLD_HIGH 1000
#define HOLD_LOW 250

struct sync_relay;

struct slice {
	struct sync_relay *sr;
	unsigned index;
	int64_t since, until; /* the next page's window, inclusive */
	bool done;
	/* the page out now */
	bool active;
	struct session_sub *sub; /* the page's REQ while it is open */
	char sub_id[32];
	uint64_t gen; /* bumps on every new page: late verifications of an old page are ignored */
	unsigned count, pending;
	int64_t oldest;
	bool eose;
	bool held; /* reading of its session is held (HOLD_HIGH) */
	unsigned retries;
	struct event *timer; /* retry delay, or page timeout while active */
};

struct sync_relay {
	struct sync_run *run;
	struct relay *relay; /* a reference */
	char *name;
	char *url;
	int64_t relay_id;
	char *key; /* filter_key: the cursor's name */
	int64_t window_since, window_until;
	int64_t req_since; /* where REQ pagination starts (cursor - overlap, or --since) */
	int64_t cursor;    /* the saved cursor when the sync began (0: none) */
	struct negsync *ns; /* the NIP-77 reconciliation while it runs */
	bool negentropy;    /* this relay was (or is being) reconciled by NIP-77 */
	char fallback[400]; /* why NIP-77 was not used or given up ("" if it was not tried) */
	struct negsync_stats neg;
	uint8_t (*up)[32]; /* --up: ids the relay lacks, not yet handed to the outbox */
	size_t n_up;
	unsigned long long uploaded, upload_failed;
	struct slice slices[MAX_SLICES];
	unsigned n_slices, slices_done;
	unsigned long long received, fresh, duplicates, invalid, pages;
	unsigned long long known; /* duplicates taken from the cache without verification */
	uint64_t started_us, finished_us;
	struct log_limit ll_drop; /* invalid events a relay can flood the log with */
	bool done, failed;
	char error[300];
};

struct sync_run;

/* A relay that did not answer NEG-OPEN (a NOTICE, or silence) while its NIP-11 said
 * nothing: auto goes straight to REQ there for an hour instead of waiting again. */
#define UNSUPPORTED_FOR_S 3600
struct no_neg {
	char *url;
	int64_t until; /* wall clock */
	char why[200];
	LIST_ENTRY(no_neg) link;
};

struct syncer {
	struct syncer_env env;
	LIST_HEAD(, sync_run) runs;
	LIST_HEAD(, no_neg) no_neg;
};

static struct no_neg *no_neg_find(struct syncer *S, const char *url)
{
	struct no_neg *x, *next;
	int64_t now = clock_wall_s();

	for (x = LIST_FIRST(&S->no_neg); x; x = next) {
		next = LIST_NEXT(x, link);
		if (x->until <= now) {
			LIST_REMOVE(x, link);
			free(x->url);
			free(x);
		} else if (strcmp(x->url, url) == 0) {
			return x;
		}
	}
	return NULL;
}

static void no_neg_note(struct syncer *S, const char *url, const char *why)
{
	struct no_neg *x = no_neg_find(S, url);

	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x || !(x->url = strdup(url))) {
			free(x);
			return;
		}
		LIST_INSERT_HEAD(&S->no_neg, x, link);
	}
	x->until = clock_wall_s() + UNSUPPORTED_FOR_S;
	snprintf(x->why, sizeof(x->why), "%s", why);
}

struct sync_run {
	struct syncer *S;
	LIST_ENTRY(sync_run) link;
	struct request *req;
	json_t *filter;
	bool have_since;
	int64_t since;
	bool progress, up;
	enum sync_method method;
	struct event *progress_timer;
	unsigned in_verify; /* events out for verification: the run lives until they are back */
	size_t n, n_done;
	struct sync_relay r[];
};

/* One event out for verification. */
struct sync_ev {
	struct nostr_event ev;
	struct slice *sl;
	uint64_t gen;
};

static unsigned long long sub_counter;

#define srlog(sr, prio, fmt, ...) log_ctx(prio, (&(const struct log_fields){ .relay = (sr)->name }), "sync %s: " fmt, (sr)->name, ##__VA_ARGS__)

static void next_page(struct slice *sl);
static void log_drop(struct sync_relay *sr, const char *fmt, ...) _printf_(2, 3);
static void neg_end(struct sync_relay *sr);
static void target_failed(struct sync_relay *sr, const char *fmt, ...) _printf_(2, 3);

/* ---- the run ------------------------------------------------------------------------------- */

static json_t *target_result(const struct sync_relay *sr)
{
	uint64_t end = sr->finished_us ? sr->finished_us : clock_now_us();
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "relay", sr->name, "url",
			      sr->url ? sr->url : "", "status", sr->failed ? "failed" : sr->done ? "ok" : "running",
			      "received", (json_int_t)sr->received, "new", (json_int_t)sr->fresh, "duplicates",
			      (json_int_t)sr->duplicates, "invalid", (json_int_t)sr->invalid, "pages", (json_int_t)sr->pages,
			      "since", (json_int_t)sr->window_since, "until", (json_int_t)sr->window_until,
			      "duration_ms", (json_int_t)((end - sr->started_us) / 1000));
	const struct negsync_stats *ns = sr->ns ? negsync_stats(sr->ns) : &sr->neg;

	if (sr->ns) {
		/* still reconciling: its counts so far */
		json_object_set_new(o, "received", json_integer((json_int_t)(sr->received + ns->received)));
		json_object_set_new(o, "new", json_integer((json_int_t)(sr->fresh + ns->fresh)));
		json_object_set_new(o, "duplicates", json_integer((json_int_t)(sr->duplicates + ns->duplicates)));
		json_object_set_new(o, "invalid", json_integer((json_int_t)(sr->invalid + ns->invalid)));
	}
	json_object_set_new(o, "method", json_string(sr->negentropy && !sr->n_slices ? "negentropy" : "req"));
	if (sr->fallback[0])
		json_object_set_new(o, "fallback", json_string(sr->fallback));
	if (sr->negentropy)
		json_object_set_new(o, "negentropy",
				    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "have", (json_int_t)ns->have, "need",
					      (json_int_t)ns->need, "missing", (json_int_t)ns->missing, "rounds",
					      (json_int_t)ns->rounds, "bytes", (json_int_t)ns->bytes, "chunks",
					      (json_int_t)ns->chunks, "fetches", (json_int_t)ns->fetches));
	if (sr->negentropy && sr->run->up)
		json_object_set_new(json_object_get(o, "negentropy"), "uploaded", json_integer((json_int_t)sr->uploaded));
	if (sr->failed)
		json_object_set_new(o, "error", json_string(sr->error));
	return o;
}

static void run_free(struct sync_run *run)
{
	for (size_t i = 0; i < run->n; i++) {
		struct sync_relay *sr = &run->r[i];
		for (unsigned k = 0; k < MAX_SLICES; k++)
			if (sr->slices[k].timer)
				event_free(sr->slices[k].timer);
		negsync_free(sr->ns);
		free(sr->up);
		relay_unref(sr->relay);
		free(sr->name);
		free(sr->url);
		free(sr->key);
	}
	if (run->progress_timer)
		event_free(run->progress_timer);
	json_decref(run->filter);
	LIST_REMOVE(run, link);
	free(run);
}

/* Answers once every relay is finished; frees once no verification is out either. */
static void run_check(struct sync_run *run)
{
	if (run->req && run->n_done == run->n) {
		json_t *relays = json_array();
		unsigned failed = 0;
		for (size_t i = 0; i < run->n; i++) {
			json_array_append_new(relays, target_result(&run->r[i]));
			failed += run->r[i].failed;
		}
		if (failed)
			request_fail_detail(run->req, RP_ERR_SYNC_FAILED, json_pack("{s:o}", "relays", relays),
					    "%u of %zu relays failed to sync (their cursors did not move)", failed, run->n);
		else
			request_reply_end(run->req, json_pack("{s:o}", "relays", relays));
		run->req = NULL;
		if (run->progress_timer)
			evtimer_del(run->progress_timer);
	}
	if (!run->req && run->in_verify == 0)
		run_free(run);
}

static void progress_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sync_run *run = arg;
	struct timeval tv = { .tv_sec = 1 };

	(void)fd, (void)what;
	if (!run->req)
		return;
	for (size_t i = 0; i < run->n; i++)
		if (!run->r[i].done)
			request_item(run->req, target_result(&run->r[i]));
	evtimer_add(run->progress_timer, &tv);
}

/* ---- relays finishing ------------------------------------------------------------------- */

/* Ends the slice's page, if one is out. A session that went away has told us already
 * (on_lost, on_closed clear sl->sub), so the handle is valid when set. */
static void stop_slice(struct slice *sl)
{
	evtimer_del(sl->timer);
	if (sl->sub)
		relay_unsubscribe(sl->sub); /* which releases its hold */
	sl->sub = NULL;
	sl->held = false;
	sl->active = false;
	sl->gen++;
}

static void target_done(struct sync_relay *sr)
{
	sr->done = true;
	sr->finished_us = clock_now_us();
	sr->run->n_done++;
	run_check(sr->run);
}

static void target_failed(struct sync_relay *sr, const char *fmt, ...)
{
	va_list ap;

	if (sr->done)
		return;
	va_start(ap, fmt);
	vsnprintf(sr->error, sizeof(sr->error), fmt, ap);
	va_end(ap);
	sr->failed = true;
	neg_end(sr);
	for (unsigned i = 0; i < sr->n_slices; i++)
		stop_slice(&sr->slices[i]);
	srlog(sr, LOG_WARNING, "failed, cursor unchanged: %s", sr->error);
	target_done(sr);
}

static void cursor_committed(void *arg, int err)
{
	struct sync_relay *sr = arg;

	if (err < 0) {
		sr->done = false;
		target_failed(sr, "the cache could not save the events or the cursor");
		return;
	}
	srlog(sr, LOG_INFO,
	      "done (%s): %llu received, %llu new, %llu duplicates (%llu known to the cache, not verified again), "
	      "%llu invalid, %llu pages; cursor %lld",
	      sr->negentropy && !sr->n_slices ? "negentropy" : "req", sr->received, sr->fresh, sr->duplicates, sr->known,
	      sr->invalid, sr->pages, (long long)sr->window_until);
	target_done(sr);
}

static void window_complete(struct sync_relay *sr);

static void slice_done(struct slice *sl)
{
	struct sync_relay *sr = sl->sr;

	sl->done = true;
	stop_slice(sl);
	if (++sr->slices_done < sr->n_slices)
		return;
	window_complete(sr);
}

static void window_complete(struct sync_relay *sr)
{
	struct syncer *S = sr->run->S;

	/* Every event of the window is stored (in this batch or an earlier one): the cursor
	 * moves in the same or a later commit, never before the events. */
	if (cache_set_cursor(S->env.cache, sr->relay_id, sr->key, sr->window_until) < 0 ||
	    db_after_commit(S->env.db, cursor_committed, sr) < 0)
		target_failed(sr, "the cache could not save the cursor");
}

/* ---- pages ------------------------------------------------------------------------------ */

/* A dropped event, logged within the limit (a relay can send any number). */
static void log_drop(struct sync_relay *sr, const char *fmt, ...)
{
	char prefix[200], msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(prefix, sizeof(prefix), "sync %s: ", sr->name);
	log_limited(&sr->ll_drop, LOG_INFO, (&(const struct log_fields){ .relay = sr->name }), prefix, "%s", msg);
}

static void page_finished(struct slice *sl)
{
	struct sync_relay *sr = sl->sr;

	sr->pages++;
	sl->active = false;
	sl->sub = NULL;
	sl->held = false;
	sl->retries = 0;
	evtimer_del(sl->timer);
	if (sl->count == 0) {
		slice_done(sl);
		return;
	}
	/* Older than the page's oldest, including its second: events may share it. */
	sl->until = sl->oldest < sl->until ? sl->oldest : sl->until - 1;
	if (sl->until < sl->since) {
		slice_done(sl);
		return;
	}
	next_page(sl);
}

static void retry_page(struct slice *sl, const char *why)
{
	struct sync_relay *sr = sl->sr;
	uint64_t delay;
	struct timeval tv;

	stop_slice(sl);
	if (++sl->retries > MAX_RETRIES) {
		target_failed(sr, "gave up after %d retries: %s", MAX_RETRIES, why);
		return;
	}
	delay = backoff_step(RETRY_BASE_MS, RETRY_MAX_MS, sl->retries - 1);
	srlog(sr, LOG_INFO, "slice %u: %s; retrying in %llu ms", sl->index, why, (unsigned long long)delay);
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	evtimer_add(sl->timer, &tv);
}

static void verified(void *arg, const struct event_error *err)
{
	struct sync_ev *se = arg;
	struct slice *sl = se->sl;
	struct sync_relay *sr = sl->sr;
	enum cache_store res;

	sr->run->in_verify--;
	if (se->gen == sl->gen && !sr->done) {
		if (err) {
			sr->invalid++;
			log_drop(sr, "dropping an invalid event: %s", err->message);
		} else if (cache_store_event(sr->run->S->env.cache, &se->ev, sr->relay_id, &res) < 0) {
			target_failed(sr, "the cache could not store an event");
		} else if (res == CACHE_NEW || res == CACHE_REPLACED) {
			sr->fresh++;
		} else {
			sr->duplicates++;
		}
		--sl->pending;
		if (sl->held && sl->pending <= HOLD_LOW) {
			if (sl->sub)
				session_sub_hold(sl->sub, false);
			sl->held = false;
		}
		if (!sr->done && sl->pending == 0 && sl->eose)
			page_finished(sl);
	}
	event_clear(&se->ev);
	free(se);
	run_check(sr->run);
}

static void on_event(void *arg, json_t *obj)
{
	struct slice *sl = arg;
	struct sync_relay *sr = sl->sr;
	struct sync_ev *se;
	struct event_error err;

	if (!sl->active)
		return;
	sr->received++;
	sl->count++;
	se = calloc(1, sizeof(*se));
	if (!se) {
		target_failed(sr, "out of memory");
		return;
	}
	if (event_from_json(obj, &se->ev, &err) < 0) {
		sr->invalid++;
		log_drop(sr, "dropping a malformed event: %s", err.message);
		free(se);
		return;
	}
	if (se->ev.created_at < sl->oldest)
		sl->oldest = se->ev.created_at;
	if (!filter_match(sr->run->filter, &se->ev) || se->ev.created_at < sl->since || se->ev.created_at > sl->until) {
		sr->invalid++;
		log_drop(sr, "dropping event %s: it does not match the filter", se->ev.id_hex);
		event_clear(&se->ev);
		free(se);
		return;
	}
	/* Verification once: an event the cache holds with the same signature was verified when
	 * it was stored (a re-sync's overlap, a window synced again). Asked only below the
	 * cursor, where the cache is likely to have it: above it, a lookup that misses would
	 * cost reading the id index for nothing. */
	if (se->ev.created_at <= sr->cursor && cache_known(sr->run->S->env.cache, &se->ev) == 1) {
		sr->duplicates++;
		sr->known++;
		if (cache_mark(sr->run->S->env.cache, se->ev.id, sr->relay_id, CACHE_SEEN) < 0)
			target_failed(sr, "the cache could not record an event");
		event_clear(&se->ev);
		free(se);
		return;
	}
	se->sl = sl;
	se->gen = sl->gen;
	sl->pending++;
	sr->run->in_verify++;
	if (!sl->held && sl->sub && sl->pending >= HOLD_HIGH) {
		session_sub_hold(sl->sub, true);
		sl->held = true;
	}
	if (verifier_submit(sr->run->S->env.verifier, &se->ev, verified, se) < 0) {
		sr->run->in_verify--;
		sl->pending--;
		event_clear(&se->ev);
		free(se);
		target_failed(sr, "out of memory");
	}
}

static void on_eose(void *arg)
{
	struct slice *sl = arg;

	if (!sl->active)
		return;
	sl->eose = true;
	/* Only stored events matter: the live part of the subscription is not needed. */
	if (sl->sub)
		relay_unsubscribe(sl->sub);
	sl->sub = NULL;
	sl->held = false;
	if (sl->pending == 0)
		page_finished(sl);
}

static void on_closed(void *arg, const char *msg)
{
	struct slice *sl = arg;

	sl->sub = NULL; /* the subscription is already gone */
	sl->held = false;
	if (session_closed_transient(msg))
		retry_page(sl, msg);
	else
		target_failed(sl->sr, "the relay closed the subscription: %s", msg);
}

static void on_lost(void *arg)
{
	struct slice *sl = arg;

	sl->sub = NULL;
	sl->held = false;
	retry_page(sl, "the session went away");
}

static const struct sub_handler handler = {
	.on_event = on_event,
	.on_eose = on_eose,
	.on_closed = on_closed,
	.on_lost = on_lost,
};

static void next_page(struct slice *sl)
{
	struct sync_relay *sr = sl->sr;
	struct timeval tv = { .tv_sec = PAGE_TIMEOUT_MS / 1000 };
	json_t *f, *filters;
	int e;

	if (relay_draining(sr->relay)) {
		target_failed(sr, "the relay was removed from the configuration");
		return;
	}
	f = json_deep_copy(sr->run->filter);
	json_object_set_new(f, "since", json_integer(sl->since));
	json_object_set_new(f, "until", json_integer(sl->until));
	/* A relay's NIP-11 max_limit makes pages smaller (pagination does the rest). */
	json_object_set_new(f, "limit", json_integer(relay_limits(sr->relay)->max_limit >= 1 &&
							     relay_limits(sr->relay)->max_limit < SYNC_PAGE
						     ? relay_limits(sr->relay)->max_limit
						     : SYNC_PAGE));
	filters = json_pack("[o]", f);
	snprintf(sl->sub_id, sizeof(sl->sub_id), "rp-sync-%llu", ++sub_counter);
	sl->gen++;
	sl->count = sl->pending = 0;
	sl->oldest = INT64_MAX;
	sl->eose = false;
	sl->active = true;
	sl->sub = relay_subscribe(sr->relay, sl->sub_id, filters, 0, &handler, sl, &e);
	json_decref(filters);
	if (!sl->sub) {
		const char *why;
		sl->active = false;
		if (e == -EAGAIN && relay_unreachable(sr->relay, &why)) {
			/* the cause now, not a give-up after every retry */
			target_failed(sr, "the relay cannot be reached: %s", why);
			return;
		}
		retry_page(sl, e == -EAGAIN ? "no session of the relay is ready" : "cannot send the REQ");
		return;
	}
	evtimer_add(sl->timer, &tv);
}

/* The slice timer: a retry's delay ran out, or an active page timed out. */
static void slice_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct slice *sl = arg;

	(void)fd, (void)what;
	if (sl->sr->done)
		return;
	if (sl->active)
		retry_page(sl, "no EOSE within the page timeout");
	else
		next_page(sl);
}

/* ---- starting ------------------------------------------------------------------------------ */

/* Large windows are cut at 1, 7 and 30 days back (Nostr data is mostly recent), so the
 * slices carry comparable loads and run in parallel. */
static void make_slices(struct sync_relay *sr, unsigned sessions)
{
	static const int64_t back[] = { 86400, 7 * 86400, 30 * 86400 };
	int64_t bounds[MAX_SLICES + 1];
	unsigned n = 0;

	bounds[n++] = sr->window_until;
	if (sessions > 1 && sr->window_until - sr->window_since > LARGE_WINDOW_S)
		for (size_t i = 0; i < sizeof(back) / sizeof(back[0]); i++)
			if (sr->window_until - back[i] > sr->window_since)
				bounds[n++] = sr->window_until - back[i];
	bounds[n] = sr->window_since;
	for (unsigned i = 0; i < n; i++) {
		struct slice *sl = &sr->slices[i];
		sl->sr = sr;
		sl->index = i;
		sl->until = i == 0 ? bounds[0] : bounds[i] - 1;
		sl->since = bounds[i + 1];
	}
	sr->n_slices = n;
}

/* REQ pagination over [req_since, window_until]. */
static void req_begin(struct sync_relay *sr)
{
	struct syncer *S = sr->run->S;

	sr->window_since = sr->req_since;
	make_slices(sr, relay_opts(sr->relay)->sessions);
	for (unsigned i = 0; i < sr->n_slices; i++) {
		sr->slices[i].timer = evtimer_new(S->env.base, slice_timer_cb, &sr->slices[i]);
		if (!sr->slices[i].timer) {
			target_failed(sr, "out of memory");
			return;
		}
	}
	srlog(sr, LOG_INFO, "REQ window %lld..%lld in %u slice%s", (long long)sr->window_since,
	      (long long)sr->window_until, sr->n_slices, sr->n_slices == 1 ? "" : "s");
	if (sr->window_until < sr->window_since) {
		/* An empty window: nothing to fetch, the cursor stays. */
		target_done(sr);
		return;
	}
	for (unsigned i = 0; i < sr->n_slices && !sr->done; i++)
		next_page(&sr->slices[i]);
}

/* ---- NIP-77 --------------------------------------------------------------------------------- */

#define UP_BATCH 500

/* --up: the ids so far go to the outbox. */
static void up_flush(struct sync_relay *sr)
{
	struct syncer *S = sr->run->S;
	int n;

	if (!sr->n_up)
		return;
	n = S->env.upload ? S->env.upload(S->env.upload_arg, sr->relay, (const uint8_t(*)[32])sr->up, sr->n_up) : -ENOSYS;
	if (n < 0) {
		sr->upload_failed += sr->n_up;
		srlog(sr, LOG_WARNING, "cannot queue %zu events for the relay: %s", sr->n_up, strerror(-n));
	} else {
		sr->uploaded += (unsigned)n;
	}
	sr->n_up = 0;
}

static void neg_have(void *arg, const uint8_t id[32])
{
	struct sync_relay *sr = arg;

	if (!sr->run->up)
		return;
	if (!sr->up && !(sr->up = malloc(UP_BATCH * 32)))
		return;
	memcpy(sr->up[sr->n_up++], id, 32);
	if (sr->n_up == UP_BATCH)
		up_flush(sr);
}

/* The reconciliation's figures are kept, its counts join the relay's. */
static void neg_end(struct sync_relay *sr)
{
	const struct negsync_stats *st;

	if (!sr->ns)
		return;
	up_flush(sr);
	st = negsync_stats(sr->ns);
	sr->neg = *st;
	sr->received += st->received;
	sr->fresh += st->fresh;
	sr->duplicates += st->duplicates;
	sr->invalid += st->invalid;
	negsync_free(sr->ns);
	sr->ns = NULL;
}

static void neg_done(void *arg)
{
	struct sync_relay *sr = arg;

	neg_end(sr);
	window_complete(sr);
}

static void neg_failed(void *arg, const char *why, enum negsync_failure kind)
{
	struct sync_relay *sr = arg;

	neg_end(sr);
	if (sr->run->method == SYNC_NEGENTROPY || kind == NEGSYNC_UNREACHABLE) {
		target_failed(sr, "negentropy: %s", why);
		return;
	}
	if (kind == NEGSYNC_UNSUPPORTED && relay_supports_nip(sr->relay, 77) != 1)
		no_neg_note(sr->run->S, relay_url(sr->relay), why);
	/* auto: REQ is never wrong, only slower; what NIP-77 stored stays stored. */
	snprintf(sr->fallback, sizeof(sr->fallback), "%s%s", kind == NEGSYNC_BROKE ? "negentropy failed: " : "", why);
	srlog(sr, LOG_INFO, "falling back to REQ: %s", sr->fallback);
	req_begin(sr);
}

static const struct negsync_ops neg_ops = {
	.done = neg_done,
	.failed = neg_failed,
	.have = neg_have,
};

/* NIP-77 over the whole window (the filter's since, or --since): the cursor does not limit
 * it, because finding what the cursor missed (late events with old timestamps, a cache that
 * lost some) is what it is for, and it costs fingerprints, not events. */
static void neg_begin(struct sync_relay *sr, int64_t since, bool probe)
{
	struct sync_run *run = sr->run;
	struct syncer *S = run->S;
	const struct negsync_env env = { S->env.base, S->env.db, S->env.cache, S->env.verifier };
	const struct negsync_params p = {
		.filter = run->filter,
		.since = since,
		.until = sr->window_until,
		.relay_id = sr->relay_id,
		.probe = probe,
	};

	sr->negentropy = true;
	sr->window_since = since;
	srlog(sr, LOG_INFO, "negentropy window %lld..%lld%s", (long long)since, (long long)sr->window_until,
	      probe ? " (probing for NIP-77)" : "");
	if (sr->window_until < since) {
		target_done(sr);
		return;
	}
	if (negsync_start(&env, sr->relay, &p, &neg_ops, sr, &sr->ns) < 0)
		target_failed(sr, "out of memory");
}

static int target_begin(struct sync_relay *sr)
{
	struct sync_run *run = sr->run;
	struct syncer *S = run->S;
	struct relay *r = sr->relay;
	json_t *fs = json_object_get(run->filter, "since"), *fu = json_object_get(run->filter, "until");
	int64_t cursor = 0, now = clock_wall_s(), full_since = 0;
	struct no_neg *nn;
	int support;

	sr->started_us = clock_now_us();
	sr->url = strdup(relay_url(r));
	sr->key = filter_key(run->filter);
	if (!sr->url || !sr->key || cache_relay_id(S->env.cache, relay_url(r), &sr->relay_id) < 0 ||
	    cache_get_cursor(S->env.cache, sr->relay_id, sr->key, &cursor) < 0) {
		target_failed(sr, "cannot read the sync cursor");
		return -EIO;
	}
	if (run->have_since)
		sr->req_since = full_since = run->since;
	else if (cursor)
		sr->req_since = cursor - (int64_t)(relay_opts(r)->sync_overlap_ms / 1000);
	if (sr->req_since < 0)
		sr->req_since = 0;
	if (fs && json_integer_value(fs) > sr->req_since)
		sr->req_since = json_integer_value(fs);
	if (fs && json_integer_value(fs) > full_since)
		full_since = json_integer_value(fs);
	sr->window_until = fu && json_integer_value(fu) < now ? json_integer_value(fu) : now;
	srlog(sr, LOG_INFO, "cursor %lld", (long long)cursor);
	sr->cursor = cursor;
	support = relay_supports_nip(r, 77);
	if (run->method == SYNC_REQ) {
		req_begin(sr);
	} else if (run->method == SYNC_AUTO && support == 0) {
		snprintf(sr->fallback, sizeof(sr->fallback), "the relay's NIP-11 document does not list NIP-77");
		req_begin(sr);
	} else if (run->method == SYNC_AUTO && support == -1 && (nn = no_neg_find(S, relay_url(r)))) {
		snprintf(sr->fallback, sizeof(sr->fallback), "NIP-77 was not answered within the last hour (%s)", nn->why);
		req_begin(sr);
	} else {
		neg_begin(sr, full_since, support != 1);
	}
	return 0;
}

int sync_method_parse(const char *s, enum sync_method *out)
{
	if (strcmp(s, "auto") == 0)
		*out = SYNC_AUTO;
	else if (strcmp(s, "negentropy") == 0)
		*out = SYNC_NEGENTROPY;
	else if (strcmp(s, "req") == 0)
		*out = SYNC_REQ;
	else
		return -EINVAL;
	return 0;
}

void sync_start(struct syncer *S, struct request *r, struct relay **relays, size_t n, const struct sync_params *p)
{
	struct sync_run *run = calloc(1, sizeof(*run) + n * sizeof(struct sync_relay));
	struct timeval tv = { .tv_sec = 1 };

	if (!run) {
		for (size_t i = 0; i < n; i++)
			relay_unref(relays[i]);
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		return;
	}
	run->S = S;
	LIST_INSERT_HEAD(&S->runs, run, link);
	run->req = r;
	run->filter = json_deep_copy(p->filter);
	json_object_del(run->filter, "limit");
	run->have_since = p->have_since;
	run->since = p->since;
	run->progress = p->progress;
	run->method = p->method;
	run->up = p->up;
	run->n = n;
	for (size_t i = 0; i < n; i++) {
		run->r[i].run = run;
		run->r[i].relay = relays[i];
		run->r[i].name = strdup(relay_name(relays[i]));
	}
	if (p->progress) {
		run->progress_timer = evtimer_new(S->env.base, progress_cb, run);
		if (run->progress_timer)
			evtimer_add(run->progress_timer, &tv);
	}
	/* Keep the run alive while relays start (one may finish at once). */
	run->in_verify++;
	for (size_t i = 0; i < n; i++)
		target_begin(&run->r[i]);
	run->in_verify--;
	run_check(run);
}

int syncer_new(const struct syncer_env *env, struct syncer **out)
{
	struct syncer *S = calloc(1, sizeof(*S));

	if (!S)
		return -ENOMEM;
	S->env = *env;
	LIST_INIT(&S->runs);
	LIST_INIT(&S->no_neg);
	*out = S;
	return 0;
}

void syncer_free(struct syncer *S)
{
	struct sync_run *run;

	if (!S)
		return;
	/* Runs still going (the daemon stops): their pages end and their requests hear why. */
	while ((run = LIST_FIRST(&S->runs))) {
		for (size_t i = 0; i < run->n; i++) {
			neg_end(&run->r[i]);
			for (unsigned k = 0; k < run->r[i].n_slices; k++)
				stop_slice(&run->r[i].slices[k]);
		}
		if (run->req)
			request_fail(run->req, RP_ERR_SHUTTING_DOWN, "the daemon is stopping; cursors did not move");
		run->req = NULL;
		run_free(run);
	}
	while (!LIST_EMPTY(&S->no_neg)) {
		struct no_neg *x = LIST_FIRST(&S->no_neg);
		LIST_REMOVE(x, link);
		free(x->url);
		free(x);
	}
	free(S);
}
