/* ws.c - one WebSocket client connection.
 *
 * Life: CONNECTING (DNS, TCP, TLS, HTTP upgrade) -> OPEN -> (CLOSING) -> ended. The HTTP/1.1
 * upgrade is ours (wslay does framing only); frames go through wslay on a libevent
 * bufferevent (TLS via libevent_openssl).
 *
 * wslay rules we follow (NOTES.md): the recv callback reports WOULDBLOCK when the input is
 * empty; wslay_event_send runs after every wslay_event_recv (pongs and close replies are
 * only queued); nothing is sent or freed inside wslay callbacks - received messages are
 * copied to a list and handed up once wslay_event_recv returns. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <wslay/wslay.h>

#include "clock.h"
#include "util.h"
#include "ws.h"

#define UPGRADE_MAX_RESPONSE 16384
#define CLOSE_WAIT_US (2 * 1000000ULL)
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum ws_state { WS_CONNECTING, WS_OPEN, WS_CLOSING, WS_ENDED };

/* A message received during wslay_event_recv, handed up once it returns. */
struct rx_msg {
	uint8_t opcode;
	size_t len;
	struct rx_msg *next;
	char data[];
};

struct ws {
	struct ws_params p;
	struct wsurl url;
	const struct ws_ops *ops;
	void *arg;
	enum ws_state state;
	struct bufferevent *bev;
	SSL *ssl; /* owned by bev */
	wslay_event_context_ptr ctx;
	char key[32];
	struct event *timer;     /* connect timeout, close wait, deferred failure */
	struct event *keepalive; /* ping when idle, pong deadline */
	uint64_t ping_sent_us;   /* 0 = no ping outstanding */
	uint64_t last_rx_us;
	double rtt_ms;
	struct ws_counters c;
	char why[256];       /* a failure waiting for the timer to report it */
	char close_why[256]; /* our reason, while CLOSING */
	struct rx_msg *rx_head, **rx_tail;
	unsigned in_callback; /* ws_free inside a callback is deferred */
	bool free_pending;
};

static void on_input(struct ws *w);

/* ---- ending ---------------------------------------------------------------------------- */

static void rx_clear(struct ws *w)
{
	while (w->rx_head) {
		struct rx_msg *m = w->rx_head;
		w->rx_head = m->next;
		free(m);
	}
	w->rx_tail = &w->rx_head;
}

/* Frees the connection (bev, TLS, wslay); the object stays for its owner to free. */
static void teardown(struct ws *w)
{
	if (w->keepalive)
		evtimer_del(w->keepalive);
	if (w->timer)
		evtimer_del(w->timer);
	if (w->ctx) {
		wslay_event_context_free(w->ctx);
		w->ctx = NULL;
	}
	if (w->bev) {
		if (w->ssl && w->state != WS_CONNECTING) {
			/* Polite TLS close; bufferevent_free sends no close_notify itself. */
			SSL_set_shutdown(w->ssl, SSL_RECEIVED_SHUTDOWN);
			SSL_shutdown(w->ssl);
		}
		bufferevent_free(w->bev);
		w->bev = NULL;
		w->ssl = NULL;
	}
	rx_clear(w);
	w->ping_sent_us = 0;
}

static void really_free(struct ws *w)
{
	teardown(w);
	if (w->timer)
		event_free(w->timer);
	if (w->keepalive)
		event_free(w->keepalive);
	free(w);
}

void ws_free(struct ws *w)
{
	if (!w)
		return;
	if (w->in_callback) {
		teardown(w);
		w->state = WS_ENDED;
		w->free_pending = true;
		return;
	}
	really_free(w);
}

/* Around every call up: a ws_free() from inside is deferred to the matching leave(), which
 * returns false when w is gone. */
static void enter(struct ws *w)
{
	w->in_callback++;
}

static bool leave(struct ws *w)
{
	if (--w->in_callback == 0 && w->free_pending) {
		really_free(w);
		return false;
	}
	return !w->free_pending;
}

/* The one way a connection ends: tear down, then tell the owner. */
static void end(struct ws *w, const char *fmt, ...) _printf_(2, 3);
static void end(struct ws *w, const char *fmt, ...)
{
	bool was_open = w->state == WS_OPEN || w->state == WS_CLOSING;
	char why[256];
	va_list ap;

	if (w->state == WS_ENDED)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	teardown(w);
	w->state = WS_ENDED;
	enter(w);
	w->ops->ended(w->arg, was_open, why);
	leave(w);
}

/* ---- wslay callbacks --------------------------------------------------------------------- */

static ssize_t cb_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct ws *w = user;
	int n;

	(void)flags;
	n = evbuffer_remove(bufferevent_get_input(w->bev), buf, len);
	if (n <= 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	w->c.bytes_in += (unsigned)n;
	return n;
}

static ssize_t cb_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	struct ws *w = user;

	(void)flags;
	if (evbuffer_add(bufferevent_get_output(w->bev), data, len) < 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	w->c.bytes_out += len;
	return (ssize_t)len;
}

static int cb_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
	(void)ctx, (void)user;
	/* Masking only defeats proxy cache poisoning; it needs unpredictable, not secret, bytes. */
	return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static void cb_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	struct ws *w = user;
	struct rx_msg *m;

	(void)ctx;
	if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_PONG && arg->opcode != WSLAY_BINARY_FRAME)
		return;
	m = malloc(sizeof(*m) + arg->msg_length + 1);
	if (!m)
		return;
	m->opcode = arg->opcode;
	m->len = arg->msg_length;
	m->next = NULL;
	memcpy(m->data, arg->msg, arg->msg_length);
	m->data[arg->msg_length] = '\0';
	*w->rx_tail = m;
	w->rx_tail = &m->next;
}

/* ---- keepalive ---------------------------------------------------------------------------- */

static void send_ping(struct ws *w)
{
	uint64_t t = clock_now_us();
	struct wslay_event_msg msg = { .opcode = WSLAY_PING, .msg = (const uint8_t *)&t, .msg_length = sizeof(t) };
	struct timeval tv;

	if (wslay_event_queue_msg(w->ctx, &msg) != 0 || wslay_event_send(w->ctx) != 0) {
		end(w, "cannot send a ping");
		return;
	}
	w->ping_sent_us = t;
	w->c.pings++;
	clock_tv(&tv, w->p.pong_timeout_ms * 1000);
	evtimer_add(w->keepalive, &tv);
}

static void keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws *w = arg;
	uint64_t now = clock_now_us(), idle, interval = w->p.ping_interval_ms * 1000, pong = w->p.pong_timeout_ms * 1000;
	struct timeval tv;

	(void)fd, (void)what;
	if (w->state != WS_OPEN)
		return;
	if (w->ping_sent_us && now - w->ping_sent_us >= pong) {
		w->c.pong_timeouts++;
		end(w, "no pong within pong_timeout (%llu ms)", (unsigned long long)w->p.pong_timeout_ms);
		return;
	}
	idle = now - w->last_rx_us;
	if (!w->ping_sent_us && idle >= interval) {
		send_ping(w);
		return;
	}
	clock_tv(&tv, w->ping_sent_us ? pong - (now - w->ping_sent_us) : interval - idle);
	evtimer_add(w->keepalive, &tv);
}

static void handle_pong(struct ws *w, const struct rx_msg *m)
{
	uint64_t sent;

	if (m->len != sizeof(sent) || !w->ping_sent_us)
		return; /* unsolicited pong: allowed by RFC 6455 */
	memcpy(&sent, m->data, sizeof(sent));
	if (sent != w->ping_sent_us)
		return;
	w->rtt_ms = (double)(clock_now_us() - sent) / 1000.0;
	w->ping_sent_us = 0;
}

/* ---- HTTP upgrade ------------------------------------------------------------------------ */

static void send_upgrade(struct ws *w)
{
	uint8_t nonce[16];
	char host[300];

	if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce)) {
		end(w, "no randomness for the WebSocket key");
		return;
	}
	EVP_EncodeBlock((unsigned char *)w->key, nonce, sizeof(nonce));
	wsurl_host_header(&w->url, host, sizeof(host));
	/* No Sec-WebSocket-Extensions: we do not offer permessage-deflate. */
	evbuffer_add_printf(bufferevent_get_output(w->bev),
			    "GET %s HTTP/1.1\r\n"
			    "Host: %s\r\n"
			    "Upgrade: websocket\r\n"
			    "Connection: Upgrade\r\n"
			    "Sec-WebSocket-Key: %s\r\n"
			    "Sec-WebSocket-Version: 13\r\n"
			    "User-Agent: relaypoold/" RELAYPOOL_VERSION "\r\n"
			    "\r\n",
			    w->url.path, host, w->key);
}

/* Finds header name in the response head (case-insensitive); copies its value. */
static bool header_value(const char *head, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2, *eol = strstr(line, "\r\n");
		if (!eol)
			break;
		if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vl = (size_t)(eol - v);
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

const char *ws_check_upgrade(const char *key, const char *head, char *buf, size_t len)
{
	char want[64], got[128], v[256];
	unsigned char sha[20];
	int code = 0;

	if (sscanf(head, "HTTP/1.%*1d %3d", &code) != 1)
		return "not an HTTP response to the WebSocket upgrade";
	if (code != 101) {
		const char *eol = strstr(head, "\r\n");
		snprintf(buf, len, "upgrade refused: %.*s", (int)(eol ? eol - head : 60), head);
		return buf;
	}
	if (!header_value(head, "Upgrade", v, sizeof(v)) || strcasecmp(v, "websocket") != 0)
		return "upgrade response lacks 'Upgrade: websocket'";
	if (!header_value(head, "Connection", v, sizeof(v)) || !token_in_list(v, "upgrade"))
		return "upgrade response lacks 'Connection: Upgrade'";
	if (header_value(head, "Sec-WebSocket-Extensions", v, sizeof(v))) {
		snprintf(buf, len, "relay enabled an extension we did not offer (%s)", v);
		return buf;
	}
	snprintf(v, sizeof(v), "%s" WS_GUID, key);
	if (EVP_Digest(v, strlen(v), sha, NULL, EVP_sha1(), NULL) != 1)
		return "SHA-1 failed";
	EVP_EncodeBlock((unsigned char *)want, sha, sizeof(sha));
	if (!header_value(head, "Sec-WebSocket-Accept", got, sizeof(got)) || strcmp(got, want) != 0)
		return "wrong Sec-WebSocket-Accept in the upgrade response";
	return NULL;
}

static void opened(struct ws *w)
{
	static const struct wslay_event_callbacks cb = {
		.recv_callback = cb_recv,
		.send_callback = cb_send,
		.genmask_callback = cb_genmask,
		.on_msg_recv_callback = cb_msg,
	};
	struct timeval tv;

	if (wslay_event_context_client_init(&w->ctx, &cb, w) != 0) {
		w->ctx = NULL;
		end(w, "out of memory");
		return;
	}
	wslay_event_config_set_max_recv_msg_length(w->ctx, w->p.max_message);
	evtimer_del(w->timer);
	w->state = WS_OPEN;
	w->last_rx_us = clock_now_us();
	clock_tv(&tv, w->p.ping_interval_ms * 1000);
	evtimer_add(w->keepalive, &tv);
	send_ping(w); /* measures the round trip right away */
	if (w->state != WS_OPEN)
		return;
	enter(w);
	w->ops->opened(w->arg);
	leave(w);
}

/* Reads the 101 response; frames may follow in the same read and stay in the buffer. */
static void read_upgrade(struct ws *w)
{
	struct evbuffer *in = bufferevent_get_input(w->bev);
	struct evbuffer_ptr eoh = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char buf[300], *head;
	const char *bad;
	size_t len;

	if (eoh.pos < 0) {
		if (evbuffer_get_length(in) > UPGRADE_MAX_RESPONSE)
			end(w, "upgrade response headers larger than %d bytes", UPGRADE_MAX_RESPONSE);
		return;
	}
	len = (size_t)eoh.pos + 4;
	head = malloc(len + 1);
	if (!head) {
		end(w, "out of memory");
		return;
	}
	evbuffer_remove(in, head, len);
	head[len] = '\0';
	bad = ws_check_upgrade(w->key, head, buf, sizeof(buf));
	free(head);
	if (bad) {
		end(w, "%s", bad);
		return;
	}
	enter(w);
	opened(w);
	if (leave(w) && w->state == WS_OPEN && evbuffer_get_length(in))
		on_input(w);
}

/* ---- frames in --------------------------------------------------------------------------- */

/* Hands up what wslay received; false if the owner freed us meanwhile. */
static bool deliver(struct ws *w)
{
	bool alive = true;

	enter(w);
	while (w->rx_head && w->state != WS_ENDED) {
		struct rx_msg *m = w->rx_head;
		w->rx_head = m->next;
		if (!w->rx_head)
			w->rx_tail = &w->rx_head;
		if (m->opcode == WSLAY_TEXT_FRAME)
			w->ops->message(w->arg, m->data, m->len);
		else if (m->opcode == WSLAY_PONG)
			handle_pong(w, m);
		else
			w->c.violations++; /* binary frames mean nothing in NIP-01 */
		free(m);
	}
	alive = leave(w);
	return alive && w->state != WS_ENDED;
}

/* Runs wslay on the input, hands up what arrived, writes what was queued, and notices the
 * end of the connection (a close either way, or a protocol violation wslay closed for). */
static void on_input(struct ws *w)
{
	int r;

	w->last_rx_us = clock_now_us();
	r = wslay_event_recv(w->ctx);
	if (!deliver(w))
		return;
	if (r != 0) {
		end(w, "WebSocket receive error %d", r);
		return;
	}
	if (wslay_event_send(w->ctx) != 0) {
		end(w, "WebSocket send error");
		return;
	}
	if (!wslay_event_want_read(w->ctx)) {
		uint16_t sent = wslay_event_get_status_code_sent(w->ctx);
		uint16_t got = wslay_event_get_status_code_received(w->ctx);
		if (sent == WSLAY_CODE_MESSAGE_TOO_BIG) {
			w->c.oversize++;
			end(w, "relay sent a message over max_message (%llu bytes); closed with 1009",
			    (unsigned long long)w->p.max_message);
		} else if (sent == WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA || sent == WSLAY_CODE_PROTOCOL_ERROR) {
			w->c.violations++;
			end(w, "WebSocket protocol violation by the relay; closed with %u", sent);
		} else if (w->state == WS_CLOSING) {
			char why[sizeof(w->close_why)];
			memcpy(why, w->close_why, sizeof(why));
			end(w, "closed (%s)", why);
		} else {
			end(w, "relay closed the WebSocket (code %u)", got);
		}
	}
}

/* ---- bufferevent callbacks --------------------------------------------------------------- */

static const char *bev_error_text(struct ws *w, char *buf, size_t len)
{
	unsigned long e;
	int dns = bufferevent_socket_get_dns_error(w->bev);

	if (dns)
		return snprintf(buf, len, "DNS: %s", evutil_gai_strerror(dns)), buf;
	if (w->ssl) {
		long v = SSL_get_verify_result(w->ssl);
		if (v != X509_V_OK)
			return snprintf(buf, len, "TLS certificate verification failed: %s", X509_verify_cert_error_string(v)),
			       buf;
		while ((e = bufferevent_get_openssl_error(w->bev))) {
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

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct ws *w = arg;

	(void)bev;
	if (w->state == WS_CONNECTING)
		read_upgrade(w);
	else if (w->ctx)
		on_input(w);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ws *w = arg;
	char buf[300];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* Small frames must not wait for the peer's delayed ACK (Nagle): without this, a
		 * window refilled by a few OKs at a time stalls up to 40 ms per round trip. */
		int one = 1;
		setsockopt(bufferevent_getfd(w->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		send_upgrade(w);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		bool open = w->state != WS_CONNECTING;
		/* Frames that came with the EOF still count. */
		if (open && w->ctx && evbuffer_get_length(bufferevent_get_input(w->bev))) {
			enter(w);
			on_input(w);
			if (!leave(w) || w->state == WS_ENDED)
				return;
		}
		end(w, "%s", open ? "connection closed by the relay" : "connection closed during the upgrade");
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		end(w, "%s", bev_error_text(w, buf, sizeof(buf)));
}

/* Connect timeout, the close handshake's wait, or a failure found inside ws_open. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws *w = arg;

	(void)fd, (void)what;
	if (w->why[0])
		end(w, "%s", w->why);
	else if (w->state == WS_CONNECTING)
		end(w, "no connection within connect_timeout (%llu ms)", (unsigned long long)w->p.connect_timeout_ms);
	else if (w->state == WS_CLOSING)
		end(w, "relay did not answer our close within %llu s", CLOSE_WAIT_US / 1000000);
}

/* ---- opening ---------------------------------------------------------------------------- */

void *ws_client_ssl(void *ssl_ctx, const struct wsurl *url, bool tls_verify)
{
	SSL *ssl = SSL_new(ssl_ctx);

	if (!ssl)
		return NULL;
	if (tls_verify) {
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		/* Also matches IP SANs for IP literals. */
		if (!SSL_set1_host(ssl, url->host)) {
			SSL_free(ssl);
			return NULL;
		}
	} else {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	}
	if (!url->host_is_ip)
		SSL_set_tlsext_host_name(ssl, url->host);
	return ssl;
}

/* A failure inside ws_open is reported from the timer, never from inside the call. */
static void fail_soon(struct ws *w, const char *why)
{
	struct timeval now = { 0, 0 };

	snprintf(w->why, sizeof(w->why), "%s", why);
	evtimer_add(w->timer, &now);
}

struct ws *ws_open(const struct ws_params *p, const struct ws_ops *ops, void *arg)
{
	struct ws *w = calloc(1, sizeof(*w));
	struct timeval tv;
	char buf[300];

	if (!w)
		return NULL;
	w->p = *p;
	w->url = *p->url;
	w->p.url = &w->url;
	w->ops = ops;
	w->arg = arg;
	w->rtt_ms = -1;
	w->rx_tail = &w->rx_head;
	w->state = WS_CONNECTING;
	w->timer = evtimer_new(p->base, timer_cb, w);
	w->keepalive = evtimer_new(p->base, keepalive_cb, w);
	if (!w->timer || !w->keepalive) {
		really_free(w);
		return NULL;
	}
	if (w->url.tls) {
		w->ssl = ws_client_ssl(w->p.ssl_ctx, &w->url, w->p.tls_verify);
		if (!w->ssl) {
			fail_soon(w, "cannot create a TLS session");
			return w;
		}
		w->bev = bufferevent_openssl_socket_new(p->base, -1, w->ssl, BUFFEREVENT_SSL_CONNECTING,
							 BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (w->bev) {
			bufferevent_openssl_set_allow_dirty_shutdown(w->bev, 1);
		} else {
			SSL_free(w->ssl);
			w->ssl = NULL;
		}
	} else {
		w->bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	}
	if (!w->bev) {
		fail_soon(w, "out of memory");
		return w;
	}
	bufferevent_setcb(w->bev, read_cb, NULL, event_cb, w);
	bufferevent_enable(w->bev, EV_READ | EV_WRITE);
	clock_tv(&tv, p->connect_timeout_ms * 1000);
	evtimer_add(w->timer, &tv);
	if (bufferevent_socket_connect_hostname(w->bev, p->dns, AF_UNSPEC, w->url.host, w->url.port) < 0)
		fail_soon(w, bev_error_text(w, buf, sizeof(buf)));
	return w;
}

/* ---- sending and closing ------------------------------------------------------------------ */

int ws_send_text(struct ws *w, const char *text, size_t len)
{
	struct wslay_event_msg msg = { .opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *)text, .msg_length = len };

	if (w->state != WS_OPEN || !w->ctx)
		return -ENOTCONN;
	if (wslay_event_queue_msg(w->ctx, &msg) != 0)
		return -ENOMEM;
	if (wslay_event_send(w->ctx) != 0)
		return -EIO;
	return 0;
}

void ws_close(struct ws *w, uint16_t code, const char *why)
{
	struct timeval tv;

	if (w->state != WS_OPEN)
		return;
	snprintf(w->close_why, sizeof(w->close_why), "%s", why);
	w->state = WS_CLOSING;
	evtimer_del(w->keepalive);
	if (wslay_event_queue_close(w->ctx, code, (const uint8_t *)why, strlen(why)) != 0 ||
	    wslay_event_send(w->ctx) != 0) {
		end(w, "closed (%s)", why);
		return;
	}
	clock_tv(&tv, CLOSE_WAIT_US);
	evtimer_add(w->timer, &tv);
}

void ws_hold_input(struct ws *w, bool hold)
{
	if (!w->bev || w->state != WS_OPEN)
		return;
	if (hold)
		bufferevent_disable(w->bev, EV_READ);
	else
		bufferevent_enable(w->bev, EV_READ);
}

bool ws_is_open(const struct ws *w)
{
	return w->state == WS_OPEN;
}

double ws_rtt_ms(const struct ws *w)
{
	return w->rtt_ms;
}

const struct ws_counters *ws_counters(const struct ws *w)
{
	return &w->c;
}
