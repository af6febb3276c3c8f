/* reach.h - whether a relay can be reached: no session is ready, the last attempt to
 * connect failed, and either the relay was never ready or it has been down for a whole
 * grace period (its publish_timeout: an outage shorter than the wait for an OK is treated
 * like a slow OK). The relay feeds it what its sessions report; it calls unreachable() once
 * per outage, when the relay becomes unreachable. */
#ifndef RELAYPOOL_REACH_H
#define RELAYPOOL_REACH_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

struct reach {
	bool ever_ready, connect_failed, told, grace_over;
	char error[256]; /* the last connection attempt's error */
	struct event *grace;
	void (*unreachable)(void *arg);
	void *arg;
};

int reach_init(struct reach *h, struct event_base *base, void (*unreachable)(void *arg), void *arg);
void reach_free(struct reach *h);
/* A session became ready. */
void reach_ready(struct reach *h);
/* The last ready session went (grace_us: how long before that counts as unreachable). */
void reach_all_down(struct reach *h, uint64_t grace_us);
/* An attempt to connect failed with why; ready: sessions ready now. */
void reach_connect_failed(struct reach *h, const char *why, unsigned ready);
/* A new address: the next failure counts at once, as for a relay never reached. */
void reach_forget(struct reach *h);
/* Unreachable now (ready: sessions ready now)? *why gets the last error. */
bool reach_unreachable(const struct reach *h, unsigned ready, const char **why);

#endif
