/* test_wsurl.c - relay URL parsing and normal form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "wsurl.h"

static void check(const char *in, const char *normal, int tls, int port, int is_ip)
{
	struct wsurl u;
	const char *why = NULL;
	char buf[1400];

	assert_int_equal(wsurl_parse(in, &u, &why), 0);
	wsurl_format(&u, buf, sizeof(buf));
	assert_string_equal(buf, normal);
	assert_int_equal(u.tls, tls);
	assert_int_equal(u.port, port);
	assert_int_equal(u.host_is_ip, is_ip);
}

static void test_good(void **state)
{
	(void)state;
	check("wss://relay.example.com", "wss://relay.example.com/", 1, 443, 0);
	check("WSS://Relay.Example.COM:443/", "wss://relay.example.com/", 1, 443, 0);
	check("ws://127.0.0.1:7777", "ws://127.0.0.1:7777/", 0, 7777, 1);
	check("ws://localhost:80/nostr?x=1", "ws://localhost/nostr?x=1", 0, 80, 0);
	check("wss://[::1]:8443/r", "wss://[::1]:8443/r", 1, 8443, 1);
	check("ws://h?q", "ws://h/?q", 0, 80, 0);
}

static void bad(const char *in)
{
	struct wsurl u;
	const char *why = NULL;

	assert_int_not_equal(wsurl_parse(in, &u, &why), 0);
	assert_non_null(why);
}

static void test_bad(void **state)
{
	(void)state;
	bad("http://relay.example.com");
	bad("relay.example.com");
	bad("wss://");
	bad("wss://:443");
	bad("wss://host:0");
	bad("wss://host:65536");
	bad("wss://host:12a");
	bad("wss://user@host");
	bad("wss://host/#frag");
	bad("wss://ho st");
	bad("wss://[::1");
	bad("wss://[zz::1]");
	bad("wss://h\xc3\xa9.example");
}

static void test_host_header(void **state)
{
	struct wsurl u;
	const char *why;
	char b[300];

	(void)state;
	assert_int_equal(wsurl_parse("wss://[::1]:9000/", &u, &why), 0);
	wsurl_host_header(&u, b, sizeof(b));
	assert_string_equal(b, "[::1]:9000");
	assert_int_equal(wsurl_parse("wss://r.example:443/", &u, &why), 0);
	wsurl_host_header(&u, b, sizeof(b));
	assert_string_equal(b, "r.example");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_host_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
