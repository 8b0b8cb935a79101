/* SPDX-License-Identifier: BSD-3-Clause */
/* The shared archive fixture (archfix.h). */
#include "archfix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "sm/cvc.h"

static cvc_cert_fields fields(const char *car, const char *chr, uint8_t role, int params,
			      unsigned to_year)
{
	cvc_cert_fields f;

	memset(&f, 0, sizeof(f));
	f.car = car;
	f.chr = chr;
	f.role = role;
	f.domain_params = params;
	f.ced = (cvc_date){2025, 1, 1};
	f.cxd = (cvc_date){to_year, 12, 31};
	return f;
}

void archfix_build_pki(const archfix *fx, EVP_PKEY *root, const char *root_chr, trust_store *trust,
		       smk_buf *root_cert, smk_buf *devaut, smk_buf *dicacert)
{
	cvc_cert_fields f;
	smk_err e;

	f = fields(root_chr, root_chr, CVC_ROLE_ROOT, 1, 2035);
	ck_assert_msg(cvc_encode_cert(root_cert, &f, root, root, NULL, &e) == 0, "%s", e.msg);
	ck_assert_msg(trust_add(trust, root_cert->data, root_cert->len, "test", &e) == 0, "%s",
		      e.msg);
	f = fields(fx->cfg.dica_chr, fx->cfg.dev_chr, CVC_ROLE_DEVICE, 0, fx->cfg.dev_until);
	ck_assert_msg(cvc_encode_cert(devaut, &f, fx->dev, fx->dica, NULL, &e) == 0, "%s", e.msg);
	f = fields(root_chr, fx->cfg.dica_chr, CVC_ROLE_DICA, 0, 2035);
	f.with_ext = 1;
	ck_assert_msg(cvc_encode_cert(dicacert, &f, fx->dica, root, NULL, &e) == 0, "%s", e.msg);
}

void archfix_gakp(const archfix *fx, EVP_PKEY *newkey, const char *chr, smk_buf *out)
{
	smk_buf req = SMK_BUF_INIT;
	smk_err e;

	ck_assert_msg(cvc_encode_request(&req, fx->cfg.req_car, chr, newkey, NULL, &e) == 0, "%s",
		      e.msg);
	ck_assert_msg(
	    cvc_encode_authreq(out, req.data, req.len, fx->cfg.dev_chr, fx->dev, NULL, &e) == 0,
	    "%s", e.msg);
	smk_buf_free(&req);
}

void archfix_key_init(const archfix *fx, archfix_key *k, const char *kind, const char *policy_name,
		      const char *policy_doc, EVP_PKEY *key, const char *label)
{
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	k->policy_name = policy_name;
	k->policy_doc = policy_doc;
	k->key = key;
	k->label = label;
	k->peer = fx->cfg.peer;
	k->key_id = 1;
	k->sm_used = 1;
	k->time = fx->cfg.t0;
	k->commit_time = fx->cfg.t0 + fx->cfg.commit_after;
	k->chain = &fx->chain;
	k->signer = &fx->signer;
}

int archfix_commit_key(archfix *fx, const archfix_key *k, uint64_t *seq, smk_err *e)
{
	archive_intent_req ir;
	archive_intent_info info;
	archive_commit_req cr;
	smk_buf cvreq = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	int rc;

	memset(&ir, 0, sizeof(ir));
	ir.kind = k->kind;
	ir.peer = k->peer;
	ir.policy_name = k->policy_name;
	ir.policy_doc = (const uint8_t *)k->policy_doc;
	ir.policy_doc_len = strlen(k->policy_doc);
	ir.device_serial = fx->cfg.dev_serial;
	ir.devaut_chr = fx->cfg.dev_chr;
	ir.key_id = k->key_id;
	ir.time = k->time;
	ck_assert_msg(archive_intent(fx->a, &ir, &info, e) == 0, "%s", e->msg);
	archfix_gakp(fx, k->key, info.chr, &cvreq);
	ck_assert_int_eq(cvc_spki_der(k->key, &spki, e), 0);
	memset(&cr, 0, sizeof(cr));
	cr.request_id = info.request_id;
	cr.label = k->label;
	cr.device_chain = k->chain->data;
	cr.device_chain_len = k->chain->len;
	cr.sm_used = k->sm_used;
	cr.cvreq = cvreq.data;
	cr.cvreq_len = cvreq.len;
	cr.spki = spki.data;
	cr.spki_len = spki.len;
	cr.time = k->commit_time;
	cr.card = k->card;
	rc = archive_commit(fx->a, k->signer, &cr, seq, e);
	smk_buf_free(&cvreq);
	smk_buf_free(&spki);
	return rc;
}

uint64_t archfix_make_key(archfix *fx, const char *kind, const char *policy_name,
			  const char *policy_doc, EVP_PKEY *key, const char *label)
{
	archfix_key k;
	uint64_t seq = 0;
	smk_err e;

	archfix_key_init(fx, &k, kind, policy_name, policy_doc, key, label);
	ck_assert_msg(archfix_commit_key(fx, &k, &seq, &e) == 0, "%s", e.msg);
	return seq;
}

void archfix_setup(archfix *fx, const archfix_cfg *cfg)
{
	smk_err e;

	memset(fx, 0, sizeof(*fx));
	fx->cfg = *cfg;
	tu_temp_dir(fx->dir, sizeof(fx->dir), cfg->prefix);
	snprintf(fx->path, sizeof(fx->path), "%s/archive.db", fx->dir);
	fx->root = tu_keygen("brainpoolP256r1");
	fx->dica = tu_keygen("brainpoolP256r1");
	fx->dev = tu_keygen("brainpoolP256r1");
	fx->akey = tu_keygen("P-256");
	archfix_build_pki(fx, fx->root, cfg->root_chr, &fx->trust, &fx->root_cert, &fx->devaut,
			  &fx->dicacert);
	ck_assert(smk_buf_add(&fx->chain, fx->devaut.data, fx->devaut.len) == 0 &&
		  smk_buf_add(&fx->chain, fx->dicacert.data, fx->dicacert.len) == 0);
	ck_assert_int_eq(archive_key_policy(&fx->keydoc, &e), 0);
	ck_assert(smk_buf_add_byte(&fx->keydoc, 0) == 0); /* used as a C string */
	fx->keydoc.len--;
	ck_assert_msg(archive_open(fx->path, ARCHIVE_OPEN_CREATE, &fx->a, &e) == 0, "%s", e.msg);
	archive_soft_signer(&fx->signer, fx->akey);
	ck_assert_uint_eq(archfix_make_key(fx, ARCHIVE_KIND_ARCHIVE_KEY, ARCHIVE_KEY_POLICY_NAME,
					   (const char *)fx->keydoc.data, fx->akey,
					   "smkeyd-archive"),
			  0);
}

void archfix_teardown(archfix *fx)
{
	char cmd[128];

	archive_close(fx->a);
	EVP_PKEY_free(fx->root);
	EVP_PKEY_free(fx->dica);
	EVP_PKEY_free(fx->dev);
	EVP_PKEY_free(fx->akey);
	smk_buf_free(&fx->root_cert);
	smk_buf_free(&fx->devaut);
	smk_buf_free(&fx->dicacert);
	smk_buf_free(&fx->chain);
	smk_buf_free(&fx->keydoc);
	trust_free(&fx->trust);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	ck_assert_int_eq(system(cmd), 0);
}
