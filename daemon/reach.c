/* reach.c - see reach.h. */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "reach.h"

static void check(struct reach *h, unsigned ready)
{
	if (h->told || !reach_unreachable(h, ready, NULL))
		return;
	h->told = true;
	h->unreachable(h->arg);
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reach *h = arg;

	(void)fd, (void)what;
	h->grace_over = true;
	check(h, 0);
}

int reach_init(struct reach *h, struct event_base *base, void (*unreachable)(void *arg), void *arg)
{
	memset(h, 0, sizeof(*h));
	h->unreachable = unreachable;
	h->arg = arg;
	h->grace = evtimer_new(base, grace_cb, h);
	return h->grace ? 0 : -1;
}

void reach_free(struct reach *h)
{
	if (h->grace)
		event_free(h->grace);
	h->grace = NULL;
}

void reach_ready(struct reach *h)
{
	h->ever_ready = true;
	h->connect_failed = h->told = h->grace_over = false;
	evtimer_del(h->grace);
}

void reach_all_down(struct reach *h, uint64_t grace_us)
{
	struct timeval tv;

	h->grace_over = false;
	clock_tv(&tv, grace_us);
	evtimer_add(h->grace, &tv);
}

void reach_connect_failed(struct reach *h, const char *why, unsigned ready)
{
	h->connect_failed = true;
	snprintf(h->error, sizeof(h->error), "%s", why);
	check(h, ready);
}

void reach_forget(struct reach *h)
{
	h->ever_ready = false;
}

bool reach_unreachable(const struct reach *h, unsigned ready, const char **why)
{
	if (!h->connect_failed || ready || (h->ever_ready && !h->grace_over))
		return false;
	if (why)
		*why = h->error;
	return true;
}
