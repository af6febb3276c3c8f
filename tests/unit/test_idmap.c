/* test_idmap.c - the id hash map: SipHash-2-4 against the paper's vectors, churn against a
 * plain array model (the backward-shift deletion is the part worth checking), collisions
 * forced through an injected hash, and proof-of-work ids spreading under the keyed hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "idmap.h"
#include "siphash.h"

static void test_siphash_vectors(void **state)
{
	uint8_t k[16], m[64];

	(void)state;
	for (int i = 0; i < 16; i++)
		k[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		m[i] = (uint8_t)i;
	struct siphash_key key = siphash_key_from_bytes(k);
	/* From "SipHash: a fast short-input PRF", appendix A, and its vectors table. */
	assert_true(siphash24(&key, m, 15) == 0xa129ca6149be45e5ULL);
	assert_true(siphash24(&key, m, 0) == 0x726fdb47dd0e0e31ULL);
	assert_true(siphash24(&key, m, 63) == 0x958a324ceb064572ULL);
}

/* Ids whose distinctness lies only past byte 8, as with a hash of the first bytes. */
static void make_id(uint8_t id[32], unsigned i)
{
	memset(id, 0, 32);
	memcpy(id + 24, &i, sizeof(i));
}

/* Every id in one of three home slots: runs as long as the map. */
static uint64_t three_buckets(const uint8_t id[32])
{
	return id[24] % 3;
}

static void churn(struct idmap *m, unsigned n, unsigned steps)
{
	void **model = calloc(n, sizeof(*model));
	uint8_t id[32];
	unsigned seed = 12345, live = 0;

	assert_non_null(model);
	assert_non_null(m);
	for (unsigned step = 0; step < steps; step++) {
		unsigned i = (seed = seed * 1103515245 + 12345) % n;
		make_id(id, i);
		if (seed & 0x10000) {
			void *v = (void *)(uintptr_t)(step + 1);
			assert_int_equal(idmap_put(m, id, v), 0);
			live += model[i] == NULL;
			model[i] = v;
		} else {
			void *got = idmap_remove(m, id);
			assert_ptr_equal(got, model[i]);
			live -= model[i] != NULL;
			model[i] = NULL;
		}
		if (step % 97 == 0)
			for (unsigned k = 0; k < n; k++) {
				make_id(id, k);
				assert_ptr_equal(idmap_get(m, id), model[k]);
			}
		assert_int_equal(idmap_size(m), live);
	}
	idmap_free(m);
	free(model);
}

static void test_churn_keyed(void **state)
{
	(void)state;
	churn(idmap_new(), 5000, 100000);
}

static void test_churn_forced_collisions(void **state)
{
	(void)state;
	/* A few hundred keys, all in three runs: every lookup and every backward shift walks
	 * long runs that wrap around the end of the table. */
	churn(idmap_new_with_hash(three_buckets), 300, 20000);
}

/* 10,000 ids with 4 leading zero bytes (NIP-13 difficulty 32) and the rest random-looking:
 * under the keyed hash the longest probe run stays short. */
static void test_pow_ids_spread(void **state)
{
	struct idmap *m = idmap_new();
	uint8_t id[32];
	uint64_t x = 88172645463325252ULL;

	(void)state;
	for (unsigned i = 0; i < 10000; i++) {
		memset(id, 0, 4);
		for (int b = 4; b < 32; b++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			id[b] = (uint8_t)x;
		}
		assert_int_equal(idmap_put(m, id, (void *)(uintptr_t)(i + 1)), 0);
	}
	assert_int_equal(idmap_size(m), 10000);
	/* Load factor <= 1/2: a random hash gives runs of a few dozen at most. */
	assert_true(idmap_longest_run(m) < 100);
	idmap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_churn_keyed),
		cmocka_unit_test(test_churn_forced_collisions),
		cmocka_unit_test(test_pow_ids_spread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
