/* SPDX-License-Identifier: BSD-3-Clause */
/* Hex text <-> bytes, for test vectors, CLI input, JSON replies and readable output. */
#ifndef SMK_HEX_H
#define SMK_HEX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "err.h"

/* Which digits smk_hex_to writes for 10..15: "ABCDEF" or "abcdef". */
enum smk_hex_case { SMK_HEX_UPPER, SMK_HEX_LOWER };

/* The value of one hex digit (either case), -1 for anything else. */
int smk_hex_digit(int c);
/* Decode hex digits, ignoring white space and ':' separators. Appends to out. */
int smk_hex_decode(const char *s, smk_buf *out, smk_err *e);
/* Hex of p[0..n) into out, which holds 2 * n + 1 bytes; always NUL-terminated. */
void smk_hex_to(char *out, const uint8_t *p, size_t n, enum smk_hex_case c);
/* Hex of p into a new NUL-terminated string (caller frees); NULL on OOM. */
char *smk_hex_alloc(const uint8_t *p, size_t n, enum smk_hex_case c);
/* Upper-case hex of p into a new NUL-terminated string (caller frees); NULL on OOM. */
char *smk_hex(const uint8_t *p, size_t n);
/* Write upper-case hex to f. */
void smk_hex_fprint(FILE *f, const uint8_t *p, size_t n);

#endif
