/* control.c - the control socket. Owns the listening socket and its file, the clients,
 * line framing with a hard maximum line length, the per-client output high-water mark,
 * peer credentials and the allow-list, and graceful closing. Every complete line in the
 * input buffer is handled in one callback so pipelined requests never stall. Lines are
 * checked by reqparse.c; replies go out through the request sink below. */
#include <errno.h>
#include <poll.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdarg.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "ops.h"
#include "reqparse.h"
#include "request.h"

struct client {
	struct control *ctl;
	struct bufferevent *bev;
	struct request_peer peer;
	unsigned long long serial;
	bool closing;     /* write what is queued, then half-close and free */
	bool read_paused; /* output above the high-water mark */
	bool eof;         /* the peer half-closed: answer its pending requests, then close */
	struct event *linger; /* bounds the wait for the peer's EOF after our half-close */
	struct request_list requests;
	TAILQ_ENTRY(client) link;
};

struct control {
	struct event_base *base;
	const struct config_daemon *cfg;
	void *ctx;
	struct evconnlistener *listener;
	char *path;      /* socket file we created, NULL if adopted */
	ino_t path_ino;  /* to unlink only our own socket file */
	dev_t path_dev;
	bool stopping;
	TAILQ_HEAD(, client) clients;
	unsigned n_clients;
	unsigned long long n_accepted, n_requests;
	void (*drained)(void *arg);
	void *drained_arg;
};

static void client_free(struct client *cl);
static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_close_after_flush(struct client *cl);

/* ---- the request sink ---------------------------------------------------------------------- */

static void sink_write(void *client, const char *data, size_t len)
{
	struct client *cl = client;

	if (evbuffer_add(bufferevent_get_output(cl->bev), data, len) < 0)
		log_err("control: cannot queue a reply for client %llu, ignoring", cl->serial);
}

static size_t sink_backlog(void *client)
{
	struct client *cl = client;

	return evbuffer_get_length(bufferevent_get_output(cl->bev));
}

static size_t sink_high_water(void *client)
{
	struct client *cl = client;

	return cl->ctl->cfg->client_buffer;
}

/* A half-closed client is closed once its last request is answered. */
static void sink_done(void *client)
{
	struct client *cl = client;

	if (cl->eof && !cl->closing && LIST_EMPTY(&cl->requests))
		client_close_after_flush(cl);
}

static const struct request_sink sink = {
	.write = sink_write,
	.backlog = sink_backlog,
	.high_water = sink_high_water,
	.done = sink_done,
};

/* An error reply that is not tied to a request object (framing and validation errors). */
static void client_send_error(struct client *cl, json_t *id, enum rp_err code, const char *fmt, ...) _printf_(4, 5);
static void client_send_error(struct client *cl, json_t *id, enum rp_err code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	json_t *line;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	line = request_error_line(id, code, msg);
	if (line)
		request_write_line(&sink, cl, line);
	json_decref(line);
}

/* How long a closing client may keep sending (discarded) before we drop it. */
#define LINGER_SEC 2

static void linger_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	client_free(arg);
}

/* Our replies are all written: half-close, then wait (bounded) for the peer's EOF while
 * discarding its input. Closing with unread input would make the kernel reset the
 * connection and the peer could lose our last reply. */
static void client_half_close(struct client *cl)
{
	struct timeval tv = { .tv_sec = LINGER_SEC };

	if (cl->linger)
		return;
	if (cl->eof) {
		client_free(cl); /* the peer is done sending: nothing to wait for */
		return;
	}
	shutdown(bufferevent_getfd(cl->bev), SHUT_WR);
	cl->linger = evtimer_new(cl->ctl->base, linger_cb, cl);
	if (!cl->linger) {
		client_free(cl);
		return;
	}
	evtimer_add(cl->linger, &tv);
}

/* Stops handling requests; the client is closed once its queued output is written. */
static void client_close_after_flush(struct client *cl)
{
	cl->closing = true;
	request_detach_all(&cl->requests); /* replies to a closing client are dropped */
	if (!cl->eof)
		bufferevent_enable(cl->bev, EV_READ); /* to see the peer's EOF after our half-close */
	if (evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0)
		client_half_close(cl);
}

/* ---- requests ------------------------------------------------------------------------------ */

static void handle_line(struct client *cl, const char *line, size_t len)
{
	struct control *ctl = cl->ctl;
	struct reqparse p;
	struct request *r;

	ctl->n_requests++;
	if (reqparse_line(line, len, &p) < 0) {
		client_send_error(cl, p.id, p.code, "%s", p.message);
		goto out;
	}
	if (ctl->stopping) {
		client_send_error(cl, p.id, RP_ERR_SHUTTING_DOWN, "the daemon is shutting down");
		goto out;
	}
	r = request_new(&sink, cl, &cl->requests, p.id, &cl->peer, ctl->ctx);
	if (!r) {
		client_send_error(cl, p.id, RP_ERR_INTERNAL, "out of memory");
		goto out;
	}
	p.op->handler(r, p.req);
out:
	reqparse_clear(&p);
}

/* ---- clients --------------------------------------------------------------------------- */

static bool output_above_hwm(struct client *cl)
{
	return evbuffer_get_length(bufferevent_get_output(cl->bev)) > cl->ctl->cfg->client_buffer;
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t max_line = cl->ctl->cfg->max_line;
	size_t n;
	char *line;

	if (cl->closing) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	while (!cl->closing) {
		if (output_above_hwm(cl)) {
			/* The client does not read its replies: stop reading its requests. */
			cl->read_paused = true;
			bufferevent_disable(bev, EV_READ);
			log_debug("control: client %llu output above %zu bytes, pausing its input", cl->serial,
				  (size_t)cl->ctl->cfg->client_buffer);
			return;
		}
		line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
		if (!line) {
			if (evbuffer_get_length(in) > max_line)
				goto too_long;
			return;
		}
		if (n > max_line) {
			free(line);
			goto too_long;
		}
		if (strspn(line, " \t\r") != n)
			handle_line(cl, line, n);
		free(line);
	}
	return;
too_long:
	log_warn("control: client %llu (pid %d uid %u) sent a line longer than %zu bytes, closing it",
		 cl->serial, (int)cl->peer.pid, (unsigned)cl->peer.uid, max_line);
	client_send_error(cl, NULL, RP_ERR_LINE_TOO_LONG,
			  "request line longer than %zu bytes; closing the connection", max_line);
	evbuffer_drain(in, evbuffer_get_length(in));
	client_close_after_flush(cl);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;

	(void)bev;
	if (cl->closing) {
		client_half_close(cl);
		return;
	}
	if (cl->read_paused) {
		cl->read_paused = false;
		bufferevent_enable(cl->bev, EV_READ);
		client_read_cb(cl->bev, cl);
	}
}

/* After EOF: did the peer close both ways (so nobody reads our replies), or only its sending
 * side? An AF_UNIX socket reports POLLHUP only when both directions are shut down. Without
 * this, a subscriber that closed its connection would keep its subscription until the next
 * write failed, and a quiet subscription never writes. */
static bool peer_gone(evutil_socket_t fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *cl = arg;
	size_t left = evbuffer_get_length(bufferevent_get_input(bev));

	(void)bev;
	if (what & BEV_EVENT_EOF) {
		/* A request line without its newline at EOF is incomplete: dropped, never run. */
		if (left)
			log_debug("control: client %llu closed with %zu bytes of an incomplete line, ignoring",
				  cl->serial, left);
		if (!cl->closing && !LIST_EMPTY(&cl->requests) && !peer_gone(bufferevent_getfd(bev))) {
			/* Half-closed (e.g. "echo ... | nc -U"): its requests still get their replies. */
			cl->eof = true;
			bufferevent_disable(cl->bev, EV_READ);
			return;
		}
	} else if (what & BEV_EVENT_ERROR) {
		log_debug("control: client %llu connection error: %s", cl->serial, strerror(errno));
	}
	client_free(cl);
}

static void client_free(struct client *cl)
{
	struct control *ctl;

	if (!cl)
		return;
	ctl = cl->ctl;
	/* Requests still being worked on stay alive; their replies are dropped. */
	request_detach_all(&cl->requests);
	if (cl->linger)
		event_free(cl->linger);
	bufferevent_free(cl->bev);
	TAILQ_REMOVE(&ctl->clients, cl, link);
	ctl->n_clients--;
	log_debug("control: client %llu gone", cl->serial);
	free(cl);
	if (ctl->drained && ctl->n_clients == 0) {
		void (*done)(void *) = ctl->drained;
		ctl->drained = NULL;
		done(ctl->drained_arg);
	}
}

static bool in_list_uid(uid_t u, const uid_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == u)
			return true;
	return false;
}

static bool in_list_gid(gid_t g, const gid_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == g)
			return true;
	return false;
}

/* The allow-list: empty lists allow every peer that can open the socket (its mode and
 * group are the first gate); root and the daemon's own user are always allowed. */
static bool peer_allowed(const struct config_daemon *cfg, int fd, const struct request_peer *p)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (cfg->n_allow_users == 0 && cfg->n_allow_groups == 0)
		return true;
	if (p->uid == 0 || p->uid == geteuid())
		return true;
	if (in_list_uid(p->uid, cfg->allow_uids, cfg->n_allow_users) ||
	    in_list_gid(p->gid, cfg->allow_gids, cfg->n_allow_groups))
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(gid_t); i++)
			if (in_list_gid(groups[i], cfg->allow_gids, cfg->n_allow_groups))
				return true;
	return false;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct control *ctl = arg;
	const struct config_daemon *cfg = ctl->cfg;
	struct ucred cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t len = sizeof(cred);
	struct client *cl;

	(void)l, (void)sa, (void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		log_warn("control: SO_PEERCRED failed: %m, ignoring");
	cl = calloc(1, sizeof(*cl));
	if (cl)
		cl->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!cl || !cl->bev) {
		log_err("control: out of memory accepting a client");
		free(cl);
		close(fd);
		return;
	}
	cl->ctl = ctl;
	cl->serial = ++ctl->n_accepted;
	cl->peer = (struct request_peer){ .pid = cred.pid, .uid = cred.uid, .gid = cred.gid };
	LIST_INIT(&cl->requests);
	TAILQ_INSERT_TAIL(&ctl->clients, cl, link);
	ctl->n_clients++;
	bufferevent_setcb(cl->bev, client_read_cb, client_write_cb, client_event_cb, cl);
	/* Never buffer more than one maximal line (plus its newline) before looking at it. */
	bufferevent_setwatermark(cl->bev, EV_READ, 0, cfg->max_line + 1);
	log_info("control: client %llu connected (pid %d, uid %u, gid %u)", cl->serial, (int)cred.pid,
		 (unsigned)cred.uid, (unsigned)cred.gid);
	if (!peer_allowed(cfg, fd, &cl->peer)) {
		log_warn("control: refusing client %llu (pid %d, uid %u, gid %u): not in allow_users/allow_groups",
			 cl->serial, (int)cred.pid, (unsigned)cred.uid, (unsigned)cred.gid);
		client_send_error(cl, NULL, RP_ERR_PERMISSION_DENIED,
				  "uid %u is not allowed to use this daemon (see allow_users/allow_groups)",
				  (unsigned)cred.uid);
		client_close_after_flush(cl);
		return;
	}
	if (ctl->n_clients > cfg->max_clients) {
		log_warn("control: refusing client %llu: %u clients connected (max_clients)", cl->serial,
			 ctl->n_clients - 1);
		client_send_error(cl, NULL, RP_ERR_TOO_MANY_CLIENTS, "the daemon already serves %u clients",
				  cfg->max_clients);
		client_close_after_flush(cl);
		return;
	}
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
}

static void listener_error_cb(struct evconnlistener *l, void *arg)
{
	(void)l, (void)arg;
	/* EMFILE and friends: log and keep the listener; libevent retries on the next event. */
	log_err("control: accept failed: %m");
}

/* ---- the socket file ------------------------------------------------------------------ */

/* 0 if nobody serves path (a stale file was removed), -EADDRINUSE if a daemon answers. */
static int claim_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return log_err("control: cannot stat %s: %m", path), -errno;
	}
	if (!S_ISSOCK(st.st_mode))
		return log_err("control: %s exists and is not a socket; refusing to replace it", path), -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		log_err("control: another relaypoold is already serving %s", path);
		return -EADDRINUSE;
	}
	if (errno != ECONNREFUSED)
		return log_err("control: cannot probe %s: %m", path), -errno;
	log_notice("control: removing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return log_err("control: cannot remove stale socket %s: %m", path), -errno;
	return 0;
}

static int make_parent_dir(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	const char *dir;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return log_err("control: cannot create %s: %m", dir), -errno;
	return 0;
}

static int listen_on_path(struct control *ctl, const struct config_daemon *cfg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	struct stat st;
	mode_t old_umask;
	int r;

	if (strlen(cfg->socket) >= sizeof(sa.sun_path))
		return log_err("control: socket path %s is too long (max %zu bytes)", cfg->socket,
			       sizeof(sa.sun_path) - 1),
		       -ENAMETOOLONG;
	r = make_parent_dir(cfg->socket);
	if (r < 0)
		return r;
	r = claim_path(cfg->socket);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_err("control: socket: %m"), -errno;
	strcpy(sa.sun_path, cfg->socket);
	old_umask = umask(0117);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_umask);
	if (r < 0)
		return log_err("control: cannot bind %s: %m", cfg->socket), -errno;
	if (cfg->socket_group && chown(cfg->socket, (uid_t)-1, cfg->socket_gid) < 0)
		log_warn("control: cannot give %s to group %s: %m, ignoring", cfg->socket, cfg->socket_group);
	if (chmod(cfg->socket, 0660) < 0)
		log_warn("control: cannot chmod %s: %m, ignoring", cfg->socket);
	if (listen(fd, SOMAXCONN) < 0) /* a burst of clients waits in the kernel, not refused */
		return log_err("control: listen on %s: %m", cfg->socket), -errno;
	if (stat(cfg->socket, &st) == 0) {
		ctl->path_ino = st.st_ino;
		ctl->path_dev = st.st_dev;
	}
	ctl->path = strdup(cfg->socket);
	return TAKE_FD(fd);
}

int control_new(struct event_base *base, const struct config_daemon *cfg, int fd, void *ctx, struct control **out)
{
	struct control *ctl = calloc(1, sizeof(*ctl));

	if (!ctl)
		return -ENOMEM;
	ctl->base = base;
	ctl->cfg = cfg;
	ctl->ctx = ctx;
	TAILQ_INIT(&ctl->clients);
	if (fd < 0) {
		fd = listen_on_path(ctl, cfg);
		if (fd < 0) {
			free(ctl);
			return fd;
		}
	}
	evutil_make_socket_nonblocking(fd);
	ctl->listener = evconnlistener_new(base, accept_cb, ctl, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
					   -1, fd);
	if (!ctl->listener) {
		close(fd);
		control_stop_listening(ctl);
		free(ctl);
		return -ENOMEM;
	}
	evconnlistener_set_error_cb(ctl->listener, listener_error_cb);
	log_info("control: listening on %s", ctl->path ? ctl->path : "an inherited socket");
	*out = ctl;
	return 0;
}

void control_configure(struct control *ctl, const struct config_daemon *cfg)
{
	ctl->cfg = cfg;
}

void control_stop_listening(struct control *ctl)
{
	struct stat st;

	ctl->stopping = true;
	if (ctl->listener) {
		evconnlistener_free(ctl->listener);
		ctl->listener = NULL;
	}
	if (!ctl->path)
		return;
	/* Unlink only if the file is still the socket we bound (not a successor's). */
	if (stat(ctl->path, &st) == 0 && st.st_ino == ctl->path_ino && st.st_dev == ctl->path_dev)
		unlink(ctl->path);
	free(ctl->path);
	ctl->path = NULL;
}

void control_drain(struct control *ctl, void (*done)(void *arg), void *arg)
{
	struct client *cl, *next;

	ctl->drained = done;
	ctl->drained_arg = arg;
	for (cl = TAILQ_FIRST(&ctl->clients); cl; cl = next) {
		next = TAILQ_NEXT(cl, link);
		client_close_after_flush(cl);
	}
	if (ctl->n_clients == 0 && ctl->drained) {
		ctl->drained = NULL;
		done(arg);
	}
}

void control_free(struct control *ctl)
{
	struct client *cl;

	if (!ctl)
		return;
	ctl->drained = NULL;
	control_stop_listening(ctl);
	while ((cl = TAILQ_FIRST(&ctl->clients)))
		client_free(cl);
	free(ctl);
}

unsigned control_n_clients(const struct control *ctl)
{
	return ctl->n_clients;
}

unsigned long long control_n_requests(const struct control *ctl)
{
	return ctl->n_requests;
}
