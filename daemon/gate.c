/* gate.c - see gate.h. */
#include <stdlib.h>

#include "gate.h"

struct gate {
	unsigned max, holding;
	TAILQ_HEAD(, gate_waiter) queue;
};

struct gate *gate_new(unsigned max)
{
	struct gate *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->max = max;
	TAILQ_INIT(&g->queue);
	return g;
}

void gate_free(struct gate *g)
{
	free(g);
}

static void grant(struct gate *g)
{
	struct gate_waiter *w;

	while (g->holding < g->max && (w = TAILQ_FIRST(&g->queue))) {
		TAILQ_REMOVE(&g->queue, w, link);
		w->waiting = false;
		w->holding = true;
		g->holding++;
		w->granted(w);
	}
}

void gate_set_max(struct gate *g, unsigned max)
{
	g->max = max;
	grant(g);
}

void gate_wait(struct gate *g, struct gate_waiter *w)
{
	if (w->waiting || w->holding)
		return;
	w->waiting = true;
	TAILQ_INSERT_TAIL(&g->queue, w, link);
	grant(g);
}

void gate_leave(struct gate *g, struct gate_waiter *w)
{
	if (w->waiting) {
		TAILQ_REMOVE(&g->queue, w, link);
		w->waiting = false;
	} else if (w->holding) {
		w->holding = false;
		g->holding--;
		grant(g);
	}
}

unsigned gate_holding(const struct gate *g)
{
	return g->holding;
}
