/* fast_relay.c - a minimal, fast Nostr relay for benchmarks (ws:// on 127.0.0.1 only).
 *
 * Every ["EVENT", ev] gets ["OK", id, true, ""]; by default the id is picked out of the text
 * without parsing it (anything odd falls back to a full parse). --verify parses and verifies
 * every event with common/event.c and answers OK false "invalid: ..." on failure. --serve N
 * signs N deterministic kind-1 events at startup (increasing created_at) and answers REQs:
 * since/until/limit/ids/authors/kinds ("#x" tag filters match nothing: our events have no
 * tags), newest first, at most --req-limit (default 500, like strfry) per filter, then EOSE.
 * CLOSE is accepted silently. Replies go out in order per connection; --ok-delay MS holds
 * each OK back (and everything queued after it) by MS.
 *
 * NIP-77: NEG-OPEN / NEG-MSG / NEG-CLOSE over the --serve set, answered by the project's C
 * responder (common/negentropy.c) with a frame size limit of --neg-frame-limit bytes
 * (default 60000); NIP-11 lists 77 unless --no-negentropy, which answers NEG-* with a NOTICE
 * as a relay without NIP-77 does.
 *
 * The HTTP/1.1 Upgrade is ours; framing is wslay's server context on a bufferevent. Nothing
 * is stored: duplicates are answered OK true like new events.
 *
 * Usage: fast_relay [--port N] [--verify] [--serve N] [--req-limit N] [--ok-delay MS]
 *                   [--max-message BYTES] [--created-at UNIX] [--neg-frame-limit BYTES]
 *                   [--no-negentropy] [--ignore-limit]
 * --ignore-limit answers every REQ with everything that matches, whatever its limit.
 * Prints "LISTENING <port>" on stdout when ready, a stats line on stderr on SIGINT/SIGTERM. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "benchgen.h"
#include "benchws.h"
#include "event.h"
#include "hex.h"
#include "negentropy.h"
#include "served.h"
#include "strbuf.h"

/* A client whose unsent replies exceed OUT_HIGH is not read until they drop to OUT_LOW. */
#define OUT_HIGH (4u << 20)
#define OUT_LOW (1u << 20)
#define MAX_READ (256u << 10)
#define MAX_SUBID 256

struct options {
	uint16_t port;
	bool verify;
	uint64_t serve, req_limit, ok_delay_ms, max_message, neg_frame;
	int64_t created_at;
	bool no_negentropy;
	bool ignore_limit;
};

/* One NIP-77 reconciliation of a connection. */
struct negsess {
	struct negsess *next;
	char subid[MAX_SUBID + 1];
	struct neg_storage st;
	struct neg neg;
};

struct rconn;

struct relay {
	struct event_base *base;
	struct evconnlistener *listener;
	struct options opt;
	struct served_set served;
	struct rconn *conns;
	struct strbuf scratch; /* one thread: every reply is built here, then copied by wslay */
	uint64_t connections, events, ok_false, reqs, sent_events, neg_opens, neg_msgs;
};

/* RS_CLOSING: last bytes queued, waiting for them to leave; RS_LINGER: half-closed, reading
 * and discarding until the peer closes (closing with unread input would send a RST that can
 * destroy our final reply or close frame). */
enum rstate { RS_HANDSHAKE, RS_OPEN, RS_CLOSING, RS_LINGER };
#define LINGER_SECONDS 2

struct delayed {
	uint64_t due;
	size_t len;
};

struct rconn {
	struct relay *r;
	struct rconn *prev, *next;
	struct bufferevent *bev;
	wslay_event_context_ptr ws;
	enum rstate state;
	bool paused;
	size_t queued; /* reply bytes queued in wslay since the last wslay_event_send */
	/* --ok-delay: reply bytes waiting for their time, one record per reply */
	struct evbuffer *held;
	struct delayed *dq;
	size_t dcap, dhead, dcount;
	struct event *timer;
	struct event *linger;
	struct negsess *negs;
};

static void negsess_free(struct negsess *n)
{
	neg_storage_clear(&n->st);
	free(n);
}

static void conn_free(struct rconn *c)
{
	if (c->ws)
		wslay_event_context_free(c->ws);
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->timer)
		event_free(c->timer);
	if (c->linger)
		event_free(c->linger);
	if (c->held)
		evbuffer_free(c->held);
	free(c->dq);
	while (c->negs) {
		struct negsess *n = c->negs;
		c->negs = n->next;
		negsess_free(n);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		c->r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

/* ---- replies ------------------------------------------------------------------------- */

/* Reply bytes not yet handed to the kernel: held (--ok-delay), queued in wslay, unsent. */
static size_t conn_backlog(const struct rconn *c)
{
	return evbuffer_get_length(c->held) + c->queued + evbuffer_get_length(bufferevent_get_output(c->bev));
}

static void ws_queue(struct rconn *c, const char *p, size_t n)
{
	struct wslay_event_msg m = { .opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *)p, .msg_length = n };

	/* Fails only once a close is queued: the peer will not read it anyway. */
	if (wslay_event_queue_msg(c->ws, &m) == 0)
		c->queued += n;
}

static void held_arm(struct rconn *c, uint64_t now)
{
	uint64_t due = c->dq[c->dhead].due, wait = due > now ? due - now : 0;
	struct timeval tv = { .tv_sec = (time_t)(wait / 1000000000u), .tv_usec = (suseconds_t)(wait % 1000000000u / 1000) };

	evtimer_add(c->timer, &tv);
}

static void held_push(struct rconn *c, const char *p, size_t n, uint64_t due)
{
	if (c->dcount == c->dcap) {
		size_t cap = c->dcap ? c->dcap * 2 : 64;
		struct delayed *q = malloc(cap * sizeof(*q));
		if (!q)
			abort();
		for (size_t i = 0; i < c->dcount; i++)
			q[i] = c->dq[(c->dhead + i) & (c->dcap - 1)];
		free(c->dq);
		c->dq = q;
		c->dcap = cap;
		c->dhead = 0;
	}
	c->dq[(c->dhead + c->dcount) & (c->dcap - 1)] = (struct delayed){ .due = due, .len = n };
	if (evbuffer_add(c->held, p, n) < 0)
		abort();
	if (c->dcount++ == 0)
		held_arm(c, benchws_now_ns());
}

/* Sends a reply now, or holds it: an OK for --ok-delay, anything else while older replies
 * are held (so order per connection is kept). */
static void reply(struct rconn *c, const char *p, size_t n, bool is_ok)
{
	uint64_t delay = c->r->opt.ok_delay_ms * 1000000u;

	if (delay == 0 || (!is_ok && c->dcount == 0)) {
		ws_queue(c, p, n);
		return;
	}
	if (is_ok)
		held_push(c, p, n, benchws_now_ns() + delay);
	else
		held_push(c, p, n, c->dq[(c->dhead + c->dcount - 1) & (c->dcap - 1)].due);
}

static void reply_ok(struct rconn *c, const char *id, size_t idlen, bool ok, const char *why)
{
	struct strbuf *b = &c->r->scratch;

	if (!ok)
		c->r->ok_false++;
	if (ok && idlen == 64) {
		/* The hot path: no escaping needed for an id we checked is 64 hex digits. */
		char buf[96];
		memcpy(buf, "[\"OK\",\"", 7);
		memcpy(buf + 7, id, 64);
		memcpy(buf + 71, "\",true,\"\"]", 10);
		reply(c, buf, 81, true);
		return;
	}
	strbuf_reset(b);
	strbuf_puts(b, "[\"OK\",");
	strbuf_json_string(b, id, idlen);
	strbuf_puts(b, ok ? ",true," : ",false,");
	strbuf_json_string(b, why, strlen(why));
	strbuf_putc(b, ']');
	reply(c, b->p, b->len, true);
}

static void reply_notice(struct rconn *c, const char *verb, const char *subid, size_t sublen, const char *msg)
{
	struct strbuf *b = &c->r->scratch;

	strbuf_reset(b);
	strbuf_puts(b, "[\"");
	strbuf_puts(b, verb);
	strbuf_putc(b, '"');
	if (subid) {
		strbuf_putc(b, ',');
		strbuf_json_string(b, subid, sublen);
	}
	if (msg) {
		strbuf_putc(b, ',');
		strbuf_json_string(b, msg, strlen(msg));
	}
	strbuf_putc(b, ']');
	reply(c, b->p, b->len, false);
}

/* ---- EVENT --------------------------------------------------------------------------- */

static bool is_lower_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Finds "id":"<64 hex>" as a member name (not inside a string: a member name follows '{',
 * ',' or blanks). Cheap and good enough for well-formed clients; anything else goes the slow
 * way. */
static const char *find_id(const char *m, const char *end)
{
	const char *p = m;

	while ((p = memmem(p, (size_t)(end - p), "\"id\"", 4))) {
		const char *q;
		if (p > m && (p[-1] == '{' || p[-1] == ',' || p[-1] == ' ' || p[-1] == '\n')) {
			q = skip_ws(p + 4, end);
			if (q < end && *q == ':') {
				q = skip_ws(q + 1, end);
				if (end - q >= 66 && q[0] == '"' && q[65] == '"' && is_lower_hex(q + 1, 64))
					return q + 1;
			}
		}
		p += 4;
	}
	return NULL;
}

/* Full parse (and with --verify, verification) of an EVENT message. */
static void event_slow(struct rconn *c, const char *m, size_t n)
{
	json_error_t jerr;
	json_t *arr = json_loadb(m, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr), *obj, *id;
	struct nostr_event ev;
	struct event_error err = { 0 };
	char why[300];
	int r;

	obj = json_array_get(arr, 1);
	id = json_object_get(obj, "id");
	if (!arr || json_array_size(arr) != 2) {
		reply_ok(c, "", 0, false, "invalid: not a JSON array [\"EVENT\", <event>]");
		goto out;
	}
	r = event_from_json(obj, &ev, &err);
	if (r == 0 && c->r->opt.verify)
		r = event_verify(&ev, &err);
	if (r == 0) {
		reply_ok(c, ev.id_hex, 64, true, "");
	} else {
		snprintf(why, sizeof(why), "invalid: %s", err.message);
		if (json_is_string(id))
			reply_ok(c, json_string_value(id), json_string_length(id), false, why);
		else
			reply_ok(c, "", 0, false, why);
	}
	event_clear(&ev);
out:
	json_decref(arr);
}

static void handle_event(struct rconn *c, const char *m, size_t n)
{
	const char *id;

	c->r->events++;
	if (c->r->opt.verify || !(id = find_id(m, m + n)))
		event_slow(c, m, n);
	else
		reply_ok(c, id, 64, true, "");
}

/* ---- REQ ----------------------------------------------------------------------------- */

struct req_ctx {
	struct rconn *c;
	const char *subid;
	size_t sublen;
};

static void send_stored(void *arg, const struct served_event *e)
{
	struct req_ctx *q = arg;
	struct strbuf *b = &q->c->r->scratch;

	strbuf_reset(b);
	strbuf_puts(b, "[\"EVENT\",");
	strbuf_json_string(b, q->subid, q->sublen);
	strbuf_putc(b, ',');
	strbuf_put(b, e->json, e->len);
	strbuf_putc(b, ']');
	reply(q->c, b->p, b->len, false);
	q->c->r->sent_events++;
}

static void handle_req(struct rconn *c, json_t *arr)
{
	json_t *sub = json_array_get(arr, 1);
	size_t nfilters = json_array_size(arr) >= 2 ? json_array_size(arr) - 2 : 0;
	struct served_filter *fs = NULL;
	uint8_t *seen = NULL;
	const char *why = NULL;
	struct req_ctx q = { .c = c };

	c->r->reqs++;
	if (!json_is_string(sub) || json_string_length(sub) == 0 || json_string_length(sub) > MAX_SUBID) {
		reply_notice(c, "NOTICE", NULL, 0, "invalid: REQ needs a subscription id of 1-256 characters");
		return;
	}
	q.subid = json_string_value(sub);
	q.sublen = json_string_length(sub);
	fs = calloc(nfilters ? nfilters : 1, sizeof(*fs));
	if (!fs)
		abort();
	for (size_t i = 0; i < nfilters && !why; i++)
		(void)served_filter_read(json_array_get(arr, i + 2), c->r->opt.req_limit, &fs[i], &why);
	/* --ignore-limit: everything that matches, as fast as it can be written (a relay that
	 * outruns the client's verification; what bounded memory must survive). */
	for (size_t i = 0; i < nfilters && !why && c->r->opt.ignore_limit; i++)
		fs[i].limit = UINT64_MAX;
	if (why) {
		reply_notice(c, "CLOSED", q.subid, q.sublen, why);
		free(fs);
		return;
	}
	/* Several filters may match the same event: send it once. */
	if (nfilters > 1 && !(seen = calloc(c->r->served.n / 8 + 1, 1)))
		abort();
	for (size_t i = 0; i < nfilters; i++)
		served_query(&c->r->served, &fs[i], seen, send_stored, &q);
	reply_notice(c, "EOSE", q.subid, q.sublen, NULL);
	free(seen);
	free(fs);
}

/* ---- NIP-77 --------------------------------------------------------------------------------- */

static struct negsess **neg_find(struct rconn *c, const char *subid)
{
	struct negsess **p;

	for (p = &c->negs; *p; p = &(*p)->next)
		if (strcmp((*p)->subid, subid) == 0)
			return p;
	return NULL;
}

static void neg_add_served(void *arg, const struct served_event *e)
{
	struct negsess *n = arg;
	uint8_t id[32];

	if (hex_decode(e->id, 64, id) == 0 && neg_storage_add(&n->st, (uint64_t)e->created_at, id) < 0)
		abort();
}

/* Answers the peer's message hex for n: NEG-MSG, or NEG-ERR (and n is dropped). */
static void neg_answer(struct rconn *c, struct negsess *n, json_t *hex)
{
	const char *h = json_string_value(hex), *why = "";
	size_t len = json_string_length(hex);
	struct neg_buf out = { 0 };
	uint8_t *msg = malloc(len / 2 + 1);
	char *text;
	int r = -EINVAL;

	c->r->neg_msgs++;
	if (!msg)
		abort();
	if (len % 2 || hex_decode(h, len, msg) < 0)
		why = "not a hex string";
	else if ((r = neg_reconcile(&n->neg, msg, len / 2, &out, NULL, NULL, NULL, &why)) < 0 && r == -ENOMEM)
		abort();
	free(msg);
	if (r < 0) {
		char err[200];
		struct negsess **p = neg_find(c, n->subid);
		snprintf(err, sizeof(err), "error: %s", why);
		reply_notice(c, "NEG-ERR", n->subid, strlen(n->subid), err);
		*p = n->next;
		negsess_free(n);
		neg_buf_clear(&out);
		return;
	}
	text = malloc(out.len * 2 + 1);
	if (!text)
		abort();
	hex_encode(out.p, out.len, text);
	reply_notice(c, "NEG-MSG", n->subid, strlen(n->subid), text);
	free(text);
	neg_buf_clear(&out);
}

static void handle_neg(struct rconn *c, json_t *arr)
{
	const char *verb = json_string_value(json_array_get(arr, 0));
	json_t *sub = json_array_get(arr, 1);
	struct negsess **p, *n;
	const char *subid;

	if (!json_is_string(sub) || json_string_length(sub) == 0 || json_string_length(sub) > MAX_SUBID ||
	    strlen(json_string_value(sub)) != json_string_length(sub)) {
		reply_notice(c, "NOTICE", NULL, 0, "invalid: NEG-* needs a subscription id of 1-256 characters");
		return;
	}
	subid = json_string_value(sub);
	p = neg_find(c, subid);
	if (strcmp(verb, "NEG-CLOSE") == 0) {
		if (p) {
			n = *p;
			*p = n->next;
			negsess_free(n);
		}
		return;
	}
	if (strcmp(verb, "NEG-MSG") == 0) {
		if (!p) {
			reply_notice(c, "NEG-ERR", subid, strlen(subid), "closed: unknown subscription");
			return;
		}
		if (json_array_size(arr) != 3 || !json_is_string(json_array_get(arr, 2))) {
			reply_notice(c, "NEG-ERR", subid, strlen(subid), "error: NEG-MSG needs a hex string");
			return;
		}
		neg_answer(c, *p, json_array_get(arr, 2));
		return;
	}
	/* NEG-OPEN: a new reconciliation replaces one of the same id. */
	struct served_filter f;
	const char *why = NULL;
	c->r->neg_opens++;
	if (p) {
		n = *p;
		*p = n->next;
		negsess_free(n);
	}
	if (json_array_size(arr) != 4 || !json_is_string(json_array_get(arr, 3)) ||
	    served_filter_read(json_array_get(arr, 2), UINT64_MAX, &f, &why) < 0) {
		reply_notice(c, "NEG-ERR", subid, strlen(subid), why ? why : "error: NEG-OPEN needs a filter and a hex string");
		return;
	}
	f.limit = UINT64_MAX;
	n = calloc(1, sizeof(*n));
	if (!n)
		abort();
	snprintf(n->subid, sizeof(n->subid), "%s", subid);
	neg_storage_init(&n->st);
	served_query(&c->r->served, &f, NULL, neg_add_served, n);
	neg_storage_seal(&n->st);
	if (neg_init(&n->neg, &n->st, c->r->opt.neg_frame) < 0)
		abort();
	n->next = c->negs;
	c->negs = n;
	neg_answer(c, n, json_array_get(arr, 3));
}

/* ---- messages ------------------------------------------------------------------------ */

/* Reads the verb of ["VERB", ...] without parsing the rest. */
static size_t message_verb(const char *m, size_t n, const char **verb)
{
	const char *end = m + n, *p = skip_ws(m, end), *q;

	if (p >= end || *p != '[')
		return 0;
	p = skip_ws(p + 1, end);
	if (p >= end || *p != '"')
		return 0;
	for (q = ++p; q < end && *q != '"' && *q != '\\'; q++)
		;
	if (q >= end || *q != '"')
		return 0;
	*verb = p;
	return (size_t)(q - p);
}

static void handle_text(struct rconn *c, const char *m, size_t n)
{
	const char *verb;
	size_t vlen = message_verb(m, n, &verb);
	json_error_t jerr;
	json_t *arr;

	if (vlen == 5 && memcmp(verb, "EVENT", 5) == 0) {
		handle_event(c, m, n);
		return;
	}
	if (vlen == 5 && memcmp(verb, "CLOSE", 5) == 0)
		return;
	if (vlen == 3 && memcmp(verb, "REQ", 3) == 0) {
		arr = json_loadb(m, n, JSON_REJECT_DUPLICATES, &jerr);
		if (arr)
			handle_req(c, arr);
		else
			reply_notice(c, "NOTICE", NULL, 0, "invalid: REQ is not valid JSON");
		json_decref(arr);
		return;
	}
	if (!c->r->opt.no_negentropy && vlen >= 7 && memcmp(verb, "NEG-", 4) == 0 &&
	    ((vlen == 8 && memcmp(verb, "NEG-OPEN", 8) == 0) || (vlen == 7 && memcmp(verb, "NEG-MSG", 7) == 0) ||
	     (vlen == 9 && memcmp(verb, "NEG-CLOSE", 9) == 0))) {
		arr = json_loadb(m, n, JSON_REJECT_DUPLICATES, &jerr);
		if (arr)
			handle_neg(c, arr);
		else
			reply_notice(c, "NOTICE", NULL, 0, "invalid: NEG message is not valid JSON");
		json_decref(arr);
		return;
	}
	reply_notice(c, "NOTICE", NULL, 0, "error: unsupported message");
}

/* ---- WebSocket plumbing -------------------------------------------------------------- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct rconn *c = user;
	int n;

	/* Backpressure: a client pipelining big REQs without reading gets no more of its input
	 * parsed until its replies drain (the rest waits in the input buffer). */
	if (conn_backlog(c) > OUT_HIGH) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	n = evbuffer_remove(bufferevent_get_input(c->bev), buf, len);
	if (n <= 0) {
		/* Never return 0: wslay would take it for end of stream. */
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return n;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	struct rconn *c = user;

	if (evbuffer_add(bufferevent_get_output(c->bev), data, len) < 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)len;
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	/* Only queue replies here: sending or freeing inside a wslay callback is not allowed. */
	if (arg->opcode == WSLAY_TEXT_FRAME)
		handle_text(user, (const char *)arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks ws_callbacks = {
	.recv_callback = ws_recv,
	.send_callback = ws_send,
	.on_msg_recv_callback = ws_on_msg,
};

static void on_linger_timeout(evutil_socket_t fd, short what, void *arg)
{
	conn_free(arg);
}

/* Our output is flushed: half-close and wait (bounded) for the peer to close. Returns true
 * if c was freed. */
static bool conn_linger(struct rconn *c)
{
	struct timeval tv = { .tv_sec = LINGER_SECONDS };

	c->state = RS_LINGER;
	c->linger = evtimer_new(c->r->base, on_linger_timeout, c);
	if (!c->linger || shutdown(bufferevent_getfd(c->bev), SHUT_WR) < 0) {
		conn_free(c);
		return true;
	}
	evtimer_add(c->linger, &tv);
	bufferevent_enable(c->bev, EV_READ);
	return false;
}

/* The last bytes for this peer are queued. Returns true if c was freed. */
static bool conn_closing(struct rconn *c)
{
	c->state = RS_CLOSING;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		return conn_linger(c);
	return false;
}

/* Flushes queued frames to the bufferevent and decides what comes next. Returns true if c
 * was freed. */
static bool conn_flush(struct rconn *c)
{
	if (wslay_event_send(c->ws) < 0) {
		conn_free(c);
		return true;
	}
	c->queued = 0; /* our send callback takes everything */
	if (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws))
		/* Close handshake done (or the peer broke the protocol): leave once flushed. */
		return conn_closing(c);
	if (!c->paused && conn_backlog(c) > OUT_HIGH) {
		c->paused = true;
		bufferevent_disable(c->bev, EV_READ);
	}
	return false;
}

static void ws_process(struct rconn *c)
{
	if (wslay_event_recv(c->ws) < 0) {
		conn_free(c);
		return;
	}
	conn_flush(c);
}

static void on_held(evutil_socket_t fd, short what, void *arg)
{
	struct rconn *c = arg;
	struct strbuf *b = &c->r->scratch;
	uint64_t now = benchws_now_ns();

	while (c->dcount > 0 && c->dq[c->dhead].due <= now) {
		size_t n = c->dq[c->dhead].len;
		strbuf_reset(b);
		strbuf_reserve(b, n);
		evbuffer_remove(c->held, b->p, n);
		ws_queue(c, b->p, n);
		c->dhead = (c->dhead + 1) & (c->dcap - 1);
		c->dcount--;
	}
	if (c->dcount > 0)
		held_arm(c, now);
	if (c->state == RS_OPEN)
		conn_flush(c);
}

/* ---- HTTP/1.1 Upgrade ------------------------------------------------------------------ */

static void http_reply_close(struct rconn *c, const char *status, const char *extra, const char *ctype,
			     const char *body)
{
	evbuffer_add_printf(bufferevent_get_output(c->bev),
			    "HTTP/1.1 %s\r\n%sContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			    status, extra, ctype, strlen(body), body);
	conn_closing(c); /* never frees: the output is not empty */
}

static const char nip11[] =
	"{\"name\":\"fast_relay\",\"description\":\"relaypool benchmark relay (stores nothing)\","
	"\"software\":\"relaypool bench/fast_relay\",\"supported_nips\":[1,11,77]}";
static const char nip11_no_neg[] =
	"{\"name\":\"fast_relay\",\"description\":\"relaypool benchmark relay (stores nothing)\","
	"\"software\":\"relaypool bench/fast_relay\",\"supported_nips\":[1,11]}";

static int upgrade(struct rconn *c, const char *head)
{
	char upg[128], conn[256], key[128], ver[16], accept[29], acc[128];

	if (strncmp(head, "GET ", 4) != 0) {
		http_reply_close(c, "405 Method Not Allowed", "Allow: GET\r\n", "text/plain", "GET only\n");
		return 0;
	}
	if (!benchws_header(head, "Upgrade", upg, sizeof(upg)) || !benchws_has_token(upg, "websocket") ||
	    !benchws_header(head, "Connection", conn, sizeof(conn)) || !benchws_has_token(conn, "upgrade")) {
		if (benchws_header(head, "Accept", acc, sizeof(acc)) && strstr(acc, "application/nostr+json"))
			http_reply_close(c, "200 OK", "Access-Control-Allow-Origin: *\r\n", "application/nostr+json",
					c->r->opt.no_negentropy ? nip11_no_neg : nip11);
		else
			http_reply_close(c, "426 Upgrade Required", "Upgrade: websocket\r\n", "text/plain",
					 "this is a Nostr relay: connect with WebSocket\n");
		return 0;
	}
	if (!benchws_header(head, "Sec-WebSocket-Version", ver, sizeof(ver)) || strcmp(ver, "13") != 0) {
		http_reply_close(c, "426 Upgrade Required", "Sec-WebSocket-Version: 13\r\n", "text/plain",
				 "WebSocket version 13 only\n");
		return 0;
	}
	if (!benchws_header(head, "Sec-WebSocket-Key", key, sizeof(key)) || strlen(key) != 24) {
		http_reply_close(c, "400 Bad Request", "", "text/plain", "bad Sec-WebSocket-Key\n");
		return 0;
	}
	if (wslay_event_context_server_init(&c->ws, &ws_callbacks, c) != 0)
		return -ENOMEM;
	wslay_event_config_set_max_recv_msg_length(c->ws, c->r->opt.max_message);
	benchws_accept_key(key, strlen(key), accept);
	/* No Sec-WebSocket-Extensions: we never agree to permessage-deflate. */
	evbuffer_add_printf(bufferevent_get_output(c->bev),
			    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			    "Sec-WebSocket-Accept: %s\r\n\r\n",
			    accept);
	c->state = RS_OPEN;
	c->r->connections++;
	return 0;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct rconn *c = arg;
	char head[BENCHWS_MAX_HEAD];
	int n;

	if (c->state == RS_OPEN) {
		ws_process(c);
		return;
	}
	if (c->state != RS_HANDSHAKE) {
		evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	n = benchws_take_head(bufferevent_get_input(bev), head, sizeof(head));
	if (n == 0)
		return;
	if (n < 0) {
		http_reply_close(c, "431 Request Header Fields Too Large", "", "text/plain", "header too large\n");
		return;
	}
	if (upgrade(c, head) < 0) {
		conn_free(c);
		return;
	}
	/* Frames may have come in the same read as the request: they are still in the input. */
	if (c->state == RS_OPEN)
		ws_process(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct rconn *c = arg;
	size_t out = evbuffer_get_length(bufferevent_get_output(bev));

	if (c->state == RS_CLOSING) {
		if (out == 0)
			conn_linger(c);
		return;
	}
	if (c->state == RS_LINGER)
		return;
	if (c->paused && conn_backlog(c) <= OUT_LOW) {
		c->paused = false;
		bufferevent_enable(bev, EV_READ);
		/* Bytes may have arrived before we stopped reading. */
		if (c->state == RS_OPEN && evbuffer_get_length(bufferevent_get_input(bev)) > 0)
			ws_process(c);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	/* EOF or an error, possibly mid-frame: nothing to flush to a peer that is gone. */
	conn_free(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct relay *r = arg;
	struct rconn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c) {
		close(fd);
		return;
	}
	c->r = r;
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
	c->bev = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->held = evbuffer_new();
	c->timer = evtimer_new(r->base, on_held, c);
	if (!c->bev || !c->held || !c->timer) {
		if (!c->bev)
			close(fd);
		conn_free(c);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bufferevent_set_max_single_read(c->bev, MAX_READ);
	bufferevent_set_max_single_write(c->bev, MAX_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, OUT_LOW, 0);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	fprintf(stderr, "fast_relay: accept: %s, ignoring\n", strerror(errno));
}

/* ---- setup and main ------------------------------------------------------------------- */

static int generate(struct relay *r)
{
	uint64_t start = benchws_now_ns();

	if (served_generate(&r->served, r->opt.serve, r->opt.created_at) < 0)
		return -ENOMEM;
	if (r->opt.serve)
		fprintf(stderr, "fast_relay: signed %zu events in %.2f s\n", r->served.n,
			(double)(benchws_now_ns() - start) / 1e9);
	return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: fast_relay [--port N] [--verify] [--serve N] [--req-limit N] [--ok-delay MS]\n"
		   "                  [--max-message BYTES] [--created-at UNIX] [--neg-frame-limit BYTES]\n"
		   "                  [--no-negentropy] [--ignore-limit]\n"
		   "  A minimal Nostr relay on ws://127.0.0.1:N/ (0 = free port) that prints LISTENING <port>.\n");
}

static int parse_argv(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },	 { "verify", no_argument, NULL, 'v' },
		{ "serve", required_argument, NULL, 's' },	 { "req-limit", required_argument, NULL, 'l' },
		{ "ok-delay", required_argument, NULL, 'd' },	 { "max-message", required_argument, NULL, 'm' },
		{ "created-at", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' },
		{ "neg-frame-limit", required_argument, NULL, 'n' }, { "no-negentropy", no_argument, NULL, 'N' },
		{ "ignore-limit", no_argument, NULL, 'I' },
		{ 0 },
	};
	uint64_t v;
	int ch, r = 0;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': r = benchws_parse_port(optarg, &o->port); break;
		case 'v': o->verify = true; break;
		case 's': r = benchws_parse_u64(optarg, 100000000, &o->serve); break;
		case 'l': r = benchws_parse_u64(optarg, 100000000, &o->req_limit); break;
		case 'd': r = benchws_parse_u64(optarg, 3600000, &o->ok_delay_ms); break;
		case 'm': r = benchws_parse_u64(optarg, 1u << 30, &o->max_message); break;
		case 'c':
			r = benchws_parse_u64(optarg, EVENT_MAX_CREATED_AT / 2, &v);
			o->created_at = (int64_t)v;
			break;
		case 'n':
			r = benchws_parse_u64(optarg, 1u << 30, &o->neg_frame);
			if (r == 0 && o->neg_frame && o->neg_frame < NEG_MIN_FRAME)
				r = -EINVAL;
			break;
		case 'N': o->no_negentropy = true; break;
		case 'I': o->ignore_limit = true; break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	return optind == argc && o->max_message > 0 ? 0 : -EINVAL;
}

static int setup(struct relay *r)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(r->opt.port) };
	struct sockaddr_in bound;
	socklen_t blen = sizeof(bound);
	struct event_config *cfg = event_config_new();

	if (generate(r) < 0)
		return -ENOMEM;
	if (cfg)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	r->base = cfg ? event_base_new_with_config(cfg) : NULL;
	event_config_free(cfg);
	if (!r->base)
		return -ENOMEM;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->listener = evconnlistener_new_bind(r->base, on_accept, r, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4096,
					      (struct sockaddr *)&sin, sizeof(sin));
	if (!r->listener || getsockname(evconnlistener_get_fd(r->listener), (struct sockaddr *)&bound, &blen) < 0) {
		fprintf(stderr, "fast_relay: cannot listen on 127.0.0.1:%u: %s\n", r->opt.port, strerror(errno));
		return -EADDRINUSE;
	}
	evconnlistener_set_error_cb(r->listener, on_accept_error);
	printf("LISTENING %u\n", ntohs(bound.sin_port));
	fflush(stdout);
	return 0;
}

static int run(struct relay *r)
{
	struct event *sigint = evsignal_new(r->base, SIGINT, on_signal, r->base);
	struct event *sigterm = evsignal_new(r->base, SIGTERM, on_signal, r->base);

	if (!sigint || !sigterm || evsignal_add(sigint, NULL) < 0 || evsignal_add(sigterm, NULL) < 0)
		return -ENOMEM;
	event_base_dispatch(r->base);
	fprintf(stderr,
		"fast_relay: connections=%llu events=%llu ok_false=%llu reqs=%llu events_sent=%llu neg_opens=%llu "
		"neg_msgs=%llu\n",
		(unsigned long long)r->connections, (unsigned long long)r->events, (unsigned long long)r->ok_false,
		(unsigned long long)r->reqs, (unsigned long long)r->sent_events, (unsigned long long)r->neg_opens,
		(unsigned long long)r->neg_msgs);
	event_free(sigint);
	event_free(sigterm);
	return 0;
}

int main(int argc, char **argv)
{
	struct relay r = { .opt = { .req_limit = 500, .max_message = 1u << 20, .neg_frame = 60000,
				    .created_at = BENCHGEN_DEFAULT_CREATED_AT } };
	int ret;

	if (parse_argv(argc, argv, &r.opt) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	benchws_raise_nofile();
	ret = setup(&r);
	if (ret == 0)
		ret = run(&r);
	while (r.conns)
		conn_free(r.conns);
	if (r.listener)
		evconnlistener_free(r.listener);
	if (r.base)
		event_base_free(r.base);
	served_free(&r.served);
	strbuf_free(&r.scratch);
	return ret < 0 ? 1 : 0;
}
