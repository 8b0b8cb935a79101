/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device PKI (ref §4): pinned root certificates, validation of the device
 * chain read from EF 2F02 (DevAut certificate followed by the DICA
 * certificate), and verification of the authenticated CV requests the device
 * returns for every generated key (ref §6.3, §6.4).
 *
 * Everything fails closed: the first thing that does not hold is reported
 * with SMK_E_TRUST (no pinned root), SMK_E_SIGNATURE, SMK_E_VALIDITY,
 * SMK_E_MISMATCH (role, CAR/CHR linkage) or SMK_E_FORMAT.
 */
#ifndef SMK_CHAIN_H
#define SMK_CHAIN_H

#include <openssl/evp.h>
#include <time.h>

#include "../common/buf.h"
#include "../common/err.h"
#include "cvc.h"

/* One pinned root: self-signed, role C0, with the key ready for use. */
typedef struct trust_root {
	smk_buf bytes; /* the certificate; cert points into it */
	cvc cert;
	EVP_PKEY *key;
	char origin[256]; /* where it came from (file name), for messages */
} trust_root;

typedef struct trust_store {
	trust_root **roots;
	size_t n;
} trust_store;

#define TRUST_STORE_INIT                                                                           \
	{                                                                                          \
		NULL, 0                                                                            \
	}

/* Add a root from bytes (binary, or hex text); the bytes are copied. Fails
 * unless it is a self-signed role-C0 certificate with a known curve. The same
 * root twice is kept once; two different roots with one CHR are an error. */
int trust_add(trust_store *t, const uint8_t *p, size_t n, const char *origin, smk_err *e);
/* Add every regular file of dir except hidden ones and *.md / *.txt. Any
 * file that is not a root fails the whole load; an empty directory too. */
int trust_load_dir(trust_store *t, const char *dir, smk_err *e);
const trust_root *trust_find(const trust_store *t, const char *chr);
void trust_free(trust_store *t);

/* Is r a root that proves nothing about genuine hardware: CardContact's
 * test PKI (CHR "UT...") or a simulator's (CHR "ZZ...")? */
int trust_root_is_test(const trust_root *r);
/* How many roots of t are test or simulator roots; their CHRs, separated
 * by ", ", into names (cut to cap). */
size_t trust_test_roots(const trust_store *t, char *names, size_t cap);
/* The one warning every output shows while such a root is trusted, e.g.
 * "WARNING: trusting test or simulator root UTSRCACC100001: a key attested
 * under it proves nothing about genuine hardware"; 0 and "" when none is. */
size_t trust_test_warning(const trust_store *t, char *out, size_t cap);

typedef struct chain_validity {
	cvc_date ced, cxd;
} chain_validity;

/* A validated device chain. */
typedef struct devaut_chain {
	char device_chr[CVC_REF_MAX + 1]; /* DENK040414400000 */
	char serial[CVC_REF_MAX + 1];	  /* device CHR minus the last 5 characters */
	char dica_chr[CVC_REF_MAX + 1];
	char root_chr[CVC_REF_MAX + 1];
	chain_validity device_valid, dica_valid, root_valid;
	const smk_curve
	    *curve; /* of the DevAut key (inherited: brainpoolP256r1 on genuine devices) */
	uint8_t point[1 + 2 * 66]; /* DevAut public point 04||x||y */
	size_t point_len;
	const cvc_alg *alg;		/* DevAut OID: how the device signs its outer signatures */
	EVP_PKEY *key;			/* DevAut public key */
	smk_buf device_cert, dica_cert; /* copies of the two certificates */
} devaut_chain;

/* Split and validate EF 2F02 content against the trust store at time at:
 * DICA CAR names a pinned root, signatures root->DICA->device, roles C0/80/00
 * under id-SC-HSM, CAR/CHR linkage, every certificate valid on at's UTC date.
 * On failure *out is left empty (chain_free is still safe). */
int chain_validate(const uint8_t *ef2f02, size_t n, const trust_store *t, time_t at,
		   devaut_chain *out, smk_err *e);
void chain_free(devaut_chain *c);

/* The new key an authenticated request proves. */
typedef struct chain_attested {
	char chr[CVC_REF_MAX + 1]; /* inner CHR */
	int has_car;
	char car[CVC_REF_MAX + 1];	 /* inner CAR, if any */
	char outer_car[CVC_REF_MAX + 1]; /* = device CHR */
	const cvc_alg *alg;		 /* the new key's OID */
	enum smk_keytype type;
	const smk_curve *curve; /* EC; NULL for RSA */
	unsigned bits;
	EVP_PKEY *key;
	smk_buf spki; /* SubjectPublicKeyInfo DER */
	char *pem;    /* the same as PEM */
} chain_attested;

/* Verify an authenticated request (`67`) against a validated chain: outer
 * CAR == DevAut CHR, outer signature by the DevAut key over 7F21||42, inner
 * signature by the key inside (which must carry its domain parameters). */
int chain_verify_authreq(const devaut_chain *c, const uint8_t *p, size_t n, chain_attested *out,
			 smk_err *e);
void chain_attested_free(chain_attested *a);

#endif
