/* daemon.c - the daemon's life: setup of the loop and control socket, signals, reload
 * (parse into a fresh config, swap only on success) and clean shutdown. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "clock.h"
#include "daemon.h"
#include "cache.h"
#include "key.h"
#include "log.h"
#include "outbox.h"
#include "ops.h"
#include "pool.h"
#include "trace.h"
#include "sd.h"
#include "verifier.h"

/* How long a shutdown waits for clients to take their last replies. */
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
		log_warn("reload: [daemon] %s changed; it takes effect at the next restart",
			 json_string_value(k));
}

int daemon_reload(struct daemon *d, json_t **diff, char **errors)
{
	struct config *fresh;
	char *errs = NULL;
	json_t *delta;
	int r;

	if (diff)
		*diff = NULL;
	if (errors)
		*errors = NULL;
	service_reloading(d);
	r = config_load(d->config_path, &fresh, &errs);
	if (r < 0) {
		d->reload_failures++;
		log_lines(LOG_ERR, "reload failed, keeping the running configuration: ", errs);
		service_reloaded(d, r);
		if (errors)
			*errors = errs;
		else
			free(errs);
		return r;
	}
	delta = config_diff(d->config, fresh);
	log_diff(delta);
	/* Settings that need a restart keep their running values. */
	free(fresh->daemon.socket);
	fresh->daemon.socket = strdup(d->config->daemon.socket);
	if (!fresh->daemon.socket)
		abort();
	log_set_level(fresh->daemon.log_level);
	config_free(d->config);
	d->config = fresh;
	pool_apply_config(d->pool, fresh);
	outbox_resume(d);
	d->reloads++;
	service_reloaded(d, 0);
	if (diff)
		*diff = delta;
	else
		json_decref(delta);
	return 0;
}

/* Both the pool's sessions and the control clients must be closed before we exit. */
static void stop_part_done(struct daemon *d)
{
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
	service_stopping(d);
	control_stop_listening(d->control);
	trace_stop_all(d->pool);
	metrics_close(d);
	d->stop_timer = evtimer_new(d->base, on_stop_timeout, d);
	if (d->stop_timer)
		evtimer_add(d->stop_timer, &tv);
	d->stop_pending = 2;
	pool_stop(d->pool, stop_part_done);
	control_drain(d->control, stop_part_done);
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

/* The cache and its outbox; a damaged or unwritable cache stops the start. */
static int open_cache(struct daemon *d)
{
	char *why = NULL;
	int r = cache_open(d->config->daemon.cache, d->base, &d->cache, &why);

	if (r < 0) {
		log_err("%s", why ? why : "cannot open the cache");
		free(why);
		return r;
	}
	r = outbox_new(d->cache, &d->outbox);
	if (r < 0)
		return log_err("%s: cannot set up the outbox", d->config->daemon.cache), r;
	log_info("cache: %s", d->config->daemon.cache);
	return 0;
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
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	if (!d->sig_term || !d->sig_int || !d->sig_hup || evsignal_add(d->sig_term, NULL) < 0 ||
	    evsignal_add(d->sig_int, NULL) < 0 || evsignal_add(d->sig_hup, NULL) < 0)
		return log_err("cannot install signal handlers"), -ENOMEM;
	if (config->daemon.key) {
		char *why = NULL;
		r = key_load(config->daemon.key, &d->key, &why);
		if (r < 0) {
			log_err("%s", why ? why : "cannot load the key file");
			free(why);
			return r;
		}
		log_info("signing key loaded: pubkey %s", key_pubkey_hex(d->key));
	}
	r = verifier_new(d->base, verify_threads(config), &d->verifier);
	if (r < 0)
		return log_err("cannot start signature verification"), r;
	if (verifier_threads(d->verifier))
		log_info("signature verification on %u worker threads", verifier_threads(d->verifier));
	else
		log_info("signature verification on the event loop");
	r = open_cache(d);
	if (r < 0)
		return r;
	r = pool_new(d, &d->pool);
	if (r < 0)
		return log_err("cannot set up the relay pool"), r;
	r = service_listen_fd(config->daemon.socket, &fd);
	if (r < 0)
		return r;
	r = control_new(d, fd, &d->control);
	if (r < 0)
		return r;
	pool_apply_config(d->pool, d->config);
	outbox_resume(d);
	r = metrics_listen(d);
	if (r < 0)
		return r;
	return 0;
}

int daemon_run(struct daemon *d)
{
	log_notice("relaypoold " RELAYPOOL_VERSION " started with %s (%zu relays, %zu groups)", d->config_path,
		   d->config->n_relays, d->config->n_groups);
	if (service_ready(d) < 0)
		return 1;
	if (event_base_dispatch(d->base) < 0)
		return log_err("event loop failed"), 1;
	log_notice("stopped");
	return d->exit_code;
}

void daemon_free(struct daemon *d)
{
	service_free();
	metrics_close(d);
	verifier_free(d->verifier); /* completes jobs still out; they may answer requests */
	control_free(d->control);
	pool_free(d->pool); /* abandons jobs: their outbox rows stay pending */
	outbox_free(d->outbox);
	cache_close(d->cache); /* commits the last batch */
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
