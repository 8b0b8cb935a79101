/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * APK signer certificates (apk/apk.h), for smkey verify --apk: the fixture
 * APKs of tests/data/apk (signed by apksigner, see its README) give each
 * scheme's signers with the right certificate and key, compared with the
 * signers' certificates; APK Signing Blocks built here reach every check of
 * the parser (lengths, sizes, duplicates, a public key field that is not the
 * certificate's); truncated and flipped APKs fail with a message that names
 * the place, never with a crash or a partial answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "apk/apk.h"
#include "common/digest.h"
#include "sm/x509.h"
#include "tests/lib/testutil.h"

static const char dir[] = "tests/data/apk/";

static void read_fixture(smk_buf *b, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s%s", dir, name);
	tu_read_source_file(b, path);
}

/* The DER and SPKI DER of tests/data/apk/signer-NAME.pem. */
static void signer_cert(const char *name, smk_buf *der, smk_buf *spki)
{
	smk_buf pem = SMK_BUF_INIT;
	char file[64];
	const uint8_t *q;
	uint8_t *out = NULL;
	smk_err e;
	X509 *x;
	int len;

	snprintf(file, sizeof(file), "signer-%s.pem", name);
	read_fixture(&pem, file);
	ck_assert_int_eq(x509_load_cert(pem.data, pem.len, der, &e), 0);
	q = der->data;
	x = d2i_X509(NULL, &q, (long)der->len);
	ck_assert_ptr_nonnull(x);
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &out);
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(smk_buf_add(spki, out, (size_t)len), 0);
	OPENSSL_free(out);
	X509_free(x);
	smk_buf_free(&pem);
}

static int read_apk(const char *name, apk_signers *s, smk_err *e)
{
	smk_buf b = SMK_BUF_INIT;
	int rc;

	read_fixture(&b, name);
	rc = apk_read_signers(b.data, b.len, s, e);
	smk_buf_free(&b);
	return rc;
}

/* Signer i is of scheme sc, index idx, and holds the key of signer NAME. */
static void assert_signer(const apk_signers *s, size_t i, enum apk_scheme sc, unsigned idx,
			  const char *name)
{
	smk_buf der = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	char subject[64], hex[65];
	smk_err e;

	ck_assert_uint_lt(i, s->n);
	signer_cert(name, &der, &spki);
	ck_assert_int_eq(s->v[i].scheme, sc);
	ck_assert_uint_eq(s->v[i].index, idx);
	ck_assert(apk_signer_holds(&s->v[i], spki.data, spki.len));
	ck_assert_uint_eq(s->v[i].cert.len, der.len);
	ck_assert_mem_eq(s->v[i].cert.data, der.data, der.len);
	snprintf(subject, sizeof(subject), "CN=Test signer %c", name[0] - 'a' + 'A');
	ck_assert_str_eq(s->v[i].subject, subject);
	ck_assert_int_eq(smk_sha256_hex(spki.data, spki.len, hex, &e), 0);
	ck_assert_str_eq(s->v[i].spki_sha256, hex);
	ck_assert_int_eq(smk_sha256_hex(der.data, der.len, hex, &e), 0);
	ck_assert_str_eq(s->v[i].cert_sha256, hex);
	smk_buf_free(&der);
	smk_buf_free(&spki);
}

static void assert_not_holds(const apk_signers *s, size_t i, const char *name)
{
	smk_buf der = SMK_BUF_INIT, spki = SMK_BUF_INIT;

	signer_cert(name, &der, &spki);
	ck_assert(!apk_signer_holds(&s->v[i], spki.data, spki.len));
	/* one byte less is another key too */
	ck_assert(!apk_signer_holds(&s->v[i], spki.data, spki.len - 1));
	smk_buf_free(&der);
	smk_buf_free(&spki);
}

/* What each fixture (tests/data/apk/README.md) must give: its schemes, and
 * per signer in order the scheme, index, whose key it holds, where (v1:
 * the entry), and a key it does not hold. */
struct fixture_signer {
	enum apk_scheme scheme;
	unsigned index;
	const char *holds, *where, *not_holds;
};
static const struct fixture {
	const char *file;
	unsigned schemes;
	int has_block;
	size_t n;
	struct fixture_signer s[4];
} fixtures[] = {
    {"a-v1v2v3.apk",
     1u << APK_V1 | 1u << APK_V2 | 1u << APK_V3,
     1,
     3,
     {{APK_V1, 1, "a", "META-INF/A.EC", "b"},
      {APK_V2, 1, "a", NULL, "b"},
      {APK_V3, 1, "a", NULL, "c"}}},
    {"b-v1.apk", 1u << APK_V1, 0, 1, {{APK_V1, 1, "b", "META-INF/B.EC", "a"}}},
    {"ac-v1v2.apk",
     1u << APK_V1 | 1u << APK_V2,
     1,
     4,
     {{APK_V1, 1, "a", "META-INF/A.EC", "c"},
      {APK_V1, 2, "c", "META-INF/C.RSA", "a"},
      {APK_V2, 1, "a", NULL, "c"},
      {APK_V2, 2, "c", NULL, "a"}}},
    /* key rotation: v3 names the new key, v1 and v2 the old one */
    {"ab-rotated.apk",
     1u << APK_V1 | 1u << APK_V2 | 1u << APK_V3,
     1,
     3,
     {{APK_V1, 1, "a", "META-INF/A.EC", "b"},
      {APK_V2, 1, "a", NULL, "b"},
      {APK_V3, 1, "b", NULL, "a"}}},
    {"unsigned.apk", 0, 0, 0, {{0, 0, NULL, NULL, NULL}}},
};

START_TEST(test_fixture)
{
	const struct fixture *f = &fixtures[_i];
	apk_signers s = APK_SIGNERS_INIT;
	size_t k;
	smk_err e;

	ck_assert_msg(read_apk(f->file, &s, &e) == 0, "%s: %s", f->file, e.msg);
	ck_assert_uint_eq(s.schemes, f->schemes);
	ck_assert_int_eq(s.has_block, f->has_block);
	ck_assert_uint_eq(s.n, f->n);
	for (k = 0; k < f->n; k++) {
		assert_signer(&s, k, f->s[k].scheme, f->s[k].index, f->s[k].holds);
		assert_not_holds(&s, k, f->s[k].not_holds);
		ck_assert_uint_eq(s.v[k].ncerts, 1);
		if (f->s[k].where)
			ck_assert_str_eq(s.v[k].where, f->s[k].where);
		else
			ck_assert(strncmp(s.v[k].where, "offset ", 7) == 0);
	}
	apk_signers_free(&s);
}
END_TEST

/* Every prefix of a signed APK fails: the EOCD is gone, or (for the one
 * prefix ending in a full EOCD but not in the file's, none here) cleanly. */
START_TEST(test_truncated)
{
	smk_buf b = SMK_BUF_INIT;
	apk_signers s = APK_SIGNERS_INIT;
	smk_err e;
	size_t n;

	read_fixture(&b, "a-v1v2v3.apk");
	for (n = 0; n < b.len; n++) {
		uint8_t *copy = malloc(n ? n : 1);

		memcpy(copy, b.data, n);
		ck_assert_int_eq(apk_read_signers(copy, n, &s, &e), -1);
		ck_assert_uint_eq(s.n, 0);
		ck_assert_ptr_null(s.v);
		ck_assert(strstr(e.msg, "End of Central Directory") != NULL);
		free(copy);
	}
	smk_buf_free(&b);
}
END_TEST

/* ---- APK Signing Blocks built here ---- */

static void put32(smk_buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	ck_assert_int_eq(smk_buf_add(b, x, 4), 0);
}

static void put64(smk_buf *b, uint64_t v)
{
	put32(b, (uint32_t)v);
	put32(b, (uint32_t)(v >> 32));
}

/* uint32 length, then the bytes; the source is freed */
static void lp(smk_buf *out, smk_buf *in)
{
	put32(out, (uint32_t)in->len);
	ck_assert_int_eq(smk_buf_add(out, in->data, in->len), 0);
	smk_buf_free(in);
}

/* One signer of scheme v2 (v3 when v3), certificates certs[0..n), public
 * key field pk; digest and signature are placeholders (not checked). */
static void signer(smk_buf *seq, int v3, const smk_buf *certs, size_t n, const smk_buf *pk)
{
	smk_buf sd = SMK_BUF_INIT, x = SMK_BUF_INIT, y = SMK_BUF_INIT, one = SMK_BUF_INIT;
	uint8_t zero[64] = {0};
	size_t i;

	put32(&y, 0x0201);
	ck_assert_int_eq(smk_buf_add(&x, zero, 32), 0);
	lp(&y, &x);
	lp(&x, &y);
	lp(&sd, &x); /* digests */
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(smk_buf_add(&y, certs[i].data, certs[i].len), 0);
		lp(&x, &y);
	}
	lp(&sd, &x); /* certificates */
	if (v3) {
		put32(&sd, 24);
		put32(&sd, 0x7fffffff);
	}
	lp(&sd, &x); /* additional attributes: none */
	lp(&one, &sd);
	if (v3) {
		put32(&one, 24);
		put32(&one, 0x7fffffff);
	}
	put32(&y, 0x0201);
	ck_assert_int_eq(smk_buf_add(&x, zero, 64), 0);
	lp(&y, &x);
	lp(&x, &y);
	lp(&one, &x); /* signatures */
	ck_assert_int_eq(smk_buf_add(&x, pk->data, pk->len), 0);
	lp(&one, &x);
	lp(seq, &one);
}

/* A pair of the signing block: ID and the signer sequence seq (freed). */
static void pair(smk_buf *pairs, uint32_t id, smk_buf *seq)
{
	smk_buf v = SMK_BUF_INIT;

	lp(&v, seq);
	put64(pairs, v.len + 4);
	put32(pairs, id);
	ck_assert_int_eq(smk_buf_add(pairs, v.data, v.len), 0);
	smk_buf_free(&v);
}

static void block(smk_buf *out, smk_buf *pairs)
{
	put64(out, pairs->len + 24);
	ck_assert_int_eq(smk_buf_add(out, pairs->data, pairs->len), 0);
	put64(out, pairs->len + 24);
	ck_assert_int_eq(smk_buf_add(out, "APK Sig Block 42", 16), 0);
	smk_buf_free(pairs);
}

static uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The central directory offset of a fixture without ZIP comment. */
static uint32_t cd_offset_of(const char *name)
{
	smk_buf u = SMK_BUF_INIT;
	uint32_t cd;

	read_fixture(&u, name);
	cd = le32_at(u.data + u.len - 22 + 16);
	smk_buf_free(&u);
	return cd;
}

/* unsigned.apk with blk inserted before its central directory */
static void apk_with(smk_buf *apk, const smk_buf *blk)
{
	smk_buf u = SMK_BUF_INIT;
	uint8_t *eocd;
	uint32_t cd;

	read_fixture(&u, "unsigned.apk");
	cd = cd_offset_of("unsigned.apk");
	ck_assert_int_eq(smk_buf_add(apk, u.data, cd), 0);
	ck_assert_int_eq(smk_buf_add(apk, blk->data, blk->len), 0);
	ck_assert_int_eq(smk_buf_add(apk, u.data + cd, u.len - cd), 0);
	cd += (uint32_t)blk->len;
	eocd = apk->data + apk->len - 22;
	eocd[16] = (uint8_t)cd;
	eocd[17] = (uint8_t)(cd >> 8);
	eocd[18] = (uint8_t)(cd >> 16);
	eocd[19] = (uint8_t)(cd >> 24);
	smk_buf_free(&u);
}

struct keys {
	smk_buf a, b, spki_a, spki_b;
};

static void keys_load(struct keys *k)
{
	memset(k, 0, sizeof(*k));
	signer_cert("a", &k->a, &k->spki_a);
	signer_cert("b", &k->b, &k->spki_b);
}

static void keys_free(struct keys *k)
{
	smk_buf_free(&k->a);
	smk_buf_free(&k->b);
	smk_buf_free(&k->spki_a);
	smk_buf_free(&k->spki_b);
}

/* v2 by A with B's certificate second in its sequence, v3 and v3.1 by B */
/* unsigned.apk with a block of v2 by A (B's certificate second in its
 * sequence), an unknown pair, v3 and v3.1 by B */
static void built_apk(const struct keys *k, smk_buf *blk, smk_buf *apk)
{
	smk_buf seq = SMK_BUF_INIT, pairs = SMK_BUF_INIT, certs[2];

	certs[0] = k->a;
	certs[1] = k->b;
	signer(&seq, 0, certs, 2, &k->spki_a);
	pair(&pairs, APK_BLOCK_V2, &seq);
	put64(&pairs, 4 + 3); /* an unknown pair: skipped */
	put32(&pairs, 0x42726577);
	ck_assert_int_eq(smk_buf_add(&pairs, "abc", 3), 0);
	signer(&seq, 1, &k->b, 1, &k->spki_b);
	pair(&pairs, APK_BLOCK_V3, &seq);
	signer(&seq, 1, &k->b, 1, &k->spki_b);
	pair(&pairs, APK_BLOCK_V31, &seq);
	block(blk, &pairs);
	apk_with(apk, blk);
}

START_TEST(test_built_block)
{
	struct keys k;
	smk_buf blk = SMK_BUF_INIT, apk = SMK_BUF_INIT;
	apk_signers s = APK_SIGNERS_INIT;
	smk_err e;

	keys_load(&k);
	built_apk(&k, &blk, &apk);
	ck_assert_msg(apk_read_signers(apk.data, apk.len, &s, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(s.schemes, 1u << APK_V2 | 1u << APK_V3 | 1u << APK_V31);
	ck_assert_uint_eq(s.n, 3);
	assert_signer(&s, 0, APK_V2, 1, "a");
	ck_assert_uint_eq(s.v[0].ncerts, 2);
	assert_signer(&s, 1, APK_V3, 1, "b");
	assert_signer(&s, 2, APK_V31, 1, "b");
	ck_assert_str_eq(apk_scheme_name(s.v[2].scheme), "v3.1");
	/* it starts where the unsigned APK's central directory did */
	ck_assert_uint_eq(s.block_offset, cd_offset_of("unsigned.apk"));
	apk_signers_free(&s);
	smk_buf_free(&blk);
	smk_buf_free(&apk);
	keys_free(&k);
}
END_TEST

/* One flipped byte anywhere in the v1-only fixture (libzip, PKCS#7) and in
 * the built v2/v3/v3.1 APK: a clean answer or a clean error naming
 * something, never a partial list. */
static size_t flip_all(smk_buf *b)
{
	apk_signers s = APK_SIGNERS_INIT;
	size_t i, k, fails = 0;
	smk_err e;

	for (i = 0; i < b->len; i++) {
		b->data[i] ^= 0x41;
		if (apk_read_signers(b->data, b->len, &s, &e) < 0) {
			ck_assert_uint_eq(s.n, 0);
			ck_assert_uint_gt(strlen(e.msg), 10);
			fails++;
		}
		for (k = 0; k < s.n; k++) {
			ck_assert_uint_gt(s.v[k].spki.len, 0);
			ck_assert_uint_eq(strlen(s.v[k].spki_sha256), 64);
		}
		apk_signers_free(&s);
		b->data[i] ^= 0x41;
	}
	return fails;
}

START_TEST(test_flipped)
{
	struct keys k;
	smk_buf b = SMK_BUF_INIT, blk = SMK_BUF_INIT;

	read_fixture(&b, "b-v1.apk");
	ck_assert_uint_gt(flip_all(&b), 100);
	smk_buf_free(&b);
	keys_load(&k);
	built_apk(&k, &blk, &b);
	ck_assert_uint_gt(flip_all(&b), 100);
	smk_buf_free(&b);
	smk_buf_free(&blk);
	keys_free(&k);
}
END_TEST

/* What the built block's error must say, given what is wrong. */
static void expect_block_error(smk_buf *blk, const char *want)
{
	smk_buf apk = SMK_BUF_INIT;
	apk_signers s = APK_SIGNERS_INIT;
	smk_err e;

	apk_with(&apk, blk);
	ck_assert_int_eq(apk_read_signers(apk.data, apk.len, &s, &e), -1);
	ck_assert_msg(strstr(e.msg, want) != NULL, "\"%s\" does not say \"%s\"", e.msg, want);
	ck_assert_uint_eq(s.n, 0);
	/* the block alone says the same */
	smk_buf_free(&apk);
	smk_buf_free(blk);
}

START_TEST(test_block_errors)
{
	struct keys k;
	smk_buf seq = SMK_BUF_INIT, pairs = SMK_BUF_INIT, blk = SMK_BUF_INIT;
	smk_buf bad = SMK_BUF_INIT, certs[2];

	keys_load(&k);

	/* the public key field is another key than the certificate's */
	signer(&seq, 0, &k.a, 1, &k.spki_b);
	pair(&pairs, APK_BLOCK_V2, &seq);
	block(&blk, &pairs);
	expect_block_error(&blk, "is not the key of the signer's certificate");

	/* no signer */
	pair(&pairs, APK_BLOCK_V3, &seq);
	block(&blk, &pairs);
	expect_block_error(&blk, "APK Signature Scheme v3 block: signer sequence at offset");

	/* a signer without certificate */
	signer(&seq, 0, NULL, 0, &k.spki_a);
	pair(&pairs, APK_BLOCK_V2, &seq);
	block(&blk, &pairs);
	expect_block_error(&blk, "signer 1: certificates at offset");

	/* a second certificate that is not one */
	ck_assert_int_eq(smk_buf_add(&bad, k.b.data, k.b.len - 1), 0);
	certs[0] = k.a;
	certs[1] = bad;
	signer(&seq, 0, certs, 2, &k.spki_a);
	pair(&pairs, APK_BLOCK_V2, &seq);
	block(&blk, &pairs);
	expect_block_error(&blk, "certificate: not an X.509 certificate (DER)");
	smk_buf_free(&bad);

	/* two v2 blocks */
	signer(&seq, 0, &k.a, 1, &k.spki_a);
	pair(&pairs, APK_BLOCK_V2, &seq);
	signer(&seq, 0, &k.a, 1, &k.spki_a);
	pair(&pairs, APK_BLOCK_V2, &seq);
	block(&blk, &pairs);
	expect_block_error(&blk, "a second block with ID 0x7109871a");

	/* a pair longer than the block */
	put64(&pairs, 1000);
	put32(&pairs, APK_BLOCK_V2);
	block(&blk, &pairs);
	expect_block_error(&blk, "length 1000, but 4 bytes are left");

	/* a signer length beyond its sequence */
	signer(&seq, 0, &k.a, 1, &k.spki_a);
	seq.data[3] = 0x7f;
	pair(&pairs, APK_BLOCK_V2, &seq);
	block(&blk, &pairs);
	expect_block_error(&blk, "signer at offset");

	/* a footer size that is not the block's */
	signer(&seq, 0, &k.a, 1, &k.spki_a);
	pair(&pairs, APK_BLOCK_V2, &seq);
	block(&blk, &pairs);
	blk.data[0] ^= 1;
	expect_block_error(&blk, "are not the");

	/* a size reaching before the file's start */
	signer(&seq, 0, &k.a, 1, &k.spki_a);
	pair(&pairs, APK_BLOCK_V2, &seq);
	block(&blk, &pairs);
	blk.data[blk.len - 24 + 6] = 0x01;
	expect_block_error(&blk, "bytes are before it");

	keys_free(&k);
}
END_TEST

/* The v1 block file parser on its own: not PKCS#7, garbage after it. */
START_TEST(test_v1_block_errors)
{
	smk_buf der = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	apk_signers s = APK_SIGNERS_INIT;
	smk_err e;

	signer_cert("a", &der, &spki);
	ck_assert_int_eq(apk_parse_v1_block("META-INF/X.EC", der.data, der.len, &s, &e), -1);
	ck_assert_str_eq(e.msg, "META-INF/X.EC: not a DER PKCS#7 structure");
	ck_assert_int_eq(apk_parse_v1_block("META-INF/X.EC", der.data, 0, &s, &e), -1);
	ck_assert_uint_eq(s.n, 0);
	smk_buf_free(&der);
	smk_buf_free(&spki);
}
END_TEST

/* The file reader: the same signers as from memory; a directory, an empty
 * file and a missing one are named errors. */
START_TEST(test_read_file)
{
	apk_signers s = APK_SIGNERS_INIT;
	char tmp[64], path[128];
	smk_err e;
	FILE *f;

	ck_assert_msg(apk_read_file(SMK_SOURCE_DIR "/tests/data/apk/ab-rotated.apk", &s, &e) == 0,
		      "%s", e.msg);
	ck_assert_uint_eq(s.n, 3);
	assert_signer(&s, 2, APK_V3, 1, "b");
	apk_signers_free(&s);
	tu_temp_dir(tmp, sizeof(tmp), "smk-apk");
	ck_assert_int_eq(apk_read_file(tmp, &s, &e), -1);
	ck_assert_str_eq(e.msg, "not a regular file");
	snprintf(path, sizeof(path), "%s/empty.apk", tmp);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(apk_read_file(path, &s, &e), -1);
	ck_assert_str_eq(e.msg, "0 bytes is not an APK");
	unlink(path);
	ck_assert_int_eq(apk_read_file(path, &s, &e), -1);
	ck_assert_str_eq(e.msg, "cannot open: No such file or directory");
	ck_assert_uint_eq(s.n, 0);
	rmdir(tmp);
}
END_TEST

static Suite *apk_suite(void)
{
	Suite *s = suite_create("apk");
	TCase *tc = tcase_create("signers");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_fixture, 0, (int)(sizeof(fixtures) / sizeof(fixtures[0])));
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_flipped);
	tcase_add_test(tc, test_built_block);
	tcase_add_test(tc, test_block_errors);
	tcase_add_test(tc, test_v1_block_errors);
	tcase_add_test(tc, test_read_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(apk_suite());
}
