/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card steps of a Generate job, on its device's worker (docs/daemon.md,
 * "A Generate request"): GAKP under SM with the policy's template and the
 * intent's CHR, the check of what the card reports, the read-back of a key
 * whose GAKP answer was lost or whose device came back, and the record's
 * commit on the archive key's device (commit.c).
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

/* The GAKP reached the card but its answer did not come back intact (bad
 * MAC, plain answer, transport gone): the card may hold the key and, in
 * CE|id, its CV request with our CHR. Look under a fresh session before
 * calling the request failed, so no key stays on a card without a record.
 * 0: the key is ours, checked, and described in j->key. */
/* -1: no key of ours (the card refused, or CE|id holds none); -2: the
 * device could not be asked, so whether the card made the key is unknown. */
static int salvage_key(device *d, job *j, const hsm_keyspec *spec)
{
	smk_buf req = SMK_BUF_INIT;
	archive_policy_key want;
	smk_err e;
	int rc;

	if (j->err.code == SMK_E_CARD || j->err.code == SMK_E_ARG ||
	    j->err.code == SMK_E_MISMATCH || j->err.code == SMK_E_SIGNATURE)
		return -1; /* the card refused, or answered and the answer did not hold */
	session_key_free(&j->key);
	/* what the intent asked for, from the policy it recorded: a key read
	 * back is archived only if it is that (recover_read_key) */
	if (archive_policy_key_of((const uint8_t *)j->pol->canonical, j->pol->canonical_len, &want,
				  &e) < 0) {
		smk_context(&j->err, "key %u not read back: policy %s: %s", j->key_id, j->pol->name,
			    e.msg);
		return -1;
	}
	rc = recover_read_key(d, j->key_id, j->chr, &want, &req, &j->key.att, &j->card, &e);
	if (rc <= 0) {
		smk_buf_free(&req);
		if (rc < 0) {
			char lost[sizeof(j->err.msg)];

			snprintf(lost, sizeof(lost), "%s", j->err.msg);
			smk_fail(&j->err, e.code,
				 "the answer to GAKP for key %u was lost (%s) and CE|%02X could "
				 "not be read back: %s",
				 j->key_id, lost, j->key_id, e.msg);
			return -2;
		}
		if (strncmp(e.msg, ARCHIVE_REFUSED_PREFIX, strlen(ARCHIVE_REFUSED_PREFIX)) == 0) {
			j->err = e; /* the intent is closed with this reason: a finding */
			return -1;
		}
		log_msg(LOG_WARNING,
			&(log_fields){.request_id = j->request_id, .device = d->serial},
			"GAKP answer lost (%s); key %u not found as ours on the card: %s",
			j->err.msg, j->key_id, e.msg);
		return -1;
	}
	j->key.key_id = j->key_id;
	j->key.cvreq = req;
	if (session_write_prkd(d->session, j->key_id, j->gakp.label, j->key.att.key, spec->algs,
			       spec->alg_count, j->key.prkd_id, &e) < 0)
		log_msg(LOG_WARNING,
			&(log_fields){.request_id = j->request_id, .device = d->serial},
			"key %u recovered but its PKCS#15 description was not written: %s",
			j->key_id, e.msg);
	else
		j->key.has_prkd = true;
	log_msg(LOG_NOTICE, &(log_fields){.request_id = j->request_id, .device = d->serial},
		"GAKP answer lost (%s); key %u read back from CE|%02X and checked (%s)", j->err.msg,
		j->key_id, j->key_id,
		j->card.algs_reported ? "the card confirmed the algorithm list"
				      : "the algorithm list rests on the intent and the CHR only");
	smk_err_clear(&j->err);
	return 0;
}

/* After a GAKP answered under SM: the list the card reports for the new key
 * (if it does) must be the one sent, or the key is not archived under the
 * policy: it is deleted and the request fails loudly. 0 ok, -1 refused. */
static int check_reported_list(device *d, job *j, const hsm_keyspec *spec)
{
	smk_err del;
	int deleted;

	card_facts_algs(d, j->key_id, 0, &j->card);
	if (!j->card.algs_reported || (j->card.alg_count == spec->alg_count &&
				       memcmp(j->card.algs, spec->algs, spec->alg_count) == 0))
		return 0;
	deleted = session_delete_key(d->session, j->key_id, &del) == 0;
	smk_fail(&j->err, SMK_E_MISMATCH,
		 ARCHIVE_REFUSED_PREFIX "the card reports an algorithm list of %zu entries for key "
					"%u, not the %zu the GAKP sent; not archived under policy "
					"%s, key %s",
		 j->card.alg_count, j->key_id, spec->alg_count, j->pol->name,
		 deleted ? "deleted" : "NOT deleted");
	log_msg(LOG_ERR, &(log_fields){.request_id = j->request_id, .device = d->serial},
		"key refused: %s", j->err.msg);
	return -1;
}

/* The device chain the key's request verified against, for its record. */
static int keep_chain(device *d, job *j)
{
	smk_buf_reset(&j->device_chain);
	if (smk_buf_add(&j->device_chain, d->chain_bytes.data, d->chain_bytes.len) < 0)
		return smk_fail(&j->err, SMK_E_NOMEM, "out of memory");
	return 0;
}

/* The card step ends with rc (j->err says why on -1): a device whose link
 * or SM channel is gone goes down, and the loop hears of the job. So does
 * one whose outcome is unknown (unsettled: the device could not be asked,
 * e.g. another card answers in its reader, as a relay that swapped it
 * would show): down, so that its open intent is read back when the device
 * itself is up again. */
static void step_done(device *d, job *j, int rc)
{
	j->rc = rc;
	if (rc < 0 && (device_lost(&j->err) || j->unsettled))
		device_mark_down(d, &j->err);
	op_post(&j->base, GENERATE_MADE, ENGINE_GENERATING);
}

static void run_generate(device *d, job *j)
{
	engine *eng = d->eng;
	session_keygen g;
	bool used;
	double t0 = worker_mono_s();
	int rc;

	op_post(&j->base, GENERATE_PROGRESS, ENGINE_SESSION);
	if (session_open(d->session, &j->err) < 0 || device_take_identity(d, &j->err) < 0)
		goto fail;
	/* GAKP on a used key id replaces that key: ask the session, which
	 * lists the card once per SM session (OpenSC may have made keys while we
	 * did not hold the card) and tracks our own keys after that */
	if (session_key_id_used(d->session, j->key_id, &used, &j->err) < 0)
		goto fail;
	if (used) {
		smk_err re;

		/* our list is out of date: take the card's, so the next pick is
		 * right (if that fails too, the next session lists it again) */
		(void)device_id_refresh(d, &re);
		smk_fail(&j->err, SMK_E_MISMATCH,
			 "key id %u on %s is taken by a key made outside smkeyd; nothing was "
			 "generated",
			 j->key_id, d->serial);
		goto fail;
	}
	op_post(&j->base, GENERATE_PROGRESS, ENGINE_GENERATING);
	memset(&g, 0, sizeof(g));
	g.spec = j->gakp.spec;
	snprintf(g.spec.chr, sizeof(g.spec.chr), "%s", j->chr);
	g.key_id = j->key_id;
	g.label = j->gakp.label;
	g.must_be_free = true;
#ifdef SMK_TEST_LIAR
	/* Only in smkeyd-liar, a test program (CMakeLists.txt): the card is told
	 * no algorithm list while the record still names the policy's. It makes
	 * the forged bundle of tests/integration/test_pinned_log.sh; smkeyd
	 * itself is built without it, which that test checks. */
	log_msg(LOG_WARNING, &(log_fields){.request_id = j->request_id, .device = d->serial},
		"SMK_TEST_LIAR: GAKP without the policy's algorithm list");
	g.spec.alg_count = 0;
#endif
	if (session_generate(d->session, &g, &j->key, &j->err) < 0) {
		if (j->key.key_id != 0) {
			/* the key exists and its request verified; only the PrKD
			 * write failed: archive it anyway, so no key is left without
			 * a record */
			log_msg(LOG_WARNING,
				&(log_fields){.request_id = j->request_id, .device = d->serial},
				"key %u made but its PKCS#15 description was not written: %s",
				j->key_id, j->err.msg);
		} else if (!j->key.gakp_sent) {
			goto fail; /* no GAKP reached the card: no key to look for */
		} else if ((rc = salvage_key(d, j, &g.spec)) < 0) {
			j->unsettled = rc == -2;
			goto fail;
		}
	}
	/* what the card did and told, for the record (salvage_key filled it
	 * for a key read back) */
	if (j->card.cvreq_from != ARCHIVE_CVREQ_RECOVERED) {
		memset(&j->card, 0, sizeof(j->card));
		j->card.cvreq_from = ARCHIVE_CVREQ_GAKP;
		if (check_reported_list(d, j, &g.spec) < 0)
			goto fail;
	}
	card_facts_domains(d, &j->card);
	testhook_crash_point("after-gakp");
	pthread_mutex_lock(&eng->lock);
	device_id_set(d->used_ids, j->key_id, 1);
	worker_average(&d->gen_s, worker_mono_s() - t0);
	pthread_mutex_unlock(&eng->lock);
	step_done(d, j, keep_chain(d, j));
	return;
fail:
	step_done(d, j, -1);
}

/* An open intent's key, read back from CE|id now that its device is back
 * (generate_device_up); the same checks as a read-back at start (recover.c). */
static void run_readback(device *d, job *j)
{
	engine *eng = d->eng;
	smk_buf req = SMK_BUF_INIT;
	int rc;

	if (session_open(d->session, &j->err) < 0 || device_take_identity(d, &j->err) < 0) {
		j->unsettled = 1; /* down again: still open */
		goto fail;
	}
	rc = recover_read_key(d, j->key_id, j->chr, &j->want, &req, &j->key.att, &j->card, &j->err);
	if (rc <= 0) {
		j->unsettled = rc < 0; /* cannot tell now: still open */
		goto fail;
	}
	j->key.key_id = j->key_id;
	j->key.cvreq = req;
	smk_buf_init(&req);
	pthread_mutex_lock(&eng->lock);
	device_id_set(d->used_ids, j->key_id, 1);
	pthread_mutex_unlock(&eng->lock);
	if (keep_chain(d, j) < 0) {
		j->unsettled = 1; /* the key is there: the next start archives it */
		goto fail;
	}
	step_done(d, j, 0);
	return;
fail:
	smk_buf_free(&req);
	step_done(d, j, -1);
}

void generate_run(device *d, operation *o, int step)
{
	job *j = (job *)o;

	switch ((enum generate_step)step) {
	case GENERATE_STEP_CARD:
		run_generate(d, j);
		return;
	case GENERATE_STEP_READBACK:
		run_readback(d, j);
		return;
	case GENERATE_STEP_COMMIT:
		commit_record(d, j);
		return;
	}
}
