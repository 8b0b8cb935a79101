/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the files of archive/ and nothing else: reading canonical
 * JSON and typed members. Not part of the module's public API. Writing
 * canonical JSON, base64, hex and SHA-256 are common/'s (json.h, b64.h,
 * hex.h, digest.h).
 */
#ifndef SMK_ARCHIVE_INTERNAL_H
#define SMK_ARCHIVE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include "../common/b64.h"
#include "../common/buf.h"
#include "../common/digest.h"
#include "../common/err.h"
#include "../common/hex.h"
#include "../common/json.h"
#include "archive.h"
#include "merkle.h"
#include "record.h"

/* Upper bound for any JSON document the archive reads (record, bundle). */
#define ARCHIVE_JSON_MAX (1u << 20)

/* Parse a JSON object and insist that p[0..n) is its canonical encoding
 * (smk_json_canonical), or the one written before it was JCS
 * (smk_json_canonical_legacy), which older records hold. */
int archive_json_load_canonical(const uint8_t *p, size_t n, json_t **out, const char *what,
				smk_err *e);
/* Parse a JSON object (any formatting), bounded by ARCHIVE_JSON_MAX. */
int archive_json_load(const uint8_t *p, size_t n, json_t **out, const char *what, smk_err *e);

/* Typed member access with errors naming what and key. */
int archive_json_str(const json_t *o, const char *key, const char **s, const char *what,
		     smk_err *e);
int archive_json_int(const json_t *o, const char *key, int64_t min, int64_t max, int64_t *v,
		     const char *what, smk_err *e);
int archive_json_bool(const json_t *o, const char *key, int *v, const char *what, smk_err *e);
int archive_json_obj(const json_t *o, const char *key, json_t **v, const char *what, smk_err *e);
/* Base64 member, appended to out; exact_len != 0 demands that many bytes. */
int archive_json_bytes(const json_t *o, const char *key, smk_buf *out, size_t exact_len,
		       const char *what, smk_err *e);
/* The object has exactly these keys (NULL-terminated list), nothing else. */
int archive_json_keys(const json_t *o, const char *const *keys, const char *what, smk_err *e);

/* Free the n buffers of a structure's list bufs (its free function). */
void archive_bufs_free(smk_buf *const bufs[], size_t n);

/* Canonical intent bytes for req (docs/archive.md "Intent"). */
int archive_intent_encode(const archive_intent_req *req, const char *request_id, int64_t time,
			  smk_buf *out, smk_err *e);
/* Canonical intent of an adoption (kind adopted: no policy). */
int archive_adopt_intent_encode(const archive_adopt_req *req, const char *request_id, int64_t time,
				smk_buf *out, smk_err *e);
/* Canonical intent of a certificate import for key record key. */
int archive_cert_intent_encode(const archive_cert_req *req, const archive_record *key,
			       const char *request_id, int64_t time, smk_buf *out, smk_err *e);
/* Canonical record bytes: the stored intent plus the card's answer (req;
 * NULL for kind certificate, whose record is its intent). The
 * result is parsed back before it is returned, so nothing is ever written
 * that archive_record_parse would refuse. */
int archive_record_encode(const uint8_t *intent, size_t intent_len, const uint8_t *policy_doc,
			  size_t policy_doc_len, const archive_commit_req *req, uint64_t seq,
			  const uint8_t prev[32], int64_t time, smk_buf *out, smk_err *e);

/* What every intent holds (record.c): format, kind, request id, time, key
 * id, peer, device; NULL when out of memory. */
json_t *archive_intent_common(const char *kind, const archive_peer *p, const char *serial,
			      const char *devaut_chr, unsigned key_id, const char *request_id,
			      int64_t time);
/* The intent's device, DevAut CHR and key id are well formed. */
int archive_check_device(const char *serial, const char *devaut_chr, unsigned key_id, smk_err *e);
/* Canonical bytes of intent o (consumed); ok 0: something failed to build. */
int archive_dump_intent(json_t *o, int ok, smk_buf *out, smk_err *e);

/* Signature records (sigrecord.c): the intent's and the record's members. */
extern const char *const archive_sig_intent_keys[];
extern const char *const archive_sig_record_keys[];
int archive_sig_intent_parse(json_t *in, archive_record *r, smk_err *e);
int archive_sig_record_members(json_t *o, const archive_commit_req *req, smk_err *e);
int archive_sig_record_parse(json_t *o, archive_record *r, smk_err *e);
/* store.c: what every new intent does first: out cleared, and a refusal
 * when the archive is read-only. */
int archive_intent_begin(archive *a, archive_intent_info *out, smk_err *e);
/* store.c: the rest of an intent of kind about committed key record key_seq
 * (a certificate import, a signature): the key record loaded, check(req,
 * key) passed (unless check is NULL), a new request id and time, the
 * canonical bytes encode(req, key, ...) gives, their digest, and the stored
 * intent (no policy document; a signature's without an fsync of its own,
 * store.c store_intent_unsynced), all in out. */
typedef int archive_key_intent_check(const void *req, const archive_record *key, smk_err *e);
typedef int archive_key_intent_encode(const void *req, const archive_record *key,
				      const char *request_id, int64_t time, smk_buf *out,
				      smk_err *e);
int archive_key_intent(archive *a, const char *kind, uint64_t key_seq, int64_t time,
		       const void *req, archive_key_intent_check *check,
		       archive_key_intent_encode *encode, archive_intent_info *out, smk_err *e);

struct archive {
	sqlite3 *db;
	int readonly;
	void (*hook)(const char *step, void *ctx);
	void *hook_ctx;
	/* read-only archives without the tree table: every leaf in memory,
	 * or NULL */
	merkle_tree *tree;
	int tree_table;	     /* tree_nodes holds a node for every record */
	uint64_t tree_built; /* records whose nodes this open stored (migration) */
	sqlite3_stmt *tree_get, *tree_put;
	int labels_table; /* record_labels holds a row for every record (labels.c) */
};

/* An SQLite failure as SMK_E_IO, naming what was being done. */
int archive_db_fail(archive *a, const char *what, smk_err *e);
int archive_db_prepare(archive *a, const char *sql, sqlite3_stmt **st, smk_err *e);
/* Prepare sql and bind its one parameter to text (a policy name, a request
 * id); text must outlive the statement. */
int archive_db_prepare_text(archive *a, const char *sql, const char *text, sqlite3_stmt **st,
			    smk_err *e);
/* Prepare sql and bind its first parameter to v (a seq, a size, a time). */
int archive_db_prepare_int(archive *a, const char *sql, int64_t v, sqlite3_stmt **st, smk_err *e);
/* *yes: the archive has table name (an older archive lacks later tables). */
int archive_db_has_table(archive *a, const char *name, int *yes, smk_err *e);
/* Prepare the INSERT sql, bind(st, arg) its parameters, run it once;
 * what names it in an error. */
int archive_db_insert(archive *a, const char *sql, const char *what, smk_err *e,
		      void (*bind)(sqlite3_stmt *st, const void *arg), const void *arg);
/* The one integer a query returns (0 when it returns no row). */
int archive_db_int(archive *a, const char *sql, int64_t *v, smk_err *e);
/* Append the blob in column col of the current row. */
int archive_db_blob(sqlite3_stmt *st, int col, smk_buf *out, smk_err *e);
/* Leaf hashes of records 0..size-1 (caller frees *leaves); fails naming the
 * first missing sequence number. */
int archive_load_leaves(archive *a, uint64_t size, uint8_t (**leaves)[32], smk_err *e);
/* The leaf hash of every record from..size-1, in order, to add(ctx, i,
 * leaf); a gap in the sequence numbers is an error naming it. */
int archive_scan_leaves(archive *a, uint64_t from, uint64_t size,
			int (*add)(void *ctx, uint64_t i, const uint8_t leaf[32], smk_err *e),
			void *ctx, smk_err *e);

/* The persistent tree (tree.c). At open: a writable archive gains the
 * tree_nodes table (built from the records when it is missing or behind);
 * a read-only one uses it when it covers every record. */
int archive_tree_open(archive *a, smk_err *e);
/* labels.c: the label index (writable opens only): created and filled in
 * for records stored without it; a record's row, in its transaction; the
 * records a label names (*found of them, the last in *seq). */
int archive_labels_open(archive *a, smk_err *e);
int archive_labels_add(archive *a, uint64_t seq, const uint8_t *rec, size_t len, smk_err *e);
int archive_labels_find(archive *a, const char *label, uint64_t *seq, int *found, smk_err *e);
/* In the record's transaction: its leaf and the subtrees it completes. */
int archive_tree_add_leaf(archive *a, uint64_t seq, const uint8_t *record, size_t len, smk_err *e);
/* The nodes of the tree of the first size records: looked up in the table,
 * or (read-only, no table) computed from the leaves and kept in a->tree. */
int archive_tree_nodes(archive *a, uint64_t size, merkle_nodes *n, smk_err *e);
/* MTH of records 0..size-1. */
int archive_tree_root(archive *a, uint64_t size, uint8_t root[32], smk_err *e);
/* The stored peaks (merkle_peaks) of the tree of size records; *count of
 * them in peaks[0..63]. Hints: the caller checks them against a root. */
int archive_tree_peaks(archive *a, uint64_t size, uint8_t (*peaks)[32], unsigned *count,
		       smk_err *e);
/* merkle_tree_append as a scan callback (ctx: the merkle_tree). */
int archive_tree_leaf_cb(void *ctx, uint64_t i, const uint8_t leaf[32], smk_err *e);
/* Drop a->tree and the tree statements (archive_close). */
void archive_tree_forget(archive *a);

/* Calls fn for every record that parses, newest first, until fn returns
 * non-zero: 1 when it did, 0 when none did, -1 on a database error. */
int archive_scan_records(archive *a, int (*fn)(const archive_record *r, void *ctx), void *ctx,
			 smk_err *e);

#endif
