/* negentropy.h - the Negentropy protocol V1 (range-based set reconciliation, NIP-77), both
 * roles, over a sorted vector of (timestamp, id) items.
 *
 * Written here because no Debian 12 package offers it in C (the reference is C++ headers,
 * and nostr-tools' JavaScript one has no responder). The wire format and the algorithm
 * follow the protocol description (hoytech/negentropy): a message is the version byte 0x61
 * then ranges, each an upper bound (timestamp varint as a delta from the previous bound of
 * the message, 0 for infinity; an id prefix), a mode (Skip, Fingerprint, IdList) and its
 * payload; a fingerprint is the first 16 bytes of SHA-256(sum of the ids as 256-bit little-
 * endian integers mod 2^256 || varint(count)).
 *
 * Parsing never trusts the peer: every length is checked against what is left of the
 * message, and a bad message is an error, never a crash (fuzzed). */
#ifndef RELAYPOOL_NEGENTROPY_H
#define RELAYPOOL_NEGENTROPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NEG_VERSION 0x61
#define NEG_ID_SIZE 32
#define NEG_FP_SIZE 16
#define NEG_TS_INFINITY UINT64_MAX
/* The smallest frame size limit the protocol allows (0 means no limit). */
#define NEG_MIN_FRAME 4096

struct neg_item {
	uint64_t ts;
	uint8_t id[NEG_ID_SIZE];
};

/* The items of one side, sorted by (timestamp, id) once sealed. */
struct neg_storage {
	struct neg_item *items;
	size_t n, cap;
	bool sealed;
};

void neg_storage_init(struct neg_storage *st);
void neg_storage_clear(struct neg_storage *st);
/* -ENOMEM, or -EBUSY once sealed. */
int neg_storage_add(struct neg_storage *st, uint64_t ts, const uint8_t id[NEG_ID_SIZE]);
/* Sorts; a repeated (timestamp, id) is kept once. */
void neg_storage_seal(struct neg_storage *st);

/* The fingerprint of n items. */
void neg_fingerprint(const struct neg_item *items, size_t n, uint8_t out[NEG_FP_SIZE]);

/* A growing output buffer. */
struct neg_buf {
	uint8_t *p;
	size_t len, cap;
};
void neg_buf_clear(struct neg_buf *b);

/* One side of a reconciliation. The storage must stay sealed and unchanged meanwhile. */
struct neg {
	const struct neg_storage *st;
	size_t frame_limit; /* bytes of one message (binary, before hex); 0: none */
	bool initiator;
	uint64_t last_ts_in, last_ts_out;
	/* counts over the whole reconciliation */
	unsigned long long rounds, bytes_in, bytes_out;
};

/* What the initiator learns of each range given as an id list: an id only we have
 * (have) or only the peer has (need). A negative return stops the reconciliation with
 * that error. */
typedef int (*neg_id_fn)(void *arg, const uint8_t id[NEG_ID_SIZE]);

/* frame_limit 0 or >= NEG_MIN_FRAME; -EINVAL otherwise. */
int neg_init(struct neg *ng, const struct neg_storage *st, size_t frame_limit);

/* The initiator's first message (and the side becomes the initiator). */
int neg_initiate(struct neg *ng, struct neg_buf *out);

/* Answers the peer's message msg. The initiator reports have/need (either callback may be
 * NULL) and, when nothing is left to reconcile, answers with an empty out (len 0): done.
 * The responder always answers. Errors: -EINVAL (malformed message: *why says what),
 * -EPROTONOSUPPORT (the initiator got a version it does not speak), -ENOMEM, or what a
 * callback returned. A responder given another version answers with the lone version byte,
 * which is how the protocol negotiates. out is replaced, not appended to. */
int neg_reconcile(struct neg *ng, const uint8_t *msg, size_t len, struct neg_buf *out, neg_id_fn have,
		  neg_id_fn need, void *arg, const char **why);

#endif
