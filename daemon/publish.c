/* publish.c - the state of one publish request: one target per relay (a waiter on that
 * relay's job), the quorum, and the reply. The request completes as soon as k relays
 * accepted or k has become impossible; the other targets keep going and are logged as
 * they finish. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "control.h"
#include "daemon.h"
#include "log.h"
#include "publish.h"
#include "relay.h"

struct publish;

struct target {
	struct job_waiter w;
	struct publish *pub;
	char *relay_name;
	char *url;
	bool waiting;
	enum job_status status;
	char *message;
	double latency_ms;
	unsigned attempts;
};

struct publish {
	struct request *req; /* NULL once answered */
	struct nostr_event ev;
	unsigned quorum, accepted, finished, waiting;
	size_t n;
	struct target t[];
};

static json_t *targets_json(const struct publish *p)
{
	json_t *a = json_array();

	for (size_t i = 0; i < p->n; i++) {
		const struct target *t = &p->t[i];
		json_t *o = json_pack("{s:s, s:s, s:s}", "relay", t->relay_name, "url", t->url, "status",
				      job_status_name(t->status));
		if (t->message && t->status != JOB_PENDING)
			json_object_set_new(o, "message", json_string(t->message));
		if (t->status == JOB_ACCEPTED || t->status == JOB_REJECTED)
			json_object_set_new(o, "latency_ms", json_real(t->latency_ms));
		if (t->status != JOB_PENDING)
			json_object_set_new(o, "attempts", json_integer(t->attempts));
		json_array_append_new(a, o);
	}
	return a;
}

static void publish_free(struct publish *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->t[i].relay_name);
		free(p->t[i].url);
		free(p->t[i].message);
	}
	event_clear(&p->ev);
	free(p);
}

static void answer(struct publish *p)
{
	struct request *r = p->req;

	p->req = NULL;
	if (p->accepted >= p->quorum) {
		request_reply(r, json_pack("{s:s, s:i, s:i, s:o}", "event_id", p->ev.id_hex, "quorum", (int)p->quorum,
					   "accepted", (int)p->accepted, "relays", targets_json(p)));
		return;
	}
	request_fail_detail(r, RP_ERR_QUORUM_FAILED,
			    json_pack("{s:s, s:i, s:i, s:o}", "event_id", p->ev.id_hex, "quorum", (int)p->quorum,
				      "accepted", (int)p->accepted, "relays", targets_json(p)),
			    "event %s: %u of %zu relays accepted it, quorum was %u", p->ev.id_hex, p->accepted, p->n,
			    p->quorum);
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
	p->waiting--;
	p->finished++;
	if (job->status == JOB_ACCEPTED)
		p->accepted++;
	if (!p->req)
		log_debug("publish %s: relay %s %s after the reply: %s", p->ev.id_hex, t->relay_name,
			  job_status_name(job->status), t->message);
	else if (p->accepted >= p->quorum || p->accepted + (p->n - p->finished) < p->quorum)
		answer(p);
	if (p->waiting == 0)
		publish_free(p);
}

void publish_start(struct request *r, struct nostr_event *ev, struct relay **relays, size_t n, unsigned quorum,
		   enum publish_wait wait)
{
	struct publish *p = calloc(1, sizeof(*p) + n * sizeof(struct target));
	json_t *queued;

	if (!p) {
		event_clear(ev);
		request_fail(r, RP_ERR_INTERNAL, "out of memory");
		return;
	}
	p->req = r;
	p->ev = *ev;
	memset(ev, 0, sizeof(*ev));
	p->quorum = quorum;
	p->n = n;
	queued = json_array();
	for (size_t i = 0; i < n; i++) {
		struct target *t = &p->t[i];
		t->pub = p;
		t->w.done = target_done;
		t->relay_name = strdup(relays[i]->name);
		t->url = strdup(relays[i]->url);
		t->status = JOB_PENDING;
		json_array_append_new(queued, json_string(relays[i]->name));
	}
	/* Count the waiters before submitting: a submit never completes synchronously, but the
	 * counts must be right before any completion can arrive. */
	for (size_t i = 0; i < n; i++) {
		struct target *t = &p->t[i];
		int e = relay_submit(relays[i], &p->ev, &t->w);
		if (e == 0) {
			t->waiting = true;
			p->waiting++;
			continue;
		}
		t->status = JOB_FAILED;
		t->message = strdup(e == -ENOSPC ? "queue full" : e == -ESHUTDOWN ? "relay removed" : "out of memory");
		p->finished++;
	}
	if (wait == PUBLISH_WAIT_QUEUED) {
		p->req = NULL;
		request_reply(r, json_pack("{s:s, s:o}", "event_id", p->ev.id_hex, "queued", queued));
	} else {
		json_decref(queued);
		if (p->accepted + (p->n - p->finished) < p->quorum)
			answer(p);
	}
	if (p->waiting == 0) {
		if (p->req)
			answer(p);
		publish_free(p);
	}
}
