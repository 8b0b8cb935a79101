/*
 * The record kinds of issue 9: "adopted" (a key made elsewhere whose CV-REQ
 * was still in CE|id) and "certificate" (a certificate written into CE|id of
 * a key with a record). Both go through the archive's one commit path, parse
 * with their own member set, verify offline and are counted by the audit.
 * The device PKI is a test one built with sm/cvc.h, as in test_bundle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "archive/archive.h"
#include "archive/bundle.h"
#include "archive/record.h"
#include "archive/verify.h"
#include "helpers/testutil.h"
#include "sm/chain.h"
#include "sm/cvc.h"

#define ROOT_CHR "UTSRCAKND00001"
#define DICA_CHR "UTDIKND0100001"
#define DEV_CHR "UTKND10007700000" /* ref §4.2: serial = CHR minus the last 5 */
#define DEV_SERIAL "UTKND100077"
#define T0 1795000000 /* 2026-11-18 */

static struct {
	char dir[64], path[96];
	EVP_PKEY *root, *dica, *dev, *akey, *ca;
	smk_buf root_cert, chain, keydoc;
	trust_store trust;
	archive *a;
	archive_signer signer;
} P;

static const char apk_doc[] =
    "{\"alg-list-hex\":\"73\",\"algorithms\":[{\"id\":115,\"name\":\"ecdsa-sha256\"}],"
    "\"name\":\"release-apk\",\"use-counter\":null}";

static cvc_cert_fields fields(const char *car, const char *chr, uint8_t role, int params)
{
	cvc_cert_fields f;

	memset(&f, 0, sizeof(f));
	f.car = car;
	f.chr = chr;
	f.role = role;
	f.domain_params = params;
	f.ced = (cvc_date){2025, 1, 1};
	f.cxd = (cvc_date){2035, 12, 31};
	return f;
}

static void build_pki(void)
{
	cvc_cert_fields f;
	smk_err e;

	f = fields(ROOT_CHR, ROOT_CHR, CVC_ROLE_ROOT, 1);
	ck_assert_msg(cvc_encode_cert(&P.root_cert, &f, P.root, P.root, NULL, &e) == 0, "%s",
		      e.msg);
	ck_assert_msg(trust_add(&P.trust, P.root_cert.data, P.root_cert.len, "test", &e) == 0,
		      "%s", e.msg);
	/* ref §4.4: EF 2F02 = DevAut certificate, then DICA certificate */
	f = fields(DICA_CHR, DEV_CHR, CVC_ROLE_DEVICE, 0);
	ck_assert_msg(cvc_encode_cert(&P.chain, &f, P.dev, P.dica, NULL, &e) == 0, "%s", e.msg);
	f = fields(ROOT_CHR, DICA_CHR, CVC_ROLE_DICA, 0);
	f.with_ext = 1;
	ck_assert_msg(cvc_encode_cert(&P.chain, &f, P.dica, P.root, NULL, &e) == 0, "%s", e.msg);
}

/* what the card returns from GAKP (ref §6.3), whoever chose the CHR */
static void gakp(EVP_PKEY *newkey, const char *chr, smk_buf *out)
{
	smk_buf req = SMK_BUF_INIT;
	smk_err e;

	ck_assert_msg(cvc_encode_request(&req, "UTCA00001", chr, newkey, NULL, &e) == 0, "%s",
		      e.msg);
	ck_assert_msg(cvc_encode_authreq(out, req.data, req.len, DEV_CHR, P.dev, NULL, &e) == 0,
		      "%s", e.msg);
	smk_buf_free(&req);
}

static archive_peer peer(uint32_t uid)
{
	archive_peer p = {uid, uid, 4242, "/usr/bin/smkey"};

	return p;
}

/* a key generated through smkeyd (intent, GAKP with its CHR, commit) */
static uint64_t make_key(const char *kind, const char *policy, const char *doc, EVP_PKEY *k,
			 const char *label, unsigned key_id)
{
	archive_intent_req ir;
	archive_intent_info info;
	archive_commit_req cr;
	smk_buf cvreq = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	uint64_t seq = 0;
	smk_err e;

	memset(&ir, 0, sizeof(ir));
	ir.kind = kind;
	ir.peer = peer(1000);
	ir.policy_name = policy;
	ir.policy_doc = (const uint8_t *)doc;
	ir.policy_doc_len = strlen(doc);
	ir.device_serial = DEV_SERIAL;
	ir.devaut_chr = DEV_CHR;
	ir.key_id = key_id;
	ir.time = T0;
	ck_assert_msg(archive_intent(P.a, &ir, &info, &e) == 0, "%s", e.msg);
	gakp(k, info.chr, &cvreq);
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
	cr.time = T0 + 5;
	ck_assert_msg(archive_commit(P.a, &P.signer, &cr, &seq, &e) == 0, "%s", e.msg);
	smk_buf_free(&cvreq);
	smk_buf_free(&spki);
	return seq;
}

/* a key made with pkcs11-tool: the CV-REQ carries whatever CHR it chose */
static int adopt(EVP_PKEY *k, const char *chr, const char *label, unsigned key_id,
		 uint64_t *seq, smk_err *e)
{
	archive_adopt_req ar;
	smk_buf cvreq = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	int rc;

	gakp(k, chr, &cvreq);
	ck_assert_int_eq(cvc_spki_der(k, &spki, e), 0);
	memset(&ar, 0, sizeof(ar));
	ar.peer = peer(2000);
	ar.device_serial = DEV_SERIAL;
	ar.devaut_chr = DEV_CHR;
	ar.key_id = key_id;
	ar.label = label;
	ar.device_chain = P.chain.data;
	ar.device_chain_len = P.chain.len;
	ar.cvreq = cvreq.data;
	ar.cvreq_len = cvreq.len;
	ar.spki = spki.data;
	ar.spki_len = spki.len;
	ar.time = T0 + 60;
	rc = archive_adopt(P.a, &P.signer, &ar, seq, e);
	smk_buf_free(&cvreq);
	smk_buf_free(&spki);
	return rc;
}

/* An X.509 certificate for pub issued by the test CA (DER). */
static void make_cert(EVP_PKEY *pub, const char *cn, smk_buf *der)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *out = NULL;
	int n;

	ck_assert_ptr_nonnull(x);
	ck_assert(X509_set_version(x, 2) == 1);
	ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234) == 1);
	ck_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
					     -1, -1, 0) == 1);
	ck_assert(X509_set_subject_name(x, name) == 1);
	ck_assert(X509_set_issuer_name(x, name) == 1);
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365));
	ck_assert(X509_set_pubkey(x, pub) == 1);
	ck_assert(X509_sign(x, P.ca, EVP_sha256()) > 0);
	n = i2d_X509(x, &out);
	ck_assert_int_gt(n, 0);
	ck_assert(smk_buf_add(der, out, (size_t)n) == 0);
	OPENSSL_free(out);
	X509_NAME_free(name);
	X509_free(x);
}

static void setup(void)
{
	smk_err e;

	memset(&P, 0, sizeof(P));
	tu_temp_dir(P.dir, sizeof(P.dir), "smk-kinds");
	snprintf(P.path, sizeof(P.path), "%s/archive.db", P.dir);
	P.root = tu_keygen("brainpoolP256r1");
	P.dica = tu_keygen("brainpoolP256r1");
	P.dev = tu_keygen("brainpoolP256r1");
	P.akey = tu_keygen("P-256");
	P.ca = tu_keygen("P-256");
	build_pki();
	ck_assert_int_eq(archive_key_policy(&P.keydoc, &e), 0);
	ck_assert(smk_buf_add_byte(&P.keydoc, 0) == 0); /* used as a C string */
	P.keydoc.len--;
	ck_assert_msg(archive_open(P.path, ARCHIVE_OPEN_CREATE, &P.a, &e) == 0, "%s", e.msg);
	archive_soft_signer(&P.signer, P.akey);
	ck_assert_uint_eq(make_key(ARCHIVE_KIND_ARCHIVE_KEY, ARCHIVE_KEY_POLICY_NAME,
				   (const char *)P.keydoc.data, P.akey, "smkeyd-archive", 1),
			  0);
}

static void teardown(void)
{
	char cmd[128];

	archive_close(P.a);
	EVP_PKEY_free(P.root);
	EVP_PKEY_free(P.dica);
	EVP_PKEY_free(P.dev);
	EVP_PKEY_free(P.akey);
	EVP_PKEY_free(P.ca);
	smk_buf_free(&P.root_cert);
	smk_buf_free(&P.chain);
	smk_buf_free(&P.keydoc);
	trust_free(&P.trust);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", P.dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void get_record(uint64_t seq, archive_record *r)
{
	smk_buf canon = SMK_BUF_INIT;
	smk_err e;

	ck_assert_msg(archive_get(P.a, seq, &canon, NULL, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_record_parse(canon.data, canon.len, r, &e) == 0, "%s", e.msg);
	smk_buf_free(&canon);
}

START_TEST(adopted_record_round_trip)
{
	EVP_PKEY *k = tu_keygen("P-256");
	smk_buf spki = SMK_BUF_INIT;
	archive_record r;
	uint64_t seq = 99, found;
	smk_err e;

	ck_assert_msg(adopt(k, "UTPKCS11KEY0001", "apk-legacy", 5, &seq, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(seq, 1);
	get_record(1, &r);
	ck_assert_str_eq(r.kind, ARCHIVE_KIND_ADOPTED);
	ck_assert_str_eq(r.chr, "UTPKCS11KEY0001"); /* the CV-REQ's, not derived */
	ck_assert_ptr_null(r.policy_name);
	ck_assert_uint_eq(r.alg_count, 0);
	ck_assert_uint_eq(r.policy_doc.len, 0);
	ck_assert_int_eq(r.sm_used, 0);
	ck_assert_str_eq(r.label, "apk-legacy");
	ck_assert_uint_eq(r.uid, 2000); /* the adopting peer */
	ck_assert_uint_eq(r.key_id, 5);
	ck_assert_str_eq(r.device_serial, DEV_SERIAL);
	ck_assert_int_eq(cvc_spki_der(k, &spki, &e), 0);
	ck_assert(r.spki.len == spki.len && memcmp(r.spki.data, spki.data, spki.len) == 0);
	ck_assert(strstr((const char *)r.canonical.data, "\"policy\"") == NULL);
	archive_record_free(&r);

	ck_assert_msg(archive_find_device_key(P.a, DEV_SERIAL, 5, &found, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(found, 1);
	ck_assert_msg(archive_find_spki(P.a, spki.data, spki.len, &found, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(found, 1);
	ck_assert_int_eq(archive_find_device_key(P.a, DEV_SERIAL, 6, &found, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_ARG);
	ck_assert_msg(strstr(e.msg, "no committed record") != NULL, "%s", e.msg);
	EVP_PKEY_free(k);
	smk_buf_free(&spki);
}
END_TEST

START_TEST(certificate_intent_and_commit)
{
	EVP_PKEY *k = tu_keygen("P-256");
	smk_buf cert = SMK_BUF_INIT, got = SMK_BUF_INIT;
	archive_cert_req cr;
	archive_intent_info info;
	archive_record r, key;
	uint64_t seq, key_seq, found;
	smk_err e;

	key_seq = make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, k, "apk-2027", 2);
	make_cert(k, "Release key", &cert);
	memset(&cr, 0, sizeof(cr));
	cr.peer = peer(1000);
	cr.key_seq = key_seq;
	cr.cert = cert.data;
	cr.cert_len = cert.len;
	cr.time = T0 + 100;
	ck_assert_msg(archive_cert_intent(P.a, &cr, &info, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(info.kind, ARCHIVE_KIND_CERTIFICATE);
	ck_assert_msg(archive_pending_cert(P.a, info.request_id, &found, &got, &e) == 0, "%s",
		      e.msg);
	ck_assert_uint_eq(found, key_seq);
	ck_assert(got.len == cert.len && memcmp(got.data, cert.data, cert.len) == 0);
	ck_assert_msg(archive_cert_commit(P.a, &P.signer, info.request_id, T0 + 101, &seq, &e) ==
			  0,
		      "%s", e.msg);
	ck_assert_uint_eq(seq, key_seq + 1);
	get_record(seq, &r);
	get_record(key_seq, &key);
	ck_assert_str_eq(r.kind, ARCHIVE_KIND_CERTIFICATE);
	ck_assert_uint_eq(r.key_seq, key_seq);
	ck_assert(memcmp(r.key_record_hash, key.hash, 32) == 0);
	ck_assert(r.cert.len == cert.len && memcmp(r.cert.data, cert.data, cert.len) == 0);
	ck_assert(r.cert_spki.len == key.spki.len &&
		  memcmp(r.cert_spki.data, key.spki.data, key.spki.len) == 0);
	ck_assert_str_eq(r.device_serial, DEV_SERIAL);
	ck_assert_uint_eq(r.key_id, 2);
	ck_assert_int_eq(r.time, T0 + 101);
	ck_assert_msg(archive_find_cert(P.a, key_seq, &found, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(found, seq);
	/* the certificate record is not a key record: the key is still found as the key */
	ck_assert_msg(archive_find_device_key(P.a, DEV_SERIAL, 2, &found, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(found, key_seq);
	archive_record_free(&r);
	archive_record_free(&key);
	EVP_PKEY_free(k);
	smk_buf_free(&cert);
	smk_buf_free(&got);
}
END_TEST

static Suite *kinds_suite(void)
{
	Suite *s = suite_create("archive_kinds");
	TCase *tc = tcase_create("kinds");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, adopted_record_round_trip);
	tcase_add_test(tc, certificate_intent_and_commit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(kinds_suite());
}
