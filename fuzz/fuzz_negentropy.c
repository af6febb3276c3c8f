/* fuzz_negentropy.c - a peer's negentropy message, as the responder (bench/fast_relay, the
 * test relays) and the daemon's initiator read it: any bytes are an error or an answer that
 * fits the frame limit, never a crash. The local set is fixed: 100 items over 20 timestamps,
 * some ids sharing long prefixes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "negentropy.h"

static struct neg_storage st;

static void setup(void)
{
	uint64_t x = 88172645463325252ULL;

	neg_storage_init(&st);
	for (unsigned i = 0; i < 100; i++) {
		uint8_t id[32];
		for (unsigned k = 0; k < 32; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			id[k] = (uint8_t)x;
		}
		if (i % 5 == 0)
			memset(id, 0xab, 20);
		neg_storage_add(&st, 1000 + i % 20, id);
	}
	neg_storage_seal(&st);
}

static int count(void *arg, const uint8_t id[32])
{
	(void)id;
	++*(size_t *)arg;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct neg resp, ini;
	struct neg_buf out = { 0 };
	const char *why;
	size_t n = 0;

	if (!st.sealed)
		setup();
	if (neg_init(&resp, &st, 4096) < 0 || neg_init(&ini, &st, 4096) < 0)
		abort();
	if (neg_reconcile(&resp, data, size, &out, NULL, NULL, NULL, &why) == 0 && out.len > 4096)
		abort();
	if (neg_initiate(&ini, &out) < 0)
		abort();
	if (neg_reconcile(&ini, data, size, &out, count, count, &n, &why) == 0 && out.len > 4096)
		abort();
	neg_buf_clear(&out);
	return 0;
}
