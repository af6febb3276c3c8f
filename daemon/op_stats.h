/* op_stats.h - the handlers of the stats op family (op_stats.c). */
#ifndef RELAYPOOL_OP_STATS_H
#define RELAYPOOL_OP_STATS_H

#include <jansson.h>

struct request;

void op_stats(struct request *r, json_t *args);
void op_metrics(struct request *r, json_t *args);
void op_trace(struct request *r, json_t *args);

#endif
