/* idfetch.c - see idfetch.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "cache.h"
#include "clock.h"
#include "filter.h"
#include "hex.h"
#include "idfetch.h"
#include "log.h"
#include "relay.h"
#include "session.h"
#include "verifier.h"

#define BATCH 500
#define PARALLEL 4
#define TIMEOUT_S 30
#define MAX_RETRIES 8
#define RETRY_BASE_MS 200
#define RETRY_MAX_MS 10000

struct batch {
	struct idfetch *f;
	struct session_sub *sub;
	char sub_id[32];
	json_t *filter; /* {"ids": [...], "limit": n}: what the relay may send */
	uint8_t (*ids)[32]; /* the same ids, sorted: an event's id is looked up, not compared 500 times */
	size_t n;       /* ids asked for */
	unsigned got, pending;
	uint64_t gen; /* bumps when the batch ends: late verifications are not its own */
	bool active, eose;
	unsigned retries;
	struct event *timer; /* no EOSE in time */
};

struct idfetch {
	struct idfetch_env env;
	struct relay *relay;
	char *name;
	json_t *filter;
	int64_t since, until, relay_id;
	const struct idfetch_ops *ops;
	void *arg;
	uint8_t (*q)[32];
	size_t head, len, cap;
	struct batch b[PARALLEL];
	struct event *retry; /* batches waiting for a session with room, or out of a backoff */
	unsigned in_verify, depth;
	bool failed, freed;
	struct idfetch_stats stats;
	struct log_limit ll;
};

struct fetched {
	struct nostr_event ev;
	struct idfetch *f;
	struct batch *b;
	uint64_t gen;
};

static unsigned long long counter;

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static void release(struct idfetch *f)
{
	if (f->in_verify || f->depth)
		return;
	for (unsigned i = 0; i < PARALLEL; i++) {
		json_decref(f->b[i].filter);
		free(f->b[i].ids);
		if (f->b[i].timer)
			event_free(f->b[i].timer);
	}
	if (f->retry)
		event_free(f->retry);
	free(f->q);
	free(f->name);
	json_decref(f->filter);
	relay_unref(f->relay);
	free(f);
}

/* The owner may free us from inside a callback: every way in is bracketed. */
static struct idfetch *enter(struct idfetch *f)
{
	f->depth++;
	return f;
}

static void leave(struct idfetch *f)
{
	if (--f->depth == 0 && f->freed)
		release(f);
}

static void stop_batch(struct batch *b)
{
	if (b->timer)
		evtimer_del(b->timer);
	if (b->sub)
		relay_unsubscribe(b->sub);
	b->sub = NULL;
	b->active = false;
	b->gen++;
	json_decref(b->filter);
	b->filter = NULL;
	free(b->ids);
	b->ids = NULL;
}

static void fail(struct idfetch *f, bool unreachable, const char *fmt, ...) _printf_(3, 4);
static void fail(struct idfetch *f, bool unreachable, const char *fmt, ...)
{
	char why[400];
	va_list ap;

	if (f->failed || f->freed)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	f->failed = true;
	for (unsigned i = 0; i < PARALLEL; i++)
		stop_batch(&f->b[i]);
	f->ops->failed(f->arg, why, unreachable);
}

int idfetch_push(struct idfetch *f, const uint8_t id[32])
{
	if (f->head + f->len == f->cap) {
		if (f->head > f->cap / 2) {
			memmove(f->q, f->q + f->head, f->len * 32);
			f->head = 0;
		} else {
			size_t cap = f->cap ? f->cap * 2 : 1024;
			void *p = realloc(f->q, cap * 32);
			if (!p)
				return -ENOMEM;
			f->q = p;
			f->cap = cap;
		}
	}
	memcpy(f->q[f->head + f->len], id, 32);
	f->len++;
	return 0;
}

static void batch_end(struct batch *b)
{
	struct idfetch *f = b->f;

	if (b->got < b->n)
		f->stats.missing += b->n - b->got;
	b->retries = 0;
	stop_batch(b);
	idfetch_pump(f);
	if (!f->failed)
		f->ops->progress(f->arg);
}

static void arm_retry(struct idfetch *f, uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

	if (!evtimer_pending(f->retry, NULL))
		evtimer_add(f->retry, &tv);
}

/* The batch goes back to the queue (a lost session, a CLOSED that says "later", no EOSE). */
static void batch_again(struct batch *b, const char *why)
{
	struct idfetch *f = b->f;
	json_t *ids = json_object_get(b->filter, "ids"), *v;
	size_t i;

	b->sub = NULL;
	if (++b->retries > MAX_RETRIES) {
		fail(f, false, "gave up fetching by ids after %d retries: %s", MAX_RETRIES, why);
		return;
	}
	json_array_foreach(ids, i, v) {
		uint8_t id[32];
		if (hex_decode(json_string_value(v), 64, id) == 0 && idfetch_push(f, id) < 0) {
			fail(f, false, "out of memory");
			return;
		}
	}
	log_ctx(LOG_INFO, (&(const struct log_fields){ .relay = f->name }), "sync %s: fetching %zu events by id again: %s",
		f->name, b->n, why);
	stop_batch(b);
	arm_retry(f, backoff_step(RETRY_BASE_MS, RETRY_MAX_MS, b->retries - 1));
}

static void verified(void *arg, const struct event_error *err)
{
	struct fetched *fe = arg;
	struct idfetch *f = enter(fe->f);
	struct batch *b = fe->b;
	enum cache_store res;

	f->in_verify--;
	if (!f->failed && !f->freed) {
		if (err) {
			f->stats.invalid++;
			log_limited(&f->ll, LOG_INFO, (&(const struct log_fields){ .relay = f->name }), "sync by id: ",
				    "dropping an invalid event: %s", err->message);
		} else if (cache_store_event(f->env.cache, &fe->ev, f->relay_id, &res) < 0) {
			fail(f, false, "the cache could not store an event");
		} else if (res == CACHE_NEW || res == CACHE_REPLACED) {
			f->stats.fresh++;
		} else {
			f->stats.duplicates++;
		}
		if (!f->failed && fe->gen == b->gen && --b->pending == 0 && b->eose)
			batch_end(b);
		else if (!f->failed && !f->in_verify)
			f->ops->progress(f->arg);
	}
	event_clear(&fe->ev);
	free(fe);
	leave(f);
}

static void on_event(void *arg, json_t *obj)
{
	struct batch *b = arg;
	struct idfetch *f = enter(b->f);
	struct fetched *fe;
	struct event_error err;

	if (!b->active)
		goto out;
	f->stats.received++;
	fe = calloc(1, sizeof(*fe));
	if (!fe) {
		fail(f, false, "out of memory");
		goto out;
	}
	if (event_from_json(obj, &fe->ev, &err) < 0) {
		f->stats.invalid++;
		log_limited(&f->ll, LOG_INFO, (&(const struct log_fields){ .relay = f->name }), "sync by id: ",
			    "dropping a malformed event: %s", err.message);
		free(fe);
		goto out;
	}
	if (!bsearch(fe->ev.id, b->ids, b->n, 32, id_cmp) || !filter_match(f->filter, &fe->ev) ||
	    fe->ev.created_at < f->since ||
	    fe->ev.created_at > f->until) {
		f->stats.invalid++;
		log_limited(&f->ll, LOG_INFO, (&(const struct log_fields){ .relay = f->name }), "sync by id: ",
			    "dropping event %s: not asked for, or not matching the filter", fe->ev.id_hex);
		event_clear(&fe->ev);
		free(fe);
		goto out;
	}
	b->got++;
	fe->f = f;
	fe->b = b;
	fe->gen = b->gen;
	b->pending++;
	f->in_verify++;
	if (verifier_submit(f->env.verifier, &fe->ev, verified, fe) < 0) {
		f->in_verify--;
		b->pending--;
		event_clear(&fe->ev);
		free(fe);
		fail(f, false, "out of memory");
	}
out:
	leave(f);
}

static void on_eose(void *arg)
{
	struct batch *b = arg;
	struct idfetch *f = enter(b->f);

	if (b->active) {
		b->eose = true;
		evtimer_del(b->timer);
		if (b->sub)
			relay_unsubscribe(b->sub);
		b->sub = NULL;
		if (b->pending == 0)
			batch_end(b);
	}
	leave(f);
}

static void on_closed(void *arg, const char *msg)
{
	struct batch *b = arg;
	struct idfetch *f = enter(b->f);

	b->sub = NULL;
	if (session_closed_transient(msg))
		batch_again(b, msg);
	else
		fail(f, false, "the relay closed a fetch by ids: %s", msg);
	leave(f);
}

static void on_lost(void *arg)
{
	struct batch *b = arg;
	struct idfetch *f = enter(b->f);

	batch_again(b, "the session went away");
	leave(f);
}

static const struct sub_handler handler = {
	.on_event = on_event,
	.on_eose = on_eose,
	.on_closed = on_closed,
	.on_lost = on_lost,
};

static void batch_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct batch *b = arg;
	struct idfetch *f = enter(b->f);

	(void)fd, (void)what;
	if (b->active && !b->eose)
		batch_again(b, "no EOSE in time");
	leave(f);
}

void idfetch_pump(struct idfetch *f)
{
	size_t batch = BATCH;
	int64_t max_limit = relay_limits(f->relay)->max_limit;
	const char *why;

	if (f->failed || f->freed)
		return;
	if (max_limit >= 1 && max_limit < (int64_t)batch)
		batch = (size_t)max_limit;
	for (unsigned i = 0; i < PARALLEL && f->len; i++) {
		struct batch *b = &f->b[i];
		struct timeval tv = { .tv_sec = TIMEOUT_S };
		size_t n = f->len < batch ? f->len : batch;
		json_t *ids, *filters;
		int e;

		if (b->active || evtimer_pending(f->retry, NULL))
			continue;
		ids = json_array();
		for (size_t k = 0; k < n; k++) {
			char hex[65];
			hex_encode(f->q[f->head + k], 32, hex);
			json_array_append_new(ids, json_string(hex));
		}
		b->filter = json_pack("{s:o, s:I}", "ids", ids, "limit", (json_int_t)n);
		b->ids = malloc(n * 32);
		if (!b->ids) {
			json_decref(b->filter);
			b->filter = NULL;
			fail(f, false, "out of memory");
			return;
		}
		memcpy(b->ids, f->q[f->head], n * 32);
		qsort(b->ids, n, 32, id_cmp);
		filters = json_pack("[O]", b->filter);
		snprintf(b->sub_id, sizeof(b->sub_id), "rp-ids-%llu", ++counter);
		b->active = true;
		b->eose = false;
		b->got = b->pending = 0;
		b->n = n;
		b->sub = relay_subscribe(f->relay, b->sub_id, filters, 0, &handler, b, &e);
		json_decref(filters);
		if (!b->sub) {
			b->active = false;
			json_decref(b->filter);
			b->filter = NULL;
			free(b->ids);
			b->ids = NULL;
			if (e != -EAGAIN)
				fail(f, false, "cannot send a REQ by ids");
			else if (relay_draining(f->relay))
				fail(f, false, "the relay was removed from the configuration");
			else if (relay_unreachable(f->relay, &why))
				fail(f, true, "the relay cannot be reached: %s", why);
			else
				arm_retry(f, 100); /* no session has room now */
			return;
		}
		evtimer_add(b->timer, &tv);
		f->stats.fetches++;
		f->head += n;
		f->len -= n;
		if (!f->len)
			f->head = 0;
	}
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct idfetch *f = enter(arg);

	(void)fd, (void)what;
	idfetch_pump(f);
	leave(f);
}

int idfetch_new(const struct idfetch_env *env, struct relay *r, const struct idfetch_params *p,
		const struct idfetch_ops *ops, void *arg, struct idfetch **out)
{
	struct idfetch *f = calloc(1, sizeof(*f));
	bool ok;

	if (!f)
		return -ENOMEM;
	f->env = *env;
	f->relay = relay_ref(r);
	f->name = strdup(p->name);
	f->filter = json_deep_copy(p->filter);
	f->relay_id = p->relay_id;
	f->since = p->since;
	f->until = p->until;
	f->ops = ops;
	f->arg = arg;
	f->retry = evtimer_new(env->base, retry_cb, f);
	ok = f->name && f->filter && f->retry;
	for (unsigned i = 0; i < PARALLEL; i++) {
		f->b[i].f = f;
		f->b[i].timer = evtimer_new(env->base, batch_timeout, &f->b[i]);
		ok = ok && f->b[i].timer;
	}
	if (!ok) {
		release(f);
		return -ENOMEM;
	}
	*out = f;
	return 0;
}

size_t idfetch_queued(const struct idfetch *f)
{
	return f->len;
}

bool idfetch_idle(const struct idfetch *f)
{
	for (unsigned i = 0; i < PARALLEL; i++)
		if (f->b[i].active)
			return false;
	return f->len == 0 && f->in_verify == 0;
}

const struct idfetch_stats *idfetch_stats(const struct idfetch *f)
{
	return &f->stats;
}

void idfetch_free(struct idfetch *f)
{
	if (!f)
		return;
	for (unsigned i = 0; i < PARALLEL; i++)
		stop_batch(&f->b[i]);
	if (f->retry)
		evtimer_del(f->retry);
	f->freed = true;
	release(f);
}
