/* siphash.c - SipHash-2-4.
 *
 * Written here rather than taken from OpenSSL: OpenSSL 3 offers SipHash only as an EVP_MAC,
 * whose context set-up and provider dispatch cost far more than the hash itself, and the hash
 * runs on every id-map lookup of the publish path. The algorithm is 30 lines and checked
 * against the paper's test vectors in tests/unit/test_idmap.c. */
#include <string.h>

#include "siphash.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static inline uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

struct siphash_key siphash_key_from_bytes(const uint8_t bytes[16])
{
	return (struct siphash_key){ le64(bytes), le64(bytes + 8) };
}

static inline void round24(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ROTL(v[1], 13);
	v[1] ^= v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = ROTL(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = ROTL(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = ROTL(v[1], 17);
	v[1] ^= v[2];
	v[2] = ROTL(v[2], 32);
}

static inline void compress(uint64_t v[4], uint64_t m)
{
	v[3] ^= m;
	round24(v);
	round24(v);
	v[0] ^= m;
}

uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t v[4] = {
		key->k0 ^ 0x736f6d6570736575ULL,
		key->k1 ^ 0x646f72616e646f6dULL,
		key->k0 ^ 0x6c7967656e657261ULL,
		key->k1 ^ 0x7465646279746573ULL,
	};
	uint8_t tail[8] = { 0 };
	size_t whole = len & ~(size_t)7;

	for (size_t i = 0; i < whole; i += 8)
		compress(v, le64(p + i));
	/* The last block: the remaining bytes, and the length's low byte on top. */
	memcpy(tail, p + whole, len - whole);
	tail[7] = (uint8_t)len;
	compress(v, le64(tail));
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		round24(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}
