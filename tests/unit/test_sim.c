/* The simulated SmartCard-HSM, driven in-process with raw APDUs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "helpers/testutil.h"
#include "sim/card.h"

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
	ck_sw(c, "0058000000", 0x6E00);	    /* ENUMERATE needs CLA 80 */
	ck_sw(c, "00CA000000", 0x6D00);	    /* unknown INS */
	ck_sw(c, "00A4", 0x6700);	    /* truncated header */
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
	ck_sw(c, "80500000 19 8002 0001 8106 363438323139 8208 3537363231383830 9101 03",
	      0x9000);
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
	ck_sw(c, "80500000 19 8002 0001 8106 363438323139 8208 3537363231383830 9101 00",
	      0x6A80);
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
	ck_sw(c, "00B1C401 04 53020000 00", 0x6A80); /* no offset DO */
	ck_sw(c, "00B1C401 03 540200 00", 0x6A80);   /* truncated offset DO */
	ck_sw(c, "00D7C401 04 54020000", 0x6A80);    /* no 53 */
	ck_sw(c, "00D7C401 07 54020000 5305 AA", 0x6A80); /* 53 longer than the data */
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
	"{\"format\":\"smkey-sim-state-1\",\"chr\":\"ZZSIM0000100000\",\"initialized\":true,"     \
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
	load_fails(GOOD_HEAD "\"files\":{},\"keys\":{\"1\":{\"type\":\"ec\",\"private\":\"3000\"}}}",
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
		"",		   "reset",	       "apdu=0:reset",	    "apdu=x:reset",
		"cmd=nosuch:reset", "cmd=gakp:explode", "cmd=gakp:sw=12",  "cmd=gakp:sw=9000x",
		"cmd=gakp:late",    "apdu=3:reset:times=2", "cmd=gakp:reset:often", "cmd=gakp:sw=0001",
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
	ck_assert_ptr_nonnull(strstr(text, "\"cmd\":\"verify\",\"sm\":false,\"header\":\"00200081\""));
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
	suite_add_tcase(s, tc);
	return tu_run(s);
}
