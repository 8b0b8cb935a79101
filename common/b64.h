/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Standard base64 (RFC 4648 section 4, with padding, no line breaks), as the
 * archive, the bundles and the varlink replies carry binary values. OpenSSL's
 * EVP_EncodeBlock and EVP_DecodeBlock do the work; the decoder here adds the
 * strictness an archive needs: one canonical text per byte string.
 */
#ifndef SMK_B64_H
#define SMK_B64_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* The largest input smk_b64 encodes (EVP_EncodeBlock counts in int). */
#define SMK_B64_MAX ((size_t)(1u << 30))

/* Characters of the base64 text of n bytes, without the NUL. */
size_t smk_b64_len(size_t n);
/* Base64 of p[0..n) into out, which holds smk_b64_len(n) + 1 bytes; n <= SMK_B64_MAX. */
void smk_b64_to(char *out, const uint8_t *p, size_t n);
/* Base64 of p[0..n) as a new NUL-terminated string (caller frees); NULL when
 * out of memory or n > SMK_B64_MAX. */
char *smk_b64(const uint8_t *p, size_t n);
/* Decode s[0..len) and append the bytes to out. Only the one canonical
 * encoding is accepted: padding present, no white space, unused bits zero.
 * Errors name what. */
int smk_b64_decode(const char *s, size_t len, smk_buf *out, const char *what, smk_err *e);

#endif
