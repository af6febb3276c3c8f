/* op_live.c - the live subscription ops: subscribe turns the request's fields into a live
 * subscription's filters and targets and hands it to live.c; unsubscribe ends one of the
 * same client's; subscriptions lists the relay REQs and their local subscribers. */
#include <errno.h>
#include <stdlib.h>

#include "config.h"
#include "live.h"
#include "op_live.h"
#include "opctx.h"
#include "request.h"

void op_subscribe(struct request *r, json_t *args)
{
	struct opctx *o = opctx_of(r);
	json_t *group = json_object_get(args, "group"), *filters;
	json_t *cache = json_object_get(args, "cache"), *live = json_object_get(args, "live");
	struct opctx_targets *t;
	struct live_params p;

	if (!json_object_get(args, "filter") && !json_object_get(args, "filters") && group &&
	    !json_object_get(args, "relays")) {
		/* Only a group: its own filter. */
		const struct config_group *g = config_find_group(o->config, json_string_value(group));
		if (!g) {
			request_fail(r, RP_ERR_UNKNOWN_GROUP, "no group \"%s\" is configured", json_string_value(group));
			return;
		}
		if (!g->filter) {
			request_fail(r, RP_ERR_MISSING_FIELD, "group \"%s\" has no filter; give \"filters\"", g->name);
			return;
		}
		filters = json_pack("[O]", g->filter);
	} else {
		filters = opctx_filters(r, args);
		if (!filters)
			return;
	}
	t = malloc(sizeof(*t));
	if (!t) {
		json_decref(filters);
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		return;
	}
	if (!opctx_targets(r, args, t)) {
		json_decref(filters);
		free(t);
		return;
	}
	p = (struct live_params){ .filters = filters, .cache = !json_is_false(cache), .live = !json_is_false(live) };
	live_subscribe(o->live, r, t->v, t->n, &p);
	json_decref(filters);
	free(t);
}

void op_unsubscribe(struct request *r, json_t *args)
{
	json_t *id = json_object_get(args, "subscription");

	if (live_unsubscribe(opctx_of(r)->live, r, id) < 0) {
		char *text = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
		request_fail(r, RP_ERR_UNKNOWN_SUBSCRIPTION, "this client has no live subscription with id %s",
			     text ? text : "?");
		free(text);
		return;
	}
	request_reply(r, json_pack("{s:O}", "unsubscribed", id));
}

void op_subscriptions(struct request *r, json_t *args)
{
	(void)args;
	request_reply(r, live_json(opctx_of(r)->live));
}
