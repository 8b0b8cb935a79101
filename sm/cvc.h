/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Card verifiable certificates (BSI TR-03110 format as the SmartCard-HSM uses
 * it, protocol reference §3): certificates, CV requests and authenticated
 * requests. Parsing, encoding, the public keys inside them and their
 * signatures.
 *
 * Parsed objects point into the caller's bytes (no copies): keep the input
 * alive and unchanged as long as the parsed struct is used. The pointers to
 * the signed byte ranges (ref §3.4) are exact, so a signature check needs
 * nothing but the struct.
 */
#ifndef SMK_CVC_H
#define SMK_CVC_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../common/buf.h"
#include "../common/err.h"
#include "alg.h"
#include "curves.h"

/* CAR and CHR are at most 16 printable characters; stored NUL-terminated. */
#define CVC_REF_MAX 16

/* Public-key / signature algorithm OIDs of TR-03110 (ref §3.5). The OID of a
 * key says how that key signs: the hash and, for RSA, the padding. */
typedef struct cvc_alg {
	const char *name; /* "id-TA-ECDSA-SHA-256" */
	uint8_t oid[10];  /* DER content bytes */
	enum smk_keytype keytype;
	const char *md; /* OpenSSL digest name: "SHA256" */
	int pss;	/* RSA-PSS (salt length = digest length) rather than v1.5 */
} cvc_alg;

const cvc_alg *cvc_alg_by_oid(const uint8_t *oid, size_t len);
const cvc_alg *cvc_alg_by_name(const char *name);
/* What the SmartCard-HSM uses: id-TA-ECDSA-SHA-256 / id-TA-RSA-v1-5-SHA-256. */
const cvc_alg *cvc_alg_default(enum smk_keytype t);

/* Roles in the CHAT of the SmartCard-HSM PKI (ref §4.1): value of `53`. */
enum cvc_role {
	CVC_ROLE_DEVICE = 0x00,
	CVC_ROLE_DICA = 0x80,
	CVC_ROLE_ROOT = 0xC0,
};

/* The id-SC-HSM role OID 1.3.6.1.4.1.24991.3.1.1 (ref §3.5). */
extern const uint8_t cvc_oid_sc_hsm_role[11];

typedef struct cvc_date {
	unsigned year, month, day;
} cvc_date;

/* The `7F49` public key template. */
typedef struct cvc_pubkey {
	const cvc_alg *alg;
	/* EC: the curve matched from explicit parameters 81..85, or NULL when
	 * the template has none (DICA and DevAut: inherited from the issuer) */
	const smk_curve *curve;
	const uint8_t *point; /* EC `86`, 04||x||y */
	size_t point_len;
	const uint8_t *modulus; /* RSA `81` */
	size_t modulus_len;
	const uint8_t *exponent; /* RSA `82` */
	size_t exponent_len;
	const uint8_t *raw; /* the whole 7F49 TLV */
	size_t raw_len;
} cvc_pubkey;

enum cvc_kind {
	CVC_CERT = 1,	 /* has CHAT and dates */
	CVC_REQUEST = 2, /* self-signed CV request: no CHAT, no dates */
};

typedef struct cvc {
	enum cvc_kind kind;
	int has_car; /* always 1 for certificates; optional in requests */
	char car[CVC_REF_MAX + 1];
	char chr[CVC_REF_MAX + 1];
	cvc_pubkey key;
	const uint8_t *chat_oid; /* certificates: `7F4C` role OID and `53` bits */
	size_t chat_oid_len;
	const uint8_t *chat_bits;
	size_t chat_bits_len;
	cvc_date ced, cxd; /* certificates: effective and expiration date */
	int has_ext;	   /* `65` present (may be empty) */
	const uint8_t *ext;
	size_t ext_len;
	const uint8_t *body; /* the whole 7F4E TLV: what the signature covers */
	size_t body_len;
	const uint8_t *sig; /* `5F37` value */
	size_t sig_len;
	const uint8_t *raw; /* the whole 7F21 TLV */
	size_t raw_len;
} cvc;

/* `67 { 7F21 request, 42 outer CAR, 5F37 outer signature }` (ref §3.2). */
typedef struct cvc_authreq {
	cvc req;
	char outer_car[CVC_REF_MAX + 1];
	const uint8_t *outer_signed; /* 7F21 TLV || 42 TLV: what the outer signature covers */
	size_t outer_signed_len;
	const uint8_t *outer_sig;
	size_t outer_sig_len;
	const uint8_t *raw; /* the whole 67 TLV */
	size_t raw_len;
} cvc_authreq;

/* Exactly one 7F21 TLV in p[0..n): a certificate or a request. */
int cvc_parse(const uint8_t *p, size_t n, cvc *c, smk_err *e);
int cvc_parse_cert(const uint8_t *p, size_t n, cvc *c, smk_err *e);
int cvc_parse_request(const uint8_t *p, size_t n, cvc *c, smk_err *e);
/* Exactly one 67 TLV in p[0..n). */
int cvc_parse_authreq(const uint8_t *p, size_t n, cvc_authreq *a, smk_err *e);

/* Role of a certificate (top two bits of the first `53` byte), or -1. */
int cvc_role(const cvc *c);
/* Does the CHAT use the id-SC-HSM role OID? */
int cvc_role_is_sc_hsm(const cvc *c);
const char *cvc_role_name(int role);

/* Dates: CVCs carry whole days (UTC). */
int cvc_date_cmp(const cvc_date *a, const cvc_date *b);
void cvc_date_from_time(time_t t, cvc_date *d);
/* "YYYY-MM-DD" (a real calendar date) */
int cvc_date_parse(const char *s, cvc_date *d, smk_err *e);
/* Midnight UTC at the start of the day. */
time_t cvc_date_to_time(const cvc_date *d);
/* "YYYY-MM-DD" into buf (at least 11 bytes). */
void cvc_date_format(const cvc_date *d, char *buf, size_t cap);

/* CVC input as people hand it over: binary (starts with 7F21 or 67) is
 * copied as is; anything else must be hex text (white space and ':' allowed)
 * and is decoded. Appends to out. */
int cvc_input_bytes(const uint8_t *p, size_t n, smk_buf *out, smk_err *e);

/* Dotted text of OID content bytes ("0.4.0.127.0.7.2.2.2.2.3") into buf. */
int cvc_oid_text(const uint8_t *oid, size_t n, char *buf, size_t cap);

/* Public key -> EVP_PKEY. An EC template without domain parameters takes the
 * curve `inherited` from its issuer (NULL when there is none). The point is
 * checked to lie on the curve. */
int cvc_pubkey_to_evp(const cvc_pubkey *k, const smk_curve *inherited, EVP_PKEY **out, smk_err *e);
/* Append the 7F49 template of pk's public key: EC `06`, [81..85], 86, [87]
 * with every value at full field length when domain_params is set (roots,
 * requests), else `06` and `86` only (DICA, device); RSA `06`, 81, 82.
 * alg NULL means cvc_alg_default for the key type. */
int cvc_pubkey_encode(smk_buf *out, EVP_PKEY *pk, const cvc_alg *alg, int domain_params,
		      smk_err *e);
/* Key type, curve (EC; NULL for RSA) and size in bits of an EVP_PKEY. */
int cvc_key_describe(EVP_PKEY *pk, enum smk_keytype *type, const smk_curve **curve, unsigned *bits,
		     smk_err *e);
/* SubjectPublicKeyInfo DER (appended to out) and PEM (new string, free()). */
int cvc_spki_der(EVP_PKEY *pk, smk_buf *out, smk_err *e);
int cvc_spki_pem(EVP_PKEY *pk, char **pem, smk_err *e);
/* The SubjectPublicKeyInfo DER of the EC point pt (04||x||y, as decoded
 * into a key: cvc_pubkey_to_evp) on curve c, appended to out: the bytes
 * cvc_spki_der writes for that key, without asking the key. */
int cvc_spki_der_ec(const smk_curve *c, const uint8_t *pt, size_t pt_len, smk_buf *out, smk_err *e);
/* The PEM of SubjectPublicKeyInfo DER (new string, free()). */
int cvc_spki_pem_of(const uint8_t *der, size_t len, char **pem, smk_err *e);

/* Signatures as CVCs carry them (ref §3.4): ECDSA plain r||s, each half the
 * order length; RSA the raw signature. The hash comes from the signer's OID.
 * cvc_verify fails with SMK_E_SIGNATURE when the signature does not hold. */
int cvc_sign(EVP_PKEY *key, const cvc_alg *alg, const uint8_t *msg, size_t n, smk_buf *sig,
	     smk_err *e);
int cvc_verify(EVP_PKEY *key, const cvc_alg *alg, const uint8_t *msg, size_t n, const uint8_t *sig,
	       size_t sig_len, smk_err *e);

/* Encoding: what the simulator uses for its own PKI and to answer GAKP. */
typedef struct cvc_cert_fields {
	const char *car;
	const char *chr;
	const cvc_alg *alg; /* OID for the holder's key; NULL: default for its type */
	int domain_params;  /* full EC parameters in 7F49 (roots); else `06`+`86` */
	uint8_t role;	    /* enum cvc_role, under the id-SC-HSM role OID */
	cvc_date ced, cxd;
	int with_ext; /* write `65` with ext[0..ext_len) (may be empty) */
	const uint8_t *ext;
	size_t ext_len;
} cvc_cert_fields;

/* A certificate for holder's public key, signed by issuer_key under
 * issuer_alg (for a self-signed root: holder == issuer_key). */
int cvc_encode_cert(smk_buf *out, const cvc_cert_fields *f, EVP_PKEY *holder, EVP_PKEY *issuer_key,
		    const cvc_alg *issuer_alg, smk_err *e);
/* A CV request self-signed by key (full EC domain parameters, or RSA n/e);
 * car may be NULL (no inner CAR); alg NULL: default for the key type. */
int cvc_encode_request(smk_buf *out, const char *car, const char *chr, EVP_PKEY *key,
		       const cvc_alg *alg, smk_err *e);
/* Wrap a request (one 7F21 TLV) into 67 with the outer CAR and a signature by
 * signer over 7F21-TLV || 42-TLV. */
int cvc_encode_authreq(smk_buf *out, const uint8_t *req, size_t req_len, const char *outer_car,
		       EVP_PKEY *signer, const cvc_alg *signer_alg, smk_err *e);

#endif
