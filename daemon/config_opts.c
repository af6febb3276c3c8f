/* config_opts.c - see config_opts.h. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config_opts.h"
#include "units.h"


#define POOL_OPT(n, t, mn, mx, d) { #n, t, offsetof(struct pool_opts, n), mn, mx, d }
const struct pool_optdef config_pool_defs[] = {
	POOL_OPT(sessions, OPT_COUNT, 1, 64, 2),
	POOL_OPT(inflight, OPT_COUNT, 1, 4096, 32),
	POOL_OPT(queue, OPT_COUNT, 1, 1000000, 10000),
	POOL_OPT(max_attempts, OPT_COUNT, 1, 100, 3),
	{ "connect_timeout", OPT_DURATION, offsetof(struct pool_opts, connect_timeout_ms), 100, 600000, 10000 },
	{ "publish_timeout", OPT_DURATION, offsetof(struct pool_opts, publish_timeout_ms), 100, 600000, 10000 },
	{ "ping_interval", OPT_DURATION, offsetof(struct pool_opts, ping_interval_ms), 1000, 3600000, 30000 },
	{ "pong_timeout", OPT_DURATION, offsetof(struct pool_opts, pong_timeout_ms), 100, 600000, 10000 },
	{ "backoff_base", OPT_DURATION, offsetof(struct pool_opts, backoff_base_ms), 10, 600000, 1000 },
	{ "backoff_max", OPT_DURATION, offsetof(struct pool_opts, backoff_max_ms), 100, 3600000, 60000 },
	POOL_OPT(max_message, OPT_SIZE, 1024, 256 * 1024 * 1024, 1024 * 1024),
	{ "max_age", OPT_DURATION, offsetof(struct pool_opts, max_age_ms), 1000, 30ULL * 24 * 3600000, 24 * 3600000 },
	{ "sync_overlap", OPT_DURATION, offsetof(struct pool_opts, sync_overlap_ms), 0, 7ULL * 24 * 3600000, 600000 },
	POOL_OPT(max_subscriptions, OPT_COUNT, 1, 1000, 20),
	POOL_OPT(auth, OPT_AUTH, AUTH_AUTO, AUTH_NO, AUTH_AUTO),
	POOL_OPT(max_rate, OPT_COUNT, 0, 1000000, 0),
	POOL_OPT(rate_burst, OPT_COUNT, 1, 1000000, 1),
	POOL_OPT(sync_chunk, OPT_COUNT, 100, 10000000, 100000),
};

uint64_t config_opt_get(const struct pool_opts *o, const struct pool_optdef *d)
{
	const char *base = (const char *)o + d->off;
	if (d->type == OPT_COUNT || d->type == OPT_AUTH)
		return *(const uint32_t *)base;
	return *(const uint64_t *)base;
}

void config_opt_set(struct pool_opts *o, const struct pool_optdef *d, uint64_t v)
{
	char *base = (char *)o + d->off;
	if (d->type == OPT_COUNT || d->type == OPT_AUTH)
		*(uint32_t *)base = (uint32_t)v;
	else
		*(uint64_t *)base = v;
}

static const char *const auth_names[] = { [AUTH_AUTO] = "auto", [AUTH_YES] = "yes", [AUTH_NO] = "no" };

char *config_format_value(enum opt_type t, uint64_t v, char *buf, size_t len)
{
	if (t == OPT_DURATION)
		return units_format_duration_ms(v, buf, len);
	if (t == OPT_SIZE)
		return units_format_size(v, buf, len);
	if (t == OPT_AUTH)
		return snprintf(buf, len, "%s", auth_names[v % 3]), buf;
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

const size_t config_n_pool_defs = sizeof(config_pool_defs) / sizeof(config_pool_defs[0]);

int config_parse_value(enum opt_type t, const char *text, uint64_t *out)
{
	if (t == OPT_AUTH) {
		for (*out = 0; *out < 3 && strcmp(text, auth_names[*out]) != 0; (*out)++)
			;
		return *out < 3 ? 0 : -EINVAL;
	}
	if (t == OPT_COUNT)
		return units_parse_uint(text, out);
	if (t == OPT_DURATION)
		return units_parse_duration_ms(text, out);
	return units_parse_size(text, out);
}
