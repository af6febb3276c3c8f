/* control.h - the control socket: listening, clients, NDJSON framing and limits, peer
 * credentials, and the request objects op handlers answer through. */
#ifndef RELAYPOOL_CONTROL_H
#define RELAYPOOL_CONTROL_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "proto.h"
#include "util.h"

struct daemon;
struct control;
struct request;

/* Creates the listening socket at the configured path, refusing to take it over from a
 * live daemon (connect first, unlink only a stale socket). fd >= 0 adopts an already
 * listening socket (socket activation) instead. Returns 0 or a negative errno. */
int control_new(struct daemon *d, int fd, struct control **out);
/* Stops accepting, removes the socket file (if we created it and it is still ours). */
void control_stop_listening(struct control *c);
/* Asks every client to close once its queued replies are written; done() runs when the
 * last one is gone. */
void control_drain(struct control *c, void (*done)(struct daemon *d));
void control_free(struct control *c);

/* Counters for status. */
unsigned control_n_clients(const struct control *c);
unsigned long long control_n_requests(const struct control *c);

/* ---- requests, as op handlers see them --------------------------------------------- */

struct request_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

struct daemon *request_daemon(const struct request *r);
const struct request_peer *request_peer(const struct request *r);
/* The request's id as a compact JSON text, for log lines. */
const char *request_id_text(struct request *r);
/* True once the client that sent the request has gone; replies are then dropped. */
bool request_detached(const struct request *r);

/* Final replies: each frees the request. result is stolen (NULL means {}). */
void request_reply(struct request *r, json_t *result);
void request_fail(struct request *r, enum rp_err code, const char *fmt, ...) _printf_(3, 4);
/* request_fail with more members (detail, stolen) merged into the error object. */
void request_fail_detail(struct request *r, enum rp_err code, json_t *detail, const char *fmt, ...) _printf_(4, 5);
/* request_fail with a "reason" member (a finer, stable code) in the error object. */
void request_fail_reason(struct request *r, enum rp_err code, const char *reason, const char *fmt, ...)
	_printf_(4, 5);
/* One item of a streaming reply; item is stolen. End the stream with request_reply_end. */
void request_item(struct request *r, json_t *item);
void request_reply_end(struct request *r, json_t *result);
/* An item whose value is JSON text already (e.g. an event from the cache). */
void request_item_raw(struct request *r, const char *json, size_t len);
/* Bytes queued to the request's client and not yet written (0 once it is gone): streaming
 * ops wait while this is above the client's high-water mark. */
size_t request_backlog(const struct request *r);
bool request_backlog_high(const struct request *r);

#endif
