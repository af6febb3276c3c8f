/* bench_event.c - the cost of events on one core: BIP-340 verification and signing (ours
 * next to bare libsecp256k1, which is the floor), and parse + canonical serialization +
 * SHA-256 for a small (~200 B) and a large (64 KiB) event. Prints a markdown table.
 *
 * Usage: bench_event [SECONDS_PER_MEASUREMENT]   (default 0.5; 3 rounds) */
#include <secp256k1_schnorrsig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "hex.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs fn in batches until budget seconds have passed; returns operations per second. */
static double rate(double budget, void (*fn)(void *), void *arg)
{
	double start = now(), elapsed;
	unsigned long long n = 0;

	do {
		for (int i = 0; i < 64; i++)
			fn(arg);
		n += 64;
		elapsed = now() - start;
	} while (elapsed < budget);
	return (double)n / elapsed;
}

struct fixture {
	secp256k1_keypair kp;
	secp256k1_xonly_pubkey xpk;
	struct nostr_event ev;
	char *text;
	size_t len;
};

static volatile int sink;

static void raw_verify(void *p)
{
	struct fixture *f = p;
	sink += secp256k1_schnorrsig_verify(event_secp_context(), f->ev.sig, f->ev.id, 32, &f->xpk);
}

static void raw_verify_with_key_parse(void *p)
{
	struct fixture *f = p;
	secp256k1_xonly_pubkey pk;
	sink += secp256k1_xonly_pubkey_parse(event_secp_context(), &pk, f->ev.pubkey) &&
		secp256k1_schnorrsig_verify(event_secp_context(), f->ev.sig, f->ev.id, 32, &pk);
}

static void our_verify(void *p)
{
	struct fixture *f = p;
	sink += event_verify(&f->ev, NULL);
}

static void parse_and_verify(void *p)
{
	struct fixture *f = p;
	struct nostr_event ev;
	if (event_parse(f->text, f->len, &ev, NULL) == 0)
		sink += event_verify(&ev, NULL);
	event_clear(&ev);
}

static void parse_serialize_hash(void *p)
{
	struct fixture *f = p;
	struct nostr_event ev;
	uint8_t id[32];
	if (event_parse(f->text, f->len, &ev, NULL) == 0)
		sink += event_compute_id(&ev, id);
	event_clear(&ev);
}

static void raw_sign(void *p)
{
	struct fixture *f = p;
	unsigned char sig[64];
	sink += secp256k1_schnorrsig_sign32(event_secp_context(), sig, f->ev.id, &f->kp, NULL);
}

static void our_sign(void *p)
{
	struct fixture *f = p;
	struct nostr_event ev;
	json_t *t = json_pack("{s:i, s:s, s:i}", "kind", 1, "content", "benchmark", "created_at", 1700000000);
	sink += event_sign_template(t, &f->kp, &ev, NULL);
	event_clear(&ev);
	json_decref(t);
}

static void make_fixture(struct fixture *f, size_t content_len)
{
	uint8_t sk[32];
	char *content = malloc(content_len + 1);
	json_t *t;

	hex_decode("b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfef", 64, sk);
	if (!secp256k1_keypair_create(event_secp_context(), &f->kp, sk) ||
	    !secp256k1_keypair_xonly_pub(event_secp_context(), &f->xpk, NULL, &f->kp))
		abort();
	for (size_t i = 0; i < content_len; i++)
		content[i] = (char)('a' + i % 26);
	content[content_len] = '\0';
	t = json_pack("{s:i, s:s, s:[[s,s]], s:i}", "kind", 1, "content", content, "tags", "t", "bench",
		      "created_at", 1700000000);
	if (event_sign_template(t, &f->kp, &f->ev, NULL) < 0)
		abort();
	f->text = json_dumps(f->ev.obj, JSON_COMPACT);
	f->len = strlen(f->text);
	json_decref(t);
	free(content);
}

enum { R_FLOOR, R_FLOOR_PK, R_OURS, R_FULL, R_PS_SMALL, R_PS_LARGE, R_SIGN_RAW, R_SIGN_OURS, R__MAX };

int main(int argc, char **argv)
{
	double budget = argc > 1 ? atof(argv[1]) : 0.5;
	struct fixture small, large;
	struct {
		void (*fn)(void *);
		struct fixture *f;
	} rows[R__MAX] = {
		{ raw_verify, &small },	      { raw_verify_with_key_parse, &small }, { our_verify, &small },
		{ parse_and_verify, &small }, { parse_serialize_hash, &small },      { parse_serialize_hash, &large },
		{ raw_sign, &small },	      { our_sign, &small },
	};
	double best[R__MAX] = { 0 };

	make_fixture(&small, 200);
	make_fixture(&large, 64 * 1024);
	/* Rounds interleave the rows so a noisy moment hits all of them; each keeps its best. */
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < R__MAX; i++) {
			double v = rate(budget, rows[i].fn, rows[i].f);
			if (v > best[i])
				best[i] = v;
		}

	printf("| measure (one core, best of 3) | result | note |\n|---|---|---|\n");
	printf("| libsecp256k1 schnorrsig_verify | %.0f /s | pubkey already parsed |\n", best[R_FLOOR]);
	printf("| libsecp256k1 xonly_pubkey_parse + verify (floor) | %.0f /s | the least any verifier does per event |\n",
	       best[R_FLOOR_PK]);
	printf("| event_verify: canonical id + SHA-256 + floor | %.0f /s | %.1f%% over the floor |\n", best[R_OURS],
	       (best[R_FLOOR_PK] / best[R_OURS] - 1) * 100);
	printf("| event_parse (jansson) + event_verify, %zu B JSON | %.0f /s | %.1f%% over the floor |\n", small.len,
	       best[R_FULL], (best[R_FLOOR_PK] / best[R_FULL] - 1) * 100);
	printf("| parse + serialize + SHA-256, %zu B event (200 B content) | %.2f us/event | |\n", small.len,
	       1e6 / best[R_PS_SMALL]);
	printf("| parse + serialize + SHA-256, %zu B event (64 KiB content) | %.1f us/event | %.0f MB/s |\n", large.len,
	       1e6 / best[R_PS_LARGE], best[R_PS_LARGE] * (double)large.len / 1e6);
	printf("| libsecp256k1 schnorrsig_sign32 | %.0f /s | |\n", best[R_SIGN_RAW]);
	printf("| event_sign_template: build + id + sign + self-verify | %.0f /s | |\n", best[R_SIGN_OURS]);
	event_clear(&small.ev);
	event_clear(&large.ev);
	free(small.text);
	free(large.text);
	return sink == 42 ? 1 : 0;
}
