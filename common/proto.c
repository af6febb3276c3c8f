/* proto.c - the string table of the control protocol's error codes. */
#include <string.h>

#include "proto.h"

static const char *const err_codes[RP_ERR__MAX] = {
	[RP_ERR_NONE] = "none",
	[RP_ERR_INVALID_JSON] = "invalid_json",
	[RP_ERR_NOT_OBJECT] = "not_object",
	[RP_ERR_INVALID_ID] = "invalid_id",
	[RP_ERR_MISSING_OP] = "missing_op",
	[RP_ERR_UNKNOWN_OP] = "unknown_op",
	[RP_ERR_INVALID_FIELD] = "invalid_field",
	[RP_ERR_UNKNOWN_FIELD] = "unknown_field",
	[RP_ERR_MISSING_FIELD] = "missing_field",
	[RP_ERR_LINE_TOO_LONG] = "line_too_long",
	[RP_ERR_PERMISSION_DENIED] = "permission_denied",
	[RP_ERR_TOO_MANY_CLIENTS] = "too_many_clients",
	[RP_ERR_RELOAD_FAILED] = "reload_failed",
	[RP_ERR_SHUTTING_DOWN] = "shutting_down",
	[RP_ERR_INTERNAL] = "internal_error",
	[RP_ERR_INVALID_EVENT] = "invalid_event",
	[RP_ERR_NO_KEY] = "no_key",
	[RP_ERR_UNKNOWN_RELAY] = "unknown_relay",
	[RP_ERR_UNKNOWN_GROUP] = "unknown_group",
	[RP_ERR_NO_RELAYS] = "no_relays",
	[RP_ERR_QUEUE_FULL] = "queue_full",
	[RP_ERR_QUORUM_FAILED] = "quorum_failed",
	[RP_ERR_SYNC_FAILED] = "sync_failed",
	[RP_ERR_INVALID_FILTER] = "invalid_filter",
	[RP_ERR_NOT_FOUND] = "not_found",
	[RP_ERR_TOO_MANY_SUBSCRIPTIONS] = "too_many_subscriptions",
	[RP_ERR_UNKNOWN_SUBSCRIPTION] = "unknown_subscription",
	[RP_ERR_SUBSCRIPTION_CLOSED] = "subscription_closed",
};

const char *rp_err_code(enum rp_err err)
{
	if ((int)err < 0 || err >= RP_ERR__MAX || !err_codes[err])
		return err_codes[RP_ERR_INTERNAL];
	return err_codes[err];
}

enum rp_err rp_err_from_code(const char *code)
{
	for (int i = 0; i < RP_ERR__MAX; i++)
		if (err_codes[i] && strcmp(err_codes[i], code) == 0)
			return (enum rp_err)i;
	return RP_ERR__MAX;
}
