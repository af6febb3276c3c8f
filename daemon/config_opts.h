/* config_opts.h - the [pool] options (overridable per relay): struct pool_opts, their table
 * (name, type, range, default), and their values as written in the file. */
#ifndef RELAYPOOL_CONFIG_OPTS_H
#define RELAYPOOL_CONFIG_OPTS_H

#include <stddef.h>
#include <stdint.h>

/* Pool defaults in [pool], overridable per relay in [relay NAME]. */
struct pool_opts {
	uint32_t sessions;           /* persistent sessions per relay */
	uint32_t inflight;           /* in-flight window per session */
	uint32_t queue;              /* bound of the relay's job queue */
	uint32_t max_attempts;       /* publish attempts before a job fails */
	uint64_t connect_timeout_ms; /* TCP + TLS + WebSocket upgrade */
	uint64_t publish_timeout_ms; /* EVENT -> OK */
	uint64_t ping_interval_ms;   /* idle time before a WebSocket ping */
	uint64_t pong_timeout_ms;    /* ping -> pong before the session is recycled */
	uint64_t backoff_base_ms;    /* first reconnect delay (full jitter) */
	uint64_t backoff_max_ms;     /* reconnect delay cap */
	uint64_t max_message;        /* largest message accepted from the relay, bytes */
	uint64_t max_age_ms;         /* an undelivered event expires this long after its publish */
	uint64_t sync_overlap_ms;    /* a sync, or a live REQ re-sent after a reconnect, starts this far back */
	uint32_t max_subscriptions;  /* REQs open at once on one session (NIP-11 limitation.max_subscriptions) */
	uint32_t auth;               /* NIP-42: enum auth_mode */
	uint32_t max_rate;           /* publishing: events a second at most (token bucket); 0 = no limit */
	uint32_t rate_burst;         /* ... and at most this many at once */
	uint32_t sync_chunk;         /* NIP-77: the cache's keys compared per NEG-OPEN (40 bytes each in memory) */
};

/* The [pool] options: name, value type, place in struct pool_opts, range and default. */
enum opt_type { OPT_COUNT, OPT_DURATION, OPT_SIZE, OPT_AUTH };
/* NIP-42 AUTH: answer challenges when [daemon] key is set (auto), require the key (yes), never. */
enum auth_mode { AUTH_AUTO, AUTH_YES, AUTH_NO };
struct pool_optdef {
	const char *name;
	enum opt_type type;
	size_t off;
	uint64_t min, max, dflt;
};
extern const struct pool_optdef config_pool_defs[];
extern const size_t config_n_pool_defs;
uint64_t config_opt_get(const struct pool_opts *o, const struct pool_optdef *d);
/* A value as written in the file: "30s", "1MiB", "32". */
char *config_format_value(enum opt_type t, uint64_t v, char *buf, size_t len);
void config_opt_set(struct pool_opts *o, const struct pool_optdef *d, uint64_t v);
/* Parses a value of type t ("30s", "1MiB", "32", "auto"): 0 or -EINVAL / -ERANGE. */
int config_parse_value(enum opt_type t, const char *text, uint64_t *out);

#endif
