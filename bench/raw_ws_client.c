/* raw_ws_client.c - the baseline the pool is compared against: a raw pipelined WebSocket
 * publisher. It opens C connections, keeps up to W EVENTs in flight on each, hands the next
 * event to whichever connection has a free slot, matches OKs by id, and prints one JSON line.
 * The clock starts when every handshake is done and stops at the last OK.
 *
 * Usage: raw_ws_client --url ws://127.0.0.1:PORT/ [--connections C] [--window W]
 *                      (--events FILE.jsonl [--count M] | --generate N) [--timeout S]
 *        raw_ws_client --gen-file N OUT.jsonl
 *        common: [--created-at UNIX] [--first I] [--content-size BYTES]
 * --generate and --gen-file sign deterministic events (bench/benchgen.c): the same options
 * give byte-identical files; --first shifts the index so sets do not overlap.
 * Exit status: 0 when every event got an OK (true or false), 1 otherwise, 2 on usage. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "benchgen.h"
#include "benchws.h"
#include "hex.h"
#include "strbuf.h"
#include "wsurl.h"

#define MAX_REPORTS 5 /* OK false reasons and notices echoed to stderr */

struct options {
	const char *url, *events_file, *gen_out;
	uint64_t connections, window, generate, count, gen_file, timeout_s, first, content_size;
	int64_t created_at;
};

enum item_state { IT_UNSENT, IT_INFLIGHT, IT_DONE };

struct item {
	size_t off, len; /* the ["EVENT",...] message in the arena */
	uint8_t id[32];
	uint64_t sent_at;
	uint32_t conn;
	uint8_t state;
};

struct client;

enum wstate { WC_CONNECTING, WC_HANDSHAKE, WC_OPEN, WC_DEAD };

struct wconn {
	struct client *cl;
	uint32_t index;
	struct bufferevent *bev;
	wslay_event_context_ptr ws;
	char accept[29];
	enum wstate state;
	size_t inflight;
};

struct client {
	struct event_base *base;
	struct options opt;
	struct wsurl url;
	struct sockaddr_storage addr;
	socklen_t alen;
	struct strbuf arena;
	struct item *items;
	size_t n, next;
	uint32_t *table; /* id -> item index + 1, open addressing */
	size_t tmask;
	struct wconn *conns;
	size_t open, dead;
	uint64_t start, end;
	size_t answered, ok_true, ok_false, unexpected, reports;
	double *latency;
	bool started, finished;
	struct event *deadline;
};

/* ---- events and the id table ------------------------------------------------------- */

static uint64_t id_hash(const uint8_t id[32])
{
	uint64_t h;

	memcpy(&h, id, 8); /* ids are SHA-256 output: any 8 bytes are uniform */
	return h;
}

static size_t table_find(const struct client *cl, const uint8_t id[32], bool *found)
{
	size_t i = id_hash(id) & cl->tmask;

	while (cl->table[i] && memcmp(cl->items[cl->table[i] - 1].id, id, 32) != 0)
		i = (i + 1) & cl->tmask;
	*found = cl->table[i] != 0;
	return i;
}

static int items_init(struct client *cl, size_t expected)
{
	size_t cap = 16;

	while (cap < expected * 2)
		cap *= 2;
	cl->table = calloc(cap, sizeof(*cl->table));
	cl->items = calloc(expected ? expected : 1, sizeof(*cl->items));
	cl->tmask = cap - 1;
	return cl->table && cl->items ? 0 : -ENOMEM;
}

/* Adds one event (its JSON text and id); a repeated id is skipped so OKs stay unambiguous. */
static bool items_add(struct client *cl, const char *json, size_t len, const char *id_hex)
{
	struct item *it = &cl->items[cl->n];
	bool found;
	size_t slot;

	if (hex_decode(id_hex, 64, it->id) < 0)
		return false;
	slot = table_find(cl, it->id, &found);
	if (found)
		return false;
	it->off = cl->arena.len;
	strbuf_puts(&cl->arena, "[\"EVENT\",");
	strbuf_put(&cl->arena, json, len);
	strbuf_putc(&cl->arena, ']');
	it->len = cl->arena.len - it->off;
	cl->table[slot] = (uint32_t)++cl->n;
	return true;
}

static int load_file(struct client *cl)
{
	FILE *f = fopen(cl->opt.events_file, "re");
	char *line = NULL;
	size_t cap = 0, lines = 0, skipped = 0, want = cl->opt.count ? cl->opt.count : SIZE_MAX;
	ssize_t len;
	int r = 0;

	if (!f) {
		fprintf(stderr, "raw_ws_client: %s: %s\n", cl->opt.events_file, strerror(errno));
		return -errno;
	}
	while (getline(&line, &cap, f) > 0)
		lines++;
	rewind(f);
	if (items_init(cl, lines) < 0) {
		r = -ENOMEM;
		goto out;
	}
	while (cl->n < want && (len = getline(&line, &cap, f)) > 0) {
		json_error_t jerr;
		json_t *obj, *id;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		obj = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &jerr);
		id = json_object_get(obj, "id");
		if (!json_is_string(id) || json_string_length(id) != 64 ||
		    !items_add(cl, line, (size_t)len, json_string_value(id)))
			skipped++;
		json_decref(obj);
	}
	if (skipped)
		fprintf(stderr, "raw_ws_client: skipped %zu lines (not an event with a hex id, or a repeated id)\n",
			skipped);
	if (cl->n == 0) {
		fprintf(stderr, "raw_ws_client: %s: no events\n", cl->opt.events_file);
		r = -EINVAL;
	}
out:
	free(line);
	fclose(f);
	return r;
}

/* Signs count deterministic events, handing each to sink. */
static int generate(const struct options *o, uint64_t count, int (*sink)(void *, const char *, size_t, const char *),
		    void *arg)
{
	struct benchgen *g = benchgen_new(BENCHGEN_DEFAULT_KEYS);
	int r = 0;

	if (!g)
		return -ENOMEM;
	for (uint64_t i = 0; i < count && r == 0; i++) {
		uint64_t idx = o->first + i;
		char *json, id[65];
		size_t len;
		r = benchgen_event(g, idx, o->created_at + (int64_t)idx, o->content_size, &json, &len, id);
		if (r == 0) {
			r = sink(arg, json, len, id);
			free(json);
		}
	}
	benchgen_free(g);
	return r;
}

static int sink_items(void *arg, const char *json, size_t len, const char *id)
{
	return items_add(arg, json, len, id) ? 0 : -EEXIST;
}

static int sink_file(void *arg, const char *json, size_t len, const char *id)
{
	return fwrite(json, 1, len, arg) == len && fputc('\n', arg) != EOF ? 0 : -EIO;
}

static int gen_file(const struct options *o)
{
	FILE *f = fopen(o->gen_out, "we");
	int r;

	if (!f) {
		fprintf(stderr, "raw_ws_client: %s: %s\n", o->gen_out, strerror(errno));
		return -errno;
	}
	r = generate(o, o->gen_file, sink_file, f);
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r < 0)
		fprintf(stderr, "raw_ws_client: writing %s failed: %s\n", o->gen_out, strerror(-r));
	return r;
}

/* ---- publishing ---------------------------------------------------------------------- */

static void finish(struct client *cl)
{
	if (cl->finished)
		return;
	cl->finished = true;
	cl->end = benchws_now_ns();
	event_base_loopbreak(cl->base);
}

static void conn_dead(struct wconn *w)
{
	struct client *cl = w->cl;

	if (w->state == WC_DEAD)
		return;
	if (w->state == WC_OPEN && w->inflight > 0)
		fprintf(stderr, "raw_ws_client: connection %u lost with %zu events in flight\n", w->index, w->inflight);
	w->state = WC_DEAD;
	bufferevent_disable(w->bev, EV_READ | EV_WRITE);
	if (++cl->dead == cl->opt.connections)
		finish(cl);
}

/* Queues events while this connection has fewer than limit in flight. */
static void conn_fill(struct wconn *w, uint64_t limit)
{
	struct client *cl = w->cl;

	while (w->inflight < limit && cl->next < cl->n) {
		struct item *it = &cl->items[cl->next++];
		struct wslay_event_msg m = {
			.opcode = WSLAY_TEXT_FRAME,
			.msg = (const uint8_t *)cl->arena.p + it->off,
			.msg_length = it->len,
		};
		if (wslay_event_queue_msg(w->ws, &m) != 0) {
			cl->next--;
			return;
		}
		it->state = IT_INFLIGHT;
		it->conn = w->index;
		it->sent_at = benchws_now_ns();
		w->inflight++;
	}
}

static void report(struct client *cl, const char *what, const char *m, size_t n)
{
	if (cl->reports++ < MAX_REPORTS)
		fprintf(stderr, "raw_ws_client: %s: %.*s\n", what, (int)(n > 300 ? 300 : n), m);
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static const char *expect(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	p = skip_ws(p, end);
	return p && (size_t)(end - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

/* ["OK","<64 hex>",true|false,...]: parsed by hand, the only message on the hot path. */
static bool parse_ok(const char *m, size_t n, uint8_t id[32], bool *ok)
{
	const char *end = m + n, *p = expect(m, end, "[");

	if (p)
		p = expect(p, end, "\"OK\"");
	if (p)
		p = expect(p, end, ",");
	if (p)
		p = expect(p, end, "\"");
	if (!p || end - p < 65 || p[64] != '"' || hex_decode(p, 64, id) < 0)
		return false;
	p = expect(p + 65, end, ",");
	if (p && expect(p, end, "true")) {
		*ok = true;
		return true;
	}
	if (p && expect(p, end, "false")) {
		*ok = false;
		return true;
	}
	return false;
}

static void handle_ok(struct wconn *w, const char *m, size_t n)
{
	struct client *cl = w->cl;
	uint8_t id[32];
	bool ok, found;
	size_t slot;
	struct item *it;

	if (!parse_ok(m, n, id, &ok)) {
		report(cl, "relay says", m, n);
		return;
	}
	slot = table_find(cl, id, &found);
	it = found ? &cl->items[cl->table[slot] - 1] : NULL;
	if (!it || it->state != IT_INFLIGHT || it->conn != w->index) {
		cl->unexpected++;
		report(cl, "unexpected OK", m, n);
		return;
	}
	it->state = IT_DONE;
	w->inflight--;
	cl->latency[cl->answered++] = (double)(benchws_now_ns() - it->sent_at) / 1e6;
	if (ok) {
		cl->ok_true++;
	} else {
		cl->ok_false++;
		report(cl, "OK false", m, n);
	}
	if (cl->answered == cl->n)
		finish(cl);
}

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct wconn *w = user;
	int n = evbuffer_remove(bufferevent_get_input(w->bev), buf, len);

	if (n <= 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return n;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	struct wconn *w = user;

	if (evbuffer_add(bufferevent_get_output(w->bev), data, len) < 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)len;
}

static int ws_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
	/* Masks only need to be unpredictable to intermediaries; xorshift is plenty here. */
	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = benchws_rand();
		memcpy(buf + i, &r, len - i < 8 ? len - i : 8);
	}
	return 0;
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	if (arg->opcode == WSLAY_TEXT_FRAME)
		handle_ok(user, (const char *)arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks ws_callbacks = {
	.recv_callback = ws_recv,
	.send_callback = ws_send,
	.genmask_callback = ws_genmask,
	.on_msg_recv_callback = ws_on_msg,
};

/* Reads what arrived, refills the window, flushes. */
static void conn_process(struct wconn *w)
{
	if (wslay_event_recv(w->ws) < 0) {
		conn_dead(w);
		return;
	}
	if (w->cl->started)
		conn_fill(w, w->cl->opt.window);
	if (wslay_event_send(w->ws) < 0 || (!wslay_event_want_read(w->ws) && !wslay_event_want_write(w->ws)))
		conn_dead(w); /* the relay closed the WebSocket */
}

static void start(struct client *cl)
{
	cl->started = true;
	cl->start = benchws_now_ns();
	/* Round-robin one event at a time so a small set still spreads over all connections. */
	for (uint64_t slot = 0; slot < cl->opt.window && cl->next < cl->n; slot++)
		for (uint64_t i = 0; i < cl->opt.connections && cl->next < cl->n; i++)
			if (cl->conns[i].state == WC_OPEN)
				conn_fill(&cl->conns[i], slot + 1);
	for (uint64_t i = 0; i < cl->opt.connections; i++)
		if (cl->conns[i].state == WC_OPEN)
			conn_process(&cl->conns[i]);
}

/* ---- connection setup -------------------------------------------------------------------- */

static int handshake_done(struct wconn *w, const char *head)
{
	char val[128];

	if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
		fprintf(stderr, "raw_ws_client: connection %u: no upgrade: %.*s\n", w->index,
			(int)strcspn(head, "\r\n"), head);
		return -EPROTO;
	}
	if (!benchws_header(head, "Sec-WebSocket-Accept", val, sizeof(val)) || strcmp(val, w->accept) != 0) {
		fprintf(stderr, "raw_ws_client: connection %u: wrong Sec-WebSocket-Accept\n", w->index);
		return -EPROTO;
	}
	if (benchws_header(head, "Sec-WebSocket-Extensions", val, sizeof(val))) {
		fprintf(stderr, "raw_ws_client: connection %u: relay forced an extension we did not offer\n", w->index);
		return -EPROTO;
	}
	if (wslay_event_context_client_init(&w->ws, &ws_callbacks, w) != 0)
		return -ENOMEM;
	wslay_event_config_set_max_recv_msg_length(w->ws, 1u << 20);
	w->state = WC_OPEN;
	return 0;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct wconn *w = arg;
	struct client *cl = w->cl;
	char head[BENCHWS_MAX_HEAD];
	int n;

	if (w->state == WC_OPEN) {
		conn_process(w);
		return;
	}
	if (w->state != WC_HANDSHAKE)
		return;
	n = benchws_take_head(bufferevent_get_input(bev), head, sizeof(head));
	if (n == 0)
		return;
	if (n < 0 || handshake_done(w, head) < 0) {
		/* Without every connection the numbers mean nothing: stop. */
		conn_dead(w);
		finish(cl);
		return;
	}
	if (++cl->open == cl->opt.connections)
		start(cl);
	else
		conn_process(w); /* frames may have followed the 101 in the same read */
}

static void send_upgrade(struct wconn *w)
{
	char key[25], host[300];

	benchws_new_key(key);
	benchws_accept_key(key, strlen(key), w->accept);
	wsurl_host_header(&w->cl->url, host, sizeof(host));
	/* No Sec-WebSocket-Extensions: no permessage-deflate. */
	evbuffer_add_printf(bufferevent_get_output(w->bev),
			    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: relaypool-raw_ws_client\r\n\r\n",
			    w->cl->url.path, host, key);
	w->state = WC_HANDSHAKE;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct wconn *w = arg;
	int one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		send_upgrade(w);
		return;
	}
	if (w->state != WC_OPEN) {
		fprintf(stderr, "raw_ws_client: connection %u failed before the handshake completed\n", w->index);
		conn_dead(w);
		finish(w->cl);
		return;
	}
	conn_dead(w);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	fprintf(stderr, "raw_ws_client: timed out\n");
	finish(arg);
}

static int resolve(struct client *cl)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
	char port[8];
	const char *why;

	if (wsurl_parse(cl->opt.url, &cl->url, &why) < 0) {
		fprintf(stderr, "raw_ws_client: %s: %s\n", cl->opt.url, why);
		return -EINVAL;
	}
	if (cl->url.tls) {
		fprintf(stderr, "raw_ws_client: wss:// is not supported (ws:// only)\n");
		return -EINVAL;
	}
	snprintf(port, sizeof(port), "%u", cl->url.port);
	if (getaddrinfo(cl->url.host, port, &hints, &res) != 0) {
		fprintf(stderr, "raw_ws_client: cannot resolve %s\n", cl->url.host);
		return -EINVAL;
	}
	memcpy(&cl->addr, res->ai_addr, res->ai_addrlen);
	cl->alen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int connect_all(struct client *cl)
{
	cl->conns = calloc(cl->opt.connections, sizeof(*cl->conns));
	if (!cl->conns)
		return -ENOMEM;
	for (uint32_t i = 0; i < cl->opt.connections; i++) {
		struct wconn *w = &cl->conns[i];
		w->cl = cl;
		w->index = i;
		w->bev = bufferevent_socket_new(cl->base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (!w->bev)
			return -ENOMEM;
		bufferevent_set_max_single_read(w->bev, 256 << 10);
		bufferevent_set_max_single_write(w->bev, 256 << 10);
		bufferevent_setcb(w->bev, on_read, NULL, on_event, w);
		bufferevent_enable(w->bev, EV_READ | EV_WRITE);
		if (bufferevent_socket_connect(w->bev, (struct sockaddr *)&cl->addr, (int)cl->alen) < 0) {
			fprintf(stderr, "raw_ws_client: cannot connect to %s\n", cl->opt.url);
			return -ECONNREFUSED;
		}
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void print_result(struct client *cl)
{
	double s = cl->started ? (double)(cl->end - cl->start) / 1e9 : 0, p50 = 0, p99 = 0;

	if (cl->answered) {
		qsort(cl->latency, cl->answered, sizeof(double), cmp_double);
		p50 = cl->latency[cl->answered / 2];
		p99 = cl->latency[(size_t)((double)(cl->answered - 1) * 0.99)];
	}
	printf("{\"events\": %zu, \"connections\": %llu, \"window\": %llu, \"seconds\": %.4f, \"events_per_s\": %.1f, "
	       "\"ok_true\": %zu, \"ok_false\": %zu, \"unanswered\": %zu, \"latency_ms_p50\": %.3f, "
	       "\"latency_ms_p99\": %.3f}\n",
	       cl->n, (unsigned long long)cl->opt.connections, (unsigned long long)cl->opt.window, s,
	       s > 0 ? (double)cl->answered / s : 0.0, cl->ok_true, cl->ok_false, cl->n - cl->answered, p50, p99);
	fflush(stdout);
}

/* Says goodbye with a close frame where the socket takes it at once. */
static void close_all(struct client *cl)
{
	for (uint64_t i = 0; cl->conns && i < cl->opt.connections; i++) {
		struct wconn *w = &cl->conns[i];
		if (w->state == WC_OPEN && wslay_event_queue_close(w->ws, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0) == 0 &&
		    wslay_event_send(w->ws) == 0)
			(void)evbuffer_write(bufferevent_get_output(w->bev), bufferevent_getfd(w->bev));
		if (w->ws)
			wslay_event_context_free(w->ws);
		if (w->bev)
			bufferevent_free(w->bev);
	}
	free(cl->conns);
}

/* ---- main ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: raw_ws_client --url ws://HOST:PORT/ [--connections C] [--window W]\n"
		   "                     (--events FILE.jsonl [--count M] | --generate N) [--timeout S]\n"
		   "       raw_ws_client --gen-file N OUT.jsonl\n"
		   "       common: [--created-at UNIX] [--first I] [--content-size BYTES]\n");
}

static int parse_argv(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },	  { "connections", required_argument, NULL, 'c' },
		{ "window", required_argument, NULL, 'w' },	  { "events", required_argument, NULL, 'e' },
		{ "count", required_argument, NULL, 'n' },	  { "generate", required_argument, NULL, 'g' },
		{ "gen-file", required_argument, NULL, 'f' },	  { "timeout", required_argument, NULL, 't' },
		{ "created-at", required_argument, NULL, 'a' },  { "first", required_argument, NULL, 'i' },
		{ "content-size", required_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v = 0;
	int ch, r = 0;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': o->url = optarg; break;
		case 'c': r = benchws_parse_u64(optarg, 100000, &o->connections); break;
		case 'w': r = benchws_parse_u64(optarg, 1000000, &o->window); break;
		case 'e': o->events_file = optarg; break;
		case 'n': r = benchws_parse_u64(optarg, UINT32_MAX - 1, &o->count); break;
		case 'g': r = benchws_parse_u64(optarg, UINT32_MAX / 4, &o->generate); break;
		case 'f': r = benchws_parse_u64(optarg, UINT32_MAX / 4, &o->gen_file); break;
		case 't': r = benchws_parse_u64(optarg, 86400, &o->timeout_s); break;
		case 'a':
			r = benchws_parse_u64(optarg, 1ULL << 52, &v);
			o->created_at = (int64_t)v;
			break;
		case 'i': r = benchws_parse_u64(optarg, 1ULL << 40, &o->first); break;
		case 's': r = benchws_parse_u64(optarg, 16u << 20, &o->content_size); break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (o->gen_file) {
		if (optind + 1 != argc)
			return -EINVAL;
		o->gen_out = argv[optind];
		return 0;
	}
	if (optind != argc || !o->url || !!o->events_file == !!o->generate || o->connections == 0 || o->window == 0)
		return -EINVAL;
	return 0;
}

static int setup(struct client *cl)
{
	int r;

	if (resolve(cl) < 0)
		return -EINVAL;
	if (cl->opt.events_file) {
		r = load_file(cl);
	} else {
		r = items_init(cl, cl->opt.generate);
		if (r == 0)
			r = generate(&cl->opt, cl->opt.generate, sink_items, cl);
	}
	if (r < 0)
		return r;
	cl->latency = calloc(cl->n, sizeof(double));
	cl->base = event_base_new();
	if (!cl->latency || !cl->base)
		return -ENOMEM;
	cl->deadline = evtimer_new(cl->base, on_deadline, cl);
	if (!cl->deadline)
		return -ENOMEM;
	evtimer_add(cl->deadline, &(struct timeval){ .tv_sec = (time_t)cl->opt.timeout_s });
	return connect_all(cl);
}

int main(int argc, char **argv)
{
	struct client cl = { .opt = { .connections = 1, .window = 1, .timeout_s = 120,
				      .created_at = BENCHGEN_DEFAULT_CREATED_AT } };
	int r;

	if (parse_argv(argc, argv, &cl.opt) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cl.opt.gen_file)
		return gen_file(&cl.opt) < 0 ? 1 : 0;
	benchws_raise_nofile();
	r = setup(&cl);
	if (r == 0) {
		event_base_dispatch(cl.base);
		if (!cl.started)
			r = -EPROTO;
		else
			print_result(&cl);
	}
	close_all(&cl);
	if (cl.deadline)
		event_free(cl.deadline);
	if (cl.base)
		event_base_free(cl.base);
	strbuf_free(&cl.arena);
	free(cl.items);
	free(cl.table);
	free(cl.latency);
	return r == 0 && cl.answered == cl.n ? 0 : 1;
}
