/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Witness cosignatures (c2sp.org/tlog-cosignature type 0x04): parsing and
 * verification of signature lines and verifier keys, against a vector made
 * with an independent implementation (Python's cryptography, Ed25519 seed
 * 00 01 .. 1f), and against lines signed here with OpenSSL; malformed
 * lines, a wrong key ID, altered timestamp bytes. Then the archive side:
 * only cosignatures that verify are stored, every outcome is an event, a
 * bundle carries the most cosigned checkpoint that covers its record with
 * the cosignature lines, smkey verify's quorum holds on it, and an archive
 * without the witness tables still opens read-only and exports bundles.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "archive/bundle.h"
#include "archive/checkpoint.h"
#include "archive/cosig.h"
#include "archive/internal.h"
#include "archive/verify.h"
#include "archive/witness.h"
#include "tests/lib/archfix.h"
#include "tests/lib/testutil.h"

/* made with Python's cryptography from the Ed25519 seed 00 01 02 .. 1f */
static const char kat_vkey[] =
    "witness.example.org/w1+cfcd1a67+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
static const char kat_text[] =
    "smkeyd/0123456789abcdef\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
static const char kat_line[] =
    "\xe2\x80\x94 witness.example.org/w1 "
    "z80aZwAAAABlU/EADVfEIKifJkRDlewajrkCM/72Yf2oFclXElaToQ1vNzeV0ZA/QsyCri0GWk6N2Vxgd52ueAVDw5"
    "WHnIbqVzQTAA==";
#define KAT_TIME 1700000000

static int parse_line(const char *s, cosig *c, smk_err *e)
{
	return cosig_parse_line((const uint8_t *)s, strlen(s), c, e);
}

/* base64 of raw as a signature line by name */
static void make_line(const char *name, const uint8_t *raw, size_t n, char *out, size_t cap)
{
	char b64[256];
	int w;

	EVP_EncodeBlock((unsigned char *)b64, raw, (int)n);
	w = snprintf(out, cap, "\xe2\x80\x94 %.*s %.*s", 128, name, 120, b64);
	ck_assert(w > 0 && (size_t)w < cap);
}

/* A witness made here: an Ed25519 key, its cosig_key, and lines it signs. */
typedef struct twit {
	EVP_PKEY *pkey;
	cosig_key key;
	char vkey[256];
} twit;

static void twit_init(twit *w, const char *name)
{
	size_t n = 32;
	smk_err e;

	w->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	ck_assert_ptr_nonnull(w->pkey);
	memset(&w->key, 0, sizeof(w->key));
	snprintf(w->key.name, sizeof(w->key.name), "%s", name);
	ck_assert_int_eq(EVP_PKEY_get_raw_public_key(w->pkey, w->key.pub, &n), 1);
	ck_assert_int_eq(cosig_key_id(name, w->key.pub, w->key.key_id, &e), 0);
	ck_assert_int_eq(cosig_key_format(&w->key, w->vkey, sizeof(w->vkey), &e), 0);
}

static void twit_sign(const twit *w, const uint8_t *text, size_t len, uint64_t t, char *line,
		      size_t cap)
{
	uint8_t raw[COSIG_SIG_LEN];
	smk_buf msg = SMK_BUF_INIT;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char head[64];
	size_t siglen = 64;
	int i, n;

	n = snprintf(head, sizeof(head), "cosignature/v1\ntime %llu\n", (unsigned long long)t);
	ck_assert_int_eq(smk_buf_add(&msg, head, (size_t)n), 0);
	ck_assert_int_eq(smk_buf_add(&msg, text, len), 0);
	memcpy(raw, w->key.key_id, 4);
	for (i = 0; i < 8; i++)
		raw[4 + i] = (uint8_t)(t >> (56 - 8 * i));
	ck_assert_int_eq(EVP_DigestSignInit(md, NULL, NULL, NULL, w->pkey), 1);
	ck_assert_int_eq(EVP_DigestSign(md, raw + 12, &siglen, msg.data, msg.len), 1);
	EVP_MD_CTX_free(md);
	smk_buf_free(&msg);
	make_line(w->key.name, raw, sizeof(raw), line, cap);
}

START_TEST(independent_vector_verifies)
{
	cosig_key k;
	cosig c;
	char again[256];
	smk_err e;

	ck_assert_int_eq(cosig_key_parse(kat_vkey, strlen(kat_vkey), &k, &e), 0);
	ck_assert_str_eq(k.name, "witness.example.org/w1");
	ck_assert_int_eq(parse_line(kat_line, &c, &e), 0);
	ck_assert_str_eq(c.name, "witness.example.org/w1");
	ck_assert_uint_eq(c.time, KAT_TIME);
	ck_assert(cosig_by(&c, &k));
	ck_assert_int_eq(cosig_verify(&c, &k, (const uint8_t *)kat_text, strlen(kat_text), 0, &e),
			 0);
	/* the note text is signed whole: one byte more or less does not verify */
	ck_assert_int_eq(
	    cosig_verify(&c, &k, (const uint8_t *)kat_text, strlen(kat_text) - 1, 0, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
	/* a timestamp later than allowed is refused before the signature */
	ck_assert_int_eq(
	    cosig_verify(&c, &k, (const uint8_t *)kat_text, strlen(kat_text), KAT_TIME - 1, &e),
	    -1);
	ck_assert_int_eq(e.code, SMK_E_VALIDITY);
	/* the key prints back as it was read */
	ck_assert_int_eq(cosig_key_format(&k, again, sizeof(again), &e), 0);
	ck_assert_str_eq(again, kat_vkey);
}
END_TEST

START_TEST(malformed_lines_refused)
{
	static const char *const bad[] = {
	    "- witness.example.org/w1 z80aZwAAAABl",			/* ASCII dash */
	    "\xe2\x80\x94 witness.example.org/w1",			/* no signature */
	    "\xe2\x80\x94  z80aZwAAAABlU/EA",				/* empty name */
	    "\xe2\x80\x94 witness+x z80aZwAAAABlU/EADVfE",		/* '+' in the name */
	    "\xe2\x80\x94 witness.example.org/w1 z80aZw==AAAA",		/* padding inside */
	    "\xe2\x80\x94 witness.example.org/w1 z80aZwAAAABlU/EADVfE", /* 15 bytes */
	    "\xe2\x80\x94 witness.example.org/w1 z80aZwAAAABlU/EADVfE IKif",
	};
	uint8_t raw[COSIG_SIG_LEN + 1];
	char line[300];
	cosig c;
	smk_err e;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse_line(bad[i], &c, &e) == -1, "accepted: %s", bad[i]);
		ck_assert_int_eq(e.code, SMK_E_FORMAT);
	}
	/* 75 and 77 bytes: not a type 0x04 cosignature */
	memset(raw, 0x11, sizeof(raw));
	make_line("w", raw, COSIG_SIG_LEN - 1, line, sizeof(line));
	ck_assert_int_eq(parse_line(line, &c, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "75 bytes"));
	make_line("w", raw, COSIG_SIG_LEN + 1, line, sizeof(line));
	ck_assert_int_eq(parse_line(line, &c, &e), -1);
	/* a timestamp of 2^63 or more is refused (tlog-cosignature) */
	memset(raw, 0, sizeof(raw));
	raw[4] = 0x80;
	make_line("w", raw, COSIG_SIG_LEN, line, sizeof(line));
	ck_assert_int_eq(parse_line(line, &c, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "2^63"));
}
END_TEST

START_TEST(wrong_key_id_and_timestamp_bytes)
{
	smk_buf raw = SMK_BUF_INIT;
	const char *b64 = strrchr(kat_line, ' ') + 1;
	char line[300];
	cosig_key k;
	cosig c;
	smk_err e;
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	uint8_t blob[COSIG_SIG_LEN + 4];
	int n = 0, m = 0;

	ck_assert_int_eq(cosig_key_parse(kat_vkey, strlen(kat_vkey), &k, &e), 0);
	EVP_DecodeInit(ctx);
	ck_assert_int_ge(
	    EVP_DecodeUpdate(ctx, blob, &n, (const unsigned char *)b64, (int)strlen(b64)), 0);
	ck_assert_int_eq(EVP_DecodeFinal(ctx, blob + n, &m), 1);
	EVP_ENCODE_CTX_free(ctx);
	ck_assert_int_eq(n + m, COSIG_SIG_LEN);

	/* key ID byte changed: not by this witness, so not counted */
	blob[0] ^= 1;
	make_line(k.name, blob, COSIG_SIG_LEN, line, sizeof(line));
	ck_assert_int_eq(parse_line(line, &c, &e), 0);
	ck_assert(!cosig_by(&c, &k));
	ck_assert_int_eq(cosig_verify(&c, &k, (const uint8_t *)kat_text, strlen(kat_text), 0, &e),
			 -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	blob[0] ^= 1;

	/* the last timestamp byte changed: the signature covers the time */
	blob[11] ^= 1;
	make_line(k.name, blob, COSIG_SIG_LEN, line, sizeof(line));
	ck_assert_int_eq(parse_line(line, &c, &e), 0);
	ck_assert_uint_eq(c.time, KAT_TIME ^ 1);
	ck_assert_int_eq(cosig_verify(&c, &k, (const uint8_t *)kat_text, strlen(kat_text), 0, &e),
			 -1);
	ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
	blob[11] ^= 1;

	/* the timestamp read little endian would be another time: big endian only */
	{
		uint8_t swapped[COSIG_SIG_LEN];
		int i;

		memcpy(swapped, blob, sizeof(swapped));
		for (i = 0; i < 8; i++)
			swapped[4 + i] = blob[11 - i];
		make_line(k.name, swapped, COSIG_SIG_LEN, line, sizeof(line));
		ck_assert_int_eq(parse_line(line, &c, &e), 0);
		ck_assert_int_eq(
		    cosig_verify(&c, &k, (const uint8_t *)kat_text, strlen(kat_text), 0, &e), -1);
	}
	smk_buf_free(&raw);
}
END_TEST

START_TEST(verifier_keys)
{
	static const char *const bad[] = {
	    "witness.example.org/w1",
	    "witness.example.org/w1+cfcd1a67",
	    "+cfcd1a67+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
	    "witness.example.org/w1+cfcd1a6+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
	    "witness.example.org/w1+cfcd1a6x+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
	    "witness.example.org/w1+cfcd1a67+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVT",
	};
	cosig_key k;
	smk_err e;
	size_t i;
	char s[200];

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(cosig_key_parse(bad[i], strlen(bad[i]), &k, &e) == -1, "accepted %s",
			      bad[i]);
	/* a key ID that is not the one of name and key */
	snprintf(s, sizeof(s), "%s", kat_vkey);
	memcpy(strchr(s, '+') + 1, "cfcd1a68", 8);
	ck_assert_int_eq(cosig_key_parse(s, strlen(s), &k, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	/* another name with the same key: another key ID */
	snprintf(s, sizeof(s), "witness.example.org/w2%s", strchr(kat_vkey, '+'));
	ck_assert_int_eq(cosig_key_parse(s, strlen(s), &k, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	/* type 0x01 (Ed25519 note signer) is not a cosignature key */
	snprintf(s, sizeof(s), "%s", kat_vkey);
	memcpy(strchr(strchr(s, '+') + 1, '+') + 1, "AQ", 2);
	ck_assert_int_eq(cosig_key_parse(s, strlen(s), &k, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_UNSUPPORTED);
	ck_assert_msg(strstr(e.msg, "type 0x01 with 32 key bytes") != NULL, "%s", e.msg);
}
END_TEST

START_TEST(witnesses_file)
{
	twit a, b;
	cosig_policy p;
	char text[1024];
	smk_err e;

	twit_init(&a, "a.example/w");
	twit_init(&b, "b.example/w");
	cosig_policy_init(&p);
	snprintf(text, sizeof(text), "# the witnesses we trust\n\n  %s  \nquorum 2\n%s\n%s\n",
		 a.vkey, b.vkey, a.vkey);
	ck_assert_int_eq(cosig_policy_load(&p, (uint8_t *)text, strlen(text), "w", &e), 0);
	ck_assert_uint_eq(p.n, 2); /* the same key twice is one witness */
	ck_assert_int_eq(p.quorum, 2);

	cosig_policy_init(&p);
	snprintf(text, sizeof(text), "%s\nquorum 1\nquorum 2\n", a.vkey);
	ck_assert_int_eq(cosig_policy_load(&p, (uint8_t *)text, strlen(text), "w", &e), -1);
	ck_assert_str_eq(e.msg, "w:3: a second quorum line");
	cosig_policy_init(&p);
	snprintf(text, sizeof(text), "quorum zero\n");
	ck_assert_int_eq(cosig_policy_load(&p, (uint8_t *)text, strlen(text), "w", &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "w:1: quorum must be"));
	cosig_policy_init(&p);
	snprintf(text, sizeof(text), "%s\nnot a key\n", a.vkey);
	ck_assert_int_eq(cosig_policy_load(&p, (uint8_t *)text, strlen(text), "w", &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "w:2: "));
	EVP_PKEY_free(a.pkey);
	EVP_PKEY_free(b.pkey);
}
END_TEST

START_TEST(note_check_counts_distinct_valid_witnesses)
{
	twit a, b, c;
	smk_buf note = SMK_BUF_INIT;
	cosig_key keys[3];
	cosig_result res[3];
	char line[300];
	size_t valid;
	smk_err e;

	twit_init(&a, "a.example/w");
	twit_init(&b, "b.example/w");
	twit_init(&c, "c.example/w");
	ck_assert_int_eq(smk_buf_add(&note, kat_text, strlen(kat_text)), 0);
	/* the log's own line (not a cosignature: ignored), a's, b's twice, and
	 * a line claiming c that c did not sign */
	{
		static const char log_line[] = "\n\xe2\x80\x94 smkeyd/0123456789abcdef AAAAAQ==\n";

		ck_assert_int_eq(smk_buf_add(&note, log_line, strlen(log_line)), 0);
	}
	twit_sign(&a, (const uint8_t *)kat_text, strlen(kat_text), 1800000000, line, sizeof(line));
	ck_assert_int_eq(smk_buf_add(&note, line, strlen(line)), 0);
	ck_assert_int_eq(smk_buf_add_byte(&note, '\n'), 0);
	twit_sign(&b, (const uint8_t *)kat_text, strlen(kat_text), 1800000001, line, sizeof(line));
	ck_assert_int_eq(smk_buf_add(&note, line, strlen(line)), 0);
	ck_assert_int_eq(smk_buf_add_byte(&note, '\n'), 0);
	ck_assert_int_eq(smk_buf_add(&note, line, strlen(line)), 0);
	ck_assert_int_eq(smk_buf_add_byte(&note, '\n'), 0);
	twit_sign(&a, (const uint8_t *)"other\n", 6, 1800000002, line, sizeof(line));
	memcpy(strstr(line, "a.example"), "c", 1); /* a's signature, c's name */
	{
		/* and c's key ID, so the line claims c */
		cosig t;
		uint8_t raw[COSIG_SIG_LEN];

		ck_assert_int_eq(parse_line(line, &t, &e), 0);
		memcpy(raw, c.key.key_id, 4);
		for (int i = 0; i < 8; i++)
			raw[4 + i] = (uint8_t)(t.time >> (56 - 8 * i));
		memcpy(raw + 12, t.sig, 64);
		make_line(c.key.name, raw, sizeof(raw), line, sizeof(line));
	}
	ck_assert_int_eq(smk_buf_add(&note, line, strlen(line)), 0);
	ck_assert_int_eq(smk_buf_add_byte(&note, '\n'), 0);
	keys[0] = a.key;
	keys[1] = b.key;
	keys[2] = c.key;
	ck_assert_int_eq(cosig_check_note(note.data, note.len, keys, 3, 0, res, &valid, &e), 0);
	ck_assert_uint_eq(valid, 2);
	ck_assert_int_eq(res[0].status, COSIG_OK);
	ck_assert_uint_eq(res[0].time, 1800000000);
	ck_assert_int_eq(res[1].status, COSIG_OK);
	ck_assert_int_eq(res[2].status, COSIG_BAD);
	ck_assert_ptr_nonnull(strstr(res[2].why, "does not verify"));
	/* a note without signature lines is not a signed note */
	ck_assert_int_eq(cosig_check_note((const uint8_t *)kat_text, strlen(kat_text), keys, 3, 0,
					  res, &valid, &e),
			 -1);
	smk_buf_free(&note);
	EVP_PKEY_free(a.pkey);
	EVP_PKEY_free(b.pkey);
	EVP_PKEY_free(c.pkey);
}
END_TEST

/* ---- the archive side ---- */

#define T0 1795000000

static archfix P;
static const archfix_cfg cfg = {
    .prefix = "smk-cosig",
    .root_chr = "UTSRCACOS00001",
    .dica_chr = "UTDICOS0100001",
    .dev_chr = "UTCOS10004200000",
    .dev_serial = "UTCOS100042",
    .dev_until = 2035,
    .req_car = "UTCA00001",
    .peer = {1000, 1000, 777, "/usr/bin/smkey"},
    .t0 = T0,
    .commit_after = 5,
};
static const char apk_doc[] =
    "{\"alg-list-hex\":\"73\",\"algorithms\":[{\"id\":115,\"name\":\"ecdsa-sha256\"}],"
    "\"name\":\"release-apk\",\"use-counter\":null}";

static uint64_t mk(const char *label)
{
	EVP_PKEY *k = tu_keygen("P-256");
	uint64_t seq = archfix_make_key(&P, ARCHIVE_KIND_KEY, "release-apk", apk_doc, k, label);

	EVP_PKEY_free(k);
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

/* a's line over the stored checkpoint of size */
static void cosign_stored(const twit *w, uint64_t size, uint64_t t, char *line, size_t cap)
{
	smk_buf note = SMK_BUF_INIT;
	size_t text_len, at;
	smk_err e;

	ck_assert_int_eq(archive_checkpoint_at(P.a, size, &note, &e), 0);
	ck_assert_int_eq(cosig_note_split(note.data, note.len, &text_len, &at, &e), 0);
	twit_sign(w, note.data, text_len, t, line, cap);
	smk_buf_free(&note);
}

static int count_events(const archive_witness_event *ev, void *ctx)
{
	unsigned *n = ctx;

	n[0]++;
	if (strcmp(ev->outcome, "bad-cosignature") == 0)
		n[1]++;
	if (strcmp(ev->outcome, "unreachable") == 0)
		n[2]++;
	return 0;
}

START_TEST(archive_keeps_only_valid_cosignatures)
{
	twit a, b, x;
	cosig_key keys[2];
	char la[300], lb[300], lx[300], bad[300];
	const char *lines[4];
	archive_cosig_outcome out[4];
	size_t stored;
	smk_err e;
	unsigned n[3] = {0, 0, 0};
	uint64_t seq;

	twit_init(&a, "a.example/w");
	twit_init(&b, "b.example/w");
	twit_init(&x, "x.example/w"); /* not configured */
	keys[0] = a.key;
	keys[1] = b.key;
	seq = mk("k1");
	ck_assert_uint_eq(seq, 1);
	cosign_stored(&a, 2, T0 + 10, la, sizeof(la));
	cosign_stored(&b, 2, T0 + 11, lb, sizeof(lb));
	cosign_stored(&x, 2, T0 + 12, lx, sizeof(lx));
	cosign_stored(&b, 1, T0 + 13, bad, sizeof(bad)); /* b's, but over checkpoint 1 */
	lines[0] = la;
	lines[1] = lx;
	lines[2] = bad;
	lines[3] = lb;
	ck_assert_int_eq(
	    archive_add_cosignatures(P.a, 2, keys, 2, lines, 4, T0 + 20, out, &stored, &e), 0);
	ck_assert_uint_eq(stored, 2);
	ck_assert_int_eq(out[0].stored, 1);
	ck_assert_int_eq(out[1].stored, 0);
	ck_assert_ptr_nonnull(strstr(out[1].why, "no such witness key"));
	ck_assert_int_eq(out[2].stored, 0);
	ck_assert_ptr_nonnull(strstr(out[2].why, "does not verify"));
	ck_assert_int_eq(out[3].stored, 1);
	/* an unknown checkpoint size is an error, nothing stored */
	ck_assert_int_eq(
	    archive_add_cosignatures(P.a, 9, keys, 2, lines, 1, T0 + 20, out, &stored, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_ARG);
	/* a witness push outcome */
	{
		archive_witness_event ev;

		memset(&ev, 0, sizeof(ev));
		ev.time = T0 + 30;
		snprintf(ev.witness, sizeof(ev.witness), "b.example/w");
		ev.size = 2;
		ev.outcome = "unreachable";
		ev.witness_size = -1;
		snprintf(ev.detail, sizeof(ev.detail), "timed out");
		ck_assert_int_eq(archive_witness_record(P.a, &ev, &e), 0);
		ev.outcome = "made-up";
		ck_assert_int_eq(archive_witness_record(P.a, &ev, &e), -1);
	}
	ck_assert_int_eq(archive_witness_events(P.a, count_events, n, &e), 0);
	ck_assert_uint_eq(n[0], 5); /* 2 cosigned, 2 bad-cosignature, 1 unreachable */
	ck_assert_uint_eq(n[1], 2);
	ck_assert_uint_eq(n[2], 1);
	/* append-only like the rest */
	ck_assert_int_eq(sqlite3_exec(P.a->db, "DELETE FROM cosignatures", NULL, NULL, NULL),
			 SQLITE_CONSTRAINT);
	EVP_PKEY_free(a.pkey);
	EVP_PKEY_free(b.pkey);
	EVP_PKEY_free(x.pkey);
}
END_TEST

static void bundle_note(uint64_t seq, smk_buf *note, uint64_t *size)
{
	smk_buf out = SMK_BUF_INIT;
	archive_bundle b;
	smk_err e;

	ck_assert_int_eq(archive_export_bundle(P.a, seq, &out, &e), 0);
	ck_assert_int_eq(archive_bundle_parse(out.data, out.len, &b, &e), 0);
	smk_buf_reset(note);
	ck_assert_int_eq(smk_buf_add(note, b.checkpoint.data, b.checkpoint.len), 0);
	*size = b.inclusion.size;
	/* and the bundle verifies as ever: the extra lines are ignored */
	{
		archive_verified v;

		/* no pinned log here: every check holds, the log is not pinned */
		ck_assert_msg(archive_verify_bundle(out.data, out.len, &P.trust, NULL, NULL, NULL,
						    &v, &e) == ARCHIVE_VERIFY_UNPINNED,
			      "%s", e.msg);
		archive_verified_free(&v);
	}
	archive_bundle_free(&b);
	smk_buf_free(&out);
}

START_TEST(bundle_carries_the_most_cosigned_checkpoint)
{
	twit a, b;
	cosig_key keys[2];
	cosig_result res[2];
	char la[300], lb[300];
	const char *lines[2];
	archive_cosig_outcome out[2];
	smk_buf note = SMK_BUF_INIT;
	uint64_t size;
	size_t stored, valid;
	smk_err e;

	twit_init(&a, "a.example/w");
	twit_init(&b, "b.example/w");
	keys[0] = a.key;
	keys[1] = b.key;
	mk("k1"); /* seq 1 */
	mk("k2"); /* seq 2 */
	mk("k3"); /* seq 3 */

	/* no cosignature yet: the latest checkpoint, as before */
	bundle_note(1, &note, &size);
	ck_assert_uint_eq(size, 4);

	/* checkpoint 2 by both, checkpoint 3 by a: records 0 and 1 get 2 */
	cosign_stored(&a, 2, T0 + 10, la, sizeof(la));
	cosign_stored(&b, 2, T0 + 11, lb, sizeof(lb));
	lines[0] = la;
	lines[1] = lb;
	ck_assert_int_eq(
	    archive_add_cosignatures(P.a, 2, keys, 2, lines, 2, T0 + 20, out, &stored, &e), 0);
	cosign_stored(&a, 3, T0 + 12, la, sizeof(la));
	ck_assert_int_eq(
	    archive_add_cosignatures(P.a, 3, keys, 2, lines, 1, T0 + 20, out, &stored, &e), 0);
	ck_assert_uint_eq(stored, 1);

	bundle_note(1, &note, &size);
	ck_assert_uint_eq(size, 2);
	ck_assert_int_eq(cosig_check_note(note.data, note.len, keys, 2, 0, res, &valid, &e), 0);
	ck_assert_uint_eq(valid, 2);
	ck_assert_uint_eq(res[1].time, T0 + 11);

	/* record 2 is only in checkpoints 3 and 4: the one a cosigned */
	bundle_note(2, &note, &size);
	ck_assert_uint_eq(size, 3);
	ck_assert_int_eq(cosig_check_note(note.data, note.len, keys, 2, 0, res, &valid, &e), 0);
	ck_assert_uint_eq(valid, 1);
	ck_assert_int_eq(res[0].status, COSIG_OK);
	ck_assert_int_eq(res[1].status, COSIG_MISSING);

	/* record 3: only the latest covers it, uncosigned */
	bundle_note(3, &note, &size);
	ck_assert_uint_eq(size, 4);
	ck_assert_int_eq(cosig_check_note(note.data, note.len, keys, 2, 0, res, &valid, &e), 0);
	ck_assert_uint_eq(valid, 0);
	smk_buf_free(&note);
	EVP_PKEY_free(a.pkey);
	EVP_PKEY_free(b.pkey);
}
END_TEST

START_TEST(archive_without_witness_tables_still_reads)
{
	sqlite3 *db;
	archive *ro;
	smk_buf out = SMK_BUF_INIT;
	unsigned n[3] = {0, 0, 0}, problems = 0;
	smk_err e;
	FILE *report;

	mk("k1");
	archive_close(P.a);
	P.a = NULL;
	/* an archive from before the witness tables */
	ck_assert_int_eq(sqlite3_open(P.path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "DROP TABLE cosignatures; DROP TABLE witness_events;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(archive_open(P.path, ARCHIVE_OPEN_READONLY, &ro, &e), 0);
	ck_assert_int_eq(archive_export_bundle(ro, 1, &out, &e), 0);
	ck_assert_int_eq(archive_witness_events(ro, count_events, n, &e), 0);
	ck_assert_uint_eq(n[0], 0);
	report = tmpfile();
	ck_assert_int_eq(
	    archive_audit(ro, &(archive_audit_opts){.trust = &P.trust}, report, &problems, &e), 0);
	ck_assert_uint_eq(problems, 0);
	fclose(report);
	archive_close(ro);
	/* opened for writing, it gains them */
	ck_assert_int_eq(archive_open(P.path, 0, &P.a, &e), 0);
	ck_assert_int_eq(archive_witness_events(P.a, count_events, n, &e), 0);
	{
		archive_witness_event ev = {
		    .time = 1, .witness = "w", .size = 2, .outcome = "conflict", .witness_size = 1};

		ck_assert_int_eq(archive_witness_record(P.a, &ev, &e), 0);
	}
	smk_buf_free(&out);
}
END_TEST

static Suite *cosig_suite(void)
{
	Suite *s = suite_create("cosig");
	TCase *tc = tcase_create("cosignatures");
	TCase *ta = tcase_create("archive");

	tcase_add_test(tc, independent_vector_verifies);
	tcase_add_test(tc, malformed_lines_refused);
	tcase_add_test(tc, wrong_key_id_and_timestamp_bytes);
	tcase_add_test(tc, verifier_keys);
	tcase_add_test(tc, witnesses_file);
	tcase_add_test(tc, note_check_counts_distinct_valid_witnesses);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(ta, setup, teardown);
	tcase_add_test(ta, archive_keeps_only_valid_cosignatures);
	tcase_add_test(ta, bundle_carries_the_most_cosigned_checkpoint);
	tcase_add_test(ta, archive_without_witness_tables_still_reads);
	suite_add_tcase(s, ta);
	return s;
}

int main(void)
{
	return tu_run(cosig_suite());
}
