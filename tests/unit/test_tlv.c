/* SPDX-License-Identifier: BSD-3-Clause */
/* BER-TLV reader and writer: the bounds every other parser relies on. */
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testutil.h"
#include "sm/tlv.h"

START_TEST(parse_two_byte_tag_long_length)
{
	smk_buf b = SMK_BUF_INIT;
	tlv t;
	smk_err e;

	/* 7F21 with 81-form length: the genuine DevAut certificate header */
	tu_hex(&b, "7F2181E4");
	for (int i = 0; i < 0xE4; i++)
		smk_buf_add_byte(&b, (uint8_t)i);
	ck_assert_int_eq(tlv_parse(b.data, b.len, &t, &e), 0);
	ck_assert_uint_eq(t.tag, 0x7F21);
	ck_assert_uint_eq(t.len, 0xE4);
	ck_assert_uint_eq(t.raw_len, b.len);
	ck_assert_ptr_eq(t.value, b.data + 4);
	ck_assert(tlv_constructed(t.tag));
	smk_buf_free(&b);
}
END_TEST

START_TEST(parse_82_and_83_lengths)
{
	smk_buf b = SMK_BUF_INIT;
	tlv t;
	smk_err e;
	size_t i;

	tu_hex(&b, "53820100");
	for (i = 0; i < 0x100; i++)
		smk_buf_add_byte(&b, 0xAA);
	ck_assert_int_eq(tlv_parse(b.data, b.len, &t, &e), 0);
	ck_assert_uint_eq(t.len, 256);
	smk_buf_reset(&b);
	tu_hex(&b, "5383000001FF");
	ck_assert_int_eq(tlv_parse(b.data, b.len, &t, &e), 0);
	ck_assert_uint_eq(t.len, 1);
	smk_buf_free(&b);
}
END_TEST

START_TEST(rejects_malformed)
{
	static const char *bad[] = {
	    "",		    /* nothing */
	    "7F",	    /* tag cut after first byte */
	    "7F21",	    /* no length */
	    "7F2181",	    /* length cut */
	    "7F218205",	    /* length cut */
	    "7F2105AABB",   /* value shorter than length */
	    "5F8480800101", /* tag longer than 3 bytes */
	    "538401000000", /* 4-byte length field */
	    "5380",	    /* indefinite length */
	    "0001AA",	    /* padding byte as tag */
	    "FF01AA",
	    "5F208300", /* truncated 83 length */
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		smk_buf b = SMK_BUF_INIT;
		tlv t;
		smk_err e;

		tu_hex(&b, bad[i]);
		ck_assert_msg(tlv_parse(b.data, b.len, &t, &e) == -1, "accepted %s", bad[i]);
		ck_assert_int_eq(e.code, SMK_E_FORMAT);
		ck_assert(strlen(e.msg) > 0);
		smk_buf_free(&b);
	}
}
END_TEST

START_TEST(exact_and_find)
{
	smk_buf b = SMK_BUF_INIT;
	tlv t;
	smk_err e;

	tu_hex(&b, "5F290100 420455544341 5F200141");
	ck_assert_int_eq(tlv_find(b.data, b.len, 0x42, &t, &e), 1);
	ck_assert_uint_eq(t.len, 4);
	ck_assert(memcmp(t.value, "UTCA", 4) == 0);
	ck_assert_int_eq(tlv_find(b.data, b.len, 0x86, &t, &e), 0);
	/* a later sibling that is malformed spoils the whole level */
	smk_buf_add_byte(&b, 0x86);
	ck_assert_int_eq(tlv_find(b.data, b.len, 0x42, &t, &e), -1);
	/* exact: trailing garbage is refused */
	ck_assert_int_eq(tlv_parse_exact(b.data, 4, 0x5F29, &t, &e), 0);
	ck_assert_int_eq(tlv_parse_exact(b.data, 5, 0x5F29, &t, &e), -1);
	ck_assert_int_eq(tlv_parse_exact(b.data, 4, 0x42, &t, &e), -1);
	smk_buf_free(&b);
}
END_TEST

START_TEST(writer_round_trip)
{
	smk_buf b = SMK_BUF_INIT;
	size_t outer, inner;
	uint8_t big[300];
	tlv t, c;
	smk_err e;

	memset(big, 0x5A, sizeof(big));
	ck_assert_int_eq(tlv_begin(&b, 0x67, &outer), 0);
	ck_assert_int_eq(tlv_begin(&b, 0x7F21, &inner), 0);
	ck_assert_int_eq(tlv_put(&b, 0x5F37, big, sizeof(big)), 0);
	ck_assert_int_eq(tlv_end(&b, inner), 0);
	ck_assert_int_eq(tlv_put(&b, 0x42, "DEVICE", 6), 0);
	ck_assert_int_eq(tlv_end(&b, outer), 0);
	/* 5F37 82012C + 300 = 305; 7F21 820131 + 305 = 310; 42 06 = 8; 67 82013E */
	tu_assert_hex(b.data, 8, "6782013E7F218201");
	ck_assert_int_eq(tlv_parse_exact(b.data, b.len, 0x67, &t, &e), 0);
	ck_assert_int_eq(tlv_find(t.value, t.len, 0x7F21, &c, &e), 1);
	ck_assert_uint_eq(c.len, 305);
	ck_assert_int_eq(tlv_find(t.value, t.len, 0x42, &c, &e), 1);
	ck_assert_uint_eq(c.len, 6);
	ck_assert_uint_eq(tlv_len_size(0x7F), 1);
	ck_assert_uint_eq(tlv_len_size(0x80), 2);
	ck_assert_uint_eq(tlv_len_size(0x100), 3);
	ck_assert_uint_eq(tlv_len_size(0x10000), 4);
	smk_buf_free(&b);
}
END_TEST

START_TEST(iterate_every_prefix_without_overread)
{
	/* every proper prefix of a valid nested object is refused with a
	 * message, and only the whole object parses, to its three children;
	 * under ASan this also proves no byte past the prefix is read */
	static const uint32_t want[] = {0x5F29, 0x42, 0x7F49};
	smk_buf b = SMK_BUF_INIT;
	size_t n;

	tu_hex(&b, "7F4E175F2901004209555443413030303031 7F4905 0603010203");
	ck_assert_uint_eq(b.len, 26);
	for (n = 0; n <= b.len; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		size_t kids = 0;
		tlv t;
		smk_err e = {0};

		ck_assert_ptr_nonnull(copy);
		memcpy(copy, b.data, n);
		if (n < b.len) {
			ck_assert_msg(tlv_parse(copy, n, &t, &e) < 0, "prefix of %zu bytes parsed",
				      n);
			ck_assert_msg(e.msg[0] != '\0', "prefix of %zu bytes: no message", n);
		} else {
			tlv_iter it;
			tlv c;
			int rc;

			ck_assert_int_eq(tlv_parse(copy, n, &t, &e), 0);
			ck_assert_uint_eq(t.tag, 0x7F4E);
			ck_assert_uint_eq(t.len, 23);
			tlv_iter_init(&it, t.value, t.len);
			while ((rc = tlv_next(&it, &c, &e)) == 1) {
				ck_assert_uint_lt(kids, 3);
				ck_assert_uint_eq(c.tag, want[kids]);
				ck_assert(c.value >= t.value && c.value + c.len <= t.value + t.len);
				kids++;
			}
			ck_assert_int_eq(rc, 0);
			ck_assert_uint_eq(kids, 3);
		}
		free(copy);
	}
	smk_buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tlv");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, parse_two_byte_tag_long_length);
	tcase_add_test(tc, parse_82_and_83_lengths);
	tcase_add_test(tc, rejects_malformed);
	tcase_add_test(tc, exact_and_find);
	tcase_add_test(tc, writer_round_trip);
	tcase_add_test(tc, iterate_every_prefix_without_overread);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
