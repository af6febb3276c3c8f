/* backoff.c - see backoff.h. */
#include <sys/random.h>

#include "backoff.h"
#include "clock.h"

uint64_t backoff_step(uint64_t base, uint64_t max, unsigned n)
{
	uint64_t v = base;

	for (unsigned i = 0; i < n && v < max; i++)
		v *= 2;
	return v < max ? v : max;
}

uint64_t backoff_total(uint64_t base, uint64_t max, unsigned n)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < n; i++)
		sum += backoff_step(base, max, i);
	return sum;
}

uint64_t backoff_jitter(uint64_t base, uint64_t max, unsigned n)
{
	uint64_t cap = backoff_step(base, max, n), r;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = clock_now_us();
	return r % (cap + 1);
}
