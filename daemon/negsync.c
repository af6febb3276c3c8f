/* negsync.c - see negsync.h.
 *
 * Chunks: the window is walked from its newest second down. A chunk is the next (at most)
 * [pool] sync_chunk keys of the cache, cut at a second boundary so that the relay's filter
 * (since/until, whole seconds) describes exactly the same range; a second holding more
 * keys than that is one chunk however large (a filter cannot split a second). Memory is
 * thus bounded by the chunk (40 bytes a key), not by the cache.
 *
 * Flow control: needed ids wait in idfetch's queue. While more than NEED_HIGH wait, our
 * next NEG-MSG is held back, so a relay with millions of events we lack cannot fill our
 * memory with their ids. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "cache.h"
#include "clock.h"
#include "db.h"
#include "filter.h"
#include "hex.h"
#include "idfetch.h"
#include "log.h"
#include "negentropy.h"
#include "negsync.h"
#include "relay.h"
#include "session.h"
#include "verifier.h"

#define NEG_FRAME 60000
#define NEED_HIGH 10000
#define ROUND_TIMEOUT_S 30
#define PROBE_TIMEOUT_S 10
#define MAX_RETRIES 8
#define RETRY_BASE_MS 200
#define RETRY_MAX_MS 10000
/* The largest NEG-MSG we decode (hex characters): the relay's frame limit is its own. */
#define MAX_NEG_HEX (16u << 20)

struct negsync;

struct negsync {
	struct negsync_env env;
	struct relay *relay;
	char *name;
	json_t *filter;
	int64_t since, until, relay_id;
	int64_t next_top; /* the next chunk's newest second; < since when every chunk is out */
	int64_t chunk_lo, chunk_hi;
	bool probe;
	const struct negsync_ops *ops;
	void *arg;

	struct neg_storage st;
	struct neg neg;
	struct neg_buf out;
	struct session_sub *sub; /* the open reconciliation */
	char sub_id[32];
	char *held; /* our next NEG-MSG, held while the fetch queue is long */
	bool started, answered, chunks_done, finished, freed, opening, unreachable;
	unsigned retries;
	struct event *timer; /* opening (retry), or the wait for the relay's answer */
	struct idfetch *fetch;
	unsigned depth; /* callbacks into us running: the owner may free us inside one */
	uint64_t load_us, reconcile_us, started_us; /* where the time went (the done log line) */
	struct negsync_stats stats;
};

static unsigned long long counter;

#define nslog(ns, prio, fmt, ...) log_ctx(prio, (&(const struct log_fields){ .relay = (ns)->name }), "sync %s: negentropy: " fmt, (ns)->name, ##__VA_ARGS__)

static void open_chunk(struct negsync *ns);
static void send_held(struct negsync *ns);

/* ---- ends ------------------------------------------------------------------------------ */

static void release(struct negsync *ns);

/* Every way in (session callbacks, timers, verifications) is bracketed by enter/leave: the
 * owner may free us from inside its callback, and the memory must outlive the code that
 * is still running on it. */
static struct negsync *enter(struct negsync *ns)
{
	ns->depth++;
	return ns;
}

static void leave(struct negsync *ns)
{
	if (--ns->depth == 0 && ns->freed)
		release(ns);
}

static void release(struct negsync *ns)
{
	if (ns->depth)
		return;
	idfetch_free(ns->fetch);
	neg_storage_clear(&ns->st);
	neg_buf_clear(&ns->out);
	free(ns->held);
	free(ns->name);
	json_decref(ns->filter);
	relay_unref(ns->relay);
	free(ns);
}

static void stop_all(struct negsync *ns)
{
	negsync_stats(ns); /* the fetches' counts, kept */
	if (ns->timer)
		evtimer_del(ns->timer);
	if (ns->sub)
		relay_unsubscribe(ns->sub);
	ns->sub = NULL;
	idfetch_free(ns->fetch); /* its REQs end; events out for verification are dropped */
	ns->fetch = NULL;
}

static void fail(struct negsync *ns, const char *fmt, ...) _printf_(2, 3);
static void fail(struct negsync *ns, const char *fmt, ...)
{
	char why[400];
	va_list ap;

	if (ns->finished)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ns->finished = true;
	stop_all(ns);
	ns->ops->failed(ns->arg, why, ns->unreachable ? NEGSYNC_UNREACHABLE : ns->answered ? NEGSYNC_BROKE : NEGSYNC_UNSUPPORTED);
}

/* No session has room: a relay that cannot be reached fails now, with its error. */
static bool check_reachable(struct negsync *ns)
{
	const char *why;

	if (!relay_unreachable(ns->relay, &why))
		return true;
	ns->unreachable = true;
	fail(ns, "the relay cannot be reached: %s", why);
	return false;
}

static void check_done(struct negsync *ns)
{
	if (ns->finished || !ns->chunks_done || ns->held || !idfetch_idle(ns->fetch))
		return;
	ns->finished = true;
	stop_all(ns);
	if (ns->stats.missing)
		nslog(ns, LOG_WARNING, "the relay did not send %llu of the %llu events it listed",
		      ns->stats.missing, ns->stats.need);
	nslog(ns, LOG_INFO,
	      "done in %.1f ms: %llu only here, %llu only there, %llu rounds, %llu bytes, %llu chunks; "
	      "reading the cache's keys %.1f ms, reconciling %.1f ms",
	      (double)(clock_now_us() - ns->started_us) / 1e3, ns->stats.have, ns->stats.need, ns->stats.rounds,
	      ns->stats.bytes, ns->stats.chunks, (double)ns->load_us / 1e3, (double)ns->reconcile_us / 1e3);
	ns->ops->done(ns->arg);
}

/* ---- what the reconciliation finds ---------------------------------------------------------- */

static int on_need(void *arg, const uint8_t id[32])
{
	struct negsync *ns = arg;

	ns->stats.need++;
	return idfetch_push(ns->fetch, id);
}

static int on_have(void *arg, const uint8_t id[32])
{
	struct negsync *ns = arg;

	ns->stats.have++;
	if (ns->ops->have)
		ns->ops->have(ns->arg, id);
	return 0;
}

/* ---- fetches ----------------------------------------------------------------------------- */

/* Our next NEG-MSG goes out once the fetch queue is short enough. */
static void send_held(struct negsync *ns)
{
	struct timeval tv = { .tv_sec = ROUND_TIMEOUT_S };
	char *h = ns->held;

	if (!h || ns->finished || !ns->sub || idfetch_queued(ns->fetch) > NEED_HIGH / 2)
		return;
	ns->held = NULL;
	ns->stats.bytes += strlen(h);
	if (session_neg_send(ns->sub, h, strlen(h)) < 0) {
		free(h);
		fail(ns, "cannot send NEG-MSG");
		return;
	}
	free(h);
	evtimer_add(ns->timer, &tv);
}

static void fetch_progress(void *arg)
{
	struct negsync *ns = enter(arg);

	send_held(ns);
	check_done(ns);
	leave(ns);
}

static void fetch_failed(void *arg, const char *why, bool unreachable)
{
	struct negsync *ns = enter(arg);

	ns->unreachable = unreachable;
	fail(ns, "%s", why);
	leave(ns);
}

static const struct idfetch_ops fetch_ops = {
	.progress = fetch_progress,
	.failed = fetch_failed,
};

/* ---- the reconciliation --------------------------------------------------------------- */

static void n_msg_in(void *arg, const char *hex, size_t len)
{
	struct negsync *ns = arg;
	uint8_t *msg;
	const char *why;
	char *text;
	int r;

	if (ns->finished)
		return;
	evtimer_del(ns->timer);
	ns->answered = true;
	ns->stats.rounds++;
	ns->stats.bytes += len;
	if (len % 2 || len > MAX_NEG_HEX) {
		fail(ns, "the relay's NEG-MSG is not an even-length hex string of at most %u characters", MAX_NEG_HEX);
		return;
	}
	msg = malloc(len / 2 + 1);
	if (!msg) {
		fail(ns, "out of memory");
		return;
	}
	if (hex_decode(hex, len, msg) < 0) {
		free(msg);
		fail(ns, "the relay's NEG-MSG is not hex");
		return;
	}
	uint64_t t0 = clock_now_us();
	r = neg_reconcile(&ns->neg, msg, len / 2, &ns->out, on_have, on_need, ns, &why);
	ns->reconcile_us += clock_now_us() - t0;
	free(msg);
	if (r < 0) {
		fail(ns, "the relay's negentropy message: %s", r == -ENOMEM ? "out of memory" : why);
		return;
	}
	if (ns->out.len == 0) {
		/* This chunk is reconciled. */
		relay_unsubscribe(ns->sub);
		ns->sub = NULL;
		neg_storage_clear(&ns->st);
		ns->retries = 0;
		idfetch_pump(ns->fetch);
		open_chunk(ns);
		return;
	}
	text = malloc(ns->out.len * 2 + 1);
	if (!text) {
		fail(ns, "out of memory");
		return;
	}
	hex_encode(ns->out.p, ns->out.len, text);
	ns->held = text;
	idfetch_pump(ns->fetch);
	send_held(ns); /* now, unless the queue is long */
}

static void n_msg(void *arg, const char *hex, size_t len)
{
	struct negsync *ns = enter(arg);

	n_msg_in(arg, hex, len);
	leave(ns);
}

static void retry_chunk(struct negsync *ns, const char *why)
{
	uint64_t ms;
	struct timeval tv;

	ns->sub = NULL;
	if (++ns->retries > MAX_RETRIES) {
		fail(ns, "gave up after %d retries: %s", MAX_RETRIES, why);
		return;
	}
	free(ns->held);
	ns->held = NULL;
	ms = backoff_step(RETRY_BASE_MS, RETRY_MAX_MS, ns->retries - 1);
	nslog(ns, LOG_INFO, "chunk %lld..%lld again in %llu ms: %s", (long long)ns->chunk_lo, (long long)ns->chunk_hi,
	      (unsigned long long)ms, why);
	ns->opening = true;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(ns->timer, &tv);
}

static void n_err_in(void *arg, const char *reason)
{
	struct negsync *ns = arg;

	ns->sub = NULL;
	fail(ns, "%s%s", strncmp(reason, "NOTICE: ", 8) == 0 ? "the relay answered NEG-OPEN with a " : "NEG-ERR: ",
	     reason);
}

static void n_err(void *arg, const char *reason)
{
	struct negsync *ns = enter(arg);

	n_err_in(arg, reason);
	leave(ns);
}

static void n_closed(void *arg, const char *msg)
{
	n_err(arg, msg);
}

static void n_lost_in(void *arg)
{
	retry_chunk(arg, "the session went away");
}

static void n_lost(void *arg)
{
	struct negsync *ns = enter(arg);

	n_lost_in(arg);
	leave(ns);
}

static void n_event(void *arg, json_t *obj)
{
	(void)arg, (void)obj;
}

static void n_eose(void *arg)
{
	(void)arg;
}

static const struct sub_handler neg_handler = {
	.on_event = n_event,
	.on_eose = n_eose,
	.on_closed = n_closed,
	.on_lost = n_lost,
	.on_neg_msg = n_msg,
	.on_neg_err = n_err,
};

static size_t frame_limit(const struct negsync *ns)
{
	int64_t mml = relay_limits(ns->relay)->max_message_length;
	size_t f = NEG_FRAME;

	if (mml > 0 && (mml - 300) / 2 < (int64_t)f)
		f = mml > 300 ? (size_t)(mml - 300) / 2 : 0;
	return f < NEG_MIN_FRAME ? NEG_MIN_FRAME : f;
}

static json_t *window_filter(const struct negsync *ns, int64_t lo, int64_t hi)
{
	json_t *f = json_deep_copy(ns->filter);

	json_object_set_new(f, "since", json_integer(lo));
	json_object_set_new(f, "until", json_integer(hi));
	return f;
}

/* Reads the next chunk's keys from the cache into the storage. */
static int load_chunk(struct negsync *ns)
{
	json_t *f = window_filter(ns, ns->since, ns->next_top);
	size_t chunk = relay_opts(ns->relay)->sync_chunk;
	sqlite3_stmt *st = NULL;
	char *why = NULL;
	int64_t ts, last_ts = 0;
	uint8_t id[32];
	size_t n = 0;
	int r;

	neg_storage_clear(&ns->st);
	r = cache_keys(ns->env.cache, f, (long long)chunk + 1, &st, &why);
	json_decref(f);
	if (r < 0)
		goto out;
	while ((r = cache_keys_next(st, &ts, id)) > 0) {
		if (++n > chunk) {
			last_ts = ts;
			break;
		}
		if ((r = neg_storage_add(&ns->st, (uint64_t)ts, id)) < 0)
			goto out;
	}
	if (r < 0)
		goto out;
	ns->chunk_hi = ns->next_top;
	if (n <= chunk) {
		ns->chunk_lo = ns->since;
	} else if (last_ts < ns->next_top) {
		/* Cut below the second of the first key left out: the chunk is [last_ts + 1, top]. */
		while (ns->st.n && (int64_t)ns->st.items[ns->st.n - 1].ts <= last_ts)
			ns->st.n--;
		ns->chunk_lo = last_ts + 1;
	} else {
		/* One second holds more than a chunk: all of it, however many. */
		sqlite3_finalize(st);
		st = NULL;
		f = window_filter(ns, ns->next_top, ns->next_top);
		neg_storage_clear(&ns->st);
		r = cache_keys(ns->env.cache, f, -1, &st, &why);
		json_decref(f);
		if (r < 0)
			goto out;
		while ((r = cache_keys_next(st, &ts, id)) > 0)
			if ((r = neg_storage_add(&ns->st, (uint64_t)ts, id)) < 0)
				goto out;
		if (r < 0)
			goto out;
		ns->chunk_lo = ns->next_top;
	}
	ns->next_top = ns->chunk_lo - 1;
	neg_storage_seal(&ns->st);
	r = 0;
out:
	if (st)
		sqlite3_finalize(st);
	if (r < 0)
		nslog(ns, LOG_WARNING, "cannot read the cache's keys: %s", why ? why : "I/O error");
	free(why);
	return r;
}

/* Sends NEG-OPEN for the loaded chunk. */
static void send_open(struct negsync *ns)
{
	json_t *f;
	char *hex;
	int e;
	struct timeval tv = { .tv_sec = ns->probe && !ns->answered ? PROBE_TIMEOUT_S : ROUND_TIMEOUT_S };

	ns->opening = false;
	if (relay_draining(ns->relay)) {
		fail(ns, "the relay was removed from the configuration");
		return;
	}
	uint64_t t0 = clock_now_us();
	if (neg_init(&ns->neg, &ns->st, frame_limit(ns)) < 0 || neg_initiate(&ns->neg, &ns->out) < 0) {
		fail(ns, "out of memory");
		return;
	}
	hex = malloc(ns->out.len * 2 + 1);
	if (!hex) {
		fail(ns, "out of memory");
		return;
	}
	hex_encode(ns->out.p, ns->out.len, hex);
	ns->reconcile_us += clock_now_us() - t0;
	f = window_filter(ns, ns->chunk_lo, ns->chunk_hi);
	snprintf(ns->sub_id, sizeof(ns->sub_id), "rp-neg-%llu", ++counter);
	ns->sub = relay_neg_open(ns->relay, ns->sub_id, f, hex, 0, &neg_handler, ns, &e);
	ns->stats.bytes += strlen(hex);
	json_decref(f);
	free(hex);
	if (!ns->sub) {
		if (e == -EAGAIN && !check_reachable(ns))
			return;
		retry_chunk(ns, e == -EAGAIN ? "no session of the relay is ready" : "cannot send NEG-OPEN");
		return;
	}
	ns->stats.chunks++;
	evtimer_add(ns->timer, &tv);
}

static void open_chunk(struct negsync *ns)
{
	if (ns->next_top < ns->since) {
		ns->chunks_done = true;
		check_done(ns);
		return;
	}
	uint64_t t0 = clock_now_us();
	if (load_chunk(ns) < 0) {
		fail(ns, "cannot read the cache's keys");
		return;
	}
	ns->load_us += clock_now_us() - t0;
	send_open(ns);
}

static void timer_cb_in(evutil_socket_t fd, short what, void *arg)
{
	struct negsync *ns = arg;

	(void)fd, (void)what;
	if (ns->finished)
		return;
	if (!ns->started) {
		ns->started = true;
		open_chunk(ns);
		return;
	}
	if (ns->opening) {
		send_open(ns);
		return;
	}
	if (ns->chunks_done && !ns->sub) {
		return;
	}
	if (!ns->answered)
		fail(ns, "no answer to NEG-OPEN within %d s", ns->probe ? PROBE_TIMEOUT_S : ROUND_TIMEOUT_S);
	else
		fail(ns, "no NEG-MSG within %d s", ROUND_TIMEOUT_S);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct negsync *ns = enter(arg);

	timer_cb_in(fd, what, arg);
	leave(ns);
}

int negsync_start(const struct negsync_env *env, struct relay *r, const struct negsync_params *p,
		  const struct negsync_ops *ops, void *arg, struct negsync **out)
{
	struct negsync *ns = calloc(1, sizeof(*ns));
	struct timeval zero = { 0 };

	if (!ns)
		return -ENOMEM;
	ns->env = *env;
	ns->relay = relay_ref(r);
	ns->name = strdup(relay_name(r));
	ns->filter = json_deep_copy(p->filter);
	ns->since = p->since;
	ns->until = p->until;
	ns->next_top = p->until;
	ns->relay_id = p->relay_id;
	ns->probe = p->probe;
	ns->started_us = clock_now_us();
	ns->ops = ops;
	ns->arg = arg;
	neg_storage_init(&ns->st);
	ns->timer = evtimer_new(env->base, timer_cb, ns);
	if (ns->filter) {
		json_object_del(ns->filter, "since");
		json_object_del(ns->filter, "until");
		json_object_del(ns->filter, "limit");
	}
	if (!ns->name || !ns->filter || !ns->timer ||
	    idfetch_new(&(const struct idfetch_env){ env->base, env->cache, env->verifier }, r,
			&(const struct idfetch_params){ .name = ns->name, .relay_id = p->relay_id, .filter = ns->filter,
							.since = p->since, .until = p->until },
			&fetch_ops, ns, &ns->fetch) < 0) {
		if (ns->timer)
			event_free(ns->timer);
		release(ns);
		return -ENOMEM;
	}
	/* The first step runs from the loop, so that the owner never hears back inside this call. */
	evtimer_add(ns->timer, &zero);
	*out = ns;
	return 0;
}

const struct negsync_stats *negsync_stats(struct negsync *ns)
{
	if (ns->fetch) {
		const struct idfetch_stats *f = idfetch_stats(ns->fetch);
		ns->stats.fetches = f->fetches;
		ns->stats.missing = f->missing;
		ns->stats.received = f->received;
		ns->stats.fresh = f->fresh;
		ns->stats.duplicates = f->duplicates;
		ns->stats.invalid = f->invalid;
	}
	return &ns->stats;
}

void negsync_free(struct negsync *ns)
{
	if (!ns)
		return;
	ns->finished = true;
	ns->freed = true;
	stop_all(ns);
	event_free(ns->timer);
	ns->timer = NULL;
	release(ns);
}
