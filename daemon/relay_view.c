/* relay_view.c - what others may read of a relay: its name, URL, options, sessions and the
 * relay_view of its figures. Read-only; relay.c owns every change. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "relay.h"
#include "relay_impl.h"

/* ---- views ------------------------------------------------------------------------------------ */

const char *relay_name(const struct relay *r)
{
	return r->name;
}

const char *relay_url(const struct relay *r)
{
	return r->url;
}

const struct pool_opts *relay_opts(const struct relay *r)
{
	return &r->opts;
}

unsigned relay_sessions_ready(const struct relay *r)
{
	unsigned n = 0;

	for (unsigned i = 0; i < r->n_sessions; i++)
		n += session_state(r->sessions[i]) == SESSION_READY;
	return n;
}

unsigned relay_n_sessions(const struct relay *r)
{
	return r->n_sessions;
}

const struct session *relay_session(const struct relay *r, unsigned i)
{
	return i < r->n_sessions ? r->sessions[i] : NULL;
}

void relay_view(const struct relay *r, struct relay_view *v)
{
	uint64_t now = clock_now_us();
	double rtt = 0;
	unsigned known = 0;

	*v = (struct relay_view){
		.name = r->name,
		.url = r->url,
		.serial = r->serial,
		.opts = &r->opts,
		.draining = r->draining,
		.sessions = r->n_sessions,
		.sessions_ready = relay_sessions_ready(r),
		.queued = relay_queued(r),
		.inflight = r->pl.n[JOB_INFLIGHT],
		.cooldown_left_us = r->cooldown_until_us > now ? r->cooldown_until_us - now : 0,
		.c = &r->c,
		.waiting_time = &r->pl.waiting_time,
		.inflight_time = &r->pl.inflight_time,
		.wait = &r->wait,
		.ok_latency = &r->ok_latency,
		.completed = r->completed,
		.ok_ewma_ms = r->ok_ewma_ms,
		.cooldowns = r->cooldowns,
		.quorum_last = r->quorum_last,
		.rate_waits = r->rate_waits,
		.last_error = "none",
		.last_notice = r->last_notice,
	};
	for (unsigned i = 0; i < r->n_sessions; i++) {
		const struct session *s = r->sessions[i];
		double t = session_rtt_ms(s);
		if (t >= 0) {
			rtt += t;
			known++;
		}
		if (session_state(s) != SESSION_READY && session_last_error(s)[0] && !strcmp(v->last_error, "none"))
			v->last_error = session_last_error(s);
	}
	v->rtt_ms = known ? rtt / known : -1;
}

const struct relay_limits *relay_limits(const struct relay *r)
{
	return &r->limits;
}

const struct wsurl *relay_wsurl(const struct relay *r)
{
	return &r->wsurl;
}

bool relay_tls_verify(const struct relay *r)
{
	return r->tls_verify;
}

json_t *relay_info_json(const struct relay *r)
{
	json_t *o = json_pack("{s:s, s:o, s:o, s:o}", "relay", r->name, "fetched_at",
			      r->info_at ? json_integer(r->info_at) : json_null(), "document",
			      r->info ? json_incref(r->info) : json_null(), "limits", limits_json(&r->limits));

	if (r->info_error[0])
		json_object_set_new(o, "error", json_string(r->info_error));
	if (r->limits_cfg)
		json_object_set_new(o, "configured_limits", json_incref(r->limits_cfg));
	return o;
}

int relay_supports_nip(const struct relay *r, int nip)
{
	json_t *nips = r->info ? json_object_get(r->info, "supported_nips") : NULL, *v;
	size_t i;

	if (!json_is_array(nips))
		return -1;
	json_array_foreach(nips, i, v)
		if ((json_is_integer(v) && json_integer_value(v) == nip) ||
		    (json_is_string(v) && atoi(json_string_value(v)) == nip))
			return 1;
	return 0;
}
