/*
 * One thread per HSM. The thread owns the device's card session: nothing
 * else touches the card while it runs (before it starts, engine_start uses
 * the session from the main thread). It takes tasks from its queue, runs the
 * card work, and posts the result to the event loop. A device whose
 * transport or secure messaging fails is marked down and, while idle, tries
 * to come back with exponential backoff (config retry min..max).
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "../sm/alg.h"
#include "../sm/pcsc.h"
#include "daemon.h"
#include "log.h"

#define CARD_OPEN_TIMEOUT_MS 10000u
/* records one checkpoint covers at most (group commit) */
#define BATCH_MAX 64u

int device_id_used(const uint8_t map[32], unsigned id)
{
	return (map[id / 8] >> (id % 8)) & 1;
}

void device_id_set(uint8_t map[32], unsigned id, int on)
{
	if (on)
		map[id / 8] |= (uint8_t)(1u << (id % 8));
	else
		map[id / 8] &= (uint8_t) ~(1u << (id % 8));
}

const char *device_state_name(enum device_state s)
{
	switch (s) {
	case DEVICE_UP:
		return "up";
	case DEVICE_DOWN:
		return "down";
	case DEVICE_BUSY:
		return "busy";
	}
	return "down";
}

/* Errors that say the link or the SM channel is gone, not that the card
 * refused one command: the device is down until it answers again. */
static int is_device_error(const smk_err *e)
{
	return e->code == SMK_E_IO || e->code == SMK_E_TIMEOUT || e->code == SMK_E_RESET ||
	       e->code == SMK_E_SM || e->code == SMK_E_TRUST;
}

static void mark_down(device *d, const smk_err *e)
{
	engine *eng = d->eng;
	unsigned min = eng->cfg->retry_min_s ? eng->cfg->retry_min_s : 2;

	pthread_mutex_lock(&eng->lock);
	d->state = DEVICE_DOWN;
	snprintf(d->last_error, sizeof(d->last_error), "%s", e->msg);
	d->backoff_s = d->backoff_s ? d->backoff_s : min;
	d->retry_at = time(NULL) + d->backoff_s;
	pthread_mutex_unlock(&eng->lock);
	log_msg(LOG_WARNING, &(log_fields){.device = d->serial[0] ? d->serial : d->reader},
		"device down: %s; retrying in %u s", e->msg, d->backoff_s);
}

void device_mark_down(device *d, const smk_err *e)
{
	mark_down(d, e);
}

static void mark_up(device *d)
{
	engine *eng = d->eng;
	int was_down;

	pthread_mutex_lock(&eng->lock);
	was_down = d->state == DEVICE_DOWN;
	d->state = DEVICE_UP;
	d->last_error[0] = '\0';
	d->backoff_s = 0;
	pthread_mutex_unlock(&eng->lock);
	if (was_down)
		log_msg(LOG_INFO, &(log_fields){.device = d->serial}, "device up again");
}

/* Remember what the device is, from the chain the session validated. The
 * identity is written once, under eng->lock, before the device is first up;
 * from then on the loop reads it (placement, the intent, ListDevices) while
 * this thread runs card work, so a later session only checks it: rewriting
 * it in place (snprintf clears the first byte before it copies) would show
 * the loop an empty serial or CHR for a moment. */
static int take_identity(device *d, smk_err *e)
{
	const devaut_chain *c = session_chain(d->session);
	engine *eng = d->eng;
	smk_buf chain = SMK_BUF_INIT;

	if (c == NULL)
		return smk_fail(e, SMK_E_ARG, "reader %s: session has no device chain", d->reader);
	if (d->serial[0]) {
		if (strcmp(d->serial, c->serial) != 0)
			return smk_fail(e, SMK_E_MISMATCH, "reader %s: now holds device %s, not %s",
					d->reader, c->serial, d->serial);
		if (strcmp(d->devaut_chr, c->device_chr) != 0 ||
		    d->chain_bytes.len != c->device_cert.len + c->dica_cert.len ||
		    memcmp(d->chain_bytes.data, c->device_cert.data, c->device_cert.len) != 0 ||
		    memcmp(d->chain_bytes.data + c->device_cert.len, c->dica_cert.data,
			   c->dica_cert.len) != 0)
			return smk_fail(e, SMK_E_MISMATCH,
					"reader %s: device %s now shows device certificate %s, "
					"not the %s it was taken up with",
					d->reader, d->serial, c->device_chr, d->devaut_chr);
		return 0;
	}
	if (smk_buf_add(&chain, c->device_cert.data, c->device_cert.len) < 0 ||
	    smk_buf_add(&chain, c->dica_cert.data, c->dica_cert.len) < 0) {
		smk_buf_free(&chain);
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	}
	pthread_mutex_lock(&eng->lock);
	snprintf(d->devaut_chr, sizeof(d->devaut_chr), "%s", c->device_chr);
	snprintf(d->serial, sizeof(d->serial), "%s", c->serial);
	smk_buf_free(&d->chain_bytes);
	d->chain_bytes = chain;
	pthread_mutex_unlock(&eng->lock);
	return 0;
}

int device_refresh_ids(device *d, smk_err *e)
{
	uint8_t ids[255];
	uint8_t map[32] = {0};
	size_t n, i;

	if (session_list_keys(d->session, ids, &n, e) < 0)
		return -1;
	for (i = 0; i < n; i++)
		device_id_set(map, ids[i], 1);
	pthread_mutex_lock(&d->eng->lock);
	memcpy(d->used_ids, map, sizeof(map));
	pthread_mutex_unlock(&d->eng->lock);
	return 0;
}

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

void worker_signer(device *d, uint8_t key_id, EVP_PKEY *pub, archive_signer *s)
{
	d->eng->archive_key_id = key_id;
	s->sign = card_sign;
	s->ctx = d;
	s->pub = pub;
}

/* ---- tasks ---- */

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Under eng->lock: a moving average of the card time per task, so the
 * placement (jobs.c) follows what the device really takes. */
static void average(double *avg, double sample)
{
	*avg = *avg > 0 ? 0.75 * *avg + 0.25 * sample : sample;
}

/* SMKEYD_TEST_CRASH_AT=POINT: die like kill -9 at a named point of a
 * generation, so the reliability tests can check recovery (after-intent,
 * after-gakp here and in jobs.c; the archive's commit steps through
 * engine_crash_step). A test hook; documented in docs/daemon.md. */
void engine_crash_point(const char *where)
{
	const char *at = getenv("SMKEYD_TEST_CRASH_AT");

	if (at && strcmp(at, where) == 0) {
		log_warn("SMKEYD_TEST_CRASH_AT=%s: sending itself SIGKILL (test hook)", where);
		kill(getpid(), SIGKILL);
		_exit(99); /* not reached */
	}
}

void engine_crash_step(const char *step, void *ctx)
{
	(void)ctx;
	engine_crash_point(step);
}

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
		smk_context(&j->err, "key %u not read back: policy %s: %s", j->key_id,
			    j->pol->name, e.msg);
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
	if (!j->card.algs_reported ||
	    (j->card.alg_count == spec->alg_count &&
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

static void run_generate(device *d, job *j)
{
	engine *eng = d->eng;
	session_keygen g;
	bool used;
	double t0 = mono_s();
	int rc;

	engine_post(eng, DONE_PROGRESS, j, ENGINE_SESSION);
	if (session_open(d->session, &j->err) < 0 || take_identity(d, &j->err) < 0)
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
		(void)device_refresh_ids(d, &re);
		smk_fail(&j->err, SMK_E_MISMATCH,
			 "key id %u on %s is taken by a key made outside smkeyd; nothing was "
			 "generated",
			 j->key_id, d->serial);
		goto fail;
	}
	engine_post(eng, DONE_PROGRESS, j, ENGINE_GENERATING);
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
	engine_crash_point("after-gakp");
	pthread_mutex_lock(&eng->lock);
	device_id_set(d->used_ids, j->key_id, 1);
	average(&d->gen_s, mono_s() - t0);
	pthread_mutex_unlock(&eng->lock);
	smk_buf_reset(&j->device_chain);
	if (smk_buf_add(&j->device_chain, d->chain_bytes.data, d->chain_bytes.len) < 0) {
		smk_fail(&j->err, SMK_E_NOMEM, "out of memory");
		j->rc = -1;
	} else {
		j->rc = 0;
	}
	engine_post(eng, DONE_GENERATED, j, ENGINE_GENERATING);
	return;
fail:
	j->rc = -1;
	/* unsettled: the device could not be asked (another card answers in
	 * its reader, say, a relay that swapped it): down, so that its open
	 * intent is read back when the device itself is up again */
	if (is_device_error(&j->err) || j->unsettled)
		mark_down(d, &j->err);
	engine_post(eng, DONE_GENERATED, j, ENGINE_GENERATING);
}

/* An open intent's key, read back from CE|id now that its device is back
 * (jobs_device_up); the same checks as a read-back at start (recover.c). */
static void run_readback(device *d, job *j)
{
	engine *eng = d->eng;
	smk_buf req = SMK_BUF_INIT;
	int rc;

	if (session_open(d->session, &j->err) < 0 || take_identity(d, &j->err) < 0) {
		j->unsettled = 1; /* down again: still open */
		goto fail;
	}
	rc = recover_read_key(d, j->key_id, j->chr, &j->want, &req, &j->key.att, &j->card,
			      &j->err);
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
	smk_buf_reset(&j->device_chain);
	if (smk_buf_add(&j->device_chain, d->chain_bytes.data, d->chain_bytes.len) < 0) {
		j->unsettled = 1; /* the key is there: the next start archives it */
		smk_fail(&j->err, SMK_E_NOMEM, "out of memory");
		goto fail;
	}
	j->rc = 0;
	engine_post(eng, DONE_GENERATED, j, ENGINE_GENERATING);
	return;
fail:
	smk_buf_free(&req);
	j->rc = -1;
	if (is_device_error(&j->err) || j->unsettled)
		mark_down(d, &j->err);
	engine_post(eng, DONE_GENERATED, j, ENGINE_GENERATING);
}

/* The record alone (group commit): it is signed and durable here, and the
 * job waits in d->uncovered for the checkpoint of its batch. */
static void run_commit(device *d, job *j)
{
	engine *eng = d->eng;
	archive_signer s;
	archive_commit_req req;
	double t0 = mono_s();

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
	worker_signer(d, eng->archive_key_id, eng->archive_pub, &s);
	pthread_mutex_lock(&eng->archive_lock);
	j->rc = archive_commit_record(eng->arc, &s, &req, &j->seq, &j->err);
	pthread_mutex_unlock(&eng->archive_lock);
	if (j->rc < 0) {
		if (is_device_error(&j->err))
			mark_down(d, &j->err);
		engine_post(eng, DONE_COMMITTED, j, ENGINE_ARCHIVED);
		return;
	}
	j->committed = 1;
	/* the record closed the intent: nothing is left to recover from CE|id */
	pending_remove(eng, j->request_id);
	pthread_mutex_lock(&eng->lock);
	if (d->uncovered == NULL)
		d->batch_first = mono_s();
	j->next_batch = d->uncovered;
	d->uncovered = j;
	d->uncovered_n++;
	pthread_mutex_unlock(&eng->lock);
	d->batch_s += mono_s() - t0;
}

int engine_keys_generating(const engine *eng)
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
static double batch_hold_s(const engine *eng)
{
	return eng->cfg->limits.checkpoint_hold_ms / 1000.0;
}

/* Under eng->lock, on the archive device's worker: whether the batch of
 * records committed so far is to be covered by a checkpoint now. Not while
 * more commits are queued (up to BATCH_MAX); at once when other card work
 * is queued here, when nothing is being generated (no record is coming),
 * or when the device is stopping or down; otherwise after the hold. */
static int batch_due(const engine *eng, const device *d, double now)
{
	if (d->uncovered == NULL)
		return 0;
	if (d->uncovered_n >= BATCH_MAX || d->stop || d->state == DEVICE_DOWN)
		return 1;
	if (d->head)
		return d->head->kind != TASK_COMMIT;
	return !engine_keys_generating(eng) || now >= d->batch_first + batch_hold_s(eng);
}

/* Under eng->lock, queue empty, a batch held: wait for a commit, the end of
 * the generations (job_generated) or the hold to run out. */
static void batch_wait(device *d)
{
	struct timespec until;
	double left = d->batch_first + batch_hold_s(d->eng) - mono_s();
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

/* The batch is due (batch_due): one checkpoint covers every record of it,
 * and each of its jobs can have its bundle. */
static void checkpoint_batch(device *d)
{
	engine *eng = d->eng;
	archive_signer s;
	job *j, *batch, *order = NULL;
	unsigned n;
	uint64_t size = 0;
	double t0 = mono_s();
	smk_err e;
	int rc;

	/* the loop looks at the batch (job_generated): taken under the lock */
	pthread_mutex_lock(&eng->lock);
	batch = d->uncovered;
	n = d->uncovered_n;
	d->uncovered = NULL;
	d->uncovered_n = 0;
	pthread_mutex_unlock(&eng->lock);
	if (batch == NULL)
		return;
	worker_signer(d, eng->archive_key_id, eng->archive_pub, &s);
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_sign_checkpoint(eng->arc, &s, &size, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0) {
		log_msg(LOG_ERR, &(log_fields){.device = d->serial},
			"no checkpoint for a batch of %u records: %s", n, e.msg);
		if (is_device_error(&e))
			mark_down(d, &e);
	} else {
		pthread_mutex_lock(&eng->lock);
		average(&d->commit_s, (d->batch_s + mono_s() - t0) / n);
		pthread_mutex_unlock(&eng->lock);
		log_msg(LOG_DEBUG, &(log_fields){.device = d->serial},
			"checkpoint over %llu records for a batch of %u", (unsigned long long)size,
			n);
	}
	d->batch_s = 0;
	/* answer in commit order */
	while ((j = batch) != NULL) {
		batch = j->next_batch;
		j->next_batch = order;
		order = j;
	}
	while ((j = order) != NULL) {
		order = j->next_batch;
		j->next_batch = NULL;
		if (rc < 0) {
			j->rc = -1;
			j->err = e;
		}
		engine_post(eng, DONE_COMMITTED, j, ENGINE_ARCHIVED);
	}
}

static int open_session(engine *eng, const char *reader, const smk_pin_source *pin,
			smk_session **out, smk_err *e);

/* Down and idle: try to bring the session back (a reader that was empty at
 * start gets its transport first). A device that comes up while no archive
 * key is usable may be the one that holds it. */
static void try_reopen(device *d)
{
	engine *eng = d->eng;
	smk_err e;
	unsigned max = eng->cfg->retry_max_s ? eng->cfg->retry_max_s : 300;
	unsigned min = eng->cfg->retry_min_s ? eng->cfg->retry_min_s : 2;
	unsigned prev;
	int no_archive, up;

	smk_err_clear(&e);
	if ((d->session || open_session(eng, d->reader, &d->pin, &d->session, &e) == 0) &&
	    session_open(d->session, &e) == 0 && take_identity(d, &e) == 0 &&
	    device_refresh_ids(d, &e) == 0) {
		pthread_mutex_lock(&eng->lock);
		no_archive = eng->archive_dev == NULL;
		pthread_mutex_unlock(&eng->lock);
		if (!no_archive) {
			mark_up(d);
			engine_post_device_up(eng, d); /* its open requests (jobs.c) */
			return;
		}
		/* the device may hold or make the archive key. Until that is
		 * done it is busy and keeps showing why it was down; if it fails
		 * again (recover.c marks it down), it waits longer each time, as
		 * a reopen does */
		pthread_mutex_lock(&eng->lock);
		prev = d->backoff_s;
		d->state = DEVICE_BUSY;
		d->backoff_s = prev * 2 > max ? max : prev * 2 < min ? min : prev * 2;
		pthread_mutex_unlock(&eng->lock);
		recover_archive_late(d);
		pthread_mutex_lock(&eng->lock);
		up = d->state != DEVICE_DOWN;
		pthread_mutex_unlock(&eng->lock);
		if (up)
			mark_up(d);
		return;
	}
	pthread_mutex_lock(&eng->lock);
	snprintf(d->last_error, sizeof(d->last_error), "%s", e.msg);
	d->backoff_s = d->backoff_s * 2 > max ? max : d->backoff_s * 2;
	if (d->backoff_s == 0)
		d->backoff_s = eng->cfg->retry_min_s ? eng->cfg->retry_min_s : 2;
	d->retry_at = time(NULL) + d->backoff_s;
	pthread_mutex_unlock(&eng->lock);
	log_msg(LOG_DEBUG, &(log_fields){.device = d->reader}, "still down: %s", e.msg);
}

static void *worker_main(void *arg)
{
	device *d = arg;
	engine *eng = d->eng;
	task *t;

	pthread_mutex_lock(&eng->lock);
	for (;;) {
		while (!d->stop && d->head == NULL) {
			if (d->uncovered) {
				/* a batch held for more records (batch_due) */
				if (batch_due(eng, d, mono_s())) {
					pthread_mutex_unlock(&eng->lock);
					checkpoint_batch(d);
					pthread_mutex_lock(&eng->lock);
				} else {
					batch_wait(d);
				}
				continue;
			}
			if (d->state == DEVICE_DOWN) {
				struct timespec until = {.tv_sec = d->retry_at};

				/* wake is waited on with CLOCK_REALTIME (the default) */
				if (pthread_cond_timedwait(&d->wake, &eng->lock, &until) ==
				    ETIMEDOUT) {
					pthread_mutex_unlock(&eng->lock);
					try_reopen(d);
					pthread_mutex_lock(&eng->lock);
				}
			} else {
				pthread_cond_wait(&d->wake, &eng->lock);
			}
		}
		if (d->head == NULL && d->uncovered) { /* stopping: cover the batch */
			pthread_mutex_unlock(&eng->lock);
			checkpoint_batch(d);
			pthread_mutex_lock(&eng->lock);
			continue;
		}
		if (d->head == NULL) /* stopping and nothing left */
			break;
		t = d->head;
		d->head = t->next;
		if (d->head == NULL)
			d->tail = NULL;
		if (d->state == DEVICE_UP)
			d->state = DEVICE_BUSY;
		pthread_mutex_unlock(&eng->lock);

		if (t->kind == TASK_GENERATE)
			run_generate(d, t->job);
		else if (t->kind == TASK_READBACK)
			run_readback(d, t->job);
		else if (t->kind == TASK_CARDOP)
			cardop_run(d, t->op);
		else
			run_commit(d, t->job);
		free(t);

		pthread_mutex_lock(&eng->lock);
		/* at BATCH_MAX records a steady stream of commits still gets
		 * its checkpoints; a batch not due yet is held above */
		if (batch_due(eng, d, mono_s())) {
			pthread_mutex_unlock(&eng->lock);
			checkpoint_batch(d);
			pthread_mutex_lock(&eng->lock);
		}
		if (d->state == DEVICE_BUSY)
			d->state = DEVICE_UP;
	}
	pthread_mutex_unlock(&eng->lock);
	return NULL;
}

void worker_push(device *d, task *t, int front)
{
	pthread_mutex_lock(&d->eng->lock);
	t->next = NULL;
	if (d->head == NULL) {
		d->head = d->tail = t;
	} else if (front) {
		/* a commit waits for nothing but the card: it holds the reply of a
		 * key that already exists. It goes after the commits already
		 * queued (first come, first committed), before any generation. */
		task **pp = &d->head;

		while (*pp && (*pp)->kind == TASK_COMMIT)
			pp = &(*pp)->next;
		t->next = *pp;
		*pp = t;
		if (t->next == NULL)
			d->tail = t;
	} else {
		d->tail->next = t;
		d->tail = t;
	}
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->eng->lock);
}

/* ---- finding the devices ---- */

static int pcsc_list(void *ctx, char ***names, size_t *n, smk_err *e)
{
	(void)ctx;
	return pcsc_list_readers(names, n, CARD_OPEN_TIMEOUT_MS, e);
}

static int pcsc_connect(void *ctx, const char *reader, smk_transport **t, smk_err *e)
{
	(void)ctx;
	return pcsc_open(reader, CARD_OPEN_TIMEOUT_MS, t, e);
}

const engine_cards engine_pcsc_cards = {pcsc_list, pcsc_connect, NULL};

static int reader_matches(const config_device *c, const char *reader)
{
	return c->reader == NULL || fnmatch(c->reader, reader, 0) == 0;
}

static int serial_matches(const config_device *c, const devaut_chain *chain)
{
	return c->serial == NULL || strcmp(c->serial, chain->serial) == 0 ||
	       strcmp(c->serial, chain->device_chr) == 0;
}

static int open_session(engine *eng, const char *reader, const smk_pin_source *pin,
			smk_session **out, smk_err *e)
{
	session_config sc;
	smk_transport *t;

	memset(&sc, 0, sizeof(sc));
	sc.trust = &eng->trust;
	sc.pin = pin;
	sc.now = eng->now;
	if (eng->cards.open(eng->cards.ctx, reader, &t, e) < 0)
		return -1;
	return session_new(t, &sc, out, e);
}

/* Which config entry (if any) describes the card in reader. A serial in the
 * config needs the validated chain to compare with, so such a reader is
 * probed first with a session that never sends a PIN: a PIN goes only to the
 * device it was configured for. */
static const config_device *match_reader(engine *eng, const char *reader, smk_err *e)
{
	const config *cfg = eng->cfg;
	const config_device *first = NULL;
	smk_session *probe = NULL;
	const devaut_chain *chain;
	int need_serial = 0;
	size_t i;

	for (i = 0; i < cfg->device_count; i++) {
		if (!reader_matches(&cfg->devices[i], reader))
			continue;
		if (first == NULL)
			first = &cfg->devices[i];
		if (cfg->devices[i].serial)
			need_serial = 1;
	}
	if (first == NULL || !need_serial)
		return first;
	if (open_session(eng, reader, NULL, &probe, e) < 0 || session_open(probe, e) < 0) {
		session_free(probe);
		return NULL;
	}
	chain = session_chain(probe);
	for (i = 0; i < cfg->device_count; i++)
		if (reader_matches(&cfg->devices[i], reader) &&
		    serial_matches(&cfg->devices[i], chain))
			break;
	if (i == cfg->device_count)
		smk_fail(e, SMK_E_MISMATCH, "device %s is not listed in %s", chain->serial,
			 cfg->file);
	session_free(probe);
	return i < cfg->device_count ? &cfg->devices[i] : NULL;
}

static void device_free(device *d)
{
	if (d == NULL)
		return;
	session_free(d->session);
	pin_source_free(&d->pin);
	smk_buf_free(&d->chain_bytes);
	pthread_cond_destroy(&d->wake);
	free(d);
}

static int add_device(engine *eng, const char *reader, const config_device *cfgd, smk_err *e)
{
	char pin_path[4096];
	device *d, **grown;
	smk_err oe;
	size_t i;

	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	d->eng = eng;
	d->cfg = cfgd;
	snprintf(d->reader, sizeof(d->reader), "%s", reader);
	pthread_cond_init(&d->wake, NULL);
	smk_buf_init(&d->chain_bytes);
	if (config_pin_path(cfgd, pin_path, sizeof(pin_path), e) < 0 ||
	    pin_source_file(&d->pin, pin_path, e) < 0) {
		smk_context(e, "reader %s (%s:%u)", reader, eng->cfg->file, cfgd->line);
		device_free(d);
		return -1;
	}
	smk_err_clear(&oe);
	if (open_session(eng, reader, &d->pin, &d->session, &oe) < 0) {
		/* no card in the reader (SMK_E_IO): watch it like a device that
		 * is down, so a card put in later (the archive key's, say) is
		 * taken up by the retry; anything else leaves the reader unused */
		if (oe.code != SMK_E_IO) {
			*e = oe;
			device_free(d);
			return -1;
		}
		session_free(d->session);
		d->session = NULL;
	}
	if (d->session == NULL) {
		d->state = DEVICE_DOWN;
		snprintf(d->last_error, sizeof(d->last_error), "%s", oe.msg);
		d->backoff_s = eng->cfg->retry_min_s;
		d->retry_at = time(NULL) + d->backoff_s;
		log_msg(LOG_INFO, &(log_fields){.device = reader},
			"reader empty at start, watched: %s", oe.msg);
	} else if (session_open(d->session, &oe) < 0 || take_identity(d, &oe) < 0 ||
		   device_refresh_ids(d, &oe) < 0) {
		d->state = DEVICE_DOWN;
		snprintf(d->last_error, sizeof(d->last_error), "%s", oe.msg);
		d->backoff_s = eng->cfg->retry_min_s;
		d->retry_at = time(NULL) + d->backoff_s;
		log_msg(LOG_WARNING, &(log_fields){.device = reader}, "device down at start: %s",
			oe.msg);
	} else {
		for (i = 0; i < eng->device_count; i++) {
			if (strcmp(eng->devices[i]->serial, d->serial) == 0) {
				smk_fail(e, SMK_E_MISMATCH, "device %s is in readers %s and %s",
					 d->serial, eng->devices[i]->reader, reader);
				device_free(d);
				return -1;
			}
		}
		d->state = DEVICE_UP;
		log_msg(LOG_INFO, &(log_fields){.device = d->serial}, "device %s up in reader %s",
			d->devaut_chr, reader);
	}
	grown = realloc(eng->devices, (eng->device_count + 1) * sizeof(*grown));
	if (grown == NULL) {
		device_free(d);
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	}
	eng->devices = grown;
	d->index = eng->device_count;
	eng->devices[eng->device_count++] = d;
	return 0;
}

int workers_discover(engine *eng, smk_err *e)
{
	const config_device *cfgd;
	char **names = NULL;
	size_t n = 0, i, up;
	smk_err re;

	if (eng->cards.list(eng->cards.ctx, &names, &n, e) < 0)
		return smk_context(e, "listing card readers");
	for (i = 0; i < n; i++) {
		smk_err_clear(&re);
		cfgd = match_reader(eng, names[i], &re);
		if (cfgd == NULL) {
			if (re.msg[0])
				log_msg(LOG_INFO, &(log_fields){.device = names[i]},
					"reader not used: %s", re.msg);
			continue;
		}
		/* an empty reader is normal; anything else is worth a look */
		if (add_device(eng, names[i], cfgd, &re) < 0)
			log_msg(re.code == SMK_E_IO ? LOG_INFO : LOG_ERR,
				&(log_fields){.device = names[i]}, "reader not used: %s", re.msg);
	}
	pcsc_free_names(names);
	for (i = 0, up = 0; i < eng->device_count; i++)
		up += eng->devices[i]->state != DEVICE_DOWN;
	if (up == 0)
		log_warn("no HSM up in %zu reader(s); Generate answers DeviceUnavailable until "
			 "one comes up",
			 n);
	return 0;
}

int workers_start(engine *eng, smk_err *e)
{
	size_t i;
	int rc;

	for (i = 0; i < eng->device_count; i++) {
		device *d = eng->devices[i];

		rc = pthread_create(&d->thread, NULL, worker_main, d);
		if (rc != 0)
			return smk_fail(e, SMK_E_NOMEM, "worker thread for %s: %s", d->reader,
					strerror(rc));
		d->thread_started = 1;
	}
	return 0;
}

void workers_stop(engine *eng)
{
	size_t i;

	pthread_mutex_lock(&eng->lock);
	for (i = 0; i < eng->device_count; i++) {
		eng->devices[i]->stop = 1;
		pthread_cond_signal(&eng->devices[i]->wake);
	}
	pthread_mutex_unlock(&eng->lock);
	for (i = 0; i < eng->device_count; i++) {
		if (eng->devices[i]->thread_started)
			pthread_join(eng->devices[i]->thread, NULL);
		device_free(eng->devices[i]);
	}
	free(eng->devices);
	eng->devices = NULL;
	eng->device_count = 0;
}
