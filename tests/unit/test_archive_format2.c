/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Record format 2 stays readable and writable forever: the archive and
 * bundles under tests/data/archive/format2/ were written by the format-2
 * code, where every record carries its own signature by the archive key
 * (README there). They must keep parsing, verifying and auditing clean;
 * opened for writing by today's code, the archive gains records of format
 * 3 (no signature of their own, authenticated by a signed checkpoint) and
 * the mixed archive audits clean and its bundles verify.
 *
 * SMK_MAKE_FORMAT2=DIR writes the fixture into DIR instead of testing (how
 * it was made: the README).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "archive/archive.h"
#include "archive/checkpoint.h"
#include "archive/logkey.h"
#include "archive/record.h"
#include "archive/verify.h"
#include "common/b64.h"
#include "common/digest.h"
#include "common/file.h"
#include "sm/cvc.h"
#include "tests/lib/archfix.h"
#include "tests/lib/testutil.h"

#define FMT2 "tests/data/archive/format2"
#define T0 1795000000 /* 2026-11-18 */

static const archfix_cfg cfg = {
    .prefix = "smk-format2",
    .root_chr = "UTSRCAFMT00001",
    .dica_chr = "UTDIFMT0200001",
    .dev_chr = "UTFMT20002200000",
    .dev_serial = "UTFMT200022",
    .dev_until = 2035,
    .req_car = "UTCA00001",
    .peer = {1000, 1000, 4242, "/usr/bin/smkey"},
    .t0 = T0,
    .commit_after = 5,
};

static const char apk_doc[] =
    "{\"alg-list-hex\":\"73\",\"algorithms\":[{\"id\":115,\"name\":\"ecdsa-sha256\"}],"
    "\"name\":\"release-apk\",\"use-counter\":null}";

static archfix P;

/* ---- making the fixture (SMK_MAKE_FORMAT2) ---- */

/* A self-signed X.509 certificate holding pub, signed by ca (DER). */
static void make_cert(EVP_PKEY *pub, EVP_PKEY *ca, const char *cn, smk_buf *der)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *out = NULL;
	int n;

	ck_assert_ptr_nonnull(x);
	ck_assert(X509_set_version(x, 2) == 1);
	ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 0x2002) == 1);
	ck_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
					     -1, -1, 0) == 1);
	ck_assert(X509_set_subject_name(x, name) == 1);
	ck_assert(X509_set_issuer_name(x, name) == 1);
	ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, NULL));
	ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notAfter(x), 3650, 0, NULL));
	ck_assert(X509_set_pubkey(x, pub) == 1);
	ck_assert(X509_sign(x, ca, EVP_sha256()) > 0);
	n = i2d_X509(x, &out);
	ck_assert_int_gt(n, 0);
	ck_assert(smk_buf_add(der, out, (size_t)n) == 0);
	OPENSSL_free(out);
	X509_NAME_free(name);
	X509_free(x);
}

/* Import cert for key record key_seq at time t, both steps; its seq. */
static uint64_t import_cert(uint64_t key_seq, const smk_buf *cert, int64_t t)
{
	archive_cert_req cr;
	archive_intent_info info;
	uint64_t seq = 0;
	smk_err e;

	memset(&cr, 0, sizeof(cr));
	cr.peer = cfg.peer;
	cr.key_seq = key_seq;
	cr.cert = cert->data;
	cr.cert_len = cert->len;
	cr.time = t;
	ck_assert_msg(archive_cert_intent(P.a, &cr, &info, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_cert_commit(P.a, &P.signer, info.request_id, t + 1, &seq, &e) == 0,
		      "%s", e.msg);
	return seq;
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static void write_key(const char *dir, const char *name, EVP_PKEY *k)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
	ck_assert_int_eq(fclose(f), 0);
}

static void write_bundle(const char *dir, uint64_t seq, const char *name)
{
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	ck_assert_msg(archive_export_bundle(P.a, seq, &b, &e) == 0, "%s", e.msg);
	write_file(dir, name, b.data, b.len);
	smk_buf_free(&b);
}

static int make_fixture(const char *dir)
{
	EVP_PKEY *k1 = tu_keygen("P-256"), *k2 = tu_keygen("P-256"), *k4 = tu_keygen("P-256");
	EVP_PKEY *ca = tu_keygen("P-256");
	archive_card_facts facts;
	archive_adopt_req ar;
	archfix_key fk;
	smk_buf cvreq = SMK_BUF_INIT, spki = SMK_BUF_INIT, cert = SMK_BUF_INIT;
	smk_buf note = SMK_BUF_INIT;
	uint64_t seq, size;
	char cmd[512];
	smk_err e;

	archfix_setup(&P, &cfg);
	/* 1: a key under release-apk, the GAKP's answer, nothing reported */
	ck_assert_uint_eq(
	    archfix_make_key(&P, ARCHIVE_KIND_KEY, "release-apk", apk_doc, k1, "apk-2027"), 1);
	/* 2: a key made elsewhere, adopted from CE|id */
	archfix_gakp(&P, k2, "DEPKCS1100001", &cvreq);
	ck_assert_int_eq(cvc_spki_der(k2, &spki, &e), 0);
	memset(&ar, 0, sizeof(ar));
	ar.peer = cfg.peer;
	ar.device_serial = cfg.dev_serial;
	ar.devaut_chr = cfg.dev_chr;
	ar.key_id = 3;
	ar.label = "pkcs11-made";
	ar.device_chain = P.chain.data;
	ar.device_chain_len = P.chain.len;
	ar.cvreq = cvreq.data;
	ar.cvreq_len = cvreq.len;
	ar.spki = spki.data;
	ar.spki_len = spki.len;
	ar.time = T0 + 60;
	ck_assert_msg(archive_adopt(P.a, &P.signer, &ar, &seq, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(seq, 2);
	/* 3: a certificate for record 1 */
	make_cert(k1, ca, "Release key 2027", &cert);
	ck_assert_uint_eq(import_cert(1, &cert, T0 + 100), 3);
	/* 4: a key whose card confirmed the algorithm list */
	memset(&facts, 0, sizeof(facts));
	facts.algs_reported = 1;
	facts.algs[0] = 0x73;
	facts.alg_count = 1;
	archfix_key_init(&P, &fk, ARCHIVE_KIND_KEY, "release-apk", apk_doc, k4, "apk-2028");
	fk.key_id = 4;
	fk.card = &facts;
	ck_assert_msg(archfix_commit_key(&P, &fk, &seq, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(seq, 4);

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	write_bundle(dir, 1, "key.bundle.json");
	write_bundle(dir, 3, "certificate.bundle.json");
	ck_assert_msg(archive_latest_checkpoint(P.a, &note, &size, &e) == 0, "%s", e.msg);
	write_file(dir, "checkpoint-5.txt", note.data, note.len);
	/* closed first: the last connection moves the WAL into the file */
	archive_close(P.a);
	P.a = NULL;
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s/archive.db'", P.path, dir);
	ck_assert_int_eq(system(cmd), 0);
	write_file(dir, "root.cvcert", P.root_cert.data, P.root_cert.len);
	write_file(dir, "certificate.der", cert.data, cert.len);
	write_key(dir, "archive-key.pem", P.akey);
	write_key(dir, "devaut-key.pem", P.dev);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k4);
	EVP_PKEY_free(ca);
	smk_buf_free(&cvreq);
	smk_buf_free(&spki);
	smk_buf_free(&cert);
	smk_buf_free(&note);
	archfix_teardown(&P);
	return 0;
}

/* ---- the fixture, read and extended by today's code ---- */

static EVP_PKEY *load_key(const char *rel)
{
	smk_buf pem = SMK_BUF_INIT;
	EVP_PKEY *k;
	BIO *bio;

	tu_read_source_file(&pem, rel);
	bio = BIO_new_mem_buf(pem.data, (int)pem.len);
	ck_assert_ptr_nonnull(bio);
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	ck_assert_ptr_nonnull(k);
	BIO_free(bio);
	smk_buf_free(&pem);
	return k;
}

/* P as archfix_setup leaves it, from the fixture: a copy of its archive
 * opened for writing, its PKI and keys, record 0's device chain. */
static void setup(void)
{
	smk_buf db = SMK_BUF_INIT, canon = SMK_BUF_INIT;
	archive_record r0;
	smk_err e;
	FILE *f;

	memset(&P, 0, sizeof(P));
	P.cfg = cfg;
	tu_temp_dir(P.dir, sizeof(P.dir), cfg.prefix);
	snprintf(P.path, sizeof(P.path), "%s/archive.db", P.dir);
	tu_read_source_file(&db, FMT2 "/archive.db");
	f = fopen(P.path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(db.data, 1, db.len, f), db.len);
	ck_assert_int_eq(fclose(f), 0);
	tu_read_source_file(&P.root_cert, FMT2 "/root.cvcert");
	ck_assert_msg(trust_add(&P.trust, P.root_cert.data, P.root_cert.len, "test", &e) == 0, "%s",
		      e.msg);
	P.akey = load_key(FMT2 "/archive-key.pem");
	P.dev = load_key(FMT2 "/devaut-key.pem");
	archive_soft_signer(&P.signer, P.akey);
	ck_assert_msg(archive_open(P.path, 0, &P.a, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(archive_get(P.a, 0, &canon, NULL, &e), 0);
	ck_assert_int_eq(archive_record_parse(canon.data, canon.len, &r0, &e), 0);
	ck_assert(smk_buf_add(&P.chain, r0.devaut.data, r0.devaut.len) == 0 &&
		  smk_buf_add(&P.chain, r0.dica.data, r0.dica.len) == 0);
	archive_record_free(&r0);
	smk_buf_free(&canon);
	smk_buf_free(&db);
}

static void teardown(void)
{
	archfix_teardown(&P);
}

static void pin_log(archive_logpins *pins)
{
	smk_buf canon = SMK_BUF_INIT;
	archive_record r;
	archive_logkey k;
	smk_err e;

	ck_assert_int_eq(archive_get(P.a, 0, &canon, NULL, &e), 0);
	ck_assert_int_eq(archive_record_parse(canon.data, canon.len, &r, &e), 0);
	ck_assert_msg(archive_logkey_of(r.spki.data, r.spki.len, &k, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_logpins_add(pins, k.text, "test", &e) == 0, "%s", e.msg);
	archive_record_free(&r);
	smk_buf_free(&canon);
}

/* archive_audit of P.path (read-only, another handle); the problems, the
 * report in *report (NUL-terminated). since: a checkpoint note or NULL. */
static unsigned audit(const smk_buf *since, smk_buf *report)
{
	archive_audit_opts o;
	archive_logpins pins = ARCHIVE_LOGPINS_INIT;
	unsigned problems = 99;
	archive *a;
	char chunk[4096];
	size_t n;
	smk_err e;
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	pin_log(&pins);
	ck_assert_msg(archive_open(P.path, ARCHIVE_OPEN_READONLY, &a, &e) == 0, "%s", e.msg);
	memset(&o, 0, sizeof(o));
	o.trust = &P.trust;
	o.pins = &pins;
	o.path = P.path;
	if (since) {
		o.since = since->data;
		o.since_len = since->len;
		o.since_name = "checkpoint-5.txt";
	}
	ck_assert_msg(archive_audit(a, &o, f, &problems, &e) == 0, "%s", e.msg);
	archive_close(a);
	rewind(f);
	smk_buf_reset(report);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ck_assert(smk_buf_add(report, chunk, n) == 0);
	ck_assert(smk_buf_add_byte(report, 0) == 0);
	fclose(f);
	archive_logpins_free(&pins);
	return problems;
}

/* Verify a bundle with the fixture's log pinned: 0 or -1 (e). */
static int verify(const uint8_t *p, size_t n, archive_verified *v, smk_err *e)
{
	archive_logpins pins = ARCHIVE_LOGPINS_INIT;
	int rc;

	pin_log(&pins);
	rc = archive_verify_bundle(p, n, &P.trust, &pins, NULL, NULL, v, e);
	archive_logpins_free(&pins);
	return rc;
}

START_TEST(format2_records_parse)
{
	static const char *const kinds[] = {ARCHIVE_KIND_ARCHIVE_KEY, ARCHIVE_KIND_KEY,
					    ARCHIVE_KIND_ADOPTED, ARCHIVE_KIND_CERTIFICATE,
					    ARCHIVE_KIND_KEY};
	smk_buf canon = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	archive_record r;
	uint64_t size, i;
	smk_err e;

	ck_assert_int_eq(archive_size(P.a, &size, &e), 0);
	ck_assert_uint_eq(size, 5);
	for (i = 0; i < size; i++) {
		smk_buf_reset(&canon);
		smk_buf_reset(&sig);
		ck_assert_msg(archive_get(P.a, i, &canon, &sig, &e) == 0, "%s", e.msg);
		ck_assert_msg(archive_record_parse(canon.data, canon.len, &r, &e) == 0,
			      "record %llu: %s", (unsigned long long)i, e.msg);
		ck_assert_str_eq(r.kind, kinds[i]);
		/* every record of the old code carries its own signature */
		ck_assert_int_eq(r.format, i == 3 ? 1 : 2);
		ck_assert(archive_record_signed(&r));
		ck_assert_msg(archive_sig_verify(P.akey, r.hash, 32, sig.data, sig.len, &e) == 0,
			      "record %llu: %s", (unsigned long long)i, e.msg);
		archive_record_free(&r);
	}
	smk_buf_free(&canon);
	smk_buf_free(&sig);
}
END_TEST

START_TEST(format2_archive_audits_and_bundles_verify)
{
	static const char *const files[] = {FMT2 "/key.bundle.json",
					    FMT2 "/certificate.bundle.json"};
	smk_buf b = SMK_BUF_INIT, since = SMK_BUF_INIT, report = SMK_BUF_INIT;
	archive_verified v;
	size_t i;
	smk_err e;

	/* a full audit reads every record; --since the fixture's own
	 * checkpoint reads none and checks the log extends it */
	tu_read_source_file(&since, FMT2 "/checkpoint-5.txt");
	ck_assert_msg(audit(&since, &report) == 0, "%s", report.data);
	ck_assert_msg(audit(NULL, &report) == 0, "%s", report.data);
	ck_assert_msg(strstr((char *)report.data, "5 records (1 archive key, 2 generated, 1 "
						  "adopted, 1 certificate)"),
		      "%s", report.data);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		smk_buf_reset(&b);
		tu_read_source_file(&b, files[i]);
		ck_assert_msg(verify(b.data, b.len, &v, &e) == 0, "%s: %s", files[i], e.msg);
		ck_assert_int_eq(v.record.format, 2);
		ck_assert_uint_eq(v.record.seq, 1);
		ck_assert_int_eq(v.has_cert, i == 1);
		archive_verified_free(&v);
	}
	smk_buf_free(&b);
	smk_buf_free(&since);
	smk_buf_free(&report);
}
END_TEST

/* A key committed as the daemon does (the record, then a checkpoint). */
static uint64_t group_commit_key(EVP_PKEY *k, const char *label, unsigned key_id)
{
	archive_intent_req ir;
	archive_intent_info info;
	archive_commit_req cr;
	smk_buf cvreq = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	uint64_t seq = 0, size;
	smk_err e;

	memset(&ir, 0, sizeof(ir));
	ir.kind = ARCHIVE_KIND_KEY;
	ir.peer = cfg.peer;
	ir.policy_name = "release-apk";
	ir.policy_doc = (const uint8_t *)apk_doc;
	ir.policy_doc_len = strlen(apk_doc);
	ir.device_serial = cfg.dev_serial;
	ir.devaut_chr = cfg.dev_chr;
	ir.key_id = key_id;
	ir.time = T0 + 3600;
	ck_assert_msg(archive_intent(P.a, &ir, &info, &e) == 0, "%s", e.msg);
	archfix_gakp(&P, k, info.chr, &cvreq);
	ck_assert_int_eq(cvc_spki_der(k, &spki, &e), 0);
	memset(&cr, 0, sizeof(cr));
	cr.request_id = info.request_id;
	cr.label = label;
	cr.device_chain = P.chain.data;
	cr.device_chain_len = P.chain.len;
	cr.sm_used = 1;
	cr.cvreq = cvreq.data;
	cr.cvreq_len = cvreq.len;
	cr.spki = spki.data;
	cr.spki_len = spki.len;
	cr.time = T0 + 3601;
	ck_assert_msg(archive_commit_record(P.a, &P.signer, &cr, &seq, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_sign_checkpoint(P.a, &P.signer, &size, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(size, seq + 1);
	smk_buf_free(&cvreq);
	smk_buf_free(&spki);
	return seq;
}

/* The fixture extended: 5 a key (group commit), 6 a certificate for the old
 * record 4, 7 a key (one-transaction commit). */
static void extend(void)
{
	EVP_PKEY *k5 = tu_keygen("P-256"), *k7 = tu_keygen("P-256"), *ca = tu_keygen("P-256");
	smk_buf der = SMK_BUF_INIT, canon = SMK_BUF_INIT;
	archive_record r4;
	EVP_PKEY *k4;
	const unsigned char *q;
	smk_err e;

	ck_assert_uint_eq(group_commit_key(k5, "apk-2029", 5), 5);
	/* the certificate of old record 4's key */
	ck_assert_int_eq(archive_get(P.a, 4, &canon, NULL, &e), 0);
	ck_assert_int_eq(archive_record_parse(canon.data, canon.len, &r4, &e), 0);
	q = r4.spki.data;
	k4 = d2i_PUBKEY(NULL, &q, (long)r4.spki.len);
	ck_assert_ptr_nonnull(k4);
	make_cert(k4, ca, "Release key 2028", &der);
	ck_assert_uint_eq(import_cert(4, &der, T0 + 3700), 6);
	ck_assert_uint_eq(
	    archfix_make_key(&P, ARCHIVE_KIND_KEY, "release-apk", apk_doc, k7, "apk-2030"), 7);
	archive_record_free(&r4);
	EVP_PKEY_free(k4);
	EVP_PKEY_free(k5);
	EVP_PKEY_free(k7);
	EVP_PKEY_free(ca);
	smk_buf_free(&der);
	smk_buf_free(&canon);
}

START_TEST(format2_archive_gains_format3_records)
{
	smk_buf canon = SMK_BUF_INIT, sig = SMK_BUF_INIT, b = SMK_BUF_INIT;
	smk_buf since = SMK_BUF_INIT, report = SMK_BUF_INIT;
	archive_verified v;
	archive_record r;
	uint64_t i;
	smk_err e;

	extend();
	for (i = 5; i <= 7; i++) {
		smk_buf_reset(&canon);
		smk_buf_reset(&sig);
		ck_assert_int_eq(archive_get(P.a, i, &canon, &sig, &e), 0);
		ck_assert_int_eq(archive_record_parse(canon.data, canon.len, &r, &e), 0);
		ck_assert_int_eq(r.format, ARCHIVE_RECORD_FORMAT);
		ck_assert(!archive_record_signed(&r));
		ck_assert_uint_eq(sig.len, 0);
		/* the hash chain goes on from the old records */
		if (i == 5) {
			archive_record old;
			smk_buf oc = SMK_BUF_INIT;

			ck_assert_int_eq(archive_get(P.a, 4, &oc, NULL, &e), 0);
			ck_assert_int_eq(archive_record_parse(oc.data, oc.len, &old, &e), 0);
			ck_assert_mem_eq(r.prev, old.hash, 32);
			archive_record_free(&old);
			smk_buf_free(&oc);
		}
		archive_record_free(&r);
	}
	/* the mixed archive audits clean and extends the old checkpoint */
	tu_read_source_file(&since, FMT2 "/checkpoint-5.txt");
	ck_assert_msg(audit(&since, &report) == 0, "%s", report.data);
	ck_assert_msg(strstr((char *)report.data, "ok: size 5 -> 8 only appended") &&
			  strstr((char *)report.data, "3 records audited (0 archive key, 2 "
						      "generated, 0 adopted, 1 certificate)"),
		      "%s", report.data);
	ck_assert_msg(audit(NULL, &report) == 0, "%s", report.data);
	ck_assert_msg(strstr((char *)report.data, "8 records (1 archive key, 4 generated, 1 "
						  "adopted, 2 certificate)"),
		      "%s", report.data);
	/* every record's bundle verifies: old ones signed (version 1), new
	 * ones by inclusion (version 2), the certificate of 6 with its signed
	 * key record 4 */
	for (i = 0; i <= 7; i++) {
		json_t *o;

		smk_buf_reset(&b);
		ck_assert_msg(archive_export_bundle(P.a, i, &b, &e) == 0, "%s", e.msg);
		ck_assert_msg(verify(b.data, b.len, &v, &e) == 0, "record %llu: %s",
			      (unsigned long long)i, e.msg);
		o = json_loadb((const char *)b.data, b.len, 0, NULL);
		ck_assert_ptr_nonnull(o);
		ck_assert_int_eq(json_integer_value(json_object_get(o, "version")), i >= 5 ? 2 : 1);
		ck_assert_int_eq(json_object_get(o, "record-signature") != NULL, i < 5);
		if (i == 6) {
			ck_assert_int_eq(v.has_cert, 1);
			ck_assert_uint_eq(v.record.seq, 4);
			ck_assert_int_eq(v.record.format, 2);
			ck_assert_ptr_nonnull(json_object_get(o, "key-record-signature"));
		}
		json_decref(o);
		archive_verified_free(&v);
	}
	smk_buf_free(&canon);
	smk_buf_free(&sig);
	smk_buf_free(&b);
	smk_buf_free(&since);
	smk_buf_free(&report);
}
END_TEST

/* The bundle b as JSON, changed by edit, must be refused naming expect. */
static void expect_refused(const smk_buf *b, void (*edit)(json_t *o), const char *expect)
{
	json_t *o = json_loadb((const char *)b->data, b->len, 0, NULL);
	archive_verified v;
	char *s;
	smk_err e;

	ck_assert_ptr_nonnull(o);
	edit(o);
	s = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));
	ck_assert_int_eq(verify((const uint8_t *)s, strlen(s), &v, &e), -1);
	ck_assert_msg(strstr(e.msg, expect) != NULL, "\"%s\" lacks \"%s\"", e.msg, expect);
	/* and unpinned too: the device's part alone proves nothing of it */
	ck_assert_int_eq(archive_verify_bundle((const uint8_t *)s, strlen(s), &P.trust, NULL, NULL,
					       NULL, &v, &e),
			 -1);
	free(s);
	json_decref(o);
}

static void drop_inclusion(json_t *o)
{
	json_object_del(o, "inclusion");
}

/* a checkpoint of the same tree (size, root) signed by another key, under
 * that key's origin: a valid checkpoint of another log */
static void checkpoint_by_other_key(json_t *o)
{
	EVP_PKEY *other = tu_keygen("P-256");
	const char *note = json_string_value(json_object_get(o, "checkpoint"));
	archive_signer s;
	archive_checkpoint cp;
	smk_buf signed_note = SMK_BUF_INIT;
	smk_err e;

	memset(&cp, 0, sizeof(cp));
	ck_assert_int_eq(
	    archive_checkpoint_open((const uint8_t *)note, strlen(note), P.akey, &cp, &e), 0);
	ck_assert_int_eq(archive_checkpoint_origin(other, cp.origin, &e), 0);
	archive_soft_signer(&s, other);
	ck_assert_msg(archive_checkpoint_sign(&cp, &s, &signed_note, &e) == 0, "%s", e.msg);
	json_object_set_new(o, "checkpoint",
			    json_stringn((const char *)signed_note.data, signed_note.len));
	smk_buf_free(&signed_note);
	EVP_PKEY_free(other);
}

/* one byte of the record: its label, re-encoded canonically */
static void change_record_byte(json_t *o)
{
	const char *rec = json_string_value(json_object_get(o, "record"));
	smk_buf raw = SMK_BUF_INIT;
	char *b64;
	uint8_t *hit;
	smk_err e;

	ck_assert_int_eq(smk_b64_decode(rec, strlen(rec), &raw, "record", &e), 0);
	hit = memmem(raw.data, raw.len, "\"label\":\"apk-2029\"", 18);
	ck_assert_ptr_nonnull(hit);
	hit[16] = '8'; /* apk-2028 */
	b64 = malloc(4 * ((raw.len + 2) / 3) + 1);
	ck_assert_ptr_nonnull(b64);
	EVP_EncodeBlock((unsigned char *)b64, raw.data, (int)raw.len);
	json_object_set_new(o, "record", json_string(b64));
	free(b64);
	smk_buf_free(&raw);
}

/* a signature made for the format-3 record by the archive key */
static void sign_record(json_t *o)
{
	const char *rec = json_string_value(json_object_get(o, "record"));
	smk_buf raw = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	uint8_t h[32];
	char *b64;
	smk_err e;

	ck_assert_int_eq(smk_b64_decode(rec, strlen(rec), &raw, "record", &e), 0);
	ck_assert_int_eq(smk_sha256(raw.data, raw.len, h, &e), 0);
	ck_assert_int_eq(P.signer.sign(P.signer.ctx, h, 32, &sig, &e), 0);
	b64 = malloc(4 * ((sig.len + 2) / 3) + 1);
	ck_assert_ptr_nonnull(b64);
	EVP_EncodeBlock((unsigned char *)b64, sig.data, (int)sig.len);
	json_object_set_new(o, "record-signature", json_string(b64));
	free(b64);
	smk_buf_free(&raw);
	smk_buf_free(&sig);
}

/* a version-1 bundle (every record signed) of a format-3 record */
static void version_1(json_t *o)
{
	json_object_set_new(o, "version", json_integer(1));
}

START_TEST(format3_bundle_refusals)
{
	smk_buf b = SMK_BUF_INIT;
	archive_verified v;
	smk_err e;

	extend();
	ck_assert_msg(archive_export_bundle(P.a, 5, &b, &e) == 0, "%s", e.msg);
	ck_assert_msg(verify(b.data, b.len, &v, &e) == 0, "%s", e.msg);
	archive_verified_free(&v);
	expect_refused(&b, drop_inclusion, "bundle: no inclusion proof");
	expect_refused(&b, checkpoint_by_other_key, "checkpoint: origin smkeyd/");
	expect_refused(
	    &b, change_record_byte,
	    "record 5 in checkpoint size 8: inclusion proof: leaf 5 does not lead to the "
	    "root");
	expect_refused(&b, sign_record, "record 5 is of format 3 and has no signature of its own");
	expect_refused(&b, version_1, "bundle: missing \"record-signature\"");

	/* through smkey verify: the good bundle, and one without its proof */
	{
		json_t *o = json_loadb((const char *)b.data, b.len, 0, NULL);
		char cmd[1024], trust[128];
		smk_buf out = SMK_BUF_INIT;
		smk_err fe;

		snprintf(trust, sizeof(trust), "%s/trust", P.dir);
		snprintf(cmd, sizeof(cmd), "mkdir '%s' && cp '%s/" FMT2 "/root.cvcert' '%s/'",
			 trust, SMK_SOURCE_DIR, trust);
		ck_assert_int_eq(system(cmd), 0);
		write_file(P.dir, "good.json", b.data, b.len);
		drop_inclusion(o);
		{
			char *text = json_dumps(o, JSON_INDENT(2));

			write_file(P.dir, "no-proof.json", text, strlen(text));
			free(text);
		}
		json_decref(o);
		snprintf(cmd, sizeof(cmd),
			 "'%s/smkey' verify '%s/good.json' --trust '%s' --log \"$('%s/smkey' "
			 "log-key '%s')\" >'%s/out' 2>&1",
			 SMK_BUILD_DIR, P.dir, trust, SMK_BUILD_DIR, P.path, P.dir);
		ck_assert_int_eq(system(cmd), 0);
		snprintf(cmd, sizeof(cmd), "%s/out", P.dir);
		ck_assert_int_eq(smk_read_file(cmd, 1u << 20, &out, &fe), 0);
		ck_assert(smk_buf_add_byte(&out, 0) == 0);
		ck_assert_msg(
		    strstr((char *)out.data,
			   "ok  record 5: format 3, authenticated by its inclusion in the "
			   "checkpoint signed by the archive key"),
		    "%s", out.data);
		snprintf(cmd, sizeof(cmd),
			 "'%s/smkey' verify '%s/no-proof.json' --trust '%s' >'%s/out' 2>&1",
			 SMK_BUILD_DIR, P.dir, trust, P.dir);
		ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
		snprintf(cmd, sizeof(cmd), "%s/out", P.dir);
		smk_buf_reset(&out);
		ck_assert_int_eq(smk_read_file(cmd, 1u << 20, &out, &fe), 0);
		ck_assert(smk_buf_add_byte(&out, 0) == 0);
		ck_assert_msg(strstr((char *)out.data, "bundle: no inclusion proof"), "%s",
			      out.data);
		smk_buf_free(&out);
	}
	smk_buf_free(&b);
}
END_TEST

START_TEST(make)
{
	ck_assert_int_eq(make_fixture(getenv("SMK_MAKE_FORMAT2")), 0);
}
END_TEST

static Suite *archive_format2_suite(void)
{
	Suite *s = suite_create("archive_format2");
	TCase *tc = tcase_create("format 2 fixtures");

	if (getenv("SMK_MAKE_FORMAT2")) {
		tcase_add_test(tc, make);
		suite_add_tcase(s, tc);
		return s;
	}
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, format2_records_parse);
	tcase_add_test(tc, format2_archive_audits_and_bundles_verify);
	tcase_add_test(tc, format2_archive_gains_format3_records);
	tcase_add_test(tc, format3_bundle_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(archive_format2_suite());
}
