/* cmd_event.c - commands on single events: verify (offline, in this process) and sign
 * (asks the daemon, so the secret key never leaves it). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "event.h"
#include "hex.h"
#include "nip19.h"

/* Opens FILE, or stdin for "-" / no argument. */
static FILE *open_input(const char *path)
{
	FILE *f;

	if (!path || strcmp(path, "-") == 0)
		return stdin;
	f = fopen(path, "re");
	if (!f)
		fprintf(stderr, "relaypoolctl: cannot open %s: %s\n", path, strerror(errno));
	return f;
}

static bool blank(const char *s, size_t n)
{
	return strspn(s, " \t\r\n") == n;
}

/* ---- verify ------------------------------------------------------------------------------ */

static void report(struct ctl *ctl, size_t lineno, const struct nostr_event *ev, const struct event_error *err)
{
	json_t *o = err ? json_pack("{s:I, s:b, s:s, s:s}", "line", (json_int_t)lineno, "ok", 0, "reason",
				    event_err_code(err->code), "message", err->message)
			: json_pack("{s:I, s:b, s:s}", "line", (json_int_t)lineno, "ok", 1, "id", ev->id_hex);

	ctl->out->verify(o);
	json_decref(o);
}

static int run_verify(struct ctl *ctl, int argc, char **argv)
{
	size_t lineno = 0, good = 0, bad = 0, cap = 0;
	char *line = NULL;
	ssize_t n;
	FILE *in;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return ctl_command_help(&cmd_verify, stdout), RP_EXIT_OK;
	if (argc > 2 || (argc == 2 && argv[1][0] == '-' && argv[1][1] != '\0')) {
		fprintf(stderr, "relaypoolctl verify: %s '%s'\n", argc > 2 ? "unexpected argument" : "unknown option",
			argv[argc > 2 ? 2 : 1]);
		ctl_command_help(&cmd_verify, stderr);
		return RP_EXIT_USAGE;
	}
	in = open_input(argc == 2 ? argv[1] : NULL);
	if (!in)
		return RP_EXIT_FAILED;
	while ((n = getline(&line, &cap, in)) >= 0) {
		struct nostr_event ev;
		struct event_error err;
		lineno++;
		if (blank(line, (size_t)n))
			continue;
		if (event_parse(line, (size_t)n, &ev, &err) == 0 && event_verify(&ev, &err) == 0) {
			report(ctl, lineno, &ev, NULL);
			good++;
		} else {
			report(ctl, lineno, NULL, &err);
			bad++;
		}
		event_clear(&ev);
	}
	free(line);
	if (in != stdin)
		fclose(in);
	if (!ctl->json && !ctl->quiet)
		fprintf(stderr, "%zu valid, %zu invalid\n", good, bad);
	return bad ? RP_EXIT_FAILED : RP_EXIT_OK;
}

/* ---- sign --------------------------------------------------------------------------------- */

/* "NAME=VALUE" or a JSON array of strings. npub/note values of p/e/q tags become hex. */
json_t *ctl_parse_tag(const char *arg)
{
	const char *eq = strchr(arg, '=');
	json_t *tag;
	uint8_t raw[32];
	char hex[65];

	if (arg[0] == '[') {
		tag = json_loads(arg, 0, NULL);
		if (!json_is_array(tag)) {
			json_decref(tag);
			return NULL;
		}
		return tag;
	}
	if (!eq || eq == arg)
		return NULL;
	tag = json_pack("[s#]", arg, (int)(eq - arg));
	/* p=npub1... and e/q=note1... (either case, BIP-173) become hex; a malformed one is an
	 * error, never signed as the literal text. */
	const char *hrp = eq - arg != 1 ? NULL : arg[0] == 'p' ? "npub" : arg[0] == 'e' || arg[0] == 'q' ? "note" : NULL;
	if (hrp && strncasecmp(eq + 1, hrp, 4) == 0 && eq[5] == '1') {
		if (nip19_decode_hrp(eq + 1, hrp, raw) < 0) {
			json_decref(tag);
			return NULL;
		}
		hex_encode(raw, 32, hex);
		json_array_append_new(tag, json_string(hex));
	} else {
		json_array_append_new(tag, json_string(eq + 1));
	}
	return tag;
}

static int sign_one(struct ctl *ctl, json_t *tmpl)
{
	json_t *reply = NULL, *args = json_pack("{s:O}", "event", tmpl);
	int r = ctl_connect(ctl);

	if (r != RP_EXIT_OK) {
		json_decref(args);
		return r;
	}
	if (client_call(&ctl->client, RP_OP_SIGN, args, &reply, NULL, NULL) <= 0) {
		json_decref(args);
		return RP_EXIT_UNREACHABLE;
	}
	json_decref(args);
	if (!reply_ok(reply)) {
		ctl->out->error(reply);
		r = RP_EXIT_FAILED;
	} else if (ctl->json) {
		output_json_line(reply);
	} else {
		/* The bare event, ready for "relaypoolctl publish -". */
		output_json_line(json_object_get(json_object_get(reply, RP_F_RESULT), "event"));
	}
	json_decref(reply);
	return r;
}

/* Templates, one JSON object per line, from in. */
static int sign_stream(struct ctl *ctl, FILE *in)
{
	size_t lineno = 0, cap = 0;
	char *line = NULL;
	ssize_t n;
	int worst = RP_EXIT_OK;

	while ((n = getline(&line, &cap, in)) >= 0) {
		json_error_t jerr;
		json_t *tmpl;
		int r;
		lineno++;
		if (blank(line, (size_t)n))
			continue;
		tmpl = json_loadb(line, (size_t)n, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
		if (!tmpl) {
			fprintf(stderr, "relaypoolctl sign: line %zu: invalid JSON: %s\n", lineno, jerr.text);
			worst = worst == RP_EXIT_OK ? RP_EXIT_FAILED : worst;
			continue;
		}
		r = sign_one(ctl, tmpl);
		json_decref(tmpl);
		if (r == RP_EXIT_UNREACHABLE) {
			worst = r;
			break;
		}
		if (r != RP_EXIT_OK)
			worst = r;
	}
	free(line);
	return worst;
}

static int run_sign(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "content", required_argument, NULL, 'c' },
		{ "tag", required_argument, NULL, 't' },
		{ "created-at", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *tmpl = json_object(), *tags = json_array();
	bool have_flags = false;
	int c, r = RP_EXIT_OK;
	char *end;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+k:c:t:T:h", opts, NULL)) != -1) {
		long long v;
		json_t *tag;
		switch (c) {
		case 'k':
		case 'T':
			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 0) {
				fprintf(stderr, "relaypoolctl sign: --%s expects a non-negative integer, got '%s'\n",
					c == 'k' ? "kind" : "created-at", optarg);
				r = RP_EXIT_USAGE;
				goto out;
			}
			json_object_set_new(tmpl, c == 'k' ? "kind" : "created_at", json_integer(v));
			have_flags = true;
			break;
		case 'c':
			json_object_set_new(tmpl, "content", json_string(optarg));
			have_flags = true;
			break;
		case 't':
			tag = ctl_parse_tag(optarg);
			if (!tag) {
				fprintf(stderr, "relaypoolctl sign: --tag expects NAME=VALUE or a JSON array, got '%s'\n",
					optarg);
				r = RP_EXIT_USAGE;
				goto out;
			}
			json_array_append_new(tags, tag);
			have_flags = true;
			break;
		case 'h':
			ctl_command_help(&cmd_sign, stdout);
			goto out;
		default:
			ctl_command_help(&cmd_sign, stderr);
			r = RP_EXIT_USAGE;
			goto out;
		}
	}
	if (have_flags) {
		if (optind < argc) {
			fprintf(stderr, "relaypoolctl sign: give either --kind/--content/--tag or a FILE, not both\n");
			r = RP_EXIT_USAGE;
			goto out;
		}
		if (!json_object_get(tmpl, "kind")) {
			fprintf(stderr, "relaypoolctl sign: --kind is required\n");
			r = RP_EXIT_USAGE;
			goto out;
		}
		if (json_array_size(tags))
			json_object_set(tmpl, "tags", tags);
		r = sign_one(ctl, tmpl);
	} else if (argc - optind > 1) {
		fprintf(stderr, "relaypoolctl sign: at most one FILE\n");
		r = RP_EXIT_USAGE;
	} else {
		FILE *in = open_input(optind < argc ? argv[optind] : NULL);
		if (!in) {
			r = RP_EXIT_FAILED;
			goto out;
		}
		r = sign_stream(ctl, in);
		if (in != stdin)
			fclose(in);
	}
out:
	json_decref(tags);
	json_decref(tmpl);
	return r;
}

const struct command cmd_verify = {
	"verify", run_verify, "[FILE|-]", "check events offline: canonical id and BIP-340 signature",
	"Reads events as JSON lines from FILE (or standard input) and checks each one, without\n"
	"the daemon: strict NIP-01 fields, the id (SHA-256 of the canonical serialization) and\n"
	"the BIP-340 signature. Prints \"ok ID\" or \"line N: invalid: REASON: message\" per event,\n"
	"and a count on standard error. With --json, one object per event:\n"
	"  {\"line\": N, \"ok\": true, \"id\": ID} or {\"line\": N, \"ok\": false, \"reason\": R, \"message\": M}\n"
	"Exit 0 only if every event is valid; 1 if any is invalid or FILE cannot be read.\n",
};

const struct command cmd_sign = {
	"sign", run_sign, "--kind N [--content TEXT] [--tag NAME=VALUE|JSON]... [--created-at T] | [FILE|-]",
	"have the daemon sign an event template with its key",
	"Builds an event template and asks the daemon to sign it with its [daemon] key; the\n"
	"secret key never leaves the daemon. Prints the complete event as one JSON line (with\n"
	"--json, the daemon's whole reply).\n"
	"\n"
	"  -k, --kind N          event kind (required with flags)\n"
	"  -c, --content TEXT    content (default empty)\n"
	"  -t, --tag NAME=VALUE  a tag [NAME, VALUE]; repeatable. A JSON array such as\n"
	"                        '[\"e\",\"<id>\",\"wss://relay\",\"reply\"]' gives a tag of any length.\n"
	"                        p=npub1... and e=note1... / q=note1... are converted to hex.\n"
	"  -T, --created-at T    unix time (default: now, on the daemon)\n"
	"\n"
	"Without flags, reads templates ({\"kind\", \"content\", \"tags\", \"created_at\"}) as JSON\n"
	"lines from FILE or standard input and prints one signed event per line.\n"
	"Exit 1 if the daemon has no key (no_key) or refuses a template (invalid_event).\n",
};
