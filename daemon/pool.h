/* pool.h - every relay of the daemon: creation from the config and changes on reload, the
 * shared TLS context and DNS resolver, the pool-wide limit on simultaneous connection
 * attempts, and orderly shutdown. */
#ifndef RELAYPOOL_POOL_H
#define RELAYPOOL_POOL_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/queue.h>

struct daemon;
struct config;
struct relay;
struct session;
struct pool_stats;

struct pool {
	struct daemon *d;
	struct event_base *base;
	struct evdns_base *dns;
	void *ssl_ctx; /* SSL_CTX * */
	TAILQ_HEAD(, relay) relays;
	unsigned n_relays;
	unsigned max_connecting;
	unsigned connecting;
	TAILQ_HEAD(, session) connect_wait;
	bool stopping;
	void (*stopped)(struct daemon *d);
	struct pool_stats *stats;
};

int pool_new(struct daemon *d, struct pool **out);
void pool_free(struct pool *p);
/* Brings the relays in line with c: creates, reconfigures and drains. */
void pool_apply_config(struct pool *p, const struct config *c);
/* Closes every session politely (bounded wait); done() runs when all are closed. */
void pool_stop(struct pool *p, void (*done)(struct daemon *d));

/* By name, or by URL (compared in normal form). Draining relays are not found. */
struct relay *pool_find_relay(struct pool *p, const char *name_or_url);

/* Connect slots (max_connecting pool-wide). */
void pool_want_connect(struct pool *p, struct session *s);
void pool_connect_done(struct pool *p, struct session *s);
void pool_cancel_connect(struct pool *p, struct session *s);

/* A relay finished draining, or a session stopped (shutdown progress). */
void pool_relay_idle(struct pool *p, struct relay *r);
void pool_session_stopped(struct pool *p, struct session *s);

json_t *pool_relays_json(const struct pool *p);
/* "n/m relays up": relays with at least one ready session. */
void pool_summary(const struct pool *p, unsigned *relays_up, unsigned *sessions_ready, unsigned *sessions_total,
		  unsigned long long *queued, unsigned long long *inflight);

#endif
