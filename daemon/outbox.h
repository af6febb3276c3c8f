/* outbox.h - the durable outbox: one row per (event, relay) in the database, written in its
 * group-committed batches. A publish is acknowledged only after its rows are committed;
 * the rows follow their deliveries to accepted, rejected or expired; rows still pending
 * after a crash or restart are delivered again. This module keeps the rows; publish.c
 * delivers them. */
#ifndef RELAYPOOL_OUTBOX_H
#define RELAYPOOL_OUTBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct db;
struct outbox;

enum outbox_state {
	OUTBOX_PENDING = 0, /* waiting or in flight */
	OUTBOX_ACCEPTED = 1,
	OUTBOX_REJECTED = 2, /* the relay refused it, with its message */
	OUTBOX_EXPIRED = 3,  /* out of attempts, or older than max_age */
};

const char *outbox_state_name(enum outbox_state s);

int outbox_new(struct db *db, struct outbox **out);
void outbox_free(struct outbox *o);

/* Adds (or re-arms, if it exists) the row for (ev, relay) as pending; relay is the cache's
 * relay id. The event's JSON is kept for redelivery unless in_cache says the events table
 * has it. Part of the current batch; the caller holds a savepoint around its rows. */
int outbox_add(struct outbox *o, const struct nostr_event *ev, bool in_cache, int64_t relay, int64_t *oid);
/* Records a row's outcome (part of the current batch). */
int outbox_settle(struct outbox *o, int64_t oid, enum outbox_state state, unsigned attempts, const char *msg);

/* A pending row, for redelivery. json is NULL when the events table no longer has the
 * event (a newer version of a replaceable event replaced it). */
struct outbox_row {
	int64_t oid;
	const char *url;
	const char *json;
	size_t json_len;
	int64_t created_at; /* the first publish, wall clock */
};
/* Calls fn for every pending row, oldest first; fn returning < 0 stops (and is returned). */
int outbox_each_pending(struct outbox *o, int (*fn)(void *arg, const struct outbox_row *row), void *arg);

/* Rows for the outbox op, oldest first: state_filter NULL (all), "pending" or "failed"
 * (rejected and expired); relay_url NULL for all; at most limit. Each row: row, event_id,
 * url, state (as stored), attempts, message, created_at, updated_at. */
json_t *outbox_list(struct outbox *o, const char *state_filter, const char *relay_url, long long limit, char **why);
/* The rows of one row id (oid > 0) or of one event id: [{row, url, event_id}]. */
json_t *outbox_select(struct outbox *o, int64_t oid, const uint8_t *event_id);
/* Re-arms the selected rows as pending with fresh attempts, or deletes them. 0 or -EIO. */
int outbox_rearm(struct outbox *o, const json_t *rows);
int outbox_delete(struct outbox *o, const json_t *rows);
/* Counts per state. */
json_t *outbox_counts(struct outbox *o);

#endif
