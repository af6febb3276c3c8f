/* feed.c - see feed.h.
 *
 * Placement: a feed without a REQ out tries relay_subscribe at once and, when no session
 * has room (connecting, or full), again after 50 ms, doubling to 1 s. It polls instead of
 * waiting for a call from the relay so that the relay never calls up into this layer; a
 * waiting feed costs at most one timer a second.
 *
 * Reconnects: a session that goes away takes its REQs with it (on_lost); the feed re-sends
 * at once on another session with room, or when one is back. After its first EOSE the
 * re-sent filters start at since = min(now, max(newest created_at delivered, time of the
 * EOSE)) - sync_overlap, with limit dropped, so events published while the relay was away
 * arrive and those already delivered are removed by id (the feed's recent ids). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "cache.h"
#include "clock.h"
#include "feed.h"
#include "filter.h"
#include "idset.h"
#include "log.h"
#include "relay.h"
#include "session.h"
#include "verifier.h"

/* Ids a feed remembers to drop a relay's repeats (after a re-sent REQ). */
#define FEED_RECENT_IDS 16384
#define CLOSED_RETRIES 5
#define RETRY_BASE_MS 1000
#define RETRY_MAX_MS 30000
#define POLL_FIRST_MS 50
#define POLL_MAX_MS 1000
/* A REQ whose EOSE does not come in this time counts as failed for the subscribers'
 * "eose" item (the REQ stays open). */
#define EOSE_TIMEOUT_MS 30000

struct feed {
	struct feeds *F;
	LIST_ENTRY(feed) link; /* in F->feeds while open */
	struct relay *relay;   /* a reference */
	char *name, *name_json;
	int64_t relay_id;
	json_t *filters;
	char *key;

	struct session_sub *sub;
	char sub_id[40];
	enum feed_state state;
	char why[256];
	bool eosed, dead;
	int64_t newest, eose_wall;
	unsigned retries;
	uint64_t poll_ms;
	struct event *timer; /* placement poll, CLOSED retry, or the EOSE deadline while sub is out */

	LIST_HEAD(, feed_tap) taps;
	unsigned n_taps;
	struct idset *recent;
	unsigned holds; /* verifications out and tap callbacks running: a dead feed waits for them */
	unsigned verifying; /* events out for verification */
	bool eose_due;      /* EOSE came while events before it were still being verified */
	unsigned long long events_in, fresh, duplicates, invalid, reqs, resent;
	uint64_t opened_us;
	struct log_limit ll_drop; /* invalid events a relay can flood the log with */
};

struct feeds {
	struct feeds_env env;
	LIST_HEAD(, feed) feeds;
	struct feeds_totals gone; /* counters of feeds already closed */
};

struct feed_ev {
	struct nostr_event ev;
	struct feed *f;
};

static unsigned long long sub_counter;

#define flog(f, prio, fmt, ...) log_relay(prio, (f)->name, "live REQ %s: " fmt, (f)->sub_id, ##__VA_ARGS__)

static void place(struct feed *f);
static void log_drop(struct feed *f, const char *fmt, ...) _printf_(2, 3);
static void reached_eose(struct feed *f);

const char *feed_state_name(enum feed_state st)
{
	switch (st) {
	case FEED_WAITING:
		return "waiting";
	case FEED_EOSE:
		return "eose";
	case FEED_FAILED:
		return "failed";
	case FEED_CLOSED:
		return "closed";
	}
	return "?";
}

unsigned feeds_capacity(const struct relay *r)
{
	unsigned max = relay_max_subscriptions(r);

	return relay_opts(r)->sessions * (max > 1 ? max - 1 : 1);
}

/* ---- life --------------------------------------------------------------------------------- */

static void feed_free(struct feed *f)
{
	relay_unref(f->relay);
	free(f->name);
	free(f->name_json);
	free(f->key);
	json_decref(f->filters);
	idset_free(f->recent);
	if (f->timer)
		event_free(f->timer);
	free(f);
}

static void add_counts(struct feeds_totals *t, const struct feed *f)
{
	t->events_in += f->events_in;
	t->fresh += f->fresh;
	t->duplicates += f->duplicates;
	t->invalid += f->invalid;
	t->reqs += f->reqs;
	t->resent += f->resent;
}

/* Leaves the open feeds; freed now or when the last verification is back. */
static void bury(struct feed *f)
{
	f->dead = true;
	if (f->sub)
		relay_unsubscribe(f->sub);
	f->sub = NULL;
	evtimer_del(f->timer);
	LIST_REMOVE(f, link);
	add_counts(&f->F->gone, f);
	if (f->holds == 0)
		feed_free(f);
}

static void hold(struct feed *f)
{
	f->holds++;
}

/* False when the feed died meanwhile (and is freed unless something else holds it). */
static bool release(struct feed *f)
{
	if (--f->holds == 0 && f->dead) {
		feed_free(f);
		return false;
	}
	return !f->dead;
}

static void set_state(struct feed *f, enum feed_state st, const char *why)
{
	struct feed_tap *t, *next;

	/* Once the history is in, a feed stays "eose" for its taps until it closes. */
	if (f->eosed && st != FEED_EOSE)
		return;
	if (st == f->state && strcmp(why, f->why) == 0)
		return;
	f->state = st;
	snprintf(f->why, sizeof(f->why), "%s", why);
	hold(f);
	for (t = LIST_FIRST(&f->taps); t && !f->dead; t = next) {
		next = LIST_NEXT(t, link);
		t->ops->state(t->arg, st, f->why);
	}
	release(f);
}

/* The relay closed the REQ for good, or the relay is gone: every tap hears it. */
static void close_for_good(struct feed *f, const char *why)
{
	struct feed_tap *t;

	flog(f, LOG_INFO, "closed for good: %s", why);
	f->F->gone.closed++;
	f->state = FEED_CLOSED;
	snprintf(f->why, sizeof(f->why), "%s", why);
	hold(f);
	while ((t = LIST_FIRST(&f->taps))) {
		LIST_REMOVE(t, link);
		f->n_taps--;
		t->feed = NULL;
		t->ops->state(t->arg, FEED_CLOSED, f->why);
	}
	if (!f->dead)
		bury(f);
	release(f);
}

static void arm(struct feed *f, uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(f->timer, &tv);
}

/* ---- events ------------------------------------------------------------------------------- */

/* A dropped event, logged within the limit (a relay can send any number). */
static void log_drop(struct feed *f, const char *fmt, ...)
{
	char prefix[200], msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(prefix, sizeof(prefix), "relay %s: live REQ %s: ", f->name, f->sub_id);
	log_limited(&f->ll_drop, LOG_INFO, (&(const struct log_fields){ .relay = f->name }), prefix, "%s", msg);
}

static void deliver(struct feed *f, const struct nostr_event *ev)
{
	size_t len, n;
	const char *json = event_json(ev, &len);
	char *item;
	struct feed_tap *t, *next;

	if (!json)
		return;
	n = len + strlen(f->name_json) + 32;
	item = malloc(n);
	if (!item)
		return;
	n = (size_t)snprintf(item, n, "{\"event\":%.*s,\"relay\":%s}", (int)len, json, f->name_json);
	for (t = LIST_FIRST(&f->taps); t && !f->dead; t = next) {
		next = LIST_NEXT(t, link);
		t->ops->event(t->arg, ev, item, n);
	}
	free(item);
}

static void verified(void *arg, const struct event_error *err)
{
	struct feed_ev *fe = arg;
	struct feed *f = fe->f;
	enum cache_store res;
	int64_t now;

	if (f->dead) {
		/* nothing to do */
	} else if (err) {
		f->invalid++;
		log_drop(f, "dropping an invalid event: %s", err->message);
	} else if (idset_add(f->recent, fe->ev.id) == 0) {
		f->duplicates++;
	} else {
		f->fresh++;
		if (cache_store_event(f->F->env.cache, &fe->ev, f->relay_id, &res) < 0)
			flog(f, LOG_WARNING, "the cache could not store event %s; delivering it anyway", fe->ev.id_hex);
		now = clock_wall_s();
		if (fe->ev.created_at > f->newest)
			f->newest = fe->ev.created_at < now ? fe->ev.created_at : now;
		deliver(f, &fe->ev);
	}
	event_clear(&fe->ev);
	free(fe);
	if (--f->verifying == 0 && f->eose_due && !f->dead)
		reached_eose(f);
	release(f); /* the verification's hold */
}

static bool matches(const struct feed *f, const struct nostr_event *ev)
{
	size_t i;
	json_t *flt;

	json_array_foreach(f->filters, i, flt)
		if (filter_match(flt, ev))
			return true;
	return false;
}

static void on_event(void *arg, json_t *obj)
{
	struct feed *f = arg;
	struct feed_ev *fe;
	struct event_error err;

	f->events_in++;
	fe = calloc(1, sizeof(*fe));
	if (!fe)
		return;
	if (event_from_json(obj, &fe->ev, &err) < 0) {
		f->invalid++;
		log_drop(f, "dropping a malformed event: %s", err.message);
		free(fe);
		return;
	}
	if (!matches(f, &fe->ev)) {
		f->invalid++;
		log_drop(f, "dropping event %s: it does not match the filters", fe->ev.id_hex);
		event_clear(&fe->ev);
		free(fe);
		return;
	}
	if (idset_has(f->recent, fe->ev.id)) {
		f->duplicates++;
		event_clear(&fe->ev);
		free(fe);
		return;
	}
	fe->f = f;
	hold(f);
	f->verifying++;
	if (verifier_submit(f->F->env.verifier, &fe->ev, verified, fe) < 0) {
		f->holds--;
		f->verifying--;
		event_clear(&fe->ev);
		free(fe);
	}
}

/* ---- the REQ ------------------------------------------------------------------------------ */

/* The history is in: taps hear it only after every event that came before EOSE. */
static void reached_eose(struct feed *f)
{
	f->eose_due = false;
	if (!f->eosed)
		flog(f, LOG_DEBUG, "EOSE after %llu events", f->events_in);
	f->eosed = true;
	set_state(f, FEED_EOSE, "");
}

static void on_eose(void *arg)
{
	struct feed *f = arg;

	evtimer_del(f->timer);
	f->retries = 0;
	f->eose_wall = clock_wall_s();
	if (f->verifying)
		f->eose_due = true;
	else
		reached_eose(f);
}

static void on_closed(void *arg, const char *msg)
{
	struct feed *f = arg;
	uint64_t delay;

	f->sub = NULL;
	evtimer_del(f->timer);
	if (!session_closed_transient(msg) || ++f->retries > CLOSED_RETRIES) {
		close_for_good(f, msg);
		return;
	}
	delay = backoff_step(RETRY_BASE_MS, RETRY_MAX_MS, f->retries - 1);
	flog(f, LOG_INFO, "the relay closed it (%s); retry %u of %d in %llu ms", msg, f->retries, CLOSED_RETRIES,
	     (unsigned long long)delay);
	arm(f, delay);
}

static void on_lost(void *arg)
{
	struct feed *f = arg;

	f->sub = NULL;
	evtimer_del(f->timer);
	flog(f, LOG_INFO, "the session went away; re-sending the REQ");
	place(f);
}

static const struct sub_handler handler = {
	.on_event = on_event,
	.on_eose = on_eose,
	.on_closed = on_closed,
	.on_lost = on_lost,
};

/* The filters to send: as given before the first EOSE, from the horizon on after it. */
static json_t *req_filters(const struct feed *f)
{
	int64_t now = clock_wall_s(), base, since;
	json_t *out, *flt, *since_v;
	size_t i;

	int64_t max_limit = relay_limits(f->relay)->max_limit;

	if (!f->eosed) {
		out = json_deep_copy(f->filters);
		/* A limit over the relay's NIP-11 max_limit is lowered to it. */
		json_array_foreach(out, i, flt)
			if (max_limit >= 0 && json_integer_value(json_object_get(flt, "limit")) > max_limit)
				json_object_set_new(flt, "limit", json_integer(max_limit));
		return out;
	}
	base = f->newest > f->eose_wall ? f->newest : f->eose_wall;
	if (base > now)
		base = now;
	since = base - (int64_t)(relay_opts(f->relay)->sync_overlap_ms / 1000);
	if (since < 0)
		since = 0;
	out = json_deep_copy(f->filters);
	json_array_foreach(out, i, flt) {
		since_v = json_object_get(flt, "since");
		if (!since_v || json_integer_value(since_v) < since)
			json_object_set_new(flt, "since", json_integer(since));
		json_object_del(flt, "limit");
	}
	return out;
}

static void place(struct feed *f)
{
	json_t *filters;
	const char *why;
	int e;

	if (relay_draining(f->relay)) {
		close_for_good(f, "the relay was removed from the configuration");
		return;
	}
	filters = req_filters(f);
	snprintf(f->sub_id, sizeof(f->sub_id), "rp-live-%llu", ++sub_counter);
	f->sub = filters ? relay_subscribe(f->relay, f->sub_id, filters, 1, &handler, f, &e) : NULL;
	json_decref(filters);
	if (!f->sub) {
		if (relay_unreachable(f->relay, &why)) {
			hold(f);
			set_state(f, FEED_FAILED, why);
			if (!release(f))
				return;
		}
		f->poll_ms = f->poll_ms ? f->poll_ms * 2 : POLL_FIRST_MS;
		if (f->poll_ms > POLL_MAX_MS)
			f->poll_ms = POLL_MAX_MS;
		arm(f, f->poll_ms);
		return;
	}
	f->poll_ms = 0;
	f->reqs++;
	if (f->eosed)
		f->resent++;
	else
		arm(f, EOSE_TIMEOUT_MS);
	flog(f, LOG_DEBUG, "REQ out%s", f->eosed ? " again, from the horizon" : "");
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct feed *f = arg;

	(void)fd, (void)what;
	if (f->sub)
		set_state(f, FEED_FAILED, "no EOSE within 30 s");
	else
		place(f);
}

/* ---- taps --------------------------------------------------------------------------------- */

/* The canonical text of a filter set: each filter's key with its since/until/limit, sorted. */
static char *set_key(const json_t *filters)
{
	size_t n = json_array_size(filters), total = 1, i;
	char **parts = calloc(n ? n : 1, sizeof(*parts));
	char *out = NULL, *p;
	json_t *flt;

	if (!parts)
		return NULL;
	json_array_foreach(filters, i, flt) {
		char *k = filter_key(flt);
		size_t len = k ? strlen(k) + 80 : 0;
		parts[i] = k ? malloc(len) : NULL;
		if (!parts[i]) {
			free(k);
			goto done;
		}
		snprintf(parts[i], len, "%s|%lld|%lld|%lld", k,
			 (long long)(json_object_get(flt, "since") ? json_integer_value(json_object_get(flt, "since")) : -1),
			 (long long)(json_object_get(flt, "until") ? json_integer_value(json_object_get(flt, "until")) : -1),
			 (long long)(json_object_get(flt, "limit") ? json_integer_value(json_object_get(flt, "limit")) : -1));
		free(k);
		total += strlen(parts[i]) + 1;
	}
	for (i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(parts[j - 1], parts[j]) > 0; j--) {
			char *tmp = parts[j];
			parts[j] = parts[j - 1];
			parts[j - 1] = tmp;
		}
	out = malloc(total);
	if (!out)
		goto done;
	p = out;
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "\n" : "", parts[i]);
	*p = 0;
done:
	for (i = 0; i < n; i++)
		free(parts[i]);
	free(parts);
	return out;
}

static struct feed *open_feed(struct feeds *F, struct relay *r, const json_t *filters, char *key)
{
	struct feed *f = calloc(1, sizeof(*f));
	json_t *name = json_string(relay_name(r));

	if (!f || !name || !(f->recent = idset_new(FEED_RECENT_IDS)) ||
	    !(f->timer = evtimer_new(F->env.base, timer_cb, f)) || !(f->name = strdup(relay_name(r))) ||
	    !(f->name_json = json_dumps(name, JSON_ENCODE_ANY)) ||
	    !(f->filters = json_deep_copy(filters)) ||
	    cache_relay_id(F->env.cache, relay_url(r), &f->relay_id) < 0) {
		json_decref(name);
		if (f) {
			f->relay = relay_ref(r);
			feed_free(f);
		}
		free(key);
		return NULL;
	}
	json_decref(name);
	f->F = F;
	f->relay = relay_ref(r);
	f->key = key;
	f->opened_us = clock_now_us();
	LIST_INIT(&f->taps);
	LIST_INSERT_HEAD(&F->feeds, f, link);
	place(f);
	return f;
}

int feeds_attach(struct feeds *F, struct relay *r, const json_t *filters, struct feed_tap *t)
{
	char *key;
	struct feed *f;
	unsigned on_relay = 0;

	if (relay_draining(r))
		return -ESHUTDOWN;
	if (relay_limits(r)->max_filters >= 1 && json_array_size(filters) > (size_t)relay_limits(r)->max_filters)
		return -E2BIG;
	key = set_key(filters);
	if (!key)
		return -ENOMEM;
	LIST_FOREACH(f, &F->feeds, link) {
		if (f->relay != r)
			continue;
		on_relay++;
		if (strcmp(f->key, key) == 0)
			break;
	}
	if (f) {
		free(key);
	} else {
		if (on_relay >= feeds_capacity(r)) {
			free(key);
			return -ENOSPC;
		}
		f = open_feed(F, r, filters, key);
		if (!f)
			return -ENOMEM;
	}
	t->feed = f;
	LIST_INSERT_HEAD(&f->taps, t, link);
	f->n_taps++;
	return 0;
}

void feed_detach(struct feed_tap *t)
{
	struct feed *f = t->feed;

	if (!f)
		return;
	LIST_REMOVE(t, link);
	t->feed = NULL;
	if (--f->n_taps == 0) {
		flog(f, LOG_DEBUG, "last subscriber left; closing");
		bury(f);
	}
}

enum feed_state feed_state(const struct feed *f, const char **why)
{
	*why = f->why;
	return f->state;
}

/* ---- the set of feeds ------------------------------------------------------------------------ */

int feeds_new(const struct feeds_env *env, struct feeds **out)
{
	struct feeds *F = calloc(1, sizeof(*F));

	if (!F)
		return -ENOMEM;
	F->env = *env;
	LIST_INIT(&F->feeds);
	*out = F;
	return 0;
}

void feeds_free(struct feeds *F)
{
	struct feed *f;

	if (!F)
		return;
	while ((f = LIST_FIRST(&F->feeds))) {
		struct feed_tap *t;
		while ((t = LIST_FIRST(&f->taps))) {
			LIST_REMOVE(t, link);
			t->feed = NULL;
		}
		f->n_taps = 0;
		bury(f);
	}
	free(F);
}

void feeds_totals(const struct feeds *F, struct feeds_totals *t)
{
	const struct feed *f;

	*t = F->gone;
	t->feeds = t->taps = t->placed = 0;
	LIST_FOREACH(f, &F->feeds, link) {
		t->feeds++;
		t->taps += f->n_taps;
		t->placed += f->sub != NULL;
		add_counts(t, f);
	}
}

json_t *feeds_json(const struct feeds *F)
{
	json_t *a = json_array();
	const struct feed *f;
	uint64_t now = clock_now_us();

	LIST_FOREACH(f, &F->feeds, link) {
		json_t *o = json_pack("{s:s, s:s, s:O, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "relay", f->name,
				      "req", f->sub_id, "filters", f->filters, "state", feed_state_name(f->state),
				      "subscribers", (int)f->n_taps, "events_in", (json_int_t)f->events_in,
				      "delivered", (json_int_t)f->fresh, "duplicates", (json_int_t)f->duplicates,
				      "invalid", (json_int_t)f->invalid, "reqs", (json_int_t)f->reqs, "resent",
				      (json_int_t)f->resent, "age_ms", (json_int_t)((now - f->opened_us) / 1000));
		if (!o)
			continue;
		json_object_set_new(o, "session",
				    f->sub ? json_integer(session_index(session_sub_session(f->sub))) : json_null());
		if (f->why[0])
			json_object_set_new(o, "error", json_string(f->why));
		json_array_append_new(a, o);
	}
	return a;
}
