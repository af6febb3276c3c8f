/* delay_proxy.c - a TCP proxy on 127.0.0.1 that delays each direction by a fixed time (plus
 * optional jitter) while keeping byte order. This kernel has no netem, so benchmarks inject
 * latency here: --delay 20 gives a ~40 ms round trip.
 *
 * Each direction owns an evbuffer of bytes not yet due and a FIFO of (due time, length)
 * records, one per read; a single timer per direction fires for the head record and moves due
 * bytes to the destination without copying. A peer's FIN is queued like data and forwarded
 * (shutdown(SHUT_WR)) once everything before it has been written. Resets and write errors
 * tear the pair down at once. Jitter never reorders: a chunk is never due before the last.
 *
 * Usage: delay_proxy --listen PORT --to HOST:PORT --delay MS [--jitter MS]
 * Prints "LISTENING <port>" on stdout when ready (PORT 0 picks a free port); a stats line on
 * stderr at SIGINT/SIGTERM. Not simulated: the TCP handshake itself (connect() returns at
 * once), bandwidth limits and loss. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchws.h"

/* Bytes a direction may hold (not yet due + not yet written) before we stop reading its
 * source; reading resumes below half. 16 MiB covers a 40 ms RTT at 3 Gbit/s. */
#define MAX_BACKLOG (16u << 20)
#define WRITE_LOWAT (256u << 10)
#define MAX_READ (256u << 10)

/* Reads due within this window of a chunk's first read join that chunk: at high rates one
 * timer and one write per 100 us instead of per read. Bytes are never released early, and
 * at most this much late. */
#define COALESCE_NS 100000u

struct chunk {
	uint64_t due;   /* when the chunk leaves: its last read's due time */
	uint64_t first; /* its first read's due time, which bounds coalescing */
	size_t len;
	bool eof;
};

struct side {
	struct bufferevent *bev;
	bool connected;
	bool read_eof; /* the peer sent FIN */
};

struct pconn;

struct dir {
	struct pconn *c;
	struct side *src, *dst;
	struct evbuffer *pending; /* read but not yet due */
	struct chunk *q;          /* ring, capacity a power of two */
	size_t cap, head, count;
	uint64_t last_due;
	struct event *timer;
	bool eof_due; /* the FIN's time has come: send it once dst's output is empty */
	bool done;    /* FIN forwarded */
	bool paused;  /* src reading disabled for backpressure */
	uint64_t *bytes;
};

struct proxy;

struct pconn {
	struct proxy *p;
	struct pconn *prev, *next;
	struct side client, upstream;
	struct dir up, down; /* client -> upstream, upstream -> client */
};

struct proxy {
	struct event_base *base;
	struct evconnlistener *listener;
	struct sockaddr_storage to;
	socklen_t tolen;
	uint64_t delay_ns, jitter_ns;
	struct pconn *conns;
	uint64_t accepted, active, max_active, connect_failures, bytes_up, bytes_down;
};

struct options {
	uint16_t listen_port;
	const char *to;
	uint64_t delay_ms, jitter_ms;
};

/* ---- one connection pair ---------------------------------------------------------- */

static void pconn_free(struct pconn *c)
{
	struct dir *dirs[2] = { &c->up, &c->down };

	for (int i = 0; i < 2; i++) {
		if (dirs[i]->timer)
			event_free(dirs[i]->timer);
		if (dirs[i]->pending)
			evbuffer_free(dirs[i]->pending);
		free(dirs[i]->q);
	}
	if (c->client.bev)
		bufferevent_free(c->client.bev);
	if (c->upstream.bev)
		bufferevent_free(c->upstream.bev);
	if (c->prev)
		c->prev->next = c->next;
	else
		c->p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->p->active--;
	free(c);
}

static size_t dir_backlog(const struct dir *d)
{
	return evbuffer_get_length(d->pending) + evbuffer_get_length(bufferevent_get_output(d->dst->bev));
}

static void dir_check_pressure(struct dir *d)
{
	size_t backlog = dir_backlog(d);

	if (!d->paused && backlog > MAX_BACKLOG) {
		bufferevent_disable(d->src->bev, EV_READ);
		d->paused = true;
	} else if (d->paused && backlog <= MAX_BACKLOG / 2) {
		d->paused = false;
		if (!d->src->read_eof)
			bufferevent_enable(d->src->bev, EV_READ);
	}
}

/* Sends the FIN once it is due and everything before it has left. Returns true if the pair
 * was freed (both directions finished). */
static bool dir_maybe_finish(struct dir *d)
{
	struct pconn *c = d->c;

	if (d->done || !d->eof_due || !d->dst->connected ||
	    evbuffer_get_length(bufferevent_get_output(d->dst->bev)) > 0)
		return false;
	d->done = true;
	if (shutdown(bufferevent_getfd(d->dst->bev), SHUT_WR) < 0 && errno != ENOTCONN) {
		pconn_free(c);
		return true;
	}
	if (c->up.done && c->down.done) {
		pconn_free(c);
		return true;
	}
	return false;
}

static void dir_arm(struct dir *d, uint64_t now)
{
	uint64_t wait = d->q[d->head].due > now ? d->q[d->head].due - now : 0;
	struct timeval tv = { .tv_sec = (time_t)(wait / 1000000000u), .tv_usec = (suseconds_t)(wait % 1000000000u / 1000) };

	evtimer_add(d->timer, &tv);
}

static void dir_push(struct dir *d, size_t len, bool eof)
{
	struct proxy *p = d->c->p;
	uint64_t now = benchws_now_ns(), due = now + p->delay_ns;

	if (p->jitter_ns) {
		int64_t off = (int64_t)(benchws_rand() % (2 * p->jitter_ns + 1)) - (int64_t)p->jitter_ns;
		due = off < 0 && (uint64_t)-off > due - now ? now : due + (uint64_t)off;
	}
	if (due < d->last_due)
		due = d->last_due; /* never overtake an earlier chunk */
	d->last_due = due;
	if (d->count > 0 && !eof) {
		struct chunk *tail = &d->q[(d->head + d->count - 1) & (d->cap - 1)];
		if (!tail->eof && due - tail->first <= COALESCE_NS) {
			tail->len += len;
			tail->due = due;
			/* Re-arm only if the head moved: a one-chunk queue. */
			if (d->count == 1)
				dir_arm(d, now);
			return;
		}
	}
	if (d->count == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct chunk *q = malloc(cap * sizeof(*q));
		if (!q)
			abort();
		for (size_t i = 0; i < d->count; i++)
			q[i] = d->q[(d->head + i) & (d->cap - 1)];
		free(d->q);
		d->q = q;
		d->cap = cap;
		d->head = 0;
	}
	d->q[(d->head + d->count) & (d->cap - 1)] = (struct chunk){ .due = due, .first = due, .len = len, .eof = eof };
	if (d->count++ == 0)
		dir_arm(d, now);
}

static void dir_release(evutil_socket_t fd, short what, void *arg)
{
	struct dir *d = arg;
	struct evbuffer *out = bufferevent_get_output(d->dst->bev);
	uint64_t now = benchws_now_ns();

	while (d->count > 0 && d->q[d->head].due <= now) {
		struct chunk *ch = &d->q[d->head];
		if (ch->eof)
			d->eof_due = true;
		else
			evbuffer_remove_buffer(d->pending, out, ch->len);
		d->head = (d->head + 1) & (d->cap - 1);
		d->count--;
	}
	if (d->count > 0)
		dir_arm(d, now);
	dir_maybe_finish(d);
}

static bool immediate(const struct dir *d)
{
	return d->count == 0 && d->c->p->delay_ns == 0 && d->c->p->jitter_ns == 0;
}

static void dir_read(struct dir *d)
{
	struct evbuffer *in = bufferevent_get_input(d->src->bev);
	size_t n = evbuffer_get_length(in);

	if (n == 0)
		return;
	*d->bytes += n;
	if (immediate(d)) {
		evbuffer_add_buffer(bufferevent_get_output(d->dst->bev), in);
	} else {
		evbuffer_add_buffer(d->pending, in);
		dir_push(d, n, false);
	}
	dir_check_pressure(d);
}

static void dir_eof(struct dir *d)
{
	if (immediate(d)) {
		d->eof_due = true;
		dir_maybe_finish(d);
	} else {
		dir_push(d, 0, true);
	}
}

static struct dir *reading_dir(struct pconn *c, struct bufferevent *bev)
{
	return bev == c->client.bev ? &c->up : &c->down;
}

static struct dir *writing_dir(struct pconn *c, struct bufferevent *bev)
{
	return bev == c->client.bev ? &c->down : &c->up;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	dir_read(reading_dir(arg, bev));
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct dir *d = writing_dir(arg, bev);

	if (dir_maybe_finish(d))
		return;
	dir_check_pressure(d);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct pconn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		c->upstream.connected = true;
		dir_maybe_finish(&c->up);
		return;
	}
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		struct dir *d = reading_dir(c, bev);
		d->src->read_eof = true; /* before dir_read, so backpressure never re-enables it */
		dir_read(d);
		dir_eof(d);
		return;
	}
	/* A reset, a failed write or a failed connect: nothing sensible to delay. */
	if (bev == c->upstream.bev && !c->upstream.connected)
		c->p->connect_failures++;
	pconn_free(c);
}

static int dir_init(struct pconn *c, struct dir *d, struct side *src, struct side *dst, uint64_t *bytes)
{
	d->c = c;
	d->src = src;
	d->dst = dst;
	d->bytes = bytes;
	d->pending = evbuffer_new();
	d->timer = evtimer_new(c->p->base, dir_release, d);
	return d->pending && d->timer ? 0 : -ENOMEM;
}

static void setup_bev(struct bufferevent *bev, struct pconn *c)
{
	int one = 1;

	bufferevent_setcb(bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(bev, EV_WRITE, WRITE_LOWAT, 0);
	bufferevent_set_max_single_read(bev, MAX_READ);
	bufferevent_set_max_single_write(bev, MAX_READ);
	/* Nagle plus delayed ACKs would add their own latency to small messages. */
	if (bufferevent_getfd(bev) >= 0)
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct proxy *p = arg;
	struct pconn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return;
	}
	c->p = p;
	c->next = p->conns;
	if (p->conns)
		p->conns->prev = c;
	p->conns = c;
	p->accepted++;
	if (++p->active > p->max_active)
		p->max_active = p->active;
	c->client.connected = true;
	c->client.bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->upstream.bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!c->client.bev) {
		close(fd);
		pconn_free(c);
		return;
	}
	if (!c->upstream.bev || dir_init(c, &c->up, &c->client, &c->upstream, &p->bytes_up) < 0 ||
	    dir_init(c, &c->down, &c->upstream, &c->client, &p->bytes_down) < 0 ||
	    bufferevent_socket_connect(c->upstream.bev, (struct sockaddr *)&p->to, (int)p->tolen) < 0) {
		p->connect_failures++;
		pconn_free(c);
		return;
	}
	setup_bev(c->client.bev, c);
	setup_bev(c->upstream.bev, c);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	fprintf(stderr, "delay_proxy: accept: %s, ignoring\n", strerror(errno));
}

/* ---- setup and main ------------------------------------------------------------------- */

static int resolve(const char *hostport, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
	size_t hl;

	if (!colon || colon == hostport)
		return -EINVAL;
	hl = (size_t)(colon - hostport);
	if (hostport[0] == '[' && hl >= 2 && hostport[hl - 1] == ']') {
		hostport++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: delay_proxy --listen PORT --to HOST:PORT --delay MS [--jitter MS]\n"
		   "  Delays each direction by MS (+-jitter) milliseconds, preserving order.\n"
		   "  Listens on 127.0.0.1; PORT 0 picks a free port. Prints LISTENING <port>.\n");
}

static int parse_argv(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' }, { "to", required_argument, NULL, 't' },
		{ "delay", required_argument, NULL, 'd' },  { "jitter", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },	    { 0 },
	};
	int ch;
	bool have_listen = false, have_delay = false;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (benchws_parse_port(optarg, &o->listen_port) < 0)
				return -EINVAL;
			have_listen = true;
			break;
		case 't':
			o->to = optarg;
			break;
		case 'd':
			if (benchws_parse_u64(optarg, 3600000, &o->delay_ms) < 0)
				return -EINVAL;
			have_delay = true;
			break;
		case 'j':
			if (benchws_parse_u64(optarg, 3600000, &o->jitter_ms) < 0)
				return -EINVAL;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (optind != argc || !have_listen || !have_delay || !o->to)
		return -EINVAL;
	return 0;
}

static int setup(struct proxy *p, const struct options *o)
{
	struct event_config *cfg = event_config_new();
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(o->listen_port) };
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);

	if (resolve(o->to, &p->to, &p->tolen) < 0) {
		fprintf(stderr, "delay_proxy: cannot resolve %s\n", o->to);
		return -EINVAL;
	}
	p->delay_ns = o->delay_ms * 1000000u;
	p->jitter_ns = o->jitter_ms * 1000000u;
	/* Timers to the microsecond (timerfd) rather than epoll's millisecond rounding. */
	if (cfg)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	p->base = cfg ? event_base_new_with_config(cfg) : NULL;
	event_config_free(cfg);
	if (!p->base)
		return -ENOMEM;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->listener = evconnlistener_new_bind(p->base, on_accept, p, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4096,
					      (struct sockaddr *)&sin, sizeof(sin));
	if (!p->listener) {
		fprintf(stderr, "delay_proxy: cannot listen on 127.0.0.1:%u: %s\n", o->listen_port, strerror(errno));
		return -errno;
	}
	evconnlistener_set_error_cb(p->listener, on_accept_error);
	if (getsockname(evconnlistener_get_fd(p->listener), (struct sockaddr *)&bound, &blen) < 0)
		return -errno;
	printf("LISTENING %u\n", ntohs(((struct sockaddr_in *)&bound)->sin_port));
	fflush(stdout);
	return 0;
}

static int run(struct proxy *p)
{
	struct event *sigint = evsignal_new(p->base, SIGINT, on_signal, p->base);
	struct event *sigterm = evsignal_new(p->base, SIGTERM, on_signal, p->base);

	if (!sigint || !sigterm || evsignal_add(sigint, NULL) < 0 || evsignal_add(sigterm, NULL) < 0)
		return -ENOMEM;
	event_base_dispatch(p->base);
	fprintf(stderr,
		"delay_proxy: connections=%llu max_concurrent=%llu connect_failures=%llu bytes_up=%llu bytes_down=%llu\n",
		(unsigned long long)p->accepted, (unsigned long long)p->max_active,
		(unsigned long long)p->connect_failures, (unsigned long long)p->bytes_up,
		(unsigned long long)p->bytes_down);
	event_free(sigint);
	event_free(sigterm);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct proxy p = { 0 };
	int r;

	if (parse_argv(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	benchws_raise_nofile();
	r = setup(&p, &o);
	if (r == 0)
		r = run(&p);
	while (p.conns)
		pconn_free(p.conns);
	if (p.listener)
		evconnlistener_free(p.listener);
	if (p.base)
		event_base_free(p.base);
	return r < 0 ? 1 : 0;
}
