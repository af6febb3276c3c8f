/* measure.c - see measure.h. */
#include <math.h>
#include <string.h>

#include "measure.h"

void integral_set(struct integral *g, double v, uint64_t now)
{
	if (g->since_us && now > g->since_us)
		g->area += g->v * (double)(now - g->since_us);
	g->since_us = now;
	g->v = v;
}

double integral_area(const struct integral *g, uint64_t now)
{
	return g->area + (g->since_us && now > g->since_us ? g->v * (double)(now - g->since_us) : 0);
}

uint64_t hist_bound_us(unsigned i)
{
	return 64ULL << i;
}

void hist_add(struct histogram *h, uint64_t us)
{
	unsigned i = 0;

	while (i < HIST_BUCKETS && us >= hist_bound_us(i))
		i++;
	h->b[i]++;
	h->count++;
	h->sum_us += (double)us;
}

double hist_quantile(const struct histogram *h, double q)
{
	uint64_t want, seen = 0;

	if (!h->count)
		return 0;
	want = (uint64_t)ceil(q * (double)h->count);
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i <= HIST_BUCKETS; i++) {
		if (seen + h->b[i] >= want) {
			double lo = i ? (double)hist_bound_us(i - 1) : 0;
			double hi = i < HIST_BUCKETS ? (double)hist_bound_us(i) : lo * 2;
			return lo + (hi - lo) * (double)(want - seen) / (double)h->b[i];
		}
		seen += h->b[i];
	}
	return 0;
}

void ring_push(struct ring *r, const struct sample *s)
{
	r->head = (r->head + 1) % RING_SECONDS;
	r->s[r->head] = *s;
	if (r->n < RING_SECONDS)
		r->n++;
}

const struct sample *ring_ago(const struct ring *r, unsigned seconds)
{
	unsigned back = seconds < r->n ? seconds : (r->n ? r->n - 1 : 0);
	return &r->s[(r->head + RING_SECONDS - back) % RING_SECONDS];
}

struct window window_of(const struct ring *ring, const struct sample *now, unsigned seconds, uint64_t started_us)
{
	struct window w;
	const struct sample *old = ring_ago(ring, seconds);
	struct sample zero = { .t_us = started_us };

	memset(&w, 0, sizeof(w));
	if (seconds == 0 || ring->n == 0)
		old = &zero;
	w.dt_s = (double)(now->t_us - old->t_us) / 1e6;
	if (w.dt_s <= 0)
		return w;
	w.parallelism = (now->inflight_area - old->inflight_area) / 1e6 / w.dt_s;
	w.queued = (now->queued_area - old->queued_area) / 1e6 / w.dt_s;
	w.throughput = (double)(now->completed - old->completed) / w.dt_s;
	w.connected_s = (now->connected_area - old->connected_area) / 1e6;
	w.rate_limited = now->rate_limited - old->rate_limited;
	w.timeouts = now->timeouts - old->timeouts;
	w.live_in_per_s = (double)(now->live_in - old->live_in) / w.dt_s;
	w.live_delivered_per_s = (double)(now->live_delivered - old->live_delivered) / w.dt_s;
	for (unsigned i = 0; i < seconds && i < ring->n; i++) {
		double m = ring_ago(ring, i)->lag_max_ms;
		if (m > w.lag_max_ms)
			w.lag_max_ms = m;
	}
	return w;
}
