/* event.h - Nostr events (NIP-01): strict parsing, the canonical serialization that ids are
 * computed over, ids (SHA-256), BIP-340 verification and signing. Shared by the daemon
 * (publish, cache, sync) and relaypoolctl (offline verify). */
#ifndef RELAYPOOL_EVENT_H
#define RELAYPOOL_EVENT_H

#include <jansson.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest created_at we accept: JavaScript's Number.MAX_SAFE_INTEGER, the largest integer
 * every client serializes exactly. */
#define EVENT_MAX_CREATED_AT 9007199254740991LL
#define EVENT_MAX_KIND 65535

/* Why an event (or template) was refused. The strings (event_err_code) are stable: they
 * appear as "reason" in control replies and in relaypoolctl verify's output. */
enum event_err {
	EVENT_OK = 0,
	EVENT_ERR_JSON,          /* not JSON at all */
	EVENT_ERR_UTF8,          /* invalid UTF-8 or a lone surrogate escape */
	EVENT_ERR_DUPLICATE_KEY, /* a member appears twice */
	EVENT_ERR_NOT_OBJECT,
	EVENT_ERR_MISSING_FIELD,
	EVENT_ERR_UNKNOWN_FIELD,
	EVENT_ERR_ID,         /* not 64 lowercase hex */
	EVENT_ERR_PUBKEY,     /* not 64 lowercase hex, or not a valid x-only key */
	EVENT_ERR_CREATED_AT, /* not an integer in 0..EVENT_MAX_CREATED_AT */
	EVENT_ERR_KIND,       /* not an integer in 0..65535 */
	EVENT_ERR_TAGS,       /* not an array of non-empty arrays of strings, first non-empty */
	EVENT_ERR_CONTENT,    /* not a string */
	EVENT_ERR_SIG,        /* not 128 lowercase hex */
	EVENT_ERR_ID_MISMATCH,   /* id is not the hash of the canonical serialization */
	EVENT_ERR_BAD_SIGNATURE, /* BIP-340 verification failed */
	EVENT_ERR_BAD_KEY,       /* signing: the secret key is invalid */
	EVENT_ERR__MAX
};

struct event_error {
	enum event_err code;
	char message[256]; /* names the field */
};

struct nostr_event {
	uint8_t id[32];
	uint8_t pubkey[32];
	uint8_t sig[64];
	char id_hex[65];
	int64_t created_at;
	uint32_t kind;
	json_t *tags;        /* borrowed from obj */
	const char *content; /* borrowed from obj; may contain NUL bytes */
	size_t content_len;
	json_t *obj; /* the event object; we hold a reference */
	char *json;  /* compact JSON text of obj, made once by event_json() */
	size_t json_len;
};

const char *event_err_code(enum event_err e);

/* Parses JSON text into ev (with the JSON checks jansson does for us: duplicate members,
 * UTF-8, lone surrogates, and \u0000 allowed). Does not verify id or signature. */
int event_parse(const char *text, size_t len, struct nostr_event *ev, struct event_error *err);
/* Same for an object already parsed (with JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL). Takes
 * a reference to obj on success. */
int event_from_json(json_t *obj, struct nostr_event *ev, struct event_error *err);
void event_clear(struct nostr_event *ev);
/* The event as compact JSON text (the wire and storage form), made on first use and kept
 * with the event. NULL on allocation failure. Not for use from several threads at once. */
const char *event_json(const struct nostr_event *ev, size_t *len);

/* The canonical serialization [0,pubkey,created_at,kind,tags,content], byte for byte as
 * JavaScript's JSON.stringify writes it. *out is malloc'd (not NUL-terminated content may
 * contain NUL); returns 0 or -ENOMEM. */
int event_serialize(const struct nostr_event *ev, char **out, size_t *len);
/* SHA-256 of the canonical serialization, computed without building it in memory. */
int event_compute_id(const struct nostr_event *ev, uint8_t id[32]);
/* Checks id == hash and the BIP-340 signature. Returns 0 or -EINVAL with err set. */
int event_verify(const struct nostr_event *ev, struct event_error *err);

/* An event template for signing: {"kind", "content", "tags"?, "created_at"?}. A missing
 * created_at becomes now. The result is a complete, verified event. */
int event_sign_template(const json_t *tmpl, const secp256k1_keypair *kp, struct nostr_event *ev,
			struct event_error *err);

/* The shared secp256k1 context (created on first use, randomized for signing). */
const secp256k1_context *event_secp_context(void);
/* Creates the shared crypto state (secp256k1 context, SHA-256 method) now. Call it before
 * threads use event_verify; single-threaded callers may skip it. Returns 0 or -ENOMEM. */
int event_crypto_init(void);
/* Frees this thread's hashing state; call it before a thread that verified events exits. */
void event_thread_cleanup(void);

#endif
