/* config.c - relaypoold.conf. libinih does the INI syntax; we feed it through our own line
 * reader so every value carries its file:line (the Debian build of inih has no
 * INI_HANDLER_LINENO), empty and repeated sections are seen, and over-long lines (inih's
 * buffer is INI_MAX_LINE) are reported instead of being split silently. Parsing first
 * collects raw sections and keys, then interprets them, so [pool] may come after [relay].
 * Printing, the reload diff and the JSON views are config_print.c's. */
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "filter.h"
#include "limitation.h"
#include "log.h"
#include "proto.h"
#include "units.h"
#include "util.h"

#define MAX_RELAYS 1024
#define MAX_GROUPS 1024
#define MAX_ERRORS 50

/* ---- raw collection ---------------------------------------------------------------- */

struct raw_key {
	char *name;
	char *value;
	int line;
	bool continued;
};

struct raw_section {
	char *header; /* text between the brackets, trimmed */
	int line;
	struct raw_key *keys;
	size_t n_keys;
};

struct parser {
	const char *file;
	FILE *f;
	int line;
	bool cont;          /* the line just read continues the previous key */
	bool has_prev_name; /* mirrors inih: a key was read since the section began */
	struct raw_section *secs;
	size_t n_secs;
	char *errors;
	size_t errors_len;
	int n_errors;
};

static void perr(struct parser *p, int line, const char *fmt, ...) _printf_(3, 4);
static void perr(struct parser *p, int line, const char *fmt, ...)
{
	char msg[1024];
	int n;
	va_list ap;

	if (p->n_errors > MAX_ERRORS)
		return;
	if (p->n_errors++ == MAX_ERRORS) {
		snprintf(msg, sizeof(msg), "too many errors, giving up");
	} else {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	n = snprintf(NULL, 0, "%s:%d: %s\n", p->file, line, msg);
	p->errors = realloc(p->errors, p->errors_len + (size_t)n + 1);
	if (!p->errors)
		abort();
	snprintf(p->errors + p->errors_len, (size_t)n + 1, "%s:%d: %s\n", p->file, line, msg);
	p->errors_len += (size_t)n;
}

static void *xrealloc_array(void *ptr, size_t n, size_t size)
{
	void *r = reallocarray(ptr, n, size);
	if (!r)
		abort();
	return r;
}

static char *xstrdup(const char *s)
{
	char *r = strdup(s);
	if (!r)
		abort();
	return r;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static void begin_section(struct parser *p, char *header)
{
	struct raw_section *s;

	p->secs = xrealloc_array(p->secs, p->n_secs + 1, sizeof(*p->secs));
	s = &p->secs[p->n_secs++];
	memset(s, 0, sizeof(*s));
	s->header = xstrdup(trim(header));
	s->line = p->line;
}

/* The ini_reader: fgets plus classification of the line inih is about to parse. */
static char *reader(char *buf, int num, void *stream)
{
	struct parser *p = stream;
	size_t len;
	char *s;

	if (!fgets(buf, num, p->f))
		return NULL;
	p->line++;
	p->cont = false;
	len = strlen(buf);
	if (len == (size_t)num - 1 && buf[len - 1] != '\n' && !feof(p->f)) {
		int c;
		while ((c = getc(p->f)) != EOF && c != '\n')
			;
		perr(p, p->line, "line longer than %d characters; continue long values on indented lines",
		     num - 2);
		strcpy(buf, "\n");
		return buf;
	}
	s = buf;
	if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == '\n' || *s == '\r' || *s == ';' || *s == '#')
		return buf;
	if (s > buf && p->has_prev_name) {
		p->cont = true;
	} else if (*s == '[') {
		char *close = strchr(s, ']');
		p->has_prev_name = false;
		if (close) {
			char tmp[1024];
			snprintf(tmp, sizeof(tmp), "%.*s", (int)(close - s - 1), s + 1);
			begin_section(p, tmp);
		}
	} else {
		p->has_prev_name = strpbrk(s, "=:") != NULL;
	}
	return buf;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	struct raw_section *s;
	struct raw_key *k;

	(void)section;
	if (p->n_secs == 0) {
		perr(p, p->line, "key '%s' outside of a section", name);
		return 1;
	}
	s = &p->secs[p->n_secs - 1];
	if (p->cont && s->n_keys > 0) {
		k = &s->keys[s->n_keys - 1];
		size_t a = strlen(k->value), b = strlen(value);
		k->value = realloc(k->value, a + b + 2);
		if (!k->value)
			abort();
		/* Continuations are stored with a '\n' marker; interpretation decides the join. */
		k->value[a] = '\n';
		memcpy(k->value + a + 1, value, b + 1);
		k->continued = true;
		return 1;
	}
	s->keys = xrealloc_array(s->keys, s->n_keys + 1, sizeof(*s->keys));
	k = &s->keys[s->n_keys++];
	k->name = xstrdup(name);
	k->value = xstrdup(value);
	k->line = p->line;
	k->continued = false;
	return 1;
}

static void raw_free(struct parser *p)
{
	for (size_t i = 0; i < p->n_secs; i++) {
		for (size_t j = 0; j < p->secs[i].n_keys; j++) {
			free(p->secs[i].keys[j].name);
			free(p->secs[i].keys[j].value);
		}
		free(p->secs[i].keys);
		free(p->secs[i].header);
	}
	free(p->secs);
}
/* Parses one value of type t within [min, max]; reports at k's line. */
static int parse_number(struct parser *p, const struct raw_key *k, enum opt_type t, uint64_t min,
			uint64_t max, uint64_t *out)
{
	static const char *const kinds[] = {
		[OPT_COUNT] = "an integer",
		[OPT_DURATION] = "a duration (e.g. 500ms, 30s, 5m, 1h)",
		[OPT_SIZE] = "a size (e.g. 65536, 64KiB, 1MiB)",
		[OPT_AUTH] = "auto, yes or no",
	};
	char lo[32], hi[32];
	int r = config_parse_value(t, k->value, out);

	if (r == 0 && *out >= min && *out <= max)
		return 0;
	perr(p, k->line, "%s: expected %s%s%s%s%s, got '%s'", k->name, kinds[t], t == OPT_AUTH ? "" : " from ",
	     t == OPT_AUTH ? "" : config_format_value(t, min, lo, sizeof(lo)), t == OPT_AUTH ? "" : " to ",
	     t == OPT_AUTH ? "" : config_format_value(t, max, hi, sizeof(hi)), k->value);
	return -EINVAL;
}

static const struct pool_optdef *find_pool_def(const char *name)
{
	for (size_t i = 0; i < config_n_pool_defs; i++)
		if (streq(config_pool_defs[i].name, name))
			return &config_pool_defs[i];
	return NULL;
}

static int parse_bool(struct parser *p, const struct raw_key *k, bool *out)
{
	const char *v = k->value;

	if (streq(v, "yes") || streq(v, "true") || streq(v, "on") || streq(v, "1"))
		return *out = true, 0;
	if (streq(v, "no") || streq(v, "false") || streq(v, "off") || streq(v, "0"))
		return *out = false, 0;
	perr(p, k->line, "%s: expected yes or no, got '%s'", k->name, v);
	return -EINVAL;
}

/* ---- interpretation ----------------------------------------------------------------- */

/* Splits a space (or continuation) separated list into a NULL-terminated array. */
static char **split_words(const char *s, size_t *n)
{
	char **v = NULL;
	char *copy = xstrdup(s), *save = NULL;

	*n = 0;
	for (char *w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		v = xrealloc_array(v, *n + 2, sizeof(*v));
		v[(*n)++] = xstrdup(w);
		v[*n] = NULL;
	}
	free(copy);
	return v;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

/* Only list and JSON values may continue on indented lines. */
static bool check_single_line(struct parser *p, const struct raw_key *k)
{
	if (!k->continued)
		return true;
	perr(p, k->line, "%s: the value does not continue on the next line (only relays, allow_users, "
			 "allow_groups, filter and limits do)",
	     k->name);
	return false;
}

static int parse_abs_path(struct parser *p, const struct raw_key *k, char **out)
{
	if (!check_single_line(p, k))
		return -EINVAL;
	if (k->value[0] != '/') {
		perr(p, k->line, "%s: expected an absolute path, got '%s'", k->name, k->value);
		return -EINVAL;
	}
	free(*out);
	*out = xstrdup(k->value);
	return 0;
}

static int resolve_uid(const char *s, uid_t *uid)
{
	uint64_t v;
	struct passwd *pw;

	if (units_parse_uint(s, &v) == 0 && v < UINT32_MAX)
		return *uid = (uid_t)v, 0;
	pw = getpwnam(s);
	if (!pw)
		return -ENOENT;
	*uid = pw->pw_uid;
	return 0;
}

static int resolve_gid(const char *s, gid_t *gid)
{
	uint64_t v;
	struct group *gr;

	if (units_parse_uint(s, &v) == 0 && v < UINT32_MAX)
		return *gid = (gid_t)v, 0;
	gr = getgrnam(s);
	if (!gr)
		return -ENOENT;
	*gid = gr->gr_gid;
	return 0;
}

static void parse_allow_users(struct parser *p, const struct raw_key *k, struct config_daemon *d)
{
	strv_free(d->allow_users, d->n_allow_users);
	free(d->allow_uids);
	d->allow_users = split_words(k->value, &d->n_allow_users);
	d->allow_uids = xrealloc_array(NULL, d->n_allow_users + 1, sizeof(uid_t));
	for (size_t i = 0; i < d->n_allow_users; i++)
		if (resolve_uid(d->allow_users[i], &d->allow_uids[i]) < 0)
			perr(p, k->line, "allow_users: unknown user '%s'", d->allow_users[i]);
}

static void parse_allow_groups(struct parser *p, const struct raw_key *k, struct config_daemon *d)
{
	strv_free(d->allow_groups, d->n_allow_groups);
	free(d->allow_gids);
	d->allow_groups = split_words(k->value, &d->n_allow_groups);
	d->allow_gids = xrealloc_array(NULL, d->n_allow_groups + 1, sizeof(gid_t));
	for (size_t i = 0; i < d->n_allow_groups; i++)
		if (resolve_gid(d->allow_groups[i], &d->allow_gids[i]) < 0)
			perr(p, k->line, "allow_groups: unknown group '%s'", d->allow_groups[i]);
}

/* HOST:PORT on loopback only (127.0.0.1, [::1] or localhost): the metrics carry relay
 * names and traffic figures that are nobody else's business. */
static void parse_metrics_listen(struct parser *p, const struct raw_key *k, struct config_daemon *d)
{
	const char *v = k->value, *colon = strrchr(v, ':');
	char host[64];
	uint64_t port;

	if (!colon || colon == v || units_parse_uint(colon + 1, &port) < 0 || port == 0 || port > 65535 ||
	    (size_t)(colon - v) >= sizeof(host)) {
		perr(p, k->line, "metrics_listen: expected HOST:PORT on loopback (e.g. 127.0.0.1:9464), got '%s'", v);
		return;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - v), v);
	if (strcmp(host, "[::1]") == 0)
		strcpy(host, "::1");
	if (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "::1") != 0 && strcmp(host, "localhost") != 0) {
		perr(p, k->line, "metrics_listen: only loopback addresses are allowed (127.0.0.1, [::1], localhost), "
				 "got '%s'",
		     host);
		return;
	}
	free(d->metrics_listen);
	free(d->metrics_host);
	d->metrics_listen = xstrdup(v);
	d->metrics_host = xstrdup(host);
	d->metrics_port = (uint16_t)port;
}

static const char *const daemon_keys = "socket, socket_group, cache, key, log_level, allow_users, "
				       "allow_groups, max_clients, max_line, client_buffer, verify_threads, metrics_listen";

static void interpret_daemon_key(struct parser *p, const struct raw_key *k, struct config_daemon *d)
{
	uint64_t v;

	if (streq(k->name, "socket")) {
		parse_abs_path(p, k, &d->socket);
	} else if (streq(k->name, "cache")) {
		parse_abs_path(p, k, &d->cache);
	} else if (streq(k->name, "key")) {
		if (k->value[0] == '\0') {
			free(d->key);
			d->key = NULL;
		} else {
			parse_abs_path(p, k, &d->key);
		}
	} else if (streq(k->name, "socket_group")) {
		if (!check_single_line(p, k))
			return;
		if (resolve_gid(k->value, &d->socket_gid) < 0) {
			perr(p, k->line, "socket_group: unknown group '%s'", k->value);
			return;
		}
		free(d->socket_group);
		d->socket_group = xstrdup(k->value);
	} else if (streq(k->name, "log_level")) {
		int l = log_level_from_string(k->value);
		if (l < 0 || !check_single_line(p, k))
			perr(p, k->line, "log_level: expected debug, info, notice, warning or err, got '%s'",
			     k->value);
		else
			d->log_level = l;
	} else if (streq(k->name, "allow_users")) {
		parse_allow_users(p, k, d);
	} else if (streq(k->name, "allow_groups")) {
		parse_allow_groups(p, k, d);
	} else if (streq(k->name, "max_clients")) {
		if (check_single_line(p, k) && parse_number(p, k, OPT_COUNT, 1, 65536, &v) == 0)
			d->max_clients = (uint32_t)v;
	} else if (streq(k->name, "max_line")) {
		if (check_single_line(p, k) && parse_number(p, k, OPT_SIZE, 1024, 64ULL << 20, &v) == 0)
			d->max_line = v;
	} else if (streq(k->name, "verify_threads")) {
		if (!check_single_line(p, k))
			return;
		if (streq(k->value, "auto"))
			d->verify_threads = -1;
		else if (units_parse_uint(k->value, &v) == 0 && v <= 64)
			d->verify_threads = (int)v;
		else
			perr(p, k->line, "verify_threads: expected auto or an integer from 0 to 64, got '%s'", k->value);
	} else if (streq(k->name, "metrics_listen")) {
		if (check_single_line(p, k))
			parse_metrics_listen(p, k, d);
	} else if (streq(k->name, "client_buffer")) {
		if (check_single_line(p, k) && parse_number(p, k, OPT_SIZE, 64 << 10, 1ULL << 30, &v) == 0)
			d->client_buffer = v;
	} else {
		perr(p, k->line, "unknown key '%s' in [daemon] (expected one of: %s)", k->name, daemon_keys);
	}
}

/* A pool option in [pool] or [relay]; returns false if name is not one. */
static bool interpret_pool_key(struct parser *p, const struct raw_key *k, struct pool_opts *o,
			       uint32_t *mask)
{
	const struct pool_optdef *d = find_pool_def(k->name);
	uint64_t v;

	if (!d)
		return false;
	if (check_single_line(p, k) && parse_number(p, k, d->type, d->min, d->max, &v) == 0) {
		config_opt_set(o, d, v);
		if (mask)
			*mask |= 1u << (d - config_pool_defs);
	}
	return true;
}

static void pool_key_names(char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < config_n_pool_defs && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", config_pool_defs[i].name);
}

/* A JSON value (filter, limits): continuation lines are joined without a separator. */
static json_t *parse_json_value(struct parser *p, const struct raw_key *k)
{
	char *joined = xstrdup(k->value), *w = joined;
	json_error_t jerr;
	json_t *f;

	for (const char *r = k->value; *r; r++)
		if (*r != '\n')
			*w++ = *r;
	*w = '\0';
	f = json_loads(joined, JSON_REJECT_DUPLICATES, &jerr);
	free(joined);
	if (!f)
		perr(p, k->line, "%s: invalid JSON: %s (column %d)", k->name, jerr.text, jerr.column);
	return f;
}

static void interpret_relay_key(struct parser *p, const struct raw_key *k, struct config_relay *r)
{
	const char *why;
	char buf[1400];

	if (streq(k->name, "url")) {
		if (!check_single_line(p, k))
			return;
		if (wsurl_parse(k->value, &r->wsurl, &why) < 0) {
			perr(p, k->line, "url: %s, got '%s'", why, k->value);
			return;
		}
		wsurl_format(&r->wsurl, buf, sizeof(buf));
		free(r->url);
		r->url = xstrdup(buf);
	} else if (streq(k->name, "tls_verify")) {
		if (check_single_line(p, k) && parse_bool(p, k, &r->tls_verify) == 0)
			r->tls_verify_set = true;
	} else if (streq(k->name, "limits")) {
		struct relay_limits l;
		json_t *v = parse_json_value(p, k);
		limits_none(&l);
		if (v && limits_apply_json(&l, v, false, &why, buf, sizeof(buf)) < 0) {
			perr(p, k->line, "limits: %s", why);
			json_decref(v);
		} else if (v) {
			json_decref(r->limits);
			r->limits = v;
		}
	} else if (!interpret_pool_key(p, k, &r->over, &r->over_mask)) {
		pool_key_names(buf, sizeof(buf));
		perr(p, k->line, "unknown key '%s' in [relay %s] (expected url, tls_verify, limits or one of: %s)",
		     k->name, r->name, buf);
	}
}

static void interpret_filter(struct parser *p, const struct raw_key *k, struct config_group *g)
{
	char err[256];
	json_t *f = parse_json_value(p, k);

	if (!f)
		return;
	if (filter_validate(f, err, sizeof(err)) < 0) {
		perr(p, k->line, "filter: %s", err);
		json_decref(f);
		return;
	}
	json_decref(g->filter);
	g->filter = f;
}

static void interpret_group_key(struct parser *p, const struct raw_key *k, struct config_group *g)
{
	if (streq(k->name, "relays")) {
		strv_free(g->relays, g->n_relays);
		g->relays = split_words(k->value, &g->n_relays);
		if (g->n_relays == 0)
			perr(p, k->line, "relays: expected at least one relay name");
		for (size_t i = 0; i < g->n_relays; i++)
			for (size_t j = 0; j < i; j++)
				if (streq(g->relays[i], g->relays[j]))
					perr(p, k->line, "relays: '%s' is listed twice", g->relays[i]);
	} else if (streq(k->name, "filter")) {
		interpret_filter(p, k, g);
	} else {
		perr(p, k->line, "unknown key '%s' in [group %s] (expected relays or filter)", k->name, g->name);
	}
}

/* Reports keys given twice in one section. */
static void check_duplicate_keys(struct parser *p, const struct raw_section *s)
{
	for (size_t i = 0; i < s->n_keys; i++)
		for (size_t j = 0; j < i; j++)
			if (streq(s->keys[i].name, s->keys[j].name)) {
				perr(p, s->keys[i].line, "duplicate key '%s' (first at line %d)", s->keys[i].name,
				     s->keys[j].line);
				break;
			}
}

static struct config_relay *add_relay(struct parser *p, struct config *c, const char *name, int line)
{
	struct config_relay *r;

	for (size_t i = 0; i < c->n_relays; i++)
		if (streq(c->relays[i].name, name)) {
			perr(p, line, "duplicate section [relay %s] (first at line %d)", name, c->relays[i].line);
			return NULL;
		}
	if (c->n_relays >= MAX_RELAYS) {
		perr(p, line, "too many relays (at most %d)", MAX_RELAYS);
		return NULL;
	}
	c->relays = xrealloc_array(c->relays, c->n_relays + 1, sizeof(*c->relays));
	r = &c->relays[c->n_relays++];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	r->tls_verify = true;
	r->line = line;
	return r;
}

static struct config_group *add_group(struct parser *p, struct config *c, const char *name, int line)
{
	struct config_group *g;

	for (size_t i = 0; i < c->n_groups; i++)
		if (streq(c->groups[i].name, name)) {
			perr(p, line, "duplicate section [group %s] (first at line %d)", name, c->groups[i].line);
			return NULL;
		}
	if (c->n_groups >= MAX_GROUPS) {
		perr(p, line, "too many groups (at most %d)", MAX_GROUPS);
		return NULL;
	}
	c->groups = xrealloc_array(c->groups, c->n_groups + 1, sizeof(*c->groups));
	g = &c->groups[c->n_groups++];
	memset(g, 0, sizeof(*g));
	g->name = xstrdup(name);
	g->line = line;
	return g;
}

/* Splits "relay NAME" into kind and name; returns false (after reporting) if malformed. */
static bool split_header(struct parser *p, const struct raw_section *s, const char *kind,
			 const char **name)
{
	size_t kl = strlen(kind);
	const char *n = s->header + kl;

	if (*n != ' ' && *n != '\t') {
		perr(p, s->line, "[%s] needs a name: [%s NAME]", kind, kind);
		return false;
	}
	while (*n == ' ' || *n == '\t')
		n++;
	if (!valid_name(n)) {
		perr(p, s->line, "[%s %s]: names are 1-64 characters from A-Z a-z 0-9 . _ -", kind, n);
		return false;
	}
	*name = n;
	return true;
}

static bool header_is(const char *h, const char *kind)
{
	size_t l = strlen(kind);
	return strncmp(h, kind, l) == 0 && (h[l] == '\0' || h[l] == ' ' || h[l] == '\t');
}

static void interpret_section(struct parser *p, struct config *c, const struct raw_section *s,
			      int *daemon_line, int *pool_line)
{
	const char *name;

	check_duplicate_keys(p, s);
	if (streq(s->header, "daemon") || streq(s->header, "pool")) {
		bool is_daemon = s->header[0] == 'd';
		int *seen = is_daemon ? daemon_line : pool_line;
		char buf[512];
		if (*seen) {
			perr(p, s->line, "duplicate section [%s] (first at line %d)", s->header, *seen);
			return;
		}
		*seen = s->line;
		for (size_t i = 0; i < s->n_keys; i++) {
			const struct raw_key *k = &s->keys[i];
			if (is_daemon)
				interpret_daemon_key(p, k, &c->daemon);
			else if (streq(k->name, "max_connecting")) {
				uint64_t v;
				if (check_single_line(p, k) && parse_number(p, k, OPT_COUNT, 1, 1024, &v) == 0)
					c->max_connecting = (uint32_t)v;
			} else if (!interpret_pool_key(p, k, &c->pool, NULL)) {
				pool_key_names(buf, sizeof(buf));
				perr(p, k->line, "unknown key '%s' in [pool] (expected max_connecting or one of: %s)",
				     k->name, buf);
			}
		}
	} else if (header_is(s->header, "relay")) {
		struct config_relay *r;
		if (!split_header(p, s, "relay", &name) || !(r = add_relay(p, c, name, s->line)))
			return;
		bool has_url = false;
		for (size_t i = 0; i < s->n_keys; i++) {
			interpret_relay_key(p, &s->keys[i], r);
			has_url |= streq(s->keys[i].name, "url");
		}
		if (!has_url)
			perr(p, s->line, "[relay %s] has no url", r->name);
	} else if (header_is(s->header, "group")) {
		struct config_group *g;
		if (!split_header(p, s, "group", &name) || !(g = add_group(p, c, name, s->line)))
			return;
		for (size_t i = 0; i < s->n_keys; i++)
			interpret_group_key(p, &s->keys[i], g);
		if (!g->relays)
			perr(p, s->line, "[group %s] has no relays", g->name);
	} else {
		perr(p, s->line, "unknown section [%s] (expected [daemon], [pool], [relay NAME] or [group NAME])",
		     s->header);
	}
}

static void set_defaults(struct config *c)
{
	c->daemon.socket = xstrdup(RP_DEFAULT_SOCKET);
	c->daemon.cache = xstrdup("/var/lib/relaypool/cache.db");
	c->daemon.log_level = LOG_INFO;
	c->daemon.max_clients = 256;
	c->daemon.max_line = 1 << 20;
	c->daemon.client_buffer = 4 << 20;
	c->daemon.verify_threads = -1;
	for (size_t i = 0; i < config_n_pool_defs; i++)
		config_opt_set(&c->pool, &config_pool_defs[i], config_pool_defs[i].dflt);
	c->max_connecting = 16;
}

static void check_backoff(struct parser *p, const struct pool_opts *o, int line, const char *where)
{
	char a[32], b[32];

	if (o->backoff_max_ms < o->backoff_base_ms)
		perr(p, line, "%s: backoff_max (%s) must not be smaller than backoff_base (%s)", where,
		     units_format_duration_ms(o->backoff_max_ms, a, sizeof(a)),
		     units_format_duration_ms(o->backoff_base_ms, b, sizeof(b)));
}

/* Cross-section checks and the effective per-relay options. */
static void finish(struct parser *p, struct config *c, int pool_line)
{
	char where[128];

	check_backoff(p, &c->pool, pool_line ? pool_line : 1, "[pool]");
	for (size_t i = 0; i < c->n_relays; i++) {
		struct config_relay *r = &c->relays[i];
		r->opts = c->pool;
		for (size_t j = 0; j < config_n_pool_defs; j++)
			if (r->over_mask & (1u << j))
				config_opt_set(&r->opts, &config_pool_defs[j], config_opt_get(&r->over, &config_pool_defs[j]));
		snprintf(where, sizeof(where), "[relay %s]", r->name);
		if (r->over_mask)
			check_backoff(p, &r->opts, r->line, where);
		if (r->opts.auth == AUTH_YES && !c->daemon.key)
			perr(p, r->line, "%s: auth = yes needs [daemon] key (NIP-42 AUTH events are signed with it)", where);
	}
	for (size_t i = 0; i < c->n_groups; i++) {
		const struct config_group *g = &c->groups[i];
		for (size_t j = 0; j < g->n_relays; j++)
			if (!config_find_relay(c, g->relays[j]))
				perr(p, g->line, "[group %s]: relay '%s' is not defined by a [relay %s] section",
				     g->name, g->relays[j], g->relays[j]);
	}
}

int config_load(const char *path, struct config **out, char **errors)
{
	struct parser p = { .file = path };
	struct config *c;
	int daemon_line = 0, pool_line = 0, r;

	*out = NULL;
	*errors = NULL;
	p.f = fopen(path, "re");
	if (!p.f) {
		r = -errno;
		if (asprintf(errors, "%s: cannot open: %s\n", path, strerror(errno)) < 0)
			abort();
		return r;
	}
	r = ini_parse_stream(reader, &p, handler, &p);
	if (ferror(p.f))
		perr(&p, p.line, "read error");
	fclose(p.f);
	if (r > 0)
		perr(&p, r, "syntax error: expected '[section]', 'key = value' or a comment");
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->path = xstrdup(path);
	set_defaults(c);
	for (size_t i = 0; i < p.n_secs; i++)
		interpret_section(&p, c, &p.secs[i], &daemon_line, &pool_line);
	finish(&p, c, pool_line);
	raw_free(&p);
	if (p.n_errors) {
		config_free(c);
		*errors = p.errors;
		return -EINVAL;
	}
	*out = c;
	return 0;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->daemon.socket);
	free(c->daemon.socket_group);
	free(c->daemon.cache);
	free(c->daemon.key);
	free(c->daemon.metrics_listen);
	free(c->daemon.metrics_host);
	strv_free(c->daemon.allow_users, c->daemon.n_allow_users);
	free(c->daemon.allow_uids);
	strv_free(c->daemon.allow_groups, c->daemon.n_allow_groups);
	free(c->daemon.allow_gids);
	for (size_t i = 0; i < c->n_relays; i++) {
		free(c->relays[i].name);
		free(c->relays[i].url);
		json_decref(c->relays[i].limits);
	}
	free(c->relays);
	for (size_t i = 0; i < c->n_groups; i++) {
		free(c->groups[i].name);
		strv_free(c->groups[i].relays, c->groups[i].n_relays);
		json_decref(c->groups[i].filter);
	}
	free(c->groups);
	free(c);
}

const struct config_relay *config_find_relay(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_relays; i++)
		if (streq(c->relays[i].name, name))
			return &c->relays[i];
	return NULL;
}

const struct config_group *config_find_group(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_groups; i++)
		if (streq(c->groups[i].name, name))
			return &c->groups[i];
	return NULL;
}
