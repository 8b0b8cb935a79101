/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private-key operations: SIGN (80 68) and DECIPHER / ECDH (80 62), with the
 * restrictions GAKP stored in the key: algorithm list (tag 91, refused with
 * 6A81), use counter (tag 90, 6984 when exhausted) and key domain (tag 92,
 * 6A88 once the domain is gone). Reference §6.5, §6.6, §7.7, §7.8.
 */
#include "sim/sim_int.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "sm/alg.h"

void sim_key_free(struct sim_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

uint16_t sim_key_install(sim_card *c, uint8_t id, struct sim_key **k, const smk_buf *ce)
{
	if (ce && sim_file_put(c, (uint16_t)(SIM_PFX_CERT << 8 | id), ce->data, ce->len) < 0)
		return SW_NO_MEMORY;
	sim_key_free(c->keys[id]);
	c->keys[id] = *k;
	*k = NULL;
	c->dirty = true;
	return SW_OK;
}

void sim_keys_wipe(sim_card *c)
{
	for (size_t i = 1; i < 256; i++) {
		sim_key_free(c->keys[i]);
		c->keys[i] = NULL;
	}
}

EVP_PKEY *sim_keygen_ec(int nid)
{
	const char *sn = OBJ_nid2sn(nid);

	return sn ? EVP_EC_gen(sn) : NULL;
}

EVP_PKEY *sim_keygen_rsa(unsigned bits)
{
	return EVP_RSA_gen(bits);
}

static bool is_sign_alg(uint8_t alg)
{
	return alg == 0x20 || (alg >= 0x30 && alg <= 0x35) || (alg >= 0x40 && alg <= 0x45) ||
	       (alg >= 0x70 && alg <= 0x75);
}

static bool is_decipher_alg(uint8_t alg)
{
	return alg == 0x21 || alg == 0x22 || alg == 0x23 || alg == 0x80;
}

/* Checks shared by SIGN and DECIPHER, in the order a card would make them.
 * On success *kp is the key. */
static uint16_t key_use(sim_card *c, const apdu *a, bool sign, struct sim_key **kp)
{
	struct sim_key *k = c->keys[a->p1];
	const smk_alg *alg = alg_by_id(a->p2);
	size_t i;

	if (!c->pin_ok)
		return SW_SECURITY;
	if (a->p1 == 0) /* PrK.DevAut only authenticates the device */
		return SW_SECURITY;
	if (k == NULL)
		return SW_NOT_FOUND;
	if (alg == NULL || !(alg->keytypes & (unsigned)k->type) ||
	    !(sign ? is_sign_alg(a->p2) : is_decipher_alg(a->p2)))
		return SW_FUNC_UNSUPPORTED;
	if (k->n_algs) {
		for (i = 0; i < k->n_algs; i++)
			if (k->algs[i] == a->p2)
				break;
		if (i == k->n_algs)
			return SW_FUNC_UNSUPPORTED; /* reference §6.5, §9: genuine 6A81 */
	}
	if (k->has_domain && (k->domain >= c->n_domains || !c->domains[k->domain].present))
		return SW_REF_NOT_FOUND;
	if (k->has_counter && k->counter == 0)
		return SW_REF_UNUSABLE; /* reference §6.5, §9: genuine 6984 */
	*kp = k;
	return SW_OK;
}

static void key_used(sim_card *c, struct sim_key *k)
{
	if (k->has_counter) {
		k->counter--;
		c->dirty = true;
	}
	c->extra_ms += c->latency.sign_ms;
}

static const EVP_MD *hash_of(uint8_t alg)
{
	switch (alg & 0x0F) {
	case 1:
		return EVP_sha1();
	case 2:
		return EVP_sha224();
	case 3:
		return EVP_sha256();
	case 4:
		return EVP_sha384();
	case 5:
		return EVP_sha512();
	}
	return NULL;
}

static const EVP_MD *hash_by_len(size_t n)
{
	static const size_t lens[] = {20, 28, 32, 48, 64}; /* hash_of 1 to 5 */
	size_t i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		if (lens[i] == n)
			return hash_of((uint8_t)(i + 1));
	return NULL;
}

/* out += the result of an OpenSSL operation in its two-call form: ask for
 * the length, then write that many bytes (sign, decrypt). */
static int pkey_op_append(int (*op)(EVP_PKEY_CTX *, unsigned char *, size_t *,
				    const unsigned char *, size_t),
			  EVP_PKEY_CTX *ctx, const apdu *a, smk_buf *out)
{
	size_t len = 0;

	if (op(ctx, NULL, &len, a->data, a->lc) != 1 || smk_buf_reserve(out, len) < 0)
		return -1;
	if (op(ctx, out->data + out->len, &len, a->data, a->lc) != 1)
		return -1;
	out->len += len;
	return 0;
}

/* Signature over a message the card hashes itself (71-75, 31-35, 41-45). */
static int sign_message(EVP_PKEY *pk, uint8_t alg, const apdu *a, smk_buf *out)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	size_t len = 0;
	int ok = 0;

	if (md == NULL || EVP_DigestSignInit(md, &pctx, hash_of(alg), NULL, pk) != 1)
		goto done;
	if (alg >= 0x41 && alg <= 0x45 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto done;
	if (EVP_DigestSign(md, NULL, &len, a->data, a->lc) != 1 || smk_buf_reserve(out, len) < 0)
		goto done;
	if (EVP_DigestSign(md, out->data + out->len, &len, a->data, a->lc) != 1)
		goto done;
	out->len += len;
	ok = 1;
done:
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/* The padding of a signature over input prepared by the host: none (20),
 * PKCS#1 v1.5 (30), PSS over a hash of the input's length (40); EC (70) has
 * none. */
static int raw_padding(EVP_PKEY_CTX *ctx, uint8_t alg, size_t lc)
{
	const EVP_MD *h;

	if (alg == 0x20)
		return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) == 1 ? 0 : -1;
	if (alg == 0x30)
		return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 ? 0 : -1;
	if (alg != 0x40)
		return 0;
	h = hash_by_len(lc);
	if (h == NULL || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, h) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) != 1)
		return -1;
	return 0;
}

/* Signature over input prepared by the host (70, 20, 30, 40). */
static int sign_raw(EVP_PKEY *pk, uint8_t alg, const apdu *a, smk_buf *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	int ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 && raw_padding(ctx, alg, a->lc) == 0 &&
		 pkey_op_append(EVP_PKEY_sign, ctx, a, out) == 0;

	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* The private-key operation of algorithm P2 on the command data. */
typedef int (*key_op_fn)(EVP_PKEY *pk, uint8_t alg, const apdu *a, smk_buf *out);

/* SIGN and DECIPHER: the key of P1 may do algorithm P2 (key_use), the data is
 * not empty, and input that does not fit the key (length, padding) is wrong
 * data. */
static uint16_t key_command(sim_card *c, const apdu *a, bool sign, key_op_fn op, smk_buf *out)
{
	struct sim_key *k = NULL;
	uint16_t sw = key_use(c, a, sign, &k);

	if (sw != SW_OK)
		return sw;
	if (a->lc == 0)
		return SW_WRONG_DATA;
	if (op(k->pkey, a->p2, a, out) < 0)
		return SW_WRONG_DATA;
	key_used(c, k);
	return SW_OK;
}

static int sign_op(EVP_PKEY *pk, uint8_t alg, const apdu *a, smk_buf *out)
{
	if (alg == 0x70 || alg == 0x20 || alg == 0x30 || alg == 0x40)
		return sign_raw(pk, alg, a, out);
	return sign_message(pk, alg, a, out);
}

uint16_t sim_cmd_sign(sim_card *c, const apdu *a, smk_buf *out)
{
	return key_command(c, a, true, sign_op, out);
}

static int rsa_decrypt(EVP_PKEY *pk, uint8_t alg, const apdu *a, smk_buf *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	int pad = alg == 0x21	? RSA_NO_PADDING
		  : alg == 0x22 ? RSA_PKCS1_PADDING
				: RSA_PKCS1_OAEP_PADDING;
	int ok = ctx != NULL && EVP_PKEY_decrypt_init(ctx) == 1 &&
		 EVP_PKEY_CTX_set_rsa_padding(ctx, pad) == 1 &&
		 pkey_op_append(EVP_PKEY_decrypt, ctx, a, out) == 0;

	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* reference §7.8: the answer is the shared point 04 || x || y. Whether
 * genuine firmware sends y is open (§10 q7); OpenSC drops the 04 and keeps
 * as many bytes as it needs, so x comes first either way. */
static int ecdh(EVP_PKEY *pk, const apdu *a, smk_buf *out)
{
	char group[64];
	EC_GROUP *g = NULL;
	EC_POINT *peer = NULL, *shared = NULL;
	BIGNUM *d = NULL;
	BN_CTX *bn = BN_CTX_new();
	size_t len;
	int ok = 0;

	if (bn == NULL || EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
							 sizeof(group), NULL) != 1)
		goto done;
	g = EC_GROUP_new_by_curve_name(OBJ_sn2nid(group));
	if (g == NULL || EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1)
		goto done;
	peer = EC_POINT_new(g);
	shared = EC_POINT_new(g);
	/* oct2point rejects points that are not on the curve */
	if (peer == NULL || shared == NULL || a->data[0] != 0x04 ||
	    EC_POINT_oct2point(g, peer, a->data, a->lc, bn) != 1 ||
	    EC_POINT_mul(g, shared, NULL, peer, d, bn) != 1 || EC_POINT_is_at_infinity(g, shared))
		goto done;
	len = EC_POINT_point2oct(g, shared, POINT_CONVERSION_UNCOMPRESSED, NULL, 0, bn);
	if (len == 0 || smk_buf_reserve(out, len) < 0)
		goto done;
	if (EC_POINT_point2oct(g, shared, POINT_CONVERSION_UNCOMPRESSED, out->data + out->len, len,
			       bn) != len)
		goto done;
	out->len += len;
	ok = 1;
done:
	EC_POINT_free(peer);
	EC_POINT_free(shared);
	EC_GROUP_free(g);
	BN_clear_free(d);
	BN_CTX_free(bn);
	return ok ? 0 : -1;
}

static int decipher_op(EVP_PKEY *pk, uint8_t alg, const apdu *a, smk_buf *out)
{
	if (alg == 0x80)
		return ecdh(pk, a, out);
	return rsa_decrypt(pk, alg, a, out);
}

uint16_t sim_cmd_decipher(sim_card *c, const apdu *a, smk_buf *out)
{
	return key_command(c, a, false, decipher_op, out);
}
