/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The key operations of the card session: key ids, GENERATE ASYMMETRIC KEY
 * PAIR and the check of its authenticated request, the PrKD, reading CE|id,
 * SIGN and DELETE. Each runs through session_run_op (bring-up, the one retry
 * rule) and sends only through session_send_sm.
 */
#include "session_int.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "prkd.h"

/* Command data per UPDATE BINARY under SM: well inside the smallest
 * extended APDU limit recorded for SmartCard-HSMs (1014, ref §1.4) once the
 * SM overhead (padding, DO87/DO8E, Le) is added. */
#define WRITE_CHUNK_DATA 900

struct list_arg {
	uint8_t *ids;
	size_t n;
	bool want_free;
	uint8_t free_id;
};

static bool objs_known(const smk_session *s)
{
	return s->objs_valid && s->objs_opens == s->opens;
}

static bool id_bit(const uint8_t map[32], uint8_t id)
{
	return (map[id / 8] >> (id % 8)) & 1;
}

static void id_bit_set(uint8_t map[32], uint8_t id, bool on)
{
	if (on)
		map[id / 8] |= (uint8_t)(1u << (id % 8));
	else
		map[id / 8] &= (uint8_t) ~(1u << (id % 8));
}

/* Keep the session's picture of the card current after our own change. */
static void objs_note(smk_session *s, uint16_t fid, bool exists)
{
	uint8_t prefix = (uint8_t)(fid >> 8), id = (uint8_t)fid;

	if (!objs_known(s))
		return;
	if (prefix == HSM_PREFIX_KEY)
		id_bit_set(s->key_ids, id, exists);
	else if (prefix == HSM_PREFIX_PRKD)
		id_bit_set(s->prkd_ids, id, exists);
}

static void objs_take(smk_session *s, const hsm_objects *objs)
{
	size_t i;

	memset(s->key_ids, 0, sizeof(s->key_ids));
	memset(s->prkd_ids, 0, sizeof(s->prkd_ids));
	s->objs_valid = true;
	s->objs_opens = s->opens;
	for (i = 0; i < objs->count; i++)
		objs_note(s, hsm_objects_fid(objs, i), true);
}

static int do_enumerate(smk_session *s, void *arg, smk_err *e)
{
	struct list_arg *l = arg;
	smk_buf data = SMK_BUF_INIT;
	hsm_objects objs;
	uint16_t sw;
	apdu a;
	int r;

	hsm_build_enumerate(&a, true);
	r = session_send_sm(s, &a, session_apdu_timeout(s), "ENUMERATE OBJECTS", &data, &sw, e);
	if (r == 0)
		r = hsm_parse_enumerate(data.data, data.len, sw, &objs, e);
	if (r == 0)
		objs_take(s, &objs);
	if (r == 0 && l->ids != NULL)
		l->n = hsm_key_ids(&objs, l->ids);
	if (r == 0 && l->want_free)
		r = hsm_free_key_id(&objs, &l->free_id, e);
	smk_buf_free(&data);
	return r;
}

int session_enumerate(smk_session *s, smk_err *e)
{
	struct list_arg l = {NULL, 0, false, 0};

	return do_enumerate(s, &l, e);
}

bool session_objs_known(const smk_session *s)
{
	return objs_known(s);
}

bool session_has_key(const smk_session *s, uint8_t key_id)
{
	return objs_known(s) && id_bit(s->key_ids, key_id);
}

bool session_has_prkd(const smk_session *s, uint8_t key_id)
{
	return objs_known(s) && id_bit(s->prkd_ids, key_id);
}

int session_list_keys(smk_session *s, uint8_t ids[255], size_t *n, smk_err *e)
{
	struct list_arg l = {ids, 0, false, 0};

	*n = 0;
	if (session_run_op(s, "list keys", do_enumerate, &l, e) < 0)
		return -1;
	*n = l.n;
	return 0;
}

int session_free_key_id(smk_session *s, uint8_t *id, smk_err *e)
{
	struct list_arg l = {NULL, 0, true, 0};

	if (session_run_op(s, "find a free key id", do_enumerate, &l, e) < 0)
		return -1;
	*id = l.free_id;
	return 0;
}

struct used_arg {
	uint8_t id;
	bool *used;
};

static int do_key_id_used(smk_session *s, void *arg, smk_err *e)
{
	struct used_arg *u = arg;
	struct list_arg l = {NULL, 0, false, 0};

	if (!objs_known(s) && do_enumerate(s, &l, e) < 0)
		return -1;
	*u->used = id_bit(s->key_ids, u->id);
	return 0;
}

int session_key_id_used(smk_session *s, uint8_t key_id, bool *used, smk_err *e)
{
	struct used_arg u = {key_id, used};

	*used = true;
	if (key_id == 0)
		return 0;
	return session_run_op(s, "look up a key id", do_key_id_used, &u, e);
}

int session_delete_ef(smk_session *s, uint16_t fid, bool missing_ok, smk_err *e)
{
	smk_buf data = SMK_BUF_INIT, cmd = SMK_BUF_INIT;
	uint16_t sw;
	apdu a;
	int r;

	r = hsm_build_delete_file(&a, &cmd, fid, e);
	if (r == 0)
		r = session_send_sm(s, &a, session_apdu_timeout(s), "DELETE FILE", &data, &sw, e);
	if (r == 0 && !(missing_ok && sw == 0x6A82))
		r = hsm_check_sw(sw, "DELETE FILE", e);
	if (r == 0)
		objs_note(s, fid, false);
	if (r < 0)
		smk_context(e, "EF %04X", fid);
	smk_buf_free(&data);
	smk_buf_free(&cmd);
	return r;
}

int session_write_ef(smk_session *s, uint16_t fid, const uint8_t *content, size_t len, smk_err *e)
{
	smk_buf data = SMK_BUF_INIT;
	hsm_writer w;
	uint16_t sw;
	apdu a;
	int rc;

	if (hsm_write_init(&w, fid, content, len, WRITE_CHUNK_DATA, e) < 0)
		return smk_context(e, "EF %04X", fid);
	while ((rc = hsm_write_next(&w, &a, e)) == 1) {
		smk_buf_reset(&data);
		if (session_send_sm(s, &a, session_apdu_timeout(s), "UPDATE BINARY", &data, &sw,
				    e) < 0 ||
		    hsm_write_feed(&w, sw, e) < 0) {
			rc = -1;
			break;
		}
	}
	hsm_write_free(&w);
	smk_buf_free(&data);
	if (rc < 0)
		return smk_context(e, "EF %04X", fid);
	objs_note(s, fid, true);
	return 0;
}

struct prkd_arg {
	uint8_t key_id;
	const char *label;
	EVP_PKEY *pub;
	const uint8_t *algs;
	size_t alg_count;
	uint8_t *id_out;
};

/* The public key bytes OpenSC derives the PKCS#15 iD from: the RSA modulus
 * or the uncompressed EC point. */
static int public_bytes(EVP_PKEY *pub, enum smk_keytype type, smk_buf *out, smk_err *e)
{
	BIGNUM *n = NULL;
	size_t len = 0;
	int r = -1;

	if (type == SMK_KEY_RSA) {
		if (EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
		    smk_buf_reserve(out, (size_t)BN_num_bytes(n)) < 0)
			goto out;
		out->len = (size_t)BN_bn2bin(n, out->data);
	} else {
		if (EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL,
						    0, &len) != 1 ||
		    smk_buf_reserve(out, len) < 0 ||
		    EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
						    out->data, len, &out->len) != 1)
			goto out;
	}
	r = 0;
out:
	BN_free(n);
	if (r < 0)
		smk_fail(e, SMK_E_CRYPTO, "PrKD: cannot read the public key");
	return r;
}

static int do_write_prkd(smk_session *s, void *arg, smk_err *e)
{
	struct prkd_arg *p = arg;
	smk_buf prkd = SMK_BUF_INIT, pub = SMK_BUF_INIT;
	uint16_t fid = HSM_FID(HSM_PREFIX_PRKD, p->key_id);
	const smk_curve *curve;
	enum smk_keytype type;
	unsigned bits;
	prkd_key k;
	int r;

	memset(&k, 0, sizeof(k));
	r = cvc_key_describe(p->pub, &type, &curve, &bits, e);
	if (r == 0)
		r = public_bytes(p->pub, type, &pub, e);
	if (r == 0)
		r = prkd_sha1_id(type, pub.data, pub.len, p->id_out, e);
	if (r == 0) {
		k.type = type;
		k.label = p->label;
		k.id = p->id_out;
		k.id_len = PRKD_SHA1_ID_LEN;
		/* ref §6.2: OpenSC's PrKD carries the EC field size (521 for P-521) */
		k.key_bits = type == SMK_KEY_EC ? curve->field_bits : bits;
		k.algs = p->algs;
		k.alg_count = p->alg_count;
		r = prkd_encode(&prkd, &k, e);
	}
	/* ref §2.4: replace by delete and re-create, not by a shorter overwrite;
	 * a file this session knows is absent needs no DELETE */
	if (r == 0 && (!objs_known(s) || id_bit(s->prkd_ids, p->key_id)))
		r = session_delete_ef(s, fid, true, e);
	if (r == 0)
		r = session_write_ef(s, fid, prkd.data, prkd.len, e);
	smk_buf_free(&prkd);
	smk_buf_free(&pub);
	return r;
}

int session_write_prkd(smk_session *s, uint8_t key_id, const char *label, EVP_PKEY *pub,
		       const uint8_t *algs, size_t alg_count, uint8_t prkd_id[20], smk_err *e)
{
	struct prkd_arg p = {key_id, label, pub, algs, alg_count, prkd_id};

	if (key_id == 0 || label == NULL || pub == NULL)
		return smk_fail(e, SMK_E_ARG, "write PrKD: key id, label and public key required");
	return session_run_op(s, "write PrKD", do_write_prkd, &p, e);
}

static const uint8_t no_oid[HSM_OID_LEN];

int session_check_cvreq(const smk_session *s, const hsm_keyspec *spec, const uint8_t *req, size_t n,
			chain_attested *out, smk_err *e)
{
	const char *want_car;

	memset(out, 0, sizeof(*out));
	if (!s->have_chain)
		return smk_fail(e, SMK_E_ARG, "CV request: no verified device chain yet");
	if (chain_verify_authreq(&s->chain, req, n, out, e) < 0)
		return smk_context(e, "CV request");
	/* chain_verify_authreq checks this too; it is the point of the whole
	 * exercise, so say it here as well */
	if (strcmp(out->outer_car, s->chain.device_chr) != 0) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: outer CAR %s is not the device %s",
			 out->outer_car, s->chain.device_chr);
		goto bad;
	}
	if (spec == NULL)
		return 0;
	if (strcmp(out->chr, spec->chr) != 0) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: CHR \"%s\", asked for \"%s\"", out->chr,
			 spec->chr);
		goto bad;
	}
	want_car = spec->car;
	if (want_car[0] != '\0' ? (!out->has_car || strcmp(out->car, want_car) != 0)
				: out->has_car) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: inner CAR \"%s\", asked for \"%s\"",
			 out->has_car ? out->car : "", want_car);
		goto bad;
	}
	if (out->type != spec->type) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: %s key, asked for %s",
			 keytype_name(out->type), keytype_name(spec->type));
		goto bad;
	}
	if (spec->type == SMK_KEY_EC && out->curve != spec->curve) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: key on %s, asked for %s",
			 out->curve ? out->curve->name : "(none)",
			 spec->curve ? spec->curve->name : "(none)");
		goto bad;
	}
	if (spec->type == SMK_KEY_RSA && out->bits != spec->rsa_bits) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: RSA-%u key, asked for RSA-%u", out->bits,
			 spec->rsa_bits);
		goto bad;
	}
	/* an explicit id-TA OID in the GAKP must come back in the request */
	if (memcmp(spec->oid, no_oid, sizeof(no_oid)) != 0 &&
	    (out->alg == NULL || memcmp(out->alg->oid, spec->oid, HSM_OID_LEN) != 0)) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: key algorithm %s is not the one asked for",
			 out->alg ? out->alg->name : "(none)");
		goto bad;
	}
	return 0;
bad:
	chain_attested_free(out);
	return -1;
}

struct gen_arg {
	const session_keygen *g;
	session_key *out;
};

static int do_generate(smk_session *s, void *arg, smk_err *e)
{
	struct gen_arg *ga = arg;
	session_key *k = ga->out;
	smk_buf cmd = SMK_BUF_INIT, data = SMK_BUF_INIT;
	struct list_arg l = {NULL, 0, true, 0};
	struct prkd_arg p;
	const uint8_t *req;
	size_t req_len;
	uint16_t sw;
	apdu a;
	int r = -1;
	bool sent;

	session_key_free(k);
	if (ga->g->key_id != 0) {
		struct list_arg look = {NULL, 0, false, 0};

		/* after a re-handshake (the retry of session_run_op) this lists the
		 * card again before the GAKP could replace a key made meanwhile */
		if (ga->g->must_be_free && !objs_known(s) && do_enumerate(s, &look, e) < 0)
			goto out;
		if (ga->g->must_be_free && id_bit(s->key_ids, ga->g->key_id)) {
			smk_fail(e, SMK_E_MISMATCH,
				 "key id %u already holds a key; nothing was generated",
				 ga->g->key_id);
			goto out;
		}
		k->key_id = ga->g->key_id;
	} else {
		if (do_enumerate(s, &l, e) < 0)
			goto out;
		k->key_id = l.free_id;
	}
	if (hsm_build_gakp(&a, &cmd, k->key_id, 0, &ga->g->spec, true, e) < 0)
		goto fail;
	k->gakp_sent = true;
	if (session_send_sm(s, &a, session_keygen_timeout(s), "GAKP", &data, &sw, e) < 0) {
		k->gakp_sent = session_cmd_may_have_run(s);
		/* a plain status word included: the card may hold the key; only a
		 * read-back of CE|id under a fresh session can tell (the caller's) */
		if (k->gakp_sent)
			smk_context(e, "the card may have made the key; not retried");
		goto fail;
	}
	if (hsm_parse_gakp_response(data.data, data.len, sw, &req, &req_len, e) < 0)
		goto fail;
	objs_note(s, HSM_FID(HSM_PREFIX_KEY, k->key_id), true);
	if (req_len == 0) {
		/* ref §6.3: the card keeps the request in CE|id as well */
		if (session_read_protected(s, HSM_FID(HSM_PREFIX_CERT, k->key_id), SESSION_CE_MAX,
					   &k->cvreq, e) < 0)
			goto fail;
	} else if (smk_buf_add(&k->cvreq, req, req_len) < 0) {
		smk_fail(e, SMK_E_NOMEM, "GAKP: out of memory");
		goto fail;
	}
	if (session_check_cvreq(s, &ga->g->spec, k->cvreq.data, k->cvreq.len, &k->att, e) < 0) {
		smk_err del;

		/* a key without a valid attestation must not stay on the card */
		if (session_delete_ef(s, HSM_FID(HSM_PREFIX_KEY, k->key_id), false, &del) == 0)
			smk_context(e, "key %u deleted again", k->key_id);
		else
			smk_context(e, "key %u NOT deleted (%s)", k->key_id, del.msg);
		goto fail;
	}
	if (ga->g->label != NULL) {
		p.key_id = k->key_id;
		p.label = ga->g->label;
		p.pub = k->att.key;
		p.algs = ga->g->spec.algs;
		p.alg_count = ga->g->spec.alg_count;
		p.id_out = k->prkd_id;
		if (do_write_prkd(s, &p, e) < 0) {
			smk_context(e, "key %u generated, PrKD", k->key_id);
			goto out; /* the key stands: out describes it */
		}
		k->has_prkd = true;
	}
	r = 0;
	goto out;
fail:
	/* the card may or may not hold a key now: look again next time */
	s->objs_valid = false;
	smk_context(e, "key %u", k->key_id);
	sent = k->gakp_sent;
	session_key_free(k);
	k->gakp_sent = sent;
out:
	smk_buf_free(&cmd);
	smk_buf_free(&data);
	return r;
}

int session_generate(smk_session *s, const session_keygen *g, session_key *out, smk_err *e)
{
	struct gen_arg ga = {g, out};

	memset(out, 0, sizeof(*out));
	if (g->spec.chr[0] == '\0')
		return smk_fail(e, SMK_E_ARG, "generate: a CHR is required");
	return session_run_op(s, "generate", do_generate, &ga, e);
}

void session_key_free(session_key *k)
{
	if (k == NULL)
		return;
	smk_buf_free(&k->cvreq);
	chain_attested_free(&k->att);
	memset(k, 0, sizeof(*k));
}

struct read_arg {
	uint8_t key_id;
	smk_buf *out;
};

static int do_read_cvreq(smk_session *s, void *arg, smk_err *e)
{
	struct read_arg *ra = arg;

	smk_buf_reset(ra->out);
	return session_read_protected(s, HSM_FID(HSM_PREFIX_CERT, ra->key_id), SESSION_CE_MAX,
				      ra->out, e);
}

int session_read_cvreq(smk_session *s, uint8_t key_id, smk_buf *out, smk_err *e)
{
	struct read_arg ra = {key_id, out};

	return session_run_op(s, "read CV request", do_read_cvreq, &ra, e);
}

struct sign_arg {
	uint8_t key_id, alg;
	const uint8_t *in;
	size_t n;
	smk_buf *sig;
};

static int do_sign(smk_session *s, void *arg, smk_err *e)
{
	struct sign_arg *sa = arg;
	smk_buf data = SMK_BUF_INIT;
	uint16_t sw;
	apdu a;
	int r;

	r = hsm_build_sign(&a, sa->key_id, sa->alg, sa->in, sa->n, true, e);
	if (r == 0) {
		r = session_send_sm(s, &a, session_apdu_timeout(s), "SIGN", &data, &sw, e);
		/* a lost, forged or plain answer: the card may have signed, and a
		 * use counter may have been used up; session_run_op does not
		 * repeat a command with an effect */
		if (r < 0 && session_cmd_may_have_run(s))
			smk_context(e, "the card may have signed (a use counter may be used up); "
				       "not retried");
	}
	if (r == 0)
		r = hsm_check_sw(sw, "SIGN", e);
	if (r == 0 && data.len == 0)
		r = smk_fail(e, SMK_E_FORMAT, "SIGN: empty answer");
	if (r == 0 && smk_buf_add(sa->sig, data.data, data.len) < 0)
		r = smk_fail(e, SMK_E_NOMEM, "SIGN: out of memory");
	smk_buf_free(&data);
	return r;
}

/* The protected size of SIGN with n input bytes, as do_sign sends it. */
static size_t sign_apdu_size(uint8_t alg, size_t n)
{
	apdu a = {
	    .cla = 0x80, .ins = 0x68, .p2 = alg, .lc = n, .ne = APDU_EXT_MAX_NE, .extended = true};

	return smsg_command_size(&a);
}

size_t session_sign_max_input(const smk_session *s, uint8_t alg)
{
	size_t n = HSM_APDU_MAX;

	(void)s;
	while (n > 0 && sign_apdu_size(alg, n) > HSM_APDU_MAX)
		n--;
	return n;
}

int session_sign(smk_session *s, uint8_t key_id, uint8_t alg, const uint8_t *in, size_t n,
		 smk_buf *sig, smk_err *e)
{
	struct sign_arg sa = {key_id, alg, in, n, sig};
	size_t max = session_sign_max_input(s, alg);

	if (n > max)
		return smk_fail(e, SMK_E_ARG,
				"SIGN: %zu bytes of input, the card takes at most %zu in one "
				"SIGN under secure messaging (a %zu-byte APDU, ref §7.12)",
				n, max, (size_t)HSM_APDU_MAX);
	return session_run_op(s, "sign", do_sign, &sa, e);
}

static int do_delete(smk_session *s, void *arg, smk_err *e)
{
	uint8_t id = *(uint8_t *)arg;

	if (session_delete_ef(s, HSM_FID(HSM_PREFIX_KEY, id), false, e) < 0 ||
	    session_delete_ef(s, HSM_FID(HSM_PREFIX_PRKD, id), true, e) < 0 ||
	    session_delete_ef(s, HSM_FID(HSM_PREFIX_CERT, id), true, e) < 0)
		return -1;
	return 0;
}

int session_delete_key(smk_session *s, uint8_t key_id, smk_err *e)
{
	if (key_id == 0)
		return smk_fail(e, SMK_E_ARG, "delete: key 0 is the device key");
	return session_run_op(s, "delete key", do_delete, &key_id, e);
}
