/* cmd_stats.c - the measuring commands: stats (a table, or --watch), metrics (OpenMetrics
 * text) and trace (a live stream of job events). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}


static int run_stats(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "watch", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double every = 0;
	char *end;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+w:h", opts, NULL)) != -1) {
		if (c == 'h') {
			ctl_command_help(&cmd_stats, stdout);
			return RP_EXIT_OK;
		}
		if (c != 'w' || (every = strtod(optarg, &end), *end || every < 0.1)) {
			fprintf(stderr, "relaypoolctl stats: %s\n", c == 'w' ? "--watch expects seconds (>= 0.1)" : "bad option");
			ctl_command_help(&cmd_stats, stderr);
			return RP_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		ctl_command_help(&cmd_stats, stderr);
		return RP_EXIT_USAGE;
	}
	r = ctl_connect(ctl);
	if (r != RP_EXIT_OK)
		return r;
	for (;;) {
		json_t *reply = NULL;
		if (client_call(&ctl->client, RP_OP_STATS, NULL, &reply, NULL, NULL) <= 0)
			return RP_EXIT_UNREACHABLE;
		if (!reply_ok(reply)) {
			ctl->out->error(reply);
			json_decref(reply);
			return RP_EXIT_FAILED;
		}
		if (ctl->json) {
			output_json_line(reply);
		} else {
			if (every > 0 && isatty(STDOUT_FILENO))
				printf("\033[H\033[J");
			ctl->out->stats(reply);
		}
		json_decref(reply);
		fflush(stdout);
		if (every <= 0)
			return RP_EXIT_OK;
		struct timespec ts = { .tv_sec = (time_t)every, .tv_nsec = (long)((every - (double)(time_t)every) * 1e9) };
		nanosleep(&ts, NULL);
		if (!ctl->json && !isatty(STDOUT_FILENO))
			printf("\n");
	}
}

static void print_metrics(const json_t *reply)
{
	fputs(json_string_value(json_object_get(json_object_get(reply, RP_F_RESULT), "text")), stdout);
}

static int run_metrics(struct ctl *ctl, int argc, char **argv)
{
	int r = ctl_no_options(&cmd_metrics, argc, argv);
	return r >= 0 ? r : ctl_simple(ctl, RP_OP_METRICS, NULL, ctl->json ? output_json_line_reply : print_metrics);
}

static void trace_item(json_t *item, json_t *msg, void *data)
{
	struct ctl *ctl = data;

	if (ctl->json)
		output_json_line(msg);
	else
		ctl->out->trace_item(item);
	fflush(stdout);
}

static int run_trace(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "relay", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *args = json_object(), *reply = NULL;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+r:h", opts, NULL)) != -1) {
		if (c == 'h') {
			ctl_command_help(&cmd_trace, stdout);
			json_decref(args);
			return RP_EXIT_OK;
		}
		if (c != 'r') {
			ctl_command_help(&cmd_trace, stderr);
			json_decref(args);
			return RP_EXIT_USAGE;
		}
		json_object_set_new(args, "relay", json_string(optarg));
	}
	if (optind < argc) {
		ctl_command_help(&cmd_trace, stderr);
		json_decref(args);
		return RP_EXIT_USAGE;
	}
	r = ctl_connect(ctl);
	if (r != RP_EXIT_OK) {
		json_decref(args);
		return r;
	}
	/* Runs until interrupted or the daemon ends the stream. */
	r = client_call(&ctl->client, RP_OP_TRACE, args, &reply, trace_item, ctl);
	json_decref(args);
	if (r <= 0)
		return RP_EXIT_UNREACHABLE;
	if (!reply_ok(reply)) {
		ctl->out->error(reply);
		r = RP_EXIT_FAILED;
	} else {
		if (ctl->json)
			output_json_line(reply);
		else
			fprintf(stderr, "trace ended: %s\n", str(json_object_get(reply, RP_F_RESULT), "ended"));
		r = RP_EXIT_OK;
	}
	json_decref(reply);
	return r;
}

const struct command cmd_stats = {
	"stats", run_stats, "[--watch SECONDS]", "the pool's real parallelism, latencies, and what limits it",
	"Shows what the daemon measures about itself: per relay and session the effective\n"
	"parallelism (the time-average of jobs in flight, Little's law) next to the configured\n"
	"sessions x window, throughput, queue wait and OK latency percentiles, busy ratios, and\n"
	"counters; pool-wide figures over 10 s, 60 s and since start, and the event loop's lag.\n"
	"The contention report says why work waits while parallelism stays far below (or at)\n"
	"what is configured: sessions down, rate-limited relays, a window of 1, a slow relay that\n"
	"holds a quorum, a saturated event loop.\n"
	"\n"
	"  -w, --watch SECONDS   repeat every SECONDS (Ctrl-C to stop)\n",
};

const struct command cmd_metrics = {
	"metrics", run_metrics, "", "OpenMetrics / Prometheus text for a scraper",
	"Prints the daemon's metrics in the OpenMetrics text format (counters, gauges and\n"
	"histograms with relay and session labels), e.g. for node_exporter's textfile collector:\n"
	"  relaypoolctl metrics > /var/lib/node_exporter/relaypool.prom\n"
	"[daemon] metrics_listen = 127.0.0.1:9464 serves the same on http://HOST:PORT/metrics.\n",
};

const struct command cmd_trace = {
	"trace", run_trace, "[--relay R]", "a live stream of publish life-cycle events",
	"Streams what happens to each publish job: queued, sent (to which session, after how\n"
	"long in the queue), ok (accepted or refused, latency), timeout, requeued, failed,\n"
	"expired, abandoned. Runs until interrupted. A reader that falls behind loses events\n"
	"(a \"dropped\" line counts them); it never slows the daemon.\n"
	"\n"
	"  -r, --relay R   only this relay's events\n",
};
