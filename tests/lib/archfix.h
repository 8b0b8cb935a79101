/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fixture the archive suites share: a test device PKI built with
 * sm/cvc.h (root -> DICA -> DevAut, the root pinned in a trust store), a
 * fresh archive in a temp directory with a software archive signer, and
 * record 0 (the archive key) committed the way smkeyd does. Keys are made
 * the way the simulator answers GAKP: a CV request self-signed by the new
 * key, wrapped with an outer signature by the DevAut key, carrying the
 * intent's CHR. Every step aborts the test on failure (testutil.h style).
 */
#ifndef SMK_ARCHFIX_H
#define SMK_ARCHFIX_H

#include <stdint.h>

#include <openssl/evp.h>

#include "archive/archive.h"
#include "common/buf.h"
#include "common/err.h"
#include "sm/chain.h"

/* What differs between suites; each names all of it. */
typedef struct archfix_cfg {
	const char *prefix; /* temp directory /tmp/PREFIX-?????? */
	const char *root_chr, *dica_chr, *dev_chr, *dev_serial;
	unsigned dev_until;   /* the DevAut certificate ends Dec 31 of this year */
	const char *req_car;  /* CAR of the inner CV request; NULL for none */
	archive_peer peer;    /* who asks, in the intents of archfix_key_init */
	int64_t t0;	      /* intent time of archfix_key_init */
	int64_t commit_after; /* commit time = t0 + commit_after */
} archfix_cfg;

typedef struct archfix {
	archfix_cfg cfg;
	char dir[64], path[96];		    /* temp directory, archive file in it */
	EVP_PKEY *root, *dica, *dev, *akey; /* brainpoolP256r1 PKI; akey P-256 */
	smk_buf root_cert, devaut, dicacert;
	smk_buf chain;	   /* ref §4.4: EF 2F02 = DevAut certificate || DICA certificate */
	smk_buf keydoc;	   /* the archive key's policy, NUL after len (a C string) */
	trust_store trust; /* root_cert pinned as "test" */
	archive *a;
	archive_signer signer; /* soft signer with akey */
} archfix;

/* One intent and its commit; archfix_key_init fills the defaults. */
typedef struct archfix_key {
	const char *kind, *policy_name, *policy_doc; /* policy_doc: a C string */
	EVP_PKEY *key;
	const char *label;
	archive_peer peer;
	unsigned key_id; /* default 1 */
	int sm_used;	 /* default 1 */
	int64_t time, commit_time;
	const smk_buf *chain;		/* default &fx->chain */
	const archive_signer *signer;	/* default &fx->signer; NULL: no signer */
	const archive_card_facts *card; /* default NULL: GAKP answer, nothing reported */
} archfix_key;

/* Build the PKI, open the archive, commit record 0 (the archive key). */
void archfix_setup(archfix *fx, const archfix_cfg *cfg);
/* Close and free everything, remove the temp directory. */
void archfix_teardown(archfix *fx);

/* A root certificate for root_chr (self-signed by root, pinned in trust as
 * "test") and below it the DICA and DevAut certificates of fx's keys. */
void archfix_build_pki(const archfix *fx, EVP_PKEY *root, const char *root_chr, trust_store *trust,
		       smk_buf *root_cert, smk_buf *devaut, smk_buf *dicacert);
/* What the card returns from GAKP (ref §6.3) for newkey under chr. */
void archfix_gakp(const archfix *fx, EVP_PKEY *newkey, const char *chr, smk_buf *out);

void archfix_key_init(const archfix *fx, archfix_key *k, const char *kind, const char *policy_name,
		      const char *policy_doc, EVP_PKEY *key, const char *label);
/* The intent (which must succeed), GAKP with its CHR, and the commit;
 * returns archive_commit's result. */
int archfix_commit_key(archfix *fx, const archfix_key *k, uint64_t *seq, smk_err *e);
/* archfix_commit_key with the defaults; the commit must succeed. */
uint64_t archfix_make_key(archfix *fx, const char *kind, const char *policy_name,
			  const char *policy_doc, EVP_PKEY *key, const char *label);

#endif
