/* job.h - one event to deliver to one relay, and the one place it is in.
 *
 * A job is always in exactly one place, named by job->place and changed only by
 * job_move(), which checks the invariant on every move:
 *   NEW       created, not placed yet
 *   QUEUED    in the relay's queue, waiting for a session with window space
 *   DELAYED   waiting out a retry backoff (the relay's delayed list, soonest first)
 *   INFLIGHT  sent on a session, waiting for its OK (the session's in-flight table; a
 *             session hands it back, out of its table, in the callback that moves it on)
 *   GRAVEYARD given up (failed) but still matched by a late OK until it expires
 *   DONE      finished; freed right after its waiters are told
 * The lists belong to the relay (struct job_places); the in-flight table to the session.
 * Several requests for the same event share one job: each adds a waiter. */
#ifndef RELAYPOOL_JOB_H
#define RELAYPOOL_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "event.h"
#include "measure.h"
#include "session.h"

enum job_place { JOB_NEW, JOB_QUEUED, JOB_DELAYED, JOB_INFLIGHT, JOB_GRAVEYARD, JOB_DONE, JOB__PLACES };

enum job_status {
	JOB_PENDING,   /* not decided yet */
	JOB_ACCEPTED,  /* OK true, or OK false "duplicate:" */
	JOB_REJECTED,  /* OK false with a permanent reason (invalid:, blocked:, auth-required:, ...) */
	JOB_FAILED,    /* given up: out of attempts, or older than max_age */
	JOB_ABANDONED, /* not delivered, not given up: the daemon stops or the relay was removed */
};

struct job;

/* Whoever waits for a job: a publish request's target, an outbox row's delivery. A keep
 * waiter stays attached after the outcome (a late OK can still upgrade a failed job) and
 * gets release() when the job is freed. sent and stalled may be NULL. */
struct job_waiter {
	void (*done)(struct job_waiter *w, const struct job *job);
	/* The job went out for the first time (attempt 1). */
	void (*sent)(struct job_waiter *w, const struct job *job);
	/* The job waits and its relay cannot be reached now (why: the relay's last error). */
	void (*stalled)(struct job_waiter *w, const struct job *job, const char *why);
	void (*release)(struct job_waiter *w);
	bool keep;
	LIST_ENTRY(job_waiter) link;
};

struct job {
	uint8_t id[32];
	char *text; /* ["EVENT",{...}] ready to send */
	size_t text_len;
	enum job_place place;
	enum job_status status;
	char *message; /* the relay's OK message, or why we gave up */
	unsigned attempts, drops;
	bool auth_retried; /* refused with "auth-required:" once, and sent again after the AUTH */
	uint64_t enqueued_us, first_sent_us, latency_us;
	uint64_t queued_since_us; /* last entry into QUEUED or DELAYED (queue wait) */
	uint64_t not_before_us;   /* DELAYED: when it may go again */
	uint64_t expires_us;      /* GRAVEYARD: forgotten after this */
	int64_t created_at;       /* wall clock of the first publish (from the outbox), for max_age */
	struct session_send send; /* INFLIGHT: the session's entry (send.on is the session) */
	TAILQ_ENTRY(job) link;    /* QUEUED, DELAYED or GRAVEYARD: the relay's list */
	LIST_HEAD(, job_waiter) waiters;
};

TAILQ_HEAD(job_list, job);

/* A relay's lists and the time integrals of its load (kept by job_move). */
struct job_places {
	struct job_list queue, delayed, graveyard;
	unsigned n[JOB__PLACES];
	struct integral waiting_time;  /* QUEUED + DELAYED */
	struct integral inflight_time; /* INFLIGHT */
};

/* Where a move goes, with what that place needs. */
struct job_dest {
	enum job_place place;
	bool front;               /* QUEUED: at the head (a retry or a requeue) */
	struct session *session;  /* INFLIGHT: send on this session ... */
	uint64_t timeout_us;      /* ... with this deadline */
	uint64_t not_before_us;   /* DELAYED */
	uint64_t expires_us;      /* GRAVEYARD */
};

void job_places_init(struct job_places *pl);

/* A NEW job for ev with one waiter; NULL if out of memory. */
struct job *job_new(const struct nostr_event *ev, int64_t created_at, struct job_waiter *w);
/* Releases every waiter and frees (the job must be out of every list: NEW or DONE). */
void job_free(struct job *j);

/* Takes j out of its place and into to's, then checks the invariant. A move to INFLIGHT
 * sends the job first; if that fails, j stays where it was and the error is returned. */
int job_move(struct job_places *pl, struct job *j, const struct job_dest *to);
/* Aborts (assert) unless j's place, lists and session entry agree. */
void job_check(const struct job *j);

/* Tells waiters the outcome: others are detached first (their done() may free them),
 * keep waiters stay. */
void job_notify_done(struct job *j);
void job_notify_sent(struct job *j);
void job_notify_stalled(struct job *j, const char *why);
void job_set_message(struct job *j, const char *msg);
const char *job_place_name(enum job_place p);
const char *job_status_name(enum job_status s);

#endif
