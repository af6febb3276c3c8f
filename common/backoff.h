/* backoff.h - exponential backoff, the one rule behind every wait that grows after a failure
 * (session reconnects, publish retries, rate-limit cooldowns, sync page retries): step n
 * (from 0) waits base * 2^n, capped at max. */
#ifndef RELAYPOOL_BACKOFF_H
#define RELAYPOOL_BACKOFF_H

#include <stdint.h>

/* base * 2^n, at most max. */
uint64_t backoff_step(uint64_t base, uint64_t max, unsigned n);
/* The sum of steps 0 .. n-1: the longest a sequence of n backoffs can take. */
uint64_t backoff_total(uint64_t base, uint64_t max, unsigned n);
/* "Full jitter": uniform in [0, backoff_step(base, max, n)], so many clients that failed
 * together do not come back together. */
uint64_t backoff_jitter(uint64_t base, uint64_t max, unsigned n);

#endif
