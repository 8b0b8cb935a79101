/* SPDX-License-Identifier: BSD-3-Clause */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "sm/cvc.h"

void tu_hex(smk_buf *b, const char *hex)
{
	smk_err e;

	if (smk_hex_decode(hex, b, &e) < 0)
		ck_abort_msg("bad hex in test: %s", e.msg);
}

void tu_read_source_file(smk_buf *b, const char *relpath)
{
	char path[4096];
	uint8_t chunk[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", SMK_SOURCE_DIR, relpath);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ck_assert(smk_buf_add(b, chunk, n) == 0);
	fclose(f);
}

void tu_read_vector(smk_buf *b, const char *relpath)
{
	smk_buf raw = SMK_BUF_INIT;
	smk_err e;

	tu_read_source_file(&raw, relpath);
	ck_assert_msg(cvc_input_bytes(raw.data, raw.len, b, &e) == 0, "%s: %s", relpath, e.msg);
	smk_buf_free(&raw);
}

void tu_assert_hex_at(const char *file, int line, const uint8_t *p, size_t n, const char *hex)
{
	smk_buf want = SMK_BUF_INIT;
	char *got;

	tu_hex(&want, hex);
	got = smk_hex(p, n);
	if (want.len != n || memcmp(want.data, p, n) != 0) {
		char *w = smk_hex(want.data, want.len);

		ck_abort_msg("%s:%d: bytes differ\n  want %s\n  got  %s", file, line, w, got);
	}
	free(got);
	smk_buf_free(&want);
}

void tu_temp_dir(char *dir, size_t cap, const char *prefix)
{
	size_t n = (size_t)snprintf(dir, cap, "/tmp/%s-", prefix);

	/* mkdtemp replaces the six 'X' that end the template */
	ck_assert_uint_lt(n + 6, cap);
	memset(dir + n, 'X', 6);
	dir[n + 6] = '\0';
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s failed", dir);
}

EVP_PKEY *tu_keygen(const char *curve_or_rsa)
{
	EVP_PKEY *k;

	if (strcmp(curve_or_rsa, "RSA") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve_or_rsa);
	ck_assert_msg(k != NULL, "key generation for %s failed", curve_or_rsa);
	return k;
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
