/* live.c - see live.h.
 *
 * A subscriber taps one feed per target relay (feed.c shares them), then replays the cache
 * (in steps, waiting for a slow reader as the query op does). Events from the feeds are
 * delivered as they come, also while the replay runs; an id delivered once (from the cache
 * or any relay) is not delivered again while the subscriber remembers it (LIVE_SEEN_IDS).
 * The "eose" item comes once the replay is done and every target relay has sent EOSE,
 * failed or closed.
 *
 * Backpressure: an event for a subscriber whose client has more unread output than its
 * buffer (client_buffer) is dropped for that subscriber alone and counted; the count is
 * sent as {"dropped": n} before the next event that fits, and in the final counters. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "clock.h"
#include "feed.h"
#include "idset.h"
#include "live.h"
#include "log.h"
#include "relay.h"
#include "request.h"

/* Cached events per loop turn during a replay. */
#define REPLAY_STEP 256

struct subscriber;

struct target {
	struct feed_tap tap;
	struct subscriber *s;
	char *name;
	enum feed_state st;
	char why[256];
};

struct subscriber {
	struct live *L;
	LIST_ENTRY(subscriber) link;
	struct request *r;
	bool live, eose_sent;
	struct idset *seen;
	sqlite3_stmt *replay; /* while replaying (or waiting to) */
	bool replaying;       /* its replay has started: a client's replays run one at a time */
	unsigned long long seq; /* arrival order, for the client's next replay */
	struct event *step;
	unsigned long long cached, delivered, duplicates, dropped, unreported;
	uint64_t started_us;
	size_t n, n_closed;
	struct target t[];
};

struct live {
	struct live_env env;
	struct feeds *feeds;
	LIST_HEAD(, subscriber) subs;
	bool stopped;
	struct live_totals gone; /* counters of subscribers that ended */
};

/* ---- ending ----------------------------------------------------------------------------- */

static json_t *counters(const struct subscriber *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "cached", (json_int_t)s->cached, "delivered",
			 (json_int_t)s->delivered, "duplicates", (json_int_t)s->duplicates, "dropped",
			 (json_int_t)s->dropped, "duration_ms", (json_int_t)((clock_now_us() - s->started_us) / 1000));
}

static unsigned long long sub_seq;

/* A client's replays run one at a time, in arrival order (as its queries do): a client
 * that subscribes many times at once holds one statement's sort state, not one per
 * subscription. Live events flow to every subscription meanwhile. */
static bool replay_busy(const struct subscriber *s)
{
	const struct subscriber *o;

	LIST_FOREACH(o, &s->L->subs, link)
		if (o != s && o->replaying && request_same_client(o->r, s->r))
			return true;
	return false;
}

/* After s's replay ended: the same client's next waiting replay starts. */
static void replay_next(const struct subscriber *s)
{
	struct subscriber *o, *pick = NULL;
	struct timeval now = { 0, 0 };

	LIST_FOREACH(o, &s->L->subs, link)
		if (o != s && o->replay && !o->replaying && request_same_client(o->r, s->r) && (!pick || o->seq < pick->seq))
			pick = o;
	if (pick) {
		pick->replaying = true;
		evtimer_add(pick->step, &now);
	}
}

/* Frees s; its request must be answered already. */
static void sub_free(struct subscriber *s)
{
	struct live *L = s->L;

	if (s->replaying)
		replay_next(s);
	for (size_t i = 0; i < s->n; i++) {
		feed_detach(&s->t[i].tap);
		free(s->t[i].name);
	}
	if (s->replay)
		sqlite3_finalize(s->replay);
	if (s->step)
		event_free(s->step);
	idset_free(s->seen);
	L->gone.delivered += s->delivered;
	L->gone.cached += s->cached;
	L->gone.duplicates += s->duplicates;
	L->gone.dropped += s->dropped;
	LIST_REMOVE(s, link);
	free(s);
}

/* The final line: the counters, with why the subscription ended. */
static void end_ok(struct subscriber *s, const char *ended)
{
	json_t *c = counters(s);

	json_object_set_new(c, "ended", json_string(ended));
	request_on_detach(s->r, NULL, NULL);
	request_reply_end(s->r, c);
	sub_free(s);
}

static void end_fail(struct subscriber *s, enum rp_err code, const char *msg)
{
	request_on_detach(s->r, NULL, NULL);
	request_fail_detail(s->r, code, counters(s), "%s", msg);
	sub_free(s);
}

static void on_detach(void *arg)
{
	end_ok(arg, "the client went away");
}

/* ---- history ---------------------------------------------------------------------------- */

/* The replay is done and every target sent EOSE, failed or closed: one "eose" item. A
 * subscription that is not live ends with it. */
static void check_eose(struct subscriber *s)
{
	json_t *relays, *o;

	if (s->eose_sent || s->replay)
		return;
	for (size_t i = 0; i < s->n; i++)
		if (s->t[i].st == FEED_WAITING)
			return;
	relays = json_array();
	for (size_t i = 0; i < s->n; i++) {
		o = json_pack("{s:s, s:s}", "relay", s->t[i].name, "state", feed_state_name(s->t[i].st));
		if (o && s->t[i].st != FEED_EOSE && s->t[i].why[0])
			json_object_set_new(o, "error", json_string(s->t[i].why));
		json_array_append_new(relays, o);
	}
	s->eose_sent = true;
	request_item(s->r, json_pack("{s:{s:I, s:o}}", "eose", "cached", (json_int_t)s->cached, "relays", relays));
	if (!s->live)
		end_ok(s, "eose");
}

static void item_with(struct request *r, const char *head, const char *json, size_t len, const char *tail)
{
	static char *buf;
	static size_t cap;
	size_t hl = strlen(head), tl = strlen(tail), need = hl + len + tl;

	if (need > cap) {
		char *nb = realloc(buf, need);
		if (!nb)
			return;
		buf = nb;
		cap = need;
	}
	memcpy(buf, head, hl);
	memcpy(buf + hl, json, len);
	memcpy(buf + hl + len, tail, tl);
	request_item_raw(r, buf, need);
}

static void replay_step(evutil_socket_t fd, short what, void *arg)
{
	struct subscriber *s = arg;
	struct timeval later = { .tv_sec = 0, .tv_usec = 20000 }, now = { 0, 0 };
	const char *json;
	size_t len;
	uint8_t id[32];
	int r = 1;

	(void)fd, (void)what;
	for (unsigned i = 0; i < REPLAY_STEP && !request_backlog_high(s->r) &&
			     (r = cache_query_next(s->replay, &json, &len)) == 1;
	     i++) {
		if (cache_query_id(s->replay, id) < 0) {
			r = -EIO;
			break;
		}
		if (idset_add(s->seen, id) == 0) {
			s->duplicates++;
			continue;
		}
		item_with(s->r, "{\"event\":", json, len, ",\"cached\":true}");
		s->cached++;
	}
	if (r == 1) {
		/* A reader slower than the cache: wait for it to take what is queued. */
		evtimer_add(s->step, request_backlog_high(s->r) ? &later : &now);
		return;
	}
	sqlite3_finalize(s->replay);
	s->replay = NULL;
	s->replaying = false;
	replay_next(s);
	if (r < 0) {
		end_fail(s, RP_ERR_INTERNAL, "the cache replay failed");
		return;
	}
	check_eose(s);
}

/* ---- from the feeds ---------------------------------------------------------------------- */

static void tap_event(void *arg, const struct nostr_event *ev, const char *item, size_t len)
{
	struct target *t = arg;
	struct subscriber *s = t->s;

	if (request_backlog_high(s->r)) {
		/* Not remembered: the same event from another relay may still fit later. */
		if (idset_has(s->seen, ev->id)) {
			s->duplicates++;
		} else {
			s->dropped++;
			s->unreported++;
		}
		return;
	}
	if (idset_add(s->seen, ev->id) == 0) {
		s->duplicates++;
		return;
	}
	if (s->unreported) {
		request_item(s->r, json_pack("{s:I}", "dropped", (json_int_t)s->unreported));
		s->unreported = 0;
	}
	request_item_raw(s->r, item, len);
	s->delivered++;
}

static void tap_state(void *arg, enum feed_state st, const char *why)
{
	struct target *t = arg;
	struct subscriber *s = t->s;

	t->st = st;
	snprintf(t->why, sizeof(t->why), "%s", why);
	if (st == FEED_CLOSED) {
		request_item(s->r, json_pack("{s:{s:s, s:s}}", "closed", "relay", t->name, "message", why));
		if (++s->n_closed == s->n) {
			end_fail(s, RP_ERR_SUBSCRIPTION_CLOSED, "every target relay closed the subscription");
			return;
		}
	}
	check_eose(s);
}

static const struct feed_tap_ops tap_ops = {
	.event = tap_event,
	.state = tap_state,
};

/* ---- starting ----------------------------------------------------------------------------- */

static void release_relays(struct relay **relays, size_t from, size_t n)
{
	for (size_t i = from; i < n; i++)
		relay_unref(relays[i]);
}

void live_subscribe(struct live *L, struct request *r, struct relay **relays, size_t n, const struct live_params *p)
{
	struct subscriber *s;
	char *why = NULL;
	int e;

	if (L->stopped) {
		release_relays(relays, 0, n);
		request_fail(r, RP_ERR_SHUTTING_DOWN, "the daemon is stopping");
		return;
	}
	s = calloc(1, sizeof(*s) + n * sizeof(struct target));
	if (!s || !(s->seen = idset_new(LIVE_SEEN_IDS)) || !(s->step = evtimer_new(L->env.base, replay_step, s))) {
		if (s)
			idset_free(s->seen);
		free(s);
		release_relays(relays, 0, n);
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		return;
	}
	s->L = L;
	s->r = r;
	s->live = p->live;
	s->started_us = clock_now_us();
	LIST_INSERT_HEAD(&L->subs, s, link);
	if (p->cache && cache_query(L->env.cache, p->filters, -1, &s->replay, &why) < 0) {
		release_relays(relays, 0, n);
		end_fail(s, why ? RP_ERR_INVALID_FILTER : RP_ERR_INTERNAL, why ? why : "out of memory");
		free(why);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct target *t = &s->t[i];
		const char *w;
		t->s = s;
		t->tap.ops = &tap_ops;
		t->tap.arg = t;
		t->name = strdup(relay_name(relays[i]));
		s->n = i + 1;
		e = t->name ? feeds_attach(L->feeds, relays[i], p->filters, &t->tap) : -ENOMEM;
		if (e < 0) {
			char msg[300];
			enum rp_err code = e == -ENOSPC ? RP_ERR_TOO_MANY_SUBSCRIPTIONS
					   : e == -ESHUTDOWN ? RP_ERR_UNKNOWN_RELAY
					   : e == -E2BIG     ? RP_ERR_INVALID_FILTER
							     : RP_ERR_INTERNAL;
			if (e == -E2BIG)
				snprintf(msg, sizeof(msg), "relay %s takes at most %lld filters in one REQ (NIP-11 max_filters); "
					 "this subscription has %zu", relay_name(relays[i]),
					 (long long)relay_limits(relays[i])->max_filters, json_array_size(p->filters));
			else if (e == -ENOSPC)
				snprintf(msg, sizeof(msg),
					 "relay %s holds its maximum of %u live REQs (sessions x (max_subscriptions - 1)); "
					 "share a filter set with another subscriber or raise max_subscriptions",
					 relay_name(relays[i]), feeds_capacity(relays[i]));
			else
				snprintf(msg, sizeof(msg), "relay %s: %s", relay_name(relays[i]),
					 e == -ESHUTDOWN ? "it is being removed from the configuration" : "out of memory");
			release_relays(relays, i, n);
			end_fail(s, code, msg);
			return;
		}
		t->st = feed_state(t->tap.feed, &w);
		snprintf(t->why, sizeof(t->why), "%s", w);
		relay_unref(relays[i]); /* the feed holds its own */
	}
	L->gone.started++;
	request_on_detach(r, on_detach, s);
	s->seq = ++sub_seq;
	if (s->replay && !replay_busy(s)) {
		s->replaying = true;
		replay_step(-1, 0, s); /* the first step at once: the cache comes first */
	} else if (!s->replay) {
		check_eose(s);
	} /* else the client's earlier replay is running: replay_next starts this one */
}

int live_unsubscribe(struct live *L, const struct request *asker, const json_t *id)
{
	struct subscriber *s;

	LIST_FOREACH(s, &L->subs, link)
		if (request_same_client(s->r, asker) && request_id(s->r) && json_equal(request_id(s->r), id)) {
			end_ok(s, "unsubscribed");
			return 0;
		}
	return -ENOENT;
}

/* ---- the whole ------------------------------------------------------------------------------ */

int live_new(const struct live_env *env, struct live **out)
{
	struct live *L = calloc(1, sizeof(*L));
	struct feeds_env fe = { .base = env->base, .cache = env->cache, .verifier = env->verifier };

	if (!L || feeds_new(&fe, &L->feeds) < 0) {
		free(L);
		return -ENOMEM;
	}
	L->env = *env;
	LIST_INIT(&L->subs);
	*out = L;
	return 0;
}

void live_stop(struct live *L)
{
	struct subscriber *s;

	if (!L)
		return;
	L->stopped = true;
	while ((s = LIST_FIRST(&L->subs)))
		end_fail(s, RP_ERR_SHUTTING_DOWN, "the daemon is stopping");
}

void live_free(struct live *L)
{
	if (!L)
		return;
	live_stop(L);
	feeds_free(L->feeds);
	free(L);
}

void live_totals(const struct live *L, struct live_totals *t)
{
	struct feeds_totals ft;
	const struct subscriber *s;

	*t = L->gone;
	t->subscribers = 0;
	LIST_FOREACH(s, &L->subs, link) {
		t->subscribers++;
		t->delivered += s->delivered;
		t->cached += s->cached;
		t->duplicates += s->duplicates;
		t->dropped += s->dropped;
	}
	feeds_totals(L->feeds, &ft);
	t->feeds = ft.feeds;
	t->taps = ft.taps;
	t->placed = ft.placed;
	t->events_in = ft.events_in;
	t->fresh = ft.fresh;
	t->invalid = ft.invalid;
	t->reqs = ft.reqs;
	t->resent = ft.resent;
	t->closed = ft.closed;
}

json_t *live_json(const struct live *L)
{
	json_t *subs = json_array();
	const struct subscriber *s;

	LIST_FOREACH(s, &L->subs, link) {
		json_t *o = counters(s), *rel = json_array();
		for (size_t i = 0; i < s->n; i++)
			json_array_append_new(rel, json_string(s->t[i].name));
		json_object_set_new(o, "id", json_deep_copy(request_id(s->r)));
		json_object_set_new(o, "pid", json_integer(request_peer(s->r)->pid));
		json_object_set_new(o, "relays", rel);
		json_object_set_new(o, "state", json_string(s->replay ? (s->replaying ? "replaying" : "waiting") : s->eose_sent ? "live" : "history"));
		json_object_set_new(o, "remembered_ids", json_integer((json_int_t)idset_size(s->seen)));
		json_array_append_new(subs, o);
	}
	return json_pack("{s:o, s:o}", "feeds", feeds_json(L->feeds), "subscribers", subs);
}
