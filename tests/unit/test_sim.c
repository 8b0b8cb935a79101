/* SPDX-License-Identifier: BSD-3-Clause */
/* The simulated SmartCard-HSM, driven in-process with raw APDUs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "common/hex.h"
#include "tests/lib/testutil.h"
#include "sim/card.h"
#include "sm/apdu.h"
#include "sm/ca.h"
#include "sm/chain.h"
#include "sm/cvc.h"
#include "sm/hsm.h"
#include "sm/smsg.h"

#define SELECT "00A404000BE82B0601040181C31F020100"
#define PIN_OK "00200081 06 363438323139"  /* "648219" */
#define PIN_BAD "00200081 06 313131313131" /* "111111" */

static const uint8_t sopin[8] = {0x35, 0x37, 0x36, 0x32, 0x31, 0x38, 0x38, 0x30};

/* Send a hex APDU; returns the SW, data (without SW) in data if not NULL. */
static uint16_t tx(sim_card *c, const char *hex, smk_buf *data)
{
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	uint16_t sw;

	tu_hex(&cmd, hex);
	ck_assert_int_eq(sim_card_transmit(c, cmd.data, cmd.len, &resp), SIM_ANSWERED);
	ck_assert_uint_ge(resp.len, 2);
	sw = (uint16_t)(resp.data[resp.len - 2] << 8 | resp.data[resp.len - 1]);
	if (data) {
		smk_buf_reset(data);
		smk_buf_add(data, resp.data, resp.len - 2);
	}
	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	return sw;
}

#define ck_sw(c, hex, want) ck_assert_uint_eq(tx((c), (hex), NULL), (want))

/* A card with PINs set (no device PKI): what file and PIN tests need. */
static sim_card *pinned_card(void)
{
	sim_card *c = sim_card_new();
	smk_err e;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(sim_card_set_pins(c, (const uint8_t *)"648219", 6, sopin, &e), 0);
	ck_sw(c, SELECT, 0x9000);
	return c;
}

START_TEST(select_applet_and_classes)
{
	sim_card *c = sim_card_new();
	smk_buf d = SMK_BUF_INIT;

	/* not default-selected: the applet's commands are unknown until SELECT */
	ck_sw(c, "8058000000", 0x6D00);
	ck_sw(c, "00A404000BE82B0601040181C31F020200", 0x6A82); /* other AID */
	ck_assert_uint_eq(tx(c, SELECT, &d), 0x9000);
	/* FCP 62 { 82 38, 84 AID, 85 options || build || version 4.1 } */
	ck_assert_uint_eq(d.data[0], 0x62);
	tu_assert_hex(d.data + d.len - 7, 7, "8505 0000 00 0401");
	/* genuine firmware accepts P2 0C (reference §9): no data */
	ck_assert_uint_eq(tx(c, "00A4040C0BE82B0601040181C31F0201", &d), 0x9000);
	ck_assert_uint_eq(d.len, 0);
	ck_sw(c, "00A404050BE82B0601040181C31F020100", 0x6A86);
	ck_sw(c, "0058000000", 0x6E00);	      /* ENUMERATE needs CLA 80 */
	ck_sw(c, "00CA000000", 0x6D00);	      /* unknown INS */
	ck_sw(c, "00A4", 0x6700);	      /* truncated header */
	ck_sw(c, "00A404000BE82B06", 0x6700); /* Lc longer than the data */
	smk_buf_free(&d);
	sim_card_free(c);
}
END_TEST

START_TEST(verify_counts_and_blocks)
{
	sim_card *c = sim_card_new();

	ck_sw(c, SELECT, 0x9000);
	ck_sw(c, "0020008100", 0x6A88); /* never initialised */
	sim_card_free(c);

	c = pinned_card();
	ck_sw(c, "00200081", 0x63C3);
	ck_sw(c, PIN_BAD, 0x63C2);
	ck_sw(c, PIN_OK, 0x9000); /* right PIN restores the tries */
	ck_sw(c, "00200081", 0x9000);
	ck_sw(c, SELECT, 0x9000); /* re-select is the logout */
	ck_sw(c, "00200081", 0x63C3);
	ck_sw(c, "00200081 03 313233", 0x6A80); /* too short */
	ck_sw(c, "00200082 06 363438323139", 0x6A86);
	ck_sw(c, PIN_BAD, 0x63C2);
	ck_sw(c, PIN_BAD, 0x63C1);
	ck_sw(c, PIN_BAD, 0x63C0);
	/* blocked: even the right PIN is refused now */
	ck_sw(c, PIN_OK, 0x6983);
	ck_sw(c, "00200081", 0x6983);
	/* SO-PIN unblocks (option 0001 set by set_pins) */
	ck_sw(c, "002C0181 08 3537363231383830", 0x9000);
	ck_sw(c, PIN_OK, 0x9000);
	/* SO-PIN status and a wrong SO-PIN */
	ck_sw(c, "00200088", 0x63CF);
	ck_sw(c, "00200088 08 0000000000000000", 0x63CE);
	sim_card_free(c);
}
END_TEST

START_TEST(change_pin_and_transport_state)
{
	sim_card *c = pinned_card();

	ck_sw(c, "00240081 0C 363438323139 313233343536", 0x9000);
	ck_sw(c, PIN_OK, 0x63C2);
	ck_sw(c, "00200081 06 313233343536", 0x9000);
	/* re-initialise in transport-PIN mode: VERIFY answers 6984 */
	ck_sw(c, "80500000 16 8002 0002 8106 363534333231 8208 3537363231383830", 0x9000);
	ck_sw(c, "00200081 06 363534333231", 0x6984);
	ck_sw(c, "00240081 0C 363534333231 363438323139", 0x9000);
	ck_sw(c, PIN_OK, 0x9000);
	sim_card_free(c);
}
END_TEST

START_TEST(initialize_device)
{
	sim_card *c = sim_card_new();
	smk_buf d = SMK_BUF_INIT;

	ck_sw(c, SELECT, 0x9000);
	/* without data: free memory, 00, version */
	ck_assert_uint_eq(tx(c, "8050000000", &d), 0x9000);
	tu_assert_hex(d.data + d.len - 2, 2, "0401");
	/* OpenSC's form: options 0001, PIN, SO-PIN, 3 tries */
	ck_sw(c, "80500000 19 8002 0001 8106 363438323139 8208 3537363231383830 9101 03", 0x9000);
	ck_sw(c, "00200081", 0x63C3);
	ck_sw(c, PIN_OK, 0x9000);
	ck_sw(c, "00D7C401 08 54020000 5302 AABB", 0x9000);
	/* re-initialisation with the wrong SO-PIN is refused and keeps the files */
	ck_sw(c, "80500000 16 8002 0001 8106 363438323139 8208 0000000000000000", 0x6982);
	ck_sw(c, "00B1C401 04 54020000 00", 0x6282);
	/* with the right one it wipes them */
	ck_sw(c, "80500000 16 8002 0001 8106 363438323139 8208 3537363231383830", 0x9000);
	ck_sw(c, "00B1C401 04 54020000 00", 0x6A82);
	/* malformed: no SO-PIN, unknown tag, truncated TLV, bad retry count */
	ck_sw(c, "80500000 0C 8002 0001 8106 363438323139", 0x6A80);
	ck_sw(c, "80500000 03 990100", 0x6A80);
	ck_sw(c, "80500000 04 8106 3634", 0x6A80);
	ck_sw(c, "80500000 19 8002 0001 8106 363438323139 8208 3537363231383830 9101 00", 0x6A80);
	smk_buf_free(&d);
	sim_card_free(c);
}
END_TEST

START_TEST(files_read_update_delete)
{
	sim_card *c = pinned_card();
	smk_buf d = SMK_BUF_INIT, big = SMK_BUF_INIT, cmd = SMK_BUF_INIT;
	char *hex;

	ck_sw(c, "00D7C401 08 54020000 5302 AABB", 0x6982); /* PIN first */
	ck_sw(c, PIN_OK, 0x9000);
	ck_sw(c, "00D7C401 08 54020000 5302 AABB", 0x9000);
	ck_sw(c, "00D7C401 08 54020002 5302 CCDD", 0x9000); /* append */
	ck_sw(c, "00D7C401 08 54020009 5302 CCDD", 0x6B00); /* no holes */
	ck_assert_uint_eq(tx(c, "00B1C401 04 54020000 00", &d), 0x6282);
	tu_assert_hex(d.data, d.len, "AABBCCDD");
	ck_assert_uint_eq(tx(c, "00B1C401 04 54020001 02", &d), 0x9000);
	tu_assert_hex(d.data, d.len, "BBCC");
	ck_assert_uint_eq(tx(c, "00B1C401 04 54020004 00", &d), 0x6282);
	ck_assert_uint_eq(d.len, 0);
	ck_sw(c, "00B1C401 04 54020005 00", 0x6B00);
	ck_sw(c, "00B1C402 04 54020000 00", 0x6A82);
	ck_sw(c, "00B1C401 04 53020000 00", 0x6A80);	    /* no offset DO */
	ck_sw(c, "00B1C401 03 540200 00", 0x6A80);	    /* truncated offset DO */
	ck_sw(c, "00D7C401 04 54020000", 0x6A80);	    /* no 53 */
	ck_sw(c, "00D7C401 07 54020000 5305 AA", 0x6A80);   /* 53 longer than the data */
	ck_sw(c, "00D7CC01 08 54020000 5302 AABB", 0x6982); /* keys are not files */
	ck_sw(c, "00D72F02 08 54020000 5302 AABB", 0x6982); /* device certificates */
	/* select by FID, then read the current EF with 0000 */
	ck_assert_uint_eq(tx(c, "00A40000 02 C401 00", &d), 0x9000);
	tu_assert_hex(d.data, d.len, "620B 80020004 820101 8302C401");
	ck_assert_uint_eq(tx(c, "00B10000 04 54020000 00", &d), 0x6282);
	tu_assert_hex(d.data, d.len, "AABBCCDD");
	ck_sw(c, "00A4000C 02 C4FF", 0x6A82);

	/* a 600-byte EF needs extended APDUs and chunked short reads */
	for (int i = 0; i < 600; i++)
		smk_buf_add_byte(&big, (uint8_t)i);
	hex = smk_hex(big.data, big.len);
	{
		static const char head[] = "00D7CE05 000260 54020000 53820258";

		smk_buf_add(&cmd, head, strlen(head));
		smk_buf_add(&cmd, hex, strlen(hex) + 1);
	}
	ck_sw(c, (const char *)cmd.data, 0x9000);
	ck_assert_uint_eq(tx(c, "00B1CE05 04 54020000 00", &d), 0x9000);
	ck_assert_uint_eq(d.len, 256);
	ck_assert_uint_eq(tx(c, "00B1CE05 04 54020200 00", &d), 0x6282);
	ck_assert_uint_eq(d.len, 88);
	ck_assert_uint_eq(tx(c, "00B1CE05 000004 54020000 0000", &d), 0x6282);
	ck_assert(d.len == 600 && memcmp(d.data, big.data, 600) == 0);

	ck_assert_uint_eq(tx(c, "8058000000", &d), 0x9000);
	tu_assert_hex(d.data, d.len, "C401 CE05");
	ck_sw(c, "00E40200 02 C401", 0x9000);
	ck_sw(c, "00E40200 02 C401", 0x6A82);
	ck_sw(c, "00E40200 02 CC00", 0x6985);
	ck_sw(c, "00E40200 03 CE0500", 0x6700);
	ck_assert_uint_eq(tx(c, "8058000000", &d), 0x9000);
	tu_assert_hex(d.data, d.len, "CE05");
	ck_sw(c, SELECT, 0x9000);
	ck_sw(c, "00E40200 02 CE05", 0x6982); /* logged out */
	free(hex);
	smk_buf_free(&d);
	smk_buf_free(&big);
	smk_buf_free(&cmd);
	sim_card_free(c);
}
END_TEST

START_TEST(challenge_is_random)
{
	sim_card *c = pinned_card();
	smk_buf a = SMK_BUF_INIT, b = SMK_BUF_INIT;

	ck_assert_uint_eq(tx(c, "0084000008", &a), 0x9000);
	ck_assert_uint_eq(tx(c, "0084000008", &b), 0x9000);
	ck_assert_uint_eq(a.len, 8);
	ck_assert(memcmp(a.data, b.data, 8) != 0);
	ck_sw(c, "00840000", 0x6700);
	ck_sw(c, "0084000000FFFF", 0x6700); /* more than 1024 */
	smk_buf_free(&a);
	smk_buf_free(&b);
	sim_card_free(c);
}
END_TEST

static char *tmp_path(const char *name)
{
	char *p = NULL;

	ck_assert_int_ge(asprintf(&p, "%s/test_sim-%ld-%s", SMK_BUILD_DIR, (long)getpid(), name),
			 0);
	return p;
}

START_TEST(state_survives_restart)
{
	sim_card *c = pinned_card();
	smk_buf d = SMK_BUF_INIT;
	char *path = tmp_path("state.json");
	smk_err e;

	ck_sw(c, PIN_OK, 0x9000);
	ck_sw(c, "00D7C403 08 54020000 5302 0102", 0x9000);
	ck_assert_int_eq(sim_card_save(c, path, &e), 0);
	/* after the save every change is written back by itself */
	ck_sw(c, PIN_BAD, 0x63C2);
	ck_sw(c, "00D7CD01 07 54020000 5301 77", 0x6982); /* wrong PIN logged us out */
	sim_card_free(c);

	c = sim_card_load(path, &e);
	ck_assert_msg(c != NULL, "%s", e.msg);
	ck_sw(c, SELECT, 0x9000);
	ck_sw(c, "00200081", 0x63C2); /* the spent try is remembered */
	ck_assert_uint_eq(tx(c, "00B1C403 04 54020000 00", &d), 0x6282);
	tu_assert_hex(d.data, d.len, "0102");
	ck_sw(c, PIN_BAD, 0x63C1);
	ck_sw(c, PIN_BAD, 0x63C0);
	sim_card_free(c);
	c = sim_card_load(path, &e);
	ck_assert_ptr_nonnull(c);
	ck_sw(c, SELECT, 0x9000);
	ck_sw(c, PIN_OK, 0x6983); /* still blocked after a restart */
	sim_card_free(c);
	unlink(path);
	free(path);
	smk_buf_free(&d);
}
END_TEST

static void load_fails(const char *json, const char *needle)
{
	char *path = tmp_path("bad.json");
	FILE *f = fopen(path, "w");
	sim_card *c;
	smk_err e;

	ck_assert_ptr_nonnull(f);
	fputs(json, f);
	fclose(f);
	c = sim_card_load(path, &e);
	ck_assert_msg(c == NULL, "loaded: %s", json);
	ck_assert_msg(strstr(e.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", e.msg, needle);
	unlink(path);
	free(path);
}

START_TEST(state_rejects_garbage)
{
	sim_card *c;
	smk_err e;

#define GOOD_HEAD                                                                                  \
	"{\"format\":\"smkey-sim-state-1\",\"chr\":\"ZZSIM0000100000\",\"initialized\":true,"      \
	"\"options\":1,\"pin\":{\"value\":\"363438323139\",\"max\":3,\"left\":3},"                 \
	"\"sopin\":{\"value\":\"3537363231383830\",\"left\":15},\"domains\":[],"
	c = sim_card_load("/nonexistent/state.json", &e);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/state.json"));
	load_fails("{\"format\":", "state");
	load_fails("[]", "not a JSON object");
	load_fails("{\"format\":\"other\"}", "format");
	load_fails(GOOD_HEAD "\"files\":{\"C4\":\"00\"},\"keys\":{}}", "files");
	load_fails(GOOD_HEAD "\"files\":{\"C401\":\"0G\"},\"keys\":{}}", "C401");
	load_fails(GOOD_HEAD "\"files\":{},\"keys\":{\"256\":{}}}", "256");
	load_fails(GOOD_HEAD
		   "\"files\":{},\"keys\":{\"1\":{\"type\":\"ec\",\"private\":\"3000\"}}}",
		   "key 1");
	load_fails(GOOD_HEAD "\"files\":{},\"keys\":{\"1\":{\"type\":\"dsa\"}}}", "type");
	load_fails("{\"format\":\"smkey-sim-state-1\",\"chr\":\"ZZSIM0000100000\","
		   "\"initialized\":true,\"options\":1,\"pin\":{\"value\":\"36\",\"max\":3,"
		   "\"left\":3},\"sopin\":{\"value\":\"3537363231383830\",\"left\":15},"
		   "\"domains\":[],\"files\":{},\"keys\":{}}",
		   "value");
	load_fails("{\"format\":\"smkey-sim-state-1\",\"chr\":\"ZZSIM0000100000\","
		   "\"initialized\":true,\"options\":1,\"pin\":{\"value\":\"363438323139\","
		   "\"max\":3,\"left\":9},\"sopin\":{\"value\":\"3537363231383830\",\"left\":15},"
		   "\"domains\":[],\"files\":{},\"keys\":{}}",
		   "left");
#undef GOOD_HEAD
}
END_TEST

START_TEST(faults_at_apdu_and_command)
{
	sim_card *c = pinned_card(); /* one APDU (SELECT) so far */
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	struct timespec t0, t1;
	sim_fault f;
	smk_err e;
	long ms;

	ck_assert_int_eq(sim_fault_parse("apdu=+2:sw=6F00", sim_card_stats(c)->apdus, &f, &e), 0);
	ck_assert_uint_eq(f.at_apdu, 3);
	ck_assert_int_eq(sim_card_add_fault(c, &f, &e), 0);
	ck_assert_int_eq(sim_fault_parse("cmd=verify:sw=6A88:times=2", 0, &f, &e), 0);
	ck_assert_int_eq(sim_card_add_fault(c, &f, &e), 0);
	ck_sw(c, "0084000008", 0x9000); /* APDU 2 */
	ck_sw(c, "0084000008", 0x6F00); /* APDU 3 */
	ck_sw(c, "0084000008", 0x9000);
	ck_sw(c, PIN_OK, 0x6A88);
	ck_sw(c, PIN_OK, 0x6A88);
	ck_sw(c, PIN_OK, 0x9000); /* fired twice, then gone; not executed meanwhile */
	ck_assert_uint_eq(sim_card_stats(c)->faults, 3);

	/* reset: no answer, and the card forgot the PIN and the selection */
	ck_assert_int_eq(sim_fault_parse("cmd=challenge:reset", 0, &f, &e), 0);
	sim_card_add_fault(c, &f, &e);
	tu_hex(&cmd, "0084000008");
	ck_assert_int_eq(sim_card_transmit(c, cmd.data, cmd.len, &resp), SIM_RESET);
	ck_assert_uint_eq(resp.len, 0);
	ck_sw(c, "00200081", 0x6D00);
	ck_sw(c, SELECT, 0x9000);
	ck_sw(c, "00200081", 0x63C3);

	/* remove: no answers at all until the card is put back */
	ck_assert_int_eq(sim_fault_parse("apdu=+1:remove=10", sim_card_stats(c)->apdus, &f, &e), 0);
	sim_card_add_fault(c, &f, &e);
	ck_assert_int_eq(sim_card_transmit(c, cmd.data, cmd.len, &resp), SIM_REMOVED);
	ck_assert_uint_eq(sim_card_removed_ms(c), 10);
	ck_assert_int_eq(sim_card_transmit(c, cmd.data, cmd.len, &resp), SIM_REMOVED);
	sim_card_reset(c);
	ck_sw(c, SELECT, 0x9000);

	/* late: the answer takes at least that long */
	ck_assert_int_eq(sim_fault_parse("cmd=challenge:late=120", 0, &f, &e), 0);
	sim_card_add_fault(c, &f, &e);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_sw(c, "0084000008", 0x9000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_int_ge(ms, 120);

	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	sim_card_free(c);
}
END_TEST

START_TEST(fault_specs_are_checked)
{
	static const char *bad[] = {
	    "",
	    "reset",
	    "apdu=0:reset",
	    "apdu=x:reset",
	    "cmd=nosuch:reset",
	    "cmd=gakp:explode",
	    "cmd=gakp:sw=12",
	    "cmd=gakp:sw=9000x",
	    "cmd=gakp:late",
	    "apdu=3:reset:times=2",
	    "cmd=gakp:reset:often",
	    "cmd=gakp:sw=0001",
	    "apdu=-1:reset",
	};
	sim_fault f;
	smk_err e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(sim_fault_parse(bad[i], 0, &f, &e) < 0, "accepted \"%s\"", bad[i]);
	ck_assert_int_eq(sim_fault_parse("cmd=gakp:badmac", 0, &f, &e), 0);
	ck_assert_int_eq(f.action, SIM_FAULT_BADMAC);
	ck_assert_str_eq(f.cmd, "gakp");
	ck_assert_int_eq(sim_fault_parse("cmd=sign:plain:times=0", 0, &f, &e), 0);
	ck_assert_uint_eq(f.times, 0);
	ck_assert_int_eq(sim_fault_parse("apdu=4:remove", 0, &f, &e), 0);
	ck_assert_uint_eq(f.arg, 2000);
}
END_TEST

START_TEST(latency_model)
{
	sim_card *c = pinned_card();
	struct timespec t0, t1;
	sim_latency l = {0};
	smk_err e;
	long ms;

	ck_assert_int_eq(sim_latency_parse("genuine", &l, &e), 0);
	ck_assert_uint_gt(l.rsa_ms[2], l.ec_ms[0]);
	ck_assert_int_eq(sim_latency_parse("off", &l, &e), 0);
	ck_assert_int_eq(sim_latency_parse("apdu=60,rsa2048=7", &l, &e), 0);
	ck_assert_uint_eq(l.rsa_ms[2], 7);
	ck_assert_int_lt(sim_latency_parse("apdu", &l, &e), 0);
	ck_assert_int_lt(sim_latency_parse("warp=1", &l, &e), 0);
	ck_assert_int_lt(sim_latency_parse("apdu=-5", &l, &e), 0);
	ck_assert_int_eq(sim_latency_parse("apdu=60", &l, &e), 0);
	sim_card_set_latency(c, &l);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_sw(c, "0084000008", 0x9000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_int_ge(ms, 60);
	sim_card_free(c);
}
END_TEST

START_TEST(log_has_headers_not_data)
{
	sim_card *c = pinned_card();
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	sim_card_set_log(c, f);
	ck_sw(c, PIN_OK, 0x9000);
	ck_sw(c, "0084000008", 0x9000);
	sim_card_set_log(c, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(
	    strstr(text, "\"cmd\":\"verify\",\"sm\":false,\"header\":\"00200081\""));
	ck_assert_ptr_nonnull(strstr(text, "\"cmd\":\"challenge\""));
	ck_assert_ptr_nonnull(strstr(text, "\"sw\":\"9000\""));
	/* the PIN never reaches the log, in neither hex case nor ASCII */
	ck_assert_ptr_null(strstr(text, "363438323139"));
	ck_assert_ptr_null(strstr(text, "648219"));
	free(text);

	f = open_memstream(&text, &len);
	ck_assert_int_eq(sim_card_write_stats(c, f), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "\"apdus\":3"));
	ck_assert_ptr_nonnull(strstr(text, "\"verify\":{\"plain\":1,\"sm\":0}"));
	free(text);
	sim_card_free(c);
}
END_TEST

/* ---- device PKI, chip authentication, secure messaging, keys ---- */

struct pki_card {
	sim_card *c;
	trust_store trust;
	devaut_chain chain;
};

/* read a whole EF with extended B1 */
static void read_ef(sim_card *c, const char *fid_hex, smk_buf *out)
{
	char cmd[64];
	uint16_t sw;

	snprintf(cmd, sizeof(cmd), "00B1%s 000004 54020000 0000", fid_hex);
	sw = tx(c, cmd, out);
	ck_assert_msg(sw == 0x6282 || sw == 0x9000, "read %s: SW %04X", fid_hex, sw);
}

static void pki_card(struct pki_card *p, unsigned device_no)
{
	smk_buf root = SMK_BUF_INIT, ef = SMK_BUF_INIT;
	smk_err e;

	memset(p, 0, sizeof(*p));
	p->c = sim_card_new();
	ck_assert_ptr_nonnull(p->c);
	ck_assert_msg(sim_card_init_pki(p->c, NULL, device_no, &root, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(sim_card_set_pins(p->c, (const uint8_t *)"648219", 6, sopin, &e), 0);
	ck_assert_msg(trust_add(&p->trust, root.data, root.len, "sim root", &e) == 0, "%s", e.msg);
	ck_sw(p->c, SELECT, 0x9000);
	read_ef(p->c, "2F02", &ef);
	ck_assert_msg(chain_validate(ef.data, ef.len, &p->trust, time(NULL), &p->chain, &e) == 0,
		      "%s", e.msg);
	smk_buf_free(&root);
	smk_buf_free(&ef);
}

static void pki_card_free(struct pki_card *p)
{
	chain_free(&p->chain);
	trust_free(&p->trust);
	sim_card_free(p->c);
}

/* Send a plain APDU given as hex, as bytes; data/sw as tx(). */
static uint16_t tx_apdu(sim_card *c, const apdu *a, smk_buf *data)
{
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	smk_err e;
	uint16_t sw;

	ck_assert_int_eq(apdu_encode(a, &cmd, &e), 0);
	ck_assert_int_eq(sim_card_transmit(c, cmd.data, cmd.len, &resp), SIM_ANSWERED);
	ck_assert_uint_ge(resp.len, 2);
	sw = (uint16_t)(resp.data[resp.len - 2] << 8 | resp.data[resp.len - 1]);
	if (data) {
		smk_buf_reset(data);
		smk_buf_add(data, resp.data, resp.len - 2);
	}
	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	return sw;
}

/* Chip authentication against the validated DevAut key. */
static smsg_ctx *open_sm(struct pki_card *p)
{
	smk_buf d = SMK_BUF_INIT;
	smsg_ctx *sm = NULL;
	ca_host *h = NULL;
	apdu a;
	smk_err e;

	ck_assert_msg(
	    ca_host_new(p->chain.curve, p->chain.point, p->chain.point_len, NULL, 0, &h, &e) == 0,
	    "%s", e.msg);
	ca_mse_set_at(&a);
	ck_assert_uint_eq(tx_apdu(p->c, &a, NULL), 0x9000);
	ca_host_ga(h, &a);
	ck_assert_uint_eq(tx_apdu(p->c, &a, &d), 0x9000);
	/* the token proves the card holds PrK.DevAut */
	ck_assert_msg(ca_host_finish(h, d.data, d.len, &sm, &e) == 0, "%s", e.msg);
	ca_host_free(h);
	smk_buf_free(&d);
	return sm;
}

/* A protected command (plain APDU a); returns the inner SW. The raw answer
 * goes to raw if not NULL; *unwrap_rc receives smsg_unwrap_response's rc. */
static uint16_t stx_full(sim_card *c, smsg_ctx *sm, const apdu *a, smk_buf *data, smk_buf *raw,
			 int *unwrap_rc)
{
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT, d = SMK_BUF_INIT;
	uint16_t sw = 0;
	smk_err e;
	int rc;

	ck_assert_msg(smsg_wrap_command(sm, a, &cmd, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(sim_card_transmit(c, cmd.data, cmd.len, &resp), SIM_ANSWERED);
	if (raw) {
		smk_buf_reset(raw);
		smk_buf_add(raw, resp.data, resp.len);
	}
	rc = smsg_unwrap_response(sm, resp.data, resp.len, &d, &sw, &e);
	if (unwrap_rc)
		*unwrap_rc = rc;
	else
		ck_assert_msg(rc == 0, "unwrap: %s", e.msg);
	if (rc < 0)
		sw = e.sw;
	if (data) {
		smk_buf_reset(data);
		smk_buf_add(data, d.data, d.len);
	}
	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	smk_buf_free(&d);
	return sw;
}

static uint16_t stx(sim_card *c, smsg_ctx *sm, const char *hex, smk_buf *data)
{
	smk_buf b = SMK_BUF_INIT;
	apdu a;
	smk_err e;
	uint16_t sw;

	tu_hex(&b, hex);
	ck_assert_int_eq(apdu_parse(b.data, b.len, &a, &e), 0);
	sw = stx_full(c, sm, &a, data, NULL, NULL);
	smk_buf_free(&b);
	return sw;
}

/* GAKP for key id under SM (sm may be NULL: plain); the 67 answer in req. */
static uint16_t gakp(sim_card *c, smsg_ctx *sm, uint8_t id, const hsm_keyspec *ks, smk_buf *req)
{
	smk_buf data = SMK_BUF_INIT;
	uint16_t sw;
	apdu a;
	smk_err e;

	ck_assert_msg(hsm_build_gakp(&a, &data, id, 0, ks, true, &e) == 0, "%s", e.msg);
	sw = sm ? stx_full(c, sm, &a, req, NULL, NULL) : tx_apdu(c, &a, req);
	smk_buf_free(&data);
	return sw;
}

static hsm_keyspec ec_spec(const char *curve, const char *chr)
{
	hsm_keyspec ks;

	memset(&ks, 0, sizeof(ks));
	ks.type = SMK_KEY_EC;
	ks.curve = curve_by_name(curve);
	ck_assert_ptr_nonnull(ks.curve);
	strcpy(ks.chr, chr);
	strcpy(ks.car, "UTCA00001");
	return ks;
}

/* Validate the card's EF 2F02 against trust. */
static int chain_of(sim_card *c, const trust_store *trust, devaut_chain *ch, smk_err *e)
{
	smk_buf ef = SMK_BUF_INIT;
	int r;

	read_ef(c, "2F02", &ef);
	memset(ch, 0, sizeof(*ch));
	r = chain_validate(ef.data, ef.len, trust, time(NULL), ch, e);
	smk_buf_free(&ef);
	return r;
}

START_TEST(cards_share_a_ca)
{
	char *path = tmp_path("ca.json");
	trust_store trust = TRUST_STORE_INIT;
	sim_card *c[2];
	devaut_chain ch;
	sim_ca *ca, *ca2;
	size_t rlen;
	const uint8_t *root;
	smk_err e;

	ca = sim_ca_new(&e);
	ck_assert_ptr_nonnull(ca);
	unlink(path);
	ck_assert_int_eq(sim_ca_save(ca, path, &e), 0);
	ck_assert_int_lt(sim_ca_save(ca, path, &e), 0); /* never over an existing CA */
	ca2 = sim_ca_load(path, &e);
	ck_assert_msg(ca2 != NULL, "%s", e.msg);
	root = sim_ca_root(ca2, &rlen);
	ck_assert_int_eq(trust_add(&trust, root, rlen, "sim-ca", &e), 0);
	/* two cards from the saved and reloaded CA chain to the one root */
	for (int i = 0; i < 2; i++) {
		c[i] = sim_card_new();
		ck_assert_int_eq(sim_card_init_pki(c[i], i ? ca2 : ca, 20 + (unsigned)i, NULL, &e),
				 0);
		ck_sw(c[i], SELECT, 0x9000);
		ck_assert_msg(chain_of(c[i], &trust, &ch, &e) == 0, "%s", e.msg);
		ck_assert_str_eq(ch.device_chr, i ? "ZZSIM0002100000" : "ZZSIM0002000000");
		chain_free(&ch);
		sim_card_free(c[i]);
	}
	sim_ca_free(ca);
	sim_ca_free(ca2);
	trust_free(&trust);
	unlink(path);
	/* a damaged CA file is refused with the reason */
	{
		FILE *f = fopen(path, "w");

		fputs("{\"format\":\"smkey-sim-ca-1\",\"root_cert\":\"7F21\"}", f);
		fclose(f);
		ck_assert_ptr_null(sim_ca_load(path, &e));
		ck_assert_ptr_nonnull(strstr(e.msg, "root_cert"));
	}
	unlink(path);
	free(path);
}
END_TEST

START_TEST(device_pki_like_genuine)
{
	struct pki_card p;
	smk_buf root = SMK_BUF_INIT;
	devaut_chain ch;
	cvc dica, dev;
	sim_card *c2;
	smk_err e;

	pki_card(&p, 7);
	ck_assert_str_eq(p.chain.device_chr, "ZZSIM0000700000");
	ck_assert_str_eq(p.chain.serial, "ZZSIM00007");
	ck_assert_str_eq(p.chain.dica_chr, SIM_DICA_CHR);
	ck_assert_str_eq(p.chain.root_chr, SIM_ROOT_CHR);
	ck_assert_str_eq(p.chain.curve->name, "brainpoolP256r1");
	ck_assert_str_eq(sim_card_chr(p.c), "ZZSIM0000700000");
	/* reference §8.2: DICA and device certificates carry only 06 + 86 */
	ck_assert_int_eq(cvc_parse_cert(p.chain.dica_cert.data, p.chain.dica_cert.len, &dica, &e),
			 0);
	ck_assert_int_eq(
	    cvc_parse_cert(p.chain.device_cert.data, p.chain.device_cert.len, &dev, &e), 0);
	ck_assert_ptr_null(dica.key.curve);
	ck_assert_ptr_null(dev.key.curve);
	ck_assert_int_eq(cvc_role(&dica), CVC_ROLE_DICA);
	ck_assert_int_eq(cvc_role(&dev), CVC_ROLE_DEVICE);
	ck_assert(dica.has_ext && dica.ext_len == 0);
	/* the root is not a production name and a second init is refused */
	ck_assert(strncmp(SIM_ROOT_CHR, "DE", 2) != 0);
	ck_assert_int_lt(sim_card_init_pki(p.c, NULL, 7, &root, &e), 0);
	/* another CA's card does not validate against this card's root */
	c2 = sim_card_new();
	ck_assert_int_eq(sim_card_init_pki(c2, NULL, 8, NULL, &e), 0);
	ck_sw(c2, SELECT, 0x9000);
	ck_assert_int_lt(chain_of(c2, &p.trust, &ch, &e), 0);
	ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
	chain_free(&ch);
	sim_card_free(c2);
	smk_buf_free(&root);
	pki_card_free(&p);
}
END_TEST

START_TEST(gakp_attests_every_curve_and_rsa)
{
	struct pki_card p;
	smk_buf req = SMK_BUF_INIT, ce = SMK_BUF_INIT;
	const smk_curve *curves;
	size_t n, i;
	smsg_ctx *sm;
	smk_err e;

	pki_card(&p, 1);
	sm = open_sm(&p);
	ck_assert_uint_eq(stx(p.c, sm, PIN_OK, NULL), 0x9000);
	curves = curve_list(&n);
	for (i = 0; i <= n + 1; i++) {
		hsm_keyspec ks = ec_spec("secp256r1", "ZZSIM0000100001");
		chain_attested att;
		char fid[64];

		if (i == n) {
			ks.type = SMK_KEY_RSA;
			ks.curve = NULL;
			ks.rsa_bits = 2048;
		} else if (i == n + 1) {
			ks.type = SMK_KEY_RSA;
			ks.curve = NULL;
			ks.rsa_bits = 1024;
			ks.rsa_legacy_ok = true;
		} else {
			ks.curve = &curves[i];
		}
		ck_assert_uint_eq(gakp(p.c, sm, (uint8_t)(i + 1), &ks, &req), 0x9000);
		memset(&att, 0, sizeof(att));
		ck_assert_msg(chain_verify_authreq(&p.chain, req.data, req.len, &att, &e) == 0,
			      "key %zu: %s", i, e.msg);
		ck_assert_str_eq(att.chr, "ZZSIM0000100001");
		ck_assert_str_eq(att.car, "UTCA00001");
		ck_assert_str_eq(att.outer_car, "ZZSIM0000100000");
		if (i < n)
			ck_assert_str_eq(att.curve->name, curves[i].name);
		else
			ck_assert_uint_eq(att.bits, ks.rsa_bits);
		/* the same request is kept in CE|id (read under SM: a plain APDU
		 * would end the session) */
		snprintf(fid, sizeof(fid), "00B1CE%02zX 000004 54020000 0000", i + 1);
		ck_assert_uint_eq(stx(p.c, sm, fid, &ce), 0x6282);
		ck_assert(ce.len == req.len && memcmp(ce.data, req.data, req.len) == 0);
		chain_attested_free(&att);
	}
	smsg_free(sm);
	smk_buf_free(&req);
	smk_buf_free(&ce);
	pki_card_free(&p);
}
END_TEST

/* The large RSA sizes take seconds each (as on a real card); plain APDUs. */
START_TEST(gakp_large_rsa)
{
	static const unsigned sizes[] = {1536, 3072, 4096};
	struct pki_card p;
	smk_buf req = SMK_BUF_INIT;
	smk_err e;

	pki_card(&p, 1);
	ck_sw(p.c, PIN_OK, 0x9000);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		hsm_keyspec ks;
		chain_attested att;

		memset(&ks, 0, sizeof(ks));
		ks.type = SMK_KEY_RSA;
		ks.rsa_bits = sizes[i];
		ks.rsa_legacy_ok = true;
		strcpy(ks.chr, "ZZSIM0000100009");
		ck_assert_uint_eq(gakp(p.c, NULL, 9, &ks, &req), 0x9000);
		memset(&att, 0, sizeof(att));
		ck_assert_msg(chain_verify_authreq(&p.chain, req.data, req.len, &att, &e) == 0,
			      "RSA-%u: %s", sizes[i], e.msg);
		ck_assert_uint_eq(att.bits, sizes[i]);
		chain_attested_free(&att);
	}
	smk_buf_free(&req);
	pki_card_free(&p);
}
END_TEST

START_TEST(gakp_refusals)
{
	struct pki_card p;
	hsm_keyspec ks = ec_spec("secp256r1", "ZZSIM0000100001");
	smk_buf req = SMK_BUF_INIT;

	pki_card(&p, 1);
	ck_assert_uint_eq(gakp(p.c, NULL, 1, &ks, &req), 0x6982); /* PIN first */
	ck_sw(p.c, PIN_OK, 0x9000);
	{
		/* the device key stays; the host library will not even build this */
		smk_buf data = SMK_BUF_INIT;
		apdu a;
		smk_err e;

		ck_assert_int_eq(hsm_build_gakp(&a, &data, 1, 0, &ks, true, &e), 0);
		a.p1 = 0;
		ck_assert_uint_eq(tx_apdu(p.c, &a, NULL), 0x6A86);
		a.p1 = 1;
		a.p2 = 1; /* outer signature by another key */
		ck_assert_uint_eq(tx_apdu(p.c, &a, NULL), 0x6A86);
		smk_buf_free(&data);
	}
	ks.has_key_domain = true;
	ck_assert_uint_eq(gakp(p.c, NULL, 1, &ks, &req), 0x6A86); /* no domains configured */
	ks.has_key_domain = false;
	{
		/* an algorithm list naming something that is no algorithm */
		smk_buf data = SMK_BUF_INIT;
		apdu a;
		smk_err e;
		uint8_t *at;

		ks.algs[0] = 0x73;
		ks.alg_count = 1;
		ck_assert_int_eq(hsm_build_gakp(&a, &data, 1, 0, &ks, true, &e), 0);
		at = memmem(data.data, data.len, "\x91\x01\x73", 3);
		ck_assert_ptr_nonnull(at);
		at[2] = 0x01;
		ck_assert_uint_eq(tx_apdu(p.c, &a, NULL), 0x6A80);
		smk_buf_free(&data);
	}
	/* garbage, truncated and over-long command data */
	ck_sw(p.c, "00460100 03 5F2901", 0x6A80);
	ck_sw(p.c, "00460100 05 5F29010042", 0x6A80);
	ck_sw(p.c, "00460100 04 FFFFFFFF 00", 0x6A80);
	ck_sw(p.c, "00460100 000006 7F4983FFFFFF 0000", 0x6A80);
	/* an RSA size the card does not make */
	ks.alg_count = 0;
	ks.type = SMK_KEY_RSA;
	ks.curve = NULL;
	ks.rsa_bits = 2040;
	ks.rsa_legacy_ok = true;
	{
		smk_buf data = SMK_BUF_INIT;
		apdu a;
		smk_err e;

		/* the host library refuses to build it, so send what it would look like */
		if (hsm_build_gakp(&a, &data, 1, 0, &ks, true, &e) == 0)
			ck_assert_uint_eq(tx_apdu(p.c, &a, NULL), 0x6A80);
		smk_buf_free(&data);
	}
	ck_sw(p.c, "8058000000", 0x9000); /* nothing was created */
	{
		smk_buf d = SMK_BUF_INIT;

		tx(p.c, "8058000000", &d);
		tu_assert_hex(d.data, d.len, "2F02 CC00");
		smk_buf_free(&d);
	}
	smk_buf_free(&req);
	pki_card_free(&p);
}
END_TEST

/* The key's public key from its CV request. */
static EVP_PKEY *attested_key(struct pki_card *p, const smk_buf *req)
{
	chain_attested att;
	EVP_PKEY *k;
	smk_err e;

	memset(&att, 0, sizeof(att));
	ck_assert_msg(chain_verify_authreq(&p->chain, req->data, req->len, &att, &e) == 0, "%s",
		      e.msg);
	k = att.key;
	EVP_PKEY_up_ref(k);
	chain_attested_free(&att);
	return k;
}

static int verify_sha256(EVP_PKEY *k, const uint8_t *msg, size_t n, const smk_buf *sig)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
		 EVP_DigestVerify(md, sig->data, sig->len, msg, n) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

START_TEST(sign_enforces_list_counter_domain)
{
	struct pki_card p;
	hsm_keyspec ks = ec_spec("secp256r1", "ZZSIM0000100001");
	smk_buf req = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	static const uint8_t msg[] = "release 1.0";
	EVP_PKEY *pub;

	pki_card(&p, 1);
	/* one key domain with no DKEK shares */
	ck_sw(p.c, "80500000 1C 8002 0001 8106 363438323139 8208 3537363231383830 9101 03 9701 01",
	      0x9000);
	ck_sw(p.c, PIN_OK, 0x9000);
	ck_sw(p.c, "80520100 01 00", 0x9000);
	/* key 1: ECDSA-SHA256 only, two uses */
	ks.algs[0] = 0x73;
	ks.alg_count = 1;
	ks.use_counter = 2;
	ck_assert_uint_eq(gakp(p.c, NULL, 1, &ks, &req), 0x9000);
	pub = attested_key(&p, &req);
	ck_sw(p.c,
	      "80680170 20 000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F 00",
	      0x6A81); /* hash-supplied ECDSA is not in the list */
	ck_sw(p.c, "80680133 0B 72656C6561736520312E30 00", 0x6A81); /* RSA algorithm */
	ck_sw(p.c, "80680162 0B 72656C6561736520312E30 00", 0x6A81); /* ECDH is not SIGN */
	ck_assert_uint_eq(tx(p.c, "80680173 0B 72656C6561736520312E30 00", &sig), 0x9000);
	ck_assert(verify_sha256(pub, msg, sizeof(msg) - 1, &sig));
	ck_assert_uint_eq(tx(p.c, "80680173 0B 72656C6561736520312E30 00", &sig), 0x9000);
	ck_sw(p.c, "80680173 0B 72656C6561736520312E30 00", 0x6984); /* counter exhausted */
	ck_sw(p.c,
	      "80620180 41 04"
	      "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"
	      "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5 00",
	      0x6A81); /* not in the list */
	EVP_PKEY_free(pub);

	/* key 2: bound to domain 0, unrestricted: usable until the domain goes */
	ks = ec_spec("brainpoolP256r1", "ZZSIM0000100002");
	ks.has_key_domain = true;
	ks.key_domain = 0;
	ck_assert_uint_eq(gakp(p.c, NULL, 2, &ks, &req), 0x9000);
	pub = attested_key(&p, &req);
	ck_assert_uint_eq(tx(p.c, "80680273 0B 72656C6561736520312E30 00", &sig), 0x9000);
	ck_assert(verify_sha256(pub, msg, sizeof(msg) - 1, &sig));
	ck_sw(p.c, "80520300", 0x9000); /* delete key domain 0 */
	ck_sw(p.c, "80680273 0B 72656C6561736520312E30 00", 0x6A88);
	ck_sw(p.c, "80620280 01 04 00", 0x6A88); /* ECDH too */
	EVP_PKEY_free(pub);

	/* no PIN, no key, no key 0 */
	ck_sw(p.c, "80680973 0B 72656C6561736520312E30 00", 0x6A82);
	ck_sw(p.c, "80680073 0B 72656C6561736520312E30 00", 0x6982);
	ck_sw(p.c, SELECT, 0x9000);
	ck_sw(p.c, "80680273 0B 72656C6561736520312E30 00", 0x6982);
	smk_buf_free(&req);
	smk_buf_free(&sig);
	pki_card_free(&p);
}
END_TEST

START_TEST(ecdh_and_rsa_operations)
{
	struct pki_card p;
	hsm_keyspec ks = ec_spec("secp256r1", "ZZSIM0000100001");
	smk_buf req = SMK_BUF_INIT, out = SMK_BUF_INIT, cmd = SMK_BUF_INIT, peerpt = SMK_BUF_INIT;
	EVP_PKEY *pub, *peer;
	EVP_PKEY_CTX *dctx;
	uint8_t x[32];
	size_t xlen = sizeof(x);
	char *hex;
	smk_err e;

	pki_card(&p, 1);
	ck_sw(p.c, PIN_OK, 0x9000);
	ks.algs[0] = 0x80;
	ks.alg_count = 1;
	ks.use_counter = 2;
	ck_assert_uint_eq(gakp(p.c, NULL, 3, &ks, &req), 0x9000);
	pub = attested_key(&p, &req);
	/* ECDH with a peer key: the card's x equals the peer's view */
	peer = EVP_EC_gen("prime256v1");
	ck_assert_int_eq(ca_key_public(peer, &peerpt, &e), 0);
	hex = smk_hex(peerpt.data, peerpt.len);
	smk_buf_add(&cmd, "80620380 41 ", 12);
	smk_buf_add(&cmd, hex, strlen(hex));
	smk_buf_add(&cmd, " 00", 4);
	ck_assert_uint_eq(tx(p.c, (const char *)cmd.data, &out), 0x9000);
	ck_assert_uint_eq(out.len, 65);
	ck_assert_uint_eq(out.data[0], 0x04);
	dctx = EVP_PKEY_CTX_new(peer, NULL);
	ck_assert(EVP_PKEY_derive_init(dctx) == 1 && EVP_PKEY_derive_set_peer(dctx, pub) == 1 &&
		  EVP_PKEY_derive(dctx, x, &xlen) == 1);
	ck_assert(xlen == 32 && memcmp(out.data + 1, x, 32) == 0);
	/* a point that is not on the curve: refused, and no use is spent */
	cmd.data[cmd.len - 6] = cmd.data[cmd.len - 6] == '0' ? '1' : '0';
	ck_assert_uint_eq(tx(p.c, (const char *)cmd.data, &out), 0x6A80);
	ck_sw(p.c, "80680373 01 00 00", 0x6A81);
	cmd.data[cmd.len - 6] = (char)hex[strlen(hex) - 2];
	ck_assert_uint_eq(tx(p.c, (const char *)cmd.data, &out), 0x9000);
	ck_assert(memcmp(out.data + 1, x, 32) == 0);
	/* two uses, both spent */
	ck_assert_uint_eq(tx(p.c, (const char *)cmd.data, &out), 0x6984);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(pub);
	free(hex);

	/* RSA: PKCS#1 v1.5 SHA-256 signature, an EC algorithm is refused */
	memset(&ks, 0, sizeof(ks));
	ks.type = SMK_KEY_RSA;
	ks.rsa_bits = 2048;
	strcpy(ks.chr, "ZZSIM0000100004");
	ck_assert_uint_eq(gakp(p.c, NULL, 4, &ks, &req), 0x9000);
	pub = attested_key(&p, &req);
	ck_assert_uint_eq(tx(p.c, "80680433 000003 616263 0000", &out), 0x9000);
	ck_assert_uint_eq(out.len, 256);
	ck_assert(verify_sha256(pub, (const uint8_t *)"abc", 3, &out));
	ck_sw(p.c, "80680473 03 616263 00", 0x6A81);
	ck_sw(p.c, "80680420 03 616263 00", 0x6A80); /* raw RSA needs a full block */
	EVP_PKEY_free(pub);

	/* deleting the key makes it unknown */
	ck_sw(p.c, "00E40200 02 CC04", 0x9000);
	ck_sw(p.c, "80680433 03 616263 00", 0x6A82);
	smk_buf_free(&req);
	smk_buf_free(&out);
	smk_buf_free(&cmd);
	smk_buf_free(&peerpt);
	pki_card_free(&p);
}
END_TEST

START_TEST(plain_apdu_during_sm_clears_pin)
{
	struct pki_card p;
	hsm_keyspec ks = ec_spec("secp256r1", "ZZSIM0000100001");
	smk_buf req = SMK_BUF_INIT;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	smsg_ctx *sm;

	pki_card(&p, 1);
	sim_card_stats_reset(p.c);
	f = open_memstream(&text, &len);
	sim_card_set_log(p.c, f);
	sm = open_sm(&p);
	ck_assert_uint_eq(stx(p.c, sm, PIN_OK, NULL), 0x9000);
	ck_assert_uint_eq(stx(p.c, sm, "0020008100", NULL), 0x9000);
	ck_assert_uint_eq(gakp(p.c, sm, 1, &ks, &req), 0x9000);
	/* one plain APDU: SM ends, the PIN is forgotten (fw >= 2.0) */
	ck_sw(p.c, "0084000008", 0x9000);
	{
		/* no session any more: a protected APDU gets 6988 in plain */
		smk_buf b = SMK_BUF_INIT;
		apdu a;
		smk_err e;
		int rc;

		tu_hex(&b, "0020008100");
		apdu_parse(b.data, b.len, &a, &e);
		ck_assert_uint_eq(stx_full(p.c, sm, &a, NULL, NULL, &rc), 0x6988);
		ck_assert_int_lt(rc, 0);
		smk_buf_free(&b);
	}
	smsg_free(sm);
	sm = open_sm(&p);
	ck_assert_uint_eq(stx(p.c, sm, "0020008100", NULL), 0x63C3);
	ck_assert_uint_eq(gakp(p.c, sm, 2, &ks, &req), 0x6982);
	smsg_free(sm);
	sim_card_set_log(p.c, NULL);
	fclose(f);
	/* the log tells SM from plain */
	ck_assert_ptr_nonnull(strstr(text, "\"cmd\":\"gakp\",\"sm\":true,\"header\":\"0C460100\""));
	ck_assert_ptr_nonnull(strstr(text, "\"cmd\":\"challenge\",\"sm\":false"));
	ck_assert_ptr_null(strstr(text, "\"cmd\":\"gakp\",\"sm\":false"));
	ck_assert_uint_eq(sim_card_stats(p.c)->sm_by_ins[0x46], 2);
	ck_assert_uint_eq(sim_card_stats(p.c)->plain_by_ins[0x46], 0);
	ck_assert_uint_eq(sim_card_stats(p.c)->sm_errors, 1);
	free(text);
	smk_buf_free(&req);
	pki_card_free(&p);
}
END_TEST

START_TEST(sm_failures_and_faults)
{
	struct pki_card p;
	smk_buf raw = SMK_BUF_INIT, cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	smsg_ctx *sm, *copy;
	sim_fault f;
	apdu a;
	smk_err e;
	int rc;

	pki_card(&p, 1);
	/* without MSE, GA is refused; MSE with another protocol too */
	ck_sw(p.c,
	      "00860000 45 7C43 8041 04"
	      "0000000000000000000000000000000000000000000000000000000000000000"
	      "0000000000000000000000000000000000000000000000000000000000000000 00",
	      0x6985);
	ck_sw(p.c, "002241A4 0C 800A 04007F00070202030201", 0x6A80);
	sm = open_sm(&p);
	ck_assert_uint_eq(stx(p.c, sm, PIN_OK, NULL), 0x9000);
	/* a corrupted MAC: 6988 in plain, session and PIN gone */
	tu_hex(&raw, "0084000008");
	ck_assert_int_eq(apdu_parse(raw.data, raw.len, &a, &e), 0);
	ck_assert_int_eq(smsg_wrap_command(sm, &a, &cmd, &e), 0);
	cmd.data[cmd.len - 2] ^= 0x80;
	ck_assert_int_eq(sim_card_transmit(p.c, cmd.data, cmd.len, &resp), SIM_ANSWERED);
	tu_assert_hex(resp.data, resp.len, "6988");
	smsg_free(sm);
	sm = open_sm(&p);
	ck_assert_uint_eq(stx(p.c, sm, "0020008100", NULL), 0x63C3);
	ck_assert_uint_eq(stx(p.c, sm, PIN_OK, NULL), 0x9000);
	/* a protected APDU with broken framing or a truncated DO: the same */
	ck_sw(p.c, "0C200081 05 8E08", 0x6988);
	smsg_free(sm);
	sm = open_sm(&p);
	ck_sw(p.c, "0C200081 02 8E08 00", 0x6988);
	smsg_free(sm);
	sm = open_sm(&p);
	ck_assert_uint_eq(stx(p.c, sm, PIN_OK, NULL), 0x9000);

	/* sw fault under SM: a protected answer with that SW */
	ck_assert_int_eq(sim_fault_parse("cmd=challenge:sw=6A88", 0, &f, &e), 0);
	sim_card_add_fault(p.c, &f, &e);
	ck_assert_uint_eq(stx(p.c, sm, "0084000008", NULL), 0x6A88);
	/* badmac: the host must see a bad MAC */
	ck_assert_int_eq(sim_fault_parse("cmd=challenge:badmac", 0, &f, &e), 0);
	sim_card_add_fault(p.c, &f, &e);
	smk_buf_reset(&raw);
	tu_hex(&raw, "0084000008");
	apdu_parse(raw.data, raw.len, &a, &e);
	stx_full(p.c, sm, &a, NULL, NULL, &rc);
	ck_assert_int_lt(rc, 0);
	smsg_free(sm);
	/* plain: the answer comes without SM and the card's session is over */
	sm = open_sm(&p);
	ck_assert_uint_eq(stx(p.c, sm, PIN_OK, NULL), 0x9000);
	ck_assert_int_eq(sim_fault_parse("cmd=challenge:plain", 0, &f, &e), 0);
	sim_card_add_fault(p.c, &f, &e);
	copy = sm;
	stx_full(p.c, copy, &a, NULL, &raw, &rc);
	ck_assert_int_lt(rc, 0);
	ck_assert_uint_eq(raw.len, 10); /* 8 challenge bytes + 9000, no DOs */
	ck_assert_uint_eq(raw.data[8], 0x90);
	smsg_free(sm);
	sm = open_sm(&p);
	ck_assert_uint_eq(stx(p.c, sm, "0020008100", NULL), 0x63C3);
	smsg_free(sm);
	smk_buf_free(&raw);
	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	pki_card_free(&p);
}
END_TEST

START_TEST(keys_survive_restart)
{
	struct pki_card p;
	hsm_keyspec ks = ec_spec("secp384r1", "ZZSIM0000100001");
	smk_buf req = SMK_BUF_INIT, sig = SMK_BUF_INIT, ef = SMK_BUF_INIT;
	char *path = tmp_path("keys.json");
	static const uint8_t msg[] = "abc";
	EVP_PKEY *pub;
	sim_card *c;
	smk_err e;

	pki_card(&p, 3);
	ck_assert_int_eq(sim_card_save(p.c, path, &e), 0);
	ck_sw(p.c, PIN_OK, 0x9000);
	ks.algs[0] = 0x73;
	ks.alg_count = 1;
	ks.use_counter = 2;
	ck_assert_uint_eq(gakp(p.c, NULL, 5, &ks, &req), 0x9000);
	pub = attested_key(&p, &req);
	ck_sw(p.c, "80680573 03 616263 00", 0x9000);
	c = sim_card_load(path, &e);
	ck_assert_msg(c != NULL, "%s", e.msg);
	ck_assert_str_eq(sim_card_chr(c), "ZZSIM0000300000");
	ck_sw(c, SELECT, 0x9000);
	read_ef(c, "2F02", &ef);
	ck_sw(c, PIN_OK, 0x9000);
	/* the same key, one use left, the same restrictions */
	ck_assert_uint_eq(tx(c, "80680573 03 616263 00", &sig), 0x9000);
	ck_assert(verify_sha256(pub, msg, 3, &sig));
	ck_sw(c, "80680573 03 616263 00", 0x6984);
	ck_sw(c, "80680570 03 616263 00", 0x6A81);
	{
		/* the summary names the key and its restrictions, never the PIN */
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		smk_buf ce = SMK_BUF_INIT;

		sim_card_describe(c, f);
		fclose(f);
		ck_assert_ptr_nonnull(
		    strstr(text, "key 5: EC secp384r1, algorithms ecdsa-sha256, 0 uses left"));
		ck_assert_ptr_nonnull(strstr(text, "user PIN 3 of 3 tries left"));
		ck_assert_ptr_null(strstr(text, "648219"));
		free(text);
		ck_assert_int_eq(sim_card_read_ef(c, 0xCE05, &ce), 0);
		ck_assert(ce.len == req.len && memcmp(ce.data, req.data, req.len) == 0);
		ck_assert_int_lt(sim_card_read_ef(c, 0xCE06, &ce), 0);
		smk_buf_free(&ce);
	}
	/* and the same device key: chip authentication still verifies */
	sim_card_free(p.c);
	p.c = c;
	smsg_free(open_sm(&p));
	EVP_PKEY_free(pub);
	unlink(path);
	free(path);
	smk_buf_free(&req);
	smk_buf_free(&sig);
	smk_buf_free(&ef);
	pki_card_free(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim");
	TCase *tc = tcase_create("card");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, select_applet_and_classes);
	tcase_add_test(tc, verify_counts_and_blocks);
	tcase_add_test(tc, change_pin_and_transport_state);
	tcase_add_test(tc, initialize_device);
	tcase_add_test(tc, files_read_update_delete);
	tcase_add_test(tc, challenge_is_random);
	tcase_add_test(tc, state_survives_restart);
	tcase_add_test(tc, state_rejects_garbage);
	tcase_add_test(tc, faults_at_apdu_and_command);
	tcase_add_test(tc, fault_specs_are_checked);
	tcase_add_test(tc, latency_model);
	tcase_add_test(tc, log_has_headers_not_data);
	tcase_add_test(tc, device_pki_like_genuine);
	tcase_add_test(tc, cards_share_a_ca);
	tcase_add_test(tc, gakp_attests_every_curve_and_rsa);
	tcase_add_test(tc, gakp_large_rsa);
	tcase_add_test(tc, gakp_refusals);
	tcase_add_test(tc, sign_enforces_list_counter_domain);
	tcase_add_test(tc, ecdh_and_rsa_operations);
	tcase_add_test(tc, plain_apdu_during_sm_clears_pin);
	tcase_add_test(tc, sm_failures_and_faults);
	tcase_add_test(tc, keys_survive_restart);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
