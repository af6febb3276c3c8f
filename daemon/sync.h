/* sync.h - bringing the cache up to date with relays: per (relay, filter) cursors, REQ
 * pagination with until/limit, time slices in parallel for large first syncs, retries on
 * CLOSED / lost sessions, every event verified and stored; the cursor advances only once a
 * whole window is committed. */
#ifndef RELAYPOOL_SYNC_H
#define RELAYPOOL_SYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct request;
struct relay;

/* Events asked for per REQ page (strfry's default cap is 500 per filter). */
#define SYNC_PAGE 500

struct sync_params {
	const json_t *filter; /* validated NIP-01 filter (since/until bound the window, limit ignored) */
	bool have_since;
	int64_t since; /* explicit lower bound instead of the cursor */
	bool progress; /* stream progress items */
};

/* Syncs the n relays (by name) and answers r with per-relay results. */
void sync_start(struct daemon *d, struct request *r, char **relay_names, size_t n, const struct sync_params *p);

#endif
