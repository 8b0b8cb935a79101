/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The persistent Merkle tree (table tree_nodes): roots and proofs from the
 * stored nodes equal those computed from the records' leaves, for every
 * size and pair up to 70 records; an archive written before the table
 * (tests/data/archive/v1) opens read-only without it, gains it when opened
 * for writing, and proves the same; `audit --since` reads only the records
 * after the earlier checkpoint and still catches a stored tree or a later
 * record that is not what the checkpoints signed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "archive/archive.h"
#include "archive/internal.h"
#include "archive/merkle.h"
#include "archive/verify.h"
#include "tests/lib/archfix.h"
#include "tests/lib/testutil.h"

static archfix P;

static const archfix_cfg cfg = {
    .prefix = "smk-tree",
    .root_chr = "ZZTSTRT000001",
    .dica_chr = "ZZTSTCA000001",
    .dev_chr = "ZZTST0000100000",
    .dev_serial = "ZZTST00001",
    .dev_until = 2030,
    .req_car = NULL,
    .peer = {1000, 1000, 777, "/usr/bin/smkey"},
    .t0 = 1767225600, /* 2026-01-01 */
    .commit_after = 0,
};

static const char doc[] =
    "{\"alg-list-hex\":\"73\",\"algorithms\":[{\"id\":115,\"name\":\"ecdsa-sha256\"}],"
    "\"name\":\"release-apk\",\"use-counter\":null}";

static void setup(void)
{
	archfix_setup(&P, &cfg);
}

static void teardown(void)
{
	archfix_teardown(&P);
}

static void add_keys(uint64_t upto)
{
	uint64_t size;
	smk_err e;

	ck_assert_int_eq(archive_size(P.a, &size, &e), 0);
	for (; size < upto; size++) {
		EVP_PKEY *k = tu_keygen("P-256");
		char label[32];

		snprintf(label, sizeof(label), "k-%llu", (unsigned long long)size);
		ck_assert_uint_eq(
		    archfix_make_key(&P, ARCHIVE_KIND_KEY, "release-apk", doc, k, label), size);
		EVP_PKEY_free(k);
	}
}

static void assert_same(const smk_buf *a, const smk_buf *b, const char *what, uint64_t x,
			uint64_t y)
{
	ck_assert_msg(a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0),
		      "%s %llu, %llu: the stored tree's proof differs from the leaves'", what,
		      (unsigned long long)x, (unsigned long long)y);
}

/* Every root, inclusion and consistency proof of the first n records, from
 * the archive's tree (table or not) and from the leaves. */
static void assert_tree_matches_leaves(archive *a, uint64_t n)
{
	uint8_t(*leaves)[32] = NULL;
	uint8_t r1[32], r2[32];
	smk_buf p1 = SMK_BUF_INIT, p2 = SMK_BUF_INIT;
	merkle_nodes nodes;
	uint64_t m, i, size;
	smk_err e;

	ck_assert_msg(archive_load_leaves(a, n, &leaves, &e) == 0, "%s", e.msg);
	for (m = 1; m <= n; m++) {
		ck_assert_msg(archive_tree_root(a, m, r1, &e) == 0, "%s", e.msg);
		ck_assert_int_eq(merkle_root((const uint8_t(*)[32])leaves, m, r2, &e), 0);
		ck_assert_msg(memcmp(r1, r2, 32) == 0, "root of %llu differs",
			      (unsigned long long)m);
		for (i = 0; i <= m; i++) {
			smk_buf_reset(&p1);
			smk_buf_reset(&p2);
			size = m;
			ck_assert_msg(archive_consistency_proof(a, i, &size, &p1, &e) == 0, "%s",
				      e.msg);
			ck_assert_int_eq(
			    merkle_consistency_proof((const uint8_t(*)[32])leaves, m, i, &p2, &e),
			    0);
			assert_same(&p1, &p2, "consistency", i, m);
			if (i == m)
				continue;
			smk_buf_reset(&p1);
			smk_buf_reset(&p2);
			ck_assert_msg(archive_tree_nodes(a, m, &nodes, &e) == 0, "%s", e.msg);
			ck_assert_msg(merkle_nodes_inclusion_proof(&nodes, m, i, &p1, &e) == 0,
				      "%s", e.msg);
			ck_assert_int_eq(
			    merkle_inclusion_proof((const uint8_t(*)[32])leaves, m, i, &p2, &e), 0);
			assert_same(&p1, &p2, "inclusion", i, m);
		}
	}
	free(leaves);
	smk_buf_free(&p1);
	smk_buf_free(&p2);
}

static int64_t sql_int(const char *path, const char *q)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void sql(const char *path, const char *stmt)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, stmt, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", stmt,
		      sqlite3_errmsg(db));
	sqlite3_close(db);
}

START_TEST(stored_proofs_equal_leaf_proofs_for_every_size_up_to_70)
{
	uint64_t n;

	/* after every commit: all sizes m <= n and all pairs */
	for (n = 2; n <= 70; n++) {
		add_keys(n);
		if (n <= 20 || n % 7 == 0 || n == 64 || n == 65 || n == 70)
			assert_tree_matches_leaves(P.a, n);
	}
	/* one leaf and every node it completes per record: 2n - popcount(n) */
	ck_assert_int_eq(sql_int(P.path, "SELECT count(*) FROM tree_nodes"), 2 * 70 - 3);
	ck_assert_int_eq(sql_int(P.path, "SELECT count(*) FROM tree_nodes WHERE level = 0"), 70);
}
END_TEST

START_TEST(random_pairs_on_a_reopened_archive)
{
	smk_buf p1 = SMK_BUF_INIT, p2 = SMK_BUF_INIT;
	uint8_t(*leaves)[32] = NULL;
	uint64_t m, i, size;
	unsigned k;
	smk_err e;

	add_keys(70);
	archive_close(P.a);
	ck_assert_msg(archive_open(P.path, 0, &P.a, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(archive_tree_built(P.a), 0); /* nothing to build: it has the table */
	ck_assert_msg(archive_load_leaves(P.a, 70, &leaves, &e) == 0, "%s", e.msg);
	srand(7);
	for (k = 0; k < 500; k++) {
		m = 1 + (uint64_t)rand() % 70;
		i = (uint64_t)rand() % (m + 1);
		size = m;
		smk_buf_reset(&p1);
		smk_buf_reset(&p2);
		ck_assert_int_eq(archive_consistency_proof(P.a, i, &size, &p1, &e), 0);
		ck_assert_int_eq(
		    merkle_consistency_proof((const uint8_t(*)[32])leaves, m, i, &p2, &e), 0);
		assert_same(&p1, &p2, "consistency", i, m);
	}
	free(leaves);
	smk_buf_free(&p1);
	smk_buf_free(&p2);
}
END_TEST

static unsigned audit(archive *a, const smk_buf *since, char **text)
{
	archive_audit_opts o;
	unsigned problems = 99;
	size_t len = 0;
	FILE *f = open_memstream(text, &len);
	smk_err e;

	memset(&o, 0, sizeof(o));
	if (since) {
		o.since = since->data;
		o.since_len = since->len;
		o.since_name = "checkpoint";
	}
	ck_assert_msg(archive_audit(a, &o, f, &problems, &e) == 0, "%s", e.msg);
	fclose(f);
	return problems;
}

START_TEST(old_archive_gains_the_table_and_proves_the_same)
{
	smk_buf db = SMK_BUF_INIT, note = SMK_BUF_INIT;
	char path[160], *text = NULL;
	uint8_t before[32], after[32];
	archive *a;
	uint64_t size;
	smk_err e;
	FILE *f;

	/* the format-1 archive of tests/data/archive/v1, written before the
	 * tree table existed */
	snprintf(path, sizeof(path), "%s/v1.db", P.dir);
	tu_read_source_file(&db, "tests/data/archive/v1/archive.db");
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(db.data, 1, db.len, f), db.len);
	ck_assert_int_eq(fclose(f), 0);
	tu_read_source_file(&note, "tests/data/archive/v1/checkpoint-5.txt");
	ck_assert_int_eq(
	    sql_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'tree_nodes'"), 0);

	/* read-only: no table, computed from the leaves, file untouched */
	ck_assert_msg(archive_open(path, ARCHIVE_OPEN_READONLY, &a, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(archive_size(a, &size, &e), 0);
	ck_assert_uint_ge(size, 5);
	assert_tree_matches_leaves(a, size);
	ck_assert_int_eq(archive_tree_root(a, size, before, &e), 0);
	ck_assert_uint_eq(audit(a, &note, &text), 0);
	free(text);
	archive_close(a);
	ck_assert_int_eq(
	    sql_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'tree_nodes'"), 0);

	/* writable: built once, from the records */
	ck_assert_msg(archive_open(path, 0, &a, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(archive_tree_built(a), size);
	assert_tree_matches_leaves(a, size);
	ck_assert_int_eq(archive_tree_root(a, size, after, &e), 0);
	ck_assert(memcmp(before, after, 32) == 0);
	archive_close(a);
	ck_assert_int_eq(sql_int(path, "SELECT count(*) FROM tree_nodes WHERE level = 0"),
			 (int64_t)size);

	/* and kept: the next open builds nothing; read-only uses it */
	ck_assert_msg(archive_open(path, 0, &a, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(archive_tree_built(a), 0);
	archive_close(a);
	ck_assert_msg(archive_open(path, ARCHIVE_OPEN_READONLY, &a, &e) == 0, "%s", e.msg);
	ck_assert(a->tree_table);
	ck_assert_uint_eq(audit(a, &note, &text), 0);
	ck_assert_msg(strstr(text, "the stored tree leads to its root"), "%s", text);
	free(text);
	ck_assert_uint_eq(audit(a, NULL, &text), 0);
	free(text);
	archive_close(a);
	smk_buf_free(&db);
	smk_buf_free(&note);
}
END_TEST

/* A checkpoint note of the archive as it is now (the latest). */
static void checkpoint_now(smk_buf *note)
{
	uint64_t size;
	smk_err e;

	smk_buf_reset(note);
	ck_assert_msg(archive_latest_checkpoint(P.a, note, &size, &e) == 0, "%s", e.msg);
}

START_TEST(audit_since_reads_only_later_records_and_stays_sound)
{
	smk_buf note = SMK_BUF_INIT;
	char *text = NULL, stmt[256];
	archive *ro;
	smk_err e;

	add_keys(11);
	checkpoint_now(&note);
	add_keys(17);
	ck_assert_msg(archive_open(P.path, ARCHIVE_OPEN_READONLY, &ro, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(audit(ro, &note, &text), 0);
	/* records 11..16 listed, 0..10 not read */
	ck_assert_msg(strstr(text, "  6 records audited") && strstr(text, "\n  11 ") &&
			  !strstr(text, "\n  10 ") && strstr(text, "size 11 -> 17 only appended"),
		      "%s", text);
	free(text);
	archive_close(ro);

	/* a stored leaf of the earlier tree changed: its peaks no longer fold
	 * to the trusted root, and the whole log is audited instead */
	snprintf(stmt, sizeof(stmt),
		 "DROP TRIGGER tree_nodes_no_update;"
		 " UPDATE tree_nodes SET hash = zeroblob(32) WHERE level = 0 AND idx = 10");
	sql(P.path, stmt);
	ck_assert_msg(archive_open(P.path, ARCHIVE_OPEN_READONLY, &ro, &e) == 0, "%s", e.msg);
	ck_assert_uint_gt(audit(ro, &note, &text), 0);
	ck_assert_msg(strstr(text, "does not lead to the earlier checkpoint's root") &&
			  strstr(text, "  17 records ("),
		      "%s", text);
	free(text);
	archive_close(ro);
	smk_buf_free(&note);
}
END_TEST

START_TEST(audit_since_catches_a_changed_later_record)
{
	smk_buf note = SMK_BUF_INIT;
	char *text = NULL;
	archive *ro;
	smk_err e;

	add_keys(9);
	checkpoint_now(&note);
	add_keys(12);
	archive_close(P.a);
	P.a = NULL;
	/* record 10's bytes changed (its leaf in the table left as it was) */
	sql(P.path, "DROP TRIGGER records_no_update;"
		    " UPDATE records SET canonical = CAST(replace(CAST(canonical AS TEXT),"
		    " '\"k-10\"', '\"k-1X\"') AS BLOB) WHERE seq = 10");
	ck_assert_msg(archive_open(P.path, ARCHIVE_OPEN_READONLY, &ro, &e) == 0, "%s", e.msg);
	ck_assert_uint_gt(audit(ro, &note, &text), 0);
	ck_assert_msg(
	    strstr(text, "record 11 (k-11): previous-record hash does not match record 10") &&
		strstr(text, "checkpoint 12: root hash does not match"),
	    "%s", text);
	free(text);
	archive_close(ro);
	ck_assert_msg(archive_open(P.path, 0, &P.a, &e) == 0, "%s", e.msg);
	smk_buf_free(&note);
}
END_TEST

static Suite *tree_suite(void)
{
	Suite *s = suite_create("archive_tree");
	TCase *tc = tcase_create("tree");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, stored_proofs_equal_leaf_proofs_for_every_size_up_to_70);
	tcase_add_test(tc, random_pairs_on_a_reopened_archive);
	tcase_add_test(tc, old_archive_gains_the_table_and_proves_the_same);
	tcase_add_test(tc, audit_since_reads_only_later_records_and_stays_sound);
	tcase_add_test(tc, audit_since_catches_a_changed_later_record);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(tree_suite());
}
