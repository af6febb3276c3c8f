/* fuzz_event.c - event parsing, the id check and the canonical text: anything a relay or a
 * client sends as an event. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nostr_event ev;
	struct event_error err;
	char *ser;
	size_t len;

	if (event_parse((const char *)data, size, &ev, &err) == 0) {
		uint8_t id[32];
		const char *text = event_json(&ev, &len);
		struct nostr_event back;
		if (event_serialize(&ev, &ser, &len) == 0)
			free(ser);
		event_compute_id(&ev, id);
		/* The wire text parses back to the same event. */
		if (text && event_parse(text, strlen(text), &back, &err) == 0) {
			if (memcmp(back.id, ev.id, 32) != 0)
				abort();
			event_clear(&back);
		}
		event_clear(&ev);
	}
	return 0;
}
