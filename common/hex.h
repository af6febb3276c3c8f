/* hex.h - hex strings <-> bytes for keys, ids and signatures. */
#ifndef RELAYPOOL_HEX_H
#define RELAYPOOL_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes hexlen characters (must be even) into hexlen/2 bytes of out. Accepts upper and lower
 * case digits: this is for keys typed or pasted by people. Where the protocol demands lowercase
 * (ids, pubkeys and sigs in NIP-01 events and filters), check with hex_is_lower()
 * first. Returns 0, or -EINVAL (odd length, a non-hex character); on failure out is left
 * untouched for outputs up to 64 bytes (keys, ids, signatures). */
int hex_decode(const char *hex, size_t hexlen, uint8_t *out);

/* Writes 2n lowercase hex digits and a NUL into out (which holds at least 2n+1 bytes). */
void hex_encode(const uint8_t *in, size_t n, char *out);

/* True if s is exactly n lowercase hex digits followed by the end of the string. */
bool hex_is_lower(const char *s, size_t n);

#endif
