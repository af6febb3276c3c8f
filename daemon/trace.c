/* trace.c - listeners of the trace op and the events they receive. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "request.h"
#include "trace.h"

/* A listener whose unread output passes this loses events until it catches up. */
#define TRACE_MAX_BACKLOG (256 * 1024)

struct tracer {
	struct request *r;
	char relay[80]; /* "" = every relay */
	unsigned long long dropped, sent;
	struct tracer *next;
};

static struct tracer *tracers;
unsigned trace_listeners;

static void remove_tracer(struct tracer **link, const char *why)
{
	struct tracer *t = *link;

	*link = t->next;
	trace_listeners--;
	request_reply_end(t->r, json_pack("{s:s, s:I, s:I}", "ended", why, "sent", (json_int_t)t->sent, "dropped",
					  (json_int_t)t->dropped));
	free(t);
}

int trace_subscribe(struct request *r, const char *relay)
{
	struct tracer *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->r = r;
	snprintf(t->relay, sizeof(t->relay), "%s", relay ? relay : "");
	t->next = tracers;
	tracers = t;
	trace_listeners++;
	return 0;
}

void trace_stop_all(void)
{
	while (tracers)
		remove_tracer(&tracers, "the daemon is stopping");
}

void trace_emit(const char *relay, int session, const uint8_t *id, unsigned attempt, const char *what,
		const char *detail)
{
	char line[1024], hex[65] = "";
	struct timespec ts;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "{\"t\":%lld.%03ld,\"what\":\"%s\",\"relay\":\"%s\"", (long long)ts.tv_sec,
		     ts.tv_nsec / 1000000, what, relay);
	if (session >= 0)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"session\":%d", session);
	if (id) {
		hex_encode(id, 32, hex);
		n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"event_id\":\"%s\",\"attempt\":%u", hex, attempt);
	}
	n += snprintf(line + n, sizeof(line) - (size_t)n, "%s}", detail);
	if (n >= (int)sizeof(line))
		return;
	for (struct tracer **link = &tracers; *link;) {
		struct tracer *t = *link;
		if (request_detached(t->r)) {
			remove_tracer(link, "the client went away");
			continue;
		}
		link = &t->next;
		if (t->relay[0] && strcmp(t->relay, relay) != 0)
			continue;
		if (request_backlog(t->r) > TRACE_MAX_BACKLOG) {
			t->dropped++;
			continue;
		}
		if (t->dropped) {
			char note[96];
			int m = snprintf(note, sizeof(note), "{\"what\":\"dropped\",\"count\":%llu}", t->dropped);
			request_item_raw(t->r, note, (size_t)m);
		}
		request_item_raw(t->r, line, (size_t)n);
		t->sent++;
	}
}
