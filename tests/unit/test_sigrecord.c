/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Signature records (archive/sigrecord.c): the intent before the card, the
 * record after it, its parse, its bundle (which carries the key record), the
 * offline check that the signature verifies with the attested key, and
 * smkey verify --signed's check that a file is what was signed. A
 * signature by another key, a file that was not signed, an intent for the
 * archive key and malformed intents are refused with what is wrong.
 */
#include <check.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/record.h"
#include "archive/verify.h"
#include "common/digest.h"
#include "tests/lib/archfix.h"
#include "tests/lib/testutil.h"

#define T0 1795000000 /* 2026-11-18 */

static archfix P;

static const archfix_cfg cfg = {
    .prefix = "smk-sigrec",
    .root_chr = "UTSRCASIG00001",
    .dica_chr = "UTDISIG0100001",
    .dev_chr = "UTSIG10004200000",
    .dev_serial = "UTSIG100042",
    .dev_until = 2035,
    .req_car = "UTCA00001",
    .peer = {1000, 1000, 777, "/usr/bin/smkey"},
    .t0 = T0,
    .commit_after = 5,
};

static const char apk_doc[] =
    "{\"alg-list-hex\":\"7073\",\"algorithms\":[{\"id\":112,\"name\":\"ecdsa\"},{\"id\":115,"
    "\"name\":\"ecdsa-sha256\"}],\"name\":\"release-apk\",\"use-counter\":null}";

static const char message[] = "release 3.1 of the app\n";

static void setup(void)
{
	archfix_setup(&P, &cfg);
}

static void teardown(void)
{
	archfix_teardown(&P);
}

/* ECDSA with SHA-256 over msg by key, DER, as the card returns it. */
static void ecdsa_sign(EVP_PKEY *key, const char *msg, smk_buf *sig)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t out[128];
	size_t n = sizeof(out);

	ck_assert(ctx != NULL);
	ck_assert(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1);
	ck_assert(EVP_DigestSign(ctx, out, &n, (const uint8_t *)msg, strlen(msg)) == 1);
	EVP_MD_CTX_free(ctx);
	ck_assert_int_eq(smk_buf_add(sig, out, n), 0);
}

/* Intent and commit of a signature by key record key_seq over msg; returns
 * the record's seq. */
static uint64_t sign_record(uint64_t key_seq, const char *msg, const smk_buf *sig)
{
	archive_intent_info info;
	archive_commit_req cr;
	archive_sig_req req;
	uint8_t h[32];
	uint64_t seq = 0;
	smk_err e;

	ck_assert_int_eq(smk_sha256((const uint8_t *)msg, strlen(msg), h, &e), 0);
	memset(&req, 0, sizeof(req));
	req.peer = cfg.peer;
	req.key_seq = key_seq;
	req.algorithm = "ecdsa-sha256";
	req.input = h;
	req.input_len = 32;
	req.time = T0 + 100;
	ck_assert_msg(archive_sig_intent(P.a, &req, &info, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(info.kind, ARCHIVE_KIND_SIGNATURE);
	memset(&cr, 0, sizeof(cr));
	cr.request_id = info.request_id;
	cr.signature = sig->data;
	cr.signature_len = sig->len;
	cr.time = T0 + 101;
	ck_assert_msg(archive_commit(P.a, &P.signer, &cr, &seq, &e) == 0, "%s", e.msg);
	return seq;
}

static void verify_bundle(uint64_t seq, archive_verified *v, int want, smk_err *e)
{
	smk_buf b = SMK_BUF_INIT;

	ck_assert_msg(archive_export_bundle(P.a, seq, &b, e) == 0, "%s", e->msg);
	ck_assert_int_eq(archive_verify_bundle(b.data, b.len, &P.trust, NULL, NULL, NULL, v, e),
			 want);
	smk_buf_free(&b);
}

START_TEST(signature_record_parses_and_verifies)
{
	EVP_PKEY *apk = tu_keygen("P-256");
	smk_buf sig = SMK_BUF_INIT, canon = SMK_BUF_INIT;
	uint8_t h[32], other[32];
	archive_record r;
	archive_verified v;
	uint64_t key, seq;
	smk_err e;

	key = archfix_make_key(&P, ARCHIVE_KIND_KEY, "release-apk", apk_doc, apk, "apk-app");
	ecdsa_sign(apk, message, &sig);
	seq = sign_record(key, message, &sig);
	ck_assert_uint_eq(seq, key + 1);

	ck_assert_int_eq(archive_get(P.a, seq, &canon, NULL, &e), 0);
	ck_assert_msg(archive_record_parse(canon.data, canon.len, &r, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(r.kind, ARCHIVE_KIND_SIGNATURE);
	ck_assert_uint_eq(r.key_seq, key);
	ck_assert_str_eq(r.sig_alg, "ecdsa-sha256");
	ck_assert_int_eq(r.sig_host_hashed, 0);
	ck_assert_int_eq(r.sig_digest_given, 0);
	ck_assert_int_eq(r.format, 1);
	ck_assert_uint_eq(r.uid, 1000);
	ck_assert_int_eq(smk_sha256((const uint8_t *)message, strlen(message), h, &e), 0);
	ck_assert_uint_eq(r.sig_input.len, 32);
	ck_assert_int_eq(memcmp(r.sig_input.data, h, 32), 0);
	ck_assert_uint_eq(r.sig_value.len, sig.len);
	ck_assert_int_eq(memcmp(r.sig_value.data, sig.data, sig.len), 0);
	archive_record_free(&r);

	/* the bundle carries the key record; the signature verifies with it */
	verify_bundle(seq, &v, ARCHIVE_VERIFY_UNPINNED, &e);
	ck_assert_int_eq(v.has_sig, 1);
	ck_assert_int_eq(v.has_cert, 0);
	ck_assert_uint_eq(v.record.seq, key);
	ck_assert_uint_eq(v.cert_record.seq, seq);
	/* --signed: the file signed, and another */
	ck_assert_int_eq(archive_sig_matches_file(&v.cert_record, h, &e), 0);
	ck_assert_int_eq(smk_sha256((const uint8_t *)"another file\n", 13, other, &e), 0);
	ck_assert_int_eq(archive_sig_matches_file(&v.cert_record, other, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	ck_assert_msg(strstr(e.msg, "is not the message SHA-256 signature record"), "%s", e.msg);
	archive_verified_free(&v);

	smk_buf_free(&canon);
	smk_buf_free(&sig);
	EVP_PKEY_free(apk);
}
END_TEST

/* A signature that is not the key's (made by another key) is archived as
 * the card returned it, but its bundle does not verify. */
START_TEST(signature_by_another_key_fails_verification)
{
	EVP_PKEY *apk = tu_keygen("P-256"), *other = tu_keygen("P-256");
	smk_buf sig = SMK_BUF_INIT;
	archive_verified v;
	uint64_t key, seq;
	smk_err e;

	key = archfix_make_key(&P, ARCHIVE_KIND_KEY, "release-apk", apk_doc, apk, "apk-app");
	ecdsa_sign(other, message, &sig);
	seq = sign_record(key, message, &sig);
	verify_bundle(seq, &v, -1, &e);
	ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
	ck_assert_msg(strstr(e.msg, "does not verify with the public key"), "%s", e.msg);
	smk_buf_free(&sig);
	EVP_PKEY_free(apk);
	EVP_PKEY_free(other);
}
END_TEST

START_TEST(bad_intents_are_refused)
{
	EVP_PKEY *apk = tu_keygen("P-256");
	archive_intent_info info;
	archive_sig_req req;
	uint8_t h[32] = {1};
	uint64_t key;
	smk_err e;

	key = archfix_make_key(&P, ARCHIVE_KIND_KEY, "release-apk", apk_doc, apk, "apk-app");
	memset(&req, 0, sizeof(req));
	req.peer = cfg.peer;
	req.algorithm = "ecdsa-sha256";
	req.input = h;
	req.input_len = 32;
	/* the archive key (record 0) is not a key record one may sign with */
	req.key_seq = 0;
	ck_assert_int_eq(archive_sig_intent(P.a, &req, &info, &e), -1);
	ck_assert_msg(strstr(e.msg, "record 0 is not a committed key record"), "%s", e.msg);
	req.key_seq = key + 7;
	ck_assert_int_eq(archive_sig_intent(P.a, &req, &info, &e), -1);
	req.key_seq = key;
	req.input_len = 31;
	ck_assert_int_eq(archive_sig_intent(P.a, &req, &info, &e), -1);
	ck_assert_msg(strstr(e.msg, "message hash of 31 bytes"), "%s", e.msg);
	req.input_len = 32;
	req.algorithm = "ecdh";
	ck_assert_int_eq(archive_sig_intent(P.a, &req, &info, &e), -1);
	req.algorithm = "ecdsa";
	req.digest_given = 1;
	req.host_hashed = 1;
	ck_assert_int_eq(archive_sig_intent(P.a, &req, &info, &e), -1);
	ck_assert_msg(strstr(e.msg, "hashes only a message"), "%s", e.msg);
	req.host_hashed = 0;
	ck_assert_msg(archive_sig_intent(P.a, &req, &info, &e) == 0, "%s", e.msg);
	EVP_PKEY_free(apk);
}
END_TEST

static Suite *sigrecord_suite(void)
{
	Suite *s = suite_create("sigrecord");
	TCase *tc = tcase_create("records");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, signature_record_parses_and_verifies);
	tcase_add_test(tc, signature_by_another_key_fails_verification);
	tcase_add_test(tc, bad_intents_are_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(sigrecord_suite());
}
