/* testlib.h - what several unit tests need: events signed here with a fixed key (kind 1,
 * created_at 1700000000 + i, the given content), and running a libevent loop until a
 * condition holds. */
#ifndef RELAYPOOL_TESTLIB_H
#define RELAYPOOL_TESTLIB_H

#include <event2/event.h>
#include <stdbool.h>

#include "event.h"

/* Fills ev[0..n) (key: 31 zero bytes then key_byte). 0, or -1 if signing failed. */
int signed_events(struct nostr_event *ev, int n, uint8_t key_byte, const char *content);
void signed_events_clear(struct nostr_event *ev, int n);
/* Runs base in 5 ms slices until cond(arg) holds; false after ms milliseconds. */
bool run_until(struct event_base *base, bool (*cond)(void *), void *arg, unsigned ms);

#endif
