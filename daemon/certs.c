/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Certificates for archived keys: CreateCSR and SelfSign (the signature is
 * made by the key in the HSM, on its device's worker, under SM), and
 * ImportCertificate, which writes a certificate into CE|id and so replaces
 * the key's CV request there. That is only safe once the request is in the
 * archive, so the order is the point:
 *
 *   loop:            archive_cert_intent  (refused unless the key's record is
 *                                          committed and the certificate
 *                                          holds its public key)
 *   key's device:    CE|id still holds this key -> write the certificate
 *   archive device:  archive_cert_commit  (record, leaf, checkpoint)
 *   loop:            reply with the import record's bundle
 *
 * A write whose outcome is unknown is settled by reading CE|id back; if even
 * that fails the intent stays open and recover_certificates() settles it at
 * the next start.
 */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../sm/x509.h"
#include "cardop.h"
#include "log.h"
#include "varlink_errors.h"

static const cardop_methods certs_kind;

#define SELFSIGN_DAYS_DEFAULT 9125 /* 25 years: what Android APK signing expects */

/* ---- on the loop: accepting a call ---- */

/* x509_signer's card callback: the key signs in its device's session. */
static int card_sign(void *ctx, uint8_t alg, const uint8_t *in, size_t n, smk_buf *sig, smk_err *e)
{
	cardop *op = ctx;

	return session_sign(op->dev->session, op->key_id, alg, in, n, sig, e);
}

static void make_signer(cardop *op, x509_signer *s)
{
	memset(s, 0, sizeof(*s));
	s->sign = card_sign;
	s->ctx = op;
	s->pub = op->pub;
	s->algs = op->algs;
	s->alg_count = op->alg_count;
}

/* CreateCSR and SelfSign: the record, who asks, and whether the key's
 * algorithm list allows any X.509 signature at all - all before the card. */
/* RequestRefused names the key's policy; an adopted key has none (null). */
static json_t *refused_params(const cardop *op, const char *reason)
{
	return json_pack("{s:s?, s:s}", "policy", op->policy[0] ? op->policy : NULL, "reason",
			 reason);
}

static int accept_x509(engine *eng, enum cardop_kind kind, const engine_peer *peer, json_t *params,
		       engine_done_fn done, void *ctx, engine_error *err)
{
	json_t *days = json_object_get(params, "days");
	const char *subject = json_string_value(json_object_get(params, "subject"));
	X509_NAME *parsed;
	archive_record r;
	x509_signer s;
	uint8_t alg;
	char name[48];
	smk_err e;
	cardop *op;

	memset(err, 0, sizeof(*err));
	/* a subject that does not parse is the caller's typo: said at once,
	 * before any card work is queued */
	if (x509_parse_subject(subject, &parsed, &e) < 0)
		return engine_fail(err, SMK_VERR_INVALID_PARAMETER,
				   engine_param_str("parameter", "subject", "reason", e.msg),
				   "parameter subject: %s", e.msg);
	X509_NAME_free(parsed);
	op = cardop_new(eng, &certs_kind.base, kind, peer, done, ctx, err);
	if (op == NULL)
		return -1;
	if (cardop_find_record(eng, params, &r, err) < 0) {
		cardop_discard(op);
		return -1;
	}
	if (cardop_take_key(op, &r, err) < 0) {
		archive_record_free(&r);
		cardop_discard(op);
		return -1;
	}
	archive_record_free(&r);
	snprintf(op->subject, sizeof(op->subject), "%s", subject);
	op->days = days ? (unsigned)json_integer_value(days) : SELFSIGN_DAYS_DEFAULT;
	make_signer(op, &s);
	if (x509_pick_alg(&s, &alg, name, &e) < 0) {
		engine_fail(err, SMK_VERR_REQUEST_REFUSED, refused_params(op, e.msg),
			    "record %llu: %s", (unsigned long long)op->key_seq, e.msg);
		cardop_discard(op);
		return -1;
	}
	if (cardop_queue(op, op->dev, err) < 0) {
		cardop_discard(op);
		return -1;
	}
	log_msg(
	    LOG_INFO,
	    &(log_fields){.policy = op->policy[0] ? op->policy : NULL, .device = op->dev->serial},
	    "uid %u pid %d: %s for record %llu (key %u, %s) queued", (unsigned)peer->uid,
	    (int)peer->pid, kind == CARDOP_CSR ? "CSR" : "self-signed certificate",
	    (unsigned long long)op->key_seq, op->key_id, name);
	return 0;
}

int certs_create_csr(engine *eng, const engine_peer *peer, json_t *params, engine_done_fn done,
		     void *ctx, engine_error *err)
{
	return accept_x509(eng, CARDOP_CSR, peer, params, done, ctx, err);
}

int certs_self_sign(engine *eng, const engine_peer *peer, json_t *params, engine_done_fn done,
		    void *ctx, engine_error *err)
{
	return accept_x509(eng, CARDOP_SELFSIGN, peer, params, done, ctx, err);
}

static int mismatch(engine_error *err, const char *reason)
{
	return engine_fail(err, SMK_VERR_CERTIFICATE_MISMATCH,
			   engine_param_str("reason", reason, NULL, NULL), "%s", reason);
}

int certs_import(engine *eng, const engine_peer *peer, json_t *params, engine_done_fn done,
		 void *ctx, engine_error *err)
{
	const char *pem = json_string_value(json_object_get(params, "certificate"));
	archive_intent_info info;
	archive_cert_req req;
	archive_record r;
	smk_err e;
	cardop *op;
	int rc;

	memset(err, 0, sizeof(*err));
	op = cardop_new(eng, &certs_kind.base, CARDOP_IMPORT, peer, done, ctx, err);
	if (op == NULL)
		return -1;
	if (x509_load_cert((const uint8_t *)pem, strlen(pem), &op->cert, &e) < 0) {
		engine_fail(err, SMK_VERR_INVALID_PARAMETER,
			    engine_param_str("parameter", "certificate", "reason", e.msg), "%s",
			    e.msg);
		goto refused;
	}
	if (op->cert.len > ARCHIVE_CERT_MAX) {
		/* what EF CE|id holds */
		engine_fail(err, SMK_VERR_INVALID_PARAMETER,
			    engine_param_str("parameter", "certificate", "reason",
					     "is longer than the 4096 DER bytes CE|id holds"),
			    "certificate of %zu DER bytes", op->cert.len);
		goto refused;
	}
	if (cardop_find_record(eng, params, &r, err) < 0)
		goto refused;
	rc = cardop_take_key(op, &r, err);
	archive_record_free(&r);
	if (rc < 0)
		goto refused;
	/* checked here too so that a wrong certificate is named as such even
	 * before the archive looks at it */
	if (x509_cert_matches_spki(op->cert.data, op->cert.len, op->spki.data, op->spki.len, &e) <
	    0) {
		mismatch(err, e.msg);
		goto refused;
	}
	if (eng->archive_dev == NULL) {
		engine_fail_no_archive_key(eng, err);
		goto refused;
	}

	/* the intent is durable before CE|id is touched */
	memset(&req, 0, sizeof(req));
	req.peer = engine_archive_peer(peer);
	req.key_seq = op->key_seq;
	req.cert = op->cert.data;
	req.cert_len = op->cert.len;
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_cert_intent(eng->arc, &req, &info, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0) {
		if (e.code == SMK_E_MISMATCH)
			mismatch(err, e.msg);
		else if (e.code == SMK_E_ARG)
			engine_fail(err, SMK_VERR_RECORD_NOT_FOUND, NULL, "%s", e.msg);
		else
			engine_fail(err, SMK_VERR_ARCHIVE_ERROR,
				    engine_param_str("reason", e.msg, NULL, NULL), "intent: %s",
				    e.msg);
		goto refused;
	}
	memcpy(op->request_id, info.request_id, sizeof(op->request_id));
	if (cardop_queue(op, op->dev, err) < 0) {
		pthread_mutex_lock(&eng->archive_lock);
		archive_fail(eng->arc, op->request_id, "out of memory", NULL);
		pthread_mutex_unlock(&eng->archive_lock);
		goto refused;
	}
	log_msg(LOG_INFO,
		&(log_fields){op->request_id, op->policy[0] ? op->policy : NULL, op->dev->serial,
			      "accepted"},
		"uid %u pid %d: certificate for record %llu (key %u) queued", (unsigned)peer->uid,
		(int)peer->pid, (unsigned long long)op->key_seq, op->key_id);
	return 0;
refused:
	cardop_discard(op);
	return -1;
}

/* ---- on the key's device: the card work ---- */

/* The signature the card made must verify with the archived key: otherwise
 * the key id no longer holds the record's key. */
static int check_signed(cardop *op, smk_err *e)
{
	BIO *bio = BIO_new_mem_buf(op->out.data, (int)op->out.len);
	X509_REQ *req = NULL;
	X509 *cert = NULL;
	int ok = 0;

	if (bio && op->kind == CARDOP_CSR && (req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL)))
		ok = X509_REQ_verify(req, op->pub) == 1;
	else if (bio && op->kind == CARDOP_SELFSIGN &&
		 (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		ok = X509_verify(cert, op->pub) == 1;
	X509_REQ_free(req);
	X509_free(cert);
	BIO_free(bio);
	if (!ok)
		return smk_fail(e, SMK_E_MISMATCH,
				"the signature made by key %u on %s does not verify with record "
				"%llu's public key: that key id holds another key now",
				op->key_id, op->dev->serial, (unsigned long long)op->key_seq);
	return 0;
}

static void run_x509(device *d, cardop *op)
{
	smk_buf der = SMK_BUF_INIT;
	x509_signer s;

	make_signer(op, &s);
	if (session_open(d->session, &op->err) < 0)
		op->rc = -1;
	else if (op->kind == CARDOP_CSR)
		op->rc = x509_make_csr(&s, op->subject, &op->out, &op->err);
	else
		op->rc = x509_make_selfsigned(&s, op->subject, op->days, time(NULL), &der, &op->out,
					      &op->err);
	if (op->rc == 0)
		op->rc = check_signed(op, &op->err);
	op->failure = op->rc < 0 && !device_lost(&op->err) ? CARDOP_REFUSED : CARDOP_FAILED;
	smk_buf_free(&der);
}

/* Does CE|id hold this key (its CV request, or a certificate of it)? Or,
 * with want_cert, exactly that certificate? 1 yes, 0 no (reason in e), -1
 * CE|id could not be read. */
static int ce_holds(cardop *op, bool want_cert, smk_err *e)
{
	enum session_ce_kind kind;
	smk_buf ce = SMK_BUF_INIT;
	chain_attested att;
	smk_err me;
	int rc = 0;

	memset(&att, 0, sizeof(att));
	if (session_read_ce(op->dev->session, op->key_id, &kind, &ce, e) < 0) {
		smk_buf_free(&ce);
		return -1;
	}
	if (want_cert) {
		rc = kind == SESSION_CE_X509 && ce.len == op->cert.len &&
		     memcmp(ce.data, op->cert.data, ce.len) == 0;
		if (!rc)
			smk_fail(e, SMK_E_MISMATCH, "CE|%02X holds %s, not the certificate",
				 op->key_id, session_ce_kind_name(kind));
	} else if (kind == SESSION_CE_CVREQ) {
		rc = session_check_cvreq(op->dev->session, NULL, ce.data, ce.len, &att, &me) == 0 &&
		     att.spki.len == op->spki.len &&
		     memcmp(att.spki.data, op->spki.data, op->spki.len) == 0;
	} else if (kind == SESSION_CE_X509) {
		rc = x509_cert_matches_spki(ce.data, ce.len, op->spki.data, op->spki.len, &me) == 0;
	}
	if (!rc && !want_cert)
		smk_fail(e, SMK_E_MISMATCH,
			 "CE|%02X on %s holds %s that is not record %llu's key: the key id holds "
			 "another key now",
			 op->key_id, op->dev->serial, session_ce_kind_name(kind),
			 (unsigned long long)op->key_seq);
	chain_attested_free(&att);
	smk_buf_free(&ce);
	return rc;
}

static void run_write(device *d, cardop *op)
{
	smk_err re;
	int held;

	op->rc = -1;
	op->failure = CARDOP_FAILED;
	if (session_open(d->session, &op->err) < 0)
		return;
	held = ce_holds(op, false, &op->err);
	if (held <= 0) {
		/* nothing was written: the intent ends as failed */
		op->failure = held == 0 ? CARDOP_REFUSED : CARDOP_FAILED;
		return;
	}
	testhook_crash_point("before-cert-write");
	if (session_write_cert(d->session, op->key_id, op->cert.data, op->cert.len, &op->err) ==
	    0) {
		op->rc = 0;
		testhook_crash_point("after-cert-write");
		return;
	}
	/* the outcome on the card is unknown: look, under a fresh session if
	 * the link went */
	held = ce_holds(op, true, &re);
	if (held == 1) {
		log_msg(LOG_NOTICE,
			&(log_fields){.request_id = op->request_id, .device = d->serial},
			"certificate write reported \"%s\" but CE|%02X holds the certificate",
			op->err.msg, op->key_id);
		smk_err_clear(&op->err);
		op->rc = 0;
	} else if (held < 0) {
		op->failure = CARDOP_LEFT_OPEN;
	}
}

static void run_commit(device *d, cardop *op)
{
	engine *eng = op->base.eng;
	archive_signer s;

	commit_signer(d, eng->archive_key_id, eng->archive_pub, &s);
	pthread_mutex_lock(&eng->archive_lock);
	op->rc = archive_cert_commit(eng->arc, &s, op->request_id, 0, &op->seq, &op->err);
	pthread_mutex_unlock(&eng->archive_lock);
}

static void certs_run(device *d, cardop *op)
{
	if (op->step == CARDOP_STEP_COMMIT)
		run_commit(d, op);
	else if (op->kind == CARDOP_IMPORT)
		run_write(d, op);
	else
		run_x509(d, op);
}

/* ---- back on the loop ---- */

static void x509_done(cardop *op)
{
	const char *what = op->kind == CARDOP_CSR ? "csr" : "certificate";
	log_fields f = {NULL, op->policy[0] ? op->policy : NULL, op->dev->serial, NULL};

	if (op->rc < 0) {
		f.outcome = "failed";
		log_msg(LOG_WARNING, &f, "%s for record %llu: %s", what,
			(unsigned long long)op->key_seq, op->err.msg);
		if (op->failure == CARDOP_REFUSED && op->err.code == SMK_E_MISMATCH)
			cardop_fail(op, SMK_VERR_CERTIFICATE_MISMATCH,
				    engine_param_str("reason", op->err.msg, NULL, NULL), "%s",
				    op->err.msg);
		else if (op->failure == CARDOP_REFUSED)
			cardop_fail(op, SMK_VERR_REQUEST_REFUSED, refused_params(op, op->err.msg),
				    "%s", op->err.msg);
		else
			cardop_fail(
			    op, SMK_VERR_DEVICE_UNAVAILABLE,
			    engine_param_str("device", op->dev->serial, "reason", op->err.msg),
			    "%s", op->err.msg);
		return;
	}
	f.outcome = "signed";
	log_msg(LOG_INFO, &f, "%s for record %llu (key %u) signed in the HSM", what,
		(unsigned long long)op->key_seq, op->key_id);
	cardop_reply(op, json_pack("{s:s%}", what, (const char *)op->out.data, op->out.len));
}

static void import_failed(cardop *op, const char *name, json_t *params)
{
	engine *eng = op->base.eng;
	log_fields f = {op->request_id, op->policy[0] ? op->policy : NULL, op->dev->serial,
			"failed"};
	smk_err e;
	int rc;

	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_fail(eng->arc, op->request_id, op->err.msg, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0)
		log_msg(LOG_ERR, &f, "cannot record the failure: %s", e.msg);
	log_msg(LOG_WARNING, &f, "certificate for record %llu not written: %s",
		(unsigned long long)op->key_seq, op->err.msg);
	cardop_fail(op, name, params, "request %s: %s", op->request_id, op->err.msg);
}

static void left_open(cardop *op, const char *reason)
{
	log_msg(LOG_ERR,
		&(log_fields){op->request_id, op->policy[0] ? op->policy : NULL, op->dev->serial,
			      "pending"},
		"certificate import for record %llu left open (settled at the next start): %s",
		(unsigned long long)op->key_seq, reason);
	cardop_fail(op, SMK_VERR_ARCHIVE_ERROR, engine_param_str("reason", reason, NULL, NULL),
		    "request %s: %s", op->request_id, reason);
}

static void import_written(cardop *op)
{
	engine *eng = op->base.eng;
	engine_error err;

	if (eng->archive_dev == NULL) {
		char why[sizeof(eng->archive_error)];

		engine_archive_error(eng, why, sizeof(why));
		left_open(op, why);
		return;
	}
	op->step = CARDOP_STEP_COMMIT;
	memset(&err, 0, sizeof(err));
	if (cardop_queue(op, eng->archive_dev, &err) < 0) {
		engine_error_clear(&err);
		left_open(op, "out of memory");
	}
}

static void import_committed(cardop *op)
{
	x509_info info;
	json_t *bundle;
	smk_err e;

	log_msg(LOG_INFO,
		&(log_fields){op->request_id, op->policy[0] ? op->policy : NULL, op->dev->serial,
			      "committed"},
		"certificate for record %llu written to CE|%02X and archived as record %llu",
		(unsigned long long)op->key_seq, op->key_id, (unsigned long long)op->seq);
	if (op->base.ctx == NULL) {
		cardop_reply(op, json_object());
		return;
	}
	if (x509_describe(op->cert.data, op->cert.len, &info, &e) < 0 ||
	    (bundle = cardop_bundle(op->base.eng, op->seq, &e)) == NULL) {
		cardop_fail(op, SMK_VERR_ARCHIVE_ERROR,
			    engine_param_str("reason", e.msg, NULL, NULL), "record %llu: %s",
			    (unsigned long long)op->seq, e.msg);
		return;
	}
	cardop_reply(op, json_pack("{s:I, s:I, s:s, s:o}", "seq", (json_int_t)op->seq, "key_seq",
				   (json_int_t)op->key_seq, "fingerprint", info.fingerprint,
				   "bundle", bundle));
}

static void import_done(cardop *op)
{
	if (op->step == CARDOP_STEP_COMMIT) {
		if (op->rc < 0)
			left_open(op, op->err.msg);
		else
			import_committed(op);
		return;
	}
	if (op->rc == 0) {
		import_written(op);
		return;
	}
	switch (op->failure) {
	case CARDOP_LEFT_OPEN:
		left_open(op, op->err.msg);
		return;
	case CARDOP_REFUSED:
		import_failed(op, SMK_VERR_CERTIFICATE_MISMATCH,
			      engine_param_str("reason", op->err.msg, NULL, NULL));
		return;
	case CARDOP_FAILED:
		import_failed(op, SMK_VERR_DEVICE_UNAVAILABLE,
			      engine_param_str("device", op->dev->serial, "reason", op->err.msg));
		return;
	}
}

static void certs_deliver(cardop *op)
{
	if (op->kind == CARDOP_IMPORT)
		import_done(op);
	else
		x509_done(op);
}

static const cardop_methods certs_kind = {
    .base = {.name = "certificate call",
	     .run = cardop_run,
	     .deliver = cardop_deliver,
	     .free = cardop_free},
    .run = certs_run,
    .deliver = certs_deliver,
};
