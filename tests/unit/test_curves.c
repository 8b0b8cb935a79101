/* SPDX-License-Identifier: BSD-3-Clause */
/* Curve table: explicit parameters map to named curves and back. */
#include <string.h>

#include "tests/lib/testutil.h"
#include "sm/alg.h"
#include "sm/curves.h"

START_TEST(p256_params_match_reference)
{
	const smk_curve *c = curve_by_name("prime256v1");
	smk_curve_params cp;
	smk_err e;

	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->name, "secp256r1");
	ck_assert_int_eq(curve_params(c, &cp, &e), 0);
	/* reference §6.7: the P-256 template OpenSC sends */
	tu_assert_hex(cp.p, cp.field_len,
		      "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF");
	tu_assert_hex(cp.r, cp.order_len,
		      "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
	tu_assert_hex(cp.g, 5, "046B17D1F2");
	ck_assert_uint_eq(cp.cofactor, 1);
}
END_TEST

START_TEST(every_curve_matches_itself)
{
	size_t n, i;
	const smk_curve *list = curve_list(&n);

	ck_assert_uint_ge(n, 7);
	for (i = 0; i < n; i++) {
		smk_curve_params cp;
		smk_err e;
		const smk_curve *m;

		ck_assert_int_eq(curve_params(&list[i], &cp, &e), 0);
		m = curve_match(cp.p, cp.field_len, cp.a, cp.field_len, cp.b, cp.field_len, cp.g,
				cp.g_len, cp.r, cp.order_len, &e);
		ck_assert_ptr_eq(m, &list[i]);
		ck_assert_ptr_eq(curve_by_nid(list[i].nid), &list[i]);
	}
}
END_TEST

START_TEST(secp256k1_zero_a_with_or_without_padding)
{
	const smk_curve *c = curve_by_name("secp256k1");
	smk_curve_params cp;
	smk_err e;
	static const uint8_t zero = 0;

	ck_assert_int_eq(curve_params(c, &cp, &e), 0);
	/* the genuine request keeps 32 zero bytes for a; a 1-byte 00 also means 0 */
	ck_assert_ptr_eq(
	    curve_match(cp.p, 32, &zero, 1, cp.b + 31, 1, cp.g, cp.g_len, cp.r, 32, &e), c);
}
END_TEST

START_TEST(unknown_curve_is_named)
{
	smk_curve_params cp;
	smk_err e;

	ck_assert_int_eq(curve_params(curve_by_name("secp256r1"), &cp, &e), 0);
	cp.b[31] ^= 1;
	ck_assert_ptr_null(curve_match(cp.p, 32, cp.a, 32, cp.b, 32, cp.g, cp.g_len, cp.r, 32, &e));
	ck_assert_int_eq(e.code, SMK_E_UNSUPPORTED);
	ck_assert_msg(strstr(e.msg, "256-bit") != NULL, "%s", e.msg);
	ck_assert_ptr_null(curve_by_name("secp999r1"));
}
END_TEST

START_TEST(algorithm_table)
{
	ck_assert_uint_eq(alg_by_name("ecdsa-sha256")->id, 0x73);
	ck_assert_uint_eq(alg_by_name("rsa-pss-sha256")->id, 0x43);
	ck_assert_uint_eq(alg_by_name("ecdh")->id, 0x80);
	ck_assert_uint_eq(alg_by_name("wrap")->id, 0x92);
	ck_assert_str_eq(alg_by_id(0x33)->name, "rsa-pkcs1-sha256");
	ck_assert_ptr_null(alg_by_name("ecdsa-sha999"));
	ck_assert_ptr_null(alg_by_id(0x00));
	ck_assert(alg_by_name("ecdsa-sha256")->keytypes == SMK_KEY_EC);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("curves");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, p256_params_match_reference);
	tcase_add_test(tc, every_curve_matches_itself);
	tcase_add_test(tc, secp256k1_zero_a_with_or_without_padding);
	tcase_add_test(tc, unknown_curve_is_named);
	tcase_add_test(tc, algorithm_table);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
