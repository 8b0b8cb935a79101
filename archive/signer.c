/* SPDX-License-Identifier: BSD-3-Clause */
/* The archive key's signatures: ECDSA with SHA-256, DER encoded. */
#include "archive.h"

#include <openssl/err.h>

#include "../common/digest.h"
#include "../common/sigcount.h"

static int soft_sign(void *ctx, const uint8_t *msg, size_t len, smk_buf *der_sig, smk_err *e)
{
	EVP_PKEY *key = ctx;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t sig_len = 0;
	int ok;

	if (!md)
		return smk_fail(e, SMK_E_NOMEM, "archive signer: out of memory");
	ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestSign(md, NULL, &sig_len, msg, len) == 1 &&
	     smk_buf_reserve(der_sig, sig_len) == 0 &&
	     EVP_DigestSign(md, der_sig->data + der_sig->len, &sig_len, msg, len) == 1;
	EVP_MD_CTX_free(md);
	if (!ok) {
		ERR_clear_error();
		return smk_fail(e, SMK_E_CRYPTO, "archive signer: ECDSA-SHA256 signing failed");
	}
	der_sig->len += sig_len;
	return 0;
}

void archive_soft_signer(archive_signer *s, EVP_PKEY *key)
{
	s->sign = soft_sign;
	s->ctx = key;
	s->pub = key;
}

int archive_sig_verify(EVP_PKEY *pub, const uint8_t *msg, size_t len, const uint8_t *sig,
		       size_t sig_len, smk_err *e)
{
	uint8_t digest[32];
	EVP_PKEY_CTX *ctx;
	int rc = -1;

	if (EVP_PKEY_base_id(pub) != EVP_PKEY_EC)
		return smk_fail(e, SMK_E_UNSUPPORTED, "archive key is not an EC key");
	if (smk_sha256(msg, len, digest, e) < 0)
		return -1;
	/* the digest, then ECDSA over it: no digest context per signature */
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
	if (!ctx)
		return smk_fail(e, SMK_E_NOMEM, "signature check: out of memory");
	smk_sigcount_note(pub);
	if (EVP_PKEY_verify_init(ctx) > 0)
		rc = EVP_PKEY_verify(ctx, sig, sig_len, digest, sizeof(digest));
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	if (rc != 1)
		return smk_fail(e, SMK_E_SIGNATURE,
				"ECDSA-SHA256 signature does not verify with the archive key");
	return 0;
}
