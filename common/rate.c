/* rate.c - see rate.h. */
#include "rate.h"

void rate_init(struct rate *b, uint32_t per_s, uint32_t burst, uint64_t now_us)
{
	b->per_s = per_s;
	b->burst = burst ? burst : 1;
	b->tokens = b->burst;
	b->last_us = now_us;
}

bool rate_take(struct rate *b, uint64_t now_us, uint64_t *wait_us)
{
	if (b->per_s <= 0)
		return true;
	if (now_us > b->last_us) {
		b->tokens += (double)(now_us - b->last_us) * b->per_s / 1e6;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
		b->last_us = now_us;
	}
	if (b->tokens >= 1) {
		b->tokens -= 1;
		return true;
	}
	*wait_us = (uint64_t)((1 - b->tokens) * 1e6 / b->per_s) + 1;
	return false;
}
