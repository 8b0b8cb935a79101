/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Keys made outside smkeyd (pkcs11-tool --keypairgen, the SmartCard-HSM
 * tools): Adopt archives one while its device-signed CV request is still in
 * CE|id, and ListDeviceObjects shows every key on a card beside what the
 * archive knows of it. Both are for admins only: no policy names who may.
 *
 * Adopt reads CE|id on the key's device, verifies the request against the
 * DevAut key the session validated (session_check_cvreq, no spec: nothing
 * was asked of this key), then archive_adopt commits it through the archive
 * key in one transaction. Nothing is written when CE|id no longer holds a
 * request: then not even "held by this device" can be shown, and we say so.
 *
 * What a verified request proves is that the key is held by the device. It
 * does not prove the key was generated there: a device with a key domain
 * (DKEK or XKEK) can take a key made elsewhere through UNWRAP KEY, and at
 * least one implementation then writes a device-signed request for it too.
 * So both calls read the key-domain state under SM in the same session and
 * mark a key on a device that can import as "may have been imported".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/show.h"
#include "../sm/x509.h"
#include "cardop.h"
#include "log.h"
#include "varlink_errors.h"

static const cardop_methods adopt_kind;

/* ---- on the loop: accepting a call ---- */

static int admin_only(cardop *op, const char *what, engine_error *err)
{
	char why[300];

	if (cardop_is_admin(op->base.eng, &op->peer))
		return 0;
	snprintf(why, sizeof(why),
		 "%s is for root and the config's admin-groups; uid %u is neither", what,
		 (unsigned)op->peer.uid);
	log_msg(LOG_NOTICE, &(log_fields){.outcome = "denied"}, "uid %u pid %d: %s",
		(unsigned)op->peer.uid, (int)op->peer.pid, why);
	return engine_fail(err, SMK_VERR_POLICY_DENIED,
			   engine_param_str("policy", "", "reason", why), "%s", why);
}

static int take_device(cardop *op, json_t *params, engine_error *err)
{
	const char *serial = json_string_value(json_object_get(params, "device"));

	op->dev = cardop_device(op->base.eng, serial);
	if (op->dev == NULL)
		return engine_fail(err, SMK_VERR_DEVICE_UNAVAILABLE,
				   engine_param_str("device", serial, "reason",
						    "no such device up (smkey devices lists them)"),
				   "device %s is not up", serial);
	return 0;
}

int adopt_key(engine *eng, const engine_peer *peer, json_t *params, engine_done_fn done, void *ctx,
	      engine_error *err)
{
	json_t *label = json_object_get(params, "label");
	cardop *op;

	memset(err, 0, sizeof(*err));
	op = cardop_new(eng, &adopt_kind.base, CARDOP_ADOPT, peer, done, ctx, err);
	if (op == NULL)
		return -1;
	if (admin_only(op, "Adopt", err) < 0 || take_device(op, params, err) < 0)
		goto refused;
	if (eng->archive_dev == NULL) {
		engine_fail_no_archive_key(eng, err);
		goto refused;
	}
	op->key_id = (uint8_t)json_integer_value(json_object_get(params, "key_id"));
	if (label) {
		snprintf(op->label, sizeof(op->label), "%s", json_string_value(label));
		op->label_given = true;
	}
	if (cardop_queue(op, op->dev, err) < 0)
		goto refused;
	log_msg(LOG_INFO, &(log_fields){.device = op->dev->serial, .outcome = "accepted"},
		"uid %u pid %d: adopt key %u queued", (unsigned)peer->uid, (int)peer->pid,
		op->key_id);
	return 0;
refused:
	cardop_discard(op);
	return -1;
}

int adopt_list_objects(engine *eng, const engine_peer *peer, json_t *params, engine_done_fn done,
		       void *ctx, engine_error *err)
{
	cardop *op;

	memset(err, 0, sizeof(*err));
	op = cardop_new(eng, &adopt_kind.base, CARDOP_OBJECTS, peer, done, ctx, err);
	if (op == NULL)
		return -1;
	if (admin_only(op, "ListDeviceObjects", err) < 0 || take_device(op, params, err) < 0 ||
	    cardop_queue(op, op->dev, err) < 0) {
		cardop_discard(op);
		return -1;
	}
	return 0;
}

/* ---- on the key's device ---- */

/* The device's key domains, in the session the key was read in. A query
 * that fails (a hostile or broken answer) is kept as "unreadable", which
 * counts as "may have imported"; it does not stop the operation. */
static void read_domains(device *d, cardop *op)
{
	smk_err e;

	op->domains_read = session_key_domains(d->session, &op->domains, &e) == 0;
	if (op->domains_read)
		return;
	snprintf(op->domains_error, sizeof(op->domains_error), "%s", e.msg);
	log_msg(LOG_WARNING, &(log_fields){.device = d->serial},
		"key domains could not be read: %s", smk_show(e.msg));
}

/* Why a key whose CE|id holds kind cannot be adopted. */
static void not_adoptable(cardop *op, enum session_ce_kind kind)
{
	unsigned id = op->key_id;

	op->failure = CARDOP_REFUSED;
	switch (kind) {
	case SESSION_CE_X509:
		smk_fail(&op->err, SMK_E_MISMATCH,
			 "CE|%02X holds an X.509 certificate: the CV request that proved the "
			 "device holds the key was overwritten and cannot be recovered",
			 id);
		break;
	case SESSION_CE_CVC:
		smk_fail(&op->err, SMK_E_MISMATCH,
			 "CE|%02X holds a CV certificate: the CV request that proved the device "
			 "holds the key was overwritten and cannot be recovered",
			 id);
		break;
	case SESSION_CE_NONE:
		smk_fail(&op->err, SMK_E_MISMATCH,
			 "there is no EF CE|%02X on the device: no key with id %u, or one whose "
			 "CV request was deleted; nothing proves the device holds it",
			 id, id);
		break;
	case SESSION_CE_EMPTY:
		smk_fail(&op->err, SMK_E_MISMATCH,
			 "CE|%02X is empty: the CV request that proved the device holds the key "
			 "is gone",
			 id);
		break;
	default:
		smk_fail(&op->err, SMK_E_MISMATCH,
			 "CE|%02X holds neither a CV request nor a certificate; nothing proves "
			 "the device holds the key",
			 id);
		break;
	}
}

/* The label in the key's PrKD, when the caller gave none. */
static void prkd_label(device *d, cardop *op)
{
	session_object *objs = NULL;
	size_t n = 0, i;
	smk_err e;

	if (session_list_objects(d->session, &objs, &n, &e) < 0) {
		log_msg(LOG_WARNING, &(log_fields){.device = d->serial},
			"adopt key %u: no label from the card: %s", op->key_id, e.msg);
		return;
	}
	for (i = 0; i < n; i++)
		if (objs[i].key_id == op->key_id && objs[i].has_prkd)
			snprintf(op->label, sizeof(op->label), "%s", objs[i].label);
	session_objects_free(objs, n);
}

static void run_read(device *d, cardop *op)
{
	enum session_ce_kind kind;
	const devaut_chain *c;

	op->rc = -1;
	op->failure = CARDOP_FAILED;
	if (session_open(d->session, &op->err) < 0 ||
	    session_read_ce(d->session, op->key_id, &kind, &op->cvreq, &op->err) < 0)
		return;
	if (kind != SESSION_CE_CVREQ) {
		not_adoptable(op, kind);
		return;
	}
	if (session_check_cvreq(d->session, NULL, op->cvreq.data, op->cvreq.len, &op->att,
				&op->err) < 0) {
		smk_context(&op->err, "CE|%02X: the CV request does not verify against device %s",
			    op->key_id, d->serial);
		op->failure = CARDOP_REFUSED;
		return;
	}
	c = session_chain(d->session);
	if (c == NULL || smk_buf_add(&op->chain, c->device_cert.data, c->device_cert.len) < 0 ||
	    smk_buf_add(&op->chain, c->dica_cert.data, c->dica_cert.len) < 0) {
		smk_fail(&op->err, SMK_E_NOMEM, "device %s: no device chain", d->serial);
		return;
	}
	if (!op->label_given)
		prkd_label(d, op);
	/* for the record: what the card says of import and of this key's list
	 * (the log's statement; the CV request proves only "held by d") */
	memset(&op->card, 0, sizeof(op->card));
	op->card.cvreq_from = ARCHIVE_CVREQ_CE;
	card_facts_algs(d, op->key_id, 1, &op->card);
	card_facts_domains(d, &op->card);
	/* the reply and the log line say what the record says */
	op->domains = d->domains;
	op->domains_read = d->domains_opens != 0;
	if (!op->domains_read)
		snprintf(op->domains_error, sizeof(op->domains_error),
			 "the device's key-domain state could not be read (the daemon log says "
			 "why)");
	op->rc = 0;
}

static void run_adopt_commit(device *d, cardop *op)
{
	engine *eng = op->base.eng;
	archive_adopt_req req;
	archive_signer s;

	memset(&req, 0, sizeof(req));
	req.peer = engine_archive_peer(&op->peer);
	req.device_serial = op->dev->serial;
	req.devaut_chr = op->dev->devaut_chr;
	req.key_id = op->key_id;
	req.label = op->label;
	req.device_chain = op->chain.data;
	req.device_chain_len = op->chain.len;
	req.cvreq = op->cvreq.data;
	req.cvreq_len = op->cvreq.len;
	req.spki = op->att.spki.data;
	req.spki_len = op->att.spki.len;
	req.card = &op->card;
	commit_signer(d, eng->archive_key_id, eng->archive_pub, &s);
	pthread_mutex_lock(&eng->archive_lock);
	op->rc = archive_adopt(eng->arc, &s, &req, &op->seq, &op->err);
	pthread_mutex_unlock(&eng->archive_lock);
	/* the archive refuses a request or key it already holds */
	op->failure = op->err.code == SMK_E_MISMATCH ? CARDOP_REFUSED : CARDOP_FAILED;
}

/* The listing verifies each CV request in CE|id against this device
 * (session_object.ce_attested): only such a key is adoptable. */
static void run_objects(device *d, cardop *op)
{
	smk_err e;

	op->rc = -1;
	if (session_open(d->session, &op->err) < 0 ||
	    session_list_objects(d->session, &op->objs, &op->nobj, &op->err) < 0)
		return;
	read_domains(d, op);
	/* the algorithm list each key's FCP reports, where the card reports one */
	op->key_algs = calloc(op->nobj ? op->nobj : 1, sizeof(*op->key_algs));
	if (op->key_algs == NULL) {
		smk_fail(&op->err, SMK_E_NOMEM, "device %s: out of memory", d->serial);
		return;
	}
	for (size_t i = 0; i < op->nobj; i++) {
		struct cardop_key_algs *ka = &op->key_algs[i];

		if (session_key_algs(d->session, op->objs[i].key_id, ka->algs, &ka->n,
				     &ka->reported, &e) < 0)
			snprintf(ka->problem, sizeof(ka->problem), "%s", e.msg);
	}
	op->rc = 0;
}

static void adopt_run(device *d, cardop *op)
{
	if (op->kind == CARDOP_OBJECTS)
		run_objects(d, op);
	else if (op->step == CARDOP_STEP_COMMIT)
		run_adopt_commit(d, op);
	else
		run_read(d, op);
}

/* ---- back on the loop ---- */

static void adopt_refused(cardop *op)
{
	log_msg(LOG_WARNING, &(log_fields){.device = op->dev->serial, .outcome = "refused"},
		"adopt key %u: %s", op->key_id, op->err.msg);
	if (op->failure == CARDOP_REFUSED)
		cardop_fail(op, SMK_VERR_NOT_ADOPTABLE,
			    json_pack("{s:s, s:i, s:s}", "device", op->dev->serial, "key_id",
				      (int)op->key_id, "reason", op->err.msg),
			    "%s", op->err.msg);
	else
		cardop_fail(op, SMK_VERR_DEVICE_UNAVAILABLE,
			    engine_param_str("device", op->dev->serial, "reason", op->err.msg),
			    "%s", op->err.msg);
}

static void adopt_committed(cardop *op)
{
	engine *eng = op->base.eng;
	smk_buf canon = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	archive_record r;
	json_t *bundle;
	smk_err e;
	int rc;

	memset(&r, 0, sizeof(r));
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_get(eng->arc, op->seq, &canon, &sig, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc == 0)
		rc = archive_record_parse(canon.data, canon.len, &r, &e);
	smk_buf_free(&canon);
	smk_buf_free(&sig);
	log_msg(LOG_INFO,
		&(log_fields){rc == 0 ? r.request_id : NULL, NULL, op->dev->serial, "committed"},
		"key %u \"%s\" adopted as record %llu: held by %s%s", op->key_id,
		smk_show(op->label), (unsigned long long)op->seq, op->dev->serial,
		cardop_may_import(op) ? "; may have been imported (the device can import keys)"
				      : "");
	if (rc < 0 || (bundle = cardop_bundle(eng, op->seq, &e)) == NULL) {
		archive_record_free(&r);
		cardop_fail(op, SMK_VERR_ARCHIVE_ERROR,
			    engine_param_str("reason", e.msg, NULL, NULL), "record %llu: %s",
			    (unsigned long long)op->seq, e.msg);
		return;
	}
	cardop_reply(op, json_pack("{s:I, s:s, s:o, s:s, s:o, s:s, s:b, s:o}", "seq",
				   (json_int_t)op->seq, "request_id", r.request_id, "fingerprint",
				   smk_json_sha256_hex(op->att.spki.data, op->att.spki.len),
				   "public_key_pem", op->att.pem ? op->att.pem : "", "bundle",
				   bundle, "held_by", op->dev->serial, "may_have_been_imported",
				   cardop_may_import(op), "key_domains", cardop_domains_json(op)));
	archive_record_free(&r);
}

static void adopt_done(cardop *op)
{
	engine *eng = op->base.eng;
	engine_error err;

	if (op->rc < 0) {
		adopt_refused(op);
		return;
	}
	if (op->step == CARDOP_STEP_COMMIT) {
		adopt_committed(op);
		return;
	}
	memset(&err, 0, sizeof(err));
	op->step = CARDOP_STEP_COMMIT;
	if (eng->archive_dev == NULL) {
		engine_fail_no_archive_key(eng, &err);
		cardop_fail(op, err.name, err.params, "%s", err.msg);
		return;
	}
	if (cardop_queue(op, eng->archive_dev, &err) < 0) {
		engine_error_clear(&err);
		cardop_fail(op, SMK_VERR_ARCHIVE_ERROR,
			    engine_param_str("reason", "out of memory", NULL, NULL),
			    "out of memory");
	}
}

/* "cv-request" -> "cv_request": the interface's enum spelling. */
static const char *ce_wire(enum session_ce_kind k)
{
	return k == SESSION_CE_CVREQ ? "cv_request" : session_ce_kind_name(k);
}

static const char *kind_wire(const char *kind)
{
	if (strcmp(kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0)
		return "archive_key";
	return kind;
}

/* Is the certificate in CE|id the one the archive's latest import record of
 * key record key_seq holds? Its seq, or 0 (none, or another certificate). */
static uint64_t imported_as(engine *eng, uint64_t key_seq, const smk_buf *ce)
{
	smk_buf canon = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	archive_record r;
	uint64_t seq = 0;
	smk_err e;
	int rc;

	memset(&r, 0, sizeof(r));
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_find_cert(eng->arc, key_seq, &seq, &e) == 0 &&
	     archive_get(eng->arc, seq, &canon, &sig, &e) == 0;
	pthread_mutex_unlock(&eng->archive_lock);
	if (!rc || archive_record_parse(canon.data, canon.len, &r, &e) < 0 ||
	    r.cert.len != ce->len || memcmp(r.cert.data, ce->data, ce->len) != 0)
		seq = 0;
	archive_record_free(&r);
	smk_buf_free(&canon);
	smk_buf_free(&sig);
	return seq;
}

/* What the archive knows of one key on the card: a record holding its
 * public key, else (no public key readable) one for its device and key id. */
static void mark(cardop *op, const session_object *o, json_t *obj)
{
	engine *eng = op->base.eng;
	smk_buf canon = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	archive_record r;
	char hint[300] = "";
	uint64_t seq, cert_seq;
	smk_err e;
	int found, by_spki = o->spki.len > 0;

	memset(&r, 0, sizeof(r));
	pthread_mutex_lock(&eng->archive_lock);
	found = by_spki
		    ? archive_find_spki(eng->arc, o->spki.data, o->spki.len, &seq, &e) == 0
		    : archive_find_device_key(eng->arc, op->dev->serial, o->key_id, &seq, &e) == 0;
	if (found && archive_get(eng->arc, seq, &canon, &sig, &e) < 0)
		found = 0;
	pthread_mutex_unlock(&eng->archive_lock);
	if (found && archive_record_parse(canon.data, canon.len, &r, &e) < 0)
		found = 0;
	smk_buf_free(&canon);
	smk_buf_free(&sig);
	if (found) {
		json_object_set_new(obj, "record_seq", json_integer((json_int_t)seq));
		json_object_set_new(obj, "record_kind", json_string(kind_wire(r.kind)));
		if (!by_spki)
			snprintf(
			    hint, sizeof(hint),
			    "CE|%02X holds no public key: matched to record %llu by device and "
			    "key id only",
			    o->key_id, (unsigned long long)seq);
		else if (strcmp(r.device_serial ? r.device_serial : "", op->dev->serial) != 0 ||
			 r.key_id != o->key_id)
			snprintf(hint, sizeof(hint),
				 "record %llu has this public key as key %u on %s",
				 (unsigned long long)seq, r.key_id,
				 r.device_serial ? r.device_serial : "?");
		else if (o->ce == SESSION_CE_X509 &&
			 (cert_seq = imported_as(eng, seq, &o->ce_bytes)))
			snprintf(hint, sizeof(hint), "certificate imported as record %llu",
				 (unsigned long long)cert_seq);
		else if (o->ce == SESSION_CE_X509)
			snprintf(hint, sizeof(hint),
				 "CE|%02X holds a certificate of this key that no import record "
				 "holds: written outside smkeyd",
				 o->key_id);
	} else if (o->ce == SESSION_CE_CVREQ && o->ce_attested) {
		snprintf(hint, sizeof(hint),
			 "not in the archive: adopt it while its CV request is still in CE|id: "
			 "smkey adopt --device %s --key-id %u",
			 op->dev->serial, o->key_id);
	} else if (o->ce == SESSION_CE_CVREQ) {
		snprintf(hint, sizeof(hint),
			 "not in the archive, and the CV request in CE|id does not verify against "
			 "this device: nothing proves the device holds it");
	} else {
		snprintf(hint, sizeof(hint),
			 "not in the archive and its CV request is gone: nothing proves the device "
			 "holds it");
	}
	json_object_set_new(obj, "archived", json_boolean(found));
	if (hint[0])
		json_object_set_new(obj, "hint", json_string(hint));
	archive_record_free(&r);
}

/* The list the key's FCP reports: names (or 0xNN), [] for "no list"; absent
 * when the card reports none. */
static void card_algorithms(const struct cardop_key_algs *ka, json_t *obj)
{
	json_t *list;
	char hex[8];

	if (ka->problem[0])
		json_object_set_new(obj, "card_algorithms_problem", json_string(ka->problem));
	if (!ka->reported)
		return;
	list = json_array();
	for (size_t i = 0; list && i < ka->n; i++) {
		const smk_alg *a = alg_by_id(ka->algs[i]);

		snprintf(hex, sizeof(hex), "0x%02X", ka->algs[i]);
		json_array_append_new(list, json_string(a ? a->name : hex));
	}
	if (list)
		json_object_set_new(obj, "card_algorithms", list);
}

static void objects_done(cardop *op)
{
	json_t *list, *obj;
	x509_info info;
	smk_err e;
	size_t i;

	if (op->rc < 0) {
		cardop_fail(op, SMK_VERR_DEVICE_UNAVAILABLE,
			    engine_param_str("device", op->dev->serial, "reason", op->err.msg),
			    "%s", op->err.msg);
		return;
	}
	list = json_array();
	for (i = 0; list && i < op->nobj; i++) {
		const session_object *o = &op->objs[i];

		obj = json_pack("{s:i, s:s}", "key_id", (int)o->key_id, "ce", ce_wire(o->ce));
		if (obj == NULL)
			continue;
		if (o->has_prkd && o->label[0])
			json_object_set_new(obj, "label", json_string(o->label));
		if (o->type_known)
			json_object_set_new(obj, "key_type", json_string(keytype_name(o->type)));
		if (o->bits)
			json_object_set_new(obj, "bits", json_integer(o->bits));
		if (o->curve[0])
			json_object_set_new(obj, "curve", json_string(o->curve));
		if (o->use_counter_known)
			json_object_set_new(obj, "use_counter", json_integer(o->use_counter));
		if (o->spki.len)
			json_object_set_new(obj, "fingerprint",
					    smk_json_sha256_hex(o->spki.data, o->spki.len));
		if (o->ce == SESSION_CE_X509 &&
		    x509_describe(o->ce_bytes.data, o->ce_bytes.len, &info, &e) == 0)
			json_object_set_new(obj, "certificate_subject", json_string(info.subject));
		/* what the CV request proves: held by this device, no more */
		if (o->ce == SESSION_CE_CVREQ && o->ce_attested) {
			json_object_set_new(obj, "held_by", json_string(op->dev->serial));
			json_object_set_new(obj, "may_have_been_imported",
					    json_boolean(cardop_may_import(op)));
		}
		card_algorithms(&op->key_algs[i], obj);
		mark(op, o, obj);
		json_array_append_new(list, obj);
	}
	cardop_reply(op, list ? json_pack("{s:o, s:o}", "objects", list, "key_domains",
					  cardop_domains_json(op))
			      : NULL);
}

static void adopt_deliver(cardop *op)
{
	if (op->kind == CARDOP_OBJECTS)
		objects_done(op);
	else
		adopt_done(op);
}

static const cardop_methods adopt_kind = {
    .base = {.name = "adoption call",
	     .run = cardop_run,
	     .deliver = cardop_deliver,
	     .free = cardop_free},
    .run = adopt_run,
    .deliver = adopt_deliver,
};
