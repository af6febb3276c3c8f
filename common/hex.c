/* hex.c - hex encoding and decoding, nothing else. */
#include <errno.h>

#include "hex.h"

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *hex, size_t hexlen, uint8_t *out)
{
	size_t i;

	if (hexlen % 2 != 0)
		return -EINVAL;
	/* Check everything before writing anything, so a failed decode leaves out as it was. */
	for (i = 0; i < hexlen; i++)
		if (nibble(hex[i]) < 0)
			return -EINVAL;
	for (i = 0; i < hexlen; i += 2)
		out[i / 2] = (uint8_t)(nibble(hex[i]) << 4 | nibble(hex[i + 1]));
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
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[i] == '\0';
}
