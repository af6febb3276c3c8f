/* cmd_live.c - live subscriptions: subscribe (events as they reach any target relay,
 * after the matching cached ones) and subscriptions (the relay REQs the daemon holds for
 * local subscribers). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "output.h"
#include "units.h"

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static int usage(const struct command *cmd, const char *msg)
{
	fprintf(stderr, "relaypoolctl %s: %s\n", cmd->name, msg);
	ctl_command_help(cmd, stderr);
	return RP_EXIT_USAGE;
}

/* --since: a Unix time, or a duration ("90s", "2h") meaning that long ago. */
static int parse_since(const char *arg, long long *out)
{
	uint64_t v;

	if (units_parse_uint(arg, &v) == 0 && v >= 1000000000ULL) {
		*out = (long long)v;
		return 0;
	}
	if (units_parse_duration_ms(arg, &v) < 0 || v / 1000 > (uint64_t)time(NULL))
		return -EINVAL;
	*out = (long long)time(NULL) - (long long)(v / 1000);
	return 0;
}

/* One line of the daemon's stream, as the user asked to see it. */
static void show(struct ctl *ctl, json_t *msg, json_t *item)
{
	json_t *v;

	if (ctl->json) {
		output_json_line(msg);
		fflush(stdout);
		return;
	}
	if ((v = json_object_get(item, "event"))) {
		output_json_line(v);
		fflush(stdout);
	} else if ((v = json_object_get(item, "eose"))) {
		size_t i;
		json_t *rel;
		if (!isatty(STDERR_FILENO) || ctl->quiet)
			return;
		fprintf(stderr, "-- stored events end here (%lld from the cache)", (long long)json_integer_value(json_object_get(v, "cached")));
		json_array_foreach(json_object_get(v, "relays"), i, rel)
			if (strcmp(json_string_value(json_object_get(rel, "state")), "eose") != 0)
				fprintf(stderr, "; %s: %s %s", json_string_value(json_object_get(rel, "relay")),
					json_string_value(json_object_get(rel, "state")),
					json_string_value(json_object_get(rel, "error")) ? json_string_value(json_object_get(rel, "error")) : "");
		fprintf(stderr, "\n");
	} else if ((v = json_object_get(item, "closed"))) {
		fprintf(stderr, "relaypoolctl subscribe: relay %s closed the subscription: %s\n",
			json_string_value(json_object_get(v, "relay")), json_string_value(json_object_get(v, "message")));
	} else if ((v = json_object_get(item, "dropped"))) {
		fprintf(stderr, "relaypoolctl subscribe: %lld events dropped (this reader fell behind)\n",
			(long long)json_integer_value(v));
	}
}

static int stream(struct ctl *ctl, json_t *args)
{
	struct client *c = &ctl->client;
	struct sigaction sa = { .sa_handler = on_stop_signal };
	long long id, unsub = -1;
	json_t *reply;
	int r, code = -1;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: poll returns at once */
	sigaction(SIGTERM, &sa, NULL);
	id = client_enqueue(c, RP_OP_SUBSCRIBE, args);
	while (code < 0) {
		if (stop_signal && unsub < 0) {
			json_t *u = json_pack("{s:I}", "subscription", (json_int_t)id);
			unsub = client_enqueue(c, RP_OP_UNSUBSCRIBE, u);
			json_decref(u);
		}
		if (client_pump(c, 1000) < 0)
			return RP_EXIT_UNREACHABLE;
		while ((r = client_next_reply(c, &reply)) == 1) {
			json_t *item = json_object_get(reply, RP_F_ITEM);
			long long rid = json_integer_value(json_object_get(reply, RP_F_ID));
			if (rid == id && item) {
				show(ctl, reply, item);
			} else if (rid == id) {
				if (ctl->json)
					output_json_line(reply);
				else if (!reply_ok(reply))
					ctl->out->error(reply);
				/* Ended by our unsubscribe (a signal) or by --until-eose: success. */
				code = reply_ok(reply) ? RP_EXIT_OK : RP_EXIT_FAILED;
			} else if (rid == unsub && !reply_ok(reply)) {
				ctl->out->error(reply);
			}
			json_decref(reply);
		}
		if (r < 0)
			return RP_EXIT_FAILED;
		if (code < 0 && client_eof(c)) {
			fprintf(stderr, "relaypoolctl subscribe: the daemon closed the connection\n");
			return RP_EXIT_UNREACHABLE;
		}
	}
	return code;
}

static int run_subscribe(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "relay", required_argument, NULL, 'r' },
		{ "group", required_argument, NULL, 'g' },
		{ "since", required_argument, NULL, 's' },
		{ "no-cache", no_argument, NULL, 'n' },
		{ "until-eose", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *args = json_object(), *relays = json_array(), *filters = NULL, *f;
	long long since = -1;
	size_t i;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "r:g:s:neh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			json_array_append_new(relays, json_string(optarg));
			break;
		case 'g':
			json_object_set_new(args, "group", json_string(optarg));
			break;
		case 's':
			if (parse_since(optarg, &since) < 0) {
				json_decref(args), json_decref(relays);
				return usage(&cmd_subscribe, "--since expects a Unix time or a duration (e.g. 1h) back from now");
			}
			break;
		case 'n':
			json_object_set_new(args, "cache", json_false());
			break;
		case 'e':
			json_object_set_new(args, "live", json_false());
			break;
		case 'h':
			json_decref(args), json_decref(relays);
			ctl_command_help(&cmd_subscribe, stdout);
			return RP_EXIT_OK;
		default:
			json_decref(args), json_decref(relays);
			return usage(&cmd_subscribe, "unknown option");
		}
	}
	if (argc - optind > 1 || (argc - optind == 0 && !json_object_get(args, "group"))) {
		json_decref(args), json_decref(relays);
		return usage(&cmd_subscribe, "expects one filter (JSON object or array), or --group alone for the group's filter");
	}
	if (argc - optind == 1) {
		filters = ctl_parse_filters("subscribe", argv[optind]);
		if (!filters) {
			json_decref(args), json_decref(relays);
			return RP_EXIT_USAGE;
		}
	}
	if (since >= 0) {
		if (!filters) {
			json_decref(args), json_decref(relays);
			return usage(&cmd_subscribe, "--since needs a filter to apply to");
		}
		json_array_foreach(filters, i, f)
			if (json_is_object(f))
				json_object_set_new(f, "since", json_integer(since));
	}
	if (filters)
		json_object_set_new(args, "filters", filters);
	if (json_array_size(relays))
		json_object_set_new(args, "relays", relays);
	else
		json_decref(relays);
	r = ctl_connect(ctl);
	if (r == RP_EXIT_OK)
		r = stream(ctl, args);
	json_decref(args);
	return r;
}

/* ---- subscriptions ------------------------------------------------------------------------ */


static int run_subscriptions(struct ctl *ctl, int argc, char **argv)
{
	json_t *reply = NULL;
	int r = ctl_no_options(&cmd_subscriptions, argc, argv);

	if (r >= 0)
		return r; /* --help, or a usage error */
	r = ctl_connect(ctl);
	if (r != RP_EXIT_OK)
		return r;
	if (client_call(&ctl->client, RP_OP_SUBSCRIPTIONS, NULL, &reply, NULL, NULL) <= 0)
		return RP_EXIT_UNREACHABLE;
	if (!reply_ok(reply)) {
		ctl->out->error(reply);
		r = RP_EXIT_FAILED;
	} else {
		ctl->out->subscriptions(reply);
	}
	json_decref(reply);
	return r;
}

const struct command cmd_subscribe = {
	"subscribe", run_subscribe, "FILTER [--relay R]... [--group G] [--since T] [--no-cache] [--until-eose]",
	"events matching FILTER as they reach any target relay, after the cached ones",
	"Prints one event (JSON) per line: first the matching events in the local cache, then\n"
	"those the target relays send (their stored events, then new ones as they are published),\n"
	"each event id once. The daemon shares one relay REQ among every local subscriber with\n"
	"the same filters, re-sends it after a reconnect from where it left off, verifies and\n"
	"caches every event. Runs until interrupted (SIGINT/SIGTERM unsubscribe and exit 0).\n"
	"Notes go to stderr: where the stored events end (on a terminal), a relay that closed the\n"
	"subscription, events dropped because this reader fell behind.\n"
	"\n"
	"  FILTER              a NIP-01 filter object or an array of them (npub/note accepted)\n"
	"  -r, --relay R       a target relay (name or URL); repeatable; default every relay\n"
	"  -g, --group G       the group's relays; without FILTER, the group's own filter\n"
	"  -s, --since T       only events from T on: a Unix time, or a duration back from now (1h)\n"
	"  -n, --no-cache      do not replay the cache first\n"
	"  -e, --until-eose    exit 0 once the stored events are printed (like nak req)\n"
	"  --json              print the daemon's lines as they come (events, eose, closed, dropped)\n",
};

const struct command cmd_subscriptions = {
	"subscriptions", run_subscriptions, "", "the relay REQs held for local subscribers",
	"Lists the relay subscriptions (REQs) the daemon holds for live subscribers: relay, REQ id,\n"
	"state (waiting, eose, failed), the session carrying it, how many local subscribers share\n"
	"it, events in, delivered and duplicates dropped; then the local subscribers (client pid,\n"
	"request id, cached and delivered events, events dropped for reading too slowly).\n",
};
