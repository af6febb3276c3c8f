/* verifier.c - a pool of threads that run event_verify for the loop. Jobs go in through a
 * mutex-protected list; results come back through a second list and an eventfd that wakes
 * the loop, which calls every job's done() on its own thread. Workers only read the event
 * (jansson values are not modified while a job is out) and use thread-local hash state. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "verifier.h"

struct vjob {
	const struct nostr_event *ev;
	verify_done_fn done;
	void *arg;
	int result;
	struct event_error err;
	struct vjob *next;
};

struct vlist {
	struct vjob *head, **tail;
};

struct verifier {
	unsigned nthreads;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct vlist in, out;
	bool stop;
	unsigned idle; /* workers waiting on cv */
	int efd;
	struct event *wake;
	unsigned long long pending;
};

static void vlist_init(struct vlist *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void vlist_push(struct vlist *l, struct vjob *j)
{
	j->next = NULL;
	*l->tail = j;
	l->tail = &j->next;
}

/* Jobs a worker takes per trip to the lock: fewer lock round trips and wake-ups under
 * load, while a single job still goes out at once. */
#define BATCH 32

static void *worker(void *arg)
{
	struct verifier *v = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&v->mu);
	for (;;) {
		struct vjob *batch, *last, *j;
		unsigned n = 1;
		while (!v->in.head && !v->stop) {
			v->idle++;
			pthread_cond_wait(&v->cv, &v->mu);
			v->idle--;
		}
		if (v->stop)
			break;
		batch = last = v->in.head;
		while (last->next && n < BATCH) {
			last = last->next;
			n++;
		}
		v->in.head = last->next;
		if (!v->in.head)
			v->in.tail = &v->in.head;
		last->next = NULL;
		pthread_mutex_unlock(&v->mu);

		for (j = batch; j; j = j->next)
			j->result = event_verify(j->ev, &j->err);

		pthread_mutex_lock(&v->mu);
		bool was_empty = !v->out.head;
		*v->out.tail = batch;
		v->out.tail = &last->next;
		/* A failed write means the counter is already non-zero: the loop wakes anyway. */
		if (was_empty)
			(void)!write(v->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&v->mu);
	event_thread_cleanup();
	return NULL;
}

static void complete(struct vjob *j)
{
	j->done(j->arg, j->result < 0 ? &j->err : NULL);
	free(j);
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct verifier *v = arg;
	uint64_t n;
	struct vjob *j;

	(void)what;
	/* EAGAIN only means nothing new; the list is checked anyway. */
	(void)!read(fd, &n, sizeof(n));
	pthread_mutex_lock(&v->mu);
	j = v->out.head;
	vlist_init(&v->out);
	pthread_mutex_unlock(&v->mu);
	while (j) {
		struct vjob *next = j->next;
		v->pending--;
		complete(j);
		j = next;
	}
}

int verifier_new(struct event_base *base, unsigned threads, struct verifier **out)
{
	struct verifier *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	vlist_init(&v->in);
	vlist_init(&v->out);
	v->efd = -1;
	/* Shared crypto state is created here, before any worker could race for it. */
	if (event_crypto_init() < 0) {
		free(v);
		return -ENOMEM;
	}
	if (threads == 0) {
		*out = v;
		return 0;
	}
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->cv, NULL);
	v->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	v->threads = calloc(threads, sizeof(*v->threads));
	if (v->efd < 0 || !v->threads)
		goto fail;
	v->wake = event_new(base, v->efd, EV_READ | EV_PERSIST, wake_cb, v);
	if (!v->wake || event_add(v->wake, NULL) < 0)
		goto fail;
	for (; v->nthreads < threads; v->nthreads++)
		if (pthread_create(&v->threads[v->nthreads], NULL, worker, v) != 0)
			goto fail;
	*out = v;
	return 0;
fail:
	log_err("verifier: cannot start %u threads", threads);
	verifier_free(v);
	return -ENOMEM;
}

void verifier_free(struct verifier *v)
{
	struct vjob *j;

	if (!v)
		return;
	if (v->threads) {
		pthread_mutex_lock(&v->mu);
		v->stop = true;
		pthread_cond_broadcast(&v->cv);
		pthread_mutex_unlock(&v->mu);
		for (unsigned i = 0; i < v->nthreads; i++)
			pthread_join(v->threads[i], NULL);
		/* Finished jobs first, then those never started. */
		for (j = v->out.head; j;) {
			struct vjob *next = j->next;
			complete(j);
			j = next;
		}
		for (j = v->in.head; j;) {
			struct vjob *next = j->next;
			j->result = -ESHUTDOWN;
			j->err.code = EVENT_ERR__MAX;
			snprintf(j->err.message, sizeof(j->err.message), "the daemon is shutting down");
			complete(j);
			j = next;
		}
		pthread_mutex_destroy(&v->mu);
		pthread_cond_destroy(&v->cv);
	}
	if (v->wake)
		event_free(v->wake);
	if (v->efd >= 0)
		close(v->efd);
	free(v->threads);
	free(v);
}

int verifier_submit(struct verifier *v, const struct nostr_event *ev, verify_done_fn done, void *arg)
{
	struct vjob *j;

	if (v->nthreads == 0) {
		struct event_error err;
		int r = event_verify(ev, &err);
		done(arg, r < 0 ? &err : NULL);
		return 0;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->ev = ev;
	j->done = done;
	j->arg = arg;
	v->pending++;
	pthread_mutex_lock(&v->mu);
	vlist_push(&v->in, j);
	if (v->idle)
		pthread_cond_signal(&v->cv);
	pthread_mutex_unlock(&v->mu);
	return 0;
}

unsigned verifier_threads(const struct verifier *v)
{
	return v->nthreads;
}

unsigned long long verifier_pending(const struct verifier *v)
{
	return v->pending;
}
