/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the parts of smkey audit share (archive_audit, archive/audit.c): the
 * audit's state and its report lines. audit.c runs the sections in order;
 * audit_records.c reads and verifies the records, audit_checkpoints.c the
 * checkpoints and --since.
 */
#ifndef SMK_AUDIT_INT_H
#define SMK_AUDIT_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/evp.h>

#include "../common/sigcount.h"
#include "archive.h"
#include "chaincache.h"
#include "checkpoint.h"
#include "merkle.h"
#include "verify.h"

/* What auditing adds up; one record's counts are added to the audit's in
 * record order. */
struct audit_counts {
	unsigned problems, findings;
	/* records per kind, for the summary */
	uint64_t n_key, n_adopted, n_cert, n_sig, n_archive_key, n_unreadable, n_recovered;
};

struct audit {
	FILE *out;
	struct audit_counts c;
	EVP_PKEY *akey;
	/* the records' leaves, and every complete subtree; with --since, the
	 * earlier checkpoint's peaks and every leaf after them */
	merkle_tree tree;
	uint64_t nleaves;
	uint64_t from;		     /* the first record audited: 0, or the --since size */
	archive_chain_cache *chains; /* device chains that validated */
	archive_checkpoint_key ckey; /* akey's origin and key ID, derived once */
	pthread_mutex_t *db_lock;    /* held for every use of the archive's connection */
	smk_sigcount sigs;	     /* the signature verifications made */
};

/* One PROBLEM line. It names records by their labels, request ids and
 * parse errors, which the archive's writer chose: the whole line is shown
 * escaped (smk_show), so none of it can end the line or hide the one above. */
void audit_problem(struct audit *au, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counted with the problems (the audit fails), but named for what it is:
 * something the daemon refused, which someone must look into. */
void audit_finding(struct audit *au, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Time t (seconds since the epoch) as the report shows it, UTC. */
void audit_when(int64_t t, char *buf, size_t cap);

/* Records or checkpoints read per batch for jobs threads. */
size_t audit_batch_cap(unsigned jobs);

/* audit_records.c: the "Records" section, every record from au->from on
 * (old: the earlier checkpoint with --since), verified on o->jobs threads
 * and printed in record order; au->tree and au->nleaves then hold them. */
int audit_records(archive *a, struct audit *au, const archive_audit_opts *o,
		  const archive_checkpoint *old, smk_err *e);

/* audit_checkpoints.c: the "Checkpoints" section, every checkpoint from
 * au->from on against the records' tree. */
int audit_checkpoints(archive *a, struct audit *au, const archive_audit_opts *o, smk_err *e);

/* audit_checkpoints.c: --since, before the records: 1 when only the
 * records after the earlier checkpoint old are to be read (au->from and
 * au->tree set), 0 when every record is; *opened: old's signature holds. */
int audit_since_start(archive *a, struct audit *au, const archive_audit_opts *o,
		      archive_checkpoint *old, int *opened);

/* audit_checkpoints.c: --since, after the records: the log as audited is an
 * append-only extension of old, and so is the stored tree. */
void audit_since(archive *a, struct audit *au, const archive_audit_opts *o,
		 const archive_checkpoint *old);

#endif
