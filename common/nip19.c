/* nip19.c - bech32 (BIP-173) checksum, 5/8-bit regrouping and the three NIP-19 prefixes that
 * carry a bare 32-byte key or id. Small enough to own instead of adding a dependency. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "nip19.h"

/* Every prefix we handle is 4 characters, so every encoded string has the same length. */
#define HRP_LEN 4
#define CHECKSUM_LEN 6
#define DATA_WORDS 52 /* ceil(256 / 5): 32 bytes plus 4 zero padding bits */

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
static const char *const known_hrps[] = { "npub", "nsec", "note" };

static bool hrp_known(const char *hrp)
{
	for (size_t i = 0; i < sizeof(known_hrps) / sizeof(known_hrps[0]); i++)
		if (strcmp(hrp, known_hrps[i]) == 0)
			return true;
	return false;
}

/* One step of the BCH code of BIP-173: shift a 5-bit value into the 30-bit checksum state,
 * folding back the 5 bits that fell off the top with the generator constants. */
static uint32_t polymod_step(uint32_t chk, uint8_t v)
{
	static const uint32_t gen[5] = { 0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3 };
	uint32_t top = chk >> 25;

	chk = ((chk & 0x1ffffff) << 5) ^ v;
	for (int i = 0; i < 5; i++)
		if (top >> i & 1)
			chk ^= gen[i];
	return chk;
}

/* Checksum state after the prefix: high bits of each character, a zero, then the low bits. */
static uint32_t polymod_hrp(const char *hrp, size_t n)
{
	uint32_t chk = 1;

	for (size_t i = 0; i < n; i++)
		chk = polymod_step(chk, (uint8_t)((unsigned char)hrp[i] >> 5));
	chk = polymod_step(chk, 0);
	for (size_t i = 0; i < n; i++)
		chk = polymod_step(chk, (uint8_t)(hrp[i] & 31));
	return chk;
}

static int charset_index(char c)
{
	const char *p;

	if (c >= 'A' && c <= 'Z')
		c = (char)(c - 'A' + 'a');
	p = c ? strchr(charset, c) : NULL;
	return p ? (int)(p - charset) : -1;
}

int nip19_bech32_decode(const char *s, char *hrp, size_t hrpsize, uint8_t *data, size_t *datalen)
{
	bool lower = false, upper = false;
	const char *sep;
	size_t n, hl, words;
	uint32_t chk;

	n = strnlen(s, NIP19_BECH32_MAX + 1);
	if (n > NIP19_BECH32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 33 || c > 126)
			return -EINVAL;
		lower |= c >= 'a' && c <= 'z';
		upper |= c >= 'A' && c <= 'Z';
	}
	if (lower && upper)
		return -EINVAL;
	/* The prefix may itself contain '1' ("11qqq...c8247j" is valid): the last one separates. */
	sep = strrchr(s, '1');
	if (!sep || sep == s || n - (size_t)(sep - s) - 1 < CHECKSUM_LEN)
		return -EINVAL;
	hl = (size_t)(sep - s);
	words = n - hl - 1 - CHECKSUM_LEN;
	if (hl + 1 > hrpsize || words > *datalen)
		return -ENOBUFS;

	/* The checksum is defined over the lowercase form, whichever case the string uses. */
	for (size_t i = 0; i < hl; i++) {
		char c = s[i];
		hrp[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	hrp[hl] = '\0';
	chk = polymod_hrp(hrp, hl);
	for (size_t i = 0; i < words + CHECKSUM_LEN; i++) {
		int v = charset_index(sep[1 + i]);
		if (v < 0)
			return -EINVAL;
		chk = polymod_step(chk, (uint8_t)v);
		if (i < words)
			data[i] = (uint8_t)v;
	}
	/* 1 is bech32's constant; bech32m (BIP-350) uses 0x2bc830a3 and is not what NIP-19 says. */
	if (chk != 1)
		return -EINVAL;
	*datalen = words;
	return 0;
}

/* Regroups exactly DATA_WORDS 5-bit values into 32 bytes. The 4 bits left over must be zero:
 * otherwise two strings would decode to the same key. */
static int words_to_bytes(const uint8_t *w, size_t n, uint8_t out[32])
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	if (n != DATA_WORDS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		acc = acc << 5 | w[i];
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
		acc &= (1u << bits) - 1;
	}
	return acc == 0 ? 0 : -EINVAL;
}

int nip19_decode(const char *s, char hrp[16], uint8_t out[32])
{
	char h[NIP19_BECH32_MAX + 1];
	uint8_t w[NIP19_BECH32_MAX], bytes[32];
	size_t n = sizeof(w);
	int r;

	r = nip19_bech32_decode(s, h, sizeof(h), w, &n);
	if (r == 0)
		r = hrp_known(h) ? words_to_bytes(w, n, bytes) : -EINVAL;
	if (r == 0) {
		memcpy(hrp, h, HRP_LEN + 1);
		memcpy(out, bytes, sizeof(bytes));
	}
	/* An nsec is a secret key: leave no copies on the stack. */
	explicit_bzero(w, sizeof(w));
	explicit_bzero(bytes, sizeof(bytes));
	return r < 0 ? -EINVAL : 0;
}

int nip19_decode_hrp(const char *s, const char *want_hrp, uint8_t out[32])
{
	char hrp[16];
	uint8_t bytes[32];
	int r;

	r = nip19_decode(s, hrp, bytes);
	if (r == 0 && strcmp(hrp, want_hrp) != 0)
		r = -EINVAL;
	if (r == 0)
		memcpy(out, bytes, sizeof(bytes));
	explicit_bzero(bytes, sizeof(bytes));
	return r;
}

int nip19_encode(const char *hrp, const uint8_t data[32], char *out, size_t outlen)
{
	uint8_t w[DATA_WORDS];
	uint32_t acc = 0, chk;
	unsigned bits = 0;
	size_t nw = 0;
	char *p;

	if (!hrp_known(hrp))
		return -EINVAL;
	if (outlen < NIP19_ENCODED_SIZE)
		return -ENOBUFS;
	for (size_t i = 0; i < 32; i++) {
		acc = acc << 8 | data[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			w[nw++] = (uint8_t)(acc >> bits & 31);
		}
		acc &= (1u << bits) - 1;
	}
	w[nw++] = (uint8_t)(acc << (5 - bits)); /* 256 = 51 * 5 + 1: one bit left, 4 zero bits pad */

	chk = polymod_hrp(hrp, HRP_LEN);
	for (size_t i = 0; i < DATA_WORDS; i++)
		chk = polymod_step(chk, w[i]);
	for (int i = 0; i < CHECKSUM_LEN; i++)
		chk = polymod_step(chk, 0);
	chk ^= 1;

	p = out;
	memcpy(p, hrp, HRP_LEN);
	p += HRP_LEN;
	*p++ = '1';
	for (size_t i = 0; i < DATA_WORDS; i++)
		*p++ = charset[w[i]];
	for (int i = 0; i < CHECKSUM_LEN; i++)
		*p++ = charset[chk >> (5 * (CHECKSUM_LEN - 1 - i)) & 31];
	*p = '\0';
	explicit_bzero(w, sizeof(w));
	return 0;
}
