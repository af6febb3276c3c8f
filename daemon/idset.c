/* idset.c - see idset.h. An open-addressing table of fingerprints (linear probing,
 * backward-shift deletion, at most half full) and a ring of the same fingerprints in the
 * order they came, which says which one to forget next. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "idset.h"

struct idset {
	uint64_t *table; /* 0 = empty */
	size_t tcap;     /* power of two */
	uint64_t *ring;
	size_t rcap, cap; /* ring grows to cap */
	size_t head, n;   /* oldest at ring[head] */
};

static uint64_t fingerprint(const uint8_t id[32])
{
	return idmap_hash(id) | 1; /* never 0, the empty mark */
}

struct idset *idset_new(size_t cap)
{
	struct idset *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cap = cap ? cap : 1;
	return s;
}

void idset_free(struct idset *s)
{
	if (!s)
		return;
	free(s->table);
	free(s->ring);
	free(s);
}

/* The slot holding fp, or the empty slot where it would go. */
static size_t find(const struct idset *s, uint64_t fp)
{
	size_t mask = s->tcap - 1, i = (size_t)fp & mask;

	while (s->table[i] && s->table[i] != fp)
		i = (i + 1) & mask;
	return i;
}

bool idset_has(const struct idset *s, const uint8_t id[32])
{
	uint64_t fp;

	if (!s->n)
		return false;
	fp = fingerprint(id);
	return s->table[find(s, fp)] == fp;
}

static void remove_at(struct idset *s, size_t i)
{
	size_t mask = s->tcap - 1, j = i;

	for (;;) {
		size_t home;
		bool stays;
		j = (j + 1) & mask;
		if (!s->table[j])
			break;
		home = (size_t)s->table[j] & mask;
		/* The entry at j may move back to i unless its home lies cyclically in (i, j]. */
		stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			s->table[i] = s->table[j];
			i = j;
		}
	}
	s->table[i] = 0;
}

static int grow_table(struct idset *s)
{
	size_t ncap = s->tcap ? s->tcap * 2 : 64;
	uint64_t *old = s->table, *t = calloc(ncap, sizeof(*t));
	size_t ocap = s->tcap;

	if (!t)
		return -ENOMEM;
	s->table = t;
	s->tcap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i])
			s->table[find(s, old[i])] = old[i];
	free(old);
	return 0;
}

static int grow_ring(struct idset *s)
{
	size_t ncap = s->rcap ? s->rcap * 2 : 32;
	uint64_t *r;

	if (ncap > s->cap)
		ncap = s->cap;
	/* The ring only wraps once it holds cap entries, so until then it is in order. */
	r = realloc(s->ring, ncap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	s->ring = r;
	s->rcap = ncap;
	return 0;
}

int idset_add(struct idset *s, const uint8_t id[32])
{
	uint64_t fp = fingerprint(id);
	size_t i;

	if (s->n && s->table[find(s, fp)] == fp)
		return 0;
	if (s->n == s->cap) {
		/* Forget the oldest. */
		remove_at(s, find(s, s->ring[s->head]));
		s->head = (s->head + 1) % s->cap;
		s->n--;
	}
	if ((s->n + 1) * 2 > s->tcap && grow_table(s) < 0)
		return -ENOMEM;
	if (s->n == s->rcap && grow_ring(s) < 0)
		return -ENOMEM;
	i = find(s, fp);
	s->table[i] = fp;
	s->ring[(s->head + s->n) % s->rcap] = fp;
	s->n++;
	return 1;
}

size_t idset_size(const struct idset *s)
{
	return s->n;
}

size_t idset_bytes(const struct idset *s)
{
	return sizeof(*s) + (s->tcap + s->rcap) * sizeof(uint64_t);
}
