/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Witness cosignatures (archive/cosig.c): what smkeyd takes from a pusher
 * and smkey verify from a bundle and a trust directory. First byte, modulo 3:
 *   0  cosig_key_parse on the rest: what parses is type 0x04 with the key ID
 *      of its name and key, and prints back to the same text
 *   1  cosig_parse_line on the rest as one signature line: what parses has a
 *      name without space or '+' and a timestamp below 2^63, and verifying
 *      it against the fixed witness key below fails or succeeds cleanly
 *   2  the rest as a signed checkpoint note checked against the fixed key
 *      (cosig_check_note), and as a witnesses file (cosig_policy_load):
 *      every result is one of the three states, valid counts the OK ones,
 *      a failure leaves a message
 * Seeds: the known-answer vector of tests/unit/test_cosig.c (key, line, the
 * note with it), malformed lines and keys, a witnesses file.
 */
#include <strings.h>

#include <openssl/evp.h>

#include "archive/cosig.h"
#include "fuzz.h"

/* made with Python's cryptography from the Ed25519 seed 00 01 .. 1f */
static const char kat_vkey[] =
    "witness.example.org/w1+cfcd1a67+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";

static const cosig_key *fixed_key(void)
{
	static cosig_key k;
	static int done;
	smk_err e;

	if (!done) {
		if (cosig_key_parse(kat_vkey, strlen(kat_vkey), &k, &e) < 0)
			fz_die("the fixed witness key does not parse", &e);
		done = 1;
	}
	return &k;
}

static void key(const uint8_t *p, size_t n)
{
	cosig_key k, again;
	char text[512];
	uint8_t id[4];
	smk_err e;

	if (cosig_key_parse((const char *)p, n, &k, &e) < 0) {
		FZ_CHECK(e.msg[0] != '\0');
		return;
	}
	FZ_CHECK(cosig_key_id(k.name, k.pub, id, &e) == 0 && memcmp(id, k.key_id, 4) == 0);
	FZ_CHECK(cosig_key_format(&k, text, sizeof(text), &e) == 0);
	/* the same text, but for the case of the key ID's hex digits */
	{
		size_t nl = strlen(k.name);

		FZ_CHECK(strlen(text) == n && memcmp(text, p, nl + 1) == 0);
		FZ_CHECK(strncasecmp(text + nl + 1, (const char *)p + nl + 1, 8) == 0);
		FZ_CHECK(memcmp(text + nl + 9, p + nl + 9, n - nl - 9) == 0);
	}
	FZ_CHECK(cosig_key_parse(text, strlen(text), &again, &e) == 0);
	FZ_CHECK(memcmp(&k, &again, sizeof(k)) == 0);
}

static void line(const uint8_t *p, size_t n)
{
	static const char text[] = "smkeyd/0123456789abcdef\n7\n"
				   "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
	cosig c;
	smk_err e;
	size_t i;
	int rc;

	if (cosig_parse_line(p, n, &c, &e) < 0) {
		FZ_CHECK(e.msg[0] != '\0');
		return;
	}
	FZ_CHECK(c.name[0] != '\0' && c.time <= (uint64_t)INT64_MAX);
	for (i = 0; c.name[i]; i++)
		FZ_CHECK(c.name[i] > 0x20 && c.name[i] < 0x7f && c.name[i] != '+');
	rc = cosig_verify(&c, fixed_key(), (const uint8_t *)text, strlen(text), 0, &e);
	FZ_CHECK(rc == 0 || (rc == -1 && e.msg[0] != '\0'));
}

static void note(const uint8_t *p, size_t n)
{
	cosig_result res[1];
	cosig_policy pol;
	size_t valid = 7;
	smk_err e;
	int rc;

	rc = cosig_check_note(p, n, fixed_key(), 1, 0, res, &valid, &e);
	FZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FZ_CHECK(res[0].status == COSIG_OK || res[0].status == COSIG_BAD ||
			 res[0].status == COSIG_MISSING);
		FZ_CHECK(valid == (res[0].status == COSIG_OK ? 1u : 0u));
		FZ_CHECK(res[0].status == COSIG_OK || res[0].why[0] != '\0');
	} else {
		FZ_CHECK(e.msg[0] != '\0');
	}
	cosig_policy_init(&pol);
	if (cosig_policy_load(&pol, p, n, "witnesses", &e) == 0) {
		FZ_CHECK(pol.n <= COSIG_KEYS_MAX);
		FZ_CHECK(pol.quorum == -1 || (pol.quorum >= 1 && pol.quorum <= COSIG_KEYS_MAX));
	} else {
		FZ_CHECK(strncmp(e.msg, "witnesses", 9) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		key(data + 1, size - 1);
		break;
	case 1:
		line(data + 1, size - 1);
		break;
	default:
		note(data + 1, size - 1);
		break;
	}
	return 0;
}
