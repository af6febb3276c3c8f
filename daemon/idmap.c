/* idmap.c - see idmap.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"
#include "idmap.h"
#include "siphash.h"

struct slot {
	uint8_t id[32];
	void *value; /* NULL = empty */
};

struct idmap {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t n;
	idmap_hash_fn hash;
};

static struct siphash_key process_key;
static bool process_key_set;

uint64_t idmap_hash(const uint8_t id[32])
{
	if (!process_key_set) {
		uint8_t k[16];
		if (getrandom(k, sizeof(k), 0) != sizeof(k)) {
			/* No entropy this early is near impossible; a clock-derived key still beats none. */
			uint64_t t = clock_now_us();
			memcpy(k, &t, sizeof(t));
			memcpy(k + 8, &t, sizeof(t));
		}
		process_key = siphash_key_from_bytes(k);
		process_key_set = true;
	}
	return siphash24(&process_key, id, 32);
}

static size_t slot_of(const struct idmap *m, const uint8_t id[32])
{
	return (size_t)m->hash(id) & (m->cap - 1);
}

struct idmap *idmap_new_with_hash(idmap_hash_fn hash)
{
	struct idmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->cap = 64;
	m->hash = hash;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return NULL;
	}
	return m;
}

struct idmap *idmap_new(void)
{
	return idmap_new_with_hash(idmap_hash);
}

void idmap_free(struct idmap *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m);
}

static struct slot *find(const struct idmap *m, const uint8_t id[32])
{
	for (size_t i = slot_of(m, id);; i = (i + 1) & (m->cap - 1)) {
		struct slot *s = &m->slots[i];
		if (!s->value || memcmp(s->id, id, 32) == 0)
			return s;
	}
}

void *idmap_get(const struct idmap *m, const uint8_t id[32])
{
	return find(m, id)->value;
}

static int grow(struct idmap *m)
{
	struct idmap bigger = { .cap = m->cap * 2, .hash = m->hash };

	bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
	if (!bigger.slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].value)
			*find(&bigger, m->slots[i].id) = m->slots[i];
	free(m->slots);
	m->slots = bigger.slots;
	m->cap = bigger.cap;
	return 0;
}

int idmap_put(struct idmap *m, const uint8_t id[32], void *value)
{
	struct slot *s;

	/* Keep the load factor under 1/2 so probe runs stay short. */
	if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
		return -ENOMEM;
	s = find(m, id);
	if (!s->value) {
		memcpy(s->id, id, 32);
		m->n++;
	}
	s->value = value;
	return 0;
}

void *idmap_remove(struct idmap *m, const uint8_t id[32])
{
	struct slot *s = find(m, id);
	void *value = s->value;
	size_t hole, i;

	if (!value)
		return NULL;
	m->n--;
	/* Backward shift: move later members of the run into the hole when their home slot
	 * does not lie cyclically between the hole and their current slot. */
	hole = (size_t)(s - m->slots);
	for (i = (hole + 1) & (m->cap - 1); m->slots[i].value; i = (i + 1) & (m->cap - 1)) {
		size_t home = slot_of(m, m->slots[i].id);
		bool between = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
		if (between)
			continue;
		m->slots[hole] = m->slots[i];
		hole = i;
	}
	m->slots[hole].value = NULL;
	return value;
}

size_t idmap_size(const struct idmap *m)
{
	return m->n;
}

size_t idmap_longest_run(const struct idmap *m)
{
	size_t longest = 0, run = 0;

	/* Twice around, so a run that wraps past the end is counted whole. */
	for (size_t k = 0; k < 2 * m->cap; k++) {
		run = m->slots[k & (m->cap - 1)].value ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	return longest < m->cap ? longest : m->cap;
}
