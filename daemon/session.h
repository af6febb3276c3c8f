/* session.h - one persistent NIP-01 session to a relay over a WebSocket (ws.c): reconnects
 * with backoff through the pool's connect gate, the events in flight on it waiting for
 * their OK (with their deadlines), the subscriptions (REQ) it carries, and the relay's
 * messages routed to them. It reports to its owner (the relay) only through the callbacks
 * the owner registered (struct session_ops). */
#ifndef RELAYPOOL_SESSION_H
#define RELAYPOOL_SESSION_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "config.h"
#include "measure.h"
#include "wsurl.h"

struct gate;
struct session;
struct evdns_base;

enum session_state {
	SESSION_BACKOFF,    /* waiting before the next connection attempt */
	SESSION_CONNECTING, /* waiting for a connect place, TCP, TLS or the upgrade */
	SESSION_READY,      /* upgraded; takes events and subscriptions */
	SESSION_CLOSING,    /* close frame sent, waiting for the relay's */
	SESSION_STOPPED,    /* shut down for good (daemon stopping, relay removed) */
};

/* An event out on a session, waiting for its OK. The owner embeds it (in its job) and the
 * session links it; its fields belong to session.c. */
struct session_send {
	uint8_t id[32];
	uint64_t sent_us, deadline_us;
	struct session *on; /* the session it is in flight on; NULL when it is not */
	TAILQ_ENTRY(session_send) link;
};

struct session_ops {
	/* Ready for events and subscriptions. */
	void (*ready)(void *owner, struct session *s);
	/* No longer ready; or, with connect_failed, an attempt to connect failed (the
	 * session's last error says why). */
	void (*down)(void *owner, struct session *s, bool connect_failed);
	/* Stopped for good (after session_close with stop). */
	void (*stopped)(void *owner, struct session *s);
	/* An OK for id. sent is what it settles on this session (already out of the
	 * in-flight table), or NULL when nothing with that id is in flight here. Returns
	 * false when the owner knows nothing of id (counted as unknown_oks). */
	bool (*ok)(void *owner, struct session *s, struct session_send *sent, const uint8_t id[32], bool accepted,
		   const char *message);
	/* No OK within the deadline; sent is out of the in-flight table. */
	void (*timeout)(void *owner, struct session *s, struct session_send *sent);
	/* The session went down with sent in flight (newest first, so an owner that puts
	 * each back at the head of its queue keeps their order). */
	void (*lost)(void *owner, struct session *s, struct session_send *sent);
	void (*notice)(void *owner, struct session *s, const char *message);
};

/* Signs NIP-42 AUTH events (kind 22242) for a relay URL and challenge: the compact JSON
 * (malloc'd) and its id; 0 or a negative errno. NULL when the daemon has no key. */
typedef int (*session_sign_auth_fn)(void *arg, const char *relay_url, const char *challenge, char **json,
				    uint8_t id[32]);

/* What every session of the pool shares; it outlives them. */
struct session_env {
	struct event_base *base;
	struct evdns_base *dns;
	void *ssl_ctx; /* SSL_CTX * */
	struct gate *gate;
	session_sign_auth_fn sign_auth;
	void *sign_arg;
};

/* NIP-42 on one connection. */
enum session_auth {
	SESSION_AUTH_NONE,       /* no challenge yet */
	SESSION_AUTH_UNANSWERED, /* challenged; no key, or auth = no */
	SESSION_AUTH_PENDING,    /* our AUTH event is out, waiting for its OK */
	SESSION_AUTH_OK,         /* the relay accepted it */
	SESSION_AUTH_FAILED,     /* the relay refused it (or we could not sign) */
};
const char *session_auth_name(enum session_auth a);

/* A subscription (REQ). The callbacks run on the loop; the subscription is already gone
 * when on_closed or on_lost runs. */
struct sub_handler {
	void (*on_event)(void *arg, json_t *event); /* the raw event object, not yet checked */
	void (*on_eose)(void *arg);
	void (*on_closed)(void *arg, const char *message); /* the relay ended it with CLOSED */
	void (*on_lost)(void *arg);                         /* the session went away */
	/* NIP-77 (session_neg_open only): the relay's NEG-MSG (hex, not yet checked), and its
	 * end: NEG-ERR, or a NOTICE while no NEG-MSG had come (a relay that does not know
	 * NEG-OPEN); the reconciliation is already gone when on_neg_err runs. */
	void (*on_neg_msg)(void *arg, const char *hex, size_t len);
	void (*on_neg_err)(void *arg, const char *reason);
};
struct session_sub;

struct session_counters {
	unsigned long long connects, disconnects, connect_failures;
	unsigned long long sent, oks, notices, protocol_errors, unknown_oks;
	unsigned long long reqs, events_in, closed;
	unsigned long long auth_challenges, auths, auth_failures, reqs_after_auth;
};

/* A read-only look for stats and views. */
struct session_view {
	unsigned index;
	enum session_state state;
	unsigned inflight, subs;
	double rtt_ms; /* < 0: unknown */
	const char *last_error; /* "" if none */
	const struct integral *inflight_time, *busy_time, *connected_time;
	uint64_t oks;
	double ok_sum_us;
	unsigned long long connects;
};

/* relay_name is copied. Starts in BACKOFF; session_start connects. */
struct session *session_new(const struct session_env *env, const char *relay_name, unsigned index,
			    const struct session_ops *ops, void *owner);
/* Frees at once, without a close handshake and without callbacks (in-flight entries are
 * simply unlinked). */
void session_free(struct session *s);
/* The relay's address and options; a changed address takes effect at the next connection. */
void session_configure(struct session *s, const struct wsurl *url, bool tls_verify, const struct pool_opts *opts);
void session_start(struct session *s);
/* Graceful close. Events in flight are handed back (lost) at once. The session reconnects
 * afterwards unless stop is set. */
void session_close(struct session *s, uint16_t code, const char *why, bool stop);
void session_set_index(struct session *s, unsigned index);

/* Sends ["EVENT", ...] (text) and puts sent in flight with a deadline timeout_us from now.
 * Returns 0, or -ENOTCONN / -ENOMEM / -EIO with nothing in flight. */
int session_send_event(struct session *s, struct session_send *sent, const uint8_t id[32], const char *text,
		       size_t len, uint64_t timeout_us);
/* Takes sent out of the in-flight table without a callback (no-op if it is not in it). */
void session_forget(struct session_send *sent);

/* Opens ["REQ", id, filters...] (filters: an array of filter objects). NULL with *err =
 * -ENOTCONN or -ENOMEM. The handle stays valid until a callback ends it or it is closed. */
struct session_sub *session_subscribe(struct session *s, const char *id, const json_t *filters,
				      const struct sub_handler *h, void *arg, int *err);
/* Opens a NIP-77 reconciliation: ["NEG-OPEN", id, filter, hex]. Like session_subscribe;
 * the handler needs on_neg_msg and on_neg_err. */
struct session_sub *session_neg_open(struct session *s, const char *id, const json_t *filter, const char *hex,
				     const struct sub_handler *h, void *arg, int *err);
/* ["NEG-MSG", id, hex] on an open reconciliation: 0, -ENOTCONN or -ENOMEM. */
int session_neg_send(struct session_sub *sub, const char *hex, size_t len);
/* Ends a subscription we no longer want (sends CLOSE, or NEG-CLOSE); no callback runs. */
void session_sub_close(struct session_sub *sub);
/* Backpressure: while any subscription of the session holds, the session stops reading from
 * the relay (its events wait in the relay's send buffer, not in our memory). A subscription
 * that ends releases its hold. Everything on the session waits meanwhile (OKs too), so hold
 * only as long as work already received is being done. */
void session_sub_hold(struct session_sub *sub, bool hold);
const struct session *session_sub_session(const struct session_sub *sub);
/* A CLOSED message that says "later" (rate-limited:, too many subscriptions): worth a retry. */
bool session_closed_transient(const char *msg);
enum session_auth session_auth(const struct session *s);
/* The relay may still accept what it refused with "auth-required:" once we authenticate:
 * an AUTH is out or done, or we can answer a challenge that has not come yet. */
bool session_auth_expected(const struct session *s);
/* Why the relay's "auth-required:" cannot be met ("" when it can): e.g. no key. */
const char *session_auth_problem(const struct session *s);

enum session_state session_state(const struct session *s);
unsigned session_index(const struct session *s);
/* Ready and not closing: may take events and subscriptions. */
bool session_usable(const struct session *s);
unsigned session_inflight(const struct session *s);
unsigned session_subs(const struct session *s);
const char *session_last_error(const struct session *s);
double session_rtt_ms(const struct session *s);
void session_view(const struct session *s, struct session_view *v);
const char *session_state_name(enum session_state st);
json_t *session_json(const struct session *s);

#endif
