/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Key domains with a DKEK, and the two commands that use it: WRAP KEY
 * (80 72 id 92) exports a key as a DKEK key blob, UNWRAP KEY (80 74 id 93)
 * imports one (reference §2.7, §7.9; the blob layout is described in
 * docs/simulator.md "Key blobs").
 *
 * Blob: KCV(8) | key type(1) | len(2) OID | len(2) allowed algorithms |
 * len(2) access conditions | len(2) key OID | AES-256-CBC(Kenc, IV 0) of
 * (random(8) | key size(2) | key fields, each len(2) value | ISO/IEC 9797-1
 * padding 2) | CMAC-AES-256(Kmac) over everything before it (16).
 * KCV = SHA-256(DKEK)[0..8), Kenc = SHA-256(DKEK | 00000001),
 * Kmac = SHA-256(DKEK | 00000002). Integers are big-endian.
 */
#include "sim/sim_int.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "sm/alg.h"
#include "sm/curves.h"

#define BLOB_TYPE_RSA 5	    /* d, n, e */
#define BLOB_TYPE_RSA_CRT 6 /* not simulated */
#define BLOB_TYPE_EC 12
#define BLOB_TYPE_AES 15 /* not simulated */
#define BLOB_MAC_LEN 16
#define BLOB_MAX 4096

/* id-TA-RSA-v1-5-SHA-256 and id-TA-ECDSA-SHA-256 (reference §3.5) */
static const uint8_t oid_rsa[] = {0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x01, 0x02};
static const uint8_t oid_ec[] = {0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03};

static int sha256_tagged(const uint8_t dkek[SIM_DKEK_LEN], int counter, uint8_t out[32])
{
	uint8_t in[SIM_DKEK_LEN + 4];
	unsigned len = 0;
	size_t n = SIM_DKEK_LEN;
	int ok;

	memcpy(in, dkek, SIM_DKEK_LEN);
	if (counter > 0) {
		in[SIM_DKEK_LEN] = 0;
		in[SIM_DKEK_LEN + 1] = 0;
		in[SIM_DKEK_LEN + 2] = 0;
		in[SIM_DKEK_LEN + 3] = (uint8_t)counter;
		n += 4;
	}
	ok = EVP_Digest(in, n, out, &len, EVP_sha256(), NULL) == 1;
	OPENSSL_cleanse(in, sizeof(in));
	return ok ? 0 : -1;
}

void sim_dkek_kcv(const uint8_t dkek[32], uint8_t kcv[SIM_DKEK_KCV_LEN])
{
	uint8_t md[32];

	memset(kcv, 0, SIM_DKEK_KCV_LEN);
	if (sha256_tagged(dkek, 0, md) == 0)
		memcpy(kcv, md, SIM_DKEK_KCV_LEN);
}

void sim_domain_kcv(const struct sim_domain *d, uint8_t kcv[8])
{
	/* nothing imported yet: no key to check */
	if (!d->has_dkek) {
		memset(kcv, 0, 8);
		return;
	}
	sim_dkek_kcv(d->dkek, kcv);
}

bool sim_domain_complete(const struct sim_domain *d)
{
	return d->present && !d->xkek && d->has_dkek && d->shares_left == 0;
}

static int cmac(const uint8_t key[32], const uint8_t *p, size_t n, uint8_t out[16])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2];
	size_t len = 0;
	int ok;

	params[0] =
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)"AES-256-CBC", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = ctx != NULL && EVP_MAC_init(ctx, key, 32, params) == 1 &&
	     EVP_MAC_update(ctx, p, n) == 1 && EVP_MAC_final(ctx, out, &len, 16) == 1 && len == 16;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok ? 0 : -1;
}

/* AES-256-CBC with a zero IV over whole blocks, in place. */
static int cbc(const uint8_t key[32], uint8_t *p, size_t n, bool enc)
{
	static const uint8_t iv[16];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, ok;

	ok = ctx != NULL && n % 16 == 0 &&
	     EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv, enc ? 1 : 0) == 1 &&
	     EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	     EVP_CipherUpdate(ctx, p, &len, p, (int)n) == 1 && (size_t)len == n;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int put16(smk_buf *b, size_t v)
{
	return smk_buf_add_byte(b, (uint8_t)(v >> 8)) | smk_buf_add_byte(b, (uint8_t)v);
}

static int put_field(smk_buf *b, const uint8_t *p, size_t n)
{
	return put16(b, n) | (n ? smk_buf_add(b, p, n) : 0);
}

/* A value without its leading zero bytes. */
static int put_trimmed(smk_buf *b, const uint8_t *p, size_t n)
{
	while (n > 0 && *p == 0) {
		p++;
		n--;
	}
	return put_field(b, p, n);
}

static int put_bn(smk_buf *b, const BIGNUM *bn)
{
	uint8_t tmp[1024];
	int n = BN_num_bytes(bn);

	if (n < 0 || (size_t)n > sizeof(tmp) || BN_bn2bin(bn, tmp) != n)
		return -1;
	n = put_field(b, tmp, (size_t)n);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return n;
}

static int ec_fields(EVP_PKEY *key, smk_buf *kb, smk_err *e)
{
	char group[64];
	const smk_curve *curve;
	smk_curve_params cp;
	uint8_t q[1 + 2 * 66];
	size_t qlen = 0;
	BIGNUM *d = NULL;
	int r = -1;

	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   NULL) != 1 ||
	    (curve = curve_by_nid(OBJ_sn2nid(group))) == NULL)
		return smk_fail(e, SMK_E_UNSUPPORTED, "key blob: EC key on a curve we do not know");
	if (curve_params(curve, &cp, e) < 0)
		return -1;
	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
	    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, q, sizeof(q), &qlen) !=
		1 ||
	    qlen != cp.g_len) {
		smk_fail(e, SMK_E_CRYPTO,
			 "key blob: EC key without private or uncompressed public part");
		goto done;
	}
	if (put16(kb, curve->field_bits) < 0 || put_trimmed(kb, cp.a, cp.field_len) < 0 ||
	    put_trimmed(kb, cp.b, cp.field_len) < 0 || put_trimmed(kb, cp.p, cp.field_len) < 0 ||
	    put_trimmed(kb, cp.r, cp.order_len) < 0 || put_field(kb, cp.g, cp.g_len) < 0 ||
	    put_bn(kb, d) < 0 || put_field(kb, q, qlen) < 0) {
		smk_fail(e, SMK_E_NOMEM, "key blob: out of memory");
		goto done;
	}
	r = 0;
done:
	BN_clear_free(d);
	return r;
}

static int rsa_fields(EVP_PKEY *key, smk_buf *kb, smk_err *e)
{
	BIGNUM *n = NULL, *ex = NULL, *d = NULL;
	int r = -1;

	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &ex) != 1 ||
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_D, &d) != 1) {
		smk_fail(e, SMK_E_CRYPTO, "key blob: RSA key without its private exponent");
		goto done;
	}
	if (put16(kb, (size_t)BN_num_bits(n)) < 0 || put_bn(kb, d) < 0 || put_bn(kb, n) < 0 ||
	    put_bn(kb, ex) < 0) {
		smk_fail(e, SMK_E_NOMEM, "key blob: out of memory");
		goto done;
	}
	r = 0;
done:
	BN_free(n);
	BN_free(ex);
	BN_clear_free(d);
	return r;
}

int sim_dkek_wrap(const uint8_t dkek[32], EVP_PKEY *key, const uint8_t *algs, size_t n_algs,
		  smk_buf *out, smk_err *e)
{
	smk_buf kb = SMK_BUF_INIT;
	uint8_t kenc[32], kmac[32], kcv[8], mac[16];
	bool ec = EVP_PKEY_is_a(key, "EC");
	size_t start = out->len;
	int r = -1;

	kb.secret = 1;
	if (!ec && !EVP_PKEY_is_a(key, "RSA"))
		return smk_fail(e, SMK_E_UNSUPPORTED, "key blob: only EC and RSA keys");
	if (n_algs > SMK_ALG_LIST_MAX)
		return smk_fail(e, SMK_E_ARG, "key blob: %zu algorithms, at most %d", n_algs,
				SMK_ALG_LIST_MAX);
	if (sha256_tagged(dkek, 1, kenc) < 0 || sha256_tagged(dkek, 2, kmac) < 0)
		return smk_fail(e, SMK_E_CRYPTO, "key blob: SHA-256 failed");
	sim_dkek_kcv(dkek, kcv);
	/* the clear part */
	if (smk_buf_add(out, kcv, 8) < 0 ||
	    smk_buf_add_byte(out, ec ? BLOB_TYPE_EC : BLOB_TYPE_RSA) < 0 ||
	    put_field(out, ec ? oid_ec : oid_rsa, sizeof(oid_ec)) < 0 ||
	    put_field(out, algs, n_algs) < 0 || put16(out, 0) < 0 || put16(out, 0) < 0) {
		smk_fail(e, SMK_E_NOMEM, "key blob: out of memory");
		goto done;
	}
	/* the encrypted part: 8 random bytes, key size and fields, padding */
	if (smk_buf_reserve(&kb, 8) < 0 || RAND_bytes(kb.data, 8) != 1) {
		smk_fail(e, SMK_E_CRYPTO, "key blob: no random bytes");
		goto done;
	}
	kb.len = 8;
	if ((ec ? ec_fields(key, &kb, e) : rsa_fields(key, &kb, e)) < 0)
		goto done;
	if (smk_buf_add_byte(&kb, 0x80) < 0) {
		smk_fail(e, SMK_E_NOMEM, "key blob: out of memory");
		goto done;
	}
	while (kb.len % 16 != 0)
		if (smk_buf_add_byte(&kb, 0x00) < 0) {
			smk_fail(e, SMK_E_NOMEM, "key blob: out of memory");
			goto done;
		}
	if (cbc(kenc, kb.data, kb.len, true) < 0 || smk_buf_add(out, kb.data, kb.len) < 0 ||
	    cmac(kmac, out->data + start, out->len - start, mac) < 0 ||
	    smk_buf_add(out, mac, sizeof(mac)) < 0) {
		smk_fail(e, SMK_E_CRYPTO, "key blob: encryption failed");
		goto done;
	}
	r = 0;
done:
	if (r < 0)
		out->len = start;
	smk_buf_free(&kb);
	OPENSSL_cleanse(kenc, sizeof(kenc));
	OPENSSL_cleanse(kmac, sizeof(kmac));
	return r;
}

/* A reader over the blob: every read is bounds-checked. */
struct rd {
	const uint8_t *p;
	size_t n, off;
};

static int get16(struct rd *r, size_t *v)
{
	if (r->n - r->off < 2)
		return -1;
	*v = (size_t)r->p[r->off] << 8 | r->p[r->off + 1];
	r->off += 2;
	return 0;
}

static int get_field(struct rd *r, const uint8_t **p, size_t *n)
{
	if (get16(r, n) < 0 || r->n - r->off < *n)
		return -1;
	*p = r->p + r->off;
	r->off += *n;
	return 0;
}

/* The key pair that bld's parameters describe, as an EVP_PKEY of type. */
static int keypair_from(OSSL_PARAM_BLD *bld, const char *type, EVP_PKEY **out)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
	int ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
		 EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) == 1;

	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return ok ? 0 : -1;
}

static int ec_key_from(const smk_curve *curve, const uint8_t *d, size_t dlen, const uint8_t *q,
		       size_t qlen, EVP_PKEY **out, smk_err *e)
{
	EC_GROUP *grp = EC_GROUP_new_by_curve_name(curve->nid);
	EC_POINT *pt = grp ? EC_POINT_new(grp) : NULL;
	BIGNUM *bd = BN_bin2bn(d, (int)dlen, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	uint8_t pub[1 + 2 * 66];
	size_t plen = 0;
	int r = -1;

	if (grp == NULL || pt == NULL || bd == NULL || bld == NULL) {
		smk_fail(e, SMK_E_NOMEM, "key blob: out of memory");
		goto done;
	}
	if (BN_is_zero(bd) || BN_cmp(bd, EC_GROUP_get0_order(grp)) >= 0) {
		smk_fail(e, SMK_E_FORMAT, "key blob: EC private key out of range");
		goto done;
	}
	if (EC_POINT_mul(grp, pt, bd, NULL, NULL, NULL) != 1 ||
	    (plen = EC_POINT_point2oct(grp, pt, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub),
				       NULL)) == 0) {
		smk_fail(e, SMK_E_CRYPTO, "key blob: EC public key not computable");
		goto done;
	}
	if (qlen != plen || memcmp(q, pub, plen) != 0) {
		smk_fail(e, SMK_E_FORMAT,
			 "key blob: EC public key does not belong to the private key");
		goto done;
	}
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(curve->nid),
					    0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, plen) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bd) != 1 ||
	    keypair_from(bld, "EC", out) < 0) {
		smk_fail(e, SMK_E_CRYPTO, "key blob: EC key not constructible");
		goto done;
	}
	r = 0;
done:
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(bd);
	EC_POINT_free(pt);
	EC_GROUP_free(grp);
	return r;
}

static int ec_decode(struct rd *kb, unsigned size, EVP_PKEY **out, smk_err *e)
{
	const uint8_t *a, *b, *p, *n, *g, *d, *q;
	size_t al, bl, pl, nl, gl, dl, ql;
	const smk_curve *curve;

	if (get_field(kb, &a, &al) < 0 || get_field(kb, &b, &bl) < 0 ||
	    get_field(kb, &p, &pl) < 0 || get_field(kb, &n, &nl) < 0 ||
	    get_field(kb, &g, &gl) < 0 || get_field(kb, &d, &dl) < 0 || get_field(kb, &q, &ql) < 0)
		return smk_fail(e, SMK_E_FORMAT, "key blob: EC key fields truncated");
	curve = curve_match(p, pl, a, al, b, bl, g, gl, n, nl, e);
	if (curve == NULL)
		return smk_context(e, "key blob");
	if (size != curve->field_bits)
		return smk_fail(e, SMK_E_FORMAT, "key blob: key size %u for a %u-bit curve", size,
				curve->field_bits);
	if (dl == 0 || dl > curve->order_len)
		return smk_fail(e, SMK_E_FORMAT, "key blob: EC private key of %zu bytes", dl);
	return ec_key_from(curve, d, dl, q, ql, out, e);
}

static int rsa_decode(struct rd *kb, unsigned size, EVP_PKEY **out, smk_err *e)
{
	const uint8_t *d, *n, *x;
	size_t dl, nl, xl;
	BIGNUM *bd = NULL, *bn = NULL, *be = NULL, *m = NULL, *c = NULL;
	BN_CTX *bctx = BN_CTX_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	int r = -1;

	if (get_field(kb, &d, &dl) < 0 || get_field(kb, &n, &nl) < 0 ||
	    get_field(kb, &x, &xl) < 0) {
		smk_fail(e, SMK_E_FORMAT, "key blob: RSA key fields truncated");
		goto done;
	}
	bd = BN_bin2bn(d, (int)dl, NULL);
	bn = BN_bin2bn(n, (int)nl, NULL);
	be = BN_bin2bn(x, (int)xl, NULL);
	m = BN_new();
	c = BN_new();
	if (bctx == NULL || bld == NULL || bd == NULL || bn == NULL || be == NULL || m == NULL ||
	    c == NULL) {
		smk_fail(e, SMK_E_NOMEM, "key blob: out of memory");
		goto done;
	}
	if ((unsigned)BN_num_bits(bn) != size || size < 1024 || size > 4096 || !BN_is_odd(be) ||
	    BN_is_one(be) || BN_is_zero(bd) || BN_cmp(bd, bn) >= 0) {
		smk_fail(e, SMK_E_FORMAT, "key blob: RSA key of %u bits does not hold together",
			 size);
		goto done;
	}
	/* the exponents must invert each other: (2^e)^d == 2 mod n */
	if (BN_set_word(m, 2) != 1 || BN_mod_exp(c, m, be, bn, bctx) != 1 ||
	    BN_mod_exp(c, c, bd, bn, bctx) != 1 || BN_cmp(c, m) != 0) {
		smk_fail(e, SMK_E_FORMAT, "key blob: RSA private exponent does not fit the key");
		goto done;
	}
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, bd) != 1 ||
	    keypair_from(bld, "RSA", out) < 0) {
		smk_fail(e, SMK_E_CRYPTO, "key blob: RSA key not constructible");
		goto done;
	}
	r = 0;
done:
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(bd);
	BN_free(bn);
	BN_free(be);
	BN_clear_free(m);
	BN_clear_free(c);
	BN_CTX_free(bctx);
	return r;
}

int sim_dkek_unwrap(const uint8_t dkek[32], const uint8_t *blob, size_t n, EVP_PKEY **key,
		    uint8_t algs[16], size_t *n_algs, smk_err *e)
{
	uint8_t kenc[32], kmac[32], kcv[8], mac[16];
	const uint8_t *oid, *al, *ac, *koid;
	size_t oidl, all, acl, koidl, size, enc_len, i;
	struct rd hd = {blob, n, 9}, kb;
	uint8_t *plain = NULL;
	int type, r = -1;

	*key = NULL;
	*n_algs = 0;
	if (n < 9 + 8 + 16 + BLOB_MAC_LEN || n > BLOB_MAX)
		return smk_fail(e, SMK_E_FORMAT, "key blob: %zu bytes is no key blob", n);
	sim_dkek_kcv(dkek, kcv);
	if (memcmp(kcv, blob, 8) != 0)
		return smk_fail(e, SMK_E_MISMATCH, "key blob: made under another DKEK (KCV)");
	if (sha256_tagged(dkek, 1, kenc) < 0 || sha256_tagged(dkek, 2, kmac) < 0 ||
	    cmac(kmac, blob, n - BLOB_MAC_LEN, mac) < 0) {
		smk_fail(e, SMK_E_CRYPTO, "key blob: SHA-256 or CMAC failed");
		goto done;
	}
	if (CRYPTO_memcmp(mac, blob + n - BLOB_MAC_LEN, BLOB_MAC_LEN) != 0) {
		smk_fail(e, SMK_E_SIGNATURE, "key blob: CMAC does not verify");
		goto done;
	}
	hd.n = n - BLOB_MAC_LEN;
	type = blob[8];
	if (get_field(&hd, &oid, &oidl) < 0 || get_field(&hd, &al, &all) < 0 ||
	    get_field(&hd, &ac, &acl) < 0 || get_field(&hd, &koid, &koidl) < 0) {
		smk_fail(e, SMK_E_FORMAT, "key blob: header truncated");
		goto done;
	}
	(void)ac;
	(void)koid;
	if (type != BLOB_TYPE_EC && type != BLOB_TYPE_RSA) {
		smk_fail(e, SMK_E_UNSUPPORTED, "key blob: key type %d is not simulated", type);
		goto done;
	}
	if (oidl != sizeof(oid_ec) ||
	    memcmp(oid, type == BLOB_TYPE_EC ? oid_ec : oid_rsa, sizeof(oid_ec)) != 0) {
		smk_fail(e, SMK_E_FORMAT, "key blob: algorithm OID does not fit key type %d", type);
		goto done;
	}
	if (all > SMK_ALG_LIST_MAX) {
		smk_fail(e, SMK_E_FORMAT, "key blob: %zu allowed algorithms, at most %d", all,
			 SMK_ALG_LIST_MAX);
		goto done;
	}
	for (i = 0; i < all; i++)
		if (alg_by_id(al[i]) == NULL) {
			smk_fail(e, SMK_E_FORMAT, "key blob: unknown algorithm %02X", al[i]);
			goto done;
		}
	enc_len = hd.n - hd.off;
	if (enc_len < 16 || enc_len % 16 != 0) {
		smk_fail(e, SMK_E_FORMAT, "key blob: encrypted part of %zu bytes", enc_len);
		goto done;
	}
	plain = malloc(enc_len);
	if (plain == NULL) {
		smk_fail(e, SMK_E_NOMEM, "key blob: out of memory");
		goto done;
	}
	memcpy(plain, blob + hd.off, enc_len);
	if (cbc(kenc, plain, enc_len, false) < 0) {
		smk_fail(e, SMK_E_CRYPTO, "key blob: decryption failed");
		goto done;
	}
	kb = (struct rd){plain, enc_len, 8};
	if (get16(&kb, &size) < 0) {
		smk_fail(e, SMK_E_FORMAT, "key blob: key size missing");
		goto done;
	}
	if ((type == BLOB_TYPE_EC ? ec_decode(&kb, (unsigned)size, key, e)
				  : rsa_decode(&kb, (unsigned)size, key, e)) < 0)
		goto done;
	/* what is left is padding: nothing, 80 00 .. or zeros, less than a block */
	if (enc_len - kb.off >= 16 + 1) {
		smk_fail(e, SMK_E_FORMAT, "key blob: %zu bytes after the key", enc_len - kb.off);
		goto done;
	}
	memcpy(algs, al, all);
	*n_algs = all;
	r = 0;
done:
	if (r < 0) {
		EVP_PKEY_free(*key);
		*key = NULL;
	}
	if (plain != NULL) {
		OPENSSL_cleanse(plain, enc_len);
		free(plain);
	}
	OPENSSL_cleanse(kenc, sizeof(kenc));
	OPENSSL_cleanse(kmac, sizeof(kmac));
	return r;
}

/* ---- the commands ---- */

static uint8_t key_domain_of(const struct sim_key *k)
{
	return k->has_domain ? k->domain : 0;
}

uint16_t sim_cmd_wrap(sim_card *c, const apdu *a, smk_buf *out)
{
	struct sim_key *k;
	struct sim_domain *d;
	size_t i;
	bool allowed;

	if (!c->pin_ok)
		return SW_SECURITY;
	if (a->p2 != 0x92 || a->p1 == 0)
		return SW_WRONG_P1P2;
	if (a->lc != 0)
		return SW_WRONG_LENGTH;
	k = c->keys[a->p1];
	if (k == NULL)
		return SW_NOT_FOUND;
	/* reference §6.5: with an algorithm list, export needs 92 in it */
	allowed = k->n_algs == 0;
	for (i = 0; i < k->n_algs; i++)
		if (k->algs[i] == 0x92)
			allowed = true;
	if (!allowed)
		return SW_FUNC_UNSUPPORTED;
	if (key_domain_of(k) >= c->n_domains)
		return SW_REF_NOT_FOUND;
	d = &c->domains[key_domain_of(k)];
	if (!sim_domain_complete(d))
		return SW_REF_NOT_FOUND; /* no DKEK (yet) in the key's domain */
	if (sim_dkek_wrap(d->dkek, k->pkey, k->algs, k->n_algs, out, NULL) < 0)
		return SW_UNKNOWN;
	return SW_OK;
}

/* CHR of an imported key's request: the device serial (the device CHR
 * without its 5-digit sequence) and the key id as sequence, as OpenSC
 * names generated keys. */
static void import_chr(const sim_card *c, uint8_t id, char chr[17])
{
	size_t n = strlen(c->chr);
	char serial[17];

	if (n > 5)
		n -= 5;
	memcpy(serial, c->chr, n);
	serial[n] = '\0';
	snprintf(chr, 17, "%.11s%05u", serial, id);
}

uint16_t sim_cmd_unwrap(sim_card *c, const apdu *a, smk_buf *out)
{
	const uint8_t *blob = a->data;
	size_t n = a->lc, i;
	struct sim_file *f;
	struct sim_key *k = NULL;
	EVP_PKEY *pkey = NULL;
	uint8_t kcv[8], algs[16];
	size_t n_algs = 0;
	smk_buf areq = SMK_BUF_INIT;
	char chr[17];
	int dom = -1;
	uint16_t sw;

	(void)out;
	if (!c->pin_ok)
		return SW_SECURITY;
	if (a->p2 != 0x93 || a->p1 == 0)
		return SW_WRONG_P1P2;
	/* reference §7.9: OpenSC may put the blob into EF 2F10 and send none */
	if (n == 0) {
		f = sim_file_find(c, SIM_FID_UNWRAP);
		if (f == NULL)
			return SW_NOT_FOUND;
		blob = f->data.data;
		n = f->data.len;
	}
	if (n < 8)
		return SW_WRONG_DATA;
	/* the domain whose DKEK the blob names by its KCV */
	for (i = 0; i < c->n_domains && dom < 0; i++) {
		if (!sim_domain_complete(&c->domains[i]))
			continue;
		sim_domain_kcv(&c->domains[i], kcv);
		if (memcmp(kcv, blob, 8) == 0)
			dom = (int)i;
	}
	if (dom < 0)
		return SW_REF_NOT_FOUND;
	if (sim_dkek_unwrap(c->domains[dom].dkek, blob, n, &pkey, algs, &n_algs, NULL) < 0)
		return SW_WRONG_DATA;
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		sw = SW_UNKNOWN;
		goto done;
	}
	k->id = a->p1;
	k->type = EVP_PKEY_is_a(pkey, "EC") ? SMK_KEY_EC : SMK_KEY_RSA;
	k->pkey = pkey;
	pkey = NULL;
	memcpy(k->algs, algs, n_algs);
	k->n_algs = n_algs;
	k->has_domain = true;
	k->domain = (uint8_t)dom;
	if (c->attest_imports) {
		import_chr(c, a->p1, chr);
		if (sim_authreq(c, k, NULL, chr, &areq) < 0) {
			sw = SW_UNKNOWN;
			goto done;
		}
	}
	sw = sim_key_install(c, a->p1, &k, c->attest_imports ? &areq : NULL);
done:
	sim_key_free(k);
	EVP_PKEY_free(pkey);
	smk_buf_free(&areq);
	return sw;
}

int sim_card_set_xkek_domain(sim_card *c, uint8_t domain, const uint8_t *uid, size_t n, smk_err *e)
{
	struct sim_domain *d;

	if (domain >= c->n_domains)
		return smk_fail(e, SMK_E_ARG, "key domain %u: the card has %u", domain,
				c->n_domains);
	if (n == 0 || n > SIM_UID_MAX)
		return smk_fail(e, SMK_E_ARG, "key domain %u: UID of %zu bytes, want 1 to %d",
				domain, n, SIM_UID_MAX);
	d = &c->domains[domain];
	OPENSSL_cleanse(d, sizeof(*d));
	d->present = true;
	d->xkek = true;
	memcpy(d->uid, uid, n);
	d->uid_len = n;
	c->dirty = true;
	return 0;
}

void sim_card_set_attest_imports(sim_card *c, bool on)
{
	c->attest_imports = on;
}

void sim_card_set_fcp_algorithms(sim_card *c, bool on)
{
	c->fcp_algs = on;
}
