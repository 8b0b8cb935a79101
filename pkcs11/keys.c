/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkeyd's signing keys as PKCS#11 objects (p11.h). Every member of the
 * daemon's reply is checked before use: the public key and the certificate
 * are parsed by OpenSSL, and the attributes are derived from them, never
 * from the reply's own words (key_type, bits).
 */
#include "p11.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"

/* smkeyd's archive key (its label, and the name its record gives as the
 * policy) never signs through Sign; should a daemon list it, the module
 * still offers no object for it */
#define P11_ARCHIVE_LABEL "smkeyd-archive"
#define P11_ARCHIVE_POLICY "smkeyd-archive-key"

static const struct {
	const char *name;
	unsigned bit;
} alg_names[] = {
    {"ecdsa", P11_ALG_ECDSA},	      {"ecdsa-sha256", P11_ALG_ECDSA_SHA256},
    {"rsa-pkcs1", P11_ALG_RSA_PKCS1}, {"rsa-pkcs1-sha256", P11_ALG_RSA_PKCS1_SHA256},
    {"rsa-pss", P11_ALG_RSA_PSS},     {"rsa-pss-sha256", P11_ALG_RSA_PSS_SHA256},
};

const char *p11_alg_name(unsigned alg)
{
	size_t i;

	for (i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
		if (alg_names[i].bit == alg)
			return alg_names[i].name;
	return "?";
}

static void key_free(p11_key *k)
{
	free(k->label);
	smk_buf_free(&k->spki);
	smk_buf_free(&k->cert);
	smk_buf_free(&k->ec_params);
	smk_buf_free(&k->ec_point);
	smk_buf_free(&k->modulus);
	smk_buf_free(&k->exponent);
	smk_buf_free(&k->subject);
	smk_buf_free(&k->issuer);
	smk_buf_free(&k->serial);
}

void p11_keys_free(p11_keys *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		key_free(&k->v[i]);
	free(k->v);
	k->v = NULL;
	k->n = 0;
}

p11_key *p11_keys_find(p11_keys *k, long long seq)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		if (k->v[i].seq == seq)
			return &k->v[i];
	return NULL;
}

/* The DER an i2d_ function made (len bytes at der, or len <= 0) appended
 * to b; der is freed. */
static int der_add(smk_buf *b, int len, unsigned char *der)
{
	int rc = len > 0 && smk_buf_add(b, der, (size_t)len) == 0 ? 0 : -1;

	OPENSSL_free(der);
	return rc;
}

static int bn_param(EVP_PKEY *pk, const char *name, smk_buf *out)
{
	BIGNUM *bn = NULL;
	int rc = -1, n;

	if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1)
		return -1;
	n = BN_num_bytes(bn);
	if (n > 0 && smk_buf_reserve(out, (size_t)n) == 0) {
		BN_bn2bin(bn, out->data);
		out->len = (size_t)n;
		rc = 0;
	}
	BN_free(bn);
	return rc;
}

static int ec_attrs(EVP_PKEY *pk, p11_key *k)
{
	char group[80];
	uint8_t point[200];
	size_t plen = 0;
	ASN1_OBJECT *oid;
	ASN1_OCTET_STRING *os;
	unsigned char *der = NULL;
	int nid, len;

	if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   NULL) != 1 ||
	    EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point),
					    &plen) != 1)
		return -1;
	nid = OBJ_sn2nid(group);
	if (nid == NID_undef)
		nid = OBJ_txt2nid(group);
	oid = nid == NID_undef ? NULL : OBJ_nid2obj(nid);
	if (!oid)
		return -1;
	len = i2d_ASN1_OBJECT(oid, &der);
	if (der_add(&k->ec_params, len, der) < 0)
		return -1;
	os = ASN1_OCTET_STRING_new();
	if (!os || ASN1_OCTET_STRING_set(os, point, (int)plen) != 1) {
		ASN1_OCTET_STRING_free(os);
		return -1;
	}
	der = NULL;
	len = i2d_ASN1_OCTET_STRING(os, &der);
	ASN1_OCTET_STRING_free(os);
	return der_add(&k->ec_point, len, der);
}

/* The public key: type, size, CKA_ID and the type's attributes. */
static int key_public(p11_key *k, const char *type)
{
	const unsigned char *p = k->spki.data;
	X509_PUBKEY *xp = d2i_X509_PUBKEY(NULL, &p, (long)k->spki.len);
	const unsigned char *bits = NULL;
	EVP_PKEY *pk;
	int nbits = 0, rc = -1;

	if (!xp || p != k->spki.data + k->spki.len)
		goto out;
	if (X509_PUBKEY_get0_param(NULL, &bits, &nbits, NULL, xp) != 1 || nbits <= 0)
		goto out;
	SHA1(bits, (size_t)nbits, k->id);
	pk = X509_PUBKEY_get0(xp);
	if (!pk || EVP_PKEY_get_bits(pk) <= 0)
		goto out;
	k->bits = (unsigned)EVP_PKEY_get_bits(pk);
	if (EVP_PKEY_is_a(pk, "EC") && strcmp(type, "ec") == 0) {
		k->ec = 1;
		rc = ec_attrs(pk, k);
	} else if (EVP_PKEY_is_a(pk, "RSA") && strcmp(type, "rsa") == 0) {
		k->ec = 0;
		rc = bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &k->modulus) < 0 ||
			     bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &k->exponent) < 0
			 ? -1
			 : 0;
	}
out:
	X509_PUBKEY_free(xp);
	return rc;
}

/* The certificate: it must be for this key; subject, issuer, serial. */
static int key_cert(p11_key *k)
{
	const unsigned char *p = k->cert.data;
	X509 *x = d2i_X509(NULL, &p, (long)k->cert.len);
	unsigned char *der = NULL;
	int len, same, rc = -1;

	if (!x || p != k->cert.data + k->cert.len)
		goto out;
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	same = len > 0 && (size_t)len == k->spki.len && memcmp(der, k->spki.data, k->spki.len) == 0;
	OPENSSL_free(der);
	if (!same)
		goto out;
	der = NULL;
	len = i2d_X509_NAME(X509_get_subject_name(x), &der);
	if (der_add(&k->subject, len, der) < 0)
		goto out;
	der = NULL;
	len = i2d_X509_NAME(X509_get_issuer_name(x), &der);
	if (der_add(&k->issuer, len, der) < 0)
		goto out;
	der = NULL;
	len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);
	if (der_add(&k->serial, len, der) < 0)
		goto out;
	rc = 0;
out:
	X509_free(x);
	return rc;
}

static int key_parse(json_t *o, p11_key *k, size_t i)
{
	json_t *seq = json_object_get(o, "seq"), *algs = json_object_get(o, "algorithms"), *a;
	const char *label = json_string_value(json_object_get(o, "label"));
	const char *policy = json_string_value(json_object_get(o, "policy"));
	const char *type = json_string_value(json_object_get(o, "key_type"));
	const char *pub = json_string_value(json_object_get(o, "public_key"));
	json_t *cert = json_object_get(o, "certificate");
	smk_err e;
	size_t j, m;

	if (!json_is_object(o) || !json_is_integer(seq) || json_integer_value(seq) < 0 ||
	    json_integer_value(seq) > (json_int_t)(((CK_ULONG)-1) >> 2) || !label || !type ||
	    !pub || !json_is_array(algs)) {
		p11_debug("ListSigningKeys: keys[%zu] lacks seq, label, key_type, public_key or "
			  "algorithms",
			  i);
		return -1;
	}
	k->seq = (long long)json_integer_value(seq);
	k->label = strdup(label);
	if (!k->label)
		return -1;
	k->archive_key = strcmp(label, P11_ARCHIVE_LABEL) == 0 ||
			 (policy && strcmp(policy, P11_ARCHIVE_POLICY) == 0);
	json_array_foreach(algs, j, a)
	{
		for (m = 0; m < sizeof(alg_names) / sizeof(alg_names[0]); m++)
			if (json_is_string(a) &&
			    strcmp(json_string_value(a), alg_names[m].name) == 0)
				k->algs |= alg_names[m].bit;
	}
	if (smk_b64_decode(pub, strlen(pub), &k->spki, "public_key", &e) < 0 ||
	    key_public(k, type) < 0) {
		p11_debug("ListSigningKeys: key %lld: public_key is not a %s key", k->seq, type);
		return -1;
	}
	if (json_is_string(cert) &&
	    (smk_b64_decode(json_string_value(cert), json_string_length(cert), &k->cert,
			    "certificate", &e) < 0 ||
	     key_cert(k) < 0)) {
		p11_debug("ListSigningKeys: key %lld: certificate is not an X.509 certificate "
			  "of its public key",
			  k->seq);
		return -1;
	}
	if (cert && !json_is_string(cert) && !json_is_null(cert))
		return -1;
	return 0;
}

CK_RV p11_keys_parse(json_t *params, p11_keys *out)
{
	json_t *keys = json_object_get(params, "keys"), *o;
	p11_keys r = {NULL, 0};
	size_t i;

	out->v = NULL;
	out->n = 0;
	if (!json_is_array(keys)) {
		p11_debug("ListSigningKeys: reply has no keys list");
		return CKR_DEVICE_ERROR;
	}
	r.v = calloc(json_array_size(keys) + 1, sizeof(*r.v));
	if (!r.v)
		return CKR_HOST_MEMORY;
	json_array_foreach(keys, i, o)
	{
		p11_key *k = &r.v[r.n];

		if (key_parse(o, k, i) < 0 || p11_keys_find(&r, k->seq)) {
			r.n++;
			p11_keys_free(&r);
			return CKR_DEVICE_ERROR;
		}
		r.n++;
		if (k->archive_key || k->algs == 0)
			key_free(&r.v[--r.n]);
	}
	*out = r;
	return CKR_OK;
}

/* ---- attributes ---- */

static CK_RV ulong_attr(CK_ULONG v, const void **p, size_t *n, uint8_t *scratch)
{
	memcpy(scratch, &v, sizeof(v));
	*p = scratch;
	*n = sizeof(v);
	return CKR_OK;
}

static CK_RV bool_attr(int v, const void **p, size_t *n, uint8_t *scratch)
{
	scratch[0] = v ? CK_TRUE : CK_FALSE;
	*p = scratch;
	*n = 1;
	return CKR_OK;
}

static CK_RV buf_attr(const smk_buf *b, const void **p, size_t *n)
{
	*p = b->data ? (const void *)b->data : (const void *)"";
	*n = b->len;
	return CKR_OK;
}

static CK_RV mechs_attr(const p11_key *k, const void **p, size_t *n, uint8_t *scratch)
{
	CK_MECHANISM_TYPE *out = (CK_MECHANISM_TYPE *)(void *)scratch;
	CK_MECHANISM mech = {0, NULL, 0};
	CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	p11_mech_use u;
	size_t i, c = 0;

	for (i = 0; i < p11_nmechs && c < 8; i++) {
		mech.mechanism = p11_mech(i);
		mech.pParameter = NULL;
		mech.ulParameterLen = 0;
		if (mech.mechanism == CKM_RSA_PKCS_PSS ||
		    mech.mechanism == CKM_SHA256_RSA_PKCS_PSS) {
			mech.pParameter = &pss;
			mech.ulParameterLen = sizeof(pss);
		}
		if (p11_mech_use_for(k, &mech, &u) == CKR_OK)
			out[c++] = mech.mechanism;
	}
	*p = scratch;
	*n = c * sizeof(CK_MECHANISM_TYPE);
	return CKR_OK;
}

/* What every object has. */
static CK_RV common_attr(const p11_key *k, int cls, CK_ATTRIBUTE_TYPE t, const void **p, size_t *n,
			 uint8_t *s)
{
	static const CK_ULONG classes[] = {0, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE};

	switch (t) {
	case CKA_CLASS:
		return ulong_attr(classes[cls], p, n, s);
	case CKA_TOKEN:
		return bool_attr(1, p, n, s);
	case CKA_PRIVATE: /* visible without C_Login: see docs/pkcs11.md, "Login" */
	case CKA_MODIFIABLE:
	case CKA_COPYABLE:
	case CKA_DESTROYABLE:
		return bool_attr(0, p, n, s);
	case CKA_LABEL:
		*p = k->label;
		*n = strlen(k->label);
		return CKR_OK;
	case CKA_ID:
		*p = k->id;
		*n = sizeof(k->id);
		return CKR_OK;
	case CKA_SUBJECT:
		return buf_attr(&k->subject, p, n);
	case CKA_START_DATE:
	case CKA_END_DATE:
		*p = "";
		*n = 0;
		return CKR_OK;
	default:
		return CKR_ATTRIBUTE_TYPE_INVALID;
	}
}

/* Private and public keys. */
static CK_RV key_attr(const p11_key *k, int cls, CK_ATTRIBUTE_TYPE t, const void **p, size_t *n,
		      uint8_t *s)
{
	switch (t) {
	case CKA_KEY_TYPE:
		return ulong_attr(k->ec ? CKK_EC : CKK_RSA, p, n, s);
	case CKA_LOCAL:
		return bool_attr(1, p, n, s);
	case CKA_KEY_GEN_MECHANISM:
		return ulong_attr(k->ec ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, p, n, s);
	case CKA_DERIVE:
	case CKA_ENCRYPT:
	case CKA_DECRYPT:
	case CKA_WRAP:
	case CKA_UNWRAP:
	case CKA_VERIFY: /* the module offers no C_Verify: clients verify themselves */
	case CKA_VERIFY_RECOVER:
	case CKA_SIGN_RECOVER:
	case CKA_TRUSTED:
	case CKA_WRAP_WITH_TRUSTED:
	case CKA_ALWAYS_AUTHENTICATE:
		return bool_attr(0, p, n, s);
	case CKA_SIGN:
		return bool_attr(cls == P11_OBJ_PRIVATE, p, n, s);
	case CKA_SENSITIVE:
	case CKA_ALWAYS_SENSITIVE:
	case CKA_NEVER_EXTRACTABLE:
		return bool_attr(cls == P11_OBJ_PRIVATE, p, n, s);
	case CKA_EXTRACTABLE:
		return bool_attr(0, p, n, s);
	case CKA_ALLOWED_MECHANISMS:
		return mechs_attr(k, p, n, s);
	case CKA_PUBLIC_KEY_INFO:
		return buf_attr(&k->spki, p, n);
	case CKA_EC_PARAMS:
	case CKA_EC_POINT:
		if (!k->ec)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return buf_attr(t == CKA_EC_PARAMS ? &k->ec_params : &k->ec_point, p, n);
	case CKA_MODULUS:
	case CKA_PUBLIC_EXPONENT:
		if (k->ec)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return buf_attr(t == CKA_MODULUS ? &k->modulus : &k->exponent, p, n);
	case CKA_MODULUS_BITS:
		if (k->ec || cls != P11_OBJ_PUBLIC)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return ulong_attr(k->bits, p, n, s);
	case CKA_VALUE:
	case CKA_PRIVATE_EXPONENT:
	case CKA_PRIME_1:
	case CKA_PRIME_2:
	case CKA_EXPONENT_1:
	case CKA_EXPONENT_2:
	case CKA_COEFFICIENT:
		return cls == P11_OBJ_PRIVATE ? CKR_ATTRIBUTE_SENSITIVE
					      : CKR_ATTRIBUTE_TYPE_INVALID;
	default:
		return common_attr(k, cls, t, p, n, s);
	}
}

static CK_RV cert_attr(const p11_key *k, CK_ATTRIBUTE_TYPE t, const void **p, size_t *n, uint8_t *s)
{
	switch (t) {
	case CKA_CERTIFICATE_TYPE:
		return ulong_attr(CKC_X_509, p, n, s);
	case CKA_CERTIFICATE_CATEGORY:
	case CKA_JAVA_MIDP_SECURITY_DOMAIN:
		return ulong_attr(0, p, n, s);
	case CKA_TRUSTED:
		return bool_attr(0, p, n, s);
	case CKA_VALUE:
		return buf_attr(&k->cert, p, n);
	case CKA_ISSUER:
		return buf_attr(&k->issuer, p, n);
	case CKA_SERIAL_NUMBER:
		return buf_attr(&k->serial, p, n);
	default:
		return common_attr(k, P11_OBJ_CERT, t, p, n, s);
	}
}

CK_RV p11_attr(const p11_key *k, int cls, CK_ATTRIBUTE_TYPE type, const void **p, size_t *n,
	       uint8_t *scratch)
{
	if (cls == P11_OBJ_CERT)
		return cert_attr(k, type, p, n, scratch);
	return key_attr(k, cls, type, p, n, scratch);
}

/* ---- mechanisms ---- */

/* Each mechanism: the algorithm that takes the message (0: none), the one
 * that takes a hash or DigestInfo from the host, and the key type. */
static const struct {
	CK_MECHANISM_TYPE mech;
	unsigned data, hash;
	int ec, pss;
} mechs[] = {
    {CKM_ECDSA, 0, P11_ALG_ECDSA, 1, 0},
    {CKM_ECDSA_SHA256, P11_ALG_ECDSA_SHA256, P11_ALG_ECDSA, 1, 0},
    {CKM_RSA_PKCS, 0, P11_ALG_RSA_PKCS1, 0, 0},
    {CKM_SHA256_RSA_PKCS, P11_ALG_RSA_PKCS1_SHA256, P11_ALG_RSA_PKCS1, 0, 0},
    {CKM_RSA_PKCS_PSS, 0, P11_ALG_RSA_PSS, 0, 1},
    {CKM_SHA256_RSA_PKCS_PSS, P11_ALG_RSA_PSS_SHA256, P11_ALG_RSA_PSS, 0, 1},
};

const size_t p11_nmechs = sizeof(mechs) / sizeof(mechs[0]);

CK_MECHANISM_TYPE p11_mech(size_t i)
{
	return mechs[i].mech;
}

static int mech_index(CK_MECHANISM_TYPE m)
{
	size_t i;

	for (i = 0; i < p11_nmechs; i++)
		if (mechs[i].mech == m)
			return (int)i;
	return -1;
}

CK_RV p11_mech_info(CK_MECHANISM_TYPE m, CK_MECHANISM_INFO *info)
{
	int i = mech_index(m);

	if (i < 0)
		return CKR_MECHANISM_INVALID;
	info->flags = CKF_HW | CKF_SIGN;
	if (mechs[i].ec) {
		info->ulMinKeySize = 192;
		info->ulMaxKeySize = 521;
		info->flags |= CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
	} else {
		info->ulMinKeySize = 1024;
		info->ulMaxKeySize = 4096;
	}
	return CKR_OK;
}

/* PSS parameters the card signs with: SHA-256, MGF1 with SHA-256, a salt
 * as long as the hash (the card's 0x40/0x43 choose it so). */
static int pss_ok(CK_MECHANISM_PTR m)
{
	CK_RSA_PKCS_PSS_PARAMS *pp = m->pParameter;

	return pp && m->ulParameterLen == sizeof(*pp) && pp->hashAlg == CKM_SHA256 &&
	       pp->mgf == CKG_MGF1_SHA256 && pp->sLen == 32;
}

CK_RV p11_mech_use_for(const p11_key *k, CK_MECHANISM_PTR m, p11_mech_use *u)
{
	int i = mech_index(m->mechanism);

	if (i < 0)
		return CKR_MECHANISM_INVALID;
	if (mechs[i].ec != k->ec)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (mechs[i].pss && !pss_ok(m))
		return CKR_MECHANISM_PARAM_INVALID;
	u->message = mechs[i].data != 0;
	u->alg_data = k->algs & mechs[i].data;
	u->alg_hash = k->algs & mechs[i].hash;
	if (!u->alg_data && !u->alg_hash)
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	return CKR_OK;
}

size_t p11_sig_len(const p11_key *k)
{
	return k->ec ? 2 * ((k->bits + 7) / 8) : k->modulus.len;
}
