/* ws.h - one WebSocket client connection: TCP (async DNS), TLS with peer and hostname
 * checks, our HTTP/1.1 upgrade, wslay framing on a libevent bufferevent, and keepalive pings
 * with a pong deadline and the round trip. It knows nothing of Nostr: it hands text messages
 * up and takes text messages down. Its owner (a session) learns of it only through the
 * callbacks it registered. */
#ifndef RELAYPOOL_WS_H
#define RELAYPOOL_WS_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsurl.h"

struct evdns_base;
struct ws;

/* One connection's traffic counters. */
struct ws_counters {
	unsigned long long bytes_in, bytes_out, pings, pong_timeouts, oversize, violations;
};

struct ws_ops {
	/* The upgrade succeeded: messages may be sent. */
	void (*opened)(void *arg);
	/* One text message, NUL-terminated copy (data may hold NULs; trust len). */
	void (*message)(void *arg, const char *data, size_t len);
	/* The connection is gone (failed to open when was_open is false); why says what
	 * happened. The owner may ws_free() from here; the ws does nothing after it returns. */
	void (*ended)(void *arg, bool was_open, const char *why);
};

struct ws_params {
	struct event_base *base;
	struct evdns_base *dns;
	void *ssl_ctx; /* SSL_CTX *, for wss:// */
	const struct wsurl *url;
	bool tls_verify;
	uint64_t max_message;
	uint64_t connect_timeout_ms, ping_interval_ms, pong_timeout_ms;
};

/* An SSL object (SSL *) for a client connection to url: SNI for host names, and with
 * tls_verify the certificate chain and the host name (or IP) checked. The one TLS rule of
 * the daemon's connections (sessions, NIP-11 fetches). NULL: out of memory. */
void *ws_client_ssl(void *ssl_ctx, const struct wsurl *url, bool tls_verify);

/* The relay's answer to our upgrade request (head: the status line and headers, NUL-
 * terminated), for our Sec-WebSocket-Key key: NULL if it accepts, else why not (possibly in
 * buf). */
const char *ws_check_upgrade(const char *key, const char *head, char *buf, size_t len);

/* Starts connecting; ended() is never called from inside ws_open. NULL: out of memory. */
struct ws *ws_open(const struct ws_params *p, const struct ws_ops *ops, void *arg);
/* Frees at once, without a close handshake and without callbacks; safe inside them. */
void ws_free(struct ws *w);
/* 0, or -ENOTCONN (not open), -ENOMEM, -EIO. */
int ws_send_text(struct ws *w, const char *text, size_t len);
/* The close handshake (when open; otherwise nothing): ended() follows when the peer
 * answers, or after a bounded wait. */
void ws_close(struct ws *w, uint16_t code, const char *why);
bool ws_is_open(const struct ws *w);
/* Stops (hold) or resumes reading from the socket: the peer then waits on TCP's flow
 * control. What was read already is still handed up. */
void ws_hold_input(struct ws *w, bool hold);
/* The last ping's round trip in ms; < 0 until one came back. */
double ws_rtt_ms(const struct ws *w);
/* This connection's counters so far. */
const struct ws_counters *ws_counters(const struct ws *w);

#endif
