/* feed.h - the shared relay REQs of live subscriptions. A feed is one REQ on one relay for
 * one filter set; every local subscriber with an identical filter set on that relay taps
 * the same feed. The feed places its REQ on a session with room (relay_subscribe), keeps it
 * open across reconnects (re-sent with since = the newest created_at it delivered minus
 * the relay's sync_overlap), retries a CLOSED that says "try later", verifies and stores
 * every event once, and hands each new event to its taps. The REQ is closed when the last
 * tap leaves.
 *
 * The feed reports to its taps only through the callbacks they registered (feed_tap_ops). */
#ifndef RELAYPOOL_FEED_H
#define RELAYPOOL_FEED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "event.h"

struct cache;
struct event_base;
struct feed;
struct feeds;
struct relay;
struct verifier;

struct feeds_env {
	struct event_base *base;
	struct cache *cache;
	struct verifier *verifier;
};

int feeds_new(const struct feeds_env *env, struct feeds **out);
/* Closes every feed; their taps must be gone already. */
void feeds_free(struct feeds *F);

/* Where a feed's history stands, as its taps see it. */
enum feed_state {
	FEED_WAITING, /* REQ not placed yet, or out and no EOSE yet */
	FEED_EOSE,    /* the relay sent EOSE once: history is in the cache, the rest comes live */
	FEED_FAILED,  /* no EOSE to be had now (unreachable, no EOSE in time); still trying */
	FEED_CLOSED,  /* ended for good (the relay closed it, or the relay was removed) */
};
const char *feed_state_name(enum feed_state st);

struct feed_tap_ops {
	/* A verified event new to this feed, already stored in the cache; item is the text
	 * {"event":{...},"relay":"name"} every tap can send as is. */
	void (*event)(void *arg, const struct nostr_event *ev, const char *item, size_t len);
	/* The state changed (why: the relay's last error or CLOSED message, or ""). With
	 * FEED_CLOSED the tap is already detached. */
	void (*state)(void *arg, enum feed_state st, const char *why);
};

/* A subscriber's hold on a feed; the subscriber embeds it. */
struct feed_tap {
	const struct feed_tap_ops *ops;
	void *arg;
	struct feed *feed; /* NULL when not attached */
	LIST_ENTRY(feed_tap) link;
};

/* Attaches t to the feed of (relay, filters), opening one if there is none yet. 0, or
 * -ENOSPC when opening one would pass the relay's live REQ capacity (sessions x
 * (max_subscriptions - 1)), -ESHUTDOWN when the relay is being removed, -ENOMEM. */
int feeds_attach(struct feeds *F, struct relay *r, const json_t *filters, struct feed_tap *t);
/* Detaches t (no callback); the feed's REQ is closed when its last tap leaves. */
void feed_detach(struct feed_tap *t);
enum feed_state feed_state(const struct feed *f, const char **why);
/* The live REQs a relay of this name may hold at most. */
unsigned feeds_capacity(const struct relay *r);

struct feeds_totals {
	unsigned long long feeds, taps, placed;
	unsigned long long events_in, fresh, duplicates, invalid, reqs, resent, closed;
};
void feeds_totals(const struct feeds *F, struct feeds_totals *t);
/* One object per feed: relay, filters, state, taps, counters. */
json_t *feeds_json(const struct feeds *F);

#endif
