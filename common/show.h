/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Showing hostile text. Every string that comes from a record, a bundle, a
 * card, a policy file or a client is printed through these, so that no
 * control character (ANSI escapes, carriage returns, newlines) reaches a
 * terminal or a log line as itself: a label cannot erase a FAILED line and a
 * field name cannot start a forged log line.
 *
 * Escaping: printable ASCII (0x20..0x7E) except backslash stays as it is;
 * backslash becomes "\\"; \n \r \t become "\n" "\r" "\t"; every other byte
 * (controls, DEL, bytes >= 0x80) becomes "\xHH". The result is plain ASCII
 * and reads back unambiguously.
 */
#ifndef SMK_SHOW_H
#define SMK_SHOW_H

#include <stddef.h>

/* Escape s into out (always NUL-terminated when cap > 0). A result that does
 * not fit is cut at a whole escape and ends in "..." . NULL shows as "(null)".
 * Returns out. */
char *smk_show_into(const char *s, char *out, size_t cap);

/* The same into one of 8 rotating per-thread buffers of SMK_SHOW_MAX bytes,
 * so that up to 8 values can appear in one printf:
 *   printf("label %s, subject %s\n", smk_show(label), smk_show(subject)); */
#define SMK_SHOW_MAX 2048
const char *smk_show(const char *s);

/* Whether s holds anything smk_show would change. */
int smk_show_needed(const char *s);

#endif
