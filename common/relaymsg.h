/* relaymsg.h - one NIP-01 / NIP-42 / NIP-77 message from a relay, parsed and checked for
 * shape: OK, NOTICE, EVENT, EOSE, CLOSED, AUTH, NEG-MSG, NEG-ERR. What the message means is the session's business; this
 * is only the parsing (and so what the fuzz harness drives). */
#ifndef RELAYPOOL_RELAYMSG_H
#define RELAYPOOL_RELAYMSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum relay_msg_type { RMSG_OK, RMSG_NOTICE, RMSG_EVENT, RMSG_EOSE, RMSG_CLOSED, RMSG_AUTH, RMSG_NEG_MSG, RMSG_NEG_ERR };

struct relay_msg {
	enum relay_msg_type type;
	json_t *root;        /* the parsed array (owned) */
	const char *sub_id;  /* EVENT, EOSE, CLOSED, NEG-MSG, NEG-ERR: no NUL inside */
	json_t *event;       /* EVENT: the event object, not yet checked (borrowed from root) */
	uint8_t id[32];      /* OK: the event id */
	bool accepted;       /* OK */
	const char *message; /* OK, NOTICE, CLOSED, NEG-ERR: the text; AUTH: the challenge (no NUL,
			      * <= 1024); NEG-MSG: the message in hex (not yet checked) */
	size_t message_len;
};

/* 0, or -EINVAL with *why (a static description of the expected shape). */
int relay_msg_parse(const char *text, size_t len, struct relay_msg *m, const char **why);
void relay_msg_clear(struct relay_msg *m);

#endif
