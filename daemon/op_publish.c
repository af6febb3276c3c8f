/* op_publish.c - the publish and relays ops: request fields to targets, quorum and event
 * (verified, or signed from a template), then publish_start; and the pool's state. */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "control.h"
#include "daemon.h"
#include "key.h"
#include "ops.h"
#include "pool.h"
#include "publish.h"
#include "relay.h"
#include "verifier.h"

#define MAX_TARGETS 1024

struct targets {
	struct relay *v[MAX_TARGETS];
	size_t n;
};

static int add_target(struct targets *t, struct relay *r)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i] == r)
			return 0;
	if (t->n == MAX_TARGETS)
		return -E2BIG;
	t->v[t->n++] = r;
	return 0;
}

/* "relays" (names or URLs) and "group"; neither means every configured relay. */
static bool resolve_targets(struct request *r, json_t *args, struct targets *t)
{
	struct daemon *d = request_daemon(r);
	json_t *relays = json_object_get(args, "relays"), *group = json_object_get(args, "group"), *v;
	const struct config_group *g;
	struct relay *rel;
	size_t i;

	t->n = 0;
	json_array_foreach(relays, i, v) {
		if (!json_is_string(v)) {
			request_fail(r, RP_ERR_INVALID_FIELD, "field \"relays\" must be an array of relay names or URLs");
			return false;
		}
		rel = ops_relay_or_fail(r, json_string_value(v));
		if (!rel)
			return false;
		add_target(t, rel);
	}
	if (group) {
		g = config_find_group(d->config, json_string_value(group));
		if (!g) {
			request_fail(r, RP_ERR_UNKNOWN_GROUP, "no group \"%s\" is configured", json_string_value(group));
			return false;
		}
		for (i = 0; i < g->n_relays; i++)
			if ((rel = pool_find_relay(d->pool, g->relays[i])))
				add_target(t, rel);
	}
	if (!relays && !group) {
		struct relay *it;
		TAILQ_FOREACH(it, &d->pool->relays, link)
			if (!it->draining)
				add_target(t, it);
	}
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

/* A publish between the checks of its fields and the end of its event's verification. */
struct pending {
	struct request *r;
	struct nostr_event ev;
	uint64_t timeout_ms; /* 0: the default */
	unsigned quorum;
	enum publish_wait mode;
	size_t n;
	char *names[]; /* target relays, by name: re-resolved after verification */
};

static void pending_free(struct pending *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->names[i]);
	event_clear(&p->ev);
	free(p);
}

/* How long a reply waits for the quorum: enough for every attempt of the slowest target
 * (its timeouts and the backoffs between them). The outbox goes on after that. */
static uint64_t default_timeout(struct relay **rels, size_t n)
{
	uint64_t worst = 0;

	for (size_t i = 0; i < n; i++) {
		const struct pool_opts *o = &rels[i]->opts;
		uint64_t backoff = 0, step = o->backoff_base_ms;
		for (unsigned a = 1; a < o->max_attempts; a++) {
			backoff += step < o->backoff_max_ms ? step : o->backoff_max_ms;
			step *= 2;
		}
		/* One more second so the last attempt's timeout lands before the deadline. */
		uint64_t t = o->max_attempts * o->publish_timeout_ms + backoff + 1000;
		if (t > worst)
			worst = t;
	}
	return worst;
}

/* Targets again (a reload may have removed one meanwhile), the all-or-nothing queue check,
 * then delivery. */
static void go(struct pending *p)
{
	struct daemon *d = request_daemon(p->r);
	struct relay *rels[MAX_TARGETS];

	for (size_t i = 0; i < p->n; i++) {
		rels[i] = pool_find_relay(d->pool, p->names[i]);
		if (!rels[i]) {
			request_fail(p->r, RP_ERR_UNKNOWN_RELAY, "relay %s was removed by a reload", p->names[i]);
			pending_free(p);
			return;
		}
		if (relay_queued(rels[i]) >= rels[i]->opts.queue && !relay_has_pending(rels[i], p->ev.id)) {
			rels[i]->c.queue_full++;
			request_fail(p->r, RP_ERR_QUEUE_FULL, "relay %s has %u events queued (its limit); nothing was queued",
				     rels[i]->name, relay_queued(rels[i]));
			pending_free(p);
			return;
		}
	}
	publish_start(d, p->r, &p->ev, rels, p->n, p->quorum, p->mode, p->timeout_ms ? p->timeout_ms : default_timeout(rels, p->n));
	pending_free(p);
}

static void verified(void *arg, const struct event_error *err)
{
	struct pending *p = arg;

	if (err) {
		request_fail_reason(p->r, err->code < EVENT_ERR__MAX ? RP_ERR_INVALID_EVENT : RP_ERR_SHUTTING_DOWN,
				    event_err_code(err->code), "event: %s", err->message);
		pending_free(p);
		return;
	}
	go(p);
}

void op_publish(struct request *r, json_t *args)
{
	struct daemon *d = request_daemon(r);
	struct targets *t = malloc(sizeof(*t));
	json_t *wait = json_object_get(args, "wait"), *obj = json_object_get(args, "event");
	enum publish_wait mode = PUBLISH_WAIT_OK;
	struct event_error err;
	struct pending *p = NULL;
	unsigned quorum;

	if (!t) {
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		return;
	}
	if (wait && strcmp(json_string_value(wait), "ok") != 0) {
		if (strcmp(json_string_value(wait), "queued") != 0) {
			request_fail(r, RP_ERR_INVALID_FIELD, "field \"wait\" must be \"ok\" or \"queued\"");
			goto out;
		}
		mode = PUBLISH_WAIT_QUEUED;
	}
	if (!resolve_targets(r, args, t) || !resolve_quorum(r, json_object_get(args, "quorum"), t->n, &quorum))
		goto out;
	p = calloc(1, sizeof(*p) + t->n * sizeof(char *));
	if (!p) {
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		goto out;
	}
	p->r = r;
	p->quorum = quorum;
	p->mode = mode;
	if (json_object_get(args, "timeout")) {
		json_int_t ms = json_integer_value(json_object_get(args, "timeout"));
		if (ms < 1 || ms > 24LL * 3600 * 1000) {
			request_fail(r, RP_ERR_INVALID_FIELD, "field \"timeout\" must be 1 to 86400000 milliseconds");
			pending_free(p);
			goto out;
		}
		p->timeout_ms = (uint64_t)ms;
	}
	for (size_t i = 0; i < t->n; i++)
		if ((p->names[i] = strdup(t->v[i]->name)))
			p->n++;
	if (json_is_true(json_object_get(args, "sign"))) {
		/* Signing verifies its own result. */
		if (!d->key) {
			request_fail(r, RP_ERR_NO_KEY, "\"sign\": true needs a signing key ([daemon] key is not set)");
			pending_free(p);
		} else if (event_sign_template(obj, key_keypair(d->key), &p->ev, &err) < 0) {
			request_fail_reason(r, RP_ERR_INVALID_EVENT, event_err_code(err.code), "event template: %s",
					    err.message);
			pending_free(p);
		} else {
			go(p);
		}
		goto out;
	}
	if (event_from_json(obj, &p->ev, &err) < 0) {
		request_fail_reason(r, RP_ERR_INVALID_EVENT, event_err_code(err.code), "event: %s", err.message);
		pending_free(p);
		goto out;
	}
	if (verifier_submit(d->verifier, &p->ev, verified, p) < 0) {
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		pending_free(p);
	}
out:
	free(t);
}

void op_relays(struct request *r, json_t *args)
{
	struct daemon *d = request_daemon(r);

	(void)args;
	request_reply(r, json_pack("{s:o}", "relays", pool_relays_json(d->pool)));
}
