/* stats.h - the daemon reading its own figures: the relays and sessions keep their load
 * integrals, histograms and counters themselves (measure.h); this module samples them once
 * a second into rings for 10 s and 60 s windows, measures the event loop's lag, and writes
 * the contention report that names why parallelism stays below (or pinned at) what is
 * configured. Effective parallelism is Little's law: L = ∫in-flight dt / wall time. */
#ifndef RELAYPOOL_STATS_H
#define RELAYPOOL_STATS_H

#include <event2/event.h>
#include <jansson.h>
#include <stdint.h>

#include "measure.h"

struct live;
struct pool;
struct relay;
struct stats;

/* live may be NULL (no live subscription figures). */
int stats_new(struct event_base *base, struct pool *pool, struct live *live, struct stats **out);
void stats_free(struct stats *st);

/* The stats op's JSON and the contention report. */
json_t *stats_json(struct stats *st);
json_t *stats_contention(struct stats *st);

/* For the metrics text: windows over the last `seconds` (0: since start). */
struct window stats_pool_window(struct stats *st, unsigned seconds);
struct window stats_relay_window(struct stats *st, const struct relay *r, unsigned seconds);
const struct histogram *stats_loop_lag(const struct stats *st);

#endif
