/* outbox.h - the durable outbox: one row per (event, relay) in the cache database, written
 * in the cache's group-committed batches. A publish is acknowledged only after its rows are
 * committed; the rows follow their jobs to accepted, rejected or expired; rows still pending
 * after a crash or restart are delivered again. */
#ifndef RELAYPOOL_OUTBOX_H
#define RELAYPOOL_OUTBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "event.h"

struct cache;
struct daemon;
struct relay;
struct outbox;

enum outbox_state {
	OUTBOX_PENDING = 0,  /* waiting or in flight */
	OUTBOX_ACCEPTED = 1,
	OUTBOX_REJECTED = 2, /* the relay refused it, with its message */
	OUTBOX_EXPIRED = 3,  /* out of attempts, or older than max_age */
};

const char *outbox_state_name(enum outbox_state s);

int outbox_new(struct cache *c, struct outbox **out);
void outbox_free(struct outbox *o);

/* Adds (or re-arms, if it already exists) the row for (ev, relay) as pending; relay is the
 * cache's relay id. The event's JSON is kept for redelivery unless in_cache says the events
 * table has it. Part of the current batch. */
int outbox_add(struct outbox *o, const struct nostr_event *ev, bool in_cache, int64_t relay, int64_t *oid);
/* Records a row's outcome (part of the current batch). */
int outbox_settle(struct outbox *o, int64_t oid, enum outbox_state state, unsigned attempts, const char *msg);
/* Submits ev to r with a waiter that records the outcome in row oid. */
int outbox_deliver(struct daemon *d, struct relay *r, const struct nostr_event *ev, int64_t oid);
/* Submits every pending row whose relay is configured and not already delivering it.
 * Runs at start and after every reload. Returns the number of rows submitted. */
int outbox_resume(struct daemon *d);

/* Rows for the outbox op: state_filter NULL (all), "pending" or "failed" (rejected and
 * expired); relay_url NULL for all. At most limit rows, oldest first. */
json_t *outbox_list(struct daemon *d, const char *state_filter, const char *relay_url, long long limit, char **why);
/* Selects rows by row id (oid > 0) or by event id (all its rows). retry re-arms them as
 * pending with fresh attempts and delivers them; drop deletes them and cancels delivery.
 * Returns the number of rows affected. */
int outbox_retry(struct daemon *d, int64_t oid, const uint8_t *event_id);
int outbox_drop(struct daemon *d, int64_t oid, const uint8_t *event_id);
/* Counts per state for status. */
json_t *outbox_counts(struct daemon *d);

#endif
