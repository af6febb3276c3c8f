/* wsurl.c - strict parsing of relay URLs. Relay URLs are simple (scheme, host, port, path),
 * so a small parser here beats pulling a general URI library into both binaries. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "wsurl.h"

static int parse_port(const char *s, size_t n, uint16_t *port)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static bool valid_hostname(const char *h)
{
	for (const char *p = h; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
			return false;
	return *h != '\0';
}

/* Splits the authority "host[:port]" or "[v6][:port]" into u. */
static int parse_authority(const char *a, size_t n, struct wsurl *u, const char **why)
{
	const char *host = a, *colon = NULL;
	size_t hlen;
	unsigned char tmp[sizeof(struct in6_addr)];

	if (n > 0 && a[0] == '[') {
		const char *close = memchr(a, ']', n);
		if (!close)
			return *why = "unterminated IPv6 literal", -EINVAL;
		host = a + 1;
		hlen = (size_t)(close - host);
		if (close + 1 < a + n) {
			if (close[1] != ':')
				return *why = "garbage after IPv6 literal", -EINVAL;
			colon = close + 1;
		}
		u->host_is_ipv6 = true;
	} else {
		colon = memchr(a, ':', n);
		hlen = colon ? (size_t)(colon - a) : n;
	}
	if (hlen == 0)
		return *why = "missing host", -EINVAL;
	if (hlen >= sizeof(u->host))
		return *why = "host name too long", -EINVAL;
	for (size_t i = 0; i < hlen; i++)
		u->host[i] = (char)tolower((unsigned char)host[i]);
	u->host[hlen] = '\0';
	if (colon && parse_port(colon + 1, (size_t)(a + n - colon - 1), &u->port) < 0)
		return *why = "invalid port (expected 1-65535)", -EINVAL;
	if (u->host_is_ipv6) {
		if (inet_pton(AF_INET6, u->host, tmp) != 1)
			return *why = "invalid IPv6 literal", -EINVAL;
		u->host_is_ip = true;
	} else {
		if (!valid_hostname(u->host))
			return *why = "invalid character in host name", -EINVAL;
		u->host_is_ip = inet_pton(AF_INET, u->host, tmp) == 1;
	}
	return 0;
}

int wsurl_parse(const char *s, struct wsurl *u, const char **why)
{
	const char *rest, *slash;
	size_t plen;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "wss://", 6) == 0) {
		u->tls = true;
		u->port = 443;
		rest = s + 6;
	} else if (strncasecmp(s, "ws://", 5) == 0) {
		u->port = 80;
		rest = s + 5;
	} else {
		return *why = "expected a ws:// or wss:// URL", -EINVAL;
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return *why = "URL contains spaces, control or non-ASCII characters", -EINVAL;
	if (strchr(s, '#'))
		return *why = "URL fragments are not allowed", -EINVAL;
	slash = strpbrk(rest, "/?");
	plen = slash ? (size_t)(slash - rest) : strlen(rest);
	if (memchr(rest, '@', plen))
		return *why = "user info in relay URLs is not supported", -EINVAL;
	if (parse_authority(rest, plen, u, why) < 0)
		return -EINVAL;
	if (!slash)
		strcpy(u->path, "/");
	else if (*slash == '?')
		snprintf(u->path, sizeof(u->path), "/%s", slash);
	else if (strlen(slash) >= sizeof(u->path))
		return *why = "path too long", -EINVAL;
	else
		strcpy(u->path, slash);
	return 0;
}

void wsurl_host_header(const struct wsurl *u, char *buf, size_t len)
{
	bool dflt = u->port == (u->tls ? 443 : 80);
	const char *l = u->host_is_ipv6 ? "[" : "", *r = u->host_is_ipv6 ? "]" : "";

	if (dflt)
		snprintf(buf, len, "%s%s%s", l, u->host, r);
	else
		snprintf(buf, len, "%s%s%s:%u", l, u->host, r, u->port);
}

void wsurl_format(const struct wsurl *u, char *buf, size_t len)
{
	char hh[300];

	wsurl_host_header(u, hh, sizeof(hh));
	snprintf(buf, len, "%s://%s%s", u->tls ? "wss" : "ws", hh, u->path);
}
