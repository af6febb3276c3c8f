/* relaymsg.c - see relaymsg.h. */
#include <errno.h>
#include <string.h>

#include "hex.h"
#include "relaymsg.h"

static bool whole_string(const json_t *v)
{
	return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

static int fail(struct relay_msg *m, const char **why, const char *what)
{
	json_decref(m->root);
	m->root = NULL;
	*why = what;
	return -EINVAL;
}

int relay_msg_parse(const char *text, size_t len, struct relay_msg *m, const char **why)
{
	json_error_t jerr;
	const char *type;
	size_t n;
	json_t *a1, *a2, *a3;

	memset(m, 0, sizeof(*m));
	m->root = json_loadb(text, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
	if (!m->root)
		return fail(m, why, "invalid JSON");
	type = json_string_value(json_array_get(m->root, 0));
	if (!json_is_array(m->root) || !type)
		return fail(m, why, "not an array starting with a string");
	n = json_array_size(m->root);
	a1 = json_array_get(m->root, 1);
	a2 = json_array_get(m->root, 2);
	a3 = json_array_get(m->root, 3);
	if (strcmp(type, "OK") == 0) {
		if (n != 4 || !json_is_string(a1) || !json_is_boolean(a2) || !json_is_string(a3) ||
		    json_string_length(a1) != 64 || !hex_is_lower(json_string_value(a1), 64) ||
		    hex_decode(json_string_value(a1), 64, m->id) < 0)
			return fail(m, why, "OK needs [\"OK\", <64 hex>, <bool>, <string>]");
		m->type = RMSG_OK;
		m->accepted = json_is_true(a2);
		m->message = json_string_value(a3);
	} else if (strcmp(type, "NOTICE") == 0) {
		if (n != 2 || !json_is_string(a1))
			return fail(m, why, "NOTICE needs [\"NOTICE\", <string>]");
		m->type = RMSG_NOTICE;
		m->message = json_string_value(a1);
	} else if (strcmp(type, "EVENT") == 0) {
		if (n != 3 || !whole_string(a1) || !json_is_object(a2))
			return fail(m, why, "EVENT needs [\"EVENT\", <subscription id>, <object>]");
		m->type = RMSG_EVENT;
		m->sub_id = json_string_value(a1);
		m->event = a2;
	} else if (strcmp(type, "EOSE") == 0) {
		if (n != 2 || !whole_string(a1))
			return fail(m, why, "EOSE needs [\"EOSE\", <subscription id>]");
		m->type = RMSG_EOSE;
		m->sub_id = json_string_value(a1);
	} else if (strcmp(type, "CLOSED") == 0) {
		if (n != 3 || !whole_string(a1) || !json_is_string(a2))
			return fail(m, why, "CLOSED needs [\"CLOSED\", <subscription id>, <string>]");
		m->type = RMSG_CLOSED;
		m->sub_id = json_string_value(a1);
		m->message = json_string_value(a2);
	} else if (strcmp(type, "AUTH") == 0) {
		if (n != 2 || !whole_string(a1) || json_string_length(a1) > 1024)
			return fail(m, why, "AUTH needs [\"AUTH\", <challenge string>]");
		m->type = RMSG_AUTH;
		m->message = json_string_value(a1);
	} else if (strcmp(type, "NEG-MSG") == 0) {
		if (n != 3 || !whole_string(a1) || !json_is_string(a2))
			return fail(m, why, "NEG-MSG needs [\"NEG-MSG\", <subscription id>, <hex string>]");
		m->type = RMSG_NEG_MSG;
		m->sub_id = json_string_value(a1);
		m->message = json_string_value(a2);
		m->message_len = json_string_length(a2);
	} else if (strcmp(type, "NEG-ERR") == 0) {
		if (n != 3 || !whole_string(a1) || !json_is_string(a2))
			return fail(m, why, "NEG-ERR needs [\"NEG-ERR\", <subscription id>, <string>]");
		m->type = RMSG_NEG_ERR;
		m->sub_id = json_string_value(a1);
		m->message = json_string_value(a2);
	} else {
		return fail(m, why, "unknown message type");
	}
	return 0;
}

void relay_msg_clear(struct relay_msg *m)
{
	json_decref(m->root);
	memset(m, 0, sizeof(*m));
}
