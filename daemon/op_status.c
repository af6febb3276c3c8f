/* op_status.c - the daemon-level ops: hello, status, reload. */
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "clock.h"
#include "daemon.h"
#include "key.h"
#include "log.h"
#include "ops.h"
#include "cache.h"
#include "outbox.h"
#include "pool.h"

void op_hello(struct request *r, json_t *args)
{
	json_t *client = json_object_get(args, "client");

	if (client)
		log_info("control: request %s: hello from \"%s\" (pid %d)", request_id_text(r),
			 json_string_value(client), (int)request_peer(r)->pid);
	request_reply(r, json_pack("{s:s, s:s, s:i, s:o}", "daemon", "relaypoold", "version", RELAYPOOL_VERSION,
				   "protocol", RP_PROTO_VERSION, "ops", ops_names()));
}

void op_status(struct request *r, json_t *args)
{
	struct daemon *d = request_daemon(r);
	const struct config *c = d->config;

	unsigned up, ready, total;
	unsigned long long queued, inflight;
	json_t *res;

	(void)args;
	pool_summary(d->pool, &up, &ready, &total, &queued, &inflight);
	res = json_pack("{s:s, s:i, s:i, s:I, s:f, s:s, s:s, s:s?, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
				   "version", RELAYPOOL_VERSION, "protocol", RP_PROTO_VERSION, "pid", (int)getpid(),
				   "started_at", (json_int_t)d->started_at, "uptime_s",
				   (double)((clock_now_us() - d->started_usec) / 1000) / 1e3, "config", d->config_path,
				   "log_level", log_level_to_string(c->daemon.log_level), "pubkey",
				   d->key ? key_pubkey_hex(d->key) : NULL, "relays",
				   config_relays_json(c), "groups", config_groups_json(c), "counts", "relays",
				   (json_int_t)c->n_relays, "groups", (json_int_t)c->n_groups, "clients",
				   (json_int_t)control_n_clients(d->control), "requests",
				   (json_int_t)control_n_requests(d->control), "reloads", (json_int_t)d->reloads,
				   "reload_failures", (json_int_t)d->reload_failures);
	json_object_set_new(res, "pool",
			    json_pack("{s:i, s:i, s:i, s:i, s:I, s:I}", "relays", (int)d->pool->n_relays, "relays_up",
				      (int)up, "sessions_ready", (int)ready, "sessions", (int)total, "queued",
				      (json_int_t)queued, "inflight", (json_int_t)inflight));
	long long events = 0;
	cache_count_events(d->cache, &events);
	json_object_set_new(res, "cache", json_pack("{s:s, s:I, s:o}", "path", cache_path(d->cache), "events",
						     (json_int_t)events, "outbox", outbox_counts(d)));
	request_reply(r, res);
}

void op_reload(struct request *r, json_t *args)
{
	struct daemon *d = request_daemon(r);
	json_t *diff;
	_cleanup_free_ char *errors = NULL;

	(void)args;
	log_request(LOG_NOTICE, request_id_text(r), "reload requested by pid %d uid %u",
		   (int)request_peer(r)->pid, (unsigned)request_peer(r)->uid);
	if (daemon_reload(d, &diff, &errors) < 0) {
		size_t n = errors ? strlen(errors) : 0;
		if (n && errors[n - 1] == '\n')
			errors[n - 1] = '\0';
		request_fail(r, RP_ERR_RELOAD_FAILED, "%s", errors ? errors : "the configuration could not be read");
		return;
	}
	request_reply(r, json_pack("{s:s, s:o}", "config", d->config_path, "changes", diff));
}
