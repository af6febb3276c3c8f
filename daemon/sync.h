/* sync.h - bringing the cache up to date with relays: per (relay, filter) cursors, REQ
 * pagination with until/limit, time slices in parallel for large first syncs, retries on
 * CLOSED / lost sessions, every event verified and stored; the cursor advances only once a
 * whole window is committed. */
#ifndef RELAYPOOL_SYNC_H
#define RELAYPOOL_SYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct cache;
struct db;
struct event_base;
struct relay;
struct request;
struct syncer;
struct verifier;

struct syncer_env {
	struct event_base *base;
	struct db *db;
	struct cache *cache;
	struct verifier *verifier;
	/* --up: queue the cache's events ids[0..n) for delivery to r (the outbox); the number
	 * queued, or < 0. Registered by the daemon (the publisher does it). */
	int (*upload)(void *arg, struct relay *r, const uint8_t (*ids)[32], size_t n);
	void *upload_arg;
};

int syncer_new(const struct syncer_env *env, struct syncer **out);
void syncer_free(struct syncer *S);

/* Events asked for per REQ page (strfry's default cap is 500 per filter). */
#define SYNC_PAGE 500

enum sync_method {
	SYNC_AUTO,       /* NIP-77 where the relay supports it (NIP-11, or a probe), else REQ */
	SYNC_NEGENTROPY, /* NIP-77 only: a relay without it fails */
	SYNC_REQ,        /* REQ pagination from the cursor */
};
/* "auto", "negentropy", "req": 0, or -EINVAL. */
int sync_method_parse(const char *s, enum sync_method *out);

struct sync_params {
	enum sync_method method;
	const json_t *filter; /* validated NIP-01 filter (since/until bound the window, limit ignored) */
	bool have_since;
	int64_t since; /* explicit lower bound instead of the cursor */
	bool progress; /* stream progress items */
	bool up;       /* NIP-77: also publish (through the outbox) what the relay lacks */
};

/* Syncs the n relays (one reference each, taken over) and answers r with per-relay results. */
void sync_start(struct syncer *S, struct request *r, struct relay **relays, size_t n, const struct sync_params *p);

#endif
