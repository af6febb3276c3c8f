/* fuzz_reqparse.c - one control request line, as a client would send it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reqparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reqparse p;

	reqparse_line((const char *)data, size, &p);
	reqparse_clear(&p);
	return 0;
}
