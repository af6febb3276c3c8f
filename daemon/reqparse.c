/* reqparse.c - see reqparse.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "reqparse.h"
#include "util.h"

static int fail(struct reqparse *p, enum rp_err code, const char *fmt, ...) _printf_(3, 4);
static int fail(struct reqparse *p, enum rp_err code, const char *fmt, ...)
{
	va_list ap;

	p->code = code;
	va_start(ap, fmt);
	vsnprintf(p->message, sizeof(p->message), fmt, ap);
	va_end(ap);
	return -1;
}

static unsigned json_type_bit(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING: return FT_STRING;
	case JSON_INTEGER: return FT_INTEGER;
	case JSON_REAL: return FT_REAL;
	case JSON_TRUE:
	case JSON_FALSE: return FT_BOOL;
	case JSON_NULL: return FT_NULL;
	case JSON_OBJECT: return FT_OBJECT;
	case JSON_ARRAY: return FT_ARRAY;
	}
	return 0;
}

/* A string (or an array of strings: relay names) with a NUL inside: C code would read it
 * cut short, so "g1\u0000junk" would name g1. Objects (events, filters) carry strings as
 * data and are checked where they are read. */
static bool has_nul(const json_t *v)
{
	size_t i;
	json_t *e;

	if (json_is_string(v))
		return json_string_length(v) != strlen(json_string_value(v));
	json_array_foreach(v, i, e)
		if (json_is_string(e) && json_string_length(e) != strlen(json_string_value(e)))
			return true;
	return false;
}

static const struct field_def *find_field(const struct op_def *op, const char *name)
{
	for (const struct field_def *f = op->fields; f->name; f++)
		if (streq(f->name, name))
			return f;
	return NULL;
}

static int check_fields(struct reqparse *p)
{
	const struct op_def *op = p->op;
	const char *key;
	json_t *v;

	json_object_foreach(p->req, key, v) {
		const struct field_def *f;
		if (streq(key, RP_F_ID) || streq(key, RP_F_OP))
			continue;
		f = find_field(op, key);
		if (!f)
			return fail(p, RP_ERR_UNKNOWN_FIELD, "op \"%s\" has no field \"%s\"", op->name, key);
		if (!(json_type_bit(v) & f->types))
			return fail(p, RP_ERR_INVALID_FIELD, "field \"%s\" must be %s", key, ops_type_name(f->types));
		if (has_nul(v))
			return fail(p, RP_ERR_INVALID_FIELD, "field \"%s\" must not contain a NUL character (\\u0000)", key);
	}
	for (const struct field_def *f = op->fields; f->name; f++)
		if (f->required && !json_object_get(p->req, f->name))
			return fail(p, RP_ERR_MISSING_FIELD, "op \"%s\" needs field \"%s\"", op->name, f->name);
	return 0;
}

int reqparse_line(const char *line, size_t len, struct reqparse *p)
{
	json_error_t jerr;
	json_t *id, *opv;

	memset(p, 0, sizeof(*p));
	p->req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
	if (!p->req)
		return fail(p, RP_ERR_INVALID_JSON, "invalid JSON at column %d: %s", jerr.column, jerr.text);
	if (!json_is_object(p->req))
		return fail(p, RP_ERR_NOT_OBJECT, "a request must be a JSON object");
	id = json_object_get(p->req, RP_F_ID);
	if (id && (json_is_object(id) || json_is_array(id)))
		return fail(p, RP_ERR_INVALID_ID, "\"id\" must be a string, number, boolean or null");
	p->id = id;
	opv = json_object_get(p->req, RP_F_OP);
	if (!opv)
		return fail(p, RP_ERR_MISSING_OP, "a request needs an \"op\" member");
	if (!json_is_string(opv))
		return fail(p, RP_ERR_INVALID_FIELD, "field \"op\" must be a string");
	/* A name is compared whole: "status\u0000junk" is not "status" (NOTES.md). */
	p->op = json_string_length(opv) == strlen(json_string_value(opv)) ? ops_find(json_string_value(opv)) : NULL;
	if (!p->op)
		return fail(p, RP_ERR_UNKNOWN_OP, "unknown op \"%s\"", json_string_value(opv));
	return check_fields(p);
}

void reqparse_clear(struct reqparse *p)
{
	json_decref(p->req);
	memset(p, 0, sizeof(*p));
}
