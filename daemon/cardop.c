/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the certificate and adoption calls share (cardop.h): the operation's
 * life, its trips between the loop and the workers, who may do what, and
 * the key record a call names.
 */
#include "cardop.h"

#include <errno.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/json.h"
#include "log.h"
#include "varlink_errors.h"

/* ---- who may ---- */

bool cardop_is_admin(const engine *eng, const engine_peer *peer)
{
	const config *cfg = eng->cfg;
	size_t i, k;

	if (peer->uid == 0)
		return true;
	for (i = 0; i < cfg->admin_group_count; i++) {
		if (peer->gid == (gid_t)cfg->admin_gids[i])
			return true;
		for (k = 0; k < peer->ngroups; k++)
			if (peer->groups[k] == (gid_t)cfg->admin_gids[i])
				return true;
	}
	return false;
}

/* ---- life of an operation ---- */

cardop *cardop_new(engine *eng, const op_kind *ok, enum cardop_kind kind, const engine_peer *peer,
		   engine_done_fn done, void *ctx, engine_error *err)
{
	cardop *op;

	if (eng->shutting_down) {
		engine_fail_stopping(err);
		return NULL;
	}
	op = calloc(1, sizeof(*op));
	if (op == NULL) {
		engine_fail(err, SMK_VERR_ARCHIVE_ERROR,
			    engine_param_str("reason", "out of memory", NULL, NULL),
			    "out of memory");
		return NULL;
	}
	op_init(&op->base, eng, ok, done, ctx);
	op->kind = kind;
	op->peer = *peer;
	smk_buf_init(&op->spki);
	smk_buf_init(&op->cert);
	smk_buf_init(&op->out);
	smk_buf_init(&op->cvreq);
	smk_buf_init(&op->chain);
	return op;
}

void cardop_discard(cardop *op)
{
	if (op == NULL)
		return;
	EVP_PKEY_free(op->pub);
	smk_buf_free(&op->spki);
	smk_buf_free(&op->cert);
	smk_buf_free(&op->out);
	smk_buf_free(&op->cvreq);
	smk_buf_free(&op->chain);
	chain_attested_free(&op->att);
	session_objects_free(op->objs, op->nobj);
	free(op->key_algs);
	free(op);
}

void cardop_free(operation *o)
{
	cardop_discard((cardop *)o);
}

void cardop_run(device *d, operation *o, int step)
{
	cardop *op = (cardop *)o;

	(void)step; /* op->step */
	smk_err_clear(&op->err);
	((const cardop_methods *)o->kind)->run(d, op);
	op_post(o, 0, ENGINE_QUEUED);
}

void cardop_deliver(operation *o, int what, enum engine_stage stage)
{
	(void)what;
	(void)stage;
	((const cardop_methods *)o->kind)->deliver((cardop *)o);
}

json_t *cardop_domains_json(const cardop *op)
{
	const hsm_domain_state *st = &op->domains;
	json_t *o, *list = json_array();
	char sw[8];

	if (!op->domains_read)
		o = json_pack("{s:s, s:s, s:o, s:b}", "state", "unreadable", "reason",
			      op->domains_error, "domains", list, "may_import", 1);
	else {
		snprintf(sw, sizeof(sw), "%04X", st->sw0);
		o = json_pack("{s:s, s:s, s:o, s:b}", "state",
			      st->reported ? "reported" : "not_reported", "status", sw, "domains",
			      list, "may_import", hsm_domain_may_import(st));
	}
	for (size_t i = 0; o && list && op->domains_read && i < st->count; i++) {
		const hsm_key_domain *d = &st->d[i];
		json_t *dj = json_pack("{s:i, s:s}", "index", (int)d->index, "kind",
				       hsm_domain_kind_name(d->kind));

		if (dj == NULL)
			continue;
		if (d->kind == HSM_DOMAIN_DKEK) {
			json_object_set_new(dj, "shares_total", json_integer(d->shares_total));
			json_object_set_new(dj, "shares_outstanding",
					    json_integer(d->shares_outstanding));
		}
		if (d->has_kcv)
			json_object_set_new(dj, "kcv", smk_json_hex(d->kcv, 8, SMK_HEX_UPPER));
		json_array_append_new(list, dj);
	}
	return o;
}

bool cardop_may_import(const cardop *op)
{
	return !op->domains_read || hsm_domain_may_import(&op->domains);
}

int cardop_queue(cardop *op, device *d, engine_error *err)
{
	/* a commit holds the answer of card work already done, as for Generate */
	if (op_queue(&op->base, d, op->step, op->step == CARDOP_STEP_COMMIT ? OP_TASK_FRONT : 0) <
	    0)
		return engine_fail(err, SMK_VERR_ARCHIVE_ERROR,
				   engine_param_str("reason", "out of memory", NULL, NULL),
				   "out of memory");
	return 0;
}

void cardop_reply(cardop *op, json_t *reply)
{
	if (reply == NULL) {
		cardop_fail(op, SMK_VERR_ARCHIVE_ERROR,
			    engine_param_str("reason", "out of memory", NULL, NULL),
			    "out of memory");
		return;
	}
	op_answer(&op->base, reply, NULL);
	op_release(&op->base);
}

void cardop_fail(cardop *op, const char *name, json_t *params, const char *fmt, ...)
{
	engine_error err;
	va_list ap;

	memset(&err, 0, sizeof(err));
	err.name = name;
	err.params = params ? params : json_object();
	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	op_answer(&op->base, NULL, &err);
	engine_error_clear(&err);
	op_release(&op->base);
}

/* ---- finding things ---- */

device *cardop_device(engine *eng, const char *serial)
{
	device *found = NULL;
	size_t i;

	pthread_mutex_lock(&eng->lock);
	for (i = 0; i < eng->device_count && found == NULL; i++) {
		device *d = eng->devices[i];

		if (d->state != DEVICE_DOWN && d->serial[0] &&
		    (strcmp(d->serial, serial) == 0 || strcmp(d->devaut_chr, serial) == 0))
			found = d;
	}
	pthread_mutex_unlock(&eng->lock);
	return found;
}

bool cardop_is_request_id(const char *s)
{
	return s != NULL && strspn(s, "0123456789abcdef") == ARCHIVE_REQUEST_ID_LEN &&
	       s[ARCHIVE_REQUEST_ID_LEN] == '\0';
}

int cardop_fail_request_id(engine_error *err)
{
	return engine_fail(err, SMK_VERR_INVALID_PARAMETER,
			   engine_param_str("parameter", "request_id", "reason",
					    "must be 32 lower-case hex digits"),
			   "request_id is not a request id");
}

int cardop_fail_no_record_key(engine_error *err)
{
	return engine_fail(err, SMK_VERR_INVALID_PARAMETER,
			   engine_param_str("parameter", "seq", "reason", "give seq or request_id"),
			   "give seq or request_id");
}

int cardop_find_record(engine *eng, json_t *params, archive_record *r, engine_error *err)
{
	json_t *js = json_object_get(params, "seq"), *jr = json_object_get(params, "request_id");
	smk_buf canon = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	char id[ARCHIVE_REQUEST_ID_LEN + 1];
	uint64_t seq;
	smk_err e;
	int rc;

	memset(r, 0, sizeof(*r));
	if (json_is_integer(js) && json_integer_value(js) >= 0)
		snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(js));
	else if (jr == NULL)
		return cardop_fail_no_record_key(err);
	else if (cardop_is_request_id(json_string_value(jr)))
		snprintf(id, sizeof(id), "%s", json_string_value(jr));
	else
		return cardop_fail_request_id(err);
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_find(eng->arc, id, &seq, &e);
	if (rc == 0)
		rc = archive_get(eng->arc, seq, &canon, &sig, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0) {
		smk_buf_free(&canon);
		smk_buf_free(&sig);
		return engine_fail(err, SMK_VERR_RECORD_NOT_FOUND, NULL,
				   "no committed record %s: %s", id, e.msg);
	}
	rc = archive_record_parse(canon.data, canon.len, r, &e);
	smk_buf_free(&canon);
	smk_buf_free(&sig);
	if (rc < 0)
		return engine_fail(err, SMK_VERR_ARCHIVE_ERROR,
				   engine_param_str("reason", e.msg, NULL, NULL), "record %s: %s",
				   id, e.msg);
	return 0;
}

static int denied(cardop *op, const char *pol_name, const char *reason, engine_error *err)
{
	log_msg(LOG_NOTICE, &(log_fields){.policy = pol_name, .outcome = "denied"},
		"uid %u pid %d: %s", (unsigned)op->peer.uid, (int)op->peer.pid, reason);
	return engine_fail(err, SMK_VERR_POLICY_DENIED,
			   engine_param_str("policy", pol_name ? pol_name : "", "reason", reason),
			   "%s", reason);
}

int cardop_take_key(cardop *op, const archive_record *r, engine_error *err)
{
	engine *eng = op->base.eng;
	const unsigned char *p;
	const policy *pol;
	policy_peer pp;
	char why[600];
	smk_err e;
	bool adopted = strcmp(r->kind, ARCHIVE_KIND_ADOPTED) == 0;

	if (!adopted && strcmp(r->kind, ARCHIVE_KIND_KEY) != 0) {
		/* the archive key signs the archive and nothing else; a certificate
		 * record names its key record, which is the one to use */
		snprintf(why, sizeof(why),
			 "record %llu is %s record, not a key record (kind key or adopted)",
			 (unsigned long long)r->seq,
			 strcmp(r->kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0 ? "the archive key's"
									: "a certificate");
		return engine_fail(err, SMK_VERR_INVALID_PARAMETER,
				   engine_param_str("parameter", "seq", "reason", why), "%s", why);
	}
	if (adopted) {
		/* no policy says who may use an adopted key: admins only */
		if (!cardop_is_admin(eng, &op->peer)) {
			snprintf(why, sizeof(why),
				 "record %llu is an adopted key: only root and the config's "
				 "admin-groups may use it; uid %u is neither",
				 (unsigned long long)r->seq, (unsigned)op->peer.uid);
			return denied(op, NULL, why, err);
		}
	} else if (!cardop_is_admin(eng, &op->peer)) {
		/* the policy as loaded now, not as it was at generation: who may
		 * use a key is decided today */
		pol = policy_set_find(eng->policies, r->policy_name);
		if (pol == NULL) {
			snprintf(why, sizeof(why),
				 "the key's policy \"%s\" is not loaded any more; only root and "
				 "the config's admin-groups may use the key",
				 r->policy_name);
			return denied(op, r->policy_name, why, err);
		}
		memset(&pp, 0, sizeof(pp));
		pp.uid = op->peer.uid;
		pp.gid = op->peer.gid;
		pp.groups = op->peer.groups;
		pp.group_count = op->peer.ngroups;
		if (policy_authorize(pol, &pp, &e) < 0)
			return denied(op, r->policy_name, e.msg, err);
	}
	op->key_seq = r->seq;
	op->key_id = (uint8_t)r->key_id;
	snprintf(op->policy, sizeof(op->policy), "%s", r->policy_name ? r->policy_name : "");
	memcpy(op->algs, r->alg_list, r->alg_count);
	op->alg_count = r->alg_count;
	smk_buf_reset(&op->spki);
	p = r->spki.data;
	if (smk_buf_add(&op->spki, r->spki.data, r->spki.len) < 0 ||
	    (op->pub = d2i_PUBKEY(NULL, &p, (long)r->spki.len)) == NULL)
		return engine_fail(
		    err, SMK_VERR_ARCHIVE_ERROR,
		    engine_param_str("reason", "the record's public key does not parse", NULL,
				     NULL),
		    "record %llu: public key does not parse", (unsigned long long)r->seq);
	op->dev = cardop_device(eng, r->device_serial);
	if (op->dev == NULL)
		return engine_fail(err, SMK_VERR_DEVICE_UNAVAILABLE,
				   engine_param_str("device", r->device_serial, "reason",
						    "the key's device is not up"),
				   "record %llu: device %s is not up", (unsigned long long)r->seq,
				   r->device_serial);
	return 0;
}

json_t *cardop_bundle(engine *eng, uint64_t seq, smk_err *e)
{
	smk_buf b = SMK_BUF_INIT;
	json_t *s = NULL;
	int rc;

	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_export_bundle(eng->arc, seq, &b, e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc == 0 && (s = json_stringn((const char *)b.data, b.len)) == NULL)
		smk_fail(e, SMK_E_NOMEM, "out of memory");
	smk_buf_free(&b);
	return s;
}
