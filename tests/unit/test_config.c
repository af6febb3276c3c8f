/* test_config.c - config parsing details that golden files cannot show well: effective
 * per-relay options, continuation lines, the reload diff. Error texts are covered by the
 * golden files under tests/data/config/bad (tests/integration/test_config.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static char *write_temp(const char *text)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *path;
	int fd;

	assert_true(asprintf(&path, "%s/rp-test-config-XXXXXX", dir) > 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static struct config *load_ok(const char *text)
{
	char *path = write_temp(text), *errors = NULL;
	struct config *c = NULL;
	int r = config_load(path, &c, &errors);

	if (r < 0)
		fail_msg("unexpected errors:\n%s", errors);
	unlink(path);
	free(path);
	return c;
}

static char *load_errors(const char *text)
{
	char *path = write_temp(text), *errors = NULL;
	struct config *c = NULL;

	assert_int_not_equal(config_load(path, &c, &errors), 0);
	assert_null(c);
	assert_non_null(errors);
	unlink(path);
	free(path);
	return errors;
}

static void test_defaults(void **state)
{
	struct config *c = load_ok("");

	(void)state;
	assert_string_equal(c->daemon.socket, "/run/relaypool/control.sock");
	assert_int_equal(c->daemon.max_line, 1 << 20);
	assert_int_equal(c->pool.sessions, 2);
	assert_int_equal(c->pool.publish_timeout_ms, 10000);
	assert_int_equal(c->n_relays, 0);
	config_free(c);
}

static void test_effective_opts(void **state)
{
	/* [pool] after the relays still provides their defaults. */
	struct config *c = load_ok("[relay a]\nurl = ws://a.example\ninflight = 64\n"
				   "[relay b]\nurl = wss://b.example:444/x\ntls_verify = no\n"
				   "[pool]\nsessions = 4\ninflight = 8\nbackoff_max = 2m\n");
	const struct config_relay *a, *b;

	(void)state;
	a = config_find_relay(c, "a");
	b = config_find_relay(c, "b");
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->opts.sessions, 4);
	assert_int_equal(a->opts.inflight, 64);
	assert_int_equal(b->opts.inflight, 8);
	assert_int_equal(b->opts.backoff_max_ms, 120000);
	assert_true(a->tls_verify);
	assert_false(b->tls_verify);
	assert_string_equal(b->url, "wss://b.example:444/x");
	assert_int_equal(b->wsurl.port, 444);
	config_free(c);
}

static void test_continuation(void **state)
{
	struct config *c = load_ok("[relay a]\nurl = ws://a\n[relay b]\nurl = ws://b\n"
				   "[group g]\nrelays = a\n    b\n"
				   "filter = {\"kinds\": [1],\n    \"#h\": [\"x y\"]}\n");
	const struct config_group *g = config_find_group(c, "g");

	(void)state;
	assert_non_null(g);
	assert_int_equal(g->n_relays, 2);
	assert_string_equal(g->relays[1], "b");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(g->filter, "kinds"), 0)), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(g->filter, "#h"), 0)), "x y");
	config_free(c);
}

static void test_long_line(void **state)
{
	char text[600];
	char *errors;

	(void)state;
	snprintf(text, sizeof(text), "[daemon]\n\ncache = /%0300d\n", 0);
	errors = load_errors(text);
	assert_non_null(strstr(errors, ":3: line longer than"));
	free(errors);
}

static void test_errors_collected(void **state)
{
	char *errors = load_errors("[pool]\nsessions = 0\ninflight = x\n[nope]\n");

	(void)state;
	assert_non_null(strstr(errors, ":2: sessions: expected an integer from 1 to 64, got '0'"));
	assert_non_null(strstr(errors, ":3: inflight: expected an integer"));
	assert_non_null(strstr(errors, ":4: unknown section [nope]"));
	free(errors);
}

static void test_diff(void **state)
{
	struct config *a = load_ok("[daemon]\nlog_level = info\n[relay x]\nurl = ws://x\n[relay y]\nurl = ws://y\n"
				   "[group g]\nrelays = x\n");
	struct config *b = load_ok("[daemon]\nlog_level = debug\nsocket = /tmp/other.sock\n"
				   "[pool]\nsessions = 3\n[relay y]\nurl = ws://y2\n[relay z]\nurl = ws://z\n"
				   "[group g]\nrelays = y\n[group h]\nrelays = z\n");
	json_t *d = config_diff(a, b);
	char *text = json_dumps(d, JSON_COMPACT);

	(void)state;
	assert_string_equal(text,
			    "{\"relays\":{\"added\":[\"z\"],\"removed\":[\"x\"],"
			    "\"changed\":[{\"name\":\"y\",\"keys\":[\"url\",\"sessions\"]}]},"
			    "\"groups\":{\"added\":[\"h\"],\"removed\":[],\"changed\":[{\"name\":\"g\",\"keys\":[\"relays\"]}]},"
			    "\"daemon\":[\"socket\",\"log_level\"],\"pool\":[\"sessions\"],\"restart_required\":[\"socket\"]}");
	free(text);
	json_decref(d);
	config_free(a);
	config_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_effective_opts),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_errors_collected),
		cmocka_unit_test(test_diff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
