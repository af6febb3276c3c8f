/* trace.h - a live stream of job life-cycle events for the trace op (queued, sent, ok,
 * timeout, requeued, failed, ...). Nothing is built unless someone listens; a reader that
 * falls behind loses events (counted), never slows the daemon. Like the log, the trace is
 * one sink for the whole process: the modules that emit know only this header. */
#ifndef RELAYPOOL_TRACE_H
#define RELAYPOOL_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct request;

/* Adds a listener (relay: a relay name, or NULL for all). The request stays open. */
int trace_subscribe(struct request *r, const char *relay);
/* Ends every listener (daemon stopping). */
void trace_stop_all(void);

extern unsigned trace_listeners;

/* One event. session < 0: none; id NULL: no event. detail is extra JSON members ("" or
 * ",\"k\":v..."). */
void trace_emit(const char *relay, int session, const uint8_t *id, unsigned attempt, const char *what,
		const char *detail);

static inline bool trace_on(void)
{
	return trace_listeners > 0;
}

#define TRACE(relay, session, id, attempt, what, ...)                                              \
	do {                                                                                       \
		if (trace_on()) {                                                                  \
			char trace_detail_[400];                                                   \
			snprintf(trace_detail_, sizeof(trace_detail_), __VA_ARGS__);              \
			trace_emit(relay, session, id, attempt, what, trace_detail_);              \
		}                                                                                  \
	} while (0)

#endif
