/* cmd_publish.c - publish (one event, a template for the daemon to sign, or a stream of
 * JSON lines pipelined over one connection) and relays (the pool's state). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "units.h"

/* Requests on the wire without a reply yet, when the daemon does not say (hello's
 * "window", protocol 2 and later). */
#define DEFAULT_WINDOW 64
/* Requests written but not yet taken by the daemon, at most. */
#define MAX_PENDING_OUTPUT (1 << 20)

struct publish_opts {
	json_t *relays; /* array of names/URLs, or NULL */
	const char *group;
	json_t *quorum; /* "all", "any", integer, or NULL */
	bool no_wait;
	bool sign;      /* input lines are templates */
	json_t *tmpl;   /* built from --kind/--content/--tag */
	const char *file;
	uint64_t timeout_ms; /* --timeout: 0 = none */
};

struct run {
	struct ctl *ctl;
	unsigned long long ok, failed, outstanding;
	unsigned long long window; /* outstanding requests at most, as the daemon advises */
	bool lost;
	bool progress;       /* a progress line on standard error (a TTY, while stdout is not) */
	uint64_t progress_ns; /* when it was last written */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* One updating line, five times a second at most; final clears it. */
static void progress(struct run *run, bool final)
{
	uint64_t now;

	if (!run->progress)
		return;
	if (final) {
		fprintf(stderr, "\r\033[K");
		return;
	}
	now = now_ns();
	if (now - run->progress_ns < 200000000ULL)
		return;
	run->progress_ns = now;
	fprintf(stderr, "\r\033[Kpublishing: %llu done (%llu failed), %llu waiting", run->ok + run->failed, run->failed,
		run->outstanding);
	fflush(stderr);
}

static void report(struct run *run, json_t *reply, size_t line)
{
	if (reply_ok(reply))
		run->ok++;
	else
		run->failed++;
	run->ctl->out->publish(reply, line);
	progress(run, false);
}

static json_t *request_args(const struct publish_opts *o, json_t *event)
{
	json_t *a = json_pack("{s:O}", "event", event);

	if (o->relays)
		json_object_set(a, "relays", o->relays);
	if (o->group)
		json_object_set_new(a, "group", json_string(o->group));
	if (o->quorum)
		json_object_set(a, "quorum", o->quorum);
	if (o->no_wait)
		json_object_set_new(a, "wait", json_string("queued"));
	if (o->sign)
		json_object_set_new(a, "sign", json_true());
	if (o->timeout_ms)
		json_object_set_new(a, "timeout", json_integer((json_int_t)o->timeout_ms));
	return a;
}

/* How many requests to keep outstanding: the daemon's advice from hello, so a long input
 * streams in constant memory and nothing waits long inside the daemon. */
static unsigned long long ask_window(struct ctl *ctl)
{
	json_t *reply = NULL, *w;
	unsigned long long n = DEFAULT_WINDOW;

	if (client_call(&ctl->client, RP_OP_HELLO, NULL, &reply, NULL, NULL) == 1 && reply_ok(reply)) {
		w = json_object_get(json_object_get(reply, RP_F_RESULT), "window");
		if (json_is_integer(w) && json_integer_value(w) > 0)
			n = (unsigned long long)json_integer_value(w);
	}
	json_decref(reply);
	return n;
}

/* Takes every complete reply out of the client's buffer. */
static int drain_replies(struct run *run)
{
	json_t *reply;
	int r;

	while ((r = client_next_reply(&run->ctl->client, &reply)) == 1) {
		/* A request's id is its input line number. */
		json_t *id = json_object_get(reply, RP_F_ID);
		if (!json_is_integer(id)) {
			/* An error about the connection itself (e.g. line_too_long). */
			run->ctl->out->error(reply);
			json_decref(reply);
			return -1;
		}
		report(run, reply, (size_t)json_integer_value(id));
		run->outstanding--;
		json_decref(reply);
	}
	return r;
}

static int publish_stream(struct run *run, const struct publish_opts *o, FILE *in)
{
	struct client *c = &run->ctl->client;
	size_t lineno = 0, cap = 0;
	char *line = NULL;
	bool input_done = false;

	for (;;) {
		while (!input_done && run->outstanding < run->window && client_pending_output(c) < MAX_PENDING_OUTPUT) {
			ssize_t n = getline(&line, &cap, in);
			json_error_t jerr;
			json_t *ev, *args;
			if (n < 0) {
				input_done = true;
				break;
			}
			lineno++;
			if (strspn(line, " \t\r\n") == (size_t)n)
				continue;
			ev = json_loadb(line, (size_t)n, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
			if (!ev) {
				fprintf(stderr, "relaypoolctl publish: line %zu: invalid JSON: %s\n", lineno, jerr.text);
				run->failed++;
				continue;
			}
			args = request_args(o, ev);
			long long id = client_enqueue_id(c, (long long)lineno, RP_OP_PUBLISH, args);
			json_decref(args);
			json_decref(ev);
			if (id < 0) {
				fprintf(stderr, "relaypoolctl: out of memory\n");
				free(line);
				return RP_EXIT_FAILED;
			}
			run->outstanding++;
		}
		if (input_done && run->outstanding == 0)
			break;
		if (client_pump(c, 1000) < 0 || drain_replies(run) < 0) {
			run->lost = true;
			break;
		}
		if (client_eof(c)) {
			drain_replies(run);
			if (run->outstanding) {
				fprintf(stderr, "relaypoolctl: relaypoold closed the connection with %llu replies missing\n",
					run->outstanding);
				run->lost = true;
			}
			break;
		}
	}
	free(line);
	progress(run, true);
	if (!run->ctl->json && !run->ctl->quiet && (run->ok + run->failed > 1 || run->lost))
		fprintf(stderr, "%llu published, %llu failed%s\n", run->ok, run->failed,
			run->lost ? ", connection lost" : "");
	if (run->lost)
		return RP_EXIT_UNREACHABLE;
	return run->failed ? RP_EXIT_FAILED : RP_EXIT_OK;
}

static int parse_opts(int argc, char **argv, struct publish_opts *o);

static int run_publish(struct ctl *ctl, int argc, char **argv)
{
	struct publish_opts o = { 0 };
	struct run run = { .ctl = ctl, .progress = !ctl->json && !ctl->quiet && isatty(STDERR_FILENO) &&
						       !isatty(STDOUT_FILENO) };
	FILE *in = NULL;
	int r = parse_opts(argc, argv, &o);

	if (r >= 0)
		goto out;
	r = ctl_connect(ctl);
	if (r != RP_EXIT_OK)
		goto out;
	run.window = ask_window(ctl);
	if (o.tmpl) {
		/* One template, signed by the daemon. */
		char *text = json_dumps(o.tmpl, JSON_COMPACT);
		in = fmemopen(text, strlen(text), "r");
		o.sign = true;
		r = in ? publish_stream(&run, &o, in) : RP_EXIT_FAILED;
		if (in)
			fclose(in);
		free(text);
		goto out;
	}
	if (!o.file || strcmp(o.file, "-") == 0) {
		in = stdin;
	} else if (!(in = fopen(o.file, "re"))) {
		fprintf(stderr, "relaypoolctl publish: cannot open %s: %s\n", o.file, strerror(errno));
		r = RP_EXIT_FAILED;
		goto out;
	}
	r = publish_stream(&run, &o, in);
	if (in != stdin)
		fclose(in);
out:
	json_decref(o.relays);
	json_decref(o.quorum);
	json_decref(o.tmpl);
	return r;
}

/* Returns -1 to go on, or an exit code. */
static int parse_opts(int argc, char **argv, struct publish_opts *o)
{
	static const struct option opts[] = {
		{ "relay", required_argument, NULL, 'r' },
		{ "group", required_argument, NULL, 'g' },
		{ "quorum", required_argument, NULL, 'q' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ "sign", no_argument, NULL, 'S' },
		{ "kind", required_argument, NULL, 'k' },
		{ "content", required_argument, NULL, 'c' },
		{ "tag", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *tags = json_array();
	bool template_flags = false;
	int c, r = -1;
	char *end;

	optind = 0;
	while (r < 0 && (c = getopt_long(argc, argv, "+r:g:q:nSk:c:t:T:h", opts, NULL)) != -1) {
		long long v;
		json_t *tag;
		switch (c) {
		case 'r':
			if (!o->relays)
				o->relays = json_array();
			json_array_append_new(o->relays, json_string(optarg));
			break;
		case 'g':
			o->group = optarg;
			break;
		case 'q':
			json_decref(o->quorum);
			if (strcmp(optarg, "all") == 0 || strcmp(optarg, "any") == 0) {
				o->quorum = json_string(optarg);
				break;
			}
			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1) {
				fprintf(stderr, "relaypoolctl publish: --quorum expects all, any or a number >= 1\n");
				r = RP_EXIT_USAGE;
				break;
			}
			o->quorum = json_integer(v);
			break;
		case 'n':
			o->no_wait = true;
			break;
		case 'S':
			o->sign = true;
			break;
		case 'k':
			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 0) {
				fprintf(stderr, "relaypoolctl publish: --kind expects a non-negative integer\n");
				r = RP_EXIT_USAGE;
				break;
			}
			if (!o->tmpl)
				o->tmpl = json_object();
			json_object_set_new(o->tmpl, "kind", json_integer(v));
			template_flags = true;
			break;
		case 'c':
			if (!o->tmpl)
				o->tmpl = json_object();
			json_object_set_new(o->tmpl, "content", json_string(optarg));
			template_flags = true;
			break;
		case 't':
			tag = ctl_parse_tag(optarg);
			if (!tag) {
				fprintf(stderr, "relaypoolctl publish: --tag expects NAME=VALUE or a JSON array\n");
				r = RP_EXIT_USAGE;
				break;
			}
			json_array_append_new(tags, tag);
			template_flags = true;
			break;
		case 'T':
			if (units_parse_duration_ms(optarg, &o->timeout_ms) < 0 || o->timeout_ms < 1 ||
			    o->timeout_ms > 24ULL * 3600 * 1000) {
				fprintf(stderr, "relaypoolctl publish: --timeout expects a duration from 1ms to 24h "
						"(e.g. 500ms, 30s, 2m)\n");
				r = RP_EXIT_USAGE;
			}
			break;
		case 'h':
			ctl_command_help(&cmd_publish, stdout);
			r = RP_EXIT_OK;
			break;
		default:
			ctl_command_help(&cmd_publish, stderr);
			r = RP_EXIT_USAGE;
		}
	}
	if (r < 0 && template_flags) {
		if (!o->tmpl)
			o->tmpl = json_object();
		if (!json_object_get(o->tmpl, "kind")) {
			fprintf(stderr, "relaypoolctl publish: --content/--tag need --kind\n");
			r = RP_EXIT_USAGE;
		} else if (optind < argc) {
			fprintf(stderr, "relaypoolctl publish: give either --kind/--content/--tag or a FILE, not both\n");
			r = RP_EXIT_USAGE;
		} else if (json_array_size(tags)) {
			json_object_set(o->tmpl, "tags", tags);
		}
	}
	if (r < 0 && argc - optind > 1) {
		fprintf(stderr, "relaypoolctl publish: at most one FILE\n");
		r = RP_EXIT_USAGE;
	}
	if (r < 0 && optind < argc)
		o->file = argv[optind];
	json_decref(tags);
	return r;
}

/* ---- relays -------------------------------------------------------------------------------- */

static void print_info(const json_t *reply)
{
	const json_t *res = json_object_get(reply, RP_F_RESULT), *doc = json_object_get(res, "document");
	char *text = json_dumps(json_object_get(res, "limits"), JSON_COMPACT | JSON_SORT_KEYS);

	printf("relay %s\n", json_string_value(json_object_get(res, "relay")));
	if (json_is_integer(json_object_get(res, "fetched_at")))
		printf("fetched at %lld\n", (long long)json_integer_value(json_object_get(res, "fetched_at")));
	if (json_object_get(res, "error"))
		printf("no document: %s\n", json_string_value(json_object_get(res, "error")));
	printf("limits in force: %s\n", text ? text : "{}");
	free(text);
	if (json_is_object(doc)) {
		text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("document:\n%s\n", text ? text : "");
		free(text);
	}
}

static int run_relays(struct ctl *ctl, int argc, char **argv)
{
	json_t *args;
	int r;

	if (argc == 3 && strcmp(argv[1], "--info") == 0) {
		args = json_pack("{s:s}", "info", argv[2]);
		r = ctl_simple(ctl, RP_OP_RELAYS, args, ctl->json ? output_json_line_reply : print_info);
		json_decref(args);
		return r;
	}
	r = ctl_no_options(&cmd_relays, argc, argv);
	return r >= 0 ? r : ctl_simple(ctl, RP_OP_RELAYS, NULL, ctl->out->relays);
}

const struct command cmd_publish = {
	"publish",
	run_publish,
	"[--relay R]... [--group G] [--quorum all|any|K] [--no-wait] [--timeout D] [--sign] [FILE|-]\n"
	"       relaypoolctl publish [targets...] --kind N [--content TEXT] [--tag NAME=VALUE|JSON]...",
	"publish events (one, a stream of JSON lines, or a template to sign)",
	"Publishes Nostr events through the daemon's pool of relay sessions.\n"
	"\n"
	"Reads events as JSON lines from FILE or standard input and pipelines them over one\n"
	"connection (so 10,000 events from a script is one fast command), keeping as many\n"
	"outstanding as the daemon advises (its \"window\"), so any input streams in constant\n"
	"memory. Or builds a template from --kind/--content/--tag that the daemon signs with\n"
	"its key. Events are verified by the daemon before anything is sent; invalid ones are\n"
	"refused with the reason.\n"
	"\n"
	"  -r, --relay R        target relay, by name or URL; repeatable\n"
	"  -g, --group G        target the relays of group G\n"
	"                       (no --relay and no --group: every configured relay)\n"
	"  -q, --quorum Q       all (default), any, or a number K: done when K relays accepted\n"
	"  -n, --no-wait        reply once queued for delivery instead of after the quorum\n"
	"  -T, --timeout D      give up waiting for the quorum D after each event was handed\n"
	"                       over (e.g. 5s), time in the relay's queue included; undecided\n"
	"                       relays then show \"pending\" and the outbox keeps delivering.\n"
	"                       Without it, a relay's clock starts when the event is first sent\n"
	"                       to it: every attempt (max_attempts x publish_timeout and the\n"
	"                       backoffs) plus a second; a relay that cannot be reached is\n"
	"                       reported at once with its last error.\n"
	"  -S, --sign           input lines are templates for the daemon to sign\n"
	"  -k, --kind N         build a template (with -c/--content, -t/--tag as for sign)\n"
	"\n"
	"Prints one line per event: \"ok ID accepted/targets (relay: status ...)\", \"queued ID -> relays\"\n"
	"or \"FAILED ...\" with the reason; with --json the daemon's reply lines. A summary goes to\n"
	"standard error for streams. Exit 0 only if every event met its quorum (or was queued).\n",
};

const struct command cmd_relays = {
	"relays", run_relays, "[--info R]", "show every relay and session: state, load, errors, counters",
	"Per relay: url, ready sessions, in-flight jobs, queue length, cooldown, last error and\n"
	"notice, and counters (submitted, accepted, rejected by class, timeouts, retries,\n"
	"reconnects). Per session: state (connecting, ready, backoff, closing), NIP-42 auth state,\n"
	"in-flight count, ping round trip, last error and its own counters.\n"
	"\n"
	"  --info R   relay R's NIP-11 information document (fetched at start, on reload and\n"
	"             daily) and the limits the daemon enforces for it\n",
};
