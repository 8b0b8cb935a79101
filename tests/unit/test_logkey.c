/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Note verifier keys of logs (archive/logkey.c): what smkey log-key prints
 * is what other note verifiers expect for signature type 0x02 (key ID =
 * SHA-256 of the DER SPKI, key = 0x02 || DER SPKI, recomputed here with
 * plain OpenSSL calls), the public Rekor verifier key parses with its
 * published key ID, and every malformed key is refused with a message that
 * says what is wrong. The logs file: comments, blank lines, file:line on a
 * bad line.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "archive/logkey.h"
#include "tests/lib/testutil.h"

/* The Rekor log's ECDSA P-256 key in verifier-key form (sigstore's public
 * checkpoint key; c0d23d6a is its published key hash). */
#define REKOR_B64                                                                                  \
	"AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+"        \
	"smGNM7nwZ"                                                                                \
	"4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc="
#define REKOR "rekor.sigstore.dev+c0d23d6a+" REKOR_B64

static void spki_of(EVP_PKEY *k, smk_buf *out)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);

	ck_assert_int_gt(n, 0);
	ck_assert(smk_buf_add(out, der, (size_t)n) == 0);
	OPENSSL_free(der);
}

/* name+hex+base64(type || key), built here independently of logkey.c */
static void build(const char *name, uint32_t id, uint8_t type, const uint8_t *key, size_t n,
		  char *out, size_t cap)
{
	uint8_t raw[512];
	char b64[800];
	int w;

	ck_assert_uint_lt(n, sizeof(raw));
	raw[0] = type;
	memcpy(raw + 1, key, n);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)(n + 1));
	w = snprintf(out, cap, "%s+%08x+%s", name, (unsigned)id, b64);
	ck_assert_msg(w > 0 && (size_t)w < cap, "expected key text needs %d bytes, have %zu", w,
		      cap);
}

static uint32_t id_of(const uint8_t *p, size_t n)
{
	uint8_t h[32];

	ck_assert(EVP_Digest(p, n, h, NULL, EVP_sha256(), NULL) == 1);
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

START_TEST(archive_key_round_trip)
{
	EVP_PKEY *k = tu_keygen("P-256");
	smk_buf spki = SMK_BUF_INIT;
	archive_logkey a, b;
	char want[ARCHIVE_VKEY_MAX], origin[40];
	uint8_t h[32];
	smk_err e;

	spki_of(k, &spki);
	ck_assert_msg(archive_logkey_of(spki.data, spki.len, &a, &e) == 0, "%s", e.msg);
	/* the name is the checkpoint origin: smkeyd/ + 16 hex of SHA-256(SPKI) */
	ck_assert(EVP_Digest(spki.data, spki.len, h, NULL, EVP_sha256(), NULL) == 1);
	snprintf(origin, sizeof(origin), "smkeyd/%02x%02x%02x%02x%02x%02x%02x%02x", h[0], h[1],
		 h[2], h[3], h[4], h[5], h[6], h[7]);
	ck_assert_str_eq(a.name, origin);
	ck_assert_uint_eq(a.id, id_of(spki.data, spki.len));
	build(origin, id_of(spki.data, spki.len), 0x02, spki.data, spki.len, want, sizeof(want));
	ck_assert_str_eq(a.text, want);
	ck_assert_msg(archive_logkey_parse(a.text, strlen(a.text), &b, &e) == 0, "%s", e.msg);
	ck_assert(archive_logkey_same(&a, &b));
	ck_assert_str_eq(b.text, a.text);
	smk_buf_free(&spki);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(rekor_key_parses)
{
	archive_logkey k;
	smk_err e;

	ck_assert_msg(archive_logkey_parse(REKOR, strlen(REKOR), &k, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(k.name, "rekor.sigstore.dev");
	ck_assert_uint_eq(k.id, 0xc0d23d6a);
	ck_assert_uint_eq(k.spki_len, 91);
	ck_assert_str_eq(k.text, REKOR);
	/* upper-case hex is the same key ID; we print lower case */
	ck_assert_int_eq(archive_logkey_parse("rekor.sigstore.dev+C0D23D6A+" REKOR_B64,
					      strlen("rekor.sigstore.dev+C0D23D6A+" REKOR_B64), &k,
					      &e),
			 0);
	ck_assert_str_eq(k.text, REKOR);
	/* the placeholder key hash of the witness's documentation is not its ID */
	ck_assert_int_eq(archive_logkey_parse("rekor.sigstore.dev+12345678+" REKOR_B64,
					      strlen("rekor.sigstore.dev+12345678+" REKOR_B64), &k,
					      &e),
			 -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	ck_assert_msg(strstr(e.msg, "key ID 12345678 is not the key's (c0d23d6a") != NULL, "%s",
		      e.msg);
}
END_TEST

static void refused(const char *s, size_t n, const char *expect)
{
	archive_logkey k;
	smk_err e;

	memset(&k, 0xAA, sizeof(k));
	ck_assert_msg(archive_logkey_parse(s, n, &k, &e) == -1, "accepted: %.*s", (int)n, s);
	ck_assert_msg(strstr(e.msg, expect) != NULL, "\"%s\" lacks \"%s\"", e.msg, expect);
	/* nothing half-filled is left behind */
	ck_assert(k.name[0] == '\0' && k.text[0] == '\0' && k.spki_len == 0);
}

static void refused_str(const char *s, const char *expect)
{
	refused(s, strlen(s), expect);
}

START_TEST(malformed_keys_refused)
{
	EVP_PKEY *p256 = tu_keygen("P-256"), *rsa = tu_keygen("RSA"),
		 *bp = tu_keygen("brainpoolP256r1"), *ed = NULL;
	smk_buf spki = SMK_BUF_INIT, other = SMK_BUF_INIT;
	char s[1024], longname[80];
	uint32_t id;

	spki_of(p256, &spki);
	id = id_of(spki.data, spki.len);

	refused_str("", "no '+'");
	refused_str("rekor.sigstore.dev", "no '+'");
	refused_str("+c0d23d6a+" REKOR_B64, "empty key name");
	refused_str("rekor sigstore+c0d23d6a+" REKOR_B64, "space or control character at byte 5");
	refused_str("rekor\tsigstore+c0d23d6a+" REKOR_B64, "space or control character");
	refused_str("rekor\x1b[2Jx+c0d23d6a+" REKOR_B64, "space or control character");
	/* U+00A0 and U+3000 are Unicode spaces; U+00E9 is fine */
	refused_str("rekor\xc2\xa0x+c0d23d6a+" REKOR_B64, "space or control character");
	refused_str("rekor\xe3\x80\x80x+c0d23d6a+" REKOR_B64, "space or control character");
	refused_str("rekor\xff+c0d23d6a+" REKOR_B64, "not UTF-8 at byte 5");
	refused_str("rekor\xc0\xaf+c0d23d6a+" REKOR_B64, "not UTF-8");	   /* overlong '/' */
	refused_str("rekor\xed\xa0\x80+c0d23d6a+" REKOR_B64, "not UTF-8"); /* surrogate */
	memset(longname, 'a', 64);
	longname[64] = '\0';
	snprintf(s, sizeof(s), "%s+c0d23d6a+%s", longname, REKOR_B64);
	refused_str(s, "too long");
	refused_str("rekor.sigstore.dev+c0d23d6+" REKOR_B64, "not 8 hex digits");
	refused_str("rekor.sigstore.dev+c0d23d6aa+" REKOR_B64, "not 8 hex digits");
	refused_str("rekor.sigstore.dev+c0d23d6g+" REKOR_B64, "not 8 hex digits");
	refused_str("rekor.sigstore.dev+c0d23d6a", "not 8 hex digits");
	refused_str("rekor.sigstore.dev+c0d23d6a+", "key type 0x00");
	refused_str("rekor.sigstore.dev+c0d23d6a+" REKOR_B64 "\n", "base64");
	refused_str("rekor.sigstore.dev+c0d23d6a+" REKOR_B64 "+x", "base64");
	refused_str("rekor.sigstore.dev+c0d23d6a+ " REKOR_B64, "base64");
	/* the last base64 digit carrying bits that are not there: not canonical */
	refused_str(
	    "rekor.sigstore.dev+c0d23d6a+"
	    "AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+"
	    "smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLd=",
	    "base64");
	/* NUL inside the string */
	refused("rekor\0x+c0d23d6a+" REKOR_B64, sizeof("rekor\0x+c0d23d6a+" REKOR_B64) - 1,
		"space or control character");

	/* type byte: Ed25519 (0x01) and an unknown type are not ECDSA */
	build("example.com/log", id, 0x01, spki.data, spki.len, s, sizeof(s));
	refused_str(s, "key type 0x01 is not 0x02");
	build("example.com/log", id, 0xff, spki.data, spki.len, s, sizeof(s));
	refused_str(s, "key type 0xff");
	/* the right type over a right key with the wrong ID */
	build("example.com/log", id ^ 1, 0x02, spki.data, spki.len, s, sizeof(s));
	refused_str(s, "is not the key's");
	/* a good one, for contrast */
	build("example.com/log", id, 0x02, spki.data, spki.len, s, sizeof(s));
	{
		archive_logkey k;
		smk_err e;

		ck_assert_msg(archive_logkey_parse(s, strlen(s), &k, &e) == 0, "%s", e.msg);
		ck_assert_str_eq(k.name, "example.com/log");
	}
	/* trailing bytes after the SPKI */
	ck_assert(smk_buf_add(&other, spki.data, spki.len) == 0 &&
		  smk_buf_add_byte(&other, 0) == 0);
	build("example.com/log", id_of(other.data, other.len), 0x02, other.data, other.len, s,
	      sizeof(s));
	refused_str(s, "not a SubjectPublicKeyInfo");
	/* not a key at all */
	build("example.com/log", id_of((const uint8_t *)"\x30\x00", 2), 0x02,
	      (const uint8_t *)"\x30\x00", 2, s, sizeof(s));
	refused_str(s, "not a SubjectPublicKeyInfo");
	/* an RSA key, a brainpool key, an Ed25519 key */
	smk_buf_reset(&other);
	spki_of(rsa, &other);
	build("example.com/log", id_of(other.data, other.len), 0x02, other.data, other.len, s,
	      sizeof(s));
	refused_str(s, "EC key");
	smk_buf_reset(&other);
	spki_of(bp, &other);
	build("example.com/log", id_of(other.data, other.len), 0x02, other.data, other.len, s,
	      sizeof(s));
	refused_str(s, "curve brainpoolP256r1 is not P-256, P-384 or P-521");
	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	ck_assert_ptr_nonnull(ed);
	smk_buf_reset(&other);
	spki_of(ed, &other);
	build("example.com/log", id_of(other.data, other.len), 0x02, other.data, other.len, s,
	      sizeof(s));
	refused_str(s, "EC key");
	/* the P-256 point in compressed form (0x02/0x03 || X) */
	{
		EVP_PKEY *c = NULL;
		const unsigned char *q = spki.data;

		c = d2i_PUBKEY(NULL, &q, (long)spki.len);
		ck_assert_ptr_nonnull(c);
		ck_assert(EVP_PKEY_set_utf8_string_param(c, "point-format", "compressed") == 1);
		smk_buf_reset(&other);
		spki_of(c, &other);
		ck_assert_uint_lt(other.len, spki.len);
		build("example.com/log", id_of(other.data, other.len), 0x02, other.data, other.len,
		      s, sizeof(s));
		refused_str(s, "uncompressed");
		EVP_PKEY_free(c);
	}
	smk_buf_free(&spki);
	smk_buf_free(&other);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(bp);
	EVP_PKEY_free(ed);
}
END_TEST

START_TEST(logs_file)
{
	EVP_PKEY *k = tu_keygen("P-256");
	smk_buf spki = SMK_BUF_INIT;
	archive_logpins pins = ARCHIVE_LOGPINS_INIT;
	archive_logkey mine, rekor;
	char dir[256], path[300];
	FILE *f;
	smk_err e;

	spki_of(k, &spki);
	ck_assert_int_eq(archive_logkey_of(spki.data, spki.len, &mine, &e), 0);
	ck_assert_int_eq(archive_logkey_parse(REKOR, strlen(REKOR), &rekor, &e), 0);
	tu_temp_dir(dir, sizeof(dir), "smk-logkey");
	snprintf(path, sizeof(path), "%s/logs", dir);

	/* no file: nothing pinned, not an error */
	ck_assert_int_eq(archive_logpins_load_file(&pins, path, &e), 1);
	ck_assert_uint_eq(pins.n, 0);

	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "# logs we trust\n\n   \n%s\n\t# sigstore\n  %s  \r\n", mine.text, REKOR);
	fclose(f);
	ck_assert_msg(archive_logpins_load_file(&pins, path, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(pins.n, 2);
	ck_assert(archive_logpins_find(&pins, &mine) == &pins.keys[0]);
	ck_assert(archive_logpins_find(&pins, &rekor) == &pins.keys[1]);
	archive_logpins_free(&pins);

	/* the same key under another name is another log */
	{
		archive_logkey renamed = mine;

		snprintf(renamed.name, sizeof(renamed.name), "smkeyd/0000000000000000");
		ck_assert_int_eq(archive_logpins_add(&pins, mine.text, "--log", &e), 0);
		ck_assert_ptr_null(archive_logpins_find(&pins, &renamed));
		archive_logpins_free(&pins);
	}

	/* a bad line is named by file and line */
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s\n# ok so far\nrekor.sigstore.dev+c0d23d6b+%s\n", mine.text, REKOR_B64);
	fclose(f);
	ck_assert_int_eq(archive_logpins_load_file(&pins, path, &e), -1);
	{
		char want[400];

		snprintf(want, sizeof(want), "%s:3: verifier key: key ID c0d23d6b", path);
		ck_assert_msg(strstr(e.msg, want) != NULL, "\"%s\" lacks \"%s\"", e.msg, want);
	}
	archive_logpins_free(&pins);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	smk_buf_free(&spki);
	EVP_PKEY_free(k);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("logkey");
	TCase *tc = tcase_create("logkey");

	tcase_add_test(tc, archive_key_round_trip);
	tcase_add_test(tc, rekor_key_parses);
	tcase_add_test(tc, malformed_keys_refused);
	tcase_add_test(tc, logs_file);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
