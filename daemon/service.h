/* service.h - relaypoold as a systemd service: readiness, status, reload and stop notifications
 * (sd_notify), the watchdog kept alive from the event loop, and the control socket handed
 * over by socket activation.
 *
 * Like the environment it reads (NOTIFY_SOCKET, WATCHDOG_USEC, LISTEN_FDS), its state is per
 * process.
 * Every notification is a no-op when the daemon does not run under systemd. */
#ifndef RELAYPOOL_SERVICE_H
#define RELAYPOOL_SERVICE_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

/* Fills buf with the one-line summary sent as STATUS=, e.g. "4/4 relays up, 8/8 sessions
 * ready, 12 queued, 3 in flight, 0 failing". */
typedef void (*service_status_fn)(void *arg, char *buf, size_t size);

/* The file descriptor name the socket unit gives the control socket (FileDescriptorName=). */
#define SERVICE_CONTROL_FD_NAME "control"

/* The control socket passed by socket activation: *fd gets it, or -1 when none was passed
 * (then the daemon creates its socket itself). Checks that it is a listening AF_UNIX stream
 * socket; returns 0 or a negative errno (already logged) for anything unexpected. */
int service_listen_fd(const char *configured_path, int *fd);

/* READY=1 with the first STATUS=; starts the watchdog (WATCHDOG=1 every WATCHDOG_USEC/2)
 * and the STATUS= refresh (from status) on the event loop. Call once the daemon can serve
 * requests. Returns 0 or a negative errno (already logged). */
int service_ready(struct event_base *base, service_status_fn status, void *arg);
/* RELOADING=1 with MONOTONIC_USEC=, before a reload. */
void service_reloading(void);
/* READY=1 after a reload, whatever its result (r < 0: failed, and STATUS= says so). */
void service_reloaded(int r);
/* STOPPING=1 at the start of a shutdown. */
void service_stopping(void);
/* STATUS= and ERRNO= when the daemon could not start (error is a negative errno). */
void service_failed(int error);
/* Stops the timers; call before the event base is freed. */
void service_free(void);

/* The STATUS= line as it would be sent now. */
void service_status_line(char *buf, size_t size);

#endif
