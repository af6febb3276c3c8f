/* op_event.c - ops on single events that need the daemon's key: sign. */
#include "event.h"
#include "key.h"
#include "log.h"
#include "op_event.h"
#include "opctx.h"
#include "request.h"

void op_sign(struct request *r, json_t *args)
{
	struct opctx *o = opctx_of(r);
	struct nostr_event ev;
	struct event_error err;

	if (!o->key) {
		request_fail(r, RP_ERR_NO_KEY, "this daemon has no signing key ([daemon] key is not set)");
		return;
	}
	if (event_sign_template(json_object_get(args, "event"), key_keypair(o->key), &ev, &err) < 0) {
		request_fail_reason(r, RP_ERR_INVALID_EVENT, event_err_code(err.code), "event template: %s", err.message);
		return;
	}
	log_request(LOG_DEBUG, request_id_text(r), "signed event %s (kind %u) for pid %d", ev.id_hex, ev.kind,
		    (int)request_peer(r)->pid);
	request_reply(r, json_pack("{s:O}", "event", ev.obj));
	event_clear(&ev);
}
