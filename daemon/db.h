/* db.h - the daemon's SQLite database (the cache and the outbox live in it): opening with
 * integrity checks, the schema and its migrations, group commit, savepoints, and the
 * callbacks that run once a batch is on disk.
 *
 * Writes run at once inside one open transaction (the batch), which commits a few
 * milliseconds later, or at once when large. Nothing is promised to anyone before the
 * commit: callbacks registered with db_after_commit run after it (err 0), or after a failed
 * commit was rolled back (err < 0). Inside a batch, a group of writes that must succeed or
 * fail together (one event and its rows) runs in a savepoint: a failure rolls back that
 * group alone and the batch goes on. */
#ifndef RELAYPOOL_DB_H
#define RELAYPOOL_DB_H

#include <event2/event.h>
#include <sqlite3.h>
#include <stdbool.h>

#define DB_SCHEMA_VERSION 1

struct db;

/* Opens (creating or migrating) the database. A corrupted or unwritable file is an error
 * with a clear message in *why, never a silent reset. */
int db_open(const char *path, struct event_base *base, struct db **out, char **why);
/* Commits what is pending (its callbacks run), then closes. */
void db_close(struct db *db);
sqlite3 *db_handle(const struct db *db);
const char *db_path(const struct db *db);

/* A statement kept for the database's life. 0 or -EIO (logged). */
int db_prepare(struct db *db, sqlite3_stmt **st, const char *sql);
/* Resets a kept statement for another use. */
sqlite3_stmt *db_use(sqlite3_stmt *st);
/* Logs "what: SQLite's message" and returns -EIO. */
int db_error(struct db *db, const char *what);

/* Opens the batch if none is open; 0 or -EIO. */
int db_begin(struct db *db);
/* Counts n writes toward the batch size (a large batch commits on the next loop turn). */
void db_wrote(struct db *db, unsigned n);
typedef void (*db_done_fn)(void *arg, int err);
int db_after_commit(struct db *db, db_done_fn fn, void *arg);
/* Commits now (shutdown, tests). */
int db_flush(struct db *db);

/* Savepoints (they nest): db_savepoint opens the batch if needed; db_release ends the
 * innermost one, keeping its writes when err is 0 and rolling them back otherwise, and
 * returns err (or -EIO if the release itself failed). */
int db_savepoint(struct db *db);
int db_release(struct db *db, int err);

/* Commits that failed since the database was opened (a rolled-back batch). */
unsigned long long db_commit_failures(const struct db *db);

#endif
