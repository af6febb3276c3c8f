/* idmap.h - a hash map from 32-byte Nostr ids (event ids are SHA-256, so their first bytes
 * are already a good hash) to pointers. Open addressing with linear probing and
 * backward-shift deletion: no tombstones, so heavy churn never degrades it. */
#ifndef RELAYPOOL_IDMAP_H
#define RELAYPOOL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap;

struct idmap *idmap_new(void);
void idmap_free(struct idmap *m);
/* Returns the value for id, or NULL. */
void *idmap_get(const struct idmap *m, const uint8_t id[32]);
/* Inserts or replaces; returns 0 or -ENOMEM. The key bytes are copied. */
int idmap_put(struct idmap *m, const uint8_t id[32], void *value);
/* Removes id if present; returns its value or NULL. */
void *idmap_remove(struct idmap *m, const uint8_t id[32]);
size_t idmap_size(const struct idmap *m);

#endif
