/* daemon.h - the daemon as a whole: it creates every module in order, wires them together
 * (each gets what it needs at creation), and owns the loop, the current configuration,
 * signals, reload and shutdown. Only main.c uses it. */
#ifndef RELAYPOOL_DAEMON_H
#define RELAYPOOL_DAEMON_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "opctx.h"

struct cache;
struct config;
struct control;
struct db;
struct key;
struct live;
struct metrics;
struct outbox;
struct pool;
struct publisher;
struct stats;
struct syncer;
struct verifier;

struct daemon {
	struct event_base *base;
	char *config_path;
	struct config *config;
	struct key *key; /* NULL without [daemon] key */
	struct verifier *verifier;
	struct db *db;
	struct cache *cache;
	struct outbox *outbox;
	struct pool *pool;
	struct publisher *publisher;
	struct syncer *syncer;
	struct live *live;
	struct stats *stats;
	struct metrics *metrics;
	struct control *control;
	struct opctx ctx; /* what the op handlers get */
	unsigned stop_pending; /* pool and clients still closing */
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *stop_timer;
	uint64_t started_usec; /* CLOCK_MONOTONIC */
	time_t started_at;     /* wall clock */
	bool stopping;
	unsigned long long reloads, reload_failures;
	int exit_code;
};

/* Takes ownership of config. Returns 0 or a negative errno (already logged). */
int daemon_setup(struct daemon *d, const char *config_path, struct config *config);
/* Runs the loop until a clean shutdown; returns the process exit code. */
int daemon_run(struct daemon *d);
void daemon_free(struct daemon *d);

/* Re-reads the configuration file and swaps it in only if it is valid. On success *diff
 * (if not NULL) gets config_diff(); on failure *errors gets the file:line text. */
int daemon_reload(struct daemon *d, json_t **diff, char **errors);
/* Starts a clean shutdown: stop accepting, flush replies, exit the loop. */
void daemon_stop(struct daemon *d);

#endif
