/* served.h - fast_relay's --serve event set (deterministic events, ascending created_at) and
 * NIP-01 filter matching over it: since/until/limit/ids/authors/kinds; "#x" tag filters match
 * nothing because these events have no tags. Newest first, as relays answer REQs. */
#ifndef RELAYPOOL_SERVED_H
#define RELAYPOOL_SERVED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct served_event {
	int64_t created_at;
	char id[65], pubkey[65];
	char *json; /* compact event JSON */
	size_t len;
};

struct served_set {
	struct served_event *ev; /* ascending created_at */
	size_t n;
	size_t *by_id; /* indices into ev sorted by id: ids filters are looked up, not scanned */
};

struct served_filter {
	int64_t since, until;
	uint64_t limit;
	json_t *ids, *authors, *kinds; /* borrowed from the REQ */
	bool never;                    /* a tag filter */
};

/* Signs n events (bench/benchgen.c), created_at = first_created_at + i. Returns 0 or -ENOMEM. */
int served_generate(struct served_set *s, uint64_t n, int64_t first_created_at);
void served_free(struct served_set *s);

/* Reads one REQ filter; limit is capped at cap (and is cap when absent). Returns 0, or
 * -EINVAL with a reply-ready "invalid: ..." reason in *why. */
int served_filter_read(json_t *f, uint64_t cap, struct served_filter *out, const char **why);

/* Calls emit for each matching event, newest first, up to the filter's limit. seen (a bitmap
 * of s->n bits, or NULL) skips events already sent for an earlier filter of the same REQ. */
void served_query(const struct served_set *s, const struct served_filter *f, uint8_t *seen,
		  void (*emit)(void *arg, const struct served_event *e), void *arg);

#endif
