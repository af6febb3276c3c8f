/* fuzz_filter.c - NIP-01 filters: validation, the canonical key, and matching against a
 * fixed event. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event.h"
#include "filter.h"

static const char EVENT[] = "{\"id\":\"4376c65d2f232afbe9b882a35baa4f6fe8667c4e684749af565f981833ed6a65\","
	"\"pubkey\":\"6e468422dfb74a5738702a8823b9b28168abab8655faacb6853cd0ee15deee93\",\"created_at\":1673347337,"
	"\"kind\":1,\"tags\":[[\"e\",\"3da979448d9ba263864c4d6f14984c423a3838364ec255f03c7904b1ae77f206\"],"
	"[\"p\",\"bf2376e17ba4ec269d10fcc996a4746b451152be9031fa48e74553dde5526bce\"]],\"content\":\"hello\","
	"\"sig\":\"908a15e46fb4d8675bab026fc230a0e3542bfade63da02d542fb78b2a8513fcd0092619a2c8c1221e581946e0191f2af505dfdf8657a414dbca329186f009262\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct nostr_event ev;
	static int ready;
	struct event_error err;
	char why[256];
	json_t *f = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);

	if (!ready)
		ready = event_parse(EVENT, strlen(EVENT), &ev, &err) == 0 ? 1 : -1;
	if (f && filter_validate(f, why, sizeof(why)) == 0) {
		free(filter_key(f));
		if (ready > 0)
			filter_match(f, &ev);
	}
	json_decref(f);
	return 0;
}
