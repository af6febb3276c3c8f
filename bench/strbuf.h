/* strbuf.h - a growing byte buffer for building replies, reused across messages so the hot
 * path does not allocate once it has warmed up. Out of memory aborts: these are bench tools. */
#ifndef RELAYPOOL_STRBUF_H
#define RELAYPOOL_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *p;
	size_t len, cap;
};

void strbuf_reserve(struct strbuf *b, size_t extra);
void strbuf_put(struct strbuf *b, const void *p, size_t n);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_putc(struct strbuf *b, char c);
/* Appends s (n bytes, may hold NULs) as a JSON string literal, quotes included. */
void strbuf_json_string(struct strbuf *b, const char *s, size_t n);
static inline void strbuf_reset(struct strbuf *b)
{
	b->len = 0;
}
void strbuf_free(struct strbuf *b);

#endif
