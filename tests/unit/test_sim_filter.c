/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sim_card_set_sm_filter, the hook fuzz_session drives: a rewritten plain
 * answer reaches the host through secure messaging intact (the card protects
 * what the filter leaves), an answer cut below SW1 SW2 becomes 6F00, and
 * plain answers never pass through the filter.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/simtransport.h"
#include "tests/lib/testutil.h"
#include "sim/card.h"
#include "sm/alg.h"
#include "sm/curves.h"
#include "sm/session.h"

static const uint8_t sopin[8] = {0x35, 0x37, 0x36, 0x32, 0x31, 0x38, 0x38, 0x30};

struct filter {
	uint8_t ins;	/* rewrite answers to this command */
	int cut;	/* leave only one byte */
	unsigned seen;	/* answers the filter saw */
	unsigned plain; /* of which to SELECT (sent in plain: must not happen) */
};

static void filter(void *ctx, uint8_t ins, smk_buf *answer)
{
	struct filter *f = ctx;
	static const uint8_t sw6a82[2] = {0x6A, 0x82};

	f->seen++;
	if (ins == 0xA4)
		f->plain++;
	if (ins != f->ins)
		return;
	smk_buf_reset(answer);
	smk_buf_add(answer, sw6a82, f->cut ? 1 : 2);
}

/* Open a session on a fresh card with f installed, generate a P-256 key. */
static int generate(struct filter *f, smk_err *e)
{
	char dir[64], pin_path[96];
	sim_ca *ca;
	sim_card *c = sim_card_new();
	smk_buf root = SMK_BUF_INIT;
	trust_store trust;
	smk_pin_source pin;
	smk_transport *t;
	session_config cfg = {0};
	smk_session *s;
	session_keygen g;
	session_key k;
	const uint8_t *r;
	size_t n;
	FILE *pf;
	int rc;

	tu_temp_dir(dir, sizeof(dir), "sim-filter");
	snprintf(pin_path, sizeof(pin_path), "%s/pin", dir);
	pf = fopen(pin_path, "w");
	ck_assert_ptr_nonnull(pf);
	fprintf(pf, "%s\n", SIM_DEFAULT_PIN);
	fclose(pf);
	chmod(pin_path, 0600);
	ck_assert_msg(pin_source_file(&pin, pin_path, e) == 0, "%s", e->msg);
	ca = sim_ca_new(e);
	ck_assert_ptr_nonnull(ca);
	ck_assert_ptr_nonnull(c);
	ck_assert_msg(sim_card_init_pki(c, ca, 3, NULL, e) == 0, "%s", e->msg);
	ck_assert_int_eq(sim_card_set_pins(c, (const uint8_t *)SIM_DEFAULT_PIN,
					   strlen(SIM_DEFAULT_PIN), sopin, e),
			 0);
	sim_card_set_sm_filter(c, filter, f);
	r = sim_ca_root(ca, &n);
	smk_buf_add(&root, r, n);
	memset(&trust, 0, sizeof(trust));
	ck_assert_int_eq(trust_add(&trust, root.data, root.len, "sim", e), 0);
	cfg.trust = &trust;
	cfg.pin = &pin;
	ck_assert_int_eq(simtransport_new(c, "sim", &t, e), 0);
	ck_assert_int_eq(session_new(t, &cfg, &s, e), 0);

	memset(&g, 0, sizeof(g));
	g.spec.type = SMK_KEY_EC;
	g.spec.curve = curve_by_name("secp256r1");
	snprintf(g.spec.chr, sizeof(g.spec.chr), "ZZSIMFLT00001");
	g.spec.algs[g.spec.alg_count++] = alg_by_name("ecdsa-sha256")->id;
	memset(&k, 0, sizeof(k));
	rc = session_generate(s, &g, &k, e);
	session_key_free(&k);
	session_free(s);
	sim_card_free(c);
	sim_ca_free(ca);
	trust_free(&trust);
	pin_source_free(&pin);
	smk_buf_free(&root);
	unlink(pin_path);
	rmdir(dir);
	return rc;
}

START_TEST(filter_sees_protected_answers_only)
{
	struct filter f = {0};
	smk_err e;

	ck_assert_msg(generate(&f, &e) == 0, "%s", e.msg);
	ck_assert_uint_gt(f.seen, 2); /* PIN status, VERIFY, ENUMERATE, GAKP at least */
	ck_assert_uint_eq(f.plain, 0);
}
END_TEST

START_TEST(rewritten_answer_reaches_host_under_sm)
{
	struct filter f = {0x46, 0, 0, 0};
	smk_err e;

	ck_assert_int_eq(generate(&f, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_CARD);
	ck_assert_uint_eq(e.sw, 0x6A82);
}
END_TEST

START_TEST(answer_without_sw_becomes_6f00)
{
	struct filter f = {0x46, 1, 0, 0};
	smk_err e;

	ck_assert_int_eq(generate(&f, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_CARD);
	ck_assert_uint_eq(e.sw, 0x6F00);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim_filter");
	TCase *tc = tcase_create("filter");

	tcase_add_test(tc, filter_sees_protected_answers_only);
	tcase_add_test(tc, rewritten_answer_reaches_host_under_sm);
	tcase_add_test(tc, answer_without_sw_becomes_6f00);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
