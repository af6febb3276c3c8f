/* daemon.c - the daemon's life: the modules created in dependency order and wired through
 * what each gets at creation, signals, reload (parse into a fresh config, swap only on
 * success) and clean shutdown. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "clock.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "db.h"
#include "key.h"
#include "live.h"
#include "log.h"
#include "metrics.h"
#include "op_cache.h"
#include "outbox.h"
#include "pool.h"
#include "publish.h"
#include "service.h"
#include "stats.h"
#include "sync.h"
#include "trace.h"
#include "verifier.h"

/* How long a shutdown waits for sessions to close and clients to take their last replies. */
#define STOP_FLUSH_USEC (3 * 1000 * 1000)

/* Logs every line of a multi-line error text at prio. */
static void log_lines(int prio, const char *prefix, const char *text)
{
	const char *p = text;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);
		log_msg(prio, "%s%.*s", prefix, n, p);
		p = nl ? nl + 1 : NULL;
	}
}

static void log_diff(json_t *diff)
{
	_cleanup_free_ char *text = json_dumps(diff, JSON_COMPACT);
	json_t *restart = json_object_get(diff, "restart_required");
	size_t i;
	json_t *k;

	log_notice("reload: configuration changes %s", text ? text : "?");
	json_array_foreach(restart, i, k)
		log_warn("reload: [daemon] %s changed; it takes effect at the next restart", json_string_value(k));
}

int daemon_reload(struct daemon *d, json_t **diff, char **errors)
{
	struct config *fresh, *old = d->config;
	char *errs = NULL;
	json_t *delta;
	int r;

	if (diff)
		*diff = NULL;
	if (errors)
		*errors = NULL;
	service_reloading();
	r = config_load(d->config_path, &fresh, &errs);
	if (r < 0) {
		d->reload_failures++;
		log_lines(LOG_ERR, "reload failed, keeping the running configuration: ", errs);
		service_reloaded(r);
		if (errors)
			*errors = errs;
		else
			free(errs);
		return r;
	}
	delta = config_diff(old, fresh);
	log_diff(delta);
	/* Settings that need a restart keep their running values. */
	free(fresh->daemon.socket);
	fresh->daemon.socket = strdup(old->daemon.socket);
	if (!fresh->daemon.socket)
		abort();
	log_set_level(fresh->daemon.log_level);
	d->config = fresh;
	d->ctx.config = fresh;
	control_configure(d->control, &fresh->daemon);
	config_free(old);
	pool_apply_config(d->pool, fresh);
	publisher_resume(d->publisher);
	d->reloads++;
	service_reloaded(0);
	if (diff)
		*diff = delta;
	else
		json_decref(delta);
	return 0;
}

/* Both the pool's sessions and the control clients must be closed before we exit. */
static void stop_part_done(void *arg)
{
	struct daemon *d = arg;

	if (d->stop_pending && --d->stop_pending == 0) {
		log_info("all sessions and clients closed, exiting");
		event_base_loopexit(d->base, NULL);
	}
}

static void on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd, (void)what;
	log_warn("sessions or clients did not close within %d s, exiting anyway", STOP_FLUSH_USEC / 1000000);
	event_base_loopexit(d->base, NULL);
}

void daemon_stop(struct daemon *d)
{
	struct timeval tv = { .tv_sec = STOP_FLUSH_USEC / 1000000 };

	if (d->stopping)
		return;
	d->stopping = true;
	log_notice("shutting down");
	service_stopping();
	control_stop_listening(d->control);
	trace_stop_all();
	live_stop(d->live);
	metrics_stop_listening(d->metrics);
	d->stop_timer = evtimer_new(d->base, on_stop_timeout, d);
	if (d->stop_timer)
		evtimer_add(d->stop_timer, &tv);
	d->stop_pending = 2;
	pool_stop(d->pool, stop_part_done, d);
	control_drain(d->control, stop_part_done, d);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		if (d->stopping) {
			log_notice("SIGHUP while shutting down, ignoring");
			return;
		}
		log_notice("SIGHUP: reloading %s", d->config_path);
		daemon_reload(d, NULL, NULL);
		return;
	}
	log_notice("%s received", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	daemon_stop(d);
}

/* ---- what only the daemon knows, for the ops and systemd ------------------------------- */

static int ctx_reload(void *owner, json_t **diff, char **errors)
{
	return daemon_reload(owner, diff, errors);
}

static void ctx_info(void *owner, struct daemon_info *out)
{
	struct daemon *d = owner;

	*out = (struct daemon_info){
		.started_at = d->started_at,
		.started_us = d->started_usec,
		.config_path = d->config_path,
		.clients = control_n_clients(d->control),
		.requests = control_n_requests(d->control),
		.reloads = d->reloads,
		.reload_failures = d->reload_failures,
	};
}

/* "4/4 relays up, 8/8 sessions ready, 12 queued, 3 in flight, 0 failing"; failing: relays
 * without a ready session (connecting, or backing off after errors). */
static void status_line(void *arg, char *buf, size_t size)
{
	struct daemon *d = arg;
	struct pool_totals t;

	pool_totals(d->pool, clock_now_us(), &t);
	snprintf(buf, size, "%u/%u relays up, %u/%u sessions ready, %llu queued, %llu in flight, %u failing", t.relays_up,
		 t.relays, t.sessions_ready, t.sessions, t.queued, t.inflight,
		 t.relays > t.relays_up ? t.relays - t.relays_up : 0);
}

/* ---- setup ------------------------------------------------------------------------------ */

/* auto: one thread per CPU but one (the loop's), at least 1, at most 4. */
static unsigned verify_threads(const struct config *c)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (c->daemon.verify_threads >= 0)
		return (unsigned)c->daemon.verify_threads;
	if (cpus <= 2)
		return 1;
	return cpus - 1 > 4 ? 4 : (unsigned)(cpus - 1);
}

/* The database with the cache and outbox in it; a damaged or unwritable file stops the start. */
static int open_storage(struct daemon *d)
{
	char *why = NULL;
	int r = db_open(d->config->daemon.cache, d->base, &d->db, &why);

	if (r < 0) {
		log_err("%s", why ? why : "cannot open the cache");
		free(why);
		return r;
	}
	if (cache_new(d->db, &d->cache) < 0 || outbox_new(d->db, &d->outbox) < 0)
		return log_err("%s: cannot set up the cache and outbox", d->config->daemon.cache), -EIO;
	log_info("cache: %s", d->config->daemon.cache);
	return 0;
}

static int setup_signals(struct daemon *d)
{
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	if (!d->sig_term || !d->sig_int || !d->sig_hup || evsignal_add(d->sig_term, NULL) < 0 ||
	    evsignal_add(d->sig_int, NULL) < 0 || evsignal_add(d->sig_hup, NULL) < 0)
		return log_err("cannot install signal handlers"), -ENOMEM;
	return 0;
}

static int load_key(struct daemon *d)
{
	char *why = NULL;
	int r;

	if (!d->config->daemon.key)
		return 0;
	r = key_load(d->config->daemon.key, &d->key, &why);
	if (r < 0) {
		log_err("%s", why ? why : "cannot load the key file");
		free(why);
		return r;
	}
	log_info("signing key loaded: pubkey %s", key_pubkey_hex(d->key));
	return 0;
}

static int sign_auth(void *arg, const char *relay_url, const char *challenge, char **json, uint8_t id[32])
{
	return key_sign_auth(arg, relay_url, challenge, json, id);
}

/* sync --up: what a relay lacks goes out through the outbox. */
static int upload(void *arg, struct relay *r, const uint8_t (*ids)[32], size_t n)
{
	struct daemon *d = arg;

	return publisher_upload(d->publisher, r, ids, n);
}

/* The delivery side: pool, publisher, syncer, stats, metrics. */
static int setup_pool(struct daemon *d)
{
	const struct config_daemon *c = &d->config->daemon;
	int r = pool_new(d->base, &d->pool);

	if (r < 0)
		return log_err("cannot set up the relay pool"), r;
	if (d->key)
		pool_set_signer(d->pool, sign_auth, d->key);
	struct publisher_env pe = { .base = d->base, .pool = d->pool, .db = d->db, .cache = d->cache,
				    .outbox = d->outbox, .verifier = d->verifier };
	struct syncer_env se = { .base = d->base, .db = d->db, .cache = d->cache, .verifier = d->verifier,
				 .upload = upload, .upload_arg = d };
	struct live_env le = { .base = d->base, .cache = d->cache, .verifier = d->verifier };
	if (publisher_new(&pe, &d->publisher) < 0 || syncer_new(&se, &d->syncer) < 0 || live_new(&le, &d->live) < 0 ||
	    stats_new(d->base, d->pool, d->live, &d->stats) < 0)
		return log_err("out of memory"), -ENOMEM;
	struct metrics_env me = { .base = d->base, .pool = d->pool, .stats = d->stats, .live = d->live, .outbox = d->outbox,
				  .cache = d->cache };
	return metrics_new(&me, c->metrics_host, c->metrics_port, &d->metrics);
}

int daemon_setup(struct daemon *d, const char *config_path, struct config *config)
{
	int r, fd;

	memset(d, 0, sizeof(*d));
	d->config = config;
	/* Absolute, so a reload finds the file whatever the working directory is. */
	d->config_path = realpath(config_path, NULL);
	d->started_usec = clock_now_us();
	d->started_at = time(NULL);
	if (!d->config_path)
		return -ENOMEM;
	signal(SIGPIPE, SIG_IGN);
	d->base = event_base_new();
	if (!d->base)
		return log_err("cannot create the event loop"), -ENOMEM;
	if ((r = setup_signals(d)) < 0 || (r = load_key(d)) < 0)
		return r;
	r = verifier_new(d->base, verify_threads(config), &d->verifier);
	if (r < 0)
		return log_err("cannot start signature verification"), r;
	if (verifier_threads(d->verifier))
		log_info("signature verification on %u worker threads", verifier_threads(d->verifier));
	else
		log_info("signature verification on the event loop");
	if ((r = open_storage(d)) < 0 || (r = setup_pool(d)) < 0)
		return r;
	d->ctx = (struct opctx){ .base = d->base, .config = config, .key = d->key, .pool = d->pool, .db = d->db,
				 .cache = d->cache, .outbox = d->outbox, .publisher = d->publisher,
				 .syncer = d->syncer, .live = d->live, .verifier = d->verifier, .stats = d->stats,
				 .metrics = d->metrics, .owner = d, .reload = ctx_reload, .info = ctx_info };
	r = service_listen_fd(config->daemon.socket, &fd);
	if (r < 0)
		return r;
	r = control_new(d->base, &config->daemon, fd, &d->ctx, &d->control);
	if (r < 0)
		return r;
	pool_apply_config(d->pool, d->config);
	publisher_resume(d->publisher);
	return 0;
}

int daemon_run(struct daemon *d)
{
	log_notice("relaypoold " RELAYPOOL_VERSION " started with %s (%zu relays, %zu groups)", d->config_path,
		   d->config->n_relays, d->config->n_groups);
	if (service_ready(d->base, status_line, d) < 0)
		return 1;
	if (event_base_dispatch(d->base) < 0)
		return log_err("event loop failed"), 1;
	log_notice("stopped");
	return d->exit_code;
}

void daemon_free(struct daemon *d)
{
	service_free();
	metrics_free(d->metrics);
	verifier_free(d->verifier); /* completes jobs still out; they may answer requests */
	syncer_free(d->syncer);     /* while the sessions its pages use still exist */
	live_free(d->live);         /* the same for its REQs */
	op_query_stop_all();        /* statements go before the database closes */
	control_free(d->control);
	pool_free(d->pool); /* abandons jobs: their outbox rows stay pending */
	if (d->db)
		db_flush(d->db); /* the last commit's callbacks still find the requests they answer */
	publisher_free(d->publisher);
	stats_free(d->stats);
	outbox_free(d->outbox);
	cache_free(d->cache);
	db_close(d->db);
	if (d->stop_timer)
		event_free(d->stop_timer);
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_hup)
		event_free(d->sig_hup);
	if (d->base)
		event_base_free(d->base);
	key_free(d->key);
	config_free(d->config);
	free(d->config_path);
}
