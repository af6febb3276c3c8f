/* db.c - the SQLite database: schema and migrations, integrity checks at open, group
 * commit, savepoints, after-commit callbacks.
 *
 * Measured on the reference VM: a commit with synchronous=FULL (fsync) costs ~0.2 ms, so
 * group commit keeps the loop almost never blocked while every acknowledged write is on
 * disk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "util.h"

#define COMMIT_DELAY_USEC 5000
#define BATCH_MAX_WRITES 5000

struct after {
	db_done_fn fn;
	void *arg;
};

struct db {
	sqlite3 *db;
	char *path;
	struct event *commit_timer;
	bool in_txn;
	bool poisoned; /* a savepoint could not be rolled back: the batch must not commit */
	unsigned batch_writes, savepoints;
	struct after *after;
	size_t n_after, cap_after;
	unsigned long long commits, commit_failures;
	sqlite3_stmt *savepoint, *release, *rollback_to;
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
	/* 2: queries read newest first (ties: lowest id first) straight off this index instead of
	 * sorting every match before the first row. */
	"DROP INDEX events_by_time;"
	"CREATE INDEX events_by_time ON events(created_at DESC, id);",
};

/* Sets *why to the formatted message; -EIO for "return set_why(...)". */
#define set_why(why, ...) ({ *(why) = strdupf(__VA_ARGS__); -EIO; })

static int exec(struct db *db, const char *sql, char **why)
{
	char *err = NULL;

	if (sqlite3_exec(db->db, sql, NULL, NULL, &err) == SQLITE_OK)
		return 0;
	set_why(why, "%s: %s", db->path, err ? err : sqlite3_errmsg(db->db));
	sqlite3_free(err);
	return -EIO;
}

int db_prepare(struct db *db, sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(db->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		log_err("db: cannot prepare \"%s\": %s", sql, sqlite3_errmsg(db->db));
		return -EIO;
	}
	return 0;
}

sqlite3_stmt *db_use(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

int db_error(struct db *db, const char *what)
{
	log_err("db: %s: %s", what, sqlite3_errmsg(db->db));
	return -EIO;
}

/* ---- open, migrate, close ---------------------------------------------------------------- */

static int schema_version(struct db *db, int *version, char **why)
{
	sqlite3_stmt *st;
	int r;

	*version = 0;
	r = sqlite3_prepare_v2(db->db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'", -1, &st,
			       NULL);
	if (r != SQLITE_OK)
		return set_why(why, "%s: %s", db->path, sqlite3_errmsg(db->db));
	r = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
	sqlite3_finalize(st);
	if (!r)
		return 0;
	if (sqlite3_prepare_v2(db->db, "SELECT value FROM meta WHERE key='schema_version'", -1, &st, NULL) != SQLITE_OK)
		return set_why(why, "%s: %s", db->path, sqlite3_errmsg(db->db));
	if (sqlite3_step(st) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (*version == 0)
		return set_why(why, "%s: has a meta table but no schema version; not a relaypool cache?", db->path);
	return 0;
}

static int migrate(struct db *db, char **why)
{
	int version, r;
	char sql[128];

	r = schema_version(db, &version, why);
	if (r < 0)
		return r;
	if (version > DB_SCHEMA_VERSION)
		return set_why(why, "%s: schema version %d is newer than this relaypoold understands (%d); refusing to "
				    "touch it",
			       db->path, version, DB_SCHEMA_VERSION);
	for (; version < DB_SCHEMA_VERSION; version++) {
		snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta VALUES('schema_version', '%d');", version + 1);
		if (exec(db, "BEGIN IMMEDIATE", why) < 0)
			return -EIO;
		if (exec(db, migrations[version], why) < 0 || exec(db, sql, why) < 0) {
			sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
			return -EIO;
		}
		if (exec(db, "COMMIT", why) < 0)
			return -EIO;
		log_info("db: schema migrated to version %d", version + 1);
	}
	return 0;
}

static int check_integrity(struct db *db, char **why)
{
	sqlite3_stmt *st;
	int r;

	/* quick_check finds damaged pages and broken indexes without the full row checks. */
	if (sqlite3_prepare_v2(db->db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK)
		return set_why(why, "%s: %s", db->path, sqlite3_errmsg(db->db));
	r = sqlite3_step(st);
	if (r != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		set_why(why, "%s: the cache file is corrupted (%s); move it away (or restore a backup) and restart",
			db->path, r == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : sqlite3_errmsg(db->db));
		sqlite3_finalize(st);
		return -EIO;
	}
	sqlite3_finalize(st);
	return 0;
}

static void commit_cb(evutil_socket_t fd, short what, void *arg);

/* Why a file cannot be written, from the file system's point of view (SQLite says only
 * "unable to open database file" when it cannot create its -wal and -shm files). */
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

static int open_file(struct db *db, const char *path, char **why)
{
	bool existed = access(path, F_OK) == 0;
	int r;

	if (make_parent_dir(path, why) < 0)
		return -EIO;
	if (unwritable_reason(path))
		return set_why(why, "%s: the cache is not writable (%s)", path, unwritable_reason(path));
	r = sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (r != SQLITE_OK)
		return set_why(why, "%s: cannot open the cache: %s", path, db->db ? sqlite3_errmsg(db->db) : sqlite3_errstr(r));
	sqlite3_extended_result_codes(db->db, 1);
	if (existed && check_integrity(db, why) < 0)
		return -EIO;
	/* A 16 MiB page cache and 64 MiB of memory-mapped reads keep index lookups of a cache of
	 * a few hundred thousand events off read(2); the RSS this adds is reported by bench/run. */
	if (exec(db, "PRAGMA journal_mode=WAL", why) < 0 || exec(db, "PRAGMA synchronous=FULL", why) < 0 ||
	    exec(db, "PRAGMA temp_store=MEMORY", why) < 0 || exec(db, "PRAGMA cache_size=-16384", why) < 0 ||
	    exec(db, "PRAGMA mmap_size=67108864", why) < 0)
		return -EIO;
	/* SQLite silently opens a write-protected file read-only: ask, then prove it with a
	 * real write (the file and its directory, for the WAL) now rather than at the first
	 * publish. */
	if (sqlite3_db_readonly(db->db, "main") == 1)
		return set_why(why, "%s: the cache is not writable (permission denied)", path);
	if (migrate(db, why) < 0)
		return -EIO;
	if (exec(db, "INSERT OR REPLACE INTO meta VALUES('opened_at', strftime('%s', 'now'))", why) < 0) {
		free(*why);
		return set_why(why, "%s: the cache is not writable: %s", path, sqlite3_errmsg(db->db));
	}
	return 0;
}

int db_open(const char *path, struct event_base *base, struct db **out, char **why)
{
	struct db *db = calloc(1, sizeof(*db));

	*why = NULL;
	if (!db)
		return -ENOMEM;
	db->path = strdup(path);
	if (!db->path || open_file(db, path, why) < 0)
		goto fail;
	if (db_prepare(db, &db->savepoint, "SAVEPOINT w") < 0 || db_prepare(db, &db->release, "RELEASE w") < 0 ||
	    db_prepare(db, &db->rollback_to, "ROLLBACK TO w") < 0) {
		set_why(why, "%s: cannot prepare the database's statements", path);
		goto fail;
	}
	db->commit_timer = evtimer_new(base, commit_cb, db);
	if (!db->commit_timer)
		goto fail;
	*out = db;
	return 0;
fail:
	if (!*why)
		set_why(why, "%s: cannot open the cache", path);
	db_close(db);
	return -EIO;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	if (db->in_txn || db->n_after)
		db_flush(db);
	sqlite3_finalize(db->savepoint);
	sqlite3_finalize(db->release);
	sqlite3_finalize(db->rollback_to);
	if (db->db && sqlite3_close(db->db) != SQLITE_OK)
		log_warn("db: close: %s, ignoring", sqlite3_errmsg(db->db));
	if (db->commit_timer)
		event_free(db->commit_timer);
	free(db->after);
	free(db->path);
	free(db);
}

sqlite3 *db_handle(const struct db *db)
{
	return db->db;
}

const char *db_path(const struct db *db)
{
	return db->path;
}

unsigned long long db_commit_failures(const struct db *db)
{
	return db->commit_failures;
}

/* ---- group commit -------------------------------------------------------------------------- */

int db_begin(struct db *db)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = COMMIT_DELAY_USEC };

	if (db->in_txn)
		return 0;
	if (sqlite3_exec(db->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(db, "begin");
	db->in_txn = true;
	db->batch_writes = 0;
	evtimer_add(db->commit_timer, &tv);
	return 0;
}

void db_wrote(struct db *db, unsigned n)
{
	struct timeval now = { 0, 0 };
	unsigned before = db->batch_writes;

	/* A large batch commits on the next loop turn rather than waiting for the timer. */
	db->batch_writes += n;
	if (before < BATCH_MAX_WRITES && db->batch_writes >= BATCH_MAX_WRITES)
		evtimer_add(db->commit_timer, &now);
}

int db_after_commit(struct db *db, db_done_fn fn, void *arg)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = COMMIT_DELAY_USEC };

	if (db->n_after == db->cap_after) {
		size_t ncap = db->cap_after ? db->cap_after * 2 : 64;
		struct after *na = reallocarray(db->after, ncap, sizeof(*na));
		if (!na)
			return -ENOMEM;
		db->after = na;
		db->cap_after = ncap;
	}
	db->after[db->n_after++] = (struct after){ fn, arg };
	/* Even with nothing written (every write of a request failed), the callback runs. */
	if (!evtimer_pending(db->commit_timer, NULL))
		evtimer_add(db->commit_timer, &tv);
	return 0;
}

int db_flush(struct db *db)
{
	struct after *list;
	size_t n;
	int err = 0;

	evtimer_del(db->commit_timer);
	if (db->in_txn) {
		/* An unbalanced savepoint would keep COMMIT from ending the transaction. */
		while (db->savepoints)
			db_release(db, 0);
		if (db->poisoned || sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			err = db->poisoned ? -EIO : db_error(db, "commit failed, the batch is rolled back");
			if (db->poisoned)
				log_err("db: a failed write could not be undone alone; the whole batch is rolled back");
			sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
			db->commit_failures++;
		} else {
			db->commits++;
		}
		db->in_txn = false;
		db->poisoned = false;
	}
	/* Callbacks may write again (a new batch): take the list first. */
	list = db->after;
	n = db->n_after;
	db->after = NULL;
	db->n_after = db->cap_after = 0;
	for (size_t i = 0; i < n; i++)
		list[i].fn(list[i].arg, err);
	free(list);
	return err;
}

static void commit_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	db_flush(arg);
}

/* ---- savepoints -------------------------------------------------------------------------- */

int db_savepoint(struct db *db)
{
	if (db_begin(db) < 0)
		return -EIO;
	if (sqlite3_step(db_use(db->savepoint)) != SQLITE_DONE)
		return db_error(db, "savepoint");
	db->savepoints++;
	return 0;
}

int db_release(struct db *db, int err)
{
	if (!db->savepoints)
		return err;
	db->savepoints--;
	if (err < 0 && sqlite3_step(db_use(db->rollback_to)) != SQLITE_DONE) {
		/* The batch cannot be trusted any more: it will be rolled back as a whole. */
		db_error(db, "rollback to savepoint");
		db->poisoned = true;
	}
	if (sqlite3_step(db_use(db->release)) != SQLITE_DONE)
		return db_error(db, "release savepoint");
	return err;
}
