/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CVC signatures (ref §3.4). ECDSA signatures are plain r||s (BSI TR-03111),
 * each half left-padded to the byte length of the curve order; OpenSSL speaks
 * DER ECDSA-Sig-Value, so both directions convert. RSA signatures are the raw
 * modulus-length value for PKCS#1 v1.5 or PSS.
 */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <string.h>

#include "../common/sigcount.h"
#include "cvc.h"

static size_t ec_order_len(EVP_PKEY *key)
{
	/* for EC keys OpenSSL reports the bit length of the group order */
	return ((size_t)EVP_PKEY_get_bits(key) + 7) / 8;
}

static int key_matches(EVP_PKEY *key, const cvc_alg *alg)
{
	if (alg->keytype == SMK_KEY_EC)
		return EVP_PKEY_is_a(key, "EC");
	return EVP_PKEY_is_a(key, "RSA");
}

/* The digests the CVC algorithms name, fetched once per process: an
 * implicit fetch by name on every verification looks the name up in
 * OpenSSL's method store each time, and smkey audit verifies a few
 * signatures per record. Read-only once fetched. */
static const char *const md_names[] = {"SHA1", "SHA224", "SHA256", "SHA384", "SHA512"};
static EVP_MD *mds[sizeof(md_names) / sizeof(md_names[0])];
static pthread_once_t mds_once = PTHREAD_ONCE_INIT;

static void fetch_mds(void)
{
	size_t i;

	for (i = 0; i < sizeof(md_names) / sizeof(md_names[0]); i++)
		mds[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
	ERR_clear_error();
}

static const EVP_MD *md_of(const char *name)
{
	size_t i;

	pthread_once(&mds_once, fetch_mds);
	for (i = 0; i < sizeof(md_names) / sizeof(md_names[0]); i++)
		if (strcmp(name, md_names[i]) == 0)
			return mds[i];
	return NULL;
}

/* ECDSA over msg: its digest, then the signature over that (EVP_PKEY_verify
 * on a digest needs no digest context and no fetch); 1, 0 or < 0 as
 * EVP_PKEY_verify, -2 when OpenSSL cannot try. */
static int ecdsa_verify(EVP_PKEY *key, const cvc_alg *alg, const uint8_t *msg, size_t n,
			const unsigned char *der, size_t der_len)
{
	const EVP_MD *md = md_of(alg->md);
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_PKEY_CTX *pctx;
	int r = -2;

	if (!md || EVP_Digest(msg, n, digest, &dlen, md, NULL) != 1)
		return -2;
	pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (pctx && EVP_PKEY_verify_init(pctx) > 0) {
		smk_sigcount_note(key);
		r = EVP_PKEY_verify(pctx, der, der_len, digest, dlen);
	}
	EVP_PKEY_CTX_free(pctx);
	return r;
}

static int setup_pss(EVP_PKEY_CTX *pctx, const cvc_alg *alg)
{
	if (!alg->pss)
		return 1;
	return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
}

/* plain r||s -> DER; 0 when the halves are not valid integers */
static int plain_to_der(const uint8_t *sig, size_t half, unsigned char **der, int *der_len)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)half, NULL);
	BIGNUM *v = BN_bin2bn(sig + half, (int)half, NULL);
	int ok = 0;

	*der = NULL;
	if (s && r && v && ECDSA_SIG_set0(s, r, v)) {
		r = v = NULL; /* owned by s now */
		*der_len = i2d_ECDSA_SIG(s, der);
		ok = *der_len > 0;
	}
	BN_free(r);
	BN_free(v);
	ECDSA_SIG_free(s);
	return ok;
}

int cvc_verify(EVP_PKEY *key, const cvc_alg *alg, const uint8_t *msg, size_t n, const uint8_t *sig,
	       size_t sig_len, smk_err *e)
{
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *der = NULL;
	const unsigned char *check = sig;
	size_t check_len = sig_len, half;
	int der_len = 0, r = -2;

	if (!key_matches(key, alg))
		return smk_fail(e, SMK_E_MISMATCH,
				"signature: %s does not fit the signer's key type", alg->name);
	if (alg->keytype == SMK_KEY_EC) {
		half = ec_order_len(key);
		if (sig_len != 2 * half)
			return smk_fail(e, SMK_E_SIGNATURE,
					"signature: %zu bytes, ECDSA on this curve needs %zu",
					sig_len, 2 * half);
		if (!plain_to_der(sig, half, &der, &der_len))
			return smk_fail(e, SMK_E_CRYPTO, "signature: cannot convert r||s");
		check = der;
		check_len = (size_t)der_len;
	} else if (sig_len != (size_t)EVP_PKEY_get_size(key)) {
		return smk_fail(e, SMK_E_SIGNATURE, "signature: %zu bytes, the RSA modulus has %d",
				sig_len, EVP_PKEY_get_size(key));
	}
	if (alg->keytype == SMK_KEY_EC) {
		r = ecdsa_verify(key, alg, msg, n, check, check_len);
	} else {
		md = EVP_MD_CTX_new();
		if (md && EVP_DigestVerifyInit_ex(md, &pctx, alg->md, NULL, NULL, key, NULL) > 0 &&
		    setup_pss(pctx, alg)) {
			smk_sigcount_note(key);
			r = EVP_DigestVerify(md, check, check_len, msg, n);
		}
		EVP_MD_CTX_free(md);
	}
	OPENSSL_free(der);
	ERR_clear_error();
	if (r == 1)
		return 0;
	if (r == -2)
		return smk_fail(e, SMK_E_CRYPTO, "signature: OpenSSL cannot verify %s", alg->name);
	return smk_fail(e, SMK_E_SIGNATURE, "signature does not verify (%s)", alg->name);
}

int cvc_sign(EVP_PKEY *key, const cvc_alg *alg, const uint8_t *msg, size_t n, smk_buf *sig,
	     smk_err *e)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *raw = NULL;
	const unsigned char *p;
	ECDSA_SIG *s = NULL;
	size_t raw_len = 0, half;
	int ok = 0;

	if (!key_matches(key, alg)) {
		EVP_MD_CTX_free(md);
		return smk_fail(e, SMK_E_ARG, "sign: %s does not fit the signer's key type",
				alg->name);
	}
	if (md && EVP_DigestSignInit_ex(md, &pctx, alg->md, NULL, NULL, key, NULL) > 0 &&
	    setup_pss(pctx, alg) && EVP_DigestSign(md, NULL, &raw_len, msg, n) > 0 &&
	    (raw = OPENSSL_malloc(raw_len)) != NULL &&
	    EVP_DigestSign(md, raw, &raw_len, msg, n) > 0)
		ok = 1;
	EVP_MD_CTX_free(md);
	if (ok && alg->keytype == SMK_KEY_EC) {
		uint8_t plain[2 * 66];

		half = ec_order_len(key);
		p = raw;
		ok = half <= 66 && (s = d2i_ECDSA_SIG(NULL, &p, (long)raw_len)) != NULL &&
		     BN_bn2binpad(ECDSA_SIG_get0_r(s), plain, (int)half) > 0 &&
		     BN_bn2binpad(ECDSA_SIG_get0_s(s), plain + half, (int)half) > 0 &&
		     smk_buf_add(sig, plain, 2 * half) == 0;
		ECDSA_SIG_free(s);
	} else if (ok) {
		ok = smk_buf_add(sig, raw, raw_len) == 0;
	}
	OPENSSL_free(raw);
	ERR_clear_error();
	if (!ok)
		return smk_fail(e, SMK_E_CRYPTO, "sign: OpenSSL cannot sign with %s", alg->name);
	return 0;
}
