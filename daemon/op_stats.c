/* op_stats.c - the measuring ops: stats (JSON), metrics (OpenMetrics text) and trace (a live
 * stream of job events); and the optional HTTP listener that serves the metrics. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <string.h>

#include "config.h"
#include "control.h"
#include "daemon.h"
#include "log.h"
#include "ops.h"
#include "pool.h"
#include "relay.h"
#include "stats.h"
#include "trace.h"

void op_stats(struct request *r, json_t *args)
{
	(void)args;
	request_reply(r, stats_json(request_daemon(r)->pool));
}

void op_metrics(struct request *r, json_t *args)
{
	char *text = stats_metrics(request_daemon(r)->pool);

	(void)args;
	if (!text) {
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		return;
	}
	request_reply(r, json_pack("{s:s, s:s}", "content_type", "application/openmetrics-text; version=1.0.0; charset=utf-8",
				   "text", text));
	free(text);
}

void op_trace(struct request *r, json_t *args)
{
	struct daemon *d = request_daemon(r);
	json_t *relay = json_object_get(args, "relay");
	const char *name = NULL;

	if (relay) {
		struct relay *rel = ops_relay_or_fail(r, json_string_value(relay));
		if (!rel)
			return;
		name = rel->name;
	}
	if (trace_subscribe(d->pool, r, name) < 0)
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
}

/* ---- the metrics HTTP listener ------------------------------------------------------------ */

static void metrics_http(struct evhttp_request *req, void *arg)
{
	struct daemon *d = arg;
	struct evbuffer *body;
	char *text;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	text = stats_metrics(d->pool);
	body = evbuffer_new();
	if (!text || !body) {
		free(text);
		if (body)
			evbuffer_free(body);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(body, text, strlen(text));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/openmetrics-text; version=1.0.0; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
	free(text);
}

int metrics_listen(struct daemon *d)
{
	const struct config_daemon *c = &d->config->daemon;
	struct evhttp *http;

	if (!c->metrics_host)
		return 0;
	http = evhttp_new(d->base);
	if (!http)
		return -ENOMEM;
	evhttp_set_cb(http, "/metrics", metrics_http, d);
	if (evhttp_bind_socket(http, c->metrics_host, c->metrics_port) < 0) {
		evhttp_free(http);
		return log_err("metrics: cannot listen on %s port %u: %m", c->metrics_host, c->metrics_port), -EADDRINUSE;
	}
	d->metrics_http = http;
	log_info("metrics: serving http://%s:%u/metrics", c->metrics_host, c->metrics_port);
	return 0;
}

void metrics_close(struct daemon *d)
{
	if (d->metrics_http)
		evhttp_free(d->metrics_http);
	d->metrics_http = NULL;
}
