/* main.c - relaypoold: argv -> setup -> run, with the exit code decided here. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "key.h"
#include "log.h"
#include "proto.h"
#include "service.h"

enum action { ACT_RUN, ACT_CHECK, ACT_PRINT, ACT_VERSION, ACT_HELP };

struct args {
	const char *config_path;
	enum action action;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: relaypoold [-c CONFIG] [--check-config | --print-config]\n"
		"       relaypoold --version | --help\n"
		"\n"
		"Nostr relay-pool daemon: keeps persistent WebSocket sessions to relays and serves\n"
		"local clients (relaypoolctl, apps) on a Unix control socket.\n"
		"\n"
		"  -c, --config PATH   configuration file (default " CONFIG_DEFAULT_PATH ")\n"
		"      --check-config  validate the configuration, print errors as file:line, exit 0/1\n"
		"      --print-config  print the normalized configuration and exit\n"
		"      --version       print the version and exit\n"
		"  -h, --help          this text\n"
		"\n"
		"Signals: SIGHUP reloads the configuration, SIGTERM/SIGINT stop cleanly.\n");
}

/* Returns 0, or 2 for a usage error. */
static int parse_argv(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->config_path = CONFIG_DEFAULT_PATH;
	a->action = ACT_RUN;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config_path = optarg; break;
		case 'C': a->action = ACT_CHECK; break;
		case 'P': a->action = ACT_PRINT; break;
		case 'V': a->action = ACT_VERSION; break;
		case 'h': a->action = ACT_HELP; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "relaypoold: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct args a;
	struct config *config = NULL;
	struct daemon d;
	char *errors = NULL;
	int r;

	r = parse_argv(argc, argv, &a);
	if (r)
		return r;
	if (a.action == ACT_HELP)
		return usage(stdout), 0;
	if (a.action == ACT_VERSION)
		return printf("relaypoold %s (control protocol %d)\n", RELAYPOOL_VERSION, RP_PROTO_VERSION), 0;
	if (config_load(a.config_path, &config, &errors) < 0) {
		fputs(errors, stderr);
		free(errors);
		return 1;
	}
	if (a.action == ACT_CHECK) {
		if (config->daemon.key) {
			struct key *k = NULL;
			if (key_load(config->daemon.key, &k, &errors) < 0) {
				fprintf(stderr, "%s\n", errors ? errors : "cannot load the key file");
				free(errors);
				config_free(config);
				return 1;
			}
			key_free(k);
		}
		printf("%s: configuration OK (%zu relays, %zu groups)\n", a.config_path, config->n_relays,
		       config->n_groups);
		config_free(config);
		return 0;
	}
	if (a.action == ACT_PRINT) {
		config_print(config, stdout);
		config_free(config);
		return 0;
	}
	log_init(config->daemon.log_level);
	r = daemon_setup(&d, a.config_path, config);
	if (r == 0) {
		r = daemon_run(&d);
	} else {
		log_err("relaypoold could not start: %s", strerror(-r));
		service_failed(r);
		r = 1;
	}
	daemon_free(&d);
	return r;
}
