/* fuzz_wsurl.c - relay URLs: parse, and format(parse(x)) parses to the same URL. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wsurl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), buf[1400], buf2[1400];
	struct wsurl u, v;
	const char *why;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (wsurl_parse(s, &u, &why) == 0) {
		wsurl_format(&u, buf, sizeof(buf));
		if (wsurl_parse(buf, &v, &why) != 0)
			abort();
		wsurl_format(&v, buf2, sizeof(buf2));
		if (strcmp(buf, buf2) != 0)
			abort();
	}
	free(s);
	return 0;
}
