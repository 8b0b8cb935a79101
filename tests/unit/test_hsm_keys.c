/* SPDX-License-Identifier: BSD-3-Clause */
/* SmartCard-HSM key commands: GAKP command data byte for byte against the
 * reference and against a genuine device's CV request, for every curve, and
 * its card-side parser against hostile data; SIGN with real OpenSSL ECDSA
 * signatures; DECIPHER and ECDH. */
#include <openssl/evp.h>
#include <string.h>

#include "tests/lib/testutil.h"
#include "sm/hsm.h"
#include "sm/tlv.h"

/* Authenticated CV request from EF CE03 of Nitrokey HSM 2 DENK0404144,
 * ref §8.3 (490 bytes): what the device answered to the §6.7 P-256 GAKP */
static const char cvreq_p256_hex[] = "678201E67F2182018C7F4E8201445F29010042095554434130303030317F4"
				     "982011D060A04007F000702020202038120"
				     "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFF"
				     "FFF8220FFFFFFFF00000001000000000000"
				     "000000000000FFFFFFFFFFFFFFFFFFFFFFFC83205AC635D8AA3A93E7B3EBB"
				     "D55769886BC651D06B0CC53B0F63BCE3C3E"
				     "27D2604B8441046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A"
				     "0F4A13945D898C2964FE342E2FE1A7F9B8E"
				     "E7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F58520FFFFFFFF000"
				     "00000FFFFFFFFFFFFFFFFBCE6FAADA7179E"
				     "84F3B9CAC2FC632551864104CFEAE11953BEFEBC2489796F251E0762804BC"
				     "7D843019853584C276B88002C09C931A6AC"
				     "4703D1F769BBDB7C1EFA469EECBF276868B223D000FD211E5590262B87010"
				     "15F201044454E4B30343034313434303030"
				     "30315F3740E605C41659E8C01421565D65BC3CF4A494169BF284D4E159E3B"
				     "8BBCEE3ADA4D0EBA65AB9827CD185C32619"
				     "FA0A5080563EB08CE2A2DC2075914FBD06938106EF421044454E4B3034303"
				     "431343430303030305F3740042EE12ACF33"
				     "9326252DE0FB0BC070C1275902A54187765B648D370C0CBA10C01A286CD58"
				     "E07D6DC229373A054F59FA5DC664185049E"
				     "196706CF47D5E3C70FE5";

/* ref §6.7, P-256 as OpenSC sends it */
static const char gakp_p256_apdu[] =
    "00460300000100"
    "5F290100"
    "4209555443413030303031"
    "7F4981DA"
    "060A04007F00070202020203"
    "8120FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF"
    "8220FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC"
    "83205AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B"
    "8441046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"
    "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5"
    "8520FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"
    "870101"
    "5F201044454E4B303430343134343030303031"
    "0000";

/* ref §6.7, RSA-2048 command data (58 bytes) */
static const char gakp_rsa2048_data[] = "5F290100 4209555443413030303031"
					"7F4915 060A04007F00070202020102 8203010001 02020800"
					"5F201044454E4B303430343134343030303031";

static hsm_keyspec p256_spec(void)
{
	hsm_keyspec k = {.type = SMK_KEY_EC, .car = "UTCA00001", .chr = "DENK040414400001"};

	k.curve = curve_by_name("secp256r1");
	return k;
}

static void assert_apdu(const apdu *a, const char *hex)
{
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	ck_assert_msg(apdu_encode(a, &b, &e) == 0, "%s", e.msg);
	tu_assert_hex(b.data, b.len, hex);
	smk_buf_free(&b);
}

START_TEST(gakp_reference_p256)
{
	hsm_keyspec k = p256_spec();
	smk_buf d = SMK_BUF_INIT;
	apdu a;
	smk_err e;

	ck_assert_msg(hsm_build_gakp(&a, &d, 3, 0, &k, true, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(a.lc, 256); /* ref §1.4: exactly one byte too many for short */
	assert_apdu(&a, gakp_p256_apdu);

	/* without extended length: no Le, and 256 bytes cannot be sent */
	ck_assert_int_eq(hsm_build_gakp(&a, &d, 3, 0, &k, false, &e), -1);
	ck_assert(strstr(e.msg, "extended") != NULL);
	/* dropping the CAR gives 245 bytes, a short APDU (ref §6.7) */
	k.car[0] = '\0';
	ck_assert_int_eq(hsm_build_gakp(&a, &d, 3, 0, &k, false, &e), 0);
	ck_assert_uint_eq(a.lc, 245);
	ck_assert_uint_eq(a.ne, 0);
	{
		smk_buf b = SMK_BUF_INIT;

		ck_assert_int_eq(apdu_encode(&a, &b, &e), 0);
		ck_assert_uint_eq(b.len, 5 + 245);
		tu_assert_hex(b.data, 5, "00460300F5");
		smk_buf_free(&b);
	}
	/* the device key cannot be generated over */
	ck_assert_int_eq(hsm_build_gakp(&a, &d, 0, 0, &k, true, &e), -1);
	smk_buf_free(&d);
}
END_TEST

/* The genuine device echoed our command data into its request: the body of
 * the CV request, minus the public point 86, must equal what we send. */
START_TEST(gakp_matches_device_request)
{
	hsm_keyspec k = p256_spec();
	smk_buf req = SMK_BUF_INIT, data = SMK_BUF_INIT, echo = SMK_BUF_INIT;
	tlv outer, cvreq, body, t, pk, c;
	tlv_iter it, kit;
	const uint8_t *r;
	size_t rlen;
	smk_err e;

	tu_hex(&req, cvreq_p256_hex);
	ck_assert_int_eq(hsm_parse_gakp_response(req.data, req.len, 0x9000, &r, &rlen, &e), 0);
	ck_assert(r == req.data && rlen == 490);
	ck_assert_int_eq(tlv_parse_exact(r, rlen, 0x67, &outer, &e), 0);
	ck_assert_int_eq(tlv_parse(outer.value, outer.len, &cvreq, &e), 0);
	ck_assert_int_eq(tlv_parse(cvreq.value, cvreq.len, &body, &e), 0);
	ck_assert_uint_eq(body.tag, 0x7F4E);
	tlv_iter_init(&it, body.value, body.len);
	while (tlv_next(&it, &t, &e) == 1) {
		if (t.tag != 0x7F49) {
			ck_assert_int_eq(smk_buf_add(&echo, t.raw, t.raw_len), 0);
			continue;
		}
		{
			size_t mark;

			ck_assert_int_eq(tlv_begin(&echo, 0x7F49, &mark), 0);
			tlv_iter_init(&kit, t.value, t.len);
			while (tlv_next(&kit, &c, &e) == 1)
				if (c.tag != 0x86)
					ck_assert_int_eq(smk_buf_add(&echo, c.raw, c.raw_len), 0);
			ck_assert_int_eq(tlv_end(&echo, mark), 0);
		}
		pk = t;
	}
	ck_assert_uint_eq(pk.tag, 0x7F49);
	ck_assert_int_eq(hsm_encode_gakp_data(&data, &k, &e), 0);
	ck_assert_uint_eq(data.len, echo.len);
	ck_assert(memcmp(data.data, echo.data, data.len) == 0);
	smk_buf_free(&req);
	smk_buf_free(&data);
	smk_buf_free(&echo);
}
END_TEST

START_TEST(gakp_reference_rsa)
{
	hsm_keyspec k = {
	    .type = SMK_KEY_RSA, .rsa_bits = 2048, .car = "UTCA00001", .chr = "DENK040414400001"};
	hsm_keyspec back;
	smk_buf d = SMK_BUF_INIT;
	apdu a;
	smk_err e;

	ck_assert_int_eq(hsm_encode_gakp_data(&d, &k, &e), 0);
	ck_assert_uint_eq(d.len, 58);
	tu_assert_hex(d.data, d.len, gakp_rsa2048_data);
	ck_assert_int_eq(hsm_parse_gakp_data(d.data, d.len, &back, &e), 0);
	ck_assert(back.type == SMK_KEY_RSA && back.rsa_bits == 2048 && !back.rsa_legacy_ok);
	ck_assert(memcmp(back.oid, hsm_oid_rsa_v15_sha256, HSM_OID_LEN) == 0);
	smk_buf_free(&d);

	for (unsigned bits = 2048; bits <= 4096; bits += 1024) {
		k.rsa_bits = bits;
		ck_assert_int_eq(hsm_build_gakp(&a, &d, 9, 0, &k, false, &e), 0);
		ck_assert_int_eq(hsm_parse_gakp_data(a.data, a.lc, &back, &e), 0);
		ck_assert_uint_eq(back.rsa_bits, bits);
	}
	/* legacy sizes only when asked for, and flagged when parsed */
	k.rsa_bits = 1024;
	ck_assert_int_eq(hsm_encode_gakp_data(&d, &k, &e), -1);
	ck_assert(strstr(e.msg, "legacy") != NULL);
	k.rsa_legacy_ok = true;
	smk_buf_reset(&d);
	ck_assert_int_eq(hsm_encode_gakp_data(&d, &k, &e), 0);
	ck_assert_int_eq(hsm_parse_gakp_data(d.data, d.len, &back, &e), 0);
	ck_assert(back.rsa_bits == 1024 && back.rsa_legacy_ok);
	k.rsa_bits = 1000;
	ck_assert_int_eq(hsm_encode_gakp_data(&d, &k, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_UNSUPPORTED);
	smk_buf_free(&d);
}
END_TEST

START_TEST(gakp_every_curve)
{
	size_t n;
	const smk_curve *curves = curve_list(&n);

	ck_assert_uint_ge(n, 7);
	for (size_t i = 0; i < n; i++) {
		hsm_keyspec k = {.type = SMK_KEY_EC,
				 .chr = "SMKEY0000000042",
				 .car = "UTCA00001",
				 .use_counter = 0xFFFFFFFFu,
				 .algs = {0x73, 0x70, 0x80},
				 .alg_count = 3,
				 .has_key_domain = true,
				 .key_domain = 0};
		hsm_keyspec back;
		smk_curve_params cp;
		smk_buf d = SMK_BUF_INIT;
		tlv pk, c;
		tlv_iter it;
		size_t fl = curves[i].field_len;
		smk_err e;

		k.curve = &curves[i];
		ck_assert_msg(hsm_encode_gakp_data(&d, &k, &e) == 0, "%s: %s", curves[i].name,
			      e.msg);
		ck_assert_int_eq(curve_params(&curves[i], &cp, &e), 0);
		ck_assert_int_eq(tlv_find(d.data, d.len, 0x7F49, &pk, &e), 1);
		tlv_iter_init(&it, pk.value, pk.len);
		while (tlv_next(&it, &c, &e) == 1) {
			switch (c.tag) {
			case 0x81:
				ck_assert(c.len == fl && memcmp(c.value, cp.p, fl) == 0);
				break;
			case 0x82:
				ck_assert(c.len == fl && memcmp(c.value, cp.a, fl) == 0);
				break;
			case 0x83:
				ck_assert(c.len == fl && memcmp(c.value, cp.b, fl) == 0);
				break;
			case 0x84:
				ck_assert(c.len == 1 + 2 * fl && c.value[0] == 0x04);
				break;
			case 0x85:
				ck_assert_uint_eq(c.len, curves[i].order_len);
				break;
			case 0x87:
				ck_assert(c.len == 1 && c.value[0] == 1);
				break;
			case 0x06:
				tu_assert_hex(c.value, c.len, "04007F00070202020203");
				break;
			default:
				ck_abort_msg("%s: tag %X in the template", curves[i].name, c.tag);
			}
		}
		/* metadata after the body, ref §6.2 */
		ck_assert_int_eq(tlv_find(d.data, d.len, 0x90, &c, &e), 1);
		tu_assert_hex(c.value, c.len, "FFFFFFFF");
		ck_assert_int_eq(tlv_find(d.data, d.len, 0x91, &c, &e), 1);
		tu_assert_hex(c.value, c.len, "737080");
		ck_assert_int_eq(tlv_find(d.data, d.len, 0x92, &c, &e), 1);
		tu_assert_hex(c.value, c.len, "00");

		ck_assert_msg(hsm_parse_gakp_data(d.data, d.len, &back, &e) == 0, "%s: %s",
			      curves[i].name, e.msg);
		ck_assert_ptr_eq(back.curve, &curves[i]);
		ck_assert_int_eq(back.type, SMK_KEY_EC);
		ck_assert_str_eq(back.chr, k.chr);
		ck_assert_str_eq(back.car, k.car);
		ck_assert_uint_eq(back.use_counter, 0xFFFFFFFFu);
		ck_assert(back.alg_count == 3 && memcmp(back.algs, k.algs, 3) == 0);
		ck_assert(back.has_key_domain && back.key_domain == 0);
		ck_assert(back.outer_car[0] == '\0');
		smk_buf_free(&d);
	}
}
END_TEST

START_TEST(gakp_input_checks)
{
	hsm_keyspec k;
	smk_buf d = SMK_BUF_INIT;
	smk_err e;

#define REFUSED(stmt, what)                                                                        \
	do {                                                                                       \
		k = p256_spec();                                                                   \
		stmt;                                                                              \
		smk_buf_reset(&d);                                                                 \
		ck_assert_msg(hsm_encode_gakp_data(&d, &k, &e) == -1, "accepted: %s", #stmt);      \
		ck_assert_msg(strstr(e.msg, what) != NULL, "%s: message '%s'", #stmt, e.msg);      \
	} while (0)

	REFUSED(memcpy(k.chr, "DENK0404144000012", 17), "CHR is longer than 16");
	REFUSED(k.chr[0] = '\0', "CHR is empty");
	REFUSED(k.chr[3] = '\n', "CHR has a non-printable character at position 4");
	REFUSED(k.car[2] = '\x7F', "CAR has a non-printable");
	REFUSED(k.curve = NULL, "without a curve");
	REFUSED((k.alg_count = 17, memset(k.algs, 0x73, 16)), "17 entries");
	REFUSED((k.algs[0] = 0x01, k.alg_count = 1), "unknown algorithm id 01");
	REFUSED((k.algs[0] = 0x33, k.alg_count = 1), "rsa-pkcs1-sha256 (33) is not for ec keys");
	REFUSED((k.algs[0] = 0x73, k.algs[1] = 0x73, k.alg_count = 2), "ecdsa-sha256 listed twice");
	REFUSED(k.oid[0] = 0x2B, "OID");
	REFUSED(memcpy(k.oid, hsm_oid_rsa_v15_sha256, HSM_OID_LEN), "id-TA-ECDSA");
	REFUSED(k.type = SMK_KEY_AES, "aes");
#undef REFUSED
	/* a 16-character CHR and every EC algorithm at once are fine */
	k = p256_spec();
	memcpy(k.chr, "DENK040414400001", 17);
	{
		static const uint8_t ec_all[] = {0x70, 0x71, 0x72, 0x73, 0x74, 0x75,
						 0x80, 0x83, 0x84, 0x92, 0x93, 0x98};

		memcpy(k.algs, ec_all, sizeof(ec_all));
		k.alg_count = sizeof(ec_all);
	}
	ck_assert_int_eq(hsm_encode_gakp_data(&d, &k, &e), 0);
	/* the SHA-384 variant of the OID is accepted for EC */
	memcpy(k.oid, hsm_oid_ecdsa_sha256, HSM_OID_LEN);
	k.oid[9] = 0x04;
	smk_buf_reset(&d);
	ck_assert_int_eq(hsm_encode_gakp_data(&d, &k, &e), 0);
	{
		hsm_keyspec back;

		ck_assert_int_eq(hsm_parse_gakp_data(d.data, d.len, &back, &e), 0);
		ck_assert_uint_eq(back.oid[9], 0x04);
	}
	smk_buf_free(&d);
}
END_TEST

/* Replace the first occurrence of hex `from` by `to` in d. */
static void replace_hex(smk_buf *d, const char *from, const char *to)
{
	smk_buf f = SMK_BUF_INIT, t = SMK_BUF_INIT, m = SMK_BUF_INIT;
	size_t i;

	tu_hex(&f, from);
	tu_hex(&t, to);
	for (i = 0; i + f.len <= d->len; i++)
		if (memcmp(d->data + i, f.data, f.len) == 0)
			break;
	ck_assert_msg(i + f.len <= d->len, "pattern %s not found", from);
	ck_assert_int_eq(smk_buf_add(&m, d->data, i), 0);
	ck_assert_int_eq(smk_buf_add(&m, t.data, t.len), 0);
	ck_assert_int_eq(smk_buf_add(&m, d->data + i + f.len, d->len - i - f.len), 0);
	smk_buf_free(d);
	*d = m;
	smk_buf_free(&f);
	smk_buf_free(&t);
}

/* Parse the P-256 data with one or two replacements (from2 may be NULL). */
static int parse_mutated2(const char *from, const char *to, const char *from2, const char *to2,
			  smk_err *e)
{
	hsm_keyspec k = p256_spec(), back;
	smk_buf d = SMK_BUF_INIT;
	int rc;

	ck_assert_int_eq(hsm_encode_gakp_data(&d, &k, e), 0);
	replace_hex(&d, from, to);
	if (from2)
		replace_hex(&d, from2, to2);
	rc = hsm_parse_gakp_data(d.data, d.len, &back, e);
	smk_buf_free(&d);
	return rc;
}

static int parse_mutated(const char *from, const char *to, smk_err *e)
{
	return parse_mutated2(from, to, NULL, NULL, e);
}

START_TEST(gakp_parser_hostile)
{
	hsm_keyspec k = p256_spec(), back;
	smk_buf d = SMK_BUF_INIT;
	smk_err e;

	ck_assert_int_eq(hsm_encode_gakp_data(&d, &k, &e), 0);
	ck_assert_int_eq(hsm_parse_gakp_data(d.data, d.len, &back, &e), 0);
	/* every truncation */
	for (size_t n = 0; n < d.len; n++)
		ck_assert_msg(hsm_parse_gakp_data(d.data, n, &back, &e) == -1, "prefix %zu", n);
	/* a byte too many */
	ck_assert_int_eq(smk_buf_add_byte(&d, 0x00), 0);
	ck_assert_int_eq(hsm_parse_gakp_data(d.data, d.len, &back, &e), -1);
	smk_buf_free(&d);

	/* a public point has no business in a request for a new key */
	ck_assert_int_eq(parse_mutated2("870101", "870101 8603040102", "7F4981DA", "7F4981DF", &e),
			 -1);
	ck_assert(strstr(e.msg, "tag 86") != NULL);
	ck_assert_int_eq(parse_mutated("7F4981DA", "7F4981DF", &e), -1);
	/* curves are matched by every parameter, at full field length */
	ck_assert_int_eq(parse_mutated("8120FFFFFFFF00000001", "8120FFFFFFFF00000002", &e), -1);
	ck_assert_int_eq(e.code, SMK_E_UNSUPPORTED);
	ck_assert_int_eq(parse_mutated("870101", "870102", &e), -1);
	ck_assert_int_eq(parse_mutated2("870101", "", "7F4981DA", "7F4981D7", &e), -1);
	ck_assert(strstr(e.msg, "parameter 87 missing") != NULL);
	/* secp256k1's a = 0 in one byte names the same curve, but is not the
	 * full field length every client sends (ref §3.1, §6.2) */
	{
		hsm_keyspec k1 = {.type = SMK_KEY_EC, .chr = "K1"};
		char zeros[2 * 32 + 5] = "8220";

		k1.curve = curve_by_name("secp256k1");
		memset(zeros + 4, '0', 64);
		zeros[68] = '\0';
		d = (smk_buf)SMK_BUF_INIT;
		ck_assert_int_eq(hsm_encode_gakp_data(&d, &k1, &e), 0);
		ck_assert_int_eq(hsm_parse_gakp_data(d.data, d.len, &back, &e), 0);
		replace_hex(&d, zeros, "820100");
		replace_hex(&d, "7F4981DA", "7F4981BB");
		ck_assert_int_eq(hsm_parse_gakp_data(d.data, d.len, &back, &e), -1);
		ck_assert(strstr(e.msg, "full field length") != NULL);
		smk_buf_free(&d);
	}
	/* structure */
	ck_assert_int_eq(parse_mutated("5F290100", "5F290101", &e), -1);
	ck_assert_int_eq(parse_mutated("5F290100", "", &e), -1);
	ck_assert_int_eq(parse_mutated("5F290100 4209", "4209", &e), -1);
	ck_assert_int_eq(parse_mutated("5F2010", "5F2110", &e), -1);
	ck_assert_int_eq(
	    parse_mutated("4209555443413030303031", "42095554434130303030314201AA", &e), -1);
	ck_assert_int_eq(parse_mutated("4209555443", "4209550A43", &e), -1);
	ck_assert_int_eq(parse_mutated("060A04007F00070202020203", "060A04007F00070202020303", &e),
			 -1);
	ck_assert_int_eq(parse_mutated("060A04007F00070202020203", "060904007F000702020202", &e),
			 -1);
	/* metadata */
	ck_assert_int_eq(parse_mutated("5F2010", "910101 5F2010", &e), -1); /* unknown alg 01 */
	ck_assert_int_eq(parse_mutated("5F2010", "910133 5F2010", &e), -1); /* RSA alg, EC key */
	ck_assert(strstr(e.msg, "not for ec keys") != NULL);
	ck_assert_int_eq(parse_mutated("5F2010", "9100 5F2010", &e), -1);
	ck_assert_int_eq(parse_mutated("5F2010", "900400000000 5F2010", &e), -1);
	ck_assert_int_eq(parse_mutated("5F2010", "9003000001 5F2010", &e), -1);
	ck_assert_str_eq(e.msg, "GAKP data: use counter of 3 bytes (must be 4)");
	ck_assert_int_eq(parse_mutated("5F2010", "92020001 5F2010", &e), -1);
	ck_assert_str_eq(e.msg, "GAKP data: key domain of 2 bytes (must be 1)");
	ck_assert_int_eq(parse_mutated("5F2010", "930101 5F2010", &e), -1);
	/* well-placed metadata before the CHR is fine: parsed by tag */
	ck_assert_int_eq(parse_mutated("5F2010", "910273 80 900400000010 920101 5F2010", &e), 0);

	/* RSA template: exponent 3 and unknown sizes are refused */
	{
		smk_buf r = SMK_BUF_INIT;

		tu_hex(&r, "5F290100 7F4914 060A04007F00070202020102 820103 02020800 5F2001 41");
		ck_assert_int_eq(hsm_parse_gakp_data(r.data, r.len, &back, &e), -1);
		smk_buf_free(&r);
		tu_hex(&r,
		       "5F290100 7F4915 060A04007F00070202020102 8203010001 02020801 5F2001 41");
		ck_assert_int_eq(hsm_parse_gakp_data(r.data, r.len, &back, &e), -1);
		smk_buf_free(&r);
		/* a modulus in a generation request */
		tu_hex(&r, "5F290100 7F4918 060A04007F00070202020102 8203010001 02020800 8101FF"
			   "5F2001 41");
		ck_assert_int_eq(hsm_parse_gakp_data(r.data, r.len, &back, &e), -1);
		smk_buf_free(&r);
		tu_hex(&r,
		       "5F290100 7F4915 060A04007F00070202020102 8203010001 02020800 5F2001 41");
		ck_assert_int_eq(hsm_parse_gakp_data(r.data, r.len, &back, &e), 0);
		ck_assert_str_eq(back.chr, "A");
		smk_buf_free(&r);
	}
}
END_TEST

START_TEST(gakp_parser_garbage)
{
	uint32_t x = 0x12345678;
	uint8_t buf[400];
	hsm_keyspec back;
	smk_buf d = SMK_BUF_INIT;
	hsm_keyspec k = p256_spec();
	smk_err e;

	/* random bytes: refused, never read out of bounds (ASan build) */
	for (int i = 0; i < 3000; i++) {
		size_t n = (x = x * 1103515245u + 12345u) % sizeof(buf);

		for (size_t j = 0; j < n; j++)
			buf[j] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
		ck_assert_int_eq(hsm_parse_gakp_data(buf, n, &back, &e), -1);
	}
	/* every single-byte corruption of a valid request: no crash, and
	 * anything accepted still names a supported curve and a CHR */
	ck_assert_int_eq(hsm_encode_gakp_data(&d, &k, &e), 0);
	for (size_t i = 0; i < d.len; i++) {
		uint8_t keep = d.data[i];

		for (unsigned v = 0; v < 256; v += 37) {
			d.data[i] = (uint8_t)(keep ^ (v | 1));
			if (hsm_parse_gakp_data(d.data, d.len, &back, &e) == 0)
				ck_assert(back.curve != NULL && back.chr[0] != '\0');
		}
		d.data[i] = keep;
	}
	smk_buf_free(&d);
}
END_TEST

START_TEST(gakp_response)
{
	smk_buf b = SMK_BUF_INIT;
	const uint8_t *r;
	size_t n;
	smk_err e;

	tu_hex(&b, cvreq_p256_hex);
	for (size_t i = 1; i < b.len; i++)
		ck_assert_msg(hsm_parse_gakp_response(b.data, i, 0x9000, &r, &n, &e) == -1,
			      "prefix %zu", i);
	/* answered without Le: nothing, the request waits in CE|id */
	ck_assert_int_eq(hsm_parse_gakp_response(NULL, 0, 0x9000, &r, &n, &e), 0);
	ck_assert(r == NULL && n == 0);
	/* a bare CV request is not what the device sends */
	ck_assert_int_eq(hsm_parse_gakp_response(b.data + 4, 400, 0x9000, &r, &n, &e), -1);
	ck_assert_int_eq(hsm_parse_gakp_response(NULL, 0, 0x6982, &r, &n, &e), -1);
	ck_assert_str_eq(e.msg, "GAKP refused, SW 6982 (security status not satisfied (PIN not "
				"verified))");
	ck_assert_uint_eq(e.sw, 0x6982);
	smk_buf_free(&b);
}
END_TEST

START_TEST(sign_bytes)
{
	uint8_t hash[32], big[300];
	apdu a;
	smk_err e;

	memset(hash, 0x5A, sizeof(hash));
	memset(big, 0x33, sizeof(big));
	/* ref §7.7, §7.10 step 9 */
	ck_assert_int_eq(hsm_build_sign(&a, 3, 0x70, hash, 32, false, &e), 0);
	ck_assert(a.data == hash);
	assert_apdu(
	    &a, "8068037020 5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A 00");
	ck_assert_int_eq(hsm_build_sign(&a, 3, 0x33, hash, 4, true, &e), 0);
	assert_apdu(&a, "80680333000004 5A5A5A5A 0000");
	ck_assert_int_eq(hsm_build_sign(&a, 3, 0x33, big, 300, false, &e), -1);
	ck_assert_int_eq(hsm_build_sign(&a, 3, 0x33, big, 300, true, &e), 0);
	ck_assert_int_eq(hsm_build_sign(&a, 3, 0x80, hash, 32, false, &e), -1);
	ck_assert_int_eq(hsm_build_sign(&a, 3, 0x92, hash, 32, false, &e), -1);
	ck_assert_int_eq(hsm_build_sign(&a, 0, 0x73, hash, 32, false, &e), -1);
	ck_assert_int_eq(hsm_build_sign(&a, 3, 0x73, hash, 0, false, &e), -1);

	/* ref §7.8 */
	ck_assert_int_eq(hsm_build_decipher(&a, 2, 0x21, big, 256, true, &e), 0);
	ck_assert(a.cla == 0x80 && a.ins == 0x62 && a.p1 == 2 && a.p2 == 0x21 && a.lc == 256);
	ck_assert_int_eq(hsm_build_decipher(&a, 2, 0x73, big, 256, true, &e), -1);
	ck_assert_int_eq(hsm_parse_sign_rsa(big, 256, 0x9000, 256, &e), 0);
	ck_assert_int_eq(hsm_parse_sign_rsa(big, 255, 0x9000, 256, &e), -1);
	ck_assert_int_eq(hsm_parse_sign_rsa(big, 256, 0x6A81, 256, &e), -1);
	ck_assert_str_eq(
	    e.msg, "SIGN refused, SW 6A81 (function not supported (algorithm not in the key's "
		   "list))");
	ck_assert_int_eq(hsm_parse_sign_rsa(NULL, 0, 0x6984, 256, &e), -1);
	ck_assert(strstr(e.msg, "6984") && strstr(e.msg, "use counter"));
}
END_TEST

/* Real signatures: DER from OpenSSL -> plain -> DER gives the same bytes,
 * and the DER rebuilt from plain verifies. */
static void ecdsa_round_trips(const char *curve, size_t order_len, int rounds)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	static const uint8_t msg[] = "release 2027";
	uint8_t der[160], rs[132];
	smk_buf back = SMK_BUF_INIT;
	smk_err e;

	ck_assert_ptr_nonnull(key);
	for (int i = 0; i < rounds; i++) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		size_t dlen = sizeof(der);

		ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
		ck_assert_int_eq(EVP_DigestSign(ctx, der, &dlen, msg, sizeof(msg)), 1);
		EVP_MD_CTX_free(ctx);
		ck_assert_msg(hsm_parse_sign_ecdsa(der, dlen, 0x9000, order_len, rs, &e) == 0, "%s",
			      e.msg);
		smk_buf_reset(&back);
		ck_assert_int_eq(hsm_ecdsa_plain_to_der(rs, 2 * order_len, &back, &e), 0);
		ck_assert(back.len == dlen && memcmp(back.data, der, dlen) == 0);
		ctx = EVP_MD_CTX_new();
		ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
		ck_assert_int_eq(EVP_DigestVerify(ctx, back.data, back.len, msg, sizeof(msg)), 1);
		EVP_MD_CTX_free(ctx);
		/* truncated DER never converts */
		for (size_t n = 0; n < dlen; n += 7)
			ck_assert_int_eq(hsm_ecdsa_der_to_plain(der, n, order_len, rs, &e), -1);
	}
	smk_buf_free(&back);
	EVP_PKEY_free(key);
}

START_TEST(ecdsa_conversion)
{
	static const char *bad[] = {
	    "3006020101020101 00",    /* byte after the SEQUENCE */
	    "3009020101020101020101", /* third INTEGER */
	    "3003020101",	      /* s missing */
	    "3006020181020101",	      /* negative r */
	    "300702020001020101",     /* r with a needless leading zero */
	    "3006020100020101",	      /* r = 0 */
	    "3006040101020101",	      /* OCTET STRING instead of INTEGER */
	    "3106020101020101",	      /* SET instead of SEQUENCE */
	    "30070203010203020101",   /* r longer than the order (order 2) */
	    "",
	};
	uint8_t rs[8];
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	ecdsa_round_trips("P-256", 32, 40);
	ecdsa_round_trips("P-521", 66, 10);
	ecdsa_round_trips("brainpoolP384r1", 48, 10);

	/* short values are left-padded; high bits get their 00 back */
	tu_hex(&b, "3008 020101 020300FFFF");
	ck_assert_int_eq(hsm_ecdsa_der_to_plain(b.data, b.len, 4, rs, &e), 0);
	tu_assert_hex(rs, 8, "00000001 0000FFFF");
	smk_buf_reset(&b);
	ck_assert_int_eq(hsm_ecdsa_plain_to_der(rs, 8, &b, &e), 0);
	tu_assert_hex(b.data, b.len, "3008 020101 020300FFFF");
	smk_buf_free(&b);
	/* zero halves and odd lengths are not signatures */
	memset(rs, 0, sizeof(rs));
	rs[3] = 1;
	ck_assert_int_eq(hsm_ecdsa_plain_to_der(rs, 8, &b, &e), -1);
	ck_assert_int_eq(hsm_ecdsa_plain_to_der(rs, 7, &b, &e), -1);
	smk_buf_free(&b);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_hex(&b, bad[i]);
		ck_assert_msg(hsm_ecdsa_der_to_plain(b.data, b.len, 2, rs, &e) == -1, "accepted %s",
			      bad[i]);
		ck_assert_int_eq(e.code, SMK_E_FORMAT);
		smk_buf_free(&b);
	}
	ck_assert_int_eq(hsm_parse_sign_ecdsa(NULL, 0, 0x6982, 32, rs, &e), -1);
	ck_assert(strstr(e.msg, "SIGN refused, SW 6982") != NULL);
}
END_TEST

START_TEST(ecdh)
{
	uint8_t point[65], resp[65], x[32];
	apdu a;
	smk_err e;

	point[0] = 0x04;
	for (int i = 1; i < 65; i++)
		point[i] = (uint8_t)i;
	ck_assert_int_eq(hsm_build_ecdh(&a, 1, point, 65, false, &e), 0);
	{
		smk_buf b = SMK_BUF_INIT;

		ck_assert_int_eq(apdu_encode(&a, &b, &e), 0);
		ck_assert_uint_eq(b.len, 5 + 65 + 1);
		tu_assert_hex(b.data, 6, "806201804104");
		ck_assert_uint_eq(b.data[b.len - 1], 0x00);
		smk_buf_free(&b);
	}
	point[0] = 0x02;
	ck_assert_int_eq(hsm_build_ecdh(&a, 1, point, 33, false, &e), -1);
	point[0] = 0x04;
	ck_assert_int_eq(hsm_build_ecdh(&a, 1, point, 64, false, &e), -1);

	/* both answer forms give x (ref §7.8) */
	memcpy(resp, point, 65);
	ck_assert_int_eq(hsm_parse_ecdh(resp, 33, 0x9000, 32, x, &e), 0);
	ck_assert(memcmp(x, point + 1, 32) == 0);
	memset(x, 0, sizeof(x));
	ck_assert_int_eq(hsm_parse_ecdh(resp, 65, 0x9000, 32, x, &e), 0);
	ck_assert(memcmp(x, point + 1, 32) == 0);
	ck_assert_int_eq(hsm_parse_ecdh(resp, 32, 0x9000, 32, x, &e), -1);
	ck_assert_int_eq(hsm_parse_ecdh(resp, 0, 0x9000, 32, x, &e), -1);
	ck_assert_int_eq(hsm_parse_ecdh(resp, 64, 0x9000, 32, x, &e), -1);
	resp[0] = 0x02;
	ck_assert_int_eq(hsm_parse_ecdh(resp, 33, 0x9000, 32, x, &e), -1);
	ck_assert_int_eq(hsm_parse_ecdh(resp, 33, 0x6A81, 32, x, &e), -1);
	ck_assert(strstr(e.msg, "ECDH refused, SW 6A81") != NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hsm_keys");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, gakp_reference_p256);
	tcase_add_test(tc, gakp_matches_device_request);
	tcase_add_test(tc, gakp_reference_rsa);
	tcase_add_test(tc, gakp_every_curve);
	tcase_add_test(tc, gakp_input_checks);
	tcase_add_test(tc, gakp_parser_hostile);
	tcase_add_test(tc, gakp_parser_garbage);
	tcase_add_test(tc, gakp_response);
	tcase_add_test(tc, sign_bytes);
	tcase_add_test(tc, ecdsa_conversion);
	tcase_add_test(tc, ecdh);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
