/* daemon.h - the daemon's context: event loop, current configuration, control socket,
 * signals, reload and shutdown. */
#ifndef RELAYPOOL_DAEMON_H
#define RELAYPOOL_DAEMON_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct config;
struct control;
struct key;
struct pool;
struct verifier;
struct cache;
struct outbox;
struct evhttp;

struct daemon {
	struct event_base *base;
	char *config_path;
	struct config *config;
	struct control *control;
	struct key *key; /* NULL without [daemon] key */
	struct pool *pool;
	struct verifier *verifier;
	struct cache *cache;
	struct outbox *outbox;
	struct evhttp *metrics_http; /* [daemon] metrics_listen */
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
