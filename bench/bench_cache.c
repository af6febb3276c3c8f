/* bench_cache.c - what the durable outbox costs per published event, measured on the cache
 * itself: store the event, add its outbox row, later mark it accepted and delivered, with
 * group commits of B events (as the daemon batches them). Prints microseconds per event.
 *
 * Usage: bench_cache [EVENTS] [BATCH] [DIR] */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "db.h"
#include "outbox.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000, batch = argc > 2 ? atoi(argv[2]) : 100;
	const char *dir = argc > 3 ? argv[3] : "/tmp";
	struct event_base *base = event_base_new();
	struct nostr_event *ev = calloc((size_t)n, sizeof(*ev));
	secp256k1_keypair kp;
	uint8_t sk[32] = { [31] = 3 };
	struct db *db;
	struct cache *c;
	struct outbox *o;
	char path[512], *why = NULL;
	int64_t relay, *oids = calloc((size_t)n, sizeof(*oids));
	enum cache_store res;
	double t0, t_store, t_done;

	snprintf(path, sizeof(path), "%s/bench-cache-%d.db", dir, (int)getpid());
	if (!secp256k1_keypair_create(event_secp_context(), &kp, sk))
		return 1;
	for (int i = 0; i < n; i++) {
		struct event_error err;
		json_t *t = json_pack("{s:i, s:i, s:s, s:[[s,s]]}", "kind", 1, "created_at", 1700000000 + i, "content",
				      "a benchmark event of ordinary size, a sentence or two of text like most notes",
				      "tags", "t", "bench");
		if (event_sign_template(t, &kp, &ev[i], &err) < 0)
			return 1;
		json_decref(t);
	}
	if (db_open(path, base, &db, &why) < 0 || cache_new(db, &c) < 0 || outbox_new(db, &o) < 0) {
		fprintf(stderr, "%s\n", why ? why : "cannot set up the cache");
		return 1;
	}
	if (getenv("BENCH_SYNC"))
		sqlite3_exec(db_handle(db), getenv("BENCH_SYNC"), NULL, NULL, NULL);
	cache_relay_id(c, "ws://127.0.0.1:1/", &relay);
	db_flush(db);
	/* Phase 1: what a publish writes before its "queued" reply: the event and its row in one
	 * savepoint, as publish.c does. */
	t0 = now();
	for (int i = 0; i < n; i++) {
		int r = db_savepoint(db);
		if (r == 0 && !getenv("BENCH_NO_STORE"))
			r = cache_store_event_held(c, &ev[i], 0, &res);
		if (r == 0 && !getenv("BENCH_NO_OUTBOX"))
			r = outbox_add(o, &ev[i], !getenv("BENCH_NO_STORE"), relay, &oids[i]);
		db_release(db, r);
		if ((i + 1) % batch == 0)
			db_flush(db);
	}
	db_flush(db);
	t_store = now() - t0;
	/* Phase 2: what the OK writes. */
	t0 = now();
	for (int i = 0; i < n; i++) {
		outbox_settle(o, oids[i], OUTBOX_ACCEPTED, 1, "");
		cache_mark(c, ev[i].id, relay, CACHE_DELIVERED);
		if ((i + 1) % batch == 0)
			db_flush(db);
	}
	db_flush(db);
	t_done = now() - t0;
	printf("| %d | %d | %.1f | %.1f | %.1f |\n", n, batch, t_store / n * 1e6, t_done / n * 1e6,
	       (t_store + t_done) / n * 1e6);
	outbox_free(o);
	cache_free(c);
	db_close(db);
	unlink(path);
	snprintf(path + strlen(path), 8, "-wal");
	unlink(path);
	return 0;
}
