/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the Check suites. */
#ifndef SMK_TESTUTIL_H
#define SMK_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/buf.h"

/* Decode hex (white space allowed) into b; aborts the test on bad hex. */
void tu_hex(smk_buf *b, const char *hex);
/* Read a file below the source tree (path relative to SMK_SOURCE_DIR). */
void tu_read_source_file(smk_buf *b, const char *relpath);
/* Read a test vector below the source tree: binary, or hex text decoded
 * through the same input path smkey uses (cvc_input_bytes). */
void tu_read_vector(smk_buf *b, const char *relpath);
/* ck_assert that p[0..n) equals the bytes written in hex. */
#define tu_assert_hex(p, n, hex) tu_assert_hex_at(__FILE__, __LINE__, (p), (n), (hex))
void tu_assert_hex_at(const char *file, int line, const uint8_t *p, size_t n, const char *hex);
/* Create a fresh directory /tmp/PREFIX-?????? (mkdtemp) and write its path
 * into dir; aborts the test on failure. */
void tu_temp_dir(char *dir, size_t cap, const char *prefix);
/* A fresh key: "RSA" gives RSA-2048, anything else names an EC curve;
 * aborts the test on failure. */
EVP_PKEY *tu_keygen(const char *curve_or_rsa);
/* Run one suite with Check, return an exit status for main(). */
int tu_run(Suite *s);

#endif
