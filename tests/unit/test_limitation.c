/* test_limitation.c - NIP-11 limitation objects: strict parsing (configuration) and lenient
 * parsing (a relay's document), and each admission check naming its limit and both values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "limitation.h"

static void make_event(struct nostr_event *ev, const char *content, size_t tags, int64_t created_at)
{
	memset(ev, 0, sizeof(*ev));
	ev->content = content;
	ev->content_len = strlen(content);
	ev->created_at = created_at;
	ev->tags = json_array();
	for (size_t i = 0; i < tags; i++)
		json_array_append_new(ev->tags, json_pack("[s, s]", "t", "x"));
	memset(ev->id, 0xff, 32);
}

static void test_parse(void **state)
{
	struct relay_limits l;
	const char *why = NULL;
	char buf[128];
	json_t *good = json_pack("{s:i, s:b, s:i}", "max_message_length", 2000, "auth_required", 1, "max_limit", 7);
	json_t *bad_type = json_pack("{s:s}", "max_limit", "7");
	json_t *unknown = json_pack("{s:i}", "max_wisdom", 1);

	(void)state;
	limits_none(&l);
	assert_true(l.max_message_length == -1 && l.max_filters == -1 && !l.auth_required);
	assert_int_equal(limits_apply_json(&l, good, false, &why, buf, sizeof(buf)), 0);
	assert_true(l.max_message_length == 2000 && l.max_limit == 7 && l.auth_required);
	assert_int_equal(limits_apply_json(&l, bad_type, false, &why, buf, sizeof(buf)), -EINVAL);
	assert_non_null(strstr(why, "max_limit"));
	assert_int_equal(limits_apply_json(&l, unknown, false, &why, buf, sizeof(buf)), -EINVAL);
	assert_non_null(strstr(why, "max_wisdom"));
	/* A relay's document: odd fields are no limit, unknown ones ignored. */
	limits_none(&l);
	assert_int_equal(limits_apply_json(&l, bad_type, true, &why, buf, sizeof(buf)), 0);
	assert_int_equal(limits_apply_json(&l, unknown, true, &why, buf, sizeof(buf)), 0);
	assert_true(l.max_limit == -1);
	json_t *j = limits_json(&l);
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);
	json_decref(good);
	json_decref(bad_type);
	json_decref(unknown);
}

static void test_checks(void **state)
{
	struct relay_limits l;
	struct nostr_event ev;
	char why[300];
	int64_t now = 1700000000;

	(void)state;
	limits_none(&l);
	make_event(&ev, "héllo", 4, now);
	assert_int_equal(limits_check_event(&l, &ev, 500, now, why, sizeof(why)), 0);

	l.max_message_length = 400;
	assert_int_equal(limits_check_event(&l, &ev, 500, now, why, sizeof(why)), -1);
	assert_string_equal(why, "max_message_length: the message is 500 bytes, the relay takes at most 400");
	limits_none(&l);
	l.max_content_length = 4; /* "héllo" is 5 characters (6 bytes) */
	assert_int_equal(limits_check_event(&l, &ev, 500, now, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "the content is 5 characters"));
	l.max_content_length = 5;
	assert_int_equal(limits_check_event(&l, &ev, 500, now, why, sizeof(why)), 0);
	l.max_event_tags = 3;
	assert_int_equal(limits_check_event(&l, &ev, 500, now, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "4 tags"));
	limits_none(&l);
	l.created_at_upper_limit = 60;
	ev.created_at = now + 61;
	assert_int_equal(limits_check_event(&l, &ev, 500, now, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "61 s in the future"));
	l.created_at_lower_limit = 100;
	ev.created_at = now - 101;
	assert_int_equal(limits_check_event(&l, &ev, 500, now, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "created_at_lower_limit"));
	ev.created_at = now;
	limits_none(&l);
	l.min_pow_difficulty = 10;
	memset(ev.id, 0, 32);
	ev.id[1] = 0x20; /* 8 + 2 zero bits */
	assert_int_equal(limits_pow_bits(ev.id), 10);
	assert_int_equal(limits_check_event(&l, &ev, 500, now, why, sizeof(why)), 0);
	ev.id[1] = 0x40;
	assert_int_equal(limits_check_event(&l, &ev, 500, now, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "9 leading zero bits"));
	json_decref(ev.tags);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
