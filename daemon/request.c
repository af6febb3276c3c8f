/* request.c - see request.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

struct request {
	const struct request_sink *sink;
	void *client; /* NULL once detached */
	LIST_ENTRY(request) link;
	void *ctx;
	json_t *id;
	char *id_text;
	struct request_peer peer;
	void (*on_detach)(void *arg);
	void *detach_arg;
};

struct request *request_new(const struct request_sink *sink, void *client, struct request_list *list, json_t *id,
			    const struct request_peer *peer, void *ctx)
{
	struct request *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->sink = sink;
	r->client = client;
	r->ctx = ctx;
	r->id = json_incref(id);
	r->peer = *peer;
	LIST_INSERT_HEAD(list, r, link);
	return r;
}

void request_detach_all(struct request_list *list)
{
	struct request *r;

	while ((r = LIST_FIRST(list))) {
		void (*fn)(void *arg) = r->on_detach;
		LIST_REMOVE(r, link);
		r->client = NULL;
		r->on_detach = NULL;
		if (fn)
			fn(r->detach_arg); /* may answer (and so free) r: it is off the list already */
	}
}

void request_on_detach(struct request *r, void (*fn)(void *arg), void *arg)
{
	r->on_detach = fn;
	r->detach_arg = arg;
}

bool request_same_client(const struct request *a, const struct request *b)
{
	return a->client && a->client == b->client;
}

const json_t *request_id(const struct request *r)
{
	return r->id;
}

void *request_ctx(const struct request *r)
{
	return r->ctx;
}

const struct request_peer *request_peer(const struct request *r)
{
	return &r->peer;
}

bool request_detached(const struct request *r)
{
	return r->client == NULL;
}

const char *request_id_text(struct request *r)
{
	if (!r->id_text)
		r->id_text = r->id ? json_dumps(r->id, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("null");
	return r->id_text ? r->id_text : "?";
}

static void request_free(struct request *r)
{
	if (r->client) {
		LIST_REMOVE(r, link);
		r->sink->done(r->client);
	}
	json_decref(r->id);
	free(r->id_text);
	free(r);
}

struct dump {
	char *s;
	size_t len, cap;
};

static int dump_cb(const char *buf, size_t size, void *data)
{
	struct dump *d = data;

	if (d->len + size + 1 > d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 512;
		while (ncap < d->len + size + 1)
			ncap *= 2;
		char *ns = realloc(d->s, ncap);
		if (!ns)
			return -1;
		d->s = ns;
		d->cap = ncap;
	}
	memcpy(d->s + d->len, buf, size);
	d->len += size;
	return 0;
}

/* One buffer for every line (the loop is single-threaded): no allocation per reply. */
static struct dump line_buf;

void request_write_line(const struct request_sink *sink, void *client, json_t *msg)
{
	line_buf.len = 0;
	if (json_dump_callback(msg, dump_cb, &line_buf, JSON_COMPACT | JSON_REAL_PRECISION(15)) == 0 &&
	    dump_cb("\n", 1, &line_buf) == 0)
		sink->write(client, line_buf.s, line_buf.len);
	if (line_buf.cap > (1u << 20)) {
		/* Do not keep a huge buffer around after one large reply. */
		free(line_buf.s);
		line_buf = (struct dump){ 0 };
	}
}

static void send_line(struct request *r, json_t *msg)
{
	if (r->client && msg)
		request_write_line(r->sink, r->client, msg);
	json_decref(msg);
}

void request_reply(struct request *r, json_t *result)
{
	send_line(r, json_pack("{s:O?, s:b, s:o}", RP_F_ID, r->id, RP_F_OK, 1, RP_F_RESULT, result ? result : json_object()));
	request_free(r);
}

void request_reply_end(struct request *r, json_t *result)
{
	send_line(r, json_pack("{s:O?, s:b, s:b, s:o}", RP_F_ID, r->id, RP_F_OK, 1, RP_F_END, 1, RP_F_RESULT,
			       result ? result : json_object()));
	request_free(r);
}

void request_item(struct request *r, json_t *item)
{
	send_line(r, json_pack("{s:O?, s:b, s:o}", RP_F_ID, r->id, RP_F_OK, 1, RP_F_ITEM, item));
}

void request_item_raw(struct request *r, const char *json, size_t len)
{
	char head[160];
	int n;

	if (!r->client)
		return;
	n = snprintf(head, sizeof(head), "{\"id\":%s,\"ok\":true,\"item\":", request_id_text(r));
	if (n < 0 || (size_t)n >= sizeof(head))
		return;
	r->sink->write(r->client, head, (size_t)n);
	r->sink->write(r->client, json, len);
	r->sink->write(r->client, "}\n", 2);
}

size_t request_backlog(const struct request *r)
{
	return r->client ? r->sink->backlog(r->client) : 0;
}

bool request_backlog_high(const struct request *r)
{
	return r->client && r->sink->backlog(r->client) > r->sink->high_water(r->client);
}

json_t *request_error_line(json_t *id, enum rp_err code, const char *message)
{
	return json_pack("{s:O?, s:b, s:{s:s, s:s}}", RP_F_ID, id, RP_F_OK, 0, RP_F_ERROR, RP_F_CODE, rp_err_code(code),
			 RP_F_MESSAGE, message);
}

static void request_vfail(struct request *r, enum rp_err code, const char *reason, json_t *detail, const char *fmt,
			  va_list ap) _printf_(5, 0);
static void request_vfail(struct request *r, enum rp_err code, const char *reason, json_t *detail, const char *fmt,
			  va_list ap)
{
	char msg[2048];
	json_t *line, *err;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	line = request_error_line(r->id, code, msg);
	err = json_object_get(line, RP_F_ERROR);
	if (reason)
		json_object_set_new(err, RP_F_REASON, json_string(reason));
	if (detail) {
		json_object_update_missing(err, detail);
		json_decref(detail);
	}
	send_line(r, line);
	request_free(r);
}

void request_fail(struct request *r, enum rp_err code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	request_vfail(r, code, NULL, NULL, fmt, ap);
	va_end(ap);
}

void request_fail_detail(struct request *r, enum rp_err code, json_t *detail, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	request_vfail(r, code, NULL, detail, fmt, ap);
	va_end(ap);
}

void request_fail_reason(struct request *r, enum rp_err code, const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	request_vfail(r, code, reason, NULL, fmt, ap);
	va_end(ap);
}
