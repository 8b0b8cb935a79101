/* SPDX-License-Identifier: BSD-3-Clause */
#include "ca.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "tlv.h"

#define POINT_MAX (1 + 2 * 66) /* uncompressed point on secp521r1 */
#define GA_DATA_MAX 160	       /* 7C 81 L 80 81 L point: 6 + 133 on the largest curve */

/* ref §5.2 step 4 */
const uint8_t ca_protocol_oid[10] = {0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x03, 0x02, 0x02};

static const uint8_t mse_set_at_data[] = {0x80, 0x0A, 0x04, 0x00, 0x7F, 0x00,
					  0x07, 0x02, 0x02, 0x03, 0x02, 0x02};

struct ca_host {
	const smk_curve *curve;
	EVP_PKEY *eph; /* d_h, Q_h; NULL once the handshake is finished */
	uint8_t q_dev[POINT_MAX];
	size_t q_dev_len;
	uint8_t q_h[POINT_MAX];
	size_t q_h_len;
	uint8_t ga[GA_DATA_MAX];
	size_t ga_len;
};

void ca_mse_set_at(apdu *out)
{
	/* P1 41: set for internal authentication; P2 A4: authentication template.
	 * No key reference: the device key is implicit (ref §5.2 step 4). */
	*out = (apdu){.cla = 0x00,
		      .ins = 0x22,
		      .p1 = 0x41,
		      .p2 = 0xA4,
		      .data = mse_set_at_data,
		      .lc = sizeof(mse_set_at_data)};
}

/* An EC key from OSSL_PARAMs: group name, public point, optional private scalar. */
static int key_from_params(const smk_curve *curve, const uint8_t *pub, size_t pub_len,
			   const BIGNUM *priv, EVP_PKEY **out, smk_err *e)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int ok;

	*out = NULL;
	ok =
	    bld != NULL &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(curve->nid),
					    0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len) &&
	    (priv == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)) &&
	    (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL &&
	    EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, out, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) == 1;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	if (!ok) {
		EVP_PKEY_free(*out);
		*out = NULL;
		return smk_fail(e, SMK_E_FORMAT, "%s: not a valid point on the curve", curve->name);
	}
	return 0;
}

/* The peer's point as a key, after checking its encoding and that it lies on
 * the curve (a point off the curve would leak bits of our private key). */
static int peer_key(const smk_curve *curve, const uint8_t *point, size_t len, EVP_PKEY **out,
		    smk_err *e)
{
	EVP_PKEY_CTX *ctx;
	int ok;

	if (len != 1 + 2 * curve->field_len || point[0] != 0x04)
		return smk_fail(
		    e, SMK_E_FORMAT,
		    "public point of %zu bytes is not an uncompressed %s point (%zu bytes)", len,
		    curve->name, 1 + 2 * curve->field_len);
	if (key_from_params(curve, point, len, NULL, out, e) < 0)
		return -1;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL);
	ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		EVP_PKEY_free(*out);
		*out = NULL;
		return smk_fail(e, SMK_E_FORMAT, "%s: public point fails validation", curve->name);
	}
	return 0;
}

int ca_key_from_private(const smk_curve *curve, const uint8_t *d, size_t d_len, EVP_PKEY **out,
			smk_err *e)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(curve->nid);
	EC_POINT *q = NULL;
	BIGNUM *bn = BN_secure_new();
	uint8_t pub[POINT_MAX];
	size_t pub_len = 0;
	int r = -1;

	*out = NULL;
	if (g == NULL || bn == NULL || (q = EC_POINT_new(g)) == NULL) {
		smk_fail(e, SMK_E_CRYPTO, "%s: OpenSSL cannot set up the curve", curve->name);
		goto done;
	}
	if (d_len == 0 || d_len > curve->order_len || BN_bin2bn(d, (int)d_len, bn) == NULL ||
	    BN_is_zero(bn) || BN_cmp(bn, EC_GROUP_get0_order(g)) >= 0) {
		smk_fail(e, SMK_E_ARG, "%s: private scalar out of range", curve->name);
		goto done;
	}
	if (EC_POINT_mul(g, q, bn, NULL, NULL, NULL) != 1 ||
	    (pub_len = EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub),
					  NULL)) == 0) {
		smk_fail(e, SMK_E_CRYPTO, "%s: cannot compute the public point", curve->name);
		goto done;
	}
	r = key_from_params(curve, pub, pub_len, bn, out, e);
done:
	BN_clear_free(bn);
	EC_POINT_free(q);
	EC_GROUP_free(g);
	return r;
}

const smk_curve *ca_key_curve(EVP_PKEY *key, smk_err *e)
{
	char name[80];
	size_t len = 0;
	const smk_curve *c = NULL;

	if (key == NULL || !EVP_PKEY_is_a(key, "EC") ||
	    EVP_PKEY_get_group_name(key, name, sizeof(name), &len) != 1) {
		smk_fail(e, SMK_E_UNSUPPORTED, "key is not an EC key on a named curve");
		return NULL;
	}
	if (OBJ_txt2nid(name) != NID_undef)
		c = curve_by_nid(OBJ_txt2nid(name));
	if (c == NULL)
		c = curve_by_name(name);
	if (c == NULL)
		smk_fail(e, SMK_E_UNSUPPORTED, "curve %s is not supported", name);
	return c;
}

int ca_key_public(EVP_PKEY *key, smk_buf *out, smk_err *e)
{
	const smk_curve *c = ca_key_curve(key, e);
	uint8_t raw[POINT_MAX], pub[POINT_MAX];
	size_t raw_len = 0, pub_len = 0;
	EC_GROUP *g = NULL;
	EC_POINT *q = NULL;

	if (c == NULL)
		return -1;
	/* re-encode: the key may have been made with compressed point format */
	if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, raw, sizeof(raw),
					    &raw_len) == 1 &&
	    (g = EC_GROUP_new_by_curve_name(c->nid)) != NULL && (q = EC_POINT_new(g)) != NULL &&
	    EC_POINT_oct2point(g, q, raw, raw_len, NULL) == 1)
		pub_len =
		    EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub), NULL);
	EC_POINT_free(q);
	EC_GROUP_free(g);
	if (pub_len != 1 + 2 * c->field_len)
		return smk_fail(e, SMK_E_CRYPTO, "%s key: cannot read its public point", c->name);
	if (smk_buf_add(out, pub, pub_len) < 0)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	return 0;
}

int ca_ecdh(EVP_PKEY *own, const uint8_t *peer_point, size_t peer_len, smk_buf *k, smk_err *e)
{
	const smk_curve *c = ca_key_curve(own, e);
	EVP_PKEY *peer = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t len = 0;
	int ok;

	if (c == NULL || peer_key(c, peer_point, peer_len, &peer, e) < 0)
		return smk_context(e, "ECDH");
	k->secret = 1;
	/* OpenSSL's EC derive yields the x-coordinate padded to the field length,
	 * which is K of ref §5.2 step 6 */
	ok = (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, own, NULL)) != NULL &&
	     EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer_ex(ctx, peer, 1) == 1 &&
	     EVP_PKEY_derive(ctx, NULL, &len) == 1 && len == c->field_len &&
	     smk_buf_reserve(k, len) == 0 && EVP_PKEY_derive(ctx, k->data + k->len, &len) == 1 &&
	     len == c->field_len;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	if (!ok)
		return smk_fail(e, SMK_E_CRYPTO, "ECDH on %s failed", c->name);
	k->len += len;
	return 0;
}

int ca_kdf(const uint8_t *k, size_t k_len, const uint8_t nonce[CA_NONCE_LEN], uint32_t counter,
	   uint8_t out[SMSG_KEY_LEN], smk_err *e)
{
	uint8_t ctr[4] = {(uint8_t)(counter >> 24), (uint8_t)(counter >> 16),
			  (uint8_t)(counter >> 8), (uint8_t)counter};
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	EVP_MD_CTX *x = EVP_MD_CTX_new();
	int ok;

	/* SHA-1 because the protocol is AES-128 (ref §5.3) */
	ok = x != NULL && EVP_DigestInit_ex(x, EVP_sha1(), NULL) == 1 &&
	     EVP_DigestUpdate(x, k, k_len) == 1 && EVP_DigestUpdate(x, nonce, CA_NONCE_LEN) == 1 &&
	     EVP_DigestUpdate(x, ctr, sizeof(ctr)) == 1 &&
	     EVP_DigestFinal_ex(x, md, &md_len) == 1 && md_len >= SMSG_KEY_LEN;
	EVP_MD_CTX_free(x);
	if (ok)
		memcpy(out, md, SMSG_KEY_LEN);
	OPENSSL_cleanse(md, sizeof(md));
	if (!ok)
		return smk_fail(e, SMK_E_CRYPTO, "key derivation: SHA-1 failed");
	return 0;
}

int ca_token_input(const uint8_t *host_point, size_t point_len, smk_buf *out, smk_err *e)
{
	size_t mark;

	/* ref §5.4: the CA protocol OID, not the key's, and no domain parameters */
	if (tlv_begin(out, 0x7F49, &mark) < 0 ||
	    tlv_put(out, 0x06, ca_protocol_oid, sizeof(ca_protocol_oid)) < 0 ||
	    tlv_put(out, 0x86, host_point, point_len) < 0 || tlv_end(out, mark) < 0)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	return 0;
}

int ca_token(const uint8_t k_mac[SMSG_KEY_LEN], const uint8_t *host_point, size_t point_len,
	     uint8_t token[CA_TOKEN_LEN], smk_err *e)
{
	smk_buf in = SMK_BUF_INIT;
	int r;

	r = ca_token_input(host_point, point_len, &in, e);
	if (r == 0)
		r = smsg_cmac8(k_mac, in.data, in.len, token, e);
	smk_buf_free(&in);
	return r;
}

/* K, nonce -> K_enc, K_mac, T and the session: the common tail of both ends. */
static int derive_session(const smk_buf *k, const uint8_t nonce[CA_NONCE_LEN],
			  const uint8_t *host_point, size_t point_len, uint8_t token[CA_TOKEN_LEN],
			  smsg_ctx **out, smk_err *e)
{
	uint8_t k_enc[SMSG_KEY_LEN], k_mac[SMSG_KEY_LEN];
	int r = -1;

	*out = NULL;
	if (ca_kdf(k->data, k->len, nonce, 1, k_enc, e) == 0 &&
	    ca_kdf(k->data, k->len, nonce, 2, k_mac, e) == 0 &&
	    ca_token(k_mac, host_point, point_len, token, e) == 0 &&
	    (*out = smsg_new(k_enc, k_mac, e)) != NULL)
		r = 0;
	OPENSSL_cleanse(k_enc, sizeof(k_enc));
	OPENSSL_cleanse(k_mac, sizeof(k_mac));
	return r;
}

/* ---- host side ------------------------------------------------------------ */

int ca_host_new(const smk_curve *curve, const uint8_t *q_dev, size_t q_dev_len,
		const uint8_t *fixed_d, size_t fixed_d_len, ca_host **out, smk_err *e)
{
	ca_host *h = calloc(1, sizeof(*h));
	EVP_PKEY *dev = NULL;
	smk_buf b = SMK_BUF_INIT;
	size_t outer, inner;

	*out = NULL;
	if (curve == NULL || q_dev == NULL) {
		free(h);
		return smk_fail(e, SMK_E_ARG, "chip authentication: no device key");
	}
	if (h == NULL)
		return smk_fail(e, SMK_E_NOMEM, "chip authentication: out of memory");
	h->curve = curve;
	/* check Q_dev now, so a bad device certificate fails before any APDU */
	if (peer_key(curve, q_dev, q_dev_len, &dev, e) < 0) {
		smk_context(e, "chip authentication: device public key");
		goto fail;
	}
	EVP_PKEY_free(dev);
	memcpy(h->q_dev, q_dev, q_dev_len);
	h->q_dev_len = q_dev_len;
	if (fixed_d != NULL) {
		if (ca_key_from_private(curve, fixed_d, fixed_d_len, &h->eph, e) < 0)
			goto fail_ctx;
	} else {
		h->eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", OBJ_nid2sn(curve->nid));
		if (h->eph == NULL) {
			smk_fail(e, SMK_E_CRYPTO, "cannot generate an ephemeral %s key",
				 curve->name);
			goto fail_ctx;
		}
	}
	if (ca_key_public(h->eph, &b, e) < 0)
		goto fail_ctx;
	memcpy(h->q_h, b.data, b.len);
	h->q_h_len = b.len;
	smk_buf_reset(&b);
	/* ref §5.2 step 5: 7C { 80 Q_h } */
	if (tlv_begin(&b, 0x7C, &outer) < 0 || tlv_begin(&b, 0x80, &inner) < 0 ||
	    smk_buf_add(&b, h->q_h, h->q_h_len) < 0 || tlv_end(&b, inner) < 0 ||
	    tlv_end(&b, outer) < 0 || b.len > sizeof(h->ga)) {
		smk_fail(e, SMK_E_NOMEM, "out of memory");
		goto fail_ctx;
	}
	memcpy(h->ga, b.data, b.len);
	h->ga_len = b.len;
	smk_buf_free(&b);
	*out = h;
	return 0;
fail_ctx:
	smk_context(e, "chip authentication");
fail:
	smk_buf_free(&b);
	ca_host_free(h);
	return -1;
}

void ca_host_free(ca_host *h)
{
	if (h == NULL)
		return;
	EVP_PKEY_free(h->eph);
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

const uint8_t *ca_host_point(const ca_host *h, size_t *len)
{
	*len = h->q_h_len;
	return h->q_h;
}

void ca_host_ga(const ca_host *h, apdu *out)
{
	*out = (apdu){.cla = 0x00,
		      .ins = 0x86,
		      .p1 = 0x00,
		      .p2 = 0x00,
		      .data = h->ga,
		      .lc = h->ga_len,
		      .ne = APDU_SHORT_MAX_NE};
}

/* ref §5.2 step 5: 7C { 81 08 nonce, 82 08 token }, nothing else. */
/* The end of either side's handshake: the session goes to the caller on
 * success and is dropped otherwise; the shared secret K goes either way. */
static int ca_end(int r, smsg_ctx *s, smsg_ctx **out, smk_buf *k, const char *what, smk_err *e)
{
	if (r == 0)
		*out = s;
	else
		smsg_free(s);
	smk_buf_free(k);
	if (r < 0)
		smk_context(e, "%s", what);
	return r;
}

static int parse_ga_response(const uint8_t *p, size_t n, uint8_t nonce[CA_NONCE_LEN],
			     uint8_t token[CA_TOKEN_LEN], smk_err *e)
{
	static const uint32_t tags[2] = {0x81, 0x82};
	uint8_t *dst[2] = {nonce, token};
	tlv outer, t;
	tlv_iter it;
	int i, r;

	if (tlv_parse_exact(p, n, 0x7C, &outer, e) < 0)
		return -1;
	tlv_iter_init(&it, outer.value, outer.len);
	for (i = 0; i < 2; i++) {
		r = tlv_next(&it, &t, e);
		if (r < 0)
			return -1;
		if (r == 0)
			return smk_fail(e, SMK_E_FORMAT, "DO%X missing", tags[i]);
		if (t.tag != tags[i])
			return smk_fail(e, SMK_E_FORMAT, "DO%X where DO%X must be", t.tag, tags[i]);
		if (t.len != 8)
			return smk_fail(e, SMK_E_FORMAT, "DO%X of %zu bytes, expected 8", t.tag,
					t.len);
		memcpy(dst[i], t.value, 8);
	}
	if (it.n != 0)
		return smk_fail(e, SMK_E_FORMAT, "%zu unexpected bytes after DO82", it.n);
	return 0;
}

int ca_host_finish(ca_host *h, const uint8_t *resp, size_t n, smsg_ctx **out, smk_err *e)
{
	uint8_t nonce[CA_NONCE_LEN], token[CA_TOKEN_LEN], want[CA_TOKEN_LEN];
	smk_buf k = SMK_BUF_INIT;
	smsg_ctx *s = NULL;
	int r = -1;

	*out = NULL;
	if (h->eph == NULL)
		return smk_fail(e, SMK_E_ARG, "chip authentication: handshake already finished");
	k.secret = 1;
	if (parse_ga_response(resp, n, nonce, token, e) < 0) {
		smk_context(e, "GA response");
		goto done;
	}
	if (ca_ecdh(h->eph, h->q_dev, h->q_dev_len, &k, e) < 0 ||
	    derive_session(&k, nonce, h->q_h, h->q_h_len, want, &s, e) < 0)
		goto done;
	/* ref §5.2 step 8: the token proves the device holds PrK.DevAut */
	if (CRYPTO_memcmp(want, token, CA_TOKEN_LEN) != 0) {
		smk_fail(e, SMK_E_SM,
			 "authentication token does not match: the device did not prove "
			 "possession of its DevAut key");
		goto done;
	}
	r = 0;
done:
	OPENSSL_cleanse(want, sizeof(want));
	EVP_PKEY_free(h->eph);
	h->eph = NULL;
	return ca_end(r, s, out, &k, "chip authentication", e);
}

/* ---- card side ------------------------------------------------------------ */

int ca_card_check_mse(const apdu *cmd, smk_err *e)
{
	tlv t;

	if (cmd->p1 != 0x41 || cmd->p2 != 0xA4)
		return smk_fail(e, SMK_E_FORMAT, "MSE:SET AT: P1 P2 %02X%02X, expected 41A4",
				cmd->p1, cmd->p2);
	if (tlv_parse_exact(cmd->data, cmd->lc, 0x80, &t, e) < 0)
		return smk_context(e, "MSE:SET AT");
	if (t.len != sizeof(ca_protocol_oid) || memcmp(t.value, ca_protocol_oid, t.len) != 0)
		return smk_fail(e, SMK_E_UNSUPPORTED,
				"MSE:SET AT: protocol is not id-CA-ECDH-AES-CBC-CMAC-128");
	return 0;
}

int ca_card_respond(EVP_PKEY *device_key, const uint8_t *ga_data, size_t n,
		    const uint8_t *fixed_nonce, smk_buf *resp, smsg_ctx **out, smk_err *e)
{
	uint8_t nonce[CA_NONCE_LEN], token[CA_TOKEN_LEN];
	smk_buf k = SMK_BUF_INIT;
	smsg_ctx *s = NULL;
	tlv outer, point;
	size_t start = resp->len, mark;
	int r = -1;

	*out = NULL;
	k.secret = 1;
	if (tlv_parse_exact(ga_data, n, 0x7C, &outer, e) < 0 ||
	    tlv_parse_exact(outer.value, outer.len, 0x80, &point, e) < 0) {
		smk_context(e, "GA command");
		goto done;
	}
	if (ca_ecdh(device_key, point.value, point.len, &k, e) < 0)
		goto done;
	if (fixed_nonce != NULL)
		memcpy(nonce, fixed_nonce, CA_NONCE_LEN);
	else if (RAND_bytes(nonce, CA_NONCE_LEN) != 1) {
		smk_fail(e, SMK_E_CRYPTO, "no random nonce");
		goto done;
	}
	if (derive_session(&k, nonce, point.value, point.len, token, &s, e) < 0)
		goto done;
	if (tlv_begin(resp, 0x7C, &mark) < 0 || tlv_put(resp, 0x81, nonce, CA_NONCE_LEN) < 0 ||
	    tlv_put(resp, 0x82, token, CA_TOKEN_LEN) < 0 || tlv_end(resp, mark) < 0) {
		resp->len = start;
		smk_fail(e, SMK_E_NOMEM, "out of memory");
		goto done;
	}
	r = 0;
done:
	return ca_end(r, s, out, &k, "chip authentication (card)", e);
}
