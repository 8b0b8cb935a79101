/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * X.509 with the signature made by the HSM (sm/x509.h), through a software
 * signer that answers like the card does for each algorithm byte (ref §6.6,
 * §7.7): requests and certificates verify with OpenSSL in-process and with
 * the openssl command; a signer that misbehaves is refused; subject parsing,
 * certificate loading and the SPKI comparison say what is wrong.
 * (The same through the simulator under SM: test_session_objects.c.)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tests/lib/testutil.h"
#include "sm/alg.h"
#include "sm/x509.h"

/* ---- a software card ---- */

enum soft_fault {
	SOFT_OK,
	SOFT_FLIP,	/* one bit of the signature flipped */
	SOFT_OTHER_KEY, /* a valid signature by another key */
	SOFT_EMPTY,	/* an empty answer */
	SOFT_REFUSE,	/* the card says no */
};

struct soft_card {
	EVP_PKEY *key, *other;
	enum soft_fault fault;
	uint8_t last_alg;
	size_t last_len;
	unsigned calls;
};

static const EVP_MD *md_of(uint8_t alg)
{
	switch (alg & 0x0F) {
	case 4:
		return EVP_sha384();
	case 5:
		return EVP_sha512();
	}
	return EVP_sha256();
}

/* What the card computes for SIGN with algorithm alg over in. */
static int soft_compute(EVP_PKEY *k, uint8_t alg, const uint8_t *in, size_t n, smk_buf *sig)
{
	bool card_hashes = (alg & 0x0F) != 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	size_t len = 0;
	int ok = 0;

	if (card_hashes) {
		if (EVP_DigestSignInit(md, &pc, md_of(alg), NULL, k) != 1)
			goto out;
	} else {
		pc = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
		if (pc == NULL || EVP_PKEY_sign_init(pc) != 1)
			goto out;
	}
	if (alg == 0x20 && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_NO_PADDING) != 1)
		goto out;
	if ((alg & 0xF0) == 0x40 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) != 1 ||
	     (alg == 0x40 && EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) != 1)))
		goto out;
	if (card_hashes) {
		if (EVP_DigestSign(md, NULL, &len, in, n) != 1 || smk_buf_reserve(sig, len) < 0 ||
		    EVP_DigestSign(md, sig->data + sig->len, &len, in, n) != 1)
			goto out;
	} else {
		if (EVP_PKEY_sign(pc, NULL, &len, in, n) != 1 || smk_buf_reserve(sig, len) < 0 ||
		    EVP_PKEY_sign(pc, sig->data + sig->len, &len, in, n) != 1)
			goto out;
	}
	sig->len += len;
	ok = 1;
out:
	if (!card_hashes)
		EVP_PKEY_CTX_free(pc);
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

static int soft_sign(void *ctx, uint8_t alg, const uint8_t *in, size_t n, smk_buf *sig, smk_err *e)
{
	struct soft_card *c = ctx;

	c->calls++;
	c->last_alg = alg;
	c->last_len = n;
	if (c->fault == SOFT_REFUSE) {
		e->sw = 0x6A81;
		return smk_fail(e, SMK_E_CARD, "SIGN refused, SW 6A81");
	}
	if (c->fault == SOFT_EMPTY)
		return 0;
	ck_assert_int_eq(
	    soft_compute(c->fault == SOFT_OTHER_KEY ? c->other : c->key, alg, in, n, sig), 0);
	if (c->fault == SOFT_FLIP)
		sig->data[sig->len / 2] ^= 0x01;
	return 0;
}

static struct soft_card card;
/* made once in main(): every test runs in a forked child that inherits them */
static EVP_PKEY *ec_key, *rsa_key, *ec_other, *rsa_other;

static void card_setup(void)
{
	memset(&card, 0, sizeof(card));
}

/* The public half alone, as the daemon has it from the archive. */
static EVP_PKEY *public_of(EVP_PKEY *k)
{
	uint8_t *der = NULL;
	const uint8_t *p;
	int n = i2d_PUBKEY(k, &der);
	EVP_PKEY *pub;

	ck_assert_int_gt(n, 0);
	p = der;
	pub = d2i_PUBKEY(NULL, &p, n);
	ck_assert_ptr_nonnull(pub);
	OPENSSL_free(der);
	return pub;
}

static x509_signer signer_for(EVP_PKEY *k, const uint8_t *algs, size_t n)
{
	x509_signer s = {soft_sign, &card, public_of(k), algs, n};

	card.key = k;
	card.other = k == ec_key ? ec_other : rsa_other;
	return s;
}

static void signer_free(x509_signer *s)
{
	EVP_PKEY_free(s->pub);
	card.other = NULL;
}

/* Run a shell command, return its exit status and (first bytes of) output. */
static int run(const char *cmd, char *out, size_t cap)
{
	FILE *f = popen(cmd, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	return WEXITSTATUS(pclose(f));
}

static char tmp_dir[128];

static const char *write_tmp(const char *name, const uint8_t *p, size_t n)
{
	static char path[256];
	FILE *f;

	if (tmp_dir[0] == '\0')
		tu_temp_dir(tmp_dir, sizeof(tmp_dir), "smk-x509");
	snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	fclose(f);
	return path;
}

static X509_REQ *parse_csr(const smk_buf *pem)
{
	BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);

	ck_assert_ptr_nonnull(req);
	BIO_free(bio);
	return req;
}

static void assert_subject(const X509_NAME *name, const char *want_oneline)
{
	char buf[256];

	X509_NAME_oneline(name, buf, sizeof(buf));
	ck_assert_str_eq(buf, want_oneline);
}

/* The request verifies with the key in-process and with `openssl req`. */
static void assert_csr_verifies(const smk_buf *pem, EVP_PKEY *key, int want_sig_nid)
{
	X509_REQ *req = parse_csr(pem);
	char out[4096], cmd[512];
	const char *path;

	ck_assert_int_eq(X509_REQ_verify(req, key), 1);
	ck_assert_int_eq(X509_REQ_get_signature_nid(req), want_sig_nid);
	ck_assert_int_eq(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), key), 1);
	assert_subject(X509_REQ_get_subject_name(req), "/CN=Release key/O=Example Ltd/C=DE");
	path = write_tmp("req.pem", pem->data, pem->len);
	snprintf(cmd, sizeof(cmd), "openssl req -verify -noout -in %s 2>&1", path);
	ck_assert_msg(run(cmd, out, sizeof(out)) == 0, "%s: %s", cmd, out);
	ck_assert_msg(strstr(out, "verify OK") != NULL, "%s", out);
	X509_REQ_free(req);
}

START_TEST(csr_ec_p256_card_hashes)
{
	static const uint8_t algs[] = {0x73};
	x509_signer s = signer_for(ec_key, algs, 1);
	smk_buf pem = SMK_BUF_INIT;
	smk_err e;

	ck_assert_msg(x509_make_csr(&s, "/CN=Release key/O=Example Ltd/C=DE", &pem, &e) == 0, "%s",
		      e.msg);
	/* the card got the TBS itself, not a hash */
	ck_assert_uint_eq(card.last_alg, 0x73);
	ck_assert_uint_gt(card.last_len, 64);
	assert_csr_verifies(&pem, ec_key, NID_ecdsa_with_SHA256);
	smk_buf_free(&pem);
	signer_free(&s);
}
END_TEST

START_TEST(csr_rsa_pss_sha256)
{
	static const uint8_t algs[] = {0x22, 0x43};
	x509_signer s = signer_for(rsa_key, algs, 2);
	smk_buf pem = SMK_BUF_INIT;
	X509_REQ *req;
	const X509_ALGOR *alg;
	const ASN1_BIT_STRING *sig;
	smk_err e;

	ck_assert_msg(x509_make_csr(&s, "/CN=Release key/O=Example Ltd/C=DE", &pem, &e) == 0, "%s",
		      e.msg);
	ck_assert_uint_eq(card.last_alg, 0x43);
	assert_csr_verifies(&pem, rsa_key, NID_rsassaPss);
	/* RFC 4055 parameters: SHA-256, MGF1-SHA-256, salt 32 */
	req = parse_csr(&pem);
	X509_REQ_get0_signature(req, &sig, &alg);
	{
		BIO *b = BIO_new(BIO_s_mem());
		char *p;
		long n;

		ck_assert_int_eq(X509_signature_print(b, alg, NULL), 1);
		n = BIO_get_mem_data(b, &p);
		ck_assert_msg(strstr(p, "Hash Algorithm: sha256") != NULL, "%.*s", (int)n, p);
		ck_assert_msg(strstr(p, "Mask Algorithm: mgf1 with sha256") != NULL, "%.*s", (int)n,
			      p);
		ck_assert_msg(strstr(p, "Salt Length: 0x20") != NULL, "%.*s", (int)n, p);
		BIO_free(b);
	}
	X509_REQ_free(req);
	smk_buf_free(&pem);
	signer_free(&s);
}
END_TEST

/* Every algorithm the picker can choose gives a verifying request, and the
 * card gets the input that algorithm takes (ref §6.6). */
START_TEST(csr_every_algorithm)
{
	static const struct {
		const char *alg;
		bool rsa;
		int sig_nid;
		size_t input_len; /* 0: the TBS */
	} cases[] = {
	    {"ecdsa-sha256", false, NID_ecdsa_with_SHA256, 0},
	    {"ecdsa-sha384", false, NID_ecdsa_with_SHA384, 0},
	    {"ecdsa-sha512", false, NID_ecdsa_with_SHA512, 0},
	    {"ecdsa", false, NID_ecdsa_with_SHA256, 32},
	    {"rsa-pkcs1-sha256", true, NID_sha256WithRSAEncryption, 0},
	    {"rsa-pkcs1-sha384", true, NID_sha384WithRSAEncryption, 0},
	    {"rsa-pkcs1-sha512", true, NID_sha512WithRSAEncryption, 0},
	    {"rsa-pss-sha384", true, NID_rsassaPss, 0},
	    {"rsa-pss-sha512", true, NID_rsassaPss, 0},
	    {"rsa-pss", true, NID_rsassaPss, 32},
	    {"rsa-pkcs1", true, NID_sha256WithRSAEncryption, 51},
	    {"rsa-raw", true, NID_sha256WithRSAEncryption, 256},
	};
	uint8_t alg = alg_by_name(cases[_i].alg)->id, picked;
	x509_signer s = signer_for(cases[_i].rsa ? rsa_key : ec_key, &alg, 1);
	smk_buf pem = SMK_BUF_INIT;
	char name[48];
	X509_REQ *req;
	smk_err e;

	ck_assert_msg(x509_pick_alg(&s, &picked, name, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(picked, alg);
	ck_assert_msg(x509_make_csr(&s, "/CN=Release key/O=Example Ltd/C=DE", &pem, &e) == 0,
		      "%s: %s", cases[_i].alg, e.msg);
	ck_assert_uint_eq(card.last_alg, alg);
	if (cases[_i].input_len)
		ck_assert_uint_eq(card.last_len, cases[_i].input_len);
	else
		ck_assert_uint_gt(card.last_len, 64);
	req = parse_csr(&pem);
	ck_assert_int_eq(X509_REQ_verify(req, s.pub), 1);
	ck_assert_int_eq(X509_REQ_get_signature_nid(req), cases[_i].sig_nid);
	X509_REQ_free(req);
	smk_buf_free(&pem);
	signer_free(&s);
}
END_TEST

START_TEST(pick_prefers_card_hashed_sha256)
{
	static const uint8_t ec_list[] = {0x80, 0x70, 0x75, 0x73};
	static const uint8_t rsa_list[] = {0x20, 0x40, 0x33, 0x43};
	x509_signer s = {soft_sign, &card, public_of(ec_key), ec_list, sizeof(ec_list)};
	uint8_t alg;
	char name[48];
	smk_err e;

	ck_assert_int_eq(x509_pick_alg(&s, &alg, name, &e), 0);
	ck_assert_uint_eq(alg, 0x73);
	ck_assert_str_eq(name, "ecdsa-with-SHA256");
	/* an unrestricted key (adopted, list unknown) */
	s.alg_count = 0;
	ck_assert_int_eq(x509_pick_alg(&s, &alg, name, &e), 0);
	ck_assert_uint_eq(alg, 0x73);
	EVP_PKEY_free(s.pub);

	s.pub = public_of(rsa_key);
	s.algs = rsa_list;
	s.alg_count = sizeof(rsa_list);
	ck_assert_int_eq(x509_pick_alg(&s, &alg, name, &e), 0);
	ck_assert_uint_eq(alg, 0x33);
	ck_assert_str_eq(name, "sha256WithRSAEncryption");
	s.alg_count = 0;
	ck_assert_int_eq(x509_pick_alg(&s, &alg, name, &e), 0);
	ck_assert_uint_eq(alg, 0x33);
	EVP_PKEY_free(s.pub);
}
END_TEST

/* A key the card only lets do ECDH (or decrypt) cannot sign a request; the
 * error names the list and what would be needed, and the card is not asked. */
START_TEST(refused_algorithm_list_is_named)
{
	static const uint8_t ecdh[] = {0x80};
	static const uint8_t decrypt[] = {0x21, 0x23, 0x92};
	x509_signer s = signer_for(ec_key, ecdh, 1);
	smk_buf pem = SMK_BUF_INIT, der = SMK_BUF_INIT;
	uint8_t alg;
	char name[48];
	smk_err e;

	ck_assert_int_eq(x509_pick_alg(&s, &alg, name, &e), -1);
	ck_assert_msg(strstr(e.msg, "the key's algorithm list [ecdh] allows no signature algorithm "
				    "usable for X.509") != NULL,
		      "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "ecdsa-sha256") != NULL, "%s", e.msg);
	ck_assert_int_eq(x509_make_csr(&s, "/CN=x", &pem, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "[ecdh]"));
	ck_assert_int_eq(x509_make_selfsigned(&s, "/CN=x", 30, time(NULL), &der, NULL, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "[ecdh]"));
	ck_assert_uint_eq(card.calls, 0);
	ck_assert_uint_eq(pem.len + der.len, 0);
	signer_free(&s);

	s = signer_for(rsa_key, decrypt, 3);
	ck_assert_int_eq(x509_pick_alg(&s, &alg, name, &e), -1);
	ck_assert_msg(strstr(e.msg, "[rsa-decrypt-raw, rsa-decrypt-oaep, wrap]") != NULL, "%s",
		      e.msg);
	ck_assert_msg(strstr(e.msg, "rsa-pkcs1-sha256") != NULL, "%s", e.msg);
	signer_free(&s);
}
END_TEST

/* A card that answers with a wrong signature, one by another key, nothing,
 * or a refusal: no request or certificate comes out. */
START_TEST(misbehaving_card_is_refused)
{
	static const enum soft_fault faults[] = {SOFT_FLIP, SOFT_OTHER_KEY, SOFT_EMPTY,
						 SOFT_REFUSE};
	static const uint8_t ec_algs[] = {0x73};
	static const uint8_t rsa_algs[] = {0x43};
	bool rsa = _i >= 4;
	x509_signer s = rsa ? signer_for(rsa_key, rsa_algs, 1) : signer_for(ec_key, ec_algs, 1);
	smk_buf pem = SMK_BUF_INIT, der = SMK_BUF_INIT;
	smk_err e;

	card.fault = faults[_i % 4];
	ck_assert_int_eq(x509_make_csr(&s, "/CN=x", &pem, &e), -1);
	ck_assert_uint_eq(pem.len, 0);
	if (card.fault == SOFT_FLIP || card.fault == SOFT_OTHER_KEY) {
		ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
		ck_assert_msg(strstr(e.msg, "does not verify") != NULL, "%s", e.msg);
	}
	if (card.fault == SOFT_REFUSE)
		ck_assert_msg(strstr(e.msg, "6A81") != NULL, "%s", e.msg);
	ck_assert_int_eq(x509_make_selfsigned(&s, "/CN=x", 30, time(NULL), &der, &pem, &e), -1);
	ck_assert_uint_eq(pem.len + der.len, 0);
	signer_free(&s);
}
END_TEST

static bool has_ext_text(const char *text, const char *needle)
{
	return strstr(text, needle) != NULL;
}

START_TEST(selfsigned_ec_verifies)
{
	static const uint8_t algs[] = {0x73};
	x509_signer s = signer_for(ec_key, algs, 1);
	smk_buf der = SMK_BUF_INIT, pem = SMK_BUF_INIT;
	time_t now = time(NULL);
	const uint8_t *p;
	char out[8192], cmd[600];
	const char *path;
	x509_info info;
	X509 *x;
	smk_err e;

	ck_assert_msg(x509_make_selfsigned(&s, "/CN=Release key/O=Example Ltd/C=DE", 10000, now,
					   &der, &pem, &e) == 0,
		      "%s", e.msg);
	/* a certificate TBS is longer than a short APDU: the card got all of it */
	ck_assert_uint_gt(card.last_len, 255);
	p = der.data;
	x = d2i_X509(NULL, &p, (long)der.len);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(X509_verify(x, s.pub), 1);
	ck_assert_int_eq(X509_get_version(x), 2);
	ck_assert_int_eq(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	ck_assert_int_eq(X509_get_extension_flags(x) & EXFLAG_CA, 0);
	ck_assert_int_eq(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	ck_assert_ptr_nonnull(X509_get0_subject_key_id(x));
	ck_assert_int_eq(
	    ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(x), X509_get0_authority_key_id(x)), 0);
	ck_assert_int_eq(X509_get0_serialNumber(x)->type, V_ASN1_INTEGER); /* positive */
	ck_assert_int_eq(X509_get0_serialNumber(x)->length, 16);

	ck_assert_int_eq(x509_describe(der.data, der.len, &info, &e), 0);
	ck_assert_str_eq(info.subject, "CN=Release key, O=Example Ltd, C=DE");
	ck_assert_str_eq(info.issuer, info.subject);
	ck_assert_int_eq(info.not_before, (int64_t)now);
	ck_assert_int_eq(info.not_after - info.not_before, (int64_t)10000 * 86400);
	ck_assert_uint_eq(strlen(info.fingerprint), 64);

	/* the PEM is the same certificate; openssl reads what a user would check */
	path = write_tmp("cert.pem", pem.data, pem.len);
	snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -noout -text -fingerprint -sha256 2>&1",
		 path);
	ck_assert_msg(run(cmd, out, sizeof(out)) == 0, "%s", out);
	ck_assert(has_ext_text(out, "Subject: CN = Release key, O = Example Ltd, C = DE"));
	ck_assert(has_ext_text(out, "Basic Constraints: critical"));
	ck_assert(has_ext_text(out, "CA:FALSE"));
	ck_assert(has_ext_text(out, "Key Usage: critical"));
	ck_assert(has_ext_text(out, "Digital Signature"));
	ck_assert(has_ext_text(out, "Subject Key Identifier"));
	ck_assert(has_ext_text(out, "Authority Key Identifier"));
	ck_assert(has_ext_text(out, "Signature Algorithm: ecdsa-with-SHA256"));
	/* self-signature and validity through the openssl command: the key
	 * usage allows no certificate signing, so check the signature by key */
	path = write_tmp("pub.pem", (const uint8_t *)"", 0);
	{
		BIO *b = BIO_new_file(path, "w");

		ck_assert_int_eq(PEM_write_bio_PUBKEY(b, s.pub), 1);
		BIO_free(b);
	}
	snprintf(cmd, sizeof(cmd),
		 "openssl x509 -in %s/cert.pem -noout -checkend 0 && "
		 "openssl x509 -in %s/cert.pem -noout -pubkey | cmp - %s",
		 tmp_dir, tmp_dir, path);
	ck_assert_msg(run(cmd, out, sizeof(out)) == 0, "%s", out);
	X509_free(x);
	smk_buf_free(&der);
	smk_buf_free(&pem);
	signer_free(&s);
}
END_TEST

START_TEST(selfsigned_rsa_pss_verifies_with_openssl)
{
	static const uint8_t algs[] = {0x43};
	x509_signer s = signer_for(rsa_key, algs, 1);
	smk_buf der = SMK_BUF_INIT, pem = SMK_BUF_INIT;
	char out[8192], cmd[600];
	const uint8_t *p;
	X509 *x;
	smk_err e;

	ck_assert_msg(x509_make_selfsigned(&s, "/CN=apk\\/release/O=Example Ltd", 365, time(NULL),
					   &der, &pem, &e) == 0,
		      "%s", e.msg);
	p = der.data;
	x = d2i_X509(NULL, &p, (long)der.len);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(X509_verify(x, s.pub), 1);
	assert_subject(X509_get_subject_name(x), "/CN=apk\\/release/O=Example Ltd");
	write_tmp("rsa.pem", pem.data, pem.len);
	snprintf(cmd, sizeof(cmd),
		 "openssl x509 -in %s/rsa.pem -noout -text 2>&1 | grep -c rsassaPss", tmp_dir);
	ck_assert_msg(run(cmd, out, sizeof(out)) == 0 && atoi(out) >= 2, "%s", out);
	X509_free(x);
	smk_buf_free(&der);
	smk_buf_free(&pem);
	signer_free(&s);
}
END_TEST

START_TEST(selfsigned_refuses_bad_days)
{
	static const uint8_t algs[] = {0x73};
	x509_signer s = signer_for(ec_key, algs, 1);
	smk_buf der = SMK_BUF_INIT;
	smk_err e;

	ck_assert_int_eq(x509_make_selfsigned(&s, "/CN=x", 0, time(NULL), &der, NULL, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "0 days"));
	ck_assert_int_eq(
	    x509_make_selfsigned(&s, "/CN=x", X509_DAYS_MAX + 1, time(NULL), &der, NULL, &e), -1);
	ck_assert_uint_eq(card.calls, 0);
	signer_free(&s);
}
END_TEST

START_TEST(subject_forms)
{
	X509_NAME *n;
	smk_err e;

	ck_assert_msg(x509_parse_subject("/CN=Release key/O=Example Ltd/C=DE", &n, &e) == 0, "%s",
		      e.msg);
	assert_subject(n, "/CN=Release key/O=Example Ltd/C=DE");
	X509_NAME_free(n);
	ck_assert_int_eq(x509_parse_subject("/CN=a\\/b\\\\c/OU=x=y", &n, &e), 0);
	ck_assert_int_eq(X509_NAME_entry_count(n), 2);
	{
		char cn[32];

		X509_NAME_get_text_by_NID(n, NID_commonName, cn, sizeof(cn));
		ck_assert_str_eq(cn, "a/b\\c");
		X509_NAME_get_text_by_NID(n, NID_organizationalUnitName, cn, sizeof(cn));
		ck_assert_str_eq(cn, "x=y");
	}
	X509_NAME_free(n);
	/* '+': a multi-valued RDN, as OpenSSL 3's -subj; "\\+" is a literal '+' */
	ck_assert_int_eq(x509_parse_subject("/CN=Release key+UID=42/O=Example\\+Co", &n, &e), 0);
	ck_assert_int_eq(X509_NAME_entry_count(n), 3);
	ck_assert_int_eq(X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 0)),
			 X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 1)));
	ck_assert_int_ne(X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 1)),
			 X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 2)));
	{
		char rfc[128] = "";
		BIO *b = BIO_new(BIO_s_mem());
		int len;

		ck_assert_int_ge(X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253), 0);
		len = BIO_read(b, rfc, sizeof(rfc) - 1);
		rfc[len > 0 ? len : 0] = '\0';
		BIO_free(b);
		/* RFC 2253 prints the entries last first */
		ck_assert_str_eq(rfc, "O=Example\\+Co,UID=42+CN=Release key");
	}
	X509_NAME_free(n);
	/* long names and UTF-8 */
	ck_assert_int_eq(x509_parse_subject("/commonName=Jürgen/emailAddress=a@b.example", &n, &e),
			 0);
	ck_assert_int_eq(X509_NAME_entry_count(n), 2);
	X509_NAME_free(n);
}
END_TEST

START_TEST(subject_errors_name_the_position)
{
	static const struct {
		const char *subject;
		const char *says;
	} cases[] = {
	    {"CN=x", "position 1: must start with '/'"},
	    {"", "position 1"},
	    {"/", "empty"},
	    {"/CN=ok/Ox", "position 8: \"Ox\" has no '='"},
	    {"/CN=ok/O", "position 8: \"O\" has no '='"},
	    {"/CN=ok/O/C=DE", "position 8: \"O\" has no '='"},
	    {"/CN=", "position 2: empty value for CN"},
	    {"/CN=x/O=/C=DE", "position 7: empty value for O"},
	    {"/CN=x/Bogus=y", "position 7: unknown attribute \"Bogus\""},
	    {"/=x", "position 2: attribute name missing"},
	    {"/CN=x\\", "position 6: '\\' at the end"},
	    {"/CN=x/C=Germany", "position 7: value for C not accepted"},
	    {"/CN=x/", "position 7: \"\" has no '='"},
	    {"/CN=x+", "position 7: \"\" has no '='"},
	    {"/CN=x+=y", "position 7: attribute name missing"},
	    {"/+CN=x", "position 2: \"\" has no '='"},
	    {"/CN=x+UID=", "position 7: empty value for UID"},
	};
	X509_NAME *n = NULL;
	smk_err e;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(x509_parse_subject(cases[i].subject, &n, &e), -1);
		ck_assert_ptr_null(n);
		ck_assert_msg(strstr(e.msg, cases[i].says) != NULL, "\"%s\": %s", cases[i].subject,
			      e.msg);
	}
	ck_assert_int_eq(x509_parse_subject(NULL, &n, &e), -1);
}
END_TEST

/* DER and PEM give the same DER; everything else is refused clearly. */
START_TEST(load_cert_forms)
{
	static const uint8_t algs[] = {0x73};
	x509_signer s = signer_for(ec_key, algs, 1);
	smk_buf der = SMK_BUF_INIT, pem = SMK_BUF_INIT, got = SMK_BUF_INIT, two = SMK_BUF_INIT;
	smk_buf csr = SMK_BUF_INIT;
	smk_err e;

	ck_assert_int_eq(x509_make_selfsigned(&s, "/CN=x", 30, time(NULL), &der, &pem, &e), 0);
	ck_assert_int_eq(x509_load_cert(der.data, der.len, &got, &e), 0);
	ck_assert_uint_eq(got.len, der.len);
	ck_assert_mem_eq(got.data, der.data, der.len);
	smk_buf_reset(&got);
	ck_assert_int_eq(x509_load_cert(pem.data, pem.len, &got, &e), 0);
	ck_assert_mem_eq(got.data, der.data, der.len);
	smk_buf_reset(&got);

	/* truncated, trailing garbage, empty, text, a CSR, two certificates */
	ck_assert_int_eq(x509_load_cert(der.data, der.len - 1, &got, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "neither PEM nor"));
	smk_buf_add(&two, der.data, der.len);
	smk_buf_add_byte(&two, 0);
	ck_assert_int_eq(x509_load_cert(two.data, two.len, &got, &e), -1);
	ck_assert_int_eq(x509_load_cert(der.data, 0, &got, &e), -1);
	ck_assert_int_eq(x509_load_cert((const uint8_t *)"hello", 5, &got, &e), -1);
	ck_assert_int_eq(x509_make_csr(&s, "/CN=x", &csr, &e), 0);
	ck_assert_int_eq(x509_load_cert(csr.data, csr.len, &got, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "PEM without a readable CERTIFICATE"));
	smk_buf_reset(&two);
	smk_buf_add(&two, pem.data, pem.len);
	smk_buf_add(&two, pem.data, pem.len);
	ck_assert_int_eq(x509_load_cert(two.data, two.len, &got, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "more than one certificate"));
	ck_assert_uint_eq(got.len, 0);
	/* a validity time that is no time (notBefore, the first UTCTime, in
	 * month 13): refused, as x509_describe could not report it */
	smk_buf_reset(&two);
	smk_buf_add(&two, der.data, der.len);
	{
		size_t i;

		for (i = 0; i + 15 <= two.len; i++)
			if (two.data[i] == 0x17 && two.data[i + 1] == 0x0d)
				break;
		ck_assert_uint_le(i + 15, two.len);
		two.data[i + 4] = '1';
		two.data[i + 5] = '3';
	}
	ck_assert_int_eq(x509_load_cert(two.data, two.len, &got, &e), -1);
	ck_assert_msg(strstr(e.msg, "unreadable validity time") != NULL, "%s", e.msg);
	ck_assert_uint_eq(got.len, 0);
	/* describe refuses what is not one DER certificate */
	{
		x509_info info;

		ck_assert_int_eq(x509_describe(pem.data, pem.len, &info, &e), -1);
		ck_assert_int_eq(x509_describe(der.data, der.len - 3, &info, &e), -1);
	}
	smk_buf_free(&der);
	smk_buf_free(&pem);
	smk_buf_free(&got);
	smk_buf_free(&two);
	smk_buf_free(&csr);
	signer_free(&s);
}
END_TEST

START_TEST(cert_spki_match_and_mismatch)
{
	static const uint8_t algs[] = {0x73};
	x509_signer s = signer_for(ec_key, algs, 1);
	smk_buf der = SMK_BUF_INIT;
	uint8_t *spki = NULL, *other_spki = NULL;
	EVP_PKEY *other = tu_keygen("P-256");
	int n, on;
	char fp_have[80], fp_want[80];
	uint8_t md[32];
	unsigned mdlen = 32;
	smk_err e;
	size_t i;

	ck_assert_int_eq(x509_make_selfsigned(&s, "/CN=x", 30, time(NULL), &der, NULL, &e), 0);
	n = i2d_PUBKEY(ec_key, &spki);
	on = i2d_PUBKEY(other, &other_spki);
	ck_assert_int_eq(x509_cert_matches_spki(der.data, der.len, spki, (size_t)n, &e), 0);
	ck_assert_int_eq(x509_cert_matches_spki(der.data, der.len, other_spki, (size_t)on, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	/* both fingerprints, so an operator can tell which key is which */
	EVP_Digest(spki, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		sprintf(fp_have + 2 * i, "%02x", md[i]);
	EVP_Digest(other_spki, (size_t)on, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		sprintf(fp_want + 2 * i, "%02x", md[i]);
	ck_assert_msg(strstr(e.msg, "certificate's public key (sha256 ") != NULL, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, fp_have) != NULL, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, fp_want) != NULL, "%s", e.msg);
	/* a truncated SPKI is not the key either; a broken certificate is a format error */
	ck_assert_int_eq(x509_cert_matches_spki(der.data, der.len, spki, (size_t)n - 1, &e), -1);
	ck_assert_int_eq(x509_cert_matches_spki(der.data, der.len - 1, spki, (size_t)n, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_FORMAT);
	OPENSSL_free(spki);
	OPENSSL_free(other_spki);
	EVP_PKEY_free(other);
	smk_buf_free(&der);
	signer_free(&s);
}
END_TEST

static void cleanup_tmp(void)
{
	char cmd[200];

	if (tmp_dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
		ck_assert_int_eq(system(cmd), 0);
		tmp_dir[0] = '\0';
	}
}

int main(void)
{
	Suite *s = suite_create("x509");
	TCase *tc = tcase_create("core");
	int r;

	ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ec_other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa_other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!ec_key || !ec_other || !rsa_key || !rsa_other) {
		fprintf(stderr, "test_x509: key generation failed\n");
		return EXIT_FAILURE;
	}
	tcase_add_checked_fixture(tc, card_setup, cleanup_tmp);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, csr_ec_p256_card_hashes);
	tcase_add_test(tc, csr_rsa_pss_sha256);
	tcase_add_loop_test(tc, csr_every_algorithm, 0, 12);
	tcase_add_test(tc, pick_prefers_card_hashed_sha256);
	tcase_add_test(tc, refused_algorithm_list_is_named);
	tcase_add_loop_test(tc, misbehaving_card_is_refused, 0, 8);
	tcase_add_test(tc, selfsigned_ec_verifies);
	tcase_add_test(tc, selfsigned_rsa_pss_verifies_with_openssl);
	tcase_add_test(tc, selfsigned_refuses_bad_days);
	tcase_add_test(tc, subject_forms);
	tcase_add_test(tc, subject_errors_name_the_position);
	tcase_add_test(tc, load_cert_forms);
	tcase_add_test(tc, cert_spki_match_and_mismatch);
	suite_add_tcase(s, tc);
	r = tu_run(s);
	EVP_PKEY_free(ec_key);
	EVP_PKEY_free(ec_other);
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(rsa_other);
	return r;
}
