/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libsmkey-pkcs11.so, the inside (docs/pkcs11.md): one token that stands for
 * smkeyd. Its objects are the keys smkeyd's ListSigningKeys returns for the
 * caller; C_Sign becomes smkeyd's Sign. The card, its PIN and the decision
 * who may sign stay in smkeyd: the module holds no secret.
 *
 * keys.c turns the daemon's key list into PKCS#11 objects and attributes;
 * call.c talks to smkeyd and maps its errors to CK_RV; module.c holds the
 * entry points, the sessions and the lock.
 */
#ifndef SMK_P11_H
#define SMK_P11_H

#include <p11-kit/pkcs11.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* The module exports the C_* functions and nothing else (the build hides
 * every other symbol). */
#define P11_EXPORT __attribute__((visibility("default")))

/* What smkeyd's Sign may be asked for (the policy names of the card's
 * algorithms, docs/policy.md), as bits of p11_key.algs. */
enum {
	P11_ALG_ECDSA = 1u << 0,	/* "ecdsa": the host hashed */
	P11_ALG_ECDSA_SHA256 = 1u << 1, /* "ecdsa-sha256": the card hashes */
	P11_ALG_RSA_PKCS1 = 1u << 2,	/* "rsa-pkcs1": a DigestInfo from the host */
	P11_ALG_RSA_PKCS1_SHA256 = 1u << 3,
	P11_ALG_RSA_PSS = 1u << 4, /* "rsa-pss": a hash from the host */
	P11_ALG_RSA_PSS_SHA256 = 1u << 5,
};

/* Object handles: the key's record seq and the object's class, so a handle
 * stays the same for as long as the key exists, across refreshed lists and
 * sessions. */
#define P11_OBJ_PRIVATE 1
#define P11_OBJ_PUBLIC 2
#define P11_OBJ_CERT 3
#define P11_HANDLE(seq, cls) ((CK_OBJECT_HANDLE)(((CK_ULONG)(seq) << 2) | (CK_ULONG)(cls)))
#define P11_HANDLE_SEQ(h) ((long long)((h) >> 2))
#define P11_HANDLE_CLS(h) ((int)((h)&3u))

typedef struct p11_key {
	long long seq;
	char *label;
	int ec;		 /* 1: EC, 0: RSA */
	unsigned bits;	 /* from the public key itself */
	unsigned algs;	 /* P11_ALG_* the key's archived list holds */
	int archive_key; /* smkeyd's own: never an object */
	uint8_t id[20];	 /* CKA_ID: SHA-1 of the subjectPublicKey bits */
	smk_buf spki, cert;
	smk_buf ec_params, ec_point;	 /* EC: DER OID, DER OCTET STRING */
	smk_buf modulus, exponent;	 /* RSA: big-endian */
	smk_buf subject, issuer, serial; /* from cert, DER; empty without */
} p11_key;

typedef struct p11_keys {
	p11_key *v;
	size_t n;
} p11_keys;

/* Parse ListSigningKeys' reply parameters into keys (replacing nothing:
 * the caller swaps lists). CKR_OK, or CKR_DEVICE_ERROR for a reply that does
 * not hold (every entry is checked; a key that would be smkeyd's archive key
 * is dropped whatever the daemon says). */
CK_RV p11_keys_parse(json_t *params, p11_keys *out);
void p11_keys_free(p11_keys *k);
p11_key *p11_keys_find(p11_keys *k, long long seq);

/* Attribute type of the object (key k, class cls P11_OBJ_*): CKR_OK with
 * *p, *n (p points into k or into scratch, which holds 64 bytes),
 * CKR_ATTRIBUTE_TYPE_INVALID, or CKR_ATTRIBUTE_SENSITIVE. */
CK_RV p11_attr(const p11_key *k, int cls, CK_ATTRIBUTE_TYPE type, const void **p, size_t *n,
	       uint8_t *scratch);

/* The mechanisms of the token and which of them key k can do. */
extern const size_t p11_nmechs;
CK_MECHANISM_TYPE p11_mech(size_t i); /* i < p11_nmechs */
CK_RV p11_mech_info(CK_MECHANISM_TYPE m, CK_MECHANISM_INFO *info);
/* A mechanism's use with key k: the algorithm for data as given (0 when
 * the key can only do the host-hashed form), the host-hashed algorithm (0
 * when none), whether the input is the message (else a hash/DigestInfo). */
typedef struct p11_mech_use {
	unsigned alg_data; /* P11_ALG_* sent with the message */
	unsigned alg_hash; /* P11_ALG_* sent with the module's digest */
	int message;	   /* the caller gives the message (multi-part allowed) */
} p11_mech_use;
CK_RV p11_mech_use_for(const p11_key *k, CK_MECHANISM_PTR m, p11_mech_use *u);
const char *p11_alg_name(unsigned alg);
/* Bytes of a signature by k (ECDSA r||s, RSA the modulus). */
size_t p11_sig_len(const p11_key *k);

/* One call to smkeyd: connect to its socket (SMKEYD_SOCKET, else the
 * default), send, wait for the one reply. CKR_OK with *msg (caller frees)
 * and *params; a varlink error is mapped to a CK_RV (p11_call_error). */
CK_RV p11_call(const char *method, json_t *in, json_t **msg, json_t **params);

/* The daemon's Sign for key k: alg, and either the message or the digest
 * (host-hashed). sig (p11_sig_len(k) bytes) gets the PKCS#11 form of the
 * signature (ECDSA r||s from the card's DER). */
CK_RV p11_sign_call(const p11_key *k, unsigned alg, int host_hashed, const uint8_t *in, size_t n,
		    uint8_t *sig);

/* C_Initialize was called and C_Finalize not since. */
int p11_initialized(void);

/* SMKEY_PKCS11_DEBUG set: one line on stderr per refused call, the
 * daemon's words through smk_show(). */
void p11_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
