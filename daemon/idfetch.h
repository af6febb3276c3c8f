/* idfetch.h - events fetched from one relay by id: a queue of ids, REQs of
 * {"ids": [...], "limit": n} in batches (500, or the relay's NIP-11 max_limit) with up to 4
 * out at once, every event checked against what was asked and the sync's filter and window,
 * verified (worker threads) and stored with the relay's "seen" mark. A lost session or a
 * CLOSED that says "later" puts the batch back (8 times at most); an id the relay does not
 * send is counted as missing. NIP-77 sync feeds it the ids only the relay has. */
#ifndef RELAYPOOL_IDFETCH_H
#define RELAYPOOL_IDFETCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache;
struct event_base;
struct idfetch;
struct relay;
struct verifier;

struct idfetch_env {
	struct event_base *base;
	struct cache *cache;
	struct verifier *verifier;
};

struct idfetch_stats {
	unsigned long long fetches;  /* REQs sent */
	unsigned long long missing;  /* asked for, not sent */
	unsigned long long received, fresh, duplicates, invalid;
};

struct idfetch_ops {
	/* A batch ended or an event was stored: the queue is shorter, or it may be idle. */
	void (*progress)(void *arg);
	/* Fetching cannot go on (unreachable: no session, and the relay cannot be reached). */
	void (*failed)(void *arg, const char *why, bool unreachable);
};

struct idfetch_params {
	const char *name;     /* the relay's name, for log lines */
	int64_t relay_id;     /* the cache's id of the relay */
	const json_t *filter; /* what every event must match (besides being asked for) */
	int64_t since, until; /* ... and its created_at window */
};

/* Takes a reference on r. Callbacks run from the loop, never inside idfetch_* calls. */
int idfetch_new(const struct idfetch_env *env, struct relay *r, const struct idfetch_params *p,
		const struct idfetch_ops *ops, void *arg, struct idfetch **out);
/* Queues an id; idfetch_pump starts what can start. 0 or -ENOMEM. */
int idfetch_push(struct idfetch *f, const uint8_t id[32]);
void idfetch_pump(struct idfetch *f);
size_t idfetch_queued(const struct idfetch *f);
/* Nothing queued, no REQ out, no event out for verification. */
bool idfetch_idle(const struct idfetch *f);
const struct idfetch_stats *idfetch_stats(const struct idfetch *f);
/* Stops (CLOSE) without callbacks; the memory goes once no verification is out. */
void idfetch_free(struct idfetch *f);

#endif
