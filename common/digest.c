/* SPDX-License-Identifier: BSD-3-Clause */
#include "digest.h"

#include <openssl/evp.h>

#include "hex.h"

int smk_sha256(const void *p, size_t n, uint8_t out[SMK_SHA256_LEN], smk_err *e)
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != SMK_SHA256_LEN)
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
