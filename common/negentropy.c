/* negentropy.c - see negentropy.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "negentropy.h"

enum { MODE_SKIP = 0, MODE_FINGERPRINT = 1, MODE_IDLIST = 2 };
#define BUCKETS 16

/* A range's upper bound: items below it have a smaller timestamp, or the same timestamp and
 * an id whose first len bytes are smaller than prefix. */
struct bound {
	uint64_t ts;
	size_t len;
	uint8_t prefix[NEG_ID_SIZE];
};

/* ---- storage ---------------------------------------------------------------------------- */

void neg_storage_init(struct neg_storage *st)
{
	memset(st, 0, sizeof(*st));
}

void neg_storage_clear(struct neg_storage *st)
{
	free(st->items);
	neg_storage_init(st);
}

int neg_storage_add(struct neg_storage *st, uint64_t ts, const uint8_t id[NEG_ID_SIZE])
{
	if (st->sealed)
		return -EBUSY;
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 256;
		struct neg_item *p = realloc(st->items, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		st->items = p;
		st->cap = cap;
	}
	st->items[st->n].ts = ts;
	memcpy(st->items[st->n].id, id, NEG_ID_SIZE);
	st->n++;
	return 0;
}

static int item_cmp(const void *a, const void *b)
{
	const struct neg_item *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return memcmp(x->id, y->id, NEG_ID_SIZE);
}

void neg_storage_seal(struct neg_storage *st)
{
	size_t w = 0;

	if (st->n > 1)
		qsort(st->items, st->n, sizeof(st->items[0]), item_cmp);
	for (size_t i = 0; i < st->n; i++)
		if (w == 0 || item_cmp(&st->items[w - 1], &st->items[i]) != 0)
			st->items[w++] = st->items[i];
	st->n = w;
	st->sealed = true;
}

static bool below(const struct neg_item *it, const struct bound *b)
{
	if (it->ts != b->ts)
		return it->ts < b->ts;
	return memcmp(it->id, b->prefix, b->len) < 0;
}

/* The first index in [begin, end) whose item is not below b. */
static size_t lower_bound(const struct neg_storage *st, size_t begin, size_t end, const struct bound *b)
{
	while (begin < end) {
		size_t mid = begin + (end - begin) / 2;
		if (below(&st->items[mid], b))
			begin = mid + 1;
		else
			end = mid;
	}
	return begin;
}

/* ---- bytes ------------------------------------------------------------------------------ */

void neg_buf_clear(struct neg_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int put(struct neg_buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 512;
		uint8_t *q;
		while (cap - b->len < n)
			cap *= 2;
		q = realloc(b->p, cap);
		if (!q)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* Base 128, most significant group first, the high bit set on every byte but the last. */
static int put_varint(struct neg_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	do {
		tmp[9 - n] = (uint8_t)(v & 0x7f) | (n ? 0x80 : 0);
		v >>= 7;
		n++;
	} while (v);
	return put(b, tmp + 10 - n, n);
}

struct reader {
	const uint8_t *p;
	size_t left;
};

static int get_varint(struct reader *r, uint64_t *out, const char **why)
{
	uint64_t v = 0;

	for (;;) {
		uint8_t c;
		if (!r->left) {
			*why = "message ends inside a varint";
			return -EINVAL;
		}
		c = *r->p++;
		r->left--;
		if (v >> 57) {
			*why = "varint over 64 bits";
			return -EINVAL;
		}
		v = (v << 7) | (c & 0x7f);
		if (!(c & 0x80))
			break;
	}
	*out = v;
	return 0;
}

static int get_bytes(struct reader *r, size_t n, const uint8_t **out, const char **why)
{
	if (r->left < n) {
		*why = "message ends early";
		return -EINVAL;
	}
	*out = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

/* ---- fingerprints --------------------------------------------------------------------- */

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	/* Fetched once: OpenSSL 3's implicit fetch on every EVP_Digest costs more than the hash. */
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void neg_fingerprint(const struct neg_item *items, size_t n, uint8_t out[NEG_FP_SIZE])
{
	uint64_t acc[4] = { 0, 0, 0, 0 };
	uint8_t buf[NEG_ID_SIZE + 10], digest[32];
	unsigned int dlen = 0;
	uint8_t vtmp[10];
	size_t vn = 0;
	uint64_t c = n;

	for (size_t i = 0; i < n; i++) {
		unsigned __int128 carry = 0;
		for (int k = 0; k < 4; k++) {
			carry += (unsigned __int128)acc[k] + load_le64(items[i].id + 8 * k);
			acc[k] = (uint64_t)carry;
			carry >>= 64;
		}
	}
	for (int k = 0; k < 4; k++)
		for (int j = 0; j < 8; j++)
			buf[8 * k + j] = (uint8_t)(acc[k] >> (8 * j));
	/* varint(n) without an allocation */
	do {
		vtmp[9 - vn] = (uint8_t)(c & 0x7f) | (vn ? 0x80 : 0);
		c >>= 7;
		vn++;
	} while (c);
	memcpy(buf + NEG_ID_SIZE, vtmp + 10 - vn, vn);
	pthread_once(&sha256_once, sha256_fetch);
	EVP_Digest(buf, NEG_ID_SIZE + vn, digest, &dlen, sha256_md ? sha256_md : EVP_sha256(), NULL);
	memcpy(out, digest, NEG_FP_SIZE);
}

/* ---- the protocol --------------------------------------------------------------------- */

int neg_init(struct neg *ng, const struct neg_storage *st, size_t frame_limit)
{
	if (!st->sealed || (frame_limit && frame_limit < NEG_MIN_FRAME))
		return -EINVAL;
	memset(ng, 0, sizeof(*ng));
	ng->st = st;
	ng->frame_limit = frame_limit;
	return 0;
}

static bool exceeded(const struct neg *ng, size_t n)
{
	return ng->frame_limit && n > ng->frame_limit - 200;
}

static int put_bound(struct neg *ng, struct neg_buf *b, const struct bound *bd)
{
	uint64_t enc;
	int r;

	if (bd->ts == NEG_TS_INFINITY) {
		enc = 0;
		ng->last_ts_out = NEG_TS_INFINITY;
	} else {
		/* Bounds of one message never go down, so the delta is not negative. */
		enc = bd->ts - ng->last_ts_out + 1;
		ng->last_ts_out = bd->ts;
	}
	if ((r = put_varint(b, enc)) < 0 || (r = put_varint(b, bd->len)) < 0)
		return r;
	return put(b, bd->prefix, bd->len);
}

static int get_bound(struct neg *ng, struct reader *rd, struct bound *bd, const char **why)
{
	uint64_t t, len;
	const uint8_t *p;
	int r;

	if ((r = get_varint(rd, &t, why)) < 0)
		return r;
	if (t == 0 || ng->last_ts_in == NEG_TS_INFINITY) {
		bd->ts = ng->last_ts_in = NEG_TS_INFINITY;
	} else {
		t -= 1;
		if (t >= NEG_TS_INFINITY - ng->last_ts_in) {
			*why = "timestamp overflow";
			return -EINVAL;
		}
		bd->ts = ng->last_ts_in = ng->last_ts_in + t;
	}
	if ((r = get_varint(rd, &len, why)) < 0)
		return r;
	if (len > NEG_ID_SIZE) {
		*why = "bound id prefix longer than 32 bytes";
		return -EINVAL;
	}
	if ((r = get_bytes(rd, (size_t)len, &p, why)) < 0)
		return r;
	bd->len = (size_t)len;
	memset(bd->prefix, 0, sizeof(bd->prefix));
	memcpy(bd->prefix, p, bd->len);
	return 0;
}

/* The shortest bound that separates prev (below it) from curr (not below it). */
static void minimal_bound(const struct neg_item *prev, const struct neg_item *curr, struct bound *bd)
{
	memset(bd, 0, sizeof(*bd));
	bd->ts = curr->ts;
	if (curr->ts != prev->ts)
		return;
	size_t shared = 0;
	while (shared < NEG_ID_SIZE && curr->id[shared] == prev->id[shared])
		shared++;
	bd->len = shared < NEG_ID_SIZE ? shared + 1 : NEG_ID_SIZE;
	memcpy(bd->prefix, curr->id, bd->len);
}

static int put_mode(struct neg_buf *b, unsigned mode)
{
	return put_varint(b, mode);
}

/* [lower, upper) described to the peer: an id list when small, else 16 fingerprints. */
static int split_range(struct neg *ng, size_t lower, size_t upper, const struct bound *upper_bound,
		       struct neg_buf *o)
{
	const struct neg_item *it = ng->st->items;
	size_t n = upper - lower;
	int r;

	if (n < BUCKETS * 2) {
		if ((r = put_bound(ng, o, upper_bound)) < 0 || (r = put_mode(o, MODE_IDLIST)) < 0 ||
		    (r = put_varint(o, n)) < 0)
			return r;
		for (size_t i = lower; i < upper; i++)
			if ((r = put(o, it[i].id, NEG_ID_SIZE)) < 0)
				return r;
		return 0;
	}
	size_t per = n / BUCKETS, extra = n % BUCKETS, curr = lower;
	for (size_t i = 0; i < BUCKETS; i++) {
		size_t size = per + (i < extra ? 1 : 0);
		uint8_t fp[NEG_FP_SIZE];
		struct bound next;
		neg_fingerprint(it + curr, size, fp);
		curr += size;
		if (curr == upper)
			next = *upper_bound;
		else
			minimal_bound(&it[curr - 1], &it[curr], &next);
		if ((r = put_bound(ng, o, &next)) < 0 || (r = put_mode(o, MODE_FINGERPRINT)) < 0 ||
		    (r = put(o, fp, NEG_FP_SIZE)) < 0)
			return r;
	}
	return 0;
}

int neg_initiate(struct neg *ng, struct neg_buf *out)
{
	struct bound inf = { .ts = NEG_TS_INFINITY };
	uint8_t v = NEG_VERSION;
	int r;

	ng->initiator = true;
	ng->last_ts_out = 0;
	out->len = 0;
	if ((r = put(out, &v, 1)) < 0 || (r = split_range(ng, 0, ng->st->n, &inf, out)) < 0)
		return r;
	ng->bytes_out += out->len;
	return 0;
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, NEG_ID_SIZE);
}

/* The initiator's diff of our [lower, upper) against their id list. */
static int diff_ids(struct neg *ng, size_t lower, size_t upper, const uint8_t *theirs, size_t count, neg_id_fn have,
		    neg_id_fn need, void *arg)
{
	uint8_t *sorted = NULL;
	bool *seen = NULL;
	int r = 0;

	if (count) {
		sorted = malloc(count * NEG_ID_SIZE);
		seen = calloc(count, sizeof(*seen));
		if (!sorted || !seen) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(sorted, theirs, count * NEG_ID_SIZE);
		qsort(sorted, count, NEG_ID_SIZE, id_cmp);
	}
	for (size_t i = lower; i < upper; i++) {
		const uint8_t *hit = count ? bsearch(ng->st->items[i].id, sorted, count, NEG_ID_SIZE, id_cmp) : NULL;
		if (hit) {
			/* every copy of a repeated id counts as seen */
			size_t k = (size_t)(hit - sorted) / NEG_ID_SIZE;
			while (k > 0 && memcmp(sorted + (k - 1) * NEG_ID_SIZE, hit, NEG_ID_SIZE) == 0)
				k--;
			for (; k < count && memcmp(sorted + k * NEG_ID_SIZE, ng->st->items[i].id, NEG_ID_SIZE) == 0; k++)
				seen[k] = true;
		} else if (have && (r = have(arg, ng->st->items[i].id)) < 0) {
			goto out;
		}
	}
	for (size_t k = 0; k < count && need; k++) {
		if (seen[k] || (k > 0 && memcmp(sorted + (k - 1) * NEG_ID_SIZE, sorted + k * NEG_ID_SIZE, NEG_ID_SIZE) == 0))
			continue;
		if ((r = need(arg, sorted + k * NEG_ID_SIZE)) < 0)
			goto out;
	}
out:
	free(sorted);
	free(seen);
	return r;
}

int neg_reconcile(struct neg *ng, const uint8_t *msg, size_t len, struct neg_buf *out, neg_id_fn have,
		  neg_id_fn need, void *arg, const char **why)
{
	const struct neg_item *items = ng->st->items;
	size_t size = ng->st->n, prev_index = 0;
	struct reader rd = { msg, len };
	struct neg_buf o = { 0 };
	struct bound prev_bound = { 0 }, curr;
	uint8_t v = NEG_VERSION;
	const uint8_t *p;
	bool skip = false;
	int r;

	*why = "";
	ng->rounds++;
	ng->bytes_in += len;
	ng->last_ts_in = ng->last_ts_out = 0;
	out->len = 0;
	if ((r = put(out, &v, 1)) < 0)
		return r;
	if ((r = get_bytes(&rd, 1, &p, why)) < 0)
		return r;
	if (*p < 0x60 || *p > 0x6f) {
		*why = "not a negentropy message (bad version byte)";
		return -EINVAL;
	}
	if (*p != NEG_VERSION) {
		if (ng->initiator) {
			*why = "the peer speaks another negentropy version";
			return -EPROTONOSUPPORT;
		}
		ng->bytes_out += out->len;
		return 0; /* our version alone: the peer may retry with it */
	}
	while (rd.left) {
		uint64_t mode;
		size_t lower = prev_index, upper;

		o.len = 0;
		if ((r = get_bound(ng, &rd, &curr, why)) < 0 || (r = get_varint(&rd, &mode, why)) < 0)
			goto out;
		upper = lower_bound(ng->st, prev_index, size, &curr);
		if (mode == MODE_SKIP) {
			skip = true;
		} else if (mode == MODE_FINGERPRINT) {
			uint8_t ours[NEG_FP_SIZE];
			if ((r = get_bytes(&rd, NEG_FP_SIZE, &p, why)) < 0)
				goto out;
			neg_fingerprint(items + lower, upper - lower, ours);
			if (memcmp(p, ours, NEG_FP_SIZE) != 0) {
				if (skip && ((r = put_bound(ng, &o, &prev_bound)) < 0 || (r = put_mode(&o, MODE_SKIP)) < 0))
					goto out;
				skip = false;
				if ((r = split_range(ng, lower, upper, &curr, &o)) < 0)
					goto out;
			} else {
				skip = true;
			}
		} else if (mode == MODE_IDLIST) {
			uint64_t count;
			if ((r = get_varint(&rd, &count, why)) < 0)
				goto out;
			if (count > rd.left / NEG_ID_SIZE) {
				*why = "id list longer than the message";
				r = -EINVAL;
				goto out;
			}
			if ((r = get_bytes(&rd, (size_t)count * NEG_ID_SIZE, &p, why)) < 0)
				goto out;
			if (ng->initiator) {
				skip = true;
				if ((r = diff_ids(ng, lower, upper, p, (size_t)count, have, need, arg)) < 0)
					goto out;
			} else {
				/* The responder lists its own ids of the range, as many as the frame
				 * allows; the range then ends at the first id left out, and the
				 * fingerprint of the rest (below) covers it. */
				struct bound end = curr;
				size_t n_ids = 0, i;
				if (skip && ((r = put_bound(ng, &o, &prev_bound)) < 0 || (r = put_mode(&o, MODE_SKIP)) < 0))
					goto out;
				skip = false;
				for (i = lower; i < upper; i++) {
					/* as the reference counts it: without a Skip just written */
					if (exceeded(ng, out->len + n_ids * NEG_ID_SIZE))
						break;
					n_ids++;
				}
				if (i < upper) {
					end.ts = items[i].ts;
					end.len = NEG_ID_SIZE;
					memcpy(end.prefix, items[i].id, NEG_ID_SIZE);
					upper = i;
				}
				if ((r = put_bound(ng, &o, &end)) < 0 || (r = put_mode(&o, MODE_IDLIST)) < 0 ||
				    (r = put_varint(&o, n_ids)) < 0)
					goto out;
				for (i = lower; i < upper; i++)
					if ((r = put(&o, items[i].id, NEG_ID_SIZE)) < 0)
						goto out;
				/* kept even if the frame is now full */
				if ((r = put(out, o.p, o.len)) < 0)
					goto out;
				o.len = 0;
				curr = end;
			}
		} else {
			*why = "unknown range mode";
			r = -EINVAL;
			goto out;
		}
		if (exceeded(ng, out->len + o.len)) {
			/* The frame is full: one fingerprint for everything from here on, and the
			 * peer's answer to it continues the work in the next round. */
			struct bound inf = { .ts = NEG_TS_INFINITY };
			uint8_t fp[NEG_FP_SIZE];
			neg_fingerprint(items + upper, size - upper, fp);
			if ((r = put_bound(ng, out, &inf)) < 0 || (r = put_mode(out, MODE_FINGERPRINT)) < 0 ||
			    (r = put(out, fp, NEG_FP_SIZE)) < 0)
				goto out;
			break;
		}
		if ((r = put(out, o.p, o.len)) < 0)
			goto out;
		prev_index = upper;
		prev_bound = curr;
	}
	if (ng->initiator && out->len == 1)
		out->len = 0; /* nothing left to reconcile */
	ng->bytes_out += out->len;
	r = 0;
out:
	neg_buf_clear(&o);
	return r;
}
