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
	struct opctx_targets *t = malloc(sizeof(*t));
	struct publish_args a = { 0 };

	if (!t) {
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		return;
	}
	t->n = 0;
	if (!read_options(r, args, &a) || !opctx_targets(r, args, t))
		goto out;
	if (!resolve_quorum(r, json_object_get(args, "quorum"), t->n, &a.quorum) || !read_event(r, args, &a)) {
		opctx_targets_release(t);
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
	json_t *info = json_object_get(args, "info");
	struct relay *rel;

	if (!info) {
		request_reply(r, json_pack("{s:o}", "relays", pool_relays_json(opctx_of(r)->pool)));
		return;
	}
	/* One relay's NIP-11 document and the limits in force. */
	rel = opctx_relay_or_fail(r, json_string_value(info));
	if (!rel)
		return;
	request_reply(r, relay_info_json(rel));
	relay_unref(rel);
}
