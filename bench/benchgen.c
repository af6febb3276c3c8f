/* benchgen.c - deterministic benchmark events. We build the event object with placeholder id
 * and sig, let common/event.c compute the canonical id, then sign it with aux = NULL so the
 * signature (and so the whole JSON text) is reproducible. One signature per event. */
#include <errno.h>
#include <openssl/evp.h>
#include <secp256k1_schnorrsig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchgen.h"
#include "event.h"
#include "hex.h"

struct benchgen_key {
	secp256k1_keypair kp;
	char pub_hex[65];
};

struct benchgen {
	unsigned nkeys;
	struct benchgen_key keys[];
};

static const char zeros[129] = "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
			       "000000000000000000000000000000000000000000000000";

static int derive_key(unsigned i, struct benchgen_key *k)
{
	const secp256k1_context *ctx = event_secp_context();
	char seed[64];
	uint8_t sk[32], pub[32];
	unsigned int n = 0;
	secp256k1_xonly_pubkey xpk;
	int len = snprintf(seed, sizeof(seed), "relaypool-bench-key:%u", i);

	if (EVP_Digest(seed, (size_t)len, sk, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return -EIO;
	if (!secp256k1_keypair_create(ctx, &k->kp, sk) || !secp256k1_keypair_xonly_pub(ctx, &xpk, NULL, &k->kp) ||
	    !secp256k1_xonly_pubkey_serialize(ctx, pub, &xpk))
		return -EINVAL;
	hex_encode(pub, 32, k->pub_hex);
	return 0;
}

struct benchgen *benchgen_new(unsigned nkeys)
{
	struct benchgen *g;

	if (nkeys == 0)
		nkeys = 1;
	g = calloc(1, sizeof(*g) + nkeys * sizeof(g->keys[0]));
	if (!g)
		return NULL;
	g->nkeys = nkeys;
	for (unsigned i = 0; i < nkeys; i++)
		if (derive_key(i, &g->keys[i]) < 0) {
			free(g);
			return NULL;
		}
	return g;
}

void benchgen_free(struct benchgen *g)
{
	free(g);
}

static json_t *build_object(const struct benchgen_key *k, uint64_t i, int64_t created_at, size_t content_len)
{
	char head[64];
	int n = snprintf(head, sizeof(head), "relaypool bench event %llu", (unsigned long long)i);
	size_t clen = (size_t)n > content_len ? (size_t)n : content_len;
	char *content = malloc(clen + 1);
	json_t *obj;

	if (!content)
		return NULL;
	memcpy(content, head, (size_t)n);
	memset(content + n, '.', clen - (size_t)n);
	content[clen] = '\0';
	obj = json_pack("{s:s, s:s, s:I, s:i, s:[], s:s%, s:s}", "id", zeros + 64, "pubkey", k->pub_hex,
			"created_at", (json_int_t)created_at, "kind", 1, "tags", "content", content, clen, "sig",
			zeros);
	free(content);
	return obj;
}

int benchgen_event(struct benchgen *g, uint64_t i, int64_t created_at, size_t content_len, char **json,
		   size_t *len, char id_hex[65])
{
	const struct benchgen_key *k = &g->keys[i % g->nkeys];
	struct nostr_event ev;
	uint8_t id[32], sig[64];
	char sig_hex[129];
	json_t *obj = build_object(k, i, created_at, content_len);
	int r = -ENOMEM;

	if (!obj)
		return -ENOMEM;
	if (event_from_json(obj, &ev, NULL) < 0) {
		r = -EINVAL;
		goto out;
	}
	r = event_compute_id(&ev, id);
	event_clear(&ev);
	if (r < 0)
		goto out;
	if (!secp256k1_schnorrsig_sign32(event_secp_context(), sig, id, &k->kp, NULL)) {
		r = -EINVAL;
		goto out;
	}
	hex_encode(id, 32, id_hex);
	hex_encode(sig, 64, sig_hex);
	if (json_object_set_new(obj, "id", json_string(id_hex)) < 0 ||
	    json_object_set_new(obj, "sig", json_string(sig_hex)) < 0) {
		r = -ENOMEM;
		goto out;
	}
	*json = json_dumps(obj, JSON_COMPACT);
	if (!*json) {
		r = -ENOMEM;
		goto out;
	}
	*len = strlen(*json);
	r = 0;
out:
	json_decref(obj);
	return r;
}
