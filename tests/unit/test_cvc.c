/* SPDX-License-Identifier: BSD-3-Clause */
/* CVC parsing, keys, signatures and encoding, against genuine device bytes
 * (protocol reference §8) and against keys made here with OpenSSL. */
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "tests/lib/testutil.h"
#include "sm/cvc.h"
#include "sm/tlv.h"

#define ROOT_DE "etc/trust/DESRCACC100001.cvcert"
#define CHAIN "tests/data/cvc/DENK0404144-2F02.hex"
#define REQ_P256 "tests/data/cvc/DENK0404144-CE03-secp256r1.hex"
#define REQ_K1 "tests/data/cvc/DENK0404144-CE01-secp256k1.hex"
#define SPKI_P256 "tests/data/cvc/DENK0404144-CE03-secp256r1.spki.hex"

/* The device certificate and the DICA certificate of EF 2F02. */
static void split_chain(const smk_buf *chain, cvc *dev, cvc *dica)
{
	tlv t;
	smk_err e;

	ck_assert_int_eq(tlv_parse(chain->data, chain->len, &t, &e), 0);
	ck_assert_msg(cvc_parse_cert(t.raw, t.raw_len, dev, &e) == 0, "%s", e.msg);
	ck_assert_msg(cvc_parse_cert(chain->data + t.raw_len, chain->len - t.raw_len, dica, &e) ==
			  0,
		      "%s", e.msg);
}

START_TEST(root_fields_and_self_signature)
{
	smk_buf b = SMK_BUF_INIT;
	EVP_PKEY *k = NULL;
	char d[16];
	cvc c;
	smk_err e;

	tu_read_vector(&b, ROOT_DE);
	ck_assert_uint_eq(b.len, 441);
	ck_assert_msg(cvc_parse_cert(b.data, b.len, &c, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(c.kind, CVC_CERT);
	/* and a request parser refuses a certificate */
	ck_assert_int_eq(cvc_parse_request(b.data, b.len, &c, &e), -1);
	ck_assert_str_eq(e.msg, "CVC DESRCACC100001: a certificate, not a request");
	ck_assert_msg(cvc_parse_cert(b.data, b.len, &c, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(c.car, "DESRCACC100001");
	ck_assert_str_eq(c.chr, "DESRCACC100001");
	ck_assert_str_eq(c.key.alg->name, "id-TA-ECDSA-SHA-256");
	ck_assert_ptr_nonnull(c.key.curve);
	ck_assert_str_eq(c.key.curve->name, "brainpoolP256r1");
	/* ref §4.5 */
	tu_assert_hex(c.key.point, c.key.point_len,
		      "046D025A8026CDBA245F10DF1B72E9880FFF746DAB40A43A3D5C6BEBF27707C30F"
		      "6DEA72430EE3287B0665C1EAA6EAA4FA26C46303001983F82BD1AA31E03DA062");
	ck_assert_int_eq(cvc_role(&c), CVC_ROLE_ROOT);
	ck_assert(cvc_role_is_sc_hsm(&c));
	cvc_date_format(&c.ced, d, sizeof(d));
	ck_assert_str_eq(d, "2012-11-09");
	cvc_date_format(&c.cxd, d, sizeof(d));
	ck_assert_str_eq(d, "2032-11-08");
	ck_assert(!c.has_ext);
	/* ref §3.4: the signature covers the whole 7F4E TLV */
	ck_assert_ptr_eq(c.body, b.data + 5);	  /* after 7F21 82 01B4 */
	ck_assert_uint_eq(c.body_len, 5 + 0x16C); /* 7F4E 82 016C ... */
	ck_assert_uint_eq(c.sig_len, 64);
	ck_assert_ptr_eq(c.sig + 64, b.data + b.len);
	ck_assert_int_eq(cvc_pubkey_to_evp(&c.key, NULL, &k, &e), 0);
	ck_assert_msg(cvc_verify(k, c.key.alg, c.body, c.body_len, c.sig, c.sig_len, &e) == 0, "%s",
		      e.msg);
	EVP_PKEY_free(k);
	smk_buf_free(&b);
}
END_TEST

START_TEST(device_and_dica_fields)
{
	smk_buf b = SMK_BUF_INIT;
	cvc dev, dica;
	char d[16];

	tu_read_vector(&b, CHAIN);
	ck_assert_uint_eq(b.len, 464);
	split_chain(&b, &dev, &dica);
	ck_assert_str_eq(dev.car, "DEDINK0400001");
	ck_assert_str_eq(dev.chr, "DENK040414400000");
	ck_assert_int_eq(cvc_role(&dev), CVC_ROLE_DEVICE);
	/* ref §3.3: DICA and device carry only 06 and 86; the curve is inherited */
	ck_assert_ptr_null(dev.key.curve);
	ck_assert_uint_eq(dev.key.point_len, 65);
	cvc_date_format(&dev.ced, d, sizeof(d));
	ck_assert_str_eq(d, "2026-05-28");
	cvc_date_format(&dev.cxd, d, sizeof(d));
	ck_assert_str_eq(d, "2031-05-27");
	ck_assert(!dev.has_ext);

	ck_assert_str_eq(dica.car, "DESRCACC100001");
	ck_assert_str_eq(dica.chr, "DEDINK0400001");
	ck_assert_int_eq(cvc_role(&dica), CVC_ROLE_DICA);
	ck_assert_ptr_null(dica.key.curve);
	/* the genuine DICA carries an empty 65 */
	ck_assert(dica.has_ext);
	ck_assert_uint_eq(dica.ext_len, 0);
	cvc_date_format(&dica.cxd, d, sizeof(d));
	ck_assert_str_eq(d, "2032-10-29");
	smk_buf_free(&b);
}
END_TEST

START_TEST(authreq_fields_and_signed_ranges)
{
	smk_buf b = SMK_BUF_INIT, spki = SMK_BUF_INIT, want = SMK_BUF_INIT;
	EVP_PKEY *k = NULL;
	cvc_authreq a;
	char *pem = NULL;
	smk_err e;

	tu_read_vector(&b, REQ_P256);
	ck_assert_uint_eq(b.len, 490);
	ck_assert_msg(cvc_parse_authreq(b.data, b.len, &a, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(a.req.kind, CVC_REQUEST);
	ck_assert(a.req.has_car);
	ck_assert_str_eq(a.req.car, "UTCA00001");
	ck_assert_str_eq(a.req.chr, "DENK040414400001");
	ck_assert_str_eq(a.outer_car, "DENK040414400000");
	ck_assert_str_eq(a.req.key.curve->name, "secp256r1");
	/* ref §3.4: outer signature over 7F21-TLV || 42-TLV, which sit right
	 * after the 4-byte 67 header and end where 5F37 begins */
	ck_assert_ptr_eq(a.outer_signed, b.data + 4);
	ck_assert_uint_eq(a.outer_signed_len, a.req.raw_len + 2 + 16);
	tu_assert_hex(a.outer_signed + a.outer_signed_len, 2, "5F37");
	ck_assert_uint_eq(a.outer_sig_len, 64);
	ck_assert_ptr_eq(a.req.raw, b.data + 4);

	/* the key inside is the one PKCS#11 reported */
	ck_assert_int_eq(cvc_pubkey_to_evp(&a.req.key, NULL, &k, &e), 0);
	ck_assert_int_eq(cvc_spki_der(k, &spki, &e), 0);
	tu_read_vector(&want, SPKI_P256);
	ck_assert_uint_eq(spki.len, want.len);
	ck_assert_mem_eq(spki.data, want.data, want.len);
	ck_assert_int_eq(cvc_spki_pem(k, &pem, &e), 0);
	ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN PUBLIC KEY-----\n"));
	/* inner signature: proof of possession by the new key */
	ck_assert_msg(cvc_verify(k, a.req.key.alg, a.req.body, a.req.body_len, a.req.sig,
				 a.req.sig_len, &e) == 0,
		      "%s", e.msg);
	free(pem);
	EVP_PKEY_free(k);
	smk_buf_free(&b);
	smk_buf_free(&spki);
	smk_buf_free(&want);
}
END_TEST

/* Our 7F49 encoder must produce exactly what the device produced, including
 * secp256k1's 32 zero bytes for a (ref §3.1 field widths). */
START_TEST(pubkey_encoding_matches_genuine_bytes)
{
	static const char *files[] = {REQ_P256, REQ_K1, ROOT_DE};
	size_t i;

	for (i = 0; i < 3; i++) {
		smk_buf b = SMK_BUF_INIT, enc = SMK_BUF_INIT;
		EVP_PKEY *k = NULL;
		cvc_pubkey *key;
		cvc_authreq a;
		cvc c;
		smk_err e;

		tu_read_vector(&b, files[i]);
		if (b.data[0] == 0x67) {
			ck_assert_int_eq(cvc_parse_authreq(b.data, b.len, &a, &e), 0);
			key = &a.req.key;
		} else {
			ck_assert_int_eq(cvc_parse_cert(b.data, b.len, &c, &e), 0);
			key = &c.key;
		}
		ck_assert_int_eq(cvc_pubkey_to_evp(key, NULL, &k, &e), 0);
		ck_assert_msg(cvc_pubkey_encode(&enc, k, key->alg, 1, &e) == 0, "%s", e.msg);
		ck_assert_uint_eq(enc.len, key->raw_len);
		ck_assert_mem_eq(enc.data, key->raw, key->raw_len);
		EVP_PKEY_free(k);
		smk_buf_free(&b);
		smk_buf_free(&enc);
	}
}
END_TEST

START_TEST(inherited_curve_needed_for_dica_key)
{
	smk_buf b = SMK_BUF_INIT;
	EVP_PKEY *k = NULL;
	cvc dev, dica;
	smk_err e;

	tu_read_vector(&b, CHAIN);
	split_chain(&b, &dev, &dica);
	ck_assert_int_eq(cvc_pubkey_to_evp(&dica.key, NULL, &k, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "no domain parameters"));
	/* on the wrong curve the point does not lie on it */
	ck_assert_int_eq(cvc_pubkey_to_evp(&dica.key, curve_by_name("secp256r1"), &k, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(e.msg, "not on secp256r1"));
	ck_assert_int_eq(cvc_pubkey_to_evp(&dica.key, curve_by_name("brainpoolP256r1"), &k, &e), 0);
	EVP_PKEY_free(k);
	smk_buf_free(&b);
}
END_TEST

START_TEST(dates_and_oids)
{
	cvc_date d, later;
	smk_err e;
	char buf[64];

	ck_assert_int_eq(cvc_date_parse("2026-11-27", &d, &e), 0);
	ck_assert_uint_eq(d.year, 2026);
	cvc_date_from_time(cvc_date_to_time(&d), &later);
	ck_assert_int_eq(cvc_date_cmp(&d, &later), 0);
	ck_assert_int_eq(cvc_date_parse("2028-02-29", &d, &e), 0);
	ck_assert_int_eq(cvc_date_parse("2027-02-29", &d, &e), -1);
	ck_assert_int_eq(cvc_date_parse("2027-13-01", &d, &e), -1);
	ck_assert_int_eq(cvc_date_parse("2027-1-01", &d, &e), -1);
	ck_assert_int_eq(cvc_date_parse("2027-01-011", &d, &e), -1);
	ck_assert_int_eq(cvc_oid_text((const uint8_t *)"\x04\x00\x7F\x00\x07\x02\x02\x02\x02\x03",
				      10, buf, sizeof(buf)),
			 0);
	ck_assert_str_eq(buf, "0.4.0.127.0.7.2.2.2.2.3");
	ck_assert_int_eq(cvc_oid_text(cvc_oid_sc_hsm_role, 11, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "1.3.6.1.4.1.24991.3.1.1");
	/* a sub-identifier cut in the middle */
	ck_assert_int_eq(cvc_oid_text((const uint8_t *)"\x2B\x81", 2, buf, sizeof(buf)), -1);
}
END_TEST

/* Hex text (as in tests/data) and binary decode to the same bytes. */
START_TEST(input_hex_or_binary)
{
	smk_buf bin = SMK_BUF_INIT, hex = SMK_BUF_INIT, out = SMK_BUF_INIT;
	smk_err e;

	tu_read_source_file(&bin, ROOT_DE);
	ck_assert_int_eq(cvc_input_bytes(bin.data, bin.len, &out, &e), 0);
	ck_assert_mem_eq(out.data, bin.data, bin.len);
	smk_buf_reset(&out);
	tu_read_source_file(&hex, CHAIN);
	ck_assert_int_eq(cvc_input_bytes(hex.data, hex.len, &out, &e), 0);
	ck_assert_uint_eq(out.len, 464);
	smk_buf_reset(&out);
	ck_assert_int_eq(cvc_input_bytes((const uint8_t *)"7F2 1zz", 7, &out, &e), -1);
	ck_assert_int_eq(cvc_input_bytes((const uint8_t *)"", 0, &out, &e), -1);
	smk_buf_free(&bin);
	smk_buf_free(&hex);
	smk_buf_free(&out);
}
END_TEST

/* Every hash/padding of ref §3.5 signs and verifies, and a signature under
 * one OID does not pass under another. */
START_TEST(signatures_every_oid)
{
	static const char *names[] = {
	    "id-TA-ECDSA-SHA-1",      "id-TA-ECDSA-SHA-224",	"id-TA-ECDSA-SHA-256",
	    "id-TA-ECDSA-SHA-384",    "id-TA-ECDSA-SHA-512",	"id-TA-RSA-v1-5-SHA-1",
	    "id-TA-RSA-v1-5-SHA-256", "id-TA-RSA-v1-5-SHA-512", "id-TA-RSA-PSS-SHA-1",
	    "id-TA-RSA-PSS-SHA-256",  "id-TA-RSA-PSS-SHA-512",
	};
	static const uint8_t msg[] = "7F4E body bytes";
	EVP_PKEY *ec = tu_keygen("secp384r1"), *rsa = tu_keygen("RSA");
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const cvc_alg *alg = cvc_alg_by_name(names[i]), *other;
		EVP_PKEY *k;
		smk_buf sig = SMK_BUF_INIT;
		smk_err e;

		ck_assert_ptr_nonnull(alg);
		ck_assert_ptr_eq(cvc_alg_by_oid(alg->oid, sizeof(alg->oid)), alg);
		k = alg->keytype == SMK_KEY_EC ? ec : rsa;
		ck_assert_msg(cvc_sign(k, alg, msg, sizeof(msg), &sig, &e) == 0, "%s", e.msg);
		/* plain r||s: two halves of the P-384 order length */
		if (alg->keytype == SMK_KEY_EC)
			ck_assert_uint_eq(sig.len, 96);
		else
			ck_assert_uint_eq(sig.len, 256);
		ck_assert_msg(cvc_verify(k, alg, msg, sizeof(msg), sig.data, sig.len, &e) == 0,
			      "%s: %s", names[i], e.msg);
		ck_assert_int_eq(cvc_verify(k, alg, msg, sizeof(msg) - 1, sig.data, sig.len, &e),
				 -1);
		ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
		other = cvc_alg_by_name(names[(i + 1) % (sizeof(names) / sizeof(names[0]))]);
		if (other->keytype == alg->keytype) {
			ck_assert_int_eq(
			    cvc_verify(k, other, msg, sizeof(msg), sig.data, sig.len, &e), -1);
			ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
		}
		ck_assert_int_eq(cvc_verify(k, alg, msg, sizeof(msg), sig.data, sig.len - 1, &e),
				 -1);
		ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
		ck_assert_ptr_nonnull(strstr(e.msg, "bytes"));
		smk_buf_free(&sig);
	}
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}
END_TEST

/* What the simulator does for GAKP: a request for a fresh key on every
 * supported curve and RSA-2048 parses back with the same key and a valid
 * self-signature. */
START_TEST(request_round_trip_every_curve_and_rsa)
{
	size_t n, i;
	const smk_curve *list = curve_list(&n);

	for (i = 0; i <= n; i++) {
		const char *what = i < n ? OBJ_nid2sn(list[i].nid) : "RSA";
		EVP_PKEY *k = tu_keygen(what), *back = NULL;
		smk_buf req = SMK_BUF_INIT;
		cvc c;
		smk_err e;

		ck_assert_msg(cvc_encode_request(&req, i % 2 ? NULL : "UTCA00001",
						 "DENK040414400001", k, NULL, &e) == 0,
			      "%s: %s", what, e.msg);
		ck_assert_msg(cvc_parse_request(req.data, req.len, &c, &e) == 0, "%s: %s", what,
			      e.msg);
		ck_assert_int_eq(c.has_car, i % 2 == 0);
		ck_assert_str_eq(c.chr, "DENK040414400001");
		if (i < n)
			ck_assert_ptr_eq(c.key.curve, &list[i]);
		else
			ck_assert_str_eq(c.key.alg->name, "id-TA-RSA-v1-5-SHA-256");
		ck_assert_int_eq(cvc_pubkey_to_evp(&c.key, NULL, &back, &e), 0);
		ck_assert_int_eq(EVP_PKEY_eq(k, back), 1);
		ck_assert_msg(
		    cvc_verify(back, c.key.alg, c.body, c.body_len, c.sig, c.sig_len, &e) == 0,
		    "%s: %s", what, e.msg);
		/* a certificate parser refuses a request */
		ck_assert_int_eq(cvc_parse_cert(req.data, req.len, &c, &e), -1);
		ck_assert_str_eq(e.msg, "CVC DENK040414400001: a request, not a certificate");
		EVP_PKEY_free(k);
		EVP_PKEY_free(back);
		smk_buf_free(&req);
	}
}
END_TEST

/* ---- malformed input ---- */

/* Every proper prefix, the input plus one byte, and the outer length
 * claiming one byte more must all be refused by the parser for this kind. */
static void refuse_truncated_and_overlong(const smk_buf *b, int authreq)
{
	smk_buf more = SMK_BUF_INIT;
	cvc c;
	cvc_authreq a;
	smk_err e;
	tlv outer;
	size_t i;

	for (i = 0; i < b->len; i++) {
		int r =
		    authreq ? cvc_parse_authreq(b->data, i, &a, &e) : cvc_parse(b->data, i, &c, &e);

		ck_assert_msg(r == -1, "prefix of %zu bytes accepted", i);
		ck_assert_int_eq(e.code, SMK_E_FORMAT);
	}
	smk_buf_add(&more, b->data, b->len);
	smk_buf_add_byte(&more, 0x00);
	ck_assert_int_eq(authreq ? cvc_parse_authreq(more.data, more.len, &a, &e)
				 : cvc_parse(more.data, more.len, &c, &e),
			 -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "unexpected bytes after"));
	/* the last length byte of the outer header one higher: it now claims the
	 * appended byte, which sits inside after the last field */
	ck_assert_int_eq(tlv_parse(b->data, b->len, &outer, &e), 0);
	more.data[outer.raw_len - outer.len - 1]++;
	ck_assert_int_eq(authreq ? cvc_parse_authreq(more.data, more.len, &a, &e)
				 : cvc_parse(more.data, more.len, &c, &e),
			 -1);
	ck_assert_int_eq(e.code, SMK_E_FORMAT);
	smk_buf_free(&more);
}

START_TEST(truncated_and_overlong_inputs)
{
	smk_buf b = SMK_BUF_INIT;
	cvc dev, dica;

	tu_read_vector(&b, ROOT_DE);
	refuse_truncated_and_overlong(&b, 0);
	smk_buf_reset(&b);
	tu_read_vector(&b, REQ_P256);
	refuse_truncated_and_overlong(&b, 1);
	smk_buf_reset(&b);
	tu_read_vector(&b, REQ_K1);
	refuse_truncated_and_overlong(&b, 1);
	smk_buf_reset(&b);
	tu_read_vector(&b, CHAIN);
	split_chain(&b, &dev, &dica);
	{
		smk_buf one = SMK_BUF_INIT;

		smk_buf_add(&one, dev.raw, dev.raw_len);
		refuse_truncated_and_overlong(&one, 0);
		smk_buf_free(&one);
	}
	smk_buf_free(&b);
}
END_TEST

/* Rebuild a certificate from its body fields with one change, keeping every
 * length consistent, so the parser's field checks (not the TLV layer) are
 * what refuses it. */
static void rebuild(const cvc *c, uint32_t drop, uint32_t dup, const char *extra_hex,
		    uint32_t replace, const char *replace_hex, smk_buf *out)
{
	smk_buf body = SMK_BUF_INIT;
	tlv body_tlv, t;
	tlv_iter it;
	size_t m1, m2;
	smk_err e;

	ck_assert_int_eq(tlv_parse(c->body, c->body_len, &body_tlv, &e), 0);
	tlv_iter_init(&it, body_tlv.value, body_tlv.len);
	while (tlv_next(&it, &t, &e) == 1) {
		if (t.tag == drop)
			continue;
		if (t.tag == replace) {
			smk_buf v = SMK_BUF_INIT;

			tu_hex(&v, replace_hex);
			tlv_put(&body, t.tag, v.data, v.len);
			smk_buf_free(&v);
		} else {
			smk_buf_add(&body, t.raw, t.raw_len);
		}
		if (t.tag == dup)
			smk_buf_add(&body, t.raw, t.raw_len);
	}
	if (extra_hex)
		tu_hex(&body, extra_hex);
	tlv_begin(out, 0x7F21, &m1);
	tlv_begin(out, 0x7F4E, &m2);
	smk_buf_add(out, body.data, body.len);
	tlv_end(out, m2);
	tlv_put(out, 0x5F37, c->sig, c->sig_len);
	tlv_end(out, m1);
	smk_buf_free(&body);
}

static void expect_refused(const cvc *c, uint32_t drop, uint32_t dup, const char *extra,
			   uint32_t replace, const char *replace_hex, enum smk_errc code,
			   const char *needle)
{
	smk_buf b = SMK_BUF_INIT;
	cvc back;
	smk_err e;

	rebuild(c, drop, dup, extra, replace, replace_hex, &b);
	ck_assert_msg(cvc_parse(b.data, b.len, &back, &e) == -1, "accepted (want \"%s\")", needle);
	ck_assert_msg(e.code == code, "code %s for \"%s\"", smk_errc_name(e.code), e.msg);
	ck_assert_msg(strstr(e.msg, needle) != NULL, "\"%s\" lacks \"%s\"", e.msg, needle);
	smk_buf_free(&b);
}

START_TEST(malformed_fields)
{
	smk_buf b = SMK_BUF_INIT, same = SMK_BUF_INIT;
	cvc root, back;
	smk_err e;

	tu_read_vector(&b, ROOT_DE);
	ck_assert_int_eq(cvc_parse_cert(b.data, b.len, &root, &e), 0);
	/* an unchanged rebuild parses: the helper itself is sound */
	rebuild(&root, 0, 0, NULL, 0, NULL, &same);
	ck_assert_uint_eq(same.len, b.len);
	ck_assert_mem_eq(same.data, b.data, b.len);
	ck_assert_int_eq(cvc_parse(same.data, same.len, &back, &e), 0);

	/* missing mandatory fields */
	expect_refused(&root, 0x5F29, 0, NULL, 0, NULL, SMK_E_FORMAT, "5F29) missing");
	expect_refused(&root, 0x42, 0, NULL, 0, NULL, SMK_E_FORMAT, "CAR (42) missing");
	expect_refused(&root, 0x7F49, 0, NULL, 0, NULL, SMK_E_FORMAT, "public key (7F49) missing");
	expect_refused(&root, 0x5F20, 0, NULL, 0, NULL, SMK_E_FORMAT, "CHR (5F20) missing");
	expect_refused(&root, 0x7F4C, 0, NULL, 0, NULL, SMK_E_FORMAT, "CHAT (7F4C) missing");
	expect_refused(&root, 0x5F25, 0, NULL, 0, NULL, SMK_E_FORMAT, "5F25) missing");
	expect_refused(&root, 0x5F24, 0, NULL, 0, NULL, SMK_E_FORMAT, "5F24) missing");
	/* duplicates and strangers */
	expect_refused(&root, 0, 0x5F20, NULL, 0, NULL, SMK_E_FORMAT, "duplicate CHR");
	expect_refused(&root, 0, 0x7F49, NULL, 0, NULL, SMK_E_FORMAT, "duplicate public key");
	expect_refused(&root, 0, 0, "9901AA", 0, NULL, SMK_E_FORMAT, "unexpected tag 99");
	expect_refused(&root, 0, 0, "6500 6500", 0, NULL, SMK_E_FORMAT, "duplicate extensions");
	/* nested garbage: inside 7F49, inside 7F4C, a TLV cut inside the body */
	expect_refused(&root, 0, 0, NULL, 0x7F49, "060A04007F00070202020203 86 05 0102",
		       SMK_E_FORMAT, "public key");
	expect_refused(&root, 0, 0, NULL, 0x7F49,
		       "060A04007F00070202020203 8641 04"
		       "00000000000000000000000000000000000000000000000000000000000000000000"
		       "000000000000000000000000000000000000000000000000000000000000 8801 01",
		       SMK_E_FORMAT, "unexpected tag 88");
	expect_refused(&root, 0, 0, NULL, 0x7F4C, "5301C0 060B2B0601040181C31F030101", SMK_E_FORMAT,
		       "CHAT");
	expect_refused(&root, 0, 0, NULL, 0x7F4C, "060B2B0601040181C31F030101", SMK_E_FORMAT,
		       "CHAT");
	expect_refused(&root, 0, 0, "5F2003", 0, NULL, SMK_E_FORMAT, "body");
	/* values */
	expect_refused(&root, 0, 0, NULL, 0x5F29, "01", SMK_E_UNSUPPORTED, "profile identifier");
	expect_refused(&root, 0, 0, NULL, 0x5F20, "4445534B41434331303030303031414243",
		       SMK_E_FORMAT, "CHR: 17 characters");
	expect_refused(&root, 0, 0, NULL, 0x5F20, "", SMK_E_FORMAT, "CHR: 0 characters");
	expect_refused(&root, 0, 0, NULL, 0x42, "44450053", SMK_E_FORMAT, "not printable");
	expect_refused(&root, 0, 0, NULL, 0x5F25, "01020101000A", SMK_E_FORMAT,
		       "not a decimal digit");
	expect_refused(&root, 0, 0, NULL, 0x5F24, "030201030000", SMK_E_FORMAT,
		       "not a calendar date");
	expect_refused(&root, 0, 0, NULL, 0x5F24, "0302010100", SMK_E_FORMAT, "must be 6");
	expect_refused(&root, 0, 0, NULL, 0x7F49, "060A04007F00070202020209", SMK_E_UNSUPPORTED,
		       "unknown algorithm OID 0.4.0.127.0.7.2.2.2.2.9");
	smk_buf_free(&b);
	smk_buf_free(&same);
}
END_TEST

/* The root key with one bit of p changed is a curve nobody supports; with
 * 85 missing, the parameters are incomplete. Built by re-encoding 7F49. */
START_TEST(unknown_curve_and_partial_parameters)
{
	smk_buf b = SMK_BUF_INIT, tmpl = SMK_BUF_INIT, out = SMK_BUF_INIT;
	cvc root, back;
	tlv k, t;
	tlv_iter it;
	smk_err e;
	char *hex;

	tu_read_vector(&b, ROOT_DE);
	ck_assert_int_eq(cvc_parse_cert(b.data, b.len, &root, &e), 0);
	ck_assert_int_eq(tlv_parse(root.key.raw, root.key.raw_len, &k, &e), 0);
	for (int variant = 0; variant < 2; variant++) {
		smk_buf_reset(&tmpl);
		smk_buf_reset(&out);
		tlv_iter_init(&it, k.value, k.len);
		while (tlv_next(&it, &t, &e) == 1) {
			size_t at = tmpl.len;

			if (variant == 1 && t.tag == 0x85)
				continue;
			smk_buf_add(&tmpl, t.raw, t.raw_len);
			if (variant == 0 && t.tag == 0x81)
				tmpl.data[at + 2 + 31] ^= 0x02; /* p of no supported curve */
		}
		hex = smk_hex(tmpl.data, tmpl.len);
		rebuild(&root, 0, 0, NULL, 0x7F49, hex, &out);
		free(hex);
		ck_assert_int_eq(cvc_parse(out.data, out.len, &back, &e), -1);
		if (variant == 0) {
			ck_assert_int_eq(e.code, SMK_E_UNSUPPORTED);
			ck_assert_ptr_nonnull(
			    strstr(e.msg, "unknown elliptic curve (256-bit prime)"));
		} else {
			ck_assert_int_eq(e.code, SMK_E_FORMAT);
			ck_assert_ptr_nonnull(strstr(e.msg, "incomplete domain parameters"));
		}
	}
	smk_buf_free(&b);
	smk_buf_free(&tmpl);
	smk_buf_free(&out);
}
END_TEST

START_TEST(authreq_structure_refused)
{
	smk_buf b = SMK_BUF_INIT, x = SMK_BUF_INIT;
	cvc_authreq a;
	cvc dev, dica;
	smk_err e;
	size_t m;

	tu_read_vector(&b, REQ_P256);
	ck_assert_int_eq(cvc_parse_authreq(b.data, b.len, &a, &e), 0);
	/* outer CAR before the request */
	tlv_begin(&x, 0x67, &m);
	tlv_put(&x, 0x42, "DENK040414400000", 16);
	smk_buf_add(&x, a.req.raw, a.req.raw_len);
	tlv_put(&x, 0x5F37, a.outer_sig, a.outer_sig_len);
	tlv_end(&x, m);
	ck_assert_int_eq(cvc_parse_authreq(x.data, x.len, &a, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "expected 7F21"));
	/* no outer signature */
	ck_assert_int_eq(cvc_parse_authreq(b.data, b.len, &a, &e), 0);
	smk_buf_reset(&x);
	tlv_begin(&x, 0x67, &m);
	smk_buf_add(&x, a.outer_signed, a.outer_signed_len);
	tlv_end(&x, m);
	ck_assert_int_eq(cvc_parse_authreq(x.data, x.len, &a, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "outer signature"));
	/* a certificate wrapped as if it were a request */
	smk_buf_reset(&b);
	tu_read_vector(&b, CHAIN);
	split_chain(&b, &dev, &dica);
	smk_buf_reset(&x);
	tlv_begin(&x, 0x67, &m);
	smk_buf_add(&x, dev.raw, dev.raw_len);
	tlv_put(&x, 0x42, "DENK040414400000", 16);
	tlv_put(&x, 0x5F37, dev.sig, dev.sig_len);
	tlv_end(&x, m);
	ck_assert_int_eq(cvc_parse_authreq(x.data, x.len, &a, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "is a certificate"));
	/* a request is not an authenticated request, and vice versa */
	ck_assert_int_eq(cvc_parse_authreq(dev.raw, dev.raw_len, &a, &e), -1);
	smk_buf_free(&b);
	smk_buf_free(&x);
}
END_TEST

/* RSA values a card never makes are refused before OpenSSL works on them. */
START_TEST(rsa_key_bounds)
{
	static const uint8_t f4[] = {0x01, 0x00, 0x01}, even[] = {0x01, 0x00, 0x02};
	static uint8_t n[1200];
	cvc_pubkey k;
	EVP_PKEY *pk = NULL;
	smk_err e;

	memset(&k, 0, sizeof(k));
	k.alg = cvc_alg_default(SMK_KEY_RSA);
	memset(n, 0xC5, sizeof(n)); /* odd, top bit set */
	k.modulus = n;
	k.exponent = f4;
	k.exponent_len = sizeof(f4);
	k.modulus_len = 1025; /* 8200 bits */
	ck_assert_int_eq(cvc_pubkey_to_evp(&k, NULL, &pk, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_FORMAT);
	k.modulus_len = 32; /* 256 bits */
	ck_assert_int_eq(cvc_pubkey_to_evp(&k, NULL, &pk, &e), -1);
	k.modulus_len = 256;
	k.exponent = even;
	ck_assert_int_eq(cvc_pubkey_to_evp(&k, NULL, &pk, &e), -1);
	k.exponent = f4;
	ck_assert_int_eq(cvc_pubkey_to_evp(&k, NULL, &pk, &e), 0);
	ck_assert_int_eq(EVP_PKEY_get_bits(pk), 2048);
	EVP_PKEY_free(pk);
}
END_TEST

/* A key is made from the curve's template and the point (not from the
 * curve's name each time): the same key and SubjectPublicKeyInfo as
 * OpenSSL's own, and every hostile point still refused, on every curve. */
START_TEST(ec_points_checked_on_every_curve)
{
	size_t n, i;
	const smk_curve *list = curve_list(&n);

	for (i = 0; i < n; i++) {
		const char *what = OBJ_nid2sn(list[i].nid);
		EVP_PKEY *k = tu_keygen(what), *back = NULL;
		smk_curve_params cp;
		uint8_t pt[1 + 2 * 66], bad[1 + 2 * 66];
		size_t len = 0;
		unsigned char *der1 = NULL, *der2 = NULL;
		int n1, n2;
		cvc_pubkey key;
		smk_err e;

		ck_assert_int_eq(curve_params(&list[i], &cp, &e), 0);
		ck_assert_int_eq(cp.cofactor, 1);
		ck_assert_int_eq(
		    EVP_PKEY_get_octet_string_param(k, "encoded-pub-key", pt, sizeof(pt), &len), 1);
		memset(&key, 0, sizeof(key));
		key.alg = cvc_alg_default(SMK_KEY_EC);
		key.curve = &list[i];
		key.point = pt;
		key.point_len = len;
		ck_assert_msg(cvc_pubkey_to_evp(&key, NULL, &back, &e) == 0, "%s: %s", what, e.msg);
		ck_assert_int_eq(EVP_PKEY_eq(k, back), 1);
		n1 = i2d_PUBKEY(k, &der1);
		n2 = i2d_PUBKEY(back, &der2);
		ck_assert_int_gt(n1, 0);
		ck_assert_int_eq(n1, n2);
		ck_assert_mem_eq(der1, der2, (size_t)n1);
		OPENSSL_free(der1);
		OPENSSL_free(der2);
		EVP_PKEY_free(back);

		/* y changed in its last bit: off the curve */
		memcpy(bad, pt, len);
		bad[len - 1] ^= 1;
		key.point = bad;
		ck_assert_int_eq(cvc_pubkey_to_evp(&key, NULL, &back, &e), -1);
		ck_assert_ptr_null(back);
		ck_assert_ptr_nonnull(strstr(e.msg, "not on"));
		/* x = p, outside the field */
		memcpy(bad, pt, len);
		memcpy(bad + 1, cp.p, cp.field_len);
		ck_assert_int_eq(cvc_pubkey_to_evp(&key, NULL, &back, &e), -1);
		/* compressed and the point at infinity are not the card's form */
		memcpy(bad, pt, len);
		bad[0] = 0x02;
		ck_assert_int_eq(cvc_pubkey_to_evp(&key, NULL, &back, &e), -1);
		bad[0] = 0x00;
		key.point_len = 1;
		ck_assert_int_eq(cvc_pubkey_to_evp(&key, NULL, &back, &e), -1);
		EVP_PKEY_free(k);
	}
}
END_TEST

static Suite *cvc_suite(void)
{
	Suite *s = suite_create("cvc");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, root_fields_and_self_signature);
	tcase_add_test(tc, device_and_dica_fields);
	tcase_add_test(tc, authreq_fields_and_signed_ranges);
	tcase_add_test(tc, pubkey_encoding_matches_genuine_bytes);
	tcase_add_test(tc, inherited_curve_needed_for_dica_key);
	tcase_add_test(tc, dates_and_oids);
	tcase_add_test(tc, input_hex_or_binary);
	tcase_add_test(tc, signatures_every_oid);
	tcase_add_test(tc, request_round_trip_every_curve_and_rsa);
	tcase_add_test(tc, truncated_and_overlong_inputs);
	tcase_add_test(tc, malformed_fields);
	tcase_add_test(tc, unknown_curve_and_partial_parameters);
	tcase_add_test(tc, authreq_structure_refused);
	tcase_add_test(tc, rsa_key_bounds);
	tcase_add_test(tc, ec_points_checked_on_every_curve);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(cvc_suite());
}
