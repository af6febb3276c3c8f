/* ops.h - the table of control operations: names, the fields each accepts with their JSON
 * types, and the handlers (one op_*.c file per op family). */
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
/* Human name of a type mask, e.g. "a string or an integer". */
const char *ops_type_name(unsigned types);

#endif
