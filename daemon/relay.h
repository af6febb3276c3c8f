/* relay.h - one relay of the pool: its sessions, its jobs (the bounded queue, retries
 * waiting out a backoff, the graveyard of failed jobs a late OK can still upgrade),
 * dispatch onto the least-loaded usable session, OK handling by NIP-01 prefix, the
 * rate-limit cooldown, reachability, subscriptions placed on its sessions, and its
 * counters and load integrals. The struct is private; everything goes through functions.
 *
 * The relay hears from its sessions through the session_ops it registers, and tells its
 * owner (the pool) through the relay_owner_ops the pool registers. */
#ifndef RELAYPOOL_RELAY_H
#define RELAYPOOL_RELAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "job.h"
#include "limitation.h"
#include "measure.h"
#include "session.h"

struct relay;

struct relay_owner_ops {
	/* A draining relay has no job left. */
	void (*idle)(void *owner, struct relay *r);
	/* One of its sessions stopped for good. */
	void (*session_stopped)(void *owner, struct relay *r);
};

struct relay_counters {
	unsigned long long submitted, accepted, duplicates, rejected, failed, timeouts, retries, late_oks;
	unsigned long long rate_limited, auth_required, rejected_invalid, rejected_other;
	unsigned long long reconnects, notices, queue_full, expired, auth_retries;
};

/* What stats and views read: the relay's own figures, never a copy kept elsewhere. */
struct relay_view {
	const char *name, *url;
	uint64_t serial; /* distinct for every relay object the daemon ever made */
	const struct pool_opts *opts;
	bool draining;
	unsigned sessions, sessions_ready, queued, inflight;
	uint64_t cooldown_left_us;
	const struct relay_counters *c;
	const struct integral *waiting_time, *inflight_time;
	const struct histogram *wait, *ok_latency;
	uint64_t completed;
	double ok_ewma_ms;
	unsigned long long cooldowns, quorum_last;
	uint64_t rate_waits; /* dispatches held back by max_rate */
	double rtt_ms; /* mean over sessions that know theirs; < 0: unknown */
	const char *last_error; /* of a session that is not ready; "none" */
	const char *last_notice;
};

/* The relay takes one reference for its creator. */
struct relay *relay_new(const struct session_env *env, const struct config_relay *cfg,
			const struct relay_owner_ops *ops, void *owner);
/* References: the relay object lives while anyone holds one (a request that resolved it
 * as a target, the pool). */
struct relay *relay_ref(struct relay *r);
void relay_unref(struct relay *r);

/* Applies changed settings; reconnects sessions when url, tls_verify or max_message changed. */
void relay_reconfigure(struct relay *r, const struct config_relay *cfg);
/* Stops taking jobs; the owner hears idle() once none is left. */
void relay_drain(struct relay *r);
bool relay_draining(const struct relay *r);
/* No job queued, delayed or in flight. */
bool relay_idle(const struct relay *r);
/* Closes every session for good (shutdown or removal); session_stopped() follows each. */
void relay_stop(struct relay *r, const char *why);
bool relay_all_stopped(const struct relay *r);
/* Frees sessions beyond the configured count once they stopped (a reload lowered it). */
void relay_trim_sessions(struct relay *r);
/* The end of a relay: jobs left are abandoned (their outbox rows stay pending) and the
 * sessions freed; the object goes when the last reference does. */
void relay_retire(struct relay *r);

/* ---- publishing ------------------------------------------------------------------------ */

/* Holds a place in the queue for a job submitted soon (after its outbox rows commit):
 * 0, or -ENOSPC when queued and held places reach the bound, -ESHUTDOWN when draining.
 * An event already pending here needs no place (the submit joins its job). */
int relay_reserve(struct relay *r, const uint8_t id[32]);
void relay_unreserve(struct relay *r);
/* Submits ev (first published at created_at, wall clock) with w as a waiter. reserved:
 * the caller holds a place from relay_reserve, which this uses. Returns 0, -ENOSPC,
 * -ESHUTDOWN or -ENOMEM. An event pending here gets the waiter added to its job; one that
 * failed recently starts a new job. A joined job that went out already calls w->sent, and
 * if the relay cannot be reached now w->stalled runs, both before this returns. */
int relay_submit(struct relay *r, const struct nostr_event *ev, int64_t created_at, struct job_waiter *w,
		 bool reserved);
/* Stops delivering an event (its outbox row was dropped): the job ends as abandoned. */
void relay_cancel(struct relay *r, const uint8_t id[32]);
bool relay_has_pending(const struct relay *r, const uint8_t id[32]);
bool relay_job_in_flight(const struct relay *r, const uint8_t id[32]);
/* Jobs waiting for a session (queued, or waiting out a retry backoff). */
unsigned relay_queued(const struct relay *r);
/* No session is ready and the last attempt to connect failed: *why gets the error. */
bool relay_unreachable(const struct relay *r, const char **why);
/* A publish request's quorum was decided by this relay's answer (the slowest needed). */
void relay_note_quorum_decider(struct relay *r);

/* ---- subscriptions ----------------------------------------------------------------------- */

/* Opens a REQ on the usable session with the fewest subscriptions, leaving reserve of the
 * relay's max_subscriptions per session free (live subscriptions keep one for sync pages).
 * NULL with *err = -EAGAIN when no session has room now. */
struct session_sub *relay_subscribe(struct relay *r, const char *id, const json_t *filters, unsigned reserve,
				    const struct sub_handler *h, void *arg, int *err);
/* Opens a NIP-77 reconciliation (NEG-OPEN) on a session as relay_subscribe places a REQ. */
struct session_sub *relay_neg_open(struct relay *r, const char *id, const json_t *filter, const char *hex,
				   unsigned reserve, const struct sub_handler *h, void *arg, int *err);
/* Ends a subscription we no longer want (CLOSE, or NEG-CLOSE); no callback runs. */
void relay_unsubscribe(struct session_sub *sub);

/* ---- NIP-11 ------------------------------------------------------------------------------------ */

/* The relay's information document as just fetched (doc NULL: error says why). The
 * effective limits are its "limitation" with the configuration's [relay] limits over it. */
void relay_set_info(struct relay *r, const json_t *doc, const char *error);
const struct relay_limits *relay_limits(const struct relay *r);
/* REQs one session may hold: max_subscriptions, or the relay's own limit if lower. */
unsigned relay_max_subscriptions(const struct relay *r);
/* {"fetched_at", "error", "document", "limits"} for relays --info. */
json_t *relay_info_json(const struct relay *r);
/* Whether the relay's NIP-11 document lists nip in supported_nips: 1 yes, 0 no, -1 not
 * known (no document yet, or no supported_nips array in it). */
int relay_supports_nip(const struct relay *r, int nip);

/* ---- views ---------------------------------------------------------------------------------- */

const struct wsurl *relay_wsurl(const struct relay *r);
bool relay_tls_verify(const struct relay *r);

const char *relay_name(const struct relay *r);
const char *relay_url(const struct relay *r);
const struct pool_opts *relay_opts(const struct relay *r);
unsigned relay_sessions_ready(const struct relay *r);
unsigned relay_n_sessions(const struct relay *r);
const struct session *relay_session(const struct relay *r, unsigned i);
void relay_view(const struct relay *r, struct relay_view *v);

#endif
