/* test_idmap.c - the id hash map against a plain array model, under heavy churn (the
 * backward-shift deletion is the part worth checking). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "idmap.h"

#define N 5000

static void make_id(uint8_t id[32], unsigned i, unsigned collide)
{
	memset(id, 0, 32);
	/* With collide, many ids share their first 8 bytes (the hash), forcing long runs. */
	uint64_t h = collide ? (uint64_t)(i % 7) : (uint64_t)i * 0x9e3779b97f4a7c15ULL;
	memcpy(id, &h, 8);
	memcpy(id + 8, &i, sizeof(i));
}

static void churn(unsigned collide)
{
	struct idmap *m = idmap_new();
	static void *model[N];
	uint8_t id[32];
	unsigned seed = 12345, live = 0;

	memset(model, 0, sizeof(model));
	assert_non_null(m);
	for (unsigned step = 0; step < 200000; step++) {
		unsigned i = (seed = seed * 1103515245 + 12345) % N;
		make_id(id, i, collide);
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
		if (step % 997 == 0)
			for (unsigned k = 0; k < N; k++) {
				make_id(id, k, collide);
				assert_ptr_equal(idmap_get(m, id), model[k]);
			}
		assert_int_equal(idmap_size(m), live);
	}
	idmap_free(m);
}

static void test_churn_spread(void **state)
{
	(void)state;
	churn(0);
}

static void test_churn_colliding(void **state)
{
	(void)state;
	churn(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_churn_spread),
		cmocka_unit_test(test_churn_colliding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
