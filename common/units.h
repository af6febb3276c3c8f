/* units.h - parsing and printing of the human units used in config and CLI:
 * durations ("250ms", "30s", "5m", "1h"; a bare number means seconds) and
 * sizes ("512", "64KiB", "1MiB", "2GiB"; a bare number means bytes). */
#ifndef RELAYPOOL_UNITS_H
#define RELAYPOOL_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Both return 0 or -EINVAL (syntax) / -ERANGE (overflow). */
int units_parse_duration_ms(const char *s, uint64_t *out);
int units_parse_size(const char *s, uint64_t *out);
/* Parses a plain non-negative decimal integer without sign, spaces or suffix. */
int units_parse_uint(const char *s, uint64_t *out);

/* Write the shortest exact form into buf; return buf. */
char *units_format_duration_ms(uint64_t ms, char *buf, size_t len);
char *units_format_size(uint64_t bytes, char *buf, size_t len);

#endif
