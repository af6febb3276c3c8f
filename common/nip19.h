/* nip19.h - NIP-19 bare keys and ids (npub, nsec, note): bech32 (BIP-173) strings that carry
 * exactly 32 bytes. The TLV forms (nprofile, nevent, naddr, nrelay) are not handled. */
#ifndef RELAYPOOL_NIP19_H
#define RELAYPOOL_NIP19_H

#include <stddef.h>
#include <stdint.h>

/* Longest bech32 string BIP-173 allows. */
#define NIP19_BECH32_MAX 90
/* Buffer size for an encoded npub/nsec/note: 4 (hrp) + 1 + 52 (data) + 6 (checksum) + NUL. */
#define NIP19_ENCODED_SIZE 64

/* Decodes an npub, nsec or note string (all lowercase or all uppercase) into its 32 bytes and
 * writes its prefix, lowercased, into hrp. Rejects: more than NIP19_BECH32_MAX characters,
 * characters outside 33-126, mixed case, no '1' separator, an invalid data character, a bad
 * bech32 checksum (a bech32m checksum is bad too), a payload that is not exactly 32 bytes,
 * non-zero padding bits, and any other prefix. Returns 0, or -EINVAL leaving hrp and out
 * untouched. */
int nip19_decode(const char *s, char hrp[16], uint8_t out[32]);

/* nip19_decode() that also requires the prefix want_hrp ("npub", "nsec" or "note"). */
int nip19_decode_hrp(const char *s, const char *want_hrp, uint8_t out[32]);

/* Writes the lowercase bech32 string for data under hrp ("npub", "nsec" or "note") and a NUL.
 * Returns 0, -EINVAL for another hrp, or -ENOBUFS if outlen < NIP19_ENCODED_SIZE. */
int nip19_encode(const char *hrp, const uint8_t data[32], char *out, size_t outlen);

/* The generic BIP-173 layer under the above, for tests and later TLV support. Checks length,
 * characters, case, separator and checksum of s, then stores the lowercased prefix in hrp
 * (hrpsize bytes with the NUL) and the 5-bit data values without the checksum in data (at most
 * *datalen of them; *datalen is set to the count). Returns 0, -EINVAL for an invalid string, or
 * -ENOBUFS if hrp or data is too small. Buffers may be partly written on failure. */
int nip19_bech32_decode(const char *s, char *hrp, size_t hrpsize, uint8_t *data, size_t *datalen);

#endif
