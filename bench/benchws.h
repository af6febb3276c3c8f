/* benchws.h - the pieces the bench tools share around WebSocket over libevent: the HTTP/1.1
 * Upgrade head (reading it out of an evbuffer, header lookup, Sec-WebSocket-Accept), a
 * monotonic clock, a cheap PRNG for masks and jitter, and the file-descriptor limit.
 * Nothing here depends on daemon/. */
#ifndef RELAYPOOL_BENCHWS_H
#define RELAYPOOL_BENCHWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* The GUID RFC 6455 appends to Sec-WebSocket-Key before hashing. */
#define BENCHWS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Longest HTTP head (request or response) we accept before giving up on a peer. */
#define BENCHWS_MAX_HEAD 8192

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t benchws_now_ns(void);

/* Raises RLIMIT_NOFILE's soft limit to the hard limit: benchmarks open hundreds of sockets. */
void benchws_raise_nofile(void);

/* xorshift64*: fast, not cryptographic; seeded from getrandom on first use. */
uint64_t benchws_rand(void);

/* base64(SHA-1(key || GUID)) into out (28 characters and a NUL). */
void benchws_accept_key(const char *key, size_t keylen, char out[29]);

/* A fresh random Sec-WebSocket-Key (24 characters and a NUL). */
void benchws_new_key(char out[25]);

/* Looks for the blank line that ends an HTTP head at the start of in. On success copies the
 * head (without the blank line) NUL-terminated into out, drains it from in (leaving any
 * WebSocket frames that followed in the same read) and returns its length. Returns 0 when
 * more bytes are needed, -1 when the head is longer than outsz - 1 (the peer is broken). */
int benchws_take_head(struct evbuffer *in, char *out, size_t outsz);

/* Finds header name (case-insensitive) in a NUL-terminated head and copies its value, with
 * surrounding blanks trimmed, into val. False if absent or longer than vallen - 1. */
bool benchws_header(const char *head, const char *name, char *val, size_t vallen);

/* True if the comma-separated list contains token (case-insensitive), as Connection and
 * Upgrade header values do. */
bool benchws_has_token(const char *list, const char *token);

/* Parses "N" into a port (0-65535). Returns 0 or -EINVAL. */
int benchws_parse_port(const char *s, uint16_t *port);

/* Parses a non-negative decimal integer with an upper bound. Returns 0 or -EINVAL. */
int benchws_parse_u64(const char *s, uint64_t max, uint64_t *out);

#endif
