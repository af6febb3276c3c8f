/* fake_session.c - see fake_session.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fake_session.h"
#include "relay.h"

#define FAKE_MAX_INFLIGHT 4096

struct session_sub {
	struct session *s;
	const struct sub_handler *h;
	void *arg;
};

struct session {
	const struct session_ops *ops;
	void *owner;
	unsigned index;
	enum session_state state;
	bool stop;
	struct session_send *inflight[FAKE_MAX_INFLIGHT]; /* oldest first */
	unsigned n_inflight, n_subs;
	char last_error[256];
	unsigned long long connects;
	struct integral inflight_time, busy_time, connected_time;
};

unsigned fake_sends;

struct session *fake_session(const struct relay *r, unsigned i)
{
	return (struct session *)relay_session(r, i);
}

struct session *session_new(const struct session_env *env, const char *relay_name, unsigned index,
			    const struct session_ops *ops, void *owner)
{
	struct session *s = calloc(1, sizeof(*s));

	(void)env, (void)relay_name;
	s->ops = ops;
	s->owner = owner;
	s->index = index;
	s->state = SESSION_BACKOFF;
	return s;
}

void session_free(struct session *s)
{
	for (unsigned i = 0; s && i < s->n_inflight; i++)
		s->inflight[i]->on = NULL;
	free(s);
}

void session_configure(struct session *s, const struct wsurl *url, bool tls_verify, const struct pool_opts *opts)
{
	(void)s, (void)url, (void)tls_verify, (void)opts;
}

void session_start(struct session *s)
{
	if (s->state == SESSION_BACKOFF)
		s->state = SESSION_CONNECTING;
}

static void unlink_at(struct session *s, unsigned i)
{
	s->inflight[i]->on = NULL;
	memmove(&s->inflight[i], &s->inflight[i + 1], (s->n_inflight - i - 1) * sizeof(s->inflight[0]));
	s->n_inflight--;
}

static void hand_back(struct session *s)
{
	while (s->n_inflight) {
		struct session_send *sent = s->inflight[s->n_inflight - 1];
		unlink_at(s, s->n_inflight - 1);
		s->ops->lost(s->owner, s, sent);
	}
}

void session_close(struct session *s, uint16_t code, const char *why, bool stop)
{
	(void)code;
	snprintf(s->last_error, sizeof(s->last_error), "%s", why);
	if (stop)
		s->stop = true;
	if (s->state == SESSION_READY) {
		s->state = stop ? SESSION_STOPPED : SESSION_BACKOFF;
		hand_back(s);
		s->ops->down(s->owner, s, false);
	} else {
		s->state = stop ? SESSION_STOPPED : SESSION_BACKOFF;
	}
	if (stop)
		s->ops->stopped(s->owner, s);
}

void session_set_index(struct session *s, unsigned index)
{
	s->index = index;
}

int session_send_event(struct session *s, struct session_send *sent, const uint8_t id[32], const char *text,
		       size_t len, uint64_t timeout_us)
{
	(void)text, (void)len;
	if (!session_usable(s))
		return -ENOTCONN;
	if (s->n_inflight == FAKE_MAX_INFLIGHT)
		return -ENOMEM;
	memcpy(sent->id, id, 32);
	sent->on = s;
	sent->sent_us = clock_now_us();
	sent->deadline_us = sent->sent_us + timeout_us;
	s->inflight[s->n_inflight++] = sent;
	fake_sends++;
	return 0;
}

void session_forget(struct session_send *sent)
{
	struct session *s = sent->on;

	for (unsigned i = 0; s && i < s->n_inflight; i++)
		if (s->inflight[i] == sent) {
			unlink_at(s, i);
			return;
		}
}

struct session_sub *session_subscribe(struct session *s, const char *id, const json_t *filters,
				      const struct sub_handler *h, void *arg, int *err)
{
	struct session_sub *sub = calloc(1, sizeof(*sub));

	(void)id, (void)filters;
	if (!session_usable(s) || !sub) {
		free(sub);
		*err = -ENOTCONN;
		return NULL;
	}
	sub->s = s;
	sub->h = h;
	sub->arg = arg;
	s->n_subs++;
	return sub;
}

struct session_sub *session_neg_open(struct session *s, const char *id, const json_t *filter, const char *hex,
				     const struct sub_handler *h, void *arg, int *err)
{
	(void)hex;
	return session_subscribe(s, id, filter, h, arg, err);
}

void session_sub_close(struct session_sub *sub)
{
	sub->s->n_subs--;
	free(sub);
}

enum session_state session_state(const struct session *s)
{
	return s->state;
}

unsigned session_index(const struct session *s)
{
	return s->index;
}

bool session_usable(const struct session *s)
{
	return s->state == SESSION_READY && !s->stop;
}

unsigned session_inflight(const struct session *s)
{
	return s->n_inflight;
}

unsigned session_subs(const struct session *s)
{
	return s->n_subs;
}

const char *session_last_error(const struct session *s)
{
	return s->last_error;
}

double session_rtt_ms(const struct session *s)
{
	(void)s;
	return -1;
}

void session_view(const struct session *s, struct session_view *v)
{
	*v = (struct session_view){ .index = s->index,
				    .state = s->state,
				    .inflight = s->n_inflight,
				    .subs = s->n_subs,
				    .rtt_ms = -1,
				    .last_error = s->last_error,
				    .inflight_time = &s->inflight_time,
				    .busy_time = &s->busy_time,
				    .connected_time = &s->connected_time,
				    .connects = s->connects };
}

enum session_auth session_auth(const struct session *s)
{
	(void)s;
	return SESSION_AUTH_NONE;
}

/* The fake relay never asks for NIP-42 AUTH: "auth-required:" is final, with the daemon's hint. */
bool session_auth_expected(const struct session *s)
{
	(void)s;
	return false;
}

const char *session_auth_problem(const struct session *s)
{
	(void)s;
	return "the relay requires NIP-42 AUTH and [daemon] key is not set";
}

const char *session_state_name(enum session_state st)
{
	return st == SESSION_READY ? "ready" : "not ready";
}

json_t *session_json(const struct session *s)
{
	return json_pack("{s:i, s:s}", "index", (int)s->index, "state", session_state_name(s->state));
}

/* ---- driving it ---------------------------------------------------------------------------- */

void fake_ready(struct session *s)
{
	s->state = SESSION_READY;
	s->connects++;
	s->last_error[0] = '\0';
	s->ops->ready(s->owner, s);
}

void fake_connect_failed(struct session *s, const char *why)
{
	snprintf(s->last_error, sizeof(s->last_error), "%s", why);
	s->state = SESSION_BACKOFF;
	s->ops->down(s->owner, s, true);
}

void fake_drop(struct session *s, const char *why)
{
	snprintf(s->last_error, sizeof(s->last_error), "%s", why);
	s->state = SESSION_BACKOFF;
	hand_back(s);
	s->ops->down(s->owner, s, false);
}

bool fake_ok(struct session *s, const uint8_t id[32], bool accepted, const char *msg)
{
	struct session_send *sent = NULL;

	for (unsigned i = 0; i < s->n_inflight; i++)
		if (memcmp(s->inflight[i]->id, id, 32) == 0) {
			sent = s->inflight[i];
			unlink_at(s, i);
			break;
		}
	return s->ops->ok(s->owner, s, sent, id, accepted, msg);
}

bool fake_timeout_oldest(struct session *s)
{
	struct session_send *sent;

	if (!s->n_inflight)
		return false;
	sent = s->inflight[0];
	unlink_at(s, 0);
	s->ops->timeout(s->owner, s, sent);
	return true;
}

const uint8_t *fake_inflight_id(const struct session *s, unsigned i)
{
	return i < s->n_inflight ? s->inflight[i]->id : NULL;
}
