/* cache.h - the local event cache (SQLite, WAL): schema and migrations, batched writes
 * (group commit), events with replaceable/addressable semantics, the single-letter tag
 * index, which relays have each event, sync cursors, and NIP-01 filter queries. The
 * durable outbox (outbox.c) lives in the same database and the same write batches. */
#ifndef RELAYPOOL_CACHE_H
#define RELAYPOOL_CACHE_H

#include <event2/event.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "event.h"

#define CACHE_SCHEMA_VERSION 1

struct cache;

/* Opens (creating or migrating) the cache. A corrupted or unwritable file is an error
 * with a clear message in *why, never a silent reset. */
int cache_open(const char *path, struct event_base *base, struct cache **out, char **why);
/* Commits what is pending, then closes. */
void cache_close(struct cache *c);
sqlite3 *cache_db(struct cache *c);
const char *cache_path(const struct cache *c);

/* ---- batched writes ------------------------------------------------------------------- *
 * Writes run at once inside an open transaction, which commits within a few milliseconds
 * (or sooner when the batch is large). Nothing is promised to anyone before the commit:
 * callbacks registered with cache_after_commit run after it (err 0) or after a failed
 * commit was rolled back (err < 0). */
typedef void (*cache_done_fn)(void *arg, int err);
/* Opens the batch transaction if none is open; returns 0 or a negative errno. */
int cache_write_begin(struct cache *c);
/* Counts one write toward the batch size. */
void cache_write_done(struct cache *c);
int cache_after_commit(struct cache *c, cache_done_fn fn, void *arg);
/* Commits now (used at shutdown and by tests). */
int cache_flush(struct cache *c);

/* ---- events ---------------------------------------------------------------------------- */

enum cache_store {
	CACHE_NEW,       /* stored */
	CACHE_DUPLICATE, /* already there */
	CACHE_REPLACED,  /* stored, and an older version of a replaceable/addressable event removed */
	CACHE_STALE,     /* a newer version of this replaceable/addressable event is already there */
	CACHE_EPHEMERAL, /* kinds 20000-29999 are not stored */
};

/* Stores a verified event. relay > 0 also records it as seen on that relay. */
int cache_store_event(struct cache *c, const struct nostr_event *ev, int64_t relay, enum cache_store *res);
/* Records that relay has the event (flags: CACHE_SEEN from sync, CACHE_DELIVERED by publish). */
enum { CACHE_SEEN = 1, CACHE_DELIVERED = 2 };
int cache_mark(struct cache *c, const uint8_t id[32], int64_t relay, int flags);

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

/* Counts for status: events, outbox rows by state. */
int cache_count_events(struct cache *c, long long *n);

#endif
