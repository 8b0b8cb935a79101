/* SPDX-License-Identifier: BSD-3-Clause */
#include "json.h"

#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "digest.h"

static int dump_cb(const char *buffer, size_t size, void *data)
{
	return smk_buf_add(data, buffer, size);
}

/* jansson with sorted keys and no white space writes every value we use as
 * JCS does, except that its \u escapes use upper-case hex digits. Outside
 * strings there is no backslash, and inside one every backslash starts an
 * escape, so each "\u" met while skipping whole escapes is one. */
static void lower_unicode_escapes(uint8_t *p, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if (p[i] != '\\') {
			i++;
			continue;
		}
		if (i + 1 < n && p[i + 1] == 'u') {
			for (k = i + 2; k < i + 6 && k < n; k++)
				if (p[k] >= 'A' && p[k] <= 'F')
					p[k] = (uint8_t)(p[k] - 'A' + 'a');
			i += 6;
		} else {
			i += 2;
		}
	}
}

int smk_json_canonical_legacy(const json_t *v, smk_buf *out, smk_err *e)
{
	if (v == NULL || json_dump_callback(v, dump_cb, out, JSON_SORT_KEYS | JSON_COMPACT) < 0)
		return smk_fail(e, SMK_E_NOMEM, "canonical JSON: encoding failed");
	return 0;
}

int smk_json_canonical(const json_t *v, smk_buf *out, smk_err *e)
{
	size_t start = out->len;

	if (smk_json_canonical_legacy(v, out, e) < 0)
		return -1;
	lower_unicode_escapes(out->data + start, out->len - start);
	return 0;
}

/*
 * smk_json_read_canonical. The subset: an object at the top and nothing
 * after it; no white space; object keys strictly increasing as byte strings
 * (the order jansson's JSON_SORT_KEYS gives, memcmp then length; strictly,
 * so no key twice); strings, keys included, of the bytes 0x20..0x7f but '"'
 * and '\\' (so no escape at all); integers -?(0|[1-9][0-9]*) of at most 18
 * digits, not "-0", not followed by '.', 'e' or 'E'; true, false, null;
 * at most SUBSET_DEPTH objects and arrays deep, the top one included. For such bytes jansson's
 * reader (JSON_REJECT_DUPLICATES) builds this same value: nothing to unescape, valid UTF-8, no
 * duplicate key, no integer out of range, no NUL in a key. And jansson's writer (JSON_SORT_KEYS |
 * JSON_COMPACT) writes these same bytes back: a string without '"', '\\' and control characters as
 * is, an integer as %lld, objects in key order, which is the order given. With no \u escape, the
 * canonical and the legacy encodings are the same bytes.
 */
#define SUBSET_DEPTH 64
#define SUBSET_KEY_MAX 128

struct subset {
	const uint8_t *p;
	size_t n, i;
};

static json_t *subset_value(struct subset *s, unsigned depth);

/* A string at s->i: its bytes (between the quotes); -1 when outside the subset. */
static int subset_string(struct subset *s, const uint8_t **str, size_t *len)
{
	size_t start;

	if (s->i >= s->n || s->p[s->i] != '"')
		return -1;
	start = ++s->i;
	for (; s->i < s->n; s->i++) {
		uint8_t c = s->p[s->i];

		if (c == '"') {
			*str = s->p + start;
			*len = s->i - start;
			s->i++;
			return 0;
		}
		if (c < 0x20 || c > 0x7f || c == '\\')
			return -1;
	}
	return -1;
}

static json_t *subset_integer(struct subset *s)
{
	json_int_t v = 0;
	unsigned digits = 0;
	int neg = 0;

	if (s->p[s->i] == '-') {
		neg = 1;
		s->i++;
	}
	if (s->i >= s->n || s->p[s->i] < '0' || s->p[s->i] > '9')
		return NULL;
	if (s->p[s->i] == '0') {
		s->i++;
		if (neg || (s->i < s->n && s->p[s->i] >= '0' && s->p[s->i] <= '9'))
			return NULL; /* "-0", or a leading zero */
	} else {
		for (; s->i < s->n && s->p[s->i] >= '0' && s->p[s->i] <= '9'; s->i++) {
			if (++digits > 18)
				return NULL;
			v = v * 10 + (s->p[s->i] - '0');
		}
	}
	if (s->i < s->n && (s->p[s->i] == '.' || s->p[s->i] == 'e' || s->p[s->i] == 'E'))
		return NULL; /* a real number: jansson's own reader and writer decide */
	return json_integer(neg ? -v : v);
}

static int subset_word(struct subset *s, const char *w, size_t len)
{
	if (s->n - s->i < len || memcmp(s->p + s->i, w, len) != 0)
		return 0;
	s->i += len;
	return 1;
}

/* Whether the next byte closes an empty container with close (then taken). */
static int subset_closes(struct subset *s, char close)
{
	if (s->i < s->n && s->p[s->i] == (uint8_t)close) {
		s->i++;
		return 1;
	}
	return 0;
}

static json_t *subset_object(struct subset *s, unsigned depth)
{
	json_t *o = json_object();
	const uint8_t *prev = NULL, *key;
	size_t prev_len = 0, key_len;
	char k[SUBSET_KEY_MAX + 1];

	s->i++; /* '{' */
	if (!o)
		return NULL;
	if (subset_closes(s, '}'))
		return o;
	for (;;) {
		json_t *v;
		int order = 1;

		if (subset_string(s, &key, &key_len) < 0 || key_len > SUBSET_KEY_MAX)
			goto fail;
		if (prev) {
			order = memcmp(prev, key, prev_len < key_len ? prev_len : key_len);
			if (order == 0)
				order = prev_len < key_len ? -1 : 1;
		}
		if (prev && order >= 0)
			goto fail; /* not in order, or twice */
		if (s->i >= s->n || s->p[s->i++] != ':' || !(v = subset_value(s, depth + 1)))
			goto fail;
		memcpy(k, key, key_len);
		k[key_len] = '\0';
		if (json_object_set_new_nocheck(o, k, v) < 0)
			goto fail;
		prev = key;
		prev_len = key_len;
		if (s->i >= s->n)
			goto fail;
		if (s->p[s->i] == '}') {
			s->i++;
			return o;
		}
		if (s->p[s->i++] != ',')
			goto fail;
	}
fail:
	json_decref(o);
	return NULL;
}

static json_t *subset_array(struct subset *s, unsigned depth)
{
	json_t *a = json_array();

	s->i++; /* '[' */
	if (a && subset_closes(s, ']'))
		return a;
	/* values separated by ',' up to the ']' */
	do {
		if (json_array_append_new(a, subset_value(s, depth + 1)) < 0 || s->i >= s->n)
			break;
		if (subset_closes(s, ']'))
			return a;
	} while (s->p[s->i++] == ',');
	json_decref(a);
	return NULL;
}

static json_t *subset_value(struct subset *s, unsigned depth)
{
	const uint8_t *str;
	size_t len;

	if (s->i >= s->n)
		return NULL;
	switch (s->p[s->i]) {
	case '{':
		return depth <= SUBSET_DEPTH ? subset_object(s, depth) : NULL;
	case '[':
		return depth <= SUBSET_DEPTH ? subset_array(s, depth) : NULL;
	case '"':
		if (subset_string(s, &str, &len) < 0)
			return NULL;
		return json_stringn_nocheck((const char *)str, len);
	case 't':
		return subset_word(s, "true", 4) ? json_true() : NULL;
	case 'f':
		return subset_word(s, "false", 5) ? json_false() : NULL;
	case 'n':
		return subset_word(s, "null", 4) ? json_null() : NULL;
	default:
		return subset_integer(s);
	}
}

json_t *smk_json_read_canonical(const uint8_t *p, size_t n)
{
	struct subset s = {p, n, 0};
	json_t *v;

	if (n == 0 || p[0] != '{')
		return NULL;
	v = subset_object(&s, 1);
	if (v && s.i != n) {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* s as a JSON string, s freed; NULL when s is NULL or out of memory. */
static json_t *string_freed(char *s)
{
	json_t *v = s ? json_string(s) : NULL;

	free(s);
	return v;
}

json_t *smk_json_b64(const uint8_t *p, size_t n)
{
	return string_freed(smk_b64(p, n));
}

json_t *smk_json_hex(const uint8_t *p, size_t n, enum smk_hex_case c)
{
	return string_freed(smk_hex_alloc(p, n, c));
}

json_t *smk_json_sha256_hex(const void *p, size_t n)
{
	char hex[SMK_SHA256_HEX_LEN];
	smk_err e;
	json_t *v;

	if (smk_sha256_hex(p, n, hex, &e) < 0)
		return json_null();
	v = json_string(hex);
	return v ? v : json_null();
}
