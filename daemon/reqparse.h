/* reqparse.h - one control request line, checked: valid JSON, an object, an id of a
 * scalar type, a known op, every member known to that op with the right JSON type, and
 * the op's required members present. The control socket turns a failure into an error
 * reply that echoes the id when there is one. */
#ifndef RELAYPOOL_REQPARSE_H
#define RELAYPOOL_REQPARSE_H

#include <jansson.h>
#include <stddef.h>

#include "ops.h"
#include "proto.h"

struct reqparse {
	json_t *req;             /* the request object (owned; freed by reqparse_clear) */
	json_t *id;              /* its id member, borrowed from req; NULL if none or unusable */
	const struct op_def *op; /* on success */
	enum rp_err code;        /* on failure */
	char message[512];
};

/* 0 with p->op and p->req, or -1 with p->code, p->message (and p->id when it was read). */
int reqparse_line(const char *line, size_t len, struct reqparse *p);
void reqparse_clear(struct reqparse *p);

#endif
