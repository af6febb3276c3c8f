/* output.h - relaypoolctl's renderers: one table of functions with a human (text) and a
 * machine (--json: the daemon's reply lines verbatim) implementation. */
#ifndef RELAYPOOLCTL_OUTPUT_H
#define RELAYPOOLCTL_OUTPUT_H

#include <jansson.h>

struct output {
	/* A failed reply ({"ok": false, "error": ...}). */
	void (*error)(const json_t *reply);
	void (*status)(const json_t *reply);
	void (*reload)(const json_t *reply);
	void (*version)(const char *ctl_version, const json_t *reply);
	void (*relays)(const json_t *reply);
	/* One publish reply: the event's input line number is its request id. */
	void (*publish)(const json_t *reply, size_t line);
	/* sync's per-relay table (a failed sync's error carries it too) */
	void (*sync)(const json_t *reply);
	/* outbox rows; outbox retry/drop's count (the reply's result has "verb" added) */
	void (*outbox)(const json_t *reply);
	void (*outbox_changed)(const json_t *reply);
	void (*stats)(const json_t *reply);
	/* one item of the trace stream */
	void (*trace_item)(const json_t *item);
	void (*subscriptions)(const json_t *reply);
	/* verify: one line's result, {"line", "ok": true, "id"} or {"line", "ok": false, "reason",
	 * "message"} (what --json prints) */
	void (*verify)(const json_t *result);
};

extern const struct output output_text;
extern const struct output output_json;
/* -q: the text renderers, less what only reports success (reload's summary, a publish's
 * "ok" lines, sync's table, outbox retry/drop's count); what was asked for (status, relays,
 * version, outbox rows, stats, trace) and every failure still show. */
extern const struct output output_quiet;

/* Prints one JSON value as a single compact line on stdout. */
void output_json_line(const json_t *v);
/* output_json_line with the const-reply signature renderers use. */
void output_json_line_reply(const json_t *reply);
/* "3d4h", "12m5s", "42s" */
char *output_duration(double seconds, char *buf, size_t len);

#endif
