/* publish.h - delivering events: a publish request from its op to its reply, and every
 * outbox row's delivery, whether a request waits for it or not.
 *
 * A request owns its whole life: its targets (resolved once, by the op, and held by
 * reference), the event's verification, the all-or-nothing check for queue room, the
 * event and its outbox rows written in one savepoint, one job submit per target after the
 * commit, the quorum, the deadlines and the reply. Each submit's waiter is a delivery,
 * which settles its outbox row and, while the request waits, tells its target.
 *
 * The rule for a failed commit: jobs are submitted only after the commit that records
 * their rows, so when the commit fails nothing was sent and the reply ("not queued") is
 * true. The cost is the wait for the group commit (a few ms) before the first send.
 *
 * Deadlines: a target's clock starts when its job is first sent, never while it waits in a
 * queue; it allows every attempt (max_attempts x publish_timeout and the backoffs between
 * them) and a second more. A target whose relay cannot be reached is decided at once with
 * the relay's last error. A request's own timeout, when the client gives one, counts from
 * the request and includes the queue. Targets still undecided at the reply are left to the
 * outbox, which keeps delivering them. */
#ifndef RELAYPOOL_PUBLISH_H
#define RELAYPOOL_PUBLISH_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct cache;
struct db;
struct outbox;
struct pool;
struct publisher;
struct relay;
struct request;
struct verifier;

enum publish_wait {
	PUBLISH_WAIT_OK,     /* reply once the quorum is met or impossible */
	PUBLISH_WAIT_QUEUED, /* reply once the outbox rows are committed and the jobs queued */
};

struct publisher_env {
	struct event_base *base;
	struct pool *pool;
	struct db *db;
	struct cache *cache;
	struct outbox *outbox;
	struct verifier *verifier;
};

int publisher_new(const struct publisher_env *env, struct publisher **out);
/* Requests still open are dropped (their clients are gone by then). */
void publisher_free(struct publisher *P);

struct publish_args {
	struct relay **targets; /* n distinct relays, one reference each, taken over */
	size_t n;
	unsigned quorum; /* 1..n */
	enum publish_wait wait;
	uint64_t timeout_ms; /* the client's overall timeout; 0: none */
	struct nostr_event ev; /* taken over (cleared in args) */
	bool verified;         /* signed by the daemon: no verification needed */
};

/* Starts a publish request; r is always answered, never before the rows are committed. */
void publish_request(struct publisher *P, struct request *r, struct publish_args *a);

/* Submits every pending outbox row whose relay is configured and not already delivering
 * it (at start and after every reload). Returns the number of rows submitted. */
int publisher_resume(struct publisher *P);
/* Events of the cache that relay r lacks (NIP-77 sync --up): each gets an outbox row for r,
 * and after the commit the outbox delivers them like any pending row (what the relay's
 * queue cannot take now waits in the outbox). The number of rows added, or < 0. */
int publisher_upload(struct publisher *P, struct relay *r, const uint8_t (*ids)[32], size_t n);
/* The outbox op's rows, with each row's relay name and "in_flight" where its job is out on
 * a session right now. */
json_t *publisher_rows(struct publisher *P, const char *state_filter, const char *relay_url, long long limit,
		       char **why);
/* Rows by row id (oid > 0) or by event id: retry re-arms them and delivers them again;
 * drop deletes them and stops their delivery. The number of rows, or -EIO. */
int publisher_retry(struct publisher *P, int64_t oid, const uint8_t *event_id);
int publisher_drop(struct publisher *P, int64_t oid, const uint8_t *event_id);

#endif
