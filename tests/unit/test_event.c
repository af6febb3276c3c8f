/* test_event.c - Nostr events against the outside world: BIP-340's official vectors, and
 * events made by nostr-tools (tests/vectors/gen-events.js) whose canonical serialization
 * and id we must reproduce byte for byte. Plus every rejection path and tampering. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <secp256k1_schnorrsig.h>

#include "event.h"
#include "hex.h"

static char *data_path(const char *name)
{
	const char *dir = getenv("TEST_DATA_DIR");
	char *p;

	assert_non_null(dir);
	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

/* Reads a whole file into lines (NULL-terminated array of malloc'd strings). */
static char **read_lines(const char *name, size_t *n)
{
	char *path = data_path(name), *line = NULL, **v = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	*n = 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		v = realloc(v, (*n + 2) * sizeof(*v));
		v[(*n)++] = strdup(line);
		v[*n] = NULL;
	}
	free(line);
	fclose(f);
	free(path);
	return v;
}

static void free_lines(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- BIP-340 ---------------------------------------------------------------------------- */

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = strlen(s);
	assert_int_equal(hex_decode(s, n, out), 0);
	return n / 2;
}

static void test_bip340_vectors(void **state)
{
	const secp256k1_context *ctx = event_secp_context();
	size_t n, checked = 0;
	char **lines = read_lines("bip340-vectors.csv", &n);

	(void)state;
	assert_true(n > 15);
	for (size_t i = 1; i < n; i++) {
		char *fields[8] = { 0 }, *save = NULL, *copy = strdup(lines[i]), *p = copy;
		uint8_t sk[32], pk[32], aux[32], msg[256], sig[64], mine[64];
		size_t msglen, k = 0;
		secp256k1_xonly_pubkey xpk;
		bool expect;

		/* CSV without quoting; empty fields are significant, so no strtok. */
		(void)save;
		for (; k < 8 && p; k++) {
			fields[k] = p;
			p = strchr(p, ',');
			if (p)
				*p++ = '\0';
		}
		assert_true(k >= 7);
		expect = strcmp(fields[6], "TRUE") == 0;
		unhex(fields[2], pk);
		msglen = unhex(fields[4], msg);
		unhex(fields[5], sig);
		if (*fields[1]) {
			secp256k1_keypair kp;
			unhex(fields[1], sk);
			unhex(fields[3], aux);
			assert_true(secp256k1_keypair_create(ctx, &kp, sk));
			secp256k1_schnorrsig_extraparams ex = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
			ex.ndata = aux;
			assert_true(secp256k1_schnorrsig_sign_custom(ctx, mine, msg, msglen, &kp, &ex));
			if (memcmp(mine, sig, 64) != 0)
				fail_msg("vector %s: our signature differs", fields[0]);
		}
		bool ok = secp256k1_xonly_pubkey_parse(ctx, &xpk, pk) &&
			  secp256k1_schnorrsig_verify(ctx, sig, msg, msglen, &xpk);
		if (ok != expect)
			fail_msg("vector %s: verify gave %d, expected %d (%s)", fields[0], ok, expect, fields[7]);
		checked++;
		free(copy);
	}
	assert_int_equal(checked, n - 1);
	free_lines(lines, n);
}

/* ---- nostr-tools events ------------------------------------------------------------------ */

static void test_nostr_tools_events(void **state)
{
	size_t n, m;
	char **events = read_lines("nostr-events.jsonl", &n);
	char **expected = read_lines("nostr-events-expected.jsonl", &m);

	(void)state;
	assert_true(n >= 50);
	assert_int_equal(n, m);
	for (size_t i = 0; i < n; i++) {
		struct nostr_event ev;
		struct event_error err;
		json_t *exp = json_loads(expected[i], JSON_ALLOW_NUL, NULL);
		json_t *ser = json_object_get(exp, "serialized");
		char *out;
		size_t len;
		uint8_t id[32];

		assert_non_null(exp);
		if (event_parse(events[i], strlen(events[i]), &ev, &err) < 0)
			fail_msg("event %zu (%s): %s", i, json_string_value(json_object_get(exp, "name")), err.message);
		assert_int_equal(event_serialize(&ev, &out, &len), 0);
		if (len != json_string_length(ser) || memcmp(out, json_string_value(ser), len) != 0)
			fail_msg("event %zu (%s): canonical serialization differs from nostr-tools", i,
				 json_string_value(json_object_get(exp, "name")));
		assert_int_equal(event_compute_id(&ev, id), 0);
		assert_memory_equal(id, ev.id, 32);
		assert_string_equal(ev.id_hex, json_string_value(json_object_get(exp, "id")));
		if (event_verify(&ev, &err) < 0)
			fail_msg("event %zu: %s", i, err.message);
		free(out);
		event_clear(&ev);
		json_decref(exp);
	}
	free_lines(events, n);
	free_lines(expected, m);
}

/* Changes one field of a valid event and expects verification (not parsing) to fail. */
static void tamper(const char *text, const char *field, json_t *value, enum event_err want)
{
	json_t *obj = json_loads(text, JSON_ALLOW_NUL, NULL);
	struct nostr_event ev;
	struct event_error err;

	json_object_set_new(obj, field, value);
	assert_int_equal(event_from_json(obj, &ev, &err), 0);
	assert_int_not_equal(event_verify(&ev, &err), 0);
	if (err.code != want)
		fail_msg("tampered %s: got %s (%s)", field, event_err_code(err.code), err.message);
	event_clear(&ev);
	json_decref(obj);
}

static char *flip_hex(const char *s)
{
	char *c = strdup(s);
	c[10] = c[10] == '0' ? '1' : '0';
	return c;
}

static void test_tampering_any_field_fails(void **state)
{
	size_t n;
	char **events = read_lines("nostr-events.jsonl", &n);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		json_t *obj = json_loads(events[i], JSON_ALLOW_NUL, NULL);
		char *id = flip_hex(json_string_value(json_object_get(obj, "id")));
		char *pk = flip_hex(json_string_value(json_object_get(obj, "pubkey")));
		char *sig = flip_hex(json_string_value(json_object_get(obj, "sig")));
		json_int_t ts = json_integer_value(json_object_get(obj, "created_at"));
		json_int_t kind = json_integer_value(json_object_get(obj, "kind"));
		json_t *tags = json_deep_copy(json_object_get(obj, "tags"));
		const char *content = json_string_value(json_object_get(obj, "content"));
		size_t clen = json_string_length(json_object_get(obj, "content"));
		char *c2 = malloc(clen + 2);

		memcpy(c2, content, clen);
		c2[clen] = 'x';
		json_array_append_new(tags, json_pack("[s,s]", "t", "tampered"));

		tamper(events[i], "id", json_string(id), EVENT_ERR_ID_MISMATCH);
		/* A changed pubkey changes the hash, so the id check catches it first. */
		tamper(events[i], "pubkey", json_string(pk), EVENT_ERR_ID_MISMATCH);
		tamper(events[i], "created_at", json_integer(ts == 0 ? 1 : ts - 1), EVENT_ERR_ID_MISMATCH);
		tamper(events[i], "kind", json_integer(kind == 0 ? 1 : kind - 1), EVENT_ERR_ID_MISMATCH);
		tamper(events[i], "tags", tags, EVENT_ERR_ID_MISMATCH);
		tamper(events[i], "content", json_stringn(c2, clen + 1), EVENT_ERR_ID_MISMATCH);
		tamper(events[i], "sig", json_string(sig), EVENT_ERR_BAD_SIGNATURE);
		free(id), free(pk), free(sig), free(c2);
		json_decref(obj);
	}
	free_lines(events, n);
}

/* ---- rejection paths ------------------------------------------------------------------ */

#define GOOD_ID "02daadd84a085b3e4d24ead640b786d2402b33064d46f562d5bfef145f0199f0"
#define GOOD_PK "3be4f9efe2ca516204e69f0cd3053b5acbd1dbade3cc88398490294772ccb7c3"
#define GOOD_SIG                                                                                   \
	"c1d5690d6abe65e9be718e9c01f205c57b5a30fca73868de64f6f3121c7e1e6f385bdfe8d1f19bf4f7c0a1c008665fcc816150cdaf0d20d9771177bd297e90b1"

/* Builds an event text from one of each field (the defaults form a valid event). */
static char *build(const char *id, const char *pk, const char *ts, const char *kind, const char *tags,
		   const char *content, const char *sig)
{
	char *s;
	assert_true(asprintf(&s, "{\"id\":%s,\"pubkey\":%s,\"created_at\":%s,\"kind\":%s,\"tags\":%s,\"content\":%s,\"sig\":%s}",
			     id ? id : "\"" GOOD_ID "\"", pk ? pk : "\"" GOOD_PK "\"", ts ? ts : "1700000000",
			     kind ? kind : "1", tags ? tags : "[]", content ? content : "\"hello, nostr\"",
			     sig ? sig : "\"" GOOD_SIG "\"") > 0);
	return s;
}

static void expect_reject(const char *text, enum event_err code, const char *needle)
{
	struct nostr_event ev;
	struct event_error err = { 0 };

	if (event_parse(text, strlen(text), &ev, &err) == 0) {
		event_clear(&ev);
		fail_msg("accepted: %s", text);
	}
	if (err.code != code)
		fail_msg("%s: got %s (%s), want %s", text, event_err_code(err.code), err.message, event_err_code(code));
	if (needle && !strstr(err.message, needle))
		fail_msg("%s: message '%s' does not mention '%s'", text, err.message, needle);
}

static void reject_built(char *text, enum event_err code, const char *needle)
{
	expect_reject(text, code, needle);
	free(text);
}

static void test_rejections(void **state)
{
	struct nostr_event ev;
	struct event_error err;
	char *good = build(NULL, NULL, NULL, NULL, NULL, NULL, NULL);

	(void)state;
	assert_int_equal(event_parse(good, strlen(good), &ev, &err), 0);
	assert_int_equal(event_verify(&ev, &err), 0);
	event_clear(&ev);
	free(good);

	expect_reject("{\"id\": ", EVENT_ERR_JSON, "invalid JSON");
	expect_reject("[1,2]", EVENT_ERR_NOT_OBJECT, "object");
	expect_reject("\"x\"", EVENT_ERR_NOT_OBJECT, "object");
	expect_reject("{\"kind\":1,\"kind\":2}", EVENT_ERR_DUPLICATE_KEY, "duplicate");
	expect_reject("{\"content\":\"\xff\"}", EVENT_ERR_UTF8, NULL);
	expect_reject("{\"content\":\"\xc3\x28\"}", EVENT_ERR_UTF8, NULL);
	expect_reject("{\"content\":\"\\ud800\"}", EVENT_ERR_UTF8, "Unicode");
	expect_reject("{\"content\":\"a\\udc00b\"}", EVENT_ERR_UTF8, "Unicode");
	expect_reject("{\"id\":\"" GOOD_ID "\"}", EVENT_ERR_MISSING_FIELD, "\"pubkey\"");
	reject_built(build(NULL, NULL, NULL, NULL, NULL, NULL, "\"" GOOD_SIG "\",\"extra\":1"), EVENT_ERR_UNKNOWN_FIELD,
		     "\"extra\"");
	reject_built(build("\"02DAADD84A085B3E4D24EAD640B786D2402B33064D46F562D5BFEF145F0199F0\"", NULL, NULL, NULL, NULL,
			   NULL, NULL),
		     EVENT_ERR_ID, "id must be 64 lowercase hex");
	reject_built(build("\"02daadd8\"", NULL, NULL, NULL, NULL, NULL, NULL), EVENT_ERR_ID, "id");
	reject_built(build("5", NULL, NULL, NULL, NULL, NULL, NULL), EVENT_ERR_ID, "id");
	reject_built(build(NULL, "\"" GOOD_PK "00\"", NULL, NULL, NULL, NULL, NULL), EVENT_ERR_PUBKEY, "pubkey");
	reject_built(build(NULL, "\"zz" GOOD_PK "\"", NULL, NULL, NULL, NULL, NULL), EVENT_ERR_PUBKEY, "pubkey");
	reject_built(build(NULL, NULL, "1700000000.0", NULL, NULL, NULL, NULL), EVENT_ERR_CREATED_AT, "real number");
	reject_built(build(NULL, NULL, "-1", NULL, NULL, NULL, NULL), EVENT_ERR_CREATED_AT, "from 0 to");
	reject_built(build(NULL, NULL, "9007199254740992", NULL, NULL, NULL, NULL), EVENT_ERR_CREATED_AT, "from 0 to");
	reject_built(build(NULL, NULL, "\"1700000000\"", NULL, NULL, NULL, NULL), EVENT_ERR_CREATED_AT, "integer");
	reject_built(build(NULL, NULL, "1e9", NULL, NULL, NULL, NULL), EVENT_ERR_CREATED_AT, "real number");
	reject_built(build(NULL, NULL, NULL, "65536", NULL, NULL, NULL), EVENT_ERR_KIND, "kind");
	reject_built(build(NULL, NULL, NULL, "-1", NULL, NULL, NULL), EVENT_ERR_KIND, "kind");
	reject_built(build(NULL, NULL, NULL, "1.5", NULL, NULL, NULL), EVENT_ERR_KIND, "kind");
	reject_built(build(NULL, NULL, NULL, "null", NULL, NULL, NULL), EVENT_ERR_KIND, "kind");
	reject_built(build(NULL, NULL, NULL, NULL, "{}", NULL, NULL), EVENT_ERR_TAGS, "tags must be an array");
	reject_built(build(NULL, NULL, NULL, NULL, "[\"e\"]", NULL, NULL), EVENT_ERR_TAGS, "tags[0]");
	reject_built(build(NULL, NULL, NULL, NULL, "[[]]", NULL, NULL), EVENT_ERR_TAGS, "tags[0]");
	reject_built(build(NULL, NULL, NULL, NULL, "[[\"e\",1]]", NULL, NULL), EVENT_ERR_TAGS, "tags[0][1]");
	reject_built(build(NULL, NULL, NULL, NULL, "[[\"t\",\"x\"],[\"\",\"x\"]]", NULL, NULL), EVENT_ERR_TAGS,
		     "tags[1][0]");
	reject_built(build(NULL, NULL, NULL, NULL, NULL, "null", NULL), EVENT_ERR_CONTENT, "content");
	reject_built(build(NULL, NULL, NULL, NULL, NULL, "[\"x\"]", NULL), EVENT_ERR_CONTENT, "content");
	reject_built(build(NULL, NULL, NULL, NULL, NULL, NULL, "\"abc\""), EVENT_ERR_SIG, "sig must be 128");
}

/* The wire text: the event object with strings escaped as in the canonical serialization
 * (\u000b, lowercase), the same bytes as the id's pre-image, and it parses back. */
static void test_wire_text_is_canonical(void **state)
{
	const secp256k1_context *ctx = event_secp_context();
	uint8_t sk[32] = { [31] = 9 };
	secp256k1_keypair kp;
	struct nostr_event ev, back;
	struct event_error err;
	json_t *tmpl = json_loads("{\"kind\":1,\"content\":\"a\\u000Bb\\u2028\\\"/\",\"tags\":[[\"t\",\"\\u001f\"]]}",
				  0, NULL);
	const char *text;
	char *ser;
	size_t len, slen;

	(void)state;
	assert_true(secp256k1_keypair_create(ctx, &kp, sk));
	assert_int_equal(event_sign_template(tmpl, &kp, &ev, &err), 0);
	text = event_json(&ev, &len);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "\"content\":\"a\\u000bb\u2028\\\"/\""));
	assert_non_null(strstr(text, "[[\"t\",\"\\u001f\"]]"));
	assert_null(strstr(text, "\\u000B"));
	assert_int_equal(strncmp(text, "{\"id\":\"", 7), 0);
	/* The content's bytes are the pre-image's. */
	assert_int_equal(event_serialize(&ev, &ser, &slen), 0);
	assert_non_null(memmem(ser, slen, "\"a\\u000bb", 9));
	assert_int_equal(event_parse(text, len, &back, &err), 0);
	assert_int_equal(event_verify(&back, &err), 0);
	assert_memory_equal(back.id, ev.id, 32);
	free(ser);
	event_clear(&back);
	event_clear(&ev);
	json_decref(tmpl);
}

static void test_nul_in_strings(void **state)
{
	/* \u0000 in content and tags: lengths, not strlen, all the way to the hash. */
	const secp256k1_context *ctx = event_secp_context();
	uint8_t sk[32] = { [31] = 7 };
	secp256k1_keypair kp;
	struct nostr_event ev, back;
	struct event_error err;
	json_t *tmpl = json_loads("{\"kind\":1,\"content\":\"a\\u0000b\",\"tags\":[[\"t\",\"x\\u0000y\"]]}",
				  JSON_ALLOW_NUL, NULL);
	char *text, *ser;
	size_t len;

	(void)state;
	assert_true(secp256k1_keypair_create(ctx, &kp, sk));
	assert_int_equal(event_sign_template(tmpl, &kp, &ev, &err), 0);
	assert_int_equal(ev.content_len, 3);
	assert_int_equal(event_serialize(&ev, &ser, &len), 0);
	assert_non_null(memmem(ser, len, "\"a\\u0000b\"", 10));
	assert_non_null(memmem(ser, len, "\"x\\u0000y\"", 10));
	text = json_dumps(ev.obj, JSON_COMPACT);
	assert_int_equal(event_parse(text, strlen(text), &back, &err), 0);
	assert_int_equal(event_verify(&back, &err), 0);
	free(text), free(ser);
	event_clear(&back);
	event_clear(&ev);
	json_decref(tmpl);
}

static void test_sign_template(void **state)
{
	const secp256k1_context *ctx = event_secp_context();
	uint8_t sk[32];
	secp256k1_keypair kp;
	struct nostr_event ev;
	struct event_error err;
	json_t *t;

	(void)state;
	/* BIP-340 vector 1's key: pubkey DFF1D77F... */
	hex_decode("B7E151628AED2A6ABF7158809CF4F3C762E7160F38B4DA56A784D9045190CFEF", 64, sk);
	assert_true(secp256k1_keypair_create(ctx, &kp, sk));
	t = json_pack("{s:i, s:s, s:[[s,s]], s:i}", "kind", 1, "content", "hi", "tags", "t", "x", "created_at", 1700000000);
	assert_int_equal(event_sign_template(t, &kp, &ev, &err), 0);
	assert_string_equal(json_string_value(json_object_get(ev.obj, "pubkey")),
			    "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659");
	assert_int_equal(ev.created_at, 1700000000);
	assert_int_equal(event_verify(&ev, &err), 0);
	event_clear(&ev);
	json_decref(t);

	/* Defaults: now, empty tags and content. */
	t = json_pack("{s:i}", "kind", 7);
	assert_int_equal(event_sign_template(t, &kp, &ev, &err), 0);
	assert_true(ev.created_at > 1700000000);
	assert_int_equal(json_array_size(ev.tags), 0);
	assert_int_equal(ev.content_len, 0);
	event_clear(&ev);
	json_decref(t);

	/* Bad templates, each with its own code. */
	static const struct {
		const char *json;
		enum event_err code;
	} bad[] = {
		{ "{\"content\":\"x\"}", EVENT_ERR_MISSING_FIELD },
		{ "{\"kind\":1,\"id\":\"x\"}", EVENT_ERR_UNKNOWN_FIELD },
		{ "{\"kind\":70000}", EVENT_ERR_KIND },
		{ "{\"kind\":1,\"created_at\":1.5}", EVENT_ERR_CREATED_AT },
		{ "{\"kind\":1,\"tags\":[[1]]}", EVENT_ERR_TAGS },
		{ "{\"kind\":1,\"content\":5}", EVENT_ERR_CONTENT },
		{ "[1]", EVENT_ERR_NOT_OBJECT },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = json_loads(bad[i].json, JSON_DECODE_ANY, NULL);
		assert_non_null(t);
		assert_int_not_equal(event_sign_template(t, &kp, &ev, &err), 0);
		if (err.code != bad[i].code)
			fail_msg("%s: got %s", bad[i].json, event_err_code(err.code));
		json_decref(t);
	}
}

static void test_error_codes_distinct(void **state)
{
	(void)state;
	for (int i = 0; i < EVENT_ERR__MAX; i++)
		for (int j = 0; j < i; j++)
			assert_string_not_equal(event_err_code((enum event_err)i), event_err_code((enum event_err)j));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bip340_vectors),
		cmocka_unit_test(test_nostr_tools_events),
		cmocka_unit_test(test_tampering_any_field_fails),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_nul_in_strings),
		cmocka_unit_test(test_wire_text_is_canonical),
		cmocka_unit_test(test_sign_template),
		cmocka_unit_test(test_error_codes_distinct),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
