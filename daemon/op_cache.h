/* op_cache.h - the handlers of the cache op family (op_cache.c). */
#ifndef RELAYPOOL_OP_CACHE_H
#define RELAYPOOL_OP_CACHE_H

#include <jansson.h>

struct request;

void op_query(struct request *r, json_t *args);
/* Ends every query still open or waiting (the daemon is stopping). */
void op_query_stop_all(void);
void op_sync(struct request *r, json_t *args);
void op_outbox(struct request *r, json_t *args);
void op_outbox_retry(struct request *r, json_t *args);
void op_outbox_drop(struct request *r, json_t *args);

#endif
