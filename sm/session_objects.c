/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the card holds for each key, for certificates and `inspect`:
 * reading and classifying CE|id, writing an X.509 certificate into it, and
 * the per-key listing (PrKD, CE, public key). Like every operation these run
 * through session_run_op and send only under secure messaging.
 */
#include "session_int.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/names.h"
#include "prkd.h"
#include "tlv.h"

/* A PrKD is a few dozen bytes plus the label (ref §2.6). */
#define PRKD_MAX 1024

/* clang-format off */
static const char *const ce_kind_names[] = {
	[SESSION_CE_NONE] = "none", [SESSION_CE_CVREQ] = "cv-request", [SESSION_CE_X509] = "x509",
	[SESSION_CE_CVC] = "cvc",   [SESSION_CE_EMPTY] = "empty",      [SESSION_CE_OTHER] = "other",
};
/* clang-format on */
_Static_assert(SMK_NELEM(ce_kind_names) == SESSION_CE_KIND_COUNT, "every kind has a name");

const char *session_ce_kind_name(enum session_ce_kind k)
{
	return smk_enum_name(ce_kind_names, SMK_NELEM(ce_kind_names), k, "other");
}

/* ref §3.6: the kind of a CE object is its first tag. A first TLV that does
 * not even parse is "other", whatever its first byte. */
static enum session_ce_kind ce_classify(const uint8_t *p, size_t n)
{
	tlv t;

	if (n == 0)
		return SESSION_CE_EMPTY;
	if (tlv_parse(p, n, &t, NULL) < 0)
		return SESSION_CE_OTHER;
	switch (t.tag) {
	case 0x67:
		return SESSION_CE_CVREQ;
	case 0x30:
		return SESSION_CE_X509;
	case 0x7F21:
		return SESSION_CE_CVC;
	}
	return SESSION_CE_OTHER;
}

/* Read EF fid into out; a missing EF (6A82) is *exists = false, not an error. */
static int read_ef(smk_session *s, uint16_t fid, size_t max, bool *exists, smk_buf *out, smk_err *e)
{
	smk_err rd;

	*exists = true;
	smk_buf_reset(out);
	if (session_read_protected(s, fid, max, out, &rd) == 0)
		return 0;
	if (rd.code == SMK_E_CARD && rd.sw == 0x6A82 && out->len == 0) {
		*exists = false;
		return 0;
	}
	*e = rd;
	return -1;
}

struct ce_arg {
	uint8_t key_id;
	enum session_ce_kind *kind;
	smk_buf *out;
};

static int do_read_ce(smk_session *s, void *arg, smk_err *e)
{
	struct ce_arg *ca = arg;
	bool exists;

	if (read_ef(s, HSM_FID(HSM_PREFIX_CERT, ca->key_id), SESSION_CE_MAX, &exists, ca->out, e) <
	    0)
		return -1;
	*ca->kind = exists ? ce_classify(ca->out->data, ca->out->len) : SESSION_CE_NONE;
	return 0;
}

int session_read_ce(smk_session *s, uint8_t key_id, enum session_ce_kind *kind, smk_buf *out,
		    smk_err *e)
{
	smk_buf content = SMK_BUF_INIT;
	struct ce_arg ca = {key_id, kind, &content};
	int r;

	*kind = SESSION_CE_NONE;
	if (key_id == 0)
		return smk_fail(e, SMK_E_ARG, "read CE: key 0 is the device key");
	r = session_run_op(s, "read CE", do_read_ce, &ca, e);
	if (r == 0 && smk_buf_add(out, content.data, content.len) < 0)
		r = smk_fail(e, SMK_E_NOMEM, "read CE: out of memory");
	if (r < 0)
		smk_context(e, "key %u", key_id);
	smk_buf_free(&content);
	return r;
}

/* Exactly one X.509 certificate, nothing after it. */
static int check_cert_bytes(const uint8_t *der, size_t n, smk_err *e)
{
	const uint8_t *p = der;
	X509 *x;

	if (n == 0)
		return smk_fail(e, SMK_E_ARG, "certificate: no bytes");
	if (n > SESSION_CERT_MAX)
		return smk_fail(e, SMK_E_ARG, "certificate of %zu bytes, at most %u fit CE", n,
				SESSION_CERT_MAX);
	x = d2i_X509(NULL, &p, (long)n);
	if (x == NULL)
		return smk_fail(e, SMK_E_FORMAT, "not an X.509 certificate (DER)");
	X509_free(x);
	if ((size_t)(p - der) != n)
		return smk_fail(e, SMK_E_FORMAT, "%zu bytes after the X.509 certificate",
				n - (size_t)(p - der));
	return 0;
}

struct cert_arg {
	uint8_t key_id;
	const uint8_t *der;
	size_t n;
};

static int do_write_cert(smk_session *s, void *arg, smk_err *e)
{
	struct cert_arg *wa = arg;
	uint16_t fid = HSM_FID(HSM_PREFIX_CERT, wa->key_id);
	smk_buf back = SMK_BUF_INIT;
	int r = -1;

	/* after a re-handshake look again: the key must still be there */
	if (!session_objs_known(s) && session_enumerate(s, e) < 0)
		return -1;
	if (!session_has_key(s, wa->key_id))
		return smk_fail(e, SMK_E_ARG, "no key %u on the card", wa->key_id);
	/* ref §2.4: replace by delete and re-create; a shorter write over a
	 * longer CV request would leave its tail behind */
	if (session_delete_ef(s, fid, true, e) < 0 ||
	    session_write_ef(s, fid, wa->der, wa->n, e) < 0)
		goto out;
	if (session_read_protected(s, fid, SESSION_CE_MAX, &back, e) < 0) {
		smk_context(e, "reading the certificate back");
		goto out;
	}
	if (back.len != wa->n || memcmp(back.data, wa->der, wa->n) != 0) {
		smk_fail(e, SMK_E_MISMATCH,
			 "EF %04X reads back %zu bytes that are not the %zu bytes written", fid,
			 back.len, wa->n);
		goto out;
	}
	r = 0;
out:
	smk_buf_free(&back);
	return r;
}

int session_write_cert(smk_session *s, uint8_t key_id, const uint8_t *der, size_t n, smk_err *e)
{
	struct cert_arg wa = {key_id, der, n};

	if (key_id == 0)
		return smk_fail(e, SMK_E_ARG, "write certificate: key 0 is the device key");
	if (der == NULL || check_cert_bytes(der, n, e) < 0)
		return smk_context(e, "write certificate for key %u", key_id);
	if (session_run_op(s, "write certificate", do_write_cert, &wa, e) < 0)
		return smk_context(e, "key %u", key_id);
	return 0;
}

/* ---- the listing ---- */

static void note_problem(session_object *o, const char *what, const smk_err *why)
{
	size_t used = strlen(o->problem);

	if (used + 3 >= sizeof(o->problem))
		return;
	snprintf(o->problem + used, sizeof(o->problem) - used, "%s%s: %.*s", used ? "; " : "", what,
		 (int)(sizeof(o->problem) - used), why->msg);
}

/* Type, size and curve of a public key; the CE content knows them better
 * than a PrKD (which carries no curve). */
static void take_key(session_object *o, EVP_PKEY *pk)
{
	const smk_curve *curve;
	enum smk_keytype type;
	unsigned bits;
	smk_err e;

	if (cvc_key_describe(pk, &type, &curve, &bits, &e) < 0) {
		note_problem(o, "public key", &e);
		return;
	}
	o->type_known = true;
	o->type = type;
	o->bits = bits;
	if (curve != NULL)
		snprintf(o->curve, sizeof(o->curve), "%s", curve->name);
}

static int add_spki(session_object *o, const uint8_t *p, size_t n, smk_err *e)
{
	if (smk_buf_add(&o->spki, p, n) < 0)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	return 0;
}

/* The key an authenticated request holds. Verified against the session's
 * device chain when it can be; a request that does not verify still shows
 * its key, with the reason in problem and ce_attested false. */
static int ce_cvreq_key(smk_session *s, session_object *o, smk_err *e)
{
	chain_attested att;
	cvc_authreq ar;
	EVP_PKEY *pk = NULL;
	smk_buf spki = SMK_BUF_INIT;
	smk_err why;
	int r = 0;

	if (session_check_cvreq(s, NULL, o->ce_bytes.data, o->ce_bytes.len, &att, &why) == 0) {
		o->ce_attested = true;
		take_key(o, att.key);
		r = add_spki(o, att.spki.data, att.spki.len, e);
		chain_attested_free(&att);
		return r;
	}
	note_problem(o, "CV request", &why);
	if (cvc_parse_authreq(o->ce_bytes.data, o->ce_bytes.len, &ar, &why) < 0 ||
	    cvc_pubkey_to_evp(&ar.req.key, NULL, &pk, &why) < 0 ||
	    cvc_spki_der(pk, &spki, &why) < 0)
		note_problem(o, "CV request key", &why);
	else {
		take_key(o, pk);
		r = add_spki(o, spki.data, spki.len, e);
	}
	EVP_PKEY_free(pk);
	smk_buf_free(&spki);
	return r;
}

/* The SubjectPublicKeyInfo exactly as the certificate encodes it. */
static int ce_x509_key(session_object *o, smk_err *e)
{
	const uint8_t *p = o->ce_bytes.data;
	uint8_t *der = NULL;
	X509 *x = d2i_X509(NULL, &p, (long)o->ce_bytes.len);
	EVP_PKEY *pk;
	int len, r = 0;
	smk_err why;

	if (x == NULL) {
		smk_fail(&why, SMK_E_FORMAT, "not an X.509 certificate");
		note_problem(o, "certificate", &why);
		return 0;
	}
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	pk = X509_get0_pubkey(x);
	if (len <= 0 || pk == NULL) {
		smk_fail(&why, SMK_E_FORMAT, "no usable public key");
		note_problem(o, "certificate", &why);
	} else {
		take_key(o, pk);
		r = add_spki(o, der, (size_t)len, e);
	}
	OPENSSL_free(der);
	X509_free(x);
	return r;
}

static int describe_object(smk_session *s, session_object *o, smk_err *e)
{
	smk_buf prkd = SMK_BUF_INIT;
	prkd_info info;
	bool exists;
	smk_err why;
	int r = -1;

	if (session_has_prkd(s, o->key_id)) {
		if (read_ef(s, HSM_FID(HSM_PREFIX_PRKD, o->key_id), PRKD_MAX, &exists, &prkd, e) <
		    0)
			goto out;
		o->has_prkd = exists;
		if (exists && prkd_parse(prkd.data, prkd.len, &info, &why) < 0)
			note_problem(o, "PrKD", &why);
		else if (exists) {
			snprintf(o->label, sizeof(o->label), "%.*s", (int)sizeof(o->label) - 1,
				 info.label);
			o->type_known = true;
			o->type = info.type;
			o->bits = info.key_bits;
		}
	}
	if (read_ef(s, HSM_FID(HSM_PREFIX_CERT, o->key_id), SESSION_CE_MAX, &exists, &o->ce_bytes,
		    e) < 0)
		goto out;
	o->ce = exists ? ce_classify(o->ce_bytes.data, o->ce_bytes.len) : SESSION_CE_NONE;
	if (o->ce == SESSION_CE_CVREQ)
		r = ce_cvreq_key(s, o, e);
	else if (o->ce == SESSION_CE_X509)
		r = ce_x509_key(o, e);
	else
		r = 0;
out:
	if (r < 0)
		smk_context(e, "key %u", o->key_id);
	smk_buf_free(&prkd);
	return r;
}

struct objects_arg {
	session_object *list;
	size_t n;
};

static int do_list_objects(smk_session *s, void *arg, smk_err *e)
{
	struct objects_arg *oa = arg;
	unsigned id;

	session_objects_free(oa->list, oa->n);
	oa->list = NULL;
	oa->n = 0;
	if (session_enumerate(s, e) < 0)
		return -1;
	oa->list = calloc(255, sizeof(*oa->list));
	if (oa->list == NULL)
		return smk_fail(e, SMK_E_NOMEM, "list objects: out of memory");
	for (id = 1; id <= 255; id++) {
		session_object *o;

		if (!session_has_key(s, (uint8_t)id))
			continue;
		o = &oa->list[oa->n++];
		o->key_id = (uint8_t)id;
		if (describe_object(s, o, e) < 0)
			return -1;
	}
	return 0;
}

int session_list_objects(smk_session *s, session_object **list, size_t *n, smk_err *e)
{
	struct objects_arg oa = {NULL, 0};

	*list = NULL;
	*n = 0;
	if (session_run_op(s, "list objects", do_list_objects, &oa, e) < 0) {
		session_objects_free(oa.list, oa.n);
		return -1;
	}
	*list = oa.list;
	*n = oa.n;
	return 0;
}

void session_objects_free(session_object *list, size_t n)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++) {
		smk_buf_free(&list[i].ce_bytes);
		smk_buf_free(&list[i].spki);
	}
	free(list);
}
