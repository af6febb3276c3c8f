/* config.h - relaypoold.conf: parsing (libinih) and validation (config.c); normalized
 * printing, the difference between two configurations and JSON views (config_print.c). */
#ifndef RELAYPOOL_CONFIG_H
#define RELAYPOOL_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "config_opts.h"
#include "wsurl.h"

#define CONFIG_DEFAULT_PATH RELAYPOOL_SYSCONFDIR "/relaypool/relaypoold.conf"

struct config_relay {
	char *name;
	char *url; /* normal form (wsurl_format) */
	struct wsurl wsurl;
	bool tls_verify;
	bool tls_verify_set;
	struct pool_opts over; /* values written in the section */
	uint32_t over_mask;    /* which of them (bit per pool option) */
	json_t *limits;        /* NIP-11 limitation fields that override the relay's document, or NULL */
	struct pool_opts opts; /* effective: [pool] merged with the overrides */
	int line;
};

struct config_group {
	char *name;
	char **relays; /* names of [relay] sections */
	size_t n_relays;
	json_t *filter; /* NIP-01 filter object, or NULL */
	int line;
};

struct config_daemon {
	char *socket;
	char *socket_group; /* as written; NULL = the daemon's own group */
	gid_t socket_gid;
	char *cache;
	char *key; /* NULL = no signing key */
	int log_level;
	char **allow_users; /* as written; empty = every peer that can open the socket */
	uid_t *allow_uids;
	size_t n_allow_users;
	char **allow_groups;
	gid_t *allow_gids;
	size_t n_allow_groups;
	uint32_t max_clients;
	uint64_t max_line;      /* longest request line, bytes */
	uint64_t client_buffer; /* per-client output high-water mark, bytes */
	int verify_threads;     /* signature verification threads; -1 = auto */
	char *metrics_listen;   /* as written, "127.0.0.1:9464"; NULL = no HTTP listener */
	char *metrics_host;
	uint16_t metrics_port;
};

struct config {
	char *path;
	struct config_daemon daemon;
	struct pool_opts pool;
	uint32_t max_connecting; /* pool-wide simultaneous connection attempts */
	struct config_relay *relays;
	size_t n_relays;
	struct config_group *groups;
	size_t n_groups;
};

/* Parses and validates path. On failure returns -EINVAL (or -errno when the file cannot
 * be read) and sets *errors to a malloc'd text of "file:line: message" lines. */
int config_load(const char *path, struct config **out, char **errors);
void config_free(struct config *c);

/* Writes the normalized configuration: every daemon and pool key with its value, relay
 * overrides only where set. Parsing the output yields the same configuration. */
void config_print(const struct config *c, FILE *f);

const struct config_relay *config_find_relay(const struct config *c, const char *name);
const struct config_group *config_find_group(const struct config *c, const char *name);

/* What changed from old to new: {"relays": {"added": [names], "removed": [names],
 * "changed": [{"name": n, "keys": [keys]}]}, "groups": {same}, "daemon": [changed keys],
 * "restart_required": [daemon keys that only take effect after a restart]}. */
json_t *config_diff(const struct config *old, const struct config *new);

/* JSON view of the configured relays and groups (used by the status op). */
json_t *config_relays_json(const struct config *c);
json_t *config_groups_json(const struct config *c);

#endif
