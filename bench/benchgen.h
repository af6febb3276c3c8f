/* benchgen.h - deterministic signed events for benchmarks: the same (keys, index, created_at)
 * always gives byte-identical JSON, so files and served sets are reproducible. Events are
 * kind 1, no tags, signed with BIP-340 without auxiliary randomness. */
#ifndef RELAYPOOL_BENCHGEN_H
#define RELAYPOOL_BENCHGEN_H

#include <stddef.h>
#include <stdint.h>

#define BENCHGEN_DEFAULT_KEYS 16
#define BENCHGEN_DEFAULT_CREATED_AT 1700000000LL

struct benchgen;

/* nkeys deterministic secret keys: sk_i = SHA-256("relaypool-bench-key:" i). */
struct benchgen *benchgen_new(unsigned nkeys);
void benchgen_free(struct benchgen *g);

/* Event number i: key i % nkeys, the given created_at, content "relaypool bench event <i>"
 * padded with '.' to at least content_len bytes. *json is malloc'd compact JSON
 * (NUL-terminated), id_hex gets the id. Returns 0 or a negative errno. */
int benchgen_event(struct benchgen *g, uint64_t i, int64_t created_at, size_t content_len, char **json,
		   size_t *len, char id_hex[65]);

#endif
