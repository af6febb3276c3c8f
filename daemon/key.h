/* key.h - the daemon's signing key ([daemon] key): loading with permission checks, and the
 * keypair for event_sign_template. */
#ifndef RELAYPOOL_KEY_H
#define RELAYPOOL_KEY_H

#include <secp256k1_extrakeys.h>

struct key;

/* Loads a key file holding 64 hex characters or an nsec1 string. Refuses files that group
 * or others can access. Returns 0, or a negative errno with *why set to a malloc'd message
 * (which never contains key material). */
int key_load(const char *path, struct key **out, char **why);
const secp256k1_keypair *key_keypair(const struct key *k);
const char *key_pubkey_hex(const struct key *k);
void key_free(struct key *k);

#endif
