/* SPDX-License-Identifier: BSD-3-Clause */
#include "digest.h"

#include <openssl/evp.h>
#include <pthread.h>

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

int smk_sha256_hex(const void *p, size_t n, char out[SMK_SHA256_HEX_LEN], smk_err *e)
{
	uint8_t md[SMK_SHA256_LEN];

	out[0] = '\0';
	if (smk_sha256(p, n, md, e) < 0)
		return -1;
	smk_hex_to(out, md, sizeof(md), SMK_HEX_LOWER);
	return 0;
}
