/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The read side of the store: records, checkpoints, proofs and open intents,
 * for the daemon's queries, the bundle export and the offline tools.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "merkle.h"
#include "record.h"

int archive_size(archive *a, uint64_t *n, smk_err *e)
{
	int64_t v;

	/* O(log n): the tree size is one past the last record (a gap left by
	 * a deleted row is named where the records are read) */
	if (archive_db_int(a, "SELECT COALESCE(MAX(seq) + 1, 0) FROM records", &v, e) < 0)
		return -1;
	*n = (uint64_t)v;
	return 0;
}

int archive_get(archive *a, uint64_t seq, smk_buf *canonical, smk_buf *sig, smk_err *e)
{
	sqlite3_stmt *st;
	int rc;

	if (archive_db_prepare_int(a, "SELECT canonical, signature FROM records WHERE seq = ?",
				   (int64_t)seq, &st, e) < 0)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rc = archive_db_blob(st, 0, canonical, e) < 0 ||
			     (sig && archive_db_blob(st, 1, sig, e) < 0)
			 ? -1
			 : 0;
	} else if (rc == SQLITE_DONE) {
		rc = smk_fail(e, SMK_E_ARG, "archive: no record %" PRIu64, seq);
	} else {
		rc = archive_db_fail(a, "read record", e);
	}
	sqlite3_finalize(st);
	return rc;
}

int archive_scan_leaves(archive *a, uint64_t from, uint64_t size,
			int (*add)(void *ctx, uint64_t i, const uint8_t leaf[32], smk_err *e),
			void *ctx, smk_err *e)
{
	sqlite3_stmt *st;
	uint64_t i = from;
	int rc;

	if (archive_db_prepare_int(a,
				   "SELECT seq, canonical FROM records WHERE seq >= ? AND seq < ?"
				   " ORDER BY seq",
				   (int64_t)from, &st, e) < 0)
		return -1;
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint8_t leaf[32];

		if ((uint64_t)sqlite3_column_int64(st, 0) != i) {
			sqlite3_finalize(st);
			return smk_fail(e, SMK_E_FORMAT, "archive: record %" PRIu64 " is missing",
					i);
		}
		if (merkle_leaf_hash(sqlite3_column_blob(st, 1),
				     (size_t)sqlite3_column_bytes(st, 1), leaf, e) < 0 ||
		    add(ctx, i, leaf, e) < 0) {
			sqlite3_finalize(st);
			return -1;
		}
		i++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return archive_db_fail(a, "read records", e);
	if (i != size)
		return smk_fail(e, SMK_E_FORMAT, "archive: record %" PRIu64 " is missing", i);
	return 0;
}

static int leaf_to_array(void *ctx, uint64_t i, const uint8_t leaf[32], smk_err *e)
{
	uint8_t(*leaves)[32] = ctx;

	(void)e;
	memcpy(leaves[i], leaf, 32);
	return 0;
}

int archive_load_leaves(archive *a, uint64_t size, uint8_t (**leaves)[32], smk_err *e)
{
	*leaves = NULL;
	if (size > (UINT64_C(1) << 32))
		return smk_fail(e, SMK_E_ARG, "archive: tree size %" PRIu64 " too large", size);
	*leaves = malloc((size ? size : 1) * 32);
	if (!*leaves)
		return smk_fail(e, SMK_E_NOMEM, "archive: out of memory");
	if (archive_scan_leaves(a, 0, size, leaf_to_array, *leaves, e) < 0) {
		free(*leaves);
		*leaves = NULL;
		return -1;
	}
	return 0;
}

/* Reverse list[0..n) in place: the walk below finds the newest first. */
static void reverse_intents(archive_intent_info *list, size_t n)
{
	archive_intent_info t;
	size_t i;

	for (i = 0; i < n / 2; i++) {
		t = list[i];
		list[i] = list[n - 1 - i];
		list[n - 1 - i] = t;
	}
}

int archive_pending(archive *a, archive_intent_info **list, size_t *n, smk_err *e)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int64_t open;
	int rc = SQLITE_DONE;

	*list = NULL;
	*n = 0;
	/* O(log n) for the usual answer, none: rows are never deleted
	 * (triggers), so the largest rowid of each table is its row count,
	 * and every outcome is of a different intent (primary key) */
	if (archive_db_int(a,
			   "SELECT (SELECT COALESCE(MAX(rowid), 0) FROM intents) -"
			   " (SELECT COALESCE(MAX(rowid), 0) FROM outcomes)",
			   &open, e) < 0)
		return -1;
	if (open <= 0)
		return 0;
	/* the same count bounds the walk: from the newest intent back, it stops
	 * at the open-th intent without an outcome, so it reads the intents
	 * made since the oldest open one (those in flight, at start the few a
	 * crash left), not every intent of the archive */
	if (archive_db_prepare(a,
			       "SELECT i.request_id, i.time, i.kind, i.policy_name, i.digest, i.chr"
			       " FROM intents i LEFT JOIN outcomes o USING(request_id)"
			       " WHERE o.request_id IS NULL ORDER BY i.rowid DESC",
			       &st, e) < 0)
		return -1;
	while ((int64_t)*n < open && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		archive_intent_info *it;

		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			archive_intent_info *grown = realloc(*list, ncap * sizeof(**list));

			if (!grown) {
				rc = SQLITE_NOMEM;
				break;
			}
			*list = grown;
			cap = ncap;
		}
		it = &(*list)[(*n)++];
		memset(it, 0, sizeof(*it));
		snprintf(it->request_id, sizeof(it->request_id), "%s", sqlite3_column_text(st, 0));
		it->time = sqlite3_column_int64(st, 1);
		snprintf(it->kind, sizeof(it->kind), "%s", sqlite3_column_text(st, 2));
		snprintf(it->policy_name, sizeof(it->policy_name), "%s",
			 sqlite3_column_text(st, 3));
		if (sqlite3_column_bytes(st, 4) == 32)
			memcpy(it->digest, sqlite3_column_blob(st, 4), 32);
		snprintf(it->chr, sizeof(it->chr), "%s", sqlite3_column_text(st, 5));
	}
	if ((int64_t)*n == open)
		rc = SQLITE_DONE; /* stopped at the count, not at the end */
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(*list);
		*list = NULL;
		*n = 0;
		return archive_db_fail(a, "list pending intents", e);
	}
	reverse_intents(*list, *n); /* oldest first, as they were made */
	return 0;
}

int archive_policy_key_count(archive *a, const char *policy_name, uint64_t *n, smk_err *e)
{
	sqlite3_stmt *st;
	int rc;

	/* committed keys plus interrupted intents, which may have made a key on
	 * the card: a limit must not be exceeded by crashing */
	if (archive_db_prepare_text(
		a,
		"SELECT COUNT(*) FROM intents i LEFT JOIN outcomes o USING(request_id)"
		" WHERE i.policy_name = ? AND i.kind = 'key'"
		" AND (o.status IS NULL OR o.status = 'committed')",
		policy_name, &st, e) < 0)
		return -1;
	rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : archive_db_fail(a, "count keys", e);
}

int archive_policy_key_seqs(archive *a, const char *policy_name, uint64_t **seqs, size_t *n,
			    smk_err *e)
{
	sqlite3_stmt *st;
	uint64_t *v = NULL, *grown;
	size_t cap = 0;
	int rc;

	*seqs = NULL;
	*n = 0;
	/* through the index on intents(policy_name, kind): the records of one
	 * policy, not every record */
	if (archive_db_prepare_text(a,
				    "SELECT o.seq FROM intents i JOIN outcomes o USING(request_id)"
				    " WHERE i.policy_name = ? AND i.kind = 'key'"
				    " AND o.status = 'committed' ORDER BY o.seq",
				    policy_name, &st, e) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			grown = realloc(v, cap * sizeof(*v));
			if (grown == NULL) {
				sqlite3_finalize(st);
				free(v);
				*n = 0;
				return smk_fail(e, SMK_E_NOMEM, "archive: out of memory");
			}
			v = grown;
		}
		v[(*n)++] = (uint64_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(v);
		*n = 0;
		return archive_db_fail(a, "list keys", e);
	}
	*seqs = v;
	return 0;
}

int archive_latest_checkpoint(archive *a, smk_buf *note, uint64_t *size, smk_err *e)
{
	sqlite3_stmt *st;
	int rc;

	if (archive_db_prepare(a, "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
			       &st, e) < 0)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*size = (uint64_t)sqlite3_column_int64(st, 0);
		rc = archive_db_blob(st, 1, note, e);
	} else {
		rc = rc == SQLITE_DONE ? smk_fail(e, SMK_E_ARG, "archive: no checkpoint yet")
				       : archive_db_fail(a, "read checkpoint", e);
	}
	sqlite3_finalize(st);
	return rc;
}

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* Whether record seq is labelled label (the label index's answer, checked). */
static int record_has_label(archive *a, uint64_t seq, const char *label)
{
	smk_buf canon = SMK_BUF_INIT;
	archive_record r;
	smk_err ignore;
	int ok = 0;

	if (archive_get(a, seq, &canon, NULL, &ignore) == 0 &&
	    archive_record_parse(canon.data, canon.len, &r, &ignore) == 0) {
		ok = r.label && strcmp(r.label, label) == 0;
		archive_record_free(&r);
	}
	smk_buf_free(&canon);
	return ok;
}

int archive_find(archive *a, const char *id, uint64_t *seq, smk_err *e)
{
	sqlite3_stmt *st;
	int rc, found = 0;

	if (all_digits(id) && strlen(id) < 19) {
		smk_buf canon = SMK_BUF_INIT;

		*seq = strtoull(id, NULL, 10);
		rc = archive_get(a, *seq, &canon, NULL, e);
		smk_buf_free(&canon);
		return rc;
	}
	if (strlen(id) == ARCHIVE_REQUEST_ID_LEN) {
		if (archive_db_prepare_text(a, "SELECT seq FROM records WHERE request_id = ?", id,
					    &st, e) < 0)
			return -1;
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*seq = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (rc == SQLITE_ROW)
			return 0;
	}
	/* by label: through the index where this open keeps one, the answer
	 * checked against the record; otherwise (read-only) read the records */
	if (a->labels_table && id[0]) {
		if (archive_labels_find(a, id, seq, &found, e) < 0)
			return -1;
		if (found == 1 && record_has_label(a, *seq, id))
			return 0;
		if (found > 1)
			return smk_fail(
			    e, SMK_E_ARG,
			    "archive: label \"%s\" names %d records; use the sequence number", id,
			    found);
		if (found == 0)
			return smk_fail(
			    e, SMK_E_ARG,
			    "archive: no record with sequence number, request id or label \"%s\"",
			    id);
		found = 0; /* the index disagrees with the record: read them all */
	}
	if (archive_db_prepare(a, "SELECT seq, canonical FROM records ORDER BY seq", &st, e) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		archive_record r;
		smk_err ignore;

		if (archive_record_parse(sqlite3_column_blob(st, 1),
					 (size_t)sqlite3_column_bytes(st, 1), &r, &ignore) < 0)
			continue;
		/* certificate records and unlabelled adopted keys have no label */
		if (r.label[0] && strcmp(r.label, id) == 0) {
			*seq = r.seq;
			found++;
		}
		archive_record_free(&r);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return archive_db_fail(a, "find record", e);
	if (found == 0)
		return smk_fail(
		    e, SMK_E_ARG,
		    "archive: no record with sequence number, request id or label \"%s\"", id);
	if (found > 1)
		return smk_fail(e, SMK_E_ARG,
				"archive: label \"%s\" names %d records; use the sequence number",
				id, found);
	return 0;
}

int archive_consistency_proof(archive *a, uint64_t old_size, uint64_t *new_size, smk_buf *proof,
			      smk_err *e)
{
	merkle_nodes nodes;
	uint64_t size;

	if (archive_size(a, &size, e) < 0)
		return -1;
	if (*new_size == 0)
		*new_size = size;
	if (*new_size > size || old_size > *new_size)
		return smk_fail(e, SMK_E_ARG,
				"archive: no consistency proof from size %" PRIu64 " to %" PRIu64
				" (the log has %" PRIu64 " records)",
				old_size, *new_size, size);
	if (archive_tree_nodes(a, *new_size, &nodes, e) < 0)
		return -1;
	return merkle_nodes_consistency_proof(&nodes, *new_size, old_size, proof, e);
}

int archive_scan_records(archive *a, int (*fn)(const archive_record *r, void *ctx), void *ctx,
			 smk_err *e)
{
	sqlite3_stmt *st;
	int rc, hit = 0;

	if (archive_db_prepare(a, "SELECT canonical FROM records ORDER BY seq DESC", &st, e) < 0)
		return -1;
	while (!hit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		archive_record r;
		smk_err ignore;

		/* an unreadable record is audit's business, not a lookup's */
		if (archive_record_parse(sqlite3_column_blob(st, 0),
					 (size_t)sqlite3_column_bytes(st, 0), &r, &ignore) < 0)
			continue;
		hit = fn(&r, ctx);
		archive_record_free(&r);
	}
	sqlite3_finalize(st);
	if (!hit && rc != SQLITE_DONE)
		return archive_db_fail(a, "read records", e);
	return hit ? 1 : 0;
}

/* One key record to look for: by device serial and key id, or by public key. */
struct key_search {
	const char *serial;
	unsigned key_id;
	const uint8_t *spki;
	size_t n;
	uint64_t seq;
};

static int is_key(const archive_record *r, void *ctx)
{
	struct key_search *k = ctx;

	if (!archive_kind_has_key(r->kind))
		return 0;
	if (k->serial && (r->key_id != k->key_id || strcmp(r->device_serial, k->serial) != 0))
		return 0;
	if (k->spki && (r->spki.len != k->n || memcmp(r->spki.data, k->spki, k->n) != 0))
		return 0;
	k->seq = r->seq;
	return 1;
}

int archive_find_device_key(archive *a, const char *serial, unsigned key_id, uint64_t *seq,
			    smk_err *e)
{
	struct key_search d = {serial, key_id, NULL, 0, 0};
	int rc;

	if (!serial)
		return smk_fail(e, SMK_E_ARG, "archive: no device serial");
	rc = archive_scan_records(a, is_key, &d, e);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return smk_fail(e, SMK_E_ARG, "no committed record for key id %u on device %s",
				key_id, serial);
	*seq = d.seq;
	return 0;
}

int archive_find_spki(archive *a, const uint8_t *spki, size_t n, uint64_t *seq, smk_err *e)
{
	struct key_search s = {NULL, 0, spki, n, 0};
	uint8_t fp[32];
	char hex[65];
	int rc;

	if (!spki || n == 0)
		return smk_fail(e, SMK_E_ARG, "archive: no public key to look for");
	rc = archive_scan_records(a, is_key, &s, e);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		if (smk_sha256(spki, n, fp, e) < 0)
			return -1;
		smk_hex_to(hex, fp, 32, SMK_HEX_LOWER);
		return smk_fail(e, SMK_E_ARG, "no committed record holds the public key sha256 %s",
				hex);
	}
	*seq = s.seq;
	return 0;
}

struct cert_search {
	uint64_t key_seq, seq;
};

static int is_cert_for(const archive_record *r, void *ctx)
{
	struct cert_search *c = ctx;

	if (strcmp(r->kind, ARCHIVE_KIND_CERTIFICATE) != 0 || r->key_seq != c->key_seq)
		return 0;
	c->seq = r->seq;
	return 1;
}

int archive_find_cert(archive *a, uint64_t key_seq, uint64_t *seq, smk_err *e)
{
	struct cert_search c = {key_seq, 0};
	int rc = archive_scan_records(a, is_cert_for, &c, e);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return smk_fail(e, SMK_E_ARG, "no certificate record for key record %" PRIu64,
				key_seq);
	*seq = c.seq;
	return 0;
}
