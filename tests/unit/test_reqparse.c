/* test_reqparse.c - the control line parser: every way a request line can be wrong, each
 * with its error code (and the id echoed when it could be read), and good lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "reqparse.h"

struct bad {
	const char *line;
	enum rp_err code;
	const char *message; /* a substring of it */
	bool has_id;
};

static const struct bad bad_lines[] = {
	{ "not json", RP_ERR_INVALID_JSON, "invalid JSON at column", false },
	{ "{\"op\":\"status\",\"op\":\"hello\"}", RP_ERR_INVALID_JSON, "duplicate", false },
	{ "[1, 2]", RP_ERR_NOT_OBJECT, "must be a JSON object", false },
	{ "\"status\"", RP_ERR_NOT_OBJECT, "must be a JSON object", false },
	{ "{\"id\":{\"a\":1},\"op\":\"status\"}", RP_ERR_INVALID_ID, "\"id\" must be", false },
	{ "{\"id\":[1],\"op\":\"status\"}", RP_ERR_INVALID_ID, "\"id\" must be", false },
	{ "{\"id\":5}", RP_ERR_MISSING_OP, "needs an \"op\"", true },
	{ "{\"id\":5,\"op\":7}", RP_ERR_INVALID_FIELD, "\"op\" must be a string", true },
	{ "{\"id\":5,\"op\":\"nope\"}", RP_ERR_UNKNOWN_OP, "unknown op \"nope\"", true },
	{ "{\"id\":5,\"op\":\"status\\u0000junk\"}", RP_ERR_UNKNOWN_OP, "unknown op", true },
	{ "{\"id\":5,\"op\":\"status\",\"x\":1}", RP_ERR_UNKNOWN_FIELD, "op \"status\" has no field \"x\"", true },
	{ "{\"id\":5,\"op\":\"publish\",\"event\":\"x\"}", RP_ERR_INVALID_FIELD, "field \"event\" must be an object", true },
	{ "{\"id\":5,\"op\":\"publish\"}", RP_ERR_MISSING_FIELD, "op \"publish\" needs field \"event\"", true },
	{ "{\"id\":5,\"op\":\"publish\",\"event\":{},\"quorum\":true}", RP_ERR_INVALID_FIELD,
	  "must be a string or an integer", true },
	{ "{\"id\":5,\"op\":\"publish\",\"event\":{},\"timeout\":1.5}", RP_ERR_INVALID_FIELD, "must be an integer", true },
	/* A NUL inside a name would cut it short for C code: "g1\u0000junk" is not g1. */
	{ "{\"id\":5,\"op\":\"publish\",\"event\":{},\"group\":\"g1\\u0000junk\"}", RP_ERR_INVALID_FIELD,
	  "field \"group\" must not contain a NUL", true },
	{ "{\"id\":5,\"op\":\"publish\",\"event\":{},\"relays\":[\"a\",\"b\\u0000c\"]}", RP_ERR_INVALID_FIELD,
	  "field \"relays\" must not contain a NUL", true },
	{ "{\"id\":5,\"op\":\"publish\",\"event\":{},\"wait\":\"ok\\u0000\"}", RP_ERR_INVALID_FIELD, "\"wait\"", true },
	{ "{\"id\":5,\"op\":\"outbox\",\"state\":\"pending\\u0000x\"}", RP_ERR_INVALID_FIELD, "\"state\"", true },
	{ "{\"id\":5,\"op\":\"trace\",\"relay\":\"a\\u0000\"}", RP_ERR_INVALID_FIELD, "\"relay\"", true },
};

static void test_bad_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		const struct bad *b = &bad_lines[i];
		struct reqparse p;
		int r = reqparse_line(b->line, strlen(b->line), &p);
		if (r != -1 || p.code != b->code || !strstr(p.message, b->message))
			fail_msg("line %s: got %d, code %d, message \"%s\"", b->line, r, (int)p.code, p.message);
		if (b->has_id)
			assert_int_equal(json_integer_value(p.id), 5);
		else
			assert_null(p.id);
		reqparse_clear(&p);
	}
}

static void test_good_lines(void **state)
{
	struct reqparse p;
	const char *a = "{\"id\":\"a\",\"op\":\"status\"}";
	const char *b = "{\"op\":\"publish\",\"event\":{},\"relays\":[\"x\"],\"quorum\":\"any\",\"timeout\":2000}";
	const char *c = "{\"id\":null,\"op\":\"hello\",\"client\":\"me\"}";

	(void)state;
	assert_int_equal(reqparse_line(a, strlen(a), &p), 0);
	assert_string_equal(p.op->name, "status");
	assert_string_equal(json_string_value(p.id), "a");
	reqparse_clear(&p);
	assert_int_equal(reqparse_line(b, strlen(b), &p), 0);
	assert_string_equal(p.op->name, "publish");
	assert_null(p.id);
	assert_int_equal(json_integer_value(json_object_get(p.req, "timeout")), 2000);
	reqparse_clear(&p);
	assert_int_equal(reqparse_line(c, strlen(c), &p), 0);
	assert_true(json_is_null(p.id));
	reqparse_clear(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_good_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
