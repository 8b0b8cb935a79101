/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey audit's checkpoints (audit_int.h): every stored checkpoint opened
 * with the archive key and its root and consistency from the one before
 * checked against the records' tree, on the audit's threads a batch at a
 * time, the verdicts in size order; and --since, which starts the tree at
 * an earlier audited checkpoint and proves the log only grew from it.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../common/show.h"
#include "audit_int.h"
#include "audit_pool.h"
#include "internal.h"

/* One stored checkpoint, and what opening it with the archive key gave. */
struct cp_slot {
	uint64_t size;	 /* the size it is stored under */
	uint64_t before; /* the size of the row before it, 0: none */
	smk_buf note;
	archive_checkpoint cp;
	int opened; /* 0: ce says why not */
	smk_err ce;
	/* once opened, of its size and within the records read: */
	int root_ok; /* its root is the records' root at its size */
	int extends; /* root_ok, and a consistency proof from before holds */
	int failed;  /* fe says why: the audit cannot go on */
	smk_err fe;
};

/* Where the walk over the checkpoints stands. */
struct cp_walk {
	uint64_t count, prev_size, last_size;
	uint8_t prev_root[32];
};

/* Whether the records' tree at size extends the one at old (0 < old <=
 * size; root: the tree's root at size), by a consistency proof from the
 * tree, verified: what a witness would check. *ok: 1 when it does. */
static int tree_extends(const struct audit *au, uint64_t old, const uint8_t old_root[32],
			uint64_t size, const uint8_t root[32], int *ok, smk_err *e)
{
	smk_buf proof = SMK_BUF_INIT;
	smk_err ce;

	if (merkle_tree_consistency_proof(&au->tree, size, old, &proof, e) < 0)
		return -1;
	*ok = merkle_verify_consistency(old, size, old_root, root, proof.data, proof.len, &ce) == 0;
	smk_buf_free(&proof);
	return 0;
}

/* audit_pool_fn: one checkpoint's signature by the archive key, its root
 * against the records' tree (complete and read-only by now) and, taking
 * the row before as the latest good one (check_checkpoint knows), that it
 * extends it. */
static void open_checkpoint(void *ctx, void *item)
{
	struct audit *au = ctx;
	struct cp_slot *s = item;
	uint8_t root[32], old_root[32];

	s->opened =
	    archive_checkpoint_open_key(s->note.data, s->note.len, &au->ckey, &s->cp, &s->ce) == 0;
	if (!s->opened || s->cp.size != s->size || s->size > au->nleaves)
		return;
	if (merkle_tree_root(&au->tree, s->size, root, &s->fe) < 0) {
		s->failed = 1;
		return;
	}
	s->root_ok = memcmp(root, s->cp.root, 32) == 0;
	if (s->root_ok && s->before &&
	    (merkle_tree_root(&au->tree, s->before, old_root, &s->fe) < 0 ||
	     tree_extends(au, s->before, old_root, s->size, root, &s->extends, &s->fe) < 0))
		s->failed = 1;
}

/* Read the next checkpoints (at most cap) into v; *n: how many, 0 once
 * *done is set (SQLite would start over on a step after the last row).
 * *last: the size of the row read last, 0 before the first. */
static int read_checkpoints(archive *a, struct audit *au, sqlite3_stmt *st, struct cp_slot *v,
			    size_t cap, size_t *n, uint64_t *last, int *done, smk_err *e)
{
	int rc = SQLITE_ROW;

	*n = 0;
	if (*done)
		return 0;
	pthread_mutex_lock(au->db_lock);
	while (*n < cap && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cp_slot *s = &v[*n];

		s->before = *last;
		s->size = (uint64_t)sqlite3_column_int64(st, 0);
		*last = s->size;
		s->failed = 0;
		s->root_ok = s->extends = 0;
		smk_buf_reset(&s->note);
		if (smk_buf_add(&s->note, sqlite3_column_blob(st, 1),
				(size_t)sqlite3_column_bytes(st, 1)) < 0) {
			pthread_mutex_unlock(au->db_lock);
			return smk_fail(e, SMK_E_NOMEM,
					"audit: out of memory reading checkpoint %" PRIu64,
					s->size);
		}
		(*n)++;
	}
	pthread_mutex_unlock(au->db_lock);
	*done = rc != SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return archive_db_fail(a, "read checkpoints", e);
	return 0;
}

/* A checkpoint whose signature was checked: its size, its root over the
 * records read, and that it extends the one before (what a witness would
 * check). */
static int check_checkpoint(struct audit *au, const struct cp_slot *s, struct cp_walk *w,
			    smk_err *e)
{
	uint64_t size = s->size;

	if (s->failed) {
		*e = s->fe;
		return -1;
	}
	if (!s->opened) {
		audit_problem(au, "checkpoint %" PRIu64 ": %s", size, s->ce.msg);
		return 0;
	}
	if (s->cp.size != size) {
		audit_problem(au, "checkpoint %" PRIu64 ": stored under size %" PRIu64, s->cp.size,
			      size);
		return 0;
	}
	if (size > au->nleaves) {
		audit_problem(
		    au, "checkpoint %" PRIu64 ": the log has only %" PRIu64 " records (truncated?)",
		    size, au->nleaves);
		return 0;
	}
	if (!s->root_ok) {
		audit_problem(
		    au, "checkpoint %" PRIu64 ": root hash does not match records 0..%" PRIu64,
		    size, size - 1);
		return 0;
	}
	if (w->prev_size) {
		/* open_checkpoint checked the row before; after a bad one the
		 * latest good checkpoint is an earlier one */
		int ok = s->extends;

		if (w->prev_size != s->before &&
		    tree_extends(au, w->prev_size, w->prev_root, size, s->cp.root, &ok, e) < 0)
			return -1;
		if (!ok)
			audit_problem(au,
				      "checkpoint %" PRIu64 " does not extend checkpoint %" PRIu64,
				      size, w->prev_size);
	}
	w->prev_size = size;
	memcpy(w->prev_root, s->cp.root, 32);
	return 0;
}

/* After the walk: whether the latest good checkpoint covers every record. */
static void checkpoints_cover(struct audit *au, const struct cp_walk *w)
{
	if (w->count == 0 && au->nleaves)
		audit_problem(au, "no checkpoint at all for %" PRIu64 " records", au->nleaves);
	else if (w->prev_size && w->prev_size == w->last_size && w->prev_size < au->nleaves)
		/* group commit: records are stored one by one and a checkpoint
		 * follows; a stop in between leaves a tail the next one covers.
		 * Format-3 records in it are authenticated by nothing yet. */
		fprintf(au->out,
			"  note: records %" PRIu64 "..%" PRIu64
			" are not covered by a checkpoint yet (committed after the latest;"
			" the daemon signs one at its next commit or start); those of format 3"
			" are not authenticated until one covers them\n",
			w->prev_size, au->nleaves - 1);
	else if (w->prev_size && w->prev_size != au->nleaves)
		audit_problem(
		    au, "the latest good checkpoint covers %" PRIu64 " of %" PRIu64 " records",
		    w->prev_size, au->nleaves);
}

/* Every checkpoint from au->from on, in size order: the signatures are
 * checked on the audit's threads a batch at a time, the rest in order. */
int audit_checkpoints(archive *a, struct audit *au, const archive_audit_opts *o, smk_err *e)
{
	struct cp_walk w;
	struct cp_slot *v;
	sqlite3_stmt *st;
	audit_pool p;
	size_t cap = audit_batch_cap(o->jobs), n, i;
	uint64_t row = 0;
	int rc = -1, done = 0;

	memset(&w, 0, sizeof(w));
	fprintf(au->out, "\nCheckpoints%s\n", au->from ? " (from the earlier one on)" : "");
	if (!(v = calloc(cap, sizeof(*v))))
		return smk_fail(e, SMK_E_NOMEM, "audit: out of memory");
	if (archive_db_prepare(a,
			       "SELECT size, note FROM checkpoints WHERE size >= ? ORDER BY size",
			       &st, e) < 0) {
		free(v);
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)au->from);
	if (audit_pool_init(&p, o->jobs, &au->sigs, e) < 0)
		goto out_st;
	for (;;) {
		if (read_checkpoints(a, au, st, v, cap, &n, &row, &done, e) < 0)
			goto out;
		if (n == 0)
			break;
		w.count += n;
		w.last_size = v[n - 1].size;
		if (!au->ckey.pub)
			continue; /* load_archive_key said why none can be opened */
		audit_pool_start(&p, v, n, sizeof(*v), open_checkpoint, au);
		audit_pool_finish(&p);
		for (i = 0; i < n; i++)
			if (check_checkpoint(au, &v[i], &w, e) < 0)
				goto out;
	}
	checkpoints_cover(au, &w);
	fprintf(au->out, "  %" PRIu64 " checkpoints; latest verified size %" PRIu64 "\n", w.count,
		w.prev_size);
	rc = 0;
out:
	audit_pool_free(&p);
out_st:
	sqlite3_finalize(st);
	for (i = 0; i < cap; i++)
		smk_buf_free(&v[i].note);
	free(v);
	return rc;
}

/* --since, before the records: the earlier checkpoint, trusted (an earlier
 * audit verified it) once its signature by the archive key holds; the
 * stored peaks of its tree, which must fold to its root. Then only the
 * records after it are read: 1 (au->from and au->tree set). 0: the whole
 * log is audited (a problem says why, unless the checkpoint is of size 0). */
int audit_since_start(archive *a, struct audit *au, const archive_audit_opts *o,
		      archive_checkpoint *old, int *opened)
{
	uint8_t peaks[64][32], r[32];
	uint64_t size;
	unsigned n, k;
	smk_err e;

	*opened = 0;
	fprintf(au->out, "\nSince %s\n",
		o->since_name ? smk_show(o->since_name) : "earlier checkpoint");
	if (!au->akey) {
		audit_problem(au, "no archive key: cannot check the earlier checkpoint");
		return 0;
	}
	if (archive_checkpoint_open(o->since, o->since_len, au->akey, old, &e) < 0) {
		audit_problem(au, "earlier checkpoint: %s", e.msg);
		return 0;
	}
	*opened = 1;
	if (archive_size(a, &size, &e) < 0 || old->size == 0 || old->size > size) {
		if (old->size)
			fprintf(au->out, "  every record is audited\n");
		return 0; /* a truncated log is named after the records */
	}
	if (archive_tree_peaks(a, old->size, peaks, &n, &e) < 0) {
		audit_problem(au, "the stored tree of the first %" PRIu64 " records: %s", old->size,
			      e.msg);
		return 0;
	}
	memcpy(r, peaks[n - 1], 32);
	for (k = n - 1; k-- > 0;)
		if (merkle_node_hash(peaks[k], r, r, &e) < 0)
			return 0;
	if (memcmp(r, old->root, 32) != 0) {
		audit_problem(
		    au,
		    "the stored tree of the first %" PRIu64
		    " records does not lead to the earlier checkpoint's root: every record is "
		    "audited",
		    old->size);
		return 0;
	}
	if (merkle_tree_start_at(&au->tree, old->size, (const uint8_t(*)[32])peaks, &e) < 0) {
		audit_problem(au, "earlier checkpoint: %s", e.msg);
		return 0;
	}
	au->from = old->size;
	fprintf(au->out,
		"  checkpoint of size %" PRIu64 " signed by the archive key; the stored tree "
		"leads to its root\n",
		old->size);
	return 1;
}

/* The stored tree's consistency proof from the earlier checkpoint to the
 * latest signed one, checked against both roots. */
static void since_stored_proof(archive *a, struct audit *au, const archive_checkpoint *old)
{
	smk_buf note = SMK_BUF_INIT, proof = SMK_BUF_INIT;
	archive_checkpoint cur;
	uint64_t size, new_size;
	smk_err e;

	if (archive_latest_checkpoint(a, &note, &size, &e) < 0 ||
	    archive_checkpoint_open_key(note.data, note.len, &au->ckey, &cur, &e) < 0) {
		audit_problem(au, "latest checkpoint: %s", e.msg);
		goto out;
	}
	new_size = cur.size;
	if (cur.size < old->size ||
	    archive_consistency_proof(a, old->size, &new_size, &proof, &e) < 0 ||
	    merkle_verify_consistency(old->size, cur.size, old->root, cur.root, proof.data,
				      proof.len, &e) < 0)
		audit_problem(au,
			      "the stored tree proves no consistency from size %" PRIu64
			      " to the latest checkpoint (size %" PRIu64 "): %s",
			      old->size, cur.size, cur.size < old->size ? "it is smaller" : e.msg);
	else
		fprintf(au->out,
			"  ok: the stored tree's proof from size %" PRIu64 " to the latest "
			"checkpoint (size %" PRIu64 ") verifies\n",
			old->size, cur.size);
out:
	smk_buf_free(&note);
	smk_buf_free(&proof);
}

void audit_since(archive *a, struct audit *au, const archive_audit_opts *o,
		 const archive_checkpoint *old)
{
	uint8_t root[32];
	smk_buf proof = SMK_BUF_INIT;
	smk_err e;

	fprintf(au->out, "\nConsistency with %s\n",
		o->since_name ? smk_show(o->since_name) : "earlier checkpoint");
	if (old->size > au->nleaves) {
		audit_problem(au,
			      "the log has %" PRIu64
			      " records, fewer than the earlier checkpoint's %" PRIu64
			      ": it was truncated",
			      au->nleaves, old->size);
		return;
	}
	if (au->from)
		since_stored_proof(a, au, old);
	/* the tree of the records as audited (hashed from their bytes after
	 * the earlier checkpoint's peaks) */
	if (merkle_tree_root(&au->tree, au->nleaves, root, &e) < 0 ||
	    merkle_tree_consistency_proof(&au->tree, au->nleaves, old->size, &proof, &e) < 0 ||
	    merkle_verify_consistency(old->size, au->nleaves, old->root, root, proof.data,
				      proof.len, &e) < 0)
		audit_problem(au,
			      "the log is not an append-only extension of checkpoint size %" PRIu64
			      ": %s",
			      old->size, e.msg);
	else
		fprintf(au->out, "  ok: size %" PRIu64 " -> %" PRIu64 " only appended\n", old->size,
			au->nleaves);
	smk_buf_free(&proof);
}
