/* live.h - live subscriptions of local clients (the subscribe op): each is a filter set on
 * some relays, served from the cache first and then from shared relay REQs (feed.h), every
 * event id delivered once per subscriber, a slow reader losing events (counted and told)
 * instead of growing the daemon, and one "eose" item once history is complete. */
#ifndef RELAYPOOL_LIVE_H
#define RELAYPOOL_LIVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct cache;
struct event_base;
struct live;
struct relay;
struct request;
struct verifier;

struct live_env {
	struct event_base *base;
	struct cache *cache;
	struct verifier *verifier;
};

int live_new(const struct live_env *env, struct live **out);
/* Ends what is left (ends subscribers as live_stop does). */
void live_free(struct live *L);
/* The daemon is stopping: every subscriber ends with shutting_down, every REQ is closed. */
void live_stop(struct live *L);

/* Ids a subscriber remembers to deliver each event once (relays repeat each other, the
 * cache replay and the relays' history overlap). */
#define LIVE_SEEN_IDS 65536

struct live_params {
	const json_t *filters; /* validated array of NIP-01 filters */
	bool cache;            /* replay matching cached events first */
	bool live;             /* false: end after the eose item */
};

/* Starts a subscription answering r on the n relays (one reference each, taken over). On
 * failure r is answered with the error. */
void live_subscribe(struct live *L, struct request *r, struct relay **relays, size_t n, const struct live_params *p);
/* Ends the subscription that asker's client opened with request id id; the subscription
 * gets its final line. 0, or -ENOENT when that client has no such subscription. */
int live_unsubscribe(struct live *L, const struct request *asker, const json_t *id);

struct live_totals {
	unsigned long long subscribers, started, delivered, cached, duplicates, dropped;
	unsigned long long feeds, taps, placed, events_in, fresh, invalid, reqs, resent, closed;
};
void live_totals(const struct live *L, struct live_totals *t);
/* {"feeds": [...], "subscribers": [...]} for the subscriptions op. */
json_t *live_json(const struct live *L);

#endif
