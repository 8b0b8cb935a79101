/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shared reader of note verifier keys (archive/vkey.c): the text splits
 * at its first two '+' only (base64 may hold more), key names follow the
 * signed-note rules (UTF-8, no Unicode white space, control or '+'), the
 * key ID is exactly 8 hex digits, and key files skip blank and comment
 * lines, count every line and trim the white space each file allows.
 */
#include <string.h>

#include "archive/vkey.h"
#include "tests/lib/testutil.h"

START_TEST(split_at_two_plus)
{
	static const char s[] = "example.com/log+0123abcd+AA+/BB==";
	vkey_parts p;

	ck_assert_int_eq(vkey_split(s, strlen(s), &p), 2);
	ck_assert_int_eq((int)p.name_len, 15);
	ck_assert_int_eq(memcmp(p.name, "example.com/log", 15), 0);
	ck_assert_int_eq((int)p.id_len, 8);
	ck_assert_int_eq(memcmp(p.id, "0123abcd", 8), 0);
	ck_assert_int_eq((int)p.key_len, 8);
	ck_assert_int_eq(memcmp(p.key, "AA+/BB==", 8), 0);
	ck_assert_int_eq(vkey_split("name+only", 9, &p), 1);
	ck_assert_int_eq((int)p.name_len, 4);
	ck_assert_ptr_null(p.id);
	ck_assert_int_eq(vkey_split("noplus", 6, &p), 0);
}
END_TEST

START_TEST(name_rules)
{
	size_t at = 99;

	ck_assert_int_eq(vkey_name_check("a.example/w", 11, &at), VKEY_NAME_OK);
	ck_assert_int_eq(vkey_name_check("caf\xc3\xa9", 5, &at), VKEY_NAME_OK);
	ck_assert_int_eq(vkey_name_check("", 0, &at), VKEY_NAME_EMPTY);
	ck_assert_int_eq(vkey_name_check("ab\xff", 3, &at), VKEY_NAME_UTF8);
	ck_assert_int_eq((int)at, 2);
	/* overlong NUL, a surrogate: not UTF-8 */
	ck_assert_int_eq(vkey_name_check("\xc0\x80", 2, &at), VKEY_NAME_UTF8);
	ck_assert_int_eq(vkey_name_check("\xed\xa0\x80", 3, &at), VKEY_NAME_UTF8);
	ck_assert_int_eq(vkey_name_check("a b", 3, &at), VKEY_NAME_SPACE);
	ck_assert_int_eq((int)at, 1);
	/* U+2003 EM SPACE, U+0085 NEXT LINE, DEL */
	ck_assert_int_eq(vkey_name_check("x\xe2\x80\x83", 4, &at), VKEY_NAME_SPACE);
	ck_assert_int_eq(vkey_name_check("\xc2\x85", 2, &at), VKEY_NAME_SPACE);
	ck_assert_int_eq(vkey_name_check("a\x7f", 2, &at), VKEY_NAME_SPACE);
	ck_assert_int_eq(vkey_name_check("a+b", 3, &at), VKEY_NAME_PLUS);
	ck_assert_int_eq((int)at, 1);
}
END_TEST

START_TEST(key_id_digits)
{
	uint8_t id[4];

	ck_assert_int_eq(vkey_id("c0D23d6A", 8, id), 0);
	ck_assert_int_eq(id[0], 0xc0);
	ck_assert_int_eq(id[1], 0xd2);
	ck_assert_int_eq(id[2], 0x3d);
	ck_assert_int_eq(id[3], 0x6a);
	ck_assert_int_eq(vkey_id("c0d23d6", 7, id), -1);
	ck_assert_int_eq(vkey_id("c0d23d6ab", 9, id), -1);
	ck_assert_int_eq(vkey_id("c0d23d6g", 8, id), -1);
	ck_assert_int_eq(vkey_id("c0d 3d6a", 8, id), -1);
}
END_TEST

START_TEST(key_file_lines)
{
	static const char text[] = "# comment\n\n  one \t\r\n\t# indented comment\r\n"
				   "\rtwo\n   \nthree";
	vkey_lines it;
	const char *l;
	size_t n;

	/* the logs file keeps a leading '\r' (a key name never starts with one) */
	vkey_lines_init(&it, (const uint8_t *)text, strlen(text), 0);
	ck_assert_int_eq(vkey_lines_next(&it, &l, &n), 1);
	ck_assert_int_eq((int)it.no, 3);
	ck_assert_int_eq((int)n, 3);
	ck_assert_int_eq(memcmp(l, "one", 3), 0);
	ck_assert_int_eq(vkey_lines_next(&it, &l, &n), 1);
	ck_assert_int_eq((int)it.no, 5);
	ck_assert_int_eq((int)n, 4);
	ck_assert_int_eq(memcmp(l, "\rtwo", 4), 0);
	ck_assert_int_eq(vkey_lines_next(&it, &l, &n), 1);
	ck_assert_int_eq((int)it.no, 7);
	ck_assert_int_eq(memcmp(l, "three", 5), 0);
	ck_assert_int_eq(vkey_lines_next(&it, &l, &n), 0);
	/* the witnesses file trims it */
	vkey_lines_init(&it, (const uint8_t *)text, strlen(text), 1);
	ck_assert_int_eq(vkey_lines_next(&it, &l, &n), 1);
	ck_assert_int_eq(vkey_lines_next(&it, &l, &n), 1);
	ck_assert_int_eq((int)n, 3);
	ck_assert_int_eq(memcmp(l, "two", 3), 0);
	/* nothing at all */
	vkey_lines_init(&it, NULL, 0, 1);
	ck_assert_int_eq(vkey_lines_next(&it, &l, &n), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vkey");
	TCase *tc = tcase_create("vkey");

	tcase_add_test(tc, split_at_two_plus);
	tcase_add_test(tc, name_rules);
	tcase_add_test(tc, key_id_digits);
	tcase_add_test(tc, key_file_lines);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
