/* publish.c - the state of one publish request: the event goes into the cache and the
 * durable outbox (one row per target relay) and to each relay's job queue; the reply waits
 * for the rows' commit, then (with wait "ok") for the quorum: k relays accepted, or k has
 * become impossible, or the request's deadline passed. Targets still going then are left
 * to the outbox, which records their outcome. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "cache.h"
#include "control.h"
#include "daemon.h"
#include "log.h"
#include "outbox.h"
#include "publish.h"
#include "relay.h"
#include "stats.h"

struct publish;

struct target {
	struct job_waiter w;
	struct publish *pub;
	struct relay *relay;
	char *relay_name;
	char *url;
	bool waiting;
	enum job_status status;
	char *message;
	double latency_ms;
	unsigned attempts;
};

struct publish {
	struct daemon *d;
	struct request *req; /* NULL once answered */
	struct nostr_event ev;
	enum publish_wait wait;
	bool committed; /* the outbox rows are on disk */
	int commit_err;
	bool deadline_passed;
	struct event *deadline;
	unsigned quorum, accepted, finished;
	size_t n;
	struct target t[];
};

static json_t *targets_json(const struct publish *p)
{
	json_t *a = json_array();

	for (size_t i = 0; i < p->n; i++) {
		const struct target *t = &p->t[i];
		json_t *o = json_pack("{s:s, s:s, s:s}", "relay", t->relay_name, "url", t->url, "status",
				      t->status == JOB_ABANDONED ? "pending" : job_status_name(t->status));
		if (t->message && t->status != JOB_PENDING)
			json_object_set_new(o, "message", json_string(t->message));
		else if (t->status == JOB_PENDING && p->deadline_passed)
			json_object_set_new(o, "message", json_string("no answer before the request's deadline; the outbox "
								      "keeps delivering it"));
		if (t->status == JOB_ACCEPTED || t->status == JOB_REJECTED)
			json_object_set_new(o, "latency_ms", json_real(t->latency_ms));
		if (t->status != JOB_PENDING)
			json_object_set_new(o, "attempts", json_integer(t->attempts));
		json_array_append_new(a, o);
	}
	return a;
}

/* Detaches the targets still waiting (their jobs go on for the outbox) and frees. */
static void publish_free(struct publish *p)
{
	for (size_t i = 0; i < p->n; i++) {
		if (p->t[i].waiting)
			relay_forget_waiter(&p->t[i].w);
		free(p->t[i].relay_name);
		free(p->t[i].url);
		free(p->t[i].message);
	}
	if (p->deadline)
		event_free(p->deadline);
	event_clear(&p->ev);
	free(p);
}

static bool decided(const struct publish *p)
{
	return p->accepted >= p->quorum || p->accepted + (p->n - p->finished) < p->quorum || p->deadline_passed;
}

/* Answers once the rows are committed and the outcome is known; then frees. */
static void maybe_answer(struct publish *p)
{
	struct request *r = p->req;

	if (!p->committed)
		return;
	if (p->commit_err) {
		request_fail(r, RP_ERR_INTERNAL, "event %s: the cache could not record it (write failed); not queued",
			     p->ev.id_hex);
	} else if (p->wait == PUBLISH_WAIT_QUEUED) {
		json_t *names = json_array();
		for (size_t i = 0; i < p->n; i++)
			json_array_append_new(names, json_string(p->t[i].relay_name));
		request_reply(r, json_pack("{s:s, s:o}", "event_id", p->ev.id_hex, "queued", names));
	} else if (!decided(p)) {
		return;
	} else if (p->accepted >= p->quorum) {
		request_reply(r, json_pack("{s:s, s:i, s:i, s:o}", "event_id", p->ev.id_hex, "quorum", (int)p->quorum,
					   "accepted", (int)p->accepted, "relays", targets_json(p)));
	} else {
		request_fail_detail(r, RP_ERR_QUORUM_FAILED,
				    json_pack("{s:s, s:i, s:i, s:o}", "event_id", p->ev.id_hex, "quorum", (int)p->quorum,
					      "accepted", (int)p->accepted, "relays", targets_json(p)),
				    "event %s: %u of %zu relays accepted it%s, quorum was %u", p->ev.id_hex, p->accepted,
				    p->n, p->deadline_passed ? " before the deadline" : "", p->quorum);
	}
	p->req = NULL;
	publish_free(p);
}

static void target_done(struct job_waiter *w, const struct job *job)
{
	struct target *t = (struct target *)w;
	struct publish *p = t->pub;

	t->waiting = false;
	t->status = job->status;
	free(t->message);
	t->message = strdup(job->message ? job->message : "");
	t->latency_ms = (double)job->latency_us / 1000.0;
	t->attempts = job->attempts;
	p->finished++;
	if (job->status == JOB_ACCEPTED && ++p->accepted == p->quorum)
		stats_quorum(t->relay, (unsigned)p->n); /* this relay's answer decided the request */
	maybe_answer(p);
}

static void committed(void *arg, int err)
{
	struct publish *p = arg;

	p->committed = true;
	p->commit_err = err;
	maybe_answer(p);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct publish *p = arg;

	(void)fd, (void)what;
	p->deadline_passed = true;
	maybe_answer(p);
}

/* Stores the event and its outbox rows, and hands it to each relay. */
static int start_delivery(struct publish *p, struct relay **relays)
{
	struct cache *c = p->d->cache;
	enum cache_store res;
	int r;

	r = cache_store_event(c, &p->ev, 0, &res);
	if (r < 0)
		return r;
	bool in_cache = res == CACHE_NEW || res == CACHE_REPLACED || res == CACHE_DUPLICATE;
	for (size_t i = 0; i < p->n; i++) {
		struct target *t = &p->t[i];
		int64_t oid, relay_id;
		r = relay_cache_id(relays[i], c, &relay_id);
		if (r == 0)
			r = outbox_add(p->d->outbox, &p->ev, in_cache, relay_id, &oid);
		if (r == 0)
			r = outbox_deliver(p->d, relays[i], &p->ev, oid);
		if (r == 0)
			r = relay_submit(relays[i], &p->ev, &t->w);
		if (r < 0) {
			/* The caller checked for room; this is memory or disk trouble. */
			t->status = JOB_FAILED;
			t->message = strdup(strerror(-r));
			p->finished++;
			continue;
		}
		t->waiting = true;
	}
	return 0;
}

void publish_start(struct daemon *d, struct request *r, struct nostr_event *ev, struct relay **relays, size_t n,
		   unsigned quorum, enum publish_wait wait, uint64_t timeout_ms)
{
	struct publish *p = calloc(1, sizeof(*p) + n * sizeof(struct target));
	struct timeval tv = { .tv_sec = (time_t)(timeout_ms / 1000), .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000 };

	if (!p) {
		event_clear(ev);
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		return;
	}
	p->d = d;
	p->req = r;
	p->ev = *ev;
	memset(ev, 0, sizeof(*ev));
	p->quorum = quorum;
	p->wait = wait;
	p->n = n;
	for (size_t i = 0; i < n; i++) {
		struct target *t = &p->t[i];
		t->pub = p;
		t->w.done = target_done;
		t->relay = relays[i];
		t->relay_name = strdup(relays[i]->name);
		t->url = strdup(relays[i]->url);
		t->status = JOB_PENDING;
	}
	if (wait == PUBLISH_WAIT_OK) {
		p->deadline = evtimer_new(d->base, deadline_cb, p);
		if (p->deadline)
			evtimer_add(p->deadline, &tv);
	}
	if (start_delivery(p, relays) < 0 || cache_after_commit(d->cache, committed, p) < 0) {
		request_fail(r, RP_ERR_INTERNAL, "event %s: the cache could not record it; not queued", p->ev.id_hex);
		p->req = NULL;
		publish_free(p);
	}
}
