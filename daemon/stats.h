/* stats.h - always-on measurement of the pool's real concurrency: time integrals of
 * in-flight and queued jobs (effective parallelism by Little's law: L = ∫in-flight dt / wall
 * time), log-scaled latency histograms, per-second snapshots for 10 s and 60 s windows,
 * event-loop lag, and the contention report that names why parallelism stays below what
 * is configured. Everything here is O(1) per job event. */
#ifndef RELAYPOOL_STATS_H
#define RELAYPOOL_STATS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct pool;
struct relay;
struct session;
struct job;

/* The time integral of a step function (value x microseconds). */
struct integral {
	double v;
	uint64_t since_us;
	double area;
};

void integral_set(struct integral *g, double v, uint64_t now_us);
double integral_area(const struct integral *g, uint64_t now_us);

/* Durations in microseconds; bucket i holds values below 64 us * 2^i (the last: the rest). */
#define HIST_BUCKETS 24
struct histogram {
	uint64_t b[HIST_BUCKETS + 1];
	uint64_t count;
	double sum_us;
};

void hist_add(struct histogram *h, uint64_t us);
/* The q-quantile in microseconds (linear inside a bucket); 0 when empty. */
double hist_quantile(const struct histogram *h, double q);
uint64_t hist_bound_us(unsigned i);

/* Cumulative values sampled once a second; windows subtract an older sample. */
#define RING_SECONDS 61
struct snap {
	uint64_t t_us;
	double inflight_area, queued_area, busy_area, connected_area;
	uint64_t completed, rate_limited, timeouts;
	double lag_max_ms; /* max loop lag seen in that second (pool only) */
};
struct ring {
	struct snap s[RING_SECONDS];
	unsigned head, n;
};

struct session_stats {
	struct integral inflight, busy, connected;
	uint64_t oks;
	double ok_sum_us;
};

struct relay_stats {
	struct integral inflight, queued;
	struct histogram wait, ok_latency;
	uint64_t completed;
	double ok_ewma_ms; /* recent OK latency */
	uint64_t cooldowns, quorum_last, quorum_requests;
	struct ring ring;
};

/* Hooks, called where the pool changes. */
void stats_inflight_changed(struct relay *r, struct session *s, int delta);
void stats_queue_changed(struct relay *r, int delta);
void stats_dispatched(struct relay *r, uint64_t queued_since_us);
void stats_ok(struct relay *r, struct session *s, uint64_t latency_us);
void stats_session_ready(struct session *s, bool ready);
/* A quorum request finished: relays[i] answered last (decided it) if decider == i. */
void stats_quorum(struct relay *decider, unsigned n_targets);

/* Pool-wide state: integrals, the ring, the tick and loop-lag timers. */
struct pool_stats;
int stats_start(struct pool *p);
void stats_stop(struct pool *p);

/* The stats op's JSON, the metrics op's text (OpenMetrics), and the contention report. */
json_t *stats_json(struct pool *p);
char *stats_metrics(struct pool *p);
json_t *stats_contention(struct pool *p);

#endif
