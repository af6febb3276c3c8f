/* proxy_probe.c - measures delay_proxy (or anything TCP): an echo server, a round-trip probe
 * over many concurrent connections, and a bulk echo throughput probe that also checks byte
 * order and that a half-close comes back after all data.
 *
 * Usage: proxy_probe echo [--port PORT]
 *        proxy_probe rtt --to HOST:PORT [--connections C] [--count N] [--size BYTES]
 *        proxy_probe throughput --to HOST:PORT [--mbytes M]
 * echo prints "LISTENING <port>"; the probes print one JSON line and exit 0, or 1 on any
 * mismatch, early EOF or error. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchws.h"

struct options {
	const char *mode;
	const char *to;
	uint16_t port;
	uint64_t connections, count, size, mbytes;
};

/* ---- echo server --------------------------------------------------------------------- */

static void echo_read(struct bufferevent *bev, void *arg)
{
	evbuffer_add_buffer(bufferevent_get_output(bev), bufferevent_get_input(bev));
}

static void echo_write(struct bufferevent *bev, void *arg)
{
	/* arg != NULL once the peer half-closed: close after the echo has gone out. */
	if (arg)
		bufferevent_free(bev);
}

static void echo_event(struct bufferevent *bev, short what, void *arg)
{
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		echo_read(bev, NULL);
		if (evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
			bufferevent_setcb(bev, NULL, echo_write, echo_event, bev);
			return;
		}
	}
	bufferevent_free(bev);
}

static void echo_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(arg, fd, BEV_OPT_CLOSE_ON_FREE);
	int one = 1;

	if (!bev) {
		close(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bufferevent_set_max_single_read(bev, 256 << 10);
	bufferevent_setcb(bev, echo_read, NULL, echo_event, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static int run_echo(const struct options *o)
{
	struct event_base *base = event_base_new();
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(o->port) };
	struct sockaddr_in bound;
	socklen_t blen = sizeof(bound);
	struct evconnlistener *l;
	struct event *sig;

	if (!base)
		return -ENOMEM;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = evconnlistener_new_bind(base, echo_accept, base, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4096,
				    (struct sockaddr *)&sin, sizeof(sin));
	if (!l || getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&bound, &blen) < 0) {
		fprintf(stderr, "proxy_probe: cannot listen: %s\n", strerror(errno));
		return -errno;
	}
	printf("LISTENING %u\n", ntohs(bound.sin_port));
	fflush(stdout);
	sig = evsignal_new(base, SIGTERM, on_signal, base);
	evsignal_add(sig, NULL);
	event_base_dispatch(base);
	event_free(sig);
	evconnlistener_free(l);
	event_base_free(base);
	return 0;
}

/* ---- clients --------------------------------------------------------------------------- */

static int dial(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
	int fd, one = 1;

	if (!colon || (size_t)(colon - hostport) >= sizeof(host))
		return -EINVAL;
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -EINVAL;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -e;
	}
	freeaddrinfo(res);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct probe {
	int fd;
	uint64_t sent_at;
	size_t got;
	uint64_t done;
};

static int rtt_send(struct probe *p, const unsigned char *msg, size_t size)
{
	p->sent_at = benchws_now_ns();
	p->got = 0;
	/* Small messages fit the socket buffer: a short write here is an error. */
	return write(p->fd, msg, size) == (ssize_t)size ? 0 : -EIO;
}

static int run_rtt(const struct options *o)
{
	size_t c = o->connections, total = c * o->count, nsamples = 0, finished = 0;
	struct probe *pr = calloc(c, sizeof(*pr));
	struct pollfd *pfd = calloc(c, sizeof(*pfd));
	double *samples = calloc(total, sizeof(*samples));
	unsigned char *msg = malloc(o->size), *buf = malloc(o->size);
	uint64_t start;
	int r = 0;

	if (!pr || !pfd || !samples || !msg || !buf)
		return -ENOMEM;
	for (size_t i = 0; i < o->size; i++)
		msg[i] = (unsigned char)('a' + i % 26);
	for (size_t i = 0; i < c; i++) {
		pr[i].fd = dial(o->to);
		if (pr[i].fd < 0) {
			fprintf(stderr, "proxy_probe: connection %zu: %s\n", i, strerror(-pr[i].fd));
			return pr[i].fd;
		}
		pfd[i] = (struct pollfd){ .fd = pr[i].fd, .events = POLLIN };
	}
	start = benchws_now_ns();
	for (size_t i = 0; i < c && r == 0; i++)
		r = rtt_send(&pr[i], msg, o->size);
	while (r == 0 && finished < c) {
		if (poll(pfd, c, 10000) <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		for (size_t i = 0; i < c && r == 0; i++) {
			ssize_t n;
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(pr[i].fd, buf + pr[i].got, o->size - pr[i].got);
			if (n <= 0) {
				r = n < 0 && errno == EAGAIN ? 0 : -EPIPE;
				continue;
			}
			if (memcmp(buf + pr[i].got, msg + pr[i].got, (size_t)n) != 0)
				r = -EBADMSG;
			pr[i].got += (size_t)n;
			if (pr[i].got < o->size)
				continue;
			samples[nsamples++] = (double)(benchws_now_ns() - pr[i].sent_at) / 1e6;
			if (++pr[i].done == o->count) {
				pfd[i].fd = -1;
				finished++;
			} else {
				r = rtt_send(&pr[i], msg, o->size);
			}
		}
	}
	if (r == 0) {
		qsort(samples, nsamples, sizeof(*samples), cmp_double);
		printf("{\"mode\": \"rtt\", \"connections\": %zu, \"count\": %llu, \"size\": %llu, \"seconds\": %.3f, "
		       "\"rtt_ms_min\": %.3f, \"rtt_ms_p50\": %.3f, \"rtt_ms_p99\": %.3f, \"rtt_ms_max\": %.3f}\n",
		       c, (unsigned long long)o->count, (unsigned long long)o->size,
		       (double)(benchws_now_ns() - start) / 1e9, samples[0], samples[nsamples / 2],
		       samples[(size_t)((double)(nsamples - 1) * 0.99)], samples[nsamples - 1]);
	} else {
		fprintf(stderr, "proxy_probe: rtt: %s\n", strerror(-r));
	}
	for (size_t i = 0; i < c; i++)
		close(pr[i].fd);
	free(pr);
	free(pfd);
	free(samples);
	free(msg);
	free(buf);
	return r;
}

/* Byte k of the stream: varies with position so reordering or loss shows up. */
static unsigned char pattern(uint64_t k)
{
	return (unsigned char)(k * 131 + (k >> 9));
}

static int run_throughput(const struct options *o)
{
	uint64_t total = o->mbytes << 20, sent = 0, got = 0, start;
	unsigned char out[65536], in[65536];
	int fd = dial(o->to), r = 0;
	bool shut = false;

	if (fd < 0) {
		fprintf(stderr, "proxy_probe: %s: %s\n", o->to, strerror(-fd));
		return fd;
	}
	start = benchws_now_ns();
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };
		if (poll(&pfd, 1, 10000) <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		if ((pfd.revents & POLLOUT) && sent < total) {
			size_t n = total - sent < sizeof(out) ? (size_t)(total - sent) : sizeof(out);
			for (size_t i = 0; i < n; i++)
				out[i] = pattern(sent + i);
			ssize_t w = write(fd, out, n);
			if (w < 0 && errno != EAGAIN) {
				r = -errno;
				break;
			}
			sent += w > 0 ? (uint64_t)w : 0;
		}
		if (sent == total && !shut) {
			shutdown(fd, SHUT_WR); /* the echo server closes after echoing: checks half-close */
			shut = true;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(fd, in, sizeof(in));
			if (n == 0)
				break;
			if (n < 0 && errno != EAGAIN) {
				r = -errno;
				break;
			}
			for (ssize_t i = 0; i < n; i++)
				if (in[i] != pattern(got + (uint64_t)i))
					r = -EBADMSG;
			got += n > 0 ? (uint64_t)n : 0;
			if (r < 0)
				break;
		}
	}
	if (r == 0 && got != total)
		r = -EPIPE;
	if (r == 0) {
		double s = (double)(benchws_now_ns() - start) / 1e9;
		printf("{\"mode\": \"throughput\", \"bytes\": %llu, \"seconds\": %.3f, \"mib_per_s\": %.1f}\n",
		       (unsigned long long)total, s, (double)total / (1 << 20) / s);
	} else {
		fprintf(stderr, "proxy_probe: throughput: %s (sent %llu, echoed %llu)\n", strerror(-r),
			(unsigned long long)sent, (unsigned long long)got);
	}
	close(fd);
	return r;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: proxy_probe echo [--port PORT]\n"
		   "       proxy_probe rtt --to HOST:PORT [--connections C] [--count N] [--size BYTES]\n"
		   "       proxy_probe throughput --to HOST:PORT [--mbytes M]\n");
}

static int parse_argv(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },	    { "port", required_argument, NULL, 'p' },
		{ "connections", required_argument, NULL, 'c' }, { "count", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },	    { "mbytes", required_argument, NULL, 'm' },
		{ 0 },
	};
	int ch, r = 0;

	if (argc < 2)
		return -EINVAL;
	o->mode = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 't': o->to = optarg; break;
		case 'p': r = benchws_parse_port(optarg, &o->port); break;
		case 'c': r = benchws_parse_u64(optarg, 100000, &o->connections); break;
		case 'n': r = benchws_parse_u64(optarg, 10000000, &o->count); break;
		case 's': r = benchws_parse_u64(optarg, 60000, &o->size); break;
		case 'm': r = benchws_parse_u64(optarg, 1 << 20, &o->mbytes); break;
		default: return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (optind != argc || o->connections == 0 || o->count == 0 || o->size == 0)
		return -EINVAL;
	if (strcmp(o->mode, "echo") != 0 && !o->to)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { .connections = 1, .count = 100, .size = 64, .mbytes = 256 };
	int r;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (parse_argv(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	benchws_raise_nofile();
	if (strcmp(o.mode, "echo") == 0)
		r = run_echo(&o);
	else if (strcmp(o.mode, "rtt") == 0)
		r = run_rtt(&o);
	else if (strcmp(o.mode, "throughput") == 0)
		r = run_throughput(&o);
	else {
		usage(stderr);
		return 2;
	}
	return r < 0 ? 1 : 0;
}
