/* SPDX-License-Identifier: BSD-3-Clause */
#include "digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#include "hex.h"

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *smk_sha256_md(void)
{
	pthread_once(&sha256_once, fetch_sha256);
	return sha256_md ? sha256_md : EVP_sha256();
}

int smk_sha256(const void *p, size_t n, uint8_t out[SMK_SHA256_LEN], smk_err *e)
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, smk_sha256_md(), NULL) != 1 || len != SMK_SHA256_LEN)
		return smk_fail(e, SMK_E_CRYPTO, "SHA-256 failed");
	return 0;
}

int smk_sha256_stream(const void *head, size_t head_len, FILE *f, const char *what,
		      uint8_t out[SMK_SHA256_LEN], uint64_t *total, smk_err *e)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t chunk[65536];
	unsigned int len = 0;
	uint64_t n = head_len;
	size_t got;
	int ok;

	ok = md != NULL && EVP_DigestInit_ex(md, smk_sha256_md(), NULL) == 1 &&
	     (head_len == 0 || EVP_DigestUpdate(md, head, head_len) == 1);
	while (ok && (got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		ok = EVP_DigestUpdate(md, chunk, got) == 1;
		n += got;
	}
	if (ok && ferror(f)) {
		EVP_MD_CTX_free(md);
		return smk_fail(e, SMK_E_IO, "%s: read error: %s", what, strerror(errno));
	}
	ok = ok && EVP_DigestFinal_ex(md, out, &len) == 1 && len == SMK_SHA256_LEN;
	EVP_MD_CTX_free(md);
	if (!ok)
		return smk_fail(e, SMK_E_CRYPTO, "%s: SHA-256 failed", what);
	if (total)
		*total = n;
	return 0;
}

int smk_sha256_hex(const void *p, size_t n, char out[SMK_SHA256_HEX_LEN], smk_err *e)
{
	uint8_t md[SMK_SHA256_LEN];

	out[0] = '\0';
	if (smk_sha256(p, n, md, e) < 0)
		return -1;
	smk_hex_to(out, md, sizeof(md), SMK_HEX_LOWER);
	return 0;
}
