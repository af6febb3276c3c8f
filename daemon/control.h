/* control.h - the control socket: the listening socket and its file, clients with their
 * peer credentials and the allow-list, NDJSON framing with a hard line limit, the output
 * high-water mark, graceful closing, and handing each checked request to its op's handler
 * (requests reach their clients back through request.h's sink). */
#ifndef RELAYPOOL_CONTROL_H
#define RELAYPOOL_CONTROL_H

#include <event2/event.h>
#include <stdbool.h>

struct config_daemon;
struct control;

/* Creates the listening socket at cfg->socket, refusing to take it over from a live daemon
 * (connect first, unlink only a stale socket). fd >= 0 adopts an already listening socket
 * (socket activation) instead. cfg must stay valid until control_configure replaces it.
 * ctx is handed to every request (request_ctx). Returns 0 or a negative errno (logged). */
int control_new(struct event_base *base, const struct config_daemon *cfg, int fd, void *ctx, struct control **out);
/* A reload's settings (limits, allow-lists); the socket itself stays. */
void control_configure(struct control *c, const struct config_daemon *cfg);
/* Stops accepting and refuses new requests; removes the socket file (if we created it and
 * it is still ours). */
void control_stop_listening(struct control *c);
/* Asks every client to close once its queued replies are written; done(arg) runs when the
 * last one is gone. */
void control_drain(struct control *c, void (*done)(void *arg), void *arg);
void control_free(struct control *c);

/* Counters for status. */
unsigned control_n_clients(const struct control *c);
unsigned long long control_n_requests(const struct control *c);

#endif
