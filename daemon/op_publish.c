/* op_publish.c - the publish and relays ops. publish turns the request's fields into the
 * publish request's arguments - its targets (resolved once, by reference), quorum, wait
 * mode, timeout and event (signed here when asked) - and hands it to publish.c. */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "key.h"
#include "op_publish.h"
#include "opctx.h"
#include "pool.h"
#include "publish.h"
#include "relay.h"
#include "request.h"

#define MAX_TARGETS 1024

struct targets {
	struct relay *v[MAX_TARGETS];
	size_t n;
};

static void targets_release(struct targets *t)
{
	for (size_t i = 0; i < t->n; i++)
		relay_unref(t->v[i]);
	t->n = 0;
}

/* Takes the reference rel carries. */
static void add_target(struct targets *t, struct relay *rel)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i] == rel) {
			relay_unref(rel);
			return;
		}
	if (t->n == MAX_TARGETS) {
		relay_unref(rel);
		return;
	}
	t->v[t->n++] = rel;
}

/* "relays" (names or URLs) and "group"; neither means every configured relay. */
static bool resolve_targets(struct request *r, json_t *args, struct targets *t)
{
	struct opctx *o = opctx_of(r);
	json_t *relays = json_object_get(args, "relays"), *group = json_object_get(args, "group"), *v;
	struct relay *rel;
	size_t i;

	t->n = 0;
	json_array_foreach(relays, i, v) {
		if (!json_is_string(v)) {
			request_fail(r, RP_ERR_INVALID_FIELD, "field \"relays\" must be an array of relay names or URLs");
			targets_release(t);
			return false;
		}
		rel = opctx_relay_or_fail(r, json_string_value(v));
		if (!rel) {
			targets_release(t);
			return false;
		}
		add_target(t, rel);
	}
	if (group) {
		const struct config_group *g = config_find_group(o->config, json_string_value(group));
		if (!g) {
			request_fail(r, RP_ERR_UNKNOWN_GROUP, "no group \"%s\" is configured", json_string_value(group));
			targets_release(t);
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

static bool resolve_quorum(struct request *r, json_t *q, size_t n, unsigned *out)
{
	if (!q || (json_is_string(q) && strcmp(json_string_value(q), "all") == 0)) {
		*out = (unsigned)n;
		return true;
	}
	if (json_is_string(q) && strcmp(json_string_value(q), "any") == 0) {
		*out = 1;
		return true;
	}
	if (json_is_integer(q) && json_integer_value(q) >= 1 && (size_t)json_integer_value(q) <= n) {
		*out = (unsigned)json_integer_value(q);
		return true;
	}
	if (json_is_integer(q))
		request_fail(r, RP_ERR_INVALID_FIELD, "quorum %lld is not between 1 and the %zu target relays",
			     (long long)json_integer_value(q), n);
	else
		request_fail(r, RP_ERR_INVALID_FIELD, "field \"quorum\" must be \"all\", \"any\" or a number of relays");
	return false;
}

/* The fields other than targets and quorum; false after answering r. */
static bool read_options(struct request *r, json_t *args, struct publish_args *a)
{
	json_t *wait = json_object_get(args, "wait"), *timeout = json_object_get(args, "timeout");

	a->wait = PUBLISH_WAIT_OK;
	if (wait && strcmp(json_string_value(wait), "ok") != 0) {
		if (strcmp(json_string_value(wait), "queued") != 0) {
			request_fail(r, RP_ERR_INVALID_FIELD, "field \"wait\" must be \"ok\" or \"queued\"");
			return false;
		}
		a->wait = PUBLISH_WAIT_QUEUED;
	}
	if (timeout) {
		json_int_t ms = json_integer_value(timeout);
		if (ms < 1 || ms > 24LL * 3600 * 1000) {
			request_fail(r, RP_ERR_INVALID_FIELD, "field \"timeout\" must be 1 to 86400000 milliseconds");
			return false;
		}
		a->timeout_ms = (uint64_t)ms;
	}
	return true;
}

/* The event: verified later by publish.c, or signed (and so verified) here. */
static bool read_event(struct request *r, json_t *args, struct publish_args *a)
{
	struct opctx *o = opctx_of(r);
	json_t *obj = json_object_get(args, "event");
	struct event_error err;

	if (json_is_true(json_object_get(args, "sign"))) {
		if (!o->key) {
			request_fail(r, RP_ERR_NO_KEY, "\"sign\": true needs a signing key ([daemon] key is not set)");
			return false;
		}
		if (event_sign_template(obj, key_keypair(o->key), &a->ev, &err) < 0) {
			request_fail_reason(r, RP_ERR_INVALID_EVENT, event_err_code(err.code), "event template: %s",
					    err.message);
			return false;
		}
		a->verified = true; /* signing verifies its own result */
		return true;
	}
	if (event_from_json(obj, &a->ev, &err) < 0) {
		request_fail_reason(r, RP_ERR_INVALID_EVENT, event_err_code(err.code), "event: %s", err.message);
		return false;
	}
	return true;
}

void op_publish(struct request *r, json_t *args)
{
	struct opctx *o = opctx_of(r);
	struct targets *t = malloc(sizeof(*t));
	struct publish_args a = { 0 };

	if (!t) {
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		return;
	}
	t->n = 0;
	if (!read_options(r, args, &a) || !resolve_targets(r, args, t))
		goto out;
	if (!resolve_quorum(r, json_object_get(args, "quorum"), t->n, &a.quorum) || !read_event(r, args, &a)) {
		targets_release(t);
		goto out;
	}
	a.targets = t->v;
	a.n = t->n;
	publish_request(o->publisher, r, &a);
out:
	free(t);
}

void op_relays(struct request *r, json_t *args)
{
	(void)args;
	request_reply(r, json_pack("{s:o}", "relays", pool_relays_json(opctx_of(r)->pool)));
}
