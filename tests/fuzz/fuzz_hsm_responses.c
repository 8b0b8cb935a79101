/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The host-side SmartCard-HSM response parsers of sm/hsm.h, fed what a
 * hostile or broken card could answer. The first input byte picks the
 * parser; most take a status word (2 bytes) and then the response data:
 *  0  SELECT: hsm_parse_select (FCP 62 { 85 ... })
 *  1  ENUMERATE OBJECTS: hsm_parse_enumerate, hsm_key_ids, hsm_free_key_id
 *  2  READ BINARY driver: hsm_read_next / hsm_read_feed over a script of
 *     answers (SW, length, data; 61xx leads to GET RESPONSE), with a fuzzed
 *     size bound and APDU form
 *  3  VERIFY PIN / PIN status: hsm_parse_pin_status, hsm_verify_result
 *  4  GAKP: hsm_parse_gakp_response (one 67 object), then cvc_parse_authreq
 *  5  SIGN (ECDSA): hsm_parse_sign_ecdsa with a fuzzed order length, and
 *     the DER <-> plain conversion back
 *  6  SIGN (RSA): hsm_parse_sign_rsa
 *  7  ECDH: hsm_parse_ecdh with a fuzzed field length
 *  8  GET CHALLENGE: hsm_parse_challenge
 *  9  UPDATE BINARY driver: hsm_write_* over fuzzed status words
 * 10  MANAGE KEY DOMAIN status: hsm_parse_key_domain for a fuzzed domain
 *     number, then hsm_domain_state_finish over the domains that parsed
 * 11  SELECT of a key object: hsm_parse_key_fcp_algs (the algorithm list in
 *     the FCP)
 */
#include "fuzz.h"
#include "sm/hsm.h"

/* One piece of the input in an allocation of its own (see fz_dup). */
static uint8_t *piece(fz_in *in, size_t want, size_t *len)
{
	return fz_dup(fz_take(in, want, len), *len);
}

static void select_answer(fz_in *in)
{
	uint16_t sw = fz_u16(in);
	size_t len;
	uint8_t *d = piece(in, in->n, &len);
	hsm_fcp fcp;
	smk_err e;

	if (hsm_parse_select(d, len, sw, &fcp, &e) == 0)
		FZ_CHECK(sw == 0x9000 && len >= 4);
	free(d);
}

static void enumerate_answer(fz_in *in)
{
	uint16_t sw = fz_u16(in);
	size_t len, n;
	uint8_t *d = piece(in, in->n, &len);
	uint8_t ids[255], id;
	hsm_objects o;
	smk_err e;

	if (hsm_parse_enumerate(d, len, sw, &o, &e) == 0) {
		FZ_CHECK(o.count == len / 2);
		n = hsm_key_ids(&o, ids);
		FZ_CHECK(n <= 255);
		for (size_t i = 0; i < n; i++) {
			FZ_CHECK(ids[i] != 0 && (i == 0 || ids[i] > ids[i - 1]));
			FZ_CHECK(hsm_objects_has(&o, HSM_FID(HSM_PREFIX_KEY, ids[i])));
		}
		if (hsm_free_key_id(&o, &id, &e) == 0)
			FZ_CHECK(id != 0 && !hsm_objects_has(&o, HSM_FID(HSM_PREFIX_KEY, id)));
		else
			FZ_CHECK(n == 255);
		FZ_CHECK(hsm_objects_fid(&o, o.count) == 0);
	}
	free(d);
}

static void read_script(fz_in *in)
{
	uint8_t flags = fz_u8(in);
	size_t max_total = (size_t)fz_u16(in) + 1, len;
	smk_buf content = SMK_BUF_INIT;
	hsm_reader r;
	apdu a;
	int rc, rounds = 0;
	smk_err e;

	hsm_read_init(&r, HSM_FID_DEVAUT, flags & 1, max_total, &content);
	while ((rc = hsm_read_next(&r, &a, &e)) == 1) {
		uint16_t sw = fz_u16(in);
		size_t want = fz_u16(in);
		uint8_t *d = piece(in, want, &len);

		/* READ BINARY at an offset, or GET RESPONSE after 61xx (case 2,
		 * Le 1..256 as announced) */
		FZ_CHECK((a.ins == 0xB1 && a.lc == 4 && a.data[0] == 0x54) ||
			 (a.ins == 0xC0 && a.lc == 0 && a.ne >= 1 && a.ne <= 256));
		/* every 61xx step brings at least one byte, so max_total bounds
		 * the rounds */
		FZ_CHECK(++rounds <= 65536 + 2);
		rc = hsm_read_feed(&r, d, len, sw, &e);
		free(d);
		if (rc < 0)
			break;
		FZ_CHECK(content.len <= max_total);
	}
	FZ_CHECK(content.len <= max_total);
	if (rc == 0)
		FZ_CHECK(r.done);
	smk_buf_free(&content);
}

static void pin_answer(fz_in *in)
{
	size_t len = fz_u8(in) % 4;
	uint16_t sw = fz_u16(in);
	hsm_pin_status st;
	smk_err e;

	if (hsm_parse_pin_status(len, sw, &st, &e) == 0)
		FZ_CHECK(st.state >= HSM_PIN_VERIFIED && st.state <= HSM_PIN_NOT_INITIALISED);
	if (hsm_verify_result(len, sw, &e) == 0)
		FZ_CHECK(sw == 0x9000 && len == 0);
	else
		FZ_CHECK(e.code != SMK_OK);
}

static void gakp_answer(fz_in *in)
{
	uint16_t sw = fz_u16(in);
	size_t len, req_len;
	uint8_t *d = piece(in, in->n, &len);
	const uint8_t *req;
	cvc_authreq a;
	smk_err e;

	if (hsm_parse_gakp_response(d, len, sw, &req, &req_len, &e) == 0) {
		FZ_CHECK(req_len == len && (len == 0 || req == d));
		if (req_len > 0)
			(void)cvc_parse_authreq(req, req_len, &a, &e);
	}
	free(d);
}

static void sign_ecdsa_answer(fz_in *in)
{
	size_t order_len = fz_u8(in) % 70, len;
	uint16_t sw = fz_u16(in);
	uint8_t *d = piece(in, in->n, &len);
	uint8_t rs[2 * 66], rs2[2 * 66];
	smk_buf der = SMK_BUF_INIT;
	smk_err e;

	if (hsm_parse_sign_ecdsa(d, len, sw, order_len, rs, &e) == 0) {
		FZ_CHECK(order_len >= 1 && order_len <= 66);
		/* plain -> DER -> plain gives the same r||s */
		FZ_CHECK(hsm_ecdsa_plain_to_der(rs, 2 * order_len, &der, &e) == 0);
		FZ_CHECK(hsm_ecdsa_der_to_plain(der.data, der.len, order_len, rs2, &e) == 0);
		FZ_CHECK(memcmp(rs, rs2, 2 * order_len) == 0);
	}
	smk_buf_free(&der);
	free(d);
}

static void sign_rsa_answer(fz_in *in)
{
	size_t modulus_len = fz_u16(in), len;
	uint16_t sw = fz_u16(in);
	uint8_t *d = piece(in, in->n, &len);
	smk_err e;

	if (hsm_parse_sign_rsa(d, len, sw, modulus_len, &e) == 0)
		FZ_CHECK(len == modulus_len && sw == 0x9000);
	free(d);
}

static void ecdh_answer(fz_in *in)
{
	size_t field_len = fz_u8(in) % 70, len;
	uint16_t sw = fz_u16(in);
	uint8_t *d = piece(in, in->n, &len);
	uint8_t x[66];
	smk_err e;

	if (hsm_parse_ecdh(d, len, sw, field_len, x, &e) == 0)
		FZ_CHECK(memcmp(x, d + 1, field_len) == 0);
	free(d);
}

static void challenge_answer(fz_in *in)
{
	size_t n = fz_u16(in), len;
	uint16_t sw = fz_u16(in);
	uint8_t *d = piece(in, in->n, &len);
	smk_err e;

	if (hsm_parse_challenge(d, len, sw, n, &e) == 0)
		FZ_CHECK(len == n);
	free(d);
}

static void write_script(fz_in *in)
{
	size_t content_len = fz_u16(in) % 4096, max_data = fz_u16(in), len;
	uint8_t *content = piece(in, content_len, &len);
	size_t written = 0;
	hsm_writer w;
	apdu a;
	int rc, rounds = 0;
	smk_err e;

	if (hsm_write_init(&w, HSM_FID(HSM_PREFIX_PRKD, 1), content, len, max_data, &e) == 0) {
		while ((rc = hsm_write_next(&w, &a, &e)) == 1) {
			size_t off, clen;
			const uint8_t *c;

			FZ_CHECK(++rounds <= 4097 && a.lc <= max_data);
			/* the card-side parser reads back what the writer sent */
			FZ_CHECK(hsm_parse_update_binary_cmd(a.data, a.lc, &off, &c, &clen, &e) ==
				 0);
			FZ_CHECK(off == written && clen <= len - written);
			FZ_CHECK(clen == 0 || memcmp(c, content + written, clen) == 0);
			written += clen;
			if (hsm_write_feed(&w, fz_u8(in) ? 0x9000 : fz_u16(in), &e) < 0)
				break;
		}
		if (rc == 0)
			FZ_CHECK(written == len);
		hsm_write_free(&w);
	}
	free(content);
}

static void domain_answer(fz_in *in)
{
	uint8_t domain = fz_u8(in);
	uint16_t sw = fz_u16(in);
	size_t len;
	uint8_t *d = piece(in, in->n, &len);
	enum hsm_domain_answer ans;
	hsm_domain_state st;
	hsm_key_domain k;
	smk_err e;

	memset(&st, 0, sizeof(st));
	if (hsm_parse_key_domain(d, len, sw, domain, &k, &ans, &e) == 0) {
		FZ_CHECK(k.index == domain);
		FZ_CHECK((ans == HSM_DOMAIN_ANSWER_PRESENT) == (sw == 0x9000));
		FZ_CHECK(ans == HSM_DOMAIN_ANSWER_PRESENT || len == 0);
		if (ans == HSM_DOMAIN_ANSWER_PRESENT) {
			FZ_CHECK(len >= 10 && len <= 10 + HSM_DOMAIN_UID_MAX);
			FZ_CHECK((k.kind == HSM_DOMAIN_XKEK) == (len > 10));
			FZ_CHECK(k.kind == HSM_DOMAIN_XKEK ||
				 k.shares_outstanding <= k.shares_total);
		} else {
			FZ_CHECK(k.kind == HSM_DOMAIN_EMPTY);
		}
		st.reported = true;
		st.count = 1;
		st.d[0] = k;
		hsm_domain_state_finish(&st);
		FZ_CHECK(st.can_import == (k.kind != HSM_DOMAIN_EMPTY));
		FZ_CHECK(hsm_domain_may_import(&st) == st.can_import);
	} else {
		FZ_CHECK(e.code != SMK_OK);
	}
	free(d);
}

static void key_fcp_answer(fz_in *in)
{
	uint8_t id = fz_u8(in);
	uint16_t sw = fz_u16(in);
	size_t len, n = 99;
	uint8_t *d = piece(in, in->n, &len);
	uint8_t algs[SMK_ALG_LIST_MAX];
	bool reported = true;
	smk_err e;

	if (hsm_parse_key_fcp_algs(d, len, sw, id, algs, &n, &reported, &e) == 0) {
		FZ_CHECK(n <= SMK_ALG_LIST_MAX);
		FZ_CHECK(reported || n == 0);
		FZ_CHECK(!reported || (sw == 0x9000 && len > 0 && d[0] == 0x62));
		FZ_CHECK(n == 0 || memmem(d, len, algs, n) != NULL);
	} else {
		FZ_CHECK(!reported && n == 0);
	}
	free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in in = {data, size};

	switch (fz_u8(&in) % 12) {
	case 0:
		select_answer(&in);
		break;
	case 1:
		enumerate_answer(&in);
		break;
	case 2:
		read_script(&in);
		break;
	case 3:
		pin_answer(&in);
		break;
	case 4:
		gakp_answer(&in);
		break;
	case 5:
		sign_ecdsa_answer(&in);
		break;
	case 6:
		sign_rsa_answer(&in);
		break;
	case 7:
		ecdh_answer(&in);
		break;
	case 8:
		challenge_answer(&in);
		break;
	case 10:
		domain_answer(&in);
		break;
	case 11:
		key_fcp_answer(&in);
		break;
	default:
		write_script(&in);
		break;
	}
	return 0;
}
