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

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "archive/archive.h"
#include "archive/logkey.h"
#include "archive/record.h"
#include "archive/verify.h"
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
	archive_cert_req cr;
	archive_intent_info info;
	archfix_key fk;
	smk_buf cvreq = SMK_BUF_INIT, spki = SMK_BUF_INIT, cert = SMK_BUF_INIT;
	smk_buf note = SMK_BUF_INIT;
	uint64_t seq, size;
	char cmd[512];
	smk_err e;

	archfix_setup(&P, &cfg);
	/* 1: a key under release-apk, the GAKP's answer, nothing reported */
	ck_assert_uint_eq(archfix_make_key(&P, ARCHIVE_KIND_KEY, "release-apk", apk_doc, k1,
					   "apk-2027"),
			  1);
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
	memset(&cr, 0, sizeof(cr));
	cr.peer = cfg.peer;
	cr.key_seq = 1;
	cr.cert = cert.data;
	cr.cert_len = cert.len;
	cr.time = T0 + 100;
	ck_assert_msg(archive_cert_intent(P.a, &cr, &info, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_cert_commit(P.a, &P.signer, info.request_id, T0 + 101, &seq, &e) == 0,
		      "%s", e.msg);
	ck_assert_uint_eq(seq, 3);
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
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(archive_format2_suite());
}
