/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * GENERATE ASYMMETRIC KEY PAIR (00 46, reference §6): a new key under the
 * restrictions the command carries (algorithm list 91, use counter 90, key
 * domain 92), answered with the authenticated CV request, which also goes
 * to EF CE|id. The PrKD (C4|id) is the host's to write (§9).
 */
#include "sim/sim_int.h"

#include <stdlib.h>
#include <string.h>

#include "sm/alg.h"
#include "sm/cvc.h"
#include "sm/hsm.h"

static bool rsa_size_ok(unsigned bits)
{
	return bits == 1024 || bits == 1536 || bits == 2048 || bits == 3072 || bits == 4096;
}

/* The request's algorithm: the OID the host sent, or the default; it must
 * fit the key type. */
static const cvc_alg *request_alg(const hsm_keyspec *ks)
{
	static const uint8_t zero[HSM_OID_LEN];
	const cvc_alg *alg;

	if (memcmp(ks->oid, zero, sizeof(zero)) == 0)
		return cvc_alg_default(ks->type);
	alg = cvc_alg_by_oid(ks->oid, sizeof(ks->oid));
	return alg && alg->keytype == ks->type ? alg : NULL;
}

static uint16_t check_spec(const sim_card *c, const hsm_keyspec *ks)
{
	size_t i;

	if (ks->type == SMK_KEY_RSA && !rsa_size_ok(ks->rsa_bits))
		return SW_WRONG_DATA;
	if (ks->type == SMK_KEY_EC && ks->curve == NULL)
		return SW_WRONG_DATA;
	for (i = 0; i < ks->alg_count; i++)
		if (alg_by_id(ks->algs[i]) == NULL)
			return SW_WRONG_DATA;
	if (ks->has_key_domain) {
		if (ks->key_domain >= c->n_domains)
			return SW_WRONG_P1P2;
		if (!c->domains[ks->key_domain].present)
			return SW_REF_NOT_FOUND; /* reference §1.5: key domain not set up */
	}
	return SW_OK;
}

uint16_t sim_cmd_gakp(sim_card *c, const apdu *a, smk_buf *out)
{
	hsm_keyspec ks;
	const cvc_alg *alg;
	struct sim_key *k = NULL;
	smk_buf req = SMK_BUF_INIT, areq = SMK_BUF_INIT;
	const char *car;
	uint16_t sw;

	if (!c->pin_ok)
		return SW_SECURITY;
	/* key 0 is the device key; only the device key signs the outer
	 * signature in this simulator */
	if (a->p1 == 0 || a->p2 != 0)
		return SW_WRONG_P1P2;
	if (c->keys[0] == NULL)
		return SW_REF_NOT_FOUND;
	if (a->lc == 0 || hsm_parse_gakp_data(a->data, a->lc, &ks, NULL) < 0)
		return SW_WRONG_DATA;
	sw = check_spec(c, &ks);
	if (sw != SW_OK)
		return sw;
	alg = request_alg(&ks);
	if (alg == NULL)
		return SW_WRONG_DATA;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return SW_UNKNOWN;
	k->id = a->p1;
	k->type = ks.type;
	k->pkey =
	    ks.type == SMK_KEY_EC ? sim_keygen_ec(ks.curve->nid) : sim_keygen_rsa(ks.rsa_bits);
	if (k->pkey == NULL) {
		sw = SW_UNKNOWN;
		goto done;
	}
	memcpy(k->algs, ks.algs, ks.alg_count);
	k->n_algs = ks.alg_count;
	k->has_counter = ks.use_counter != 0;
	k->counter = ks.use_counter;
	k->has_domain = ks.has_key_domain;
	k->domain = ks.key_domain;
	/* SIM_QUIRK_CAR_FROM_DEVICE: another implementation names itself as CAR
	 * when the host sends none */
	car = ks.car[0] ? ks.car : (c->quirks & SIM_QUIRK_CAR_FROM_DEVICE) ? c->chr : NULL;
	/* reference §6.3: inner request self-signed by the new key, outer
	 * signature by PrK.DevAut with the device CHR as outer CAR */
	if (cvc_encode_request(&req, car, ks.chr, k->pkey, alg, NULL) < 0 ||
	    cvc_encode_authreq(&areq, req.data, req.len, c->chr, c->keys[0]->pkey,
			       cvc_alg_default(SMK_KEY_EC), NULL) < 0) {
		sw = SW_UNKNOWN;
		goto done;
	}
	sw = sim_key_install(c, a->p1, &k, &areq);
	if (sw != SW_OK)
		goto done;
	c->extra_ms += sim_latency_keygen_ms(
	    c, ks.type, ks.type == SMK_KEY_EC ? ks.curve->field_bits : ks.rsa_bits);
	/* without an Le that can carry it the host reads CE|id (reference §6.1) */
	if (a->ne >= areq.len && smk_buf_add(out, areq.data, areq.len) < 0)
		sw = SW_UNKNOWN;
	else
		sw = SW_OK;
done:
	sim_key_free(k);
	smk_buf_free(&req);
	smk_buf_free(&areq);
	return sw;
}

int sim_authreq(sim_card *c, const struct sim_key *k, const char *car, const char *chr,
		smk_buf *areq)
{
	smk_buf req = SMK_BUF_INIT;
	int r;

	if (c->keys[0] == NULL)
		return -1;
	/* reference §6.3, as for GAKP with the default algorithm of the key type */
	r = cvc_encode_request(&req, car, chr, k->pkey, cvc_alg_default(k->type), NULL);
	if (r == 0)
		r = cvc_encode_authreq(areq, req.data, req.len, c->chr, c->keys[0]->pkey,
				       cvc_alg_default(SMK_KEY_EC), NULL);
	smk_buf_free(&req);
	return r < 0 ? -1 : 0;
}
