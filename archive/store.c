/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SQLite store: one file, WAL journal, synchronous=FULL, so that a
 * transaction that returned is on disk. Rows are only ever inserted; the
 * triggers make an UPDATE or DELETE of a record, intent, outcome or
 * checkpoint fail even for a confused caller (an attacker with the file can
 * drop them, which is what the signatures and the Merkle log are for).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "../sm/cvc.h"
#include "checkpoint.h"
#include "internal.h"
#include "merkle.h"
#include "record.h"
#include "witness.h"

#define APPLICATION_ID 0x534d4b41 /* "SMKA" */

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS intents("
    " request_id TEXT PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " kind TEXT NOT NULL,"
    " policy_name TEXT NOT NULL,"
    " canonical BLOB NOT NULL,"
    " digest BLOB NOT NULL,"
    " chr TEXT NOT NULL,"
    " policy_doc BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS records("
    " seq INTEGER PRIMARY KEY,"
    " request_id TEXT NOT NULL UNIQUE REFERENCES intents(request_id),"
    " canonical BLOB NOT NULL,"
    " signature BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS outcomes("
    " request_id TEXT PRIMARY KEY REFERENCES intents(request_id),"
    " time INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK(status IN ('committed', 'failed')),"
    " seq INTEGER REFERENCES records(seq),"
    " reason TEXT);"
    "CREATE TABLE IF NOT EXISTS checkpoints("
    " size INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " note TEXT NOT NULL);"
    "CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records"
    " BEGIN SELECT RAISE(ABORT, 'archive records are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records"
    " BEGIN SELECT RAISE(ABORT, 'archive records are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS intents_no_update BEFORE UPDATE ON intents"
    " BEGIN SELECT RAISE(ABORT, 'archive intents are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS intents_no_delete BEFORE DELETE ON intents"
    " BEGIN SELECT RAISE(ABORT, 'archive intents are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS outcomes_no_update BEFORE UPDATE ON outcomes"
    " BEGIN SELECT RAISE(ABORT, 'archive outcomes are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS outcomes_no_delete BEFORE DELETE ON outcomes"
    " BEGIN SELECT RAISE(ABORT, 'archive outcomes are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints"
    " BEGIN SELECT RAISE(ABORT, 'archive checkpoints are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints"
    " BEGIN SELECT RAISE(ABORT, 'archive checkpoints are append-only'); END;";

int archive_db_fail(archive *a, const char *what, smk_err *e)
{
	return smk_fail(e, SMK_E_IO, "archive: %s: %s", what,
			a && a->db ? sqlite3_errmsg(a->db) : "no database");
}

static int exec(archive *a, const char *sql, const char *what, smk_err *e)
{
	if (sqlite3_exec(a->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return archive_db_fail(a, what, e);
	return 0;
}

int archive_db_prepare(archive *a, const char *sql, sqlite3_stmt **st, smk_err *e)
{
	if (sqlite3_prepare_v2(a->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return archive_db_fail(a, "prepare", e);
	}
	return 0;
}

int archive_db_prepare_text(archive *a, const char *sql, const char *text, sqlite3_stmt **st,
			    smk_err *e)
{
	if (archive_db_prepare(a, sql, st, e) < 0)
		return -1;
	sqlite3_bind_text(*st, 1, text, -1, SQLITE_STATIC);
	return 0;
}

int archive_db_prepare_int(archive *a, const char *sql, int64_t v, sqlite3_stmt **st, smk_err *e)
{
	if (archive_db_prepare(a, sql, st, e) < 0)
		return -1;
	sqlite3_bind_int64(*st, 1, v);
	return 0;
}

int archive_db_has_table(archive *a, const char *name, int *yes, smk_err *e)
{
	sqlite3_stmt *st;
	int rc;

	if (archive_db_prepare_text(a,
				    "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?",
				    name, &st, e) < 0)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return archive_db_fail(a, "reading the schema", e);
	*yes = rc == SQLITE_ROW;
	return 0;
}

int archive_db_int(archive *a, const char *sql, int64_t *v, smk_err *e)
{
	sqlite3_stmt *st;
	int rc;

	if (archive_db_prepare(a, sql, &st, e) < 0)
		return -1;
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return archive_db_fail(a, sql, e);
	return 0;
}

/* The tables every reader reads by name. A file handed over by someone else
 * may hold a view (or a virtual table) under one of these names, whose SQL
 * would run in our process: each must be a plain table we made. */
static const char *const archive_tables[] = {"intents", "records", "outcomes", "checkpoints", NULL};
/* added later (witnesses): absent from older archives, plain tables when present */
static const char *const archive_optional_tables[] = {"cosignatures", "witness_events",
						      "tree_nodes", NULL};

/* One table of the schema: 0 a plain table, 1 absent (allowed only when
 * optional), -1 anything else. */
static int check_table(archive *a, sqlite3_stmt *st, const char *path, const char *name,
		       int optional, smk_err *e)
{
	const char *type, *sql;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE && optional)
		return 1;
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			return smk_fail(e, SMK_E_FORMAT, "archive %s: table %s is missing", path,
					name);
		return archive_db_fail(a, "reading the schema", e);
	}
	type = (const char *)sqlite3_column_text(st, 0);
	sql = (const char *)sqlite3_column_text(st, 1);
	if (type == NULL || strcmp(type, "table") != 0)
		return smk_fail(e, SMK_E_FORMAT,
				"archive %s: %s is a %s, not a table; the schema is not smkeyd's, "
				"nothing read from it",
				path, name, type ? type : "(no type)");
	if (sql == NULL || strncmp(sql, "CREATE TABLE ", 13) != 0)
		return smk_fail(e, SMK_E_FORMAT,
				"archive %s: table %s is not a plain table (virtual or "
				"unknown); the schema is not smkeyd's, nothing read from it",
				path, name);
	return 0;
}

static int check_tables(archive *a, const char *path, smk_err *e)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc = 0;

	if (archive_db_prepare(a, "SELECT type, sql FROM sqlite_schema WHERE name = ?", &st, e) < 0)
		return smk_context(e, "archive %s", path);
	for (i = 0; rc == 0 && archive_tables[i] != NULL; i++)
		rc = check_table(a, st, path, archive_tables[i], 0, e) < 0 ? -1 : 0;
	for (i = 0; rc == 0 && archive_optional_tables[i] != NULL; i++)
		rc = check_table(a, st, path, archive_optional_tables[i], 1, e) < 0 ? -1 : 0;
	sqlite3_finalize(st);
	return rc;
}

/* Settings that hold for every connection: nothing in the file may run
 * functions with side effects (TRUSTED_SCHEMA off), no extension loads, and
 * the defensive mode refuses writes that corrupt the file. A read-only
 * connection also runs no trigger and no view from the file: it only reads
 * our tables by name. */
static int harden(archive *a, smk_err *e)
{
	int ok = 1;

	ok &= sqlite3_db_config(a->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) == SQLITE_OK;
	ok &= sqlite3_db_config(a->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) == SQLITE_OK;
	ok &= sqlite3_db_config(a->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL) == SQLITE_OK;
	if (a->readonly) {
		ok &=
		    sqlite3_db_config(a->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL) == SQLITE_OK;
		ok &= sqlite3_db_config(a->db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL) == SQLITE_OK;
	}
	if (!ok)
		return archive_db_fail(a, "defensive settings", e);
	return 0;
}

/* A new archive is born 0600 whatever the umask: it names every key and
 * requester. SQLite gives the -wal and -shm files the mode of the database
 * file, so they are 0600 too. An existing file keeps the mode its owner
 * gave it. */
static int create_private(const char *path, smk_err *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return errno == EEXIST ? 0
				       : smk_fail(e, SMK_E_IO, "archive %s: cannot create: %s",
						  path, strerror(errno));
	if (fchmod(fd, 0600) < 0) {
		int err = errno;

		close(fd);
		unlink(path);
		return smk_fail(e, SMK_E_IO, "archive %s: chmod 0600: %s", path, strerror(err));
	}
	close(fd);
	return 0;
}

int archive_open(const char *path, int flags, archive **out, smk_err *e)
{
	archive *a = calloc(1, sizeof(*a));
	int oflags = SQLITE_OPEN_FULLMUTEX;
	int64_t app = 0, version = 0;

	*out = NULL;
	if (!a)
		return smk_fail(e, SMK_E_NOMEM, "archive: out of memory");
	a->readonly = (flags & ARCHIVE_OPEN_READONLY) != 0;
	/* read-only opens read the file as it is, -wal included: an archive
	 * copied with its -wal file holds committed records only there, so
	 * neither immutable=1 (which ignores the WAL) nor nolock is used */
	if (a->readonly)
		oflags |= SQLITE_OPEN_READONLY;
	else
		oflags |= SQLITE_OPEN_READWRITE |
			  ((flags & ARCHIVE_OPEN_CREATE) ? SQLITE_OPEN_CREATE : 0);
	if (!a->readonly && (flags & ARCHIVE_OPEN_CREATE) && create_private(path, e) < 0)
		goto fail;
	if (sqlite3_open_v2(path, &a->db, oflags, NULL) != SQLITE_OK) {
		smk_fail(e, SMK_E_IO, "archive %s: cannot open: %s", path,
			 a->db ? sqlite3_errmsg(a->db) : "out of memory");
		goto fail;
	}
	if (harden(a, e) < 0)
		goto fail_ctx;
	sqlite3_busy_timeout(a->db, 10000);
	if (!a->readonly) {
		/* durability: a returned commit survives power loss. The
		 * writer's page cache is kept to 256 KiB, not SQLite's 2 MiB:
		 * what it touches is the right edge of each B-tree, one leaf of
		 * each request-id index per commit and O(log n) tree nodes per
		 * proof, and a miss is a read from the kernel's page cache. A
		 * larger cache only grows smkeyd's RSS as the archive grows */
		if (exec(a, "PRAGMA journal_mode=WAL", "WAL", e) < 0 ||
		    exec(a, "PRAGMA synchronous=FULL", "synchronous", e) < 0 ||
		    exec(a, "PRAGMA cache_size=-256", "cache size", e) < 0)
			goto fail_ctx;
	}
	if (exec(a, "PRAGMA foreign_keys=ON", "foreign keys", e) < 0 ||
	    archive_db_int(a, "PRAGMA application_id", &app, e) < 0 ||
	    archive_db_int(a, "PRAGMA user_version", &version, e) < 0)
		goto fail_ctx;
	if (app == 0 && version == 0 && !a->readonly) {
		if (exec(a, "BEGIN IMMEDIATE", "begin", e) < 0)
			goto fail_ctx;
		if (exec(a, schema, "create tables", e) < 0 ||
		    exec(a, "PRAGMA application_id=1397574465", "application id", e) < 0 ||
		    exec(a, "PRAGMA user_version=1", "version", e) < 0 ||
		    exec(a, "COMMIT", "commit", e) < 0) {
			sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
			goto fail_ctx;
		}
	} else if (app != APPLICATION_ID || version != ARCHIVE_FORMAT) {
		smk_fail(e, SMK_E_FORMAT,
			 "archive %s: not an smkeyd archive (application id %" PRIx64
			 ", version %" PRId64 ")",
			 path, (uint64_t)app, version);
		goto fail;
	}
	if (check_tables(a, path, e) < 0)
		goto fail;
	/* the witness tables came later than format 1: added, never required */
	if (!a->readonly && archive_witness_schema(a, e) < 0)
		goto fail_ctx;
	/* max-keys counts a policy's intents through this index */
	if (!a->readonly && exec(a,
				 "CREATE INDEX IF NOT EXISTS intents_policy_kind"
				 " ON intents(policy_name, kind)",
				 "index intents", e) < 0)
		goto fail_ctx;
	/* the tree table came later still: built here when missing */
	if (archive_tree_open(a, e) < 0 || archive_labels_open(a, e) < 0)
		goto fail_ctx;
	*out = a;
	return 0;
fail_ctx:
	smk_context(e, "archive %s", path);
fail:
	archive_close(a);
	return -1;
}

void archive_close(archive *a)
{
	if (!a)
		return;
	archive_tree_forget(a); /* its statements first */
	sqlite3_close(a->db);
	free(a);
}

void archive_set_step_hook(archive *a, void (*fn)(const char *step, void *ctx), void *ctx)
{
	a->hook = fn;
	a->hook_ctx = ctx;
}

static void step(archive *a, const char *name)
{
	if (a->hook)
		a->hook(name, a->hook_ctx);
}

static int64_t now_or(int64_t t)
{
	return t ? t : (int64_t)time(NULL);
}

/* One row of intents; runs inside the caller's transaction or alone. */
static int store_intent(archive *a, const archive_intent_info *info, const smk_buf *canon,
			const uint8_t *policy_doc, size_t policy_doc_len, smk_err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (archive_db_prepare(
		a,
		"INSERT INTO intents(request_id, time, kind, policy_name, canonical, digest,"
		" chr, policy_doc) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
		&st, e) < 0)
		return -1;
	sqlite3_bind_text(st, 1, info->request_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, info->time);
	sqlite3_bind_text(st, 3, info->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, info->policy_name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, canon->data, (int)canon->len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, info->digest, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, info->chr, -1, SQLITE_STATIC);
	/* kinds without a policy store an empty document (the column is NOT NULL) */
	if (policy_doc_len)
		sqlite3_bind_blob(st, 8, policy_doc, (int)policy_doc_len, SQLITE_STATIC);
	else
		sqlite3_bind_zeroblob(st, 8, 0);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : archive_db_fail(a, "store intent", e);
	sqlite3_finalize(st);
	return rc;
}

static int new_request_id(archive_intent_info *out, int64_t t, smk_err *e)
{
	uint8_t rnd[16];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return smk_fail(e, SMK_E_CRYPTO, "archive: no random request id");
	smk_hex_to(out->request_id, rnd, sizeof(rnd), SMK_HEX_LOWER);
	out->time = now_or(t);
	return 0;
}

int archive_intent_begin(archive *a, archive_intent_info *out, smk_err *e)
{
	memset(out, 0, sizeof(*out));
	if (a->readonly)
		return smk_fail(e, SMK_E_ARG, "archive: opened read-only");
	return 0;
}

int archive_intent(archive *a, const archive_intent_req *req, archive_intent_info *out, smk_err *e)
{
	smk_buf canon = SMK_BUF_INIT;
	uint64_t size;
	int rc = -1;

	if (archive_intent_begin(a, out, e) < 0 || archive_size(a, &size, e) < 0)
		return -1;
	if (req->kind && strcmp(req->kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0 && size > 0)
		return smk_fail(e, SMK_E_ARG, "archive: already has its archive key (record 0)");
	if (req->kind && strcmp(req->kind, ARCHIVE_KIND_KEY) == 0 && size == 0)
		return smk_fail(e, SMK_E_ARG,
				"archive: no archive key yet; record 0 must be the archive key");
	if (new_request_id(out, req->time, e) < 0)
		return -1;
	if (archive_intent_encode(req, out->request_id, out->time, &canon, e) < 0 ||
	    smk_sha256(canon.data, canon.len, out->digest, e) < 0)
		goto out;
	archive_chr_from_digest(out->digest, out->chr);
	snprintf(out->kind, sizeof(out->kind), "%s", req->kind);
	snprintf(out->policy_name, sizeof(out->policy_name), "%s", req->policy_name);
	if (store_intent(a, out, &canon, req->policy_doc, req->policy_doc_len, e) < 0)
		goto out;
	rc = 0;
out:
	smk_buf_free(&canon);
	return rc;
}

int archive_db_blob(sqlite3_stmt *st, int col, smk_buf *out, smk_err *e)
{
	const void *p = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (n > 0 && smk_buf_add(out, p, (size_t)n) < 0)
		return smk_fail(e, SMK_E_NOMEM, "archive: out of memory");
	return 0;
}

/* The archive key as recorded in record 0 (SPKI DER, appended). */
static int archive_key_spki(archive *a, smk_buf *spki, smk_err *e)
{
	smk_buf canon = SMK_BUF_INIT;
	archive_record r;
	int rc;

	if (archive_get(a, 0, &canon, NULL, e) < 0)
		return -1;
	rc = archive_record_parse(canon.data, canon.len, &r, e);
	smk_buf_free(&canon);
	if (rc < 0)
		return smk_context(e, "archive key record 0");
	rc = smk_buf_add(spki, r.spki.data, r.spki.len) < 0
		 ? smk_fail(e, SMK_E_NOMEM, "out of memory")
		 : 0;
	archive_record_free(&r);
	return rc;
}

struct stored_intent {
	smk_buf canonical, policy_doc;
	char kind[16];
};

static int load_intent(archive *a, const char *request_id, struct stored_intent *in, smk_err *e)
{
	sqlite3_stmt *st;
	int rc;

	if (archive_db_prepare_text(
		a,
		"SELECT i.canonical, i.policy_doc, i.kind, o.status FROM intents i"
		" LEFT JOIN outcomes o USING(request_id) WHERE i.request_id = ?",
		request_id, &st, e) < 0)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = smk_fail(e, SMK_E_ARG, "archive: no intent %s", request_id);
	} else if (rc != SQLITE_ROW) {
		rc = archive_db_fail(a, "read intent", e);
	} else if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
		rc = smk_fail(e, SMK_E_ARG, "archive: intent %s already has an outcome (%s)",
			      request_id, (const char *)sqlite3_column_text(st, 3));
	} else {
		snprintf(in->kind, sizeof(in->kind), "%s",
			 (const char *)sqlite3_column_text(st, 2));
		rc = archive_db_blob(st, 0, &in->canonical, e) < 0 ||
			     archive_db_blob(st, 1, &in->policy_doc, e) < 0
			 ? -1
			 : 0;
	}
	sqlite3_finalize(st);
	return rc;
}

int archive_intent_policy(archive *a, const char *request_id, smk_buf *doc, smk_err *e)
{
	struct stored_intent in = {SMK_BUF_INIT, SMK_BUF_INIT, ""};
	int rc = load_intent(a, request_id, &in, e);

	if (rc == 0 && in.policy_doc.len == 0)
		rc = smk_fail(e, SMK_E_ARG, "archive: intent %s (kind %s) has no policy",
			      request_id, in.kind);
	if (rc == 0 && smk_buf_add(doc, in.policy_doc.data, in.policy_doc.len) < 0)
		rc = smk_fail(e, SMK_E_NOMEM, "out of memory");
	smk_buf_free(&in.canonical);
	smk_buf_free(&in.policy_doc);
	return rc;
}

static int last_record(archive *a, uint64_t *next, uint8_t prev[32], smk_err *e)
{
	sqlite3_stmt *st;
	int rc;

	memset(prev, 0, 32);
	*next = 0;
	if (archive_db_prepare(a, "SELECT seq, canonical FROM records ORDER BY seq DESC LIMIT 1",
			       &st, e) < 0)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*next = (uint64_t)sqlite3_column_int64(st, 0) + 1;
		rc = smk_sha256(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
				prev, e);
	} else {
		rc = rc == SQLITE_DONE ? 0 : archive_db_fail(a, "read last record", e);
	}
	sqlite3_finalize(st);
	return rc;
}

int archive_db_insert(archive *a, const char *sql, const char *what, smk_err *e,
		      void (*bind)(sqlite3_stmt *, const void *), const void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if (archive_db_prepare(a, sql, &st, e) < 0)
		return -1;
	bind(st, arg);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : archive_db_fail(a, what, e);
	sqlite3_finalize(st);
	return rc;
}

struct commit_rows {
	uint64_t seq;
	const char *request_id;
	const smk_buf *record, *sig, *note;
	int64_t time;
	uint64_t size;
};

static void bind_record(sqlite3_stmt *st, const void *arg)
{
	const struct commit_rows *c = arg;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)c->seq);
	sqlite3_bind_text(st, 2, c->request_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, c->record->data, (int)c->record->len, SQLITE_STATIC);
	/* a format-3 record has no signature: an empty blob (the column is NOT NULL) */
	if (c->sig->len)
		sqlite3_bind_blob(st, 4, c->sig->data, (int)c->sig->len, SQLITE_STATIC);
	else
		sqlite3_bind_zeroblob(st, 4, 0);
}

static void bind_outcome(sqlite3_stmt *st, const void *arg)
{
	const struct commit_rows *c = arg;

	sqlite3_bind_text(st, 1, c->request_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->time);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)c->seq);
}

static void bind_checkpoint(sqlite3_stmt *st, const void *arg)
{
	const struct commit_rows *c = arg;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)c->size);
	sqlite3_bind_int64(st, 2, c->time);
	sqlite3_bind_text(st, 3, (const char *)c->note->data, (int)c->note->len, SQLITE_STATIC);
}

/* The signer must be the archive key: for record 0 the key the record
 * itself carries (new_spki), afterwards the key of record 0. */
static int check_signer(archive *a, const archive_signer *s, uint64_t seq, const uint8_t *new_spki,
			size_t new_spki_len, smk_err *e)
{
	smk_buf signer_spki = SMK_BUF_INIT, key_spki = SMK_BUF_INIT;
	const uint8_t *want = new_spki;
	size_t want_len = new_spki_len;
	int rc = cvc_spki_der(s->pub, &signer_spki, e);

	if (rc == 0 && seq > 0) {
		rc = archive_key_spki(a, &key_spki, e);
		want = key_spki.data;
		want_len = key_spki.len;
	}
	if (rc == 0 &&
	    (signer_spki.len != want_len || memcmp(signer_spki.data, want, want_len) != 0))
		rc = smk_fail(e, SMK_E_MISMATCH,
			      "archive: the signer is not the archive key of record 0");
	smk_buf_free(&signer_spki);
	smk_buf_free(&key_spki);
	return rc;
}

/* Append record seq (record and outcome rows); runs inside the caller's
 * transaction. Every kind of record is appended here, so the signer check,
 * the hash chain and the steps are the same for all. The rule of this path:
 * no record but record 0 is signed on its own. Record 0 (format 2) is
 * signed by the key it holds; every later record (format 3) is
 * authenticated by the checkpoints that include it, one signature per
 * checkpoint whatever the number of records (docs/archive.md "Record format
 * 3"). */
static int append(archive *a, const archive_signer *s, const archive_commit_req *req,
		  const struct stored_intent *in, uint64_t *seq_out, smk_err *e)
{
	smk_buf record = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	uint8_t prev[32], hash[32];
	struct commit_rows rows;
	uint64_t seq;
	int rc = -1;

	if (last_record(a, &seq, prev, e) < 0)
		goto out;
	if ((seq == 0) != (strcmp(in->kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0)) {
		smk_fail(e, SMK_E_ARG, "archive: intent of kind %s cannot become record %" PRIu64,
			 in->kind, seq);
		goto out;
	}
	if (check_signer(a, s, seq, req->spki, req->spki_len, e) < 0)
		goto out;
	if (archive_record_encode(in->canonical.data, in->canonical.len, in->policy_doc.data,
				  in->policy_doc.len, req, seq, prev, now_or(req->time), &record,
				  e) < 0)
		goto out;
	step(a, "record-built");
	if (seq == 0) {
		if (smk_sha256(record.data, record.len, hash, e) < 0 ||
		    s->sign(s->ctx, hash, sizeof(hash), &sig, e) < 0 ||
		    archive_sig_verify(s->pub, hash, sizeof(hash), sig.data, sig.len, e) < 0) {
			smk_context(e, "record %" PRIu64 ": signing", seq);
			goto out;
		}
		step(a, "record-signed");
	}
	memset(&rows, 0, sizeof(rows));
	rows.seq = seq;
	rows.request_id = req->request_id;
	rows.record = &record;
	rows.sig = &sig;
	rows.time = now_or(req->time);
	if (archive_db_insert(a,
			      "INSERT INTO records(seq, request_id, canonical, signature)"
			      " VALUES(?, ?, ?, ?)",
			      "store record", e, bind_record, &rows) < 0 ||
	    archive_tree_add_leaf(a, seq, record.data, record.len, e) < 0 ||
	    archive_labels_add(a, seq, record.data, record.len, e) < 0 ||
	    archive_db_insert(a,
			      "INSERT INTO outcomes(request_id, time, status, seq)"
			      " VALUES(?, ?, 'committed', ?)",
			      "store outcome", e, bind_outcome, &rows) < 0)
		goto out;
	step(a, "record-inserted");
	*seq_out = seq;
	rc = 0;
out:
	smk_buf_free(&record);
	smk_buf_free(&sig);
	return rc;
}

static int latest_checkpoint_size(archive *a, uint64_t *size, smk_err *e)
{
	int64_t v;

	if (archive_db_int(a, "SELECT COALESCE(MAX(size), 0) FROM checkpoints", &v, e) < 0)
		return -1;
	*size = (uint64_t)v;
	return 0;
}

/* Sign and store a checkpoint over the tree of the first size records;
 * runs inside the caller's transaction. */
/* The checkpoints row of a signed note over size records; inside the
 * caller's transaction. */
static int insert_checkpoint(archive *a, const smk_buf *note, uint64_t size, int64_t time,
			     smk_err *e)
{
	struct commit_rows rows;

	memset(&rows, 0, sizeof(rows));
	rows.note = note;
	rows.time = now_or(time);
	rows.size = size;
	if (archive_db_insert(a, "INSERT INTO checkpoints(size, time, note) VALUES(?, ?, ?)",
			      "store checkpoint", e, bind_checkpoint, &rows) < 0)
		return -1;
	step(a, "checkpoint-inserted");
	return 0;
}

static int append_checkpoint(archive *a, const archive_signer *s, uint64_t size, int64_t time,
			     smk_err *e)
{
	smk_buf note = SMK_BUF_INIT;
	archive_checkpoint cp;
	int rc = -1;

	cp.size = size;
	if (archive_tree_root(a, size, cp.root, e) < 0 ||
	    archive_checkpoint_origin(s->pub, cp.origin, e) < 0 ||
	    archive_checkpoint_sign(&cp, s, &note, e) < 0)
		goto out;
	step(a, "checkpoint-signed");
	rc = insert_checkpoint(a, &note, size, time, e);
out:
	smk_buf_free(&note);
	return rc;
}

/* The intent req->request_id becomes a record: the one path every kind
 * takes (hash chain, signature checked before storing, leaf, checkpoint,
 * step hook). Runs inside the caller's transaction. A certificate intent
 * only through archive_cert_commit (want_cert), every other kind never.
 * with_checkpoint: a checkpoint over the new tree is stored in the same
 * transaction; without, archive_sign_checkpoint covers it later (group
 * commit, docs/archive.md). */
static int commit_intent(archive *a, const archive_signer *signer, const archive_commit_req *req,
			 int want_cert, int with_checkpoint, uint64_t *seq, smk_err *e)
{
	struct stored_intent in = {SMK_BUF_INIT, SMK_BUF_INIT, ""};
	int rc = -1;

	if (load_intent(a, req->request_id, &in, e) < 0)
		goto out;
	if ((strcmp(in.kind, ARCHIVE_KIND_CERTIFICATE) == 0) != want_cert) {
		smk_fail(e, SMK_E_ARG, "archive: intent %s is of kind %s", req->request_id,
			 in.kind);
		goto out;
	}
	step(a, "intent-loaded");
	if (append(a, signer, req, &in, seq, e) < 0)
		goto out;
	if (with_checkpoint && append_checkpoint(a, signer, *seq + 1, req->time, e) < 0)
		goto out;
	rc = 0;
out:
	smk_buf_free(&in.canonical);
	smk_buf_free(&in.policy_doc);
	return rc;
}

static int check_writer(archive *a, const archive_signer *signer, const char *what, smk_err *e)
{
	if (a->readonly)
		return smk_fail(e, SMK_E_ARG, "archive: opened read-only");
	if (!signer || !signer->sign || !signer->pub)
		return smk_fail(e, SMK_E_ARG, "archive %s: signer needed", what);
	return 0;
}

static int rollback(archive *a, const char *request_id, smk_err *e)
{
	sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	if (request_id)
		smk_context(e, "intent %s", request_id);
	return -1;
}

/* One commit, one transaction; with_checkpoint as for commit_intent. */
static int commit_one(archive *a, const archive_signer *signer, const archive_commit_req *req,
		      int with_checkpoint, uint64_t *seq, smk_err *e)
{
	if (check_writer(a, signer, "commit", e) < 0)
		return -1;
	if (!req->request_id)
		return smk_fail(e, SMK_E_ARG, "archive commit: request id needed");
	/* one writer at a time; the whole commit is one transaction */
	if (exec(a, "BEGIN IMMEDIATE", "begin commit", e) < 0)
		return -1;
	if (commit_intent(a, signer, req, 0, with_checkpoint, seq, e) < 0 ||
	    exec(a, "COMMIT", "commit", e) < 0)
		return rollback(a, req->request_id, e);
	return 0;
}

int archive_commit(archive *a, const archive_signer *signer, const archive_commit_req *req,
		   uint64_t *seq, smk_err *e)
{
	return commit_one(a, signer, req, 1, seq, e);
}

int archive_commit_record(archive *a, const archive_signer *signer, const archive_commit_req *req,
			  uint64_t *seq, smk_err *e)
{
	if (commit_one(a, signer, req, 0, seq, e) < 0)
		return -1;
	step(a, "record-committed");
	return 0;
}

/* A CV-REQ or public key that is already in a committed record. */
struct dup_search {
	const archive_adopt_req *req;
	uint64_t seq;
	const char *what;
};

static int is_duplicate(const archive_record *r, void *ctx)
{
	struct dup_search *d = ctx;

	if (!archive_kind_has_key(r->kind))
		return 0;
	if (r->cvreq.len == d->req->cvreq_len &&
	    memcmp(r->cvreq.data, d->req->cvreq, r->cvreq.len) == 0)
		d->what = "CV-REQ";
	else if (r->spki.len == d->req->spki_len &&
		 memcmp(r->spki.data, d->req->spki, r->spki.len) == 0)
		d->what = "public key";
	else
		return 0;
	d->seq = r->seq;
	return 1;
}

int archive_adopt(archive *a, const archive_signer *signer, const archive_adopt_req *req,
		  uint64_t *seq, smk_err *e)
{
	archive_intent_info info;
	archive_commit_req cr;
	struct dup_search dup = {req, 0, NULL};
	smk_buf canon = SMK_BUF_INIT;
	uint64_t size;
	int found;

	memset(&info, 0, sizeof(info));
	if (check_writer(a, signer, "adopt", e) < 0)
		return -1;
	if (!req->cvreq || !req->cvreq_len || !req->spki || !req->spki_len)
		return smk_fail(e, SMK_E_ARG, "adopt: CV-REQ and public key needed");
	if (archive_cvreq_chr(req->cvreq, req->cvreq_len, info.chr, e) < 0)
		return smk_context(e, "adopt");
	if (exec(a, "BEGIN IMMEDIATE", "begin adopt", e) < 0)
		return -1;
	if (archive_size(a, &size, e) < 0)
		goto fail;
	if (size == 0) {
		smk_fail(e, SMK_E_ARG,
			 "archive: no archive key yet; record 0 must be the archive key");
		goto fail;
	}
	found = archive_scan_records(a, is_duplicate, &dup, e);
	if (found < 0)
		goto fail;
	if (found) {
		smk_fail(e, SMK_E_MISMATCH,
			 "adopt: this %s is already in record %" PRIu64 "; the key has a record",
			 dup.what, dup.seq);
		goto fail;
	}
	if (new_request_id(&info, req->time, e) < 0 ||
	    archive_adopt_intent_encode(req, info.request_id, info.time, &canon, e) < 0 ||
	    smk_sha256(canon.data, canon.len, info.digest, e) < 0)
		goto fail;
	snprintf(info.kind, sizeof(info.kind), "%s", ARCHIVE_KIND_ADOPTED);
	if (store_intent(a, &info, &canon, NULL, 0, e) < 0)
		goto fail;
	memset(&cr, 0, sizeof(cr));
	cr.request_id = info.request_id;
	cr.label = req->label;
	cr.device_chain = req->device_chain;
	cr.device_chain_len = req->device_chain_len;
	cr.cvreq = req->cvreq;
	cr.cvreq_len = req->cvreq_len;
	cr.spki = req->spki;
	cr.spki_len = req->spki_len;
	cr.time = info.time;
	cr.card = req->card;
	if (commit_intent(a, signer, &cr, 0, 1, seq, e) < 0 || exec(a, "COMMIT", "commit", e) < 0)
		goto fail;
	smk_buf_free(&canon);
	return 0;
fail:
	smk_buf_free(&canon);
	return rollback(a, info.request_id[0] ? info.request_id : NULL, e);
}

/* Record seq, parsed, if it is a key record a certificate can be for. */
static int load_key_record(archive *a, uint64_t seq, archive_record *r, smk_err *e)
{
	smk_buf canon = SMK_BUF_INIT;
	smk_err ignore;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = archive_get(a, seq, &canon, NULL, &ignore) < 0 ||
	     archive_record_parse(canon.data, canon.len, r, &ignore) < 0;
	smk_buf_free(&canon);
	if (rc == 0 &&
	    (strcmp(r->kind, ARCHIVE_KIND_KEY) == 0 || strcmp(r->kind, ARCHIVE_KIND_ADOPTED) == 0))
		return 0;
	if (rc == 0)
		archive_record_free(r);
	return smk_fail(e, SMK_E_ARG, "record %" PRIu64 " is not a committed key record", seq);
}

/* A signature's intent, without waiting for the disk: the row is in the
 * WAL (a crash of the process keeps it) and becomes durable with the next
 * synchronous commit, its record's, which comes before the signature is
 * handed out; a power loss before that may lose it, and with it only a
 * signature nobody received. synchronous=NORMAL in WAL mode: the commit
 * appends to the WAL without an fsync; the next synchronous=FULL commit
 * syncs the WAL, and with it this row (one file, written in order). */
static int store_intent_unsynced(archive *a, const archive_intent_info *info, const smk_buf *canon,
				 smk_err *e)
{
	int rc;

	if (exec(a, "PRAGMA synchronous=NORMAL", "synchronous", e) < 0)
		return -1;
	rc = store_intent(a, info, canon, NULL, 0, e);
	if (exec(a, "PRAGMA synchronous=FULL", "synchronous", rc < 0 ? NULL : e) < 0)
		rc = -1;
	return rc;
}

int archive_key_intent(archive *a, const char *kind, uint64_t key_seq, int64_t time,
		       const void *req, archive_key_intent_check *check,
		       archive_key_intent_encode *encode, archive_intent_info *out, smk_err *e)
{
	smk_buf canon = SMK_BUF_INIT;
	archive_record key;
	int rc = -1;

	if (load_key_record(a, key_seq, &key, e) < 0)
		return -1;
	if ((check && check(req, &key, e) < 0) || new_request_id(out, time, e) < 0 ||
	    encode(req, &key, out->request_id, out->time, &canon, e) < 0 ||
	    smk_sha256(canon.data, canon.len, out->digest, e) < 0)
		goto out;
	snprintf(out->kind, sizeof(out->kind), "%s", kind);
	rc = strcmp(kind, ARCHIVE_KIND_SIGNATURE) == 0 ? store_intent_unsynced(a, out, &canon, e)
						       : store_intent(a, out, &canon, NULL, 0, e);
out:
	archive_record_free(&key);
	smk_buf_free(&canon);
	return rc;
}

/* The certificate is for the key record's public key. */
static int cert_intent_check(const void *req, const archive_record *key, smk_err *e)
{
	const archive_cert_req *r = req;

	if (archive_cert_matches(r->cert, r->cert_len, key->spki.data, key->spki.len, e) < 0)
		return smk_context(e, "record %" PRIu64 " (%s)", key->seq, key->label);
	return 0;
}

static int cert_intent_encode(const void *req, const archive_record *key, const char *request_id,
			      int64_t time, smk_buf *out, smk_err *e)
{
	return archive_cert_intent_encode(req, key, request_id, time, out, e);
}

int archive_cert_intent(archive *a, const archive_cert_req *req, archive_intent_info *out,
			smk_err *e)
{
	if (archive_intent_begin(a, out, e) < 0)
		return -1;
	if (!req->cert || req->cert_len == 0 || req->cert_len > ARCHIVE_CERT_MAX)
		return smk_fail(e, SMK_E_ARG, "certificate of %zu bytes (1..%u)", req->cert_len,
				ARCHIVE_CERT_MAX);
	return archive_key_intent(a, ARCHIVE_KIND_CERTIFICATE, req->key_seq, req->time, req,
				  cert_intent_check, cert_intent_encode, out, e);
}

/* The certificate and key record of a stored certificate intent. */
static int cert_intent_members(const smk_buf *canon, uint64_t *key_seq, uint8_t key_hash[32],
			       smk_buf *cert, smk_err *e)
{
	const char *w = "certificate intent";
	json_t *o, *c, *k;
	smk_buf h = SMK_BUF_INIT;
	int64_t v;
	int rc = -1;

	if (archive_json_load(canon->data, canon->len, &o, w, e) < 0)
		return -1;
	if (archive_json_obj(o, "certificate", &c, w, e) < 0 ||
	    archive_json_obj(o, "key-record", &k, w, e) < 0 ||
	    archive_json_int(k, "seq", 0, INT64_MAX, &v, w, e) < 0 ||
	    archive_json_bytes(k, "hash", &h, 32, w, e) < 0 ||
	    (cert && archive_json_bytes(c, "der", cert, 0, w, e) < 0))
		goto out;
	*key_seq = (uint64_t)v;
	memcpy(key_hash, h.data, 32);
	rc = 0;
out:
	smk_buf_free(&h);
	json_decref(o);
	return rc;
}

int archive_pending_cert(archive *a, const char *request_id, uint64_t *key_seq, smk_buf *cert,
			 smk_err *e)
{
	struct stored_intent in = {SMK_BUF_INIT, SMK_BUF_INIT, ""};
	uint8_t hash[32];
	int rc = -1;

	if (load_intent(a, request_id, &in, e) < 0)
		goto out;
	if (strcmp(in.kind, ARCHIVE_KIND_CERTIFICATE) != 0) {
		smk_fail(e, SMK_E_ARG, "archive: intent %s is of kind %s, not %s", request_id,
			 in.kind, ARCHIVE_KIND_CERTIFICATE);
		goto out;
	}
	rc = cert_intent_members(&in.canonical, key_seq, hash, cert, e);
out:
	smk_buf_free(&in.canonical);
	smk_buf_free(&in.policy_doc);
	return rc;
}

int archive_cert_commit(archive *a, const archive_signer *signer, const char *request_id,
			int64_t time, uint64_t *seq, smk_err *e)
{
	struct stored_intent in = {SMK_BUF_INIT, SMK_BUF_INIT, ""};
	archive_commit_req cr;
	archive_record key;
	uint64_t key_seq;
	uint8_t hash[32];
	int rc;

	if (check_writer(a, signer, "certificate commit", e) < 0)
		return -1;
	if (!request_id)
		return smk_fail(e, SMK_E_ARG, "archive certificate commit: request id needed");
	if (exec(a, "BEGIN IMMEDIATE", "begin commit", e) < 0)
		return -1;
	/* the key record is still the one the intent named (records are never
	 * changed; this catches a tampered file before it is signed over) */
	rc = load_intent(a, request_id, &in, e) < 0 ||
	     (strcmp(in.kind, ARCHIVE_KIND_CERTIFICATE) == 0 &&
	      cert_intent_members(&in.canonical, &key_seq, hash, NULL, e) < 0);
	smk_buf_free(&in.canonical);
	smk_buf_free(&in.policy_doc);
	if (rc)
		return rollback(a, request_id, e);
	if (strcmp(in.kind, ARCHIVE_KIND_CERTIFICATE) == 0) {
		if (load_key_record(a, key_seq, &key, e) < 0)
			return rollback(a, request_id, e);
		rc = memcmp(key.hash, hash, 32) != 0;
		archive_record_free(&key);
		if (rc) {
			smk_fail(e, SMK_E_MISMATCH,
				 "archive: key record %" PRIu64 " differs from the one the "
				 "certificate intent named",
				 key_seq);
			return rollback(a, request_id, e);
		}
	}
	memset(&cr, 0, sizeof(cr));
	cr.request_id = request_id;
	cr.time = time;
	if (commit_intent(a, signer, &cr, 1, 1, seq, e) < 0 || exec(a, "COMMIT", "commit", e) < 0)
		return rollback(a, request_id, e);
	return 0;
}

int archive_sign_checkpoint(archive *a, const archive_signer *signer, uint64_t *size, smk_err *e)
{
	uint64_t n = 0, covered = 0;
	int rc = -1;

	if (a->readonly)
		return smk_fail(e, SMK_E_ARG, "archive: opened read-only");
	if (!signer || !signer->sign || !signer->pub)
		return smk_fail(e, SMK_E_ARG, "archive checkpoint: signer needed");
	if (exec(a, "BEGIN IMMEDIATE", "begin checkpoint", e) < 0)
		return -1;
	if (archive_size(a, &n, e) < 0 || latest_checkpoint_size(a, &covered, e) < 0)
		goto out;
	if (n == 0) {
		smk_fail(e, SMK_E_ARG, "archive: no records, nothing to checkpoint");
		goto out;
	}
	/* every record is covered already: no signature spent */
	if (covered < n && (check_signer(a, signer, n, NULL, 0, e) < 0 ||
			    append_checkpoint(a, signer, n, 0, e) < 0))
		goto out;
	if (exec(a, "COMMIT", "commit", e) < 0)
		goto out;
	*size = n;
	rc = 0;
out:
	if (rc < 0) {
		sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
		smk_context(e, "checkpoint over %" PRIu64 " records", n);
	}
	return rc;
}

int archive_checkpoint_begin(archive *a, const archive_signer *s, archive_checkpoint *c, smk_err *e)
{
	uint64_t n = 0, covered = 0;

	memset(c, 0, sizeof(*c));
	if (check_writer(a, s, "checkpoint", e) < 0 || archive_size(a, &n, e) < 0 ||
	    latest_checkpoint_size(a, &covered, e) < 0)
		return -1;
	if (n == 0)
		return smk_fail(e, SMK_E_ARG, "archive: no records, nothing to checkpoint");
	if (covered >= n)
		return 0;
	if (check_signer(a, s, n, NULL, 0, e) < 0 || archive_tree_root(a, n, c->root, e) < 0 ||
	    archive_checkpoint_origin(s->pub, c->origin, e) < 0)
		return smk_context(e, "checkpoint over %" PRIu64 " records", n);
	c->size = n;
	return 0;
}

int archive_checkpoint_store(archive *a, const archive_checkpoint *c, const smk_buf *note,
			     smk_err *e)
{
	uint64_t covered = 0;

	if (a->readonly)
		return smk_fail(e, SMK_E_ARG, "archive: opened read-only");
	step(a, "checkpoint-signed");
	if (exec(a, "BEGIN IMMEDIATE", "begin checkpoint", e) < 0)
		return -1;
	if (latest_checkpoint_size(a, &covered, e) < 0 ||
	    (covered < c->size && insert_checkpoint(a, note, c->size, 0, e) < 0))
		goto fail;
	if (exec(a, "COMMIT", "commit", e) < 0)
		goto fail;
	return 0;
fail:
	sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	return smk_context(e, "checkpoint over %" PRIu64 " records", c->size);
}

int archive_fail(archive *a, const char *request_id, const char *reason, smk_err *e)
{
	struct stored_intent in = {SMK_BUF_INIT, SMK_BUF_INIT, ""};
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (a->readonly)
		return smk_fail(e, SMK_E_ARG, "archive: opened read-only");
	if (!request_id || !reason || !*reason)
		return smk_fail(e, SMK_E_ARG, "archive: a failed outcome needs a reason");
	if (exec(a, "BEGIN IMMEDIATE", "begin", e) < 0)
		return -1;
	if (load_intent(a, request_id, &in, e) < 0 ||
	    archive_db_prepare(a,
			       "INSERT INTO outcomes(request_id, time, status, reason)"
			       " VALUES(?, ?, 'failed', ?)",
			       &st, e) < 0)
		goto out;
	sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		archive_db_fail(a, "store failed outcome", e);
		goto out;
	}
	if (exec(a, "COMMIT", "commit", e) < 0)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	if (rc < 0)
		sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	smk_buf_free(&in.canonical);
	smk_buf_free(&in.policy_doc);
	return rc;
}
