/* util.c - the few helpers util.h cannot hold inline. */
#include <stdarg.h>
#include <stdio.h>

#include "util.h"

char *strdupf(const char *fmt, ...)
{
	char *s;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}
