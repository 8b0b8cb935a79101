/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Key domains, WRAP KEY and UNWRAP KEY on the simulated card, driven with raw
 * APDUs: the domain status in each state (not set up, DKEK with shares
 * outstanding, complete, random, XKEK), the DKEK key blob between two cards
 * with the same DKEK, a software key imported by whoever holds the shares,
 * the attested import behind its option, and the algorithm list in the FCP
 * of a key object behind its option.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "tests/lib/testutil.h"
#include "sim/card.h"
#include "sm/apdu.h"
#include "sm/chain.h"
#include "sm/curves.h"
#include "sm/hsm.h"

#define SELECT "00A404000BE82B0601040181C31F020100"
#define PIN_OK "00200081 06 363438323139"
/* INITIALIZE: options 0001, PIN 648219, SO-PIN, 3 tries, then the domain tags */
#define INIT_HEAD "8002 0001 8106 363438323139 8208 3537363231383830 9101 03"

static const uint8_t sopin[8] = {0x35, 0x37, 0x36, 0x32, 0x31, 0x38, 0x38, 0x30};
#define SHARE1 "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
#define SHARE2 "A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF"

struct card {
	sim_card *c;
	trust_store trust;
	devaut_chain chain;
};

static uint16_t tx(sim_card *c, const char *hex, smk_buf *data)
{
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	uint16_t sw;

	tu_hex(&cmd, hex);
	ck_assert_int_eq(sim_card_transmit(c, cmd.data, cmd.len, &resp), SIM_ANSWERED);
	ck_assert_uint_ge(resp.len, 2);
	sw = (uint16_t)(resp.data[resp.len - 2] << 8 | resp.data[resp.len - 1]);
	if (data) {
		smk_buf_reset(data);
		smk_buf_add(data, resp.data, resp.len - 2);
	}
	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	return sw;
}

static uint16_t tx_apdu(sim_card *c, const apdu *a, smk_buf *data)
{
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	smk_err e;
	uint16_t sw;

	ck_assert_int_eq(apdu_encode(a, &cmd, &e), 0);
	ck_assert_int_eq(sim_card_transmit(c, cmd.data, cmd.len, &resp), SIM_ANSWERED);
	ck_assert_uint_ge(resp.len, 2);
	sw = (uint16_t)(resp.data[resp.len - 2] << 8 | resp.data[resp.len - 1]);
	if (data) {
		smk_buf_reset(data);
		smk_buf_add(data, resp.data, resp.len - 2);
	}
	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	return sw;
}

#define ck_sw(c, hex, want) ck_assert_uint_eq(tx((c), (hex), NULL), (want))

/* A card with its own device PKI, initialised with the domain tags given
 * (hex, may be ""), PIN verified. */
static void card_new(struct card *k, unsigned device_no, const char *domain_tags)
{
	smk_buf root = SMK_BUF_INIT, ef = SMK_BUF_INIT, cmd = SMK_BUF_INIT, body = SMK_BUF_INIT;
	char hex[256];
	smk_err e;

	memset(k, 0, sizeof(*k));
	k->c = sim_card_new();
	ck_assert_ptr_nonnull(k->c);
	ck_assert_msg(sim_card_init_pki(k->c, NULL, device_no, &root, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(sim_card_set_pins(k->c, (const uint8_t *)"648219", 6, sopin, &e), 0);
	ck_assert_msg(trust_add(&k->trust, root.data, root.len, "sim root", &e) == 0, "%s", e.msg);
	ck_sw(k->c, SELECT, 0x9000);
	snprintf(hex, sizeof(hex), "%s %s", INIT_HEAD, domain_tags);
	tu_hex(&body, hex);
	snprintf(hex, sizeof(hex), "80500000 %02zX", body.len);
	tu_hex(&cmd, hex);
	smk_buf_add(&cmd, body.data, body.len);
	{
		smk_buf resp = SMK_BUF_INIT;

		ck_assert_int_eq(sim_card_transmit(k->c, cmd.data, cmd.len, &resp), SIM_ANSWERED);
		ck_assert_uint_eq(resp.len, 2);
		ck_assert_uint_eq(resp.data[0] << 8 | resp.data[1], 0x9000);
		smk_buf_free(&resp);
	}
	ck_assert_int_eq(sim_card_read_ef(k->c, 0x2F02, &ef), 0);
	ck_assert_msg(chain_validate(ef.data, ef.len, &k->trust, time(NULL), &k->chain, &e) == 0,
		      "%s", e.msg);
	ck_sw(k->c, PIN_OK, 0x9000);
	smk_buf_free(&root);
	smk_buf_free(&ef);
	smk_buf_free(&cmd);
	smk_buf_free(&body);
}

static void card_free(struct card *k)
{
	chain_free(&k->chain);
	trust_free(&k->trust);
	sim_card_free(k->c);
}

static void kcv_of(const char *dkek_hex, uint8_t kcv[8])
{
	smk_buf d = SMK_BUF_INIT;

	tu_hex(&d, dkek_hex);
	ck_assert_uint_eq(d.len, 32);
	sim_dkek_kcv(d.data, kcv);
	smk_buf_free(&d);
}

/* The status of domain i as the host parser reads it. */
static enum hsm_domain_answer query(sim_card *c, uint8_t i, hsm_key_domain *d)
{
	smk_buf data = SMK_BUF_INIT;
	enum hsm_domain_answer ans;
	uint16_t sw;
	apdu a;
	smk_err e;

	hsm_build_key_domain_query(&a, i);
	sw = tx_apdu(c, &a, &data);
	ck_assert_msg(hsm_parse_key_domain(data.data, data.len, sw, i, d, &ans, &e) == 0, "%s",
		      e.msg);
	smk_buf_free(&data);
	return ans;
}

static uint16_t gakp_ec(sim_card *c, uint8_t id, const uint8_t *algs, size_t n, smk_buf *req)
{
	hsm_keyspec ks;
	smk_buf data = SMK_BUF_INIT;
	uint16_t sw;
	apdu a;
	smk_err e;

	memset(&ks, 0, sizeof(ks));
	ks.type = SMK_KEY_EC;
	ks.curve = curve_by_name("secp256r1");
	strcpy(ks.chr, "ZZSIM0000100001");
	if (n)
		memcpy(ks.algs, algs, n);
	ks.alg_count = n;
	ck_assert_msg(hsm_build_gakp(&a, &data, id, 0, &ks, true, &e) == 0, "%s", e.msg);
	sw = tx_apdu(c, &a, req);
	smk_buf_free(&data);
	return sw;
}

static EVP_PKEY *attested_key(struct card *k, const smk_buf *req, char chr[17])
{
	chain_attested att;
	EVP_PKEY *key;
	smk_err e;

	memset(&att, 0, sizeof(att));
	ck_assert_msg(chain_verify_authreq(&k->chain, req->data, req->len, &att, &e) == 0, "%s",
		      e.msg);
	if (chr)
		snprintf(chr, 17, "%s", att.chr);
	key = att.key;
	EVP_PKEY_up_ref(key);
	chain_attested_free(&att);
	return key;
}

/* SIGN ECDSA-SHA256 (73) or RSA-PKCS1-SHA256 (33) of "abc" with key id, and
 * check it against pub. */
static void signs_as(sim_card *c, uint8_t id, uint8_t alg, EVP_PKEY *pub)
{
	smk_buf sig = SMK_BUF_INIT;
	char hex[64];
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	snprintf(hex, sizeof(hex), "8068%02X%02X 03 616263 00", id, alg);
	ck_assert_uint_eq(tx(c, hex, &sig), 0x9000);
	ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
	ck_assert_int_eq(EVP_DigestVerify(md, sig.data, sig.len, (const uint8_t *)"abc", 3), 1);
	EVP_MD_CTX_free(md);
	smk_buf_free(&sig);
}

START_TEST(domain_states)
{
	struct card k;
	hsm_key_domain d;
	uint8_t kcv[8], uid[65];
	smk_buf st = SMK_BUF_INIT;
	smk_err e;

	/* two domains, none set up */
	card_new(&k, 1, "9701 02");
	ck_assert_int_eq(query(k.c, 0, &d), HSM_DOMAIN_ANSWER_EMPTY);
	ck_assert_int_eq(d.kind, HSM_DOMAIN_EMPTY);
	ck_assert_int_eq(query(k.c, 1, &d), HSM_DOMAIN_ANSWER_EMPTY);
	ck_assert_int_eq(query(k.c, 2, &d), HSM_DOMAIN_ANSWER_BEYOND);

	/* a DKEK domain of two shares: both outstanding, no check value yet */
	ck_assert_uint_eq(tx(k.c, "80520100 01 02", &st), 0x9000);
	tu_assert_hex(st.data, st.len, "0202 0000000000000000");
	ck_assert_int_eq(query(k.c, 0, &d), HSM_DOMAIN_ANSWER_PRESENT);
	ck_assert_int_eq(d.kind, HSM_DOMAIN_DKEK);
	ck_assert_uint_eq(d.shares_total, 2);
	ck_assert_uint_eq(d.shares_outstanding, 2);
	ck_assert(!d.has_kcv);

	/* one share in: one outstanding; the second completes the DKEK, whose
	 * KCV is SHA-256(share1 ^ share2)[0..8) */
	ck_assert_uint_eq(tx(k.c, "80520000 20 " SHARE1, &st), 0x9000);
	ck_assert_uint_eq(st.data[1], 1);
	ck_assert_uint_eq(tx(k.c, "80520000 20 " SHARE2, &st), 0x9000);
	ck_assert_int_eq(query(k.c, 0, &d), HSM_DOMAIN_ANSWER_PRESENT);
	ck_assert_uint_eq(d.shares_outstanding, 0);
	ck_assert(d.has_kcv);
	kcv_of("A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0", kcv);
	ck_assert_mem_eq(d.kcv, kcv, 8);
	ck_sw(k.c, "80520000 20 " SHARE1, 0x6985); /* no share outstanding */
	ck_sw(k.c, "80520100 01 01", 0x6985);	   /* already set up */

	/* P1 04 deletes the DKEK: every share outstanding again */
	ck_assert_uint_eq(tx(k.c, "80520400", &st), 0x9000);
	tu_assert_hex(st.data, st.len, "0202 0000000000000000");

	/* an XKEK domain: the status carries the domain UID */
	memset(uid, 0x04, sizeof(uid));
	ck_assert_int_eq(sim_card_set_xkek_domain(k.c, 1, uid, sizeof(uid), &e), 0);
	ck_assert_int_eq(query(k.c, 1, &d), HSM_DOMAIN_ANSWER_PRESENT);
	ck_assert_int_eq(d.kind, HSM_DOMAIN_XKEK);
	ck_assert_int_lt(sim_card_set_xkek_domain(k.c, 2, uid, sizeof(uid), &e), 0);

	/* the query and a share import need no PIN (sc-hsm-tool sends none);
	 * creating and deleting do */
	ck_sw(k.c, SELECT, 0x9000);
	ck_assert_int_eq(query(k.c, 0, &d), HSM_DOMAIN_ANSWER_PRESENT);
	ck_sw(k.c, "80520000 20 " SHARE1, 0x9000);
	ck_sw(k.c, "80520400", 0x6982);
	ck_sw(k.c, "80520300", 0x6982);
	card_free(&k);

	/* INITIALIZE with 92: domain 0 is a DKEK domain of that many shares */
	card_new(&k, 2, "9201 01");
	ck_assert_int_eq(query(k.c, 0, &d), HSM_DOMAIN_ANSWER_PRESENT);
	ck_assert_uint_eq(d.shares_total, 1);
	ck_assert_uint_eq(d.shares_outstanding, 1);
	ck_assert_int_eq(query(k.c, 1, &d), HSM_DOMAIN_ANSWER_BEYOND);
	card_free(&k);

	/* 92 00: a random DKEK, complete at once */
	card_new(&k, 3, "9201 00");
	ck_assert_int_eq(query(k.c, 0, &d), HSM_DOMAIN_ANSWER_PRESENT);
	ck_assert_uint_eq(d.shares_total, 0);
	ck_assert(d.has_kcv);
	memset(kcv, 0, sizeof(kcv));
	ck_assert(memcmp(d.kcv, kcv, 8) != 0);
	card_free(&k);

	/* no domain at all: the query for domain 0 is beyond the configured */
	card_new(&k, 4, "");
	ck_assert_int_eq(query(k.c, 0, &d), HSM_DOMAIN_ANSWER_BEYOND);
	card_free(&k);
	smk_buf_free(&st);
}
END_TEST

/* Card k with one DKEK domain of one share, imported. */
static void dkek_card(struct card *k, unsigned device_no, const char *share)
{
	char hex[128];

	card_new(k, device_no, "9201 01");
	snprintf(hex, sizeof(hex), "80520000 20 %s", share);
	ck_sw(k->c, hex, 0x9000);
}

static uint16_t unwrap(sim_card *c, uint8_t id, const smk_buf *blob)
{
	apdu a = {.cla = 0x80,
		  .ins = 0x74,
		  .p1 = id,
		  .p2 = 0x93,
		  .data = blob->data,
		  .lc = blob->len,
		  .extended = true};

	return tx_apdu(c, &a, NULL);
}

START_TEST(wrap_unwrap_between_cards)
{
	struct card a, b, other;
	smk_buf req = SMK_BUF_INIT, blob = SMK_BUF_INIT, bad = SMK_BUF_INIT, ce = SMK_BUF_INIT;
	static const uint8_t only_sign[] = {0x73}, sign_wrap[] = {0x73, 0x92};
	EVP_PKEY *pub;
	apdu w = {.cla = 0x80, .ins = 0x72, .p1 = 1, .p2 = 0x92, .ne = 65536, .extended = true};

	dkek_card(&a, 1, SHARE1);
	dkek_card(&b, 2, SHARE1);
	dkek_card(&other, 3, SHARE2);

	/* a key that may be exported (92 in its list) leaves card A as a blob */
	ck_assert_uint_eq(gakp_ec(a.c, 1, sign_wrap, sizeof(sign_wrap), &req), 0x9000);
	pub = attested_key(&a, &req, NULL);
	ck_assert_uint_eq(tx_apdu(a.c, &w, &blob), 0x9000);
	ck_assert_uint_gt(blob.len, 100);
	/* ... and enters card B, which has the same DKEK, at another id */
	ck_assert_uint_eq(unwrap(b.c, 7, &blob), 0x9000);
	signs_as(b.c, 7, 0x73, pub);
	/* with its algorithm list: only what the blob allowed */
	ck_sw(b.c,
	      "80680770 20 000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F 00",
	      0x6A81);
	/* a plain import writes no request into CE|id */
	ck_assert_int_lt(sim_card_read_ef(b.c, 0xCE07, &ce), 0);

	/* a card with another DKEK does not know the blob's KCV */
	ck_assert_uint_eq(unwrap(other.c, 7, &blob), 0x6A88);
	/* a changed byte anywhere breaks the CMAC */
	smk_buf_add(&bad, blob.data, blob.len);
	bad.data[bad.len - 30] ^= 0x01;
	ck_assert_uint_eq(unwrap(b.c, 8, &bad), 0x6A80);
	bad.data[bad.len - 30] ^= 0x01;
	bad.data[9] ^= 0x01; /* the OID length */
	ck_assert_uint_eq(unwrap(b.c, 8, &bad), 0x6A80);
	bad.len = 20; /* truncated */
	ck_assert_uint_eq(unwrap(b.c, 8, &bad), 0x6A80);
	ck_sw(b.c, "80680873 03 616263 00", 0x6A82); /* nothing was imported */

	/* OpenSC's way: the blob in EF 2F10, UNWRAP without data */
	{
		smk_buf cmd = SMK_BUF_INIT;
		char hex[64];
		size_t off;

		for (off = 0; off < blob.len; off += 200) {
			size_t n = blob.len - off < 200 ? blob.len - off : 200;
			smk_buf resp = SMK_BUF_INIT;

			smk_buf_reset(&cmd);
			snprintf(hex, sizeof(hex), "00D72F10 %02zX 5402%04zX 5381%02zX", n + 7, off,
				 n);
			tu_hex(&cmd, hex);
			smk_buf_add(&cmd, blob.data + off, n);
			ck_assert_int_eq(sim_card_transmit(b.c, cmd.data, cmd.len, &resp),
					 SIM_ANSWERED);
			ck_assert_uint_eq(resp.data[resp.len - 2] << 8 | resp.data[resp.len - 1],
					  0x9000);
			smk_buf_free(&resp);
		}
		smk_buf_free(&cmd);
		ck_sw(b.c, "80740993", 0x9000);
		signs_as(b.c, 9, 0x73, pub);
	}

	/* refusals: wrong P2, key 0, no PIN, a list without 92, no DKEK */
	ck_sw(a.c, "80720191 00", 0x6A86);
	ck_sw(b.c, "80740094", 0x6A86);
	ck_assert_uint_eq(gakp_ec(a.c, 2, only_sign, sizeof(only_sign), &req), 0x9000);
	ck_sw(a.c, "80720292 00", 0x6A81);
	ck_sw(a.c, "80720592 00", 0x6A82);
	ck_sw(a.c, SELECT, 0x9000);
	ck_sw(a.c, "80720192 00", 0x6982);
	ck_assert_uint_eq(unwrap(a.c, 3, &blob), 0x6982);
	{
		struct card none;

		card_new(&none, 5, "9201 01"); /* the share is still outstanding */
		ck_assert_uint_eq(gakp_ec(none.c, 1, sign_wrap, sizeof(sign_wrap), &req), 0x9000);
		ck_sw(none.c, "80720192 00", 0x6A88);
		ck_assert_uint_eq(unwrap(none.c, 3, &blob), 0x6A88);
		card_free(&none);
	}
	EVP_PKEY_free(pub);
	card_free(&a);
	card_free(&b);
	card_free(&other);
	smk_buf_free(&req);
	smk_buf_free(&blob);
	smk_buf_free(&bad);
	smk_buf_free(&ce);
}
END_TEST

/* Whoever holds every share can make a key in software and import it: the
 * card then holds a key that it never generated. With the option on it even
 * writes a device-signed request for it, as for a generated key. */
START_TEST(software_key_import_and_attestation)
{
	struct card k;
	smk_buf dkek = SMK_BUF_INIT, blob = SMK_BUF_INIT, ce = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	static const uint8_t algs[] = {0x73};
	EVP_PKEY *soft, *rsa, *att;
	uint8_t got[16];
	size_t n_got;
	EVP_PKEY *back;
	char chr[17];
	smk_err e;

	tu_hex(&dkek, SHARE1);
	soft = tu_keygen("P-256");
	ck_assert_msg(sim_dkek_wrap(dkek.data, soft, algs, sizeof(algs), &blob, &e) == 0, "%s",
		      e.msg);
	/* the blob decodes to the same key and list */
	ck_assert_msg(sim_dkek_unwrap(dkek.data, blob.data, blob.len, &back, got, &n_got, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(EVP_PKEY_eq(back, soft), 1);
	ck_assert_uint_eq(n_got, 1);
	ck_assert_uint_eq(got[0], 0x73);
	EVP_PKEY_free(back);
	/* under another DKEK it does not */
	dkek.data[0] ^= 1;
	ck_assert_int_lt(sim_dkek_unwrap(dkek.data, blob.data, blob.len, &back, got, &n_got, &e),
			 0);
	ck_assert_ptr_nonnull(strstr(e.msg, "KCV"));
	dkek.data[0] ^= 1;

	dkek_card(&k, 1, SHARE1);
	sim_card_set_attest_imports(k.c, true);
	ck_assert_uint_eq(unwrap(k.c, 4, &blob), 0x9000);
	signs_as(k.c, 4, 0x73, soft);
	/* CE|04 holds an authenticated request that verifies against this
	 * device's chain, for the software key, exactly like a generated one */
	ck_assert_int_eq(sim_card_read_ef(k.c, 0xCE04, &ce), 0);
	ck_assert_uint_eq(ce.data[0], 0x67);
	att = attested_key(&k, &ce, chr);
	ck_assert_int_eq(EVP_PKEY_eq(att, soft), 1);
	ck_assert_str_eq(chr, "ZZSIM0000100004");
	EVP_PKEY_free(att);

	/* RSA keys travel too (type 5: d, n, e) */
	rsa = tu_keygen("RSA");
	smk_buf_reset(&blob);
	ck_assert_msg(sim_dkek_wrap(dkek.data, rsa, NULL, 0, &blob, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(unwrap(k.c, 5, &blob), 0x9000);
	signs_as(k.c, 5, 0x33, rsa);
	smk_buf_reset(&ce);
	ck_assert_int_eq(sim_card_read_ef(k.c, 0xCE05, &ce), 0);
	att = attested_key(&k, &ce, NULL);
	ck_assert_int_eq(EVP_PKEY_eq(att, rsa), 1);
	EVP_PKEY_free(att);

	EVP_PKEY_free(soft);
	EVP_PKEY_free(rsa);
	card_free(&k);
	smk_buf_free(&dkek);
	smk_buf_free(&blob);
	smk_buf_free(&ce);
	smk_buf_free(&spki);
}
END_TEST

/* ---- blobs made here, with a valid CMAC around hostile content ---- */

static void sha_tag(const uint8_t dkek[32], uint8_t tag, uint8_t out[32])
{
	uint8_t in[36];
	unsigned n = 0;

	memcpy(in, dkek, 32);
	in[32] = in[33] = in[34] = 0;
	in[35] = tag;
	ck_assert_int_eq(EVP_Digest(in, 36, out, &n, EVP_sha256(), NULL), 1);
}

/* KCV | type | header (hex, the four length-prefixed fields) |
 * CBC(plain, padded with 80 00.. unless pad is false) | CMAC. */
static void make_blob(const uint8_t dkek[32], uint8_t type, const char *header_hex,
		      const smk_buf *plain, bool pad, smk_buf *out)
{
	static const uint8_t iv[16];
	uint8_t kenc[32], kmac[32], kcv[8], mac[16];
	smk_buf p = SMK_BUF_INIT, hdr = SMK_BUF_INIT;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	EVP_MAC *m = EVP_MAC_fetch(NULL, "CMAC", NULL);
	EVP_MAC_CTX *mc = EVP_MAC_CTX_new(m);
	OSSL_PARAM prm[2] = {OSSL_PARAM_construct_utf8_string("cipher", (char *)"AES-256-CBC", 0),
			     OSSL_PARAM_construct_end()};
	size_t off, maclen = 0;
	int len = 0;

	sha_tag(dkek, 1, kenc);
	sha_tag(dkek, 2, kmac);
	sim_dkek_kcv(dkek, kcv);
	smk_buf_reset(out);
	smk_buf_add(out, kcv, 8);
	smk_buf_add_byte(out, type);
	tu_hex(&hdr, header_hex);
	smk_buf_add(out, hdr.data, hdr.len);
	smk_buf_add(&p, plain->data, plain->len);
	if (pad) {
		smk_buf_add_byte(&p, 0x80);
		while (p.len % 16)
			smk_buf_add_byte(&p, 0);
	}
	off = out->len;
	smk_buf_reserve(out, p.len);
	ck_assert_int_eq(EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, kenc, iv), 1);
	EVP_CIPHER_CTX_set_padding(c, 0);
	ck_assert_int_eq(EVP_EncryptUpdate(c, out->data + off, &len, p.data, (int)p.len), 1);
	out->len += (size_t)len;
	ck_assert_int_eq(EVP_MAC_init(mc, kmac, 32, prm), 1);
	ck_assert_int_eq(EVP_MAC_update(mc, out->data, out->len), 1);
	ck_assert_int_eq(EVP_MAC_final(mc, mac, &maclen, sizeof(mac)), 1);
	smk_buf_add(out, mac, 16);
	EVP_MAC_CTX_free(mc);
	EVP_MAC_free(m);
	EVP_CIPHER_CTX_free(c);
	smk_buf_free(&p);
	smk_buf_free(&hdr);
}

#define HDR_EC "000A 04007F00070202020203 0001 73 0000 0000"

static void blob_refused(const uint8_t dkek[32], uint8_t type, const char *hdr,
			 const char *plain_hex, bool pad, const char *needle)
{
	smk_buf plain = SMK_BUF_INIT, blob = SMK_BUF_INIT;
	EVP_PKEY *key = NULL;
	uint8_t algs[16];
	size_t n;
	smk_err e;

	tu_hex(&plain, plain_hex);
	make_blob(dkek, type, hdr, &plain, pad, &blob);
	ck_assert_int_lt(sim_dkek_unwrap(dkek, blob.data, blob.len, &key, algs, &n, &e), 0);
	ck_assert_ptr_null(key);
	ck_assert_msg(strstr(e.msg, needle) != NULL, "\"%s\" not in \"%s\"", needle, e.msg);
	smk_buf_free(&plain);
	smk_buf_free(&blob);
}

START_TEST(hostile_blobs_refused)
{
	smk_buf dkek = SMK_BUF_INIT, good = SMK_BUF_INIT, plain = SMK_BUF_INIT, blob = SMK_BUF_INIT;
	EVP_PKEY *soft = tu_keygen("P-256"), *key = NULL;
	uint8_t kenc[32], algs[16];
	size_t n;
	smk_err e;
	static const uint8_t iv[16];
	EVP_CIPHER_CTX *c;
	int len;

	tu_hex(&dkek, SHARE1);
	/* the plaintext of a good blob, to cut and change */
	ck_assert_int_eq(sim_dkek_wrap(dkek.data, soft, NULL, 0, &good, &e), 0);
	sha_tag(dkek.data, 1, kenc);
	c = EVP_CIPHER_CTX_new();
	smk_buf_reserve(&plain, good.len);
	ck_assert_int_eq(EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, kenc, iv), 1);
	EVP_CIPHER_CTX_set_padding(c, 0);
	/* header of a list-less blob: 8 + 1 + 12 + 2 + 2 + 2 = 27 bytes */
	ck_assert_int_eq(
	    EVP_DecryptUpdate(c, plain.data, &len, good.data + 27, (int)(good.len - 27 - 16)), 1);
	plain.len = (size_t)len;
	EVP_CIPHER_CTX_free(c);
	/* the made-here blob of that plaintext is accepted (the builder is right) */
	make_blob(dkek.data, 12, HDR_EC, &plain, false, &blob);
	ck_assert_msg(sim_dkek_unwrap(dkek.data, blob.data, blob.len, &key, algs, &n, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(EVP_PKEY_eq(key, soft), 1);
	EVP_PKEY_free(key);

	/* every cut of the key fields is refused, none reads past the end */
	for (size_t cut = 8;
	     cut < 8 + 2 + 2 + 32 + 2 + 32 + 2 + 32 + 2 + 32 + 2 + 65 + 2 + 32 + 2 + 65; cut += 7) {
		smk_buf part = SMK_BUF_INIT;

		smk_buf_add(&part, plain.data, cut);
		make_blob(dkek.data, 12, HDR_EC, &part, true, &blob);
		ck_assert_int_lt(
		    sim_dkek_unwrap(dkek.data, blob.data, blob.len, &key, algs, &n, &e), 0);
		ck_assert_ptr_null(key);
		smk_buf_free(&part);
	}
	/* header fields */
	blob_refused(dkek.data, 12, "000A 04007F00070202020102 0000 0000 0000", "00", true,
		     "OID does not fit");
	blob_refused(dkek.data, 9, HDR_EC, "00", true, "key type 9");
	blob_refused(dkek.data, 15, HDR_EC, "00", true, "key type 15");
	blob_refused(dkek.data, 12, "000A 04007F00070202020203 0001 EE 0000 0000", "00", true,
		     "unknown algorithm EE");
	blob_refused(dkek.data, 12,
		     "000A 04007F00070202020203 0011 7373737373737373737373737373737373 0000 0000",
		     "00", true, "17 allowed algorithms");
	blob_refused(dkek.data, 12, "000A 04007F00070202020203 FFFF", "00", true,
		     "header truncated");
	/* key fields: a huge length, the wrong size, a private key of 0, Q not d*G */
	blob_refused(dkek.data, 12, HDR_EC, "0001020304050607 0100 FFFF", true, "truncated");
	{
		smk_buf bad = SMK_BUF_INIT;
		char *hex;
		size_t i;

		/* size 384 for P-256 */
		smk_buf_add(&bad, plain.data, plain.len);
		bad.data[8] = 0x01;
		bad.data[9] = 0x80;
		hex = malloc(2 * bad.len + 1);
		for (i = 0; i < bad.len; i++)
			sprintf(hex + 2 * i, "%02X", bad.data[i]);
		blob_refused(dkek.data, 12, HDR_EC, hex, false, "key size 384");
		free(hex);
		smk_buf_free(&bad);
	}
	/* trailing bytes: more than a block after the key */
	{
		smk_buf more = SMK_BUF_INIT;

		smk_buf_add(&more, plain.data, plain.len);
		for (int i = 0; i < 32; i++)
			smk_buf_add_byte(&more, 0);
		make_blob(dkek.data, 12, HDR_EC, &more, false, &blob);
		ck_assert_int_lt(
		    sim_dkek_unwrap(dkek.data, blob.data, blob.len, &key, algs, &n, &e), 0);
		ck_assert_ptr_nonnull(strstr(e.msg, "after the key"));
		smk_buf_free(&more);
	}
	EVP_PKEY_free(soft);
	smk_buf_free(&dkek);
	smk_buf_free(&good);
	smk_buf_free(&plain);
	smk_buf_free(&blob);
}
END_TEST

static uint16_t select_key(sim_card *c, uint8_t id, smk_buf *fcp)
{
	uint8_t fid[2];
	apdu a;

	hsm_build_select_key(&a, fid, id);
	return tx_apdu(c, &a, fcp);
}

START_TEST(fcp_algorithm_list_option)
{
	struct card k;
	smk_buf req = SMK_BUF_INIT, fcp = SMK_BUF_INIT;
	static const uint8_t algs[] = {0x73, 0x74};
	uint8_t got[SMK_ALG_LIST_MAX];
	size_t n;
	bool reported;
	uint16_t sw;
	smk_err e;

	card_new(&k, 1, "");
	ck_assert_uint_eq(gakp_ec(k.c, 1, algs, sizeof(algs), &req), 0x9000);
	ck_assert_uint_eq(gakp_ec(k.c, 2, NULL, 0, &req), 0x9000);
	/* by default a key object is not selectable: nothing reported */
	sw = select_key(k.c, 1, &fcp);
	ck_assert_uint_eq(sw, 0x6A82);
	ck_assert_int_eq(hsm_parse_key_fcp_algs(fcp.data, fcp.len, sw, 1, got, &n, &reported, &e),
			 0);
	ck_assert(!reported);

	sim_card_set_fcp_algorithms(k.c, true);
	sw = select_key(k.c, 1, &fcp);
	ck_assert_uint_eq(sw, 0x9000);
	tu_assert_hex(fcp.data, fcp.len, "620D 820118 8302CC01 A504 91027374");
	ck_assert_int_eq(hsm_parse_key_fcp_algs(fcp.data, fcp.len, sw, 1, got, &n, &reported, &e),
			 0);
	ck_assert(reported);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(got, algs, 2);
	/* a key without a list: reported as none (every algorithm of its type) */
	sw = select_key(k.c, 2, &fcp);
	tu_assert_hex(fcp.data, fcp.len, "6209 820118 8302CC02 A500");
	ck_assert_int_eq(hsm_parse_key_fcp_algs(fcp.data, fcp.len, sw, 2, got, &n, &reported, &e),
			 0);
	ck_assert(reported);
	ck_assert_uint_eq(n, 0);
	/* no key: 6A82 as for any missing file */
	ck_assert_uint_eq(select_key(k.c, 3, &fcp), 0x6A82);
	/* reading a key object stays refused */
	ck_sw(k.c, "00B1CC01 04 54020000 00", 0x6982);
	card_free(&k);
	smk_buf_free(&req);
	smk_buf_free(&fcp);
}
END_TEST

START_TEST(domains_survive_restart)
{
	struct card k;
	char path[] = "/tmp/smk-dkek-XXXXXX";
	smk_buf blob = SMK_BUF_INIT, dkek = SMK_BUF_INIT;
	uint8_t uid[] = {1, 2, 3};
	hsm_key_domain d0, d1, d;
	EVP_PKEY *soft = tu_keygen("P-256");
	sim_card *c;
	smk_err e;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	card_new(&k, 1, "9201 01 9701 02");
	ck_sw(k.c, "80520000 20 " SHARE1, 0x9000);
	ck_assert_int_eq(sim_card_set_xkek_domain(k.c, 1, uid, sizeof(uid), &e), 0);
	ck_assert_int_eq(query(k.c, 0, &d0), HSM_DOMAIN_ANSWER_PRESENT);
	ck_assert_int_eq(query(k.c, 1, &d1), HSM_DOMAIN_ANSWER_PRESENT);
	ck_assert_msg(sim_card_save(k.c, path, &e) == 0, "%s", e.msg);
	c = sim_card_load(path, &e);
	ck_assert_msg(c != NULL, "%s", e.msg);
	ck_sw(c, SELECT, 0x9000);
	ck_assert_int_eq(query(c, 0, &d), HSM_DOMAIN_ANSWER_PRESENT);
	ck_assert_mem_eq(&d, &d0, sizeof(d));
	ck_assert_int_eq(query(c, 1, &d), HSM_DOMAIN_ANSWER_PRESENT);
	ck_assert_int_eq(d.kind, HSM_DOMAIN_XKEK);
	/* the DKEK itself came back: a blob made under it imports */
	tu_hex(&dkek, SHARE1);
	ck_assert_int_eq(sim_dkek_wrap(dkek.data, soft, NULL, 0, &blob, &e), 0);
	ck_sw(c, PIN_OK, 0x9000);
	ck_assert_uint_eq(unwrap(c, 1, &blob), 0x9000);
	sim_card_free(c);
	unlink(path);
	EVP_PKEY_free(soft);
	card_free(&k);
	smk_buf_free(&blob);
	smk_buf_free(&dkek);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim_dkek");
	TCase *tc = tcase_create("dkek");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, domain_states);
	tcase_add_test(tc, wrap_unwrap_between_cards);
	tcase_add_test(tc, software_key_import_and_attestation);
	tcase_add_test(tc, hostile_blobs_refused);
	tcase_add_test(tc, fcp_algorithm_list_option);
	tcase_add_test(tc, domains_survive_restart);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
