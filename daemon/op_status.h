/* op_status.h - the handlers of the status op family (op_status.c). */
#ifndef RELAYPOOL_OP_STATUS_H
#define RELAYPOOL_OP_STATUS_H

#include <jansson.h>

struct request;

void op_status(struct request *r, json_t *args);
void op_reload(struct request *r, json_t *args);

#endif
