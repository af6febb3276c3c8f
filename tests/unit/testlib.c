/* testlib.c - see testlib.h. */
#include "clock.h"
#include "testlib.h"

int signed_events(struct nostr_event *ev, int n, uint8_t key_byte, const char *content)
{
	uint8_t sk[32] = { [31] = key_byte };
	secp256k1_keypair kp;

	if (!secp256k1_keypair_create(event_secp_context(), &kp, sk))
		return -1;
	for (int i = 0; i < n; i++) {
		struct event_error err;
		json_t *t = json_pack("{s:i, s:i, s:s}", "kind", 1, "created_at", 1700000000 + i, "content", content);
		int r = t ? event_sign_template(t, &kp, &ev[i], &err) : -1;
		json_decref(t);
		if (r < 0)
			return -1;
	}
	return 0;
}

void signed_events_clear(struct nostr_event *ev, int n)
{
	for (int i = 0; i < n; i++)
		event_clear(&ev[i]);
}

bool run_until(struct event_base *base, bool (*cond)(void *), void *arg, unsigned ms)
{
	uint64_t deadline = clock_now_us() + (uint64_t)ms * 1000;
	struct timeval slice = { 0, 5000 };

	while (!cond(arg)) {
		if (clock_now_us() > deadline)
			return false;
		event_base_loopexit(base, &slice);
		event_base_dispatch(base);
	}
	return true;
}
