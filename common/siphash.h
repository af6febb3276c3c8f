/* siphash.h - SipHash-2-4 (Aumasson and Bernstein), a keyed 64-bit hash: the hash tables'
 * defence against keys chosen to collide, such as proof-of-work event ids that all start
 * with zero bytes. */
#ifndef RELAYPOOL_SIPHASH_H
#define RELAYPOOL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct siphash_key {
	uint64_t k0, k1;
};

/* The key from its 16 bytes, little-endian, as the reference implementation reads them. */
struct siphash_key siphash_key_from_bytes(const uint8_t bytes[16]);

uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len);

#endif
