/* client.h - relaypoolctl's connection to the daemon: connect, send requests with ids,
 * receive reply lines (pipelined: several requests may be outstanding). */
#ifndef RELAYPOOLCTL_CLIENT_H
#define RELAYPOOLCTL_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct client {
	int fd;
	char *path;
	char *buf; /* received bytes not yet split into lines */
	size_t len, cap;
	char *wbuf; /* pipelined requests not yet written */
	size_t wlen, wcap, woff;
	long long next_id;
};

/* The socket path: explicit, else $RELAYPOOL_SOCKET, else the default. */
const char *client_socket_path(const char *explicit_path);

/* Returns 0, or -errno with a message already printed to stderr. */
int client_connect(struct client *c, const char *path);
void client_close(struct client *c);

/* Sends {"id": <next id>, "op": op, ...fields of args}; args may be NULL and is not
 * stolen. Returns the id used, or -1 (message printed) if the daemon is gone. */
long long client_send(struct client *c, const char *op, json_t *args);

/* Reads one reply line. Returns 1 with *reply set, 0 at EOF, -1 on error (printed). */
int client_recv(struct client *c, json_t **reply);

/* Sends one request and waits for its final reply; items of a streaming reply are passed
 * to on_item (if not NULL) with the whole line they came in. Returns 1 with *reply, or <= 0
 * like client_recv. */
int client_call(struct client *c, const char *op, json_t *args, json_t **reply,
		void (*on_item)(json_t *item, json_t *msg, void *data), void *data);

/* Pipelining: requests are buffered by client_enqueue and written by client_pump, which
 * waits (poll) until the socket can take more or replies arrived. */
long long client_enqueue(struct client *c, const char *op, json_t *args);
/* The same with the caller's id (e.g. an input line number). */
long long client_enqueue_id(struct client *c, long long id, const char *op, json_t *args);
size_t client_pending_output(const struct client *c);
/* Writes what it can and reads what is there, waiting up to timeout_ms. Returns 0, or -1
 * when the connection is lost (message printed). */
int client_pump(struct client *c, int timeout_ms);
/* Takes one complete reply line from what was read. 1 with *reply, 0 if none yet, -1 on a
 * line that is not a JSON object (message printed). */
int client_next_reply(struct client *c, json_t **reply);
/* True once the daemon closed the connection (after client_pump). */
bool client_eof(const struct client *c);

/* True if reply is {"ok": true, ...}. */
bool reply_ok(const json_t *reply);

#endif
