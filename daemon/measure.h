/* measure.h - the measuring primitives every owner of a load keeps for itself: the time
 * integral of a step function (in-flight jobs, queue length, a session being up), log-scaled
 * duration histograms, and a ring of once-a-second samples for 10 s / 60 s windows. All
 * O(1) per change. Relays and sessions update their own; stats.c only reads them. */
#ifndef RELAYPOOL_MEASURE_H
#define RELAYPOOL_MEASURE_H

#include <stdint.h>

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

/* Cumulative values sampled once a second; a window subtracts an older sample. */
#define RING_SECONDS 61
struct sample {
	uint64_t t_us;
	double inflight_area, queued_area, connected_area;
	uint64_t completed, rate_limited, timeouts;
	double lag_max_ms; /* the loop's worst lag in that second (pool samples only) */
	uint64_t live_in, live_delivered; /* live subscriptions: new events from relays, events to subscribers */
};
struct ring {
	struct sample s[RING_SECONDS];
	unsigned head, n;
};

void ring_push(struct ring *r, const struct sample *s);
/* The sample about `seconds` ago (or the oldest one). */
const struct sample *ring_ago(const struct ring *r, unsigned seconds);

/* Averages between an old sample and now: in-flight (the effective parallelism), queued,
 * completions per second. seconds 0 means since started_us. */
struct window {
	double dt_s, parallelism, queued, throughput, connected_s;
	uint64_t rate_limited, timeouts;
	double lag_max_ms;
	double live_in_per_s, live_delivered_per_s;
};
struct window window_of(const struct ring *ring, const struct sample *now, unsigned seconds, uint64_t started_us);

#endif
