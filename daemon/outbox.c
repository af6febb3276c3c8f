/* outbox.c - the durable outbox: rows (event, relay) in the cache database, their life
 * (pending -> accepted | rejected | expired; "in flight" is what the relay's job says), the
 * waiter that records each job's outcome, resumption of pending rows at start and reload,
 * and the operator's view (list, retry, drop). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "daemon.h"
#include "hex.h"
#include "log.h"
#include "outbox.h"
#include "pool.h"
#include "relay.h"

struct outbox {
	struct cache *c;
	sqlite3_stmt *add_event, *add_row, *update_row;
};

/* Records one job's outcome in its row; stays attached so a late OK upgrades the row. */
struct row_waiter {
	struct job_waiter w;
	struct daemon *d;
	int64_t oid;
	int64_t relay_id;
};

const char *outbox_state_name(enum outbox_state s)
{
	switch (s) {
	case OUTBOX_PENDING: return "pending";
	case OUTBOX_ACCEPTED: return "accepted";
	case OUTBOX_REJECTED: return "rejected";
	case OUTBOX_EXPIRED: return "expired";
	}
	return "?";
}

static sqlite3_stmt *use(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static int db_error(struct outbox *o, const char *what)
{
	log_err("outbox: %s: %s", what, sqlite3_errmsg(cache_db(o->c)));
	return -EIO;
}

int outbox_new(struct cache *c, struct outbox **out)
{
	struct outbox *o = calloc(1, sizeof(*o));
	sqlite3 *db = cache_db(c);

	if (!o)
		return -ENOMEM;
	o->c = c;
	if (sqlite3_prepare_v3(db,
			       "INSERT INTO outbox_events(id, json, created_at) VALUES(?1, ?2, ?3) "
			       "ON CONFLICT(id) DO UPDATE SET json = coalesce(json, excluded.json) RETURNING oeid",
			       -1, SQLITE_PREPARE_PERSISTENT, &o->add_event, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db,
			       "INSERT INTO outbox(oeid, relay, state, attempts, created_at, updated_at) "
			       "VALUES(?1, ?2, 0, 0, ?3, ?3) ON CONFLICT(oeid, relay) DO UPDATE SET state = 0, "
			       "attempts = 0, message = NULL, updated_at = excluded.updated_at RETURNING oid",
			       -1, SQLITE_PREPARE_PERSISTENT, &o->add_row, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db, "UPDATE outbox SET state = ?2, attempts = ?3, message = ?4, updated_at = ?5 WHERE oid = ?1",
			       -1, SQLITE_PREPARE_PERSISTENT, &o->update_row, NULL) != SQLITE_OK) {
		db_error(o, "preparing statements");
		outbox_free(o);
		return -EIO;
	}
	*out = o;
	return 0;
}

void outbox_free(struct outbox *o)
{
	if (!o)
		return;
	sqlite3_finalize(o->add_event);
	sqlite3_finalize(o->add_row);
	sqlite3_finalize(o->update_row);
	free(o);
}

int outbox_add(struct outbox *o, const struct nostr_event *ev, bool in_cache, int64_t relay, int64_t *oid)
{
	int64_t now = (int64_t)time(NULL);
	sqlite3_stmt *st;
	const char *json;
	size_t len;
	int r;

	if (cache_write_begin(o->c) < 0)
		return -EIO;
	st = use(o->add_event);
	sqlite3_bind_blob(st, 1, ev->id, 32, SQLITE_STATIC);
	if (!in_cache) {
		json = event_json(ev, &len);
		if (!json)
			return -ENOMEM;
		sqlite3_bind_text(st, 2, json, (int)len, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 3, now);
	r = sqlite3_step(st);
	if (r != SQLITE_ROW)
		return db_error(o, "storing an event");
	int64_t oeid = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	st = use(o->add_row);
	sqlite3_bind_int64(st, 1, oeid);
	sqlite3_bind_int64(st, 2, relay);
	sqlite3_bind_int64(st, 3, now);
	if (sqlite3_step(st) != SQLITE_ROW)
		return db_error(o, "adding a row");
	*oid = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	cache_write_done(o->c);
	return 0;
}

int outbox_settle(struct outbox *o, int64_t oid, enum outbox_state state, unsigned attempts, const char *msg)
{
	sqlite3_stmt *st;

	if (cache_write_begin(o->c) < 0)
		return -EIO;
	st = use(o->update_row);
	sqlite3_bind_int64(st, 1, oid);
	sqlite3_bind_int(st, 2, state);
	sqlite3_bind_int(st, 3, (int)attempts);
	if (msg)
		sqlite3_bind_text(st, 4, msg, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_error(o, "updating a row");
	cache_write_done(o->c);
	return 0;
}

/* ---- delivery ----------------------------------------------------------------------------- */

static void row_done(struct job_waiter *w, const struct job *job)
{
	struct row_waiter *rw = (struct row_waiter *)w;
	struct outbox *o = rw->d->outbox;

	switch (job->status) {
	case JOB_ACCEPTED:
		outbox_settle(o, rw->oid, OUTBOX_ACCEPTED, job->attempts, job->message);
		cache_mark(rw->d->cache, job->id, rw->relay_id, CACHE_DELIVERED);
		break;
	case JOB_REJECTED:
		outbox_settle(o, rw->oid, OUTBOX_REJECTED, job->attempts, job->message);
		break;
	case JOB_FAILED:
		outbox_settle(o, rw->oid, OUTBOX_EXPIRED, job->attempts, job->message);
		break;
	case JOB_PENDING:
	case JOB_ABANDONED:
		/* Not delivered and not given up: the row stays pending for the next start. */
		break;
	}
}

static void row_release(struct job_waiter *w)
{
	free(w);
}

static int deliver_at(struct daemon *d, struct relay *r, const struct nostr_event *ev, int64_t oid, int64_t created_at)
{
	struct row_waiter *rw = calloc(1, sizeof(*rw));
	int e;

	if (!rw)
		return -ENOMEM;
	rw->w.done = row_done;
	rw->w.release = row_release;
	rw->w.keep = true;
	rw->d = d;
	rw->oid = oid;
	e = relay_cache_id(r, d->cache, &rw->relay_id);
	if (e == 0)
		e = relay_submit_at(r, ev, created_at, &rw->w);
	if (e < 0)
		free(rw);
	return e;
}

int outbox_deliver(struct daemon *d, struct relay *r, const struct nostr_event *ev, int64_t oid)
{
	return deliver_at(d, r, ev, oid, (int64_t)time(NULL));
}

int outbox_resume(struct daemon *d)
{
	sqlite3_stmt *st;
	int n = 0, skipped = 0, r;

	if (sqlite3_prepare_v2(cache_db(d->cache),
			       "SELECT o.oid, r.url, coalesce(e.json, c.json), e.created_at FROM outbox o "
			       "JOIN relays r ON r.relay = o.relay JOIN outbox_events e ON e.oeid = o.oeid "
			       "LEFT JOIN events c ON c.id = e.id WHERE o.state = 0 ORDER BY o.oid",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(d->outbox, "loading pending rows");
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct relay *rel = pool_find_relay(d->pool, (const char *)sqlite3_column_text(st, 1));
		struct nostr_event ev;
		struct event_error err;
		if (!rel) {
			skipped++;
			continue;
		}
		if (sqlite3_column_type(st, 2) == SQLITE_NULL) {
			/* The cache replaced it with a newer version of the same replaceable event. */
			outbox_settle(d->outbox, sqlite3_column_int64(st, 0), OUTBOX_EXPIRED, 0,
				      "expired: superseded by a newer version of this replaceable event");
			continue;
		}
		if (event_parse((const char *)sqlite3_column_text(st, 2), (size_t)sqlite3_column_bytes(st, 2), &ev, &err) < 0) {
			log_err("outbox: row %lld holds an invalid event (%s), leaving it", (long long)sqlite3_column_int64(st, 0),
				err.message);
			continue;
		}
		if (!relay_has_pending(rel, ev.id) && relay_queued(rel) < rel->opts.queue &&
		    deliver_at(d, rel, &ev, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 3)) == 0)
			n++;
		event_clear(&ev);
	}
	sqlite3_finalize(st);
	if (r != SQLITE_DONE)
		return db_error(d->outbox, "loading pending rows");
	if (n)
		log_notice("outbox: resumed delivery of %d pending events", n);
	if (skipped)
		log_warn("outbox: %d pending rows are for relays that are not configured; they wait (or drop them)",
			 skipped);
	return n;
}

/* ---- the operator's view ------------------------------------------------------------------ */

/* "in_flight" overlays "pending" when the relay's job is out on a session right now. */
static const char *live_state(struct daemon *d, enum outbox_state st, const char *url, const uint8_t *id)
{
	struct relay *r;
	(void)id;

	if (st != OUTBOX_PENDING)
		return outbox_state_name(st);
	r = pool_find_relay(d->pool, url);
	if (!r)
		return "pending (relay not configured)";
	return relay_job_in_flight(r, id) ? "in_flight" : "pending";
}

json_t *outbox_list(struct daemon *d, const char *state_filter, const char *relay_url, long long limit, char **why)
{
	char sql[512];
	sqlite3_stmt *st;
	json_t *rows = json_array();
	int r;

	*why = NULL;
	snprintf(sql, sizeof(sql),
		 "SELECT o.oid, e.id, r.url, o.state, o.attempts, o.message, o.created_at, o.updated_at "
		 "FROM outbox o JOIN relays r ON r.relay = o.relay JOIN outbox_events e ON e.oeid = o.oeid "
		 "WHERE 1 %s %s ORDER BY o.oid LIMIT ?1",
		 !state_filter ? "" : strcmp(state_filter, "pending") == 0 ? "AND o.state = 0" : "AND o.state IN (2, 3)",
		 relay_url ? "AND r.url = ?2" : "");
	if (sqlite3_prepare_v2(cache_db(d->cache), sql, -1, &st, NULL) != SQLITE_OK) {
		json_decref(rows);
		*why = strdup(sqlite3_errmsg(cache_db(d->cache)));
		return NULL;
	}
	sqlite3_bind_int64(st, 1, limit);
	if (relay_url)
		sqlite3_bind_text(st, 2, relay_url, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const uint8_t *id = sqlite3_column_blob(st, 1);
		const char *url = (const char *)sqlite3_column_text(st, 2);
		struct relay *rel = pool_find_relay(d->pool, url);
		char hex[65];
		hex_encode(id, 32, hex);
		json_array_append_new(
			rows, json_pack("{s:I, s:s, s:s, s:s?, s:s, s:i, s:s?, s:I, s:I}", "row", sqlite3_column_int64(st, 0),
					"event_id", hex, "url", url, "relay", rel ? rel->name : NULL, "state",
					live_state(d, (enum outbox_state)sqlite3_column_int(st, 3), url, id), "attempts",
					sqlite3_column_int(st, 4), "message", (const char *)sqlite3_column_text(st, 5),
					"created_at", sqlite3_column_int64(st, 6), "updated_at", sqlite3_column_int64(st, 7)));
	}
	sqlite3_finalize(st);
	return rows;
}

/* The rows selected by oid or event id: (oid, relay url, event id) each. */
static json_t *select_rows(struct daemon *d, int64_t oid, const uint8_t *event_id)
{
	sqlite3_stmt *st;
	json_t *rows = json_array();
	char hex[65];

	if (sqlite3_prepare_v2(cache_db(d->cache),
			       oid > 0 ? "SELECT o.oid, r.url, e.id FROM outbox o JOIN relays r ON r.relay = o.relay "
					 "JOIN outbox_events e ON e.oeid = o.oeid WHERE o.oid = ?1"
				       : "SELECT o.oid, r.url, e.id FROM outbox o JOIN relays r ON r.relay = o.relay "
					 "JOIN outbox_events e ON e.oeid = o.oeid WHERE e.id = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return rows;
	if (oid > 0)
		sqlite3_bind_int64(st, 1, oid);
	else
		sqlite3_bind_blob(st, 1, event_id, 32, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		hex_encode(sqlite3_column_blob(st, 2), 32, hex);
		json_array_append_new(rows, json_pack("{s:I, s:s, s:s}", "row", sqlite3_column_int64(st, 0), "url",
						      (const char *)sqlite3_column_text(st, 1), "event_id", hex));
	}
	sqlite3_finalize(st);
	return rows;
}

static int exec_rows(struct daemon *d, const char *sql, json_t *rows)
{
	size_t i;
	json_t *row;
	sqlite3_stmt *st;

	if (cache_write_begin(d->cache) < 0 ||
	    sqlite3_prepare_v2(cache_db(d->cache), sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	json_array_foreach(rows, i, row) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, json_integer_value(json_object_get(row, "row")));
		sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			return db_error(d->outbox, "changing rows");
		}
		cache_write_done(d->cache);
	}
	sqlite3_finalize(st);
	return 0;
}

int outbox_retry(struct daemon *d, int64_t oid, const uint8_t *event_id)
{
	json_t *rows = select_rows(d, oid, event_id);
	int n = (int)json_array_size(rows);

	if (n && exec_rows(d, "UPDATE outbox SET state = 0, attempts = 0, message = NULL, updated_at = ?2 WHERE oid = ?1",
			   rows) < 0)
		n = -EIO;
	json_decref(rows);
	if (n > 0)
		outbox_resume(d);
	return n;
}

int outbox_drop(struct daemon *d, int64_t oid, const uint8_t *event_id)
{
	json_t *rows = select_rows(d, oid, event_id), *row;
	int n = (int)json_array_size(rows);
	size_t i;

	if (n && exec_rows(d, "DELETE FROM outbox WHERE oid = ?1 AND ?2 IS NOT NULL", rows) < 0)
		n = -EIO;
	json_array_foreach(rows, i, row) {
		struct relay *r = pool_find_relay(d->pool, json_string_value(json_object_get(row, "url")));
		uint8_t id[32];
		if (r && hex_decode(json_string_value(json_object_get(row, "event_id")), 64, id) == 0)
			relay_cancel(r, id);
	}
	json_decref(rows);
	return n;
}

json_t *outbox_counts(struct daemon *d)
{
	sqlite3_stmt *st;
	json_t *o = json_pack("{s:i, s:i, s:i, s:i}", "pending", 0, "accepted", 0, "rejected", 0, "expired", 0);

	if (sqlite3_prepare_v2(cache_db(d->cache), "SELECT state, count(*) FROM outbox GROUP BY state", -1, &st, NULL) !=
	    SQLITE_OK)
		return o;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(o, outbox_state_name((enum outbox_state)sqlite3_column_int(st, 0)),
				    json_integer(sqlite3_column_int64(st, 1)));
	sqlite3_finalize(st);
	return o;
}
