/* log.h - the daemon's logger: structured journald entries when stderr is connected to the
 * journal, otherwise stderr lines with "<N>" priority prefixes (which journald also parses).
 *
 * Every entry carries MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and CODE_FILE/CODE_LINE/CODE_FUNC.
 * Callers that know which relay, session, event or request a message is about attach it
 * with log_ctx() or the log_relay/log_session/log_request/log_event helpers below, so that
 * "journalctl -u relaypoold RELAY=damus" or "REQUEST_ID=42" finds every line about it. */
#ifndef RELAYPOOL_LOG_H
#define RELAYPOOL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include "util.h"

/* Journal fields a message is about. NULL strings (and has_session false) are left out. */
struct log_fields {
	const char *relay;      /* RELAY=: the relay's configured name */
	unsigned session;       /* SESSION=: the session's index within its relay */
	bool has_session;
	const char *event_id;   /* EVENT_ID=: 64 hex characters */
	const char *request_id; /* REQUEST_ID=: the control request's id as compact JSON */
};

void log_init(int level);
void log_set_level(int level);
int log_get_level(void);
/* Returns a syslog priority for "debug", "info", "notice", "warning", "err"; -1 if unknown. */
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);
/* True when messages go to journald as structured entries (stderr is the journal stream). */
bool log_to_journal(void);

/* Logs one message; errno is preserved. Returns -1 so callers can "return log_...".
 * fields may be NULL. Use the macros, which fill in the source location. */
int log_full(int prio, const struct log_fields *fields, const char *file, int line, const char *func,
	     const char *fmt, ...) _printf_(6, 7);

#define log_msg(prio, ...) log_full(prio, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_ctx(prio, fields, ...) log_full(prio, fields, __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)

/* Messages a peer can trigger (a relay's NOTICEs, malformed messages, invalid events) go
 * through a limit per (source, reason): LOG_LIMIT_BURST lines a minute, then nothing until
 * the minute is over, when the next line is preceded by a count of what was left out. */
#define LOG_LIMIT_BURST 5
struct log_limit {
	uint64_t window_start_us;
	unsigned in_window;
	unsigned long long suppressed;
};
/* True when this line may be logged. *dropped: lines left out in the last window, to be
 * reported with it (0 if none). */
bool log_limit_pass(struct log_limit *l, unsigned long long *dropped);
/* Peer text for a log line: at most max bytes, control characters escaped (\xNN). */
const char *log_clean(const char *in, char *out, size_t max);
/* One peer-triggered line through limit l: "PREFIX" + the formatted text, cleaned, preceded
 * once a window by a count of the lines left out. */
void log_limited_full(struct log_limit *l, int prio, const struct log_fields *fields, const char *prefix,
		      const char *file, int line, const char *func, const char *fmt, ...) _printf_(8, 9);
#define log_limited(l, prio, fields, prefix, ...) \
	log_limited_full(l, prio, fields, prefix, __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Context helpers. The text keeps its usual prefix ("relay NAME session N: ..."), so stderr
 * and "journalctl" read the same; the journal also gets the fields. Arguments other than
 * fmt's are evaluated twice: pass plain expressions (r->name, s->index). */
#define log_relay(prio, relay_, fmt, ...)                                                          \
	log_ctx(prio, (&(const struct log_fields){ .relay = (relay_) }), "relay %s: " fmt, (relay_),  \
		##__VA_ARGS__)
#define log_session(prio, relay_, index_, fmt, ...)                                                \
	log_ctx(prio,                                                                              \
		(&(const struct log_fields){ .relay = (relay_), .session = (index_), .has_session = true }), \
		"relay %s session %u: " fmt, (relay_), (unsigned)(index_), ##__VA_ARGS__)
#define log_request(prio, request_id_, fmt, ...)                                                   \
	log_ctx(prio, (&(const struct log_fields){ .request_id = (request_id_) }),                  \
		"control: request %s: " fmt, (request_id_), ##__VA_ARGS__)
/* About one event (relay may be NULL): "event ID: ..." with EVENT_ID= (and RELAY=). */
#define log_event(prio, relay_, event_id_, fmt, ...)                                               \
	log_ctx(prio, (&(const struct log_fields){ .relay = (relay_), .event_id = (event_id_) }),   \
		"event %s: " fmt, (event_id_), ##__VA_ARGS__)

#endif
