/* pool.c - all relays: creation and reconfiguration from the config, the shared TLS
 * context and asynchronous DNS resolver, the pool-wide connect limiter (so a network blip
 * does not become a reconnect storm), draining removed relays, and orderly shutdown. */
#include <errno.h>
#include <event2/dns.h>
#include <openssl/ssl.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "pool.h"
#include "relay.h"
#include "stats.h"

int pool_new(struct daemon *d, struct pool **out)
{
	struct pool *p = calloc(1, sizeof(*p));
	SSL_CTX *ctx;

	if (!p)
		return -ENOMEM;
	p->d = d;
	p->base = d->base;
	TAILQ_INIT(&p->relays);
	TAILQ_INIT(&p->connect_wait);
	p->max_connecting = 16;
	p->dns = evdns_base_new(d->base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!p->dns) {
		/* No usable resolv.conf: IP literals still work; names fail per connection. */
		log_warn("pool: no DNS resolver configured (/etc/resolv.conf?), relay host names will not resolve");
		p->dns = evdns_base_new(d->base, 0);
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (!p->dns || !ctx) {
		SSL_CTX_free(ctx);
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
	p->ssl_ctx = ctx;
	if (stats_start(p) < 0) {
		pool_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

void pool_free(struct pool *p)
{
	struct relay *r;

	if (!p)
		return;
	while ((r = TAILQ_FIRST(&p->relays))) {
		TAILQ_REMOVE(&p->relays, r, link);
		relay_free(r);
	}
	stats_stop(p);
	if (p->dns)
		evdns_base_free(p->dns, 0);
	SSL_CTX_free(p->ssl_ctx);
	free(p);
}

static struct relay *find_by_name(struct pool *p, const char *name, bool include_draining)
{
	struct relay *r;

	TAILQ_FOREACH(r, &p->relays, link)
		if (strcmp(r->name, name) == 0 && (include_draining || !r->draining))
			return r;
	return NULL;
}

struct relay *pool_find_relay(struct pool *p, const char *name_or_url)
{
	struct relay *r = find_by_name(p, name_or_url, false);
	struct wsurl u;
	const char *why;
	char normal[1400];

	if (r || wsurl_parse(name_or_url, &u, &why) < 0)
		return r;
	wsurl_format(&u, normal, sizeof(normal));
	TAILQ_FOREACH(r, &p->relays, link)
		if (!r->draining && strcmp(r->url, normal) == 0)
			return r;
	return NULL;
}

void pool_apply_config(struct pool *p, const struct config *c)
{
	struct relay *r, *next;

	p->max_connecting = c->max_connecting;
	for (size_t i = 0; i < c->n_relays; i++) {
		const struct config_relay *cfg = &c->relays[i];
		r = find_by_name(p, cfg->name, true);
		if (r && r->draining) {
			/* Removed, then added back before it finished draining: start afresh. */
			r->name[0] = '\0';
			r = NULL;
		}
		if (r) {
			relay_reconfigure(r, cfg);
			continue;
		}
		r = relay_new(p, cfg);
		if (!r) {
			log_err("pool: out of memory adding relay %s, ignoring", cfg->name);
			continue;
		}
		TAILQ_INSERT_TAIL(&p->relays, r, link);
		p->n_relays++;
	}
	for (r = TAILQ_FIRST(&p->relays); r; r = next) {
		next = TAILQ_NEXT(r, link);
		if (!r->draining && !config_find_relay(c, r->name))
			relay_drain(r);
	}
}

/* ---- connect slots ----------------------------------------------------------------------- */

static void grant_slots(struct pool *p)
{
	struct session *s;

	while (p->connecting < p->max_connecting && (s = TAILQ_FIRST(&p->connect_wait))) {
		TAILQ_REMOVE(&p->connect_wait, s, connect_link);
		p->connecting++;
		session_connect_now(s);
	}
}

void pool_want_connect(struct pool *p, struct session *s)
{
	s->waiting_slot = true;
	TAILQ_INSERT_TAIL(&p->connect_wait, s, connect_link);
	grant_slots(p);
}

void pool_connect_done(struct pool *p, struct session *s)
{
	(void)s;
	if (p->connecting > 0)
		p->connecting--;
	grant_slots(p);
}

void pool_cancel_connect(struct pool *p, struct session *s)
{
	if (s->waiting_slot) {
		TAILQ_REMOVE(&p->connect_wait, s, connect_link);
		s->waiting_slot = false;
	}
}

/* ---- draining and stopping ------------------------------------------------------------- */

static bool all_stopped(const struct relay *r)
{
	for (unsigned i = 0; i < r->n_sessions; i++)
		if (r->sessions[i]->state != SESSION_STOPPED)
			return false;
	return true;
}

/* Frees relays whose sessions all stopped, and ends a shutdown. Runs from the loop, never
 * from inside a session's own callbacks. */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool *p = arg;
	struct relay *r, *next;
	bool busy = false;

	(void)fd, (void)what;
	for (r = TAILQ_FIRST(&p->relays); r; r = next) {
		next = TAILQ_NEXT(r, link);
		for (unsigned i = r->n_sessions; i-- > r->opts.sessions;)
			if (r->sessions[i]->state == SESSION_STOPPED && !r->draining && !p->stopping)
				relay_remove_session(r, r->sessions[i]);
		if ((r->draining || p->stopping) && all_stopped(r)) {
			if (r->draining)
				log_info("relay %s: drained and removed", r->name[0] ? r->name : "(replaced)");
			TAILQ_REMOVE(&p->relays, r, link);
			p->n_relays--;
			relay_free(r);
			continue;
		}
		busy = true;
	}
	if (p->stopping && !busy && p->stopped) {
		void (*done)(struct daemon *) = p->stopped;
		p->stopped = NULL;
		done(p->d);
	}
}

static void schedule_sweep(struct pool *p)
{
	event_base_once(p->base, -1, EV_TIMEOUT, sweep_cb, p, NULL);
}

void pool_relay_idle(struct pool *p, struct relay *r)
{
	for (unsigned i = 0; i < r->n_sessions; i++)
		session_close(r->sessions[i], 1001, "relay removed from the configuration", true);
	schedule_sweep(p);
}

void pool_session_stopped(struct pool *p, struct session *s)
{
	(void)s;
	schedule_sweep(p);
}

void pool_stop(struct pool *p, void (*done)(struct daemon *d))
{
	struct relay *r;

	p->stopping = true;
	p->stopped = done;
	TAILQ_FOREACH(r, &p->relays, link)
		for (unsigned i = 0; i < r->n_sessions; i++)
			session_close(r->sessions[i], 1001, "relaypoold shutting down", true);
	schedule_sweep(p);
}

/* ---- views ------------------------------------------------------------------------------- */

json_t *pool_relays_json(const struct pool *p)
{
	json_t *a = json_array();
	const struct relay *r;

	TAILQ_FOREACH(r, &p->relays, link)
		json_array_append_new(a, relay_json(r));
	return a;
}

void pool_summary(const struct pool *p, unsigned *relays_up, unsigned *sessions_ready, unsigned *sessions_total,
		  unsigned long long *queued, unsigned long long *inflight)
{
	const struct relay *r;

	*relays_up = *sessions_ready = *sessions_total = 0;
	*queued = *inflight = 0;
	TAILQ_FOREACH(r, &p->relays, link) {
		unsigned ready = relay_sessions_ready(r);
		*relays_up += ready > 0;
		*sessions_ready += ready;
		*sessions_total += r->n_sessions;
		*queued += r->queue_len;
		for (unsigned i = 0; i < r->n_sessions; i++)
			*inflight += r->sessions[i]->n_inflight;
	}
}
