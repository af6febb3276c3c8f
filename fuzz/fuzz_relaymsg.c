/* fuzz_relaymsg.c - one message from a relay (OK, NOTICE, EVENT, EOSE, CLOSED, AUTH, NEG-MSG, NEG-ERR), as the
 * session parses it before acting on it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relaymsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_msg m;
	const char *why;

	if (relay_msg_parse((const char *)data, size, &m, &why) == 0) {
		/* What the session relies on. */
		if ((m.type == RMSG_EVENT || m.type == RMSG_EOSE || m.type == RMSG_CLOSED || m.type == RMSG_NEG_MSG ||
		     m.type == RMSG_NEG_ERR) &&
		    (!m.sub_id || (m.type == RMSG_EVENT && !json_is_object(m.event))))
			abort();
		if ((m.type == RMSG_AUTH) && (!m.message || strlen(m.message) > 1024))
			abort();
		if (m.type == RMSG_NEG_MSG && (!m.message || strlen(m.message) > m.message_len))
			abort();
		relay_msg_clear(&m);
	}
	return 0;
}
