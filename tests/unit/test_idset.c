/* test_idset.c - the bounded set of recent ids: membership, forgetting the oldest first at
 * the bound (and nothing else), growth up to the bound, and a long churn against a plain
 * model of the last cap ids (the backward-shift deletion is what this exercises). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "idset.h"

static void make_id(uint8_t id[32], unsigned i)
{
	memset(id, 0, 32);
	memcpy(id + 28, &i, sizeof(i)); /* like proof-of-work ids: leading zeros */
}

static void test_membership(void **state)
{
	struct idset *s = idset_new(100);
	uint8_t id[32];

	(void)state;
	assert_non_null(s);
	make_id(id, 1);
	assert_false(idset_has(s, id));
	assert_int_equal(idset_add(s, id), 1);
	assert_true(idset_has(s, id));
	assert_int_equal(idset_add(s, id), 0);
	assert_int_equal(idset_size(s), 1);
	make_id(id, 2);
	assert_false(idset_has(s, id));
	idset_free(s);
}

static void test_forgets_oldest_at_the_bound(void **state)
{
	struct idset *s = idset_new(50);
	uint8_t id[32];

	(void)state;
	for (unsigned i = 0; i < 80; i++) {
		make_id(id, i);
		assert_int_equal(idset_add(s, id), 1);
		assert_true(idset_size(s) <= 50);
	}
	assert_int_equal(idset_size(s), 50);
	for (unsigned i = 0; i < 80; i++) {
		make_id(id, i);
		assert_int_equal(idset_has(s, id), i >= 30);
	}
	/* A repeat does not refresh or evict. */
	make_id(id, 40);
	assert_int_equal(idset_add(s, id), 0);
	make_id(id, 30);
	assert_true(idset_has(s, id));
	/* Memory stays bounded: table at most 4x cap, ring cap. */
	assert_true(idset_bytes(s) <= 64 + (4 * 50 + 50) * sizeof(uint64_t) + 512);
	idset_free(s);
}

static void test_churn_against_a_model(void **state)
{
	enum { CAP = 300, N = 20000 };
	struct idset *s = idset_new(CAP);
	uint8_t id[32];
	unsigned x = 12345;

	(void)state;
	for (unsigned step = 0; step < N; step++) {
		/* Mostly new ids, some repeats of recent ones, some of long-forgotten ones. */
		unsigned v;
		x = x * 1103515245u + 12345u;
		v = (x >> 16) % 10 < 7 ? step : (x >> 16) % 10 < 9 ? step - ((x >> 8) % CAP) : (x >> 8) % (step + 1);
		make_id(id, v);
		/* The model: the ids added in the last CAP successful adds. Recompute by scanning
		 * is quadratic, so keep a ring of values added. */
		static unsigned ring[CAP];
		static unsigned n, head;
		bool in_model = false;
		for (unsigned k = 0; k < n; k++)
			if (ring[(head + k) % CAP] == v)
				in_model = true;
		assert_int_equal(idset_has(s, id), in_model);
		int r = idset_add(s, id);
		assert_int_equal(r, in_model ? 0 : 1);
		if (!in_model) {
			if (n == CAP) {
				head = (head + 1) % CAP;
				n--;
			}
			ring[(head + n) % CAP] = v;
			n++;
		}
		assert_int_equal(idset_size(s), n);
	}
	idset_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_membership),
		cmocka_unit_test(test_forgets_oldest_at_the_bound),
		cmocka_unit_test(test_churn_against_a_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
