/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device chain validation (ref §4.4) and authenticated request verification
 * (ref §6.4). OpenSC skips these checks (ref §4.4); smkeyd relies on them to
 * know that the key it talks to under secure messaging, and every key it
 * archives, lives in a genuine device.
 */
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "tlv.h"

static int check_role(const cvc *c, int want, const char *what, smk_err *e)
{
	if (!cvc_role_is_sc_hsm(c))
		return smk_fail(e, SMK_E_MISMATCH, "%s %s: CHAT role OID is not id-SC-HSM", what,
				c->chr);
	if (c->chat_bits_len != 1 || c->chat_bits[0] != want)
		return smk_fail(e, SMK_E_MISMATCH, "%s %s: role %02X, must be %02X (%s)", what,
				c->chr, c->chat_bits[0], want, cvc_role_name(want));
	return 0;
}

static int check_valid(const cvc *c, const cvc_date *day, const char *what, smk_err *e)
{
	char d[16], from[16], to[16];

	if (cvc_date_cmp(day, &c->ced) >= 0 && cvc_date_cmp(day, &c->cxd) <= 0)
		return 0;
	cvc_date_format(day, d, sizeof(d));
	cvc_date_format(&c->ced, from, sizeof(from));
	cvc_date_format(&c->cxd, to, sizeof(to));
	return smk_fail(e, SMK_E_VALIDITY, "%s %s: %s on %s (valid %s .. %s)", what, c->chr,
			cvc_date_cmp(day, &c->ced) < 0 ? "not yet valid" : "expired", d, from, to);
}

/* ref §3.3: DICA and DevAut certificates carry no domain parameters, the
 * curve comes from the issuer */
static const smk_curve *key_curve(const cvc_pubkey *k, const smk_curve *issuer)
{
	if (k->alg->keytype != SMK_KEY_EC)
		return NULL;
	return k->curve ? k->curve : issuer;
}

void chain_free(devaut_chain *c)
{
	if (c == NULL)
		return;
	EVP_PKEY_free(c->key);
	smk_buf_free(&c->device_cert);
	smk_buf_free(&c->dica_cert);
	memset(c, 0, sizeof(*c));
}

int chain_validate(const uint8_t *ef, size_t n, const trust_store *t, time_t at, devaut_chain *out,
		   smk_err *e)
{
	const trust_root *root;
	const smk_curve *dica_curve, *dev_curve;
	EVP_PKEY *dica_key = NULL, *dev_key = NULL;
	cvc dev, dica;
	cvc_date day;
	tlv first;
	size_t len;

	memset(out, 0, sizeof(*out));
	/* ref §4.4 step 2: the first 7F21 is the device certificate, the rest
	 * must be exactly the DICA certificate */
	if (tlv_parse(ef, n, &first, e) < 0 ||
	    cvc_parse_cert(first.raw, first.raw_len, &dev, e) < 0)
		return smk_context(e, "device chain: device certificate");
	if (first.raw_len == n)
		return smk_fail(e, SMK_E_FORMAT,
				"device chain: no DICA certificate after device certificate %s",
				dev.chr);
	if (cvc_parse_cert(ef + first.raw_len, n - first.raw_len, &dica, e) < 0)
		return smk_context(e, "device chain: DICA certificate");

	root = trust_find(t, dica.car);
	if (root == NULL)
		return smk_fail(e, SMK_E_TRUST,
				"device chain: DICA %s: issuer %s is not a pinned root", dica.chr,
				dica.car);
	if (check_role(&dica, CVC_ROLE_DICA, "DICA", e) < 0 ||
	    check_role(&dev, CVC_ROLE_DEVICE, "device", e) < 0)
		return smk_context(e, "device chain");
	if (strcmp(dev.car, dica.chr) != 0)
		return smk_fail(e, SMK_E_MISMATCH,
				"device chain: device %s names issuer %s, but the DICA is %s",
				dev.chr, dev.car, dica.chr);

	if (cvc_verify(root->key, root->cert.key.alg, dica.body, dica.body_len, dica.sig,
		       dica.sig_len, e) < 0)
		return smk_context(e, "device chain: DICA %s: signature by root %s", dica.chr,
				   root->cert.chr);
	dica_curve = key_curve(&dica.key, root->cert.key.curve);
	if (cvc_pubkey_to_evp(&dica.key, dica_curve, &dica_key, e) < 0)
		return smk_context(e, "device chain: DICA %s", dica.chr);
	if (cvc_verify(dica_key, dica.key.alg, dev.body, dev.body_len, dev.sig, dev.sig_len, e) <
	    0) {
		EVP_PKEY_free(dica_key);
		return smk_context(e, "device chain: device %s: signature by DICA %s", dev.chr,
				   dica.chr);
	}
	EVP_PKEY_free(dica_key);
	dev_curve = key_curve(&dev.key, dica_curve);
	if (dev.key.alg->keytype != SMK_KEY_EC)
		return smk_fail(
		    e, SMK_E_UNSUPPORTED,
		    "device chain: device %s: key is not EC, chip authentication needs EC",
		    dev.chr);
	if (cvc_pubkey_to_evp(&dev.key, dev_curve, &dev_key, e) < 0)
		return smk_context(e, "device chain: device %s", dev.chr);

	cvc_date_from_time(at, &day);
	if (check_valid(&root->cert, &day, "root", e) < 0 ||
	    check_valid(&dica, &day, "DICA", e) < 0 || check_valid(&dev, &day, "device", e) < 0) {
		EVP_PKEY_free(dev_key);
		return smk_context(e, "device chain");
	}

	/* ref §4.2: the serial is the device CHR without its 5-character sequence */
	len = strlen(dev.chr);
	if (len <= 5) {
		EVP_PKEY_free(dev_key);
		return smk_fail(e, SMK_E_FORMAT,
				"device chain: device CHR %s is too short for a serial", dev.chr);
	}
	memcpy(out->serial, dev.chr, len - 5);
	memcpy(out->device_chr, dev.chr, sizeof(out->device_chr));
	memcpy(out->dica_chr, dica.chr, sizeof(out->dica_chr));
	memcpy(out->root_chr, root->cert.chr, sizeof(out->root_chr));
	out->device_valid = (chain_validity){dev.ced, dev.cxd};
	out->dica_valid = (chain_validity){dica.ced, dica.cxd};
	out->root_valid = (chain_validity){root->cert.ced, root->cert.cxd};
	out->curve = dev_curve;
	memcpy(out->point, dev.key.point, dev.key.point_len);
	out->point_len = dev.key.point_len;
	out->alg = dev.key.alg;
	out->key = dev_key;
	if (smk_buf_add(&out->device_cert, dev.raw, dev.raw_len) < 0 ||
	    smk_buf_add(&out->dica_cert, dica.raw, dica.raw_len) < 0) {
		chain_free(out);
		return smk_fail(e, SMK_E_NOMEM, "device chain: out of memory");
	}
	return 0;
}

void chain_attested_free(chain_attested *a)
{
	if (a == NULL)
		return;
	EVP_PKEY_free(a->key);
	smk_buf_free(&a->spki);
	free(a->pem);
	memset(a, 0, sizeof(*a));
}

int chain_verify_authreq(const devaut_chain *c, const uint8_t *p, size_t n, chain_attested *out,
			 smk_err *e)
{
	cvc_authreq a;
	cvc *req = &a.req;

	memset(out, 0, sizeof(*out));
	if (c->key == NULL)
		return smk_fail(e, SMK_E_ARG, "request: no validated device chain");
	if (cvc_parse_authreq(p, n, &a, e) < 0)
		return smk_context(e, "request");
	/* ref §6.4: origin first (outer), then possession (inner) */
	if (strcmp(a.outer_car, c->device_chr) != 0)
		return smk_fail(e, SMK_E_MISMATCH, "request %s: outer CAR %s is not the device %s",
				req->chr, a.outer_car, c->device_chr);
	if (cvc_verify(c->key, c->alg, a.outer_signed, a.outer_signed_len, a.outer_sig,
		       a.outer_sig_len, e) < 0)
		return smk_context(e, "request %s: outer signature by device %s", req->chr,
				   c->device_chr);
	if (req->key.alg->keytype == SMK_KEY_EC && req->key.curve == NULL)
		return smk_fail(e, SMK_E_FORMAT, "request %s: EC key without domain parameters",
				req->chr);
	if (cvc_pubkey_to_evp(&req->key, NULL, &out->key, e) < 0) {
		smk_context(e, "request %s", req->chr);
		goto fail;
	}
	if (cvc_verify(out->key, req->key.alg, req->body, req->body_len, req->sig, req->sig_len,
		       e) < 0) {
		smk_context(e, "request %s: inner signature by the new key", req->chr);
		goto fail;
	}
	if (req->key.alg->keytype == SMK_KEY_EC) {
		/* what cvc_key_describe and cvc_spki_der would read back from
		 * the key just made of this curve and point, and the bytes they
		 * would write (test_spki), without asking OpenSSL for them */
		out->type = SMK_KEY_EC;
		out->curve = req->key.curve;
		out->bits = req->key.curve->field_bits;
		if (cvc_spki_der_ec(req->key.curve, req->key.point, req->key.point_len, &out->spki,
				    e) < 0) {
			smk_context(e, "request %s", req->chr);
			goto fail;
		}
	} else if (cvc_key_describe(out->key, &out->type, &out->curve, &out->bits, e) < 0 ||
		   cvc_spki_der(out->key, &out->spki, e) < 0) {
		smk_context(e, "request %s", req->chr);
		goto fail;
	}
	if (cvc_spki_pem_of(out->spki.data, out->spki.len, &out->pem, e) < 0) {
		smk_context(e, "request %s", req->chr);
		goto fail;
	}
	memcpy(out->chr, req->chr, sizeof(out->chr));
	memcpy(out->car, req->car, sizeof(out->car));
	out->has_car = req->has_car;
	memcpy(out->outer_car, a.outer_car, sizeof(out->outer_car));
	out->alg = req->key.alg;
	return 0;
fail:
	chain_attested_free(out);
	return -1;
}
