/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey audit on several threads: the report, the problem count and the
 * signature counts (--stats) are the same byte for byte whatever the
 * number of threads, on a clean archive and on one with problems planted
 * in several records (a swapped signature, a changed record that breaks
 * the hash chain, deleted rows, an unreadable record, a certificate whose
 * key record is gone), also with --since an earlier checkpoint, and each
 * planted problem is named at its record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <openssl/x509.h>
#include <sqlite3.h>

#include "archive/archive.h"
#include "archive/verify.h"
#include "common/file.h"
#include "tests/lib/archfix.h"
#include "tests/lib/testutil.h"

#define T_IN 1795000000 /* 2026-11-18 */

static archfix P;
static smk_buf since; /* an earlier checkpoint note for --since, or empty */

static const archfix_cfg cfg = {
    .prefix = "smk-auditjobs",
    .root_chr = "UTSRCAJOB00001",
    .dica_chr = "UTDIJOB0100001",
    .dev_chr = "UTJOB10004200000",
    .dev_serial = "UTJOB100042",
    .dev_until = 2035,
    .req_car = NULL,
    .peer = {1000, 1000, 777, "/usr/bin/smkey"},
    .t0 = T_IN,
    .commit_after = 0,
};

static const char apk_doc[] =
    "{\"alg-list-hex\":\"73\",\"algorithms\":[{\"id\":115,\"name\":\"ecdsa-sha256\"}],"
    "\"name\":\"release-apk\",\"use-counter\":null}";

static void setup(void)
{
	archfix_setup(&P, &cfg);
}

static void teardown(void)
{
	archfix_teardown(&P);
	smk_buf_free(&since);
}

static void sql(const char *path, const char *stmt)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, stmt, NULL, NULL, NULL) == SQLITE_OK, "%.200s: %s", stmt,
		      sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* The end of a report, for a failure message (Check's are bounded). */
static const char *tail_of(const smk_buf *report)
{
	const char *s = (const char *)report->data;
	size_t n = strlen(s);

	return n > 1500 ? s + n - 1500 : s;
}

/* archive_audit on jobs threads with --stats: the report in out, the
 * problem count returned */
static unsigned audit(const char *path, unsigned jobs, smk_buf *out)
{
	archive_audit_opts o;
	unsigned problems = 0;
	archive *ro;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	smk_err e;

	ck_assert_ptr_nonnull(f);
	memset(&o, 0, sizeof(o));
	o.trust = &P.trust;
	o.path = "archive";
	o.jobs = jobs;
	o.stats = 1;
	if (since.len) {
		o.since = since.data;
		o.since_len = since.len;
		o.since_name = "earlier.txt";
	}
	ck_assert_msg(archive_open(path, ARCHIVE_OPEN_READONLY, &ro, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_audit(ro, &o, f, &problems, &e) == 0, "%s", e.msg);
	archive_close(ro);
	fclose(f);
	smk_buf_reset(out);
	ck_assert(smk_buf_add(out, text, len) == 0 && smk_buf_add_byte(out, 0) == 0);
	free(text);
	return problems;
}

/* The same audit on 1, 2, 3, 4 and 7 threads: the same report and count
 * each time; the report of the single thread in out. */
static unsigned audit_every_way(const char *path, smk_buf *out)
{
	static const unsigned jobs[] = {2, 3, 4, 7};
	smk_buf other = SMK_BUF_INIT;
	unsigned problems = audit(path, 1, out), i;

	for (i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		unsigned p = audit(path, jobs[i], &other);

		ck_assert_msg(p == problems, "%u problems on %u threads, %u on one", p, jobs[i],
			      problems);
		ck_assert_msg(other.len == out->len && memcmp(other.data, out->data, out->len) == 0,
			      "the report on %u threads differs from the one on one thread:\n%s\n"
			      "--- one thread:\n%s",
			      jobs[i], tail_of(&other), tail_of(out));
	}
	smk_buf_free(&other);
	return problems;
}

/* An X.509 certificate for pub, self-issued by issuer (DER). */
static void cert_for(EVP_PKEY *pub, EVP_PKEY *issuer, smk_buf *der)
{
	X509 *x = X509_new();
	unsigned char *p = NULL;
	int n;

	ck_assert_ptr_nonnull(x);
	ck_assert(X509_set_version(x, 2) == 1);
	ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 7) == 1);
	ck_assert(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					     (const unsigned char *)"Audit jobs", -1, -1, 0) == 1);
	ck_assert(X509_set_issuer_name(x, X509_get_subject_name(x)) == 1);
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(x), 86400L));
	ck_assert(X509_set_pubkey(x, pub) == 1 && X509_sign(x, issuer, EVP_sha256()) > 0);
	n = i2d_X509(x, &p);
	ck_assert_int_gt(n, 0);
	ck_assert(smk_buf_add(der, p, (size_t)n) == 0);
	OPENSSL_free(p);
	X509_free(x);
}

/* A key record and, every third one, a certificate record for it. */
static void fill_archive(unsigned keys, EVP_PKEY *issuer)
{
	unsigned i;

	for (i = 1; i <= keys; i++) {
		EVP_PKEY *k = tu_keygen("P-256");
		char label[32];
		uint64_t seq;

		snprintf(label, sizeof(label), "key-%u", i);
		seq = archfix_make_key(&P, ARCHIVE_KIND_KEY, "release-apk", apk_doc, k, label);
		if (i % 3 == 0) {
			smk_buf cert = SMK_BUF_INIT;
			archive_cert_req cr;
			archive_intent_info info;
			uint64_t cseq;
			smk_err e;

			cert_for(k, issuer, &cert);
			memset(&cr, 0, sizeof(cr));
			cr.peer = cfg.peer;
			cr.key_seq = seq;
			cr.cert = cert.data;
			cr.cert_len = cert.len;
			cr.time = T_IN + 1;
			ck_assert_msg(archive_cert_intent(P.a, &cr, &info, &e) == 0, "%s", e.msg);
			ck_assert_msg(archive_cert_commit(P.a, &P.signer, info.request_id, T_IN + 2,
							  &cseq, &e) == 0,
				      "%s", e.msg);
			smk_buf_free(&cert);
		}
		EVP_PKEY_free(k);
	}
}

static int has(const smk_buf *report, const char *needle)
{
	return strstr((const char *)report->data, needle) != NULL;
}

START_TEST(clean_archive_same_report_on_any_number_of_threads)
{
	EVP_PKEY *issuer = tu_keygen("P-256");
	smk_buf report = SMK_BUF_INIT;
	unsigned problems;

	fill_archive(45, issuer);
	problems = audit_every_way(P.path, &report);
	ck_assert_msg(problems == 0, "%u problems:\n%s", problems, tail_of(&report));
	ck_assert_msg(has(&report, "  61 records (1 archive key, 45 generated, 0 adopted, "
				   "15 certificate)\n"),
		      "%s", tail_of(&report));
	/* record 0's and every checkpoint's (61) signature by the archive key
	 * (the other records are of format 3: no signature of their own), the
	 * inner CV-REQ signature of each of the 46 keys (P-256); the outer
	 * ones by the DevAut key and the device chain, validated once
	 * (brainpoolP256r1) */
	ck_assert_msg(has(&report, "\nSignature verifications\n"
				   "  ecdsa brainpoolP256r1: 48 (0.787 per record)\n"),
		      "%s", tail_of(&report));
	ck_assert_msg(has(&report, "  ecdsa prime256v1: 108 (1.770 per record)\n"
				   "  61 records read\n"),
		      "%s", tail_of(&report));
	smk_buf_free(&report);
	EVP_PKEY_free(issuer);
}
END_TEST

START_TEST(planted_problems_same_report_on_any_number_of_threads)
{
	EVP_PKEY *issuer = tu_keygen("P-256");
	smk_buf report = SMK_BUF_INIT;
	unsigned problems;

	fill_archive(45, issuer);
	sql(P.path, "DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;"
		    /* a signature stored with a record of format 3, which has none */
		    "UPDATE records SET signature = x'3006020101020101'"
		    " WHERE seq = 5;"
		    /* a record changed after it was stored: the next record's
		     * previous-record hash and the checkpoints over it fail */
		    "UPDATE records SET canonical = CAST(replace(CAST(canonical AS TEXT),"
		    " '\"key-10\"', '\"key-1X\"') AS BLOB) WHERE seq = 13;"
		    /* one deleted row, and three in a row */
		    "DELETE FROM records WHERE seq = 20;"
		    "DELETE FROM records WHERE seq BETWEEN 30 AND 32;"
		    /* a record that is not a record */
		    "UPDATE records SET canonical = CAST('{\"not\":\"a record\"}' AS BLOB)"
		    " WHERE seq = 41;"
		    /* a key record that a certificate record (seq 56) names */
		    "DELETE FROM records WHERE seq = 55;");
	problems = audit_every_way(P.path, &report);
	ck_assert_msg(has(&report, "record 5 (key-4): of format 3, yet a signature is stored "
				   "with it"),
		      "%s", tail_of(&report));
	ck_assert_msg(has(&report, "record 14 (key-11): previous-record hash does not "
				   "match record 13"),
		      "%s", tail_of(&report));
	ck_assert_msg(has(&report, "PROBLEM: record 20 is missing (a deleted row)"), "%s",
		      tail_of(&report));
	ck_assert_msg(has(&report, "PROBLEM: records 30..32 are missing (deleted rows)"), "%s",
		      tail_of(&report));
	ck_assert_msg(has(&report, "PROBLEM: record 41 (request "), "%s", tail_of(&report));
	ck_assert_msg(has(&report, "record 42 (key-32): previous-record hash does not match "
				   "record 41"),
		      "%s", tail_of(&report));
	ck_assert_msg(has(&report, "record 56 (certificate): its key record 55 is missing"), "%s",
		      tail_of(&report));
	ck_assert_msg(problems >= 10, "%u problems:\n%s", problems, tail_of(&report));
	smk_buf_free(&report);
	EVP_PKEY_free(issuer);
}
END_TEST

/* More records and checkpoints than one batch holds (256 on one thread):
 * the batches after the first are read and verified like the first, and
 * a checkpoint's problem in a later batch is named like any other. */
START_TEST(records_and_checkpoints_beyond_one_batch)
{
	EVP_PKEY *issuer = tu_keygen("P-256");
	smk_buf report = SMK_BUF_INIT;
	unsigned problems;

	fill_archive(300, issuer);
	problems = audit_every_way(P.path, &report);
	ck_assert_msg(problems == 0, "%u problems:\n%s", problems, tail_of(&report));
	ck_assert_msg(has(&report, "  401 records (1 archive key, 300 generated, 0 adopted, "
				   "100 certificate)\n"),
		      "%s", tail_of(&report));
	ck_assert_msg(has(&report, "  401 checkpoints; latest verified size 401\n"), "%s",
		      tail_of(&report));
	sql(P.path, "DROP TRIGGER checkpoints_no_update;"
		    /* a checkpoint stored under another size than its own */
		    "UPDATE checkpoints SET note = (SELECT note FROM checkpoints WHERE size = 300)"
		    " WHERE size = 350;"
		    /* a checkpoint changed after it was signed */
		    "UPDATE checkpoints SET note = CAST(replace(CAST(note AS TEXT),"
		    " char(10) || '370' || char(10), char(10) || '371' || char(10)) AS BLOB)"
		    " WHERE size = 370;");
	problems = audit_every_way(P.path, &report);
	ck_assert_msg(has(&report, "PROBLEM: checkpoint 300: stored under size 350\n"), "%s",
		      tail_of(&report));
	ck_assert_msg(has(&report, "PROBLEM: checkpoint 370: "), "%s", tail_of(&report));
	ck_assert_msg(!has(&report, "PROBLEM: checkpoint 371"), "%s", tail_of(&report));
	ck_assert_msg(has(&report, "  401 checkpoints; latest verified size 401\n"), "%s",
		      tail_of(&report));
	ck_assert_msg(problems == 2, "%u problems:\n%s", problems, tail_of(&report));
	smk_buf_free(&report);
	EVP_PKEY_free(issuer);
}
END_TEST

/* `smkey audit` with --jobs: its exit status; stdout and stderr in out */
static int smkey_audit(const char *args, smk_buf *out)
{
	char cmd[1024], log[160];
	int rc;

	snprintf(log, sizeof(log), "%s/audit.out", P.dir);
	snprintf(cmd, sizeof(cmd), "'%s/smkey' audit '%s' %s >'%s' 2>&1", SMK_BUILD_DIR, P.path,
		 args, log);
	rc = system(cmd);
	smk_buf_reset(out);
	ck_assert(smk_read_file(log, 1 << 20, out, NULL) == 0 && smk_buf_add_byte(out, 0) == 0);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

START_TEST(smkey_audit_jobs_report_files_are_the_same)
{
	EVP_PKEY *issuer = tu_keygen("P-256");
	smk_buf out = SMK_BUF_INIT, r1 = SMK_BUF_INIT, r4 = SMK_BUF_INIT;
	char args[512], path[160];
	smk_err e;
	int rc;

	fill_archive(12, issuer);
	sql(P.path, "DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;"
		    "UPDATE records SET signature = x'3006020101020101'"
		    " WHERE seq = 3; DELETE FROM records WHERE seq = 7;");
	snprintf(args, sizeof(args), "--jobs 1 --stats --report '%s/r1.txt'", P.dir);
	rc = smkey_audit(args, &out);
	ck_assert_msg(rc == 1, "exit %d: %s", rc, (const char *)out.data);
	snprintf(args, sizeof(args), "--jobs 4 --stats --report '%s/r4.txt'", P.dir);
	rc = smkey_audit(args, &out);
	ck_assert_msg(rc == 1, "exit %d: %s", rc, (const char *)out.data);
	snprintf(path, sizeof(path), "%s/r1.txt", P.dir);
	ck_assert_msg(smk_read_file(path, 1 << 20, &r1, &e) == 0, "%s", e.msg);
	snprintf(path, sizeof(path), "%s/r4.txt", P.dir);
	ck_assert_msg(smk_read_file(path, 1 << 20, &r4, &e) == 0, "%s", e.msg);
	ck_assert(smk_buf_add_byte(&r1, 0) == 0 && smk_buf_add_byte(&r4, 0) == 0);
	ck_assert_msg(r1.len == r4.len && memcmp(r1.data, r4.data, r1.len) == 0,
		      "--jobs 4:\n%s\n--jobs 1:\n%s", (const char *)r4.data, (const char *)r1.data);
	ck_assert_msg(has(&r1, "record 7 is missing") && has(&r1, "record 3 (key-3): of format 3"),
		      "%s", (const char *)r1.data);
	ck_assert_msg(has(&r1, "\nSignature verifications\n"), "%s", (const char *)r1.data);
	/* --jobs takes 1..256 only */
	ck_assert_int_eq(smkey_audit("--jobs 0", &out), 2);
	ck_assert_msg(has(&out, "--jobs 0: not a number from 1 to 256"), "%s",
		      (const char *)out.data);
	ck_assert_int_eq(smkey_audit("--jobs 2x", &out), 2);
	/* without --stats the report has no signature counts */
	ck_assert_int_eq(smkey_audit("--jobs 2", &out), 1);
	ck_assert_msg(!has(&out, "Signature verifications"), "%s", (const char *)out.data);
	smk_buf_free(&out);
	smk_buf_free(&r1);
	smk_buf_free(&r4);
	EVP_PKEY_free(issuer);
}
END_TEST

START_TEST(since_an_earlier_checkpoint_same_report_on_any_number_of_threads)
{
	EVP_PKEY *issuer = tu_keygen("P-256");
	smk_buf report = SMK_BUF_INIT;
	uint64_t size;
	unsigned problems;
	smk_err e;

	fill_archive(15, issuer);
	ck_assert_msg(archive_latest_checkpoint(P.a, &since, &size, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(size, 21);
	fill_archive(30, issuer);
	problems = audit_every_way(P.path, &report);
	ck_assert_msg(problems == 0, "%u problems:\n%s", problems, tail_of(&report));
	ck_assert_msg(has(&report, "  40 records audited (0 archive key, 30 generated, 0 adopted, "
				   "10 certificate)\n") &&
			  has(&report, "  40 records read\n"),
		      "%s", tail_of(&report));
	/* record 21, the first after the checkpoint, and a later one changed */
	sql(P.path, "DROP TRIGGER records_no_update;"
		    "UPDATE records SET signature = x'3006020101020101'"
		    " WHERE seq = 21;"
		    "UPDATE records SET signature = x'3006020101020101'"
		    " WHERE seq = 50;");
	problems = audit_every_way(P.path, &report);
	ck_assert_msg(has(&report, "record 21 (key-1): of format 3, yet a signature is stored "
				   "with it") &&
			  has(&report, "record 50 ("),
		      "%s", tail_of(&report));
	ck_assert_msg(problems >= 2, "%u problems:\n%s", problems, tail_of(&report));
	smk_buf_free(&report);
	EVP_PKEY_free(issuer);
}
END_TEST

static Suite *audit_jobs_suite(void)
{
	Suite *s = suite_create("audit_jobs");
	TCase *tc = tcase_create("audit_jobs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, clean_archive_same_report_on_any_number_of_threads);
	tcase_add_test(tc, planted_problems_same_report_on_any_number_of_threads);
	tcase_add_test(tc, smkey_audit_jobs_report_files_are_the_same);
	tcase_add_test(tc, since_an_earlier_checkpoint_same_report_on_any_number_of_threads);
	tcase_add_test(tc, records_and_checkpoints_beyond_one_batch);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(audit_jobs_suite());
}
