/* publish.h - one publish request: its event, its target relays, the quorum, the reply
 * when the quorum is met (or has become impossible), and the targets that keep going in
 * the background after that. */
#ifndef RELAYPOOL_PUBLISH_H
#define RELAYPOOL_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include "event.h"

struct request;
struct relay;

enum publish_wait {
	PUBLISH_WAIT_OK,     /* reply once the quorum is met or impossible */
	PUBLISH_WAIT_QUEUED, /* reply once the jobs are queued */
};

struct daemon;

/* Starts delivery of a verified ev (taken over: the caller's struct is cleared) to the n
 * relays: cache, outbox rows, jobs. Every relay must have room (checked by the caller).
 * quorum is 1..n. With PUBLISH_WAIT_OK the reply comes at the quorum or after timeout_ms.
 * Always answers r, never before the outbox rows are committed. */
void publish_start(struct daemon *d, struct request *r, struct nostr_event *ev, struct relay **relays, size_t n,
		   unsigned quorum, enum publish_wait wait, uint64_t timeout_ms);

#endif
