/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Group commit (docs/archive.md): each key's record is stored on its own,
 * without a signature (record format 3: the card signs no record), by the
 * worker of the device that made the key; on the archive key's device one
 * checkpoint, the one SIGN of the batch, covers the records once no more
 * are on their way, or once the batch has waited checkpoint-hold-ms for
 * keys still being generated. A record is authenticated by that
 * checkpoint, so a Generate is answered only after it is stored.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../archive/checkpoint.h"
#include "../sm/alg.h"
#include "daemon.h"
#include "log.h"

/* records one checkpoint covers at most (group commit) */
#define BATCH_MAX 64u

/* ---- the archive signer: ECDSA-SHA256 by the card, over the message ---- */

static int card_sign(void *ctx, const uint8_t *msg, size_t len, smk_buf *der_sig, smk_err *e)
{
	device *d = ctx;
	const smk_alg *alg = alg_by_name("ecdsa-sha256");

	/* the archive key's algorithm list holds ecdsa-sha256 alone (0x73): the
	 * card hashes the message itself, so the key signs nothing but whole
	 * messages */
	if (alg == NULL)
		return smk_fail(e, SMK_E_UNSUPPORTED, "no ecdsa-sha256 algorithm");
	if (session_sign(d->session, d->eng->archive_key_id, alg->id, msg, len, der_sig, e) < 0)
		return smk_context(e, "archive key on %s", d->serial);
	return 0;
}

void commit_signer(device *d, uint8_t key_id, EVP_PKEY *pub, archive_signer *s)
{
	d->eng->archive_key_id = key_id;
	s->sign = card_sign;
	s->ctx = d;
	s->pub = pub;
}

void commit_record_signer(engine *eng, archive_signer *s)
{
	s->sign = card_sign; /* never called: a record of format 3 is not signed */
	s->ctx = eng->archive_dev;
	s->pub = eng->archive_pub;
}

/* The record alone (group commit), on the worker of d, the device that
 * made the key: it is durable here, no card command is sent, and the job
 * waits in the archive device's uncovered list for the checkpoint of its
 * batch. */
void commit_record(device *d, job *j)
{
	engine *eng = d->eng;
	device *adev = eng->archive_dev; /* set before the commit was queued */
	archive_signer s;
	archive_commit_req req;
	int failed;

	memset(&req, 0, sizeof(req));
	req.request_id = j->request_id;
	req.label = j->gakp.label;
	req.device_chain = j->device_chain.data;
	req.device_chain_len = j->device_chain.len;
	req.sm_used = 1;
	req.cvreq = j->key.cvreq.data;
	req.cvreq_len = j->key.cvreq.len;
	req.spki = j->key.att.spki.data;
	req.spki_len = j->key.att.spki.len;
	req.card = &j->card;
	/* the signer is only checked to be the archive key: a format-3
	 * record is not signed */
	commit_signer(adev, eng->archive_key_id, eng->archive_pub, &s);
	pthread_mutex_lock(&eng->archive_lock);
	j->rc = archive_commit_record(eng->arc, &s, &req, &j->seq, &j->err);
	pthread_mutex_unlock(&eng->archive_lock);
	if (j->rc == 0) {
		j->committed = 1;
		/* the record closed the intent: nothing is left to recover */
		pending_remove(eng, j->request_id);
	}
	/* read before the job joins the batch: from then on the archive
	 * device's worker may cover (or fail) the batch and the loop answer
	 * and free the job */
	failed = j->rc < 0;
	pthread_mutex_lock(&eng->lock);
	eng->commits_queued--;
	if (!failed) {
		if (STAILQ_EMPTY(&adev->uncovered))
			adev->batch_first = worker_mono_s();
		STAILQ_INSERT_TAIL(&adev->uncovered, j, next_batch);
		adev->uncovered_n++;
	}
	/* the batch may be waiting for this record */
	pthread_cond_signal(&adev->wake);
	pthread_mutex_unlock(&eng->lock);
	if (failed)
		op_post(&j->base, GENERATE_COMMITTED, ENGINE_ARCHIVED);
}

int commit_keys_generating(const engine *eng)
{
	for (size_t i = 0; i < eng->device_count; i++)
		if (eng->devices[i]->generating)
			return 1;
	return 0;
}

/* How long a batch may wait for more records while keys are still being
 * generated (config limits.checkpoint-hold-ms): the checkpoint is one
 * signature on the archive device per batch, so larger batches leave it
 * more time for keys of its own; the replies of the batch wait at most this
 * much longer. */
static double batch_hold_s(const device *d)
{
	const config_limits *l = &d->eng->cfg->limits;

	/* signature records alone: nobody waits for their checkpoint */
	return (STAILQ_EMPTY(&d->uncovered) ? l->signature_hold_ms : l->checkpoint_hold_ms) /
	       1000.0;
}

int commit_uncovered(const device *d)
{
	return !STAILQ_EMPTY(&d->uncovered) || d->sig_uncovered > 0;
}

void commit_signature_record(device *d)
{
	pthread_mutex_lock(&d->eng->lock);
	if (!commit_uncovered(d))
		d->batch_first = worker_mono_s();
	d->sig_uncovered++;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->eng->lock);
}

/* Under eng->lock, on the archive device's worker: whether the batch of
 * records committed so far is to be covered by a checkpoint now. At once
 * when it holds BATCH_MAX records or the device is stopping or down. While
 * records are queued for commit on any worker, they join it, up to the
 * hold. Then at once when other card work is queued here (the card is
 * about to be busy) or nothing is being generated (no record is coming);
 * otherwise after the hold. */
int commit_batch_due(const engine *eng, const device *d, double now)
{
	int held = now >= d->batch_first + batch_hold_s(d);

	if (!commit_uncovered(d))
		return 0;
	if (d->uncovered_n + d->sig_uncovered >= BATCH_MAX || d->stop || d->state == DEVICE_DOWN)
		return 1;
	if (STAILQ_EMPTY(&d->uncovered))
		return held; /* signatures alone: their replies are out */
	if (eng->commits_queued > 0)
		return held;
	if (!TAILQ_EMPTY(&d->tasks))
		return 1;
	return !commit_keys_generating(eng) || held;
}

/* Under eng->lock, queue empty, a batch held: wait for a commit, the end of
 * the generations (job_generated) or the hold to run out. */
void commit_batch_wait(device *d)
{
	struct timespec until;
	double left = d->batch_first + batch_hold_s(d) - worker_mono_s();
	long ns;

	if (left <= 0)
		return;
	/* wake is waited on with CLOCK_REALTIME (the default) */
	clock_gettime(CLOCK_REALTIME, &until);
	ns = until.tv_nsec + (long)(left * 1e9);
	until.tv_sec += ns / 1000000000L;
	until.tv_nsec = ns % 1000000000L;
	pthread_cond_timedwait(&d->wake, &d->eng->lock, &until);
}

/* A checkpoint over every record so far; the archive's lock is held to
 * read the tree head and to store the note, not while the card signs, so
 * intents and records (Sign's among them) go on meanwhile. */
static int sign_checkpoint(engine *eng, const archive_signer *s, uint64_t *size, smk_err *e)
{
	archive_checkpoint cp;
	smk_buf note = SMK_BUF_INIT;
	int rc;

	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_checkpoint_begin(eng->arc, s, &cp, e);
	pthread_mutex_unlock(&eng->archive_lock);
	*size = cp.size;
	if (rc < 0 || cp.size == 0) /* cp.size 0: every record is covered */
		return rc;
	if (archive_checkpoint_sign(&cp, s, &note, e) == 0) {
		pthread_mutex_lock(&eng->archive_lock);
		rc = archive_checkpoint_store(eng->arc, &cp, &note, e);
		pthread_mutex_unlock(&eng->archive_lock);
	} else {
		rc = -1;
	}
	smk_buf_free(&note);
	return rc;
}

/* The batch is due (commit_batch_due): one checkpoint covers every record of it,
 * and each of its jobs can have its bundle. */
void commit_checkpoint(device *d)
{
	engine *eng = d->eng;
	archive_signer s;
	struct job_batch batch = STAILQ_HEAD_INITIALIZER(batch);
	job *j;
	unsigned n;
	uint64_t size = 0;
	double t0;
	smk_err e;
	int rc;

	/* the loop looks at the batch (job_generated): taken under the lock */
	pthread_mutex_lock(&eng->lock);
	STAILQ_CONCAT(&batch, &d->uncovered);
	n = d->uncovered_n + d->sig_uncovered;
	d->uncovered_n = 0;
	d->sig_uncovered = 0;
	pthread_mutex_unlock(&eng->lock);
	if (n == 0)
		return;
	t0 = worker_mono_s();
	commit_signer(d, eng->archive_key_id, eng->archive_pub, &s);
	rc = sign_checkpoint(eng, &s, &size, &e);
	if (rc < 0) {
		log_msg(LOG_ERR, &(log_fields){.device = d->serial},
			"no checkpoint for a batch of %u records: %s", n, e.msg);
		if (device_lost(&e))
			device_mark_down(d, &e);
	} else {
		pthread_mutex_lock(&eng->lock);
		/* the archive card's time per record: its share of the SIGN */
		worker_average(&d->commit_s, (worker_mono_s() - t0) / n);
		pthread_mutex_unlock(&eng->lock);
		log_msg(LOG_DEBUG, &(log_fields){.device = d->serial},
			"checkpoint over %llu records for a batch of %u", (unsigned long long)size,
			n);
	}
	/* answer in commit order */
	while ((j = STAILQ_FIRST(&batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&batch, next_batch);
		if (rc < 0) {
			j->rc = -1;
			j->err = e;
		}
		op_post(&j->base, GENERATE_COMMITTED, ENGINE_ARCHIVED);
	}
}
