/* SPDX-License-Identifier: BSD-3-Clause */
/* SmartCard-HSM device and file commands: bytes against the protocol
 * reference, the chunk drivers against a scripted card, and every parser
 * against truncated, over-long and garbage answers. */
#include <string.h>

#include "tests/lib/testutil.h"
#include "sm/hsm.h"

/* EF 2F02 of the Nitrokey HSM 2 DENK0404144, ref §8.2 (464 bytes) */
static const char devaut_hex[] = "7F2181E47F4E819D5F290100420D444544494E4B303430303030317F494F060A0"
				 "4007F00070202020203864104854A60"
				 "8E6F7B27D4B990C0EEA68F6C1D738E0E38CC9C6D1CEEDE55C0583F0B7B3736355"
				 "1A876B8EC2B0DB88545ADFE418ABECD"
				 "555C128BE81A5C6A0361FCA1DF5F201044454E4B3034303431343430303030307"
				 "F4C10060B2B0601040181C31F030101"
				 "5301005F25060206000502085F24060301000502075F3740A4D5D47D41451FCFA"
				 "C7C8766EEBA2871CAA8086C6E789AF7"
				 "52A7968CF3310852962F428EEE0F209FBB6EB928E6DEFF8AA3CC97F4B8EDC0001"
				 "31683AAF291968F7F2181E47F4E819D"
				 "5F290100420E44455352434143433130303030317F494F060A04007F000702020"
				 "2020386410441BEF11216285DE54D35"
				 "BAE22FC4953E99EDD7D0294B45CF578AA8545E5F5BBB8F8AF9150E936F7F77777"
				 "B1EECC58F2D823FE520EBC430964889"
				 "A4463A7EB2425F200D444544494E4B303430303030317F4C10060B2B060104018"
				 "1C31F0301015301805F250602040100"
				 "03005F240603020100020965005F3740039567AA4930C8327D651E45B133B71E9"
				 "0F2C134EB385162B96913C0AB3AC265"
				 "110860CDAD312F970C2A652DA8B31BE8A8FAEA5B87CD146D517937D8B8771122";

static void assert_apdu(const apdu *a, const char *hex)
{
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	ck_assert_msg(apdu_encode(a, &b, &e) == 0, "%s", e.msg);
	tu_assert_hex(b.data, b.len, hex);
	smk_buf_free(&b);
}

START_TEST(select_bytes)
{
	apdu a;
	smk_err e;

	/* ref §1.2 and §5.9 row 1 */
	ck_assert_int_eq(hsm_build_select(&a, 0x00, &e), 0);
	assert_apdu(&a, "00A404000BE82B0601040181C31F020100");
	ck_assert_int_eq(hsm_build_select(&a, 0x04, &e), 0);
	assert_apdu(&a, "00A404040BE82B0601040181C31F020100");
	ck_assert_int_eq(hsm_build_select(&a, 0x0C, &e), 0);
	assert_apdu(&a, "00A4040C0BE82B0601040181C31F0201");
	ck_assert_int_eq(hsm_build_select(&a, 0x02, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_ARG);
}
END_TEST

START_TEST(select_fcp)
{
	/* FCP with the 5-byte device information: options 0001, JCOP build, 4.1 */
	static const char *good = "620A820100850500010004 01";
	smk_buf b = SMK_BUF_INIT;
	hsm_fcp f;
	smk_err e;

	tu_hex(&b, good);
	ck_assert_msg(hsm_parse_select(b.data, b.len, 0x9000, &f, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(f.version_major, 4);
	ck_assert_uint_eq(f.version_minor, 1);
	ck_assert(f.has_build_type && f.build_type == 0x00);
	ck_assert(f.has_options && f.options == 0x0001);
	/* every truncation of the answer is refused */
	for (size_t n = 0; n < b.len; n++)
		ck_assert_msg(hsm_parse_select(b.data, n, 0x9000, &f, &e) == -1, "prefix %zu", n);
	/* a byte after the FCP */
	ck_assert_int_eq(smk_buf_add_byte(&b, 0x00), 0);
	ck_assert_int_eq(hsm_parse_select(b.data, b.len, 0x9000, &f, &e), -1);
	smk_buf_free(&b);

	/* the 2-byte form gives the version only (pico / old firmware) */
	tu_hex(&b, "6204 85020317");
	ck_assert_int_eq(hsm_parse_select(b.data, b.len, 0x9000, &f, &e), 0);
	ck_assert(f.version_major == 3 && f.version_minor == 0x17);
	ck_assert(!f.has_build_type && !f.has_options);
	smk_buf_free(&b);

	/* no 85, or an 85 too short: not a SmartCard-HSM */
	tu_hex(&b, "6203 820138");
	ck_assert_int_eq(hsm_parse_select(b.data, b.len, 0x9000, &f, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_UNSUPPORTED);
	ck_assert(strstr(e.msg, "85") != NULL);
	smk_buf_free(&b);
	tu_hex(&b, "6203 850104");
	ck_assert_int_eq(hsm_parse_select(b.data, b.len, 0x9000, &f, &e), -1);
	smk_buf_free(&b);
	/* not an FCP at all */
	tu_hex(&b, "6F03 850104");
	ck_assert_int_eq(hsm_parse_select(b.data, b.len, 0x9000, &f, &e), -1);
	smk_buf_free(&b);
	/* the applet is not there */
	ck_assert_int_eq(hsm_parse_select(NULL, 0, 0x6A82, &f, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_CARD);
	ck_assert_uint_eq(e.sw, 0x6A82);
	ck_assert(strstr(e.msg, "SELECT") && strstr(e.msg, "6A82"));
}
END_TEST

START_TEST(enumerate)
{
	smk_buf b = SMK_BUF_INIT;
	hsm_objects o;
	uint8_t ids[255], id;
	apdu a;
	smk_err e;

	/* ref §2.2 / §7.10 step 5 */
	hsm_build_enumerate(&a, false);
	assert_apdu(&a, "8058000000");
	hsm_build_enumerate(&a, true);
	assert_apdu(&a, "80580000000000");

	/* device key, key 1 with PrKD and request, key 3 listed twice, a data object */
	tu_hex(&b, "CC00 CC01 C401 CE01 CC03 CF05 CC03 2F02");
	ck_assert_int_eq(hsm_parse_enumerate(b.data, b.len, 0x9000, &o, &e), 0);
	ck_assert_uint_eq(o.count, 8);
	ck_assert_uint_eq(hsm_objects_fid(&o, 2), 0xC401);
	ck_assert(hsm_objects_has(&o, HSM_FID(HSM_PREFIX_CERT, 1)));
	ck_assert(!hsm_objects_has(&o, HSM_FID(HSM_PREFIX_CERT, 3)));
	ck_assert_uint_eq(hsm_key_ids(&o, ids), 2);
	ck_assert(ids[0] == 1 && ids[1] == 3);
	ck_assert_int_eq(hsm_free_key_id(&o, &id, &e), 0);
	ck_assert_uint_eq(id, 2);
	/* odd length: a torn FID */
	ck_assert_int_eq(hsm_parse_enumerate(b.data, b.len - 1, 0x9000, &o, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_FORMAT);
	ck_assert_int_eq(hsm_parse_enumerate(b.data, b.len, 0x6982, &o, &e), -1);
	ck_assert(strstr(e.msg, "ENUMERATE OBJECTS refused, SW 6982") != NULL);
	smk_buf_free(&b);

	/* only the device key: 1 is free */
	tu_hex(&b, "CC00");
	ck_assert_int_eq(hsm_parse_enumerate(b.data, b.len, 0x9000, &o, &e), 0);
	ck_assert_int_eq(hsm_free_key_id(&o, &id, &e), 0);
	ck_assert_uint_eq(id, 1);
	smk_buf_free(&b);

	/* every slot taken */
	for (unsigned i = 0; i <= 255; i++) {
		ck_assert_int_eq(smk_buf_add_byte(&b, HSM_PREFIX_KEY), 0);
		ck_assert_int_eq(smk_buf_add_byte(&b, (uint8_t)i), 0);
	}
	ck_assert_int_eq(hsm_parse_enumerate(b.data, b.len, 0x9000, &o, &e), 0);
	ck_assert_uint_eq(hsm_key_ids(&o, ids), 255);
	ck_assert_int_eq(hsm_free_key_id(&o, &id, &e), -1);
	smk_buf_free(&b);
}
END_TEST

START_TEST(read_binary_bytes)
{
	smk_buf d = SMK_BUF_INIT;
	apdu a;
	smk_err e;

	/* ref §2.3 short and extended, §5.9 row 2 */
	ck_assert_int_eq(hsm_build_read_binary(&a, &d, 0x2F02, 0, false, &e), 0);
	assert_apdu(&a, "00B12F02045402000000");
	ck_assert_int_eq(hsm_build_read_binary(&a, &d, 0x2F02, 256, false, &e), 0);
	assert_apdu(&a, "00B12F02045402010000");
	ck_assert_int_eq(hsm_build_read_binary(&a, &d, 0xCE03, 0x1234, true, &e), 0);
	assert_apdu(&a, "00B1CE0300000454021234 0000");
	ck_assert_int_eq(hsm_build_read_binary(&a, &d, 0xCE03, 0x10000, false, &e), -1);
	smk_buf_free(&d);
}
END_TEST

/* A scripted card for the reader: serves `file` and may misbehave. */
enum card_mode { CARD_6282, CARD_9000, CARD_ENDLESS, CARD_OVERSEND, CARD_MISSING };

static int run_reader(const smk_buf *file, enum card_mode mode, bool ext, size_t max,
		      smk_buf *content, size_t *commands, smk_err *e)
{
	hsm_reader r;
	apdu a;
	int rc;
	uint8_t filler[300];

	memset(filler, 0xAB, sizeof(filler));
	*commands = 0;
	hsm_read_init(&r, 0x2F02, ext, max, content);
	while ((rc = hsm_read_next(&r, &a, e)) == 1) {
		size_t off, n;
		uint16_t sw = 0x9000;

		/* the card side sees what a real card would */
		ck_assert_uint_eq(a.ins, 0xB1);
		ck_assert_int_eq(hsm_parse_read_binary_cmd(a.data, a.lc, &off, e), 0);
		ck_assert_uint_eq(off, r.offset);
		(*commands)++;
		if (mode == CARD_MISSING)
			return hsm_read_feed(&r, NULL, 0, 0x6A82, e);
		if (mode == CARD_ENDLESS)
			rc = hsm_read_feed(&r, filler, a.ne > 256 ? 256 : a.ne, 0x9000, e);
		else if (mode == CARD_OVERSEND)
			rc = hsm_read_feed(&r, filler, 257, 0x9000, e);
		else {
			n = off >= file->len ? 0 : file->len - off;
			if (n >= a.ne)
				n = a.ne;
			else if (mode == CARD_6282)
				sw = 0x6282;
			rc = hsm_read_feed(&r, n ? file->data + off : NULL, n, sw, e);
		}
		if (rc < 0)
			return -1;
		if (*commands > 1000)
			ck_abort_msg("reader never stops");
	}
	return rc;
}

START_TEST(read_driver)
{
	smk_buf file = SMK_BUF_INIT, got = SMK_BUF_INIT;
	size_t cmds;
	smk_err e;

	tu_hex(&file, devaut_hex);
	ck_assert_uint_eq(file.len, 464);

	/* 6282 at the end: two short reads, ref §4.4 step 1 */
	ck_assert_msg(run_reader(&file, CARD_6282, false, 4096, &got, &cmds, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(cmds, 2);
	ck_assert(got.len == file.len && memcmp(got.data, file.data, file.len) == 0);
	smk_buf_reset(&got);
	/* 9000 with a short last chunk stops just as well */
	ck_assert_int_eq(run_reader(&file, CARD_9000, false, 4096, &got, &cmds, &e), 0);
	ck_assert_uint_eq(cmds, 2);
	ck_assert(got.len == file.len && memcmp(got.data, file.data, file.len) == 0);
	smk_buf_reset(&got);
	/* one extended read returns everything */
	ck_assert_int_eq(run_reader(&file, CARD_9000, true, 4096, &got, &cmds, &e), 0);
	ck_assert_uint_eq(cmds, 1);
	ck_assert_uint_eq(got.len, 464);
	smk_buf_reset(&got);

	/* a file of exactly 512 bytes: the third read gets nothing and ends it */
	{
		smk_buf f512 = SMK_BUF_INIT;

		for (int i = 0; i < 512; i++)
			ck_assert_int_eq(smk_buf_add_byte(&f512, (uint8_t)i), 0);
		ck_assert_int_eq(run_reader(&f512, CARD_9000, false, 4096, &got, &cmds, &e), 0);
		ck_assert_uint_eq(cmds, 3);
		ck_assert(got.len == 512 && memcmp(got.data, f512.data, 512) == 0);
		smk_buf_reset(&got);
		/* the bound is inclusive: exactly 512 allowed, 511 not */
		ck_assert_int_eq(run_reader(&f512, CARD_9000, false, 512, &got, &cmds, &e), 0);
		smk_buf_reset(&got);
		ck_assert_int_eq(run_reader(&f512, CARD_9000, false, 511, &got, &cmds, &e), -1);
		ck_assert(strstr(e.msg, "511") != NULL);
		smk_buf_reset(&got);
		smk_buf_free(&f512);
	}

	/* a hostile card that never stops is cut off at the bound */
	ck_assert_int_eq(run_reader(&file, CARD_ENDLESS, false, 10000, &got, &cmds, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_FORMAT);
	ck_assert_uint_le(got.len, 10000);
	ck_assert_uint_le(cmds, 40);
	smk_buf_reset(&got);
	/* more than asked for */
	ck_assert_int_eq(run_reader(&file, CARD_OVERSEND, false, 10000, &got, &cmds, &e), -1);
	ck_assert(strstr(e.msg, "257") != NULL);
	smk_buf_reset(&got);
	/* the file is not there: the SW and the FID are named */
	ck_assert_int_eq(run_reader(&file, CARD_MISSING, false, 10000, &got, &cmds, &e), -1);
	ck_assert_str_eq(e.msg, "READ BINARY 2F02 refused, SW 6A82 (file or key not found)");
	ck_assert_uint_eq(e.sw, 0x6A82);

	smk_buf_free(&file);
	smk_buf_free(&got);
}
END_TEST

/* A card of other firmware: a short READ BINARY answers at most 256 bytes
 * and SW 61xx while more is left (ISO 7816-4 "more data"); GET RESPONSE
 * gives the rest. At the end of the file a READ BINARY answers with end
 * (6282, nothing) or with 6B00 when end_6b00. */
static int run_61xx_card(const smk_buf *file, bool end_6b00, bool hostile, size_t max,
			 smk_buf *content, size_t *reads, size_t *gets, smk_err *e)
{
	hsm_reader r;
	apdu a;
	size_t pending = 0, pos = 0; /* bytes GET RESPONSE still has, from pos */
	int rc;

	*reads = *gets = 0;
	hsm_read_init(&r, 0x2F02, false, max, content);
	while ((rc = hsm_read_next(&r, &a, e)) == 1) {
		size_t off, n;
		uint16_t sw;

		if (*reads + *gets > 1000)
			ck_abort_msg("reader never stops");
		if (a.ins == 0xC0) {
			(*gets)++;
			ck_assert_uint_gt(pending, 0);
			ck_assert_msg(hostile || a.ne == (pending > 255 ? 256 : pending),
				      "GET RESPONSE Le %zu, %zu pending", a.ne, pending);
			if (hostile) /* announces more, forever */
				rc = hsm_read_feed(&r, file->data, 200, 0x61FF, e);
			else {
				n = pending < a.ne ? pending : a.ne;
				pending -= n;
				sw = pending == 0
					 ? 0x9000
					 : (uint16_t)(0x6100 | (pending > 255 ? 0 : pending));
				rc = hsm_read_feed(&r, file->data + pos, n, sw, e);
				pos += n;
			}
		} else {
			(*reads)++;
			ck_assert_uint_eq(a.ins, 0xB1);
			ck_assert_int_eq(hsm_parse_read_binary_cmd(a.data, a.lc, &off, e), 0);
			ck_assert_uint_eq(a.ne, 256);
			if (off >= file->len) {
				rc = hsm_read_feed(&r, NULL, 0, end_6b00 ? 0x6B00 : 0x6282, e);
			} else {
				n = file->len - off > 256 ? 256 : file->len - off;
				pending = file->len - off - n;
				pos = off + n;
				sw = pending ? (uint16_t)(0x6100 | (pending > 255 ? 0 : pending))
					     : 0x6282;
				rc = hsm_read_feed(&r, file->data + off, n, sw, e);
			}
		}
		if (rc < 0)
			return -1;
	}
	return rc;
}

START_TEST(read_driver_more_data)
{
	smk_buf file = SMK_BUF_INIT, got = SMK_BUF_INIT, big = SMK_BUF_INIT;
	size_t reads, gets;
	hsm_reader r;
	apdu a;
	smk_err e;
	int i;

	tu_hex(&file, devaut_hex);
	/* 256 bytes + 61D0, GET RESPONSE 00 C0 00 00 D0, then the end */
	ck_assert_msg(run_61xx_card(&file, false, false, 4096, &got, &reads, &gets, &e) == 0, "%s",
		      e.msg);
	ck_assert_uint_eq(reads, 2);
	ck_assert_uint_eq(gets, 1);
	ck_assert(got.len == file.len && memcmp(got.data, file.data, file.len) == 0);
	smk_buf_reset(&got);
	/* a card that says 6B00 at the end reached through GET RESPONSE */
	ck_assert_msg(run_61xx_card(&file, true, false, 4096, &got, &reads, &gets, &e) == 0, "%s",
		      e.msg);
	ck_assert(got.len == file.len && memcmp(got.data, file.data, file.len) == 0);
	smk_buf_reset(&got);
	/* more than 255 left: 6100, GET RESPONSE asks for 256, then 61xx again */
	for (i = 0; i < 900; i++)
		ck_assert_int_eq(smk_buf_add_byte(&big, (uint8_t)(i * 7)), 0);
	ck_assert_msg(run_61xx_card(&big, false, false, 4096, &got, &reads, &gets, &e) == 0, "%s",
		      e.msg);
	ck_assert_uint_eq(gets, 3);
	ck_assert(got.len == 900 && memcmp(got.data, big.data, 900) == 0);
	smk_buf_reset(&got);
	/* the bound holds across GET RESPONSE, and a card that announces more
	 * forever is cut off there */
	ck_assert_int_eq(run_61xx_card(&big, false, false, 899, &got, &reads, &gets, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_FORMAT);
	smk_buf_reset(&got);
	ck_assert_int_eq(run_61xx_card(&big, false, true, 2000, &got, &reads, &gets, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_FORMAT);
	ck_assert_msg(strstr(e.msg, "GET RESPONSE") && strstr(e.msg, "2000"), "%s", e.msg);
	smk_buf_reset(&got);

	/* the command bytes: case 2, Le as 61xx announced */
	hsm_read_init(&r, 0x2F02, false, 4096, &got);
	ck_assert_int_eq(hsm_read_next(&r, &a, &e), 1);
	ck_assert_int_eq(hsm_read_feed(&r, file.data, 256, 0x61D0, &e), 0);
	ck_assert_int_eq(hsm_read_next(&r, &a, &e), 1);
	assert_apdu(&a, "00C00000D0");
	/* 61xx that brings nothing would never end: refused */
	ck_assert_int_eq(hsm_read_feed(&r, NULL, 0, 0x61D0, &e), -1);
	ck_assert_msg(strstr(e.msg, "61D0") && strstr(e.msg, "none came"), "%s", e.msg);
	smk_buf_reset(&got);
	/* 6B00 on a read not following GET RESPONSE stays an error */
	hsm_read_init(&r, 0x2F02, false, 4096, &got);
	ck_assert_int_eq(hsm_read_next(&r, &a, &e), 1);
	ck_assert_int_eq(hsm_read_feed(&r, NULL, 0, 0x6B00, &e), -1);

	smk_buf_free(&file);
	smk_buf_free(&big);
	smk_buf_free(&got);
}
END_TEST

START_TEST(read_driver_misuse)
{
	smk_buf out = SMK_BUF_INIT;
	hsm_reader r;
	apdu a;
	smk_err e;

	hsm_read_init(&r, 0xC401, false, 100, &out);
	/* an answer without a command */
	ck_assert_int_eq(hsm_read_feed(&r, NULL, 0, 0x9000, &e), -1);
	ck_assert_int_eq(hsm_read_next(&r, &a, &e), 1);
	/* two commands without an answer */
	ck_assert_int_eq(hsm_read_next(&r, &a, &e), -1);
	ck_assert_str_eq(e.msg, "READ BINARY C401: previous command not answered");
	ck_assert_int_eq(hsm_read_feed(&r, NULL, 0, 0x6982, &e), -1);
	/* after a failure the reader stays failed */
	ck_assert_int_eq(hsm_read_next(&r, &a, &e), -1);
	ck_assert_str_eq(e.msg, "READ BINARY C401: reader used after an error");
	/* no bound: refused rather than unbounded */
	hsm_read_init(&r, 0xC401, false, 0, &out);
	ck_assert_int_eq(hsm_read_next(&r, &a, &e), -1);
	smk_buf_free(&out);
}
END_TEST

START_TEST(update_binary_bytes)
{
	static const uint8_t prkd[] = {0xA0, 0x03, 0x30, 0x01, 0x00};
	smk_buf d = SMK_BUF_INIT;
	apdu a;
	smk_err e;

	/* ref §2.4 and §7.10 step 8 */
	ck_assert_int_eq(hsm_build_update_binary(&a, &d, 0xC401, 0, prkd, sizeof(prkd), &e), 0);
	assert_apdu(&a, "00D7C4010B54020000 5305A003300100");
	/* creating an empty EF */
	ck_assert_int_eq(hsm_build_update_binary(&a, &d, 0xC401, 0, NULL, 0, &e), 0);
	assert_apdu(&a, "00D7C401065402000053 00");
	/* DER length of 53: 81 xx from 128 bytes */
	{
		uint8_t big[200];

		memset(big, 0x11, sizeof(big));
		ck_assert_int_eq(hsm_build_update_binary(&a, &d, 0xCE01, 0x0100, big, 200, &e), 0);
		ck_assert_uint_eq(a.lc, 4 + 3 + 200);
		tu_assert_hex(a.data, 7, "54020100 5381C8");
	}
	/* ref §2.5 */
	ck_assert_int_eq(hsm_build_delete_file(&a, &d, 0xCC01, &e), 0);
	assert_apdu(&a, "00E4020002CC01");
	smk_buf_free(&d);
}
END_TEST

START_TEST(update_chunks)
{
	/* ref §1.4: 255 data bytes carry 248 content bytes */
	ck_assert_uint_eq(hsm_update_chunk_len(255), 248);
	ck_assert_uint_eq(hsm_update_chunk_len(6), 0);
	ck_assert_uint_eq(hsm_update_chunk_len(7), 1);
	/* for every limit the chunk is the largest that still fits */
	for (size_t max = 7; max < 70000; max += (max < 600 ? 1 : 997)) {
		size_t c = hsm_update_chunk_len(max), lim = max > 65535 ? 65535 : max;
		size_t lensz = c < 0x80 ? 1 : c <= 0xFF ? 2 : 3;
		size_t lensz1 = c + 1 < 0x80 ? 1 : c + 1 <= 0xFF ? 2 : 3;

		ck_assert_msg(5 + lensz + c <= lim, "max %zu chunk %zu overflows", max, c);
		ck_assert_msg(5 + lensz1 + c + 1 > lim, "max %zu chunk %zu not the largest", max,
			      c);
	}
}
END_TEST

/* Run a writer against a card that assembles the file from the commands. */
static int run_writer(const uint8_t *content, size_t len, size_t max_data, uint16_t fail_sw,
		      size_t fail_at, smk_buf *file, size_t *commands, smk_err *e)
{
	hsm_writer w;
	apdu a;
	int rc;

	*commands = 0;
	if (hsm_write_init(&w, 0xCE07, content, len, max_data, e) < 0) {
		hsm_write_free(&w);
		return -1;
	}
	while ((rc = hsm_write_next(&w, &a, e)) == 1) {
		smk_buf enc = SMK_BUF_INIT;
		const uint8_t *chunk;
		size_t off, n;

		ck_assert_uint_le(a.lc, max_data);
		ck_assert_int_eq(apdu_encode(&a, &enc, e), 0);
		smk_buf_free(&enc);
		ck_assert_int_eq(hsm_parse_update_binary_cmd(a.data, a.lc, &off, &chunk, &n, e), 0);
		ck_assert_uint_eq(off, file->len);
		ck_assert_int_eq(smk_buf_add(file, chunk, n), 0);
		(*commands)++;
		if (hsm_write_feed(&w, *commands == fail_at ? fail_sw : 0x9000, e) < 0) {
			rc = -1;
			break;
		}
	}
	hsm_write_free(&w);
	return rc;
}

START_TEST(update_driver)
{
	uint8_t content[600];
	smk_buf file = SMK_BUF_INIT;
	size_t cmds;
	smk_err e;

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (uint8_t)(i * 7);
	ck_assert_int_eq(run_writer(content, 600, 255, 0, 0, &file, &cmds, &e), 0);
	ck_assert_uint_eq(cmds, 3); /* 248 + 248 + 104 */
	ck_assert(file.len == 600 && memcmp(file.data, content, 600) == 0);
	smk_buf_reset(&file);
	/* extended commands: one is enough */
	ck_assert_int_eq(run_writer(content, 600, 1223, 0, 0, &file, &cmds, &e), 0);
	ck_assert_uint_eq(cmds, 1);
	ck_assert(file.len == 600 && memcmp(file.data, content, 600) == 0);
	smk_buf_reset(&file);
	/* empty content: one command creating the EF */
	ck_assert_int_eq(run_writer(NULL, 0, 255, 0, 0, &file, &cmds, &e), 0);
	ck_assert_uint_eq(cmds, 1);
	ck_assert_uint_eq(file.len, 0);
	/* the card refuses the second chunk: SW, FID and offset are named */
	ck_assert_int_eq(run_writer(content, 600, 255, 0x6A84, 2, &file, &cmds, &e), -1);
	ck_assert_str_eq(e.msg,
			 "UPDATE BINARY CE07 at offset 248 refused, SW 6A84 (not enough memory)");
	ck_assert_uint_eq(e.sw, 0x6A84);
	ck_assert_uint_eq(cmds, 2);
	/* too small a command size to carry anything */
	ck_assert_int_eq(run_writer(content, 600, 6, 0, 0, &file, &cmds, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_ARG);
	smk_buf_free(&file);
}
END_TEST

START_TEST(update_driver_misuse)
{
	const uint8_t content[4] = {1, 2, 3, 4};
	hsm_writer w;
	apdu a;
	smk_err e;

	ck_assert_int_eq(hsm_write_init(&w, 0xCE07, content, sizeof(content), 255, &e), 0);
	ck_assert_int_eq(hsm_write_next(&w, &a, &e), 1);
	/* two commands without an answer */
	ck_assert_int_eq(hsm_write_next(&w, &a, &e), -1);
	ck_assert_str_eq(e.msg, "UPDATE BINARY CE07: previous command not answered");
	ck_assert_int_eq(hsm_write_feed(&w, 0x6A84, &e), -1);
	/* after a failure the writer stays failed */
	ck_assert_int_eq(hsm_write_next(&w, &a, &e), -1);
	ck_assert_str_eq(e.msg, "UPDATE BINARY CE07: writer used after an error");
	ck_assert_int_eq(e.code, SMK_E_ARG);
	hsm_write_free(&w);
}
END_TEST

START_TEST(file_commands_card_side)
{
	static const char *bad_read[] = {"",	       "54",	     "5402", "540201",
					 "54020100FF", "5403000100", "5400", "53020000"};
	static const char *bad_update[] = {
	    "54020000",		  "540200005302AA",	    "5302AABB54020000",
	    "5402000053 01AA 00", "54020000 5301AA 5301BB", "5405000000000053 00"};
	smk_buf b = SMK_BUF_INIT;
	const uint8_t *content;
	size_t off, n;
	uint16_t fid;
	smk_err e;

	tu_hex(&b, "54020100");
	ck_assert_int_eq(hsm_parse_read_binary_cmd(b.data, b.len, &off, &e), 0);
	ck_assert_uint_eq(off, 256);
	smk_buf_free(&b);
	tu_hex(&b, "5401FF");
	ck_assert_int_eq(hsm_parse_read_binary_cmd(b.data, b.len, &off, &e), 0);
	ck_assert_uint_eq(off, 255);
	smk_buf_free(&b);
	for (size_t i = 0; i < sizeof(bad_read) / sizeof(bad_read[0]); i++) {
		tu_hex(&b, bad_read[i]);
		ck_assert_msg(hsm_parse_read_binary_cmd(b.data, b.len, &off, &e) == -1,
			      "accepted %s", bad_read[i]);
		smk_buf_free(&b);
	}

	tu_hex(&b, "54020010 5303AABBCC");
	ck_assert_int_eq(hsm_parse_update_binary_cmd(b.data, b.len, &off, &content, &n, &e), 0);
	ck_assert_uint_eq(off, 16);
	tu_assert_hex(content, n, "AABBCC");
	for (size_t len = 0; len < b.len; len++)
		ck_assert_msg(hsm_parse_update_binary_cmd(b.data, len, &off, &content, &n, &e) ==
				  -1,
			      "prefix %zu", len);
	smk_buf_free(&b);
	for (size_t i = 0; i < sizeof(bad_update) / sizeof(bad_update[0]); i++) {
		tu_hex(&b, bad_update[i]);
		ck_assert_msg(hsm_parse_update_binary_cmd(b.data, b.len, &off, &content, &n, &e) ==
				  -1,
			      "accepted %s", bad_update[i]);
		smk_buf_free(&b);
	}

	tu_hex(&b, "C402");
	ck_assert_int_eq(hsm_parse_delete_file_cmd(b.data, b.len, &fid, &e), 0);
	ck_assert_uint_eq(fid, 0xC402);
	ck_assert_int_eq(hsm_parse_delete_file_cmd(b.data, 1, &fid, &e), -1);
	smk_buf_free(&b);
}
END_TEST

START_TEST(verify_pin)
{
	static const uint8_t pin[] = "648219";
	static const uint8_t longpin[] = "12345678901234567";
	hsm_pin_status st;
	apdu a;
	smk_err e;

	/* ref §5.11 command 1, plain form */
	ck_assert_int_eq(hsm_build_verify_pin(&a, pin, 6, &e), 0);
	assert_apdu(&a, "0020008106363438323139");
	ck_assert(a.data == pin); /* no copy of the PIN */
	ck_assert_int_eq(hsm_build_verify_pin(&a, longpin, 16, &e), 0);
	/* length limits, and the PIN never shows in the message */
	ck_assert_int_eq(hsm_build_verify_pin(&a, pin, 5, &e), -1);
	ck_assert(strstr(e.msg, "64821") == NULL);
	ck_assert_int_eq(hsm_build_verify_pin(&a, longpin, 17, &e), -1);
	ck_assert(strstr(e.msg, "1234") == NULL);
	ck_assert_int_eq(e.code, SMK_E_ARG);

	/* ref §7.1 status query; Le 00 for SM on JCOP (ref §5.6) */
	hsm_build_pin_status(&a, false);
	assert_apdu(&a, "00200081");
	hsm_build_pin_status(&a, true);
	assert_apdu(&a, "0020008100");

	ck_assert_int_eq(hsm_parse_pin_status(0, 0x9000, &st, &e), 0);
	ck_assert_int_eq(st.state, HSM_PIN_VERIFIED);
	ck_assert_int_eq(hsm_parse_pin_status(0, 0x63C2, &st, &e), 0);
	ck_assert(st.state == HSM_PIN_NOT_VERIFIED && st.tries_left == 2);
	ck_assert_int_eq(hsm_parse_pin_status(0, 0x63C0, &st, &e), 0);
	ck_assert_int_eq(st.state, HSM_PIN_BLOCKED);
	ck_assert_int_eq(hsm_parse_pin_status(0, 0x6983, &st, &e), 0);
	ck_assert_int_eq(st.state, HSM_PIN_BLOCKED);
	ck_assert_int_eq(hsm_parse_pin_status(0, 0x6984, &st, &e), 0);
	ck_assert_int_eq(st.state, HSM_PIN_TRANSPORT);
	ck_assert_int_eq(hsm_parse_pin_status(0, 0x6A88, &st, &e), 0);
	ck_assert_int_eq(st.state, HSM_PIN_NOT_INITIALISED);
	ck_assert_int_eq(hsm_parse_pin_status(0, 0x6A80, &st, &e), -1);
	ck_assert(strstr(e.msg, "VERIFY PIN refused, SW 6A80") != NULL);
	ck_assert_int_eq(hsm_parse_pin_status(2, 0x9000, &st, &e), -1);

	/* what a user reads */
	ck_assert_int_eq(hsm_verify_result(0, 0x9000, &e), 0);
	ck_assert_int_eq(hsm_verify_result(0, 0x63C1, &e), -1);
	ck_assert_str_eq(e.msg, "VERIFY PIN refused, SW 63C1 (wrong PIN, 1 tries left)");
	ck_assert_uint_eq(e.sw, 0x63C1);
	ck_assert_int_eq(hsm_verify_result(0, 0x6983, &e), -1);
	ck_assert(strstr(e.msg, "blocked") != NULL);
	ck_assert_int_eq(hsm_verify_result(0, 0x6984, &e), -1);
	ck_assert(strstr(e.msg, "transport PIN") != NULL);
	ck_assert_uint_eq(e.sw, 0x6984);
	ck_assert_int_eq(hsm_verify_result(0, 0x6A88, &e), -1);
	ck_assert(strstr(e.msg, "not initialised") != NULL);
	ck_assert_int_eq(e.code, SMK_E_CARD);
}
END_TEST

START_TEST(get_challenge)
{
	static const uint8_t rnd[8] = {0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8};
	apdu a;
	smk_err e;

	/* ref §5.11 command 2, plain form */
	ck_assert_int_eq(hsm_build_get_challenge(&a, 8, &e), 0);
	assert_apdu(&a, "0084000008");
	ck_assert_int_eq(hsm_build_get_challenge(&a, 1024, &e), 0);
	assert_apdu(&a, "00840000000400");
	ck_assert_int_eq(hsm_build_get_challenge(&a, 0, &e), -1);
	ck_assert_int_eq(hsm_build_get_challenge(&a, 1025, &e), -1);
	ck_assert_int_eq(hsm_parse_challenge(rnd, 8, 0x9000, 8, &e), 0);
	ck_assert_int_eq(hsm_parse_challenge(rnd, 7, 0x9000, 8, &e), -1);
	ck_assert_int_eq(hsm_parse_challenge(rnd, 8, 0x6700, 8, &e), -1);
	ck_assert(strstr(e.msg, "GET CHALLENGE refused, SW 6700") != NULL);
}
END_TEST

START_TEST(initialize)
{
	/* ref §7.6: the sc-hsm-embedded key-generator example */
	static const uint8_t pin[] = "654321";
	static const uint8_t sopin[8] = {0x35, 0x37, 0x36, 0x32, 0x31, 0x38, 0x38, 0x30};
	static const char *bad[] = {
	    "80020001810636353433323182093537363231383830 00", /* SO-PIN 9 bytes */
	    "800200018106363534333231",			       /* no SO-PIN */
	    "80020001810536353433328208 3537363231383830",     /* PIN 5 bytes */
	    "80020001 8106363534333231 82083537363231383830 910100",
	    "80020001 8106363534333231 82083537363231383830 93020101",
	    "80020001 8106363534333231 8106363534333231 82083537363231383830",
	    "800100 8106363534333231 82083537363231383830",
	    "",
	};
	hsm_init_params p = {.options = 0x0002,
			     .pin = pin,
			     .pin_len = 6,
			     .so_pin = sopin,
			     .retry_counter = 3,
			     .key_domains = 1};
	hsm_init_params q;
	smk_buf d = SMK_BUF_INIT;
	apdu a;
	smk_err e;

	ck_assert_int_eq(hsm_build_initialize(&a, &d, &p, &e), 0);
	assert_apdu(&a, "805000001C 80020002 8106363534333231 82083537363231383830 910103 970101");
	ck_assert(d.secret); /* it holds both PINs */

	ck_assert_int_eq(hsm_parse_initialize_cmd(a.data, a.lc, &q, &e), 0);
	ck_assert_uint_eq(q.options, 0x0002);
	ck_assert(q.pin_len == 6 && memcmp(q.pin, pin, 6) == 0);
	ck_assert(memcmp(q.so_pin, sopin, 8) == 0);
	ck_assert(q.retry_counter == 3 && q.key_domains == 1 && !q.has_dkek_shares);
	for (size_t n = 1; n < a.lc; n++)
		ck_assert_msg(hsm_parse_initialize_cmd(a.data, n, &q, &e) == -1 || n == 25 ||
				  n == 22,
			      "prefix %zu", n);

	/* DKEK shares 0 is meaningful (pico: random DKEK) and must survive */
	p.has_dkek_shares = true;
	p.dkek_shares = 0;
	ck_assert_int_eq(hsm_build_initialize(&a, &d, &p, &e), 0);
	ck_assert_int_eq(hsm_parse_initialize_cmd(a.data, a.lc, &q, &e), 0);
	ck_assert(q.has_dkek_shares && q.dkek_shares == 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		smk_buf b = SMK_BUF_INIT;

		tu_hex(&b, bad[i]);
		ck_assert_msg(hsm_parse_initialize_cmd(b.data, b.len, &q, &e) == -1, "accepted %s",
			      bad[i]);
		smk_buf_free(&b);
	}

	p.pin_len = 5;
	ck_assert_int_eq(hsm_build_initialize(&a, &d, &p, &e), -1);
	p.pin_len = 6;
	p.retry_counter = 11;
	ck_assert_int_eq(hsm_build_initialize(&a, &d, &p, &e), -1);
	smk_buf_free(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hsm");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, select_bytes);
	tcase_add_test(tc, select_fcp);
	tcase_add_test(tc, enumerate);
	tcase_add_test(tc, read_binary_bytes);
	tcase_add_test(tc, read_driver);
	tcase_add_test(tc, read_driver_more_data);
	tcase_add_test(tc, read_driver_misuse);
	tcase_add_test(tc, update_binary_bytes);
	tcase_add_test(tc, update_chunks);
	tcase_add_test(tc, update_driver);
	tcase_add_test(tc, update_driver_misuse);
	tcase_add_test(tc, file_commands_card_side);
	tcase_add_test(tc, verify_pin);
	tcase_add_test(tc, get_challenge);
	tcase_add_test(tc, initialize);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
