/* negsync.c - see negsync.h.
 *
 * Chunks: the window is walked from its newest second down. A chunk is the next (at most)
 * [pool] sync_chunk keys of the cache, cut at a second boundary so that the relay's filter
 * (since/until, whole seconds) describes exactly the same range; a second holding more
 * keys than that is one chunk however large (a filter cannot split a second). Memory is
 * thus bounded by the chunk (40 bytes a key), not by the cache.
 *
 * Flow control: needed ids wait in a queue for the fetches (FETCH_PARALLEL REQs of up to
 * FETCH_BATCH ids). While more than NEED_HIGH wait, our next NEG-MSG is held back, so a
 * relay with millions of events we lack cannot fill our memory with their ids. */
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
#include "log.h"
#include "negentropy.h"
#include "negsync.h"
#include "relay.h"
#include "session.h"
#include "verifier.h"

#define NEG_FRAME 60000
#define NEED_HIGH 10000
#define FETCH_BATCH 500
#define FETCH_PARALLEL 4
#define ROUND_TIMEOUT_S 30
#define PROBE_TIMEOUT_S 10
#define MAX_RETRIES 8
#define RETRY_BASE_MS 200
#define RETRY_MAX_MS 10000
/* The largest NEG-MSG we decode (hex characters): the relay's frame limit is its own. */
#define MAX_NEG_HEX (16u << 20)

struct negsync;

struct fetch {
	struct negsync *ns;
	struct session_sub *sub;
	char sub_id[32];
	json_t *filter; /* {"ids": [...], "limit": n}: what the relay may send */
	size_t n;       /* ids asked for */
	unsigned got, pending;
	uint64_t gen;
	bool active, eose;
	unsigned retries;
};

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
	struct event *timer;       /* opening (retry), or the wait for the relay's answer */
	struct event *fetch_timer; /* fetches waiting for a session with room */

	uint8_t (*need)[32];
	size_t need_head, need_len, need_cap;
	struct fetch fetches[FETCH_PARALLEL];
	unsigned in_verify;
	unsigned depth; /* callbacks into us running: the owner may free us inside one */
	uint64_t load_us, reconcile_us, started_us; /* where the time went (the done log line) */
	struct negsync_stats stats;
	struct log_limit ll;
};

struct neg_ev {
	struct nostr_event ev;
	struct negsync *ns;
	struct fetch *f;
	uint64_t gen;
};

static unsigned long long counter;

#define nslog(ns, prio, fmt, ...) log_ctx(prio, (&(const struct log_fields){ .relay = (ns)->name }), "sync %s: negentropy: " fmt, (ns)->name, ##__VA_ARGS__)

static void open_chunk(struct negsync *ns);
static void pump(struct negsync *ns);

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
	if (ns->in_verify || ns->depth)
		return;
	for (unsigned i = 0; i < FETCH_PARALLEL; i++)
		json_decref(ns->fetches[i].filter);
	neg_storage_clear(&ns->st);
	neg_buf_clear(&ns->out);
	free(ns->held);
	free(ns->need);
	free(ns->name);
	json_decref(ns->filter);
	relay_unref(ns->relay);
	free(ns);
}

static void stop_all(struct negsync *ns)
{
	if (ns->timer)
		evtimer_del(ns->timer);
	if (ns->fetch_timer)
		evtimer_del(ns->fetch_timer);
	if (ns->sub)
		relay_unsubscribe(ns->sub);
	ns->sub = NULL;
	for (unsigned i = 0; i < FETCH_PARALLEL; i++) {
		struct fetch *f = &ns->fetches[i];
		if (f->sub)
			relay_unsubscribe(f->sub);
		f->sub = NULL;
		f->active = false;
		f->gen++;
	}
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

static bool fetching(const struct negsync *ns)
{
	for (unsigned i = 0; i < FETCH_PARALLEL; i++)
		if (ns->fetches[i].active)
			return true;
	return false;
}

static void check_done(struct negsync *ns)
{
	if (ns->finished || !ns->chunks_done || ns->need_len || fetching(ns) || ns->in_verify)
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

/* ---- the queue of needed ids --------------------------------------------------------------- */

static int need_push(struct negsync *ns, const uint8_t id[32])
{
	if (ns->need_head + ns->need_len == ns->need_cap) {
		if (ns->need_head > ns->need_cap / 2) {
			memmove(ns->need, ns->need + ns->need_head, ns->need_len * 32);
			ns->need_head = 0;
		} else {
			size_t cap = ns->need_cap ? ns->need_cap * 2 : 1024;
			void *p = realloc(ns->need, cap * 32);
			if (!p)
				return -ENOMEM;
			ns->need = p;
			ns->need_cap = cap;
		}
	}
	memcpy(ns->need[ns->need_head + ns->need_len], id, 32);
	ns->need_len++;
	return 0;
}

static int on_need(void *arg, const uint8_t id[32])
{
	struct negsync *ns = arg;

	ns->stats.need++;
	return need_push(ns, id);
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

static void fetch_end(struct fetch *f)
{
	struct negsync *ns = f->ns;

	if (f->got < f->n)
		ns->stats.missing += f->n - f->got;
	if (f->sub)
		relay_unsubscribe(f->sub);
	f->sub = NULL;
	f->active = false;
	f->retries = 0;
	f->gen++;
	json_decref(f->filter);
	f->filter = NULL;
	pump(ns);
	check_done(ns);
}

/* The batch goes back to the queue (a lost session, a CLOSED that says "later"). */
static void fetch_again(struct fetch *f, const char *why)
{
	struct negsync *ns = f->ns;
	json_t *ids = json_object_get(f->filter, "ids"), *v;
	size_t i;

	f->sub = NULL;
	f->active = false;
	f->gen++;
	if (++f->retries > MAX_RETRIES) {
		fail(ns, "gave up fetching after %d retries: %s", MAX_RETRIES, why);
		return;
	}
	json_array_foreach(ids, i, v) {
		uint8_t id[32];
		if (hex_decode(json_string_value(v), 64, id) == 0 && need_push(ns, id) < 0) {
			fail(ns, "out of memory");
			return;
		}
	}
	json_decref(f->filter);
	f->filter = NULL;
	nslog(ns, LOG_INFO, "fetch of %zu events again: %s", f->n, why);
	if (!evtimer_pending(ns->fetch_timer, NULL)) {
		uint64_t ms = backoff_step(RETRY_BASE_MS, RETRY_MAX_MS, f->retries - 1);
		struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
		evtimer_add(ns->fetch_timer, &tv);
	}
}

static void verified(void *arg, const struct event_error *err)
{
	struct neg_ev *se = arg;
	struct negsync *ns = se->ns;
	struct fetch *f = se->f;
	enum cache_store res;

	ns->in_verify--;
	enter(ns);
	if (!ns->finished) {
		if (err) {
			ns->stats.invalid++;
			log_limited(&ns->ll, LOG_INFO, (&(const struct log_fields){ .relay = ns->name }), "sync negentropy: ",
				    "dropping an invalid event: %s", err->message);
		} else if (cache_store_event(ns->env.cache, &se->ev, ns->relay_id, &res) < 0) {
			fail(ns, "the cache could not store an event");
		} else if (res == CACHE_NEW || res == CACHE_REPLACED) {
			ns->stats.fresh++;
		} else {
			ns->stats.duplicates++;
		}
	}
	if (!ns->finished && se->gen == f->gen && --f->pending == 0 && f->eose)
		fetch_end(f);
	event_clear(&se->ev);
	free(se);
	check_done(ns);
	leave(ns);
}

static void f_event_in(void *arg, json_t *obj)
{
	struct fetch *f = arg;
	struct negsync *ns = f->ns;
	struct neg_ev *se;
	struct event_error err;

	if (!f->active)
		return;
	ns->stats.received++;
	se = calloc(1, sizeof(*se));
	if (!se) {
		fail(ns, "out of memory");
		return;
	}
	if (event_from_json(obj, &se->ev, &err) < 0) {
		ns->stats.invalid++;
		log_limited(&ns->ll, LOG_INFO, (&(const struct log_fields){ .relay = ns->name }), "sync negentropy: ",
			    "dropping a malformed event: %s", err.message);
		free(se);
		return;
	}
	if (!filter_match(f->filter, &se->ev) || !filter_match(ns->filter, &se->ev) || se->ev.created_at < ns->since ||
	    se->ev.created_at > ns->until) {
		ns->stats.invalid++;
		log_limited(&ns->ll, LOG_INFO, (&(const struct log_fields){ .relay = ns->name }), "sync negentropy: ",
			    "dropping event %s: not asked for, or not matching the filter", se->ev.id_hex);
		event_clear(&se->ev);
		free(se);
		return;
	}
	f->got++;
	se->ns = ns;
	se->f = f;
	se->gen = f->gen;
	f->pending++;
	ns->in_verify++;
	if (verifier_submit(ns->env.verifier, &se->ev, verified, se) < 0) {
		ns->in_verify--;
		f->pending--;
		event_clear(&se->ev);
		free(se);
		fail(ns, "out of memory");
	}
}

static void f_event(void *arg, json_t *obj)
{
	struct negsync *ns = enter(((struct fetch *)arg)->ns);

	f_event_in(arg, obj);
	leave(ns);
}

static void f_eose_in(void *arg)
{
	struct fetch *f = arg;

	if (!f->active)
		return;
	f->eose = true;
	if (f->sub)
		relay_unsubscribe(f->sub);
	f->sub = NULL;
	if (f->pending == 0)
		fetch_end(f);
}

static void f_eose(void *arg)
{
	struct negsync *ns = enter(((struct fetch *)arg)->ns);

	f_eose_in(arg);
	leave(ns);
}

static void f_closed_in(void *arg, const char *msg)
{
	struct fetch *f = arg;

	f->sub = NULL;
	if (session_closed_transient(msg))
		fetch_again(f, msg);
	else
		fail(f->ns, "the relay closed a fetch by ids: %s", msg);
}

static void f_closed(void *arg, const char *msg)
{
	struct negsync *ns = enter(((struct fetch *)arg)->ns);

	f_closed_in(arg, msg);
	leave(ns);
}

static void f_lost_in(void *arg)
{
	fetch_again(arg, "the session went away");
}

static void f_lost(void *arg)
{
	struct negsync *ns = enter(((struct fetch *)arg)->ns);

	f_lost_in(arg);
	leave(ns);
}

static const struct sub_handler fetch_handler = {
	.on_event = f_event,
	.on_eose = f_eose,
	.on_closed = f_closed,
	.on_lost = f_lost,
};

/* Starts fetches while ids wait and slots are free; then sends a held NEG-MSG once the
 * queue is short again. */
static void pump(struct negsync *ns)
{
	size_t batch = FETCH_BATCH;
	int64_t max_limit = relay_limits(ns->relay)->max_limit;

	if (ns->finished)
		return;
	if (max_limit >= 1 && max_limit < (int64_t)batch)
		batch = (size_t)max_limit;
	for (unsigned i = 0; i < FETCH_PARALLEL && ns->need_len; i++) {
		struct fetch *f = &ns->fetches[i];
		size_t n = ns->need_len < batch ? ns->need_len : batch;
		json_t *ids, *filters;
		int e;

		if (f->active)
			continue;
		ids = json_array();
		for (size_t k = 0; k < n; k++) {
			char hex[65];
			hex_encode(ns->need[ns->need_head + k], 32, hex);
			json_array_append_new(ids, json_string(hex));
		}
		f->filter = json_pack("{s:o, s:I}", "ids", ids, "limit", (json_int_t)n);
		filters = json_pack("[O]", f->filter);
		snprintf(f->sub_id, sizeof(f->sub_id), "rp-negf-%llu", ++counter);
		f->active = true;
		f->eose = false;
		f->got = f->pending = 0;
		f->n = n;
		f->sub = relay_subscribe(ns->relay, f->sub_id, filters, 0, &fetch_handler, f, &e);
		json_decref(filters);
		if (!f->sub) {
			struct timeval tv = { .tv_usec = 100000 };
			f->active = false;
			json_decref(f->filter);
			f->filter = NULL;
			if (e != -EAGAIN) {
				fail(ns, "cannot send a fetch by ids");
				return;
			}
			if (relay_draining(ns->relay)) {
				fail(ns, "the relay was removed from the configuration");
				return;
			}
			if (!check_reachable(ns))
				return;
			/* No room on any session now: try again shortly. */
			if (!evtimer_pending(ns->fetch_timer, NULL))
				evtimer_add(ns->fetch_timer, &tv);
			break;
		}
		ns->stats.fetches++;
		ns->need_head += n;
		ns->need_len -= n;
		if (!ns->need_len)
			ns->need_head = 0;
	}
	if (ns->held && ns->need_len <= NEED_HIGH / 2 && ns->sub) {
		char *h = ns->held;
		struct timeval tv = { .tv_sec = ROUND_TIMEOUT_S };
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
}

static void fetch_timer_cb_in(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	pump(arg);
}

static void fetch_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct negsync *ns = enter(arg);

	fetch_timer_cb_in(fd, what, arg);
	leave(ns);
}

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
		open_chunk(ns);
		pump(ns);
		return;
	}
	text = malloc(ns->out.len * 2 + 1);
	if (!text) {
		fail(ns, "out of memory");
		return;
	}
	hex_encode(ns->out.p, ns->out.len, text);
	ns->held = text;
	pump(ns); /* sends it now unless the queue is long */
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
	for (unsigned i = 0; i < FETCH_PARALLEL; i++)
		ns->fetches[i].ns = ns;
	ns->timer = evtimer_new(env->base, timer_cb, ns);
	ns->fetch_timer = evtimer_new(env->base, fetch_timer_cb, ns);
	if (!ns->name || !ns->filter || !ns->timer || !ns->fetch_timer) {
		if (ns->timer)
			event_free(ns->timer);
		if (ns->fetch_timer)
			event_free(ns->fetch_timer);
		release(ns);
		return -ENOMEM;
	}
	json_object_del(ns->filter, "since");
	json_object_del(ns->filter, "until");
	json_object_del(ns->filter, "limit");
	/* The first step runs from the loop, so that the owner never hears back inside this call. */
	evtimer_add(ns->timer, &zero);
	*out = ns;
	return 0;
}

const struct negsync_stats *negsync_stats(const struct negsync *ns)
{
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
	event_free(ns->fetch_timer);
	ns->timer = ns->fetch_timer = NULL;
	release(ns);
}
