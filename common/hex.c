/* SPDX-License-Identifier: BSD-3-Clause */
#include "hex.h"

#include <ctype.h>
#include <stdlib.h>

int smk_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int smk_hex_decode(const char *s, smk_buf *out, smk_err *e)
{
	int hi = -1;
	size_t pos;

	for (pos = 0; s[pos] != '\0'; pos++) {
		int c = (unsigned char)s[pos];
		int v;

		if (isspace(c) || c == ':')
			continue;
		v = smk_hex_digit(c);
		if (v < 0)
			return smk_fail(e, SMK_E_FORMAT, "hex: character %zu is not a hex digit",
					pos + 1);
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (smk_buf_add_byte(out, (uint8_t)(hi << 4 | v)) < 0)
			return smk_fail(e, SMK_E_NOMEM, "hex: out of memory");
		hi = -1;
	}
	if (hi >= 0)
		return smk_fail(e, SMK_E_FORMAT, "hex: odd number of digits");
	return 0;
}

void smk_hex_to(char *out, const uint8_t *p, size_t n, enum smk_hex_case c)
{
	const char *digits = c == SMK_HEX_LOWER ? "0123456789abcdef" : "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0F];
	}
	out[2 * n] = '\0';
}

char *smk_hex_alloc(const uint8_t *p, size_t n, enum smk_hex_case c)
{
	char *s;

	if (n > (SIZE_MAX - 1) / 2)
		return NULL;
	s = malloc(2 * n + 1);
	if (s != NULL)
		smk_hex_to(s, p, n, c);
	return s;
}

char *smk_hex(const uint8_t *p, size_t n)
{
	return smk_hex_alloc(p, n, SMK_HEX_UPPER);
}

void smk_hex_fprint(FILE *f, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(f, "%02X", p[i]);
}
