/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The persistent Merkle tree (docs/archive.md "Storage", table tree_nodes):
 * the hash of every complete subtree of the log, (level, index, hash), level
 * 0 being the leaf hashes. A record's leaf and the subtrees it completes are
 * inserted in the transaction that inserts the record, so any root,
 * inclusion or consistency proof costs O(log n) lookups and opening the
 * archive reads no record.
 *
 * The stored nodes are hints: every proof made from them is verified
 * against a signed checkpoint by whoever relies on it (smkey verify, a
 * witness, smkey audit --since), and the full audit hashes every record
 * itself. An archive written before the table existed gains it when opened
 * for writing (one pass over the records, reported by archive_tree_built);
 * a read-only open of such an archive computes from the leaves as before.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "merkle.h"

static const char tree_schema[] =
    "CREATE TABLE IF NOT EXISTS tree_nodes("
    " level INTEGER NOT NULL,"
    " idx INTEGER NOT NULL,"
    " hash BLOB NOT NULL,"
    " PRIMARY KEY(level, idx)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS tree_nodes_no_update BEFORE UPDATE ON tree_nodes"
    " BEGIN SELECT RAISE(ABORT, 'archive tree nodes are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS tree_nodes_no_delete BEFORE DELETE ON tree_nodes"
    " BEGIN SELECT RAISE(ABORT, 'archive tree nodes are append-only'); END;";

/* The kept statement *st (prepared from sql the first time), reset, with
 * the node's level and index bound as its first two parameters; NULL when
 * it does not prepare. */
static sqlite3_stmt *node_stmt(archive *a, sqlite3_stmt **st, const char *sql, unsigned level,
			       uint64_t idx, smk_err *e)
{
	if (!*st && archive_db_prepare(a, sql, st, e) < 0)
		return NULL;
	sqlite3_reset(*st);
	sqlite3_bind_int(*st, 1, (int)level);
	sqlite3_bind_int64(*st, 2, (sqlite3_int64)idx);
	return *st;
}

static int node_insert(archive *a, unsigned level, uint64_t idx, const uint8_t h[32], smk_err *e)
{
	sqlite3_stmt *st =
	    node_stmt(a, &a->tree_put, "INSERT INTO tree_nodes(level, idx, hash) VALUES(?, ?, ?)",
		      level, idx, e);

	if (!st)
		return -1;
	sqlite3_bind_blob(st, 3, h, 32, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		archive_db_fail(a, "store tree node", e);
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

/* The stored node (level, idx); SMK_E_FORMAT naming it when it is missing
 * or not a hash. */
static int node_read(void *ctx, unsigned level, uint64_t idx, uint8_t out[32], smk_err *e)
{
	archive *a = ctx;
	sqlite3_stmt *st =
	    node_stmt(a, &a->tree_get, "SELECT hash FROM tree_nodes WHERE level = ? AND idx = ?",
		      level, idx, e);
	int rc;

	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
		memcpy(out, sqlite3_column_blob(st, 0), 32);
		rc = 0;
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		rc = smk_fail(e, SMK_E_FORMAT,
			      "archive: tree node (level %u, index %" PRIu64 ") is %s", level, idx,
			      rc == SQLITE_ROW ? "not a 32-byte hash" : "missing");
	} else {
		rc = archive_db_fail(a, "read tree node", e);
	}
	sqlite3_reset(st);
	return rc;
}

int archive_tree_add_leaf(archive *a, uint64_t seq, const uint8_t *record, size_t len, smk_err *e)
{
	uint8_t h[32], left[32];
	uint64_t i = seq;
	unsigned l = 0;

	if (merkle_leaf_hash(record, len, h, e) < 0 || node_insert(a, 0, seq, h, e) < 0)
		return -1;
	/* every right child completes its parent */
	while (i & 1) {
		if (node_read(a, l, i - 1, left, e) < 0 || merkle_node_hash(left, h, h, e) < 0 ||
		    node_insert(a, l + 1, i >> 1, h, e) < 0)
			return -1;
		i >>= 1;
		l++;
	}
	return 0;
}

/* How many leaves the table holds (its level 0 is 0..n-1). */
static int tree_leaves(archive *a, uint64_t *n, smk_err *e)
{
	int64_t v;

	if (archive_db_int(a, "SELECT COALESCE(MAX(idx) + 1, 0) FROM tree_nodes WHERE level = 0",
			   &v, e) < 0)
		return -1;
	*n = (uint64_t)v;
	return 0;
}

struct builder {
	archive *a;
	merkle_tree t;
};

/* Append one leaf to the in-memory tree and store the nodes it completes. */
static int build_leaf(void *ctx, uint64_t i, const uint8_t leaf[32], smk_err *e)
{
	struct builder *b = ctx;
	uint64_t j = i;
	unsigned l = 0;

	if (merkle_tree_append(&b->t, leaf, e) < 0 || node_insert(b->a, 0, i, leaf, e) < 0)
		return -1;
	while (j & 1) {
		j >>= 1;
		l++;
		if (node_insert(b->a, l, j, merkle_tree_node(&b->t, l, j), e) < 0)
			return -1;
	}
	return 0;
}

/* Store the nodes of records from..size-1, the table holding 0..from-1:
 * the tree is rebuilt in memory from the records (the stored nodes are
 * not trusted to seed it) and only the new nodes are inserted. */
static int tree_fill(archive *a, uint64_t from, uint64_t size, smk_err *e)
{
	struct builder b;
	int rc;

	memset(&b, 0, sizeof(b));
	b.a = a;
	rc = archive_scan_leaves(a, 0, from, archive_tree_leaf_cb, &b.t, e);
	if (rc == 0)
		rc = archive_scan_leaves(a, from, size, build_leaf, &b, e);
	merkle_tree_reset(&b.t);
	return rc;
}

int archive_tree_leaf_cb(void *ctx, uint64_t i, const uint8_t leaf[32], smk_err *e)
{
	(void)i;
	return merkle_tree_append(ctx, leaf, e);
}

int archive_tree_open(archive *a, smk_err *e)
{
	uint64_t size, have = 0;
	int present;

	a->tree_table = 0;
	a->tree_built = 0;
	if (archive_db_has_table(a, "tree_nodes", &present, e) < 0)
		return -1;
	if (archive_size(a, &size, e) < 0 || (present && tree_leaves(a, &have, e) < 0))
		return -1;
	if (a->readonly) {
		/* a table behind the records (written by an older smkeyd after a
		 * newer one) is not used: the leaves are */
		a->tree_table = present && have == size;
		return 0;
	}
	if (present && have == size) {
		a->tree_table = 1;
		return 0;
	}
	if (have > size)
		return smk_fail(e, SMK_E_FORMAT,
				"tree_nodes holds %" PRIu64 " leaves, the log %" PRIu64
				" records; the archive was cut",
				have, size);
	if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return archive_db_fail(a, "begin tree build", e);
	if (sqlite3_exec(a->db, tree_schema, NULL, NULL, NULL) != SQLITE_OK) {
		archive_db_fail(a, "create tree_nodes", e);
		goto fail;
	}
	if (tree_fill(a, have, size, e) < 0)
		goto fail;
	if (sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		archive_db_fail(a, "commit tree build", e);
		goto fail;
	}
	a->tree_table = 1;
	a->tree_built = size - have;
	return 0;
fail:
	sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	return smk_context(e, "building the tree table");
}

uint64_t archive_tree_built(const archive *a)
{
	return a->tree_built;
}

void archive_tree_forget(archive *a)
{
	sqlite3_finalize(a->tree_get);
	sqlite3_finalize(a->tree_put);
	a->tree_get = a->tree_put = NULL;
	if (a->tree)
		merkle_tree_reset(a->tree);
	free(a->tree);
	a->tree = NULL;
}

/* Read-only archive without the table: the tree of every leaf in memory,
 * hashing only the records added since the last call. A record that took
 * the number of a rolled-back one differs in its last leaf: rebuilt. */
static int memory_tree(archive *a, uint64_t size, smk_err *e)
{
	smk_buf canon = SMK_BUF_INIT;
	uint8_t leaf[32];
	smk_err ge;
	int valid = 1;

	if (!a->tree) {
		a->tree = calloc(1, sizeof(*a->tree));
		if (!a->tree)
			return smk_fail(e, SMK_E_NOMEM, "archive: out of memory");
	}
	if (a->tree->size > 0) {
		valid = archive_get(a, a->tree->size - 1, &canon, NULL, &ge) == 0 &&
			merkle_leaf_hash(canon.data, canon.len, leaf, &ge) == 0 &&
			memcmp(leaf, merkle_tree_leaf(a->tree, a->tree->size - 1), 32) == 0;
		smk_buf_free(&canon);
	}
	if (!valid)
		merkle_tree_reset(a->tree);
	if (archive_scan_leaves(a, a->tree->size, size, archive_tree_leaf_cb, a->tree, e) < 0) {
		/* never keep a tree that may not match the records */
		merkle_tree_reset(a->tree);
		return -1;
	}
	return 0;
}

int archive_tree_nodes(archive *a, uint64_t size, merkle_nodes *n, smk_err *e)
{
	if (a->tree_table) {
		n->get = node_read;
		n->ctx = a;
		n->size = size;
		return 0;
	}
	if (memory_tree(a, size, e) < 0)
		return -1;
	*n = merkle_tree_nodes(a->tree);
	return 0;
}

int archive_tree_root(archive *a, uint64_t size, uint8_t root[32], smk_err *e)
{
	merkle_nodes n;

	if (archive_tree_nodes(a, size, &n, e) < 0)
		return -1;
	return merkle_nodes_root(&n, size, root, e);
}

int archive_tree_peaks(archive *a, uint64_t size, uint8_t (*peaks)[32], unsigned *count, smk_err *e)
{
	unsigned lv[64], k;
	uint64_t ix[64];
	merkle_nodes n;

	*count = merkle_peaks(size, lv, ix);
	if (archive_tree_nodes(a, size, &n, e) < 0)
		return -1;
	for (k = 0; k < *count; k++)
		if (n.get(n.ctx, lv[k], ix[k], peaks[k], e) < 0)
			return -1;
	return 0;
}
