/* main.c - relaypoolctl: global options, the command table, exit codes. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "ctl.h"

static const struct command *const commands[] = {
	&cmd_status,
	&cmd_reload,
	&cmd_version,
	&cmd_publish,
	&cmd_query,
	&cmd_sync,
	&cmd_outbox,
	&cmd_relays,
	&cmd_stats,
	&cmd_metrics,
	&cmd_trace,
	&cmd_subscribe,
	&cmd_subscriptions,
	&cmd_sign,
	&cmd_verify,
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: relaypoolctl [-s SOCKET] [--json] [--quiet] COMMAND [ARGS...]\n"
		   "       relaypoolctl COMMAND --help | help [COMMAND] | --help | --version\n"
		   "\n"
		   "Talks to relaypoold over its control socket.\n"
		   "\n"
		   "Options:\n"
		   "  -s, --socket PATH  control socket (default $" RP_SOCKET_ENV " or " RP_DEFAULT_SOCKET ")\n"
		   "  -j, --json         print the daemon's JSON replies, one per line\n"
		   "  -q, --quiet        print no report of what succeeded (publish's ok lines, sync's\n"
		   "                     table, reload's summary); failures and what was asked for\n"
		   "                     (query, status, ...) still print\n"
		   "  -h, --help         this text (COMMAND --help for a command)\n"
		   "      --version      print relaypoolctl's version\n"
		   "\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-13s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "  %-13s %s\n", "help", "this text, or a command's (help COMMAND)");
	fprintf(f, "\n"
		   "Exit status:\n"
		   "  0  success\n"
		   "  1  the daemon reported a failure\n"
		   "  2  usage error\n"
		   "  3  cannot reach the daemon\n");
}

void ctl_command_help(const struct command *cmd, FILE *f)
{
	fprintf(f, "Usage: relaypoolctl [-s SOCKET] [--json] %s%s%s\n\n%s", cmd->name, *cmd->args ? " " : "",
		cmd->args, cmd->help);
	fprintf(f, "\nExit status: 0 success, 1 the daemon reported a failure, 2 usage error,\n"
		   "3 cannot reach the daemon.\n");
}

int ctl_no_options(const struct command *cmd, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			ctl_command_help(cmd, stdout);
			return RP_EXIT_OK;
		}
	}
	if (argc > 1) {
		fprintf(stderr, "relaypoolctl %s: unexpected argument '%s'\n", cmd->name, argv[1]);
		ctl_command_help(cmd, stderr);
		return RP_EXIT_USAGE;
	}
	return -1;
}

int ctl_connect(struct ctl *ctl)
{
	if (ctl->connected)
		return RP_EXIT_OK;
	if (client_connect(&ctl->client, client_socket_path(ctl->socket)) < 0)
		return RP_EXIT_UNREACHABLE;
	ctl->connected = true;
	return RP_EXIT_OK;
}

int ctl_simple(struct ctl *ctl, const char *op, json_t *args, void (*render)(const json_t *reply))
{
	json_t *reply = NULL;
	int r = ctl_connect(ctl);

	if (r != RP_EXIT_OK)
		return r;
	if (client_call(&ctl->client, op, args, &reply, NULL, NULL) <= 0)
		return RP_EXIT_UNREACHABLE;
	if (!reply_ok(reply)) {
		ctl->out->error(reply);
		r = RP_EXIT_FAILED;
	} else {
		render(reply);
	}
	json_decref(reply);
	return r;
}

static char deadline_msg[256];
static size_t deadline_len;

/* Async-signal-safe: the message was formatted beforehand. */
static void deadline_hit(int sig)
{
	(void)sig;
	if (write(STDERR_FILENO, deadline_msg, deadline_len) < 0) {
		/* nothing left to tell */
	}
	_exit(RP_EXIT_FAILED);
}

void ctl_deadline(const char *cmd, const char *what, uint64_t ms)
{
	struct itimerval it = { .it_value = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 } };
	struct sigaction sa = { .sa_handler = deadline_hit };

	if (!ms)
		return;
	int n = snprintf(deadline_msg, sizeof(deadline_msg), "\nrelaypoolctl %s: gave up waiting after %llu ms; %s\n", cmd,
			 (unsigned long long)ms, what);
	deadline_len = n > 0 && (size_t)n < sizeof(deadline_msg) ? (size_t)n : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl = { .out = &output_text };
	const struct command *cmd;
	int c, r;

	/* '+': stop at the command name so its own options are left to it. */
	while ((c = getopt_long(argc, argv, "+s:jqh", opts, NULL)) != -1) {
		switch (c) {
		case 's': ctl.socket = optarg; break;
		case 'j': ctl.json = true; break;
		case 'q': ctl.quiet = true; break;
		case 'h': usage(stdout); return RP_EXIT_OK;
		case 'V': printf("relaypoolctl %s (control protocol %d)\n", RELAYPOOL_VERSION, RP_PROTO_VERSION);
			  return RP_EXIT_OK;
		default: usage(stderr); return RP_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "relaypoolctl: missing command\n");
		usage(stderr);
		return RP_EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 >= argc) {
			usage(stdout);
			return RP_EXIT_OK;
		}
		if (!(cmd = find_command(argv[optind + 1]))) {
			fprintf(stderr, "relaypoolctl: help: unknown command '%s'\n", argv[optind + 1]);
			return RP_EXIT_USAGE;
		}
		ctl_command_help(cmd, stdout);
		return RP_EXIT_OK;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "relaypoolctl: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		return RP_EXIT_USAGE;
	}
	/* --json is also taken after the command name ("relaypoolctl status --json"). */
	for (int i = optind + 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			ctl.json = true;
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
			argc--;
			i--;
		}
	}
	if (ctl.json)
		ctl.out = &output_json;
	else if (ctl.quiet)
		ctl.out = &output_quiet;
	r = cmd->run(&ctl, argc - optind, argv + optind);
	if (ctl.connected)
		client_close(&ctl.client);
	fflush(stdout);
	return r;
}
