/* stats.c - see stats.h. Everything here reads: relay_view() and session_view() hand out
 * the owners' own figures, and the rings of samples are this module's. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "live.h"
#include "log.h"
#include "pool.h"
#include "relay.h"
#include "session.h"
#include "stats.h"
#include "util.h"

#define TICK_USEC 1000000
#define LAG_PERIOD_USEC 100000
/* The loop counts as saturated when its timers run this late. */
#define LAG_SATURATED_MS 50.0
/* Work waits while the busy fraction of the configured slots is below this: underused. */
#define UNDERUSED 0.5
/* ...or above this: the configured concurrency itself is the limit. */
#define SATURATED 0.8
#define WARN_EVERY_USEC (60 * 1000000ULL)

struct warned {
	char key[160];
	uint64_t at_us;
};

/* One relay's samples, matched by the relay's serial (a relay removed and added back is a
 * new series, so its windows never mix two lives). */
struct series {
	uint64_t serial;
	struct ring ring;
};

struct stats {
	struct pool *pool;
	struct live *live;
	uint64_t started_us;
	struct histogram lag;
	double lag_max_this_second;
	uint64_t lag_expected_us;
	struct ring ring; /* the pool's */
	struct series *series;
	size_t n_series;
	struct event *tick, *lag_timer;
	struct warned warned[32];
};

/* ---- samples -------------------------------------------------------------------------------- */

static void relay_sample(const struct relay *r, uint64_t now, struct sample *s)
{
	struct relay_view v;

	relay_view(r, &v);
	memset(s, 0, sizeof(*s));
	s->t_us = now;
	s->inflight_area = integral_area(v.inflight_time, now);
	s->queued_area = integral_area(v.waiting_time, now);
	s->completed = v.completed;
	s->rate_limited = v.c->rate_limited;
	s->timeouts = v.c->timeouts;
	for (unsigned i = 0; i < relay_n_sessions(r); i++) {
		struct session_view sv;
		session_view(relay_session(r, i), &sv);
		s->connected_area += integral_area(sv.connected_time, now);
	}
}

static void pool_sample(struct stats *st, uint64_t now, struct sample *s)
{
	struct pool_totals t;

	pool_totals(st->pool, now, &t);
	memset(s, 0, sizeof(*s));
	s->t_us = now;
	s->inflight_area = t.inflight_area;
	s->queued_area = t.waiting_area;
	s->completed = t.completed;
	s->rate_limited = t.rate_limited;
	s->timeouts = t.timeouts;
	s->lag_max_ms = st->lag_max_this_second;
	if (st->live) {
		struct live_totals lt;
		live_totals(st->live, &lt);
		s->live_in = lt.fresh;
		s->live_delivered = lt.delivered;
	}
}

static json_t *triple(double w10, double w60, double total);

/* Live subscriptions: how many, how much flows in and out, and the fan-out (events sent to
 * subscribers per new event from the relays) over 10 s. */
static json_t *live_json_stats(struct stats *st, const struct window *w10, const struct window *w60,
			       const struct window *all)
{
	struct live_totals t;

	if (!st->live)
		return json_null();
	live_totals(st->live, &t);
	return json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "relay_reqs", (json_int_t)t.feeds, "relay_reqs_placed", (json_int_t)t.placed, "subscribers",
			 (json_int_t)t.subscribers, "subscriptions_started", (json_int_t)t.started, "events_in_per_s",
			 triple(w10->live_in_per_s, w60->live_in_per_s, all->live_in_per_s), "delivered_per_s",
			 triple(w10->live_delivered_per_s, w60->live_delivered_per_s, all->live_delivered_per_s),
			 "fanout_10s", w10->live_in_per_s > 0 ? round(w10->live_delivered_per_s / w10->live_in_per_s * 100) / 100 : 0.0,
			 "events_in", (json_int_t)t.fresh, "delivered", (json_int_t)t.delivered, "cached",
			 (json_int_t)t.cached, "duplicates", (json_int_t)t.duplicates, "dropped", (json_int_t)t.dropped,
			 "invalid", (json_int_t)t.invalid, "reqs_sent", (json_int_t)t.reqs, "reqs_resent",
			 (json_int_t)t.resent, "closed_by_relays", (json_int_t)t.closed);
}

static struct series *series_of(struct stats *st, const struct relay *r)
{
	struct relay_view v;

	relay_view(r, &v);
	for (size_t i = 0; i < st->n_series; i++)
		if (st->series[i].serial == v.serial)
			return &st->series[i];
	return NULL;
}

static const struct ring *ring_of(struct stats *st, const struct relay *r)
{
	static const struct ring empty;
	const struct series *s = series_of(st, r);

	return s ? &s->ring : &empty;
}

struct window stats_pool_window(struct stats *st, unsigned seconds)
{
	struct sample now;

	pool_sample(st, clock_now_us(), &now);
	return window_of(&st->ring, &now, seconds, st->started_us);
}

struct window stats_relay_window(struct stats *st, const struct relay *r, unsigned seconds)
{
	struct sample now;

	relay_sample(r, clock_now_us(), &now);
	return window_of(ring_of(st, r), &now, seconds, st->started_us);
}

const struct histogram *stats_loop_lag(const struct stats *st)
{
	return &st->lag;
}

static unsigned configured(const struct relay_view *v)
{
	return v->opts->sessions * v->opts->inflight;
}

/* ---- contention ---------------------------------------------------------------------------- */

static void add_reason(json_t *list, const char *scope, const char *reason, const char *fmt, ...) _printf_(4, 5);
static void add_reason(json_t *list, const char *scope, const char *reason, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "scope", scope, "reason", reason, "message", msg));
}

/* Why work waits on relay r while parallelism is far from what is configured. */
static void relay_reasons(const struct relay_view *v, const struct window *w, double loop_lag_ms, json_t *out)
{
	char scope[80];
	unsigned conf = configured(v), ready = v->sessions_ready, sessions = v->opts->sessions, window = v->opts->inflight;
	double use = conf ? w->parallelism / conf : 0;

	snprintf(scope, sizeof(scope), "relay %s", v->name);
	if (w->queued < 0.5 || v->draining)
		return; /* no work waited here */
	if (ready < sessions)
		add_reason(out, scope, "sessions_down",
			   "only %u of %u sessions are up, so at most %u of %u slots can be busy (last error: %s)", ready,
			   sessions, ready * window, conf, v->last_error);
	if (w->rate_limited || v->cooldown_left_us)
		add_reason(out, scope, "rate_limited",
			   "the relay answered rate-limited: %llu times in the window; publishes are held for a cooldown "
			   "(%llu ms now)",
			   (unsigned long long)w->rate_limited, (unsigned long long)(v->cooldown_left_us / 1000));
	if (v->opts->max_rate && w->throughput >= 0.8 * v->opts->max_rate)
		add_reason(out, scope, "max_rate",
			   "publishing at the configured max_rate of %u events/s (%.1f/s in the window); work waits for "
			   "the rate, not for a session",
			   v->opts->max_rate, w->throughput);
	if (loop_lag_ms > LAG_SATURATED_MS)
		add_reason(out, scope, "loop_saturated", "the daemon's event loop ran timers up to %.0f ms late", loop_lag_ms);
	if (use >= SATURATED) {
		if (window == 1)
			add_reason(out, scope, "window_one",
				   "the window is 1: each of the %u sessions carries one event per round trip%s%.1f ms%s; "
				   "raise inflight to pipeline",
				   ready, v->rtt_ms >= 0 ? " (RTT " : "", v->rtt_ms >= 0 ? v->rtt_ms : 0,
				   v->rtt_ms >= 0 ? ")" : "");
		else
			add_reason(out, scope, "configured_limit",
				   "all %u slots (%u sessions x window %u) are busy: the configured concurrency is the limit; "
				   "raise sessions or inflight",
				   conf, sessions, window);
	} else if (use < UNDERUSED && ready == sessions && !w->rate_limited && !v->cooldown_left_us &&
		   !(v->opts->max_rate && w->throughput >= 0.8 * v->opts->max_rate)) {
		if (w->timeouts)
			add_reason(out, scope, "timeouts", "%llu publishes timed out in the window; their retries wait out a backoff",
				   (unsigned long long)w->timeouts);
		else
			add_reason(out, scope, "underused", "work waits but only %.1f of %u slots were busy on average",
				   w->parallelism, conf);
	}
}

/* A relay much slower than the others that keeps deciding quorum requests. */
static void quorum_reasons(struct stats *st, json_t *out)
{
	unsigned n_relays = pool_n_relays(st->pool);

	for (unsigned i = 0; i < n_relays; i++) {
		struct relay_view v;
		double others = 0;
		unsigned n = 0;
		char scope[80];
		relay_view(pool_relay(st->pool, i), &v);
		if (v.quorum_last < 10 || v.ok_ewma_ms <= 0)
			continue;
		for (unsigned k = 0; k < n_relays; k++) {
			struct relay_view o;
			relay_view(pool_relay(st->pool, k), &o);
			if (k != i && o.ok_ewma_ms > 0) {
				others += o.ok_ewma_ms;
				n++;
			}
		}
		if (!n || v.ok_ewma_ms < 3 * (others / n))
			continue;
		snprintf(scope, sizeof(scope), "relay %s", v.name);
		add_reason(out, scope, "slow_quorum",
			   "this relay answers in %.0f ms against %.0f ms for the others and was the last answer of %llu "
			   "requests waiting for a quorum",
			   v.ok_ewma_ms, others / n, v.quorum_last);
	}
}

json_t *stats_contention(struct stats *st)
{
	json_t *out = json_array();
	struct window pw = stats_pool_window(st, 10);

	if (pw.lag_max_ms < st->lag_max_this_second)
		pw.lag_max_ms = st->lag_max_this_second;
	for (unsigned i = 0; i < pool_n_relays(st->pool); i++) {
		const struct relay *r = pool_relay(st->pool, i);
		struct relay_view v;
		struct window w = stats_relay_window(st, r, 10);
		relay_view(r, &v);
		relay_reasons(&v, &w, pw.lag_max_ms, out);
	}
	quorum_reasons(st, out);
	return out;
}

/* Logs each reason at most once a minute (per scope and reason). */
static void warn_contention(struct stats *st, json_t *reasons)
{
	uint64_t now = clock_now_us();
	size_t i;
	json_t *x;

	json_array_foreach(reasons, i, x) {
		char key[160];
		struct warned *slot = NULL, *oldest = &st->warned[0];
		snprintf(key, sizeof(key), "%s/%s", json_string_value(json_object_get(x, "scope")),
			 json_string_value(json_object_get(x, "reason")));
		for (unsigned k = 0; k < ARRAY_SIZE(st->warned); k++) {
			if (strcmp(st->warned[k].key, key) == 0)
				slot = &st->warned[k];
			if (st->warned[k].at_us < oldest->at_us)
				oldest = &st->warned[k];
		}
		if (slot && now - slot->at_us < WARN_EVERY_USEC)
			continue;
		if (!slot) {
			slot = oldest;
			snprintf(slot->key, sizeof(slot->key), "%s", key);
		}
		slot->at_us = now;
		log_warn("contention: %s: %s (%s)", json_string_value(json_object_get(x, "scope")),
			 json_string_value(json_object_get(x, "message")), json_string_value(json_object_get(x, "reason")));
	}
}

/* ---- timers --------------------------------------------------------------------------------- */

/* One sample per relay into its series; series of relays that are gone are dropped. */
static void sample_relays(struct stats *st, uint64_t now)
{
	unsigned n = pool_n_relays(st->pool);
	struct series *next = calloc(n ? n : 1, sizeof(*next));

	if (!next)
		return;
	for (unsigned i = 0; i < n; i++) {
		const struct relay *r = pool_relay(st->pool, i);
		struct series *old = series_of(st, r);
		struct relay_view v;
		struct sample s;
		relay_view(r, &v);
		if (old)
			next[i] = *old;
		next[i].serial = v.serial;
		relay_sample(r, now, &s);
		ring_push(&next[i].ring, &s);
	}
	free(st->series);
	st->series = next;
	st->n_series = n;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stats *st = arg;
	uint64_t now = clock_now_us();
	struct sample s;
	json_t *reasons;

	(void)fd, (void)what;
	pool_sample(st, now, &s);
	ring_push(&st->ring, &s);
	st->lag_max_this_second = 0;
	sample_relays(st, now);
	reasons = stats_contention(st);
	warn_contention(st, reasons);
	json_decref(reasons);
}

/* A timer that should fire every LAG_PERIOD: how late it runs is the loop's lag. */
static void lag_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stats *st = arg;
	uint64_t now = clock_now_us(), late = now > st->lag_expected_us ? now - st->lag_expected_us : 0;
	struct timeval tv = { .tv_sec = 0, .tv_usec = LAG_PERIOD_USEC };

	(void)fd, (void)what;
	hist_add(&st->lag, late);
	if ((double)late / 1000.0 > st->lag_max_this_second)
		st->lag_max_this_second = (double)late / 1000.0;
	st->lag_expected_us = now + LAG_PERIOD_USEC;
	evtimer_add(st->lag_timer, &tv);
}

int stats_new(struct event_base *base, struct pool *pool, struct live *live, struct stats **out)
{
	struct stats *st = calloc(1, sizeof(*st));
	struct timeval tick = { .tv_sec = TICK_USEC / 1000000 }, lag = { .tv_sec = 0, .tv_usec = LAG_PERIOD_USEC };

	if (!st)
		return -ENOMEM;
	st->pool = pool;
	st->live = live;
	st->started_us = clock_now_us();
	st->tick = event_new(base, -1, EV_PERSIST, tick_cb, st);
	st->lag_timer = evtimer_new(base, lag_cb, st);
	if (!st->tick || !st->lag_timer) {
		stats_free(st);
		return -ENOMEM;
	}
	event_add(st->tick, &tick);
	st->lag_expected_us = st->started_us + LAG_PERIOD_USEC;
	evtimer_add(st->lag_timer, &lag);
	*out = st;
	return 0;
}

void stats_free(struct stats *st)
{
	if (!st)
		return;
	if (st->tick)
		event_free(st->tick);
	if (st->lag_timer)
		event_free(st->lag_timer);
	free(st->series);
	free(st);
}

/* ---- the stats op ----------------------------------------------------------------------------- */

static json_t *triple(double w10, double w60, double total)
{
	return json_pack("{s:f, s:f, s:f}", "10s", round(w10 * 1000) / 1000, "60s", round(w60 * 1000) / 1000, "total",
			 round(total * 1000) / 1000);
}

static json_t *quantiles_ms(const struct histogram *h)
{
	return json_pack("{s:f, s:f, s:f, s:I}", "p50", round(hist_quantile(h, 0.5)) / 1000.0, "p90",
			 round(hist_quantile(h, 0.9)) / 1000.0, "p99", round(hist_quantile(h, 0.99)) / 1000.0, "count",
			 (json_int_t)h->count);
}

static json_t *session_stats_json(const struct session *s, uint64_t now)
{
	struct session_view v;

	session_view(s, &v);
	double connected = integral_area(v.connected_time, now) / 1e6;
	double busy = integral_area(v.busy_time, now) / 1e6;
	double area = integral_area(v.inflight_time, now) / 1e6;

	return json_pack("{s:i, s:s, s:i, s:f, s:f, s:f, s:f, s:I, s:f, s:o}", "index", (int)v.index, "state",
			 session_state_name(v.state), "inflight", (int)v.inflight, "connected_s", round(connected * 1000) / 1000,
			 "busy_s", round(busy * 1000) / 1000, "busy_ratio",
			 connected > 0 ? round(busy / connected * 1000) / 1000 : 0.0, "parallelism",
			 connected > 0 ? round(area / connected * 1000) / 1000 : 0.0, "oks", (json_int_t)v.oks,
			 "ok_latency_ms_mean", v.oks ? round(v.ok_sum_us / (double)v.oks) / 1000.0 : 0.0, "rtt_ms",
			 v.rtt_ms >= 0 ? json_real(v.rtt_ms) : json_null());
}

static json_t *relay_stats_json(struct stats *st, const struct relay *r, uint64_t now)
{
	struct relay_view v;
	struct sample s;
	struct window w10, w60, all;
	const struct ring *ring = ring_of(st, r);
	json_t *sessions = json_array(), *o;

	relay_view(r, &v);
	relay_sample(r, now, &s);
	w10 = window_of(ring, &s, 10, st->started_us);
	w60 = window_of(ring, &s, 60, st->started_us);
	all = window_of(ring, &s, 0, st->started_us);
	for (unsigned i = 0; i < relay_n_sessions(r); i++)
		json_array_append_new(sessions, session_stats_json(relay_session(r, i), now));
	o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:o, s:o, s:{s:i, s:f}, s:i, s:o, s:o, s:f, s:I, s:I, s:I, s:I, s:I, "
		      "s:I, s:o}",
		      "name", v.name, "configured", (int)configured(&v), "sessions", (int)v.opts->sessions,
		      "sessions_ready", (int)v.sessions_ready, "window", (int)v.opts->inflight, "effective_parallelism",
		      triple(w10.parallelism, w60.parallelism, all.parallelism), "throughput",
		      triple(w10.throughput, w60.throughput, all.throughput), "queued", "now", (int)v.queued, "10s",
		      round(w10.queued * 1000) / 1000, "inflight", (int)v.inflight, "queue_wait_ms", quantiles_ms(v.wait),
		      "ok_latency_ms", quantiles_ms(v.ok_latency), "ok_latency_recent_ms", round(v.ok_ewma_ms * 1000) / 1000,
		      "accepted", (json_int_t)v.c->accepted, "rejected", (json_int_t)v.c->rejected, "timeouts",
		      (json_int_t)v.c->timeouts, "rate_limited", (json_int_t)v.c->rate_limited, "cooldowns",
		      (json_int_t)v.cooldowns, "quorum_last", (json_int_t)v.quorum_last, "sessions_detail", sessions);
	/* Monotonic sums, for a parallelism over any interval: Δinflight_seconds / Δtime. */
	json_object_set_new(o, "inflight_seconds", json_real(s.inflight_area / 1e6));
	json_object_set_new(o, "queued_seconds", json_real(s.queued_area / 1e6));
	json_object_set_new(o, "completed", json_integer((json_int_t)s.completed));
	return o;
}

json_t *stats_json(struct stats *st)
{
	uint64_t now = clock_now_us();
	struct pool_totals t;
	struct sample s;
	struct window w10, w60, all;
	json_t *relays = json_array(), *o, *pj;

	for (unsigned i = 0; i < pool_n_relays(st->pool); i++)
		json_array_append_new(relays, relay_stats_json(st, pool_relay(st->pool, i), now));
	pool_totals(st->pool, now, &t);
	pool_sample(st, now, &s);
	w10 = window_of(&st->ring, &s, 10, st->started_us);
	w60 = window_of(&st->ring, &s, 60, st->started_us);
	all = window_of(&st->ring, &s, 0, st->started_us);
	o = json_pack("{s:f, s:{s:i, s:o, s:o, s:{s:I, s:f}, s:I, s:o}, s:o, s:o}", "uptime_s",
		      round((double)(now - st->started_us) / 1e3) / 1e3, "pool", "configured", (int)t.configured,
		      "effective_parallelism", triple(w10.parallelism, w60.parallelism, all.parallelism), "throughput",
		      triple(w10.throughput, w60.throughput, all.throughput), "queued", "now", (json_int_t)t.queued, "10s",
		      round(w10.queued * 1000) / 1000, "inflight", (json_int_t)t.inflight, "loop_lag_ms",
		      json_pack("{s:f, s:f, s:f}", "p50", round(hist_quantile(&st->lag, 0.5)) / 1000.0, "p99",
				round(hist_quantile(&st->lag, 0.99)) / 1000.0, "max_10s",
				w10.lag_max_ms > st->lag_max_this_second ? w10.lag_max_ms : st->lag_max_this_second),
		      "relays", relays, "contention", stats_contention(st));
	pj = json_object_get(o, "pool");
	json_object_set_new(pj, "inflight_seconds", json_real(s.inflight_area / 1e6));
	json_object_set_new(pj, "queued_seconds", json_real(s.queued_area / 1e6));
	json_object_set_new(pj, "completed", json_integer((json_int_t)s.completed));
	json_object_set_new(o, "monotonic_s", json_real((double)now / 1e6));
	json_object_set_new(o, "live", live_json_stats(st, &w10, &w60, &all));
	return o;
}
