/* log.c - journald or stderr logging, and libevent's own messages routed through it. */
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
static int use_journal;

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
static int stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
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

int log_msg(int prio, const char *fmt, ...)
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
	if (use_journal)
		sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%d", prio, "SYSLOG_IDENTIFIER=relaypoold", NULL);
	else
		fprintf(stderr, "<%d>%s\n", prio, buf);
	errno = saved;
	return -1;
}
