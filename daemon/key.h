/* key.h - the daemon's signing key ([daemon] key): loading with permission checks, and the
 * keypair for event_sign_template. */
#ifndef RELAYPOOL_KEY_H
#define RELAYPOOL_KEY_H

#include <secp256k1_extrakeys.h>
#include <stdint.h>

struct key;

/* Loads a key file holding 64 hex characters or an nsec1 string. Refuses files that group
 * or others can access. Returns 0, or a negative errno with *why set to a malloc'd message
 * (which never contains key material). */
int key_load(const char *path, struct key **out, char **why);
const secp256k1_keypair *key_keypair(const struct key *k);
const char *key_pubkey_hex(const struct key *k);
/* A NIP-42 AUTH event (kind 22242, tags relay and challenge, created now), signed with the
 * key: its compact JSON (malloc'd) and id. 0 or a negative errno. */
int key_sign_auth(const struct key *k, const char *relay_url, const char *challenge, char **json, uint8_t id[32]);
void key_free(struct key *k);

#endif
