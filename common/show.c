/* SPDX-License-Identifier: BSD-3-Clause */
/* Escaping of hostile text for terminals and logs (common/show.h). */
#include "show.h"

#include <stdio.h>
#include <string.h>

/* The escape for byte c into esc (at most 5 characters and NUL); its length. */
static size_t escape_byte(unsigned char c, char esc[6])
{
	switch (c) {
	case '\\':
		return (size_t)snprintf(esc, 6, "\\\\");
	case '\n':
		return (size_t)snprintf(esc, 6, "\\n");
	case '\r':
		return (size_t)snprintf(esc, 6, "\\r");
	case '\t':
		return (size_t)snprintf(esc, 6, "\\t");
	default:
		if (c >= 0x20 && c < 0x7f) {
			esc[0] = (char)c;
			esc[1] = '\0';
			return 1;
		}
		return (size_t)snprintf(esc, 6, "\\x%02X", c);
	}
}

char *smk_show_into(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	char esc[6];

	if (cap == 0)
		return out;
	if (!s)
		s = "(null)";
	for (; *s; s++) {
		size_t n = escape_byte((unsigned char)*s, esc);

		/* keep room for "..." and the NUL when cutting */
		if (o + n + 1 > cap || (s[1] && o + n + 4 > cap)) {
			if (o + 4 > cap)
				o = cap > 4 ? cap - 4 : 0;
			snprintf(out + o, cap - o, "...");
			return out;
		}
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}

const char *smk_show(const char *s)
{
	static _Thread_local char ring[8][SMK_SHOW_MAX];
	static _Thread_local unsigned next;
	char *out = ring[next++ % 8];

	return smk_show_into(s, out, SMK_SHOW_MAX);
}

int smk_show_needed(const char *s)
{
	if (!s)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\' || c < 0x20 || c >= 0x7f)
			return 1;
	}
	return 0;
}
