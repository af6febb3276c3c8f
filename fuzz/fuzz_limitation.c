/* fuzz_limitation.c - NIP-11 limitation objects from relays (lenient) and from the
 * configuration (strict). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "limitation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_limits l;
	const char *why;
	char buf[128];
	json_t *o = json_loadb((const char *)data, size, 0, NULL);

	if (o) {
		limits_none(&l);
		limits_apply_json(&l, o, true, &why, buf, sizeof(buf));
		limits_apply_json(&l, o, false, &why, buf, sizeof(buf));
		json_decref(limits_json(&l));
		json_decref(o);
	}
	return 0;
}
