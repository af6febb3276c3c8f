/* metrics.h - the daemon's figures as OpenMetrics text (the metrics op), and the optional
 * HTTP listener on loopback that serves the same text at /metrics ([daemon] metrics_listen). */
#ifndef RELAYPOOL_METRICS_H
#define RELAYPOOL_METRICS_H

#include <event2/event.h>
#include <stdint.h>

struct cache;
struct metrics;
struct outbox;
struct pool;
struct stats;

struct metrics_env {
	struct event_base *base;
	struct pool *pool;
	struct stats *stats;
	struct live *live; /* NULL: no live subscription metrics */
	struct outbox *outbox;
	struct cache *cache;
};

/* host NULL: no HTTP listener. Returns 0 or a negative errno (logged). */
int metrics_new(const struct metrics_env *env, const char *host, uint16_t port, struct metrics **out);
/* Stops the listener (at the start of a shutdown); the text stays available. */
void metrics_stop_listening(struct metrics *m);
void metrics_free(struct metrics *m);
/* The OpenMetrics text (malloc'd); NULL if memory is short. */
char *metrics_text(struct metrics *m);

#define METRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

#endif
