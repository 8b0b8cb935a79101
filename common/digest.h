/* SPDX-License-Identifier: BSD-3-Clause */
/* SHA-256 of a byte string or of a file read to its end, as bytes or as
 * lower-case hex (OpenSSL EVP). */
#ifndef SMK_DIGEST_H
#define SMK_DIGEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/types.h>

#include "err.h"

#define SMK_SHA256_LEN 32
/* Lower-case hex digits of a SHA-256 and the NUL. */
#define SMK_SHA256_HEX_LEN (2 * SMK_SHA256_LEN + 1)

/* SHA-256 as fetched from the provider once per process: EVP_sha256() is
 * looked up again at every use (a lock and a table search per hash, more
 * than the hash of a Merkle node costs). Never NULL. */
const EVP_MD *smk_sha256_md(void);
int smk_sha256(const void *p, size_t n, uint8_t out[SMK_SHA256_LEN], smk_err *e);
/* SHA-256 of head (head_len bytes, which may be 0) followed by the rest of
 * f, read to its end in chunks: memory stays bounded whatever the size.
 * *total (when not NULL) gets the bytes hashed. Errors name what. */
int smk_sha256_stream(const void *head, size_t head_len, FILE *f, const char *what,
		      uint8_t out[SMK_SHA256_LEN], uint64_t *total, smk_err *e);
/* Lower-case hex; out is the empty string when SHA-256 failed. */
int smk_sha256_hex(const void *p, size_t n, char out[SMK_SHA256_HEX_LEN], smk_err *e);

#endif
