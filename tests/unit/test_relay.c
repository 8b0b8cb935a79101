/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey relay's vpcd side (relay/relay.h): the stream parser takes messages
 * split anywhere and refuses a length of 0; the state machine holds the card
 * only while vpcd has it powered (power on connects, reset and a second
 * power-on reset it, power off releases it), answers ATR requests without
 * holding the card, passes APDUs and answers unchanged, drops everything
 * when the card fails, and logs status words and counts, never the bytes.
 * A fake card transport counts what the relay did to it; one scenario runs
 * the in-process simulator behind the relay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/simtransport.h"
#include "tests/lib/testutil.h"
#include "relay/relay.h"
#include "sim/card.h"

/* ---- a fake card: counts opens, closes, resets; echoes with a status ---- */

struct fake {
	int opens, closes, resets, transmits;
	int fail_open, fail_transmit;
	int held;
	uint8_t last_cmd[300];
	size_t last_len;
	uint8_t sw[2];
};

static int fake_transmit(void *impl, const uint8_t *cmd, size_t n, smk_buf *resp,
			 unsigned timeout_ms, smk_err *e)
{
	struct fake *f = impl;

	(void)timeout_ms;
	f->transmits++;
	if (f->fail_transmit)
		return smk_fail(e, SMK_E_RESET, "fake: card reset under us");
	memcpy(f->last_cmd, cmd, n < sizeof(f->last_cmd) ? n : sizeof(f->last_cmd));
	f->last_len = n;
	/* the answer: the command reversed, then the status word */
	for (size_t i = 0; i < n; i++)
		smk_buf_add_byte(resp, cmd[n - 1 - i]);
	smk_buf_add(resp, f->sw, 2);
	return 0;
}

static int fake_reconnect(void *impl, int reset, unsigned timeout_ms, smk_err *e)
{
	struct fake *f = impl;

	(void)timeout_ms;
	(void)e;
	f->resets += reset != 0;
	return 0;
}

static const char *fake_name(void *impl)
{
	(void)impl;
	return "fake reader";
}

static const uint8_t fake_atr_bytes[] = {0x3B, 0xDE, 0x18, 0xFF, 0x81, 0x91, 0xFE, 0x1F};

static const uint8_t *fake_atr(void *impl, size_t *len)
{
	(void)impl;
	*len = sizeof(fake_atr_bytes);
	return fake_atr_bytes;
}

static void fake_close(void *impl)
{
	struct fake *f = impl;

	f->closes++;
	f->held = 0;
}

static const struct smk_transport_ops fake_ops = {
    fake_transmit, fake_reconnect, fake_name, fake_atr, fake_close, NULL,
};

static int fake_open(void *ctx, smk_transport **out, smk_err *e)
{
	struct fake *f = ctx;
	smk_transport *t;

	if (f->fail_open)
		return smk_fail(e, SMK_E_IO, "fake: no card in reader");
	ck_assert_int_eq(f->held, 0); /* never two connections at once */
	t = calloc(1, sizeof(*t));
	ck_assert_ptr_nonnull(t);
	t->ops = &fake_ops;
	t->impl = f;
	f->opens++;
	f->held = 1;
	*out = t;
	return 0;
}

/* the log, kept to look for APDU bytes in it */
static char logbuf[8192];

static void keep_log(void *ctx, const char *line)
{
	(void)ctx;
	strncat(logbuf, line, sizeof(logbuf) - strlen(logbuf) - 2);
	strcat(logbuf, "\n");
}

static void new_relay(relay *r, struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->sw[0] = 0x90;
	relay_init(r, fake_open, f, 1000);
	r->log = keep_log;
	logbuf[0] = '\0';
}

static int ctl(relay *r, uint8_t code, smk_buf *out, smk_err *e)
{
	return relay_handle(r, &code, 1, out, e);
}

/* ---- the parser ---- */

START_TEST(parser_takes_messages_split_anywhere)
{
	static relay_parser p;
	/* power on, an APDU of 5 bytes, the ATR request */
	const uint8_t stream[] = {0x00, 0x01, 0x01, 0x00, 0x05, 0x00, 0xA4,
				  0x04, 0x0C, 0x00, 0x00, 0x01, 0x04};
	const size_t want_len[] = {1, 5, 1};
	smk_err e;

	/* every split point, in two chunks, and byte by byte */
	for (size_t split = 0; split <= sizeof(stream); split++) {
		size_t off = 0, used, got = 0;

		relay_parser_init(&p);
		while (off < sizeof(stream)) {
			size_t end = off < split ? split : sizeof(stream);
			int r = relay_parse(&p, stream + off, end - off, &used, &e);

			ck_assert_int_ge(r, 0);
			off += used;
			if (r == 1) {
				ck_assert_uint_lt(got, 3);
				ck_assert_uint_eq(p.len, want_len[got]);
				if (got == 1)
					tu_assert_hex(p.msg, p.len, "00A4040C00");
				got++;
			}
		}
		ck_assert_uint_eq(got, 3);
	}
	relay_parser_init(&p);
	{
		size_t got = 0, used;

		for (size_t i = 0; i < sizeof(stream); i++) {
			ck_assert_int_ge(relay_parse(&p, stream + i, 1, &used, &e), 0);
			ck_assert_uint_eq(used, 1);
			if (p.hdr_have == 2 && p.have == p.len && p.len)
				got++;
		}
		ck_assert_uint_eq(got, 3);
	}
}
END_TEST

START_TEST(parser_refuses_length_zero_and_takes_the_largest)
{
	static relay_parser p;
	static uint8_t big[2 + RELAY_FRAME_MAX];
	const uint8_t zero[] = {0x00, 0x00, 0x01};
	size_t used;
	smk_err e;

	relay_parser_init(&p);
	ck_assert_int_eq(relay_parse(&p, zero, sizeof(zero), &used, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_FORMAT);
	ck_assert_msg(strstr(e.msg, "length 0"), "%s", e.msg);

	big[0] = 0xFF;
	big[1] = 0xFF;
	memset(big + 2, 0x5A, RELAY_FRAME_MAX);
	relay_parser_init(&p);
	ck_assert_int_eq(relay_parse(&p, big, sizeof(big), &used, &e), 1);
	ck_assert_uint_eq(used, sizeof(big));
	ck_assert_uint_eq(p.len, RELAY_FRAME_MAX);
}
END_TEST

START_TEST(frames_carry_their_length)
{
	smk_buf out = SMK_BUF_INIT;
	smk_err e;

	ck_assert_int_eq(relay_frame(&out, (const uint8_t *)"\x90\x00", 2, &e), 0);
	tu_assert_hex(out.data, out.len, "00029000");
	ck_assert_int_eq(relay_frame(&out, NULL, 0, &e), -1);
	smk_buf_free(&out);
}
END_TEST

/* ---- the state machine ---- */

START_TEST(card_held_only_while_powered)
{
	smk_buf out = SMK_BUF_INIT;
	struct fake f;
	relay r;
	smk_err e;

	new_relay(&r, &f);
	/* vpcd polls the ATR to see a card: answered, the card not kept */
	ck_assert_int_eq(ctl(&r, RELAY_VPCD_ATR, &out, &e), 0);
	tu_assert_hex(out.data, out.len, "00083BDE18FF8191FE1F");
	ck_assert_int_eq(f.opens, 1);
	ck_assert_int_eq(f.held, 0);
	smk_buf_reset(&out);
	ck_assert_int_eq(ctl(&r, RELAY_VPCD_ATR, &out, &e), 0);
	ck_assert_int_eq(f.opens, 1); /* the ATR last seen */
	smk_buf_reset(&out);

	ck_assert_int_eq(ctl(&r, RELAY_VPCD_POWER_ON, &out, &e), 0);
	ck_assert_int_eq(f.held, 1);
	ck_assert_uint_eq(out.len, 0); /* no answer to a power-on */
	ck_assert_int_eq(ctl(&r, RELAY_VPCD_RESET, &out, &e), 0);
	ck_assert_int_eq(f.resets, 1);
	ck_assert_int_eq(ctl(&r, RELAY_VPCD_POWER_ON, &out, &e), 0);
	ck_assert_int_eq(f.resets, 2); /* a second power-on is a cold start */
	ck_assert_int_eq(f.opens, 2);
	ck_assert_int_eq(ctl(&r, 0x7F, &out, &e), 0); /* unknown: ignored */
	ck_assert_uint_eq(r.st.unknown, 1);
	ck_assert_int_eq(ctl(&r, RELAY_VPCD_POWER_OFF, &out, &e), 0);
	ck_assert_int_eq(f.held, 0);
	ck_assert_int_eq(f.closes, 2);
	ck_assert_int_eq(ctl(&r, RELAY_VPCD_POWER_OFF, &out, &e), 0); /* twice: nothing */
	ck_assert_int_eq(f.closes, 2);
	ck_assert_uint_eq(out.len, 0);
	/* a reset of a card not powered powers it */
	ck_assert_int_eq(ctl(&r, RELAY_VPCD_RESET, &out, &e), 0);
	ck_assert_int_eq(f.held, 1);
	relay_power_off(&r);
	ck_assert_int_eq(f.held, 0);
	smk_buf_free(&out);
}
END_TEST

START_TEST(apdus_pass_unchanged_and_only_sws_are_logged)
{
	/* a command with data, as the notary sends under SM */
	const uint8_t cmd[] = {0x0C, 0x46, 0x01, 0x00, 0x08, 0xDE, 0xAD,
			       0xBE, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x00};
	smk_buf out = SMK_BUF_INIT;
	struct fake f;
	relay r;
	smk_err e;

	new_relay(&r, &f);
	/* an APDU to a card not powered powers it first */
	ck_assert_int_eq(relay_handle(&r, cmd, sizeof(cmd), &out, &e), 0);
	ck_assert_int_eq(f.held, 1);
	ck_assert_uint_eq(f.last_len, sizeof(cmd));
	ck_assert_int_eq(memcmp(f.last_cmd, cmd, sizeof(cmd)), 0);
	/* the answer, framed, byte for byte */
	tu_assert_hex(out.data, out.len,
		      "0010"
		      "0067452301EFBEADDE080001460C"
		      "9000");
	smk_buf_reset(&out);
	f.sw[0] = 0x69;
	f.sw[1] = 0x82;
	ck_assert_int_eq(relay_handle(&r, cmd, sizeof(cmd), &out, &e), 0);
	ck_assert_int_eq(relay_handle(&r, cmd, sizeof(cmd), &out, &e), 0);
	ck_assert_uint_eq(r.st.apdus, 3);
	ck_assert_int_eq(ctl(&r, RELAY_VPCD_POWER_OFF, &out, &e), 0);
	ck_assert_msg(strstr(logbuf, "3 APDUs, SW 9000 x1, 6982 x2"), "%s", logbuf);
	/* nothing of the command or the answer in the log, in any case */
	ck_assert_msg(!strcasestr(logbuf, "DEADBEEF") && !strcasestr(logbuf, "0C460100") &&
			  !strcasestr(logbuf, "EFBEADDE") && !strstr(logbuf, "de ad"),
		      "%s", logbuf);
	smk_buf_free(&out);
}
END_TEST

START_TEST(a_failing_card_ends_the_connection)
{
	const uint8_t cmd[] = {0x00, 0xA4, 0x04, 0x0C, 0x00};
	smk_buf out = SMK_BUF_INIT;
	struct fake f;
	relay r;
	smk_err e;

	new_relay(&r, &f);
	ck_assert_int_eq(ctl(&r, RELAY_VPCD_POWER_ON, &out, &e), 0);
	f.fail_transmit = 1;
	ck_assert_int_eq(relay_handle(&r, cmd, sizeof(cmd), &out, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_RESET);
	ck_assert_msg(strstr(e.msg, "relay: after 0 APDUs"), "%s", e.msg);
	ck_assert_int_eq(f.held, 0); /* released: the remote side starts afresh */
	ck_assert_uint_eq(out.len, 0);

	/* no card: power-on and ATR fail with the reason */
	new_relay(&r, &f);
	f.fail_open = 1;
	ck_assert_int_eq(ctl(&r, RELAY_VPCD_POWER_ON, &out, &e), -1);
	ck_assert_msg(strstr(e.msg, "no card in reader"), "%s", e.msg);
	ck_assert_int_eq(ctl(&r, RELAY_VPCD_ATR, &out, &e), -1);
	ck_assert_int_eq(relay_probe(&r, &e), -1);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(relay_handle(&r, cmd, 0, &out, &e), -1);
	smk_buf_free(&out);
}
END_TEST

START_TEST(status_words_beyond_the_table_are_counted)
{
	struct fake f;
	relay r;
	char text[400];
	smk_buf out = SMK_BUF_INIT;
	const uint8_t cmd[] = {0x00, 0xB0, 0x00, 0x00};
	smk_err e;

	new_relay(&r, &f);
	for (int i = 0; i < RELAY_SW_KINDS + 3; i++) {
		f.sw[0] = 0x63;
		f.sw[1] = (uint8_t)(0xC0 + i);
		ck_assert_int_eq(relay_handle(&r, cmd, sizeof(cmd), &out, &e), 0);
	}
	relay_stats_text(&r.st, text, sizeof(text));
	ck_assert_msg(strstr(text, "19 APDUs, SW 63C0 x1"), "%s", text);
	ck_assert_msg(strstr(text, ", 3 with other SWs"), "%s", text);
	relay_power_off(&r);
	smk_buf_free(&out);
}
END_TEST

/* The simulator behind the relay: what vpcd sends reaches the card, and a
 * power cycle gives the remote side a fresh card (the applet must be
 * selected again). */
static sim_card *the_card;

static int sim_open(void *ctx, smk_transport **out, smk_err *e)
{
	(void)ctx;
	return simtransport_new(the_card, "sim reader", out, e);
}

START_TEST(relays_the_simulator)
{
	/* SELECT the SmartCard-HSM applet, answer the FCP (P2 04) */
	static const char *select_hex = "00A40404 0B E82B0601040181C31F0201 00";
	smk_buf cmd = SMK_BUF_INIT, out = SMK_BUF_INIT;
	relay r;
	smk_err e;

	the_card = sim_card_new();
	ck_assert_ptr_nonnull(the_card);
	tu_hex(&cmd, select_hex);
	relay_init(&r, sim_open, NULL, 5000);
	ck_assert_int_eq(ctl(&r, RELAY_VPCD_POWER_ON, &out, &e), 0);
	ck_assert_int_eq(relay_handle(&r, cmd.data, cmd.len, &out, &e), 0);
	ck_assert_uint_ge(out.len, 4);
	ck_assert_uint_eq((size_t)(out.data[0] << 8 | out.data[1]), out.len - 2);
	ck_assert_int_eq(out.data[out.len - 2], 0x90);
	ck_assert_int_eq(out.data[out.len - 1], 0x00);
	ck_assert_int_eq(out.data[2], 0x62); /* the FCP */
	ck_assert_int_eq(ctl(&r, RELAY_VPCD_POWER_OFF, &out, &e), 0);
	ck_assert_ptr_null(r.card);
	smk_buf_free(&cmd);
	smk_buf_free(&out);
	sim_card_free(the_card);
}
END_TEST

START_TEST(host_and_port)
{
	char host[64];
	unsigned port;
	smk_err e;

	ck_assert_int_eq(relay_parse_hostport("127.0.0.1:35963", host, sizeof(host), &port, &e), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 35963);
	ck_assert_int_eq(relay_parse_hostport("[::1]:35964", host, sizeof(host), &port, &e), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 35964);
	ck_assert_int_eq(relay_parse_hostport("notary:0", host, sizeof(host), &port, &e), -1);
	ck_assert_int_eq(relay_parse_hostport("notary:65536", host, sizeof(host), &port, &e), -1);
	ck_assert_int_eq(relay_parse_hostport("notary", host, sizeof(host), &port, &e), -1);
	ck_assert_int_eq(relay_parse_hostport(":35963", host, sizeof(host), &port, &e), -1);
	ck_assert_int_eq(relay_parse_hostport("::1:35963", host, sizeof(host), &port, &e), -1);
	ck_assert_int_eq(relay_parse_hostport("a:1x", host, sizeof(host), &port, &e), -1);
	ck_assert_int_eq(relay_parse_hostport("a\x1b[2J:1x", host, sizeof(host), &port, &e), -1);
	ck_assert_msg(!strchr(e.msg, 0x1b), "control character in: %s", e.msg);
}
END_TEST

static Suite *relay_suite(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("vpcd side");

	tcase_add_test(tc, parser_takes_messages_split_anywhere);
	tcase_add_test(tc, parser_refuses_length_zero_and_takes_the_largest);
	tcase_add_test(tc, frames_carry_their_length);
	tcase_add_test(tc, card_held_only_while_powered);
	tcase_add_test(tc, apdus_pass_unchanged_and_only_sws_are_logged);
	tcase_add_test(tc, a_failing_card_ends_the_connection);
	tcase_add_test(tc, status_words_beyond_the_table_are_counted);
	tcase_add_test(tc, relays_the_simulator);
	tcase_add_test(tc, host_and_port);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(relay_suite());
}
