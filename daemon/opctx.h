/* opctx.h - what the op handlers work with: the daemon's modules, handed over by the daemon
 * at start (request_ctx() returns it), and helpers every op family shares. Only the ops see
 * this bundle; the modules below them get what they need at creation. */
#ifndef RELAYPOOL_OPCTX_H
#define RELAYPOOL_OPCTX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct cache;
struct config;
struct db;
struct key;
struct live;
struct metrics;
struct outbox;
struct pool;
struct publisher;
struct relay;
struct request;
struct stats;
struct syncer;
struct verifier;

/* What only the daemon knows, for status. */
struct daemon_info {
	time_t started_at;   /* wall clock */
	uint64_t started_us; /* monotonic */
	const char *config_path;
	unsigned clients;
	unsigned long long requests, reloads, reload_failures;
};

struct opctx {
	struct event_base *base;
	const struct config *config; /* the running configuration (the daemon swaps it on reload) */
	struct key *key;             /* NULL without [daemon] key */
	struct pool *pool;
	struct db *db;
	struct cache *cache;
	struct outbox *outbox;
	struct publisher *publisher;
	struct syncer *syncer;
	struct live *live;
	struct verifier *verifier;
	struct stats *stats;
	struct metrics *metrics;
	/* Calls up into the daemon, through callbacks it registered. */
	void *owner;
	int (*reload)(void *owner, json_t **diff, char **errors);
	void (*info)(void *owner, struct daemon_info *out);
};

struct opctx *opctx_of(const struct request *r);
/* The configured relay named (or located at) name_or_url, with a reference for the caller;
 * NULL after answering r with unknown_relay if there is none. */
struct relay *opctx_relay_or_fail(struct request *r, const char *name_or_url);
/* "filter": {...} or "filters": [{...}, ...] (or one {...}) -> a validated array (new reference); NULL
 * after answering r. */
json_t *opctx_filters(struct request *r, json_t *args);
/* How many requests a client should keep outstanding (hello's "window"): enough to keep
 * every slot of the largest relay busy twice over, and no more, so nothing waits long in
 * the daemon. */
unsigned opctx_window(const struct opctx *o);

/* The target relays of a request, one reference each. */
#define OPCTX_MAX_TARGETS 1024
struct opctx_targets {
	struct relay *v[OPCTX_MAX_TARGETS];
	size_t n;
};
/* "relays" (names or URLs) and "group"; neither means every configured relay. False after
 * answering r (unknown relay or group, no target). */
bool opctx_targets(struct request *r, json_t *args, struct opctx_targets *t);
void opctx_targets_release(struct opctx_targets *t);

#endif
