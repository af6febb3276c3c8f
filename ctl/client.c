/* client.c - the blocking side of the control protocol for relaypoolctl. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "proto.h"

const char *client_socket_path(const char *explicit_path)
{
	const char *env = getenv(RP_SOCKET_ENV);

	if (explicit_path)
		return explicit_path;
	if (env && *env)
		return env;
	return RP_DEFAULT_SOCKET;
}

int client_connect(struct client *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->next_id = 1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "relaypoolctl: socket path too long: %s\n", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		r = -errno;
		fprintf(stderr, "relaypoolctl: socket: %s\n", strerror(errno));
		return r;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		fprintf(stderr, "relaypoolctl: cannot reach relaypoold at %s: %s\n", path, strerror(errno));
		if (r == -ENOENT || r == -ECONNREFUSED)
			fprintf(stderr, "relaypoolctl: is relaypoold running? (-s SOCKET or $%s selects another "
					"socket)\n",
				RP_SOCKET_ENV);
		close(c->fd);
		c->fd = -1;
		return r;
	}
	c->path = strdup(path);
	return 0;
}

void client_close(struct client *c)
{
	free(c->wbuf);
	c->wbuf = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	free(c->path);
	c->path = NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

long long client_send(struct client *c, const char *op, json_t *args)
{
	long long id = client_enqueue(c, op, args);
	int r;

	if (id < 0)
		return fprintf(stderr, "relaypoolctl: out of memory\n"), -1;
	r = write_all(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
	c->woff = c->wlen = 0;
	if (r < 0) {
		fprintf(stderr, "relaypoolctl: lost the connection to relaypoold: %s\n", strerror(-r));
		return -1;
	}
	return id;
}

int client_next_reply(struct client *c, json_t **reply)
{
	char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
	size_t n;
	json_error_t err;

	if (!nl)
		return 0;
	n = (size_t)(nl - c->buf);
	*reply = json_loadb(c->buf, n, JSON_ALLOW_NUL, &err);
	memmove(c->buf, nl + 1, c->len - n - 1);
	c->len -= n + 1;
	if (!*reply || !json_is_object(*reply)) {
		json_decref(*reply);
		fprintf(stderr, "relaypoolctl: the daemon sent a line that is not a JSON object\n");
		return -1;
	}
	return 1;
}

/* Room for at least 64 KiB more input. */
static int reserve_input(struct client *c)
{
	if (c->cap - c->len >= 65536)
		return 0;
	size_t ncap = c->cap ? c->cap * 2 : 131072;
	char *nb = realloc(c->buf, ncap);
	if (!nb)
		return fprintf(stderr, "relaypoolctl: out of memory\n"), -1;
	c->buf = nb;
	c->cap = ncap;
	return 0;
}

int client_recv(struct client *c, json_t **reply)
{
	for (;;) {
		int got = client_next_reply(c, reply);
		if (got)
			return got;
		if (reserve_input(c) < 0)
			return -1;
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "relaypoolctl: lost the connection to relaypoold: %s\n", strerror(errno));
			return -1;
		}
		if (r == 0)
			return 0;
		c->len += (size_t)r;
	}
}

bool reply_ok(const json_t *reply)
{
	return json_is_true(json_object_get(reply, RP_F_OK));
}

int client_call(struct client *c, const char *op, json_t *args, json_t **reply,
		void (*on_item)(json_t *item, json_t *msg, void *data), void *data)
{
	long long id = client_send(c, op, args);
	int r;

	if (id < 0)
		return -1;
	for (;;) {
		json_t *msg, *item;
		r = client_recv(c, &msg);
		if (r <= 0) {
			if (r == 0)
				fprintf(stderr, "relaypoolctl: relaypoold closed the connection before replying\n");
			return r;
		}
		/* Replies without our id are errors about the connection itself (e.g. line_too_long). */
		json_t *rid = json_object_get(msg, RP_F_ID);
		if (rid && !json_is_null(rid) && !(json_is_integer(rid) && json_integer_value(rid) == id)) {
			json_decref(msg);
			continue;
		}
		item = json_object_get(msg, RP_F_ITEM);
		if (item && reply_ok(msg)) {
			if (on_item)
				on_item(item, msg, data);
			json_decref(msg);
			continue;
		}
		*reply = msg;
		return 1;
	}
}

/* ---- pipelining ------------------------------------------------------------------------- */

long long client_enqueue(struct client *c, const char *op, json_t *args)
{
	return client_enqueue_id(c, c->next_id++, op, args);
}

long long client_enqueue_id(struct client *c, long long id, const char *op, json_t *args)
{
	json_t *req = args ? json_copy(args) : json_object();
	char *line;
	size_t n;

	json_object_set_new(req, RP_F_ID, json_integer(id));
	json_object_set_new(req, RP_F_OP, json_string(op));
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!line)
		return -1;
	n = strlen(line);
	if (c->wlen + n + 1 > c->wcap) {
		size_t ncap = c->wcap ? c->wcap : 65536;
		while (ncap < c->wlen + n + 1)
			ncap *= 2;
		char *nb = realloc(c->wbuf, ncap);
		if (!nb) {
			free(line);
			return -1;
		}
		c->wbuf = nb;
		c->wcap = ncap;
	}
	memcpy(c->wbuf + c->wlen, line, n);
	c->wbuf[c->wlen + n] = '\n';
	c->wlen += n + 1;
	free(line);
	return id;
}

size_t client_pending_output(const struct client *c)
{
	return c->wlen - c->woff;
}

bool client_eof(const struct client *c)
{
	return c->fd < 0;
}

int client_pump(struct client *c, int timeout_ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	ssize_t r;

	if (c->fd < 0)
		return -1;
	if (client_pending_output(c))
		pfd.events |= POLLOUT;
	if (poll(&pfd, 1, timeout_ms) < 0)
		return errno == EINTR ? 0 : (fprintf(stderr, "relaypoolctl: poll: %s\n", strerror(errno)), -1);
	if (pfd.revents & POLLOUT) {
		r = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "relaypoolctl: lost the connection to relaypoold: %s\n", strerror(errno));
			return -1;
		}
		if (r > 0)
			c->woff += (size_t)r;
		if (c->woff == c->wlen)
			c->woff = c->wlen = 0;
	}
	if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
		if (reserve_input(c) < 0)
			return -1;
		r = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "relaypoolctl: lost the connection to relaypoold: %s\n", strerror(errno));
			return -1;
		}
		if (r == 0) {
			close(c->fd);
			c->fd = -1;
		}
		if (r > 0)
			c->len += (size_t)r;
	}
	return 0;
}
