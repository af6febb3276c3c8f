/* key.c - the daemon's secret key. It is read straight into one page that is locked in RAM
 * (mlock: never swapped) and excluded from core dumps (MADV_DONTDUMP), kept there as a
 * secp256k1 keypair, and wiped before the page is unmapped. The secret is never logged,
 * printed or sent; only the public key leaves this file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "event.h"
#include "hex.h"
#include "key.h"
#include "log.h"
#include "nip19.h"

/* The page: file bytes while parsing, then only the keypair. */
struct key_page {
	secp256k1_keypair keypair;
	uint8_t secret[32];
	char text[2048];
};

struct key {
	struct key_page *page;
	uint8_t pubkey[32];
	char pubkey_hex[65];
};

static char *trim(char *s)
{
	char *e = s + strlen(s);

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Sets *why to the formatted message; returns -EINVAL for "return set_why(...)". */
#define set_why(why, ...) ({ *(why) = strdupf(__VA_ARGS__); -EINVAL; })

/* Reads the key file into page->text after checking it is private. */
static int read_private_file(const char *path, struct key_page *page, char **why)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return set_why(why, "%s: cannot open the key file: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return set_why(why, "%s: the key file is not a regular file", path);
	}
	if (st.st_mode & 077) {
		char mode[64];
		snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
		close(fd);
		return set_why(why, "%s: the key file is accessible by group or others (mode %s); "
				    "run chmod 600 on it",
			       path, mode);
	}
	n = read(fd, page->text, sizeof(page->text) - 1);
	close(fd);
	if (n < 0)
		return set_why(why, "%s: cannot read the key file: %s", path, strerror(errno));
	if ((size_t)n == sizeof(page->text) - 1)
		return set_why(why, "%s: the key file is too large for a key", path);
	page->text[n] = '\0';
	return 0;
}

/* 64 hex characters or nsec1...; the secret goes to page->secret. */
static int parse_secret(const char *path, struct key_page *page, char **why)
{
	char *s = trim(page->text);
	size_t n = strlen(s);

	if (n == 64 && hex_decode(s, 64, page->secret) == 0)
		return 0;
	if (strncasecmp(s, "nsec1", 5) == 0) { /* BIP-173: all lower or all upper case */
		if (nip19_decode_hrp(s, "nsec", page->secret) == 0)
			return 0;
		return set_why(why, "%s: the nsec in the key file is invalid (bad checksum or length)", path);
	}
	return set_why(why, "%s: the key file must hold 64 hex characters or an nsec1... string", path);
}

int key_load(const char *path, struct key **out, char **why)
{
	const secp256k1_context *ctx = event_secp_context();
	struct key *k = calloc(1, sizeof(*k));
	secp256k1_xonly_pubkey xpk;
	long pagesize = sysconf(_SC_PAGESIZE);
	size_t len = sizeof(struct key_page) <= (size_t)pagesize ? (size_t)pagesize : sizeof(struct key_page);
	int r;

	*why = NULL;
	if (!k)
		return -ENOMEM;
	k->page = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (k->page == MAP_FAILED) {
		free(k);
		return -ENOMEM;
	}
	if (madvise(k->page, len, MADV_DONTDUMP) < 0)
		log_warn("key: cannot exclude the key from core dumps: %m, ignoring");
	if (mlock(k->page, len) < 0)
		log_warn("key: cannot lock the key in memory (it may be swapped): %m, ignoring");
	r = read_private_file(path, k->page, why);
	if (r == 0)
		r = parse_secret(path, k->page, why);
	explicit_bzero(k->page->text, sizeof(k->page->text));
	if (r == 0 && !secp256k1_keypair_create(ctx, &k->page->keypair, k->page->secret))
		r = set_why(why, "%s: the key file holds an invalid secp256k1 secret key", path);
	explicit_bzero(k->page->secret, sizeof(k->page->secret));
	if (r == 0 && (!secp256k1_keypair_xonly_pub(ctx, &xpk, NULL, &k->page->keypair) ||
		       !secp256k1_xonly_pubkey_serialize(ctx, k->pubkey, &xpk)))
		r = set_why(why, "%s: cannot derive the public key", path);
	if (r < 0) {
		key_free(k);
		return r;
	}
	hex_encode(k->pubkey, 32, k->pubkey_hex);
	*out = k;
	return 0;
}

const secp256k1_keypair *key_keypair(const struct key *k)
{
	return &k->page->keypair;
}

const char *key_pubkey_hex(const struct key *k)
{
	return k->pubkey_hex;
}

void key_free(struct key *k)
{
	long pagesize = sysconf(_SC_PAGESIZE);
	size_t len = sizeof(struct key_page) <= (size_t)pagesize ? (size_t)pagesize : sizeof(struct key_page);

	if (!k)
		return;
	explicit_bzero(k->page, sizeof(*k->page));
	munlock(k->page, len);
	munmap(k->page, len);
	free(k);
}

int key_sign_auth(const struct key *k, const char *relay_url, const char *challenge, char **json, uint8_t id[32])
{
	json_t *tmpl = json_pack("{s:i, s:s, s:[[s, s], [s, s]]}", "kind", 22242, "content", "", "tags", "relay",
				 relay_url, "challenge", challenge);
	struct nostr_event ev;
	struct event_error err;
	int r;

	if (!tmpl)
		return -ENOMEM;
	r = event_sign_template(tmpl, key_keypair(k), &ev, &err);
	json_decref(tmpl);
	if (r < 0)
		return -EINVAL;
	*json = json_dumps(ev.obj, JSON_COMPACT);
	memcpy(id, ev.id, 32);
	event_clear(&ev);
	return *json ? 0 : -ENOMEM;
}
