/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * common/show.c: what a terminal or a log gets for hostile text. An ANSI
 * escape, a carriage return or a newline must come out as visible
 * characters, never as itself; plain text must come out unchanged; a value
 * too long for the buffer is cut at a whole escape, never mid-escape.
 */
#include <string.h>

#include "common/show.h"
#include "tests/lib/testutil.h"

START_TEST(plain_text_unchanged)
{
	ck_assert_str_eq(smk_show("app-2027 release (v1)"), "app-2027 release (v1)");
	ck_assert_int_eq(smk_show_needed("app-2027"), 0);
	ck_assert_str_eq(smk_show(NULL), "(null)");
}
END_TEST

START_TEST(controls_escaped)
{
	/* ESC [2K CR: what erases a FAILED line on a terminal */
	const char *label = "ok\x1b[2K\rverified\nforged: line\t\\";
	const char *shown = smk_show(label);

	ck_assert_str_eq(shown, "ok\\x1B[2K\\rverified\\nforged: line\\t\\\\");
	ck_assert_ptr_null(strchr(shown, '\x1b'));
	ck_assert_ptr_null(strchr(shown, '\n'));
	ck_assert_ptr_null(strchr(shown, '\r'));
	ck_assert_int_eq(smk_show_needed(label), 1);
	ck_assert_str_eq(smk_show("\x7f\xc3\xa9"), "\\x7F\\xC3\\xA9");
}
END_TEST

START_TEST(rotating_buffers_in_one_call)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%s|%s", smk_show("a\n"), smk_show("b\r"));
	ck_assert_str_eq(buf, "a\\n|b\\r");
}
END_TEST

START_TEST(cut_at_whole_escape)
{
	char out[12];
	size_t i;

	smk_show_into("abcdef\x1b\x1b\x1b", out, sizeof(out));
	ck_assert_str_eq(out, "abcdef...");
	/* every size: NUL-terminated, no half escape, no raw control byte */
	for (i = 1; i <= sizeof(out); i++) {
		smk_show_into("\x01\x02\x03\x04\x05", out, i);
		ck_assert_uint_lt(strlen(out), i);
		ck_assert_ptr_null(strchr(out, '\x01'));
		size_t n = strlen(out);

		while (n > 0 && out[n - 1] == '.')
			n--;		     /* the cut mark */
		ck_assert_uint_eq(n % 4, 0); /* whole "\\xHH" escapes only */
	}
	smk_show_into("abc", out, sizeof(out));
	ck_assert_str_eq(out, "abc");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("show");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, plain_text_unchanged);
	tcase_add_test(tc, controls_escaped);
	tcase_add_test(tc, rotating_buffers_in_one_call);
	tcase_add_test(tc, cut_at_whole_escape);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
