/* op_live.h - the handlers of the live subscription ops (op_live.c). */
#ifndef RELAYPOOL_OP_LIVE_H
#define RELAYPOOL_OP_LIVE_H

#include <jansson.h>

struct request;

void op_subscribe(struct request *r, json_t *args);
void op_unsubscribe(struct request *r, json_t *args);
void op_subscriptions(struct request *r, json_t *args);

#endif
