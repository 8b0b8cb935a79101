/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What witnesses said about the archive's checkpoints, kept in the archive
 * (docs/archive.md "Witness cosignatures"):
 *
 *   cosignatures    every cosignature smkeyd accepted: it verified against
 *                   a configured witness key over the stored checkpoint of
 *                   that size. Nothing else is ever stored.
 *   witness_events  every push outcome: cosigned, unreachable (down or
 *                   timed out), conflict (409 with the witness's size),
 *                   inconsistent (the witness refused the consistency
 *                   proof, or holds a size the log does not reach: a
 *                   rollback or a split view), rejected (another HTTP
 *                   status), bad-cosignature (the witness answered with
 *                   cosignatures smkeyd could not verify).
 *
 * Both tables are append-only (triggers), like the rest of the archive.
 * They are added to an archive when it is opened for writing, so archives
 * made before them open and verify unchanged; read-only readers treat a
 * missing table as empty.
 */
#ifndef SMK_ARCHIVE_WITNESS_H
#define SMK_ARCHIVE_WITNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "archive.h"
#include "cosig.h"

/* Create the two tables when missing (archive_open, writable only). */
int archive_witness_schema(archive *a, smk_err *e);

/* The stored checkpoint note of tree size size (appended), or SMK_E_ARG. */
int archive_checkpoint_at(archive *a, uint64_t size, smk_buf *note, smk_err *e);

/* Per signature line given to archive_add_cosignatures. */
typedef struct archive_cosig_outcome {
	int stored;    /* 1: verified and stored (or already stored) */
	char why[560]; /* not stored: the reason */
} archive_cosig_outcome;

/* Check each of lines[n] (note signature lines, no newline) as a
 * cosignature by one of keys[nkeys] over the stored checkpoint of tree
 * size size, and store the ones that verify. One witness_events row per
 * witness that cosigned ("cosigned") and one per line refused
 * ("bad-cosignature", naming the reason). out[n] says what became of each
 * line; *stored counts the stored ones. -1 only when the checkpoint is
 * unknown or the database fails. */
int archive_add_cosignatures(archive *a, uint64_t size, const cosig_key *keys, size_t nkeys,
			     const char *const *lines, size_t n, int64_t now,
			     archive_cosig_outcome *out, size_t *stored, smk_err *e);

#define ARCHIVE_WITNESS_DETAIL_MAX 600
typedef struct archive_witness_event {
	int64_t time;
	char witness[COSIG_NAME_MAX + 1];
	uint64_t size;	      /* the checkpoint pushed */
	const char *outcome;  /* one of the names above */
	int64_t witness_size; /* conflict / inconsistent: what the witness holds; -1 none */
	char detail[ARCHIVE_WITNESS_DETAIL_MAX];
} archive_witness_event;

/* Whether s is one of the outcome names. */
int archive_witness_outcome_valid(const char *s);
int archive_witness_record(archive *a, const archive_witness_event *ev, smk_err *e);

/* Every event, oldest first, until fn returns non-zero. */
int archive_witness_events(archive *a, int (*fn)(const archive_witness_event *ev, void *ctx),
			   void *ctx, smk_err *e);

/* A stored cosignature as archive_witness_cosigs lists them. */
typedef struct archive_cosig_row {
	uint64_t size;
	char witness[COSIG_NAME_MAX + 1];
	int64_t time, received;
} archive_cosig_row;
int archive_witness_cosigs(archive *a, int (*fn)(const archive_cosig_row *r, void *ctx), void *ctx,
			   smk_err *e);

/* The "Witnesses" section of smkey audit on out: stored cosignatures per
 * witness, push outcomes counted per witness and outcome, the latest
 * failures in full and every inconsistent one (a witness refused a split
 * view or a rollback), which also counts in *problems. */
int archive_witness_audit(archive *a, FILE *out, unsigned *problems, smk_err *e);

/* The checkpoint a bundle for record seq carries: of the checkpoints that
 * cover seq (size > seq), the one with the most stored cosignatures, the
 * larger size on a tie; with no cosignature at all, the latest. Its note
 * with the cosignature lines appended (as many as ARCHIVE_NOTE_MAX allows)
 * goes to note, its size to *size. */
int archive_bundle_checkpoint(archive *a, uint64_t seq, smk_buf *note, uint64_t *size, smk_err *e);

#endif
