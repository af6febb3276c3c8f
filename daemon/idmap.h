/* idmap.h - a hash map from 32-byte Nostr ids to pointers. Open addressing with linear
 * probing and backward-shift deletion: no tombstones, so heavy churn never degrades it.
 *
 * Ids are hashed whole with SipHash under a key drawn at start: an id is a SHA-256, but not
 * a random key - proof-of-work ids (NIP-13) share their leading zero bytes, and anyone can
 * mine ids that collide on any fixed function of a few bytes. */
#ifndef RELAYPOOL_IDMAP_H
#define RELAYPOOL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap;

/* The hash the map uses; tests inject one to force collisions. */
typedef uint64_t (*idmap_hash_fn)(const uint8_t id[32]);

/* Keyed SipHash-2-4 of the whole id (the key is drawn from getrandom once per process). */
uint64_t idmap_hash(const uint8_t id[32]);
struct idmap *idmap_new(void);
struct idmap *idmap_new_with_hash(idmap_hash_fn hash);
void idmap_free(struct idmap *m);
/* Returns the value for id, or NULL. */
void *idmap_get(const struct idmap *m, const uint8_t id[32]);
/* Inserts or replaces; returns 0 or -ENOMEM. The key bytes are copied. */
int idmap_put(struct idmap *m, const uint8_t id[32], void *value);
/* Removes id if present; returns its value or NULL. */
void *idmap_remove(struct idmap *m, const uint8_t id[32]);
size_t idmap_size(const struct idmap *m);
/* The longest probe run now (how far a lookup may have to walk); for tests. */
size_t idmap_longest_run(const struct idmap *m);

#endif
