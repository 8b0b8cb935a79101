/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PKCS#15 private-key descriptions for EF `C4|id` (protocol reference §2.6).
 * The card does not need them, but OpenSC's sc-hsm emulation only shows a
 * key to PKCS#11 users (pkcs11-tool, p11-kit) when `C4|id` holds one it can
 * decode, and it pairs the public key it reads from `CE|id` with the private
 * key by the id written here.
 *
 * Layout (PKCS#15 / ISO 7816-15 PrivateKeyObject, as OpenSC's
 * sc_pkcs15_decode_prkdf_entry reads it):
 *
 *	A0 (EC) or 30 (RSA)
 *	   30 { 0C label }                      CommonObjectAttributes
 *	   30 { 04 iD, 03 usage }               CommonKeyAttributes
 *	   A1 { 30 { 30 { 04 00 },              typeAttributes: empty path,
 *	             02 bits } }                  field size / modulus length
 */
#ifndef SMK_PRKD_H
#define SMK_PRKD_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"
#include "alg.h"

/* PKCS#15 KeyUsageFlags, as bit numbers of the BIT STRING (bit i = 1 << i) */
#define PRKD_USAGE_ENCRYPT (1u << 0)
#define PRKD_USAGE_DECRYPT (1u << 1)
#define PRKD_USAGE_SIGN (1u << 2)
#define PRKD_USAGE_SIGN_RECOVER (1u << 3)
#define PRKD_USAGE_WRAP (1u << 4)
#define PRKD_USAGE_UNWRAP (1u << 5)
#define PRKD_USAGE_VERIFY (1u << 6)
#define PRKD_USAGE_VERIFY_RECOVER (1u << 7)
#define PRKD_USAGE_DERIVE (1u << 8)
#define PRKD_USAGE_NON_REPUDIATION (1u << 9)

#define PRKD_LABEL_MAX 255 /* OpenSC's SC_PKCS15_MAX_LABEL_SIZE */
#define PRKD_ID_MAX 255	   /* OpenSC's SC_PKCS15_MAX_ID_SIZE */
#define PRKD_SHA1_ID_LEN 20

typedef struct prkd_key {
	enum smk_keytype type; /* SMK_KEY_EC or SMK_KEY_RSA */
	const char *label;     /* UTF-8 without control characters; NULL or "" = none */
	const uint8_t *id;     /* PKCS#15 iD, 1..255 bytes: the key id, or prkd_sha1_id() */
	size_t id_len;
	unsigned key_bits;   /* EC field size (521 for secp521r1) or RSA modulus bits */
	const uint8_t *algs; /* the key's tag-91 algorithm list; none = unrestricted */
	size_t alg_count;
} prkd_key;

/* The usage bits a key with this algorithm list can serve through OpenSC:
 * EC: ECDSA -> sign, ECDH (80) -> derive; RSA: signatures -> sign (raw RSA
 * also sign-recover), decryption -> decrypt + unwrap. An empty list means
 * the card allows everything for the type: EC sign + derive, RSA decrypt,
 * sign, sign-recover, unwrap (the layouts of ref §2.6). */
unsigned prkd_usage(enum smk_keytype type, const uint8_t *algs, size_t alg_count);

/* Append the PrKD for k to out. */
int prkd_encode(smk_buf *out, const prkd_key *k, smk_err *e);

typedef struct prkd_info {
	enum smk_keytype type;
	char label[PRKD_LABEL_MAX + 1]; /* "" when absent */
	uint8_t id[PRKD_ID_MAX];
	size_t id_len;
	unsigned usage;	   /* PRKD_USAGE_* */
	unsigned key_bits; /* 0 when an EC description leaves out the field size */
} prkd_info;

/* Parse the content of `C4|id` (one PrKD, nothing after it). Reads what
 * OpenSC and pico-hsm write too: unknown optional attributes are skipped. */
int prkd_parse(const uint8_t *p, size_t n, prkd_info *out, smk_err *e);

/* SHA-1 of the RSA modulus (leading zero bytes dropped) or of the x
 * coordinate of the EC point 04||x||y: the intrinsic iD OpenSC's pkcs15init
 * derives in its "mozilla" id style, stable and computable from the public
 * key alone (e.g. from the CV request). */
int prkd_sha1_id(enum smk_keytype type, const uint8_t *pub, size_t len,
		 uint8_t id[PRKD_SHA1_ID_LEN], smk_err *e);

#endif
