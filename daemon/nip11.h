/* nip11.h - fetching relays' NIP-11 information documents: an HTTP(S) GET of the relay's
 * URL with "Accept: application/nostr+json", the sessions' TLS rule (ws_client_ssl), at most
 * 256 KiB, within the relay's connect_timeout. The document (or why there is none) goes to
 * relay_set_info; a missing or broken document means no limits from the relay. */
#ifndef RELAYPOOL_NIP11_H
#define RELAYPOOL_NIP11_H

#include "session.h"

struct nip11;
struct relay;

int nip11_new(const struct session_env *env, struct nip11 **out);
/* Fetches still out end without a result. */
void nip11_free(struct nip11 *N);
/* Starts a fetch for r (holding a reference until it ends). */
void nip11_fetch(struct nip11 *N, struct relay *r);

#endif
