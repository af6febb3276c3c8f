/* benchws.c - HTTP/1.1 Upgrade helpers, clock, PRNG and fd limit shared by the bench tools. */
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>

#include "benchws.h"

uint64_t benchws_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void benchws_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

uint64_t benchws_rand(void)
{
	static uint64_t s;

	while (s == 0)
		if (getrandom(&s, sizeof(s), 0) != sizeof(s))
			s = benchws_now_ns() | 1;
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return s * 0x2545F4914F6CDD1DULL;
}

void benchws_accept_key(const char *key, size_t keylen, char out[29])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	/* SHA-1 is what RFC 6455 prescribes; it is not used for security here. */
	if (!c || EVP_DigestInit_ex(c, EVP_sha1(), NULL) != 1 || EVP_DigestUpdate(c, key, keylen) != 1 ||
	    EVP_DigestUpdate(c, BENCHWS_GUID, strlen(BENCHWS_GUID)) != 1 || EVP_DigestFinal_ex(c, md, &mdlen) != 1 ||
	    mdlen != 20)
		abort();
	EVP_MD_CTX_free(c);
	EVP_EncodeBlock((unsigned char *)out, md, 20);
	out[28] = '\0';
}

void benchws_new_key(char out[25])
{
	unsigned char raw[16];

	for (size_t i = 0; i < sizeof(raw); i += 8) {
		uint64_t r = benchws_rand();
		memcpy(raw + i, &r, 8);
	}
	EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw));
	out[24] = '\0';
}

int benchws_take_head(struct evbuffer *in, char *out, size_t outsz)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	size_t have = evbuffer_get_length(in);

	if (end.pos < 0)
		return have >= outsz ? -1 : 0;
	if ((size_t)end.pos >= outsz)
		return -1;
	if (evbuffer_remove(in, out, (size_t)end.pos) != (int)end.pos)
		return -1;
	out[end.pos] = '\0';
	evbuffer_drain(in, 4);
	return (int)end.pos;
}

bool benchws_header(const char *head, const char *name, char *val, size_t vallen)
{
	size_t nlen = strlen(name);
	const char *line = strstr(head, "\r\n");

	/* The first line is the request or status line; headers follow, one per line. */
	while (line) {
		const char *start = line + 2, *next = strstr(start, "\r\n");
		const char *stop = next ? next : start + strlen(start);

		if ((size_t)(stop - start) > nlen && strncasecmp(start, name, nlen) == 0 && start[nlen] == ':') {
			const char *v = start + nlen + 1;
			size_t n;

			while (v < stop && (*v == ' ' || *v == '\t'))
				v++;
			while (stop > v && (stop[-1] == ' ' || stop[-1] == '\t'))
				stop--;
			n = (size_t)(stop - v);
			if (n >= vallen)
				return false;
			memcpy(val, v, n);
			val[n] = '\0';
			return true;
		}
		line = next;
	}
	return false;
}

bool benchws_has_token(const char *list, const char *token)
{
	size_t tlen = strlen(token);
	const char *p = list;

	while (*p) {
		const char *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		end = p;
		while (*end && *end != ',')
			end++;
		const char *t = end;
		while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - p) == tlen && strncasecmp(p, token, tlen) == 0)
			return true;
		p = end;
	}
	return false;
}

int benchws_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int benchws_parse_port(const char *s, uint16_t *port)
{
	uint64_t v;

	if (benchws_parse_u64(s, 65535, &v) < 0)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}
