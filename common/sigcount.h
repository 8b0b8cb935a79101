/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Counting signature verifications, by algorithm and curve. smkey audit
 * --stats reports how many verifications the audit made, so that a
 * benchmark derives the audit's ECDSA bound from what it actually did
 * rather than from an assumption about the record format.
 *
 * Every signature check of the code base calls smk_sigcount_note with the
 * key it verifies with. It counts only on a thread that attached a tally
 * (smk_sigcount_attach); on any other thread it is one thread-local load.
 * A tally belongs to one thread; tallies of several threads are added up
 * with smk_sigcount_add once those threads are done.
 */
#ifndef SMK_SIGCOUNT_H
#define SMK_SIGCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* Distinct kinds counted; any further kind goes to "other". */
#define SMK_SIGCOUNT_KINDS 8
#define SMK_SIGCOUNT_NAME 40

typedef struct smk_sigkind {
	char name[SMK_SIGCOUNT_NAME]; /* "ecdsa prime256v1", "rsa 2048", "ED25519" */
	uint64_t n;
} smk_sigkind;

typedef struct smk_sigcount {
	smk_sigkind kind[SMK_SIGCOUNT_KINDS];
	size_t n;
	uint64_t other; /* verifications of kinds beyond the first SMK_SIGCOUNT_KINDS */
} smk_sigcount;

/* This thread's verifications from now on go to c (NULL: counted nowhere). */
void smk_sigcount_attach(smk_sigcount *c);
/* One verification with key (whatever its outcome), on this thread. */
void smk_sigcount_note(const EVP_PKEY *key);
/* Add from's counts to into. */
void smk_sigcount_add(smk_sigcount *into, const smk_sigcount *from);
/* Sort the kinds by name, so that a report lists them in one order. */
void smk_sigcount_sort(smk_sigcount *c);

#endif
