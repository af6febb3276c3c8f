/* session.c - one persistent NIP-01 session to a relay.
 *
 * Life: BACKOFF -> CONNECTING (a place at the pool's connect gate, then ws.c's DNS, TCP, TLS
 * and upgrade) -> READY -> (error, EOF, pong timeout, oversize) -> BACKOFF -> ... ; CLOSING
 * while a close handshake runs; STOPPED for good.
 *
 * The session owns what is in flight on it: each event sent waits in a table (by id, for
 * the OK, and by deadline, for the timeout) until its OK, its deadline or the end of the
 * connection hands it back to the owner through session_ops. It also routes EVENT / EOSE /
 * CLOSED to its subscriptions. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "gate.h"
#include "hex.h"
#include "idmap.h"
#include "log.h"
#include "relaymsg.h"
#include "session.h"
#include "session_impl.h"
#include "ws.h"

/* A session that stayed up this long resets its backoff. */
#define STABLE_USEC (10 * 1000000ULL)



#define slog(s, prio, fmt, ...) log_session(prio, (s)->name, (s)->index, fmt, ##__VA_ARGS__)

static void schedule_backoff(struct session *s);
static void connect_now(struct gate_waiter *gw);

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

/* ---- the in-flight table -------------------------------------------------------------------- */

static void load_changed(struct session *s)
{
	uint64_t now = clock_now_us();

	integral_set(&s->inflight_time, s->n_inflight, now);
	integral_set(&s->busy_time, s->n_inflight > 0, now);
}

static void arm_deadline(struct session *s)
{
	struct session_send *head = TAILQ_FIRST(&s->inflight);
	uint64_t now = clock_now_us();
	struct timeval tv;

	evtimer_del(s->deadline);
	if (!head)
		return;
	clock_tv(&tv, head->deadline_us > now ? head->deadline_us - now : 0);
	evtimer_add(s->deadline, &tv);
}

/* Takes sent out of the table (it must be in it). */
static void unlink_send(struct session *s, struct session_send *sent)
{
	bool was_head = TAILQ_FIRST(&s->inflight) == sent;

	TAILQ_REMOVE(&s->inflight, sent, link);
	idmap_remove(s->by_id, sent->id);
	s->n_inflight--;
	sent->on = NULL;
	load_changed(s);
	if (was_head)
		arm_deadline(s);
}

int session_send_event(struct session *s, struct session_send *sent, const uint8_t id[32], const char *text,
		       size_t len, uint64_t timeout_us)
{
	struct session_send *it;
	int r;

	if (!session_usable(s))
		return -ENOTCONN;
	memcpy(sent->id, id, 32);
	if (idmap_put(s->by_id, id, sent) < 0)
		return -ENOMEM;
	r = ws_send_text(s->ws, text, len);
	if (r < 0) {
		idmap_remove(s->by_id, id);
		return r;
	}
	s->c.sent++;
	sent->on = s;
	sent->sent_us = clock_now_us();
	sent->deadline_us = sent->sent_us + timeout_us;
	/* Deadlines of one relay grow with the send time; only a reload changing the timeout
	 * puts one before another, so the search from the tail is short. */
	TAILQ_FOREACH_REVERSE(it, &s->inflight, session_send_list_, link)
		if (it->deadline_us <= sent->deadline_us)
			break;
	if (it)
		TAILQ_INSERT_AFTER(&s->inflight, it, sent, link);
	else
		TAILQ_INSERT_HEAD(&s->inflight, sent, link);
	s->n_inflight++;
	load_changed(s);
	if (TAILQ_FIRST(&s->inflight) == sent)
		arm_deadline(s);
	return 0;
}

void session_forget(struct session_send *sent)
{
	if (sent->on)
		unlink_send(sent->on, sent);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	uint64_t now = clock_now_us();
	struct session_send *sent;

	(void)fd, (void)what;
	while ((sent = TAILQ_FIRST(&s->inflight)) && sent->deadline_us <= now) {
		unlink_send(s, sent);
		s->ops->timeout(s->owner, s, sent);
	}
	arm_deadline(s);
}

/* Everything in flight goes back to the owner, newest first. */
static void hand_back(struct session *s)
{
	struct session_send *sent;

	while ((sent = TAILQ_LAST(&s->inflight, session_send_list_))) {
		unlink_send(s, sent);
		s->ops->lost(s->owner, s, sent);
	}
}

/* ---- subscriptions ------------------------------------------------------------------------ */

void session_sub_hold(struct session_sub *sub, bool hold)
{
	struct session *s = sub->s;

	if (sub->held == hold)
		return;
	sub->held = hold;
	s->holds += hold ? 1 : (unsigned)-1;
	if (s->ws && (s->holds == 0 || (hold && s->holds == 1)))
		ws_hold_input(s->ws, s->holds > 0);
}

static void remove_sub(struct session_sub *sub)
{
	session_sub_hold(sub, false);
	LIST_REMOVE(sub, link);
	sub->s->n_subs--;
	free(sub->req);
	free(sub);
}

/* Every subscription of a session that went away learns it. */
static void lose_subs(struct session *s)
{
	struct session_sub *sub;

	while ((sub = LIST_FIRST(&s->subs))) {
		const struct sub_handler *h = sub->h;
		void *arg = sub->arg;
		remove_sub(sub);
		h->on_lost(arg);
	}
}

/* Sends text (taken over) and registers the subscription. */
static struct session_sub *add_sub(struct session *s, const char *id, char *text, bool neg,
				   const struct sub_handler *h, void *arg, int *err)
{
	struct session_sub *sub;
	int r;

	if (!text) {
		*err = -ENOMEM;
		return NULL;
	}
	if (!session_usable(s)) {
		free(text);
		*err = -ENOTCONN;
		return NULL;
	}
	sub = calloc(1, sizeof(*sub));
	if (!sub) {
		free(text);
		*err = -ENOMEM;
		return NULL;
	}
	r = ws_send_text(s->ws, text, strlen(text));
	if (r < 0) {
		free(text);
		free(sub);
		*err = r;
		return NULL;
	}
	sub->req = text;
	sub->neg = neg;
	snprintf(sub->id, sizeof(sub->id), "%s", id);
	sub->s = s;
	sub->h = h;
	sub->arg = arg;
	LIST_INSERT_HEAD(&s->subs, sub, link);
	s->n_subs++;
	s->c.reqs++;
	return sub;
}

struct session_sub *session_subscribe(struct session *s, const char *id, const json_t *filters,
				      const struct sub_handler *h, void *arg, int *err)
{
	json_t *req = json_pack("[s, s]", "REQ", id), *f;
	char *text;
	size_t i;

	json_array_foreach(filters, i, f)
		json_array_append(req, f);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	return add_sub(s, id, text, false, h, arg, err);
}

struct session_sub *session_neg_open(struct session *s, const char *id, const json_t *filter, const char *hex,
				     const struct sub_handler *h, void *arg, int *err)
{
	json_t *msg = json_pack("[s, s, O, s]", "NEG-OPEN", id, filter, hex);
	char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;

	json_decref(msg);
	return add_sub(s, id, text, true, h, arg, err);
}

int session_neg_send(struct session_sub *sub, const char *hex, size_t len)
{
	struct session *s = sub->s;
	size_t cap = len + strlen(sub->id) + 32;
	char *text;
	int n, r;

	if (!session_usable(s))
		return -ENOTCONN;
	text = malloc(cap);
	if (!text)
		return -ENOMEM;
	/* ids are ours (no quotes or escapes), hex needs none */
	n = snprintf(text, cap, "[\"NEG-MSG\",\"%s\",\"%.*s\"]", sub->id, (int)len, hex);
	r = ws_send_text(s->ws, text, (size_t)n);
	free(text);
	return r;
}

void session_sub_close(struct session_sub *sub)
{
	struct session *s = sub->s;
	char msg[64];

	if (s->state == SESSION_READY) {
		int n = snprintf(msg, sizeof(msg), "[\"%s\",\"%s\"]", sub->neg ? "NEG-CLOSE" : "CLOSE", sub->id);
		ws_send_text(s->ws, msg, (size_t)n);
	}
	remove_sub(sub);
}

const struct session *session_sub_session(const struct session_sub *sub)
{
	return sub->s;
}

bool session_closed_transient(const char *msg)
{
	return strncmp(msg, "rate-limited:", 13) == 0 || strstr(msg, "too many") || strstr(msg, "subscriptions");
}

static struct session_sub *find_sub(struct session *s, const char *id)
{
	struct session_sub *sub;

	LIST_FOREACH(sub, &s->subs, link)
		if (strcmp(sub->id, id) == 0)
			return sub;
	return NULL;
}

/* ---- NIP-01 relay messages --------------------------------------------------------------- */

static void protocol_error(struct session *s, const char *what, const char *text, size_t len)
{
	unsigned long long dropped;
	char clean[160], cut[128];

	s->c.protocol_errors++;
	if (!log_limit_pass(&s->ll_protocol, &dropped))
		return;
	if (dropped)
		slog(s, LOG_INFO, "... and %llu more malformed relay messages in the last minute", dropped);
	snprintf(cut, sizeof(cut), "%.*s", (int)(len > 120 ? 120 : len), text);
	slog(s, LOG_INFO, "ignoring a malformed relay message (%s): %s", what, log_clean(cut, clean, sizeof(clean)));
}

/* ---- NIP-42 ------------------------------------------------------------------------------------ */

const char *session_auth_name(enum session_auth a)
{
	switch (a) {
	case SESSION_AUTH_NONE: return "none";
	case SESSION_AUTH_UNANSWERED: return "unanswered";
	case SESSION_AUTH_PENDING: return "pending";
	case SESSION_AUTH_OK: return "ok";
	case SESSION_AUTH_FAILED: return "failed";
	}
	return "?";
}

enum session_auth session_auth(const struct session *s)
{
	return s->auth;
}

static bool can_answer(const struct session *s)
{
	return s->env.sign_auth && s->opts.auth != AUTH_NO;
}

bool session_auth_expected(const struct session *s)
{
	return s->auth == SESSION_AUTH_PENDING || s->auth == SESSION_AUTH_OK ||
	       (s->auth == SESSION_AUTH_NONE && can_answer(s));
}

const char *session_auth_problem(const struct session *s)
{
	if (s->opts.auth == AUTH_NO)
		return "the relay requires NIP-42 AUTH and this relay is configured with auth = no";
	if (!s->env.sign_auth)
		return "the relay requires NIP-42 AUTH and [daemon] key is not set";
	if (s->auth == SESSION_AUTH_FAILED)
		return s->auth_note;
	return "";
}

/* The relay's answer to our AUTH: REQs it closed for want of it go out again, or end. */
static void auth_answered(struct session *s, bool accepted, const char *msg)
{
	struct session_sub *sub, *next;

	if (accepted) {
		s->auth = SESSION_AUTH_OK;
		s->auth_note[0] = '\0';
		s->c.auths++;
		slog(s, LOG_INFO, "NIP-42: authenticated");
	} else {
		s->auth = SESSION_AUTH_FAILED;
		snprintf(s->auth_note, sizeof(s->auth_note), "the relay refused our NIP-42 AUTH: %s", msg);
		s->c.auth_failures++;
		slog(s, LOG_WARNING, "%s", s->auth_note);
	}
	for (sub = LIST_FIRST(&s->subs); sub; sub = next) {
		next = LIST_NEXT(sub, link);
		if (!sub->awaiting_auth)
			continue;
		sub->awaiting_auth = false;
		if (accepted && ws_send_text(s->ws, sub->req, strlen(sub->req)) == 0) {
			s->c.reqs_after_auth++;
		} else {
			const struct sub_handler *h = sub->h;
			void *arg = sub->arg;
			char why[400];
			snprintf(why, sizeof(why), "auth-required: %s", s->auth_note);
			remove_sub(sub);
			h->on_closed(arg, why);
		}
	}
}

static void handle_auth(struct session *s, const char *challenge)
{
	char *ev = NULL, *frame;
	int r;

	s->c.auth_challenges++;
	if (!can_answer(s)) {
		s->auth = SESSION_AUTH_UNANSWERED;
		snprintf(s->auth_note, sizeof(s->auth_note), "%s", session_auth_problem(s));
		unsigned long long dropped;
		if (log_limit_pass(&s->ll_auth, &dropped))
			slog(s, LOG_INFO, "NIP-42 challenge not answered: %s%s", s->auth_note,
			     dropped ? " (and earlier ones, not logged)" : "");
		return;
	}
	r = s->env.sign_auth(s->env.sign_arg, s->url_text, challenge, &ev, s->auth_id);
	frame = r == 0 && asprintf(&frame, "[\"AUTH\",%s]", ev) > 0 ? frame : NULL;
	if (!frame || ws_send_text(s->ws, frame, strlen(frame)) < 0) {
		s->auth = SESSION_AUTH_FAILED;
		snprintf(s->auth_note, sizeof(s->auth_note), "could not sign or send the NIP-42 AUTH event");
		slog(s, LOG_WARNING, "%s", s->auth_note);
	} else {
		s->auth = SESSION_AUTH_PENDING;
		slog(s, LOG_DEBUG, "NIP-42: AUTH sent");
	}
	free(ev);
	free(frame);
}

/* A REQ closed with "auth-required:": kept (and sent again once authenticated) when our AUTH
 * is out or done; false to report the CLOSED. (Without a challenge yet there is nothing to
 * wait for that is sure to come: the CLOSED goes up.) */
static bool hold_for_auth(struct session *s, struct session_sub *sub, const char *msg)
{
	if (strncmp(msg, "auth-required:", 14) != 0 || sub->auth_retried ||
	    (s->auth != SESSION_AUTH_PENDING && s->auth != SESSION_AUTH_OK))
		return false;
	sub->auth_retried = true;
	if (s->auth == SESSION_AUTH_OK) {
		/* The REQ crossed our AUTH: it can go again now. */
		if (ws_send_text(s->ws, sub->req, strlen(sub->req)) < 0)
			return false;
		s->c.reqs_after_auth++;
	} else {
		sub->awaiting_auth = true;
	}
	return true;
}

static void handle_ok(struct session *s, const struct relay_msg *m)
{
	struct session_send *sent;

	s->c.oks++;
	if (s->auth == SESSION_AUTH_PENDING && memcmp(m->id, s->auth_id, 32) == 0) {
		auth_answered(s, m->accepted, m->message);
		return;
	}
	sent = idmap_get(s->by_id, m->id);
	if (sent) {
		uint64_t latency = clock_now_us() - sent->sent_us;
		unlink_send(s, sent);
		s->oks++;
		s->ok_sum_us += (double)latency;
	}
	if (!s->ops->ok(s->owner, s, sent, m->id, m->accepted, m->message)) {
		unsigned long long dropped;
		s->c.unknown_oks++;
		if (log_limit_pass(&s->ll_unknown_sub, &dropped))
			slog(s, LOG_DEBUG, "OK for an event we are not publishing, ignoring%s",
			     dropped ? " (and earlier ones, not logged)" : "");
	}
}

/* EVENT, EOSE and CLOSED belong to a subscription; others are counted and dropped. */
static void handle_sub_message(struct session *s, const struct relay_msg *m)
{
	static const char *const names[] = { [RMSG_EVENT] = "EVENT", [RMSG_EOSE] = "EOSE", [RMSG_CLOSED] = "CLOSED",
					     [RMSG_NEG_MSG] = "NEG-MSG", [RMSG_NEG_ERR] = "NEG-ERR" };
	const char *id = m->sub_id, *type = names[m->type];
	bool is_event = m->type == RMSG_EVENT, is_eose = m->type == RMSG_EOSE;
	struct session_sub *sub;

	sub = find_sub(s, id);
	if (sub && sub->neg != (m->type == RMSG_NEG_MSG || m->type == RMSG_NEG_ERR))
		sub = NULL; /* a REQ's id in a NEG message, or the reverse: not for it */
	if (!sub) {
		unsigned long long dropped;
		char clean[80];
		if (log_limit_pass(&s->ll_unknown_sub, &dropped)) {
			if (dropped)
				slog(s, LOG_DEBUG, "... and %llu more messages for unknown subscriptions", dropped);
			slog(s, LOG_DEBUG, "%s for subscription \"%s\" we do not have, ignoring", type,
			     log_clean(id, clean, sizeof(clean)));
		}
		return;
	}
	if (m->type == RMSG_NEG_MSG) {
		sub->neg_answered = true;
		sub->h->on_neg_msg(sub->arg, m->message, m->message_len);
	} else if (m->type == RMSG_NEG_ERR) {
		const struct sub_handler *h = sub->h;
		void *arg = sub->arg;
		remove_sub(sub);
		h->on_neg_err(arg, m->message);
	} else if (is_event) {
		s->c.events_in++;
		sub->h->on_event(sub->arg, m->event);
	} else if (is_eose) {
		sub->h->on_eose(sub->arg);
	} else {
		const struct sub_handler *h = sub->h;
		void *arg = sub->arg;
		const char *why = m->message, *problem = session_auth_problem(s);
		char text2[600];
		s->c.closed++;
		if (hold_for_auth(s, sub, why))
			return;
		if (strncmp(why, "auth-required:", 14) == 0 && *problem) {
			snprintf(text2, sizeof(text2), "%s (%s)", why, problem);
			why = text2;
		}
		remove_sub(sub);
		h->on_closed(arg, why);
	}
}

/* A NOTICE while a NEG-OPEN has no answer yet: most likely the relay's word that it does
 * not know the message (strfry: "ERROR: bad msg: unknown cmd"). The reconciliation ends, and
 * its owner falls back to REQ, which is never wrong, only slower. */
static void neg_notice(struct session *s, const char *msg)
{
	struct session_sub *sub;
	char why[400];

	snprintf(why, sizeof(why), "NOTICE: %s", msg);
	for (;;) {
		LIST_FOREACH(sub, &s->subs, link)
			if (sub->neg && !sub->neg_answered)
				break;
		if (!sub)
			return;
		const struct sub_handler *h = sub->h;
		void *arg = sub->arg;
		remove_sub(sub);
		h->on_neg_err(arg, why);
	}
}

static void ws_message(void *arg, const char *text, size_t len)
{
	struct session *s = arg;
	struct relay_msg m;
	const char *why;

	if (relay_msg_parse(text, len, &m, &why) < 0) {
		protocol_error(s, why, text, len);
		return;
	}
	switch (m.type) {
	case RMSG_OK:
		handle_ok(s, &m);
		break;
	case RMSG_NOTICE:
		s->c.notices++;
		neg_notice(s, m.message);
		s->ops->notice(s->owner, s, m.message);
		break;
	case RMSG_EVENT:
	case RMSG_EOSE:
	case RMSG_CLOSED:
	case RMSG_NEG_MSG:
	case RMSG_NEG_ERR:
		handle_sub_message(s, &m);
		break;
	case RMSG_AUTH:
		handle_auth(s, m.message);
		break;
	}
	relay_msg_clear(&m);
}

/* ---- connection life ------------------------------------------------------------------------ */

/* Leaves READY: subscriptions end, in-flight events go back, the owner hears of it. */
static void leave_ready(struct session *s)
{
	integral_set(&s->connected_time, 0, clock_now_us());
	lose_subs(s);
	hand_back(s);
	s->ops->down(s->owner, s, false);
}

/* The end of a connection attempt or of a connection: back off, or stop for good. */
static void ended(struct session *s, bool connect_failed)
{
	if (s->stop_after_close) {
		s->state = SESSION_STOPPED;
		evtimer_del(s->timer);
		s->ops->stopped(s->owner, s);
		return;
	}
	if (!connect_failed && clock_now_us() - s->ready_since_us >= STABLE_USEC)
		s->attempt = 0;
	schedule_backoff(s);
}


static void drop_ws(struct session *s)
{
	if (!s->ws)
		return;
	session_add_counters(&s->wc, ws_counters(s->ws));
	ws_free(s->ws);
	s->ws = NULL;
}

static void ws_ended(void *arg, bool was_open, const char *why)
{
	struct session *s = arg;
	enum session_state was = s->state;

	drop_ws(s);
	gate_leave(s->env.gate, &s->gw);
	snprintf(s->last_error, sizeof(s->last_error), "%s", why);
	if (was_open) {
		slog(s, was == SESSION_CLOSING ? LOG_DEBUG : LOG_WARNING, "disconnected: %s", why);
		s->c.disconnects++;
	} else {
		slog(s, LOG_NOTICE, "connection failed: %s", why);
		s->c.connect_failures++;
	}
	/* Decide the next state first: the owner's callbacks may look at it. */
	s->state = s->stop_after_close ? SESSION_STOPPED : SESSION_BACKOFF;
	if (was == SESSION_READY)
		leave_ready(s);
	else if (was == SESSION_CONNECTING)
		s->ops->down(s->owner, s, true);
	ended(s, was != SESSION_READY && was != SESSION_CLOSING);
}

static void ws_opened(void *arg)
{
	struct session *s = arg;

	gate_leave(s->env.gate, &s->gw);
	s->state = SESSION_READY;
	s->ready_since_us = clock_now_us();
	s->auth = SESSION_AUTH_NONE;
	s->auth_note[0] = '\0';
	s->c.connects++;
	integral_set(&s->connected_time, 1, s->ready_since_us);
	s->last_error[0] = '\0';
	slog(s, LOG_INFO, "ready (%s)", s->url_text);
	s->ops->ready(s->owner, s);
}

static const struct ws_ops ws_callbacks = {
	.opened = ws_opened,
	.message = ws_message,
	.ended = ws_ended,
};

static void schedule_backoff(struct session *s)
{
	uint64_t ms = backoff_jitter(s->opts.backoff_base_ms, s->opts.backoff_max_ms, s->attempt);
	struct timeval tv;

	s->attempt++;
	s->state = SESSION_BACKOFF;
	clock_tv(&tv, ms * 1000);
	evtimer_add(s->timer, &tv);
	slog(s, LOG_DEBUG, "reconnecting in %llu ms (attempt %u)", (unsigned long long)ms, s->attempt);
}

/* A place at the gate: open the connection. */
static void connect_now(struct gate_waiter *gw)
{
	struct session *s = (struct session *)((char *)gw - offsetof(struct session, gw));
	struct ws_params p = {
		.base = s->env.base,
		.dns = s->env.dns,
		.ssl_ctx = s->env.ssl_ctx,
		.url = &s->url,
		.tls_verify = s->tls_verify,
		.max_message = s->opts.max_message,
		.connect_timeout_ms = s->opts.connect_timeout_ms,
		.ping_interval_ms = s->opts.ping_interval_ms,
		.pong_timeout_ms = s->opts.pong_timeout_ms,
	};
	struct timeval now = { 0, 0 };

	slog(s, LOG_DEBUG, "connecting to %s", s->url_text);
	s->ws = ws_open(&p, &ws_callbacks, s);
	if (!s->ws) {
		/* Reported from the timer, not from inside the gate's grant. */
		snprintf(s->last_error, sizeof(s->last_error), "out of memory");
		evtimer_add(s->timer, &now);
	}
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd, (void)what;
	if (s->state == SESSION_BACKOFF) {
		session_start(s);
	} else if (s->state == SESSION_CONNECTING && !s->ws && !s->gw.waiting) {
		gate_leave(s->env.gate, &s->gw);
		s->c.connect_failures++;
		s->state = s->stop_after_close ? SESSION_STOPPED : SESSION_BACKOFF;
		s->ops->down(s->owner, s, true);
		ended(s, true);
	}
}

void session_start(struct session *s)
{
	if (s->state != SESSION_BACKOFF)
		return;
	evtimer_del(s->timer);
	s->state = SESSION_CONNECTING;
	gate_wait(s->env.gate, &s->gw);
}

void session_close(struct session *s, uint16_t code, const char *why, bool stop)
{
	if (stop)
		s->stop_after_close = true;
	switch (s->state) {
	case SESSION_READY:
		snprintf(s->last_error, sizeof(s->last_error), "%s", why);
		s->state = SESSION_CLOSING;
		/* In-flight events go back to the owner now; the relay may still answer them. */
		leave_ready(s);
		if (s->ws)
			ws_close(s->ws, code, why);
		break;
	case SESSION_CONNECTING:
		gate_leave(s->env.gate, &s->gw);
		drop_ws(s);
		/* fall through */
	case SESSION_BACKOFF:
		evtimer_del(s->timer);
		if (stop) {
			s->state = SESSION_STOPPED;
			s->ops->stopped(s->owner, s);
		} else {
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

/* ---- objects -------------------------------------------------------------------------------- */

struct session *session_new(const struct session_env *env, const char *relay_name, unsigned index,
			    const struct session_ops *ops, void *owner)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->env = *env;
	snprintf(s->name, sizeof(s->name), "%s", relay_name);
	s->index = index;
	s->ops = ops;
	s->owner = owner;
	s->state = SESSION_BACKOFF;
	s->gw.granted = connect_now;
	TAILQ_INIT(&s->inflight);
	LIST_INIT(&s->subs);
	s->by_id = idmap_new();
	s->timer = evtimer_new(env->base, timer_cb, s);
	s->deadline = evtimer_new(env->base, deadline_cb, s);
	if (!s->by_id || !s->timer || !s->deadline) {
		session_free(s);
		return NULL;
	}
	return s;
}

void session_free(struct session *s)
{
	struct session_send *sent;
	struct session_sub *sub;

	if (!s)
		return;
	gate_leave(s->env.gate, &s->gw);
	ws_free(s->ws);
	while ((sent = TAILQ_FIRST(&s->inflight))) {
		TAILQ_REMOVE(&s->inflight, sent, link);
		sent->on = NULL;
	}
	while ((sub = LIST_FIRST(&s->subs)))
		remove_sub(sub);
	idmap_free(s->by_id);
	if (s->timer)
		event_free(s->timer);
	if (s->deadline)
		event_free(s->deadline);
	free(s);
}

void session_configure(struct session *s, const struct wsurl *url, bool tls_verify, const struct pool_opts *opts)
{
	s->url = *url;
	wsurl_format(url, s->url_text, sizeof(s->url_text));
	s->tls_verify = tls_verify;
	s->opts = *opts;
}

void session_set_index(struct session *s, unsigned index)
{
	s->index = index;
}
