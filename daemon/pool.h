/* pool.h - every relay of the daemon: creation from the config and changes on reload, the
 * shared TLS context, DNS resolver and connect gate its sessions use, draining removed
 * relays, orderly shutdown, and the pool-wide sums of the relays' figures. */
#ifndef RELAYPOOL_POOL_H
#define RELAYPOOL_POOL_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct config;
struct pool;
struct relay;

int pool_new(struct event_base *base, struct pool **out);
void pool_free(struct pool *p);
/* How sessions sign NIP-42 AUTH events (before the first pool_apply_config); none: they
 * leave challenges unanswered. */
void pool_set_signer(struct pool *p, int (*sign_auth)(void *arg, const char *relay_url, const char *challenge,
						      char **json, uint8_t id[32]),
		     void *arg);
/* Brings the relays in line with c: creates, reconfigures and drains. */
void pool_apply_config(struct pool *p, const struct config *c);
/* Closes every session politely (bounded wait); done(arg) runs when all are closed. */
void pool_stop(struct pool *p, void (*done)(void *arg), void *arg);
bool pool_stopping(const struct pool *p);

/* By name, or by URL (compared in normal form). Draining relays are not found. */
struct relay *pool_find_relay(const struct pool *p, const char *name_or_url);
/* Every relay, draining ones included, in configuration order. */
unsigned pool_n_relays(const struct pool *p);
struct relay *pool_relay(const struct pool *p, unsigned i);

/* Sums over the relays, including those already removed (so windows never go back). */
struct pool_totals {
	unsigned relays, relays_up, sessions, sessions_ready, sessions_authed, configured;
	unsigned long long queued, inflight;
	double inflight_area, waiting_area; /* job-microseconds */
	uint64_t completed, rate_limited, timeouts;
};
void pool_totals(const struct pool *p, uint64_t now_us, struct pool_totals *t);
json_t *pool_relays_json(const struct pool *p);

#endif
