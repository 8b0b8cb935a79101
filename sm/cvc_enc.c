/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CVC encoding (ref §3.2): certificates, CV requests and authenticated
 * requests, signed with an EVP_PKEY. The simulator builds its test PKI and
 * its GAKP answers with these, so the output must parse with cvc.c exactly as
 * genuine device output does.
 */
#include <string.h>

#include "cvc.h"
#include "tlv.h"

static int ref_ok(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > CVC_REF_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7E)
			return 0;
	return 1;
}

static int put_date(smk_buf *b, uint32_t tag, const cvc_date *d)
{
	uint8_t v[6];
	unsigned yy = d->year - 2000;

	v[0] = (uint8_t)(yy / 10);
	v[1] = (uint8_t)(yy % 10);
	v[2] = (uint8_t)(d->month / 10);
	v[3] = (uint8_t)(d->month % 10);
	v[4] = (uint8_t)(d->day / 10);
	v[5] = (uint8_t)(d->day % 10);
	return tlv_put(b, tag, v, sizeof(v));
}

static int date_in_range(const cvc_date *d)
{
	char buf[16];
	cvc_date back;

	if (d->year < 2000 || d->year > 2099)
		return 0;
	cvc_date_format(d, buf, sizeof(buf));
	return cvc_date_parse(buf, &back, NULL) == 0;
}

/* 7F21 { body, 5F37 sig(body) } appended to out; body is the whole 7F4E TLV */
static int wrap_signed(smk_buf *out, const smk_buf *body, EVP_PKEY *signer, const cvc_alg *alg,
		       smk_err *e)
{
	smk_buf sig = SMK_BUF_INIT;
	size_t mark;
	int r = -1;

	if (cvc_sign(signer, alg, body->data, body->len, &sig, e) < 0)
		return -1;
	if (tlv_begin(out, 0x7F21, &mark) < 0 || smk_buf_add(out, body->data, body->len) < 0 ||
	    tlv_put(out, 0x5F37, sig.data, sig.len) < 0 || tlv_end(out, mark) < 0)
		smk_fail(e, SMK_E_NOMEM, "CVC: out of memory");
	else
		r = 0;
	smk_buf_free(&sig);
	return r;
}

static int holder_alg(EVP_PKEY *key, const cvc_alg **alg, smk_err *e)
{
	enum smk_keytype type;
	const smk_curve *c;
	unsigned bits;

	if (*alg != NULL)
		return 0;
	if (cvc_key_describe(key, &type, &c, &bits, e) < 0)
		return -1;
	*alg = cvc_alg_default(type);
	return 0;
}

int cvc_encode_cert(smk_buf *out, const cvc_cert_fields *f, EVP_PKEY *holder, EVP_PKEY *issuer_key,
		    const cvc_alg *issuer_alg, smk_err *e)
{
	static const uint8_t cpi = 0x00;
	smk_buf body = SMK_BUF_INIT;
	const cvc_alg *alg = f->alg;
	size_t mb, mc;
	int r = -1;

	if (!ref_ok(f->car) || !ref_ok(f->chr))
		return smk_fail(e, SMK_E_ARG,
				"certificate: CAR and CHR must be 1..16 printable characters");
	if (!date_in_range(&f->ced) || !date_in_range(&f->cxd))
		return smk_fail(e, SMK_E_ARG,
				"certificate %s: dates must be calendar days in 2000..2099",
				f->chr);
	if (issuer_alg == NULL && holder_alg(issuer_key, &issuer_alg, e) < 0)
		return -1;
	if (holder_alg(holder, &alg, e) < 0)
		return -1;
	/* ref §3.2: the order of the body fields is fixed */
	if (tlv_begin(&body, 0x7F4E, &mb) < 0 || tlv_put(&body, 0x5F29, &cpi, 1) < 0 ||
	    tlv_put(&body, 0x42, f->car, strlen(f->car)) < 0)
		goto oom;
	if (cvc_pubkey_encode(&body, holder, alg, f->domain_params, e) < 0)
		goto done;
	if (tlv_put(&body, 0x5F20, f->chr, strlen(f->chr)) < 0 ||
	    tlv_begin(&body, 0x7F4C, &mc) < 0 ||
	    tlv_put(&body, 0x06, cvc_oid_sc_hsm_role, sizeof(cvc_oid_sc_hsm_role)) < 0 ||
	    tlv_put(&body, 0x53, &f->role, 1) < 0 || tlv_end(&body, mc) < 0 ||
	    put_date(&body, 0x5F25, &f->ced) < 0 || put_date(&body, 0x5F24, &f->cxd) < 0 ||
	    (f->with_ext && tlv_put(&body, 0x65, f->ext, f->ext_len) < 0) || tlv_end(&body, mb) < 0)
		goto oom;
	r = wrap_signed(out, &body, issuer_key, issuer_alg, e);
	goto done;
oom:
	smk_fail(e, SMK_E_NOMEM, "certificate: out of memory");
done:
	smk_buf_free(&body);
	if (r < 0)
		smk_context(e, "certificate %s", f->chr);
	return r;
}

int cvc_encode_request(smk_buf *out, const char *car, const char *chr, EVP_PKEY *key,
		       const cvc_alg *alg, smk_err *e)
{
	static const uint8_t cpi = 0x00;
	smk_buf body = SMK_BUF_INIT;
	size_t mb;
	int r = -1;

	if ((car != NULL && !ref_ok(car)) || !ref_ok(chr))
		return smk_fail(e, SMK_E_ARG,
				"request: CAR and CHR must be 1..16 printable characters");
	if (holder_alg(key, &alg, e) < 0)
		return -1;
	if (tlv_begin(&body, 0x7F4E, &mb) < 0 || tlv_put(&body, 0x5F29, &cpi, 1) < 0 ||
	    (car != NULL && tlv_put(&body, 0x42, car, strlen(car)) < 0)) {
		smk_fail(e, SMK_E_NOMEM, "request: out of memory");
		goto done;
	}
	/* ref §3.3: requests are self-contained, so EC keys carry the full domain parameters */
	if (cvc_pubkey_encode(&body, key, alg, 1, e) < 0)
		goto done;
	if (tlv_put(&body, 0x5F20, chr, strlen(chr)) < 0 || tlv_end(&body, mb) < 0) {
		smk_fail(e, SMK_E_NOMEM, "request: out of memory");
		goto done;
	}
	/* the inner signature is made with the new key itself: proof of possession */
	r = wrap_signed(out, &body, key, alg, e);
done:
	smk_buf_free(&body);
	if (r < 0)
		smk_context(e, "request %s", chr);
	return r;
}

int cvc_encode_authreq(smk_buf *out, const uint8_t *req, size_t req_len, const char *outer_car,
		       EVP_PKEY *signer, const cvc_alg *signer_alg, smk_err *e)
{
	smk_buf signed_part = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	cvc check;
	size_t mark;
	int r = -1;

	if (!ref_ok(outer_car))
		return smk_fail(
		    e, SMK_E_ARG,
		    "authenticated request: outer CAR must be 1..16 printable characters");
	if (cvc_parse_request(req, req_len, &check, e) < 0)
		return smk_context(e, "authenticated request");
	if (signer_alg == NULL && holder_alg(signer, &signer_alg, e) < 0)
		return -1;
	/* ref §3.4: the outer signature covers 7F21-TLV || 42-TLV */
	if (smk_buf_add(&signed_part, req, req_len) < 0 ||
	    tlv_put(&signed_part, 0x42, outer_car, strlen(outer_car)) < 0) {
		smk_fail(e, SMK_E_NOMEM, "authenticated request: out of memory");
		goto done;
	}
	if (cvc_sign(signer, signer_alg, signed_part.data, signed_part.len, &sig, e) < 0)
		goto done;
	if (tlv_begin(out, 0x67, &mark) < 0 ||
	    smk_buf_add(out, signed_part.data, signed_part.len) < 0 ||
	    tlv_put(out, 0x5F37, sig.data, sig.len) < 0 || tlv_end(out, mark) < 0) {
		smk_fail(e, SMK_E_NOMEM, "authenticated request: out of memory");
		goto done;
	}
	r = 0;
done:
	smk_buf_free(&signed_part);
	smk_buf_free(&sig);
	return r;
}
