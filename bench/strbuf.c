/* strbuf.c - growing byte buffer and JSON string escaping for the bench tools. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

void strbuf_reserve(struct strbuf *b, size_t extra)
{
	size_t want = b->len + extra;

	if (want <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		abort();
	b->p = p;
	b->cap = cap;
}

void strbuf_put(struct strbuf *b, const void *p, size_t n)
{
	strbuf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void strbuf_puts(struct strbuf *b, const char *s)
{
	strbuf_put(b, s, strlen(s));
}

void strbuf_putc(struct strbuf *b, char c)
{
	strbuf_reserve(b, 1);
	b->p[b->len++] = c;
}

void strbuf_json_string(struct strbuf *b, const char *s, size_t n)
{
	/* Worst case every byte becomes \u00XX. */
	strbuf_reserve(b, n * 6 + 2);
	char *o = b->p + b->len;

	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': *o++ = '\\'; *o++ = '"'; break;
		case '\\': *o++ = '\\'; *o++ = '\\'; break;
		case '\b': *o++ = '\\'; *o++ = 'b'; break;
		case '\f': *o++ = '\\'; *o++ = 'f'; break;
		case '\n': *o++ = '\\'; *o++ = 'n'; break;
		case '\r': *o++ = '\\'; *o++ = 'r'; break;
		case '\t': *o++ = '\\'; *o++ = 't'; break;
		default:
			if (c < 0x20) {
				snprintf(o, 7, "\\u%04x", c);
				o += 6;
			} else {
				*o++ = (char)c;
			}
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
}

void strbuf_free(struct strbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
