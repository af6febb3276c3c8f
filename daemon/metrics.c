/* metrics.c - see metrics.h. Counters end in _total, histogram buckets are cumulative,
 * and every family is declared once before its samples. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "clock.h"
#include "log.h"
#include "live.h"
#include "metrics.h"
#include "outbox.h"
#include "pool.h"
#include "relay.h"
#include "session.h"
#include "stats.h"
#include "util.h"

struct metrics {
	struct metrics_env env;
	struct evhttp *http;
};

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

static void pool_lines(struct metrics *m, struct text *t)
{
	struct pool_totals tot;

	pool_totals(m->env.pool, clock_now_us(), &tot);
	family(t, "relaypool_effective_parallelism", "gauge",
	       "Average jobs in flight over the window (integral of in-flight over wall time)");
	put(t, "relaypool_effective_parallelism{window=\"10s\"} %g\n", stats_pool_window(m->env.stats, 10).parallelism);
	put(t, "relaypool_effective_parallelism{window=\"60s\"} %g\n", stats_pool_window(m->env.stats, 60).parallelism);
	put(t, "relaypool_effective_parallelism{window=\"total\"} %g\n", stats_pool_window(m->env.stats, 0).parallelism);
	family(t, "relaypool_configured_parallelism", "gauge", "Sum over relays of sessions x window");
	put(t, "relaypool_configured_parallelism %u\n", tot.configured);
	family(t, "relaypool_inflight", "gauge", "Jobs in flight now");
	put(t, "relaypool_inflight %llu\n", tot.inflight);
	family(t, "relaypool_queued", "gauge", "Jobs waiting for a session now");
	put(t, "relaypool_queued %llu\n", tot.queued);
	family(t, "relaypool_oks", "counter", "OK answers received");
	put(t, "relaypool_oks_total %llu\n", (unsigned long long)tot.completed);
	if (m->env.live) {
		struct live_totals lt;
		live_totals(m->env.live, &lt);
		family(t, "relaypool_live_relay_reqs", "gauge", "Relay REQs held for live subscribers");
		put(t, "relaypool_live_relay_reqs %llu\n", lt.feeds);
		family(t, "relaypool_live_subscribers", "gauge", "Local live subscriptions");
		put(t, "relaypool_live_subscribers %llu\n", lt.subscribers);
		family(t, "relaypool_live_events_in", "counter", "New verified events from live relay REQs");
		put(t, "relaypool_live_events_in_total %llu\n", lt.fresh);
		family(t, "relaypool_live_delivered", "counter", "Events sent to live subscribers (fan-out included)");
		put(t, "relaypool_live_delivered_total %llu\n", lt.delivered);
		family(t, "relaypool_live_dropped", "counter", "Events a slow live subscriber lost");
		put(t, "relaypool_live_dropped_total %llu\n", lt.dropped);
		family(t, "relaypool_live_reqs_resent", "counter", "Live REQs re-sent after a reconnect");
		put(t, "relaypool_live_reqs_resent_total %llu\n", lt.resent);
	}
	family(t, "relaypool_loop_lag_seconds", "histogram", "How late the event loop ran a 100 ms timer");
	histogram_lines(t, "relaypool_loop_lag_seconds", "", stats_loop_lag(m->env.stats));
}

static void relay_lines(struct metrics *m, struct text *t)
{
	struct pool *p = m->env.pool;
	unsigned n = pool_n_relays(p);
	char lab[256], name[160];

	family(t, "relaypool_relay_effective_parallelism", "gauge", "Average jobs in flight on the relay (10 s window)");
	for (unsigned i = 0; i < n; i++)
		put(t, "relaypool_relay_effective_parallelism{relay=\"%s\"} %g\n",
		    esc(relay_name(pool_relay(p, i)), name, sizeof(name)),
		    stats_relay_window(m->env.stats, pool_relay(p, i), 10).parallelism);
	family(t, "relaypool_relay_configured_parallelism", "gauge", "sessions x window of the relay");
	family(t, "relaypool_relay_inflight", "gauge", "Jobs in flight on the relay");
	family(t, "relaypool_relay_queued", "gauge", "Jobs waiting for one of the relay's sessions");
	family(t, "relaypool_relay_sessions_ready", "gauge", "Ready sessions of the relay");
	for (unsigned i = 0; i < n; i++) {
		struct relay_view v;
		relay_view(pool_relay(p, i), &v);
		esc(v.name, name, sizeof(name));
		put(t, "relaypool_relay_configured_parallelism{relay=\"%s\"} %u\n", name, v.opts->sessions * v.opts->inflight);
		put(t, "relaypool_relay_inflight{relay=\"%s\"} %u\n", name, v.inflight);
		put(t, "relaypool_relay_queued{relay=\"%s\"} %u\n", name, v.queued);
		put(t, "relaypool_relay_sessions_ready{relay=\"%s\"} %u\n", name, v.sessions_ready);
	}
	family(t, "relaypool_relay_jobs", "counter", "Publish outcomes per relay, by result");
	for (unsigned i = 0; i < n; i++) {
		struct relay_view v;
		relay_view(pool_relay(p, i), &v);
		esc(v.name, name, sizeof(name));
		const struct {
			const char *k;
			unsigned long long v;
		} res[] = { { "accepted", v.c->accepted },	       { "duplicate", v.c->duplicates },
			    { "rejected_invalid", v.c->rejected_invalid }, { "rejected_other", v.c->rejected_other },
			    { "auth_required", v.c->auth_required },	       { "rate_limited", v.c->rate_limited },
			    { "timeout", v.c->timeouts },		       { "failed", v.c->failed },
			    { "late_ok", v.c->late_oks } };
		for (size_t k = 0; k < ARRAY_SIZE(res); k++)
			put(t, "relaypool_relay_jobs_total{relay=\"%s\",result=\"%s\"} %llu\n", name, res[k].k, res[k].v);
	}
	family(t, "relaypool_relay_reconnects", "counter", "Sessions re-established");
	family(t, "relaypool_relay_cooldowns", "counter", "Cooldowns started by rate-limited: answers");
	for (unsigned i = 0; i < n; i++) {
		struct relay_view v;
		relay_view(pool_relay(p, i), &v);
		esc(v.name, name, sizeof(name));
		put(t, "relaypool_relay_reconnects_total{relay=\"%s\"} %llu\n", name, v.c->reconnects);
		put(t, "relaypool_relay_cooldowns_total{relay=\"%s\"} %llu\n", name, v.cooldowns);
	}
	family(t, "relaypool_relay_ok_latency_seconds", "histogram", "From sending an event to its OK");
	for (unsigned i = 0; i < n; i++) {
		struct relay_view v;
		relay_view(pool_relay(p, i), &v);
		snprintf(lab, sizeof(lab), "relay=\"%s\"", esc(v.name, name, sizeof(name)));
		histogram_lines(t, "relaypool_relay_ok_latency_seconds", lab, v.ok_latency);
	}
	family(t, "relaypool_relay_queue_wait_seconds", "histogram", "From queueing a job to handing it to a session");
	for (unsigned i = 0; i < n; i++) {
		struct relay_view v;
		relay_view(pool_relay(p, i), &v);
		snprintf(lab, sizeof(lab), "relay=\"%s\"", esc(v.name, name, sizeof(name)));
		histogram_lines(t, "relaypool_relay_queue_wait_seconds", lab, v.wait);
	}
}

static void session_lines(struct metrics *m, struct text *t)
{
	struct pool *p = m->env.pool;
	uint64_t now = clock_now_us();
	char lab[256], name[160];

	family(t, "relaypool_session_ready", "gauge", "1 while the session is ready");
	family(t, "relaypool_session_inflight", "gauge", "Jobs in flight on the session");
	for (unsigned i = 0; i < pool_n_relays(p); i++) {
		const struct relay *r = pool_relay(p, i);
		for (unsigned k = 0; k < relay_n_sessions(r); k++) {
			struct session_view v;
			session_view(relay_session(r, k), &v);
			snprintf(lab, sizeof(lab), "relay=\"%s\",session=\"%u\"", esc(relay_name(r), name, sizeof(name)), k);
			put(t, "relaypool_session_ready{%s} %d\n", lab, v.state == SESSION_READY);
			put(t, "relaypool_session_inflight{%s} %u\n", lab, v.inflight);
		}
	}
	family(t, "relaypool_session_connected_seconds", "counter", "Time the session was ready");
	family(t, "relaypool_session_busy_seconds", "counter", "Time the session had at least one job in flight");
	family(t, "relaypool_session_inflight_seconds", "counter", "Integral of the session's in-flight count");
	for (unsigned i = 0; i < pool_n_relays(p); i++) {
		const struct relay *r = pool_relay(p, i);
		for (unsigned k = 0; k < relay_n_sessions(r); k++) {
			struct session_view v;
			session_view(relay_session(r, k), &v);
			snprintf(lab, sizeof(lab), "relay=\"%s\",session=\"%u\"", esc(relay_name(r), name, sizeof(name)), k);
			put(t, "relaypool_session_connected_seconds_total{%s} %g\n", lab,
			    integral_area(v.connected_time, now) / 1e6);
			put(t, "relaypool_session_busy_seconds_total{%s} %g\n", lab, integral_area(v.busy_time, now) / 1e6);
			put(t, "relaypool_session_inflight_seconds_total{%s} %g\n", lab,
			    integral_area(v.inflight_time, now) / 1e6);
		}
	}
}

char *metrics_text(struct metrics *m)
{
	struct text t = { 0 };
	json_t *counts = outbox_counts(m->env.outbox), *v;
	const char *key;
	long long events = 0;

	pool_lines(m, &t);
	relay_lines(m, &t);
	session_lines(m, &t);
	family(&t, "relaypool_outbox_rows", "gauge", "Outbox rows by state");
	json_object_foreach(counts, key, v)
		put(&t, "relaypool_outbox_rows{state=\"%s\"} %lld\n", key, (long long)json_integer_value(v));
	json_decref(counts);
	cache_count_events(m->env.cache, &events);
	family(&t, "relaypool_cache_events", "gauge", "Events in the cache");
	put(&t, "relaypool_cache_events %lld\n", events);
	put(&t, "# EOF\n");
	return t.s;
}

/* ---- the HTTP listener ------------------------------------------------------------------------ */

static void serve(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	struct evbuffer *body;
	char *text;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	text = metrics_text(m);
	body = evbuffer_new();
	if (!text || !body) {
		free(text);
		if (body)
			evbuffer_free(body);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(body, text, strlen(text));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", METRICS_CONTENT_TYPE);
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
	free(text);
}

int metrics_new(const struct metrics_env *env, const char *host, uint16_t port, struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->env = *env;
	if (host) {
		m->http = evhttp_new(env->base);
		if (!m->http) {
			free(m);
			return -ENOMEM;
		}
		evhttp_set_cb(m->http, "/metrics", serve, m);
		if (evhttp_bind_socket(m->http, host, port) < 0) {
			int e = errno;
			evhttp_free(m->http);
			free(m);
			errno = e;
			return log_err("metrics: cannot listen on %s port %u: %m", host, port), -EADDRINUSE;
		}
		log_info("metrics: serving http://%s:%u/metrics", host, port);
	}
	*out = m;
	return 0;
}

void metrics_stop_listening(struct metrics *m)
{
	if (m && m->http) {
		evhttp_free(m->http);
		m->http = NULL;
	}
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	metrics_stop_listening(m);
	free(m);
}
