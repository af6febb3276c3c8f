/* cache.c - the SQLite event cache: schema and migrations, integrity checks at open, group
 * commit, events (replaceable and addressable kinds keep only their newest version), the
 * single-letter tag index, seen/delivered marks per relay, sync cursors, and NIP-01 filter
 * queries compiled to SQL.
 *
 * Writes happen on the loop thread inside one open transaction that commits a few
 * milliseconds later (or at once when large). Measured on the reference VM: a commit with
 * synchronous=FULL (fsync) costs ~0.2 ms, so group commit keeps the loop almost never
 * blocked while every acknowledged write is on disk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "hex.h"
#include "log.h"
#include "util.h"

#define COMMIT_DELAY_USEC 5000
#define BATCH_MAX_WRITES 5000
#define MAX_FILTER_VALUES 1000

struct after {
	cache_done_fn fn;
	void *arg;
};

struct cache {
	sqlite3 *db;
	char *path;
	struct event_base *base;
	struct event *commit_timer;
	bool in_txn;
	unsigned batch_writes;
	struct after *after;
	size_t n_after, cap_after;
	unsigned long long commits, commit_failures;

	sqlite3_stmt *find_event, *find_addr, *insert_event, *insert_tag, *delete_event, *delete_tags, *delete_seen,
		*mark, *relay_get, *relay_insert, *cursor_get, *cursor_set;
};

/* Each step takes the schema from version i to i + 1. */
static const char *const migrations[] = {
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
	"CREATE TABLE relays(relay INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE);"
	"CREATE TABLE events(rid INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, pubkey BLOB NOT NULL,"
	" kind INTEGER NOT NULL, created_at INTEGER NOT NULL, dtag TEXT, json TEXT NOT NULL);"
	"CREATE INDEX events_by_time ON events(created_at);"
	"CREATE INDEX events_by_author ON events(pubkey, created_at);"
	"CREATE INDEX events_by_kind ON events(kind, created_at);"
	"CREATE UNIQUE INDEX events_by_address ON events(pubkey, kind, dtag) WHERE dtag IS NOT NULL;"
	/* Clustered by event (rows of one event are written together, in rowid order); the
	 * value index serves "#x" filters. */
	"CREATE TABLE tags(rid INTEGER NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,"
	" PRIMARY KEY(rid, name, value)) WITHOUT ROWID;"
	"CREATE INDEX tags_by_value ON tags(name, value, rid);"
	"CREATE TABLE seen(rid INTEGER NOT NULL, relay INTEGER NOT NULL, flags INTEGER NOT NULL,"
	" PRIMARY KEY(rid, relay)) WITHOUT ROWID;"
	"CREATE TABLE cursors(relay INTEGER NOT NULL, filter TEXT NOT NULL, until INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL, PRIMARY KEY(relay, filter)) WITHOUT ROWID;"
	/* Rows refer to their event by a sequential rowid: the one random-keyed index of the
	 * outbox is the small (id) index, which keeps the pages a batch dirties few. */
	/* json is NULL when the event is in the events table (one copy of its text is enough);
	 * ephemeral events and stale replaceable versions keep theirs here. */
	"CREATE TABLE outbox_events(oeid INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, json TEXT,"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE outbox(oid INTEGER PRIMARY KEY, oeid INTEGER NOT NULL, relay INTEGER NOT NULL,"
	" state INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, message TEXT,"
	" created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE(oeid, relay));"
	"CREATE INDEX outbox_by_state ON outbox(state, relay);",
};

/* ---- helpers ------------------------------------------------------------------------------ */

/* Sets *why to the formatted message; returns -EIO for "return set_why(...)". */
#define set_why(why, ...) ({ *(why) = strdupf(__VA_ARGS__); -EIO; })

static int exec(struct cache *c, const char *sql, char **why)
{
	char *err = NULL;

	if (sqlite3_exec(c->db, sql, NULL, NULL, &err) == SQLITE_OK)
		return 0;
	set_why(why, "%s: %s", c->path, err ? err : sqlite3_errmsg(c->db));
	sqlite3_free(err);
	return -EIO;
}

static int prepare(struct cache *c, sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		log_err("cache: cannot prepare \"%s\": %s", sql, sqlite3_errmsg(c->db));
		return -EIO;
	}
	return 0;
}

/* Resets a cached statement for reuse. */
static sqlite3_stmt *use(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static int db_error(struct cache *c, const char *what)
{
	log_err("cache: %s: %s", what, sqlite3_errmsg(c->db));
	return -EIO;
}

/* ---- open, migrate, close ---------------------------------------------------------------- */

static int schema_version(struct cache *c, int *version, char **why)
{
	sqlite3_stmt *st;
	int r;

	*version = 0;
	r = sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'", -1, &st,
			       NULL);
	if (r != SQLITE_OK)
		return set_why(why, "%s: %s", c->path, sqlite3_errmsg(c->db));
	r = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
	sqlite3_finalize(st);
	if (!r)
		return 0;
	if (sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key='schema_version'", -1, &st, NULL) != SQLITE_OK)
		return set_why(why, "%s: %s", c->path, sqlite3_errmsg(c->db));
	if (sqlite3_step(st) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (*version == 0)
		return set_why(why, "%s: has a meta table but no schema version; not a relaypool cache?", c->path);
	return 0;
}

static int migrate(struct cache *c, char **why)
{
	int version, r;
	char sql[128];

	r = schema_version(c, &version, why);
	if (r < 0)
		return r;
	if (version > CACHE_SCHEMA_VERSION)
		return set_why(why, "%s: schema version %d is newer than this relaypoold understands (%d); refusing to "
				    "touch it",
			       c->path, version, CACHE_SCHEMA_VERSION);
	for (; version < CACHE_SCHEMA_VERSION; version++) {
		snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta VALUES('schema_version', '%d');", version + 1);
		if (exec(c, "BEGIN IMMEDIATE", why) < 0)
			return -EIO;
		if (exec(c, migrations[version], why) < 0 || exec(c, sql, why) < 0) {
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			return -EIO;
		}
		if (exec(c, "COMMIT", why) < 0)
			return -EIO;
		log_info("cache: schema migrated to version %d", version + 1);
	}
	return 0;
}

static int check_integrity(struct cache *c, char **why)
{
	sqlite3_stmt *st;
	int r;

	/* quick_check finds damaged pages and broken indexes without the full row checks. */
	if (sqlite3_prepare_v2(c->db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK)
		return set_why(why, "%s: %s", c->path, sqlite3_errmsg(c->db));
	r = sqlite3_step(st);
	if (r != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		set_why(why, "%s: the cache file is corrupted (%s); move it away (or restore a backup) and restart",
			c->path, r == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : sqlite3_errmsg(c->db));
		sqlite3_finalize(st);
		return -EIO;
	}
	sqlite3_finalize(st);
	return 0;
}

static int prepare_all(struct cache *c)
{
	return prepare(c, &c->find_event, "SELECT rid FROM events WHERE id = ?1") ||
	       prepare(c, &c->find_addr,
		       "SELECT rid, created_at, id FROM events WHERE pubkey = ?1 AND kind = ?2 AND dtag = ?3") ||
	       prepare(c, &c->insert_event,
		       "INSERT OR IGNORE INTO events(id, pubkey, kind, created_at, dtag, json) VALUES(?1, ?2, ?3, ?4, ?5, ?6)") ||
	       prepare(c, &c->insert_tag, "INSERT OR IGNORE INTO tags(rid, name, value) VALUES(?1, ?2, ?3)") ||
	       prepare(c, &c->delete_event, "DELETE FROM events WHERE rid = ?1") ||
	       prepare(c, &c->delete_tags, "DELETE FROM tags WHERE rid = ?1") ||
	       prepare(c, &c->delete_seen, "DELETE FROM seen WHERE rid = ?1") ||
	       prepare(c, &c->mark,
		       "INSERT INTO seen(rid, relay, flags) SELECT rid, ?2, ?3 FROM events WHERE id = ?1 "
		       "ON CONFLICT(rid, relay) DO UPDATE SET flags = flags | excluded.flags") ||
	       prepare(c, &c->relay_get, "SELECT relay FROM relays WHERE url = ?1") ||
	       prepare(c, &c->relay_insert, "INSERT INTO relays(url) VALUES(?1)") ||
	       prepare(c, &c->cursor_get, "SELECT until FROM cursors WHERE relay = ?1 AND filter = ?2") ||
	       prepare(c, &c->cursor_set,
		       "INSERT INTO cursors(relay, filter, until, updated_at) VALUES(?1, ?2, ?3, ?4) "
		       "ON CONFLICT(relay, filter) DO UPDATE SET until = excluded.until, updated_at = excluded.updated_at")
		       ? -EIO
		       : 0;
}

static void commit_cb(evutil_socket_t fd, short what, void *arg);

/* Why a cache file cannot be written, from the file system's point of view (SQLite says
 * only "unable to open database file" when it cannot create its -wal and -shm files). */
static const char *unwritable_reason(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash = dir ? strrchr(dir, '/') : NULL;

	if (access(path, W_OK) < 0 && errno != ENOENT)
		return strerror(errno);
	if (slash) {
		*slash = '\0';
		if (access(*dir ? dir : "/", W_OK) < 0)
			return strerror(errno);
	}
	return NULL;
}

static int make_parent_dir(const char *path, char **why)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash = dir ? strrchr(dir, '/') : NULL;

	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return set_why(why, "%s: cannot create the cache directory %s: %s", path, dir, strerror(errno));
	return 0;
}

int cache_open(const char *path, struct event_base *base, struct cache **out, char **why)
{
	struct cache *c = calloc(1, sizeof(*c));
	bool existed = access(path, F_OK) == 0;
	int r;

	*why = NULL;
	if (!c)
		return -ENOMEM;
	c->path = strdup(path);
	c->base = base;
	if (!c->path || make_parent_dir(path, why) < 0)
		goto fail;
	if (unwritable_reason(path)) {
		set_why(why, "%s: the cache is not writable (%s)", path, unwritable_reason(path));
		goto fail;
	}
	r = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (r != SQLITE_OK) {
		set_why(why, "%s: cannot open the cache: %s", path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(r));
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	if (existed && check_integrity(c, why) < 0)
		goto fail;
	/* A 16 MiB page cache and 64 MiB of memory-mapped reads keep index lookups of a cache of
	 * a few hundred thousand events off read(2); the RSS this adds is reported by bench/run. */
	if (exec(c, "PRAGMA journal_mode=WAL", why) < 0 || exec(c, "PRAGMA synchronous=FULL", why) < 0 ||
	    exec(c, "PRAGMA temp_store=MEMORY", why) < 0 || exec(c, "PRAGMA cache_size=-16384", why) < 0 ||
	    exec(c, "PRAGMA mmap_size=67108864", why) < 0)
		goto fail;
	/* SQLite silently opens a write-protected file read-only: ask, then prove it with a
	 * real write (the file and its directory, for the WAL) now rather than at the first
	 * publish. */
	if (sqlite3_db_readonly(c->db, "main") == 1) {
		set_why(why, "%s: the cache is not writable (permission denied)", path);
		goto fail;
	}
	if (migrate(c, why) < 0)
		goto fail;
	if (exec(c, "INSERT OR REPLACE INTO meta VALUES('opened_at', strftime('%s', 'now'))", why) < 0) {
		free(*why);
		set_why(why, "%s: the cache is not writable: %s", path, sqlite3_errmsg(c->db));
		goto fail;
	}
	if (prepare_all(c) < 0) {
		set_why(why, "%s: cannot prepare the cache's statements", path);
		goto fail;
	}
	c->commit_timer = evtimer_new(base, commit_cb, c);
	if (!c->commit_timer)
		goto fail;
	*out = c;
	return 0;
fail:
	if (!*why)
		set_why(why, "%s: cannot open the cache", path);
	cache_close(c);
	return -EIO;
}

void cache_close(struct cache *c)
{
	sqlite3_stmt *const *all;

	if (!c)
		return;
	if (c->in_txn)
		cache_flush(c);
	sqlite3_stmt *stmts[] = { c->find_event, c->find_addr, c->insert_event, c->insert_tag, c->delete_event,
				  c->delete_tags, c->delete_seen, c->mark, c->relay_get, c->relay_insert,
				  c->cursor_get, c->cursor_set };
	all = stmts;
	for (size_t i = 0; i < ARRAY_SIZE(stmts); i++)
		sqlite3_finalize(all[i]);
	if (c->db && sqlite3_close(c->db) != SQLITE_OK)
		log_warn("cache: close: %s, ignoring", sqlite3_errmsg(c->db));
	if (c->commit_timer)
		event_free(c->commit_timer);
	free(c->after);
	free(c->path);
	free(c);
}

sqlite3 *cache_db(struct cache *c)
{
	return c->db;
}

const char *cache_path(const struct cache *c)
{
	return c->path;
}

/* ---- group commit ------------------------------------------------------------------------- */

int cache_write_begin(struct cache *c)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = COMMIT_DELAY_USEC };

	if (c->in_txn)
		return 0;
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(c, "begin");
	c->in_txn = true;
	c->batch_writes = 0;
	evtimer_add(c->commit_timer, &tv);
	return 0;
}

void cache_write_done(struct cache *c)
{
	struct timeval now = { 0, 0 };

	/* A large batch commits on the next loop turn rather than waiting for the timer. */
	if (++c->batch_writes == BATCH_MAX_WRITES)
		evtimer_add(c->commit_timer, &now);
}

int cache_after_commit(struct cache *c, cache_done_fn fn, void *arg)
{
	if (c->n_after == c->cap_after) {
		size_t ncap = c->cap_after ? c->cap_after * 2 : 64;
		struct after *na = reallocarray(c->after, ncap, sizeof(*na));
		if (!na)
			return -ENOMEM;
		c->after = na;
		c->cap_after = ncap;
	}
	c->after[c->n_after++] = (struct after){ fn, arg };
	return 0;
}

int cache_flush(struct cache *c)
{
	struct after *list;
	size_t n;
	int err = 0;

	evtimer_del(c->commit_timer);
	if (c->in_txn) {
		if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			err = db_error(c, "commit failed, the batch is rolled back");
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			c->commit_failures++;
		} else {
			c->commits++;
		}
		c->in_txn = false;
	}
	/* Callbacks may write again (a new batch): take the list first. */
	list = c->after;
	n = c->n_after;
	c->after = NULL;
	c->n_after = c->cap_after = 0;
	for (size_t i = 0; i < n; i++)
		list[i].fn(list[i].arg, err);
	free(list);
	return err;
}

static void commit_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	cache_flush(arg);
}

/* ---- relays, marks, cursors ------------------------------------------------------------- */

int cache_relay_id(struct cache *c, const char *url, int64_t *id)
{
	sqlite3_stmt *st = use(c->relay_get);

	sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		return 0;
	}
	if (cache_write_begin(c) < 0)
		return -EIO;
	st = use(c->relay_insert);
	sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_error(c, "adding a relay");
	*id = sqlite3_last_insert_rowid(c->db);
	cache_write_done(c);
	return 0;
}

int cache_mark(struct cache *c, const uint8_t id[32], int64_t relay, int flags)
{
	sqlite3_stmt *st;

	if (cache_write_begin(c) < 0)
		return -EIO;
	st = use(c->mark);
	sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, relay);
	sqlite3_bind_int(st, 3, flags);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_error(c, "marking an event");
	cache_write_done(c);
	return 0;
}

int cache_get_cursor(struct cache *c, int64_t relay, const char *filter_key, int64_t *until)
{
	sqlite3_stmt *st = use(c->cursor_get);
	int r;

	sqlite3_bind_int64(st, 1, relay);
	sqlite3_bind_text(st, 2, filter_key, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	*until = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	return r == SQLITE_ROW || r == SQLITE_DONE ? 0 : db_error(c, "reading a sync cursor");
}

int cache_set_cursor(struct cache *c, int64_t relay, const char *filter_key, int64_t until)
{
	sqlite3_stmt *st;

	if (cache_write_begin(c) < 0)
		return -EIO;
	st = use(c->cursor_set);
	sqlite3_bind_int64(st, 1, relay);
	sqlite3_bind_text(st, 2, filter_key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, until);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_error(c, "saving a sync cursor");
	cache_write_done(c);
	return 0;
}

/* ---- events -------------------------------------------------------------------------------- */

/* NIP-01: replaceable kinds keep one event per (pubkey, kind); addressable kinds one per
 * (pubkey, kind, d tag). Returns the d value ("" for replaceable), or NULL for others. */
static const char *address_dtag(const struct nostr_event *ev, size_t *len)
{
	size_t i;
	json_t *tag;

	*len = 0;
	if (ev->kind == 0 || ev->kind == 3 || (ev->kind >= 10000 && ev->kind < 20000))
		return "";
	if (ev->kind < 30000 || ev->kind >= 40000)
		return NULL;
	json_array_foreach(ev->tags, i, tag) {
		if (json_array_size(tag) >= 2 && strcmp(json_string_value(json_array_get(tag, 0)), "d") == 0) {
			*len = json_string_length(json_array_get(tag, 1));
			return json_string_value(json_array_get(tag, 1));
		}
	}
	return "";
}

static int delete_event(struct cache *c, int64_t rid)
{
	sqlite3_stmt *const dels[] = { c->delete_tags, c->delete_seen, c->delete_event };

	for (size_t i = 0; i < ARRAY_SIZE(dels); i++) {
		sqlite3_stmt *st = use(dels[i]);
		sqlite3_bind_int64(st, 1, rid);
		if (sqlite3_step(st) != SQLITE_DONE)
			return db_error(c, "removing a replaced event");
	}
	return 0;
}

/* For replaceable/addressable events: is there a newer version (stale), or an older one to
 * replace? NIP-01: newer created_at wins; on a tie, the lowest id. */
static int check_address(struct cache *c, const struct nostr_event *ev, const char *dtag, size_t dlen,
			 enum cache_store *res)
{
	sqlite3_stmt *st = use(c->find_addr);
	int r;

	sqlite3_bind_blob(st, 1, ev->pubkey, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, ev->kind);
	sqlite3_bind_text(st, 3, dtag, (int)dlen, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_DONE)
		return 0;
	if (r != SQLITE_ROW)
		return db_error(c, "looking up a replaceable event");
	int64_t old_rid = sqlite3_column_int64(st, 0), old_at = sqlite3_column_int64(st, 1);
	const void *old_id = sqlite3_column_blob(st, 2);
	if (old_at > ev->created_at || (old_at == ev->created_at && memcmp(old_id, ev->id, 32) < 0)) {
		*res = CACHE_STALE;
		return 0;
	}
	*res = CACHE_REPLACED;
	return delete_event(c, old_rid);
}

static int insert_tags(struct cache *c, int64_t rid, const struct nostr_event *ev)
{
	size_t i;
	json_t *tag;

	json_array_foreach(ev->tags, i, tag) {
		const char *name = json_string_value(json_array_get(tag, 0));
		json_t *value = json_array_get(tag, 1);
		sqlite3_stmt *st;
		/* Only single-letter tags are indexed (NIP-01 "#x" filters). */
		if (!value || json_string_length(json_array_get(tag, 0)) != 1 ||
		    !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
			continue;
		st = use(c->insert_tag);
		sqlite3_bind_int64(st, 1, rid);
		sqlite3_bind_text(st, 2, name, 1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, json_string_value(value), (int)json_string_length(value), SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			return db_error(c, "indexing a tag");
	}
	return 0;
}

int cache_store_event(struct cache *c, const struct nostr_event *ev, int64_t relay, enum cache_store *res)
{
	sqlite3_stmt *st;
	const char *dtag, *json;
	size_t dlen, jlen;
	int r;

	*res = CACHE_NEW;
	if (ev->kind >= 20000 && ev->kind < 30000) {
		*res = CACHE_EPHEMERAL;
		return 0;
	}
	if (cache_write_begin(c) < 0)
		return -EIO;
	dtag = address_dtag(ev, &dlen);
	if (dtag) {
		/* Replaceable: a duplicate must not count as a newer version of itself. */
		st = use(c->find_event);
		sqlite3_bind_blob(st, 1, ev->id, 32, SQLITE_STATIC);
		r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			*res = CACHE_DUPLICATE;
			return relay > 0 ? cache_mark(c, ev->id, relay, CACHE_SEEN) : 0;
		}
		if (r != SQLITE_DONE)
			return db_error(c, "looking up an event");
	}
	if (dtag && check_address(c, ev, dtag, dlen, res) < 0)
		return -EIO;
	if (*res == CACHE_STALE)
		return 0;
	json = event_json(ev, &jlen);
	if (!json)
		return -ENOMEM;
	st = use(c->insert_event);
	sqlite3_bind_blob(st, 1, ev->id, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, ev->pubkey, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, ev->kind);
	sqlite3_bind_int64(st, 4, ev->created_at);
	if (dtag)
		sqlite3_bind_text(st, 5, dtag, (int)dlen, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, json, (int)jlen, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r != SQLITE_DONE)
		return db_error(c, "storing an event");
	if (sqlite3_changes(c->db) == 0) {
		/* Already there (INSERT OR IGNORE on the id). */
		*res = CACHE_DUPLICATE;
		return relay > 0 ? cache_mark(c, ev->id, relay, CACHE_SEEN) : 0;
	}
	if (insert_tags(c, sqlite3_last_insert_rowid(c->db), ev) < 0)
		return -EIO;
	cache_write_done(c);
	return relay > 0 ? cache_mark(c, ev->id, relay, CACHE_SEEN) : 0;
}

int cache_count_events(struct cache *c, long long *n)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM events", -1, &st, NULL) != SQLITE_OK)
		return db_error(c, "counting events");
	*n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return 0;
}

/* ---- NIP-01 filters to SQL ----------------------------------------------------------------- */

struct sql {
	char *text;
	size_t len, cap;
	json_t *binds; /* [type, value] pairs in order: "b" hex blob, "i" integer, "t" text */
	int err;
};

static void sql_add(struct sql *q, const char *s)
{
	size_t n = strlen(s);

	if (q->err)
		return;
	if (q->len + n + 1 > q->cap) {
		size_t ncap = q->cap ? q->cap * 2 : 1024;
		while (ncap < q->len + n + 1)
			ncap *= 2;
		char *nt = realloc(q->text, ncap);
		if (!nt) {
			q->err = -ENOMEM;
			return;
		}
		q->text = nt;
		q->cap = ncap;
	}
	memcpy(q->text + q->len, s, n + 1);
	q->len += n;
}

static void bind_later(struct sql *q, const char *type, json_t *v)
{
	json_array_append_new(q->binds, json_pack("[s, O]", type, v));
}

/* " AND col IN (?, ?, ...)" with one bind per array element. */
static void in_list(struct sql *q, const char *col, json_t *values, const char *type)
{
	size_t i;
	json_t *v;

	sql_add(q, " AND ");
	sql_add(q, col);
	sql_add(q, " IN (");
	json_array_foreach(values, i, v) {
		sql_add(q, i ? ", ?" : "?");
		bind_later(q, type, v);
	}
	sql_add(q, ")");
}

static void filter_sql(struct sql *q, json_t *f)
{
	const char *key;
	json_t *v;

	sql_add(q, "SELECT rid FROM (SELECT rid, created_at, id FROM events WHERE 1");
	json_object_foreach(f, key, v) {
		if (strcmp(key, "ids") == 0) {
			in_list(q, "id", v, "b");
		} else if (strcmp(key, "authors") == 0) {
			in_list(q, "pubkey", v, "b");
		} else if (strcmp(key, "kinds") == 0) {
			in_list(q, "kind", v, "i");
		} else if (strcmp(key, "since") == 0) {
			sql_add(q, " AND created_at >= ?");
			bind_later(q, "i", v);
		} else if (strcmp(key, "until") == 0) {
			sql_add(q, " AND created_at <= ?");
			bind_later(q, "i", v);
		} else if (key[0] == '#') {
			json_t *name = json_stringn(key + 1, 1);
			sql_add(q, " AND rid IN (SELECT rid FROM tags WHERE name = ?");
			bind_later(q, "t", name);
			json_decref(name);
			in_list(q, "value", v, "t");
			sql_add(q, ")");
		}
	}
	sql_add(q, " ORDER BY created_at DESC, id ASC LIMIT ?)");
	v = json_object_get(f, "limit");
	if (v)
		bind_later(q, "i", v);
	else {
		json_t *all = json_integer(-1);
		bind_later(q, "i", all);
		json_decref(all);
	}
}

static int bind_all(sqlite3_stmt *st, json_t *binds)
{
	size_t i;
	json_t *b;

	json_array_foreach(binds, i, b) {
		const char *type = json_string_value(json_array_get(b, 0));
		json_t *v = json_array_get(b, 1);
		int idx = (int)i + 1, r;
		if (type[0] == 'b') {
			uint8_t raw[32];
			if (hex_decode(json_string_value(v), 64, raw) < 0)
				return -EINVAL;
			r = sqlite3_bind_blob(st, idx, raw, 32, SQLITE_TRANSIENT);
		} else if (type[0] == 'i') {
			r = sqlite3_bind_int64(st, idx, json_integer_value(v));
		} else {
			r = sqlite3_bind_text(st, idx, json_string_value(v), (int)json_string_length(v), SQLITE_TRANSIENT);
		}
		if (r != SQLITE_OK)
			return -EIO;
	}
	return 0;
}

/* Values per filter member are bounded so one request cannot build a giant statement. */
static int check_sizes(const json_t *filters, char **why)
{
	size_t i, total = 0;
	json_t *f, *v;
	const char *key;

	json_array_foreach(filters, i, f)
		json_object_foreach((json_t *)f, key, v)
			if (json_is_array(v))
				total += json_array_size(v);
	if (total > MAX_FILTER_VALUES)
		return set_why(why, "the filters hold %zu values; at most %d are allowed in one query", total,
			       MAX_FILTER_VALUES),
		       -EINVAL;
	return 0;
}

int cache_query(struct cache *c, const json_t *filters, long long limit, sqlite3_stmt **out, char **why)
{
	struct sql q = { .binds = json_array() };
	size_t i;
	json_t *f, *lim;
	int r = -EINVAL;

	*why = NULL;
	*out = NULL;
	if (check_sizes(filters, why) < 0)
		goto done;
	sql_add(&q, "SELECT json FROM events WHERE rid IN (");
	json_array_foreach((json_t *)filters, i, f) {
		if (i)
			sql_add(&q, " UNION ");
		filter_sql(&q, f);
	}
	sql_add(&q, ") ORDER BY created_at DESC, id ASC LIMIT ?");
	lim = json_integer(limit);
	bind_later(&q, "i", lim);
	json_decref(lim);
	if (q.err) {
		r = q.err;
		goto done;
	}
	if (sqlite3_prepare_v2(c->db, q.text, -1, out, NULL) != SQLITE_OK) {
		set_why(why, "cannot run the query: %s", sqlite3_errmsg(c->db));
		r = -EIO;
		goto done;
	}
	if (bind_all(*out, q.binds) < 0) {
		sqlite3_finalize(*out);
		*out = NULL;
		set_why(why, "cannot bind the query's values");
		r = -EIO;
		goto done;
	}
	r = 0;
done:
	free(q.text);
	json_decref(q.binds);
	return r;
}

int cache_query_next(sqlite3_stmt *st, const char **json, size_t *len)
{
	int r = sqlite3_step(st);

	if (r == SQLITE_DONE)
		return 0;
	if (r != SQLITE_ROW)
		return -EIO;
	*json = (const char *)sqlite3_column_text(st, 0);
	*len = (size_t)sqlite3_column_bytes(st, 0);
	return 1;
}
