/* nip11.c - see nip11.h. libevent's evhttp client does the HTTP; for https it runs over a
 * bufferevent_openssl with the sessions' TLS rule (ws_client_ssl). */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "nip11.h"
#include "relay.h"
#include "ws.h"

/* A document larger than this is refused (real ones are a few KiB). */
#define NIP11_MAX_BODY (256 * 1024)

struct fetch {
	struct nip11 *N;
	struct relay *r; /* a reference */
	struct evhttp_connection *conn;
	LIST_ENTRY(fetch) link;
};

struct nip11 {
	struct session_env env;
	LIST_HEAD(, fetch) fetches;
	unsigned long long fetched, failed;
};

static void fetch_free(struct fetch *f)
{
	LIST_REMOVE(f, link);
	if (f->conn)
		evhttp_connection_free(f->conn);
	relay_unref(f->r);
	free(f);
}

/* evhttp frees the request after the callback, and its connection must outlive that. */
static void free_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	fetch_free(arg);
}

static void finish(struct fetch *f, const json_t *doc, const char *error)
{
	struct timeval now = { 0, 0 };

	relay_set_info(f->r, doc, error);
	if (doc) {
		f->N->fetched++;
		log_relay(LOG_INFO, relay_name(f->r), "NIP-11: %s; limits in force: %s",
			  json_string_value(json_object_get(doc, "name")) ? json_string_value(json_object_get(doc, "name"))
									 : "(no name)",
			  "see relays --info");
	} else {
		f->N->failed++;
		log_relay(LOG_NOTICE, relay_name(f->r), "NIP-11: no information document (%s); no limits from the relay",
			  error);
	}
	if (event_base_once(f->N->env.base, -1, EV_TIMEOUT, free_later, f, &now) < 0)
		fetch_free(f);
}

static void done_cb(struct evhttp_request *req, void *arg)
{
	struct fetch *f = arg;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	char why[300];
	json_t *doc;
	json_error_t jerr;
	struct evbuffer *body;
	size_t len;

	if (code == 0) {
		finish(f, NULL, "no HTTP answer (connection refused, TLS failure, timeout, or a body over 256 KiB)");
		return;
	}
	if (code != 200) {
		snprintf(why, sizeof(why), "HTTP %d %s", code, evhttp_request_get_response_code_line(req));
		finish(f, NULL, why);
		return;
	}
	body = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(body);
	doc = json_loadb((const char *)evbuffer_pullup(body, -1), len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(doc)) {
		snprintf(why, sizeof(why), "the document is not a JSON object%s%.200s", doc ? "" : ": ", doc ? "" : jerr.text);
		json_decref(doc);
		finish(f, NULL, why);
		return;
	}
	finish(f, doc, NULL);
	json_decref(doc);
}

void nip11_fetch(struct nip11 *N, struct relay *r)
{
	const struct wsurl *u = relay_wsurl(r);
	struct fetch *f = calloc(1, sizeof(*f));
	struct bufferevent *bev = NULL;
	struct evhttp_request *req;
	struct evkeyvalq *h;
	char host[300];
	uint64_t secs = (relay_opts(r)->connect_timeout_ms + 999) / 1000;

	if (!f)
		return;
	f->N = N;
	f->r = relay_ref(r);
	LIST_INSERT_HEAD(&N->fetches, f, link);
	if (u->tls) {
		SSL *ssl = ws_client_ssl(N->env.ssl_ctx, u, relay_tls_verify(r));
		bev = ssl ? bufferevent_openssl_socket_new(N->env.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
							   BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
			  : NULL;
		if (!bev) {
			if (ssl)
				SSL_free(ssl);
			finish(f, NULL, "cannot set up TLS");
			return;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	}
	f->conn = evhttp_connection_base_bufferevent_new(N->env.base, N->env.dns, bev, u->host, u->port);
	req = f->conn ? evhttp_request_new(done_cb, f) : NULL;
	if (!req) {
		finish(f, NULL, "out of memory");
		return;
	}
	evhttp_connection_set_timeout(f->conn, (int)(secs ? secs : 1));
	evhttp_connection_set_max_body_size(f->conn, NIP11_MAX_BODY);
	evhttp_connection_set_retries(f->conn, 0);
	snprintf(host, sizeof(host), u->host_is_ipv6 ? "[%s]:%u" : "%s:%u", u->host, u->port);
	h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "Accept", "application/nostr+json");
	evhttp_add_header(h, "User-Agent", "relaypoold/" RELAYPOOL_VERSION);
	evhttp_add_header(h, "Connection", "close");
	/* On failure evhttp has freed req and calls nothing. */
	if (evhttp_make_request(f->conn, req, EVHTTP_REQ_GET, u->path) < 0)
		finish(f, NULL, "cannot send the HTTP request");
}

int nip11_new(const struct session_env *env, struct nip11 **out)
{
	struct nip11 *N = calloc(1, sizeof(*N));

	if (!N)
		return -ENOMEM;
	N->env = *env;
	LIST_INIT(&N->fetches);
	*out = N;
	return 0;
}

void nip11_free(struct nip11 *N)
{
	if (!N)
		return;
	/* Fetches still out end without a result; so do those whose free was scheduled (the
	 * loop that would have run it is gone by now). */
	while (!LIST_EMPTY(&N->fetches))
		fetch_free(LIST_FIRST(&N->fetches));
	free(N);
}
