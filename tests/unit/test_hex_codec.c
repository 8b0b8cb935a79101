/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one hex, base64, SHA-256 and canonical JSON codec of common/: known
 * vectors (RFC 4648 section 10, FIPS 180-2), both hex cases, odd and hostile
 * input, and the canonical encoding an outside auditor re-computes (RFC 8785:
 * \u escapes in lower case, '/' and non-ASCII as themselves).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/b64.h"
#include "common/digest.h"
#include "common/hex.h"
#include "common/json.h"
#include "common/user.h"
#include "tests/lib/testutil.h"

static const uint8_t all_nibbles[] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF};

START_TEST(hex_both_cases)
{
	char out[2 * sizeof(all_nibbles) + 1];
	char *s;

	smk_hex_to(out, all_nibbles, sizeof(all_nibbles), SMK_HEX_LOWER);
	ck_assert_str_eq(out, "0123456789abcdef");
	smk_hex_to(out, all_nibbles, sizeof(all_nibbles), SMK_HEX_UPPER);
	ck_assert_str_eq(out, "0123456789ABCDEF");
	s = smk_hex(all_nibbles, sizeof(all_nibbles));
	ck_assert_str_eq(s, "0123456789ABCDEF");
	free(s);
	s = smk_hex_alloc(all_nibbles, sizeof(all_nibbles), SMK_HEX_LOWER);
	ck_assert_str_eq(s, "0123456789abcdef");
	free(s);
	/* nothing to encode is the empty string, not NULL */
	s = smk_hex_alloc(all_nibbles, 0, SMK_HEX_LOWER);
	ck_assert_str_eq(s, "");
	free(s);
	out[0] = 'x';
	smk_hex_to(out, all_nibbles, 0, SMK_HEX_UPPER);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(hex_decode_round_trip_and_odd_input)
{
	smk_buf b = SMK_BUF_INIT;
	smk_err e = {0};

	ck_assert_int_eq(smk_hex_decode("01 23:45 67 89ab CDef", &b, &e), 0);
	ck_assert_uint_eq(b.len, sizeof(all_nibbles));
	ck_assert_mem_eq(b.data, all_nibbles, sizeof(all_nibbles));
	smk_buf_free(&b);
	ck_assert_int_eq(smk_hex_decode("ABC", &b, &e), -1);
	ck_assert_str_eq(e.msg, "hex: odd number of digits");
	ck_assert_int_eq(smk_hex_decode("0g", &b, &e), -1);
	ck_assert_str_eq(e.msg, "hex: character 2 is not a hex digit");
	smk_buf_free(&b);
	ck_assert_int_eq(smk_hex_digit('f'), 15);
	ck_assert_int_eq(smk_hex_digit('F'), 15);
	ck_assert_int_eq(smk_hex_digit('G'), -1);
}
END_TEST

/* RFC 4648 section 10 */
static const char *const b64_vectors[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

START_TEST(b64_rfc4648_vectors)
{
	size_t i;

	for (i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
		const char *plain = b64_vectors[i][0], *text = b64_vectors[i][1];
		smk_buf b = SMK_BUF_INIT;
		smk_err e = {0};
		char *s = smk_b64((const uint8_t *)plain, strlen(plain));
		json_t *j = smk_json_b64((const uint8_t *)plain, strlen(plain));

		ck_assert_str_eq(s, text);
		ck_assert_uint_eq(smk_b64_len(strlen(plain)), strlen(text));
		ck_assert_str_eq(json_string_value(j), text);
		ck_assert_int_eq(smk_b64_decode(text, strlen(text), &b, "vector", &e), 0);
		ck_assert_uint_eq(b.len, strlen(plain));
		if (b.len)
			ck_assert_mem_eq(b.data, plain, b.len);
		smk_buf_free(&b);
		json_decref(j);
		free(s);
	}
}
END_TEST

START_TEST(b64_strict_decoding)
{
	static const char *const bad[][2] = {
	    {"Zm9", "t: base64 length 3 is not a multiple of 4"},
	    {"Zm=v", "t: invalid base64 at offset 3"},
	    {"Zm 9", "t: invalid base64 at offset 2"},
	    {"Z===", "t: invalid base64 at offset 1"},
	    /* unused bits not zero: a second text for the same bytes */
	    {"Zh==", "t: non-canonical base64"},
	    {"Zm9=", "t: non-canonical base64"},
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		smk_buf b = SMK_BUF_INIT;
		smk_err e = {0};

		ck_assert_int_eq(smk_b64_decode(bad[i][0], strlen(bad[i][0]), &b, "t", &e), -1);
		ck_assert_str_eq(e.msg, bad[i][1]);
		ck_assert_int_eq(e.code, SMK_E_FORMAT);
		ck_assert_uint_eq(b.len, 0);
		smk_buf_free(&b);
	}
}
END_TEST

/* The canonical-form check of the last group, against the definition it
 * stands for (decoded and encoded again, the same text): for every "xy=="
 * and "xyz=" after a whole group. */
START_TEST(b64_canonical_last_group_every_text)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char text[9] = "QUJD", *again;
	size_t x, y, z;
	unsigned taken = 0;

	for (x = 0; x < 64; x++)
		for (y = 0; y < 64; y++)
			for (z = 0; z <= 64; z++) {
				smk_buf b = SMK_BUF_INIT;
				smk_err e = {0};
				int rc;

				text[4] = alphabet[x];
				text[5] = alphabet[y];
				text[6] = z < 64 ? alphabet[z] : '=';
				text[7] = '=';
				rc = smk_b64_decode(text, 8, &b, "t", &e);
				ck_assert_uint_eq(b.len, rc == 0 ? (z < 64 ? 5u : 4u) : 0u);
				again = smk_b64(b.data, b.len);
				ck_assert_ptr_nonnull(again);
				ck_assert_msg((rc == 0) == (strcmp(again, text) == 0), "%s: %d",
					      text, rc);
				if (rc < 0)
					ck_assert_str_eq(e.msg, "t: non-canonical base64");
				taken += rc == 0;
				free(again);
				smk_buf_free(&b);
			}
	/* 2 of "xyz='s 18 bits unused, 4 of "xy=='s 12 */
	ck_assert_uint_eq(taken, 64 * 16 * 64 + 64 * 4);
}
END_TEST

START_TEST(sha256_vectors)
{
	char hex[SMK_SHA256_HEX_LEN];
	uint8_t md[SMK_SHA256_LEN];
	smk_err e = {0};

	ck_assert_int_eq(smk_sha256_hex("abc", 3, hex, &e), 0);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ck_assert_int_eq(smk_sha256_hex("", 0, hex, &e), 0);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ck_assert_int_eq(smk_sha256("abc", 3, md, &e), 0);
	ck_assert_uint_eq(md[0], 0xba);
	ck_assert_uint_eq(md[31], 0xad);
}
END_TEST

/* A file read through the hash: the same SHA-256 as the bytes at once,
 * across chunks and after a head held in memory; a read error names the
 * file. */
START_TEST(sha256_stream_of_a_file)
{
	enum { N = 200000 }; /* three chunks and a part */
	static uint8_t bytes[N];
	uint8_t want[SMK_SHA256_LEN], got[SMK_SHA256_LEN];
	uint64_t total = 0;
	smk_err e = {0};
	FILE *f = tmpfile();
	size_t i;

	for (i = 0; i < N; i++)
		bytes[i] = (uint8_t)(i * 7 + i / 251);
	ck_assert_int_eq(smk_sha256(bytes, N, want, &e), 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(bytes, 1, N, f), N);
	rewind(f);
	ck_assert_int_eq(smk_sha256_stream(NULL, 0, f, "whole", got, &total, &e), 0);
	ck_assert_mem_eq(got, want, sizeof(want));
	ck_assert_uint_eq(total, N);
	/* the first 32769 bytes already read, as smkey sign holds them */
	ck_assert_int_eq(fseek(f, 32769, SEEK_SET), 0);
	ck_assert_int_eq(smk_sha256_stream(bytes, 32769, f, "rest", got, &total, &e), 0);
	ck_assert_mem_eq(got, want, sizeof(want));
	ck_assert_uint_eq(total, N);
	/* at the end: the head alone */
	ck_assert_int_eq(smk_sha256_stream(bytes, N, f, "head", got, NULL, &e), 0);
	ck_assert_mem_eq(got, want, sizeof(want));
	fclose(f);

	f = fopen("/", "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(smk_sha256_stream(NULL, 0, f, "/", got, &total, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_IO);
	ck_assert_msg(strstr(e.msg, "/: read error") != NULL, "%s", e.msg);
	fclose(f);
}
END_TEST

static char *canonical(const json_t *v, int legacy)
{
	smk_buf b = SMK_BUF_INIT;
	smk_err e = {0};
	char *s;

	ck_assert_int_eq(
	    legacy ? smk_json_canonical_legacy(v, &b, &e) : smk_json_canonical(v, &b, &e), 0);
	s = strndup((const char *)b.data, b.len);
	smk_buf_free(&b);
	return s;
}

START_TEST(canonical_json_is_jcs)
{
	/* keys out of order, a control character, a quote, a backslash followed
	 * by "u001F" (text, not an escape), '/', DEL and non-ASCII */
	json_t *v =
	    json_pack("{s:s, s:i, s:[b, n], s:s}", "z", "a\x1f\"\\u001F/\x7f\xc3\xa9\xe2\x82\xac",
		      "a", -7, "m", 1, "\x01key", "\b\f\n\r\t\x0b");
	char *s = canonical(v, 0), *old = canonical(v, 1);

	ck_assert_str_eq(s, "{\"\\u0001key\":\"\\b\\f\\n\\r\\t\\u000b\",\"a\":-7,\"m\":[true,null],"
			    "\"z\":\"a\\u001f\\\"\\\\u001F/\x7f\xc3\xa9\xe2\x82\xac\"}");
	/* the form written before: the same bytes, upper-case \u digits only */
	ck_assert_str_eq(old,
			 "{\"\\u0001key\":\"\\b\\f\\n\\r\\t\\u000B\",\"a\":-7,\"m\":[true,null],"
			 "\"z\":\"a\\u001F\\\"\\\\u001F/\x7f\xc3\xa9\xe2\x82\xac\"}");
	free(s);
	free(old);
	json_decref(v);
}
END_TEST

START_TEST(json_hex_values)
{
	json_t *lo = smk_json_hex(all_nibbles, sizeof(all_nibbles), SMK_HEX_LOWER);
	json_t *up = smk_json_hex(all_nibbles, sizeof(all_nibbles), SMK_HEX_UPPER);

	ck_assert_str_eq(json_string_value(lo), "0123456789abcdef");
	ck_assert_str_eq(json_string_value(up), "0123456789ABCDEF");
	json_decref(lo);
	json_decref(up);
}
END_TEST

START_TEST(user_and_group_lookup)
{
	uint32_t id = 12345;
	int err = 0;

	ck_assert_int_eq(smk_user_uid("root", &id, &err), 1);
	ck_assert_uint_eq(id, 0);
	id = 12345;
	ck_assert_int_eq(smk_group_gid("root", &id, &err), 1);
	ck_assert_uint_eq(id, 0);
	id = 12345;
	ck_assert_int_eq(smk_user_uid("no-such-user-smkeyd-test", &id, &err), 0);
	ck_assert_int_eq(smk_group_gid("no-such-group-smkeyd-test", &id, &err), 0);
	ck_assert_uint_eq(id, 12345);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hex_codec");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, hex_both_cases);
	tcase_add_test(tc, hex_decode_round_trip_and_odd_input);
	tcase_add_test(tc, b64_rfc4648_vectors);
	tcase_add_test(tc, b64_strict_decoding);
	tcase_add_test(tc, b64_canonical_last_group_every_text);
	tcase_add_test(tc, sha256_vectors);
	tcase_add_test(tc, sha256_stream_of_a_file);
	tcase_add_test(tc, canonical_json_is_jcs);
	tcase_add_test(tc, json_hex_values);
	tcase_add_test(tc, user_and_group_lookup);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
