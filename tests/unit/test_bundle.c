/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bundles verify offline with pinned roots only, and every change to what
 * they carry makes verification fail and name the thing. The device PKI is
 * a test one built with sm/cvc.h (root -> DICA -> DevAut), the way the
 * simulator answers GAKP: a CV request self-signed by the new key, wrapped
 * with an outer signature by the DevAut key, carrying the intent's CHR.
 * Also: smkey audit's checks over a tampered archive file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "archive/archive.h"
#include "archive/bundle.h"
#include "archive/checkpoint.h"
#include "archive/merkle.h"
#include "archive/record.h"
#include "archive/verify.h"
#include "tests/lib/archfix.h"
#include "tests/lib/testutil.h"
#include "sm/chain.h"
#include "sm/cvc.h"

#define ROOT_CHR "UTSRCAARC00001"
#define DICA_CHR "UTDIARC0100001"
#define DEV_CHR "UTARC10004200000" /* ref §4.2: serial = CHR minus the last 5 */
#define DEV_SERIAL "UTARC100042"
#define T0 1795000000 /* 2026-11-18 */

static archfix P;

static const archfix_cfg cfg = {
    .prefix = "smk-bundle",
    .root_chr = ROOT_CHR,
    .dica_chr = DICA_CHR,
    .dev_chr = DEV_CHR,
    .dev_serial = DEV_SERIAL,
    .dev_until = 2035,
    .req_car = "UTCA00001",
    .peer = {1000, 1000, 777, "/usr/bin/smkey"},
    .t0 = T0,
    .commit_after = 5,
};

static const char apk_doc[] =
    "{\"alg-list-hex\":\"73\",\"algorithms\":[{\"id\":115,\"name\":\"ecdsa-sha256\"}],"
    "\"name\":\"release-apk\",\"use-counter\":null}";
static const char fw_doc[] = "{\"alg-list-hex\":\"43\",\"algorithms\":[{\"id\":67,\"name\":"
			     "\"rsa-pss-sha256\"}],\"name\":\"firmware-rsa\",\"use-counter\":1000}";

static uint64_t make_key(const char *kind, const char *policy, const char *doc, EVP_PKEY *newkey,
			 const char *label, int sm_used)
{
	archfix_key k;
	uint64_t seq = 0;
	smk_err e;

	archfix_key_init(&P, &k, kind, policy, doc, newkey, label);
	k.sm_used = sm_used;
	ck_assert_msg(archfix_commit_key(&P, &k, &seq, &e) == 0, "%s", e.msg);
	return seq;
}

static void setup(void)
{
	archfix_setup(&P, &cfg);
}

static void teardown(void)
{
	archfix_teardown(&P);
}

static void export(uint64_t seq, smk_buf *out)
{
	smk_err e;

	ck_assert_msg(archive_export_bundle(P.a, seq, out, &e) == 0, "%s", e.msg);
}

static void sha256_hex(const smk_buf *b, char out[65])
{
	static const char d[] = "0123456789abcdef";
	uint8_t h[32];
	int i;

	ck_assert(EVP_Digest(b->data, b->len, h, NULL, EVP_sha256(), NULL) == 1);
	for (i = 0; i < 32; i++) {
		out[2 * i] = d[h[i] >> 4];
		out[2 * i + 1] = d[h[i] & 15];
	}
	out[64] = '\0';
}

START_TEST(bundle_verifies_offline)
{
	EVP_PKEY *apk = tu_keygen("P-256"), *fw = tu_keygen("RSA");
	smk_buf b1 = SMK_BUF_INIT, b2 = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	archive_verified v;
	char fp[65];
	smk_err e;

	ck_assert_uint_eq(make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, apk, "apk-2027", 1),
			  1);
	ck_assert_uint_eq(make_key(ARCHIVE_KIND_KEY, "firmware-rsa", fw_doc, fw, "fw-2027", 1), 2);
	export(1, &b1);
	export(2, &b2);
	/* no archive any more: the bundle is all there is */
	archive_close(P.a);
	P.a = NULL;
	ck_assert_int_eq(unlink(P.path), 0);

	ck_assert_msg(archive_verify_bundle(b1.data, b1.len, &P.trust, NULL, NULL, NULL, &v, &e) ==
			  ARCHIVE_VERIFY_UNPINNED,
		      "%s", e.msg);
	ck_assert_int_eq(cvc_spki_der(apk, &spki, &e), 0);
	sha256_hex(&spki, fp);
	ck_assert_str_eq(v.att.key_fp, fp);
	ck_assert_str_eq(v.att.key_type, "EC secp256r1");
	ck_assert_str_eq(v.att.chain.device_chr, DEV_CHR);
	ck_assert_str_eq(v.att.chain.root_chr, ROOT_CHR);
	ck_assert_str_eq(v.record.policy_name, "release-apk");
	ck_assert_str_eq(v.algorithms, "ecdsa-sha256 (0x73)");
	ck_assert_str_eq(v.record.label, "apk-2027");
	ck_assert_uint_eq(v.checkpoint_size, 3);
	smk_buf_reset(&spki);
	ck_assert_int_eq(cvc_spki_der(P.akey, &spki, &e), 0);
	sha256_hex(&spki, fp);
	ck_assert_str_eq(v.archive_key_fp, fp);
	ck_assert_int_eq(v.log_pinned, 0);
	archive_verified_free(&v);

	/* the bundle's log pinned: verified; another log pinned: refused */
	{
		archive_logpins pins = ARCHIVE_LOGPINS_INIT;
		archive_logkey mine;
		EVP_PKEY *other = tu_keygen("P-256");
		smk_buf ospki = SMK_BUF_INIT;
		archive_logkey theirs;

		ck_assert_msg(archive_logkey_of(spki.data, spki.len, &mine, &e) == 0, "%s", e.msg);
		ck_assert_int_eq(cvc_spki_der(other, &ospki, &e), 0);
		ck_assert_msg(archive_logkey_of(ospki.data, ospki.len, &theirs, &e) == 0, "%s",
			      e.msg);
		ck_assert_int_eq(archive_logpins_add(&pins, theirs.text, "test", &e), 0);
		ck_assert_int_eq(
		    archive_verify_bundle(b1.data, b1.len, &P.trust, &pins, NULL, NULL, &v, &e),
		    -1);
		ck_assert_int_eq(e.code, SMK_E_TRUST);
		ck_assert_msg(strstr(e.msg, mine.text) != NULL &&
				  strstr(e.msg, "is not among the pinned logs (1 pinned)") != NULL,
			      "%s", e.msg);
		ck_assert_int_eq(archive_logpins_add(&pins, mine.text, "test", &e), 0);
		ck_assert_msg(archive_verify_bundle(b1.data, b1.len, &P.trust, &pins, NULL, NULL,
						    &v, &e) == 0,
			      "%s", e.msg);
		ck_assert_int_eq(v.log_pinned, 1);
		ck_assert_str_eq(v.log.text, mine.text);
		ck_assert_str_eq(v.log.name, v.origin);
		archive_verified_free(&v);
		archive_logpins_free(&pins);
		smk_buf_free(&ospki);
		EVP_PKEY_free(other);
	}

	ck_assert_msg(archive_verify_bundle(b2.data, b2.len, &P.trust, NULL, NULL, NULL, &v, &e) ==
			  ARCHIVE_VERIFY_UNPINNED,
		      "%s", e.msg);
	ck_assert_str_eq(v.att.key_type, "RSA 2048");
	ck_assert_str_eq(v.algorithms, "rsa-pss-sha256 (0x43)");
	ck_assert_int_eq(v.record.use_counter, 1000);
	archive_verified_free(&v);

	/* with a different pinned root nothing verifies */
	{
		trust_store other = TRUST_STORE_INIT;
		smk_buf rc = SMK_BUF_INIT, dv = SMK_BUF_INIT, dc = SMK_BUF_INIT;
		EVP_PKEY *r2 = tu_keygen("brainpoolP256r1");

		archfix_build_pki(&P, r2, "UTSRCAOTHER001", &other, &rc, &dv, &dc);
		ck_assert_int_eq(
		    archive_verify_bundle(b1.data, b1.len, &other, NULL, NULL, NULL, &v, &e), -1);
		ck_assert_int_eq(e.code, SMK_E_TRUST);
		ck_assert_msg(strstr(e.msg, "archive key") != NULL, "%s", e.msg);
		trust_free(&other);
		smk_buf_free(&rc);
		smk_buf_free(&dv);
		smk_buf_free(&dc);
		EVP_PKEY_free(r2);
	}
	EVP_PKEY_free(apk);
	EVP_PKEY_free(fw);
	smk_buf_free(&b1);
	smk_buf_free(&b2);
	smk_buf_free(&spki);
}
END_TEST

/* The bundle as JSON, one member changed, verified: must fail naming what. */
static void expect_failure(const smk_buf *bundle, void (*edit)(json_t *o, void *ctx), void *ctx,
			   const char *name, const char *expect)
{
	json_t *o = json_loadb((const char *)bundle->data, bundle->len, 0, NULL);
	archive_verified v;
	char *s;
	smk_err e;

	ck_assert_ptr_nonnull(o);
	edit(o, ctx);
	s = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));
	ck_assert_msg(archive_verify_bundle((const uint8_t *)s, strlen(s), &P.trust, NULL, NULL,
					    NULL, &v, &e) == -1,
		      "%s: verified", name);
	ck_assert_msg(strstr(e.msg, expect) != NULL, "%s: message \"%s\" lacks \"%s\"", name, e.msg,
		      expect);
	free(s);
	json_decref(o);
}

static void decode_member(json_t *o, const char *key, smk_buf *out)
{
	const char *s = json_string_value(json_object_get(o, key));
	size_t len;
	uint8_t *tmp;
	int n;

	ck_assert_ptr_nonnull(s);
	len = strlen(s);
	tmp = malloc(len + 1);
	n = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len);
	ck_assert_int_ge(n, 0);
	while (len && s[len - 1] == '=') {
		len--;
		n--;
	}
	ck_assert(smk_buf_add(out, tmp, (size_t)n) == 0);
	free(tmp);
}

static void encode_member(json_t *o, const char *key, const smk_buf *b)
{
	char *s = malloc(4 * ((b->len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)s, b->data, (int)b->len);
	json_object_set_new(o, key, json_string(s));
	free(s);
}

/* flip one bit at offset *ctx of a base64 member */
struct flip {
	const char *key;
	size_t at;
};

static void flip_member(json_t *o, void *ctx)
{
	struct flip *f = ctx;
	smk_buf b = SMK_BUF_INIT;

	decode_member(o, f->key, &b);
	ck_assert_uint_lt(f->at, b.len);
	b.data[f->at] ^= 0x01;
	encode_member(o, f->key, &b);
	smk_buf_free(&b);
}

/* change a field of the record, keep the canonical form */
struct field {
	const char *path, *key;
	json_t *value;
};

static void set_record_field(json_t *o, void *ctx)
{
	struct field *f = ctx;
	smk_buf b = SMK_BUF_INIT;
	json_t *r, *parent;
	char *s;

	decode_member(o, "record", &b);
	r = json_loadb((const char *)b.data, b.len, 0, NULL);
	parent = f->path ? json_object_get(r, f->path) : r;
	ck_assert_ptr_nonnull(parent);
	json_object_set(parent, f->key, f->value);
	s = json_dumps(r, JSON_SORT_KEYS | JSON_COMPACT);
	smk_buf_reset(&b);
	ck_assert(smk_buf_add(&b, s, strlen(s)) == 0);
	encode_member(o, "record", &b);
	free(s);
	json_decref(r);
	smk_buf_free(&b);
}

static void replace_archive_key(json_t *o, void *ctx)
{
	smk_buf spki = SMK_BUF_INIT;
	smk_err e;

	ck_assert_int_eq(cvc_spki_der(ctx, &spki, &e), 0);
	encode_member(o, "archive-key", &spki);
	smk_buf_free(&spki);
}

static void change_checkpoint_size(json_t *o, void *ctx)
{
	const char *note = json_string_value(json_object_get(o, "checkpoint"));
	char *copy = strdup(note), *nl = strchr(copy, '\n');

	(void)ctx;
	nl[1] = nl[1] == '9' ? '8' : nl[1] + 1;
	json_object_set_new(o, "checkpoint", json_string(copy));
	free(copy);
}

static void flip_proof_hash(json_t *o, void *ctx)
{
	json_t *hashes = json_object_get(json_object_get(o, ctx), "hashes");
	smk_buf b = SMK_BUF_INIT;
	json_t *wrap = json_object();

	json_object_set(wrap, "h", json_array_get(hashes, 0));
	decode_member(wrap, "h", &b);
	b.data[5] ^= 0x10;
	encode_member(wrap, "h", &b);
	json_array_set(hashes, 0, json_object_get(wrap, "h"));
	json_decref(wrap);
	smk_buf_free(&b);
}

/* a signature for a format-3 record (record 0's, the only one at hand) */
static void add_record_signature(json_t *o, void *ctx)
{
	(void)ctx;
	json_object_set(o, "record-signature", json_object_get(o, "archive-key-signature"));
}

static void set_index(json_t *o, void *ctx)
{
	(void)ctx;
	json_object_set_new(json_object_get(o, "inclusion"), "index", json_integer(0));
}

START_TEST(every_change_fails_and_is_named)
{
	EVP_PKEY *apk = tu_keygen("P-256"), *other = tu_keygen("P-256");
	smk_buf b = SMK_BUF_INIT, cvreq = SMK_BUF_INIT;
	json_t *o;
	size_t i;

	ck_assert_uint_eq(make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, apk, "apk-2027", 1),
			  1);
	ck_assert_uint_eq(make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, other, "other", 1), 2);
	export(1, &b);

	/* any field of the record (format 3, no signature of its own): its leaf
	 * no longer leads to the root the archive key signed */
	{
		struct field cases[] = {
		    {NULL, "time", json_integer(T0 + 6)},
		    {NULL, "seq", json_integer(2)},
		    {"key", "label", json_string("apk-2028")},
		    {"sm", "protocol", json_string("id-CA-ECDH-3DES-CBC-CBC")},
		};
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			/* another seq: the proof is for another leaf */
			expect_failure(
			    &b, set_record_field, &cases[i], cases[i].key,
			    strcmp(cases[i].key, "seq") == 0
				? "inclusion proof is for leaf 1, not record 2"
				: "record 1 in checkpoint size 3: inclusion proof: leaf 1 "
				  "does not lead to the root");
			json_decref(cases[i].value);
		}
	}
	/* fields bound inside the record are named before the signature */
	{
		struct field peer = {"intent", "key-id", json_integer(9)};

		expect_failure(&b, set_record_field, &peer, "intent", "intent digest");
		json_decref(peer.value);
	}
	expect_failure(&b, add_record_signature, NULL, "record signature",
		       "record 1 is of format 3 and has no signature of its own");
	{
		struct flip f = {"archive-key-signature", 10};

		expect_failure(&b, flip_member, &f, "archive key signature",
			       "archive key record 0: signature by itself");
	}
	expect_failure(&b, replace_archive_key, other, "archive key",
		       "not the key of archive record 0");
	expect_failure(&b, change_checkpoint_size, NULL, "checkpoint", "checkpoint");
	expect_failure(&b, flip_proof_hash, "inclusion", "inclusion proof", "inclusion proof");
	expect_failure(&b, flip_proof_hash, "archive-key-inclusion", "key inclusion proof",
		       "inclusion proof");
	expect_failure(&b, set_index, NULL, "proof index", "inclusion proof");
	/* every byte of the CV-REQ the bundle carries */
	o = json_loadb((const char *)b.data, b.len, 0, NULL);
	decode_member(o, "cvreq", &cvreq);
	json_decref(o);
	for (i = 0; i < cvreq.len; i++) {
		struct flip f = {"cvreq", i};

		expect_failure(&b, flip_member, &f, "cvreq", "CV-REQ differs from the record's");
	}
	{
		struct flip f = {"device-chain", 40};

		expect_failure(&b, flip_member, &f, "device chain",
			       "device chain differs from the record's");
	}
	/* truncated bundles (up to the final "}": without the newline after it
	 * the bundle is whole) */
	for (i = 0; i + 1 < b.len; i += 13) {
		archive_verified v;
		smk_err e;

		ck_assert_int_eq(
		    archive_verify_bundle(b.data, i, &P.trust, NULL, NULL, NULL, &v, &e), -1);
	}
	EVP_PKEY_free(apk);
	EVP_PKEY_free(other);
	smk_buf_free(&b);
	smk_buf_free(&cvreq);
}
END_TEST

/* The proof member key as JSON: index, size and the hashes of proof. */
static void set_proof(json_t *o, const char *key, uint64_t index, uint64_t size,
		      const smk_buf *proof)
{
	json_t *p = json_object(), *hashes = json_array();
	smk_buf h = SMK_BUF_INIT;
	size_t i;

	for (i = 0; i + 32 <= proof->len; i += 32) {
		json_t *one = json_object();

		smk_buf_reset(&h);
		ck_assert(smk_buf_add(&h, proof->data + i, 32) == 0);
		encode_member(one, "h", &h);
		json_array_append(hashes, json_object_get(one, "h"));
		json_decref(one);
	}
	json_object_set_new(p, "index", json_integer((json_int_t)index));
	json_object_set_new(p, "size", json_integer((json_int_t)size));
	json_object_set_new(p, "hashes", hashes);
	json_object_set_new(o, key, p);
	smk_buf_free(&h);
}

/* What a thief of the archive key can do to a format-3 record of a bundle
 * of a two-record log: a checkpoint signed over the changed record, and the
 * inclusion proofs into it. */
static void resign_checkpoint(json_t *o, const smk_buf *rec)
{
	smk_buf key_rec = SMK_BUF_INIT, proof = SMK_BUF_INIT, note = SMK_BUF_INIT;
	uint8_t leaves[2][32];
	archive_checkpoint cp;
	smk_err e;

	decode_member(o, "archive-key-record", &key_rec);
	ck_assert_int_eq(merkle_leaf_hash(key_rec.data, key_rec.len, leaves[0], &e), 0);
	ck_assert_int_eq(merkle_leaf_hash(rec->data, rec->len, leaves[1], &e), 0);
	memset(&cp, 0, sizeof(cp));
	ck_assert_int_eq(archive_checkpoint_origin(P.akey, cp.origin, &e), 0);
	cp.size = 2;
	ck_assert_int_eq(merkle_root((const uint8_t(*)[32])leaves, 2, cp.root, &e), 0);
	ck_assert_int_eq(archive_checkpoint_sign(&cp, &P.signer, &note, &e), 0);
	json_object_set_new(o, "checkpoint", json_stringn((const char *)note.data, note.len));
	ck_assert_int_eq(merkle_inclusion_proof((const uint8_t(*)[32])leaves, 2, 1, &proof, &e), 0);
	set_proof(o, "inclusion", 1, 2, &proof);
	smk_buf_reset(&proof);
	ck_assert_int_eq(merkle_inclusion_proof((const uint8_t(*)[32])leaves, 2, 0, &proof, &e), 0);
	set_proof(o, "archive-key-inclusion", 0, 2, &proof);
	smk_buf_free(&key_rec);
	smk_buf_free(&proof);
	smk_buf_free(&note);
}

/* A record in a checkpoint re-signed by a stolen archive key still has to
 * carry what the device signed: the attestation catches a changed CV-REQ or
 * device chain. */
START_TEST(attestation_holds_even_against_the_archive_key)
{
	EVP_PKEY *apk = tu_keygen("P-256");
	smk_buf b = SMK_BUF_INIT, rec = SMK_BUF_INIT;
	archive_record r;
	archive_verified v;
	json_t *o, *ro;
	smk_err e;
	size_t i;
	static const struct {
		const char *path, *key;
		size_t offset;
		const char *expect;
	} cases[] = {
	    {"key", "cvreq", 470, "CV-REQ"}, /* outer signature bytes */
	    {"key", "cvreq", 300, "CV-REQ"}, /* public key / domain parameters */
	    {"device", "devaut", 30, "device chain"},
	    {"device", "dica", 60, "device chain"},
	};

	ck_assert_uint_eq(make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, apk, "apk-2027", 1),
			  1);
	export(1, &b);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		smk_buf field = SMK_BUF_INIT;
		char *s;

		o = json_loadb((const char *)b.data, b.len, 0, NULL);
		smk_buf_reset(&rec);
		decode_member(o, "record", &rec);
		ro = json_loadb((const char *)rec.data, rec.len, 0, NULL);
		decode_member(json_object_get(ro, cases[i].path), cases[i].key, &field);
		ck_assert_uint_lt(cases[i].offset, field.len);
		field.data[cases[i].offset] ^= 0x01;
		encode_member(json_object_get(ro, cases[i].path), cases[i].key, &field);
		/* keep the bundle's copies equal to the record's */
		if (strcmp(cases[i].key, "cvreq") == 0)
			encode_member(o, "cvreq", &field);
		s = json_dumps(ro, JSON_SORT_KEYS | JSON_COMPACT);
		smk_buf_reset(&rec);
		ck_assert(smk_buf_add(&rec, s, strlen(s)) == 0);
		free(s);
		encode_member(o, "record", &rec);
		ck_assert_int_eq(archive_record_parse(rec.data, rec.len, &r, &e), 0);
		resign_checkpoint(o, &rec);
		if (strcmp(cases[i].path, "device") == 0) {
			smk_buf chain = SMK_BUF_INIT;

			ck_assert(smk_buf_add(&chain, r.devaut.data, r.devaut.len) == 0);
			ck_assert(smk_buf_add(&chain, r.dica.data, r.dica.len) == 0);
			encode_member(o, "device-chain", &chain);
			smk_buf_free(&chain);
		}
		archive_record_free(&r);
		s = json_dumps(o, JSON_SORT_KEYS);
		ck_assert_int_eq(archive_verify_bundle((const uint8_t *)s, strlen(s), &P.trust,
						       NULL, NULL, NULL, &v, &e),
				 -1);
		ck_assert_msg(strstr(e.msg, "record 1 (apk-2027)") != NULL &&
				  strstr(e.msg, cases[i].expect) != NULL,
			      "case %zu: %s", i, e.msg);
		free(s);
		json_decref(ro);
		json_decref(o);
		smk_buf_free(&field);
	}
	EVP_PKEY_free(apk);
	smk_buf_free(&b);
	smk_buf_free(&rec);
}
END_TEST

START_TEST(archive_key_must_be_sign_only_and_under_sm)
{
	static const char wide[] =
	    "{\"alg-list-hex\":\"7073\",\"algorithms\":[{\"id\":112,\"name\":"
	    "\"ecdsa\"},{\"id\":115,\"name\":\"ecdsa-sha256\"}],"
	    "\"name\":\"wide\"}";
	EVP_PKEY *apk = tu_keygen("P-256");
	smk_buf b = SMK_BUF_INIT;
	archive_verified v;
	smk_err e;

	/* a fresh archive whose key was made under a wider policy */
	archive_close(P.a);
	ck_assert_int_eq(unlink(P.path), 0);
	ck_assert_int_eq(archive_open(P.path, ARCHIVE_OPEN_CREATE, &P.a, &e), 0);
	ck_assert_uint_eq(make_key(ARCHIVE_KIND_ARCHIVE_KEY, "wide", wide, P.akey, "a", 1), 0);
	ck_assert_uint_eq(make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, apk, "apk", 1), 1);
	export(1, &b);
	ck_assert_int_eq(archive_verify_bundle(b.data, b.len, &P.trust, NULL, NULL, NULL, &v, &e),
			 -1);
	ck_assert_msg(strstr(e.msg, "not sign-only") != NULL, "%s", e.msg);
	smk_buf_reset(&b);

	/* a key made without secure messaging */
	archive_close(P.a);
	ck_assert_int_eq(unlink(P.path), 0);
	ck_assert_int_eq(archive_open(P.path, ARCHIVE_OPEN_CREATE, &P.a, &e), 0);
	ck_assert_uint_eq(make_key(ARCHIVE_KIND_ARCHIVE_KEY, ARCHIVE_KEY_POLICY_NAME,
				   (const char *)P.keydoc.data, P.akey, "a", 1),
			  0);
	ck_assert_uint_eq(make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, apk, "plain", 0), 1);
	export(1, &b);
	ck_assert_int_eq(archive_verify_bundle(b.data, b.len, &P.trust, NULL, NULL, NULL, &v, &e),
			 -1);
	ck_assert_msg(strstr(e.msg, "secure messaging") != NULL, "%s", e.msg);
	EVP_PKEY_free(apk);
	smk_buf_free(&b);
}
END_TEST

/* --- audit over a tampered archive file --- */

static unsigned audit(const uint8_t *since, size_t since_len, smk_buf *report)
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
	o.since = since;
	o.since_len = since_len;
	o.path = P.path;
	ck_assert_msg(archive_open(P.path, ARCHIVE_OPEN_READONLY, &ro, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_audit(ro, &o, f, &problems, &e) == 0, "%s", e.msg);
	archive_close(ro);
	fclose(f);
	smk_buf_reset(report);
	ck_assert(smk_buf_add(report, text, len) == 0 && smk_buf_add_byte(report, 0) == 0);
	free(text);
	return problems;
}

static void sql(const char *stmt)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(P.path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, stmt, NULL, NULL, NULL) == SQLITE_OK, "%s",
		      sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* flip the lowest bit of needle[at] where needle first occurs in the file */
static void flip_in_file(const char *needle, size_t at)
{
	FILE *f = fopen(P.path, "r+b");
	smk_buf all = SMK_BUF_INIT;
	uint8_t chunk[4096];
	size_t n;
	uint8_t *hit;

	ck_assert_ptr_nonnull(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ck_assert(smk_buf_add(&all, chunk, n) == 0);
	hit = memmem(all.data, all.len, needle, strlen(needle));
	ck_assert_msg(hit != NULL, "%s not in the file", needle);
	ck_assert_int_eq(fseek(f, (long)(hit + at - all.data), SEEK_SET), 0);
	fputc(hit[at] ^ 0x01, f);
	fclose(f);
	smk_buf_free(&all);
}

START_TEST(audit_names_what_was_tampered_with)
{
	smk_buf report = SMK_BUF_INIT, old = SMK_BUF_INIT;
	uint64_t size;
	EVP_PKEY *k;
	int i;
	char label[16];
	smk_err e;

	for (i = 1; i <= 5; i++) {
		k = tu_keygen("P-256");
		snprintf(label, sizeof(label), "key-%d", i);
		make_key(ARCHIVE_KIND_KEY, "release-apk", apk_doc, k, label, 1);
		EVP_PKEY_free(k);
	}
	ck_assert_int_eq(archive_latest_checkpoint(P.a, &old, &size, &e), 0);
	ck_assert_uint_eq(size, 6);
	/* an interrupted request shows in the report without being a problem */
	{
		archive_intent_req ir;
		archive_intent_info info;

		memset(&ir, 0, sizeof(ir));
		ir.kind = ARCHIVE_KIND_KEY;
		ir.policy_name = "release-apk";
		ir.policy_doc = (const uint8_t *)apk_doc;
		ir.policy_doc_len = strlen(apk_doc);
		ir.device_serial = DEV_SERIAL;
		ir.devaut_chr = DEV_CHR;
		ir.key_id = 7;
		ck_assert_int_eq(archive_intent(P.a, &ir, &info, &e), 0);
		archive_close(P.a);
		P.a = NULL;
		ck_assert_uint_eq(audit(old.data, old.len, &report), 0);
		ck_assert(strstr((char *)report.data, info.request_id) != NULL);
		ck_assert(strstr((char *)report.data, "all checks hold") != NULL);
	}

	/* one byte of record 3 in the SQLite file */
	flip_in_file("\"label\":\"key-3\"", 9);
	ck_assert_uint_gt(audit(NULL, 0, &report), 0);
	/* format 3: the next record's hash chain and every signed checkpoint
	 * over it tell */
	ck_assert_msg(strstr((char *)report.data,
			     "record 4 (key-4): previous-record hash does not match record 3") !=
			      NULL &&
			  strstr((char *)report.data,
				 "checkpoint 6: root hash does not match records 0..5") != NULL,
		      "%s", report.data);
	/* --since trusts what the earlier checkpoint (size 6) covers: an
	 * earlier audit verified it, and only later records are read */
	ck_assert_uint_eq(audit(old.data, old.len, &report), 0);
	flip_in_file("\"label\":\"jey-3\"", 9); /* and back */
	ck_assert_uint_eq(audit(old.data, old.len, &report), 0);

	/* a deleted row */
	sql("DROP TRIGGER records_no_delete; DELETE FROM records WHERE seq = 2");
	ck_assert_uint_gt(audit(NULL, 0, &report), 0);
	ck_assert_msg(strstr((char *)report.data, "record 2 is missing (a deleted row)") != NULL,
		      "%s", report.data);
	ck_assert(strstr((char *)report.data, "outcome says record 2, which is missing") != NULL);

	/* truncated: the earlier checkpoint (size 6) is no longer consistent */
	sql("DELETE FROM records WHERE seq >= 3; DROP TRIGGER checkpoints_no_delete;"
	    " DELETE FROM checkpoints WHERE size > 2");
	ck_assert_uint_gt(audit(old.data, old.len, &report), 0);
	ck_assert_msg(strstr((char *)report.data, "it was truncated") != NULL, "%s", report.data);
	smk_buf_free(&report);
	smk_buf_free(&old);
}
END_TEST

static Suite *bundle_suite(void)
{
	Suite *s = suite_create("bundle");
	TCase *tc = tcase_create("verify");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, bundle_verifies_offline);
	tcase_add_test(tc, every_change_fails_and_is_named);
	tcase_add_test(tc, attestation_holds_even_against_the_archive_key);
	tcase_add_test(tc, archive_key_must_be_sign_only_and_under_sm);
	tcase_add_test(tc, audit_names_what_was_tampered_with);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(bundle_suite());
}
