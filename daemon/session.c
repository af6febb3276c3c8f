/* session.c - one persistent WebSocket session to a relay.
 *
 * Life: BACKOFF -> CONNECTING (connect slot, DNS, TCP, TLS, HTTP upgrade) -> READY ->
 * (error, EOF, pong timeout, oversize) -> BACKOFF -> ... ; CLOSING while a close handshake
 * runs; STOPPED for good. The HTTP/1.1 upgrade is ours (wslay does framing only); frames
 * go through wslay on a libevent bufferevent (TLS via libevent_openssl).
 *
 * wslay rules we follow (NOTES.md): the recv callback reports WOULDBLOCK when the input is
 * empty; wslay_event_send runs after every wslay_event_recv (pongs and close replies are
 * only queued); nothing is sent or freed inside wslay callbacks - received messages are
 * copied to a list and handled after wslay_event_recv returns. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <wslay/wslay.h>

#include "clock.h"
#include "daemon.h"
#include "hex.h"
#include "log.h"
#include "pool.h"
#include "relay.h"
#include "session.h"

#define UPGRADE_MAX_RESPONSE 16384
#define CLOSE_WAIT_SEC 2
/* A session that stayed up this long resets its backoff. */
#define STABLE_USEC (10 * 1000000ULL)
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* A message received during wslay_event_recv, handled once it returns. */
struct rx_msg {
	uint8_t opcode;
	uint16_t status;
	size_t len;
	struct rx_msg *next;
	char data[];
};

static void teardown(struct session *s);
static void schedule_backoff(struct session *s);
static void session_failed(struct session *s, const char *fmt, ...) _printf_(2, 3);
static void on_ws_input(struct session *s);
static void remove_sub(struct session *s, struct sub **link);


const char *session_state_name(enum session_state st)
{
	switch (st) {
	case SESSION_BACKOFF: return "backoff";
	case SESSION_CONNECTING: return "connecting";
	case SESSION_READY: return "ready";
	case SESSION_CLOSING: return "closing";
	case SESSION_STOPPED: return "stopped";
	}
	return "?";
}

#define slog(s, prio, fmt, ...) log_session(prio, (s)->relay->name, (s)->index, fmt, ##__VA_ARGS__)

/* ---- wslay callbacks --------------------------------------------------------------------- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct session *s = user;
	int n;

	(void)flags;
	n = evbuffer_remove(bufferevent_get_input(s->bev), buf, len);
	if (n <= 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	s->c.bytes_in += (unsigned)n;
	return n;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	struct session *s = user;

	(void)flags;
	if (evbuffer_add(bufferevent_get_output(s->bev), data, len) < 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	s->c.bytes_out += len;
	return (ssize_t)len;
}

static int ws_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
	(void)ctx, (void)user;
	/* Masking only defeats proxy cache poisoning; it needs unpredictable, not secret, bytes. */
	return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	struct session *s = user;
	struct rx_msg *m = malloc(sizeof(*m) + arg->msg_length + 1);

	(void)ctx;
	if (!m)
		return;
	m->opcode = arg->opcode;
	m->status = arg->status_code;
	m->len = arg->msg_length;
	m->next = NULL;
	memcpy(m->data, arg->msg, arg->msg_length);
	m->data[arg->msg_length] = '\0';
	*s->rx_tail = m;
	s->rx_tail = &m->next;
}

/* ---- life cycle ------------------------------------------------------------------------ */

static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void keepalive_cb(evutil_socket_t fd, short what, void *arg);
static void job_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	relay_job_timer(arg);
}

struct session *session_new(struct relay *r, unsigned index)
{
	struct session *s = calloc(1, sizeof(*s));
	struct event_base *base = r->pool->base;

	if (!s)
		return NULL;
	s->rx_tail = &s->rx_head;
	s->relay = r;
	s->index = index;
	s->state = SESSION_BACKOFF;
	s->rtt_ms = -1;
	TAILQ_INIT(&s->inflight);
	s->timer = evtimer_new(base, timer_cb, s);
	s->keepalive = evtimer_new(base, keepalive_cb, s);
	s->job_timer = evtimer_new(base, job_timer_cb, s);
	if (!s->timer || !s->keepalive || !s->job_timer) {
		session_free(s);
		return NULL;
	}
	return s;
}

static void rx_clear(struct session *s)
{
	while (s->rx_head) {
		struct rx_msg *m = s->rx_head;
		s->rx_head = m->next;
		free(m);
	}
	s->rx_tail = &s->rx_head;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	if (s->waiting_slot)
		pool_cancel_connect(s->relay->pool, s);
	teardown(s);
	if (s->timer)
		event_free(s->timer);
	if (s->keepalive)
		event_free(s->keepalive);
	if (s->job_timer)
		event_free(s->job_timer);
	free(s);
}

/* Frees the connection (bev, TLS, wslay); the session object stays. */
static void teardown(struct session *s)
{
	bool held_slot = s->state == SESSION_CONNECTING && !s->waiting_slot && s->bev;

	evtimer_del(s->keepalive);
	if (s->ws) {
		wslay_event_context_free(s->ws);
		s->ws = NULL;
	}
	if (s->bev) {
		if (s->ssl && s->upgraded) {
			/* Polite TLS close; bufferevent_free sends no close_notify itself. */
			SSL_set_shutdown(s->ssl, SSL_RECEIVED_SHUTDOWN);
			SSL_shutdown(s->ssl);
		}
		bufferevent_free(s->bev);
		s->bev = NULL;
		s->ssl = NULL;
	}
	rx_clear(s);
	s->upgraded = false;
	s->ping_sent_us = 0;
	if (held_slot)
		pool_connect_done(s->relay->pool, s);
}

/* Every subscription of a session that went away learns it. */
static void lose_subs(struct session *s)
{
	while (s->subs) {
		struct sub *sub = s->subs;
		const struct sub_handler *h = sub->h;
		void *arg = sub->arg;
		remove_sub(s, &s->subs);
		h->on_lost(arg);
	}
}

/* Common path for every failure of a connecting or ready session. */
static void session_failed(struct session *s, const char *fmt, ...)
{
	enum session_state was = s->state;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
	va_end(ap);
	if (was == SESSION_READY || was == SESSION_CLOSING) {
		slog(s, was == SESSION_CLOSING ? LOG_DEBUG : LOG_WARNING, "disconnected: %s", s->last_error);
		s->c.disconnects++;
	} else {
		slog(s, LOG_NOTICE, "connection failed: %s", s->last_error);
		s->c.connect_failures++;
	}
	teardown(s);
	lose_subs(s);
	if (was == SESSION_READY)
		stats_session_ready(s, false);
	if (was == SESSION_READY || was == SESSION_CLOSING)
		relay_session_down(s->relay, s);
	if (s->stop_after_close || s->relay->pool->stopping) {
		s->state = SESSION_STOPPED;
		evtimer_del(s->timer);
		pool_session_stopped(s->relay->pool, s);
		return;
	}
	if (was == SESSION_READY && clock_now_us() - s->ready_since_us >= STABLE_USEC)
		s->attempt = 0;
	schedule_backoff(s);
}

static void schedule_backoff(struct session *s)
{
	const struct pool_opts *o = &s->relay->opts;
	uint64_t cap = o->backoff_base_ms, r;
	struct timeval tv;

	/* Full jitter: uniform in [0, min(max, base * 2^attempt)]. */
	for (unsigned i = 0; i < s->attempt && cap < o->backoff_max_ms; i++)
		cap *= 2;
	if (cap > o->backoff_max_ms)
		cap = o->backoff_max_ms;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint64_t)clock_now_us();
	r %= cap + 1;
	s->attempt++;
	s->state = SESSION_BACKOFF;
	tv.tv_sec = (time_t)(r / 1000);
	tv.tv_usec = (suseconds_t)(r % 1000) * 1000;
	evtimer_add(s->timer, &tv);
	slog(s, LOG_DEBUG, "reconnecting in %llu ms (attempt %u)", (unsigned long long)r, s->attempt);
}

void session_start(struct session *s)
{
	if (s->state == SESSION_STOPPED || s->state == SESSION_CONNECTING || s->state == SESSION_READY)
		return;
	evtimer_del(s->timer);
	s->state = SESSION_CONNECTING;
	pool_want_connect(s->relay->pool, s);
}

static const char *bev_error_text(struct session *s, char *buf, size_t len)
{
	unsigned long e;
	int dns = bufferevent_socket_get_dns_error(s->bev);

	if (dns)
		return snprintf(buf, len, "DNS: %s", evutil_gai_strerror(dns)), buf;
	if (s->ssl) {
		long v = SSL_get_verify_result(s->ssl);
		if (v != X509_V_OK)
			return snprintf(buf, len, "TLS certificate verification failed: %s",
					X509_verify_cert_error_string(v)),
			       buf;
		while ((e = bufferevent_get_openssl_error(s->bev))) {
			if (ERR_GET_LIB(e) == 0)
				continue; /* libevent 2.1's spurious lib-0 entry */
			char tmp[200];
			ERR_error_string_n(e, tmp, sizeof(tmp));
			return snprintf(buf, len, "TLS: %s", tmp), buf;
		}
	}
	if (EVUTIL_SOCKET_ERROR())
		return snprintf(buf, len, "%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR())), buf;
	return snprintf(buf, len, "connection error"), buf;
}

/* ---- HTTP upgrade ------------------------------------------------------------------------ */

static void send_upgrade(struct session *s)
{
	const struct wsurl *u = &s->relay->wsurl;
	uint8_t nonce[16];
	char host[300];

	if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce)) {
		session_failed(s, "no randomness for the WebSocket key");
		return;
	}
	EVP_EncodeBlock((unsigned char *)s->ws_key, nonce, sizeof(nonce));
	wsurl_host_header(u, host, sizeof(host));
	/* No Sec-WebSocket-Extensions: we do not offer permessage-deflate. */
	evbuffer_add_printf(bufferevent_get_output(s->bev),
			    "GET %s HTTP/1.1\r\n"
			    "Host: %s\r\n"
			    "Upgrade: websocket\r\n"
			    "Connection: Upgrade\r\n"
			    "Sec-WebSocket-Key: %s\r\n"
			    "Sec-WebSocket-Version: 13\r\n"
			    "User-Agent: relaypoold/" RELAYPOOL_VERSION "\r\n"
			    "\r\n",
			    u->path, host, s->ws_key);
}

/* Finds header name in the response head (case-insensitive); copies its value. */
static bool header_value(const char *head, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2, *end = strstr(line, "\r\n");
		if (!end)
			break;
		if ((size_t)(end - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vl = (size_t)(end - v);
			while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			snprintf(out, outlen, "%.*s", (int)vl, v);
			return true;
		}
	}
	return false;
}

static bool token_in_list(const char *list, const char *token)
{
	size_t tl = strlen(token);

	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ", ");
		if (n == tl && strncasecmp(p, token, tl) == 0)
			return true;
		p += n;
	}
	return false;
}

static int check_upgrade_response(struct session *s, const char *head)
{
	char want[64], got[128], buf[256];
	unsigned char sha[20];
	int code = 0;

	if (sscanf(head, "HTTP/1.%*1d %3d", &code) != 1)
		return session_failed(s, "not an HTTP response to the WebSocket upgrade"), -1;
	if (code != 101) {
		const char *eol = strstr(head, "\r\n");
		return session_failed(s, "upgrade refused: %.*s", (int)(eol ? eol - head : 60), head), -1;
	}
	if (!header_value(head, "Upgrade", buf, sizeof(buf)) || strcasecmp(buf, "websocket") != 0)
		return session_failed(s, "upgrade response lacks 'Upgrade: websocket'"), -1;
	if (!header_value(head, "Connection", buf, sizeof(buf)) || !token_in_list(buf, "upgrade"))
		return session_failed(s, "upgrade response lacks 'Connection: Upgrade'"), -1;
	if (header_value(head, "Sec-WebSocket-Extensions", buf, sizeof(buf)))
		return session_failed(s, "relay enabled an extension we did not offer (%s)", buf), -1;
	snprintf(buf, sizeof(buf), "%s" WS_GUID, s->ws_key);
	if (EVP_Digest(buf, strlen(buf), sha, NULL, EVP_sha1(), NULL) != 1)
		return session_failed(s, "SHA-1 failed"), -1;
	EVP_EncodeBlock((unsigned char *)want, sha, sizeof(sha));
	if (!header_value(head, "Sec-WebSocket-Accept", got, sizeof(got)) || strcmp(got, want) != 0)
		return session_failed(s, "wrong Sec-WebSocket-Accept in the upgrade response"), -1;
	return 0;
}

static int start_websocket(struct session *s)
{
	static const struct wslay_event_callbacks cb = {
		.recv_callback = ws_recv,
		.send_callback = ws_send,
		.genmask_callback = ws_genmask,
		.on_msg_recv_callback = ws_on_msg,
	};
	wslay_event_context_ptr ws;

	if (wslay_event_context_client_init(&ws, &cb, s) != 0)
		return session_failed(s, "out of memory"), -1;
	wslay_event_config_set_max_recv_msg_length(ws, s->relay->opts.max_message);
	s->ws = ws;
	return 0;
}

static void send_ping(struct session *s);

static void became_ready(struct session *s)
{
	struct timeval tv = { .tv_sec = (time_t)(s->relay->opts.ping_interval_ms / 1000),
			      .tv_usec = (suseconds_t)(s->relay->opts.ping_interval_ms % 1000) * 1000 };

	evtimer_del(s->timer);
	pool_connect_done(s->relay->pool, s);
	s->state = SESSION_READY;
	s->upgraded = true;
	s->ready_since_us = s->last_rx_us = clock_now_us();
	s->c.connects++;
	stats_session_ready(s, true);
	if (s->c.connects > 1)
		s->relay->c.reconnects++;
	s->last_error[0] = '\0';
	slog(s, LOG_INFO, "ready (%s)", s->relay->url);
	evtimer_add(s->keepalive, &tv);
	send_ping(s); /* measures the round trip right away */
	relay_session_ready(s->relay, s);
}

/* Reads the 101 response; frames may follow in the same read and stay in the buffer. */
static void read_upgrade(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char *head;
	size_t len;

	if (end.pos < 0) {
		if (evbuffer_get_length(in) > UPGRADE_MAX_RESPONSE)
			session_failed(s, "upgrade response headers larger than %d bytes", UPGRADE_MAX_RESPONSE);
		return;
	}
	len = (size_t)end.pos + 4;
	head = malloc(len + 1);
	if (!head) {
		session_failed(s, "out of memory");
		return;
	}
	evbuffer_remove(in, head, len);
	head[len] = '\0';
	if (check_upgrade_response(s, head) == 0 && start_websocket(s) == 0) {
		became_ready(s);
		if (s->state == SESSION_READY && evbuffer_get_length(in))
			on_ws_input(s);
	}
	free(head);
}

/* ---- NIP-01 relay messages --------------------------------------------------------------- */

static void protocol_error(struct session *s, const char *what, const char *text, size_t len)
{
	s->c.protocol_errors++;
	slog(s, LOG_INFO, "ignoring a malformed relay message (%s): %.*s", what, (int)(len > 120 ? 120 : len), text);
}

static void handle_ok(struct session *s, json_t *msg, const char *text, size_t len)
{
	json_t *id = json_array_get(msg, 1), *acc = json_array_get(msg, 2), *m = json_array_get(msg, 3);
	uint8_t raw[32];

	if (json_array_size(msg) != 4 || !json_is_string(id) || !json_is_boolean(acc) || !json_is_string(m) ||
	    json_string_length(id) != 64 || !hex_is_lower(json_string_value(id), 64) ||
	    hex_decode(json_string_value(id), 64, raw) < 0) {
		protocol_error(s, "OK needs [\"OK\", <64 hex>, <bool>, <string>]", text, len);
		return;
	}
	s->c.oks++;
	relay_handle_ok(s->relay, s, raw, json_is_true(acc), json_string_value(m));
}

static struct sub *find_sub(struct session *s, const char *id, struct sub ***link)
{
	for (struct sub **l = &s->subs; *l; l = &(*l)->next)
		if (strcmp((*l)->id, id) == 0) {
			if (link)
				*link = l;
			return *l;
		}
	return NULL;
}

static void remove_sub(struct session *s, struct sub **link)
{
	struct sub *sub = *link;

	*link = sub->next;
	s->n_subs--;
	free(sub);
}

/* EVENT, EOSE and CLOSED belong to a subscription (sync); others are counted and dropped. */
static void handle_sub_message(struct session *s, const char *type, json_t *msg, const char *text, size_t len)
{
	const char *id = json_string_value(json_array_get(msg, 1));
	size_t n = json_array_size(msg);
	struct sub *sub, **link;

	if (!id || (type[0] == 'E' && type[1] == 'V' && (n != 3 || !json_is_object(json_array_get(msg, 2)))) ||
	    (type[0] == 'E' && type[1] == 'O' && n != 2) ||
	    (type[0] == 'C' && (n != 3 || !json_is_string(json_array_get(msg, 2))))) {
		protocol_error(s, "EVENT/EOSE/CLOSED with the wrong shape", text, len);
		return;
	}
	sub = find_sub(s, id, &link);
	if (!sub) {
		slog(s, LOG_DEBUG, "%s for subscription \"%s\" we do not have, ignoring", type, id);
		return;
	}
	if (type[0] == 'E' && type[1] == 'V') {
		s->c.events_in++;
		sub->h->on_event(sub->arg, json_array_get(msg, 2));
	} else if (type[0] == 'E') {
		sub->h->on_eose(sub->arg);
	} else {
		const struct sub_handler *h = sub->h;
		void *arg = sub->arg;
		s->c.closed++;
		remove_sub(s, link);
		h->on_closed(arg, json_string_value(json_array_get(msg, 2)));
	}
}

static void handle_text(struct session *s, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *msg = json_loadb(text, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
	const char *type;

	if (!msg) {
		protocol_error(s, "invalid JSON", text, len);
		return;
	}
	type = json_string_value(json_array_get(msg, 0));
	if (!json_is_array(msg) || !type) {
		protocol_error(s, "not an array starting with a string", text, len);
	} else if (strcmp(type, "OK") == 0) {
		handle_ok(s, msg, text, len);
	} else if (strcmp(type, "NOTICE") == 0) {
		if (json_array_size(msg) != 2 || !json_is_string(json_array_get(msg, 1)))
			protocol_error(s, "NOTICE needs [\"NOTICE\", <string>]", text, len);
		else {
			s->c.notices++;
			relay_handle_notice(s->relay, s, json_string_value(json_array_get(msg, 1)));
		}
	} else if (strcmp(type, "EVENT") == 0 || strcmp(type, "EOSE") == 0 || strcmp(type, "CLOSED") == 0) {
		handle_sub_message(s, type, msg, text, len);
	} else if (strcmp(type, "AUTH") == 0) {
		slog(s, LOG_INFO, "relay asks for NIP-42 AUTH, which relaypoold does not do yet");
	} else {
		protocol_error(s, "unknown message type", text, len);
	}
	json_decref(msg);
}

static void handle_pong(struct session *s, const struct rx_msg *m)
{
	uint64_t sent;

	if (m->len != sizeof(sent) || !s->ping_sent_us)
		return; /* unsolicited pong: allowed by RFC 6455 */
	memcpy(&sent, m->data, sizeof(sent));
	if (sent != s->ping_sent_us)
		return;
	s->rtt_ms = (double)(clock_now_us() - sent) / 1000.0;
	s->ping_sent_us = 0;
}

static void handle_messages(struct session *s)
{
	while (s->rx_head && s->ws) {
		struct rx_msg *m = s->rx_head;
		s->rx_head = m->next;
		if (!s->rx_head)
			s->rx_tail = &s->rx_head;
		if (m->opcode == WSLAY_TEXT_FRAME)
			handle_text(s, m->data, m->len);
		else if (m->opcode == WSLAY_PONG)
			handle_pong(s, m);
		else if (m->opcode == WSLAY_BINARY_FRAME)
			protocol_error(s, "binary frame", "", 0);
		free(m);
	}
}

/* Runs wslay on the input, handles what arrived, writes what was queued, and notices the
 * end of the connection (a close either way, or a protocol violation wslay closed for). */
static void on_ws_input(struct session *s)
{
	int r;

	s->last_rx_us = clock_now_us();
	r = wslay_event_recv(s->ws);
	handle_messages(s);
	if (!s->ws)
		return;
	if (r != 0) {
		session_failed(s, "WebSocket receive error %d", r);
		return;
	}
	if (wslay_event_send(s->ws) != 0) {
		session_failed(s, "WebSocket send error");
		return;
	}
	if (!wslay_event_want_read(s->ws)) {
		uint16_t sent = wslay_event_get_status_code_sent(s->ws);
		uint16_t got = wslay_event_get_status_code_received(s->ws);
		if (sent == WSLAY_CODE_MESSAGE_TOO_BIG) {
			s->c.oversize++;
			session_failed(s, "relay sent a message over max_message (%llu bytes); closed with 1009",
				       (unsigned long long)s->relay->opts.max_message);
		} else if (sent == WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA || sent == WSLAY_CODE_PROTOCOL_ERROR) {
			s->c.protocol_errors++;
			session_failed(s, "WebSocket protocol violation by the relay; closed with %u", sent);
		} else if (s->state == SESSION_CLOSING) {
			char why[sizeof(s->last_error)];
			snprintf(why, sizeof(why), "%s", s->last_error[0] ? s->last_error : "by us");
			session_failed(s, "closed (%s)", why);
		} else {
			session_failed(s, "relay closed the WebSocket (code %u)", got);
		}
	}
}

/* ---- bufferevent callbacks --------------------------------------------------------------- */

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (!s->upgraded)
		read_upgrade(s);
	else if (s->ws)
		on_ws_input(s);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	char buf[300];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* Small frames must not wait for the peer's delayed ACK (Nagle): without this, a
		 * window refilled by a few OKs at a time stalls up to 40 ms per round trip. */
		int one = 1;
		setsockopt(bufferevent_getfd(s->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		send_upgrade(s);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* Frames that came with the EOF still count. */
		if (s->upgraded && s->ws && evbuffer_get_length(bufferevent_get_input(s->bev)))
			on_ws_input(s);
		if (s->bev)
			session_failed(s, "%s", s->upgraded ? "connection closed by the relay" : "connection closed during the upgrade");
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		session_failed(s, "%s", bev_error_text(s, buf, sizeof(buf)));
}

/* ---- connecting ------------------------------------------------------------------------- */

static SSL *new_ssl(struct session *s)
{
	struct relay *r = s->relay;
	SSL *ssl = SSL_new(r->pool->ssl_ctx);

	if (!ssl)
		return NULL;
	if (r->tls_verify) {
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		/* Also matches IP SANs for IP literals. */
		if (!SSL_set1_host(ssl, r->wsurl.host)) {
			SSL_free(ssl);
			return NULL;
		}
	} else {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	}
	if (!r->wsurl.host_is_ip)
		SSL_set_tlsext_host_name(ssl, r->wsurl.host);
	return ssl;
}

void session_connect_now(struct session *s)
{
	struct relay *r = s->relay;
	struct event_base *base = r->pool->base;
	struct timeval tv = { .tv_sec = (time_t)(r->opts.connect_timeout_ms / 1000),
			      .tv_usec = (suseconds_t)(r->opts.connect_timeout_ms % 1000) * 1000 };
	SSL *ssl = NULL;

	s->waiting_slot = false;
	s->state = SESSION_CONNECTING;
	if (r->wsurl.tls) {
		ssl = new_ssl(s);
		if (!ssl) {
			pool_connect_done(r->pool, s);
			session_failed(s, "cannot create a TLS session");
			return;
		}
		s->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
							 BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (s->bev)
			bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
		else
			SSL_free(ssl);
	} else {
		s->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	}
	if (!s->bev) {
		pool_connect_done(r->pool, s);
		session_failed(s, "out of memory");
		return;
	}
	s->ssl = ssl;
	bufferevent_setcb(s->bev, read_cb, NULL, event_cb, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	evtimer_add(s->timer, &tv);
	slog(s, LOG_DEBUG, "connecting to %s", r->url);
	if (bufferevent_socket_connect_hostname(s->bev, r->pool->dns, AF_UNSPEC, r->wsurl.host, r->wsurl.port) < 0) {
		char buf[300];
		session_failed(s, "%s", bev_error_text(s, buf, sizeof(buf)));
	}
}

/* ---- timers ------------------------------------------------------------------------------ */

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd, (void)what;
	switch (s->state) {
	case SESSION_BACKOFF:
		session_start(s);
		break;
	case SESSION_CONNECTING:
		session_failed(s, "no connection within connect_timeout (%llu ms)",
			       (unsigned long long)s->relay->opts.connect_timeout_ms);
		break;
	case SESSION_CLOSING:
		session_failed(s, "relay did not answer our close within %d s", CLOSE_WAIT_SEC);
		break;
	default:
		break;
	}
}

static void send_ping(struct session *s)
{
	uint64_t t = clock_now_us();
	struct wslay_event_msg msg = { .opcode = WSLAY_PING, .msg = (const uint8_t *)&t, .msg_length = sizeof(t) };
	struct timeval tv = { .tv_sec = (time_t)(s->relay->opts.pong_timeout_ms / 1000),
			      .tv_usec = (suseconds_t)(s->relay->opts.pong_timeout_ms % 1000) * 1000 };

	if (wslay_event_queue_msg(s->ws, &msg) != 0 || wslay_event_send(s->ws) != 0) {
		session_failed(s, "cannot send a ping");
		return;
	}
	s->ping_sent_us = t;
	s->c.pings++;
	evtimer_add(s->keepalive, &tv);
}

static void keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	uint64_t now = clock_now_us(), idle_us, interval_us = s->relay->opts.ping_interval_ms * 1000;
	struct timeval tv;

	(void)fd, (void)what;
	if (s->state != SESSION_READY || !s->ws)
		return;
	if (s->ping_sent_us) {
		if (now - s->ping_sent_us >= s->relay->opts.pong_timeout_ms * 1000) {
			s->c.pong_timeouts++;
			session_failed(s, "no pong within pong_timeout (%llu ms)",
				       (unsigned long long)s->relay->opts.pong_timeout_ms);
			return;
		}
		/* The pong deadline was set for an earlier ping. */
	}
	idle_us = now - s->last_rx_us;
	if (!s->ping_sent_us && idle_us >= interval_us) {
		send_ping(s);
		return;
	}
	uint64_t wait = s->ping_sent_us ? s->relay->opts.pong_timeout_ms * 1000 - (now - s->ping_sent_us)
					: interval_us - idle_us;
	tv.tv_sec = (time_t)(wait / 1000000);
	tv.tv_usec = (suseconds_t)(wait % 1000000);
	evtimer_add(s->keepalive, &tv);
}

/* ---- sending and closing ------------------------------------------------------------------ */

int session_send_text(struct session *s, const char *text, size_t len)
{
	struct wslay_event_msg msg = { .opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *)text, .msg_length = len };

	if (s->state != SESSION_READY || !s->ws)
		return -ENOTCONN;
	if (wslay_event_queue_msg(s->ws, &msg) != 0)
		return -ENOMEM;
	if (wslay_event_send(s->ws) != 0)
		return -EIO;
	s->c.sent++;
	return 0;
}

int session_send_json(struct session *s, json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	int r;

	if (!text)
		return -ENOMEM;
	r = session_send_text(s, text, strlen(text));
	free(text);
	return r;
}

int session_subscribe(struct session *s, const char *id, const json_t *filters, const struct sub_handler *h, void *arg)
{
	struct sub *sub;
	json_t *req;
	size_t i;
	json_t *f;
	int r;

	if (s->state != SESSION_READY)
		return -ENOTCONN;
	sub = calloc(1, sizeof(*sub));
	req = json_pack("[s, s]", "REQ", id);
	if (!sub || !req) {
		free(sub);
		json_decref(req);
		return -ENOMEM;
	}
	json_array_foreach(filters, i, f)
		json_array_append(req, f);
	snprintf(sub->id, sizeof(sub->id), "%s", id);
	sub->h = h;
	sub->arg = arg;
	sub->next = s->subs;
	s->subs = sub;
	s->n_subs++;
	r = session_send_json(s, req);
	json_decref(req);
	if (r < 0) {
		remove_sub(s, &s->subs);
		return r;
	}
	s->c.reqs++;
	return 0;
}

void session_unsubscribe(struct session *s, const char *id)
{
	struct sub **link;
	json_t *msg;

	if (!find_sub(s, id, &link))
		return;
	remove_sub(s, link);
	msg = json_pack("[s, s]", "CLOSE", id);
	if (msg && s->state == SESSION_READY)
		session_send_json(s, msg);
	json_decref(msg);
}

void session_close(struct session *s, uint16_t code, const char *why, bool stop)
{
	struct timeval tv = { .tv_sec = CLOSE_WAIT_SEC };

	if (stop)
		s->stop_after_close = true;
	switch (s->state) {
	case SESSION_READY:
		snprintf(s->last_error, sizeof(s->last_error), "%s", why);
		s->state = SESSION_CLOSING;
		stats_session_ready(s, false);
		evtimer_del(s->keepalive);
		if (wslay_event_queue_close(s->ws, code, (const uint8_t *)why, strlen(why)) != 0 ||
		    wslay_event_send(s->ws) != 0) {
			session_failed(s, "%s", why);
			return;
		}
		/* Jobs in flight go back to the queue now; the relay may still answer them. */
		relay_session_down(s->relay, s);
		evtimer_add(s->timer, &tv);
		break;
	case SESSION_CONNECTING:
		if (s->waiting_slot) {
			pool_cancel_connect(s->relay->pool, s);
			s->waiting_slot = false;
			s->state = SESSION_BACKOFF;
		}
		/* fall through */
	case SESSION_BACKOFF:
		if (stop) {
			teardown(s);
			s->state = SESSION_STOPPED;
			evtimer_del(s->timer);
			pool_session_stopped(s->relay->pool, s);
		} else {
			teardown(s);
			s->attempt = 0;
			s->state = SESSION_BACKOFF;
			session_start(s);
		}
		break;
	case SESSION_CLOSING:
	case SESSION_STOPPED:
		break;
	}
}

json_t *session_json(const struct session *s)
{
	json_t *o = json_pack("{s:i, s:s, s:i, s:s?}", "index", (int)s->index, "state", session_state_name(s->state),
			      "inflight", (int)s->n_inflight, "last_error", s->last_error[0] ? s->last_error : NULL);

	json_object_set_new(o, "rtt_ms", s->rtt_ms >= 0 ? json_real(s->rtt_ms) : json_null());
	json_object_set_new(o, "subscriptions", json_integer(s->n_subs));
	if (s->state == SESSION_READY)
		json_object_set_new(o, "ready_for_s", json_real((double)(clock_now_us() - s->ready_since_us) / 1e6));
	json_object_set_new(o, "counters",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "connects",
				      (json_int_t)s->c.connects, "disconnects", (json_int_t)s->c.disconnects,
				      "connect_failures", (json_int_t)s->c.connect_failures, "sent",
				      (json_int_t)s->c.sent, "oks", (json_int_t)s->c.oks, "notices",
				      (json_int_t)s->c.notices, "protocol_errors", (json_int_t)s->c.protocol_errors,
				      "unknown_oks", (json_int_t)s->c.unknown_oks, "oversize",
				      (json_int_t)s->c.oversize, "pong_timeouts", (json_int_t)s->c.pong_timeouts,
				      "bytes_in", (json_int_t)s->c.bytes_in, "bytes_out", (json_int_t)s->c.bytes_out, "reqs",
				      (json_int_t)s->c.reqs, "events_in", (json_int_t)s->c.events_in));
	return o;
}
