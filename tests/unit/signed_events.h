/* signed_events.h - events for unit tests, signed here with a fixed key: kind 1, created_at
 * 1700000000 + i, the given content. */
#ifndef RELAYPOOL_SIGNED_EVENTS_H
#define RELAYPOOL_SIGNED_EVENTS_H

#include "event.h"

/* Fills ev[0..n) (key: 31 zero bytes then key_byte). 0, or -1 if signing failed. */
int signed_events(struct nostr_event *ev, int n, uint8_t key_byte, const char *content);
void signed_events_clear(struct nostr_event *ev, int n);

#endif
