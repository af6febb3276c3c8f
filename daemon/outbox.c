/* outbox.c - the durable outbox's rows: adding and settling them inside db.c's batches,
 * the pending ones for redelivery, and the operator's view (list, select, re-arm, delete). */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "hex.h"
#include "log.h"
#include "outbox.h"

struct outbox {
	struct db *db;
	sqlite3_stmt *add_event, *add_row, *update_row;
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

static int db_err(struct outbox *o, const char *what)
{
	log_err("outbox: %s: %s", what, sqlite3_errmsg(db_handle(o->db)));
	return -EIO;
}

int outbox_new(struct db *db, struct outbox **out)
{
	struct outbox *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	o->db = db;
	if (db_prepare(db, &o->add_event,
		       "INSERT INTO outbox_events(id, json, created_at) VALUES(?1, ?2, ?3) "
		       "ON CONFLICT(id) DO UPDATE SET json = coalesce(json, excluded.json) RETURNING oeid") < 0 ||
	    db_prepare(db, &o->add_row,
		       "INSERT INTO outbox(oeid, relay, state, attempts, created_at, updated_at) "
		       "VALUES(?1, ?2, 0, 0, ?3, ?3) ON CONFLICT(oeid, relay) DO UPDATE SET state = 0, "
		       "attempts = 0, message = NULL, updated_at = excluded.updated_at RETURNING oid") < 0 ||
	    db_prepare(db, &o->update_row,
		       "UPDATE outbox SET state = ?2, attempts = ?3, message = ?4, updated_at = ?5 WHERE oid = ?1") < 0) {
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
	int64_t now = clock_wall_s(), oeid;
	sqlite3_stmt *st;
	const char *json;
	size_t len;

	if (db_begin(o->db) < 0)
		return -EIO;
	st = db_use(o->add_event);
	sqlite3_bind_blob(st, 1, ev->id, 32, SQLITE_STATIC);
	if (!in_cache) {
		json = event_json(ev, &len);
		if (!json)
			return -ENOMEM;
		sqlite3_bind_text(st, 2, json, (int)len, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 3, now);
	if (sqlite3_step(st) != SQLITE_ROW)
		return db_err(o, "storing an event");
	oeid = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	st = db_use(o->add_row);
	sqlite3_bind_int64(st, 1, oeid);
	sqlite3_bind_int64(st, 2, relay);
	sqlite3_bind_int64(st, 3, now);
	if (sqlite3_step(st) != SQLITE_ROW)
		return db_err(o, "adding a row");
	*oid = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	db_wrote(o->db, 1);
	return 0;
}

int outbox_settle(struct outbox *o, int64_t oid, enum outbox_state state, unsigned attempts, const char *msg)
{
	sqlite3_stmt *st;

	if (db_begin(o->db) < 0)
		return -EIO;
	st = db_use(o->update_row);
	sqlite3_bind_int64(st, 1, oid);
	sqlite3_bind_int(st, 2, state);
	sqlite3_bind_int(st, 3, (int)attempts);
	if (msg)
		sqlite3_bind_text(st, 4, msg, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)clock_wall_s());
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_err(o, "updating a row");
	db_wrote(o->db, 1);
	return 0;
}

int outbox_each_pending(struct outbox *o, int (*fn)(void *arg, const struct outbox_row *row), void *arg)
{
	sqlite3_stmt *st;
	int r, stop = 0;

	if (sqlite3_prepare_v2(db_handle(o->db),
			       "SELECT o.oid, r.url, coalesce(e.json, c.json), e.created_at FROM outbox o "
			       "JOIN relays r ON r.relay = o.relay JOIN outbox_events e ON e.oeid = o.oeid "
			       "LEFT JOIN events c ON c.id = e.id WHERE o.state = 0 ORDER BY o.oid",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(o, "loading pending rows");
	while (!stop && (r = sqlite3_step(st)) == SQLITE_ROW) {
		struct outbox_row row = {
			.oid = sqlite3_column_int64(st, 0),
			.url = (const char *)sqlite3_column_text(st, 1),
			.json = (const char *)sqlite3_column_text(st, 2),
			.json_len = (size_t)sqlite3_column_bytes(st, 2),
			.created_at = sqlite3_column_int64(st, 3),
		};
		stop = fn(arg, &row);
	}
	sqlite3_finalize(st);
	if (stop < 0)
		return stop;
	if (!stop && r != SQLITE_DONE)
		return db_err(o, "loading pending rows");
	return 0;
}

/* ---- the operator's view ------------------------------------------------------------------ */

json_t *outbox_list(struct outbox *o, const char *state_filter, const char *relay_url, long long limit, char **why)
{
	char sql[512];
	sqlite3_stmt *st;
	json_t *rows = json_array();

	*why = NULL;
	snprintf(sql, sizeof(sql),
		 "SELECT o.oid, e.id, r.url, o.state, o.attempts, o.message, o.created_at, o.updated_at "
		 "FROM outbox o JOIN relays r ON r.relay = o.relay JOIN outbox_events e ON e.oeid = o.oeid "
		 "WHERE 1 %s %s ORDER BY o.oid LIMIT ?1",
		 !state_filter ? "" : strcmp(state_filter, "pending") == 0 ? "AND o.state = 0" : "AND o.state IN (2, 3)",
		 relay_url ? "AND r.url = ?2" : "");
	if (sqlite3_prepare_v2(db_handle(o->db), sql, -1, &st, NULL) != SQLITE_OK) {
		json_decref(rows);
		*why = strdup(sqlite3_errmsg(db_handle(o->db)));
		return NULL;
	}
	sqlite3_bind_int64(st, 1, limit);
	if (relay_url)
		sqlite3_bind_text(st, 2, relay_url, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char hex[65];
		hex_encode(sqlite3_column_blob(st, 1), 32, hex);
		json_array_append_new(
			rows, json_pack("{s:I, s:s, s:s, s:s, s:i, s:s?, s:I, s:I}", "row", sqlite3_column_int64(st, 0),
					"event_id", hex, "url", (const char *)sqlite3_column_text(st, 2), "state",
					outbox_state_name((enum outbox_state)sqlite3_column_int(st, 3)), "attempts",
					sqlite3_column_int(st, 4), "message", (const char *)sqlite3_column_text(st, 5),
					"created_at", sqlite3_column_int64(st, 6), "updated_at", sqlite3_column_int64(st, 7)));
	}
	sqlite3_finalize(st);
	return rows;
}

json_t *outbox_select(struct outbox *o, int64_t oid, const uint8_t *event_id)
{
	sqlite3_stmt *st;
	json_t *rows = json_array();
	char hex[65];

	if (sqlite3_prepare_v2(db_handle(o->db),
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

/* One statement over every selected row, all in one savepoint. */
static int exec_rows(struct outbox *o, const char *sql, const json_t *rows)
{
	size_t i;
	json_t *row;
	sqlite3_stmt *st;
	int r = 0;

	if (db_savepoint(o->db) < 0)
		return -EIO;
	if (sqlite3_prepare_v2(db_handle(o->db), sql, -1, &st, NULL) != SQLITE_OK)
		return db_release(o->db, db_err(o, "changing rows"));
	json_array_foreach(rows, i, row) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, json_integer_value(json_object_get(row, "row")));
		sqlite3_bind_int64(st, 2, (sqlite3_int64)clock_wall_s());
		if (sqlite3_step(st) != SQLITE_DONE) {
			r = db_err(o, "changing rows");
			break;
		}
	}
	sqlite3_finalize(st);
	if (r == 0)
		db_wrote(o->db, (unsigned)json_array_size(rows));
	return db_release(o->db, r);
}

int outbox_rearm(struct outbox *o, const json_t *rows)
{
	return exec_rows(o, "UPDATE outbox SET state = 0, attempts = 0, message = NULL, updated_at = ?2 WHERE oid = ?1",
			 rows);
}

int outbox_delete(struct outbox *o, const json_t *rows)
{
	return exec_rows(o, "DELETE FROM outbox WHERE oid = ?1 AND ?2 IS NOT NULL", rows);
}

json_t *outbox_counts(struct outbox *o)
{
	sqlite3_stmt *st;
	json_t *c = json_pack("{s:i, s:i, s:i, s:i}", "pending", 0, "accepted", 0, "rejected", 0, "expired", 0);

	if (sqlite3_prepare_v2(db_handle(o->db), "SELECT state, count(*) FROM outbox GROUP BY state", -1, &st, NULL) !=
	    SQLITE_OK)
		return c;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(c, outbox_state_name((enum outbox_state)sqlite3_column_int(st, 0)),
				    json_integer(sqlite3_column_int64(st, 1)));
	sqlite3_finalize(st);
	return c;
}
