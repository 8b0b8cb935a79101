/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A Generate request on the event loop (docs/design.md "A Generate request, end
 * to end"): authorize, choose the device and key id, write the intent
 * before any card sees anything, hand the job to the device's worker, then
 * have the archive key's worker commit the record, and only then answer.
 * A client that went away is forgotten, not its key: the record is
 * committed all the same and can be fetched by request id.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "daemon.h"
#include "log.h"
#include "varlink_errors.h"

static const op_kind generate_kind;

static double elapsed_s(const job *j)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - j->started.tv_sec) +
	       (double)(now.tv_nsec - j->started.tv_nsec) / 1e9;
}

static log_fields job_fields(const job *j, const char *outcome)
{
	log_fields f = {j->request_id, j->pol->name, j->dev ? j->dev->serial : NULL, outcome};

	return f;
}

/* Under eng->lock: the job's card work on its device is over (or never
 * happens); the placement stops counting it there. A batch of records the
 * archive device holds back for more (commit.c, commit_batch_due) need not wait
 * once no key is being generated anywhere. */
static void job_generated(job *j)
{
	device *adev;

	if (j->generating && j->dev) {
		j->dev->generating--;
		adev = j->base.eng->archive_dev;
		if (adev && !STAILQ_EMPTY(&adev->uncovered) && !commit_keys_generating(j->base.eng))
			pthread_cond_signal(&adev->wake);
	}
	j->generating = 0;
}

/* The job is in flight on j->dev: counted there as queued and generating,
 * its key id reserved (job_detach undoes it). */
static void job_hold(job *j)
{
	engine *eng = j->base.eng;

	pthread_mutex_lock(&eng->lock);
	j->dev->queued++;
	j->dev->generating++;
	j->generating = 1;
	device_id_set(j->dev->reserved_ids, j->key_id, 1);
	pthread_mutex_unlock(&eng->lock);
	op_start(&j->base);
}

/* Under eng->lock, as the job leaves: its device stops counting it. */
static void job_detach(operation *o)
{
	job *j = (job *)o;

	job_generated(j);
	if (j->dev) {
		j->dev->queued--;
		device_id_set(j->dev->reserved_ids, j->key_id, 0);
	}
}

static void job_free(operation *o)
{
	job *j = (job *)o;

	policy_set_unref(j->set);
	session_key_free(&j->key);
	smk_buf_free(&j->device_chain);
	free(j);
}

static void job_release(job *j)
{
	op_release(&j->base);
}

static void job_answer_error(job *j, const char *name, json_t *params, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void job_answer_error(job *j, const char *name, json_t *params, const char *fmt, ...)
{
	engine_error err;
	va_list ap;

	memset(&err, 0, sizeof(err));
	err.name = name;
	err.params = params;
	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	op_answer(&j->base, NULL, &err);
	engine_error_clear(&err);
}

/* The card never made a key (or one that did not verify, and was deleted):
 * the intent ends as failed with the reason. */
static void job_failed(job *j, const char *reason)
{
	engine *eng = j->base.eng;
	log_fields f = job_fields(j, "failed");
	smk_err e;
	int rc;

	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_fail(eng->arc, j->request_id, reason, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0)
		log_msg(LOG_ERR, &f, "cannot record the failure: %s", e.msg);
	else
		pending_remove(eng, j->request_id);
	log_msg(LOG_WARNING, &f, "generation failed after %.1f s: %s", elapsed_s(j), reason);
	if (device_lost(&j->err) && !j->key.gakp_sent && !j->recovered) {
		/* the card was never asked for a key: its device could not be
		 * reached (pulled, or held by another PC/SC client after an idle
		 * release). The intent is archived as failed all the same. */
		char why[sizeof(j->err.msg) + 128];

		snprintf(why, sizeof(why), "request %s (archived as failed): %s", j->request_id,
			 reason);
		job_answer_error(j, SMK_VERR_DEVICE_UNAVAILABLE,
				 engine_param_str("device", j->dev->serial, "reason", why), "%s",
				 why);
	} else {
		job_answer_error(j, SMK_VERR_GENERATION_FAILED,
				 engine_param_str("request_id", j->request_id, "reason", reason),
				 "request %s: %s", j->request_id, reason);
	}
	job_release(j);
}

/* The key exists but is not archived: the intent stays open (and its
 * sidecar with it) so the next start commits it from CE|id. */
static void job_archive_error(job *j, const char *reason)
{
	log_fields f = job_fields(j, "pending");

	log_msg(LOG_ERR, &f, "key %u made but not archived (recovered at the next start): %s",
		j->key_id, reason);
	job_answer_error(j, SMK_VERR_ARCHIVE_ERROR,
			 engine_param_str("reason", reason, "request_id", j->request_id),
			 "request %s: %s", j->request_id, reason);
	job_release(j);
}

/* GAKP was sent, its answer lost, and the device went away before CE|id
 * could be read back: the card may hold the key. Nothing is closed: the
 * intent and its sidecar stay open, and when the device is back
 * (generate_device_up) or at the next start they are settled from CE|id (a
 * record if the request there is ours, else a failure). Until the device is
 * listed again its key id counts as used. */
static void job_unsettled(job *j, const char *reason)
{
	log_fields f = job_fields(j, "pending");

	pthread_mutex_lock(&j->base.eng->lock);
	device_id_set(j->dev->used_ids, j->key_id, 1);
	pthread_mutex_unlock(&j->base.eng->lock);
	log_msg(LOG_ERR, &f,
		"outcome unknown, settled from the card when the device is back or at the next "
		"start: %s",
		reason);
	job_answer_error(j, SMK_VERR_ARCHIVE_ERROR,
			 engine_param_str("reason", reason, "request_id", j->request_id),
			 "request %s: %s; the request stays open and is settled when the device "
			 "is back or at the next start (a record if the card made the key)",
			 j->request_id, reason);
	job_release(j);
}

/* The record is in the archive, but its batch's checkpoint was not signed
 * (the archive device failed): no bundle yet. The next checkpoint (the next
 * commit, or the next start) covers it; GetRecord finds it by request id. */
static void job_uncovered(job *j)
{
	log_fields f = job_fields(j, "committed");
	char reason[700];

	pending_remove(j->base.eng, j->request_id);
	snprintf(reason, sizeof(reason),
		 "record %llu is archived but no checkpoint covers it yet: %s",
		 (unsigned long long)j->seq, j->err.msg);
	log_msg(LOG_ERR, &f, "%s", reason);
	job_answer_error(j, SMK_VERR_ARCHIVE_ERROR, engine_param_str("reason", reason, NULL, NULL),
			 "request %s: %s", j->request_id, reason);
	job_release(j);
}

static void job_committed(job *j)
{
	engine *eng = j->base.eng;
	log_fields f = job_fields(j, "committed");
	smk_buf bundle = SMK_BUF_INIT;
	json_t *reply;
	smk_err e;
	int rc;

	pending_remove(eng, j->request_id);
	log_msg(LOG_INFO, &f, "key %u \"%s\" archived as record %llu after %.1f s", j->key_id,
		j->gakp.label, (unsigned long long)j->seq, elapsed_s(j));
	if (j->base.ctx == NULL) {
		job_release(j);
		return;
	}
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_export_bundle(eng->arc, j->seq, &bundle, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0 || smk_buf_add_byte(&bundle, 0) < 0) {
		job_answer_error(j, SMK_VERR_ARCHIVE_ERROR,
				 engine_param_str("reason", e.msg, NULL, NULL),
				 "record %llu: bundle: %s", (unsigned long long)j->seq, e.msg);
		smk_buf_free(&bundle);
		job_release(j);
		return;
	}
	reply = json_pack(
	    "{s:I, s:s, s:s, s:i, s:s, s:s, s:o, s:s}", "seq", (json_int_t)j->seq, "request_id",
	    j->request_id, "label", j->gakp.label, "key_id", (int)j->key_id, "device",
	    j->dev->serial, "public_key_pem", j->key.att.pem ? j->key.att.pem : "", "cvreq",
	    smk_json_b64(j->key.cvreq.data, j->key.cvreq.len), "bundle", (const char *)bundle.data);
	smk_buf_free(&bundle);
	if (j->progress)
		j->progress(j->base.ctx, ENGINE_ARCHIVED);
	if (reply == NULL) {
		job_answer_error(j, SMK_VERR_ARCHIVE_ERROR,
				 engine_param_str("reason", "out of memory", NULL, NULL),
				 "out of memory");
	} else if (j->base.ctx) {
		j->base.done(j->base.ctx, reply, NULL);
	} else {
		json_decref(reply);
	}
	job_release(j);
}

static int job_in_flight(engine *eng, const char *request_id)
{
	const operation *o;

	LIST_FOREACH(o, &eng->ops, link)
	if (o->kind == &generate_kind && strcmp(((const job *)o)->request_id, request_id) == 0)
		return 1;
	return 0;
}

/* One open intent on d, no job holding it: a job without a client that
 * reads the key back from CE|id on d's worker (GENERATE_STEP_READBACK) and then goes
 * the way of every key (commit, checkpoint); if CE|id holds no request of
 * ours the intent is closed as failed. */
static void take_up_intent(engine *eng, device *d, const archive_intent_info *in, const char *label,
			   unsigned key_id)
{
	policy_set *set = policy_set_ref(eng->policies);
	const policy *pol = policy_set_find(set, in->policy_name);
	archive_policy_key want;
	smk_err e;
	job *j;
	task *t;
	int rc;

	/* what the intent asked for, as it recorded it: the key read back is
	 * checked against that, not against today's policy file */
	pthread_mutex_lock(&eng->archive_lock);
	rc = recover_intent_want(eng, in->request_id, &want, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0) {
		log_msg(LOG_ERR, &(log_fields){in->request_id, in->policy_name, d->serial, NULL},
			"open request left for the next start: its policy is unreadable: %s",
			e.msg);
		policy_set_unref(set);
		return;
	}
	if (pol == NULL) {
		log_msg(LOG_WARNING,
			&(log_fields){in->request_id, in->policy_name, d->serial, NULL},
			"open request left for the next start: its policy is no longer loaded");
		policy_set_unref(set);
		return;
	}
	j = calloc(1, sizeof(*j));
	t = j ? op_task(&j->base, GENERATE_STEP_READBACK, 0) : NULL;
	if (j == NULL || t == NULL) {
		log_err("out of memory: open request %s waits for the next start", in->request_id);
		policy_set_unref(set);
		free(j);
		free(t);
		return;
	}
	op_init(&j->base, eng, &generate_kind, NULL, NULL);
	snprintf(j->request_id, sizeof(j->request_id), "%s", in->request_id);
	snprintf(j->chr, sizeof(j->chr), "%s", in->chr);
	snprintf(j->gakp.label, sizeof(j->gakp.label), "%s", label);
	j->set = set;
	j->pol = pol;
	j->dev = d;
	j->key_id = (uint8_t)key_id;
	j->recovered = 1;
	j->want = want;
	clock_gettime(CLOCK_MONOTONIC, &j->started);
	smk_buf_init(&j->device_chain);
	job_hold(j);
	log_msg(LOG_NOTICE, &(log_fields){j->request_id, pol->name, d->serial, NULL},
		"device is back: key %u of an open request is read back", key_id);
	op_push(d, t);
}

void generate_device_up(engine *eng, device *d)
{
	archive_intent_info *list = NULL;
	pending_file pf;
	size_t n = 0, i;
	smk_err e;
	int rc;

	/* without the archive key nothing could be committed: the archive
	 * device's own catch-up (recover_archive_late) or the next start does it */
	if (eng->shutting_down || eng->archive_dev == NULL)
		return;
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_pending(eng->arc, &list, &n, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0) {
		log_msg(LOG_ERR, &(log_fields){.device = d->serial},
			"open requests not checked: %s", e.msg);
		return;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(list[i].kind, ARCHIVE_KIND_KEY) != 0 ||
		    job_in_flight(eng, list[i].request_id))
			continue;
		if (pending_read(eng, list[i].request_id, &pf, &e) <= 0 ||
		    strcmp(pf.device, d->serial) != 0)
			continue; /* another device's, or one the next start settles */
		take_up_intent(eng, d, &list[i], pf.label, pf.key_id);
	}
	free(list);
}

/* On the loop: what the job's worker steps posted (generate_card.c). */
static void job_deliver(operation *o, int what, enum engine_stage stage)
{
	job *j = (job *)o;
	engine *eng = o->eng;
	device *adev;
	int queued;

	switch (what) {
	case GENERATE_PROGRESS:
		if (j->base.ctx && j->progress)
			j->progress(j->base.ctx, stage);
		return;
	case GENERATE_MADE:
		if (j->rc < 0) {
			pthread_mutex_lock(&eng->lock);
			job_generated(j);
			pthread_mutex_unlock(&eng->lock);
			if (j->unsettled)
				job_unsettled(j, j->err.msg);
			else
				job_failed(j, j->err.msg);
			return;
		}
		if (j->recovered)
			log_msg(LOG_NOTICE,
				&(log_fields){j->request_id, j->pol->name, j->dev->serial, NULL},
				"key %u of an open request read back from CE|%02X and checked",
				j->key_id, j->key_id);
		else
			log_msg(LOG_INFO,
				&(log_fields){j->request_id, j->pol->name, j->dev->serial, NULL},
				"key %u generated under secure messaging", j->key_id);
		/* the record is committed by the worker of the device that
		 * made the key: it needs no card command (format 3), so the
		 * archive device's worker is left to its card. It counts as
		 * queued before the job stops counting as generating, so the
		 * archive device does not cover its batch in between */
		adev = eng->archive_dev;
		if (adev) {
			pthread_mutex_lock(&eng->lock);
			eng->commits_queued++;
			pthread_mutex_unlock(&eng->lock);
		}
		queued = adev && op_queue(o, j->dev, GENERATE_STEP_COMMIT, OP_TASK_RECORD) == 0;
		pthread_mutex_lock(&eng->lock);
		if (adev && !queued)
			eng->commits_queued--;
		job_generated(j);
		pthread_mutex_unlock(&eng->lock);
		if (adev == NULL) {
			char why[sizeof(eng->archive_error)];

			engine_archive_error(eng, why, sizeof(why));
			job_archive_error(j, why);
		} else if (!queued) {
			job_archive_error(j, "out of memory");
		}
		return;
	case GENERATE_COMMITTED:
		if (j->rc < 0 && j->committed)
			job_uncovered(j);
		else if (j->rc < 0)
			job_archive_error(j, j->err.msg);
		else
			job_committed(j);
		return;
	}
}

static void job_cancel(operation *o, const char *why)
{
	job_failed((job *)o, why);
}

static void job_forget(operation *o)
{
	log_msg(LOG_INFO, &(log_fields){.request_id = ((job *)o)->request_id},
		"client went away; the key is still archived");
}

static const op_kind generate_kind = {
    .name = "generation",
    .run = generate_run,
    .deliver = job_deliver,
    .cancel = job_cancel,
    .forget = job_forget,
    .detach = job_detach,
    .free = job_free,
};

/* ---- accepting a request ---- */

static int device_matches(const device *d, const char *want)
{
	return want == NULL || strcmp(d->serial, want) == 0 || strcmp(d->devaut_chr, want) == 0;
}

/* Before anything is measured: an EC P-256 generation and a record's
 * share of its checkpoint's signature (about 0.1 s over a batch of ~5) under
 * the simulator's genuine latency model (docs/PERFORMANCE.md). Only their
 * ratio matters once one device has a measurement: a device without one is
 * assumed to be like the others. */
#define PRIOR_GEN_S 0.4
#define PRIOR_COMMIT_S 0.02

/* Mean measured card time per generation over the devices (the prior
 * before any). Under eng->lock. */
static double typical_gen_s(const engine *eng)
{
	double sum = 0;
	size_t i, n = 0;

	for (i = 0; i < eng->device_count; i++)
		if (eng->devices[i]->gen_s > 0) {
			sum += eng->devices[i]->gen_s;
			n++;
		}
	return n ? sum / (double)n : PRIOR_GEN_S;
}

/* The card time d is expected to need before a job given to it now is
 * done: the generations it holds and this one, at its time per generation;
 * and, on the archive device, a record's share of a checkpoint signature
 * (the card's only work for a record) for every job in flight on any
 * device and for this one, since every batch's checkpoint is signed there.
 * docs/PERFORMANCE.md §3. Under eng->lock. */
static double device_load(const engine *eng, const device *d, double typical)
{
	double gen = d->gen_s > 0 ? d->gen_s : typical;
	double load = (d->generating + 1) * gen;

	if (d == eng->archive_dev)
		load += (double)(eng->in_flight + 1) *
			(d->commit_s > 0 ? d->commit_s : typical * PRIOR_COMMIT_S / PRIOR_GEN_S);
	return load;
}

/* The device that is up, allowed by the policy and asked for, and would
 * finish a new job first by device_load. Under eng->lock. */
static device *choose_device(engine *eng, const policy *pol, const char *want, int *full)
{
	device *best = NULL;
	double best_load = 0, typical = typical_gen_s(eng);
	size_t i;

	*full = 0;
	for (i = 0; i < eng->device_count; i++) {
		device *d = eng->devices[i];
		double load;

		if (d->state == DEVICE_DOWN || !d->serial[0] || !device_matches(d, want) ||
		    policy_device_allowed(pol, d->devaut_chr, NULL) < 0)
			continue;
		if (d->queued >= eng->cfg->limits.queue) {
			*full = 1;
			continue;
		}
		load = device_load(eng, d, typical);
		/* ties (within 1 %) go to the least used */
		if (best == NULL || load < best_load * 0.99 ||
		    (load <= best_load * 1.01 && d->picks < best->picks)) {
			best = d;
			best_load = load;
		}
	}
	if (best)
		best->picks++;
	return best;
}

static unsigned pick_key_id(const device *d)
{
	unsigned id;

	for (id = 1; id <= 255; id++)
		if (!device_id_used(d->used_ids, id) && !device_id_used(d->reserved_ids, id))
			return id;
	return 0;
}

int generate_key(engine *eng, const engine_peer *peer, const char *policy_name, const char *label,
		 const char *want, engine_progress_fn progress, engine_done_fn done, void *ctx,
		 engine_error *err)
{
	const policy *pol;
	policy_peer pp;
	policy_request req;
	archive_intent_req ir;
	archive_intent_info info;
	uint64_t keys_made = 0;
	device *dev;
	job *j;
	task *t;
	smk_err e;
	int full, rc;
	unsigned key_id;

	memset(err, 0, sizeof(*err));
	if (eng->shutting_down)
		return engine_fail_stopping(err);
	pol = policy_set_find(eng->policies, policy_name);
	if (pol == NULL)
		return engine_fail(err, SMK_VERR_POLICY_NOT_FOUND,
				   engine_param_str("policy", policy_name, NULL, NULL),
				   "no policy \"%s\"", policy_name);
	memset(&pp, 0, sizeof(pp));
	pp.uid = peer->uid;
	pp.gid = peer->gid;
	pp.groups = peer->groups;
	pp.group_count = peer->ngroups;
	if (policy_authorize(pol, &pp, &e) < 0) {
		log_msg(LOG_NOTICE, &(log_fields){.policy = pol->name, .outcome = "denied"},
			"uid %u pid %d: %s", (unsigned)peer->uid, (int)peer->pid, e.msg);
		return engine_fail(err, SMK_VERR_POLICY_DENIED,
				   engine_param_str("policy", pol->name, "reason", e.msg), "%s",
				   e.msg);
	}
	if (eng->archive_dev == NULL)
		return engine_fail_no_archive_key(eng, err);

	pthread_mutex_lock(&eng->lock);
	dev = choose_device(eng, pol, want, &full);
	key_id = dev ? pick_key_id(dev) : 0;
	pthread_mutex_unlock(&eng->lock);
	if (dev == NULL && full)
		return engine_fail(err, SMK_VERR_TOO_MANY_REQUESTS,
				   json_pack("{s:i}", "limit", (int)eng->cfg->limits.queue),
				   "every device allowed by %s has %u jobs queued", pol->name,
				   eng->cfg->limits.queue);
	if (dev == NULL)
		return engine_fail(err, SMK_VERR_DEVICE_UNAVAILABLE,
				   json_pack("{s:s?, s:s}", "device", want, "reason",
					     want ? "no such device up and allowed by the policy"
						  : "no device up and allowed by the policy"),
				   "policy %s: no device%s%s up and allowed", pol->name,
				   want ? " " : "", want ? want : "");
	if (key_id == 0)
		return engine_fail(err, SMK_VERR_DEVICE_UNAVAILABLE,
				   engine_param_str("device", dev->serial, "reason",
						    "no free key id on the device"),
				   "device %s: all 255 key ids are used", dev->serial);

	/* counted only for a limit: the count reads every intent of the
	 * policy, which a large archive must not pay on every request */
	pthread_mutex_lock(&eng->archive_lock);
	rc = pol->max_keys ? archive_policy_key_count(eng->arc, pol->name, &keys_made, &e) : 0;
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0)
		return engine_fail_archive(err, &e);
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return engine_fail(err, SMK_VERR_ARCHIVE_ERROR,
				   engine_param_str("reason", "out of memory", NULL, NULL),
				   "out of memory");
	memset(&req, 0, sizeof(req));
	req.label = label;
	req.devaut_chr = dev->devaut_chr;
	/* the archive counts committed keys and open intents, and every job in
	 * flight has an open intent: nothing to add */
	req.keys_made = keys_made;
	if (policy_gakp_params(pol, &req, &j->gakp, &e) < 0) {
		free(j);
		/* policy/ refuses a bad label with SMK_E_LABEL (InvalidParameter);
		 * everything else here is the policy's own limit (max-keys,
		 * devices): RequestRefused */
		return engine_fail_as(
		    err, &e,
		    &(engine_about){.policy = pol->name, .otherwise = SMK_VERR_REQUEST_REFUSED});
	}

	/* docs/design.md step 2: the intent is durable before the card sees anything */
	memset(&ir, 0, sizeof(ir));
	ir.kind = ARCHIVE_KIND_KEY;
	ir.peer = engine_archive_peer(peer);
	ir.policy_name = pol->name;
	ir.policy_doc = (const uint8_t *)pol->canonical;
	ir.policy_doc_len = pol->canonical_len;
	ir.device_serial = dev->serial;
	ir.devaut_chr = dev->devaut_chr;
	ir.key_id = key_id;
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_intent(eng->arc, &ir, &info, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0) {
		free(j);
		return engine_fail(err, SMK_VERR_ARCHIVE_ERROR,
				   engine_param_str("reason", e.msg, NULL, NULL), "intent: %s",
				   e.msg);
	}
	op_init(&j->base, eng, &generate_kind, done, ctx);
	memcpy(j->request_id, info.request_id, sizeof(j->request_id));
	memcpy(j->chr, info.chr, sizeof(j->chr));
	j->set = policy_set_ref(eng->policies);
	j->pol = pol;
	j->dev = dev;
	j->key_id = (uint8_t)key_id;
	j->progress = progress;
	clock_gettime(CLOCK_MONOTONIC, &j->started);
	smk_buf_init(&j->device_chain);
	t = op_task(&j->base, GENERATE_STEP_CARD, OP_TASK_CANCELLABLE);
	if (t == NULL ||
	    pending_write(eng, j->request_id, j->gakp.label, dev->serial, key_id, &e) < 0) {
		const char *why = t ? e.msg : "out of memory";

		pthread_mutex_lock(&eng->archive_lock);
		archive_fail(eng->arc, j->request_id, why, NULL);
		pthread_mutex_unlock(&eng->archive_lock);
		engine_fail(err, SMK_VERR_ARCHIVE_ERROR,
			    engine_param_str("reason", why, NULL, NULL), "request %s: %s",
			    j->request_id, why);
		policy_set_unref(j->set);
		free(t);
		free(j);
		return -1;
	}
	testhook_crash_point("after-intent");
	job_hold(j);
	log_msg(LOG_INFO, &(log_fields){j->request_id, pol->name, dev->serial, "accepted"},
		"uid %u pid %d: key %u \"%s\" queued", (unsigned)peer->uid, (int)peer->pid, key_id,
		j->gakp.label);
	/* delivered from the loop, never from inside this call */
	op_post(&j->base, GENERATE_PROGRESS, ENGINE_QUEUED);
	op_push(dev, t);
	return 0;
}
