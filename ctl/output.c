/* output.c - text and JSON renderers for relaypoolctl. Text goes to stdout, errors to
 * stderr; JSON mode prints every reply line as the daemon sent it, errors included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "output.h"
#include "proto.h"

void output_json_line(const json_t *v)
{
	json_dumpf(v, stdout, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	fputc('\n', stdout);
}

void output_json_line_reply(const json_t *reply)
{
	output_json_line(reply);
}

char *output_duration(double seconds, char *buf, size_t len)
{
	unsigned long long s = (unsigned long long)seconds;

	if (s >= 86400)
		snprintf(buf, len, "%llud%lluh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%lluh%llum", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, len, "%llum%llus", s / 60, s % 60);
	else
		snprintf(buf, len, "%.1fs", seconds);
	return buf;
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

static long long num(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* ---- text ---------------------------------------------------------------------------- */

static void text_error(const json_t *reply)
{
	const json_t *e = json_object_get(reply, RP_F_ERROR);
	fprintf(stderr, "relaypoolctl: %s (%s)\n", str(e, RP_F_MESSAGE), str(e, RP_F_CODE));
}

static void text_status(const json_t *reply)
{
	const json_t *res = json_object_get(reply, RP_F_RESULT);
	const json_t *counts = json_object_get(res, "counts");
	const json_t *relays = json_object_get(res, "relays"), *groups = json_object_get(res, "groups");
	char up[32];
	size_t i;
	json_t *r;

	printf("relaypoold %s (protocol %lld), pid %lld, up %s\n", str(res, "version"), num(res, "protocol"),
	       num(res, "pid"), output_duration(json_number_value(json_object_get(res, "uptime_s")), up, sizeof(up)));
	printf("config     %s (log level %s)\n", str(res, "config"), str(res, "log_level"));
	printf("signing    %s\n", json_object_get(res, "pubkey") ? str(res, "pubkey") : "no key configured");
	const json_t *pool = json_object_get(res, "pool");
	printf("pool       %lld/%lld relays up, %lld/%lld sessions ready (%lld authenticated, NIP-42), %lld queued, "
	       "%lld in flight\n",
	       num(pool, "relays_up"), num(pool, "relays"), num(pool, "sessions_ready"), num(pool, "sessions"),
	       num(pool, "sessions_authenticated"), num(pool, "queued"), num(pool, "inflight"));
	const json_t *cache = json_object_get(res, "cache"), *ob = json_object_get(cache, "outbox");
	printf("cache      %s: %lld events; outbox %lld pending, %lld accepted, %lld rejected, %lld expired\n",
	       str(cache, "path"), num(cache, "events"), num(ob, "pending"), num(ob, "accepted"), num(ob, "rejected"),
	       num(ob, "expired"));
	printf("clients    %lld connected, %lld requests served, %lld reloads (%lld failed)\n",
	       num(counts, "clients"), num(counts, "requests"), num(counts, "reloads"),
	       num(counts, "reload_failures"));
	printf("\n%-16s %-40s %8s %8s\n", "RELAY", "URL", "SESSIONS", "INFLIGHT");
	json_array_foreach(relays, i, r)
		printf("%-16s %-40s %8lld %8lld\n", str(r, "name"), str(r, "url"), num(r, "sessions"),
		       num(r, "inflight"));
	if (json_array_size(relays) == 0)
		printf("(no relays configured)\n");
	if (json_array_size(groups) == 0)
		return;
	printf("\n%-16s %-30s %s\n", "GROUP", "RELAYS", "FILTER");
	json_array_foreach(groups, i, r) {
		char names[256] = "";
		size_t j, off = 0;
		json_t *n;
		json_array_foreach(json_object_get(r, "relays"), j, n)
			if (off < sizeof(names))
				off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", j ? "," : "",
							json_string_value(n));
		char *f = json_object_get(r, "filter") ? json_dumps(json_object_get(r, "filter"), JSON_COMPACT)
							: NULL;
		printf("%-16s %-30s %s\n", str(r, "name"), names, f ? f : "-");
		free(f);
	}
}

static void print_names(const char *label, const json_t *a)
{
	size_t i;
	json_t *v;

	if (json_array_size(a) == 0)
		return;
	printf("  %s:", label);
	json_array_foreach(a, i, v) {
		if (json_is_string(v))
			printf(" %s", json_string_value(v));
		else
			printf(" %s", str(v, "name"));
	}
	printf("\n");
}

static void text_reload(const json_t *reply)
{
	const json_t *res = json_object_get(reply, RP_F_RESULT);
	const json_t *ch = json_object_get(res, "changes");
	const json_t *rel = json_object_get(ch, "relays"), *grp = json_object_get(ch, "groups");

	printf("reloaded %s\n", str(res, "config"));
	print_names("relays added", json_object_get(rel, "added"));
	print_names("relays removed", json_object_get(rel, "removed"));
	print_names("relays changed", json_object_get(rel, "changed"));
	print_names("groups added", json_object_get(grp, "added"));
	print_names("groups removed", json_object_get(grp, "removed"));
	print_names("groups changed", json_object_get(grp, "changed"));
	print_names("pool settings changed", json_object_get(ch, "pool"));
	print_names("daemon settings changed", json_object_get(ch, "daemon"));
	print_names("need a restart", json_object_get(ch, "restart_required"));
}

static void text_version(const char *ctl_version, const json_t *reply)
{
	const json_t *res = json_object_get(reply, RP_F_RESULT);

	printf("relaypoolctl %s (control protocol %d)\n", ctl_version, RP_PROTO_VERSION);
	if (res)
		printf("relaypoold   %s (control protocol %lld)\n", str(res, "version"), num(res, "protocol"));
}

static void text_relays(const json_t *reply)
{
	const json_t *relays = json_object_get(json_object_get(reply, RP_F_RESULT), "relays");
	size_t i, j;
	json_t *r, *s;

	printf("%-14s %-32s %5s %6s %6s %8s %8s %7s %7s %6s\n", "RELAY", "URL", "READY", "WINDOW", "FLIGHT", "QUEUED",
	       "ACCEPTED", "REJECT", "TIMEOUT", "RECONN");
	json_array_foreach(relays, i, r) {
		const json_t *c = json_object_get(r, "counters");
		char ready[16];
		snprintf(ready, sizeof(ready), "%lld/%lld", num(r, "sessions_ready"), num(r, "sessions_configured"));
		printf("%-14s %-32s %5s %6lld %6lld %8lld %8lld %7lld %7lld %6lld%s\n", str(r, "name"), str(r, "url"), ready,
		       num(r, "window"), num(r, "inflight"), num(r, "queued"), num(c, "accepted"), num(c, "rejected"),
		       num(c, "timeouts"), num(c, "reconnects"), json_is_true(json_object_get(r, "draining")) ? " (draining)" : "");
		if (num(r, "cooldown_ms"))
			printf("  rate-limited: holding publishes for %lld ms more\n", num(r, "cooldown_ms"));
		if (json_is_string(json_object_get(r, "last_error")))
			printf("  last error:  %s\n", str(r, "last_error"));
		if (json_is_string(json_object_get(r, "last_notice")))
			printf("  last notice: %s\n", str(r, "last_notice"));
		json_array_foreach(json_object_get(r, "sessions"), j, s) {
			const json_t *sc = json_object_get(s, "counters");
			const json_t *rtt = json_object_get(s, "rtt_ms");
			const char *auth = json_string_value(json_object_get(s, "auth"));
			char rtts[32] = "-";
			if (json_is_number(rtt))
				snprintf(rtts, sizeof(rtts), "%.1fms", json_number_value(rtt));
			printf("  session %-3lld %-10s inflight %-5lld rtt %-9s sent %-8lld oks %-8lld errors %lld%s%s%s%s\n",
			       num(s, "index"), str(s, "state"), num(s, "inflight"), rtts, num(sc, "sent"), num(sc, "oks"),
			       num(sc, "protocol_errors"),
			       auth && strcmp(auth, "none") != 0 ? "  auth " : "", auth && strcmp(auth, "none") != 0 ? auth : "",
			       json_is_string(json_object_get(s, "last_error")) ? "  last: " : "",
			       json_is_string(json_object_get(s, "last_error")) ? str(s, "last_error") : "");
			if (json_is_string(json_object_get(s, "auth_error")))
				printf("    auth: %s\n", str(s, "auth_error"));
		}
	}
	if (json_array_size(relays) == 0)
		printf("(no relays configured)\n");
}

static void print_targets(const json_t *relays)
{
	size_t i;
	json_t *t;

	json_array_foreach(relays, i, t) {
		const char *st = json_string_value(json_object_get(t, "status"));
		const char *msg = json_string_value(json_object_get(t, "message"));
		printf("%s%s: %s", i ? "; " : " (", json_string_value(json_object_get(t, "relay")), st ? st : "?");
		if (json_object_get(t, "latency_ms") && st && strcmp(st, "accepted") == 0)
			printf(" %.1fms", json_number_value(json_object_get(t, "latency_ms")));
		if (msg && *msg && st && strcmp(st, "accepted") != 0)
			printf(" \"%s\"", msg);
	}
	if (i)
		printf(")");
}

static void text_publish(const json_t *reply, size_t line)
{
	const json_t *res = json_object_get(reply, RP_F_RESULT), *err = json_object_get(reply, RP_F_ERROR);

	if (reply_ok(reply) && json_object_get(res, "queued")) {
		size_t i;
		json_t *n;
		printf("queued %s ->", str(res, "event_id"));
		json_array_foreach(json_object_get(res, "queued"), i, n)
			printf(" %s", json_string_value(n));
		printf("\n");
	} else if (reply_ok(reply)) {
		printf("ok %s %lld/%zu", str(res, "event_id"), num(res, "accepted"),
		       json_array_size(json_object_get(res, "relays")));
		print_targets(json_object_get(res, "relays"));
		printf("\n");
	} else {
		const char *id = json_string_value(json_object_get(err, "event_id"));
		const char *reason = json_string_value(json_object_get(err, RP_F_REASON));
		if (id)
			printf("FAILED %s: ", id);
		else
			printf("FAILED line %zu: ", line);
		printf("%s", str(err, RP_F_CODE));
		if (reason)
			printf(" (%s)", reason);
		printf(": %s", str(err, RP_F_MESSAGE));
		print_targets(json_object_get(err, "relays"));
		printf("\n");
	}
}

static void quiet_publish(const json_t *reply, size_t line)
{
	if (!reply_ok(reply))
		text_publish(reply, line);
}

static void quiet_reload(const json_t *reply)
{
	(void)reply;
}

/* ---- cache, outbox, stats, trace ---------------------------------------------------------- */

static double dnum(const json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

static void text_sync(const json_t *reply)
{
	const json_t *relays = json_object_get(json_object_get(reply, reply_ok(reply) ? RP_F_RESULT : RP_F_ERROR), "relays");
	size_t i;
	json_t *r;

	printf("%-14s %-8s %-10s %9s %9s %10s %8s %6s %9s\n", "RELAY", "STATUS", "METHOD", "RECEIVED", "NEW",
	       "DUPLICATES", "INVALID", "PAGES", "DURATION");
	json_array_foreach(relays, i, r) {
		json_t *neg = json_object_get(r, "negentropy");
		printf("%-14s %-8s %-10s %9lld %9lld %10lld %8lld %6lld %8.1fs\n",
		       json_string_value(json_object_get(r, "relay")), json_string_value(json_object_get(r, "status")),
		       json_string_value(json_object_get(r, "method")),
		       (long long)json_integer_value(json_object_get(r, "received")),
		       (long long)json_integer_value(json_object_get(r, "new")),
		       (long long)json_integer_value(json_object_get(r, "duplicates")),
		       (long long)json_integer_value(json_object_get(r, "invalid")),
		       (long long)json_integer_value(json_object_get(r, "pages")),
		       (double)json_integer_value(json_object_get(r, "duration_ms")) / 1000.0);
		if (neg)
			printf("  negentropy: %lld ids only here, %lld only at the relay (%lld not sent), %lld round trips, "
			       "%lld bytes, %lld chunk%s\n",
			       (long long)json_integer_value(json_object_get(neg, "have")),
			       (long long)json_integer_value(json_object_get(neg, "need")),
			       (long long)json_integer_value(json_object_get(neg, "missing")),
			       (long long)json_integer_value(json_object_get(neg, "rounds")),
			       (long long)json_integer_value(json_object_get(neg, "bytes")),
			       (long long)json_integer_value(json_object_get(neg, "chunks")),
			       json_integer_value(json_object_get(neg, "chunks")) == 1 ? "" : "s");
		if (neg && json_object_get(neg, "uploaded"))
			printf("  up: %lld events queued for the relay (relaypoolctl outbox shows their delivery)\n",
			       (long long)json_integer_value(json_object_get(neg, "uploaded")));
		if (json_object_get(r, "fallback"))
			printf("  REQ %s: %s\n", json_object_get(r, "negentropy") ? "after" : "because",
			       json_string_value(json_object_get(r, "fallback")));
		if (json_object_get(r, "error"))
			printf("  error: %s\n", json_string_value(json_object_get(r, "error")));
	}
}

static void quiet_sync(const json_t *reply)
{
	if (!reply_ok(reply))
		text_sync(reply);
}

static void text_outbox(const json_t *reply)
{
	const json_t *res = json_object_get(reply, RP_F_RESULT), *c = json_object_get(res, "counts");
	size_t i;
	json_t *row;

	printf("%-6s %-16s %-14s %-10s %4s  %s\n", "ROW", "EVENT", "RELAY", "STATE", "TRY", "MESSAGE");
	json_array_foreach(json_object_get(res, "rows"), i, row) {
		const char *relay = json_string_value(json_object_get(row, "relay"));
		const char *msg = json_string_value(json_object_get(row, "message"));
		printf("%-6lld %.16s %-14s %-10s %4lld  %s\n", (long long)json_integer_value(json_object_get(row, "row")),
		       json_string_value(json_object_get(row, "event_id")),
		       relay ? relay : json_string_value(json_object_get(row, "url")),
		       json_string_value(json_object_get(row, "state")),
		       (long long)json_integer_value(json_object_get(row, "attempts")), msg ? msg : "");
	}
	printf("\n%lld pending, %lld accepted, %lld rejected, %lld expired\n",
	       (long long)json_integer_value(json_object_get(c, "pending")),
	       (long long)json_integer_value(json_object_get(c, "accepted")),
	       (long long)json_integer_value(json_object_get(c, "rejected")),
	       (long long)json_integer_value(json_object_get(c, "expired")));
}

static void text_outbox_changed(const json_t *reply)
{
	const json_t *res = json_object_get(reply, RP_F_RESULT);

	printf("%s %lld row%s\n", str(res, "verb"), num(res, "rows"), num(res, "rows") == 1 ? "" : "s");
}

static void quiet_outbox_changed(const json_t *reply)
{
	(void)reply;
}

static void text_stats(const json_t *reply)
{
	const json_t *res = json_object_get(reply, RP_F_RESULT);
	const json_t *pool = json_object_get(res, "pool"), *par = json_object_get(pool, "effective_parallelism");
	const json_t *thr = json_object_get(pool, "throughput"), *lag = json_object_get(pool, "loop_lag_ms");
	const json_t *contention = json_object_get(res, "contention"), *r, *s;
	double conf = dnum(pool, "configured");
	size_t i, j;

	printf("pool      effective parallelism %.1f (10 s) %.1f (60 s) %.1f (since start) of %.0f configured (%.0f%%)\n",
	       dnum(par, "10s"), dnum(par, "60s"), dnum(par, "total"), conf, conf > 0 ? dnum(par, "10s") / conf * 100 : 0);
	printf("          throughput %.1f/s (10 s) %.1f/s (60 s); %.0f in flight, %.0f queued (%.1f on average); "
	       "loop lag p99 %.1f ms\n",
	       dnum(thr, "10s"), dnum(thr, "60s"), dnum(pool, "inflight"), dnum(json_object_get(pool, "queued"), "now"),
	       dnum(json_object_get(pool, "queued"), "10s"), dnum(lag, "p99"));
	printf("\n%-14s %5s %5s %7s %7s %8s %6s %17s %17s %7s %5s %5s %5s\n", "RELAY", "CONF", "READY", "PAR10s",
	       "PAR60s", "OK/s10s", "QUEUE", "WAIT p50/p99 ms", "OK p50/p99 ms", "ACCEPT", "REJ", "TMO", "RATEL");
	json_array_foreach(json_object_get(res, "relays"), i, r) {
		const json_t *w = json_object_get(r, "queue_wait_ms"), *ok = json_object_get(r, "ok_latency_ms");
		char ready[16], wait[32], okl[32];
		snprintf(ready, sizeof(ready), "%.0f/%.0f", dnum(r, "sessions_ready"), dnum(r, "sessions"));
		snprintf(wait, sizeof(wait), "%.1f/%.1f", dnum(w, "p50"), dnum(w, "p99"));
		snprintf(okl, sizeof(okl), "%.1f/%.1f", dnum(ok, "p50"), dnum(ok, "p99"));
		printf("%-14s %5.0f %5s %7.2f %7.2f %8.1f %6.0f %17s %17s %7.0f %5.0f %5.0f %5.0f\n", str(r, "name"),
		       dnum(r, "configured"), ready, dnum(json_object_get(r, "effective_parallelism"), "10s"),
		       dnum(json_object_get(r, "effective_parallelism"), "60s"),
		       dnum(json_object_get(r, "throughput"), "10s"), dnum(json_object_get(r, "queued"), "now"), wait, okl,
		       dnum(r, "accepted"), dnum(r, "rejected"), dnum(r, "timeouts"), dnum(r, "rate_limited"));
		json_array_foreach(json_object_get(r, "sessions_detail"), j, s) {
			const json_t *rtt = json_object_get(s, "rtt_ms");
			printf("  session %-2.0f %-10s connected %6.1fs  busy %3.0f%%  parallelism %5.2f  oks %-7.0f ok mean "
			       "%6.1f ms  rtt %s%.1f ms\n",
			       dnum(s, "index"), str(s, "state"), dnum(s, "connected_s"), dnum(s, "busy_ratio") * 100,
			       dnum(s, "parallelism"), dnum(s, "oks"), dnum(s, "ok_latency_ms_mean"), json_is_number(rtt) ? "" : "~",
			       json_is_number(rtt) ? json_number_value(rtt) : 0);
		}
	}
	if (json_array_size(contention)) {
		printf("\ncontention:\n");
		json_array_foreach(contention, i, r)
			printf("  %s (%s): %s\n", str(r, "scope"), str(r, "reason"), str(r, "message"));
	} else {
		printf("\ncontention: none\n");
	}
}

static void text_trace_item(const json_t *item)
{
	const char *id = json_string_value(json_object_get(item, "event_id"));
	double t = dnum(item, "t");
	time_t sec = (time_t)t;
	struct tm tm;

	localtime_r(&sec, &tm);
	printf("%02d:%02d:%02d.%03d %-9s %s", tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((t - (double)sec) * 1000),
	       str(item, "what"), str(item, "relay"));
	if (json_object_get(item, "session"))
		printf("/%.0f", dnum(item, "session"));
	if (id)
		printf(" %.16s attempt %.0f", id, dnum(item, "attempt"));
	if (json_object_get(item, "waited_ms"))
		printf(" waited %.1f ms", dnum(item, "waited_ms"));
	if (json_object_get(item, "latency_ms"))
		printf(" %s in %.1f ms", json_is_true(json_object_get(item, "accepted")) ? "accepted" : "refused",
		       dnum(item, "latency_ms"));
	if (json_object_get(item, "message") && *str(item, "message"))
		printf(" \"%s\"", str(item, "message"));
	if (json_object_get(item, "count"))
		printf(" %.0f events (this reader fell behind)", dnum(item, "count"));
	printf("\n");
}

static void text_subscriptions(const json_t *reply)
{
	const json_t *res = json_object_get(reply, RP_F_RESULT);
	const json_t *feeds = json_object_get(res, "feeds"), *subs = json_object_get(res, "subscribers");
	json_t *v;
	size_t i;

	printf("%zu relay REQs, %zu local subscribers\n", json_array_size(feeds), json_array_size(subs));
	if (json_array_size(feeds)) {
		printf("%-16s %-14s %-8s %7s %5s %10s %10s %10s  %s\n", "RELAY", "REQ", "STATE", "SESSION", "SUBS",
		       "EVENTS_IN", "DELIVERED", "DUPLICATES", "FILTERS");
		json_array_foreach(feeds, i, v) {
			char *flt = json_dumps(json_object_get(v, "filters"), JSON_COMPACT);
			json_t *sess = json_object_get(v, "session");
			char sbuf[16];
			snprintf(sbuf, sizeof(sbuf), "%lld", (long long)json_integer_value(sess));
			printf("%-16s %-14s %-8s %7s %5lld %10lld %10lld %10lld  %.60s\n",
			       json_string_value(json_object_get(v, "relay")), json_string_value(json_object_get(v, "req")),
			       json_string_value(json_object_get(v, "state")), json_is_integer(sess) ? sbuf : "-",
			       (long long)json_integer_value(json_object_get(v, "subscribers")),
			       (long long)json_integer_value(json_object_get(v, "events_in")),
			       (long long)json_integer_value(json_object_get(v, "delivered")),
			       (long long)json_integer_value(json_object_get(v, "duplicates")), flt ? flt : "");
			free(flt);
		}
	}
	if (json_array_size(subs)) {
		printf("\n%-8s %-10s %-10s %10s %10s %10s %8s\n", "PID", "ID", "STATE", "CACHED", "DELIVERED", "DROPPED",
		       "RELAYS");
		json_array_foreach(subs, i, v) {
			char *id = json_dumps(json_object_get(v, "id"), JSON_COMPACT | JSON_ENCODE_ANY);
			printf("%-8lld %-10s %-10s %10lld %10lld %10lld %8zu\n",
			       (long long)json_integer_value(json_object_get(v, "pid")), id ? id : "null",
			       json_string_value(json_object_get(v, "state")),
			       (long long)json_integer_value(json_object_get(v, "cached")),
			       (long long)json_integer_value(json_object_get(v, "delivered")),
			       (long long)json_integer_value(json_object_get(v, "dropped")),
			       json_array_size(json_object_get(v, "relays")));
			free(id);
		}
	}
}

/* verify: one line's result, {"line", "ok", "id"} or {"line", "ok": false, "reason", "message"} */
static void text_verify(const json_t *r)
{
	if (json_is_true(json_object_get(r, "ok")))
		printf("ok %s\n", str(r, "id"));
	else
		printf("line %lld: invalid: %s: %s\n", num(r, "line"), str(r, "reason"), str(r, "message"));
}

static void quiet_verify(const json_t *r)
{
	if (!json_is_true(json_object_get(r, "ok")))
		text_verify(r);
}

const struct output output_quiet = {
	.error = text_error,
	.status = text_status,
	.reload = quiet_reload,
	.version = text_version,
	.relays = text_relays,
	.publish = quiet_publish,
	.sync = quiet_sync,
	.outbox = text_outbox,
	.outbox_changed = quiet_outbox_changed,
	.stats = text_stats,
	.trace_item = text_trace_item,
	.subscriptions = text_subscriptions,
	.verify = quiet_verify,
};

const struct output output_text = {
	.error = text_error,
	.status = text_status,
	.reload = text_reload,
	.version = text_version,
	.relays = text_relays,
	.publish = text_publish,
	.sync = text_sync,
	.outbox = text_outbox,
	.outbox_changed = text_outbox_changed,
	.stats = text_stats,
	.trace_item = text_trace_item,
	.subscriptions = text_subscriptions,
	.verify = text_verify,
};

/* ---- JSON ----------------------------------------------------------------------------- */

static void json_reply(const json_t *reply)
{
	output_json_line(reply);
}

static void json_version(const char *ctl_version, const json_t *reply)
{
	json_t *o = json_pack("{s:s, s:i, s:O?}", "relaypoolctl", ctl_version, "protocol", RP_PROTO_VERSION,
			      "daemon", reply ? json_object_get(reply, RP_F_RESULT) : NULL);
	output_json_line(o);
	json_decref(o);
}

static void json_publish(const json_t *reply, size_t line)
{
	(void)line;
	output_json_line(reply);
}

static void json_item(const json_t *item)
{
	output_json_line(item);
}

const struct output output_json = {
	.publish = json_publish,
	.sync = json_reply,
	.outbox = json_reply,
	.outbox_changed = json_reply,
	.stats = json_reply,
	.trace_item = json_item,
	.subscriptions = json_reply,
	.verify = json_item,
	.error = json_reply,
	.status = json_reply,
	.reload = json_reply,
	.version = json_version,
	.relays = json_reply,
};
