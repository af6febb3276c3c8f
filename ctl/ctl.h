/* ctl.h - what relaypoolctl's commands share: global options, the output renderer, the
 * connection, and the command table entry. */
#ifndef RELAYPOOLCTL_CTL_H
#define RELAYPOOLCTL_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"
#include "output.h"
#include "proto.h"
#include "util.h"

struct ctl {
	const char *socket;
	bool json;
	bool quiet; /* -q: no report of what succeeded; failures and what was asked for still print */
	const struct output *out;
	struct client client;
	bool connected;
};

struct command {
	const char *name;
	int (*run)(struct ctl *ctl, int argc, char **argv); /* returns an rp_exit code */
	const char *args;                                   /* usage after the name */
	const char *summary;
	const char *help; /* full text for "relaypoolctl COMMAND --help" */
};

/* Connects on first use; returns RP_EXIT_OK or RP_EXIT_UNREACHABLE (message printed). */
int ctl_connect(struct ctl *ctl);
/* Runs one request/reply exchange and renders it with render (or out->error on failure).
 * Returns the exit code. */
int ctl_simple(struct ctl *ctl, const char *op, json_t *args, void (*render)(const json_t *reply));
/* For commands without options: handles --help / -h and rejects anything else. Returns -1
 * to continue, or an exit code. */
int ctl_no_options(const struct command *cmd, int argc, char **argv);
void ctl_command_help(const struct command *cmd, FILE *f);
/* --timeout of a command that waits: after ms (0: never) the process prints that it gave
 * up, with what (e.g. what the daemon does meanwhile), and exits 1. */
void ctl_deadline(const char *cmd, const char *what, uint64_t ms);
/* A --tag argument: "NAME=VALUE" or a JSON array of strings; p=npub1... and e/q=note1...
 * become hex. NULL if malformed. */
json_t *ctl_parse_tag(const char *arg);
/* A filter object or an array of them (npub/note in authors/ids become hex) as an array;
 * NULL after a message naming cmd. */
json_t *ctl_parse_filters(const char *cmd, const char *text);

/* Command families. */
extern const struct command cmd_status, cmd_reload, cmd_version;
extern const struct command cmd_verify, cmd_sign;
extern const struct command cmd_publish, cmd_relays;
extern const struct command cmd_query, cmd_sync, cmd_outbox;
extern const struct command cmd_stats, cmd_metrics, cmd_trace;
extern const struct command cmd_subscribe, cmd_subscriptions;

#endif
