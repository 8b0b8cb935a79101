/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sign and ListSigningKeys: signatures with archived keys, for whoever the
 * key's policy's sign: section names (docs/daemon.md "Sign"). The PIN is
 * smkeyd's alone, so this is the only way to sign with a key, and every
 * signature is decided here:
 *
 *   loop:            the key record (kind key; never the archive key, by
 *                    kind, policy or device and key id), the peer in the
 *                    policy's sign: rule (as loaded now; admins get no
 *                    implicit right), the algorithm in the key's archived
 *                    list (never the policy file's: an edit must not widen
 *                    an old key), the daily limit, then the intent
 *                    (archive_sig_intent) - all before the card
 *   key's device:    SIGN under SM, checked against the record's public key,
 *                    then the signature record (archive_commit_record: no
 *                    card command, so no trip to the archive device's
 *                    worker; a later checkpoint covers it,
 *                    commit_signature_record)
 *   loop:            reply
 *
 * The device queue is first come, first served (worker.c): a burst of Signs
 * queued before a Generate runs before it, and Signs that come after it
 * wait for it; Generate's commits go to the front, after the records
 * already queued.
 */
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/b64.h"
#include "../common/digest.h"
#include "../common/show.h"
#include "cardop.h"
#include "log.h"
#include "varlink_errors.h"

enum sign_step { SIGN_STEP_CARD };

typedef struct signop {
	operation base; /* first: the pipeline's part */
	enum sign_step step;
	engine_peer peer;
	device *dev;
	uint64_t key_seq;
	uint8_t key_id;
	char policy[128];
	smk_buf spki;
	const smk_alg *alg; /* what the card is asked for */
	bool host_hashed;   /* smkeyd hashed the message (SHA-256) */
	bool digest_given;
	bool log;
	smk_buf in;	  /* what the card gets */
	uint8_t hash[32]; /* SHA-256 of the message (not with digest_given) */
	char request_id[ARCHIVE_REQUEST_ID_LEN + 1];

	/* written by the worker, read by the loop after the completion */
	int rc;
	bool signed_ok; /* the card signed (rc < 0 after it: the record failed) */
	smk_err err;
	smk_buf sig;
	uint64_t seq;
} signop;

static const op_kind sign_kind;

/* ---- signatures per key per UTC day ---- */

struct sign_count {
	uint64_t key_seq;
	int64_t day; /* days since the epoch, UTC */
	uint64_t n;
};

struct sign_counts {
	struct sign_count *v;
	size_t n, cap;
	/* sign_archive_warning's last answer, for the archive size, policy
	 * set and archive device it was made for (a reference to the set is
	 * held, so a reloaded set is never mistaken for it) */
	bool warn_made;
	uint64_t warn_size;
	policy_set *warn_set;
	const device *warn_dev;
	char warning[600];
};

void sign_counts_free(struct sign_counts *c)
{
	if (c == NULL)
		return;
	policy_set_unref(c->warn_set);
	free(c->v);
	free(c);
}

static struct sign_counts *counts(engine *eng, smk_err *e)
{
	if (eng->sign_counts == NULL &&
	    (eng->sign_counts = calloc(1, sizeof(*eng->sign_counts))) == NULL)
		smk_fail(e, SMK_E_NOMEM, "out of memory");
	return eng->sign_counts;
}

/* The counter of key_seq for today, read from the archive's intents the
 * first time this day (so a restart does not reset it), or NULL. */
static struct sign_count *count_of(engine *eng, uint64_t key_seq, smk_err *e)
{
	struct sign_counts *c = counts(eng, e);
	int64_t day = (int64_t)time(NULL) / 86400;
	struct sign_count *sc = NULL;
	size_t i;
	int rc;

	if (c == NULL)
		return NULL;
	for (i = 0; i < c->n && sc == NULL; i++)
		if (c->v[i].key_seq == key_seq)
			sc = &c->v[i];
	if (sc == NULL) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 16;
			struct sign_count *v = realloc(c->v, cap * sizeof(*v));

			if (v == NULL) {
				smk_fail(e, SMK_E_NOMEM, "out of memory");
				return NULL;
			}
			c->v = v;
			c->cap = cap;
		}
		sc = &c->v[c->n++];
		sc->key_seq = key_seq;
		sc->day = -1;
	}
	if (sc->day != day) {
		pthread_mutex_lock(&eng->archive_lock);
		rc = archive_sig_count_since(eng->arc, key_seq, day * 86400, &sc->n, e);
		pthread_mutex_unlock(&eng->archive_lock);
		if (rc < 0)
			return NULL;
		sc->day = day;
	}
	return sc;
}

/* ---- refusals ---- */

static int denied(const engine_peer *peer, const char *pol, const char *reason, engine_error *err)
{
	log_msg(LOG_NOTICE, &(log_fields){.policy = pol, .outcome = "denied"}, "uid %u pid %d: %s",
		(unsigned)peer->uid, (int)peer->pid, reason);
	return engine_fail(err, SMK_VERR_POLICY_DENIED,
			   engine_param_str("policy", pol ? pol : "", "reason", reason), "%s",
			   reason);
}

static int invalid(engine_error *err, const char *parameter, const char *reason)
{
	return engine_fail(err, SMK_VERR_INVALID_PARAMETER,
			   engine_param_str("parameter", parameter, "reason", reason),
			   "parameter %s: %s", parameter, reason);
}

static int out_of_memory(engine_error *err)
{
	return engine_fail(err, SMK_VERR_ARCHIVE_ERROR,
			   engine_param_str("reason", "out of memory", NULL, NULL),
			   "out of memory");
}

/* Is record r (kind key) the archive key, by its policy or by where it is? */
static bool is_archive_key(engine *eng, const archive_record *r)
{
	device *ad = eng->archive_dev;

	if (strcmp(r->kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0 ||
	    (r->policy_name && strcmp(r->policy_name, ARCHIVE_KEY_POLICY_NAME) == 0))
		return true;
	return ad != NULL && r->key_id == eng->archive_key_id &&
	       (strcmp(r->device_serial, ad->serial) == 0 ||
		strcmp(r->devaut_chr, ad->devaut_chr) == 0);
}

/* May peer sign with the key of record r? The policy that decides is the one
 * loaded now (sign: is not in the archived document); 0 and *pol, or -1. */
static int may_sign(engine *eng, const engine_peer *peer, const archive_record *r,
		    const policy **pol, char *why, size_t n)
{
	policy_peer pp;
	smk_err e;

	*pol = NULL;
	if (is_archive_key(eng, r)) {
		snprintf(why, n,
			 "record %llu is the archive key (device %s, key %u): it signs records "
			 "and checkpoints, never anything else",
			 (unsigned long long)r->seq, r->device_serial, r->key_id);
		return -1;
	}
	if (strcmp(r->kind, ARCHIVE_KIND_ADOPTED) == 0) {
		snprintf(why, n,
			 "record %llu is an adopted key: it has no policy, so no sign: rule "
			 "names anyone who may sign with it",
			 (unsigned long long)r->seq);
		return -1;
	}
	*pol = policy_set_find(eng->policies, r->policy_name);
	if (*pol == NULL) {
		snprintf(why, n,
			 "the key's policy \"%s\" is not loaded any more; nobody may sign with "
			 "its keys",
			 r->policy_name);
		return -1;
	}
	memset(&pp, 0, sizeof(pp));
	pp.uid = peer->uid;
	pp.gid = peer->gid;
	pp.groups = peer->groups;
	pp.group_count = peer->ngroups;
	if (policy_authorize_sign(*pol, &pp, &e) < 0) {
		snprintf(why, n, "%s", e.msg);
		return -1;
	}
	return 0;
}

static bool alg_listed(const archive_record *r, uint8_t id)
{
	size_t i;

	for (i = 0; i < r->alg_count; i++)
		if (r->alg_list[i] == id)
			return true;
	return false;
}

/* Algorithms where the host hashes (or pads) and the card signs what it
 * gets: the caller gives a digest, or (ecdsa only) smkeyd hashes. */
static bool host_hash_alg(uint8_t id)
{
	return id == 0x20 || id == 0x30 || id == 0x40 || id == 0x70;
}

/* The one place that decides what the card is asked: the algorithm asked
 * for, or, for a message larger than the card takes in one command, SHA-256
 * by smkeyd and "ecdsa" (0x70) when the key's list holds it (the contract's
 * rule). op->in holds the message on entry and the card's input on return. */
static int sign_choose(signop *op, const archive_record *r, engine_error *err)
{
	const smk_alg *ecdsa = alg_by_name("ecdsa");
	/* what the card takes as SIGN input in one command under SM (ref
	 * §7.12): a larger message is hashed here when the key's list allows */
	size_t max = session_sign_max_input(NULL, op->alg->id);
	char why[400];

	if (op->digest_given || host_hash_alg(op->alg->id)) {
		if (!op->digest_given) {
			/* only ecdsa takes a bare hash smkeyd can make */
			if (op->alg->id != 0x70)
				return invalid(err, "data",
					       "this algorithm signs a digest or padded block the "
					       "caller makes: give digest");
			op->host_hashed = true;
		}
	} else if (op->in.len > max) {
		if (strcmp(op->alg->name, "ecdsa-sha256") != 0 || !alg_listed(r, ecdsa->id)) {
			snprintf(why, sizeof(why),
				 "a message of %zu bytes is more than the %zu bytes the card takes "
				 "in one SIGN under secure messaging (%s hashed on the card; a "
				 "%d-byte APDU at most), and %s",
				 op->in.len, max, op->alg->name, HSM_APDU_MAX,
				 strcmp(op->alg->name, "ecdsa-sha256") != 0
				     ? "only ecdsa-sha256 falls back to hashing by smkeyd"
				     : "the key's list does not hold ecdsa (0x70) for smkeyd to "
				       "hash it");
			return invalid(err, "data", why);
		}
		op->alg = ecdsa;
		op->host_hashed = true;
	}
	if (op->host_hashed) {
		smk_buf_reset(&op->in);
		if (smk_buf_add(&op->in, op->hash, 32) < 0)
			return out_of_memory(err);
	}
	return 0;
}

/* ---- on the loop: accepting a call ---- */

static signop *signop_new(engine *eng, const engine_peer *peer, engine_done_fn done, void *ctx)
{
	signop *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op_init(&op->base, eng, &sign_kind, done, ctx);
	op->peer = *peer;
	smk_buf_init(&op->spki);
	smk_buf_init(&op->in);
	smk_buf_init(&op->sig);
	return op;
}

static void signop_free(operation *o)
{
	signop *op = (signop *)o;

	if (op == NULL)
		return;
	smk_buf_free(&op->spki);
	/* the message may be confidential: not left in freed memory */
	if (op->in.data)
		OPENSSL_cleanse(op->in.data, op->in.len);
	smk_buf_free(&op->in);
	smk_buf_free(&op->sig);
	free(op);
}

/* The key record by seq or label (exactly one), loaded. */
static int find_key(engine *eng, json_t *params, archive_record *r, engine_error *err)
{
	json_t *js = json_object_get(params, "seq"), *jl = json_object_get(params, "label");
	const char *label = json_string_value(jl);
	smk_buf canon = SMK_BUF_INIT;
	char id[80];
	uint64_t seq;
	smk_err e;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((js != NULL) == (jl != NULL))
		return invalid(err, "seq", "give either seq or label");
	if (js)
		snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(js));
	else
		snprintf(id, sizeof(id), "%s", label);
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_find(eng->arc, id, &seq, &e);
	if (rc == 0)
		rc = archive_get(eng->arc, seq, &canon, NULL, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc == 0)
		rc = archive_record_parse(canon.data, canon.len, r, &e);
	smk_buf_free(&canon);
	if (rc < 0)
		return engine_fail(err, SMK_VERR_RECORD_NOT_FOUND, NULL, "no key record %s: %s",
				   js ? id : smk_show(id), e.msg);
	/* a label names the key record that carries it, nothing else */
	if (label && strcmp(r->label, label) != 0) {
		archive_record_free(r);
		return engine_fail(err, SMK_VERR_RECORD_NOT_FOUND, NULL,
				   "no key record with label %s", smk_show(label));
	}
	if (!archive_kind_has_key(r->kind)) {
		char why[160];

		snprintf(why, sizeof(why), "record %llu is a %s record, not a key record",
			 (unsigned long long)r->seq, r->kind);
		archive_record_free(r);
		return invalid(err, js ? "seq" : "label", why);
	}
	return 0;
}

/* data or digest (exactly one), decoded into op->in; the message's SHA-256. */
static int take_input(signop *op, json_t *params, engine_error *err)
{
	json_t *jd = json_object_get(params, "data"), *jg = json_object_get(params, "digest");
	const char *name = jd ? "data" : "digest";
	json_t *j = jd ? jd : jg;
	smk_err e;

	if ((jd != NULL) == (jg != NULL))
		return invalid(err, "data", "give either data (the message) or digest");
	if (smk_b64_decode(json_string_value(j), json_string_length(j), &op->in, name, &e) < 0)
		return invalid(err, name, e.msg);
	if (op->in.len == 0)
		return invalid(err, name, "is empty");
	op->digest_given = jg != NULL;
	if (op->digest_given && op->in.len > ARCHIVE_SIG_DIGEST_MAX)
		return invalid(err, "digest", "is longer than 512 bytes");
	if (!op->digest_given && smk_sha256(op->in.data, op->in.len, op->hash, &e) < 0)
		return out_of_memory(err);
	return 0;
}

static int take_algorithm(signop *op, const archive_record *r, const char *name, engine_error *err)
{
	char why[200];

	op->alg = alg_by_name(name);
	if (op->alg == NULL || !alg_is_signature(op->alg->id)) {
		snprintf(why, sizeof(why), "%s is not a signature algorithm (docs/policy.md)",
			 smk_show(name));
		return invalid(err, "algorithm", why);
	}
	if (!alg_listed(r, op->alg->id)) {
		snprintf(why, sizeof(why),
			 "%s (0x%02X) is not in the algorithm list of record %llu", op->alg->name,
			 op->alg->id, (unsigned long long)r->seq);
		return invalid(err, "algorithm", why);
	}
	if (op->digest_given && !host_hash_alg(op->alg->id)) {
		snprintf(why, sizeof(why), "with %s the card hashes: give data, not digest",
			 op->alg->name);
		return invalid(err, "digest", why);
	}
	return 0;
}

/* The daily limit of pol for the key; counts this signature when allowed. */
static int take_quota(signop *op, const policy *pol, engine_error *err)
{
	engine *eng = op->base.eng;
	struct sign_count *sc;
	char why[300];
	smk_err e;

	if (pol->sign_max_per_day == 0)
		return 0;
	sc = count_of(eng, op->key_seq, &e);
	if (sc == NULL)
		return engine_fail_archive(err, &e);
	if (sc->n >= pol->sign_max_per_day) {
		snprintf(why, sizeof(why),
			 "the daily limit of policy %s is reached: %llu signatures with record "
			 "%llu today (UTC), max-per-day %u",
			 pol->name, (unsigned long long)sc->n, (unsigned long long)op->key_seq,
			 pol->sign_max_per_day);
		return denied(&op->peer, pol->name, why, err);
	}
	sc->n++;
	return 0;
}

/* The intent, stored before the card is asked. It is not synced to disk on
 * its own: the record's commit after the card syncs it with the record,
 * and the signature is handed out only after that; a power loss before
 * then loses the intent and a signature nobody received (a process crash
 * keeps it, and the next start ends it). */
static int store_intent(signop *op, engine_error *err)
{
	engine *eng = op->base.eng;
	archive_intent_info info;
	archive_sig_req req;
	smk_err e;
	int rc;

	memset(&req, 0, sizeof(req));
	req.peer = engine_archive_peer(&op->peer);
	req.key_seq = op->key_seq;
	req.algorithm = op->alg->name;
	req.host_hashed = op->host_hashed;
	req.digest_given = op->digest_given;
	req.input = op->digest_given ? op->in.data : op->hash;
	req.input_len = op->digest_given ? op->in.len : 32;
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_sig_intent(eng->arc, &req, &info, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0)
		return engine_fail(err, SMK_VERR_ARCHIVE_ERROR,
				   engine_param_str("reason", e.msg, NULL, NULL), "intent: %s",
				   e.msg);
	memcpy(op->request_id, info.request_id, sizeof(op->request_id));
	return 0;
}

static void fail_intent(signop *op, const char *reason)
{
	engine *eng = op->base.eng;
	smk_err e;
	int rc;

	if (!op->request_id[0])
		return;
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_fail(eng->arc, op->request_id, reason, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0)
		log_msg(LOG_ERR, &(log_fields){.request_id = op->request_id},
			"cannot record the failure: %s", e.msg);
}

static int accept_key(signop *op, json_t *params, engine_error *err)
{
	engine *eng = op->base.eng;
	const char *alg = json_string_value(json_object_get(params, "algorithm"));
	const policy *pol;
	archive_record r;
	char why[700];
	int rc = -1;

	if (find_key(eng, params, &r, err) < 0)
		return -1;
	if (may_sign(eng, &op->peer, &r, &pol, why, sizeof(why)) < 0) {
		denied(&op->peer, r.policy_name, why, err);
		goto out;
	}
	op->key_seq = r.seq;
	op->key_id = (uint8_t)r.key_id;
	op->log = pol->sign_log;
	snprintf(op->policy, sizeof(op->policy), "%s", pol->name);
	if (smk_buf_add(&op->spki, r.spki.data, r.spki.len) < 0) {
		out_of_memory(err);
		goto out;
	}
	if (take_input(op, params, err) < 0 || take_algorithm(op, &r, alg, err) < 0 ||
	    sign_choose(op, &r, err) < 0 || take_quota(op, pol, err) < 0)
		goto out;
	op->dev = cardop_device(eng, r.device_serial);
	if (op->dev == NULL) {
		engine_fail(err, SMK_VERR_DEVICE_UNAVAILABLE,
			    engine_param_str("device", r.device_serial, "reason",
					     "the key's device is not up"),
			    "record %llu: device %s is not up", (unsigned long long)r.seq,
			    r.device_serial);
		goto out;
	}
	rc = 0;
out:
	archive_record_free(&r);
	return rc;
}

int sign_data(engine *eng, const engine_peer *peer, json_t *params, engine_done_fn done, void *ctx,
	      engine_error *err)
{
	signop *op;

	memset(err, 0, sizeof(*err));
	if (eng->shutting_down)
		return engine_fail_stopping(err);
	op = signop_new(eng, peer, done, ctx);
	if (op == NULL)
		return out_of_memory(err);
	if (accept_key(op, params, err) < 0)
		goto refused;
	if (op->log) {
		if (eng->archive_dev == NULL) {
			engine_fail_no_archive_key(eng, err);
			goto refused;
		}
		if (store_intent(op, err) < 0)
			goto refused;
	}
	op->step = SIGN_STEP_CARD;
	if (op_queue(&op->base, op->dev, SIGN_STEP_CARD, 0) < 0) {
		fail_intent(op, "out of memory");
		out_of_memory(err);
		goto refused;
	}
	log_msg(LOG_INFO,
		&(log_fields){op->request_id[0] ? op->request_id : NULL, op->policy,
			      op->dev->serial, "accepted"},
		"uid %u pid %d: signature with record %llu (key %u, %s%s) queued",
		(unsigned)peer->uid, (int)peer->pid, (unsigned long long)op->key_seq, op->key_id,
		op->alg->name, op->host_hashed ? ", hashed by smkeyd" : "");
	return 0;
refused:
	signop_free(&op->base);
	return -1;
}

/* ---- on the workers ---- */

/* The signature record, on the key's worker right after the card: in
 * record format 3 it takes no card command, only the archive's lock and
 * one synchronous commit. The checkpoint that covers it is the archive
 * device's (commit_signature_record). */
static void run_commit(signop *op)
{
	engine *eng = op->base.eng;
	device *arc = eng->archive_dev; /* set before any Sign with log: true */
	archive_commit_req cr;
	archive_signer s;

	commit_record_signer(eng, &s);
	memset(&cr, 0, sizeof(cr));
	cr.request_id = op->request_id;
	cr.signature = op->sig.data;
	cr.signature_len = op->sig.len;
	pthread_mutex_lock(&eng->archive_lock);
	op->rc = archive_commit_record(eng->arc, &s, &cr, &op->seq, &op->err);
	pthread_mutex_unlock(&eng->archive_lock);
	if (op->rc == 0)
		commit_signature_record(arc);
}

static void run_card(device *d, signop *op)
{
	char why[256];
	int ok;

	op->rc = -1;
	if (session_open(d->session, &op->err) < 0 ||
	    session_sign(d->session, op->key_id, op->alg->id, op->in.data, op->in.len, &op->sig,
			 &op->err) < 0)
		return;
	/* the signature must verify with the archived key: otherwise the key
	 * id holds another key now */
	ok = archive_sig_value_check(op->spki.data, op->spki.len, op->alg->name, op->digest_given,
				     op->digest_given ? op->in.data : op->hash,
				     op->digest_given ? op->in.len : 32, op->sig.data, op->sig.len,
				     why, sizeof(why), &op->err);
	if (ok < 0) {
		smk_context(&op->err, "key %u on %s (record %llu)", op->key_id, d->serial,
			    (unsigned long long)op->key_seq);
		return;
	}
	op->signed_ok = true;
	op->rc = 0;
	if (op->log)
		run_commit(op);
}

static void sign_run(device *d, operation *o, int step)
{
	signop *op = (signop *)o;

	smk_err_clear(&op->err);
	run_card(d, op);
	op_post(o, step, ENGINE_QUEUED);
}

/* ---- back on the loop ---- */

static void sign_answer(signop *op, json_t *reply, const char *name, json_t *params,
			const char *msg)
{
	engine_error err;

	if (reply) {
		op_answer(&op->base, reply, NULL);
	} else {
		memset(&err, 0, sizeof(err));
		err.name = name;
		err.params = params ? params : json_object();
		snprintf(err.msg, sizeof(err.msg), "%.*s", (int)sizeof(err.msg) - 1, msg);
		op_answer(&op->base, NULL, &err);
		engine_error_clear(&err);
	}
	op_release(&op->base);
}

static void signed_reply(signop *op)
{
	char *sig = smk_b64(op->sig.data, op->sig.len);
	json_t *reply = NULL;

	if (sig)
		reply = json_pack("{s:s, s:s}", "signature", sig, "algorithm", op->alg->name);
	free(sig);
	if (reply && op->log)
		json_object_set_new(reply, "record_seq", json_integer((json_int_t)op->seq));
	if (reply == NULL) {
		sign_answer(op, NULL, SMK_VERR_ARCHIVE_ERROR,
			    engine_param_str("reason", "out of memory", NULL, NULL),
			    "out of memory");
		return;
	}
	sign_answer(op, reply, NULL, NULL, NULL);
}

static void commit_done(signop *op)
{
	log_fields f = {op->request_id, op->policy, op->dev->serial, "committed"};

	if (op->rc < 0) {
		char why[600];

		snprintf(why, sizeof(why), "the signature was not archived: %s", op->err.msg);
		fail_intent(op, why);
		f.outcome = "failed";
		log_msg(LOG_ERR, &f, "%s", why);
		sign_answer(op, NULL, SMK_VERR_ARCHIVE_ERROR,
			    engine_param_str("reason", why, NULL, NULL), why);
		return;
	}
	log_msg(LOG_INFO, &f, "signature with record %llu (%s) archived as record %llu",
		(unsigned long long)op->key_seq, op->alg->name, (unsigned long long)op->seq);
	signed_reply(op);
}

static void card_done(signop *op)
{
	log_fields f = {op->request_id[0] ? op->request_id : NULL, op->policy, op->dev->serial,
			"failed"};

	if (!op->signed_ok) {
		fail_intent(op, op->err.msg);
		log_msg(LOG_WARNING, &f, "signature with record %llu: %s",
			(unsigned long long)op->key_seq, op->err.msg);
		sign_answer(op, NULL, SMK_VERR_DEVICE_UNAVAILABLE,
			    engine_param_str("device", op->dev->serial, "reason", op->err.msg),
			    op->err.msg);
		return;
	}
	if (op->log) {
		/* the signature is not handed out before its record is durable */
		commit_done(op);
		return;
	}
	f.outcome = "signed";
	log_msg(LOG_INFO, &f, "signature with record %llu (%s), not archived (log: false)",
		(unsigned long long)op->key_seq, op->alg->name);
	signed_reply(op);
}

static void sign_deliver(operation *o, int what, enum engine_stage stage)
{
	signop *op = (signop *)o;

	(void)what;
	(void)stage;
	card_done(op);
}

static const op_kind sign_kind = {
    .name = "signature",
    .run = sign_run,
    .deliver = sign_deliver,
    .free = signop_free,
};

/* ---- ListSigningKeys ---- */

static json_t *b64_json(const uint8_t *p, size_t n)
{
	char *s = smk_b64(p, n);
	json_t *j = s ? json_string(s) : NULL;

	free(s);
	return j;
}

/* The latest certificate imported for key record seq, or NULL. */
static json_t *latest_cert(engine *eng, uint64_t seq)
{
	smk_buf canon = SMK_BUF_INIT;
	archive_record c;
	uint64_t cseq;
	json_t *j = NULL;
	smk_err e;
	int rc;

	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_find_cert(eng->arc, seq, &cseq, &e);
	if (rc == 0)
		rc = archive_get(eng->arc, cseq, &canon, NULL, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc == 0 && archive_record_parse(canon.data, canon.len, &c, &e) == 0) {
		j = b64_json(c.cert.data, c.cert.len);
		archive_record_free(&c);
	}
	smk_buf_free(&canon);
	return j;
}

static json_t *key_json(engine *eng, const archive_record *r)
{
	const unsigned char *p = r->spki.data;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)r->spki.len);
	archive_policy_key pk;
	json_t *algs = json_array(), *o = NULL;
	smk_err e;
	size_t i;

	if (pub == NULL || algs == NULL ||
	    archive_policy_key_of(r->policy_doc.data, r->policy_doc.len, &pk, &e) < 0) {
		EVP_PKEY_free(pub);
		json_decref(algs);
		return NULL;
	}
	for (i = 0; i < r->alg_count; i++) {
		const smk_alg *a = alg_by_id(r->alg_list[i]);

		if (a && alg_is_signature(a->id))
			json_array_append_new(algs, json_string(a->name));
	}
	o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:s, s:I, s:o, s:o}", "seq",
		      (json_int_t)r->seq, "request_id", r->request_id, "label", r->label, "policy",
		      r->policy_name, "device", r->device_serial, "key_id", (int)r->key_id,
		      "key_type", pk.rsa ? "rsa" : "ec", "bits", (json_int_t)EVP_PKEY_get_bits(pub),
		      "algorithms", algs, "public_key", b64_json(r->spki.data, r->spki.len));
	if (o && !pk.rsa)
		json_object_set_new(o, "curve", json_string(pk.curve));
	if (o)
		json_object_set_new(o, "certificate", latest_cert(eng, r->seq));
	EVP_PKEY_free(pub);
	return o;
}

static int cmp_seq(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The key records of every policy with a sign: section, in log order:
 * read through the archive's index on the policy, not record by record
 * (the archive may hold a million). The caller frees *seqs. */
static int sign_key_seqs(engine *eng, uint64_t **seqs, size_t *n, smk_err *e)
{
	const policy *pol;
	uint64_t *all = NULL, *one, *grown;
	size_t i, k, total = 0;
	int rc = 0;

	for (i = 0; i < policy_set_count(eng->policies) && rc == 0; i++) {
		pol = policy_set_at(eng->policies, i);
		if (!pol->has_sign)
			continue;
		pthread_mutex_lock(&eng->archive_lock);
		rc = archive_policy_key_seqs(eng->arc, pol->name, &one, &k, e);
		pthread_mutex_unlock(&eng->archive_lock);
		if (rc < 0 || k == 0)
			continue;
		grown = realloc(all, (total + k) * sizeof(*all));
		if (grown == NULL) {
			free(one);
			rc = smk_fail(e, SMK_E_NOMEM, "out of memory");
			break;
		}
		all = grown;
		memcpy(all + total, one, k * sizeof(*all));
		total += k;
		free(one);
	}
	if (rc < 0) {
		free(all);
		return -1;
	}
	if (total > 1)
		qsort(all, total, sizeof(*all), cmp_seq);
	*seqs = all;
	*n = total;
	return 0;
}

int sign_list_keys(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
		   engine_error *err)
{
	smk_buf canon = SMK_BUF_INIT;
	const policy *pol;
	archive_record r;
	uint64_t size, seq, *seqs = NULL;
	size_t i, nseqs = 0;
	json_t *list;
	char why[700];
	smk_err e;
	int rc;

	(void)params;
	memset(err, 0, sizeof(*err));
	if (engine_archive_size(eng, &size, &e) < 0)
		return engine_fail_archive(err, &e);
	list = json_array();
	if (list == NULL)
		return out_of_memory(err);
	if (sign_key_seqs(eng, &seqs, &nseqs, &e) < 0) {
		json_decref(list);
		return engine_fail_archive(err, &e);
	}
	for (i = 0; i < nseqs; i++) {
		seq = seqs[i];
		if (seq == 0 || seq >= size)
			continue;
		smk_buf_reset(&canon);
		pthread_mutex_lock(&eng->archive_lock);
		rc = archive_get(eng->arc, seq, &canon, NULL, &e);
		pthread_mutex_unlock(&eng->archive_lock);
		if (rc < 0 || archive_record_parse(canon.data, canon.len, &r, &e) < 0)
			continue;
		if (strcmp(r.kind, ARCHIVE_KIND_KEY) == 0 &&
		    may_sign(eng, peer, &r, &pol, why, sizeof(why)) == 0)
			json_array_append_new(list, key_json(eng, &r));
		archive_record_free(&r);
	}
	free(seqs);
	smk_buf_free(&canon);
	*reply = json_pack("{s:o}", "keys", list);
	return *reply ? 0 : out_of_memory(err);
}

/* ---- the archive key's device shared with signing keys ---- */

/* The first key record from seq from on the archive key's device whose
 * policy has a sign: section, as a warning in out ("" when there is none). */
static void find_shared(engine *eng, const device *ad, uint64_t from, char *out, size_t n)
{
	smk_buf canon = SMK_BUF_INIT;
	const policy *pol;
	archive_record r;
	uint64_t *seqs = NULL;
	size_t i, nseqs = 0;
	smk_err e;
	int rc;

	out[0] = '\0';
	if (sign_key_seqs(eng, &seqs, &nseqs, &e) < 0)
		return;
	for (i = 0; i < nseqs && !out[0]; i++) {
		if (seqs[i] < from)
			continue;
		smk_buf_reset(&canon);
		pthread_mutex_lock(&eng->archive_lock);
		rc = archive_get(eng->arc, seqs[i], &canon, NULL, &e);
		pthread_mutex_unlock(&eng->archive_lock);
		if (rc < 0 || archive_record_parse(canon.data, canon.len, &r, &e) < 0)
			continue;
		pol = strcmp(r.kind, ARCHIVE_KIND_KEY) == 0 &&
			      strcmp(r.device_serial, ad->serial) == 0
			  ? policy_set_find(eng->policies, r.policy_name)
			  : NULL;
		if (pol && pol->has_sign)
			snprintf(out, n,
				 "device %s holds the archive key and keys of policy %s, whose "
				 "sign: section lets users sign with them (record %llu): whoever "
				 "holds this device's PIN can sign with the archive key; give the "
				 "archive key a device of its own (docs/daemon.md)",
				 ad->serial, pol->name, (unsigned long long)r.seq);
		archive_record_free(&r);
	}
	free(seqs);
	smk_buf_free(&canon);
}

const char *sign_archive_warning(engine *eng)
{
	device *ad = eng->archive_dev;
	struct sign_counts *c;
	uint64_t size = 0;
	smk_err e;

	if (ad == NULL || (c = counts(eng, &e)) == NULL)
		return NULL;
	if (engine_archive_size(eng, &size, &e) < 0)
		return NULL;
	if (!c->warn_made || c->warn_set != eng->policies || c->warn_dev != ad) {
		/* another policy set or archive device: every key record */
		char was[sizeof(c->warning)];

		snprintf(was, sizeof(was), "%s", c->warning);
		find_shared(eng, ad, 0, c->warning, sizeof(c->warning));
		if (c->warning[0] && strcmp(was, c->warning) != 0)
			log_warn("%s", c->warning);
	} else if (c->warn_size != size && !c->warning[0]) {
		/* records are only appended: a warning found stays true, and
		 * none found so far can only come from the records added since */
		find_shared(eng, ad, c->warn_size, c->warning, sizeof(c->warning));
		if (c->warning[0])
			log_warn("%s", c->warning);
	}
	c->warn_made = true;
	c->warn_size = size;
	if (c->warn_set != eng->policies) {
		policy_set_unref(c->warn_set);
		c->warn_set = policy_set_ref(eng->policies);
	}
	c->warn_dev = ad;
	return c->warning[0] ? c->warning : NULL;
}
