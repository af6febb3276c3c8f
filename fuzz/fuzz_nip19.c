/* fuzz_nip19.c - bech32 / NIP-19 decoding, and encode(decode(x)) round trips. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nip19.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), hrp[16], out[128];
	uint8_t bytes[32], raw[128];
	size_t n = sizeof(raw);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	nip19_bech32_decode(s, hrp, sizeof(hrp), raw, &n);
	if (nip19_decode(s, hrp, bytes) == 0 && nip19_encode(hrp, bytes, out, sizeof(out)) == 0) {
		uint8_t again[32];
		char hrp2[16];
		if (nip19_decode(out, hrp2, again) != 0 || memcmp(again, bytes, 32) != 0)
			abort();
	}
	free(s);
	return 0;
}
