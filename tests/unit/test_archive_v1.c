/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Format 1 stays readable forever: the archive and bundles under
 * tests/data/archive/v1/ were written by the format-1 code (README there)
 * and must keep parsing, verifying and auditing clean, through the library
 * (archive_record_parse, archive_verify_bundle, archive_audit) and through
 * `smkey verify` and `smkey audit`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "archive/archive.h"
#include "archive/logkey.h"
#include "archive/record.h"
#include "archive/verify.h"
#include "common/json.h"
#include "tests/lib/testutil.h"
#include "sm/chain.h"

#define V1 "tests/data/archive/v1"
/* written before canonical JSON was JCS: a policy description with U+001F,
 * stored as \u001F (README there) */
#define LEGACY "tests/data/archive/jcs-legacy"

static struct {
	char dir[64], db[128];
	trust_store trust;
} F;

static const char *const bundles[] = {"archive-key", "key", "adopted", "certificate-adopted",
				      "certificate-key"};
static const char *const kinds[] = {ARCHIVE_KIND_ARCHIVE_KEY, ARCHIVE_KIND_KEY,
				    ARCHIVE_KIND_ADOPTED, ARCHIVE_KIND_CERTIFICATE,
				    ARCHIVE_KIND_CERTIFICATE};

static void setup_from(const char *dir)
{
	smk_buf root = SMK_BUF_INIT, db = SMK_BUF_INIT;
	char path[128];
	smk_err e;
	FILE *f;

	memset(&F, 0, sizeof(F));
	tu_temp_dir(F.dir, sizeof(F.dir), "smk-archive-v1");
	/* a copy: SQLite may create -wal/-shm files next to what it opens */
	snprintf(F.db, sizeof(F.db), "%s/archive.db", F.dir);
	snprintf(path, sizeof(path), "%s/archive.db", dir);
	tu_read_source_file(&db, path);
	f = fopen(F.db, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(db.data, 1, db.len, f), db.len);
	ck_assert_int_eq(fclose(f), 0);
	tu_read_source_file(&root, "tests/fuzz/fixtures/sim-root-ZZSIMRCA00001.cvcert");
	ck_assert_msg(trust_add(&F.trust, root.data, root.len, "sim root", &e) == 0, "%s", e.msg);
	smk_buf_free(&root);
	smk_buf_free(&db);
}

static void setup(void)
{
	setup_from(V1);
}

static void setup_legacy(void)
{
	setup_from(LEGACY);
}

static void teardown(void)
{
	char cmd[128];

	trust_free(&F.trust);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", F.dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int smkey(smk_buf *out, const char *args)
{
	char cmd[1024], outfile[160], chunk[4096];
	FILE *f;
	size_t n;
	int status;

	snprintf(outfile, sizeof(outfile), "%s/out.txt", F.dir);
	snprintf(cmd, sizeof(cmd), "%s/smkey %s >'%s' 2>&1", SMK_BUILD_DIR, args, outfile);
	status = system(cmd);
	smk_buf_reset(out);
	f = fopen(outfile, "rb");
	ck_assert_ptr_nonnull(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ck_assert(smk_buf_add(out, chunk, n) == 0);
	fclose(f);
	ck_assert(smk_buf_add_byte(out, 0) == 0);
	ck_assert_msg(WIFEXITED(status), "smkey %s did not exit", args);
	return WEXITSTATUS(status);
}

START_TEST(v1_records_parse)
{
	archive *a;
	smk_buf canon = SMK_BUF_INIT;
	archive_record r;
	uint64_t size, i;
	smk_err e;

	ck_assert_msg(archive_open(F.db, ARCHIVE_OPEN_READONLY, &a, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(archive_size(a, &size, &e), 0);
	ck_assert_uint_eq(size, 5);
	for (i = 0; i < size; i++) {
		smk_buf_reset(&canon);
		ck_assert_msg(archive_get(a, i, &canon, NULL, &e) == 0, "%s", e.msg);
		ck_assert_msg(archive_record_parse(canon.data, canon.len, &r, &e) == 0,
			      "record %llu: %s", (unsigned long long)i, e.msg);
		ck_assert_int_eq(r.format, 1);
		ck_assert_str_eq(r.kind, i == 0	  ? ARCHIVE_KIND_ARCHIVE_KEY
					 : i == 1 ? ARCHIVE_KIND_KEY
					 : i == 2 ? ARCHIVE_KIND_ADOPTED
						  : ARCHIVE_KIND_CERTIFICATE);
		/* format 1 says nothing of what the card told */
		ck_assert_int_eq(r.has_card, 0);
		archive_record_free(&r);
	}
	smk_buf_free(&canon);
	archive_close(a);
}
END_TEST

/* The fixture's log pinned by its verifier key (from record 0's key). */
static void pin_v1_log(archive_logpins *pins)
{
	smk_buf canon = SMK_BUF_INIT;
	archive_record r;
	archive_logkey k;
	archive *a;
	smk_err e;

	ck_assert_msg(archive_open(F.db, ARCHIVE_OPEN_READONLY, &a, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(archive_get(a, 0, &canon, NULL, &e), 0);
	ck_assert_int_eq(archive_record_parse(canon.data, canon.len, &r, &e), 0);
	ck_assert_msg(archive_logkey_of(r.spki.data, r.spki.len, &k, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_logpins_add(pins, k.text, "test", &e) == 0, "%s", e.msg);
	archive_record_free(&r);
	smk_buf_free(&canon);
	archive_close(a);
}

START_TEST(v1_bundles_verify)
{
	smk_buf b = SMK_BUF_INIT;
	archive_logpins pins = ARCHIVE_LOGPINS_INIT;
	archive_verified v;
	char path[128];
	size_t i;
	smk_err e;

	pin_v1_log(&pins);
	for (i = 0; i < sizeof(bundles) / sizeof(bundles[0]); i++) {
		snprintf(path, sizeof(path), V1 "/%s.bundle.json", bundles[i]);
		smk_buf_reset(&b);
		tu_read_source_file(&b, path);
		/* no log pinned: what the device proves holds, the rest is unverified */
		ck_assert_msg(archive_verify_bundle(b.data, b.len, &F.trust, NULL, NULL, NULL, &v,
						    &e) == ARCHIVE_VERIFY_UNPINNED,
			      "%s: %s", path, e.msg);
		archive_verified_free(&v);
		ck_assert_msg(
		    archive_verify_bundle(b.data, b.len, &F.trust, &pins, NULL, NULL, &v, &e) == 0,
		    "%s: %s", path, e.msg);
		ck_assert_str_eq(v.has_cert ? v.cert_record.kind : v.record.kind, kinds[i]);
		ck_assert_int_eq(v.record.format, 1);
		archive_verified_free(&v);
	}
	archive_logpins_free(&pins);
	smk_buf_free(&b);
}
END_TEST

START_TEST(v1_archive_audits_clean)
{
	archive_audit_opts o;
	smk_buf since = SMK_BUF_INIT;
	unsigned problems = 99;
	archive *a;
	smk_err e;
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	tu_read_source_file(&since, V1 "/checkpoint-5.txt");
	ck_assert_msg(archive_open(F.db, ARCHIVE_OPEN_READONLY, &a, &e) == 0, "%s", e.msg);
	memset(&o, 0, sizeof(o));
	o.trust = &F.trust;
	o.since = since.data;
	o.since_len = since.len;
	o.since_name = "checkpoint-5.txt";
	o.path = F.db;
	ck_assert_msg(archive_audit(a, &o, f, &problems, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(problems, 0);
	archive_close(a);
	fclose(f);
	smk_buf_free(&since);
}
END_TEST

START_TEST(v1_through_smkey)
{
	smk_buf out = SMK_BUF_INIT;
	char args[1024], trust[160], vkey[400];
	size_t i;

	/* the trust directory holds the simulator root alone */
	snprintf(trust, sizeof(trust), "%s/trust", F.dir);
	snprintf(args, sizeof(args),
		 "mkdir '%s' && cp '%s/tests/fuzz/fixtures/sim-root-ZZSIMRCA00001.cvcert' "
		 "'%s/ZZSIMRCA00001.cvcert'",
		 trust, SMK_SOURCE_DIR, trust);
	ck_assert_int_eq(system(args), 0);
	/* the log's verifier key, as a developer would publish it */
	snprintf(args, sizeof(args), "log-key '%s'", F.db);
	ck_assert_msg(smkey(&out, args) == 0, "%s", out.data);
	ck_assert(out.len > 1 && out.len < sizeof(vkey));
	snprintf(vkey, sizeof(vkey), "%s", (char *)out.data);
	vkey[strcspn(vkey, "\n")] = '\0';
	for (i = 0; i < sizeof(bundles) / sizeof(bundles[0]); i++) {
		snprintf(args, sizeof(args), "verify '%s/" V1 "/%s.bundle.json' --trust '%s'",
			 SMK_SOURCE_DIR, bundles[i], trust);
		ck_assert_msg(smkey(&out, args) == 3, "%s unpinned: %s", bundles[i], out.data);
		snprintf(args, sizeof(args),
			 "verify '%s/" V1 "/%s.bundle.json' --trust '%s' --log '%s'",
			 SMK_SOURCE_DIR, bundles[i], trust, vkey);
		ck_assert_msg(smkey(&out, args) == 0, "%s: %s", bundles[i], out.data);
		ck_assert_msg(
		    strstr((char *)out.data, "card facts   not recorded (format 1 record)") != NULL,
		    "%s: %s", bundles[i], out.data);
	}
	snprintf(args, sizeof(args),
		 "verify '%s/" V1 "/certificate-adopted.bundle.json' --trust '%s' --certificate "
		 "'%s/" V1 "/adopted-cert.pem' --log '%s'",
		 SMK_SOURCE_DIR, trust, SMK_SOURCE_DIR, vkey);
	ck_assert_msg(smkey(&out, args) == 0, "%s", out.data);
	snprintf(args, sizeof(args), "audit '%s' --trust '%s' --since '%s/" V1 "/checkpoint-5.txt'",
		 F.db, trust, SMK_SOURCE_DIR);
	ck_assert_msg(smkey(&out, args) == 0, "%s", out.data);
	ck_assert_msg(strstr((char *)out.data, "all checks hold (0 problems)"), "%s", out.data);
	smk_buf_free(&out);
}
END_TEST

/* The stored policy document is the pre-JCS form (\u001F); it parses, its
 * digest is over those bytes, and today's writer would write \u001f. */
START_TEST(legacy_records_parse)
{
	smk_buf canon = SMK_BUF_INIT, jcs = SMK_BUF_INIT, old = SMK_BUF_INIT;
	archive_record r;
	json_t *doc;
	uint64_t size, i;
	archive *a;
	smk_err e;

	ck_assert_msg(archive_open(F.db, ARCHIVE_OPEN_READONLY, &a, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(archive_size(a, &size, &e), 0);
	ck_assert_uint_eq(size, 5);
	for (i = 0; i < size; i++) {
		smk_buf_reset(&canon);
		ck_assert_msg(archive_get(a, i, &canon, NULL, &e) == 0, "%s", e.msg);
		ck_assert_msg(archive_record_parse(canon.data, canon.len, &r, &e) == 0,
			      "record %llu: %s", (unsigned long long)i, e.msg);
		if (i == 1) {
			ck_assert_ptr_nonnull(
			    memmem(r.policy_doc.data, r.policy_doc.len, "\\u001F", 6));
			doc =
			    json_loadb((const char *)r.policy_doc.data, r.policy_doc.len, 0, NULL);
			ck_assert_ptr_nonnull(doc);
			ck_assert_int_eq(smk_json_canonical(doc, &jcs, &e), 0);
			ck_assert_int_eq(smk_json_canonical_legacy(doc, &old, &e), 0);
			ck_assert_ptr_nonnull(memmem(jcs.data, jcs.len, "\\u001f", 6));
			ck_assert(jcs.len != r.policy_doc.len ||
				  memcmp(jcs.data, r.policy_doc.data, jcs.len) != 0);
			ck_assert_uint_eq(old.len, r.policy_doc.len);
			ck_assert_mem_eq(old.data, r.policy_doc.data, old.len);
			json_decref(doc);
		}
		archive_record_free(&r);
	}
	smk_buf_free(&canon);
	smk_buf_free(&jcs);
	smk_buf_free(&old);
	archive_close(a);
}
END_TEST

START_TEST(legacy_bundle_verifies_and_archive_audits)
{
	smk_buf b = SMK_BUF_INIT, since = SMK_BUF_INIT;
	archive_logpins pins = ARCHIVE_LOGPINS_INIT;
	archive_audit_opts o;
	archive_verified v;
	unsigned problems = 99;
	archive *a;
	smk_err e;
	FILE *f = tmpfile();

	pin_v1_log(&pins);
	tu_read_source_file(&b, LEGACY "/key.bundle.json");
	ck_assert_msg(archive_verify_bundle(b.data, b.len, &F.trust, &pins, NULL, NULL, &v, &e) ==
			  0,
		      "%s", e.msg);
	ck_assert_str_eq(v.record.kind, ARCHIVE_KIND_KEY);
	ck_assert_ptr_nonnull(
	    memmem(v.record.policy_doc.data, v.record.policy_doc.len, "\\u001F", 6));
	archive_verified_free(&v);

	ck_assert_ptr_nonnull(f);
	tu_read_source_file(&since, LEGACY "/checkpoint-5.txt");
	ck_assert_msg(archive_open(F.db, ARCHIVE_OPEN_READONLY, &a, &e) == 0, "%s", e.msg);
	memset(&o, 0, sizeof(o));
	o.trust = &F.trust;
	o.since = since.data;
	o.since_len = since.len;
	o.since_name = "checkpoint-5.txt";
	o.path = F.db;
	ck_assert_msg(archive_audit(a, &o, f, &problems, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(problems, 0);
	archive_close(a);
	fclose(f);
	archive_logpins_free(&pins);
	smk_buf_free(&since);
	smk_buf_free(&b);
}
END_TEST

static Suite *archive_v1_suite(void)
{
	Suite *s = suite_create("archive_v1");
	TCase *tc = tcase_create("format 1 fixtures");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, v1_records_parse);
	tcase_add_test(tc, v1_bundles_verify);
	tcase_add_test(tc, v1_archive_audits_clean);
	tcase_add_test(tc, v1_through_smkey);
	suite_add_tcase(s, tc);
	tc = tcase_create("pre-JCS fixtures");
	tcase_add_checked_fixture(tc, setup_legacy, teardown);
	tcase_add_test(tc, legacy_records_parse);
	tcase_add_test(tc, legacy_bundle_verifies_and_archive_audits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(archive_v1_suite());
}
