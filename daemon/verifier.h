/* verifier.h - BIP-340 verification off the event loop. Measured (bench/run d0): with
 * verification on the loop thread the daemon saturated at ~15,000 published events/s,
 * 55 us of CPU per event, 60% of it inside libsecp256k1. A small pool of worker threads
 * verifies while the loop keeps parsing, dispatching and answering. With 0 threads,
 * verification runs inline on the loop (and done() is called before submit returns). */
#ifndef RELAYPOOL_VERIFIER_H
#define RELAYPOOL_VERIFIER_H

#include <event2/event.h>

#include "event.h"

struct verifier;

/* err is NULL when the event is valid. */
typedef void (*verify_done_fn)(void *arg, const struct event_error *err);

/* threads: 0 = inline, otherwise the number of worker threads. */
int verifier_new(struct event_base *base, unsigned threads, struct verifier **out);
/* Joins the workers; jobs not finished yet complete with an error ("shutting down"). */
void verifier_free(struct verifier *v);
/* ev must stay untouched until done() runs (on the loop thread). Returns 0 or -ENOMEM. */
int verifier_submit(struct verifier *v, const struct nostr_event *ev, verify_done_fn done, void *arg);
unsigned verifier_threads(const struct verifier *v);
/* Jobs submitted and not yet completed. */
unsigned long long verifier_pending(const struct verifier *v);

#endif
