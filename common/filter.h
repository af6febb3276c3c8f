/* filter.h - NIP-01 subscription filters: validation (and, later, matching). */
#ifndef RELAYPOOL_FILTER_H
#define RELAYPOOL_FILTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Checks that f is a NIP-01 filter object: ids/authors arrays of 64 lowercase hex,
 * kinds array of integers 0-65535, since/until/limit non-negative integers, "#x"
 * (one ASCII letter) arrays of strings. Unknown members are errors.
 * Returns 0, or -EINVAL with a message naming the member in err. */
int filter_validate(const json_t *f, char *err, size_t errlen);

struct nostr_event;

/* True if ev matches the NIP-01 filter f (already validated): ids, authors, kinds, since,
 * until and #x tags; limit does not affect matching. */
bool filter_match(const json_t *f, const struct nostr_event *ev);

/* The canonical text of a filter for identifying it (sync cursors): members sorted, array
 * values sorted, since/until/limit left out. malloc'd; NULL on allocation failure. */
char *filter_key(const json_t *f);

#endif
