/* gate.h - a limit on how many connection attempts run at once, shared by every session
 * of the pool ([pool] max_connecting), so a network blip does not become a reconnect storm.
 * Waiters are granted a place in arrival order. */
#ifndef RELAYPOOL_GATE_H
#define RELAYPOOL_GATE_H

#include <stdbool.h>
#include <sys/queue.h>

struct gate;

/* Storage a waiter (a session) embeds; its fields belong to gate.c. */
struct gate_waiter {
	void (*granted)(struct gate_waiter *w);
	bool waiting, holding;
	TAILQ_ENTRY(gate_waiter) link;
};

struct gate *gate_new(unsigned max);
void gate_free(struct gate *g);
void gate_set_max(struct gate *g, unsigned max);
/* Asks for a place: granted() runs now (inside this call) or when one frees up. */
void gate_wait(struct gate *g, struct gate_waiter *w);
/* Gives the place back, or stops waiting for one; either is a no-op when neither holds. */
void gate_leave(struct gate *g, struct gate_waiter *w);
unsigned gate_holding(const struct gate *g);

#endif
