/* cache.h - the local event cache: events with replaceable/addressable semantics, the
 * single-letter tag index, which relays have each event, relay ids, sync cursors, and
 * NIP-01 filter queries. It writes into db.c's batches: nothing it stores is on disk
 * before the batch commits (db_after_commit). */
#ifndef RELAYPOOL_CACHE_H
#define RELAYPOOL_CACHE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "event.h"

struct cache;
struct db;

int cache_new(struct db *db, struct cache **out);
void cache_free(struct cache *c);

/* ---- events ---------------------------------------------------------------------------- */

enum cache_store {
	CACHE_NEW,       /* stored */
	CACHE_DUPLICATE, /* already there */
	CACHE_REPLACED,  /* stored, and an older version of a replaceable/addressable event removed */
	CACHE_STALE,     /* a newer version of this replaceable/addressable event is already there */
	CACHE_EPHEMERAL, /* kinds 20000-29999 are not stored */
};

/* Stores a verified event, all of it or nothing (a savepoint of its own). relay > 0 also
 * records it as seen on that relay. */
int cache_store_event(struct cache *c, const struct nostr_event *ev, int64_t relay, enum cache_store *res);
/* The same inside a savepoint the caller holds (and releases), for a caller that writes more
 * with the event: one savepoint instead of two. */
int cache_store_event_held(struct cache *c, const struct nostr_event *ev, int64_t relay, enum cache_store *res);
/* Records that relay has the event (flags: CACHE_SEEN from sync, CACHE_DELIVERED by publish). */
enum { CACHE_SEEN = 1, CACHE_DELIVERED = 2 };
int cache_mark(struct cache *c, const uint8_t id[32], int64_t relay, int flags);

/* 1 if the cache holds this very event (same id and same signature: verified when it was
 * stored, so it needs no verification again), 0 if not, < 0 on error. */
int cache_known(struct cache *c, const struct nostr_event *ev);

/* The numeric id of a relay URL (created on first use). */
int cache_relay_id(struct cache *c, const char *url, int64_t *id);

/* ---- sync cursors ---------------------------------------------------------------------- */

/* The cursor of (relay, filter key): the time up to which that filter is complete; 0 if none. */
int cache_get_cursor(struct cache *c, int64_t relay, const char *filter_key, int64_t *until);
int cache_set_cursor(struct cache *c, int64_t relay, const char *filter_key, int64_t until);

/* ---- queries ----------------------------------------------------------------------------- */

/* Prepares a query for NIP-01 filters (an array of filter objects, OR'ed), newest first
 * (ties: lowest id first), at most limit events in all (limit < 0: no overall limit).
 * Step with cache_query_next; finalize with sqlite3_finalize. */
int cache_query(struct cache *c, const json_t *filters, long long limit, sqlite3_stmt **stmt, char **why);
/* 1 with *json (valid until the next step) and its length, 0 at the end, < 0 on error. */
int cache_query_next(sqlite3_stmt *stmt, const char **json, size_t *len);
/* The id of the row cache_query_next returned last. */
int cache_query_id(sqlite3_stmt *stmt, uint8_t id[32]);

/* The (created_at, id) keys of the events one filter matches (its since/until included),
 * newest first (in no order within a second), at most limit: what a NIP-77 reconciliation
 * compares. Step with cache_keys_next: 1 with the key, 0 at the end, < 0 on error. */
int cache_keys(struct cache *c, const json_t *filter, long long limit, sqlite3_stmt **stmt, char **why);
int cache_keys_next(sqlite3_stmt *stmt, int64_t *created_at, uint8_t id[32]);

/* Counts for status: events, outbox rows by state. */
int cache_count_events(struct cache *c, long long *n);

#endif
