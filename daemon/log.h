/* log.h - the daemon's logger: journald when stderr is connected to it, otherwise
 * stderr lines with "<N>" priority prefixes (which journald also understands). */
#ifndef RELAYPOOL_LOG_H
#define RELAYPOOL_LOG_H

#include <syslog.h>

#include "util.h"

void log_init(int level);
void log_set_level(int level);
int log_get_level(void);
/* Returns a syslog priority for "debug", "info", "notice", "warning", "err"; -1 if unknown. */
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);

/* Logs one message; errno is preserved. Returns -1 so callers can "return log_...". */
int log_msg(int prio, const char *fmt, ...) _printf_(2, 3);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)

#endif
