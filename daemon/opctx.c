/* opctx.c - see opctx.h. */
#include <string.h>

#include "config.h"
#include "filter.h"
#include "opctx.h"
#include "pool.h"
#include "relay.h"
#include "request.h"

#define WINDOW_MIN 64
#define WINDOW_MAX 8192

struct opctx *opctx_of(const struct request *r)
{
	return request_ctx(r);
}

struct relay *opctx_relay_or_fail(struct request *r, const char *name_or_url)
{
	struct relay *rel = pool_find_relay(opctx_of(r)->pool, name_or_url);

	if (!rel) {
		request_fail(r, RP_ERR_UNKNOWN_RELAY, "no configured relay is named or located at \"%s\"", name_or_url);
		return NULL;
	}
	return relay_ref(rel);
}

json_t *opctx_filters(struct request *r, json_t *args)
{
	json_t *one = json_object_get(args, "filter"), *many = json_object_get(args, "filters"), *v;
	char err[256];
	size_t i;

	if (one && many) {
		request_fail(r, RP_ERR_INVALID_FIELD, "give either \"filter\" or \"filters\", not both");
		return NULL;
	}
	if (!one && !many) {
		request_fail(r, RP_ERR_MISSING_FIELD, "a query needs \"filter\" (an object) or \"filters\" (an array)");
		return NULL;
	}
	many = one ? json_pack("[O]", one) : json_is_object(many) ? json_pack("[O]", many) : json_incref(many);
	if (json_array_size(many) == 0 || json_array_size(many) > 64) {
		request_fail(r, RP_ERR_INVALID_FILTER, "\"filters\" must hold 1 to 64 filters");
		json_decref(many);
		return NULL;
	}
	json_array_foreach(many, i, v)
		if (filter_validate(v, err, sizeof(err)) < 0) {
			request_fail(r, RP_ERR_INVALID_FILTER, "filter %zu: %s", i, err);
			json_decref(many);
			return NULL;
		}
	return many;
}

unsigned opctx_window(const struct opctx *o)
{
	unsigned most = 0;

	for (unsigned i = 0; i < pool_n_relays(o->pool); i++) {
		const struct relay *r = pool_relay(o->pool, i);
		unsigned slots = relay_opts(r)->sessions * relay_opts(r)->inflight;
		if (!relay_draining(r) && slots > most)
			most = slots;
	}
	most *= 2;
	return most < WINDOW_MIN ? WINDOW_MIN : most > WINDOW_MAX ? WINDOW_MAX : most;
}

/* ---- targets ----------------------------------------------------------------------------- */

void opctx_targets_release(struct opctx_targets *t)
{
	for (size_t i = 0; i < t->n; i++)
		relay_unref(t->v[i]);
	t->n = 0;
}

/* Takes the reference rel carries. */
static void add_target(struct opctx_targets *t, struct relay *rel)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i] == rel) {
			relay_unref(rel);
			return;
		}
	if (t->n == OPCTX_MAX_TARGETS) {
		relay_unref(rel);
		return;
	}
	t->v[t->n++] = rel;
}

bool opctx_targets(struct request *r, json_t *args, struct opctx_targets *t)
{
	struct opctx *o = opctx_of(r);
	json_t *relays = json_object_get(args, "relays"), *group = json_object_get(args, "group"), *v;
	struct relay *rel;
	size_t i;

	t->n = 0;
	json_array_foreach(relays, i, v) {
		if (!json_is_string(v)) {
			request_fail(r, RP_ERR_INVALID_FIELD, "field \"relays\" must be an array of relay names or URLs");
			opctx_targets_release(t);
			return false;
		}
		rel = opctx_relay_or_fail(r, json_string_value(v));
		if (!rel) {
			opctx_targets_release(t);
			return false;
		}
		add_target(t, rel);
	}
	if (group) {
		const struct config_group *g = config_find_group(o->config, json_string_value(group));
		if (!g) {
			request_fail(r, RP_ERR_UNKNOWN_GROUP, "no group \"%s\" is configured", json_string_value(group));
			opctx_targets_release(t);
			return false;
		}
		for (i = 0; i < g->n_relays; i++)
			if ((rel = pool_find_relay(o->pool, g->relays[i])))
				add_target(t, relay_ref(rel));
	}
	if (!relays && !group)
		for (unsigned k = 0; k < pool_n_relays(o->pool); k++)
			if (!relay_draining(pool_relay(o->pool, k)))
				add_target(t, relay_ref(pool_relay(o->pool, k)));
	if (t->n == 0) {
		request_fail(r, RP_ERR_NO_RELAYS, "the request has no target relay");
		return false;
	}
	return true;
}
