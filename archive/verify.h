/*
 * Offline verification: a bundle (smkey verify) and a whole archive file
 * (smkey audit), with pinned trust anchors only. Both fail closed and name
 * the first thing that does not hold (verify) or every record, checkpoint
 * and gap that does not (audit).
 */
#ifndef SMK_ARCHIVE_VERIFY_H
#define SMK_ARCHIVE_VERIFY_H

#include <stdio.h>

#include "../sm/chain.h"
#include "archive.h"
#include "chaincache.h"
#include "record.h"

/* What a record's attestation proved: the device chain to a pinned root at
 * the record's time, and the CV-REQ the device signed for the key. */
typedef struct archive_attestation {
	devaut_chain chain;
	chain_attested key;
	char key_type[48]; /* "EC secp256r1", "RSA 3072" */
	char key_fp[65];   /* SHA-256 of the key's SPKI DER, hex */
} archive_attestation;

/* Checks r against the trust store: DevAut -> DICA -> pinned root at the
 * record's time; the CV-REQ's outer signature by that DevAut key and its
 * inner signature by the new key; its CHR is the one derived from the
 * intent; the recorded public key is the one in the CV-REQ; the device is
 * the one the intent named; the GAKP went under secure messaging. */
int archive_attest(const archive_record *r, const trust_store *t, archive_attestation *out,
		   smk_err *e);
/* The same with the device chain from cache (chaincache.h; made for t),
 * for many records in a row; cache NULL is archive_attest. */
int archive_attest_cached(const archive_record *r, const trust_store *t, archive_chain_cache *cache,
			  archive_attestation *out, smk_err *e);
void archive_attestation_free(archive_attestation *a);

/* What `smkey verify` prints after every check held. */
typedef struct archive_verified {
	archive_record record, key_record;
	archive_attestation att, key_att;
	char archive_key_fp[65];
	char origin[64];
	uint64_t checkpoint_size;
	char policy_digest[65];
	char algorithms[16 * 24]; /* "ecdsa-sha256 (0x73), ..." */
} archive_verified;

/* Verify a bundle: archive key record 0 (signature by itself, sign-only
 * policy, attested by a device chaining to a pinned root, equal to the
 * bundle's signer), the record (signature by the archive key, attestation,
 * CHR bound to its intent), the checkpoint signature and both inclusion
 * proofs. say, if not NULL, hears one line per check that held. */
int archive_verify_bundle(const uint8_t *p, size_t n, const trust_store *t,
			  void (*say)(void *ctx, const char *line), void *ctx,
			  archive_verified *out, smk_err *e);
void archive_verified_free(archive_verified *v);

typedef struct archive_audit_opts {
	const trust_store *trust; /* NULL: no attestation checks */
	const uint8_t *since;	  /* an earlier checkpoint note, or NULL */
	size_t since_len;
	const char *since_name; /* for the report */
	const char *path;	/* for the report */
} archive_audit_opts;

/* Audit every record, the hash chain, the tree against every stored
 * checkpoint, consistency with an earlier checkpoint, and list intents
 * without an outcome. Writes a plain-text report; *problems counts what does
 * not hold. -1 only when the audit itself could not run. */
int archive_audit(archive *a, const archive_audit_opts *o, FILE *report, unsigned *problems,
		  smk_err *e);

#endif
