/* ops.c - the op table: every control operation, its fields and its handler; and hello,
 * which lists the ops. Adding an op
 * means a row here, a handler in an op_*.c file, names in common/proto.h and a section in
 * docs/PROTOCOL.md. */
#include "log.h"
#include "op_cache.h"
#include "op_event.h"
#include "op_live.h"
#include "op_publish.h"
#include "op_stats.h"
#include "op_status.h"
#include "opctx.h"
#include "ops.h"
#include "proto.h"
#include "request.h"
#include "util.h"

static void op_hello(struct request *r, json_t *args);

static const struct field_def hello_fields[] = {
	{ "client", FT_STRING, false },
	{ NULL, 0, false },
};

static const struct field_def sign_fields[] = {
	{ "event", FT_OBJECT, true },
	{ NULL, 0, false },
};

static const struct field_def publish_fields[] = {
	{ "event", FT_OBJECT, true },
	{ "sign", FT_BOOL, false },
	{ "relays", FT_ARRAY, false },
	{ "group", FT_STRING, false },
	{ "quorum", FT_STRING | FT_INTEGER, false },
	{ "wait", FT_STRING, false },
	{ "timeout", FT_INTEGER, false },
	{ NULL, 0, false },
};

static const struct field_def query_fields[] = {
	{ "filter", FT_OBJECT, false },
	{ "filters", FT_ARRAY, false },
	{ "limit", FT_INTEGER, false },
	{ NULL, 0, false },
};

static const struct field_def sync_fields[] = {
	{ "group", FT_STRING, false },
	{ "relay", FT_STRING, false },
	{ "filter", FT_OBJECT, false },
	{ "since", FT_INTEGER, false },
	{ "progress", FT_BOOL, false },
	{ "method", FT_STRING, false },
	{ "up", FT_BOOL, false },
	{ NULL, 0, false },
};

static const struct field_def outbox_fields[] = {
	{ "state", FT_STRING, false },
	{ "relay", FT_STRING, false },
	{ "limit", FT_INTEGER, false },
	{ NULL, 0, false },
};

static const struct field_def outbox_change_fields[] = {
	{ "row", FT_INTEGER, false },
	{ "event_id", FT_STRING, false },
	{ NULL, 0, false },
};

static const struct field_def trace_fields[] = {
	{ "relay", FT_STRING, false },
	{ NULL, 0, false },
};

static const struct field_def subscribe_fields[] = {
	{ "filter", FT_OBJECT, false },
	{ "filters", FT_OBJECT | FT_ARRAY, false },
	{ "relays", FT_ARRAY, false },
	{ "group", FT_STRING, false },
	{ "cache", FT_BOOL, false },
	{ "live", FT_BOOL, false },
	{ NULL, 0, false },
};

static const struct field_def relays_fields[] = {
	{ "info", FT_STRING, false },
	{ NULL, 0, false },
};

static const struct field_def unsubscribe_fields[] = {
	{ "subscription", FT_STRING | FT_INTEGER, true },
	{ NULL, 0, false },
};

static const struct field_def no_fields[] = {
	{ NULL, 0, false },
};

static const struct op_def op_table[] = {
	{ RP_OP_HELLO, op_hello, hello_fields },
	{ RP_OP_STATUS, op_status, no_fields },
	{ RP_OP_RELOAD, op_reload, no_fields },
	{ RP_OP_SIGN, op_sign, sign_fields },
	{ RP_OP_PUBLISH, op_publish, publish_fields },
	{ RP_OP_RELAYS, op_relays, relays_fields },
	{ RP_OP_QUERY, op_query, query_fields },
	{ RP_OP_SYNC, op_sync, sync_fields },
	{ RP_OP_OUTBOX, op_outbox, outbox_fields },
	{ RP_OP_OUTBOX_RETRY, op_outbox_retry, outbox_change_fields },
	{ RP_OP_OUTBOX_DROP, op_outbox_drop, outbox_change_fields },
	{ RP_OP_STATS, op_stats, no_fields },
	{ RP_OP_METRICS, op_metrics, no_fields },
	{ RP_OP_TRACE, op_trace, trace_fields },
	{ RP_OP_SUBSCRIBE, op_subscribe, subscribe_fields },
	{ RP_OP_UNSUBSCRIBE, op_unsubscribe, unsubscribe_fields },
	{ RP_OP_SUBSCRIPTIONS, op_subscriptions, no_fields },
};

const struct op_def *ops_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(op_table); i++)
		if (streq(op_table[i].name, name))
			return &op_table[i];
	return NULL;
}

json_t *ops_names(void)
{
	json_t *a = json_array();

	for (size_t i = 0; i < ARRAY_SIZE(op_table); i++)
		json_array_append_new(a, json_string(op_table[i].name));
	return a;
}

const char *ops_type_name(unsigned types)
{
	switch (types) {
	case FT_STRING: return "a string";
	case FT_INTEGER: return "an integer";
	case FT_NUMBER: return "a number";
	case FT_BOOL: return "a boolean";
	case FT_OBJECT: return "an object";
	case FT_ARRAY: return "an array";
	case FT_STRING | FT_INTEGER: return "a string or an integer";
	case FT_STRING | FT_ARRAY: return "a string or an array of strings";
	case FT_OBJECT | FT_STRING: return "an object or a string";
	case FT_OBJECT | FT_ARRAY: return "an object or an array";
	default: return "a value of another type";
	}
}

/* hello: who we are, the protocol, the ops, and how many requests a client should keep
 * outstanding. */
static void op_hello(struct request *r, json_t *args)
{
	json_t *client = json_object_get(args, "client");

	if (client)
		log_info("control: request %s: hello from \"%s\" (pid %d)", request_id_text(r), json_string_value(client),
			 (int)request_peer(r)->pid);
	request_reply(r, json_pack("{s:s, s:s, s:i, s:o, s:i}", "daemon", "relaypoold", "version", RELAYPOOL_VERSION,
				   "protocol", RP_PROTO_VERSION, "ops", ops_names(), "window",
				   (int)opctx_window(opctx_of(r))));
}
