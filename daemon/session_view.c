/* session_view.c - what others read of a session (state, load, counters, the status JSON),
 * from session_impl.h. */
#include "clock.h"
#include "session.h"
#include "session_impl.h"

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
	return s->state == SESSION_READY && !s->stop_after_close && s->ws;
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
	return s->ws && s->state == SESSION_READY ? ws_rtt_ms(s->ws) : -1;
}

void session_view(const struct session *s, struct session_view *v)
{
	*v = (struct session_view){
		.index = s->index,
		.state = s->state,
		.inflight = s->n_inflight,
		.subs = s->n_subs,
		.rtt_ms = session_rtt_ms(s),
		.last_error = s->last_error,
		.inflight_time = &s->inflight_time,
		.busy_time = &s->busy_time,
		.connected_time = &s->connected_time,
		.oks = s->oks,
		.ok_sum_us = s->ok_sum_us,
		.connects = s->c.connects,
	};
}

json_t *session_json(const struct session *s)
{
	double rtt = session_rtt_ms(s);
	struct ws_counters w = s->wc;

	if (s->ws)
		session_add_counters(&w, ws_counters(s->ws));
	json_t *o = json_pack("{s:i, s:s, s:i, s:s?}", "index", (int)s->index, "state", session_state_name(s->state),
			      "inflight", (int)s->n_inflight, "last_error", s->last_error[0] ? s->last_error : NULL);

	json_object_set_new(o, "rtt_ms", rtt >= 0 ? json_real(rtt) : json_null());
	json_object_set_new(o, "subscriptions", json_integer(s->n_subs));
	json_object_set_new(o, "auth", json_string(session_auth_name(s->auth)));
	if (s->auth_note[0])
		json_object_set_new(o, "auth_error", json_string(s->auth_note));
	if (s->state == SESSION_READY)
		json_object_set_new(o, "ready_for_s", json_real((double)(clock_now_us() - s->ready_since_us) / 1e6));
	json_object_set_new(o, "counters",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "connects",
				      (json_int_t)s->c.connects, "disconnects", (json_int_t)s->c.disconnects,
				      "connect_failures", (json_int_t)s->c.connect_failures, "sent", (json_int_t)s->c.sent,
				      "oks", (json_int_t)s->c.oks, "notices", (json_int_t)s->c.notices, "protocol_errors",
				      (json_int_t)(s->c.protocol_errors + w.violations), "unknown_oks",
				      (json_int_t)s->c.unknown_oks, "oversize", (json_int_t)w.oversize, "pong_timeouts",
				      (json_int_t)w.pong_timeouts, "bytes_in", (json_int_t)w.bytes_in, "bytes_out",
				      (json_int_t)w.bytes_out, "reqs", (json_int_t)s->c.reqs, "events_in",
				      (json_int_t)s->c.events_in));
	json_object_set_new(json_object_get(o, "counters"), "auth",
			    json_pack("{s:I, s:I, s:I, s:I}", "challenges", (json_int_t)s->c.auth_challenges, "accepted",
				      (json_int_t)s->c.auths, "refused", (json_int_t)s->c.auth_failures, "reqs_resent",
				      (json_int_t)s->c.reqs_after_auth));
	return o;
}
