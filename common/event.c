/* event.c - Nostr events: strict NIP-01 parsing, the JSON.stringify-exact canonical
 * serialization, SHA-256 ids (OpenSSL), BIP-340 verify and sign (libsecp256k1).
 *
 * The serializer is ours on purpose: jansson escapes some control characters differently
 * from JavaScript (\u001F vs \u001f), which changes the id of events that contain them. */
#include <errno.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <secp256k1_schnorrsig.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "event.h"
#include "hex.h"

static const char *const err_codes[EVENT_ERR__MAX] = {
	[EVENT_OK] = "ok",
	[EVENT_ERR_JSON] = "invalid_json",
	[EVENT_ERR_UTF8] = "invalid_utf8",
	[EVENT_ERR_DUPLICATE_KEY] = "duplicate_key",
	[EVENT_ERR_NOT_OBJECT] = "not_object",
	[EVENT_ERR_MISSING_FIELD] = "missing_field",
	[EVENT_ERR_UNKNOWN_FIELD] = "unknown_field",
	[EVENT_ERR_ID] = "invalid_id",
	[EVENT_ERR_PUBKEY] = "invalid_pubkey",
	[EVENT_ERR_CREATED_AT] = "invalid_created_at",
	[EVENT_ERR_KIND] = "invalid_kind",
	[EVENT_ERR_TAGS] = "invalid_tags",
	[EVENT_ERR_CONTENT] = "invalid_content",
	[EVENT_ERR_SIG] = "invalid_sig",
	[EVENT_ERR_ID_MISMATCH] = "id_mismatch",
	[EVENT_ERR_BAD_SIGNATURE] = "bad_signature",
	[EVENT_ERR_BAD_KEY] = "bad_key",
};

const char *event_err_code(enum event_err e)
{
	if ((int)e < 0 || e >= EVENT_ERR__MAX)
		return "invalid_event";
	return err_codes[e];
}

static int fail(struct event_error *err, enum event_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct event_error *err, enum event_err code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

const secp256k1_context *event_secp_context(void)
{
	static secp256k1_context *ctx;
	unsigned char seed[32];

	if (ctx)
		return ctx;
	ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	if (!ctx)
		abort();
	/* Randomization protects signing against side channels; verification ignores it. */
	if (getrandom(seed, sizeof(seed), 0) == sizeof(seed) && !secp256k1_context_randomize(ctx, seed))
		abort();
	return ctx;
}

/* ---- parsing ------------------------------------------------------------------------ */

static int parse_hex_field(json_t *obj, const char *name, size_t bytes, uint8_t *out, enum event_err code,
			   struct event_error *err)
{
	json_t *v = json_object_get(obj, name);
	const char *s = json_string_value(v);

	if (!s || json_string_length(v) != bytes * 2 || !hex_is_lower(s, bytes * 2))
		return fail(err, code, "%s must be %zu lowercase hex characters", name, bytes * 2);
	if (hex_decode(s, bytes * 2, out) < 0)
		return fail(err, code, "%s must be %zu lowercase hex characters", name, bytes * 2);
	return 0;
}

static int parse_int_field(json_t *obj, const char *name, long long max, long long *out, enum event_err code,
			   struct event_error *err)
{
	json_t *v = json_object_get(obj, name);

	if (json_is_real(v))
		return fail(err, code, "%s must be an integer, not a real number (%.17g)", name, json_real_value(v));
	if (!json_is_integer(v))
		return fail(err, code, "%s must be an integer", name);
	if (json_integer_value(v) < 0 || json_integer_value(v) > max)
		return fail(err, code, "%s must be an integer from 0 to %lld, got %lld", name, max,
			    (long long)json_integer_value(v));
	*out = json_integer_value(v);
	return 0;
}

static int check_tags(json_t *tags, struct event_error *err)
{
	size_t i, j;
	json_t *tag, *s;

	if (!json_is_array(tags))
		return fail(err, EVENT_ERR_TAGS, "tags must be an array of arrays of strings");
	json_array_foreach(tags, i, tag) {
		if (!json_is_array(tag) || json_array_size(tag) == 0)
			return fail(err, EVENT_ERR_TAGS, "tags[%zu] must be a non-empty array of strings", i);
		json_array_foreach(tag, j, s)
			if (!json_is_string(s))
				return fail(err, EVENT_ERR_TAGS, "tags[%zu][%zu] must be a string", i, j);
		if (json_string_length(json_array_get(tag, 0)) == 0)
			return fail(err, EVENT_ERR_TAGS, "tags[%zu][0] (the tag name) must not be empty", i);
	}
	return 0;
}

static const char *const event_fields[] = { "id", "pubkey", "created_at", "kind", "tags", "content", "sig" };

static int check_members(json_t *obj, const char *const *names, size_t n, bool all_required,
			 struct event_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		size_t i;
		for (i = 0; i < n && strcmp(key, names[i]) != 0; i++)
			;
		if (i == n)
			return fail(err, EVENT_ERR_UNKNOWN_FIELD, "unknown member \"%s\"", key);
	}
	for (size_t i = 0; all_required && i < n; i++)
		if (!json_object_get(obj, names[i]))
			return fail(err, EVENT_ERR_MISSING_FIELD, "missing member \"%s\"", names[i]);
	return 0;
}

int event_from_json(json_t *obj, struct nostr_event *ev, struct event_error *err)
{
	long long created_at, kind;
	json_t *content;

	memset(ev, 0, sizeof(*ev));
	if (!json_is_object(obj))
		return fail(err, EVENT_ERR_NOT_OBJECT, "an event must be a JSON object");
	if (check_members(obj, event_fields, 7, true, err) < 0 ||
	    parse_hex_field(obj, "id", 32, ev->id, EVENT_ERR_ID, err) < 0 ||
	    parse_hex_field(obj, "pubkey", 32, ev->pubkey, EVENT_ERR_PUBKEY, err) < 0 ||
	    parse_int_field(obj, "created_at", EVENT_MAX_CREATED_AT, &created_at, EVENT_ERR_CREATED_AT, err) < 0 ||
	    parse_int_field(obj, "kind", EVENT_MAX_KIND, &kind, EVENT_ERR_KIND, err) < 0 ||
	    check_tags(json_object_get(obj, "tags"), err) < 0)
		return -EINVAL;
	content = json_object_get(obj, "content");
	if (!json_is_string(content))
		return fail(err, EVENT_ERR_CONTENT, "content must be a string");
	if (parse_hex_field(obj, "sig", 64, ev->sig, EVENT_ERR_SIG, err) < 0)
		return -EINVAL;
	memcpy(ev->id_hex, json_string_value(json_object_get(obj, "id")), 64);
	ev->id_hex[64] = '\0';
	ev->created_at = created_at;
	ev->kind = (uint32_t)kind;
	ev->tags = json_object_get(obj, "tags");
	ev->content = json_string_value(content);
	ev->content_len = json_string_length(content);
	ev->obj = json_incref(obj);
	return 0;
}

int event_parse(const char *text, size_t len, struct nostr_event *ev, struct event_error *err)
{
	json_error_t jerr;
	json_t *obj;
	int r;

	memset(ev, 0, sizeof(*ev));
	obj = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
	if (!obj) {
		enum json_error_code c = json_error_code(&jerr);
		if (c == json_error_duplicate_key)
			return fail(err, EVENT_ERR_DUPLICATE_KEY, "%s (column %d)", jerr.text, jerr.column);
		if (c == json_error_invalid_utf8 || strncmp(jerr.text, "invalid Unicode", 15) == 0)
			return fail(err, EVENT_ERR_UTF8, "%s (column %d)", jerr.text, jerr.column);
		return fail(err, EVENT_ERR_JSON, "invalid JSON: %s (column %d)", jerr.text, jerr.column);
	}
	r = event_from_json(obj, ev, err);
	json_decref(obj);
	return r;
}

void event_clear(struct nostr_event *ev)
{
	if (!ev)
		return;
	free(ev->json);
	json_decref(ev->obj);
	memset(ev, 0, sizeof(*ev));
}

/* ---- canonical serialization ---------------------------------------------------------- */

/* Output of the serializer: either a growing string or a running SHA-256. */
struct sink {
	char buf[8192];
	size_t n;
	EVP_MD_CTX *md; /* hash mode when set */
	char *out;      /* string mode */
	size_t len, cap;
	int err;
};

static void sink_flush(struct sink *s)
{
	if (s->n == 0 || s->err)
		return;
	if (s->md) {
		if (EVP_DigestUpdate(s->md, s->buf, s->n) != 1)
			s->err = -EIO;
	} else {
		if (s->len + s->n > s->cap) {
			size_t ncap = (s->cap ? s->cap * 2 : 1024);
			while (ncap < s->len + s->n)
				ncap *= 2;
			char *nb = realloc(s->out, ncap);
			if (!nb) {
				s->err = -ENOMEM;
				return;
			}
			s->out = nb;
			s->cap = ncap;
		}
		memcpy(s->out + s->len, s->buf, s->n);
		s->len += s->n;
	}
	s->n = 0;
}

static void sink_put(struct sink *s, const char *p, size_t n)
{
	while (n > 0) {
		size_t room = sizeof(s->buf) - s->n, k = n < room ? n : room;
		memcpy(s->buf + s->n, p, k);
		s->n += k;
		p += k;
		n -= k;
		if (s->n == sizeof(s->buf))
			sink_flush(s);
	}
}

/* A JSON string exactly as JSON.stringify writes it: named escapes for " \ \b \f \n \r \t,
 * \u00xx with lowercase hex for the other bytes below 0x20, every other byte as is (the
 * input is valid UTF-8 without lone surrogates, which the parser guarantees). */
static void sink_string(struct sink *s, const char *p, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	size_t run = 0;

	sink_put(s, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		char esc[6];
		size_t elen = 2;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sink_put(s, p + run, i - run);
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hexd[c >> 4];
			esc[5] = hexd[c & 15];
			elen = 6;
		}
		sink_put(s, esc, elen);
	}
	sink_put(s, p + run, n - run);
	sink_put(s, "\"", 1);
}

static void sink_int(struct sink *s, long long v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%lld", v);
	sink_put(s, b, (size_t)n);
}

static void sink_tags(struct sink *s, const json_t *tags)
{
	size_t i, j;
	json_t *tag, *str;

	sink_put(s, "[", 1);
	json_array_foreach(tags, i, tag) {
		sink_put(s, i ? ",[" : "[", i ? 2 : 1);
		json_array_foreach(tag, j, str) {
			if (j)
				sink_put(s, ",", 1);
			sink_string(s, json_string_value(str), json_string_length(str));
		}
		sink_put(s, "]", 1);
	}
	sink_put(s, "]", 1);
}

static void serialize(const struct nostr_event *ev, struct sink *s)
{
	char pk[65];

	hex_encode(ev->pubkey, 32, pk);
	sink_put(s, "[0,", 3);
	sink_string(s, pk, 64);
	sink_put(s, ",", 1);
	sink_int(s, ev->created_at);
	sink_put(s, ",", 1);
	sink_int(s, ev->kind);
	sink_put(s, ",", 1);
	sink_tags(s, ev->tags);
	sink_put(s, ",", 1);
	sink_string(s, ev->content, ev->content_len);
	sink_put(s, "]", 1);
	sink_flush(s);
}

/* The event object on the wire and in the cache, its strings escaped exactly as in the
 * canonical serialization (the id's pre-image), not as jansson would (\u000B). */
static void serialize_object(const struct nostr_event *ev, struct sink *s)
{
	char hex[129];

	sink_put(s, "{\"id\":\"", 7);
	sink_put(s, ev->id_hex, 64);
	hex_encode(ev->pubkey, 32, hex);
	sink_put(s, "\",\"pubkey\":\"", 12);
	sink_put(s, hex, 64);
	sink_put(s, "\",\"created_at\":", 15);
	sink_int(s, ev->created_at);
	sink_put(s, ",\"kind\":", 8);
	sink_int(s, ev->kind);
	sink_put(s, ",\"tags\":", 8);
	sink_tags(s, ev->tags);
	sink_put(s, ",\"content\":", 11);
	sink_string(s, ev->content, ev->content_len);
	hex_encode(ev->sig, 64, hex);
	sink_put(s, ",\"sig\":\"", 8);
	sink_put(s, hex, 128);
	sink_put(s, "\"}", 2);
	sink_flush(s);
}

int event_serialize(const struct nostr_event *ev, char **out, size_t *len)
{
	struct sink *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	serialize(ev, s);
	r = s->err;
	if (r == 0) {
		*out = s->out ? s->out : strdup("");
		*len = s->len;
		r = *out ? 0 : -ENOMEM;
	} else {
		free(s->out);
	}
	free(s);
	return r;
}

const char *event_json(const struct nostr_event *cev, size_t *len)
{
	/* A cache on a logically const event: the text is a function of obj. */
	struct nostr_event *ev = (struct nostr_event *)cev;

	if (!ev->json) {
		struct sink *s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		serialize_object(ev, s);
		sink_put(s, "", 1); /* a NUL after the text (not counted) */
		sink_flush(s);
		if (s->err) {
			free(s->out);
			free(s);
			return NULL;
		}
		ev->json = s->out;
		ev->json_len = s->len - 1;
		free(s);
	}
	if (len)
		*len = ev->json_len;
	return ev->json;
}

static const EVP_MD *sha256_md(void)
{
	static EVP_MD *md;

	/* Fetched once: an implicit fetch on every digest costs more than hashing a small event. */
	if (!md)
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	return md;
}

int event_crypto_init(void)
{
	return event_secp_context() && sha256_md() ? 0 : -ENOMEM;
}

/* One digest context per thread, reused: allocating one per event shows in the benchmark. */
static __thread EVP_MD_CTX *thread_md;

void event_thread_cleanup(void)
{
	EVP_MD_CTX_free(thread_md);
	thread_md = NULL;
}

int event_compute_id(const struct nostr_event *ev, uint8_t id[32])
{
	struct sink s;
	unsigned int n = 0;
	int r = 0;

	EVP_MD_CTX *md;

	if (!thread_md)
		thread_md = EVP_MD_CTX_new();
	md = thread_md;
	s.n = 0;
	s.err = 0;
	s.out = NULL;
	s.md = md;
	if (!md || !sha256_md() || EVP_DigestInit_ex(md, sha256_md(), NULL) != 1)
		return -ENOMEM;
	serialize(ev, &s);
	if (s.err || EVP_DigestFinal_ex(md, id, &n) != 1 || n != 32)
		r = s.err ? s.err : -EIO;
	return r;
}

/* ---- verify and sign ----------------------------------------------------------------- */

int event_verify(const struct nostr_event *ev, struct event_error *err)
{
	const secp256k1_context *ctx = event_secp_context();
	secp256k1_xonly_pubkey pk;
	uint8_t id[32];

	if (event_compute_id(ev, id) < 0)
		return fail(err, EVENT_ERR_ID_MISMATCH, "cannot compute the id (out of memory)");
	if (memcmp(id, ev->id, 32) != 0)
		return fail(err, EVENT_ERR_ID_MISMATCH, "id does not match the event's content (expected %02x%02x%02x%02x...)",
			    id[0], id[1], id[2], id[3]);
	if (!secp256k1_xonly_pubkey_parse(ctx, &pk, ev->pubkey))
		return fail(err, EVENT_ERR_PUBKEY, "pubkey is not a valid secp256k1 x-only public key");
	if (!secp256k1_schnorrsig_verify(ctx, ev->sig, ev->id, 32, &pk))
		return fail(err, EVENT_ERR_BAD_SIGNATURE, "sig is not a valid BIP-340 signature of id by pubkey");
	return 0;
}

static const char *const template_fields[] = { "kind", "content", "tags", "created_at" };

int event_sign_template(const json_t *tmpl_c, const secp256k1_keypair *kp, struct nostr_event *ev,
			struct event_error *err)
{
	const secp256k1_context *ctx = event_secp_context();
	json_t *tmpl = (json_t *)tmpl_c, *tags, *content, *obj;
	secp256k1_xonly_pubkey xpk;
	long long created_at, kind;
	uint8_t pub[32], id[32], sig[64], aux[32];
	char hex[129];
	int r;

	memset(ev, 0, sizeof(*ev));
	if (!json_is_object(tmpl))
		return fail(err, EVENT_ERR_NOT_OBJECT, "an event template must be a JSON object");
	if (check_members(tmpl, template_fields, 4, false, err) < 0)
		return -EINVAL;
	if (!json_object_get(tmpl, "kind"))
		return fail(err, EVENT_ERR_MISSING_FIELD, "missing member \"kind\"");
	if (parse_int_field(tmpl, "kind", EVENT_MAX_KIND, &kind, EVENT_ERR_KIND, err) < 0)
		return -EINVAL;
	if (json_object_get(tmpl, "created_at")) {
		if (parse_int_field(tmpl, "created_at", EVENT_MAX_CREATED_AT, &created_at, EVENT_ERR_CREATED_AT, err) < 0)
			return -EINVAL;
	} else {
		created_at = (long long)time(NULL);
	}
	tags = json_object_get(tmpl, "tags");
	if (tags && check_tags(tags, err) < 0)
		return -EINVAL;
	content = json_object_get(tmpl, "content");
	if (content && !json_is_string(content))
		return fail(err, EVENT_ERR_CONTENT, "content must be a string");
	if (!secp256k1_keypair_xonly_pub(ctx, &xpk, NULL, kp) || !secp256k1_xonly_pubkey_serialize(ctx, pub, &xpk))
		return fail(err, EVENT_ERR_BAD_KEY, "the signing key is invalid");
	hex_encode(pub, 32, hex);
	hex[64] = '\0';
	obj = json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:s}", "id", "", "pubkey", hex, "created_at",
			(json_int_t)created_at, "kind", (json_int_t)kind, "tags",
			tags ? json_incref(tags) : json_array(), "content",
			content ? json_incref(content) : json_string(""), "sig", "");
	if (!obj)
		return fail(err, EVENT_ERR_JSON, "out of memory");
	/* Build the event around the template, then fill in id and sig. */
	ev->obj = obj;
	memcpy(ev->pubkey, pub, 32);
	ev->created_at = created_at;
	ev->kind = (uint32_t)kind;
	ev->tags = json_object_get(obj, "tags");
	ev->content = json_string_value(json_object_get(obj, "content"));
	ev->content_len = json_string_length(json_object_get(obj, "content"));
	if (event_compute_id(ev, id) < 0 || getrandom(aux, sizeof(aux), 0) != sizeof(aux) ||
	    !secp256k1_schnorrsig_sign32(ctx, sig, id, kp, aux)) {
		event_clear(ev);
		return fail(err, EVENT_ERR_BAD_KEY, "signing failed");
	}
	memcpy(ev->id, id, 32);
	memcpy(ev->sig, sig, 64);
	hex_encode(id, 32, ev->id_hex);
	ev->id_hex[64] = '\0';
	json_object_set_new(obj, "id", json_string(ev->id_hex));
	hex_encode(sig, 64, hex);
	hex[128] = '\0';
	json_object_set_new(obj, "sig", json_string(hex));
	/* content and tags pointers stay valid: those members were not replaced. */
	r = event_verify(ev, err);
	if (r < 0)
		event_clear(ev);
	return r;
}
