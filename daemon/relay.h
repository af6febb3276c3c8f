/* relay.h - one relay in the pool: its sessions, its bounded job queue, dispatch of jobs
 * onto the least-loaded ready session with window space, OK handling by NIP-01 prefix,
 * publish timeouts and retries, the rate-limit cooldown, and its counters.
 *
 * A job is one event to deliver to this relay. It is in exactly one place: the relay's
 * queue, one session's in-flight list, or finished. Several publish requests for the same
 * event share one job (the relay deduplicates by id anyway). */
#ifndef RELAYPOOL_RELAY_H
#define RELAYPOOL_RELAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "config.h"
#include "event.h"
#include "session.h"
#include "stats.h"
#include "wsurl.h"

struct pool;
struct idmap;

enum job_status {
	JOB_PENDING,  /* queued or in flight */
	JOB_ACCEPTED, /* OK true, or OK false "duplicate:" */
	JOB_REJECTED, /* OK false with a permanent reason (invalid:, blocked:, auth-required:, ...) */
	JOB_FAILED,   /* given up: out of attempts, or older than max_age */
	JOB_ABANDONED, /* not delivered, not given up: the daemon stops or the relay was removed */
};

/* Whoever waits for a job's outcome: a publish request's per-relay target, or the outbox
 * row. A waiter with keep set stays attached after the outcome (a late OK can still upgrade
 * a failed job) and gets release() when the job is freed. */
struct job_waiter {
	void (*done)(struct job_waiter *w, const struct job *job);
	void (*release)(struct job_waiter *w);
	bool keep;
	LIST_ENTRY(job_waiter) link;
};

struct job {
	struct relay *relay;
	uint8_t id[32];
	char *text; /* ["EVENT",{...}] ready to send */
	size_t text_len;
	enum job_status status;
	char *message; /* the relay's OK message, or why we gave up */
	unsigned attempts, drops;
	uint64_t enqueued_us, sent_us, latency_us;
	uint64_t not_before_us; /* delayed retry */
	uint64_t queued_since_us; /* last entry into the queue, for the queue-wait histogram */
	int64_t created_at;     /* wall clock of the first publish (from the outbox), for max_age */
	struct session *session; /* while in flight */
	bool queued;
	TAILQ_ENTRY(job) link; /* relay queue, session in-flight list or graveyard */
	LIST_HEAD(, job_waiter) waiters;
	uint64_t expires_us; /* graveyard: forgotten after this */
};

struct relay_counters {
	unsigned long long submitted, accepted, duplicates, rejected, failed, timeouts, retries, late_oks;
	unsigned long long rate_limited, auth_required, rejected_invalid, rejected_other;
	unsigned long long reconnects, notices, queue_full, expired;
};

struct relay {
	struct pool *pool;
	char *name;
	char *url;
	struct wsurl wsurl;
	bool tls_verify;
	struct pool_opts opts;
	struct session **sessions;
	unsigned n_sessions;

	struct job_list queue;
	unsigned queue_len;
	struct job_list graveyard; /* failed jobs still matched by a late OK */
	struct job_list delayed;   /* retries waiting out their backoff, soonest first */
	unsigned delayed_len;
	struct event *delay_timer;
	struct idmap *jobs;        /* id -> pending or graveyard job */

	uint64_t cooldown_until_us;
	uint64_t cooldown_ms;
	struct event *cooldown_timer;
	struct event *reap_timer;
	struct event *age_timer; /* expires jobs older than max_age */
	bool draining; /* removed by a reload: no new jobs, freed once idle */

	int64_t cache_id; /* the cache's id for this relay's URL; 0 until asked */
	unsigned inflight_total; /* over all sessions */
	struct relay_stats st;
	char last_notice[256];
	struct relay_counters c;
	TAILQ_ENTRY(relay) link;
};

struct relay *relay_new(struct pool *p, const struct config_relay *cfg);
void relay_free(struct relay *r);
/* Applies changed settings; reconnects sessions when url or tls_verify changed. */
void relay_reconfigure(struct relay *r, const struct config_relay *cfg);
/* Stops taking jobs; the pool frees the relay once its queue and in-flight jobs are done. */
void relay_drain(struct relay *r);
/* Frees a stopped session beyond the configured count (a reload lowered "sessions"). */
void relay_remove_session(struct relay *r, struct session *s);
bool relay_idle(const struct relay *r);

/* Submits ev for delivery and adds w as a waiter. Returns 0, -ENOSPC if the queue is
 * full, -ESHUTDOWN if the relay is draining. An event already pending on this relay gets
 * the waiter added to its job. If the event already failed recently, a new job starts. */
int relay_submit(struct relay *r, const struct nostr_event *ev, struct job_waiter *w);
/* The same with the event's first publish time (wall clock), for max_age. */
int relay_submit_at(struct relay *r, const struct nostr_event *ev, int64_t created_at, struct job_waiter *w);
/* True if the event's job is out on a session right now. */
bool relay_job_in_flight(const struct relay *r, const uint8_t id[32]);
/* Stops delivering an event (its outbox row was dropped): the job ends as abandoned. */
void relay_cancel(struct relay *r, const uint8_t id[32]);
/* Detaches a waiter (its request went away); the job goes on. */
void relay_forget_waiter(struct job_waiter *w);
/* Jobs waiting for a session (queued, or waiting out a retry backoff). */
unsigned relay_queued(const struct relay *r);
/* True if a job for this event id is queued or in flight (a submit would join it). */
bool relay_has_pending(const struct relay *r, const uint8_t id[32]);

/* From sessions. */
void relay_session_ready(struct relay *r, struct session *s);
void relay_session_down(struct relay *r, struct session *s);
void relay_handle_ok(struct relay *r, struct session *s, const uint8_t id[32], bool accepted, const char *msg);
void relay_handle_notice(struct relay *r, struct session *s, const char *msg);
void relay_job_timer(struct session *s);

/* Hands queued jobs to sessions with window space. */
void relay_dispatch(struct relay *r);

unsigned relay_sessions_ready(const struct relay *r);
struct cache;
/* The cache's id of this relay's URL (looked up once, kept). */
int relay_cache_id(struct relay *r, struct cache *c, int64_t *id);
json_t *relay_json(const struct relay *r);
const char *job_status_name(enum job_status s);

#endif
