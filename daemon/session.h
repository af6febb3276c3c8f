/* session.h - one persistent WebSocket session to one relay: connect (TCP, TLS, our HTTP
 * upgrade), wslay framing on a bufferevent, keepalive, reconnect with backoff, and NIP-01
 * relay messages handed to the relay. Jobs in flight on the session are kept here but
 * managed by relay.c. */
#ifndef RELAYPOOL_SESSION_H
#define RELAYPOOL_SESSION_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "stats.h"

struct relay;
struct job;
struct rx_msg;

enum session_state {
	SESSION_BACKOFF,    /* waiting before the next connection attempt */
	SESSION_CONNECTING, /* waiting for a connect slot, TCP, TLS or the upgrade */
	SESSION_READY,      /* upgraded; takes jobs */
	SESSION_CLOSING,    /* close frame sent, waiting for the relay's */
	SESSION_STOPPED,    /* shut down for good (daemon stopping, relay removed) */
};

/* A subscription (REQ) on a session, for sync. The callbacks run on the loop; the
 * subscription is already removed when on_closed or on_lost runs. */
struct sub_handler {
	void (*on_event)(void *arg, json_t *event); /* the raw event object, not yet checked */
	void (*on_eose)(void *arg);
	void (*on_closed)(void *arg, const char *message); /* the relay ended it with CLOSED */
	void (*on_lost)(void *arg);                         /* the session went away */
};

struct sub {
	char id[32];
	const struct sub_handler *h;
	void *arg;
	struct sub *next;
};

struct session_counters {
	unsigned long long connects, disconnects, connect_failures;
	unsigned long long sent, oks, notices, protocol_errors, unknown_oks, oversize, pings, pong_timeouts;
	unsigned long long reqs, events_in, closed;
	unsigned long long bytes_in, bytes_out;
};

TAILQ_HEAD(job_list, job);

struct session {
	struct relay *relay;
	unsigned index;
	enum session_state state;
	bool waiting_slot; /* queued for a pool-wide connect slot */
	bool stop_after_close;

	struct bufferevent *bev;
	void *ssl; /* SSL *, owned by bev */
	void *ws;  /* wslay_event_context_ptr */
	bool upgraded;
	char ws_key[32];

	struct event *timer;     /* connect timeout, backoff, close wait */
	struct event *keepalive; /* ping when idle, pong deadline */
	struct event *job_timer; /* the oldest in-flight job's deadline (relay.c) */
	uint64_t ping_sent_us;   /* 0 = no ping outstanding */
	uint64_t last_rx_us, ready_since_us;
	unsigned attempt; /* consecutive failed attempts, for backoff */
	double rtt_ms;    /* last ping round trip; < 0 unknown */
	char last_error[256];

	/* Messages wslay delivered during the current wslay_event_recv, handled after it. */
	struct rx_msg *rx_head, **rx_tail;

	struct sub *subs;
	unsigned n_subs;

	/* Jobs in flight, oldest first (relay.c). */
	struct job_list inflight;
	unsigned n_inflight;

	struct session_counters c;
	struct session_stats st;
	TAILQ_ENTRY(session) connect_link; /* pool's connect wait queue */
};

struct session *session_new(struct relay *r, unsigned index);
/* Frees at once, without a close handshake (use session_stop for that). */
void session_free(struct session *s);
/* Starts connecting (through the pool's connect limiter). */
void session_start(struct session *s);
/* Graceful close; the session reconnects afterwards unless stop is set. */
void session_close(struct session *s, uint16_t code, const char *why, bool stop);
/* Called by the pool when a connect slot is granted. */
void session_connect_now(struct session *s);

/* Queues a NIP-01 client message (a JSON array, not stolen) and writes it. */
int session_send_json(struct session *s, json_t *msg);
/* Queues a pre-serialized text message. */
int session_send_text(struct session *s, const char *text, size_t len);

/* Opens a subscription ["REQ", id, filters...] (filters: a JSON array of filter objects).
 * Returns 0, or -ENOTCONN if the session is not ready. */
int session_subscribe(struct session *s, const char *id, const json_t *filters, const struct sub_handler *h, void *arg);
/* Ends a subscription we no longer want (sends CLOSE); no callback runs. */
void session_unsubscribe(struct session *s, const char *id);

const char *session_state_name(enum session_state st);
json_t *session_json(const struct session *s);

#endif
