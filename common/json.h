/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON values we write: the canonical encoding of an archived document and
 * the binary values (base64, hex) of records and replies.
 *
 * The canonical encoding is RFC 8785 (JSON Canonicalization Scheme) for the
 * values we write: objects with keys sorted, no white space, strings in UTF-8
 * with only '"', '\\' and the control characters U+0000..U+001F escaped
 * (\b \f \n \r \t, the others as \u00xx in lower case), integers only.
 * docs/archive.md "Canonical encoding" states exactly where it differs from JCS.
 */
#ifndef SMK_JSON_H
#define SMK_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "err.h"
#include "hex.h"

/* Append the canonical (JCS) encoding of v to out; no trailing newline. */
int smk_json_canonical(const json_t *v, smk_buf *out, smk_err *e);
/* Append the encoding written before JCS was followed: the same, except that
 * \u escapes have upper-case hex digits (\u001F). Only for checking documents
 * archived in that form; never for writing. */
int smk_json_canonical_legacy(const json_t *v, smk_buf *out, smk_err *e);

/* The value of p[0..n) when p is, beyond doubt, a JSON object in the form
 * smk_json_canonical writes for the value jansson reads from it (and then
 * smk_json_canonical_legacy writes the same bytes): built from the bytes,
 * with nothing re-encoded. NULL when p is outside the subset this reader
 * knows or it runs out of memory: the caller then reads p with jansson and
 * compares p with its canonical encoding, which decides. Never NULL for a
 * document of smkeyd's records but one with an escape, a non-ASCII
 * character or a real number in a string or value (comment in json.c). */
json_t *smk_json_read_canonical(const uint8_t *p, size_t n);

/* Base64 (common/b64.h) of p as a new JSON string; NULL when out of memory. */
json_t *smk_json_b64(const uint8_t *p, size_t n);
/* Hex of p in the given case as a new JSON string; NULL when out of memory. */
json_t *smk_json_hex(const uint8_t *p, size_t n, enum smk_hex_case c);
/* The lower-case hex SHA-256 of p as a new JSON string (a fingerprint in a
 * reply); JSON null when it cannot be computed. Never NULL. */
json_t *smk_json_sha256_hex(const void *p, size_t n);

#endif
