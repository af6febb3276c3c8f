/* session_impl.h - the inside of struct session, for session.c (which changes it) and
 * session_view.c (which only reads it). Nothing else includes this header: to every other
 * module a session is opaque (session.h). */
#ifndef RELAYPOOL_SESSION_IMPL_H
#define RELAYPOOL_SESSION_IMPL_H

#include <event2/event.h>
#include <sys/queue.h>

#include "config.h"
#include "gate.h"
#include "idmap.h"
#include "log.h"
#include "measure.h"
#include "session.h"
#include "ws.h"
#include "wsurl.h"

struct session_sub {
	struct session *s;
	char id[32];
	const struct sub_handler *h;
	void *arg;
	char *req;           /* the REQ as sent, to send again after an AUTH */
	bool auth_retried;   /* closed with "auth-required:" once already */
	bool awaiting_auth;  /* closed with "auth-required:"; sent again once the AUTH is accepted */
	bool neg;            /* a NIP-77 reconciliation (NEG-OPEN), not a REQ */
	bool neg_answered;   /* the relay has sent a NEG-MSG for it */
	bool held;           /* its owner asked to stop reading for a while (session_sub_hold) */
	LIST_ENTRY(session_sub) link;
};

struct session {
	struct session_env env;
	char name[80];
	unsigned index;
	const struct session_ops *ops;
	void *owner;
	struct wsurl url;
	char url_text[1400]; /* normal form, for log lines */
	bool tls_verify;
	struct pool_opts opts;

	enum session_state state;
	bool stop_after_close;
	struct ws *ws;
	struct gate_waiter gw;
	struct event *timer;    /* backoff, or a failure to report from the loop */
	struct event *deadline; /* the oldest in-flight event's deadline */
	uint64_t ready_since_us;
	unsigned attempt; /* consecutive failed attempts, for backoff */
	char last_error[256];
	enum session_auth auth; /* NIP-42 on the current connection */
	uint8_t auth_id[32];
	char auth_note[256]; /* why a challenge is unanswered, or the relay's refusal */
	struct log_limit ll_protocol, ll_unknown_sub, ll_auth; /* what the relay can make us log */

	TAILQ_HEAD(session_send_list_, session_send) inflight; /* by deadline, soonest first */
	unsigned n_inflight;
	struct idmap *by_id;
	LIST_HEAD(, session_sub) subs;
	unsigned n_subs;
	unsigned holds; /* subscriptions holding reading */

	struct session_counters c;
	struct ws_counters wc; /* connections that ended, summed */
	struct integral inflight_time, busy_time, connected_time;
	uint64_t oks;
	double ok_sum_us;
};

/* Adds a finished connection's counters to the session's. */
static inline void session_add_counters(struct ws_counters *sum, const struct ws_counters *c)
{
	sum->bytes_in += c->bytes_in;
	sum->bytes_out += c->bytes_out;
	sum->pings += c->pings;
	sum->pong_timeouts += c->pong_timeouts;
	sum->oversize += c->oversize;
	sum->violations += c->violations;
}

#endif
