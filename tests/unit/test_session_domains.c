/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the card says about import and about a key's algorithm list, read by
 * the session under secure messaging against the simulator in-process: the
 * key-domain state (none, DKEK with shares outstanding, DKEK complete, XKEK,
 * a card without the command), the algorithm list in the FCP (reported, not
 * reported, no list), and hostile answers (rewritten by the card's SM
 * filter) refused with the domain or key named.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/simtransport.h"
#include "tests/lib/testutil.h"
#include "sim/card.h"
#include "sm/alg.h"
#include "sm/curves.h"
#include "sm/hsm.h"
#include "sm/session.h"

#define SHARE1 "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"

/* The card's SM filter: answers to INS ins are replaced by hex (data || SW);
 * with from_domain, only queries for domains >= from_domain are rewritten
 * (the filter counts the answers it sees). */
struct filter {
	uint8_t ins;
	const char *hex;
	unsigned skip; /* leave this many answers to ins alone first */
	unsigned seen;
};

static void filter_fn(void *ctx, uint8_t ins, smk_buf *answer)
{
	struct filter *f = ctx;

	if (f->hex == NULL || ins != f->ins)
		return;
	if (f->seen++ < f->skip)
		return;
	smk_buf_reset(answer);
	tu_hex(answer, f->hex);
}

struct rig {
	sim_ca *ca;
	sim_card *c;
	trust_store trust;
	smk_pin_source pin;
	smk_session *s;
	char dir[128];
	struct filter f;
};

static uint16_t tx(sim_card *c, const char *hex)
{
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	uint16_t sw;

	tu_hex(&cmd, hex);
	ck_assert_int_eq(sim_card_transmit(c, cmd.data, cmd.len, &resp), SIM_ANSWERED);
	ck_assert_uint_ge(resp.len, 2);
	sw = (uint16_t)(resp.data[resp.len - 2] << 8 | resp.data[resp.len - 1]);
	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	return sw;
}

/* A card initialised with the INITIALIZE command data given (hex, with the
 * domain tags), then `setup` APDUs in plain with the PIN verified, then a
 * session. */
static void rig_up(struct rig *r, const char *init_hex, const char *const *setup)
{
	smk_buf root = SMK_BUF_INIT, sop = SMK_BUF_INIT;
	session_config cfg = {0};
	smk_transport *tp;
	const uint8_t *rc;
	char path[200];
	FILE *f;
	size_t n;
	smk_err e;

	memset(r, 0, sizeof(*r));
	tu_temp_dir(r->dir, sizeof(r->dir), "smk-domains");
	snprintf(path, sizeof(path), "%s/pin", r->dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s\n", SIM_DEFAULT_PIN);
	fclose(f);
	chmod(path, 0600);
	ck_assert_msg(pin_source_file(&r->pin, path, &e) == 0, "%s", e.msg);
	r->ca = sim_ca_new(&e);
	ck_assert_msg(r->ca != NULL, "%s", e.msg);
	r->c = sim_card_new();
	ck_assert_msg(sim_card_init_pki(r->c, r->ca, 7, NULL, &e) == 0, "%s", e.msg);
	tu_hex(&sop, SIM_DEFAULT_SOPIN_HEX);
	ck_assert_int_eq(sim_card_set_pins(r->c, (const uint8_t *)SIM_DEFAULT_PIN,
					   strlen(SIM_DEFAULT_PIN), sop.data, &e),
			 0);
	ck_assert_uint_eq(tx(r->c, "00A404000BE82B0601040181C31F020100"), 0x9000);
	if (init_hex)
		ck_assert_uint_eq(tx(r->c, init_hex), 0x9000);
	ck_assert_uint_eq(tx(r->c, "00200081 06 363438323139"), 0x9000);
	for (; setup && *setup; setup++)
		ck_assert_uint_eq(tx(r->c, *setup), 0x9000);
	sim_card_reset(r->c);
	sim_card_set_sm_filter(r->c, filter_fn, &r->f);
	rc = sim_ca_root(r->ca, &n);
	smk_buf_add(&root, rc, n);
	ck_assert_msg(trust_add(&r->trust, root.data, root.len, "sim root", &e) == 0, "%s", e.msg);
	cfg.trust = &r->trust;
	cfg.pin = &r->pin;
	ck_assert_int_eq(simtransport_new(r->c, "sim 00", &tp, &e), 0);
	ck_assert_msg(session_new(tp, &cfg, &r->s, &e) == 0, "%s", e.msg);
	ck_assert_msg(session_open(r->s, &e) == 0, "%s", e.msg);
	sim_card_stats_reset(r->c);
	smk_buf_free(&root);
	smk_buf_free(&sop);
}

static void rig_down(struct rig *r)
{
	char cmd[200];

	session_free(r->s);
	sim_card_free(r->c);
	sim_ca_free(r->ca);
	trust_free(&r->trust);
	pin_source_free(&r->pin);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Nothing in plain since the session came up. */
static void all_under_sm(const struct rig *r)
{
	const sim_stats *st = sim_card_stats(r->c);

	ck_assert_uint_gt(st->sm, 0);
	ck_assert_uint_eq(st->plain, 0);
}

#define INIT(tags) "80500000 " tags " 8002 0001 8106 363438323139 8208 3537363231383830 9101 03"

START_TEST(no_domain_is_not_reported)
{
	struct rig r;
	hsm_domain_state st;
	smk_err e;

	rig_up(&r, NULL, NULL);
	ck_assert_msg(session_key_domains(r.s, &st, &e) == 0, "%s", e.msg);
	ck_assert(!st.reported);
	ck_assert_uint_eq(st.count, 0);
	ck_assert_uint_eq(st.sw0, 0x6A86);
	ck_assert(!st.can_import);
	all_under_sm(&r);
	rig_down(&r);
}
END_TEST

START_TEST(dkek_outstanding_and_complete)
{
	struct rig r;
	hsm_domain_state st;
	uint8_t kcv[8];
	smk_buf share = SMK_BUF_INIT;
	static const char *const import[] = {"80520000 20 " SHARE1, NULL};
	smk_err e;

	/* one DKEK domain of two shares, none imported */
	rig_up(&r, INIT("1C 9201 02"), NULL);
	ck_assert_msg(session_key_domains(r.s, &st, &e) == 0, "%s", e.msg);
	ck_assert(st.reported);
	ck_assert_uint_eq(st.sw0, 0x9000);
	ck_assert_uint_eq(st.count, 1);
	ck_assert_int_eq(st.d[0].kind, HSM_DOMAIN_DKEK);
	ck_assert_uint_eq(st.d[0].shares_total, 2);
	ck_assert_uint_eq(st.d[0].shares_outstanding, 2);
	ck_assert(!st.d[0].has_kcv);
	/* shares can still come: this device may take keys from outside */
	ck_assert(st.can_import);
	all_under_sm(&r);
	rig_down(&r);

	/* one share of one: complete, with the KCV of the share */
	rig_up(&r, INIT("1C 9201 01"), import);
	ck_assert_msg(session_key_domains(r.s, &st, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(st.count, 1);
	ck_assert_uint_eq(st.d[0].shares_outstanding, 0);
	ck_assert(st.d[0].has_kcv);
	tu_hex(&share, SHARE1);
	sim_dkek_kcv(share.data, kcv);
	ck_assert_mem_eq(st.d[0].kcv, kcv, 8);
	ck_assert(st.can_import);
	rig_down(&r);
	smk_buf_free(&share);
}
END_TEST

START_TEST(empty_and_xkek_domains)
{
	struct rig r;
	hsm_domain_state st;
	static const uint8_t uid[] = {0x04, 0x11, 0x22, 0x33};
	smk_err e;

	/* three domains, none set up: reported, nothing can import */
	rig_up(&r, INIT("1C 9701 03"), NULL);
	ck_assert_msg(session_key_domains(r.s, &st, &e) == 0, "%s", e.msg);
	ck_assert(st.reported);
	ck_assert_uint_eq(st.sw0, 0x6A88);
	ck_assert_uint_eq(st.count, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_uint_eq(st.d[i].index, i);
		ck_assert_int_eq(st.d[i].kind, HSM_DOMAIN_EMPTY);
	}
	ck_assert(!st.can_import);
	/* domain 2 becomes an XKEK domain */
	ck_assert_int_eq(sim_card_set_xkek_domain(r.c, 2, uid, sizeof(uid), &e), 0);
	ck_assert_msg(session_key_domains(r.s, &st, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(st.d[2].kind, HSM_DOMAIN_XKEK);
	ck_assert(st.can_import);
	rig_down(&r);
}
END_TEST

static void domains_refused(const char *init, const char *answer, unsigned skip, const char *needle)
{
	struct rig r;
	hsm_domain_state st;
	smk_err e;

	rig_up(&r, init, NULL);
	r.f = (struct filter){.ins = 0x52, .hex = answer, .skip = skip};
	ck_assert_int_lt(session_key_domains(r.s, &st, &e), 0);
	ck_assert_msg(strstr(e.msg, needle) != NULL, "\"%s\" not in \"%s\"", needle, e.msg);
	ck_assert_uint_eq(st.count, 0);
	ck_assert(!st.reported);
	rig_down(&r);
}

START_TEST(hostile_domain_answers)
{
	struct rig r;
	hsm_domain_state st;
	smk_err e;

	/* a card without the command: not reported, not an error */
	rig_up(&r, INIT("1C 9201 01"), NULL);
	r.f = (struct filter){.ins = 0x52, .hex = "6D00"};
	ck_assert_msg(session_key_domains(r.s, &st, &e) == 0, "%s", e.msg);
	ck_assert(!st.reported);
	ck_assert_uint_eq(st.sw0, 0x6D00);
	ck_assert(!st.can_import);
	rig_down(&r);

	domains_refused(INIT("1C 9201 01"), "010000000000000000 9000", 0,
			"domain 0: status of 9 bytes");
	domains_refused(INIT("1C 9201 01"), "0103 0000000000000000 9000", 0,
			"domain 0: 3 shares outstanding of 1");
	domains_refused(INIT("1C 9201 01"), "6F00", 0, "domain 0");
	domains_refused(INIT("1C 9201 01"), "00 6A88", 0, "domain 0: 1 bytes of data with SW 6A88");
	/* domain 0 answered, then the card denies knowing the command */
	domains_refused(INIT("1C 9701 02"), "6D00", 1, "domain 1: SW 6D00 after domain 0");
}
END_TEST

static void gen(struct rig *r, uint8_t id, const char *alg)
{
	session_keygen g;
	session_key k;
	smk_err e;

	memset(&g, 0, sizeof(g));
	g.spec.type = SMK_KEY_EC;
	g.spec.curve = curve_by_name("secp256r1");
	snprintf(g.spec.chr, sizeof(g.spec.chr), "ZZSIM0000700%03u", id);
	if (alg)
		g.spec.algs[g.spec.alg_count++] = alg_by_name(alg)->id;
	g.key_id = id;
	memset(&k, 0, sizeof(k));
	ck_assert_msg(session_generate(r->s, &g, &k, &e) == 0, "%s", e.msg);
	session_key_free(&k);
}

START_TEST(algorithm_list_reported_or_not)
{
	struct rig r;
	uint8_t algs[SMK_ALG_LIST_MAX];
	size_t n = 99;
	bool reported = true;
	smk_err e;

	rig_up(&r, NULL, NULL);
	gen(&r, 1, "ecdsa-sha256");
	gen(&r, 2, NULL);
	/* the default card does not report it */
	sim_card_stats_reset(r.c);
	ck_assert_msg(session_key_algs(r.s, 1, algs, &n, &reported, &e) == 0, "%s", e.msg);
	ck_assert(!reported);
	ck_assert_uint_eq(n, 0);
	all_under_sm(&r);
	/* with the option it reports the list sent at generation */
	sim_card_set_fcp_algorithms(r.c, true);
	ck_assert_msg(session_key_algs(r.s, 1, algs, &n, &reported, &e) == 0, "%s", e.msg);
	ck_assert(reported);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(algs[0], 0x73);
	/* and "no list" for a key generated without one */
	ck_assert_msg(session_key_algs(r.s, 2, algs, &n, &reported, &e) == 0, "%s", e.msg);
	ck_assert(reported);
	ck_assert_uint_eq(n, 0);
	/* no key there: nothing reported */
	ck_assert_msg(session_key_algs(r.s, 3, algs, &n, &reported, &e) == 0, "%s", e.msg);
	ck_assert(!reported);
	ck_assert_int_lt(session_key_algs(r.s, 0, algs, &n, &reported, &e), 0);
	rig_down(&r);
}
END_TEST

static void algs_refused(const char *answer, const char *needle)
{
	struct rig r;
	uint8_t algs[SMK_ALG_LIST_MAX];
	size_t n;
	bool reported;
	smk_err e;

	rig_up(&r, NULL, NULL);
	gen(&r, 1, "ecdsa-sha256");
	r.f = (struct filter){.ins = 0xA4, .hex = answer};
	ck_assert_int_lt(session_key_algs(r.s, 1, algs, &n, &reported, &e), 0);
	ck_assert_msg(strstr(e.msg, needle) != NULL, "\"%s\" not in \"%s\"", needle, e.msg);
	ck_assert(!reported);
	ck_assert_uint_eq(n, 0);
	rig_down(&r);
}

START_TEST(hostile_fcp_answers)
{
	algs_refused("6205 A503 910273 9000", "key 1"); /* 91 runs past A5 */
	algs_refused("6208 A503 910173 A501 00 9000", "A5 appears 2 times");
	algs_refused("6208 A506 910173 910174 9000", "91 appears 2 times");
	algs_refused("6204 A502 9100 9000", "91 of 0 bytes");
	algs_refused("6215 A513 9111 0102030405060708090A0B0C0D0E0F1011 9000", "91 of 17 bytes");
	algs_refused("6302 A500 9000", "SELECT key 1");	   /* not an FCP */
	algs_refused("6202 A500 00 9000", "SELECT key 1"); /* bytes after it */
	algs_refused("6F00", "SELECT key 1");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session_domains");
	TCase *tc = tcase_create("domains");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, no_domain_is_not_reported);
	tcase_add_test(tc, dkek_outstanding_and_complete);
	tcase_add_test(tc, empty_and_xkek_domains);
	tcase_add_test(tc, hostile_domain_answers);
	tcase_add_test(tc, algorithm_list_reported_or_not);
	tcase_add_test(tc, hostile_fcp_answers);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
