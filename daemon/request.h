/* request.h - one control request as its handler sees it: who asked, its id, and the ways
 * to answer (a final reply, an error, a stream of items and its end). The request reaches
 * its client through the sink the control socket registered, so handlers and the modules
 * they call never see the socket. A request whose client went away is detached: its
 * replies are dropped, and the handler learns it from request_detached(). */
#ifndef RELAYPOOL_REQUEST_H
#define RELAYPOOL_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "proto.h"
#include "util.h"

struct request;
/* A client's open requests (the client keeps the head; request.c the links). */
LIST_HEAD(request_list, request);

struct request_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

/* The client's side, implemented by control.c. */
struct request_sink {
	/* Queues bytes to the client. */
	void (*write)(void *client, const char *data, size_t len);
	/* Bytes queued to the client and not yet written. */
	size_t (*backlog)(void *client);
	/* The client's output high-water mark. */
	size_t (*high_water)(void *client);
	/* A request of the client was answered (and left its list). */
	void (*done)(void *client);
};

/* A request on the client's list; id is referenced, not stolen; ctx is what handlers get
 * from request_ctx(). */
struct request *request_new(const struct request_sink *sink, void *client, struct request_list *list, json_t *id,
			    const struct request_peer *peer, void *ctx);
/* The client went away (or is closing): every request on its list is detached, and their
 * later replies are dropped. */
void request_detach_all(struct request_list *list);

/* fn(arg) runs once when the request's client goes away, for a handler that holds the
 * request open (a subscription) and must end at once rather than on its next write. */
void request_on_detach(struct request *r, void (*fn)(void *arg), void *arg);
/* Both requests came from the same connected client. */
bool request_same_client(const struct request *a, const struct request *b);
/* The request's id as the client sent it (NULL if none). */
const json_t *request_id(const struct request *r);

void *request_ctx(const struct request *r);
const struct request_peer *request_peer(const struct request *r);
/* The request's id as a compact JSON text, for log lines. */
const char *request_id_text(struct request *r);
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
 * ops wait while it is above the client's high-water mark. */
size_t request_backlog(const struct request *r);
bool request_backlog_high(const struct request *r);

/* An error line that belongs to no request object (framing and validation errors). */
json_t *request_error_line(json_t *id, enum rp_err code, const char *message);
/* Appends msg as one compact JSON line to the sink. */
void request_write_line(const struct request_sink *sink, void *client, json_t *msg);

#endif
