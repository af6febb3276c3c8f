/* wsurl.h - WebSocket relay URLs (ws:// and wss://): parsing, validation, normal form. */
#ifndef RELAYPOOL_WSURL_H
#define RELAYPOOL_WSURL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wsurl {
	bool tls;          /* wss:// */
	char host[256];    /* lowercased; IPv6 literals without brackets */
	bool host_is_ip;   /* an IPv4 or IPv6 literal (no SNI for those) */
	bool host_is_ipv6; /* needs brackets when printed */
	uint16_t port;     /* explicit or the scheme default */
	char path[1024];   /* starts with '/', includes any query string */
};

/* Returns 0, or -EINVAL with a static reason in *why. */
int wsurl_parse(const char *s, struct wsurl *u, const char **why);
/* Normal form: lowercase scheme and host, default port omitted, path always present. */
void wsurl_format(const struct wsurl *u, char *buf, size_t len);
/* "host:port" as sent in the Host header (brackets for IPv6, default port omitted). */
void wsurl_host_header(const struct wsurl *u, char *buf, size_t len);

#endif
