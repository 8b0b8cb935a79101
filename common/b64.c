/* SPDX-License-Identifier: BSD-3-Clause */
#include "b64.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

size_t smk_b64_len(size_t n)
{
	return 4 * ((n + 2) / 3);
}

void smk_b64_to(char *out, const uint8_t *p, size_t n)
{
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

char *smk_b64(const uint8_t *p, size_t n)
{
	char *s;

	if (n > SMK_B64_MAX)
		return NULL;
	s = malloc(smk_b64_len(n) + 1);
	if (s != NULL)
		smk_b64_to(s, p, n);
	return s;
}

static int b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* The alphabet, padding only at the end, at most two '='; returns the padding. */
static int b64_check(const char *s, size_t len, size_t *pad, const char *what, smk_err *e)
{
	size_t i;

	*pad = 0;
	if (len % 4 != 0 || len > smk_b64_len(SMK_B64_MAX))
		return smk_fail(e, SMK_E_FORMAT, "%s: base64 length %zu is not a multiple of 4",
				what, len);
	for (i = 0; i < len; i++) {
		if (s[i] == '=' && i >= len - 2) {
			(*pad)++;
			continue;
		}
		if (*pad || !b64_char(s[i]))
			return smk_fail(e, SMK_E_FORMAT, "%s: invalid base64 at offset %zu", what,
					i);
	}
	return 0;
}

/* The value of an alphabet character (b64_check has checked it). */
static unsigned b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return (unsigned)(c - 'A');
	if (c >= 'a' && c <= 'z')
		return (unsigned)(c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0' + 52);
	return c == '+' ? 62 : 63;
}

int smk_b64_decode(const char *s, size_t len, smk_buf *out, const char *what, smk_err *e)
{
	size_t pad, n;
	int got;

	if (b64_check(s, len, &pad, what, e) < 0)
		return -1;
	if (len == 0)
		return 0;
	/* one canonical encoding only: the bits of the last character before
	 * '=' that no byte uses (2 of "xyz=", 4 of "xy==") must be zero, or
	 * another text would stand for the same bytes */
	if ((pad == 1 && (b64_value(s[len - 2]) & 0x3) != 0) ||
	    (pad == 2 && (b64_value(s[len - 3]) & 0xf) != 0))
		return smk_fail(e, SMK_E_FORMAT, "%s: non-canonical base64", what);
	n = len / 4 * 3;
	if (smk_buf_reserve(out, n) < 0)
		return smk_fail(e, SMK_E_NOMEM, "%s: out of memory", what);
	/* into the buffer's spare room; counted only when all of it decoded */
	got = EVP_DecodeBlock(out->data + out->len, (const unsigned char *)s, (int)len);
	if (got < 0 || (size_t)got != n)
		return smk_fail(e, SMK_E_FORMAT, "%s: invalid base64", what);
	out->len += n - pad;
	return 0;
}
