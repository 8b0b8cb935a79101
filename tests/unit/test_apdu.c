/* SPDX-License-Identifier: BSD-3-Clause */
/* APDU encoding (host) and parsing (card side), short and extended. */
#include <string.h>

#include "tests/lib/testutil.h"
#include "sm/apdu.h"

static void encode(const apdu *a, const char *hex)
{
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	ck_assert_int_eq(apdu_encode(a, &b, &e), 0);
	tu_assert_hex(b.data, b.len, hex);
	smk_buf_free(&b);
}

START_TEST(encode_cases)
{
	static const uint8_t aid[] = {0xE8, 0x2B, 0x06, 0x01, 0x04, 0x01,
				      0x81, 0xC3, 0x1F, 0x02, 0x01};
	static const uint8_t off[] = {0x54, 0x02, 0x00, 0x00};
	uint8_t big[256];
	apdu a = {0};

	/* reference §1.2 select with FCP */
	a = (apdu){
	    .cla = 0x00, .ins = 0xA4, .p1 = 0x04, .p2 = 0x00, .data = aid, .lc = 11, .ne = 256};
	encode(&a, "00A404000BE82B0601040181C31F020100");
	/* case 1 */
	a = (apdu){.cla = 0x00, .ins = 0x20, .p1 = 0x00, .p2 = 0x81};
	encode(&a, "00200081");
	/* case 2S, Le 08 */
	a = (apdu){.ins = 0x84, .ne = 8};
	encode(&a, "0084000008");
	/* reference §2.3 extended read: Lc 000004, Le 0000 */
	a = (apdu){.ins = 0xB1,
		   .p1 = 0x2F,
		   .p2 = 0x02,
		   .data = off,
		   .lc = 4,
		   .ne = 65536,
		   .extended = true};
	encode(&a, "00B12F0200000454020000 0000");
	/* case 2E without data: Le takes three bytes */
	a = (apdu){.cla = 0x80, .ins = 0x58, .ne = 65536};
	encode(&a, "80580000000000");
	/* 256 data bytes force extended Lc (reference §6.7) */
	memset(big, 0x11, sizeof(big));
	{
		smk_buf b = SMK_BUF_INIT;
		smk_err e;

		a = (apdu){.ins = 0x46, .p1 = 3, .data = big, .lc = 256, .ne = 65536};
		ck_assert_int_eq(apdu_encode(&a, &b, &e), 0);
		ck_assert_uint_eq(b.len, 4 + 3 + 256 + 2);
		tu_assert_hex(b.data, 7, "00460300000100");
		tu_assert_hex(b.data + b.len - 2, 2, "0000");
		smk_buf_free(&b);
	}
}
END_TEST

START_TEST(parse_round_trip)
{
	static const uint8_t data[] = {1, 2, 3, 4, 5};
	size_t lcs[] = {0, 5};
	size_t nes[] = {0, 1, 256, 257, 65536};
	int ext;

	for (size_t i = 0; i < 2; i++)
		for (size_t j = 0; j < 5; j++)
			for (ext = 0; ext < 2; ext++) {
				smk_buf b = SMK_BUF_INIT;
				apdu a = {.cla = 0x0C,
					  .ins = 0x46,
					  .p1 = 1,
					  .p2 = 2,
					  .data = lcs[i] ? data : NULL,
					  .lc = lcs[i],
					  .ne = nes[j],
					  .extended = ext};
				apdu p;
				smk_err e;

				ck_assert_int_eq(apdu_encode(&a, &b, &e), 0);
				ck_assert_msg(apdu_parse(b.data, b.len, &p, &e) == 0, "%s", e.msg);
				ck_assert_uint_eq(p.lc, a.lc);
				ck_assert_uint_eq(p.ne, a.ne);
				ck_assert_uint_eq(p.ins, 0x46);
				if (a.lc)
					ck_assert(memcmp(p.data, data, a.lc) == 0);
				smk_buf_free(&b);
			}
}
END_TEST

START_TEST(parse_rejects_inconsistent)
{
	static const char *bad[] = {
	    "00",
	    "00A404",
	    "00A4040005AABB",	/* Lc 5, 2 bytes */
	    "00A40400000005AA", /* extended Lc 5, 1 byte */
	    "00A4040000",	/* short Lc 0 with nothing else is 2S(Le=0)? no: 1 byte */
	};
	size_t i;

	for (i = 0; i < 4; i++) {
		smk_buf b = SMK_BUF_INIT;
		apdu p;
		smk_err e;

		tu_hex(&b, bad[i]);
		ck_assert_msg(apdu_parse(b.data, b.len, &p, &e) == -1, "accepted %s", bad[i]);
		smk_buf_free(&b);
	}
	/* "00A4040000": case 2S with Le 00 = 256 */
	{
		smk_buf b = SMK_BUF_INIT;
		apdu p;
		smk_err e;

		tu_hex(&b, bad[4]);
		ck_assert_int_eq(apdu_parse(b.data, b.len, &p, &e), 0);
		ck_assert_uint_eq(p.ne, 256);
		smk_buf_free(&b);
	}
}
END_TEST

START_TEST(status_words)
{
	rapdu r;
	smk_err e;
	static const uint8_t resp[] = {0xAA, 0x63, 0xC2};

	ck_assert_int_eq(rapdu_parse(resp, 1, &r, &e), -1);
	ck_assert_int_eq(rapdu_parse(resp, 3, &r, &e), 0);
	ck_assert_uint_eq(r.sw, 0x63C2);
	ck_assert_uint_eq(r.len, 1);
	sw_fail(&e, r.sw, "VERIFY PIN");
	ck_assert_int_eq(e.code, SMK_E_CARD);
	ck_assert_str_eq(e.msg, "VERIFY PIN refused, SW 63C2 (wrong PIN, 2 tries left)");
	sw_fail(&e, 0x6A81, "SIGN");
	ck_assert(strstr(e.msg, "6A81") && strstr(e.msg, "algorithm"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("apdu");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, encode_cases);
	tcase_add_test(tc, parse_round_trip);
	tcase_add_test(tc, parse_rejects_inconsistent);
	tcase_add_test(tc, status_words);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
