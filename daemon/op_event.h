/* op_event.h - the handlers of the event op family (op_event.c). */
#ifndef RELAYPOOL_OP_EVENT_H
#define RELAYPOOL_OP_EVENT_H

#include <jansson.h>

struct request;

void op_sign(struct request *r, json_t *args);

#endif
