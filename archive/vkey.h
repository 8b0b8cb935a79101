/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Note verifier keys (c2sp.org/signed-note), the one reader of their form
 * and of the files that list them.
 *
 * A verifier key is <name>+<key ID>+<key>: the key name, 8 hex digits of
 * key ID and base64 of the signature type byte followed by the key. Logs
 * (logkey.h, type 0x02) and witnesses (cosig.h, type 0x04) both use it;
 * each keeps its own messages and its own checks on the decoded key, and
 * this file splits the text, checks the name against the signed-note rules
 * and reads the key ID.
 *
 * The logs and witnesses files hold one key (or setting) a line; blank
 * lines and lines starting with '#' are skipped.
 */
#ifndef SMK_ARCHIVE_VKEY_H
#define SMK_ARCHIVE_VKEY_H

#include <stddef.h>
#include <stdint.h>

/* The three parts of a verifier key, pointing into the text. */
typedef struct vkey_parts {
	const char *name;
	size_t name_len;
	const char *id; /* the text between the first and second '+' */
	size_t id_len;
	const char *key; /* the base64 text after the second '+' */
	size_t key_len;
} vkey_parts;

/* Split s[0..len) at its first two '+' (the base64 may hold more). Returns
 * how many were found, 0, 1 or 2; only with 2 are id and key set, with 1
 * only name is. */
int vkey_split(const char *s, size_t len, vkey_parts *p);

/* What is wrong with a key name, by the signed-note rules. */
enum vkey_name_fault {
	VKEY_NAME_OK = 0,
	VKEY_NAME_EMPTY,
	VKEY_NAME_UTF8,	 /* not UTF-8 at *at */
	VKEY_NAME_SPACE, /* white space or a control character at *at */
	VKEY_NAME_PLUS,	 /* '+' at *at */
};

/* Check a key name: non-empty UTF-8 without Unicode White_Space, control
 * characters (C0, DEL, C1) or '+'. *at is the byte where it goes wrong. */
enum vkey_name_fault vkey_name_check(const char *s, size_t n, size_t *at);

/* The key ID: exactly 8 hex digits (either case), big endian. 0 or -1. */
int vkey_id(const char *s, size_t n, uint8_t id[4]);

/* The lines of a logs or witnesses file that hold something. White space
 * (' ', '\t') around a line and '\r' at its end are not part of it; with
 * trim_cr_front, neither is '\r' at its start (the witnesses file takes
 * it, the logs file does not). */
typedef struct vkey_lines {
	const uint8_t *text;
	size_t len;
	size_t pos;
	size_t no; /* the number of the line last returned, from 1 */
	int trim_cr_front;
} vkey_lines;

void vkey_lines_init(vkey_lines *it, const uint8_t *text, size_t len, int trim_cr_front);
/* The next line that is neither blank nor a comment: 1 with *l and *n, or
 * 0 at the end of the text. The line may hold NUL bytes; the caller
 * refuses them in its own words. */
int vkey_lines_next(vkey_lines *it, const char **l, size_t *n);

#endif
