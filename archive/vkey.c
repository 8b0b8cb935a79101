/* SPDX-License-Identifier: BSD-3-Clause */
/* Note verifier keys (vkey.h): the <name>+<key ID>+<key> form and key files. */
#include "vkey.h"

#include <string.h>

#include "../common/hex.h"

int vkey_split(const char *s, size_t len, vkey_parts *p)
{
	const char *p1, *p2;

	memset(p, 0, sizeof(*p));
	p1 = memchr(s, '+', len);
	if (!p1)
		return 0;
	p->name = s;
	p->name_len = (size_t)(p1 - s);
	p2 = memchr(p1 + 1, '+', len - p->name_len - 1);
	if (!p2)
		return 1;
	p->id = p1 + 1;
	p->id_len = (size_t)(p2 - p->id);
	p->key = p2 + 1;
	p->key_len = len - (size_t)(p->key - s);
	return 2;
}

/* One UTF-8 code point at s[0..n): its value and length, or -1 (overlong
 * forms, surrogates and values above U+10FFFF are not UTF-8). */
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], min;
	int len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xE0) == 0xC0) {
		len = 2, c &= 0x1F, min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3, c &= 0x0F, min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		return -1;
	}
	if ((size_t)len > n)
		return -1;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		c = c << 6 | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return -1;
	*cp = c;
	return len;
}

/* Unicode White_Space (what Go's unicode.IsSpace, and so the note package's
 * name check, refuses), and the controls C0, DEL and C1. */
static int space_or_control(uint32_t c)
{
	if (c < 0x20 || c == ' ' || (c >= 0x7F && c <= 0xA0))
		return 1;
	return c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
	       c == 0x202F || c == 0x205F || c == 0x3000;
}

enum vkey_name_fault vkey_name_check(const char *s, size_t n, size_t *at)
{
	size_t i;

	*at = 0;
	if (n == 0)
		return VKEY_NAME_EMPTY;
	for (i = 0; i < n;) {
		uint32_t cp;
		int k = utf8_next((const unsigned char *)s + i, n - i, &cp);

		*at = i;
		if (k < 0)
			return VKEY_NAME_UTF8;
		if (space_or_control(cp))
			return VKEY_NAME_SPACE;
		if (cp == '+')
			return VKEY_NAME_PLUS;
		i += (size_t)k;
	}
	return VKEY_NAME_OK;
}

int vkey_id(const char *s, size_t n, uint8_t id[4])
{
	size_t i;

	if (n != 8)
		return -1;
	for (i = 0; i < 4; i++) {
		int hi = smk_hex_digit((unsigned char)s[2 * i]),
		    lo = smk_hex_digit((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void vkey_lines_init(vkey_lines *it, const uint8_t *text, size_t len, int trim_cr_front)
{
	memset(it, 0, sizeof(*it));
	it->text = text;
	it->len = len;
	it->trim_cr_front = trim_cr_front;
}

static int front_space(const vkey_lines *it, uint8_t c)
{
	return c == ' ' || c == '\t' || (it->trim_cr_front && c == '\r');
}

int vkey_lines_next(vkey_lines *it, const char **l, size_t *n)
{
	while (it->pos < it->len) {
		const uint8_t *line = it->text + it->pos;
		const uint8_t *nl = memchr(line, '\n', it->len - it->pos);
		size_t a = 0, b = nl ? (size_t)(nl - line) : it->len - it->pos;

		it->pos += b + (nl ? 1 : 0);
		it->no++;
		while (a < b && front_space(it, line[a]))
			a++;
		while (b > a && (line[b - 1] == ' ' || line[b - 1] == '\t' || line[b - 1] == '\r'))
			b--;
		if (a == b || line[a] == '#')
			continue;
		*l = (const char *)line + a;
		*n = b - a;
		return 1;
	}
	return 0;
}
