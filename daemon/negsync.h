/* negsync.h - one relay's NIP-77 reconciliation for a sync request: the cache's
 * (created_at, id) keys for the filter against the relay's, in chunks of bounded size, over
 * NEG-OPEN / NEG-MSG on one of the relay's sessions; the ids only the relay has are fetched
 * by REQ {"ids": [...]} in batches, verified and stored while the reconciliation goes on
 * (it pauses while too many ids wait). */
#ifndef RELAYPOOL_NEGSYNC_H
#define RELAYPOOL_NEGSYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct cache;
struct db;
struct event_base;
struct negsync;
struct relay;
struct verifier;

struct negsync_env {
	struct event_base *base;
	struct db *db;
	struct cache *cache;
	struct verifier *verifier;
};

struct negsync_stats {
	unsigned long long have;     /* ids only in the cache */
	unsigned long long need;     /* ids only at the relay */
	unsigned long long missing;  /* needed, but the relay did not send them when asked */
	unsigned long long rounds;   /* NEG-MSG round trips (NEG-OPEN's answer included) */
	unsigned long long bytes;    /* NEG-OPEN / NEG-MSG payload bytes both ways (hex, as on the wire) */
	unsigned long long chunks;   /* NEG-OPENs */
	unsigned long long fetches;  /* REQs by ids */
	unsigned long long received, fresh, duplicates, invalid;
};

enum negsync_failure {
	NEGSYNC_BROKE,       /* the relay had spoken NIP-77, then failed (NEG-ERR, bad message, ...) */
	NEGSYNC_UNSUPPORTED, /* no sign of NIP-77: a NOTICE or no answer to NEG-OPEN */
	NEGSYNC_UNREACHABLE, /* no session and the relay cannot be reached (why says why) */
};

struct negsync_ops {
	/* Every needed event is stored (in the open batch or an earlier one). */
	void (*done)(void *arg);
	/* The reconciliation ended without finishing. */
	void (*failed)(void *arg, const char *why, enum negsync_failure kind);
	/* An id the relay lacks (NULL: not wanted). */
	void (*have)(void *arg, const uint8_t id[32]);
};

struct negsync_params {
	const json_t *filter; /* validated; its since/until/limit are ignored */
	int64_t since, until; /* the window, inclusive */
	int64_t relay_id;     /* the cache's id of the relay (for the seen marks) */
	bool probe;           /* the relay's support is not known: a short wait for the first answer */
};

/* Takes a reference on r. ops are called from the loop, never from negsync_start. */
int negsync_start(const struct negsync_env *env, struct relay *r, const struct negsync_params *p,
		  const struct negsync_ops *ops, void *arg, struct negsync **out);
/* The counts so far. */
const struct negsync_stats *negsync_stats(struct negsync *ns);
/* Stops (NEG-CLOSE, CLOSE) without callbacks; the memory goes once no verification is out. */
void negsync_free(struct negsync *ns);

#endif
