/* SPDX-License-Identifier: BSD-3-Clause */
/* Public keys of CVCs: 7F49 <-> EVP_PKEY, SubjectPublicKeyInfo (ref §3.1, §3.3). */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cvc.h"
#include "tlv.h"

static int fromdata(const char *type, OSSL_PARAM *params, int selection, EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	int ok;

	ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) > 0 &&
	     EVP_PKEY_fromdata(ctx, out, selection, params) > 0;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* One key per curve holding only its domain parameters: a key from a CV
 * request is a copy of it plus the point. OpenSSL builds an EC_GROUP from
 * the curve's name for every key made with EVP_PKEY_fromdata; copying the
 * group of a key already made costs a fifth of that, and smkey audit makes
 * a key for every record. Made once per process, read-only after. */
static EVP_PKEY *templates[16];
static pthread_once_t templates_once = PTHREAD_ONCE_INIT;

static void make_templates(void)
{
	const smk_curve *list;
	size_t n, i;

	list = curve_list(&n);
	for (i = 0; i < n && i < sizeof(templates) / sizeof(templates[0]); i++) {
		OSSL_PARAM params[2];

		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
							     (char *)OBJ_nid2sn(list[i].nid), 0);
		params[1] = OSSL_PARAM_construct_end();
		if (!fromdata("EC", params, EVP_PKEY_KEY_PARAMETERS, &templates[i]))
			templates[i] = NULL; /* that curve's keys are made the long way */
	}
	ERR_clear_error();
}

static EVP_PKEY *template_of(const smk_curve *c)
{
	const smk_curve *list;
	size_t n, i;

	pthread_once(&templates_once, make_templates);
	list = curve_list(&n);
	for (i = 0; i < n && i < sizeof(templates) / sizeof(templates[0]); i++)
		if (c == &list[i])
			return templates[i];
	return NULL; /* not one of the table's: made the long way */
}

/* The key of point pt on curve c: the curve's template and the point, or
 * (no template) from the curve's name and the point. Either way OpenSSL
 * decodes the point with EC_POINT_oct2point, which refuses one that is not
 * on the curve or has a coordinate outside the field. */
static EVP_PKEY *ec_key_of(const smk_curve *c, const uint8_t *pt, size_t pt_len)
{
	EVP_PKEY *tmpl = template_of(c), *k = NULL;
	OSSL_PARAM params[3];

	if (tmpl) {
		k = EVP_PKEY_new();
		if (k && EVP_PKEY_copy_parameters(k, tmpl) == 1 &&
		    EVP_PKEY_set1_encoded_public_key(k, pt, pt_len) == 1)
			return k;
		EVP_PKEY_free(k);
		return NULL;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)OBJ_nid2sn(c->nid), 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, pt_len);
	params[2] = OSSL_PARAM_construct_end();
	if (!fromdata("EC", params, EVP_PKEY_PUBLIC_KEY, &k))
		return NULL;
	return k;
}

/* A hostile point must not become a key: OpenSSL checks that it lies on the
 * curve when decoding it, and the public-key check repeats that plus range
 * checks; either failing means the bytes are wrong, not OpenSSL. The full
 * check adds order * point == infinity, which every point on a curve of
 * cofactor 1 (all of ours) satisfies once it is on the curve and not the
 * point at infinity: the group of points has prime order, so that step is
 * left out there (SP 800-56A rev. 3, 5.6.2.3.3: not needed when h = 1), and
 * it cost as much as half an ECDSA verification. */
static int ec_to_evp(const smk_curve *c, const uint8_t *pt, size_t pt_len, EVP_PKEY **out,
		     smk_err *e)
{
	smk_curve_params cp;
	EVP_PKEY_CTX *chk = NULL;
	int ok = 0;

	if (pt_len != 1 + 2 * c->field_len || pt[0] != 0x04)
		return smk_fail(e, SMK_E_FORMAT, "EC public key: point is %zu bytes, %s needs %zu",
				pt_len, c->name, 1 + 2 * c->field_len);
	if (curve_params(c, &cp, e) < 0)
		return -1;
	*out = ec_key_of(c, pt, pt_len);
	if (*out) {
		chk = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL);
		ok = chk != NULL && (cp.cofactor == 1 ? EVP_PKEY_public_check_quick(chk)
						      : EVP_PKEY_public_check(chk)) > 0;
	}
	EVP_PKEY_CTX_free(chk);
	ERR_clear_error();
	if (!ok) {
		EVP_PKEY_free(*out);
		*out = NULL;
		return smk_fail(e, SMK_E_FORMAT, "EC public key: point is not on %s", c->name);
	}
	return 0;
}

static int rsa_to_evp(const cvc_pubkey *k, EVP_PKEY **out, smk_err *e)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	BIGNUM *n = BN_bin2bn(k->modulus, (int)k->modulus_len, NULL);
	BIGNUM *x = BN_bin2bn(k->exponent, (int)k->exponent_len, NULL);
	int ok = 0;

	*out = NULL;
	if (bld && n && x && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, x) &&
	    (params = OSSL_PARAM_BLD_to_param(bld)) != NULL) {
		/* the card makes 1024..4096-bit keys; a huge hostile modulus
		 * would only make verification slow */
		if (BN_num_bits(n) < 512 || BN_num_bits(n) > 8192 || !BN_is_odd(n) ||
		    !BN_is_odd(x) || BN_is_one(x) || BN_num_bits(x) > 64)
			ok = -1;
		else
			ok = fromdata("RSA", params, EVP_PKEY_PUBLIC_KEY, out);
	}
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(x);
	ERR_clear_error();
	if (ok < 0)
		return smk_fail(e, SMK_E_FORMAT,
				"RSA public key: modulus or exponent is not valid");
	if (!ok)
		return smk_fail(e, SMK_E_CRYPTO, "RSA public key: OpenSSL cannot build the key");
	return 0;
}

int cvc_pubkey_to_evp(const cvc_pubkey *k, const smk_curve *inherited, EVP_PKEY **out, smk_err *e)
{
	const smk_curve *c;

	*out = NULL;
	if (k->alg == NULL)
		return smk_fail(e, SMK_E_ARG, "public key: not parsed");
	if (k->alg->keytype == SMK_KEY_RSA)
		return rsa_to_evp(k, out, e);
	c = k->curve ? k->curve : inherited;
	if (c == NULL)
		return smk_fail(
		    e, SMK_E_FORMAT,
		    "EC public key: no domain parameters and no issuer to inherit them from");
	return ec_to_evp(c, k->point, k->point_len, out, e);
}

int cvc_key_describe(EVP_PKEY *pk, enum smk_keytype *type, const smk_curve **curve, unsigned *bits,
		     smk_err *e)
{
	char group[64];
	size_t glen = 0;

	*curve = NULL;
	*bits = (unsigned)EVP_PKEY_get_bits(pk);
	if (EVP_PKEY_is_a(pk, "RSA")) {
		*type = SMK_KEY_RSA;
		return 0;
	}
	if (!EVP_PKEY_is_a(pk, "EC"))
		return smk_fail(e, SMK_E_UNSUPPORTED, "key type %s is neither EC nor RSA",
				EVP_PKEY_get0_type_name(pk));
	*type = SMK_KEY_EC;
	if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					    &glen))
		return smk_fail(e, SMK_E_UNSUPPORTED, "EC key without a named curve");
	*curve = curve_by_nid(OBJ_sn2nid(group));
	if (*curve == NULL)
		*curve = curve_by_name(group);
	if (*curve == NULL)
		return smk_fail(e, SMK_E_UNSUPPORTED, "EC key on unsupported curve %s", group);
	*bits = (*curve)->field_bits;
	return 0;
}

static int put_bn(smk_buf *out, uint32_t tag, const BIGNUM *bn, size_t width)
{
	uint8_t tmp[1024];
	int n;

	if (width == 0)
		width = (size_t)BN_num_bytes(bn);
	if (width == 0 || width > sizeof(tmp) || (n = BN_bn2binpad(bn, tmp, (int)width)) < 0)
		return -1;
	return tlv_put(out, tag, tmp, (size_t)n);
}

static int ec_encode(smk_buf *out, EVP_PKEY *pk, const smk_curve *c, int domain_params, smk_err *e)
{
	smk_curve_params cp;
	BIGNUM *x = NULL, *y = NULL;
	uint8_t pt[1 + 2 * 66];
	int ok;

	if (curve_params(c, &cp, e) < 0)
		return -1;
	if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
	    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &y)) {
		BN_free(x);
		return smk_fail(e, SMK_E_CRYPTO, "EC key: cannot read the public point");
	}
	pt[0] = 0x04;
	ok = BN_bn2binpad(x, pt + 1, (int)c->field_len) > 0 &&
	     BN_bn2binpad(y, pt + 1 + c->field_len, (int)c->field_len) > 0;
	BN_free(x);
	BN_free(y);
	if (!ok)
		return smk_fail(e, SMK_E_CRYPTO, "EC key: public point does not fit %s", c->name);
	/* ref §3.1, §6.2: every value at full field length, leading zeros kept */
	if (domain_params &&
	    (tlv_put(out, 0x81, cp.p, cp.field_len) < 0 ||
	     tlv_put(out, 0x82, cp.a, cp.field_len) < 0 ||
	     tlv_put(out, 0x83, cp.b, cp.field_len) < 0 || tlv_put(out, 0x84, cp.g, cp.g_len) < 0 ||
	     tlv_put(out, 0x85, cp.r, cp.order_len) < 0))
		return smk_fail(e, SMK_E_NOMEM, "EC key: out of memory");
	if (tlv_put(out, 0x86, pt, 1 + 2 * c->field_len) < 0 ||
	    (domain_params && tlv_put(out, 0x87, &cp.cofactor, 1) < 0))
		return smk_fail(e, SMK_E_NOMEM, "EC key: out of memory");
	return 0;
}

static int rsa_encode(smk_buf *out, EVP_PKEY *pk, smk_err *e)
{
	BIGNUM *n = NULL, *x = NULL;
	int ok;

	if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &x)) {
		BN_free(n);
		return smk_fail(e, SMK_E_CRYPTO, "RSA key: cannot read modulus and exponent");
	}
	ok = put_bn(out, 0x81, n, 0) == 0 && put_bn(out, 0x82, x, 0) == 0;
	BN_free(n);
	BN_free(x);
	if (!ok)
		return smk_fail(e, SMK_E_NOMEM, "RSA key: cannot encode modulus and exponent");
	return 0;
}

int cvc_pubkey_encode(smk_buf *out, EVP_PKEY *pk, const cvc_alg *alg, int domain_params, smk_err *e)
{
	enum smk_keytype type;
	const smk_curve *c;
	unsigned bits;
	size_t mark;
	int r;

	if (cvc_key_describe(pk, &type, &c, &bits, e) < 0)
		return -1;
	if (alg == NULL)
		alg = cvc_alg_default(type);
	if (alg->keytype != type)
		return smk_fail(e, SMK_E_ARG, "%s is not an algorithm for a %s key", alg->name,
				keytype_name(type));
	if (tlv_begin(out, 0x7F49, &mark) < 0 || tlv_put(out, 0x06, alg->oid, sizeof(alg->oid)) < 0)
		return smk_fail(e, SMK_E_NOMEM, "public key: out of memory");
	r = type == SMK_KEY_EC ? ec_encode(out, pk, c, domain_params, e) : rsa_encode(out, pk, e);
	if (r < 0)
		return -1;
	if (tlv_end(out, mark) < 0)
		return smk_fail(e, SMK_E_NOMEM, "public key: out of memory");
	return 0;
}

/* A DER length: 1, 2 or 3 bytes (SPKI of the curves here stays < 64 KiB). */
static size_t der_len(uint8_t out[3], size_t len)
{
	if (len < 0x80) {
		out[0] = (uint8_t)len;
		return 1;
	}
	if (len < 0x100) {
		out[0] = 0x81;
		out[1] = (uint8_t)len;
		return 2;
	}
	out[0] = 0x82;
	out[1] = (uint8_t)(len >> 8);
	out[2] = (uint8_t)len;
	return 3;
}

int cvc_spki_der_ec(const smk_curve *c, const uint8_t *pt, size_t pt_len, smk_buf *out, smk_err *e)
{
	/* RFC 5480: SEQUENCE { SEQUENCE { id-ecPublicKey, namedCurve },
	 * BIT STRING { 0 unused bits, point } } */
	static const uint8_t ec_public_key[] = {0x06, 0x07, 0x2a, 0x86, 0x48,
						0xce, 0x3d, 0x02, 0x01};
	const ASN1_OBJECT *curve = OBJ_nid2obj(c->nid);
	const unsigned char *oid = curve ? OBJ_get0_data(curve) : NULL;
	size_t oid_len = curve ? OBJ_length(curve) : 0, alg_len, bits_len, n;
	uint8_t h[16], scratch[3];

	if (!oid || oid_len == 0 || oid_len > 0x7f || pt_len == 0 || pt_len > 0x1000)
		return smk_fail(e, SMK_E_CRYPTO, "cannot encode SubjectPublicKeyInfo");
	alg_len = sizeof(ec_public_key) + 2 + oid_len;
	bits_len = 1 + pt_len;
	n = 0;
	h[n++] = 0x30;
	n += der_len(h + n, 1 + der_len(scratch, alg_len) + alg_len + 1 +
				der_len(scratch, bits_len) + bits_len);
	h[n++] = 0x30;
	n += der_len(h + n, alg_len);
	if (smk_buf_add(out, h, n) < 0 ||
	    smk_buf_add(out, ec_public_key, sizeof(ec_public_key)) < 0)
		return smk_fail(e, SMK_E_NOMEM, "SubjectPublicKeyInfo: out of memory");
	n = 0;
	h[n++] = 0x06;
	h[n++] = (uint8_t)oid_len;
	if (smk_buf_add(out, h, n) < 0 || smk_buf_add(out, oid, oid_len) < 0)
		return smk_fail(e, SMK_E_NOMEM, "SubjectPublicKeyInfo: out of memory");
	n = 0;
	h[n++] = 0x03;
	n += der_len(h + n, bits_len);
	h[n++] = 0x00;
	if (smk_buf_add(out, h, n) < 0 || smk_buf_add(out, pt, pt_len) < 0)
		return smk_fail(e, SMK_E_NOMEM, "SubjectPublicKeyInfo: out of memory");
	return 0;
}

/* An EC key on one of our curves as SubjectPublicKeyInfo from its point
 * and the curve's OID (RFC 5480), the bytes i2d_PUBKEY writes: without
 * OpenSSL's encoder lookup, which took a fifth of smkey audit's time per
 * record. 0 when the key is not one (the caller uses i2d_PUBKEY). */
static int ec_spki_der(EVP_PKEY *pk, smk_buf *out)
{
	unsigned char point[1 + 2 * 66];
	char group[64];
	size_t plen = 0, glen = 0;
	const smk_curve *c;
	smk_err e;

	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
	    EVP_PKEY_get_group_name(pk, group, sizeof(group), &glen) != 1 ||
	    !(c = curve_by_nid(OBJ_sn2nid(group))) ||
	    EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
					    sizeof(point), &plen) != 1)
		return 0;
	return cvc_spki_der_ec(c, point, plen, out, &e) == 0;
}

int cvc_spki_der(EVP_PKEY *pk, smk_buf *out, smk_err *e)
{
	unsigned char *der = NULL;
	size_t before = out->len;
	int n, r;

	if (ec_spki_der(pk, out))
		return 0;
	out->len = before; /* a part written before it failed */
	n = i2d_PUBKEY(pk, &der);
	if (n <= 0)
		return smk_fail(e, SMK_E_CRYPTO, "cannot encode SubjectPublicKeyInfo");
	r = smk_buf_add(out, der, (size_t)n);
	OPENSSL_free(der);
	if (r < 0)
		return smk_fail(e, SMK_E_NOMEM, "SubjectPublicKeyInfo: out of memory");
	return 0;
}

int cvc_spki_pem(EVP_PKEY *pk, char **pem, smk_err *e)
{
	smk_buf der = SMK_BUF_INIT;
	int rc;

	*pem = NULL;
	if (cvc_spki_der(pk, &der, e) < 0)
		return -1;
	rc = cvc_spki_pem_of(der.data, der.len, pem, e);
	smk_buf_free(&der);
	return rc;
}

/* RFC 7468 as PEM_write_bio writes it: lines of 64 base64 characters
 * (48 bytes), each ended by a newline, between the two labels; written
 * here without a BIO (test_spki compares the bytes). */
int cvc_spki_pem_of(const uint8_t *der, size_t len, char **pem, smk_err *e)
{
	static const char head[] = "-----BEGIN PUBLIC KEY-----\n";
	static const char tail[] = "-----END PUBLIC KEY-----\n";
	size_t chars = 4 * ((len + 2) / 3), i, at;
	char *s;

	*pem = NULL;
	if (len == 0 || len > INT32_MAX)
		return smk_fail(e, SMK_E_CRYPTO, "cannot encode the public key as PEM");
	/* the base64, a newline per line, the labels and the NUL */
	s = malloc(sizeof(head) - 1 + chars + (chars + 63) / 64 + sizeof(tail));
	if (s == NULL)
		return smk_fail(e, SMK_E_NOMEM, "PEM: out of memory");
	memcpy(s, head, sizeof(head) - 1);
	at = sizeof(head) - 1;
	for (i = 0; i < len; i += 48) {
		size_t n = len - i < 48 ? len - i : 48;

		/* EVP_EncodeBlock ends with a NUL, where the newline goes */
		EVP_EncodeBlock((unsigned char *)s + at, der + i, (int)n);
		at += 4 * ((n + 2) / 3);
		s[at++] = '\n';
	}
	memcpy(s + at, tail, sizeof(tail));
	*pem = s;
	return 0;
}
