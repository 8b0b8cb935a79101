/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * X.509 for a key that never leaves the HSM: a PKCS#10 request or a
 * self-signed certificate whose structure OpenSSL builds and whose signature
 * the card makes (through a callback, normally session_sign). The result is
 * verified with the key's public half before it is returned, so a card that
 * signs something else, or with another key, cannot produce an unverifiable
 * request or certificate.
 *
 * Which signature algorithm is used follows from the key's algorithm list
 * (tag 91, ref §6.6), which the card enforces: a card-hashed ECDSA / RSA
 * algorithm gets the TBS bytes, a host-hashed one the SHA-256 hash (or the
 * DigestInfo / padded block for RSA PKCS#1 v1.5).
 *
 * Also here: reading a certificate file, comparing its key with an archived
 * SPKI, and a short description for messages and listings.
 */
#ifndef SMK_X509_H
#define SMK_X509_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../common/buf.h"
#include "../common/err.h"

/* Signs tbs with the card: alg is the SmartCard-HSM algorithm byte (sm/alg.h, e.g. 0x73
 * ecdsa-sha256 where the card hashes). Output as session_sign gives it (DER for ECDSA, raw
 * for RSA). */
typedef struct x509_signer {
	int (*sign)(void *ctx, uint8_t alg, const uint8_t *in, size_t n, smk_buf *sig, smk_err *e);
	void *ctx;
	EVP_PKEY *pub;	     /* the key's public half (from the archived SPKI) */
	const uint8_t *algs; /* the key's algorithm list as archived (tag 91 bytes) */
	size_t alg_count;    /* 0: unrestricted key (adopted keys: unknown list) */
} x509_signer;

/* Which card algorithm and X.509 signature algorithm x509 will use for this key, or an error
 * naming the key's algorithm list and what would have been needed
 * ("the key's algorithm list [ecdh] allows no signature algorithm usable for X.509").
 * name is the X.509 signature algorithm: "ecdsa-with-SHA256", "sha256WithRSAEncryption",
 * "RSASSA-PSS SHA-256". */
int x509_pick_alg(const x509_signer *s, uint8_t *card_alg, char name[48], smk_err *e);

/* subject in OpenSSL -subj form: "/CN=Release key/O=Example Ltd/C=DE"; '+' instead of
 * '/' joins an attribute to the RDN before it ("/CN=x+UID=7/O=org", a multi-valued
 * RDN); backslash escapes '/', '+' and '\'; every value is UTF-8; errors name the
 * position (1-based character). */
int x509_parse_subject(const char *subject, X509_NAME **out, smk_err *e);

/* PKCS#10 request for the key, signed in the HSM. PEM appended to pem. */
int x509_make_csr(const x509_signer *s, const char *subject, smk_buf *pem, smk_err *e);

/* Longest validity x509_make_selfsigned accepts (100 years). */
#define X509_DAYS_MAX 36500u

/* Self-signed X.509 v3 certificate (serial: 16 random bytes, notBefore now, notAfter now+days,
 * basicConstraints CA:FALSE critical, keyUsage digitalSignature critical, SKI/AKI), signed in
 * the HSM. DER appended to der (and PEM to pem when not NULL). */
int x509_make_selfsigned(const x509_signer *s, const char *subject, unsigned days, time_t now,
			 smk_buf *der, smk_buf *pem, smk_err *e);

/* Parse one certificate (DER or PEM) into DER; fails with a clear message otherwise
 * (also when its validity times do not read as times). */
int x509_load_cert(const uint8_t *p, size_t n, smk_buf *der, smk_err *e);

/* Does the certificate's public key equal spki (DER compare of SubjectPublicKeyInfo)?
 * 0 yes; -1 with SMK_E_MISMATCH "certificate's public key (sha256 ...) is not the key's
 * (sha256 ...)". */
int x509_cert_matches_spki(const uint8_t *der, size_t n, const uint8_t *spki, size_t spki_len,
			   smk_err *e);

/* Subject one-line, issuer one-line, SHA-256 fingerprint hex (65), notBefore/notAfter as
 * time_t. */
typedef struct x509_info {
	char subject[256], issuer[256], fingerprint[65];
	int64_t not_before, not_after;
} x509_info;
int x509_describe(const uint8_t *der, size_t n, x509_info *out, smk_err *e);

#endif
