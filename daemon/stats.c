/* stats.c - the daemon measuring itself: integrals of in-flight and queued jobs per session,
 * relay and pool (effective parallelism L = ∫in-flight dt / wall time, Little's law),
 * latency histograms, once-a-second snapshots for 10 s / 60 s windows, event-loop lag, and
 * the contention report: when work waits while parallelism stays far below (or pinned at)
 * what is configured, say why, from evidence the daemon has. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "outbox.h"
#include "pool.h"
#include "relay.h"
#include "session.h"
#include "stats.h"

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

struct pool_stats {
	struct pool *pool;
	struct integral inflight, queued;
	uint64_t completed;
	unsigned inflight_now;
	long queued_now;
	struct histogram lag;
	double lag_max_this_second;
	uint64_t lag_expected_us;
	struct ring ring;
	struct event *tick, *lag_timer;
	uint64_t started_us;
	struct warned warned[32];
};

/* ---- primitives ----------------------------------------------------------------------------- */

void integral_set(struct integral *g, double v, uint64_t now)
{
	if (g->since_us && now > g->since_us)
		g->area += g->v * (double)(now - g->since_us);
	g->since_us = now;
	g->v = v;
}

double integral_area(const struct integral *g, uint64_t now)
{
	return g->area + (g->since_us && now > g->since_us ? g->v * (double)(now - g->since_us) : 0);
}

uint64_t hist_bound_us(unsigned i)
{
	return 64ULL << i;
}

void hist_add(struct histogram *h, uint64_t us)
{
	unsigned i = 0;

	while (i < HIST_BUCKETS && us >= hist_bound_us(i))
		i++;
	h->b[i]++;
	h->count++;
	h->sum_us += (double)us;
}

double hist_quantile(const struct histogram *h, double q)
{
	uint64_t want, seen = 0;

	if (!h->count)
		return 0;
	want = (uint64_t)ceil(q * (double)h->count);
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i <= HIST_BUCKETS; i++) {
		if (seen + h->b[i] >= want) {
			double lo = i ? (double)hist_bound_us(i - 1) : 0;
			double hi = i < HIST_BUCKETS ? (double)hist_bound_us(i) : lo * 2;
			return lo + (hi - lo) * (double)(want - seen) / (double)h->b[i];
		}
		seen += h->b[i];
	}
	return 0;
}

static void ring_push(struct ring *r, const struct snap *s)
{
	r->head = (r->head + 1) % RING_SECONDS;
	r->s[r->head] = *s;
	if (r->n < RING_SECONDS)
		r->n++;
}

/* The sample about `seconds` ago (or the oldest one). */
static const struct snap *ring_ago(const struct ring *r, unsigned seconds)
{
	unsigned back = seconds < r->n ? seconds : (r->n ? r->n - 1 : 0);
	return &r->s[(r->head + RING_SECONDS - back) % RING_SECONDS];
}

static struct pool_stats *pst(struct relay *r)
{
	return r->pool->stats;
}

/* ---- hooks ---------------------------------------------------------------------------------- */

void stats_inflight_changed(struct relay *r, struct session *s, int delta)
{
	uint64_t now = clock_now_us();
	struct pool_stats *ps = pst(r);

	integral_set(&s->st.inflight, s->n_inflight, now);
	integral_set(&s->st.busy, s->n_inflight > 0, now);
	r->inflight_total = (unsigned)((int)r->inflight_total + delta);
	integral_set(&r->st.inflight, r->inflight_total, now);
	if (ps) {
		ps->inflight_now = (unsigned)((int)ps->inflight_now + delta);
		integral_set(&ps->inflight, ps->inflight_now, now);
	}
}

void stats_queue_changed(struct relay *r, int delta)
{
	uint64_t now = clock_now_us();
	struct pool_stats *ps = pst(r);

	integral_set(&r->st.queued, r->queue_len + r->delayed_len, now);
	if (ps) {
		ps->queued_now += delta;
		integral_set(&ps->queued, (double)ps->queued_now, now);
	}
}

void stats_dispatched(struct relay *r, uint64_t queued_since_us)
{
	hist_add(&r->st.wait, clock_now_us() - queued_since_us);
}

void stats_ok(struct relay *r, struct session *s, uint64_t latency_us)
{
	double ms = (double)latency_us / 1000.0;

	hist_add(&r->st.ok_latency, latency_us);
	r->st.ok_ewma_ms = r->st.completed ? 0.9 * r->st.ok_ewma_ms + 0.1 * ms : ms;
	r->st.completed++;
	if (pst(r))
		pst(r)->completed++;
	if (s) {
		s->st.oks++;
		s->st.ok_sum_us += (double)latency_us;
	}
}

void stats_session_ready(struct session *s, bool ready)
{
	integral_set(&s->st.connected, ready, clock_now_us());
}

void stats_quorum(struct relay *decider, unsigned n_targets)
{
	if (!decider || n_targets < 2)
		return;
	decider->st.quorum_last++;
}

/* ---- windows -------------------------------------------------------------------------------- */

static void relay_snap(struct relay *r, uint64_t now, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	s->t_us = now;
	s->inflight_area = integral_area(&r->st.inflight, now);
	s->queued_area = integral_area(&r->st.queued, now);
	s->completed = r->st.completed;
	s->rate_limited = r->c.rate_limited;
	s->timeouts = r->c.timeouts;
	for (unsigned i = 0; i < r->n_sessions; i++)
		s->connected_area += integral_area(&r->sessions[i]->st.connected, now);
}

static void pool_snap(struct pool_stats *ps, uint64_t now, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	s->t_us = now;
	s->inflight_area = integral_area(&ps->inflight, now);
	s->queued_area = integral_area(&ps->queued, now);
	s->completed = ps->completed;
	s->lag_max_ms = ps->lag_max_this_second;
}

/* Averages over the last `seconds` (or since start when total): in-flight (the effective
 * parallelism), queued, completions per second. */
struct win {
	double dt_s, parallelism, queued, throughput, connected_s;
	uint64_t rate_limited, timeouts;
	double lag_max_ms;
};

static struct win window_of(const struct ring *ring, const struct snap *now, unsigned seconds, uint64_t started_us)
{
	struct win w = { 0 };
	const struct snap *old = ring_ago(ring, seconds);
	struct snap zero = { .t_us = started_us };

	if (seconds == 0 || ring->n == 0)
		old = &zero;
	w.dt_s = (double)(now->t_us - old->t_us) / 1e6;
	if (w.dt_s <= 0)
		return w;
	w.parallelism = (now->inflight_area - old->inflight_area) / 1e6 / w.dt_s;
	w.queued = (now->queued_area - old->queued_area) / 1e6 / w.dt_s;
	w.throughput = (double)(now->completed - old->completed) / w.dt_s;
	w.connected_s = (now->connected_area - old->connected_area) / 1e6;
	w.rate_limited = now->rate_limited - old->rate_limited;
	w.timeouts = now->timeouts - old->timeouts;
	for (unsigned i = 0; i < seconds && i < ring->n; i++) {
		double m = ring_ago(ring, i)->lag_max_ms;
		if (m > w.lag_max_ms)
			w.lag_max_ms = m;
	}
	return w;
}

static unsigned configured(const struct relay *r)
{
	return r->opts.sessions * r->opts.inflight;
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

static double relay_rtt_ms(const struct relay *r)
{
	double sum = 0;
	unsigned n = 0;

	for (unsigned i = 0; i < r->n_sessions; i++)
		if (r->sessions[i]->rtt_ms >= 0) {
			sum += r->sessions[i]->rtt_ms;
			n++;
		}
	return n ? sum / n : -1;
}

static const char *last_error(const struct relay *r)
{
	for (unsigned i = 0; i < r->n_sessions; i++)
		if (r->sessions[i]->state != SESSION_READY && r->sessions[i]->last_error[0])
			return r->sessions[i]->last_error;
	return "none";
}

/* Why work waits on relay r while parallelism is far from what is configured. */
static void relay_reasons(struct relay *r, const struct win *w, double loop_lag_ms, json_t *out)
{
	char scope[80];
	unsigned conf = configured(r), ready = relay_sessions_ready(r);
	double use = conf ? w->parallelism / conf : 0, rtt = relay_rtt_ms(r);
	uint64_t now = clock_now_us();

	snprintf(scope, sizeof(scope), "relay %s", r->name);
	if (w->queued < 0.5 || r->draining)
		return; /* no work waited here */
	if (ready < r->opts.sessions)
		add_reason(out, scope, "sessions_down",
			   "only %u of %u sessions are up, so at most %u of %u slots can be busy (last error: %s)", ready,
			   r->opts.sessions, ready * r->opts.inflight, conf, last_error(r));
	if (w->rate_limited || r->cooldown_until_us > now)
		add_reason(out, scope, "rate_limited",
			   "the relay answered rate-limited: %llu times in the window; publishes are held for a cooldown "
			   "(%llu ms now)",
			   (unsigned long long)w->rate_limited,
			   (unsigned long long)(r->cooldown_until_us > now ? (r->cooldown_until_us - now) / 1000 : 0));
	if (loop_lag_ms > LAG_SATURATED_MS)
		add_reason(out, scope, "loop_saturated", "the daemon's event loop ran timers up to %.0f ms late", loop_lag_ms);
	if (use >= SATURATED) {
		if (r->opts.inflight == 1)
			add_reason(out, scope, "window_one",
				   "the window is 1: each of the %u sessions carries one event per round trip%s%.1f ms%s; "
				   "raise inflight to pipeline",
				   ready, rtt >= 0 ? " (RTT " : "", rtt >= 0 ? rtt : 0, rtt >= 0 ? ")" : "");
		else
			add_reason(out, scope, "configured_limit",
				   "all %u slots (%u sessions x window %u) are busy: the configured concurrency is the limit; "
				   "raise sessions or inflight",
				   conf, r->opts.sessions, r->opts.inflight);
	} else if (use < UNDERUSED && ready == r->opts.sessions && !w->rate_limited && r->cooldown_until_us <= now) {
		if (w->timeouts)
			add_reason(out, scope, "timeouts",
				   "%llu publishes timed out in the window; their retries wait out a backoff",
				   (unsigned long long)w->timeouts);
		else
			add_reason(out, scope, "underused", "work waits but only %.1f of %u slots were busy on average",
				   w->parallelism, conf);
	}
}

/* A relay much slower than the others that keeps deciding quorum requests. */
static void quorum_reasons(struct pool *p, json_t *out)
{
	struct relay *r, *o;
	char scope[80];

	TAILQ_FOREACH(r, &p->relays, link) {
		double others = 0;
		unsigned n = 0;
		if (r->st.quorum_last < 10 || r->st.ok_ewma_ms <= 0)
			continue;
		TAILQ_FOREACH(o, &p->relays, link)
			if (o != r && o->st.ok_ewma_ms > 0) {
				others += o->st.ok_ewma_ms;
				n++;
			}
		if (!n || r->st.ok_ewma_ms < 3 * (others / n))
			continue;
		snprintf(scope, sizeof(scope), "relay %s", r->name);
		add_reason(out, scope, "slow_quorum",
			   "this relay answers in %.0f ms against %.0f ms for the others and was the last answer of %llu "
			   "requests waiting for a quorum",
			   r->st.ok_ewma_ms, others / n, (unsigned long long)r->st.quorum_last);
	}
}

json_t *stats_contention(struct pool *p)
{
	struct pool_stats *ps = p->stats;
	uint64_t now = clock_now_us();
	json_t *out = json_array();
	struct snap pnow;
	struct win pw;
	struct relay *r;

	if (!ps)
		return out;
	pool_snap(ps, now, &pnow);
	pnow.lag_max_ms = ps->lag_max_this_second;
	pw = window_of(&ps->ring, &pnow, 10, ps->started_us);
	if (pw.lag_max_ms < ps->lag_max_this_second)
		pw.lag_max_ms = ps->lag_max_this_second;
	TAILQ_FOREACH(r, &p->relays, link) {
		struct snap s;
		relay_snap(r, now, &s);
		struct win w = window_of(&r->st.ring, &s, 10, ps->started_us);
		relay_reasons(r, &w, pw.lag_max_ms, out);
	}
	quorum_reasons(p, out);
	return out;
}

/* Logs each reason at most once a minute (per scope and reason). */
static void warn_contention(struct pool_stats *ps, json_t *reasons)
{
	uint64_t now = clock_now_us();
	size_t i;
	json_t *x;

	json_array_foreach(reasons, i, x) {
		char key[160];
		struct warned *slot = NULL, *oldest = &ps->warned[0];
		snprintf(key, sizeof(key), "%s/%s", json_string_value(json_object_get(x, "scope")),
			 json_string_value(json_object_get(x, "reason")));
		for (unsigned k = 0; k < ARRAY_SIZE(ps->warned); k++) {
			if (strcmp(ps->warned[k].key, key) == 0)
				slot = &ps->warned[k];
			if (ps->warned[k].at_us < oldest->at_us)
				oldest = &ps->warned[k];
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

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool_stats *ps = arg;
	uint64_t now = clock_now_us();
	struct snap s;
	struct relay *r;
	json_t *reasons;

	(void)fd, (void)what;
	pool_snap(ps, now, &s);
	ring_push(&ps->ring, &s);
	ps->lag_max_this_second = 0;
	TAILQ_FOREACH(r, &ps->pool->relays, link) {
		relay_snap(r, now, &s);
		ring_push(&r->st.ring, &s);
	}
	reasons = stats_contention(ps->pool);
	warn_contention(ps, reasons);
	json_decref(reasons);
}

/* A timer that should fire every LAG_PERIOD: how late it runs is the loop's lag. */
static void lag_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool_stats *ps = arg;
	uint64_t now = clock_now_us(), late = now > ps->lag_expected_us ? now - ps->lag_expected_us : 0;
	struct timeval tv = { .tv_sec = 0, .tv_usec = LAG_PERIOD_USEC };

	(void)fd, (void)what;
	hist_add(&ps->lag, late);
	if ((double)late / 1000.0 > ps->lag_max_this_second)
		ps->lag_max_this_second = (double)late / 1000.0;
	ps->lag_expected_us = now + LAG_PERIOD_USEC;
	evtimer_add(ps->lag_timer, &tv);
}

int stats_start(struct pool *p)
{
	struct pool_stats *ps = calloc(1, sizeof(*ps));
	struct timeval tick = { .tv_sec = TICK_USEC / 1000000 }, lag = { .tv_sec = 0, .tv_usec = LAG_PERIOD_USEC };

	if (!ps)
		return -ENOMEM;
	ps->pool = p;
	ps->started_us = clock_now_us();
	integral_set(&ps->inflight, 0, ps->started_us);
	integral_set(&ps->queued, 0, ps->started_us);
	ps->tick = event_new(p->base, -1, EV_PERSIST, tick_cb, ps);
	ps->lag_timer = evtimer_new(p->base, lag_cb, ps);
	if (!ps->tick || !ps->lag_timer) {
		if (ps->tick)
			event_free(ps->tick);
		if (ps->lag_timer)
			event_free(ps->lag_timer);
		free(ps);
		return -ENOMEM;
	}
	event_add(ps->tick, &tick);
	ps->lag_expected_us = ps->started_us + LAG_PERIOD_USEC;
	evtimer_add(ps->lag_timer, &lag);
	p->stats = ps;
	return 0;
}

void stats_stop(struct pool *p)
{
	struct pool_stats *ps = p->stats;

	if (!ps)
		return;
	event_free(ps->tick);
	event_free(ps->lag_timer);
	free(ps);
	p->stats = NULL;
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
	double connected = integral_area(&s->st.connected, now) / 1e6;
	double busy = integral_area(&s->st.busy, now) / 1e6;
	double area = integral_area(&s->st.inflight, now) / 1e6;

	return json_pack("{s:i, s:s, s:i, s:f, s:f, s:f, s:f, s:I, s:f, s:o}", "index", (int)s->index, "state",
			 session_state_name(s->state), "inflight", (int)s->n_inflight, "connected_s",
			 round(connected * 1000) / 1000, "busy_s", round(busy * 1000) / 1000, "busy_ratio",
			 connected > 0 ? round(busy / connected * 1000) / 1000 : 0.0, "parallelism",
			 connected > 0 ? round(area / connected * 1000) / 1000 : 0.0, "oks", (json_int_t)s->st.oks,
			 "ok_latency_ms_mean", s->st.oks ? round(s->st.ok_sum_us / (double)s->st.oks) / 1000.0 : 0.0,
			 "rtt_ms", s->rtt_ms >= 0 ? json_real(s->rtt_ms) : json_null());
}

static json_t *relay_stats_json(struct relay *r, uint64_t now, uint64_t started_us)
{
	struct snap s;
	struct win w10, w60, all;
	json_t *sessions = json_array();

	relay_snap(r, now, &s);
	w10 = window_of(&r->st.ring, &s, 10, started_us);
	w60 = window_of(&r->st.ring, &s, 60, started_us);
	all = window_of(&r->st.ring, &s, 0, started_us);
	json_t *o;

	for (unsigned i = 0; i < r->n_sessions; i++)
		json_array_append_new(sessions, session_stats_json(r->sessions[i], now));
	o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:o, s:o, s:{s:i, s:f}, s:i, s:o, s:o, s:f, s:I, s:I, s:I, s:I, s:I, "
			 "s:I, s:o}",
			 "name", r->name, "configured", (int)configured(r), "sessions", (int)r->opts.sessions,
			 "sessions_ready", (int)relay_sessions_ready(r), "window", (int)r->opts.inflight,
			 "effective_parallelism", triple(w10.parallelism, w60.parallelism, all.parallelism), "throughput",
			 triple(w10.throughput, w60.throughput, all.throughput), "queued", "now",
			 (int)(r->queue_len + r->delayed_len), "10s", round(w10.queued * 1000) / 1000, "inflight",
			 (int)r->inflight_total, "queue_wait_ms", quantiles_ms(&r->st.wait), "ok_latency_ms",
			 quantiles_ms(&r->st.ok_latency), "ok_latency_recent_ms", round(r->st.ok_ewma_ms * 1000) / 1000,
			 "accepted", (json_int_t)r->c.accepted, "rejected", (json_int_t)r->c.rejected, "timeouts",
			 (json_int_t)r->c.timeouts, "rate_limited", (json_int_t)r->c.rate_limited, "cooldowns",
			 (json_int_t)r->st.cooldowns, "quorum_last", (json_int_t)r->st.quorum_last, "sessions_detail",
			 sessions);
	/* Monotonic sums, for a parallelism over any interval: Δinflight_seconds / Δtime. */
	json_object_set_new(o, "inflight_seconds", json_real(s.inflight_area / 1e6));
	json_object_set_new(o, "queued_seconds", json_real(s.queued_area / 1e6));
	json_object_set_new(o, "completed", json_integer((json_int_t)s.completed));
	return o;
}

json_t *stats_json(struct pool *p)
{
	struct pool_stats *ps = p->stats;
	uint64_t now = clock_now_us();
	unsigned conf = 0;
	struct snap s;
	struct win w10, w60, all;
	json_t *relays = json_array();
	struct relay *r;

	TAILQ_FOREACH(r, &p->relays, link) {
		conf += configured(r);
		json_array_append_new(relays, relay_stats_json(r, now, ps->started_us));
	}
	pool_snap(ps, now, &s);
	w10 = window_of(&ps->ring, &s, 10, ps->started_us);
	w60 = window_of(&ps->ring, &s, 60, ps->started_us);
	all = window_of(&ps->ring, &s, 0, ps->started_us);
	json_t *o = json_pack("{s:f, s:{s:i, s:o, s:o, s:{s:i, s:f}, s:i, s:o}, s:o, s:o}", "uptime_s",
			 round((double)(now - ps->started_us) / 1e3) / 1e3, "pool", "configured", (int)conf,
			 "effective_parallelism", triple(w10.parallelism, w60.parallelism, all.parallelism), "throughput",
			 triple(w10.throughput, w60.throughput, all.throughput), "queued", "now", (int)ps->queued_now, "10s",
			 round(w10.queued * 1000) / 1000, "inflight", (int)ps->inflight_now, "loop_lag_ms",
			 json_pack("{s:f, s:f, s:f}", "p50", round(hist_quantile(&ps->lag, 0.5)) / 1000.0, "p99",
				   round(hist_quantile(&ps->lag, 0.99)) / 1000.0, "max_10s",
				   w10.lag_max_ms > ps->lag_max_this_second ? w10.lag_max_ms : ps->lag_max_this_second),
			 "relays", relays, "contention", stats_contention(p));
	json_t *pj = json_object_get(o, "pool");
	json_object_set_new(pj, "inflight_seconds", json_real(s.inflight_area / 1e6));
	json_object_set_new(pj, "queued_seconds", json_real(s.queued_area / 1e6));
	json_object_set_new(pj, "completed", json_integer((json_int_t)s.completed));
	json_object_set_new(o, "monotonic_s", json_real((double)now / 1e6));
	return o;
}

/* ---- OpenMetrics ---------------------------------------------------------------------------- */

struct text {
	char *s;
	size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) _printf_(2, 3);
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (t->s && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t ncap = t->cap ? t->cap * 2 : 16384;
		while (ncap < t->len + (size_t)n + 1)
			ncap *= 2;
		char *ns = realloc(t->s, ncap);
		if (!ns)
			return;
		t->s = ns;
		t->cap = ncap;
	}
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# TYPE %s %s\n# HELP %s %s\n", name, type, name, help);
}

/* Label values escape \, " and newlines (relay names cannot hold them; be safe anyway). */
static const char *esc(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s && o + 2 < len; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n')
			buf[o++] = '\\';
		buf[o++] = *s == '\n' ? 'n' : *s;
	}
	buf[o] = '\0';
	return buf;
}

static void histogram_lines(struct text *t, const char *name, const char *labels, const struct histogram *h)
{
	uint64_t cum = 0;

	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		cum += h->b[i];
		put(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, *labels ? "," : "", (double)hist_bound_us(i) / 1e6,
		    (unsigned long long)cum);
	}
	put(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, *labels ? "," : "", (unsigned long long)h->count);
	put(t, "%s_count{%s} %llu\n%s_sum{%s} %g\n", name, labels, (unsigned long long)h->count, name, labels,
	    h->sum_us / 1e6);
}

char *stats_metrics(struct pool *p)
{
	struct pool_stats *ps = p->stats;
	struct daemon *d = p->d;
	uint64_t now = clock_now_us();
	struct text t = { 0 };
	struct snap s;
	struct relay *r;
	char lab[256], name[160];
	unsigned conf = 0;
	json_t *counts = outbox_counts(d), *v;
	const char *key;
	long long events = 0;

	TAILQ_FOREACH(r, &p->relays, link)
		conf += configured(r);
	pool_snap(ps, now, &s);
	family(&t, "relaypool_effective_parallelism", "gauge",
	       "Average jobs in flight over the window (integral of in-flight over wall time)");
	put(&t, "relaypool_effective_parallelism{window=\"10s\"} %g\n", window_of(&ps->ring, &s, 10, ps->started_us).parallelism);
	put(&t, "relaypool_effective_parallelism{window=\"60s\"} %g\n", window_of(&ps->ring, &s, 60, ps->started_us).parallelism);
	put(&t, "relaypool_effective_parallelism{window=\"total\"} %g\n", window_of(&ps->ring, &s, 0, ps->started_us).parallelism);
	family(&t, "relaypool_configured_parallelism", "gauge", "Sum over relays of sessions x window");
	put(&t, "relaypool_configured_parallelism %u\n", conf);
	family(&t, "relaypool_inflight", "gauge", "Jobs in flight now");
	put(&t, "relaypool_inflight %u\n", ps->inflight_now);
	family(&t, "relaypool_queued", "gauge", "Jobs waiting for a session now");
	put(&t, "relaypool_queued %ld\n", ps->queued_now);
	family(&t, "relaypool_oks", "counter", "OK answers received");
	put(&t, "relaypool_oks_total %llu\n", (unsigned long long)ps->completed);
	family(&t, "relaypool_loop_lag_seconds", "histogram", "How late the event loop ran a 100 ms timer");
	histogram_lines(&t, "relaypool_loop_lag_seconds", "", &ps->lag);

	family(&t, "relaypool_relay_effective_parallelism", "gauge", "Average jobs in flight on the relay (10 s window)");
	TAILQ_FOREACH(r, &p->relays, link) {
		struct snap rs;
		relay_snap(r, now, &rs);
		put(&t, "relaypool_relay_effective_parallelism{relay=\"%s\"} %g\n", esc(r->name, name, sizeof(name)),
		    window_of(&r->st.ring, &rs, 10, ps->started_us).parallelism);
	}
	family(&t, "relaypool_relay_configured_parallelism", "gauge", "sessions x window of the relay");
	family(&t, "relaypool_relay_inflight", "gauge", "Jobs in flight on the relay");
	family(&t, "relaypool_relay_queued", "gauge", "Jobs waiting for one of the relay's sessions");
	family(&t, "relaypool_relay_sessions_ready", "gauge", "Ready sessions of the relay");
	TAILQ_FOREACH(r, &p->relays, link) {
		esc(r->name, name, sizeof(name));
		put(&t, "relaypool_relay_configured_parallelism{relay=\"%s\"} %u\n", name, configured(r));
		put(&t, "relaypool_relay_inflight{relay=\"%s\"} %u\n", name, r->inflight_total);
		put(&t, "relaypool_relay_queued{relay=\"%s\"} %u\n", name, r->queue_len + r->delayed_len);
		put(&t, "relaypool_relay_sessions_ready{relay=\"%s\"} %u\n", name, relay_sessions_ready(r));
	}
	family(&t, "relaypool_relay_jobs", "counter", "Publish outcomes per relay, by result");
	TAILQ_FOREACH(r, &p->relays, link) {
		esc(r->name, name, sizeof(name));
		const struct {
			const char *k;
			unsigned long long v;
		} res[] = { { "accepted", r->c.accepted },	       { "duplicate", r->c.duplicates },
			    { "rejected_invalid", r->c.rejected_invalid }, { "rejected_other", r->c.rejected_other },
			    { "auth_required", r->c.auth_required },	       { "rate_limited", r->c.rate_limited },
			    { "timeout", r->c.timeouts },		       { "failed", r->c.failed },
			    { "late_ok", r->c.late_oks } };
		for (size_t i = 0; i < ARRAY_SIZE(res); i++)
			put(&t, "relaypool_relay_jobs_total{relay=\"%s\",result=\"%s\"} %llu\n", name, res[i].k, res[i].v);
	}
	family(&t, "relaypool_relay_reconnects", "counter", "Sessions re-established");
	family(&t, "relaypool_relay_cooldowns", "counter", "Cooldowns started by rate-limited: answers");
	TAILQ_FOREACH(r, &p->relays, link) {
		esc(r->name, name, sizeof(name));
		put(&t, "relaypool_relay_reconnects_total{relay=\"%s\"} %llu\n", name, (unsigned long long)r->c.reconnects);
		put(&t, "relaypool_relay_cooldowns_total{relay=\"%s\"} %llu\n", name, (unsigned long long)r->st.cooldowns);
	}
	family(&t, "relaypool_relay_ok_latency_seconds", "histogram", "From sending an event to its OK");
	TAILQ_FOREACH(r, &p->relays, link) {
		snprintf(lab, sizeof(lab), "relay=\"%s\"", esc(r->name, name, sizeof(name)));
		histogram_lines(&t, "relaypool_relay_ok_latency_seconds", lab, &r->st.ok_latency);
	}
	family(&t, "relaypool_relay_queue_wait_seconds", "histogram", "From queueing a job to handing it to a session");
	TAILQ_FOREACH(r, &p->relays, link) {
		snprintf(lab, sizeof(lab), "relay=\"%s\"", esc(r->name, name, sizeof(name)));
		histogram_lines(&t, "relaypool_relay_queue_wait_seconds", lab, &r->st.wait);
	}
	family(&t, "relaypool_session_ready", "gauge", "1 while the session is ready");
	family(&t, "relaypool_session_inflight", "gauge", "Jobs in flight on the session");
	TAILQ_FOREACH(r, &p->relays, link)
		for (unsigned i = 0; i < r->n_sessions; i++) {
			snprintf(lab, sizeof(lab), "relay=\"%s\",session=\"%u\"", esc(r->name, name, sizeof(name)), i);
			put(&t, "relaypool_session_ready{%s} %d\n", lab, r->sessions[i]->state == SESSION_READY);
			put(&t, "relaypool_session_inflight{%s} %u\n", lab, r->sessions[i]->n_inflight);
		}
	family(&t, "relaypool_session_connected_seconds", "counter", "Time the session was ready");
	family(&t, "relaypool_session_busy_seconds", "counter", "Time the session had at least one job in flight");
	family(&t, "relaypool_session_inflight_seconds", "counter", "Integral of the session's in-flight count");
	TAILQ_FOREACH(r, &p->relays, link)
		for (unsigned i = 0; i < r->n_sessions; i++) {
			const struct session *se = r->sessions[i];
			snprintf(lab, sizeof(lab), "relay=\"%s\",session=\"%u\"", esc(r->name, name, sizeof(name)), i);
			put(&t, "relaypool_session_connected_seconds_total{%s} %g\n", lab,
			    integral_area(&se->st.connected, now) / 1e6);
			put(&t, "relaypool_session_busy_seconds_total{%s} %g\n", lab, integral_area(&se->st.busy, now) / 1e6);
			put(&t, "relaypool_session_inflight_seconds_total{%s} %g\n", lab,
			    integral_area(&se->st.inflight, now) / 1e6);
		}
	family(&t, "relaypool_outbox_rows", "gauge", "Outbox rows by state");
	json_object_foreach(counts, key, v)
		put(&t, "relaypool_outbox_rows{state=\"%s\"} %lld\n", key, (long long)json_integer_value(v));
	json_decref(counts);
	cache_count_events(d->cache, &events);
	family(&t, "relaypool_cache_events", "gauge", "Events in the cache");
	put(&t, "relaypool_cache_events %lld\n", events);
	put(&t, "# EOF\n");
	return t.s;
}
