/* test_negentropy.c - the Negentropy V1 implementation: fingerprints and whole sessions
 * against vectors made by an independent implementation (nostr-tools' initiator and the
 * test relay's JavaScript responder, tests/vectors/gen-neg.mjs), byte for byte in both
 * roles; random set pairs (C initiator against C responder, several frame limits) reconcile
 * to exactly the difference; malformed messages are errors, never crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>

#include "hex.h"
#include "negentropy.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

struct idvec {
	uint8_t (*ids)[32];
	size_t n, cap;
};

static int collect(void *arg, const uint8_t id[32])
{
	struct idvec *v = arg;
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->ids = realloc(v->ids, v->cap * 32);
		assert_non_null(v->ids);
	}
	memcpy(v->ids[v->n++], id, 32);
	return 0;
}

static int cmp32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static void sort_ids(struct idvec *v)
{
	if (v->n > 1)
		qsort(v->ids, v->n, 32, cmp32);
}

struct sides {
	struct idvec have, need; /* what the initiator learns */
};

static int on_have(void *arg, const uint8_t id[32])
{
	return collect(&((struct sides *)arg)->have, id);
}

static int on_need(void *arg, const uint8_t id[32])
{
	return collect(&((struct sides *)arg)->need, id);
}

/* Runs a whole session; returns the rounds. */
static unsigned run_session(const struct neg_storage *a, const struct neg_storage *b, size_t frame, struct sides *out)
{
	struct neg ini, resp;
	struct neg_buf m1 = { 0 }, m2 = { 0 };
	const char *why;
	unsigned rounds = 0;

	assert_int_equal(neg_init(&ini, a, frame), 0);
	assert_int_equal(neg_init(&resp, b, frame), 0);
	assert_int_equal(neg_initiate(&ini, &m1), 0);
	for (;;) {
		if (frame)
			assert_true(m1.len <= frame);
		assert_int_equal(neg_reconcile(&resp, m1.p, m1.len, &m2, NULL, NULL, NULL, &why), 0);
		if (frame)
			assert_true(m2.len <= frame);
		rounds++;
		assert_true(rounds < 10000);
		assert_int_equal(neg_reconcile(&ini, m2.p, m2.len, &m1, on_have, on_need, out, &why), 0);
		if (m1.len == 0)
			break;
	}
	neg_buf_clear(&m1);
	neg_buf_clear(&m2);
	sort_ids(&out->have);
	sort_ids(&out->need);
	return rounds;
}

/* ---- random set pairs ------------------------------------------------------------------ */

static void check_random(size_t common, size_t only_a, size_t only_b, unsigned ts_spread, size_t frame)
{
	struct neg_storage a, b;
	struct idvec want_have = { 0 }, want_need = { 0 };
	struct sides got = { 0 };

	neg_storage_init(&a);
	neg_storage_init(&b);
	for (size_t i = 0; i < common + only_a + only_b; i++) {
		uint8_t id[32];
		uint64_t ts = ts_spread ? 1700000000 + rnd() % ts_spread : 1700000000;
		for (int k = 0; k < 4; k++) {
			uint64_t x = rnd();
			memcpy(id + 8 * k, &x, 8);
		}
		if (i % 7 == 0)
			memset(id, 0, 3); /* shared prefixes: bounds need longer id prefixes */
		if (i < common) {
			assert_int_equal(neg_storage_add(&a, ts, id), 0);
			assert_int_equal(neg_storage_add(&b, ts, id), 0);
		} else if (i < common + only_a) {
			assert_int_equal(neg_storage_add(&a, ts, id), 0);
			collect(&want_have, id);
		} else {
			assert_int_equal(neg_storage_add(&b, ts, id), 0);
			collect(&want_need, id);
		}
	}
	neg_storage_seal(&a);
	neg_storage_seal(&b);
	sort_ids(&want_have);
	sort_ids(&want_need);
	run_session(&a, &b, frame, &got);
	assert_int_equal(got.have.n, want_have.n);
	assert_int_equal(got.need.n, want_need.n);
	if (want_have.n)
		assert_memory_equal(got.have.ids, want_have.ids, want_have.n * 32);
	if (want_need.n)
		assert_memory_equal(got.need.ids, want_need.ids, want_need.n * 32);
	free(want_have.ids);
	free(want_need.ids);
	free(got.have.ids);
	free(got.need.ids);
	neg_storage_clear(&a);
	neg_storage_clear(&b);
}

static void test_random_pairs(void **state)
{
	static const size_t frames[] = { 0, 4096, 60000 };
	(void)state;
	for (unsigned f = 0; f < 3; f++) {
		check_random(0, 0, 0, 100, frames[f]);
		check_random(0, 10, 0, 100, frames[f]);
		check_random(0, 0, 10, 100, frames[f]);
		check_random(1000, 0, 0, 10000, frames[f]);
		check_random(1000, 17, 23, 10000, frames[f]);
		check_random(0, 3000, 0, 50000, frames[f]);
		check_random(0, 0, 3000, 50000, frames[f]);
		check_random(5000, 100, 100, 3, frames[f]); /* few distinct timestamps */
		check_random(1990, 0, 10, 0, frames[f]);    /* one timestamp for all */
	}
	for (unsigned round = 0; round < 40; round++)
		check_random(rnd() % 3000, rnd() % 200, rnd() % 200, (unsigned)(1 + rnd() % 5000),
			     frames[round % 3]);
}

/* A large set against one missing 100 scattered ids needs few rounds and little traffic. */
static void test_small_difference_is_cheap(void **state)
{
	struct neg_storage a, b;
	struct sides got = { 0 };
	struct neg ini, resp;
	struct neg_buf m1 = { 0 }, m2 = { 0 };
	const char *why;
	unsigned rounds = 0;
	unsigned long long bytes = 0;

	(void)state;
	neg_storage_init(&a);
	neg_storage_init(&b);
	for (size_t i = 0; i < 100000; i++) {
		uint8_t id[32];
		uint64_t ts = 1600000000 + i * 300;
		for (int k = 0; k < 4; k++) {
			uint64_t x = rnd();
			memcpy(id + 8 * k, &x, 8);
		}
		neg_storage_add(&b, ts, id);
		if (i % 1000 != 500)
			neg_storage_add(&a, ts, id);
	}
	neg_storage_seal(&a);
	neg_storage_seal(&b);
	assert_int_equal(neg_init(&ini, &a, 60000), 0);
	assert_int_equal(neg_init(&resp, &b, 60000), 0);
	assert_int_equal(neg_initiate(&ini, &m1), 0);
	while (m1.len) {
		bytes += m1.len;
		assert_int_equal(neg_reconcile(&resp, m1.p, m1.len, &m2, NULL, NULL, NULL, &why), 0);
		bytes += m2.len;
		rounds++;
		assert_int_equal(neg_reconcile(&ini, m2.p, m2.len, &m1, on_have, on_need, &got, &why), 0);
	}
	assert_int_equal(got.need.n, 100);
	assert_int_equal(got.have.n, 0);
	/* The protocol's own arithmetic (log16 of 100,000 levels), not a timing. */
	assert_true(rounds <= 6);
	assert_true(bytes < 100000 * 32 / 10);
	print_message("# 100,000 vs 99,900: %u rounds, %llu bytes\n", rounds, bytes);
	assert_int_equal(ini.rounds, rounds);
	neg_buf_clear(&m1);
	neg_buf_clear(&m2);
	free(got.need.ids);
	neg_storage_clear(&a);
	neg_storage_clear(&b);
}

/* ---- malformed input ------------------------------------------------------------------- */

static void expect_bad(struct neg *ng, const char *hex, int want)
{
	uint8_t msg[256];
	struct neg_buf out = { 0 };
	const char *why = NULL;
	size_t n = strlen(hex) / 2;

	assert_int_equal(hex_decode(hex, strlen(hex), msg), 0);
	assert_int_equal(neg_reconcile(ng, msg, n, &out, NULL, NULL, NULL, &why), want);
	assert_non_null(why);
	assert_true(*why != '\0');
	neg_buf_clear(&out);
}

static void test_malformed(void **state)
{
	struct neg_storage st;
	struct neg resp, ini;
	struct neg_buf out = { 0 };
	const char *why;
	uint8_t id[32] = { 1 };
	uint8_t v62 = 0x62;

	(void)state;
	neg_storage_init(&st);
	neg_storage_add(&st, 5, id);
	neg_storage_seal(&st);
	assert_int_equal(neg_init(&resp, &st, 0), 0);
	assert_int_equal(neg_init(&resp, &st, 100), -EINVAL); /* below the protocol's minimum */
	assert_int_equal(neg_init(&resp, &st, 4096), 0);
	expect_bad(&resp, "", -EINVAL);                     /* empty */
	expect_bad(&resp, "00", -EINVAL);                   /* not a version byte */
	expect_bad(&resp, "6100", -EINVAL);                 /* bound, no length */
	expect_bad(&resp, "610021", -EINVAL);               /* prefix longer than 32 */
	expect_bad(&resp, "61000001", -EINVAL);             /* fingerprint cut short */
	expect_bad(&resp, "61000002ff", -EINVAL);           /* id list longer than the message */
	expect_bad(&resp, "61000003", -EINVAL);             /* unknown mode */
	expect_bad(&resp, "61ffffffffffffffffffff01", -EINVAL); /* varint over 64 bits */
	expect_bad(&resp, "6180", -EINVAL);                 /* varint cut */
	/* another version: the responder answers with its own */
	assert_int_equal(neg_reconcile(&resp, &v62, 1, &out, NULL, NULL, NULL, &why), 0);
	assert_int_equal(out.len, 1);
	assert_int_equal(out.p[0], NEG_VERSION);
	/* ... which the initiator refuses to continue with */
	assert_int_equal(neg_init(&ini, &st, 0), 0);
	assert_int_equal(neg_initiate(&ini, &out), 0);
	assert_int_equal(neg_reconcile(&ini, &v62, 1, &out, NULL, NULL, NULL, &why), -EPROTONOSUPPORT);
	/* a timestamp that overflows 64 bits */
	expect_bad(&resp, "61" "81ffffffffffffffff7f" "0000" "03" "0000", -EINVAL);
	neg_buf_clear(&out);
	neg_storage_clear(&st);
}

/* A callback's error stops the reconciliation and is returned. */
static int refuse(void *arg, const uint8_t id[32])
{
	(void)arg, (void)id;
	return -ECANCELED;
}

static void test_callback_error(void **state)
{
	struct neg_storage a, b;
	struct neg ini, resp;
	struct neg_buf m1 = { 0 }, m2 = { 0 };
	const char *why;
	uint8_t id[32] = { 7 };

	(void)state;
	neg_storage_init(&a);
	neg_storage_init(&b);
	neg_storage_add(&b, 10, id);
	neg_storage_seal(&a);
	neg_storage_seal(&b);
	neg_init(&ini, &a, 0);
	neg_init(&resp, &b, 0);
	assert_int_equal(neg_initiate(&ini, &m1), 0);
	assert_int_equal(neg_reconcile(&resp, m1.p, m1.len, &m2, NULL, NULL, NULL, &why), 0);
	assert_int_equal(neg_reconcile(&ini, m2.p, m2.len, &m1, NULL, refuse, NULL, &why), -ECANCELED);
	neg_buf_clear(&m1);
	neg_buf_clear(&m2);
	neg_storage_clear(&a);
	neg_storage_clear(&b);
}

static void test_seal_dedups(void **state)
{
	struct neg_storage st;
	uint8_t id[32] = { 3 };

	(void)state;
	neg_storage_init(&st);
	neg_storage_add(&st, 9, id);
	neg_storage_add(&st, 9, id);
	neg_storage_add(&st, 8, id);
	neg_storage_seal(&st);
	assert_int_equal(st.n, 2);
	assert_int_equal(st.items[0].ts, 8);
	assert_int_equal(neg_storage_add(&st, 1, id), -EBUSY);
	neg_storage_clear(&st);
}

/* ---- vectors from the independent implementation -------------------------------------- */

static json_t *load_vectors(void)
{
	const char *dir = getenv("TEST_VECTORS_DIR");
	char path[4096];
	json_error_t err;
	json_t *v;

	snprintf(path, sizeof(path), "%s/negentropy.json", dir ? dir : "tests/vectors");
	v = json_load_file(path, 0, &err);
	if (!v)
		fail_msg("cannot read %s: %s (line %d)", path, err.text, err.line);
	return v;
}

static void hex_bytes(const char *hex, uint8_t **out, size_t *n)
{
	size_t len = strlen(hex);
	*n = len / 2;
	*out = malloc(*n ? *n : 1);
	assert_non_null(*out);
	assert_int_equal(hex_decode(hex, len, *out), 0);
}

static void fill(struct neg_storage *st, json_t *items)
{
	size_t i;
	json_t *it;

	neg_storage_init(st);
	json_array_foreach(items, i, it) {
		uint8_t id[32];
		const char *h = json_string_value(json_array_get(it, 1));
		assert_non_null(h);
		assert_int_equal(hex_decode(h, 64, id), 0);
		assert_int_equal(neg_storage_add(st, (uint64_t)json_integer_value(json_array_get(it, 0)), id), 0);
	}
	neg_storage_seal(st);
}

static void assert_ids(struct idvec *got, json_t *want)
{
	size_t i;
	json_t *w;

	sort_ids(got);
	assert_int_equal(got->n, json_array_size(want));
	json_array_foreach(want, i, w) {
		uint8_t id[32];
		assert_int_equal(hex_decode(json_string_value(w), 64, id), 0);
		assert_memory_equal(got->ids[i], id, 32);
	}
}

static void test_vector_fingerprints(void **state)
{
	json_t *v = load_vectors(), *c;
	size_t i;

	(void)state;
	json_array_foreach(json_object_get(v, "fingerprints"), i, c) {
		json_t *ids = json_object_get(c, "ids"), *x;
		size_t n = json_array_size(ids), k;
		struct neg_item *items = calloc(n ? n : 1, sizeof(*items));
		uint8_t fp[NEG_FP_SIZE], want[NEG_FP_SIZE];
		json_array_foreach(ids, k, x)
			assert_int_equal(hex_decode(json_string_value(x), 64, items[k].id), 0);
		neg_fingerprint(items, n, fp);
		assert_int_equal(hex_decode(json_string_value(json_object_get(c, "fingerprint")), 32, want), 0);
		assert_memory_equal(fp, want, NEG_FP_SIZE);
		free(items);
	}
	assert_true(i >= 3);
	json_decref(v);
}

static void test_vector_sessions(void **state)
{
	json_t *v = load_vectors(), *s;
	size_t i;

	(void)state;
	json_array_foreach(json_object_get(v, "sessions"), i, s) {
		json_t *msgs = json_object_get(s, "messages");
		size_t frame = (size_t)json_integer_value(json_object_get(s, "frame_size_limit")), n = json_array_size(msgs);
		struct neg_storage cs, rs;
		struct neg ini, resp;
		struct neg_buf out = { 0 };
		struct sides got = { 0 };
		const char *why;

		print_message("# session %s: %zu messages\n", json_string_value(json_object_get(s, "name")), n);
		fill(&cs, json_object_get(s, "client"));
		fill(&rs, json_object_get(s, "relay"));
		assert_int_equal(neg_init(&ini, &cs, frame), 0);
		assert_int_equal(neg_init(&resp, &rs, frame), 0);
		assert_true(n >= 2 && n % 2 == 0);
		for (size_t k = 0; k < n; k++) {
			uint8_t *want;
			size_t wlen;
			hex_bytes(json_string_value(json_array_get(msgs, k)), &want, &wlen);
			if (k == 0) {
				assert_int_equal(neg_initiate(&ini, &out), 0);
			} else if (k % 2 == 1) {
				/* our responder answers the independent initiator's message as the JS one did */
				uint8_t *q;
				size_t qlen;
				hex_bytes(json_string_value(json_array_get(msgs, k - 1)), &q, &qlen);
				assert_int_equal(neg_reconcile(&resp, q, qlen, &out, NULL, NULL, NULL, &why), 0);
				free(q);
			} else {
				uint8_t *q;
				size_t qlen;
				hex_bytes(json_string_value(json_array_get(msgs, k - 1)), &q, &qlen);
				assert_int_equal(neg_reconcile(&ini, q, qlen, &out, on_have, on_need, &got, &why), 0);
				free(q);
			}
			assert_int_equal(out.len, wlen);
			assert_memory_equal(out.p, want, wlen);
			free(want);
		}
		/* and after the last relay message the initiator is done */
		{
			uint8_t *q;
			size_t qlen;
			hex_bytes(json_string_value(json_array_get(msgs, n - 1)), &q, &qlen);
			assert_int_equal(neg_reconcile(&ini, q, qlen, &out, on_have, on_need, &got, &why), 0);
			assert_int_equal(out.len, 0);
			free(q);
		}
		assert_ids(&got.have, json_object_get(s, "have"));
		assert_ids(&got.need, json_object_get(s, "need"));
		free(got.have.ids);
		free(got.need.ids);
		neg_buf_clear(&out);
		neg_storage_clear(&cs);
		neg_storage_clear(&rs);
	}
	assert_true(i >= 5);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_pairs),
		cmocka_unit_test(test_small_difference_is_cheap),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_callback_error),
		cmocka_unit_test(test_seal_dedups),
		cmocka_unit_test(test_vector_fingerprints),
		cmocka_unit_test(test_vector_sessions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
