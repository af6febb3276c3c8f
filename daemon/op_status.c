/* op_status.c - the daemon-level ops: status and reload (hello lives with the op table). */
#include <unistd.h>

#include "cache.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "key.h"
#include "log.h"
#include "op_status.h"
#include "opctx.h"
#include "outbox.h"
#include "pool.h"
#include "request.h"

void op_status(struct request *r, json_t *args)
{
	struct opctx *o = opctx_of(r);
	const struct config *c = o->config;
	struct daemon_info di;
	struct pool_totals t;
	long long events = 0;
	json_t *res;

	(void)args;
	o->info(o->owner, &di);
	pool_totals(o->pool, clock_now_us(), &t);
	res = json_pack("{s:s, s:i, s:i, s:I, s:f, s:s, s:s, s:s?, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
			"version", RELAYPOOL_VERSION, "protocol", RP_PROTO_VERSION, "pid", (int)getpid(), "started_at",
			(json_int_t)di.started_at, "uptime_s", (double)((clock_now_us() - di.started_us) / 1000) / 1e3,
			"config", di.config_path, "log_level", log_level_to_string(c->daemon.log_level), "pubkey",
			o->key ? key_pubkey_hex(o->key) : NULL, "relays", config_relays_json(c), "groups",
			config_groups_json(c), "counts", "relays", (json_int_t)c->n_relays, "groups",
			(json_int_t)c->n_groups, "clients", (json_int_t)di.clients, "requests", (json_int_t)di.requests,
			"reloads", (json_int_t)di.reloads, "reload_failures", (json_int_t)di.reload_failures);
	json_object_set_new(res, "pool",
			    json_pack("{s:i, s:i, s:i, s:i, s:I, s:I, s:i}", "relays", (int)t.relays, "relays_up",
				      (int)t.relays_up, "sessions_ready", (int)t.sessions_ready, "sessions", (int)t.sessions,
				      "queued", (json_int_t)t.queued, "inflight", (json_int_t)t.inflight, "window",
				      (int)opctx_window(o)));
	json_object_set_new(json_object_get(res, "pool"), "sessions_authenticated", json_integer(t.sessions_authed));
	cache_count_events(o->cache, &events);
	json_object_set_new(res, "cache", json_pack("{s:s, s:I, s:o}", "path", db_path(o->db), "events", (json_int_t)events,
						    "outbox", outbox_counts(o->outbox)));
	request_reply(r, res);
}

void op_reload(struct request *r, json_t *args)
{
	struct opctx *o = opctx_of(r);
	struct daemon_info di;
	json_t *diff;
	_cleanup_free_ char *errors = NULL;

	(void)args;
	log_request(LOG_NOTICE, request_id_text(r), "reload requested by pid %d uid %u", (int)request_peer(r)->pid,
		    (unsigned)request_peer(r)->uid);
	if (o->reload(o->owner, &diff, &errors) < 0) {
		size_t n = errors ? strlen(errors) : 0;
		if (n && errors[n - 1] == '\n')
			errors[n - 1] = '\0';
		request_fail(r, RP_ERR_RELOAD_FAILED, "%s", errors ? errors : "the configuration could not be read");
		return;
	}
	o->info(o->owner, &di);
	request_reply(r, json_pack("{s:s, s:o}", "config", di.config_path, "changes", diff));
}
