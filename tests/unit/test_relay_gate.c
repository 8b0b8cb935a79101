/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey relay-gate's message rules (relay/gate.h): the first ATR request
 * after a connect, a power-on or a reset crosses to the card side and its
 * answer is kept; later ones are answered by the gate with the bytes the
 * card side sent; a power-off keeps them. APDUs and their answers pass
 * unchanged, an ATR request is never answered out of turn, a card side
 * that speaks unasked and a vpcd that does not wait are refused, and the
 * counts say what crossed.
 */
#include <string.h>

#include "relay/gate.h"
#include "relay/relay.h"
#include "tests/lib/testutil.h"

static const uint8_t atr_req[1] = {RELAY_VPCD_ATR};
static const uint8_t atr1[] = {0x3B, 0xDE, 0x18, 0xFF, 0x81};
static const uint8_t atr2[] = {0x3B, 0x80, 0x80, 0x01, 0x01};

struct sides {
	smk_buf to_card, to_vpcd;
	smk_err e;
};

static void sides_reset(struct sides *s)
{
	smk_buf_reset(&s->to_card);
	smk_buf_reset(&s->to_vpcd);
}

static void sides_free(struct sides *s)
{
	smk_buf_free(&s->to_card);
	smk_buf_free(&s->to_vpcd);
}

static int from_vpcd_ctl(gate *g, struct sides *s, uint8_t code)
{
	sides_reset(s);
	return gate_from_vpcd(g, &code, 1, &s->to_card, &s->to_vpcd, &s->e);
}

/* b holds exactly one frame with these bytes */
static void assert_frame(const smk_buf *b, const uint8_t *p, size_t n)
{
	ck_assert_uint_eq(b->len, n + 2);
	ck_assert_uint_eq((size_t)(b->data[0] << 8 | b->data[1]), n);
	ck_assert_mem_eq(b->data + 2, p, n);
}

/* An ATR request that crosses, and the card side's answer back. */
static void atr_crosses(gate *g, struct sides *s, const uint8_t *atr, size_t n)
{
	ck_assert_int_eq(from_vpcd_ctl(g, s, RELAY_VPCD_ATR), 0);
	assert_frame(&s->to_card, atr_req, 1);
	ck_assert_uint_eq(s->to_vpcd.len, 0);
	sides_reset(s);
	ck_assert_int_eq(gate_from_card(g, atr, n, &s->to_vpcd, &s->e), 0);
	assert_frame(&s->to_vpcd, atr, n);
}

static void atr_answered_here(gate *g, struct sides *s, const uint8_t *atr, size_t n)
{
	ck_assert_int_eq(from_vpcd_ctl(g, s, RELAY_VPCD_ATR), 0);
	ck_assert_uint_eq(s->to_card.len, 0);
	assert_frame(&s->to_vpcd, atr, n);
}

START_TEST(first_atr_crosses_then_polls_are_answered_here)
{
	struct sides s = {SMK_BUF_INIT, SMK_BUF_INIT, {0}};
	gate g;
	int i;

	gate_init(&g);
	atr_crosses(&g, &s, atr1, sizeof(atr1));
	for (i = 0; i < 5; i++)
		atr_answered_here(&g, &s, atr1, sizeof(atr1));
	ck_assert_uint_eq(g.st.atr_forwarded, 1);
	ck_assert_uint_eq(g.st.atr_local, 5);
	/* a new connection pair starts without an ATR */
	gate_init(&g);
	atr_crosses(&g, &s, atr2, sizeof(atr2));
	atr_answered_here(&g, &s, atr2, sizeof(atr2));
	sides_free(&s);
}
END_TEST

START_TEST(power_on_and_reset_refresh_the_atr_power_off_keeps_it)
{
	struct sides s = {SMK_BUF_INIT, SMK_BUF_INIT, {0}};
	const uint8_t on = RELAY_VPCD_POWER_ON, rst = RELAY_VPCD_RESET, off = RELAY_VPCD_POWER_OFF;
	gate g;

	gate_init(&g);
	atr_crosses(&g, &s, atr1, sizeof(atr1));
	/* power on: passed on, no answer; the next request crosses */
	ck_assert_int_eq(from_vpcd_ctl(&g, &s, RELAY_VPCD_POWER_ON), 0);
	assert_frame(&s.to_card, &on, 1);
	ck_assert_uint_eq(s.to_vpcd.len, 0);
	atr_crosses(&g, &s, atr2, sizeof(atr2));
	atr_answered_here(&g, &s, atr2, sizeof(atr2));
	ck_assert_int_eq(from_vpcd_ctl(&g, &s, RELAY_VPCD_RESET), 0);
	assert_frame(&s.to_card, &rst, 1);
	atr_crosses(&g, &s, atr1, sizeof(atr1));
	ck_assert_int_eq(from_vpcd_ctl(&g, &s, RELAY_VPCD_POWER_OFF), 0);
	assert_frame(&s.to_card, &off, 1);
	atr_answered_here(&g, &s, atr1, sizeof(atr1));
	ck_assert_uint_eq(g.st.power_ons, 1);
	ck_assert_uint_eq(g.st.resets, 1);
	ck_assert_uint_eq(g.st.power_offs, 1);
	ck_assert_uint_eq(g.st.atr_forwarded, 3);
	ck_assert_uint_eq(g.st.atr_local, 2);
	sides_free(&s);
}
END_TEST

START_TEST(apdus_and_answers_pass_unchanged)
{
	struct sides s = {SMK_BUF_INIT, SMK_BUF_INIT, {0}};
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	char text[300];
	gate g;

	tu_hex(&cmd, "0C46000000 0011 8712 01AABBCCDD 8E08 0102030405060708 0000");
	tu_hex(&resp, "870901112233449902 9000 8E08 0807060504030201 9000");
	gate_init(&g);
	atr_crosses(&g, &s, atr1, sizeof(atr1));
	sides_reset(&s);
	ck_assert_int_eq(gate_from_vpcd(&g, cmd.data, cmd.len, &s.to_card, &s.to_vpcd, &s.e), 0);
	assert_frame(&s.to_card, cmd.data, cmd.len);
	ck_assert_uint_eq(s.to_vpcd.len, 0);
	/* an ATR request while the answer is owed crosses (an answer from
	 * here would reach vpcd as the APDU's) */
	ck_assert_int_eq(from_vpcd_ctl(&g, &s, RELAY_VPCD_ATR), 0);
	assert_frame(&s.to_card, atr_req, 1);
	ck_assert_uint_eq(s.to_vpcd.len, 0);
	sides_reset(&s);
	ck_assert_int_eq(gate_from_card(&g, resp.data, resp.len, &s.to_vpcd, &s.e), 0);
	assert_frame(&s.to_vpcd, resp.data, resp.len);
	/* the APDU's answer was not taken for an ATR: the ATR's answer is */
	sides_reset(&s);
	ck_assert_int_eq(gate_from_card(&g, atr2, sizeof(atr2), &s.to_vpcd, &s.e), 0);
	atr_answered_here(&g, &s, atr2, sizeof(atr2));
	ck_assert_uint_eq(g.st.apdus, 1);
	gate_stats_text(&g.st, text, sizeof(text));
	ck_assert_str_eq(text, "1 APDU; ATR requests: 1 answered here, 2 crossed the link; "
			       "power on 0, reset 0, off 0");
	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	sides_free(&s);
}
END_TEST

START_TEST(an_atr_owed_across_a_power_on_is_not_kept)
{
	struct sides s = {SMK_BUF_INIT, SMK_BUF_INIT, {0}};
	gate g;

	gate_init(&g);
	ck_assert_int_eq(from_vpcd_ctl(&g, &s, RELAY_VPCD_ATR), 0);
	ck_assert_int_eq(from_vpcd_ctl(&g, &s, RELAY_VPCD_POWER_ON), 0);
	ck_assert_int_eq(gate_from_card(&g, atr1, sizeof(atr1), &s.to_vpcd, &s.e), 0);
	assert_frame(&s.to_vpcd, atr1, sizeof(atr1));
	ck_assert_uint_eq(g.atr_len, 0);
	atr_crosses(&g, &s, atr2, sizeof(atr2));
	sides_free(&s);
}
END_TEST

START_TEST(a_long_atr_is_passed_on_and_never_kept)
{
	struct sides s = {SMK_BUF_INIT, SMK_BUF_INIT, {0}};
	uint8_t longatr[100];
	gate g;

	memset(longatr, 0x3B, sizeof(longatr));
	gate_init(&g);
	atr_crosses(&g, &s, longatr, sizeof(longatr));
	atr_crosses(&g, &s, longatr, sizeof(longatr));
	ck_assert_uint_eq(g.st.atr_local, 0);
	sides_free(&s);
}
END_TEST

START_TEST(unasked_answers_and_impatient_vpcd_are_refused)
{
	struct sides s = {SMK_BUF_INIT, SMK_BUF_INIT, {0}};
	const uint8_t sw[2] = {0x90, 0x00}, apdu[4] = {0x00, 0xA4, 0x04, 0x0C};
	gate g;
	int i;

	gate_init(&g);
	ck_assert_int_eq(gate_from_card(&g, sw, 2, &s.to_vpcd, &s.e), -1);
	ck_assert_uint_eq(s.to_vpcd.len, 0);
	ck_assert_ptr_nonnull(strstr(s.e.msg, "did not ask for"));
	for (i = 0; i < GATE_PENDING_MAX; i++)
		ck_assert_int_eq(gate_from_vpcd(&g, apdu, 4, &s.to_card, &s.to_vpcd, &s.e), 0);
	ck_assert_int_eq(gate_from_vpcd(&g, apdu, 4, &s.to_card, &s.to_vpcd, &s.e), -1);
	ck_assert_int_eq(gate_from_vpcd(&g, apdu, 0, &s.to_card, &s.to_vpcd, &s.e), -1);
	/* control codes vpcd's cards ignore pass on, with no answer owed */
	gate_init(&g);
	ck_assert_int_eq(from_vpcd_ctl(&g, &s, 0x7F), 0);
	ck_assert_uint_eq(g.npending, 0);
	ck_assert_uint_eq(g.st.unknown, 1);
	sides_free(&s);
}
END_TEST

START_TEST(listen_and_vpcd_addresses_name_their_option)
{
	char host[64];
	unsigned port;
	smk_err e;

	ck_assert_int_eq(
	    relay_parse_addr("--listen", "127.0.0.1:35970", host, sizeof(host), &port, &e), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 35970);
	ck_assert_int_eq(relay_parse_addr("--vpcd", "35963", host, sizeof(host), &port, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "--vpcd \"35963\""));
	ck_assert_int_eq(relay_parse_hostport("notary", host, sizeof(host), &port, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "--connect"));
}
END_TEST

static Suite *gate_suite(void)
{
	Suite *s = suite_create("relay_gate");
	TCase *tc = tcase_create("message rules");

	tcase_add_test(tc, first_atr_crosses_then_polls_are_answered_here);
	tcase_add_test(tc, power_on_and_reset_refresh_the_atr_power_off_keeps_it);
	tcase_add_test(tc, apdus_and_answers_pass_unchanged);
	tcase_add_test(tc, an_atr_owed_across_a_power_on_is_not_kept);
	tcase_add_test(tc, a_long_atr_is_passed_on_and_never_kept);
	tcase_add_test(tc, unasked_answers_and_impatient_vpcd_are_refused);
	tcase_add_test(tc, listen_and_vpcd_addresses_name_their_option);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(gate_suite());
}
