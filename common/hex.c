/* hex.c - hex encoding and decoding, nothing else. */
#include <errno.h>
#include <string.h>

#include "hex.h"

/* Value of each hex digit, -1 for every other byte: one table lookup per character keeps
 * decoding ids, keys and signatures (several per event) off the profile. */
static const signed char hexval[256] = {
	['0'] = 0 + 1, ['1'] = 1 + 1, ['2'] = 2 + 1, ['3'] = 3 + 1, ['4'] = 4 + 1,
	['5'] = 5 + 1, ['6'] = 6 + 1, ['7'] = 7 + 1, ['8'] = 8 + 1, ['9'] = 9 + 1,
	['a'] = 10 + 1, ['b'] = 11 + 1, ['c'] = 12 + 1, ['d'] = 13 + 1, ['e'] = 14 + 1, ['f'] = 15 + 1,
	['A'] = 10 + 1, ['B'] = 11 + 1, ['C'] = 12 + 1, ['D'] = 13 + 1, ['E'] = 14 + 1, ['F'] = 15 + 1,
};

int hex_decode(const char *hex, size_t hexlen, uint8_t *out)
{
	uint8_t tmp[64];
	uint8_t *dst = hexlen / 2 <= sizeof(tmp) ? tmp : out;
	unsigned bad = 0;

	if (hexlen % 2 != 0)
		return -EINVAL;
	/* Decode into a scratch buffer (when it fits) so a failed decode leaves out as it was. */
	for (size_t i = 0; i < hexlen; i += 2) {
		int hi = hexval[(unsigned char)hex[i]] - 1, lo = hexval[(unsigned char)hex[i + 1]] - 1;
		bad |= (unsigned)(hi | lo) >> 31;
		dst[i / 2] = (uint8_t)((unsigned)(hi & 0x0f) << 4 | (unsigned)(lo & 0x0f));
	}
	if (bad) {
		explicit_bzero(tmp, sizeof(tmp));
		return -EINVAL;
	}
	if (dst == tmp) {
		memcpy(out, tmp, hexlen / 2);
		explicit_bzero(tmp, sizeof(tmp));
	}
	return 0;
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

bool hex_is_lower(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!hexval[c] || (c >= 'A' && c <= 'F'))
			return false;
	}
	return s[i] == '\0';
}
