/* pool.c - all relays: creation and reconfiguration from the config, the shared TLS
 * context, asynchronous DNS resolver and connect gate (so a network blip does not become a
 * reconnect storm), draining removed relays, orderly shutdown, and the sums stats reads.
 * Relays are freed from a deferred sweep, never from inside their own callbacks. */
#include <errno.h>
#include <event2/dns.h>
#include <openssl/ssl.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "gate.h"
#include "log.h"
#include "nip11.h"
#include "pool.h"
#include "relay.h"

struct pool {
	struct event_base *base;
	struct session_env env;
	struct relay **relays;
	unsigned n_relays, cap_relays;
	struct event *sweep;
	struct nip11 *nip11;
	struct event *nip11_daily;
	bool stopping;
	void (*stopped)(void *arg);
	void *stopped_arg;
	struct pool_totals retired; /* figures of relays already freed */
};

#define NIP11_REFRESH_S (24 * 3600)

static void schedule_sweep(struct pool *p)
{
	struct timeval now = { 0, 0 };

	if (!evtimer_pending(p->sweep, NULL))
		evtimer_add(p->sweep, &now);
}

/* ---- relays tell us ------------------------------------------------------------------------ */

static void relay_idle_cb(void *owner, struct relay *r)
{
	relay_stop(r, "relay removed from the configuration");
	schedule_sweep(owner);
}

static void session_stopped_cb(void *owner, struct relay *r)
{
	(void)r;
	schedule_sweep(owner);
}

static const struct relay_owner_ops relay_callbacks = {
	.idle = relay_idle_cb,
	.session_stopped = session_stopped_cb,
};

/* ---- the sweep ---------------------------------------------------------------------------- */

static void add_view(struct pool_totals *t, const struct relay_view *v, uint64_t now)
{
	t->inflight_area += integral_area(v->inflight_time, now);
	t->waiting_area += integral_area(v->waiting_time, now);
	t->completed += v->completed;
	t->rate_limited += v->c->rate_limited;
	t->timeouts += v->c->timeouts;
}

static void remove_at(struct pool *p, unsigned i)
{
	struct relay *r = p->relays[i];
	struct relay_view v;

	relay_view(r, &v);
	add_view(&p->retired, &v, clock_now_us());
	memmove(&p->relays[i], &p->relays[i + 1], (p->n_relays - i - 1) * sizeof(*p->relays));
	p->n_relays--;
	relay_retire(r);
	relay_unref(r);
}

/* Frees relays whose sessions all stopped, trims sessions a reload made surplus, and ends
 * a shutdown. */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool *p = arg;

	(void)fd, (void)what;
	for (unsigned i = 0; i < p->n_relays;) {
		struct relay *r = p->relays[i];
		bool going = relay_draining(r) || p->stopping;
		if (!going)
			relay_trim_sessions(r);
		if (going && relay_all_stopped(r)) {
			if (!p->stopping)
				log_info("relay %s: drained and removed", relay_name(r));
			remove_at(p, i);
			continue;
		}
		i++;
	}
	if (p->stopping && p->n_relays == 0 && p->stopped) {
		void (*done)(void *) = p->stopped;
		p->stopped = NULL;
		done(p->stopped_arg);
	}
}

/* ---- life ---------------------------------------------------------------------------------- */

/* Every relay's NIP-11 document again (relays change their limits). */
static void fetch_all(struct pool *p)
{
	for (unsigned i = 0; i < p->n_relays; i++)
		if (!relay_draining(p->relays[i]))
			nip11_fetch(p->nip11, p->relays[i]);
}

static void nip11_daily_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	fetch_all(arg);
}

void pool_set_signer(struct pool *p, int (*sign_auth)(void *arg, const char *relay_url, const char *challenge,
						      char **json, uint8_t id[32]),
		     void *arg)
{
	p->env.sign_auth = sign_auth;
	p->env.sign_arg = arg;
}

int pool_new(struct event_base *base, struct pool **out)
{
	struct pool *p = calloc(1, sizeof(*p));
	SSL_CTX *ctx;

	if (!p)
		return -ENOMEM;
	p->base = base;
	p->env.base = base;
	p->env.dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!p->env.dns) {
		/* No usable resolv.conf: IP literals still work; names fail per connection. */
		log_warn("pool: no DNS resolver configured (/etc/resolv.conf?), relay host names will not resolve");
		p->env.dns = evdns_base_new(base, 0);
	}
	ctx = SSL_CTX_new(TLS_client_method());
	p->env.ssl_ctx = ctx;
	p->env.gate = gate_new(16);
	p->sweep = evtimer_new(base, sweep_cb, p);
	p->nip11_daily = event_new(base, -1, EV_PERSIST, nip11_daily_cb, p);
	if (!p->env.dns || !ctx || !p->env.gate || !p->sweep || !p->nip11_daily || nip11_new(&p->env, &p->nip11) < 0) {
		pool_free(p);
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* libevent 2.1 + OpenSSL 3: a TCP close without close_notify is not an error for us;
	 * WebSocket framing detects truncation itself (NOTES.md). */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		log_warn("pool: cannot load the system's CA certificates; wss:// relays will fail verification");
	event_add(p->nip11_daily, &(struct timeval){ .tv_sec = NIP11_REFRESH_S });
	*out = p;
	return 0;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	while (p->n_relays)
		remove_at(p, p->n_relays - 1);
	free(p->relays);
	nip11_free(p->nip11);
	if (p->nip11_daily)
		event_free(p->nip11_daily);
	if (p->sweep)
		event_free(p->sweep);
	gate_free(p->env.gate);
	if (p->env.dns)
		evdns_base_free(p->env.dns, 0);
	SSL_CTX_free(p->env.ssl_ctx);
	free(p);
}

static struct relay *find_by_name(const struct pool *p, const char *name)
{
	for (unsigned i = 0; i < p->n_relays; i++)
		if (!relay_draining(p->relays[i]) && strcmp(relay_name(p->relays[i]), name) == 0)
			return p->relays[i];
	return NULL;
}

struct relay *pool_find_relay(const struct pool *p, const char *name_or_url)
{
	struct relay *r = find_by_name(p, name_or_url);
	struct wsurl u;
	const char *why;
	char normal[1400];

	if (r || wsurl_parse(name_or_url, &u, &why) < 0)
		return r;
	wsurl_format(&u, normal, sizeof(normal));
	for (unsigned i = 0; i < p->n_relays; i++)
		if (!relay_draining(p->relays[i]) && strcmp(relay_url(p->relays[i]), normal) == 0)
			return p->relays[i];
	return NULL;
}

static int append(struct pool *p, struct relay *r)
{
	if (p->n_relays == p->cap_relays) {
		unsigned ncap = p->cap_relays ? p->cap_relays * 2 : 16;
		struct relay **v = reallocarray(p->relays, ncap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->relays = v;
		p->cap_relays = ncap;
	}
	p->relays[p->n_relays++] = r;
	return 0;
}

void pool_apply_config(struct pool *p, const struct config *c)
{
	gate_set_max(p->env.gate, c->max_connecting);
	for (size_t i = 0; i < c->n_relays; i++) {
		const struct config_relay *cfg = &c->relays[i];
		/* A relay removed and added back before it finished draining starts afresh. */
		struct relay *r = find_by_name(p, cfg->name);
		if (r) {
			relay_reconfigure(r, cfg);
			continue;
		}
		r = relay_new(&p->env, cfg, &relay_callbacks, p);
		if (!r || append(p, r) < 0) {
			log_err("pool: out of memory adding relay %s, ignoring", cfg->name);
			if (r) {
				relay_retire(r);
				relay_unref(r);
			}
		}
	}
	for (unsigned i = 0; i < p->n_relays; i++) {
		struct relay *r = p->relays[i];
		if (!relay_draining(r) && !config_find_relay(c, relay_name(r)))
			relay_drain(r);
	}
	/* At start and on every reload; then daily. */
	fetch_all(p);
}

void pool_stop(struct pool *p, void (*done)(void *arg), void *arg)
{
	p->stopping = true;
	p->stopped = done;
	p->stopped_arg = arg;
	for (unsigned i = 0; i < p->n_relays; i++)
		relay_stop(p->relays[i], "relaypoold shutting down");
	schedule_sweep(p);
}

bool pool_stopping(const struct pool *p)
{
	return p->stopping;
}

unsigned pool_n_relays(const struct pool *p)
{
	return p->n_relays;
}

struct relay *pool_relay(const struct pool *p, unsigned i)
{
	return i < p->n_relays ? p->relays[i] : NULL;
}

/* ---- views ------------------------------------------------------------------------------- */

void pool_totals(const struct pool *p, uint64_t now, struct pool_totals *t)
{
	*t = p->retired;
	t->relays = t->relays_up = t->sessions = t->sessions_ready = t->sessions_authed = t->configured = 0;
	t->queued = t->inflight = 0;
	for (unsigned i = 0; i < p->n_relays; i++) {
		struct relay_view v;
		relay_view(p->relays[i], &v);
		add_view(t, &v, now);
		t->relays++;
		t->relays_up += v.sessions_ready > 0;
		t->sessions += v.sessions;
		t->sessions_ready += v.sessions_ready;
		for (unsigned k = 0; k < relay_n_sessions(p->relays[i]); k++)
			t->sessions_authed += session_auth(relay_session(p->relays[i], k)) == SESSION_AUTH_OK;
		t->configured += v.opts->sessions * v.opts->inflight;
		t->queued += v.queued;
		t->inflight += v.inflight;
	}
}

/* One relay as the relays op shows it: its view, its counters and its sessions. */
static json_t *relay_json(const struct relay *r)
{
	struct relay_view v;
	const struct relay_counters *c;
	json_t *sessions = json_array(), *o;
	const char *last_error = NULL, *why;

	relay_view(r, &v);
	c = v.c;
	for (unsigned i = 0; i < relay_n_sessions(r); i++) {
		const struct session *s = relay_session(r, i);
		json_array_append_new(sessions, session_json(s));
		if (session_last_error(s)[0])
			last_error = session_last_error(s);
	}
	o = json_pack("{s:s, s:s, s:b, s:i, s:i, s:i, s:i, s:i, s:s?, s:s?, s:b, s:I}", "name", v.name, "url", v.url,
		      "draining", v.draining, "sessions_ready", (int)v.sessions_ready, "sessions_configured",
		      (int)v.opts->sessions, "window", (int)v.opts->inflight, "inflight", (int)v.inflight, "queued",
		      (int)v.queued, "last_error", last_error, "last_notice", v.last_notice[0] ? v.last_notice : NULL,
		      "reachable", !relay_unreachable(r, &why), "cooldown_ms", (json_int_t)(v.cooldown_left_us / 1000));
	json_object_set_new(o, "counters",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				      "submitted", (json_int_t)c->submitted, "accepted", (json_int_t)c->accepted,
				      "duplicates", (json_int_t)c->duplicates, "rejected", (json_int_t)c->rejected,
				      "rejected_invalid", (json_int_t)c->rejected_invalid, "rejected_other",
				      (json_int_t)c->rejected_other, "auth_required", (json_int_t)c->auth_required,
				      "rate_limited", (json_int_t)c->rate_limited, "failed", (json_int_t)c->failed,
				      "timeouts", (json_int_t)c->timeouts, "retries", (json_int_t)c->retries, "late_oks",
				      (json_int_t)c->late_oks, "reconnects", (json_int_t)c->reconnects, "notices",
				      (json_int_t)c->notices, "queue_full", (json_int_t)c->queue_full, "expired",
				      (json_int_t)c->expired));
	json_object_set_new(json_object_get(o, "counters"), "auth_retries", json_integer((json_int_t)c->auth_retries));
	json_object_set_new(json_object_get(o, "counters"), "rate_waits", json_integer((json_int_t)v.rate_waits));
	json_object_set_new(o, "max_rate", v.opts->max_rate ? json_integer(v.opts->max_rate) : json_null());
	json_object_set_new(o, "sessions", sessions);
	return o;
}

json_t *pool_relays_json(const struct pool *p)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < p->n_relays; i++)
		json_array_append_new(a, relay_json(p->relays[i]));
	return a;
}
