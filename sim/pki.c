/*
 * The simulator's device PKI, made once by `smkey-sim init`: a test root,
 * a DICA and the DevAut key, all on brainpoolP256r1 with ECDSA-SHA-256, laid
 * out like the genuine chain of reference §8.2: root with explicit domain
 * parameters, DICA and device certificate with only `06` and `86` (the
 * curve is inherited), EF 2F02 = device certificate || DICA certificate.
 * The root's private key is thrown away: nothing else is ever signed by it.
 */
#include "sim/sim_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sm/cvc.h"

static cvc_date years_later(const cvc_date *d, unsigned years)
{
	cvc_date r = *d;

	r.year += years;
	if (r.month == 2 && r.day == 29)
		r.day = 28;
	return r;
}

int sim_card_init_pki(sim_card *c, unsigned device_no, smk_buf *root_out, smk_err *e)
{
	const smk_curve *bp = curve_by_name("brainpoolP256r1");
	const cvc_alg *alg = cvc_alg_default(SMK_KEY_EC);
	EVP_PKEY *root = NULL, *dica = NULL, *dev = NULL;
	smk_buf rootcert = SMK_BUF_INIT, dicacert = SMK_BUF_INIT, chain = SMK_BUF_INIT;
	struct sim_key *k = NULL;
	cvc_cert_fields f;
	cvc_date today;
	char chr[CVC_REF_MAX + 1];
	int rc = -1;

	if (device_no > 99999)
		return smk_fail(e, SMK_E_ARG, "device PKI: device number %u exceeds 5 digits",
				device_no);
	if (c->keys[0] != NULL)
		return smk_fail(e, SMK_E_ARG, "device PKI: card %s already has a device key",
				c->chr);
	/* reference §4.2: country, mnemonic, 5 digits, 00000 */
	snprintf(chr, sizeof(chr), "ZZSIM%05u00000", device_no);
	cvc_date_from_time(time(NULL), &today);
	root = sim_keygen_ec(bp->nid);
	dica = sim_keygen_ec(bp->nid);
	dev = sim_keygen_ec(bp->nid);
	k = calloc(1, sizeof(*k));
	if (root == NULL || dica == NULL || dev == NULL || k == NULL) {
		smk_fail(e, SMK_E_CRYPTO, "device PKI: brainpoolP256r1 key generation failed");
		goto done;
	}

	memset(&f, 0, sizeof(f));
	f.car = SIM_ROOT_CHR;
	f.chr = SIM_ROOT_CHR;
	f.alg = alg;
	f.domain_params = 1;
	f.role = CVC_ROLE_ROOT;
	f.ced = today;
	f.cxd = years_later(&today, 20);
	if (cvc_encode_cert(&rootcert, &f, root, root, alg, e) < 0)
		goto fail;

	memset(&f, 0, sizeof(f));
	f.car = SIM_ROOT_CHR;
	f.chr = SIM_DICA_CHR;
	f.alg = alg;
	f.role = CVC_ROLE_DICA;
	f.ced = today;
	f.cxd = years_later(&today, 8);
	f.with_ext = 1; /* the genuine DICA carries an empty 65 (reference §3.1) */
	if (cvc_encode_cert(&dicacert, &f, dica, root, alg, e) < 0)
		goto fail;

	memset(&f, 0, sizeof(f));
	f.car = SIM_DICA_CHR;
	f.chr = chr;
	f.alg = alg;
	f.role = CVC_ROLE_DEVICE;
	f.ced = today;
	f.cxd = years_later(&today, 5);
	if (cvc_encode_cert(&chain, &f, dev, dica, alg, e) < 0)
		goto fail;
	if (smk_buf_add(&chain, dicacert.data, dicacert.len) < 0 ||
	    sim_file_put(c, SIM_FID_DEVAUT, chain.data, chain.len) < 0 ||
	    (root_out && smk_buf_add(root_out, rootcert.data, rootcert.len) < 0)) {
		smk_fail(e, SMK_E_NOMEM, "device PKI: out of memory");
		goto done;
	}
	k->id = 0;
	k->type = SMK_KEY_EC;
	k->pkey = dev;
	dev = NULL;
	c->keys[0] = k;
	k = NULL;
	strcpy(c->chr, chr);
	c->dirty = true;
	rc = 0;
	goto done;
fail:
	smk_context(e, "device PKI");
done:
	EVP_PKEY_free(root);
	EVP_PKEY_free(dica);
	EVP_PKEY_free(dev);
	sim_key_free(k);
	smk_buf_free(&rootcert);
	smk_buf_free(&dicacert);
	smk_buf_free(&chain);
	return rc;
}
