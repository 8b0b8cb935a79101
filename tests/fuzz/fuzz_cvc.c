/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Card verifiable certificates, CV requests and authenticated requests
 * (sm/cvc.h): cvc_input_bytes (binary or hex text, as `smkey cvc` takes it),
 * cvc_parse, cvc_parse_cert, cvc_parse_request, cvc_parse_authreq, and for
 * whatever parses: the 7F49 public key to an EVP_PKEY (explicit curve, or
 * brainpoolP256r1 inherited as from a genuine DICA), its description,
 * SubjectPublicKeyInfo, re-encoding as 7F49, and the self-signature check of
 * requests. Every pointer the parser hands out must lie inside the input.
 */
#include "fuzz.h"
#include "sm/tlv.h"

static int inside(const uint8_t *base, size_t n, const uint8_t *p, size_t len)
{
	return len == 0 || (p >= base && len <= n && (size_t)(p - base) <= n - len);
}

static void check_cvc(const uint8_t *p, size_t n, const cvc *c)
{
	char buf[16];

	FZ_CHECK(c->kind == CVC_CERT || c->kind == CVC_REQUEST);
	FZ_CHECK(inside(p, n, c->raw, c->raw_len) && inside(p, n, c->body, c->body_len));
	FZ_CHECK(inside(p, n, c->sig, c->sig_len) && c->sig_len > 0);
	FZ_CHECK(inside(p, n, c->key.raw, c->key.raw_len));
	FZ_CHECK(inside(p, n, c->key.point, c->key.point_len));
	FZ_CHECK(inside(p, n, c->key.modulus, c->key.modulus_len));
	FZ_CHECK(inside(p, n, c->key.exponent, c->key.exponent_len));
	FZ_CHECK(inside(p, n, c->ext, c->ext_len));
	FZ_CHECK(strlen(c->chr) >= 1 && strlen(c->chr) <= CVC_REF_MAX);
	FZ_CHECK(c->key.alg != NULL);
	if (c->kind == CVC_CERT) {
		FZ_CHECK(inside(p, n, c->chat_oid, c->chat_oid_len) && c->chat_oid_len > 0);
		FZ_CHECK(inside(p, n, c->chat_bits, c->chat_bits_len) && c->chat_bits_len > 0);
		FZ_CHECK(cvc_role_name(cvc_role(c)) != NULL);
		(void)cvc_role_is_sc_hsm(c);
		cvc_date_format(&c->ced, buf, sizeof(buf));
		cvc_date_format(&c->cxd, buf, sizeof(buf));
		(void)cvc_date_to_time(&c->cxd);
	}
}

/* Big-endian numbers compared without their leading zero bytes. */
static int same_number(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t i = 0, j = 0;

	while (i < an && a[i] == 0)
		i++;
	while (j < bn && b[j] == 0)
		j++;
	return an - i == bn - j && memcmp(a + i, b + j, an - i) == 0;
}

/* The re-encoded 7F49, put in a minimal request, must parse to the same key. */
static void check_reencoded(const cvc *c, const smk_buf *tmpl)
{
	static const uint8_t cpi[] = {0x00}, chr[] = {'X'}, sig[] = {0x00};
	smk_buf req = SMK_BUF_INIT;
	size_t outer, body;
	cvc back;
	smk_err e;

	FZ_CHECK(tlv_begin(&req, 0x7F21, &outer) == 0 && tlv_begin(&req, 0x7F4E, &body) == 0);
	FZ_CHECK(tlv_put(&req, 0x5F29, cpi, 1) == 0 &&
		 smk_buf_add(&req, tmpl->data, tmpl->len) == 0);
	FZ_CHECK(tlv_put(&req, 0x5F20, chr, 1) == 0 && tlv_end(&req, body) == 0);
	FZ_CHECK(tlv_put(&req, 0x5F37, sig, 1) == 0 && tlv_end(&req, outer) == 0);
	FZ_CHECK(cvc_parse_request(req.data, req.len, &back, &e) == 0);
	FZ_CHECK(back.key.alg == c->key.alg);
	if (c->key.alg->keytype == SMK_KEY_EC) {
		FZ_CHECK(back.key.curve == c->key.curve);
		FZ_CHECK(back.key.point_len == c->key.point_len &&
			 memcmp(back.key.point, c->key.point, c->key.point_len) == 0);
	} else {
		FZ_CHECK(same_number(back.key.modulus, back.key.modulus_len, c->key.modulus,
				     c->key.modulus_len));
		FZ_CHECK(same_number(back.key.exponent, back.key.exponent_len, c->key.exponent,
				     c->key.exponent_len));
	}
	smk_buf_free(&req);
}

/* The key as OpenSSL sees it, written back as 7F49 and read again. */
static void check_key(const cvc *c)
{
	const smk_curve *inherited = curve_by_name("brainpoolP256r1"), *curve;
	smk_buf spki = SMK_BUF_INIT, tmpl = SMK_BUF_INIT;
	enum smk_keytype type;
	EVP_PKEY *pk = NULL;
	unsigned bits;
	char *pem = NULL;
	tlv t;
	smk_err e;

	if (cvc_pubkey_to_evp(&c->key, inherited, &pk, &e) < 0) {
		FZ_CHECK(pk == NULL);
		return;
	}
	FZ_CHECK(cvc_key_describe(pk, &type, &curve, &bits, &e) == 0);
	FZ_CHECK(type == c->key.alg->keytype);
	if (type == SMK_KEY_EC)
		FZ_CHECK(curve == (c->key.curve ? c->key.curve : inherited));
	FZ_CHECK(cvc_spki_der(pk, &spki, &e) == 0 && spki.len > 0);
	FZ_CHECK(cvc_spki_pem(pk, &pem, &e) == 0);
	FZ_CHECK(cvc_pubkey_encode(&tmpl, pk, c->key.alg, c->key.curve != NULL, &e) == 0);
	FZ_CHECK(tlv_parse_exact(tmpl.data, tmpl.len, 0x7F49, &t, &e) == 0);
	check_reencoded(c, &tmpl);
	/* a request signs itself: exercise the verifier on hostile signatures */
	if (c->kind == CVC_REQUEST)
		(void)cvc_verify(pk, c->key.alg, c->body, c->body_len, c->sig, c->sig_len, &e);
	free(pem);
	smk_buf_free(&spki);
	smk_buf_free(&tmpl);
	EVP_PKEY_free(pk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smk_buf in = SMK_BUF_INIT;
	uint8_t *p;
	cvc c, c2;
	cvc_authreq a;
	smk_err e;

	if (cvc_input_bytes(data, size, &in, &e) < 0) {
		smk_buf_free(&in); /* may hold what was decoded before the bad digit */
		return 0;
	}
	p = fz_dup(in.data, in.len);
	if (cvc_parse(p, in.len, &c, &e) == 0) {
		check_cvc(p, in.len, &c);
		FZ_CHECK(c.raw == p && c.raw_len == in.len);
		FZ_CHECK((cvc_parse_cert(p, in.len, &c2, &e) == 0) == (c.kind == CVC_CERT));
		FZ_CHECK((cvc_parse_request(p, in.len, &c2, &e) == 0) == (c.kind == CVC_REQUEST));
		check_key(&c);
	}
	if (cvc_parse_authreq(p, in.len, &a, &e) == 0) {
		check_cvc(p, in.len, &a.req);
		FZ_CHECK(a.req.kind == CVC_REQUEST);
		FZ_CHECK(inside(p, in.len, a.outer_signed, a.outer_signed_len));
		FZ_CHECK(a.outer_signed == a.req.raw);
		FZ_CHECK(inside(p, in.len, a.outer_sig, a.outer_sig_len) && a.outer_sig_len > 0);
		FZ_CHECK(strlen(a.outer_car) >= 1);
		check_key(&a.req);
	}
	free(p);
	smk_buf_free(&in);
	return 0;
}
