/* cmd_cache.c - commands on the daemon's cache: query, sync, outbox (list, retry, drop). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "units.h"
#include "hex.h"
#include "nip19.h"

/* npub1... in "authors" and note1... in "ids" become hex (NIP-19 on the command line). */
static int convert_nip19(json_t *filter, const char *key, const char *hrp)
{
	json_t *a = json_object_get(filter, key), *v;
	size_t i;
	uint8_t raw[32];
	char hex[65];

	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		if (!s || strncasecmp(s, hrp, strlen(hrp)) != 0 || s[strlen(hrp)] != '1')
			continue;
		if (nip19_decode_hrp(s, hrp, raw) < 0) {
			fprintf(stderr, "relaypoolctl: \"%s\" in \"%s\" is not a valid %s\n", s, key, hrp);
			return -1;
		}
		hex_encode(raw, 32, hex);
		json_array_set_new(a, i, json_string(hex));
	}
	return 0;
}

/* A filter object or an array of them, from the command line. */
json_t *ctl_parse_filters(const char *cmd, const char *text)
{
	json_error_t err;
	json_t *f = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err), *v;
	size_t i;

	if (!f || !(json_is_object(f) || json_is_array(f))) {
		fprintf(stderr, "relaypoolctl %s: the filter must be a JSON object or array%s%s\n", cmd,
			f ? "" : ": ", f ? "" : err.text);
		json_decref(f);
		return NULL;
	}
	if (json_is_object(f))
		f = json_pack("[o]", f);
	json_array_foreach(f, i, v)
		if (json_is_object(v) && (convert_nip19(v, "authors", "npub") < 0 || convert_nip19(v, "ids", "note") < 0)) {
			json_decref(f);
			return NULL;
		}
	return f;
}

static bool wants_help(const struct command *cmd, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			ctl_command_help(cmd, stdout);
			return true;
		}
	return false;
}

static int usage(const struct command *cmd, const char *msg)
{
	fprintf(stderr, "relaypoolctl %s: %s\n", cmd->name, msg);
	ctl_command_help(cmd, stderr);
	return RP_EXIT_USAGE;
}

/* Runs a request whose reply may stream items; prints per mode; returns the exit code. */
static int call(struct ctl *ctl, const char *op, json_t *args, void (*on_item)(json_t *, json_t *, void *),
		void (*render)(const json_t *reply, void *data), void *data)
{
	json_t *reply = NULL;
	int r = ctl_connect(ctl);

	if (r != RP_EXIT_OK)
		return r;
	if (client_call(&ctl->client, op, args, &reply, on_item, data) <= 0)
		return RP_EXIT_UNREACHABLE;
	if (ctl->json)
		output_json_line(reply);
	else if (!reply_ok(reply))
		ctl->out->error(reply);
	if (!ctl->json && render && (reply_ok(reply) || json_object_get(json_object_get(reply, RP_F_ERROR), "relays")))
		render(reply, data);
	r = reply_ok(reply) ? RP_EXIT_OK : RP_EXIT_FAILED;
	json_decref(reply);
	return r;
}

/* ---- query ---------------------------------------------------------------------------------- */

static void query_item(json_t *item, json_t *msg, void *data)
{
	struct ctl *ctl = data;

	output_json_line(ctl->json ? msg : item);
}

static void query_done(const json_t *reply, void *data)
{
	struct ctl *ctl = data;

	if (isatty(STDERR_FILENO) && !ctl->quiet)
		fprintf(stderr, "%lld events\n",
			(long long)json_integer_value(json_object_get(json_object_get(reply, RP_F_RESULT), "count")));
}

static int run_query(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *filters, *args;
	long long limit = -1;
	char *end;
	int c, r;

	if (wants_help(&cmd_query, argc, argv))
		return RP_EXIT_OK;
	optind = 0;
	while ((c = getopt_long(argc, argv, "l:", opts, NULL)) != -1) {
		if (c != 'l')
			return usage(&cmd_query, "unknown option");
		errno = 0;
		limit = strtoll(optarg, &end, 10);
		if (errno || *end || limit < 0)
			return usage(&cmd_query, "--limit expects a non-negative number");
	}
	if (argc - optind != 1)
		return usage(&cmd_query, "expects exactly one filter (JSON object or array)");
	filters = ctl_parse_filters("query", argv[optind]);
	if (!filters)
		return RP_EXIT_USAGE;
	args = json_pack("{s:o}", "filters", filters);
	if (limit >= 0)
		json_object_set_new(args, "limit", json_integer(limit));
	r = call(ctl, RP_OP_QUERY, args, query_item, query_done, ctl);
	json_decref(args);
	return r;
}

/* ---- sync ----------------------------------------------------------------------------------- */

struct sync_view {
	struct ctl *ctl;
	bool tty;
};

static void sync_progress(json_t *item, json_t *msg, void *data)
{
	struct sync_view *v = data;

	if (v->ctl->json) {
		output_json_line(msg);
		return;
	}
	if (!v->tty)
		return;
	fprintf(stderr, "\r\033[Ksyncing %s (%s): %lld received, %lld new, %lld pages",
		json_string_value(json_object_get(item, "relay")), json_string_value(json_object_get(item, "method")),
		(long long)json_integer_value(json_object_get(item, "received")),
		(long long)json_integer_value(json_object_get(item, "new")),
		(long long)json_integer_value(json_object_get(item, "pages")));
	fflush(stderr);
}


/* Also for a failed sync: its error carries the same per-relay table. */
static void sync_done(const json_t *reply, void *data)
{
	struct sync_view *v = data;

	if (v->tty)
		fprintf(stderr, "\r\033[K");
	v->ctl->out->sync(reply);
}

static int run_sync(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "group", required_argument, NULL, 'g' },
		{ "relay", required_argument, NULL, 'r' },
		{ "filter", required_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 's' },
		{ "method", required_argument, NULL, 'm' },
		{ "up", no_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sync_view v = { .ctl = ctl, .tty = isatty(STDERR_FILENO) && !ctl->quiet };
	json_t *args = json_object(), *reply = NULL;
	char *end;
	int c, r;

	if (wants_help(&cmd_sync, argc, argv)) {
		json_decref(args);
		return RP_EXIT_OK;
	}
	optind = 0;
	uint64_t timeout_ms = 0;

	while ((c = getopt_long(argc, argv, "+g:r:f:s:m:uT:", opts, NULL)) != -1) {
		json_t *f;
		long long t;
		switch (c) {
		case 'g': json_object_set_new(args, "group", json_string(optarg)); break;
		case 'r': json_object_set_new(args, "relay", json_string(optarg)); break;
		case 'f':
			f = ctl_parse_filters("sync", optarg);
			if (!f || json_array_size(f) != 1) {
				json_decref(f);
				json_decref(args);
				return usage(&cmd_sync, "--filter expects one JSON filter object");
			}
			json_object_set(args, "filter", json_array_get(f, 0));
			json_decref(f);
			break;
		case 's':
			errno = 0;
			t = strtoll(optarg, &end, 10);
			if (errno || *end || t < 0) {
				json_decref(args);
				return usage(&cmd_sync, "--since expects a unix time");
			}
			json_object_set_new(args, "since", json_integer(t));
			break;
		case 'm':
			if (strcmp(optarg, "auto") && strcmp(optarg, "negentropy") && strcmp(optarg, "req")) {
				json_decref(args);
				return usage(&cmd_sync, "--method expects auto, negentropy or req");
			}
			json_object_set_new(args, "method", json_string(optarg));
			break;
		case 'u': json_object_set_new(args, "up", json_true()); break;
		case 'T':
			if (units_parse_duration_ms(optarg, &timeout_ms) < 0 || timeout_ms < 1) {
				json_decref(args);
				return usage(&cmd_sync, "--timeout expects a duration, e.g. 30s or 5m");
			}
			break;
		default:
			json_decref(args);
			return usage(&cmd_sync, "unknown option");
		}
	}
	if (optind < argc || !json_object_get(args, "group") == !json_object_get(args, "relay") ||
	    (json_object_get(args, "relay") && !json_object_get(args, "filter"))) {
		json_decref(args);
		return usage(&cmd_sync, "give --group G, or --relay R with --filter JSON");
	}
	if (v.tty || ctl->json)
		json_object_set_new(args, "progress", json_true());
	(void)reply;
	ctl_deadline("sync", "the daemon goes on with the sync (its cursors move only if it finishes)", timeout_ms);
	r = call(ctl, RP_OP_SYNC, args, sync_progress, sync_done, &v);
	json_decref(args);
	return r;
}

/* ---- outbox ---------------------------------------------------------------------------------- */

static void outbox_rows(const json_t *reply, void *data)
{
	((const struct ctl *)data)->out->outbox(reply);
}


struct change_view {
	const struct ctl *ctl;
	const char *verb; /* "re-armed", "dropped" */
};

/* The renderer gets the reply with the verb in its result. */
static void outbox_changed(const json_t *reply, void *data)
{
	const struct change_view *v = data;
	json_t *copy = json_deep_copy(reply);

	json_object_set_new(json_object_get(copy, RP_F_RESULT), "verb", json_string(v->verb));
	v->ctl->out->outbox_changed(copy);
	json_decref(copy);
}

/* outbox retry|drop ID: a row number, or an event id (hex or note1...). */
static int outbox_change(struct ctl *ctl, const char *op, const char *verb, const char *id)
{
	json_t *args;
	uint8_t raw[32];
	char hex[65], *end;
	long long row;
	int r;

	errno = 0;
	row = strtoll(id, &end, 10);
	if (!errno && !*end && row > 0) {
		args = json_pack("{s:I}", "row", (json_int_t)row);
	} else if (strlen(id) == 64 && hex_decode(id, 64, raw) == 0) {
		hex_encode(raw, 32, hex);
		args = json_pack("{s:s}", "event_id", hex);
	} else if (nip19_decode_hrp(id, "note", raw) == 0) {
		hex_encode(raw, 32, hex);
		args = json_pack("{s:s}", "event_id", hex);
	} else {
		return usage(&cmd_outbox, "ID is a row number, a 64-hex event id or a note1... id");
	}
	r = call(ctl, op, args, NULL, outbox_changed, &(struct change_view){ ctl, verb });
	json_decref(args);
	return r;
}

static int run_outbox(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pending", no_argument, NULL, 'p' },
		{ "failed", no_argument, NULL, 'f' },
		{ "relay", required_argument, NULL, 'r' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *args;
	char *end;
	int c, r;

	if (wants_help(&cmd_outbox, argc, argv))
		return RP_EXIT_OK;
	if (argc >= 2 && (strcmp(argv[1], "retry") == 0 || strcmp(argv[1], "drop") == 0)) {
		bool retry = argv[1][0] == 'r';
		if (argc != 3)
			return usage(&cmd_outbox, "retry and drop take exactly one ID");
		return outbox_change(ctl, retry ? RP_OP_OUTBOX_RETRY : RP_OP_OUTBOX_DROP, retry ? "re-armed" : "dropped",
				     argv[2]);
	}
	args = json_object();
	optind = 0;
	while ((c = getopt_long(argc, argv, "+pfr:l:", opts, NULL)) != -1) {
		long long n;
		switch (c) {
		case 'p': json_object_set_new(args, "state", json_string("pending")); break;
		case 'f': json_object_set_new(args, "state", json_string("failed")); break;
		case 'r': json_object_set_new(args, "relay", json_string(optarg)); break;
		case 'l':
			errno = 0;
			n = strtoll(optarg, &end, 10);
			if (errno || *end || n < 0) {
				json_decref(args);
				return usage(&cmd_outbox, "--limit expects a non-negative number");
			}
			json_object_set_new(args, "limit", json_integer(n));
			break;
		default:
			json_decref(args);
			return usage(&cmd_outbox, "unknown option");
		}
	}
	if (optind < argc) {
		json_decref(args);
		return usage(&cmd_outbox, "unexpected argument");
	}
	r = call(ctl, RP_OP_OUTBOX, args, NULL, outbox_rows, ctl);
	json_decref(args);
	return r;
}

const struct command cmd_query = {
	"query", run_query, "FILTER [--limit N]", "events from the local cache matching NIP-01 filters",
	"Answers from the daemon's cache (never from relays) with NIP-01 filter semantics: ids,\n"
	"authors, kinds, #x tags, since, until, limit; a JSON array of filters is OR'ed. Newest\n"
	"first (ties: lowest id first). Prints one event per line (with --json, the daemon's\n"
	"reply lines). npub1... in authors and note1... in ids are accepted.\n"
	"\n"
	"  -l, --limit N   at most N events in all\n"
	"\n"
	"Example: relaypoolctl query '{\"kinds\": [1], \"#t\": [\"nostr\"]}' --limit 20\n",
};

const struct command cmd_sync = {
	"sync", run_sync, "--group G | --relay R --filter JSON [--since T] [--method auto|negentropy|req] [--up] [--timeout D]",
	"bring the cache up to date with relays",
	"Fetches events from relays into the cache. Two methods:\n"
	"- negentropy (NIP-77): the cache's (created_at, id) set for the filter is reconciled\n"
	"  with the relay's in a few round trips, over the whole window (the filter's since, or\n"
	"  --since), and only the events the cache lacks are fetched, by id. Finds what REQ\n"
	"  misses: events that reached the relay late with an old created_at, events the cache\n"
	"  lost, and any number of events sharing one second.\n"
	"- req: REQ with the filter from the saved cursor (minus [pool] sync_overlap), paginated\n"
	"  until exhausted; large first syncs run in time slices in parallel.\n"
	"auto (the default) uses negentropy where the relay's NIP-11 document lists 77, or, when\n"
	"the relay has no document, tries it; a NEG-ERR, a NOTICE in answer or no answer falls\n"
	"back to req. Every event is verified and stored; the cursor advances only when the\n"
	"whole window is stored, so an interrupted sync leaves no gap. A group sync uses the\n"
	"group's relays and filter. Prints per relay: the method, received, new, duplicates,\n"
	"invalid, pages, duration, and for negentropy the ids only here / only at the relay,\n"
	"round trips and bytes (a progress line on a terminal).\n"
	"\n"
	"  -g, --group G       the relays and filter of [group G]\n"
	"  -r, --relay R       one relay (name or URL), with --filter\n"
	"  -f, --filter JSON   a NIP-01 filter\n"
	"  -s, --since T       start at unix time T instead of the cursor\n"
	"  -m, --method M      auto (default), negentropy (fail where the relay lacks it) or req\n"
	"  -u, --up            negentropy also finds what the relay lacks: publish those events to\n"
	"                      it through the durable outbox (not with --method req)\n"
	"  -T, --timeout D     stop waiting after D (e.g. 5m): exit 1; the daemon finishes the sync\n"
	"\n"
	"Exit 1 if any relay failed (its cursor did not move); safe to run from cron.\n",
};

const struct command cmd_outbox = {
	"outbox", run_outbox, "[--pending|--failed] [--relay R] [--limit N] | retry ID | drop ID",
	"what is waiting for delivery, what failed and why",
	"Lists the durable outbox: one row per (event, relay) with its state (pending, in_flight,\n"
	"accepted, rejected, expired), attempts and the relay's message. Rows still pending when\n"
	"the daemon stops are delivered after it starts again.\n"
	"\n"
	"  -p, --pending     only rows waiting for delivery\n"
	"  -f, --failed      only rejected and expired rows\n"
	"  -r, --relay R     only rows of relay R\n"
	"  -l, --limit N     at most N rows (default 1000)\n"
	"\n"
	"  retry ID   deliver again (fresh attempts); ID is a row number or an event id (all its rows)\n"
	"  drop ID    delete the rows and stop their delivery\n",
};
