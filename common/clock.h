/* clock.h - the one monotonic clock every module measures with (microseconds), and the wall
 * clock in seconds for what is stored or shown to people. */
#ifndef RELAYPOOL_CLOCK_H
#define RELAYPOOL_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in microseconds. */
uint64_t clock_now_us(void);
/* CLOCK_REALTIME in whole seconds (Nostr's created_at, the outbox's timestamps). */
int64_t clock_wall_s(void);

/* A struct timeval for a libevent timer of us microseconds. */
struct timeval;
void clock_tv(struct timeval *tv, uint64_t us);

#endif
