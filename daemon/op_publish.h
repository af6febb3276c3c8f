/* op_publish.h - the handlers of the publish op family (op_publish.c). */
#ifndef RELAYPOOL_OP_PUBLISH_H
#define RELAYPOOL_OP_PUBLISH_H

#include <jansson.h>

struct request;

void op_publish(struct request *r, json_t *args);
void op_relays(struct request *r, json_t *args);

#endif
