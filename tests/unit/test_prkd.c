/* SPDX-License-Identifier: BSD-3-Clause */
/* PKCS#15 private-key descriptions: the bytes OpenSC's sc-hsm emulation
 * decodes, usage bits from the algorithm list, read-back, hostile input. */
#include <openssl/asn1.h>
#include <string.h>

#include "tests/lib/testutil.h"
#include "sm/prkd.h"

/* EC P-256, label "app-2027", iD 01, no algorithm list. Per OpenSC's
 * pkcs15-prkey.c templates (privateECCKey [0], CommonObjectAttributes
 * label UTF8String, CommonKeyAttributes iD + usage, [1] typeAttributes
 * SEQUENCE { path, fieldSize }) and the scsh layout of ref §2.6:
 *	A0 22                               privateECCKey [0]
 *	   30 0A  0C 08 "app-2027"          CommonObjectAttributes.label
 *	   30 08  04 01 01                  CommonKeyAttributes.iD
 *	          03 03 07 20 80            usage: sign (2), derive (8)
 *	   A1 0A  30 08  30 02 04 00        typeAttributes: empty path
 *	                 02 02 01 00        fieldSize 256 */
static const char ec_vector[] =
    "A022 300A0C086170702D32303237 3008040101 0303072080 A10A3008 30020400 02020100";

/* RSA-2048, label "rsa", 20-byte iD: outer SEQUENCE (privateRSAKey), usage
 * decrypt, sign, signRecover, unwrap = 03 02 02 74 (ref §2.6) */
static const char rsa_vector[] = "302F 30050C03727361"
				 "301A 0414 1111111111111111111111111111111111111111 03020274"
				 "A10A3008 30020400 02020800";

/* What OpenSC's own encoder may add: flags and authId in the common object
 * attributes, native and keyReference in the key attributes, an empty
 * subjectName in [0], a real path; size 384. */
static const char opensc_style[] =
    "A033300D0C047465737403020640040101300E04014503030620400101FF020101A0023000A10E300C3006"
    "04043F00C40102020180";

static void encode_ok(const prkd_key *k, smk_buf *out)
{
	smk_err e;

	smk_buf_reset(out);
	ck_assert_msg(prkd_encode(out, k, &e) == 0, "%s", e.msg);
}

/* Walk one level with OpenSSL's own DER reader, as an independent check. */
static const unsigned char *der_enter(const unsigned char *p, long max, int want_tag,
				      int want_class, int constructed, long *len)
{
	int tag, xclass, rc;

	rc = ASN1_get_object(&p, len, &tag, &xclass, max);
	ck_assert_msg(!(rc & 0x80), "OpenSSL cannot read the DER");
	ck_assert_int_eq(tag, want_tag);
	ck_assert_int_eq(xclass, want_class);
	ck_assert_int_eq(!!(rc & V_ASN1_CONSTRUCTED), constructed);
	return p;
}

START_TEST(ec_description)
{
	static const uint8_t id = 0x01;
	prkd_key k = {
	    .type = SMK_KEY_EC, .label = "app-2027", .id = &id, .id_len = 1, .key_bits = 256};
	smk_buf b = SMK_BUF_INIT;
	const unsigned char *p, *usage;
	long len, l2;
	ASN1_BIT_STRING *bits;

	encode_ok(&k, &b);
	tu_assert_hex(b.data, b.len, ec_vector);

	/* OpenSSL reads the same structure: [0] constructed, SEQUENCE, UTF8String */
	p = der_enter(b.data, (long)b.len, 0, V_ASN1_CONTEXT_SPECIFIC, 1, &len);
	p = der_enter(p, len, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1, &l2);
	p = der_enter(p, l2, V_ASN1_UTF8STRING, V_ASN1_UNIVERSAL, 0, &l2);
	ck_assert(l2 == 8 && memcmp(p, "app-2027", 8) == 0);
	p = der_enter(p + l2, 100, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1, &l2);
	p = der_enter(p, l2, V_ASN1_OCTET_STRING, V_ASN1_UNIVERSAL, 0, &l2);
	usage = p + l2;
	/* the named bits of PKCS#15 KeyUsageFlags: sign(2), derive(8) */
	bits = d2i_ASN1_BIT_STRING(NULL, &usage, 5);
	ck_assert_ptr_nonnull(bits);
	ck_assert(ASN1_BIT_STRING_get_bit(bits, 2) && ASN1_BIT_STRING_get_bit(bits, 8));
	ck_assert(!ASN1_BIT_STRING_get_bit(bits, 1) && !ASN1_BIT_STRING_get_bit(bits, 9));
	ASN1_BIT_STRING_free(bits);
	p = der_enter(usage, 100, 1, V_ASN1_CONTEXT_SPECIFIC, 1, &l2);
	smk_buf_free(&b);
}
END_TEST

START_TEST(rsa_description)
{
	uint8_t id[20];
	prkd_key k = {
	    .type = SMK_KEY_RSA, .label = "rsa", .id = id, .id_len = 20, .key_bits = 2048};
	smk_buf b = SMK_BUF_INIT;
	const unsigned char *p;
	long len;

	memset(id, 0x11, sizeof(id));
	encode_ok(&k, &b);
	tu_assert_hex(b.data, b.len, rsa_vector);
	p = der_enter(b.data, (long)b.len, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1, &len);
	ck_assert_ptr_eq(p + len, b.data + b.len);
	smk_buf_free(&b);
}
END_TEST

/* usage BIT STRING for a type and algorithm list */
static void usage_is(enum smk_keytype t, const char *algs_hex, const char *bits_hex)
{
	static const uint8_t id = 7;
	smk_buf algs = SMK_BUF_INIT, b = SMK_BUF_INIT, want = SMK_BUF_INIT;
	prkd_key k = {.type = t, .label = "k", .id = &id, .id_len = 1, .key_bits = 256};
	size_t i;

	tu_hex(&algs, algs_hex);
	k.algs = algs.data;
	k.alg_count = algs.len;
	encode_ok(&k, &b);
	tu_hex(&want, bits_hex);
	for (i = 0; i + want.len <= b.len; i++)
		if (b.data[i] == 0x03 && memcmp(b.data + i, want.data, want.len) == 0)
			break;
	ck_assert_msg(i + want.len <= b.len, "list %s: usage %s not in the PrKD", algs_hex,
		      bits_hex);
	smk_buf_free(&algs);
	smk_buf_free(&b);
	smk_buf_free(&want);
}

START_TEST(usage_from_algorithms)
{
	/* ECDSA only: sign */
	usage_is(SMK_KEY_EC, "73", "03020520");
	ck_assert_uint_eq(prkd_usage(SMK_KEY_EC, (const uint8_t *)"\x70\x73", 2), PRKD_USAGE_SIGN);
	/* ECDH only: derive */
	usage_is(SMK_KEY_EC, "80", "0303070080");
	/* both, plus wrap: sign + derive; wrap has no PKCS#15 use here */
	usage_is(SMK_KEY_EC, "738092", "0303072080");
	/* nothing usable through PKCS#11: no bits at all */
	usage_is(SMK_KEY_EC, "92", "030100");
	ck_assert_uint_eq(prkd_usage(SMK_KEY_EC, (const uint8_t *)"\x83\x84\x98", 3), 0);
	/* RSA PKCS#1 signature with card hashing: sign */
	usage_is(SMK_KEY_RSA, "33", "03020520");
	/* raw RSA can also sign-recover */
	usage_is(SMK_KEY_RSA, "20", "03020430");
	/* RSA decryption: decrypt + unwrap */
	usage_is(SMK_KEY_RSA, "21", "03020244");
	usage_is(SMK_KEY_RSA, "2033", "03020430");
	/* an EC id in an RSA list grants nothing */
	ck_assert_uint_eq(prkd_usage(SMK_KEY_RSA, (const uint8_t *)"\x73", 1), 0);
	/* no list: what the card allows */
	ck_assert_uint_eq(prkd_usage(SMK_KEY_EC, NULL, 0), PRKD_USAGE_SIGN | PRKD_USAGE_DERIVE);
	ck_assert_uint_eq(prkd_usage(SMK_KEY_RSA, NULL, 0), PRKD_USAGE_DECRYPT | PRKD_USAGE_SIGN |
								PRKD_USAGE_SIGN_RECOVER |
								PRKD_USAGE_UNWRAP);
}
END_TEST

START_TEST(round_trip)
{
	static const char *labels[] = {"Schlüssel für Release €", "x", "", NULL};
	static const unsigned sizes[] = {256, 384, 521, 512};
	uint8_t id[255];
	smk_buf b = SMK_BUF_INIT;
	prkd_info info;
	smk_err e;

	for (size_t i = 0; i < sizeof(id); i++)
		id[i] = (uint8_t)(255 - i);
	for (int t = 0; t < 2; t++)
		for (size_t l = 0; l < 4; l++)
			for (size_t s = 0; s < 4; s++) {
				static const uint8_t algs[] = {0x73, 0x80};
				prkd_key k = {.type = t ? SMK_KEY_RSA : SMK_KEY_EC,
					      .label = labels[l],
					      .id = id,
					      .id_len = s == 3 ? 255 : 1 + s * 9,
					      .key_bits = t ? 1024u * (2 + (unsigned)s) : sizes[s],
					      .algs = t ? NULL : algs,
					      .alg_count = t ? 0 : 2};

				encode_ok(&k, &b);
				ck_assert_msg(prkd_parse(b.data, b.len, &info, &e) == 0, "%s",
					      e.msg);
				ck_assert_int_eq(info.type, k.type);
				ck_assert_str_eq(info.label, labels[l] ? labels[l] : "");
				ck_assert(info.id_len == k.id_len &&
					  memcmp(info.id, id, k.id_len) == 0);
				ck_assert_uint_eq(info.key_bits, k.key_bits);
				ck_assert_uint_eq(info.usage,
						  prkd_usage(k.type, k.algs, k.alg_count));
			}
	/* secp521r1: the field is 521 bits, not 528 (ref §6.2) */
	{
		prkd_key k = {
		    .type = SMK_KEY_EC, .label = "p521", .id = id, .id_len = 1, .key_bits = 521};

		encode_ok(&k, &b);
		tu_assert_hex(b.data + b.len - 4, 4, "02020209");
	}
	smk_buf_free(&b);
}
END_TEST

START_TEST(parse_opensc_style)
{
	smk_buf b = SMK_BUF_INIT;
	prkd_info info;
	smk_err e;

	tu_hex(&b, opensc_style);
	ck_assert_msg(prkd_parse(b.data, b.len, &info, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(info.type, SMK_KEY_EC);
	ck_assert_str_eq(info.label, "test");
	ck_assert(info.id_len == 1 && info.id[0] == 0x45);
	ck_assert_uint_eq(info.usage, PRKD_USAGE_SIGN | PRKD_USAGE_NON_REPUDIATION);
	ck_assert_uint_eq(info.key_bits, 384);
	smk_buf_free(&b);

	/* OpenSC treats the EC field size as optional */
	tu_hex(&b, "A014300030080401010303072080A106300430020400");
	ck_assert_msg(prkd_parse(b.data, b.len, &info, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(info.key_bits, 0);
	ck_assert_str_eq(info.label, "");
	smk_buf_free(&b);
	/* but an RSA key needs its modulus length */
	tu_hex(&b, "3014300030080401010303072080A106300430020400");
	ck_assert_int_eq(prkd_parse(b.data, b.len, &info, &e), -1);
	ck_assert(strstr(e.msg, "modulus length") != NULL);
	smk_buf_free(&b);
}
END_TEST

START_TEST(parse_hostile)
{
	static const char *bad[] = {
	    "A818300030080401010303072080A10A30083002040002020100", /* secret-key (AES) description
								     */
	    "3118300030080401010303072080A10A30083002040002020100", /* SET as outer tag */
	    "A01B30030C010130080401010303072080A10A30083002040002020100",   /* label with a control
									       byte */
	    "A01C30040C02C32830080401010303072080A10A30083002040002020100", /* label not UTF-8 */
	    "A01C30040C02C08030080401010303072080A10A30083002040002020100", /* overlong UTF-8 */
	    "A0173000300704000303072080A10A30083002040002020100",	    /* empty iD */
	    "A01630003006040101030101A10A30083002040002020100",	  /* unused bits without content */
	    "A0173000300704010103020800A10A30083002040002020100", /* 8 unused bits */
	    "A0173000300704010103020521A10A30083002040002020100", /* padding bits set */
	    "A01330003003040101A10A30083002040002020100",	  /* usage missing */
	    "A018300030080303072080040101A10A30083002040002020100",	  /* iD not first */
	    "A017300030080401010303072080A109300730020400020180",	  /* negative size */
	    "A019300030080401010303072080A10B3009300204000203010000",	  /* size too large */
	    "A01B300030080401010303072080A10D300B30020400020201000401AA", /* junk after the size */
	    "A01A300030080401010303072080A10A300830020400020201000400",	  /* element after A1 */
	    "A00C300030080401010303072080",			/* key attributes missing */
	    "A016300030080401010303072080A1083006300204003000", /* size not an INTEGER */
	};
	smk_buf b = SMK_BUF_INIT;
	prkd_info info;
	smk_err e;

	tu_hex(&b, ec_vector);
	for (size_t n = 0; n < b.len; n++)
		ck_assert_msg(prkd_parse(b.data, n, &info, &e) == -1, "prefix %zu", n);
	ck_assert_int_eq(smk_buf_add_byte(&b, 0x00), 0);
	ck_assert_int_eq(prkd_parse(b.data, b.len, &info, &e), -1);
	ck_assert(strstr(e.msg, "after the description") != NULL);
	smk_buf_free(&b);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_hex(&b, bad[i]);
		ck_assert_msg(prkd_parse(b.data, b.len, &info, &e) == -1, "accepted %s", bad[i]);
		smk_buf_free(&b);
	}
	tu_hex(&b, bad[0]);
	ck_assert_int_eq(prkd_parse(b.data, b.len, &info, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_UNSUPPORTED);
	smk_buf_free(&b);

	/* random bytes */
	{
		uint32_t x = 0xC4010001;
		uint8_t buf[200];

		for (int i = 0; i < 3000; i++) {
			size_t n = (x = x * 1103515245u + 12345u) % sizeof(buf);

			for (size_t j = 0; j < n; j++)
				buf[j] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
			buf[0] = (i & 1) ? 0xA0 : 0x30;
			(void)prkd_parse(buf, n, &info, &e);
		}
	}
}
END_TEST

START_TEST(encode_checks)
{
	static const uint8_t id = 1;
	char long_label[PRKD_LABEL_MAX + 2];
	prkd_key k = {.type = SMK_KEY_EC, .label = "ok", .id = &id, .id_len = 1, .key_bits = 256};
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	encode_ok(&k, &b);
	k.id_len = 0;
	ck_assert_int_eq(prkd_encode(&b, &k, &e), -1);
	k.id_len = 256;
	ck_assert_int_eq(prkd_encode(&b, &k, &e), -1);
	k.id_len = 1;
	k.key_bits = 0;
	ck_assert_int_eq(prkd_encode(&b, &k, &e), -1);
	k.key_bits = 256;
	k.label = "tab\there";
	ck_assert_int_eq(prkd_encode(&b, &k, &e), -1);
	ck_assert(strstr(e.msg, "control byte 09") != NULL);
	k.label = "\xff";
	ck_assert_int_eq(prkd_encode(&b, &k, &e), -1);
	k.label = "\xed\xa0\x80"; /* a UTF-16 surrogate */
	ck_assert_int_eq(prkd_encode(&b, &k, &e), -1);
	memset(long_label, 'a', sizeof(long_label) - 1);
	long_label[PRKD_LABEL_MAX + 1] = '\0';
	k.label = long_label;
	ck_assert_int_eq(prkd_encode(&b, &k, &e), -1);
	long_label[PRKD_LABEL_MAX] = '\0';
	smk_buf_reset(&b);
	ck_assert_int_eq(prkd_encode(&b, &k, &e), 0);
	k.type = SMK_KEY_AES;
	ck_assert_int_eq(prkd_encode(&b, &k, &e), -1);
	smk_buf_free(&b);
}
END_TEST

START_TEST(sha1_id)
{
	/* the P-256 public point of the genuine request in ref §8.3 */
	static const char point[] =
	    "04CFEAE11953BEFEBC2489796F251E0762804BC7D843019853584C276B88002C09"
	    "C931A6AC4703D1F769BBDB7C1EFA469EECBF276868B223D000FD211E5590262B";
	uint8_t id[PRKD_SHA1_ID_LEN], id2[PRKD_SHA1_ID_LEN];
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	tu_hex(&b, point);
	ck_assert_int_eq(prkd_sha1_id(SMK_KEY_EC, b.data, b.len, id, &e), 0);
	/* SHA-1 of x, computed independently with Python hashlib */
	tu_assert_hex(id, sizeof(id), "3188D587AE676FDA29E70DBA525261D307853A68");
	b.data[0] = 0x02;
	ck_assert_int_eq(prkd_sha1_id(SMK_KEY_EC, b.data, b.len, id, &e), -1);
	ck_assert_int_eq(prkd_sha1_id(SMK_KEY_EC, b.data, 64, id, &e), -1);
	smk_buf_free(&b);

	tu_hex(&b, "00C0FFEE");
	ck_assert_int_eq(prkd_sha1_id(SMK_KEY_RSA, b.data, b.len, id, &e), 0);
	ck_assert_int_eq(prkd_sha1_id(SMK_KEY_RSA, b.data + 1, b.len - 1, id2, &e), 0);
	ck_assert(memcmp(id, id2, sizeof(id)) == 0);
	tu_assert_hex(id, sizeof(id), "1C835DEB843E6421E5D87216F97CFAA4C32C5264");
	ck_assert_int_eq(prkd_sha1_id(SMK_KEY_AES, b.data, b.len, id, &e), -1);
	smk_buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("prkd");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, ec_description);
	tcase_add_test(tc, rsa_description);
	tcase_add_test(tc, usage_from_algorithms);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, parse_opensc_style);
	tcase_add_test(tc, parse_hostile);
	tcase_add_test(tc, encode_checks);
	tcase_add_test(tc, sha1_id);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
