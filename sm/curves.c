/* SPDX-License-Identifier: BSD-3-Clause */
#include "curves.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

static const smk_curve curves[] = {
    {"secp256r1", "prime256v1", NID_X9_62_prime256v1, 256, 32, 32},
    {"secp384r1", "P-384", NID_secp384r1, 384, 48, 48},
    {"secp521r1", "P-521", NID_secp521r1, 521, 66, 66},
    {"secp256k1", NULL, NID_secp256k1, 256, 32, 32},
    {"brainpoolP256r1", NULL, NID_brainpoolP256r1, 256, 32, 32},
    {"brainpoolP384r1", NULL, NID_brainpoolP384r1, 384, 48, 48},
    {"brainpoolP512r1", NULL, NID_brainpoolP512r1, 512, 64, 64},
};

#define NCURVES (sizeof(curves) / sizeof(curves[0]))

const smk_curve *curve_list(size_t *n)
{
	*n = NCURVES;
	return curves;
}

const smk_curve *curve_by_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < NCURVES; i++) {
		if (strcasecmp(name, curves[i].name) == 0 ||
		    (curves[i].alias && strcasecmp(name, curves[i].alias) == 0))
			return &curves[i];
	}
	/* NIST short names used by many tools */
	if (strcasecmp(name, "P-256") == 0)
		return &curves[0];
	return NULL;
}

const smk_curve *curve_by_nid(int nid)
{
	size_t i;

	for (i = 0; i < NCURVES; i++)
		if (curves[i].nid == nid)
			return &curves[i];
	return NULL;
}

/* The parameters of every curve of the table, derived once per process:
 * curve_match compares a CV request's explicit parameters with them for
 * every request that smkey audit verifies (an EC_GROUP built per curve tried
 * each time before), from several threads. */
static smk_curve_params known[NCURVES];
static int known_ok[NCURVES];
static pthread_once_t known_once = PTHREAD_ONCE_INIT;

static int derive(const smk_curve *c, smk_curve_params *out)
{
	EC_GROUP *g = NULL;
	BIGNUM *p = NULL, *a = NULL, *b = NULL;
	const BIGNUM *order;
	int ok = 0;

	memset(out, 0, sizeof(*out));
	g = EC_GROUP_new_by_curve_name(c->nid);
	p = BN_new();
	a = BN_new();
	b = BN_new();
	if (g == NULL || p == NULL || a == NULL || b == NULL)
		goto done;
	if (!EC_GROUP_get_curve(g, p, a, b, NULL))
		goto done;
	order = EC_GROUP_get0_order(g);
	if (BN_bn2binpad(p, out->p, (int)c->field_len) < 0 ||
	    BN_bn2binpad(a, out->a, (int)c->field_len) < 0 ||
	    BN_bn2binpad(b, out->b, (int)c->field_len) < 0 ||
	    BN_bn2binpad(order, out->r, (int)c->order_len) < 0)
		goto done;
	out->g_len =
	    EC_POINT_point2oct(g, EC_GROUP_get0_generator(g), POINT_CONVERSION_UNCOMPRESSED, out->g,
			       sizeof(out->g), NULL);
	if (out->g_len != 1 + 2 * c->field_len)
		goto done;
	out->field_len = c->field_len;
	out->order_len = c->order_len;
	out->cofactor = (uint8_t)BN_get_word(EC_GROUP_get0_cofactor(g));
	ok = 1;
done:
	EC_GROUP_free(g);
	BN_free(p);
	BN_free(a);
	BN_free(b);
	return ok;
}

static void derive_known(void)
{
	size_t i;

	for (i = 0; i < NCURVES; i++)
		known_ok[i] = derive(&curves[i], &known[i]);
}

int curve_params(const smk_curve *c, smk_curve_params *out, smk_err *e)
{
	size_t i;
	int ok;

	pthread_once(&known_once, derive_known);
	for (i = 0; i < NCURVES && c != &curves[i]; i++)
		;
	if (i < NCURVES) {
		*out = known[i];
		ok = known_ok[i];
	} else {
		ok = derive(c, out);
	}
	if (!ok)
		return smk_fail(e, SMK_E_CRYPTO, "curve %s: OpenSSL cannot provide its parameters",
				c->name);
	return 0;
}

/* Compare a value as found in a certificate with a reference of fixed width,
 * ignoring leading zero bytes on either side. */
static int same_int(const uint8_t *v, size_t n, const uint8_t *ref, size_t ref_n)
{
	while (n > 0 && v[0] == 0) {
		v++;
		n--;
	}
	while (ref_n > 0 && ref[0] == 0) {
		ref++;
		ref_n--;
	}
	return n == ref_n && memcmp(v, ref, n) == 0;
}

const smk_curve *curve_match(const uint8_t *p, size_t p_len, const uint8_t *a, size_t a_len,
			     const uint8_t *b, size_t b_len, const uint8_t *g, size_t g_len,
			     const uint8_t *r, size_t r_len, smk_err *e)
{
	size_t i, bits = 0;
	smk_curve_params cp;

	for (i = 0; i < NCURVES; i++) {
		if (curve_params(&curves[i], &cp, e) < 0)
			return NULL;
		if (same_int(p, p_len, cp.p, cp.field_len) &&
		    same_int(a, a_len, cp.a, cp.field_len) &&
		    same_int(b, b_len, cp.b, cp.field_len) && g_len == cp.g_len &&
		    memcmp(g, cp.g, g_len) == 0 && same_int(r, r_len, cp.r, cp.order_len))
			return &curves[i];
	}
	for (i = 0; i < p_len && p[i] == 0; i++)
		;
	if (i < p_len) {
		bits = (p_len - i) * 8;
		for (uint8_t top = p[i]; !(top & 0x80); top <<= 1)
			bits--;
	}
	smk_fail(
	    e, SMK_E_UNSUPPORTED,
	    "unknown elliptic curve (%zu-bit prime): explicit parameters match no supported curve",
	    bits);
	return NULL;
}
