/* log.c - structured journald entries or "<N>"-prefixed stderr lines, chosen once at
 * startup, and libevent's own messages routed through the same logger. */
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
/* CODE_FILE/CODE_LINE/CODE_FUNC are the caller's, passed in, not this file's. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "clock.h"
#include "log.h"

static int max_level = LOG_INFO;
static bool use_journal;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

int log_level_from_string(const char *s)
{
	for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (streq(s, level_names[i]))
			return i;
	if (streq(s, "error"))
		return LOG_ERR;
	if (streq(s, "warn"))
		return LOG_WARNING;
	return -1;
}

const char *log_level_to_string(int level)
{
	if (level < 0 || level > LOG_DEBUG)
		return "info";
	return level_names[level];
}

/* True when stderr is the stream journald gave us (JOURNAL_STREAM=dev:ino). Without
 * journald, sd_journal_print silently drops messages, so we check instead of assuming. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

static void libevent_log(int severity, const char *msg)
{
	int prio = severity == EVENT_LOG_DEBUG ? LOG_DEBUG
		   : severity == EVENT_LOG_MSG ? LOG_INFO
		   : severity == EVENT_LOG_WARN ? LOG_WARNING
					       : LOG_ERR;
	log_msg(prio, "libevent: %s", msg);
}

void log_init(int level)
{
	max_level = level;
	use_journal = stderr_is_journal();
	event_set_log_callback(libevent_log);
}

void log_set_level(int level)
{
	max_level = level;
}

int log_get_level(void)
{
	return max_level;
}

bool log_to_journal(void)
{
	return use_journal;
}

/* Each journal field is "NAME=value" in its own buffer; sd_journal_sendv encodes values
 * with newlines in them (binary-safe) by itself. */
#define FIELD_MAX 10

struct journal_entry {
	struct iovec iov[FIELD_MAX];
	int n;
	char prio[16], line[32], session[32];
};

static void field(struct journal_entry *e, const char *text)
{
	if (e->n < FIELD_MAX)
		e->iov[e->n++] = (struct iovec){ .iov_base = (void *)text, .iov_len = strlen(text) };
}

/* A field whose value is a caller's string: its own allocation, freed by the caller. */
static char *field_dup(struct journal_entry *e, const char *name, const char *value)
{
	char *text = NULL;

	if (!value || asprintf(&text, "%s=%s", name, value) < 0)
		return NULL;
	field(e, text);
	return text;
}

static int journal_send(int prio, const struct log_fields *f, const char *file, int line, const char *func,
			const char *msg)
{
	struct journal_entry e = { .n = 0 };
	_cleanup_free_ char *m = NULL, *code_file = NULL, *code_func = NULL;
	_cleanup_free_ char *relay = NULL, *event_id = NULL, *request_id = NULL;

	m = field_dup(&e, "MESSAGE", msg);
	snprintf(e.prio, sizeof(e.prio), "PRIORITY=%d", prio);
	field(&e, e.prio);
	field(&e, "SYSLOG_IDENTIFIER=relaypoold");
	code_file = field_dup(&e, "CODE_FILE", file);
	snprintf(e.line, sizeof(e.line), "CODE_LINE=%d", line);
	field(&e, e.line);
	code_func = field_dup(&e, "CODE_FUNC", func);
	if (f) {
		relay = field_dup(&e, "RELAY", f->relay);
		if (f->has_session) {
			snprintf(e.session, sizeof(e.session), "SESSION=%u", f->session);
			field(&e, e.session);
		}
		event_id = field_dup(&e, "EVENT_ID", f->event_id);
		request_id = field_dup(&e, "REQUEST_ID", f->request_id);
	}
	if (!m)
		return -ENOMEM;
	return sd_journal_sendv(e.iov, e.n);
}

int log_full(int prio, const struct log_fields *f, const char *file, int line, const char *func, const char *fmt,
	     ...)
{
	int saved = errno;
	char buf[4096];
	va_list ap;

	if (prio > max_level) {
		errno = saved;
		return -1;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* If the journal socket went away, the message still goes somewhere. */
	if (!use_journal || journal_send(prio, f, file, line, func, buf) < 0)
		fprintf(stderr, "<%d>%s\n", prio, buf);
	errno = saved;
	return -1;
}

bool log_limit_pass(struct log_limit *l, unsigned long long *dropped)
{
	uint64_t now = clock_now_us();

	*dropped = 0;
	if (!l->window_start_us || now - l->window_start_us >= 60 * 1000000ULL) {
		*dropped = l->suppressed;
		l->window_start_us = now;
		l->in_window = 0;
		l->suppressed = 0;
	}
	if (l->in_window >= LOG_LIMIT_BURST) {
		l->suppressed++;
		return false;
	}
	l->in_window++;
	return true;
}

const char *log_clean(const char *in, char *out, size_t max)
{
	size_t o = 0;

	for (; *in && o + 5 < max; in++) {
		unsigned char c = (unsigned char)*in;
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, max - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (*in && o + 4 <= max) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o < max ? o : max - 1] = '\0';
	return out;
}

void log_limited_full(struct log_limit *l, int prio, const struct log_fields *fields, const char *prefix,
		      const char *file, int line, const char *func, const char *fmt, ...)
{
	unsigned long long dropped;
	char msg[400], clean[420];
	va_list ap;

	if (!log_limit_pass(l, &dropped))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (dropped)
		log_full(prio, fields, file, line, func, "%s... and %llu more like this in the last minute", prefix, dropped);
	log_full(prio, fields, file, line, func, "%s%s", prefix, log_clean(msg, clean, sizeof(clean)));
}
