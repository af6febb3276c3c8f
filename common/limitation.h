/* limitation.h - a relay's NIP-11 "limitation" object: parsed from the information document
 * (or a configuration override), and the checks an event must pass before it is sent to
 * that relay. */
#ifndef RELAYPOOL_LIMITATION_H
#define RELAYPOOL_LIMITATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

/* -1: not set (no limit). */
struct relay_limits {
	int64_t max_message_length, max_content_length, max_event_tags;
	int64_t created_at_lower_limit, created_at_upper_limit, min_pow_difficulty;
	int64_t max_subscriptions, max_limit, max_filters;
	bool auth_required, payment_required, restricted_writes;
};

void limits_none(struct relay_limits *l);
/* Takes the fields of obj that NIP-11 defines over l (others are ignored when lenient, an
 * error otherwise). Numbers must be non-negative integers. 0, or -EINVAL with *why naming
 * the field. */
int limits_apply_json(struct relay_limits *l, const json_t *obj, bool lenient, const char **why, char *buf,
		      size_t len);
json_t *limits_json(const struct relay_limits *l);

/* Leading zero bits of an event id (NIP-13 difficulty). */
unsigned limits_pow_bits(const uint8_t id[32]);
/* Whether ev may go to a relay with these limits, now (wall clock): 0, or -1 with a message
 * that names the limit and both values in why. message_len: the length of ["EVENT",{...}]. */
int limits_check_event(const struct relay_limits *l, const struct nostr_event *ev, size_t message_len, int64_t now,
		       char *why, size_t len);

#endif
