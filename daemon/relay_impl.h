/* relay_impl.h - the inside of struct relay, for relay.c (which changes it) and
 * relay_view.c (which only reads it). Nothing else includes this header: to every other
 * module a relay is opaque (relay.h). */
#ifndef RELAYPOOL_RELAY_IMPL_H
#define RELAYPOOL_RELAY_IMPL_H

#include <event2/event.h>

#include "config.h"
#include "idmap.h"
#include "job.h"
#include "log.h"
#include "measure.h"
#include "rate.h"
#include "reach.h"
#include "relay.h"
#include "session.h"

struct relay {
	unsigned refs;
	uint64_t serial;
	struct session_env env;
	const struct relay_owner_ops *owner_ops;
	void *owner;

	char *name;
	char *url;
	struct wsurl wsurl;
	bool tls_verify;
	struct pool_opts opts;
	struct session **sessions;
	unsigned n_sessions;

	struct job_places pl;
	struct idmap *jobs; /* id -> job in any place but NEW and DONE */
	unsigned reserved;  /* queue places held for submits to come */
	struct event *delay_timer, *cooldown_timer, *reap_timer, *age_timer;

	struct rate rate; /* max_rate */
	json_t *info;        /* the NIP-11 document, or NULL */
	char info_error[256];
	int64_t info_at;     /* when it was fetched (wall clock), 0: never */
	json_t *limits_cfg;  /* [relay] limits */
	struct relay_limits limits; /* effective */
	uint64_t rate_waits; /* dispatches the bucket held back */
	uint64_t cooldown_until_us;
	unsigned cooldown_step; /* consecutive rate-limited answers */
	bool draining, retired;

	struct reach reach;

	char last_notice[256];
	struct log_limit ll_notice; /* NOTICEs a relay can flood the log with */
	struct relay_counters c;
	struct histogram wait, ok_latency;
	uint64_t completed;
	double ok_ewma_ms;
	unsigned long long cooldowns, quorum_last;
};

#endif
