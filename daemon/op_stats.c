/* op_stats.c - the measuring ops: stats (JSON), metrics (OpenMetrics text) and trace (a live
 * stream of job events). */
#include <stdlib.h>
#include <stdio.h>

#include "metrics.h"
#include "op_stats.h"
#include "opctx.h"
#include "relay.h"
#include "request.h"
#include "stats.h"
#include "trace.h"

void op_stats(struct request *r, json_t *args)
{
	(void)args;
	request_reply(r, stats_json(opctx_of(r)->stats));
}

void op_metrics(struct request *r, json_t *args)
{
	char *text = metrics_text(opctx_of(r)->metrics);

	(void)args;
	if (!text) {
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		return;
	}
	request_reply(r, json_pack("{s:s, s:s}", "content_type", METRICS_CONTENT_TYPE, "text", text));
	free(text);
}

void op_trace(struct request *r, json_t *args)
{
	json_t *relay = json_object_get(args, "relay");
	char name[80] = "";

	if (relay) {
		struct relay *rel = opctx_relay_or_fail(r, json_string_value(relay));
		if (!rel)
			return;
		snprintf(name, sizeof(name), "%s", relay_name(rel));
		relay_unref(rel);
	}
	if (trace_subscribe(r, relay ? name : NULL) < 0)
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
}
