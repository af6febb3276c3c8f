/* fake_session.h - a session layer for unit tests of the layers above it (relay, publish):
 * the real session.h interface, backed by nothing, driven by the test. A test makes a
 * session ready, fails its connection, drops it, answers OKs or lets deadlines pass, and
 * the relay hears exactly what a real session would tell it. */
#ifndef RELAYPOOL_FAKE_SESSION_H
#define RELAYPOOL_FAKE_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "session.h"

struct relay;

/* Sessions of a relay, by index. */
struct session *fake_session(const struct relay *r, unsigned i);
void fake_ready(struct session *s);
/* An attempt to connect failed with why. */
void fake_connect_failed(struct session *s, const char *why);
/* A ready session goes down: in-flight events come back (lost), then down(). */
void fake_drop(struct session *s, const char *why);
/* The relay answers OK for id; false if the relay did not know the id. */
bool fake_ok(struct session *s, const uint8_t id[32], bool accepted, const char *msg);
/* The oldest in-flight event's deadline passes (returns false if none is in flight). */
bool fake_timeout_oldest(struct session *s);
/* The id of the i-th oldest in-flight event, or NULL. */
const uint8_t *fake_inflight_id(const struct session *s, unsigned i);
/* Every EVENT ever sent on any fake session. */
extern unsigned fake_sends;

#endif
