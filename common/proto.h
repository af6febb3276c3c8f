/* proto.h - the whole wire contract of the relaypoold control socket.
 *
 * Transport: AF_UNIX SOCK_STREAM, newline-delimited JSON, one object per line.
 *   request: {"id": <scalar>, "op": "<op>", ...op fields}
 *   reply:   {"id": ..., "ok": true,  "result": {...}}
 *            {"id": ..., "ok": false, "error": {"code": "<code>", "message": "..."}}
 * Streaming ops send any number of {"id": ..., "ok": true, "item": {...}} lines and
 * finish with one ordinary reply carrying "end": true.
 *
 * Evolution: ops, fields and error codes are only ever appended; every append bumps
 * RP_PROTO_VERSION (1: hello, status, reload; 2: sign, error reasons;
 * 3: publish, relays; 4: query, sync, outbox ops, publish timeout; 5: stats, metrics, trace;
 * 6: hello's "window", a relay's "reachable", status's pool "window", a publish reply's
 * "not_queued"; 7: subscribe, unsubscribe, subscriptions, live stats; 8: relays' "info" (NIP-11), a publish
 * target's "refused", sessions' NIP-42 "auth", status's "sessions_authenticated"; 9: sync's "method",
 * a sync result's "method", "fallback" and "negentropy"). docs/PROTOCOL.md documents every name here for app developers.
 */
#ifndef RELAYPOOL_PROTO_H
#define RELAYPOOL_PROTO_H

#include <stddef.h>

#define RP_PROTO_VERSION 9

#define RP_DEFAULT_SOCKET "/run/relaypool/control.sock"
#define RP_SOCKET_ENV "RELAYPOOL_SOCKET"

/* Request / reply member names. */
#define RP_F_ID "id"
#define RP_F_OP "op"
#define RP_F_OK "ok"
#define RP_F_RESULT "result"
#define RP_F_ERROR "error"
#define RP_F_CODE "code"
#define RP_F_MESSAGE "message"
#define RP_F_ITEM "item"
#define RP_F_END "end"
#define RP_F_REASON "reason" /* in error objects: the finer cause, e.g. an event_err code */

/* Ops. */
#define RP_OP_HELLO "hello"
#define RP_OP_STATUS "status"
#define RP_OP_RELOAD "reload"
#define RP_OP_SIGN "sign" /* protocol 2 */
#define RP_OP_PUBLISH "publish" /* protocol 3 */
#define RP_OP_RELAYS "relays"   /* protocol 3 */
#define RP_OP_QUERY "query"             /* protocol 4 */
#define RP_OP_SYNC "sync"               /* protocol 4 */
#define RP_OP_OUTBOX "outbox"           /* protocol 4 */
#define RP_OP_OUTBOX_RETRY "outbox_retry" /* protocol 4 */
#define RP_OP_OUTBOX_DROP "outbox_drop" /* protocol 4 */
#define RP_OP_STATS "stats"             /* protocol 5 */
#define RP_OP_METRICS "metrics"         /* protocol 5 */
#define RP_OP_TRACE "trace"             /* protocol 5 */
#define RP_OP_SUBSCRIBE "subscribe"     /* protocol 7 */
#define RP_OP_UNSUBSCRIBE "unsubscribe" /* protocol 7 */
#define RP_OP_SUBSCRIPTIONS "subscriptions" /* protocol 7 */

/* Stable error codes. The enum order is internal; the strings are the contract. */
enum rp_err {
	RP_ERR_NONE = 0,
	RP_ERR_INVALID_JSON,      /* the line is not valid JSON (or not valid UTF-8) */
	RP_ERR_NOT_OBJECT,        /* the line is JSON but not an object */
	RP_ERR_INVALID_ID,        /* "id" is present but not a scalar */
	RP_ERR_MISSING_OP,        /* no "op" member */
	RP_ERR_UNKNOWN_OP,        /* "op" names no operation */
	RP_ERR_INVALID_FIELD,     /* a member has the wrong type or an out-of-range value */
	RP_ERR_UNKNOWN_FIELD,     /* a member the op does not define */
	RP_ERR_MISSING_FIELD,     /* a required member is absent */
	RP_ERR_LINE_TOO_LONG,     /* the line exceeds the daemon's limit; the connection is closed */
	RP_ERR_PERMISSION_DENIED, /* the peer (SO_PEERCRED) is not allowed */
	RP_ERR_TOO_MANY_CLIENTS,  /* the daemon serves its maximum of clients; the connection is closed */
	RP_ERR_RELOAD_FAILED,     /* the new configuration was rejected; the old one stays */
	RP_ERR_SHUTTING_DOWN,     /* the daemon is stopping and takes no new work */
	RP_ERR_INTERNAL,          /* a bug or resource exhaustion inside the daemon */
	RP_ERR_INVALID_EVENT,     /* an event or template was refused; "reason" has the event code */
	RP_ERR_NO_KEY,            /* signing asked of a daemon without [daemon] key */
	RP_ERR_UNKNOWN_RELAY,     /* a target names no configured relay */
	RP_ERR_UNKNOWN_GROUP,     /* a target names no configured group */
	RP_ERR_NO_RELAYS,         /* the request has no target relay */
	RP_ERR_QUEUE_FULL,        /* a target relay's queue is full; nothing was queued */
	RP_ERR_QUORUM_FAILED,     /* fewer relays than the quorum accepted the event */
	RP_ERR_SYNC_FAILED,       /* at least one relay could not be synced; its cursor did not move */
	RP_ERR_INVALID_FILTER,    /* a NIP-01 filter is malformed */
	RP_ERR_NOT_FOUND,         /* the outbox row or event named does not exist */
	RP_ERR_TOO_MANY_SUBSCRIPTIONS, /* a target relay holds its maximum of live REQs (protocol 7) */
	RP_ERR_UNKNOWN_SUBSCRIPTION,   /* unsubscribe names no live subscription of this client (protocol 7) */
	RP_ERR_SUBSCRIPTION_CLOSED,    /* every target relay closed the subscription for good (protocol 7) */
	RP_ERR__MAX
};

/* Returns the stable string for an error code ("internal_error" for unknown values). */
const char *rp_err_code(enum rp_err err);
/* Parses a code string; RP_ERR__MAX if unknown. */
enum rp_err rp_err_from_code(const char *code);

/* relaypoolctl exit codes (documented in --help, README and the man page). */
enum rp_exit {
	RP_EXIT_OK = 0,          /* success */
	RP_EXIT_FAILED = 1,      /* the daemon reported failure */
	RP_EXIT_USAGE = 2,       /* usage error */
	RP_EXIT_UNREACHABLE = 3, /* cannot reach the daemon */
};

#endif
