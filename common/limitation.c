/* limitation.c - see limitation.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "limitation.h"

static const struct {
	const char *name;
	size_t off;
} numbers[] = {
	{ "max_message_length", offsetof(struct relay_limits, max_message_length) },
	{ "max_content_length", offsetof(struct relay_limits, max_content_length) },
	{ "max_event_tags", offsetof(struct relay_limits, max_event_tags) },
	{ "created_at_lower_limit", offsetof(struct relay_limits, created_at_lower_limit) },
	{ "created_at_upper_limit", offsetof(struct relay_limits, created_at_upper_limit) },
	{ "min_pow_difficulty", offsetof(struct relay_limits, min_pow_difficulty) },
	{ "max_subscriptions", offsetof(struct relay_limits, max_subscriptions) },
	{ "max_limit", offsetof(struct relay_limits, max_limit) },
	{ "max_filters", offsetof(struct relay_limits, max_filters) },
};

static const struct {
	const char *name;
	size_t off;
} flags[] = {
	{ "auth_required", offsetof(struct relay_limits, auth_required) },
	{ "payment_required", offsetof(struct relay_limits, payment_required) },
	{ "restricted_writes", offsetof(struct relay_limits, restricted_writes) },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

void limits_none(struct relay_limits *l)
{
	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < N(numbers); i++)
		*(int64_t *)((char *)l + numbers[i].off) = -1;
}

int limits_apply_json(struct relay_limits *l, const json_t *obj, bool lenient, const char **why, char *buf,
		      size_t len)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj)) {
		*why = "the limitation must be a JSON object";
		return -EINVAL;
	}
	json_object_foreach((json_t *)obj, key, v) {
		bool known = false;
		for (size_t i = 0; i < N(numbers); i++) {
			if (strcmp(key, numbers[i].name) != 0)
				continue;
			known = true;
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				if (lenient)
					break; /* a relay's malformed field: no limit */
				snprintf(buf, len, "\"%s\" must be a non-negative integer", key);
				*why = buf;
				return -EINVAL;
			}
			*(int64_t *)((char *)l + numbers[i].off) = json_integer_value(v);
		}
		for (size_t i = 0; i < N(flags); i++) {
			if (strcmp(key, flags[i].name) != 0)
				continue;
			known = true;
			if (!json_is_boolean(v)) {
				if (lenient)
					break;
				snprintf(buf, len, "\"%s\" must be true or false", key);
				*why = buf;
				return -EINVAL;
			}
			*(bool *)((char *)l + flags[i].off) = json_is_true(v);
		}
		if (!known && !lenient) {
			snprintf(buf, len, "unknown limitation \"%s\"", key);
			*why = buf;
			return -EINVAL;
		}
	}
	return 0;
}

json_t *limits_json(const struct relay_limits *l)
{
	json_t *o = json_object();

	for (size_t i = 0; i < N(numbers); i++) {
		int64_t v = *(const int64_t *)((const char *)l + numbers[i].off);
		if (v >= 0)
			json_object_set_new(o, numbers[i].name, json_integer(v));
	}
	for (size_t i = 0; i < N(flags); i++)
		if (*(const bool *)((const char *)l + flags[i].off))
			json_object_set_new(o, flags[i].name, json_true());
	return o;
}

unsigned limits_pow_bits(const uint8_t id[32])
{
	unsigned bits = 0;

	for (int i = 0; i < 32; i++) {
		if (id[i] == 0) {
			bits += 8;
			continue;
		}
		for (uint8_t b = id[i]; !(b & 0x80); b <<= 1)
			bits++;
		break;
	}
	return bits;
}

/* Characters (UTF-8 code points) of the content, as NIP-11 counts them. */
static size_t chars(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

int limits_check_event(const struct relay_limits *l, const struct nostr_event *ev, size_t message_len, int64_t now,
		       char *why, size_t len)
{
	size_t n;

	if (l->max_message_length >= 0 && message_len > (size_t)l->max_message_length) {
		snprintf(why, len, "max_message_length: the message is %zu bytes, the relay takes at most %lld",
			 message_len, (long long)l->max_message_length);
		return -1;
	}
	if (l->max_content_length >= 0 && (n = chars(ev->content, ev->content_len)) > (size_t)l->max_content_length) {
		snprintf(why, len, "max_content_length: the content is %zu characters, the relay takes at most %lld", n,
			 (long long)l->max_content_length);
		return -1;
	}
	if (l->max_event_tags >= 0 && (n = json_array_size(ev->tags)) > (size_t)l->max_event_tags) {
		snprintf(why, len, "max_event_tags: the event has %zu tags, the relay takes at most %lld", n,
			 (long long)l->max_event_tags);
		return -1;
	}
	if (l->created_at_lower_limit >= 0 && ev->created_at < now - l->created_at_lower_limit) {
		snprintf(why, len,
			 "created_at_lower_limit: created_at %lld is %lld s in the past, the relay takes at most %lld s",
			 (long long)ev->created_at, (long long)(now - ev->created_at), (long long)l->created_at_lower_limit);
		return -1;
	}
	if (l->created_at_upper_limit >= 0 && ev->created_at > now + l->created_at_upper_limit) {
		snprintf(why, len,
			 "created_at_upper_limit: created_at %lld is %lld s in the future, the relay takes at most %lld s",
			 (long long)ev->created_at, (long long)(ev->created_at - now), (long long)l->created_at_upper_limit);
		return -1;
	}
	if (l->min_pow_difficulty > 0 && limits_pow_bits(ev->id) < (unsigned)l->min_pow_difficulty) {
		snprintf(why, len, "min_pow_difficulty: the id has %u leading zero bits, the relay wants at least %lld",
			 limits_pow_bits(ev->id), (long long)l->min_pow_difficulty);
		return -1;
	}
	return 0;
}
