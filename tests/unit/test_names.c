/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Enum names: the shared lookup (common/names.h) and every enum read
 * through it. Each table's _Static_assert catches a value appended to its
 * enum without a name; walking every value here also catches one inserted
 * in the middle (a hole in the table) and two values given one name.
 */
#include <string.h>

#include "tests/lib/testutil.h"
#include "apk/apk.h"
#include "common/err.h"
#include "common/names.h"
#include "common/yaml.h"
#include "daemon/daemon.h"
#include "daemon/engine.h"
#include "sm/alg.h"
#include "sm/hsm.h"
#include "sm/session.h"

#define MAX_VALUES 32

/* got[0..n) are the names of one enum's values, first + 0 .. first + n - 1.
 * Every value has a name of its own; the fallback is no value's name but
 * the one of fallback_owner (-1: none), so a value the table leaves out
 * shows up here as a missing or repeated name. */
static void check_names(const char *what, const char *const *got, int first, int n,
			const char *fallback, int fallback_owner)
{
	int i, j;

	ck_assert_int_ge(n, 1);
	for (i = 0; i < n; i++) {
		ck_assert_msg(got[i] != NULL && got[i][0] != '\0', "%s %d has no name", what,
			      first + i);
		ck_assert_msg(strcmp(got[i], fallback) != 0 || first + i == fallback_owner,
			      "%s %d reads as the fallback \"%s\"", what, first + i, fallback);
		for (j = 0; j < i; j++)
			ck_assert_msg(strcmp(got[i], got[j]) != 0, "%s %d and %d are both \"%s\"",
				      what, first + j, first + i, got[i]);
	}
}

START_TEST(lookup_bounds_and_holes)
{
	static const char *const names[] = {[0] = "zero", [2] = "two"};

	ck_assert_str_eq(smk_enum_name(names, SMK_NELEM(names), 0, "fb"), "zero");
	ck_assert_str_eq(smk_enum_name(names, SMK_NELEM(names), 2, "fb"), "two");
	ck_assert_str_eq(smk_enum_name(names, SMK_NELEM(names), 1, "fb"), "fb");  /* hole */
	ck_assert_str_eq(smk_enum_name(names, SMK_NELEM(names), 3, "fb"), "fb");  /* past the end */
	ck_assert_str_eq(smk_enum_name(names, SMK_NELEM(names), -1, "fb"), "fb"); /* negative */
}
END_TEST

START_TEST(error_codes)
{
	const char *got[MAX_VALUES];
	int v;

	ck_assert_int_le(SMK_ERRC_COUNT, MAX_VALUES);
	for (v = 0; v < SMK_ERRC_COUNT; v++)
		got[v] = smk_errc_name((enum smk_errc)v);
	check_names("error code", got, 0, SMK_ERRC_COUNT, "unknown", -1);
	ck_assert_str_eq(smk_errc_name(SMK_OK), "ok");
	ck_assert_str_eq(smk_errc_name(SMK_E_SM), "secure-messaging");
	ck_assert_str_eq(smk_errc_name(SMK_E_LABEL), "label");
	ck_assert_str_eq(smk_errc_name(SMK_ERRC_COUNT), "unknown");
}
END_TEST

START_TEST(yaml_node_kinds)
{
	const char *got[MAX_VALUES];
	smk_ynode n;
	int v;

	memset(&n, 0, sizeof(n));
	for (v = 0; v < SMK_YNODE_KIND_COUNT; v++) {
		n.kind = (enum smk_ynode_kind)v;
		got[v] = smk_ynode_kind_name(&n);
	}
	check_names("yaml node kind", got, 0, SMK_YNODE_KIND_COUNT, "something else", -1);
	n.kind = SMK_YNODE_SEQ;
	ck_assert_str_eq(smk_ynode_kind_name(&n), "a list");
	n.kind = SMK_YNODE_KIND_COUNT;
	ck_assert_str_eq(smk_ynode_kind_name(&n), "something else");
}
END_TEST

START_TEST(apk_schemes)
{
	const char *got[MAX_VALUES];
	int v;

	for (v = APK_V1; v < APK_SCHEME_END; v++)
		got[v - APK_V1] = apk_scheme_name((enum apk_scheme)v);
	check_names("apk scheme", got, APK_V1, APK_SCHEME_END - APK_V1, "unknown scheme", -1);
	ck_assert_str_eq(apk_scheme_name(APK_V1), "v1 (JAR signing)");
	ck_assert_str_eq(apk_scheme_name(APK_V31), "v3.1");
	ck_assert_str_eq(apk_scheme_name((enum apk_scheme)0), "unknown scheme");
	ck_assert_str_eq(apk_scheme_name(APK_SCHEME_END), "unknown scheme");
}
END_TEST

START_TEST(device_states)
{
	const char *got[MAX_VALUES];
	int v;

	for (v = 0; v < DEVICE_STATE_COUNT; v++)
		got[v] = device_state_name((enum device_state)v);
	/* a state out of range reads as down, the name DEVICE_DOWN has */
	check_names("device state", got, 0, DEVICE_STATE_COUNT, "down", DEVICE_DOWN);
	ck_assert_str_eq(device_state_name(DEVICE_BUSY), "busy");
	ck_assert_str_eq(device_state_name(DEVICE_STATE_COUNT), "down");
}
END_TEST

START_TEST(engine_stages)
{
	const char *got[MAX_VALUES];
	int v;

	for (v = 0; v < ENGINE_STAGE_COUNT; v++)
		got[v] = engine_stage_name((enum engine_stage)v);
	check_names("engine stage", got, 0, ENGINE_STAGE_COUNT, "queued", ENGINE_QUEUED);
	ck_assert_str_eq(engine_stage_name(ENGINE_GENERATING), "generating");
	ck_assert_str_eq(engine_stage_name(ENGINE_STAGE_COUNT), "queued");
}
END_TEST

START_TEST(hsm_domain_kinds)
{
	const char *got[MAX_VALUES];
	int v;

	for (v = 0; v < HSM_DOMAIN_KIND_COUNT; v++)
		got[v] = hsm_domain_kind_name((enum hsm_domain_kind)v);
	check_names("key domain kind", got, 0, HSM_DOMAIN_KIND_COUNT, "empty", HSM_DOMAIN_EMPTY);
	ck_assert_str_eq(hsm_domain_kind_name(HSM_DOMAIN_XKEK), "xkek");
	ck_assert_str_eq(hsm_domain_kind_name(HSM_DOMAIN_KIND_COUNT), "empty");
}
END_TEST

START_TEST(ce_kinds)
{
	const char *got[MAX_VALUES];
	int v;

	for (v = 0; v < SESSION_CE_KIND_COUNT; v++)
		got[v] = session_ce_kind_name((enum session_ce_kind)v);
	check_names("CE kind", got, 0, SESSION_CE_KIND_COUNT, "other", SESSION_CE_OTHER);
	ck_assert_str_eq(session_ce_kind_name(SESSION_CE_CVREQ), "cv-request");
	ck_assert_str_eq(session_ce_kind_name(SESSION_CE_KIND_COUNT), "other");
}
END_TEST

/* The key types are bits with no count: every type an algorithm applies to
 * has a name, and a value that is no single type has none. */
START_TEST(key_types)
{
	const smk_alg *algs;
	size_t n, i;
	unsigned bit;

	algs = alg_list(&n);
	ck_assert_uint_gt(n, 0);
	for (i = 0; i < n; i++)
		for (bit = 1; bit != 0 && bit <= algs[i].keytypes; bit <<= 1)
			if (algs[i].keytypes & bit)
				ck_assert_msg(
				    strcmp(keytype_name((enum smk_keytype)bit), "unknown") != 0,
				    "key type %#x of %s has no name", bit, algs[i].name);
	ck_assert_str_eq(keytype_name(SMK_KEY_RSA), "rsa");
	ck_assert_str_eq(keytype_name(SMK_KEY_EC), "ec");
	ck_assert_str_eq(keytype_name(SMK_KEY_AES), "aes");
	ck_assert_str_eq(keytype_name((enum smk_keytype)0), "unknown");
	ck_assert_str_eq(keytype_name((enum smk_keytype)(SMK_KEY_RSA | SMK_KEY_EC)), "unknown");
	ck_assert_str_eq(keytype_name((enum smk_keytype)8), "unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("names");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, lookup_bounds_and_holes);
	tcase_add_test(tc, error_codes);
	tcase_add_test(tc, yaml_node_kinds);
	tcase_add_test(tc, apk_schemes);
	tcase_add_test(tc, device_states);
	tcase_add_test(tc, engine_stages);
	tcase_add_test(tc, hsm_domain_kinds);
	tcase_add_test(tc, ce_kinds);
	tcase_add_test(tc, key_types);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
