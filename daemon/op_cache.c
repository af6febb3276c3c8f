/* op_cache.c - the ops on the cache: query (streamed, in bounded steps), sync, and the
 * outbox (list, retry, drop). */
#include <errno.h>
#include <string.h>
#include <sys/queue.h>

#include "cache.h"
#include "clock.h"
#include "config.h"
#include "filter.h"
#include "hex.h"
#include "log.h"
#include "op_cache.h"
#include "opctx.h"
#include "outbox.h"
#include "pool.h"
#include "publish.h"
#include "relay.h"
#include "request.h"
#include "sync.h"

/* Rows per loop turn: a large query never holds the loop for long. */
#define QUERY_STEP 256

/* ---- query ------------------------------------------------------------------------------- */

struct query {
	struct request *r;
	sqlite3_stmt *st;
	struct event *step;
	unsigned long long n;
	bool running; /* stepped: SQLite holds its sort state */
	TAILQ_ENTRY(query) link;
};

/* Every query, in arrival order. A client's queries run one at a time (the next starts when
 * the one before it ends): a client that pipelines many and reads none holds one statement's
 * sort state, not one per query. */
static TAILQ_HEAD(, query) queries = TAILQ_HEAD_INITIALIZER(queries);
/* Starts one waiting query per loop turn: a query's first step sorts its matches
 * (milliseconds for a big cache), and other clients' requests are read between starts. */
static struct event *starter;

static bool client_busy(const struct query *q)
{
	const struct query *o;

	TAILQ_FOREACH(o, &queries, link)
		if (o != q && o->running && request_same_client(o->r, q->r))
			return true;
	return false;
}

static void query_step(evutil_socket_t fd, short what, void *arg)
{
	struct query *q = arg;
	struct timeval later = { .tv_sec = 0, .tv_usec = 20000 }, now = { 0, 0 };
	const char *json;
	size_t len;
	int r = 1;

	(void)fd, (void)what;
	if (request_detached(q->r)) {
		r = 0;
		goto end;
	}
	q->running = true;
	/* Rows only while the client's unread output is under its client_buffer: however many
	 * queries it pipelines and however slowly it reads, what waits for it stays bounded. */
	for (unsigned i = 0; i < QUERY_STEP && !request_backlog_high(q->r) &&
			     (r = cache_query_next(q->st, &json, &len)) == 1;
	     i++) {
		request_item_raw(q->r, json, len);
		q->n++;
	}
	if (r == 1) {
		/* A reader slower than the cache: wait for it to take what is queued. */
		evtimer_add(q->step, request_backlog_high(q->r) ? &later : &now);
		return;
	}
end:
	/* The same client's next query (or one whose client went away) may start now. */
	evtimer_add(starter, &now);
	if (r < 0)
		request_fail(q->r, RP_ERR_INTERNAL, "the query failed after %llu events", q->n);
	else
		request_reply_end(q->r, json_pack("{s:I}", "count", (json_int_t)q->n));
	TAILQ_REMOVE(&queries, q, link);
	sqlite3_finalize(q->st);
	event_free(q->step);
	free(q);
}

static void starter_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval now = { 0, 0 };
	struct query *q, *pick = NULL;

	(void)fd, (void)what, (void)arg;
	TAILQ_FOREACH(q, &queries, link) {
		if (q->running || (!request_detached(q->r) && client_busy(q)))
			continue;
		if (pick) {
			evtimer_add(starter, &now); /* more to start: next turn */
			break;
		}
		pick = q;
	}
	if (pick)
		query_step(-1, 0, pick);
}

void op_query_stop_all(void)
{
	struct query *q;

	while ((q = TAILQ_FIRST(&queries))) {
		TAILQ_REMOVE(&queries, q, link);
		request_fail(q->r, RP_ERR_SHUTTING_DOWN, "the daemon is stopping");
		sqlite3_finalize(q->st);
		event_free(q->step);
		free(q);
	}
	if (starter)
		event_free(starter);
	starter = NULL;
}

void op_query(struct request *r, json_t *args)
{
	struct opctx *o = opctx_of(r);
	json_t *filters = opctx_filters(r, args), *lim = json_object_get(args, "limit");
	struct query *q;
	char *why = NULL;
	struct timeval now = { 0, 0 };

	if (!filters)
		return;
	if (lim && json_integer_value(lim) < 0) {
		request_fail(r, RP_ERR_INVALID_FIELD, "field \"limit\" must not be negative");
		json_decref(filters);
		return;
	}
	q = calloc(1, sizeof(*q));
	if (!q || cache_query(o->cache, filters, lim ? json_integer_value(lim) : -1, &q->st, &why) < 0) {
		request_fail(r, why ? RP_ERR_INVALID_FILTER : RP_ERR_INTERNAL, "%s", why ? why : "out of memory");
		free(why);
		free(q);
		json_decref(filters);
		return;
	}
	json_decref(filters);
	q->r = r;
	q->step = evtimer_new(o->base, query_step, q);
	if (!q->step) {
		sqlite3_finalize(q->st);
		free(q);
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		return;
	}
	if (!starter)
		starter = evtimer_new(o->base, starter_cb, NULL);
	if (!starter) {
		sqlite3_finalize(q->st);
		event_free(q->step);
		free(q);
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		return;
	}
	TAILQ_INSERT_TAIL(&queries, q, link);
	evtimer_add(starter, &now);
}

/* ---- sync -------------------------------------------------------------------------------- */

void op_sync(struct request *r, json_t *args)
{
	struct opctx *o = opctx_of(r);
	json_t *group = json_object_get(args, "group"), *relay = json_object_get(args, "relay");
	json_t *filter = json_object_get(args, "filter"), *since = json_object_get(args, "since");
	json_t *method = json_object_get(args, "method");
	struct sync_params p = { .progress = json_is_true(json_object_get(args, "progress")) };
	struct relay *rels[1024];
	size_t n = 0;
	char err[256];

	if (!!group == !!relay) {
		request_fail(r, group ? RP_ERR_INVALID_FIELD : RP_ERR_MISSING_FIELD,
			     "a sync needs either \"group\" or \"relay\" (with \"filter\")");
		return;
	}
	if (method && sync_method_parse(json_string_value(method), &p.method) < 0) {
		request_fail(r, RP_ERR_INVALID_FIELD, "field \"method\" must be \"auto\", \"negentropy\" or \"req\"");
		return;
	}
	p.up = json_is_true(json_object_get(args, "up"));
	if (p.up && p.method == SYNC_REQ) {
		request_fail(r, RP_ERR_INVALID_FIELD, "\"up\" needs negentropy: REQ cannot tell what the relay lacks");
		return;
	}
	if (since) {
		if (json_integer_value(since) < 0) {
			request_fail(r, RP_ERR_INVALID_FIELD, "field \"since\" must not be negative");
			return;
		}
		p.have_since = true;
		p.since = json_integer_value(since);
	}
	if (group) {
		const struct config_group *g = config_find_group(o->config, json_string_value(group));
		if (!g) {
			request_fail(r, RP_ERR_UNKNOWN_GROUP, "no group \"%s\" is configured", json_string_value(group));
			return;
		}
		if (filter) {
			request_fail(r, RP_ERR_INVALID_FIELD, "a group sync uses the group's filter; \"filter\" is not allowed");
			return;
		}
		if (!g->filter) {
			request_fail(r, RP_ERR_INVALID_FILTER, "group \"%s\" has no filter to sync", g->name);
			return;
		}
		/* The group's relays as configured; one that is not (any more) fails alone. */
		for (size_t i = 0; i < g->n_relays && n < 1024; i++) {
			struct relay *rel = pool_find_relay(o->pool, g->relays[i]);
			if (!rel) {
				request_fail(r, RP_ERR_UNKNOWN_RELAY, "relay %s of group %s is not configured", g->relays[i],
					     g->name);
				for (size_t k = 0; k < n; k++)
					relay_unref(rels[k]);
				return;
			}
			rels[n++] = relay_ref(rel);
		}
		p.filter = g->filter;
	} else {
		if (!filter) {
			request_fail(r, RP_ERR_MISSING_FIELD, "a relay sync needs \"filter\"");
			return;
		}
		if (filter_validate(filter, err, sizeof(err)) < 0) {
			request_fail(r, RP_ERR_INVALID_FILTER, "%s", err);
			return;
		}
		rels[0] = opctx_relay_or_fail(r, json_string_value(relay));
		if (!rels[0])
			return;
		n = 1;
		p.filter = filter;
	}
	log_request(LOG_INFO, request_id_text(r), "sync of %zu relay%s", n, n == 1 ? "" : "s");
	sync_start(o->syncer, r, rels, n, &p);
}

/* ---- outbox ------------------------------------------------------------------------------- */

void op_outbox(struct request *r, json_t *args)
{
	struct opctx *o = opctx_of(r);
	const char *state = json_string_value(json_object_get(args, "state"));
	json_t *relay = json_object_get(args, "relay"), *lim = json_object_get(args, "limit"), *rows;
	char *url = NULL, *why = NULL;

	if (lim && (json_integer_value(lim) < 0 || json_integer_value(lim) > 1000000)) {
		request_fail(r, RP_ERR_INVALID_FIELD, "field \"limit\" must be from 0 to 1000000");
		return;
	}
	if (state && strcmp(state, "all") == 0)
		state = NULL;
	if (state && strcmp(state, "pending") != 0 && strcmp(state, "failed") != 0) {
		request_fail(r, RP_ERR_INVALID_FIELD, "field \"state\" must be \"pending\", \"failed\" or \"all\"");
		return;
	}
	if (relay) {
		struct relay *rel = opctx_relay_or_fail(r, json_string_value(relay));
		if (!rel)
			return;
		url = strdup(relay_url(rel));
		relay_unref(rel);
	}
	rows = publisher_rows(o->publisher, state, url, lim ? json_integer_value(lim) : 1000, &why);
	free(url);
	if (!rows) {
		request_fail(r, RP_ERR_INTERNAL, "cannot read the outbox: %s", why ? why : "?");
		free(why);
		return;
	}
	request_reply(r, json_pack("{s:o, s:o}", "rows", rows, "counts", outbox_counts(o->outbox)));
}

/* "row": N or "event_id": hex -> the selection; false (answered) if neither is valid. */
static bool outbox_selection(struct request *r, json_t *args, int64_t *oid, uint8_t id[32], bool *by_id)
{
	json_t *row = json_object_get(args, "row"), *eid = json_object_get(args, "event_id");

	if (!!row == !!eid) {
		request_fail(r, row ? RP_ERR_INVALID_FIELD : RP_ERR_MISSING_FIELD,
			     "give either \"row\" (a row number) or \"event_id\" (64 hex)");
		return false;
	}
	if (row) {
		*oid = json_integer_value(row);
		*by_id = false;
		if (*oid <= 0) {
			request_fail(r, RP_ERR_INVALID_FIELD, "field \"row\" must be a positive row number");
			return false;
		}
		return true;
	}
	*oid = 0;
	*by_id = true;
	if (json_string_length(eid) != 64 || !hex_is_lower(json_string_value(eid), 64) ||
	    hex_decode(json_string_value(eid), 64, id) < 0) {
		request_fail(r, RP_ERR_INVALID_FIELD, "field \"event_id\" must be 64 lowercase hex characters");
		return false;
	}
	return true;
}

static void outbox_change(struct request *r, json_t *args,
			  int (*fn)(struct publisher *, int64_t, const uint8_t *), const char *verb)
{
	int64_t oid;
	uint8_t id[32];
	bool by_id;
	int n;

	if (!outbox_selection(r, args, &oid, id, &by_id))
		return;
	n = fn(opctx_of(r)->publisher, oid, by_id ? id : NULL);
	if (n < 0)
		request_fail(r, RP_ERR_INTERNAL, "the outbox could not be changed");
	else if (n == 0)
		request_fail(r, RP_ERR_NOT_FOUND, "no outbox row matches");
	else {
		log_request(LOG_NOTICE, request_id_text(r), "outbox %s of %d row%s by pid %d", verb, n,
			   n == 1 ? "" : "s", (int)request_peer(r)->pid);
		request_reply(r, json_pack("{s:i}", "rows", n));
	}
}

void op_outbox_retry(struct request *r, json_t *args)
{
	outbox_change(r, args, publisher_retry, "retry");
}

void op_outbox_drop(struct request *r, json_t *args)
{
	outbox_change(r, args, publisher_drop, "drop");
}
