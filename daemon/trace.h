/* trace.h - a live stream of job life-cycle events for the trace op (queued, dispatched,
 * ok, rejected, timeout, requeued, failed). Nothing is built unless someone listens; a
 * reader that falls behind loses events (counted), never slows the daemon. */
#ifndef RELAYPOOL_TRACE_H
#define RELAYPOOL_TRACE_H

#include <stdbool.h>
#include <stdint.h>

struct pool;
struct relay;
struct session;
struct job;
struct request;

/* Adds a listener (relay: a relay name, or NULL for all). The request stays open. */
int trace_subscribe(struct pool *p, struct request *r, const char *relay);
/* Ends every listener (daemon stopping). */
void trace_stop_all(struct pool *p);

extern unsigned trace_listeners;

/* One event; detail is extra JSON members ("" or ",\"k\":v..."). */
void trace_emit(struct relay *r, const struct session *s, const struct job *j, const char *what, const char *detail);

static inline bool trace_on(void)
{
	return trace_listeners > 0;
}

#define TRACE(r, s, j, what, ...)                                                                  \
	do {                                                                                       \
		if (trace_on()) {                                                                  \
			char trace_detail_[400];                                                   \
			snprintf(trace_detail_, sizeof(trace_detail_), __VA_ARGS__);              \
			trace_emit(r, s, j, what, trace_detail_);                                  \
		}                                                                                  \
	} while (0)

#endif
