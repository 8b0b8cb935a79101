/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The label index: one row per record (its label, "" when it has none) in
 * table record_labels, written in the transaction that appends the record,
 * so that finding a record by label reads one index entry instead of
 * parsing every record. Labels live inside the records; this table only
 * points at them, and every answer is checked against the record itself.
 *
 * The table came after the records table: a writable open adds it and
 * fills in the rows of records stored without it (an older smkeyd, or an
 * archive from before it). A read-only open never trusts it: an archive
 * under audit may be forged, and a forged index could hide a second record
 * of the same label, so read-only opens read the records (read.c).
 */
#include <string.h>

#include "internal.h"
#include "record.h"

static const char labels_schema[] =
    "CREATE TABLE IF NOT EXISTS record_labels("
    " seq INTEGER PRIMARY KEY,"
    " label TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS record_labels_label ON record_labels(label);"
    "CREATE TRIGGER IF NOT EXISTS record_labels_no_update BEFORE UPDATE ON record_labels"
    " BEGIN SELECT RAISE(ABORT, 'archive labels are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS record_labels_no_delete BEFORE DELETE ON record_labels"
    " BEGIN SELECT RAISE(ABORT, 'archive labels are append-only'); END;";

int archive_labels_add(archive *a, uint64_t seq, const uint8_t *rec, size_t len, smk_err *e)
{
	archive_record r;
	sqlite3_stmt *st;
	smk_err ignore;
	int parsed, rc;

	if (!a->labels_table)
		return 0;
	if (archive_db_prepare(a, "INSERT INTO record_labels(seq, label) VALUES(?, ?)", &st, e) < 0)
		return -1;
	/* "" for none, or for a record the parser refuses (read.c's scan
	 * skips those too) */
	parsed = archive_record_parse(rec, len, &r, &ignore) == 0;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	sqlite3_bind_text(st, 2, parsed && r.label ? r.label : "", -1, SQLITE_TRANSIENT);
	if (parsed)
		archive_record_free(&r);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : archive_db_fail(a, "store label", e);
	sqlite3_finalize(st);
	return rc;
}

/* Rows for the records after the table's last one; inside a transaction. */
static int backfill(archive *a, smk_err *e)
{
	sqlite3_stmt *st;
	int64_t last;
	int rc;

	if (archive_db_int(a, "SELECT COALESCE(MAX(seq), -1) FROM record_labels", &last, e) < 0 ||
	    archive_db_prepare(a, "SELECT seq, canonical FROM records WHERE seq > ? ORDER BY seq",
			       &st, e) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, last);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (archive_labels_add(a, (uint64_t)sqlite3_column_int64(st, 0),
				       sqlite3_column_blob(st, 1),
				       (size_t)sqlite3_column_bytes(st, 1), e) < 0) {
			sqlite3_finalize(st);
			return -1;
		}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : archive_db_fail(a, "reading records for labels", e);
}

int archive_labels_open(archive *a, smk_err *e)
{
	a->labels_table = 0;
	if (a->readonly)
		return 0;
	if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return archive_db_fail(a, "begin label index", e);
	a->labels_table = 1;
	if (sqlite3_exec(a->db, labels_schema, NULL, NULL, NULL) != SQLITE_OK) {
		archive_db_fail(a, "create label index", e);
		goto fail;
	}
	if (backfill(a, e) < 0)
		goto fail;
	if (sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		archive_db_fail(a, "commit label index", e);
		goto fail;
	}
	return 0;
fail:
	sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	a->labels_table = 0;
	return -1;
}

int archive_labels_find(archive *a, const char *label, uint64_t *seq, int *found, smk_err *e)
{
	sqlite3_stmt *st;
	int rc;

	*found = 0;
	if (archive_db_prepare(a, "SELECT seq FROM record_labels WHERE label = ?", &st, e) < 0)
		return -1;
	sqlite3_bind_text(st, 1, label, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(st, 0);
		(*found)++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : archive_db_fail(a, "find label", e);
}
