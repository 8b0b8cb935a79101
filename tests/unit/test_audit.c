/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey audit at scale: the cache of verified device chains never accepts
 * what chain_validate would refuse (a changed byte behind a cached chain, a
 * record outside a certificate's validity), the append-only Merkle tree
 * gives the same heads and proofs as the flat computation, the commit path
 * survives a rolled-back commit, and an archive from tests/bench/gen_archive
 * audits clean (and not once it is tampered with).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "archive/archive.h"
#include "archive/chaincache.h"
#include "archive/checkpoint.h"
#include "archive/internal.h"
#include "archive/merkle.h"
#include "archive/verify.h"
#include "common/file.h"
#include "tests/lib/archfix.h"
#include "tests/lib/testutil.h"
#include "sm/chain.h"
#include "sm/cvc.h"

#define ROOT_CHR "UTSRCAAUD00001"
#define DICA_CHR "UTDIAUD0100001"
#define DEV_CHR "UTAUD10004200000"
#define DEV_SERIAL "UTAUD100042"
/* the device certificate is valid 2025-01-01 .. 2027-12-31, root and DICA
 * until 2035: a record after 2027 is outside the device's validity only */
#define T_IN 1795000000	    /* 2026-11-18 */
#define T_LAST 1830294000   /* 2027-12-31 23:00 UTC */
#define T_AFTER 1830297600  /* 2028-01-01 00:00 UTC */
#define T_BEFORE 1717200000 /* 2024-06-01 */

static archfix P;

static const archfix_cfg cfg = {
    .prefix = "smk-audit",
    .root_chr = ROOT_CHR,
    .dica_chr = DICA_CHR,
    .dev_chr = DEV_CHR,
    .dev_serial = DEV_SERIAL,
    .dev_until = 2027,
    .req_car = NULL,
    .peer = {1000, 1000, 777, "/usr/bin/smkey"},
    .t0 = T_IN,
    .commit_after = 0, /* record 0 at T_IN */
};

static const char apk_doc[] =
    "{\"alg-list-hex\":\"73\",\"algorithms\":[{\"id\":115,\"name\":\"ecdsa-sha256\"}],"
    "\"name\":\"release-apk\",\"use-counter\":null}";

/* An intent and, unless signer is NULL, its commit with this device chain
 * and record time; returns archive_commit's result. */
static int make_key(const char *kind, const char *policy, const char *doc, EVP_PKEY *newkey,
		    const char *label, const smk_buf *chain, int64_t t,
		    const archive_signer *signer, smk_err *e)
{
	archfix_key k;
	uint64_t seq = 0;

	archfix_key_init(&P, &k, kind, policy, doc, newkey, label);
	k.chain = chain;
	k.time = t;
	k.commit_time = t;
	k.signer = signer;
	return archfix_commit_key(&P, &k, &seq, e);
}

static void add_key(const char *label, const smk_buf *chain, int64_t t)
{
	EVP_PKEY *k = tu_keygen("P-256");
	smk_err e;

	ck_assert_msg(make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, k, label, chain, t,
			       &P.signer, &e) == 0,
		      "%s", e.msg);
	EVP_PKEY_free(k);
}

static void setup(void)
{
	archfix_setup(&P, &cfg);
}

static void teardown(void)
{
	archfix_teardown(&P);
}

/* P.chain with one byte of the DevAut certificate's signature changed */
static void tampered_chain(smk_buf *out)
{
	smk_buf_reset(out);
	ck_assert(smk_buf_add(out, P.chain.data, P.chain.len) == 0);
	out->data[P.devaut.len - 3] ^= 0x01;
}

static int cache_validate(archive_chain_cache *c, const smk_buf *chain, time_t at,
			  devaut_chain *out, smk_err *e)
{
	return archive_chain_cache_validate(c, chain->data, P.devaut.len,
					    chain->data + P.devaut.len, chain->len - P.devaut.len,
					    at, out, e);
}

static void counts(const archive_chain_cache *c, unsigned long hits, unsigned long validated)
{
	unsigned long h, v;

	archive_chain_cache_counts(c, &h, &v);
	ck_assert_uint_eq(h, hits);
	ck_assert_uint_eq(v, validated);
}

START_TEST(chain_cache_answers_only_for_the_same_bytes_and_dates)
{
	archive_chain_cache *c = archive_chain_cache_new(&P.trust);
	devaut_chain ch, direct;
	chain_attested att;
	smk_buf bad = SMK_BUF_INIT, cvreq = SMK_BUF_INIT;
	EVP_PKEY *k = tu_keygen("P-256");
	smk_err e;

	ck_assert_ptr_nonnull(c);
	/* a date outside the validity is refused, and a refused chain is not
	 * remembered */
	ck_assert_int_eq(cache_validate(c, &P.chain, T_BEFORE, &ch, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_VALIDITY);
	counts(c, 0, 1);
	ck_assert_int_eq(cache_validate(c, &P.chain, T_IN, &ch, &e), 0);
	chain_free(&ch);
	counts(c, 0, 2);

	/* the same bytes at another date inside every period: from the cache,
	 * and as good as chain_validate's answer */
	ck_assert_msg(cache_validate(c, &P.chain, T_LAST, &ch, &e) == 0, "%s", e.msg);
	counts(c, 1, 2);
	ck_assert_msg(chain_validate(P.chain.data, P.chain.len, &P.trust, T_LAST, &direct, &e) == 0,
		      "%s", e.msg);
	ck_assert_str_eq(ch.device_chr, direct.device_chr);
	ck_assert_str_eq(ch.serial, DEV_SERIAL);
	ck_assert_str_eq(ch.root_chr, ROOT_CHR);
	ck_assert_uint_eq(ch.point_len, direct.point_len);
	ck_assert_mem_eq(ch.point, direct.point, ch.point_len);
	ck_assert(ch.device_cert.len == P.devaut.len &&
		  memcmp(ch.device_cert.data, P.devaut.data, P.devaut.len) == 0);
	archfix_gakp(&P, k, "SKTESTTESTTEST00", &cvreq);
	ck_assert_msg(chain_verify_authreq(&ch, cvreq.data, cvreq.len, &att, &e) == 0, "%s", e.msg);
	chain_attested_free(&att);
	chain_free(&direct);
	chain_free(&ch);

	/* one changed byte in the DevAut certificate: validated, and refused */
	tampered_chain(&bad);
	ck_assert_int_eq(cache_validate(c, &bad, T_IN, &ch, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
	ck_assert_ptr_null(ch.key);
	counts(c, 1, 3);
	/* ... and in the DICA certificate */
	smk_buf_reset(&bad);
	ck_assert(smk_buf_add(&bad, P.chain.data, P.chain.len) == 0);
	bad.data[bad.len - 3] ^= 0x01;
	ck_assert_int_eq(cache_validate(c, &bad, T_IN, &ch, &e), -1);
	counts(c, 1, 4);
	/* a shorter DevAut part with the same total bytes is another key */
	ck_assert_int_eq(archive_chain_cache_validate(
			     c, P.chain.data, P.devaut.len - 1, P.chain.data + P.devaut.len - 1,
			     P.chain.len - P.devaut.len + 1, T_IN, &ch, &e),
			 0);
	chain_free(&ch);
	counts(c, 1, 5);

	/* the cached chain at a date past the device certificate's expiry,
	 * though root and DICA are still valid: refused, by a full check */
	ck_assert_int_eq(cache_validate(c, &P.chain, T_AFTER, &ch, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_VALIDITY);
	ck_assert_msg(strstr(e.msg, "device") && strstr(e.msg, "expired"), "%s", e.msg);
	counts(c, 1, 6);
	ck_assert_int_eq(cache_validate(c, &P.chain, T_BEFORE, &ch, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_VALIDITY);
	counts(c, 1, 7);
	/* and the cache still answers for good records afterwards */
	ck_assert_int_eq(cache_validate(c, &P.chain, T_IN, &ch, &e), 0);
	chain_free(&ch);
	counts(c, 2, 7);

	/* a cache made for another trust store knows no root */
	{
		trust_store none = TRUST_STORE_INIT;
		archive_chain_cache *c2 = archive_chain_cache_new(&none);

		ck_assert_int_eq(cache_validate(c2, &P.chain, T_IN, &ch, &e), -1);
		ck_assert_int_eq(e.code, SMK_E_TRUST);
		archive_chain_cache_free(c2);
	}
	archive_chain_cache_free(c);
	smk_buf_free(&bad);
	smk_buf_free(&cvreq);
	EVP_PKEY_free(k);
}
END_TEST

static unsigned audit(const trust_store *trust, const char *path, smk_buf *report)
{
	archive_audit_opts o;
	unsigned problems = 99;
	archive *ro;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	smk_err e;

	memset(&o, 0, sizeof(o));
	o.trust = trust;
	o.path = path;
	ck_assert_msg(archive_open(path, ARCHIVE_OPEN_READONLY, &ro, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_audit(ro, &o, f, &problems, &e) == 0, "%s", e.msg);
	archive_close(ro);
	fclose(f);
	smk_buf_reset(report);
	ck_assert(smk_buf_add(report, text, len) == 0 && smk_buf_add_byte(report, 0) == 0);
	free(text);
	return problems;
}

static int count_lines(const char *text, const char *needle)
{
	int n = 0;

	for (; (text = strstr(text, needle)) != NULL; text++)
		n++;
	return n;
}

START_TEST(audit_refuses_records_behind_a_cached_chain)
{
	smk_buf bad = SMK_BUF_INIT, report = SMK_BUF_INIT, canon = SMK_BUF_INIT;
	archive_attestation att;
	archive_record r;
	unsigned problems, uncached = 0;
	uint64_t seq;
	smk_err e;

	tampered_chain(&bad);
	add_key("good-1", &P.chain, T_IN);
	add_key("good-2", &P.chain, T_IN + 60);
	add_key("tampered", &bad, T_IN + 120);
	add_key("expired", &P.chain, T_AFTER);
	add_key("good-3", &P.chain, T_IN + 180);
	problems = audit(&P.trust, P.path, &report);
	ck_assert_msg(problems == 2, "%u problems:\n%s", problems, (const char *)report.data);
	ck_assert_int_eq(count_lines((const char *)report.data, "PROBLEM"), 2);
	ck_assert_msg(strstr((const char *)report.data, "record 3 (tampered)") &&
			  strstr((const char *)report.data, "record 4 (expired)"),
		      "%s", (const char *)report.data);
	ck_assert_ptr_null(strstr((const char *)report.data, "(good-"));
	/* the same verdicts as record-by-record attestation without a cache */
	for (seq = 0; seq <= 5; seq++) {
		smk_buf_reset(&canon);
		ck_assert_msg(archive_get(P.a, seq, &canon, NULL, &e) == 0, "%s", e.msg);
		ck_assert_msg(archive_record_parse(canon.data, canon.len, &r, &e) == 0, "%s",
			      e.msg);
		if (archive_attest(&r, &P.trust, &att, &e) < 0)
			uncached++;
		else
			archive_attestation_free(&att);
		archive_record_free(&r);
	}
	ck_assert_uint_eq(uncached, 2);
	smk_buf_free(&bad);
	smk_buf_free(&report);
	smk_buf_free(&canon);
}
END_TEST

/* --- the append-only Merkle tree --- */

START_TEST(tree_heads_and_proofs_equal_the_flat_ones)
{
	enum { N = 70 };
	uint8_t leaves[N][32], a[32], b[32];
	merkle_tree t = MERKLE_TREE_INIT;
	smk_buf p1 = SMK_BUF_INIT, p2 = SMK_BUF_INIT;
	uint64_t n, m;
	smk_err e;

	for (n = 0; n < N; n++) {
		uint8_t data[8];

		memcpy(data, &n, sizeof(data));
		ck_assert(merkle_leaf_hash(data, sizeof(data), leaves[n], &e) == 0);
	}
	ck_assert_int_eq(merkle_tree_root(&t, 0, a, &e), 0);
	ck_assert_int_eq(merkle_root(NULL, 0, b, &e), 0);
	ck_assert_mem_eq(a, b, 32);
	for (n = 1; n <= N; n++) {
		ck_assert_int_eq(merkle_tree_append(&t, leaves[n - 1], &e), 0);
		ck_assert_uint_eq(t.size, n);
		for (m = 1; m <= n; m++) {
			ck_assert_int_eq(merkle_tree_root(&t, m, a, &e), 0);
			ck_assert_int_eq(merkle_root((const uint8_t(*)[32])leaves, m, b, &e), 0);
			ck_assert_mem_eq(a, b, 32);
			smk_buf_reset(&p1);
			smk_buf_reset(&p2);
			ck_assert_int_eq(merkle_tree_consistency_proof(&t, n, m, &p1, &e), 0);
			ck_assert_int_eq(
			    merkle_consistency_proof((const uint8_t(*)[32])leaves, n, m, &p2, &e),
			    0);
			ck_assert_uint_eq(p1.len, p2.len);
			ck_assert(p1.len == 0 || memcmp(p1.data, p2.data, p1.len) == 0);
			smk_buf_reset(&p1);
			smk_buf_reset(&p2);
			ck_assert_int_eq(merkle_tree_inclusion_proof(&t, n, m - 1, &p1, &e), 0);
			ck_assert_int_eq(
			    merkle_inclusion_proof((const uint8_t(*)[32])leaves, n, m - 1, &p2, &e),
			    0);
			ck_assert_uint_eq(p1.len, p2.len);
			ck_assert(p1.len == 0 || memcmp(p1.data, p2.data, p1.len) == 0);
		}
	}
	/* nothing past the leaves it holds */
	ck_assert_int_eq(merkle_tree_root(&t, N + 1, a, &e), -1);
	ck_assert_int_eq(merkle_tree_consistency_proof(&t, N + 1, 3, &p1, &e), -1);
	ck_assert_int_eq(merkle_tree_inclusion_proof(&t, N, N, &p1, &e), -1);
	ck_assert_ptr_null(merkle_tree_leaf(&t, N));
	ck_assert_mem_eq(merkle_tree_leaf(&t, N - 1), leaves[N - 1], 32);
	merkle_tree_reset(&t);
	ck_assert_uint_eq(t.size, 0);
	smk_buf_free(&p1);
	smk_buf_free(&p2);
}
END_TEST

/* a signer whose first signature (the checkpoint's: a format-3 record has
 * none of its own) fails once */
static int fail_checkpoint_calls;
static int failing_sign(void *ctx, const uint8_t *msg, size_t len, smk_buf *sig, smk_err *e)
{
	if (++fail_checkpoint_calls == 1)
		return smk_fail(e, SMK_E_CRYPTO, "test: signing refused");
	return P.signer.sign(ctx, msg, len, sig, e);
}

START_TEST(commit_after_a_rolled_back_commit_signs_the_right_root)
{
	archive_signer s = P.signer;
	smk_buf report = SMK_BUF_INIT, note = SMK_BUF_INIT;
	uint8_t(*leaves)[32] = NULL;
	uint8_t root[32];
	uint64_t size;
	EVP_PKEY *k = tu_keygen("P-256");
	smk_err e;

	add_key("before", &P.chain, T_IN);
	/* record 2 is inserted, its leaf enters the tree, then the checkpoint
	 * signature fails and the transaction rolls back */
	s.sign = failing_sign;
	fail_checkpoint_calls = 0;
	ck_assert_int_eq(make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, k, "rolled-back",
				  &P.chain, T_IN, &s, &e),
			 -1);
	ck_assert_msg(strstr(e.msg, "signing refused"), "%s", e.msg);
	/* another record takes number 2 */
	add_key("after", &P.chain, T_IN + 1);
	add_key("later", &P.chain, T_IN + 2);
	ck_assert_int_eq(archive_latest_checkpoint(P.a, &note, &size, &e), 0);
	ck_assert_uint_eq(size, 4);
	ck_assert_int_eq(archive_load_leaves(P.a, 4, &leaves, &e), 0);
	ck_assert_int_eq(merkle_root((const uint8_t(*)[32])leaves, 4, root, &e), 0);
	ck_assert_msg(audit(&P.trust, P.path, &report) == 0, "%s", (const char *)report.data);
	ck_assert_ptr_nonnull(strstr((const char *)report.data, "latest verified size 4"));
	/* the checkpoint's root line is base64 of the flat computation's root */
	{
		archive_checkpoint cp;

		ck_assert_msg(archive_checkpoint_open(note.data, note.len, P.akey, &cp, &e) == 0,
			      "%s", e.msg);
		ck_assert_mem_eq(cp.root, root, 32);
	}
	free(leaves);
	smk_buf_free(&report);
	smk_buf_free(&note);
	EVP_PKEY_free(k);
}
END_TEST

/* --- tests/bench/gen_archive --- */

static void run(const char *cmd)
{
	int rc = system(cmd);

	ck_assert_msg(rc == 0, "%s: exit status %d", cmd, rc);
}

static void sql(const char *path, const char *stmt)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, stmt, NULL, NULL, NULL) == SQLITE_OK, "%s",
		      sqlite3_errmsg(db));
	sqlite3_close(db);
}

START_TEST(generated_archive_audits_clean)
{
	char cmd[1024], dir[160], path[200];
	trust_store trust = TRUST_STORE_INIT;
	smk_buf report = SMK_BUF_INIT;
	unsigned problems;
	smk_err e;

	snprintf(dir, sizeof(dir), "%s/gen", P.dir);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s' && '%s/gen_archive' '%s' 200 --devices 3 >'%s/gen.json'", dir,
		 SMK_BUILD_DIR, dir, dir);
	run(cmd);
	snprintf(path, sizeof(path), "%s/trust", dir);
	ck_assert_msg(trust_load_dir(&trust, path, &e) == 0, "%s", e.msg);
	snprintf(path, sizeof(path), "%s/archive.db", dir);
	problems = audit(&trust, path, &report);
	ck_assert_msg(problems == 0, "%u problems:\n%s", problems, (const char *)report.data);
	ck_assert_ptr_nonnull(
	    strstr((const char *)report.data,
		   "  200 records (1 archive key, 199 generated, 0 adopted, 0 certificate)\n"));
	ck_assert_ptr_nonnull(
	    strstr((const char *)report.data, "200 checkpoints; latest verified size 200"));
	ck_assert_ptr_nonnull(strstr((const char *)report.data, "device ZZSIM0000300000"));
	ck_assert_int_eq(count_lines((const char *)report.data, "EC secp256r1"), 200);

	/* a signature stored with a format-3 record (record 0's, the one
	 * signed record) is caught (an attacker with the file can drop the
	 * archive's triggers) */
	sql(path, "DROP TRIGGER records_no_update");
	sql(path, "UPDATE records SET signature = (SELECT signature FROM records WHERE seq = 0)"
		  " WHERE seq = 100");
	problems = audit(&trust, path, &report);
	ck_assert_msg(problems == 1, "%u problems:\n%s", problems, (const char *)report.data);
	ck_assert_ptr_nonnull(
	    strstr((const char *)report.data,
		   "record 100 (bench-100): of format 3, yet a signature is stored"));
	/* without the trust anchor nothing about devices is claimed */
	problems = audit(NULL, path, &report);
	ck_assert_ptr_nonnull(strstr((const char *)report.data, "NOT verified"));
	trust_free(&trust);
	smk_buf_free(&report);
}
END_TEST

static int64_t sql_int(const char *path, const char *stmt)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_msg(sqlite3_prepare_v2(db, stmt, -1, &st, NULL) == SQLITE_OK, "%s",
		      sqlite3_errmsg(db));
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* `smkey audit FILE`: its exit status, its output (stdout and stderr) in out */
static int smkey_audit(const char *dir, const char *file, smk_buf *out)
{
	char cmd[1024], log[256];
	int rc;

	snprintf(log, sizeof(log), "%s/audit.out", dir);
	snprintf(cmd, sizeof(cmd), "'%s/smkey' audit '%s/%s' >'%s' 2>&1", SMK_BUILD_DIR, dir, file,
		 log);
	rc = system(cmd);
	smk_buf_reset(out);
	ck_assert(smk_read_file(log, 1 << 20, out, NULL) == 0 && smk_buf_add_byte(out, 0) == 0);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* An archive handed over by someone else is hostile: a table replaced by a
 * view (SQL of the file's author run by the auditor) is refused, naming the
 * table; triggers in the file never fire (the side table they fill stays
 * empty), and the archive's own rows are still audited. */
START_TEST(hostile_archive_runs_nothing_from_the_file)
{
	char cmd[2048], dir[160], path[200];
	smk_buf out = SMK_BUF_INIT;
	int rc;

	snprintf(dir, sizeof(dir), "%s/hostile", P.dir);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s' && '%s/gen_archive' '%s' 5 --devices 1 >'%s/gen.json' && "
		 "cp '%s/archive.db' '%s/view.db' && cp '%s/archive.db' '%s/trigger.db'",
		 dir, SMK_BUILD_DIR, dir, dir, dir, dir, dir, dir);
	run(cmd);

	/* records is a view over the real rows: the audit would come out
	 * clean while running the file author's SQL */
	snprintf(path, sizeof(path), "%s/view.db", dir);
	sql(path, "ALTER TABLE records RENAME TO real_records;"
		  "CREATE VIEW records AS SELECT * FROM real_records;");
	rc = smkey_audit(dir, "view.db", &out);
	ck_assert_msg(rc == 2, "exit %d: %s", rc, (const char *)out.data);
	ck_assert_msg(strstr((const char *)out.data, "view.db: records is a view, not a table"),
		      "%s", (const char *)out.data);

	/* triggers that would fill a side table when a row is written */
	snprintf(path, sizeof(path), "%s/trigger.db", dir);
	sql(path, "CREATE TABLE pwned(x);"
		  "CREATE TRIGGER evil_cp AFTER INSERT ON checkpoints"
		  " BEGIN INSERT INTO pwned VALUES('checkpoint'); END;"
		  "CREATE TRIGGER evil_rec AFTER INSERT ON records"
		  " BEGIN INSERT INTO pwned VALUES('record'); END;");
	rc = smkey_audit(dir, "trigger.db", &out);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, (const char *)out.data);
	ck_assert_msg(strstr((const char *)out.data, "5 records"), "%s", (const char *)out.data);
	ck_assert_int_eq(sql_int(path, "SELECT count(*) FROM pwned"), 0);
	smk_buf_free(&out);
}
END_TEST

static Suite *audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("audit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, chain_cache_answers_only_for_the_same_bytes_and_dates);
	tcase_add_test(tc, audit_refuses_records_behind_a_cached_chain);
	tcase_add_test(tc, tree_heads_and_proofs_equal_the_flat_ones);
	tcase_add_test(tc, commit_after_a_rolled_back_commit_signs_the_right_root);
	tcase_add_test(tc, generated_archive_audits_clean);
	tcase_add_test(tc, hostile_archive_runs_nothing_from_the_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(audit_suite());
}
