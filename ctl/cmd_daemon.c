/* cmd_daemon.c - commands about the daemon itself: status, reload, version. */
#include <stdio.h>

#include "ctl.h"

static int run_status(struct ctl *ctl, int argc, char **argv)
{
	int r = ctl_no_options(&cmd_status, argc, argv);
	return r >= 0 ? r : ctl_simple(ctl, RP_OP_STATUS, NULL, ctl->out->status);
}

static int run_reload(struct ctl *ctl, int argc, char **argv)
{
	int r = ctl_no_options(&cmd_reload, argc, argv);
	return r >= 0 ? r : ctl_simple(ctl, RP_OP_RELOAD, NULL, ctl->out->reload);
}

/* Prints our own version even when the daemon cannot be reached (then exits 3). */
static int run_version(struct ctl *ctl, int argc, char **argv)
{
	json_t *reply = NULL;
	int r = ctl_no_options(&cmd_version, argc, argv);

	if (r >= 0)
		return r;
	if (ctl_connect(ctl) != RP_EXIT_OK) {
		ctl->out->version(RELAYPOOL_VERSION, NULL);
		return RP_EXIT_UNREACHABLE;
	}
	if (client_call(&ctl->client, RP_OP_HELLO, NULL, &reply, NULL, NULL) <= 0)
		return RP_EXIT_UNREACHABLE;
	if (!reply_ok(reply)) {
		ctl->out->error(reply);
		json_decref(reply);
		return RP_EXIT_FAILED;
	}
	ctl->out->version(RELAYPOOL_VERSION, reply);
	json_decref(reply);
	return RP_EXIT_OK;
}

const struct command cmd_status = {
	"status", run_status, "", "show the daemon's state, relays and groups",
	"Shows the daemon's version, uptime, configuration file, connected clients and the\n"
	"configured relays and groups.\n",
};

const struct command cmd_reload = {
	"reload", run_reload, "", "re-read the configuration file (like SIGHUP)",
	"Asks the daemon to re-read its configuration. A valid file replaces the running\n"
	"configuration and the changes are listed; an invalid one is rejected with its\n"
	"file:line errors (exit 1) and the daemon keeps running on the old configuration.\n",
};

const struct command cmd_version = {
	"version", run_version, "", "show relaypoolctl's and the daemon's versions",
	"Prints relaypoolctl's version and asks the daemon for its own (hello op).\n",
};
