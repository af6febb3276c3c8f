/* idset.h - a bounded set of recently seen event ids, oldest forgotten first: the
 * de-duplication memory of a live subscription. It keeps a 64-bit keyed fingerprint
 * (SipHash, idmap's process key) of each id, 24 bytes per id at most: two subscribers that
 * each remember 65,536 ids cost 3 MiB, not the 9 MiB whole ids would. Two different ids
 * share a fingerprint with probability ~n/2^63 per lookup (about 1e-14 at n = 65,536),
 * which would make the set call a new event seen. */
#ifndef RELAYPOOL_IDSET_H
#define RELAYPOOL_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idset;

/* Remembers at most cap ids (cap >= 1); memory grows with use up to that bound. */
struct idset *idset_new(size_t cap);
void idset_free(struct idset *s);
bool idset_has(const struct idset *s, const uint8_t id[32]);
/* 1 when id was added, 0 when it was there already, -ENOMEM. Past cap, the oldest id goes. */
int idset_add(struct idset *s, const uint8_t id[32]);
size_t idset_size(const struct idset *s);
size_t idset_bytes(const struct idset *s);

#endif
