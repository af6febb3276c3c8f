/* service.c - relaypoold as a systemd service: READY/RELOADING/STOPPING/STATUS notifications,
 * the watchdog (pinged from a timer on the event loop, so a stuck loop stops the pings and
 * systemd restarts us), and the control socket taken over from socket activation. */
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "service.h"

/* How often STATUS= is recomputed while the loop runs; it is sent only when it changed. */
#define STATUS_REFRESH_SEC 1

static struct {
	service_status_fn status_fn;
	void *status_arg;
	struct event *watchdog;
	struct event *status_timer;
	bool notify_failed; /* logged once, then quiet */
	bool reload_failed; /* STATUS= says so until a reload succeeds */
	bool stopping;
	char status[256]; /* the last STATUS= sent */
} svc;

static void notifyf(const char *fmt, ...) _printf_(1, 2);
static void notifyf(const char *fmt, ...)
{
	char text[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	r = sd_notify(0, text); /* 0 without NOTIFY_SOCKET: not under systemd */
	if (r < 0 && !svc.notify_failed) {
		svc.notify_failed = true;
		log_warn("systemd: cannot notify the service manager: %s, ignoring", strerror(-r));
	}
}

void service_status_line(char *buf, size_t size)
{
	size_t n;

	if (svc.stopping || !svc.status_fn) {
		snprintf(buf, size, "%s", svc.stopping ? "Shutting down" : "Starting");
		return;
	}
	svc.status_fn(svc.status_arg, buf, size);
	n = strlen(buf);
	if (svc.reload_failed)
		snprintf(buf + n, size - n, "; last reload failed, running the previous configuration");
}

/* Sends STATUS= if the summary changed since the last one. */
static void refresh_status(void)
{
	char line[sizeof(svc.status)];

	service_status_line(line, sizeof(line));
	if (streq(line, svc.status))
		return;
	memcpy(svc.status, line, sizeof(line));
	notifyf("STATUS=%s", svc.status);
}

static void on_status_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	refresh_status();
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	notifyf("WATCHDOG=1");
}

static int start_timer(struct event **ev, struct event_base *base, event_callback_fn cb, uint64_t usec)
{
	struct timeval tv = { .tv_sec = (time_t)(usec / 1000000), .tv_usec = (suseconds_t)(usec % 1000000) };

	*ev = event_new(base, -1, EV_PERSIST, cb, NULL);
	if (!*ev || event_add(*ev, &tv) < 0)
		return -ENOMEM;
	return 0;
}

/* WATCHDOG_USEC (for our pid, per WATCHDOG_PID): ping at half the period. */
static int start_watchdog(struct event_base *base)
{
	uint64_t usec = 0;
	int r = sd_watchdog_enabled(0, &usec);

	if (r < 0) {
		log_warn("systemd: invalid WATCHDOG_USEC or WATCHDOG_PID: %s, ignoring", strerror(-r));
		return 0;
	}
	if (r == 0)
		return 0;
	if (start_timer(&svc.watchdog, base, on_watchdog, usec / 2 ? usec / 2 : 1) < 0)
		return log_err("systemd: cannot start the watchdog timer"), -ENOMEM;
	log_info("systemd: watchdog enabled, pinging every %" PRIu64 " ms", usec / 2000);
	return 0;
}

int service_ready(struct event_base *base, service_status_fn status, void *arg)
{
	int r;

	svc.status_fn = status;
	svc.status_arg = arg;
	r = start_watchdog(base);
	if (r < 0)
		return r;
	if (getenv("NOTIFY_SOCKET") &&
	    start_timer(&svc.status_timer, base, on_status_timer, STATUS_REFRESH_SEC * 1000000ull) < 0)
		return log_err("systemd: cannot start the status timer"), -ENOMEM;
	service_status_line(svc.status, sizeof(svc.status));
	notifyf("READY=1\nSTATUS=%s", svc.status);
	return 0;
}

void service_reloading(void)
{
	if (svc.stopping)
		return; /* READY=1 must not follow STOPPING=1 */
	notifyf("RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=Reloading the configuration", clock_now_us());
}

void service_reloaded(int r)
{
	if (svc.stopping)
		return;
	svc.reload_failed = r < 0;
	service_status_line(svc.status, sizeof(svc.status));
	notifyf("READY=1\nSTATUS=%s", svc.status);
}

void service_stopping(void)
{
	svc.stopping = true;
	if (svc.status_timer)
		event_del(svc.status_timer);
	snprintf(svc.status, sizeof(svc.status), "Shutting down");
	notifyf("STOPPING=1\nSTATUS=%s", svc.status);
}

void service_failed(int error)
{
	notifyf("STATUS=Failed to start: %s\nERRNO=%d", strerror(-error), -error);
}

void service_free(void)
{
	if (svc.watchdog)
		event_free(svc.watchdog);
	if (svc.status_timer)
		event_free(svc.status_timer);
	memset(&svc, 0, sizeof(svc));
}

/* ---- socket activation ---------------------------------------------------------------- */

static void log_adopted(int fd, const char *configured_path)
{
	struct sockaddr_un sa = { 0 };
	socklen_t len = sizeof(sa);
	size_t n;

	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || len <= offsetof(struct sockaddr_un, sun_path)) {
		log_info("systemd: using the control socket passed by socket activation");
		return;
	}
	n = len - offsetof(struct sockaddr_un, sun_path);
	if (sa.sun_path[0] == '\0') { /* abstract */
		log_info("systemd: using the control socket @%.*s passed by socket activation", (int)n - 1,
			 sa.sun_path + 1);
		return;
	}
	sa.sun_path[sizeof(sa.sun_path) - 1] = '\0';
	log_info("systemd: using the control socket %s passed by socket activation", sa.sun_path);
	if (configured_path && !streq(configured_path, sa.sun_path))
		log_notice("systemd: [daemon] socket = %s is not used; the socket unit's ListenStream= decides",
			   configured_path);
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

int service_listen_fd(const char *configured_path, int *out)
{
	char **names = NULL;
	int n, fd = -1, r;

	*out = -1;
	n = sd_listen_fds_with_names(1, &names);
	if (n < 0)
		return log_err("systemd: cannot read the sockets passed by socket activation: %s", strerror(-n)), n;
	for (int i = 0; i < n; i++) {
		int cand = SD_LISTEN_FDS_START + i;
		const char *name = names && names[i] ? names[i] : "unknown";

		/* One socket is ours whatever its name; among several, the one named "control". */
		if (fd < 0 && (n == 1 || streq(name, SERVICE_CONTROL_FD_NAME))) {
			fd = cand;
			continue;
		}
		log_warn("systemd: closing passed socket %d named \"%s\": only \"" SERVICE_CONTROL_FD_NAME
			 "\" is used, ignoring",
			 cand, name);
		close(cand);
	}
	strv_free(names);
	if (n > 0 && fd < 0)
		return log_err("systemd: %d sockets passed, none named \"" SERVICE_CONTROL_FD_NAME
			       "\" (FileDescriptorName=)",
			       n),
		       -ENOENT;
	if (fd < 0)
		return 0;
	r = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0);
	if (r <= 0) {
		close(fd);
		if (r < 0)
			return log_err("systemd: cannot check the passed control socket: %s", strerror(-r)), r;
		return log_err("systemd: the passed control socket is not a listening AF_UNIX stream socket"),
		       -ENOTSOCK;
	}
	log_adopted(fd, configured_path);
	*out = fd;
	return 0;
}
