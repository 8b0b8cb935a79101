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
