/* config_print.c - a configuration shown: the normalized text (--print-config, which parses
 * back to the same configuration), the difference between two configurations (what a reload
 * changes), and the JSON views the status op shows. */
#include <inttypes.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "units.h"
#include "util.h"

/* Printed lines stay below inih's default INI_MAX_LINE (200) so output parses back. */
#define PRINT_WIDTH 160

/* Prints "key = words", wrapping onto indented continuation lines between words. */
static void print_words(FILE *f, const char *key, char *const *w, size_t n)
{
	size_t col = (size_t)fprintf(f, "%s =", key);

	for (size_t i = 0; i < n; i++) {
		if (i > 0 && col + 1 + strlen(w[i]) > PRINT_WIDTH) {
			fputs("\n   ", f);
			col = 3;
		}
		col += (size_t)fprintf(f, " %s", w[i]);
	}
	fputc('\n', f);
}

/* Prints the filter as compact JSON, ';' escaped (inih would take " ;" for a comment), cut
 * into continuation lines only between two non-blank characters so the join is exact:
 * preferably after a ',' once the line is long, in any case at PRINT_WIDTH. */
static void print_json(FILE *f, const char *key, const json_t *filter)
{
	_cleanup_free_ char *s = json_dumps(filter, JSON_COMPACT | JSON_SORT_KEYS);
	size_t col;

	if (!s)
		abort();
	col = (size_t)fprintf(f, "%s = ", key);
	for (const char *c = s; *c; c++) {
		char prev = c > s ? c[-1] : ' ';
		bool blank_around = prev == ' ' || *c == ' ';
		bool after_comma = prev == ',' && col >= PRINT_WIDTH * 2 / 3;
		if (!blank_around && (after_comma || col >= PRINT_WIDTH)) {
			fputs("\n    ", f);
			col = 4;
		}
		if (*c == ';')
			col += (size_t)fprintf(f, "\\u003b");
		else
			col += (size_t)(fputc(*c, f) != EOF);
	}
	fputc('\n', f);
}

static void print_pool_opts(FILE *f, const struct pool_opts *o, uint32_t mask, bool all)
{
	char buf[64];

	for (size_t i = 0; i < config_n_pool_defs; i++)
		if (all || (mask & (1u << i)))
			fprintf(f, "%s = %s\n", config_pool_defs[i].name,
				config_format_value(config_pool_defs[i].type, config_opt_get(o, &config_pool_defs[i]), buf, sizeof(buf)));
}

void config_print(const struct config *c, FILE *f)
{
	const struct config_daemon *d = &c->daemon;
	char buf[64];

	fprintf(f, "# relaypoold configuration, normalized by relaypoold --print-config\n");
	fprintf(f, "[daemon]\nsocket = %s\n", d->socket);
	if (d->socket_group)
		fprintf(f, "socket_group = %s\n", d->socket_group);
	fprintf(f, "cache = %s\n", d->cache);
	if (d->key)
		fprintf(f, "key = %s\n", d->key);
	fprintf(f, "log_level = %s\n", log_level_to_string(d->log_level));
	if (d->n_allow_users)
		print_words(f, "allow_users", d->allow_users, d->n_allow_users);
	if (d->n_allow_groups)
		print_words(f, "allow_groups", d->allow_groups, d->n_allow_groups);
	fprintf(f, "max_clients = %" PRIu32 "\n", d->max_clients);
	fprintf(f, "max_line = %s\n", units_format_size(d->max_line, buf, sizeof(buf)));
	fprintf(f, "client_buffer = %s\n", units_format_size(d->client_buffer, buf, sizeof(buf)));
	if (d->metrics_listen)
		fprintf(f, "metrics_listen = %s\n", d->metrics_listen);
	if (d->verify_threads < 0)
		fprintf(f, "verify_threads = auto\n");
	else
		fprintf(f, "verify_threads = %d\n", d->verify_threads);

	fprintf(f, "\n[pool]\n");
	print_pool_opts(f, &c->pool, 0, true);
	fprintf(f, "max_connecting = %" PRIu32 "\n", c->max_connecting);

	for (size_t i = 0; i < c->n_relays; i++) {
		const struct config_relay *r = &c->relays[i];
		fprintf(f, "\n[relay %s]\nurl = %s\n", r->name, r->url);
		if (r->tls_verify_set)
			fprintf(f, "tls_verify = %s\n", r->tls_verify ? "yes" : "no");
		if (r->limits)
			print_json(f, "limits", r->limits);
		print_pool_opts(f, &r->over, r->over_mask, false);
	}
	for (size_t i = 0; i < c->n_groups; i++) {
		const struct config_group *g = &c->groups[i];
		fprintf(f, "\n[group %s]\n", g->name);
		print_words(f, "relays", g->relays, g->n_relays);
		if (g->filter)
			print_json(f, "filter", g->filter);
	}
}

/* ---- reload diff ---------------------------------------------------------------------- */

static void relay_changed_keys(const struct config_relay *a, const struct config_relay *b, json_t *keys)
{
	if (!streq(a->url, b->url))
		json_array_append_new(keys, json_string("url"));
	if (a->tls_verify != b->tls_verify)
		json_array_append_new(keys, json_string("tls_verify"));
	if (!json_equal(a->limits, b->limits) && (a->limits || b->limits))
		json_array_append_new(keys, json_string("limits"));
	for (size_t i = 0; i < config_n_pool_defs; i++)
		if (config_opt_get(&a->opts, &config_pool_defs[i]) != config_opt_get(&b->opts, &config_pool_defs[i]))
			json_array_append_new(keys, json_string(config_pool_defs[i].name));
}

static void group_changed_keys(const struct config_group *a, const struct config_group *b, json_t *keys)
{
	bool same = a->n_relays == b->n_relays;

	for (size_t i = 0; same && i < a->n_relays; i++)
		same = streq(a->relays[i], b->relays[i]);
	if (!same)
		json_array_append_new(keys, json_string("relays"));
	if (!(a->filter == NULL && b->filter == NULL) &&
	    (a->filter == NULL || b->filter == NULL || !json_equal(a->filter, b->filter)))
		json_array_append_new(keys, json_string("filter"));
}

static bool strv_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!streq(a[i], b[i]))
			return false;
	return true;
}

static bool str_equal_null(const char *a, const char *b)
{
	return (!a && !b) || (a && b && streq(a, b));
}

static json_t *daemon_diff(const struct config_daemon *a, const struct config_daemon *b, json_t *restart)
{
	json_t *changed = json_array();

#define CHANGED(key, cond, needs_restart)                                                          \
	do {                                                                                       \
		if (cond) {                                                                        \
			json_array_append_new(changed, json_string(key));                          \
			if (needs_restart)                                                         \
				json_array_append_new(restart, json_string(key));                  \
		}                                                                                  \
	} while (0)
	CHANGED("socket", !streq(a->socket, b->socket), true);
	CHANGED("socket_group", !str_equal_null(a->socket_group, b->socket_group), true);
	CHANGED("cache", !streq(a->cache, b->cache), true);
	CHANGED("key", !str_equal_null(a->key, b->key), true);
	CHANGED("log_level", a->log_level != b->log_level, false);
	CHANGED("allow_users", !strv_equal(a->allow_users, a->n_allow_users, b->allow_users, b->n_allow_users),
		false);
	CHANGED("allow_groups",
		!strv_equal(a->allow_groups, a->n_allow_groups, b->allow_groups, b->n_allow_groups), false);
	CHANGED("max_clients", a->max_clients != b->max_clients, false);
	CHANGED("max_line", a->max_line != b->max_line, false);
	CHANGED("client_buffer", a->client_buffer != b->client_buffer, false);
	CHANGED("verify_threads", a->verify_threads != b->verify_threads, true);
	CHANGED("metrics_listen", !str_equal_null(a->metrics_listen, b->metrics_listen), true);
#undef CHANGED
	return changed;
}

json_t *config_diff(const struct config *old, const struct config *new)
{
	json_t *restart = json_array();
	json_t *r_add = json_array(), *r_rm = json_array(), *r_ch = json_array();
	json_t *g_add = json_array(), *g_rm = json_array(), *g_ch = json_array();

	for (size_t i = 0; i < new->n_relays; i++) {
		const struct config_relay *n = &new->relays[i], *o = config_find_relay(old, n->name);
		json_t *keys;
		if (!o) {
			json_array_append_new(r_add, json_string(n->name));
			continue;
		}
		keys = json_array();
		relay_changed_keys(o, n, keys);
		if (json_array_size(keys))
			json_array_append_new(r_ch, json_pack("{s:s, s:o}", "name", n->name, "keys", keys));
		else
			json_decref(keys);
	}
	for (size_t i = 0; i < old->n_relays; i++)
		if (!config_find_relay(new, old->relays[i].name))
			json_array_append_new(r_rm, json_string(old->relays[i].name));
	for (size_t i = 0; i < new->n_groups; i++) {
		const struct config_group *n = &new->groups[i], *o = config_find_group(old, n->name);
		json_t *keys;
		if (!o) {
			json_array_append_new(g_add, json_string(n->name));
			continue;
		}
		keys = json_array();
		group_changed_keys(o, n, keys);
		if (json_array_size(keys))
			json_array_append_new(g_ch, json_pack("{s:s, s:o}", "name", n->name, "keys", keys));
		else
			json_decref(keys);
	}
	for (size_t i = 0; i < old->n_groups; i++)
		if (!config_find_group(new, old->groups[i].name))
			json_array_append_new(g_rm, json_string(old->groups[i].name));
	json_t *pool_changed = json_array();
	for (size_t i = 0; i < config_n_pool_defs; i++)
		if (config_opt_get(&old->pool, &config_pool_defs[i]) != config_opt_get(&new->pool, &config_pool_defs[i]))
			json_array_append_new(pool_changed, json_string(config_pool_defs[i].name));
	if (old->max_connecting != new->max_connecting)
		json_array_append_new(pool_changed, json_string("max_connecting"));

	return json_pack("{s:{s:o, s:o, s:o}, s:{s:o, s:o, s:o}, s:o, s:o, s:o}",
			 "relays", "added", r_add, "removed", r_rm, "changed", r_ch,
			 "groups", "added", g_add, "removed", g_rm, "changed", g_ch,
			 "daemon", daemon_diff(&old->daemon, &new->daemon, restart),
			 "pool", pool_changed,
			 "restart_required", restart);
}

/* ---- JSON views ----------------------------------------------------------------------- */

json_t *config_relays_json(const struct config *c)
{
	json_t *a = json_array();

	for (size_t i = 0; i < c->n_relays; i++) {
		const struct config_relay *r = &c->relays[i];
		json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:I, s:I}", "name", r->name, "url", r->url,
						   "tls_verify", r->tls_verify, "sessions",
						   (json_int_t)r->opts.sessions, "inflight",
						   (json_int_t)r->opts.inflight));
	}
	return a;
}

json_t *config_groups_json(const struct config *c)
{
	json_t *a = json_array();

	for (size_t i = 0; i < c->n_groups; i++) {
		const struct config_group *g = &c->groups[i];
		json_t *relays = json_array();
		for (size_t j = 0; j < g->n_relays; j++)
			json_array_append_new(relays, json_string(g->relays[j]));
		json_array_append_new(a, json_pack("{s:s, s:o, s:O?}", "name", g->name, "relays", relays,
						   "filter", g->filter));
	}
	return a;
}
