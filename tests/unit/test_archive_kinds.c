/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The record kinds of card work after generation: "adopted" (a key made elsewhere whose CV-REQ
 * was still in CE|id) and "certificate" (a certificate written into CE|id of
 * a key with a record). Both go through the archive's one commit path, parse
 * with their own member set, verify offline and are counted by the audit.
 * The device PKI and the archive are the shared fixture of tests/lib/archfix.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "archive/archive.h"
#include "archive/bundle.h"
#include "archive/record.h"
#include "archive/verify.h"
#include "tests/lib/archfix.h"
#include "tests/lib/testutil.h"
#include "sm/chain.h"
#include "sm/cvc.h"

#define ROOT_CHR "UTSRCAKND00001"
#define DICA_CHR "UTDIKND0100001"
#define DEV_CHR "UTKND10007700000" /* ref §4.2: serial = CHR minus the last 5 */
#define DEV_SERIAL "UTKND100077"
#define T0 1795000000 /* 2026-11-18 */

static archfix P;
static EVP_PKEY *ca; /* issues the X.509 certificates of make_cert */

static const archfix_cfg cfg = {
    .prefix = "smk-kinds",
    .root_chr = ROOT_CHR,
    .dica_chr = DICA_CHR,
    .dev_chr = DEV_CHR,
    .dev_serial = DEV_SERIAL,
    .dev_until = 2035,
    .req_car = "UTCA00001",
    .peer = {1000, 1000, 4242, "/usr/bin/smkey"}, /* peer(1000) */
    .t0 = T0,
    .commit_after = 5,
};

static const char apk_doc[] =
    "{\"alg-list-hex\":\"73\",\"algorithms\":[{\"id\":115,\"name\":\"ecdsa-sha256\"}],"
    "\"name\":\"release-apk\",\"use-counter\":null}";

static archive_peer peer(uint32_t uid)
{
	archive_peer p = {uid, uid, 4242, "/usr/bin/smkey"};

	return p;
}

/* a key generated through smkeyd (intent, GAKP with its CHR, commit) */
static uint64_t make_key(const char *kind, const char *policy, const char *doc, EVP_PKEY *k,
			 const char *label, unsigned key_id)
{
	archfix_key fk;
	uint64_t seq = 0;
	smk_err e;

	archfix_key_init(&P, &fk, kind, policy, doc, k, label);
	fk.peer = peer(1000);
	fk.key_id = key_id;
	ck_assert_msg(archfix_commit_key(&P, &fk, &seq, &e) == 0, "%s", e.msg);
	return seq;
}

/* adopt a key whose CV-REQ is cvreq (what CE|id held) */
static int adopt_cvreq(const smk_buf *cvreq, EVP_PKEY *k, const char *label, unsigned key_id,
		       uint64_t *seq, smk_err *e)
{
	archive_adopt_req ar;
	smk_buf spki = SMK_BUF_INIT;
	int rc;

	ck_assert_int_eq(cvc_spki_der(k, &spki, e), 0);
	memset(&ar, 0, sizeof(ar));
	ar.peer = peer(2000);
	ar.device_serial = DEV_SERIAL;
	ar.devaut_chr = DEV_CHR;
	ar.key_id = key_id;
	ar.label = label;
	ar.device_chain = P.chain.data;
	ar.device_chain_len = P.chain.len;
	ar.cvreq = cvreq->data;
	ar.cvreq_len = cvreq->len;
	ar.spki = spki.data;
	ar.spki_len = spki.len;
	ar.time = T0 + 60;
	rc = archive_adopt(P.a, &P.signer, &ar, seq, e);
	smk_buf_free(&spki);
	return rc;
}

/* a key made with pkcs11-tool: the CV-REQ carries whatever CHR it chose */
static int adopt(EVP_PKEY *k, const char *chr, const char *label, unsigned key_id, uint64_t *seq,
		 smk_err *e)
{
	smk_buf cvreq = SMK_BUF_INIT;
	int rc;

	archfix_gakp(&P, k, chr, &cvreq);
	rc = adopt_cvreq(&cvreq, k, label, key_id, seq, e);
	smk_buf_free(&cvreq);
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
	ck_assert(X509_sign(x, ca, EVP_sha256()) > 0);
	n = i2d_X509(x, &out);
	ck_assert_int_gt(n, 0);
	ck_assert(smk_buf_add(der, out, (size_t)n) == 0);
	OPENSSL_free(out);
	X509_NAME_free(name);
	X509_free(x);
}

static void setup(void)
{
	archfix_setup(&P, &cfg);
	ca = tu_keygen("P-256");
}

static void teardown(void)
{
	EVP_PKEY_free(ca);
	ca = NULL;
	archfix_teardown(&P);
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
	ck_assert(memmem(r.canonical.data, r.canonical.len, "\"policy\"", 8) == NULL);
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
	ck_assert_msg(archive_cert_commit(P.a, &P.signer, info.request_id, T0 + 101, &seq, &e) == 0,
		      "%s", e.msg);
	ck_assert_uint_eq(seq, key_seq + 1);
	get_record(seq, &r);
	get_record(key_seq, &key);
	ck_assert_str_eq(r.kind, ARCHIVE_KIND_CERTIFICATE);
	/* certificate records have the members of format 1 (nothing of the
	 * card to add) and, like the key record, no signature of their own
	 * (format 3) */
	ck_assert_int_eq(r.format, ARCHIVE_RECORD_FORMAT);
	ck_assert_int_eq(r.has_card, 0);
	ck_assert_int_eq(key.format, ARCHIVE_RECORD_FORMAT);
	ck_assert_int_eq(key.has_card, 1);
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

/* ---- helpers for files, smkey and audit ---- */

static void write_file(const char *name, const void *p, size_t n, char *path, size_t cap)
{
	FILE *f;

	snprintf(path, cap, "%s/%s", P.dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static void trust_dir(char *path, size_t cap)
{
	char root[160];

	snprintf(path, cap, "%s/trust", P.dir);
	if (access(path, F_OK) != 0) {
		ck_assert_int_eq(mkdir(path, 0700), 0);
		write_file("trust/" ROOT_CHR ".cvcert", P.root_cert.data, P.root_cert.len, root,
			   sizeof(root));
	}
}

/* Run smkey with arguments; returns its exit status, output in out. */
static int smkey(smk_buf *out, const char *args)
{
	char cmd[1600], outfile[160], chunk[4096];
	FILE *f;
	size_t n;
	int status;

	snprintf(outfile, sizeof(outfile), "%s/out.txt", P.dir);
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

static int has(const smk_buf *out, const char *s)
{
	return strstr((const char *)out->data, s) != NULL;
}

/* verify a bundle through `smkey verify`, extra arguments appended */
/* smkey verify of record seq's bundle with the archive's log pinned
 * (pinned 0: without, which exits 3 when everything else holds). */
static int smkey_verify_pin(uint64_t seq, const char *extra, int pinned, smk_buf *out)
{
	smk_buf b = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	char bundle[160], trust[160], args[1200];
	archive_logkey log;
	smk_err e;

	ck_assert_msg(archive_export_bundle(P.a, seq, &b, &e) == 0, "%s", e.msg);
	write_file("bundle.json", b.data, b.len, bundle, sizeof(bundle));
	trust_dir(trust, sizeof(trust));
	ck_assert_int_eq(cvc_spki_der(P.akey, &spki, &e), 0);
	ck_assert_msg(archive_logkey_of(spki.data, spki.len, &log, &e) == 0, "%s", e.msg);
	snprintf(args, sizeof(args), "verify '%s' --trust '%s' %s%s%s %s", bundle, trust,
		 pinned ? "--log '" : "", pinned ? log.text : "", pinned ? "'" : "", extra);
	smk_buf_free(&b);
	smk_buf_free(&spki);
	return smkey(out, args);
}

static int smkey_verify(uint64_t seq, const char *extra, smk_buf *out)
{
	return smkey_verify_pin(seq, extra, 1, out);
}

static unsigned audit_pins(const archive_logpins *pins, smk_buf *report);
/* some other log's verifier key (sigstore's Rekor) */
#define OTHER_LOG                                                                                  \
	"rekor.sigstore.dev+c0d23d6a+"                                                             \
	"AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwB"                          \
	"cK5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc="

static unsigned audit(smk_buf *report)
{
	return audit_pins(NULL, report);
}

static unsigned audit_pins(const archive_logpins *pins, smk_buf *report)
{
	archive_audit_opts o;
	unsigned problems = 99;
	archive *ro;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	smk_err e;

	memset(&o, 0, sizeof(o));
	o.trust = &P.trust;
	o.path = P.path;
	o.pins = pins;
	ck_assert_msg(archive_open(P.path, ARCHIVE_OPEN_READONLY, &ro, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_audit(ro, &o, f, &problems, &e) == 0, "%s", e.msg);
	archive_close(ro);
	fclose(f);
	smk_buf_reset(report);
	ck_assert(smk_buf_add(report, text, len) == 0 && smk_buf_add_byte(report, 0) == 0);
	free(text);
	return problems;
}

static void sha256_hex(const uint8_t *p, size_t n, char out[65])
{
	static const char d[] = "0123456789abcdef";
	uint8_t h[32];
	int i;

	ck_assert(EVP_Digest(p, n, h, NULL, EVP_sha256(), NULL) == 1);
	for (i = 0; i < 32; i++) {
		out[2 * i] = d[h[i] >> 4];
		out[2 * i + 1] = d[h[i] & 15];
	}
	out[64] = '\0';
}

static void spki_hex(EVP_PKEY *k, char out[65])
{
	smk_buf spki = SMK_BUF_INIT;
	smk_err e;

	ck_assert_int_eq(cvc_spki_der(k, &spki, &e), 0);
	sha256_hex(spki.data, spki.len, out);
	smk_buf_free(&spki);
}

static void say_collect(void *ctx, const char *line)
{
	smk_buf *b = ctx;

	ck_assert(smk_buf_add(b, line, strlen(line)) == 0 && smk_buf_add_byte(b, '\n') == 0);
}

/* certificate import for key record key_seq, both steps */
static uint64_t import_cert(uint64_t key_seq, const smk_buf *cert)
{
	archive_cert_req cr;
	archive_intent_info info;
	uint64_t seq = 0;
	smk_err e;

	memset(&cr, 0, sizeof(cr));
	cr.peer = peer(1000);
	cr.key_seq = key_seq;
	cr.cert = cert->data;
	cr.cert_len = cert->len;
	cr.time = T0 + 100;
	ck_assert_msg(archive_cert_intent(P.a, &cr, &info, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_cert_commit(P.a, &P.signer, info.request_id, T0 + 101, &seq, &e) == 0,
		      "%s", e.msg);
	return seq;
}

static void base64(const uint8_t *p, size_t n, char **out)
{
	*out = malloc(4 * ((n + 2) / 3) + 1);
	ck_assert_ptr_nonnull(*out);
	EVP_EncodeBlock((unsigned char *)*out, p, (int)n);
}

/* parse canonical record bytes that a test made */
static int parse_json(json_t *o, archive_record *r, smk_err *e)
{
	char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	int rc;

	ck_assert_ptr_nonnull(s);
	rc = archive_record_parse((const uint8_t *)s, strlen(s), r, e);
	free(s);
	return rc;
}

START_TEST(adopted_key_verifies_and_audits_as_adopted)
{
	EVP_PKEY *gen = tu_keygen("P-256"), *k = tu_keygen("brainpoolP256r1");
	smk_buf out = SMK_BUF_INIT, cvreq = SMK_BUF_INIT, b = SMK_BUF_INIT, lines = SMK_BUF_INIT;
	archive_verified v;
	uint64_t seq, size;
	char fp[65];
	smk_err e;

	ck_assert_uint_eq(make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, gen, "apk", 2), 1);
	archfix_gakp(&P, k, "UTPKCS11KEY0001", &cvreq);
	ck_assert_msg(adopt_cvreq(&cvreq, k, "legacy", 5, &seq, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(seq, 2);

	ck_assert_msg(archive_export_bundle(P.a, 2, &b, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_verify_bundle(b.data, b.len, &P.trust, NULL, say_collect, &lines, &v,
					    &e) == ARCHIVE_VERIFY_UNPINNED,
		      "%s", e.msg);
	ck_assert_str_eq(v.record.kind, ARCHIVE_KIND_ADOPTED);
	ck_assert_int_eq(v.has_cert, 0);
	spki_hex(k, fp);
	ck_assert_str_eq(v.att.key_fp, fp);
	ck_assert_str_eq(v.att.key_type, "EC brainpoolP256r1");
	ck_assert(smk_buf_add_byte(&lines, 0) == 0);
	ck_assert_msg(strstr((char *)lines.data, "CV-REQ CHR UTPKCS11KEY0001 was chosen by whoever "
						 "made the key") != NULL,
		      "%s", lines.data);
	ck_assert(strstr((char *)lines.data, "commits to intent") == NULL);
	archive_verified_free(&v);

	/* smkey verify: ADOPTED, and no policy, algorithm or requester line */
	ck_assert_int_eq(smkey_verify(2, "", &out), 0);
	ck_assert_msg(has(&out, "ADOPTED: held by device " DEV_SERIAL
				"; may have been imported (the card did not report its key "
				"domains); policy, algorithm list and requester unknown (not "
				"generated by smkeyd under secure messaging)"),
		      "%s", out.data);
	ck_assert_msg(!has(&out, "  policy  ") && !has(&out, "  algorithms  ") &&
			  !has(&out, "  requester  ") && !has(&out, "  use counter  ") &&
			  !has(&out, "secure messaging id-CA"),
		      "%s", out.data);
	ck_assert(has(&out, fp));
	ck_assert(has(&out, "label        legacy (key id 5 on the device)"));
	ck_assert(has(&out, "adopted      2026-11-18 11:07:40 UTC, by uid 2000"));
	/* the generated key next to it still shows its policy */
	ck_assert_int_eq(smkey_verify(1, "", &out), 0);
	ck_assert(has(&out, "  policy       release-apk") && !has(&out, "ADOPTED"));
	ck_assert_msg(has(&out, "Proven by the device (CV request, chain to the pinned root):") &&
			  has(&out, "Stated by log smkeyd/") && has(&out, "(pinned as smkeyd/") &&
			  !has(&out, "NOT VERIFIED"),
		      "%s", out.data);
	/* no log pinned: the same checks, exit 3, the statements marked unverified */
	ck_assert_int_eq(smkey_verify_pin(1, "", 0, &out), 3);
	ck_assert_msg(has(&out, "Proven by the device") && has(&out, "NOT VERIFIED: log smkeyd/") &&
			  has(&out, "is not pinned; these are its unverified statements:") &&
			  !has(&out, "Stated by log") && has(&out, "  policy       release-apk"),
		      "%s", out.data);

	/* audit: clean, the adopted record listed as such and counted */
	ck_assert_msg(audit(&out) == 0, "%s", out.data);
	ck_assert_msg(has(&out, "adopted      (unknown)") && has(&out, "ADOPTED: held by device") &&
			  has(&out, "3 records (1 archive key, 1 generated, 1 adopted, 0 "
				    "certificate)"),
		      "%s", out.data);
	/* audit names the log's verifier key; with --log it must be a pinned one */
	{
		archive_logpins pins = ARCHIVE_LOGPINS_INIT;
		smk_buf spki = SMK_BUF_INIT;
		archive_logkey mine;
		char line[ARCHIVE_VKEY_MAX + 32];

		ck_assert_int_eq(cvc_spki_der(P.akey, &spki, &e), 0);
		ck_assert_int_eq(archive_logkey_of(spki.data, spki.len, &mine, &e), 0);
		snprintf(line, sizeof(line), "log verifier key: %s\n", mine.text);
		ck_assert_msg(has(&out, line) && has(&out, "log pinned: no"), "%s", out.data);
		ck_assert_int_eq(archive_logpins_add(&pins, OTHER_LOG, "--log", &e), 0);
		ck_assert_int_eq(audit_pins(&pins, &out), 1);
		ck_assert_msg(has(&out, "PROBLEM: the archive's log smkeyd/") &&
				  has(&out, "is not among the pinned logs (1 pinned)"),
			      "%s", out.data);
		ck_assert_int_eq(archive_logpins_add(&pins, mine.text, "--log", &e), 0);
		ck_assert_msg(audit_pins(&pins, &out) == 0, "%s", out.data);
		ck_assert_msg(has(&out, "log pinned: yes (2 pinned)"), "%s", out.data);
		archive_logpins_free(&pins);
		smk_buf_free(&spki);
	}

	/* the same CV-REQ twice, or a key that already has a record: refused,
	 * naming the record, and nothing stored */
	ck_assert_int_eq(adopt_cvreq(&cvreq, k, "again", 5, &seq, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	ck_assert_msg(strstr(e.msg, "CV-REQ is already in record 2") != NULL, "%s", e.msg);
	ck_assert_int_eq(adopt(k, "UTOTHERCHR00001", "again", 6, &seq, &e), -1);
	ck_assert_msg(strstr(e.msg, "public key is already in record 2") != NULL, "%s", e.msg);
	ck_assert_int_eq(adopt(gen, "UTOTHERCHR00002", "gen", 2, &seq, &e), -1);
	ck_assert_msg(strstr(e.msg, "already in record 1") != NULL, "%s", e.msg);
	ck_assert_int_eq(archive_size(P.a, &size, &e), 0);
	ck_assert_uint_eq(size, 3);
	{
		archive_intent_info *list;
		size_t n;

		ck_assert_int_eq(archive_pending(P.a, &list, &n, &e), 0);
		ck_assert_uint_eq(n, 0);
		free(list);
	}
	EVP_PKEY_free(gen);
	EVP_PKEY_free(k);
	smk_buf_free(&out);
	smk_buf_free(&cvreq);
	smk_buf_free(&b);
	smk_buf_free(&lines);
}
END_TEST

/* Each kind has exactly its members: a policy on an adopted record, SM on
 * an adopted key, a key member on a certificate record, a CHR that is not
 * the CV-REQ's are refused. */
START_TEST(member_sets_per_kind)
{
	EVP_PKEY *gen = tu_keygen("P-256"), *k = tu_keygen("P-256");
	smk_buf canon = SMK_BUF_INIT, cert = SMK_BUF_INIT;
	archive_record r, gen_r;
	json_t *o;
	uint64_t seq;
	smk_err e;
	size_t i;

	make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, gen, "apk", 2);
	ck_assert_msg(adopt(k, "UTPKCS11KEY0001", "", 5, &seq, &e) == 0, "%s", e.msg);
	make_cert(gen, "Release key", &cert);
	import_cert(1, &cert);
	get_record(1, &gen_r);

	/* adopted (record 2) */
	ck_assert_int_eq(archive_get(P.a, 2, &canon, NULL, &e), 0);
	o = json_loadb((const char *)canon.data, canon.len, 0, NULL);
	{
		json_t *c = json_deep_copy(o), *g = json_loadb((const char *)gen_r.canonical.data,
							       gen_r.canonical.len, 0, NULL);

		json_object_set(c, "policy", json_object_get(g, "policy"));
		json_decref(g);
		ck_assert_int_eq(parse_json(c, &r, &e), -1);
		ck_assert_msg(strstr(e.msg, "unexpected member \"policy\"") != NULL, "%s", e.msg);
		json_decref(c);
		c = json_deep_copy(o);
		json_object_set_new(json_object_get(c, "sm"), "used", json_true());
		ck_assert_int_eq(parse_json(c, &r, &e), -1);
		ck_assert_msg(strstr(e.msg, "secure messaging") != NULL, "%s", e.msg);
		json_decref(c);
		c = json_deep_copy(o);
		json_object_set_new(c, "chr", json_string("UTPKCS11KEY0002"));
		ck_assert_int_eq(parse_json(c, &r, &e), -1);
		ck_assert_msg(strstr(e.msg, "is not the CV-REQ's") != NULL, "%s", e.msg);
		json_decref(c);
		/* an intent with a policy member is no adoption intent */
		c = json_deep_copy(o);
		json_object_set_new(json_object_get(c, "intent"), "policy", json_object());
		ck_assert_int_eq(parse_json(c, &r, &e), -1);
		ck_assert_msg(strstr(e.msg, "intent: unexpected member \"policy\"") != NULL, "%s",
			      e.msg);
		json_decref(c);
		/* the record as it is parses, with an empty label */
		ck_assert_int_eq(parse_json(o, &r, &e), 0);
		ck_assert_str_eq(r.label, "");
		archive_record_free(&r);
	}
	json_decref(o);
	/* a generated key's record without its policy is refused */
	o = json_loadb((const char *)gen_r.canonical.data, gen_r.canonical.len, 0, NULL);
	json_object_del(o, "policy");
	ck_assert_int_eq(parse_json(o, &r, &e), -1);
	ck_assert_msg(strstr(e.msg, "missing \"policy\"") != NULL, "%s", e.msg);
	json_decref(o);

	/* certificate (record 3) */
	smk_buf_reset(&canon);
	ck_assert_int_eq(archive_get(P.a, 3, &canon, NULL, &e), 0);
	o = json_loadb((const char *)canon.data, canon.len, 0, NULL);
	{
		static const char *const extra[] = {"chr", "key", "device", "sm", "policy"};

		for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
			json_t *c = json_deep_copy(o);

			json_object_set_new(c, extra[i], json_string("x"));
			ck_assert_int_eq(parse_json(c, &r, &e), -1);
			ck_assert_msg(strstr(e.msg, "unexpected member") != NULL, "%s: %s",
				      extra[i], e.msg);
			json_decref(c);
		}
	}
	json_decref(o);
	/* the certificate's recorded SHA-256, and its key record earlier in the log */
	{
		json_t *in;
		char *b64;
		smk_buf other = SMK_BUF_INIT;

		make_cert(k, "Other", &other);
		o = json_loadb((const char *)canon.data, canon.len, 0, NULL);
		in = json_object_get(o, "intent");
		base64(other.data, other.len, &b64);
		json_object_set_new(json_object_get(in, "certificate"), "der", json_string(b64));
		free(b64);
		ck_assert_int_eq(parse_json(o, &r, &e), -1);
		ck_assert_msg(strstr(e.msg, "intent digest") != NULL, "%s", e.msg);
		/* with the digest recomputed, the certificate's hash still tells */
		{
			char *is = json_dumps(in, JSON_SORT_KEYS | JSON_COMPACT);
			uint8_t d[32];

			ck_assert(EVP_Digest(is, strlen(is), d, NULL, EVP_sha256(), NULL) == 1);
			base64(d, 32, &b64);
			json_object_set_new(o, "intent-digest", json_string(b64));
			free(b64);
			free(is);
		}
		ck_assert_int_eq(parse_json(o, &r, &e), -1);
		ck_assert_msg(strstr(e.msg, "certificate SHA-256") != NULL, "%s", e.msg);
		json_decref(o);
		smk_buf_free(&other);
	}
	archive_record_free(&gen_r);
	EVP_PKEY_free(gen);
	EVP_PKEY_free(k);
	smk_buf_free(&canon);
	smk_buf_free(&cert);
}
END_TEST

START_TEST(certificate_intent_refusals)
{
	EVP_PKEY *k = tu_keygen("P-256"), *other = tu_keygen("P-256");
	smk_buf cert = SMK_BUF_INIT, wrong = SMK_BUF_INIT, junk = SMK_BUF_INIT;
	archive_intent_req ir;
	archive_intent_info info, open_key;
	archive_cert_req cr;
	archive_intent_info *list;
	char fk[65], fo[65];
	size_t n, i;
	uint64_t size;
	smk_err e;

	ck_assert_uint_eq(make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, k, "apk", 2), 1);
	make_cert(k, "Release key", &cert);
	make_cert(other, "Other key", &wrong);
	memset(&cr, 0, sizeof(cr));
	cr.peer = peer(1000);
	cr.cert = cert.data;
	cr.cert_len = cert.len;

	/* a key whose GAKP is still open: no record yet (it would be record 2) */
	memset(&ir, 0, sizeof(ir));
	ir.kind = ARCHIVE_KIND_KEY;
	ir.policy_name = "release-apk";
	ir.policy_doc = (const uint8_t *)apk_doc;
	ir.policy_doc_len = strlen(apk_doc);
	ir.device_serial = DEV_SERIAL;
	ir.devaut_chr = DEV_CHR;
	ir.key_id = 3;
	ck_assert_int_eq(archive_intent(P.a, &ir, &open_key, &e), 0);
	cr.key_seq = 2;
	ck_assert_int_eq(archive_cert_intent(P.a, &cr, &info, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_ARG);
	ck_assert_str_eq(e.msg, "record 2 is not a committed key record");
	/* ... and once it failed */
	ck_assert_int_eq(archive_fail(P.a, open_key.request_id, "GAKP failed", &e), 0);
	ck_assert_int_eq(archive_cert_intent(P.a, &cr, &info, &e), -1);
	ck_assert_str_eq(e.msg, "record 2 is not a committed key record");
	/* unknown, and the archive key (not a key a certificate may be written for) */
	cr.key_seq = 77;
	ck_assert_int_eq(archive_cert_intent(P.a, &cr, &info, &e), -1);
	ck_assert_str_eq(e.msg, "record 77 is not a committed key record");
	cr.key_seq = 0;
	ck_assert_int_eq(archive_cert_intent(P.a, &cr, &info, &e), -1);
	ck_assert_str_eq(e.msg, "record 0 is not a committed key record");

	/* another key's certificate: both fingerprints named */
	cr.key_seq = 1;
	cr.cert = wrong.data;
	cr.cert_len = wrong.len;
	ck_assert_int_eq(archive_cert_intent(P.a, &cr, &info, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	spki_hex(k, fk);
	spki_hex(other, fo);
	ck_assert_msg(strstr(e.msg, fk) != NULL && strstr(e.msg, fo) != NULL &&
			  strstr(e.msg, "is not the key's") != NULL,
		      "%s", e.msg);

	/* not a certificate: garbage, cut short, trailing bytes, too large */
	for (i = 1; i < cert.len; i += 97) {
		cr.cert = cert.data;
		cr.cert_len = i;
		ck_assert_int_eq(archive_cert_intent(P.a, &cr, &info, &e), -1);
	}
	ck_assert(smk_buf_add(&junk, cert.data, cert.len) == 0 && smk_buf_add_byte(&junk, 0) == 0);
	cr.cert = junk.data;
	cr.cert_len = junk.len;
	ck_assert_int_eq(archive_cert_intent(P.a, &cr, &info, &e), -1);
	ck_assert_msg(strstr(e.msg, "after the X.509 certificate") != NULL, "%s", e.msg);
	smk_buf_reset(&junk);
	for (i = 0; i < ARCHIVE_CERT_MAX + 1; i++)
		ck_assert(smk_buf_add_byte(&junk, (uint8_t)(i * 7)) == 0);
	cr.cert_len = junk.len;
	cr.cert = junk.data;
	ck_assert_int_eq(archive_cert_intent(P.a, &cr, &info, &e), -1);
	cr.cert_len = 300;
	ck_assert_int_eq(archive_cert_intent(P.a, &cr, &info, &e), -1);
	ck_assert_msg(strstr(e.msg, "not an X.509 certificate") != NULL, "%s", e.msg);

	/* nothing of it was stored */
	ck_assert_int_eq(archive_pending(P.a, &list, &n, &e), 0);
	ck_assert_uint_eq(n, 0);
	free(list);
	ck_assert_int_eq(archive_size(P.a, &size, &e), 0);
	ck_assert_uint_eq(size, 2);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	smk_buf_free(&cert);
	smk_buf_free(&wrong);
	smk_buf_free(&junk);
}
END_TEST

static void record_step(const char *step, void *ctx)
{
	smk_buf *b = ctx;

	ck_assert(smk_buf_add(b, step, strlen(step)) == 0 && smk_buf_add_byte(b, ' ') == 0);
}

/* The pending import is listed for recovery, which gets its certificate and
 * key record back; archive_fail ends it; commit of either kind only through
 * its own function. */
START_TEST(pending_certificate_intent)
{
	EVP_PKEY *k = tu_keygen("P-256");
	smk_buf cert = SMK_BUF_INIT, got = SMK_BUF_INIT, steps = SMK_BUF_INIT, out = SMK_BUF_INIT;
	archive_cert_req cr;
	archive_intent_info info, second;
	archive_intent_info *list;
	archive_commit_req kc;
	uint64_t key_seq = 0, seq;
	size_t n;
	smk_err e;

	make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, k, "apk", 2);
	make_cert(k, "Release key", &cert);
	memset(&cr, 0, sizeof(cr));
	cr.peer = peer(1000);
	cr.key_seq = 1;
	cr.cert = cert.data;
	cr.cert_len = cert.len;
	ck_assert_int_eq(archive_cert_intent(P.a, &cr, &info, &e), 0);
	ck_assert_int_eq(archive_pending(P.a, &list, &n, &e), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(list[0].request_id, info.request_id);
	ck_assert_str_eq(list[0].kind, "certificate");
	ck_assert_str_eq(list[0].policy_name, "");
	free(list);
	ck_assert_int_eq(archive_pending_cert(P.a, info.request_id, &key_seq, &got, &e), 0);
	ck_assert_uint_eq(key_seq, 1);
	ck_assert(got.len == cert.len && memcmp(got.data, cert.data, cert.len) == 0);
	/* the audit lists it as an open intent, which is not a problem */
	archive_close(P.a);
	ck_assert_uint_eq(audit(&out), 0);
	ck_assert_msg(has(&out, info.request_id) && has(&out, "certificate import") &&
			  has(&out, "1 open intent"),
		      "%s", out.data);
	ck_assert_int_eq(archive_open(P.path, 0, &P.a, &e), 0);
	/* a certificate intent is not committed as a key, nor a key as a certificate */
	memset(&kc, 0, sizeof(kc));
	kc.request_id = info.request_id;
	ck_assert_int_eq(archive_commit(P.a, &P.signer, &kc, &seq, &e), -1);
	ck_assert_msg(strstr(e.msg, "is of kind certificate") != NULL, "%s", e.msg);
	/* the card write failed */
	ck_assert_int_eq(archive_fail(P.a, info.request_id, "UPDATE BINARY: 6982", &e), 0);
	ck_assert_int_eq(archive_pending(P.a, &list, &n, &e), 0);
	ck_assert_uint_eq(n, 0);
	free(list);
	ck_assert_int_eq(archive_pending_cert(P.a, info.request_id, &key_seq, &got, &e), -1);
	ck_assert_msg(strstr(e.msg, "already has an outcome (failed)") != NULL, "%s", e.msg);
	ck_assert_int_eq(archive_cert_commit(P.a, &P.signer, info.request_id, 0, &seq, &e), -1);
	ck_assert_int_eq(archive_find_cert(P.a, 1, &seq, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_ARG);

	/* a second try commits through the same steps as a generated key */
	ck_assert_int_eq(archive_cert_intent(P.a, &cr, &second, &e), 0);
	archive_set_step_hook(P.a, record_step, &steps);
	ck_assert_msg(archive_cert_commit(P.a, &P.signer, second.request_id, 0, &seq, &e) == 0,
		      "%s", e.msg);
	ck_assert(smk_buf_add_byte(&steps, 0) == 0);
	ck_assert_str_eq((char *)steps.data, "intent-loaded record-built record-inserted "
					     "checkpoint-signed checkpoint-inserted ");
	smk_buf_reset(&steps);
	{
		EVP_PKEY *k2 = tu_keygen("P-256");

		ck_assert_int_eq(adopt(k2, "UTPKCS11KEY0001", "legacy", 9, &seq, &e), 0);
		EVP_PKEY_free(k2);
	}
	ck_assert(smk_buf_add_byte(&steps, 0) == 0);
	ck_assert_str_eq((char *)steps.data, "intent-loaded record-built record-inserted "
					     "checkpoint-signed checkpoint-inserted ");
	archive_set_step_hook(P.a, NULL, NULL);
	EVP_PKEY_free(k);
	smk_buf_free(&cert);
	smk_buf_free(&got);
	smk_buf_free(&steps);
	smk_buf_free(&out);
}
END_TEST

/* The certificate bundle verifies the certificate and the key record;
 * smkey verify shows both; --certificate with the right and a wrong one. */
START_TEST(certificate_bundle_verifies)
{
	EVP_PKEY *k = tu_keygen("P-256"), *other = tu_keygen("P-256"), *ad = tu_keygen("P-384");
	smk_buf cert = SMK_BUF_INIT, wrong = SMK_BUF_INIT, b = SMK_BUF_INIT, out = SMK_BUF_INIT,
		lines = SMK_BUF_INIT, pem = SMK_BUF_INIT;
	archive_verified v;
	char path[160], args[256], fk[65], fo[65], cfp[65];
	uint64_t seq, aseq;
	smk_err e;

	ck_assert_uint_eq(make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, k, "apk", 2), 1);
	make_cert(k, "Release key", &cert);
	make_cert(other, "Other key", &wrong);
	seq = import_cert(1, &cert);
	ck_assert_uint_eq(seq, 2);
	sha256_hex(cert.data, cert.len, cfp);

	ck_assert_msg(archive_export_bundle(P.a, 2, &b, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_verify_bundle(b.data, b.len, &P.trust, NULL, say_collect, &lines, &v,
					    &e) == ARCHIVE_VERIFY_UNPINNED,
		      "%s", e.msg);
	ck_assert_int_eq(v.has_cert, 1);
	ck_assert_uint_eq(v.cert_record.seq, 2);
	ck_assert_uint_eq(v.record.seq, 1);
	ck_assert_str_eq(v.record.kind, ARCHIVE_KIND_KEY);
	ck_assert_str_eq(v.cert_subject, "CN=Release key");
	ck_assert_str_eq(v.cert_record.cert_fp, cfp);
	spki_hex(k, fk);
	ck_assert_str_eq(v.att.key_fp, fk);
	ck_assert(smk_buf_add_byte(&lines, 0) == 0);
	ck_assert_msg(strstr((char *)lines.data,
			     "record 2 (certificate for record 1): format 3, authenticated by its "
			     "inclusion in the checkpoint") &&
			  strstr((char *)lines.data, "record 1 (the certificate's key, key)") &&
			  strstr((char *)lines.data, "certificate CN=Release key") &&
			  strstr((char *)lines.data,
				 "inclusion: records 2, 1 and 0 are in the checkpoint's tree"),
		      "%s", lines.data);
	archive_verified_free(&v);

	/* smkey verify shows both, and the key's policy */
	ck_assert_int_eq(smkey_verify(2, "", &out), 0);
	ck_assert_msg(has(&out, "certificate  CN=Release key, SHA-256 ") && has(&out, cfp) &&
			  has(&out, "policy       release-apk") && has(&out, "record       1 "),
		      "%s", out.data);
	/* --certificate: the right one (PEM), the right one for the key's own
	 * bundle (DER), a wrong one */
	{
		const unsigned char *q = cert.data;
		X509 *x = d2i_X509(NULL, &q, (long)cert.len);
		BIO *bio = BIO_new(BIO_s_mem());
		char *data;
		long len;

		ck_assert(PEM_write_bio_X509(bio, x) == 1);
		len = BIO_get_mem_data(bio, &data);
		ck_assert(smk_buf_add(&pem, data, (size_t)len) == 0);
		BIO_free(bio);
		X509_free(x);
	}
	write_file("cert.pem", pem.data, pem.len, path, sizeof(path));
	snprintf(args, sizeof(args), "--certificate '%s'", path);
	ck_assert_int_eq(smkey_verify(2, args, &out), 0);
	ck_assert_msg(has(&out, "certificate CN=Release key (SHA-256 ") &&
			  has(&out, ") holds the attested key"),
		      "%s", out.data);
	write_file("cert.der", cert.data, cert.len, path, sizeof(path));
	snprintf(args, sizeof(args), "--certificate '%s'", path);
	ck_assert_int_eq(smkey_verify(1, args, &out), 0);
	ck_assert(has(&out, "holds the attested key"));
	write_file("wrong.der", wrong.data, wrong.len, path, sizeof(path));
	snprintf(args, sizeof(args), "--certificate '%s'", path);
	ck_assert_int_eq(smkey_verify(1, args, &out), 1);
	spki_hex(other, fo);
	ck_assert_msg(has(&out, fk) && has(&out, fo) && has(&out, "CN=Other key") &&
			  !has(&out, "holds the attested key"),
		      "%s", out.data);
	write_file("junk.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n", 33, path, sizeof(path));
	snprintf(args, sizeof(args), "--certificate '%s'", path);
	ck_assert_int_eq(smkey_verify(1, args, &out), 2);

	/* a certificate for an adopted key */
	ck_assert_int_eq(adopt(ad, "UTPKCS11KEY0001", "legacy", 7, &aseq, &e), 0);
	smk_buf_reset(&cert);
	make_cert(ad, "Legacy key", &cert);
	seq = import_cert(aseq, &cert);
	ck_assert_int_eq(smkey_verify(seq, "", &out), 0);
	ck_assert_msg(has(&out, "ADOPTED: held by device") &&
			  has(&out, "certificate  CN=Legacy key") && !has(&out, "  policy "),
		      "%s", out.data);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	EVP_PKEY_free(ad);
	smk_buf_free(&cert);
	smk_buf_free(&wrong);
	smk_buf_free(&b);
	smk_buf_free(&out);
	smk_buf_free(&lines);
	smk_buf_free(&pem);
}
END_TEST

/* bundle member edits a verifier must catch */
static void expect_bundle_failure(const smk_buf *b, json_t *o, const char *expect)
{
	archive_verified v;
	char *s = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));
	smk_err e;

	(void)b;
	ck_assert_int_eq(archive_verify_bundle((const uint8_t *)s, strlen(s), &P.trust, NULL, NULL,
					       NULL, &v, &e),
			 -1);
	ck_assert_msg(strstr(e.msg, expect) != NULL, "\"%s\" lacks \"%s\"", e.msg, expect);
	free(s);
}

START_TEST(certificate_bundle_changes_fail)
{
	EVP_PKEY *k = tu_keygen("P-256"), *k2 = tu_keygen("P-256");
	smk_buf cert = SMK_BUF_INIT, b = SMK_BUF_INIT, kb = SMK_BUF_INIT, other = SMK_BUF_INIT;
	json_t *o, *ko, *ob;
	smk_err e;

	make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, k, "apk", 2);
	make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, k2, "apk2", 3);
	make_cert(k, "Release key", &cert);
	ck_assert_uint_eq(import_cert(1, &cert), 3);
	ck_assert_int_eq(archive_export_bundle(P.a, 3, &b, &e), 0);
	ck_assert_int_eq(archive_export_bundle(P.a, 1, &kb, &e), 0);
	ck_assert_int_eq(archive_export_bundle(P.a, 2, &other, &e), 0);
	ko = json_loadb((const char *)kb.data, kb.len, 0, NULL);
	ob = json_loadb((const char *)other.data, other.len, 0, NULL);

	/* the key record swapped for another key's (with its own signature) */
	o = json_loadb((const char *)b.data, b.len, 0, NULL);
	json_object_set(o, "key-record", json_object_get(ob, "record"));
	expect_bundle_failure(&b, o, "is not the key record 1 it names");
	json_decref(o);
	/* the key record without its members */
	o = json_loadb((const char *)b.data, b.len, 0, NULL);
	json_object_del(o, "key-record");
	expect_bundle_failure(&b, o, "unexpected member \"key-record-inclusion\"");
	json_object_del(o, "key-record-inclusion");
	expect_bundle_failure(&b, o, "without its key record");
	json_decref(o);
	/* its proof */
	o = json_loadb((const char *)b.data, b.len, 0, NULL);
	json_object_set_new(json_object_get(o, "key-record-inclusion"), "index", json_integer(2));
	expect_bundle_failure(&b, o, "inclusion proof");
	json_decref(o);
	/* format 3: a signature where the record has none */
	o = json_loadb((const char *)b.data, b.len, 0, NULL);
	json_object_set(o, "key-record-signature", json_object_get(o, "archive-key-signature"));
	expect_bundle_failure(&b, o, "record 1 is of format 3 and has no signature of its own");
	json_decref(o);
	o = json_loadb((const char *)b.data, b.len, 0, NULL);
	json_object_set(o, "record-signature", json_object_get(o, "archive-key-signature"));
	expect_bundle_failure(&b, o, "record 3 is of format 3 and has no signature of its own");
	json_decref(o);
	/* key-record members on a key's own bundle */
	o = json_loadb((const char *)kb.data, kb.len, 0, NULL);
	ck_assert_ptr_nonnull(o);
	{
		json_t *co = json_loadb((const char *)b.data, b.len, 0, NULL);

		json_object_set(o, "key-record", json_object_get(co, "key-record"));
		json_object_set(o, "key-record-signature",
				json_object_get(co, "key-record-signature"));
		json_object_set(o, "key-record-inclusion",
				json_object_get(co, "key-record-inclusion"));
		expect_bundle_failure(&kb, o, "which is not a certificate record");
		json_decref(co);
	}
	json_decref(o);
	json_decref(ko);
	json_decref(ob);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	smk_buf_free(&cert);
	smk_buf_free(&b);
	smk_buf_free(&kb);
	smk_buf_free(&other);
}
END_TEST

/* Replace record seq's stored bytes (the trigger dropped, as an attacker
 * with the file would); resign: with the (stolen) archive key, replace the
 * checkpoints by one signed over the changed log (a format-3 record has no
 * signature of its own: the checkpoints are what authenticates it). */
static void rewrite_record(uint64_t seq, const smk_buf *canon, int resign)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	smk_err e;

	ck_assert_int_eq(sqlite3_open(P.path, &db), SQLITE_OK);
	ck_assert_int_eq(
	    sqlite3_exec(db, "DROP TRIGGER IF EXISTS records_no_update", NULL, NULL, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(
	    sqlite3_prepare_v2(db, "UPDATE records SET canonical = ? WHERE seq = ?", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_blob(st, 1, canon->data, (int)canon->len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	if (resign)
		ck_assert_int_eq(sqlite3_exec(db,
					      "DROP TRIGGER IF EXISTS checkpoints_no_delete;"
					      " DELETE FROM checkpoints;"
					      /* the stored tree too: the writer rebuilds it
					       * from the records */
					      " DROP TABLE IF EXISTS tree_nodes",
					      NULL, NULL, NULL),
				 SQLITE_OK);
	sqlite3_close(db);
	if (resign) {
		archive *a;
		uint64_t size;

		ck_assert_msg(archive_open(P.path, 0, &a, &e) == 0, "%s", e.msg);
		ck_assert_msg(archive_sign_checkpoint(a, &P.signer, &size, &e) == 0, "%s", e.msg);
		archive_close(a);
	}
}

/* the record with intent.key-record.hash replaced, intent digest recomputed */
static void swap_key_hash(const smk_buf *canon, const uint8_t hash[32], smk_buf *out)
{
	json_t *o = json_loadb((const char *)canon->data, canon->len, 0, NULL), *in;
	char *b64, *s;
	uint8_t d[32];

	in = json_object_get(o, "intent");
	base64(hash, 32, &b64);
	json_object_set_new(json_object_get(in, "key-record"), "hash", json_string(b64));
	free(b64);
	s = json_dumps(in, JSON_SORT_KEYS | JSON_COMPACT);
	ck_assert(EVP_Digest(s, strlen(s), d, NULL, EVP_sha256(), NULL) == 1);
	free(s);
	base64(d, 32, &b64);
	json_object_set_new(o, "intent-digest", json_string(b64));
	free(b64);
	s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	smk_buf_reset(out);
	ck_assert(smk_buf_add(out, s, strlen(s)) == 0);
	free(s);
	json_decref(o);
}

START_TEST(audit_finds_tampered_certificate_records)
{
	EVP_PKEY *k = tu_keygen("P-256"), *k2 = tu_keygen("P-256");
	smk_buf cert = SMK_BUF_INIT, report = SMK_BUF_INIT, orig = SMK_BUF_INIT,
		edited = SMK_BUF_INIT;
	archive_record r1, r2;
	uint8_t zero[32];
	size_t at;
	smk_err e;

	make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, k, "apk", 2);
	make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, k2, "apk2", 3);
	make_cert(k, "Release key", &cert);
	ck_assert_uint_eq(import_cert(1, &cert), 3);
	get_record(1, &r1);
	get_record(2, &r2);
	ck_assert_int_eq(archive_get(P.a, 3, &orig, NULL, &e), 0);
	archive_close(P.a);
	P.a = NULL;

	ck_assert_msg(audit(&report) == 0, "%s", report.data);
	ck_assert_msg(has(&report, "certificate  -") && has(&report, "for record 1") &&
			  has(&report, "certificate CN=Release key, SHA-256 ") &&
			  has(&report, "4 records (1 archive key, 2 generated, 0 adopted, 1 "
				       "certificate)"),
		      "%s", report.data);

	/* one flipped byte in the certificate record (inside the DER) */
	smk_buf_reset(&edited);
	ck_assert(smk_buf_add(&edited, orig.data, orig.len) == 0);
	at = (size_t)((uint8_t *)memmem(edited.data, edited.len, "\"der\":\"", 7) - edited.data) +
	     60;
	edited.data[at] = edited.data[at] == 'A' ? 'B' : 'A';
	rewrite_record(3, &edited, 0);
	ck_assert_uint_gt(audit(&report), 0);
	ck_assert_msg(has(&report, "PROBLEM: record 3 (request "), "%s", report.data);

	/* the key-record hash changed (intent digest recomputed): the signed
	 * checkpoint no longer covers the log, and the hash no longer matches
	 * record 1 */
	memset(zero, 0x42, sizeof(zero));
	swap_key_hash(&orig, zero, &edited);
	rewrite_record(3, &edited, 0);
	ck_assert_uint_gt(audit(&report), 0);
	ck_assert_msg(has(&report, "checkpoint 4: root hash does not match records 0..3") &&
			  has(&report, "record 3 (certificate): key-record hash does not match "
				       "record 1"),
		      "%s", report.data);

	/* a checkpoint re-signed with the (stolen) archive key over the record
	 * pointing at another key record's hash: only the hash check can tell */
	swap_key_hash(&orig, r2.hash, &edited);
	rewrite_record(3, &edited, 1);
	ck_assert_uint_gt(audit(&report), 0);
	ck_assert_msg(has(&report, "record 3 (certificate): key-record hash does not match "
				   "record 1") &&
			  !has(&report, "root hash does not match"),
		      "%s", report.data);
	rewrite_record(3, &orig, 1);
	ck_assert_msg(audit(&report) == 0, "%s", report.data);
	archive_record_free(&r1);
	archive_record_free(&r2);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	smk_buf_free(&cert);
	smk_buf_free(&report);
	smk_buf_free(&orig);
	smk_buf_free(&edited);
}
END_TEST

/* Format 2 through smkey verify and smkey audit: the CAR in the device
 * section's words, the rest as the log's statement; a recovered key says
 * what its list rests on. */
START_TEST(recovered_record_verify_and_audit_wording)
{
	EVP_PKEY *k = tu_keygen("P-256");
	smk_buf out = SMK_BUF_INIT;
	archive_card_facts f;
	archfix_key fk;
	uint64_t seq;
	smk_err e;

	memset(&f, 0, sizeof(f));
	f.cvreq_from = ARCHIVE_CVREQ_RECOVERED;
	archfix_key_init(&P, &fk, ARCHIVE_KIND_KEY, "release-apk", apk_doc, k, "apk");
	fk.peer = peer(1000);
	fk.key_id = 2;
	fk.card = &f;
	ck_assert_msg(archfix_commit_key(&P, &fk, &seq, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(smkey_verify(seq, "", &out), 0);
	ck_assert_msg(has(&out, "ok  CV-REQ inner CAR UTCA00001, as the record states") &&
			  has(&out, "CAR          UTCA00001 (inside the CV request)") &&
			  has(&out, "CV request   RECOVERED: the card's answer under secure "
				    "messaging was lost; the CV request was read back from CE|02; "
				    "the algorithm list rests on the intent and the CHR only\n") &&
			  has(&out, "key domains  not reported by the card\n") &&
			  has(&out, "alg list     not reported by the card\n") &&
			  /* the CAR in the device's section, the rest in the log's */
			  strstr((char *)out.data, "CAR          ") <
			      strstr((char *)out.data, "Stated by log ") &&
			  strstr((char *)out.data, "Stated by log ") <
			      strstr((char *)out.data, "CV request   RECOVERED"),
		      "%s", out.data);
	ck_assert_uint_eq(audit(&out), 0);
	ck_assert_msg(has(&out, "        RECOVERED: the card's answer under secure messaging was "
				"lost") &&
			  has(&out, "1 recovered: read back from CE|id"),
		      "%s", out.data);
	smk_buf_free(&out);
	EVP_PKEY_free(k);
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
	tcase_add_test(tc, adopted_key_verifies_and_audits_as_adopted);
	tcase_add_test(tc, member_sets_per_kind);
	tcase_add_test(tc, certificate_intent_refusals);
	tcase_add_test(tc, pending_certificate_intent);
	tcase_add_test(tc, certificate_bundle_verifies);
	tcase_add_test(tc, certificate_bundle_changes_fail);
	tcase_add_test(tc, audit_finds_tampered_certificate_records);
	tcase_add_test(tc, recovered_record_verify_and_audit_wording);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(kinds_suite());
}
