/* ops.h - the table of control operations: names, the fields each accepts, and handlers.
 * Each op family lives in its own op_*.c file. */
#ifndef RELAYPOOL_OPS_H
#define RELAYPOOL_OPS_H

#include <jansson.h>
#include <stdbool.h>

struct request;

/* JSON type bits for field_def.types. */
enum {
	FT_STRING = 1 << 0,
	FT_INTEGER = 1 << 1,
	FT_REAL = 1 << 2,
	FT_BOOL = 1 << 3,
	FT_NULL = 1 << 4,
	FT_OBJECT = 1 << 5,
	FT_ARRAY = 1 << 6,
	FT_NUMBER = FT_INTEGER | FT_REAL,
	FT_ANY = 0x7f,
};

struct field_def {
	const char *name;
	unsigned types;
	bool required;
};

/* args is the request object; its fields are already checked against the op's fields. */
typedef void (*op_handler)(struct request *r, json_t *args);

struct op_def {
	const char *name;
	op_handler handler;
	const struct field_def *fields; /* terminated by a NULL name */
};

const struct op_def *ops_find(const char *name);
/* JSON array of every op name (hello lists them). */
json_t *ops_names(void);
struct relay;
/* The configured relay named (or located at) name_or_url; NULL after answering r with
 * unknown_relay if there is none. */
struct relay *ops_relay_or_fail(struct request *r, const char *name_or_url);

/* Human name of a type mask, e.g. "a string or an integer". */
const char *ops_type_name(unsigned types);

/* Handlers (op_status.c). */
void op_hello(struct request *r, json_t *args);
void op_status(struct request *r, json_t *args);
void op_reload(struct request *r, json_t *args);

/* Handlers (op_event.c). */
void op_sign(struct request *r, json_t *args);

/* Handlers (op_publish.c). */
void op_publish(struct request *r, json_t *args);
void op_relays(struct request *r, json_t *args);

/* Handlers (op_cache.c). */
void op_query(struct request *r, json_t *args);
void op_sync(struct request *r, json_t *args);
void op_outbox(struct request *r, json_t *args);
void op_outbox_retry(struct request *r, json_t *args);
void op_outbox_drop(struct request *r, json_t *args);

/* Handlers (op_stats.c), and the metrics HTTP listener. */
void op_stats(struct request *r, json_t *args);
void op_metrics(struct request *r, json_t *args);
void op_trace(struct request *r, json_t *args);
struct daemon;
int metrics_listen(struct daemon *d);
void metrics_close(struct daemon *d);

#endif
