/* rate.h - a token bucket: at most per_s events a second on average, at most burst at once.
 * The [pool] max_rate of a relay's publishing. */
#ifndef RELAYPOOL_RATE_H
#define RELAYPOOL_RATE_H

#include <stdbool.h>
#include <stdint.h>

struct rate {
	double per_s, burst, tokens;
	uint64_t last_us;
};

/* per_s 0: no limit. burst 0 counts as 1. Starts full. */
void rate_init(struct rate *b, uint32_t per_s, uint32_t burst, uint64_t now_us);
/* Takes one token: true; or false with *wait_us, the time until one is there. */
bool rate_take(struct rate *b, uint64_t now_us, uint64_t *wait_us);

#endif
