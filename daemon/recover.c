/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Start-up work that must happen before the first request: the archive
 * signing key, and reconciliation of every intent without an outcome
 * (docs/design.md step 6). It runs on the main thread before the workers start,
 * so it uses the device sessions directly.
 *
 * The intent in the archive says who asked and under which policy; the
 * sidecar written next to it (<archive>.pending/<request id>.json) says
 * where the key was going: device, key id and label. The sidecar is written
 * before the job reaches a worker, so an intent without one never reached a
 * card and simply failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../archive/record.h"
#include "../sm/alg.h"
#include "../sm/curves.h"
#include "daemon.h"
#include "log.h"

#define ARCHIVE_KEY_LABEL "smkeyd-archive"

/* ---- helpers ---- */

/* At start (only NULL): any device that is up. Later, from one worker
 * thread (only: its device): that device alone, whose session this thread
 * owns; every other device's session belongs to its own worker. */
static device *device_by_serial(engine *eng, device *only, const char *serial)
{
	size_t i;

	if (only)
		return strcmp(only->serial, serial) == 0 ? only : NULL;
	for (i = 0; i < eng->device_count; i++)
		if (eng->devices[i]->state != DEVICE_DOWN &&
		    strcmp(eng->devices[i]->serial, serial) == 0)
			return eng->devices[i];
	return NULL;
}

static void fail_intent(engine *eng, const char *request_id, const char *reason)
{
	smk_err e;

	if (archive_fail(eng->arc, request_id, reason, &e) < 0) {
		log_msg(LOG_ERR, &(log_fields){.request_id = request_id},
			"cannot record the failure: %s", e.msg);
		return;
	}
	pending_remove(eng, request_id);
	log_msg(strncmp(reason, ARCHIVE_REFUSED_PREFIX, strlen(ARCHIVE_REFUSED_PREFIX)) == 0
		    ? LOG_ERR
		    : LOG_WARNING,
		&(log_fields){.request_id = request_id, .outcome = "failed"},
		"interrupted request closed: %s", reason);
}

/* deferred: the record alone (group commit); recover_pending signs one
 * checkpoint over all of them at the end */
static int commit_key(engine *eng, const archive_signer *signer, const char *request_id,
		      const char *label, const smk_buf *chain, const smk_buf *cvreq,
		      const smk_buf *spki, const archive_card_facts *card, int deferred,
		      uint64_t *seq, smk_err *e)
{
	archive_commit_req req;

	memset(&req, 0, sizeof(req));
	req.request_id = request_id;
	req.label = label;
	req.device_chain = chain->data;
	req.device_chain_len = chain->len;
	req.sm_used = 1;
	req.cvreq = cvreq->data;
	req.cvreq_len = cvreq->len;
	req.spki = spki->data;
	req.spki_len = spki->len;
	req.card = card;
	return deferred ? archive_commit_record(eng->arc, signer, &req, seq, e)
			: archive_commit(eng->arc, signer, &req, seq, e);
}

int recover_intent_want(engine *eng, const char *request_id, archive_policy_key *want, smk_err *e)
{
	smk_buf doc = SMK_BUF_INIT;
	int rc = archive_intent_policy(eng->arc, request_id, &doc, e) < 0 ||
			 archive_policy_key_of(doc.data, doc.len, want, e) < 0
		     ? -1
		     : 0;

	smk_buf_free(&doc);
	return rc;
}

static void list_text(const uint8_t *algs, size_t n, char *out, size_t cap)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < n && used < cap; i++) {
		int k = snprintf(out + used, cap - used, "%s%02X", i ? " " : "", algs[i]);

		if (k < 0)
			return;
		used += (size_t)k;
	}
	if (n == 0)
		snprintf(out, cap, "none (unrestricted)");
}

int recover_key_wanted(const archive_policy_key *want, const chain_attested *att,
		       const archive_card_facts *card, smk_err *why)
{
	char got[48], asked[48], l1[64], l2[64];

	if (want->rsa)
		snprintf(asked, sizeof(asked), "RSA-%u", want->bits);
	else
		snprintf(asked, sizeof(asked), "EC %s", want->curve);
	if (att->type == SMK_KEY_RSA)
		snprintf(got, sizeof(got), "RSA-%u", att->bits);
	else
		snprintf(got, sizeof(got), "EC %s", att->curve ? att->curve->name : "(no curve)");
	if (strcmp(got, asked) != 0)
		return smk_fail(why, SMK_E_MISMATCH,
				ARCHIVE_REFUSED_PREFIX
				"the key is %s, the intent's policy asks for %s",
				got, asked);
	if (card && card->algs_reported &&
	    (card->alg_count != want->alg_count ||
	     memcmp(card->algs, want->algs, want->alg_count) != 0)) {
		list_text(card->algs, card->alg_count, l1, sizeof(l1));
		list_text(want->algs, want->alg_count, l2, sizeof(l2));
		return smk_fail(why, SMK_E_MISMATCH,
				ARCHIVE_REFUSED_PREFIX "the card reports the algorithm list %s, "
						       "the intent's policy asks for %s",
				l1, l2);
	}
	return 0;
}

/* A key read back that is not what its intent asked for: it vouches for
 * nothing, so it is deleted from the card, said loudly, and why names it. */
static void refuse_key(device *d, unsigned key_id, smk_err *why)
{
	char reason[sizeof(why->msg)];
	smk_err del;
	int deleted = session_delete_key(d->session, (uint8_t)key_id, &del) == 0;

	snprintf(reason, sizeof(reason), "%s", why->msg);
	smk_fail(why, SMK_E_MISMATCH, "%s (key %u on %s, read back from CE|%02X; %s)", reason,
		 key_id, d->serial, key_id, deleted ? "deleted" : "NOT deleted");
	if (!deleted)
		smk_context(why, "delete: %s", del.msg);
	log_msg(LOG_ERR, &(log_fields){.device = d->serial}, "key refused, not archived: %s",
		why->msg);
}

int recover_read_key(device *d, unsigned key_id, const char *chr_want,
		     const archive_policy_key *want, smk_buf *cvreq, chain_attested *att,
		     archive_card_facts *card, smk_err *why)
{
	char chr[ARCHIVE_CHR_LEN + 1];
	smk_err e;

	smk_buf_reset(cvreq);
	memset(card, 0, sizeof(*card));
	if (session_read_cvreq(d->session, (uint8_t)key_id, cvreq, &e) < 0) {
		if (e.code != SMK_E_CARD) {
			*why = e; /* cannot tell now */
			return -1;
		}
		smk_fail(why, SMK_E_CARD, "interrupted before the card made key %u (CE|%02X: %s)",
			 key_id, key_id, e.msg);
		return 0;
	}
	/* someone else's key: never ours to archive, never ours to delete */
	if (archive_cvreq_chr(cvreq->data, cvreq->len, chr, &e) < 0) {
		smk_fail(why, SMK_E_MISMATCH, "key id %u on %s holds no request of ours (%s)",
			 key_id, d->serial, e.msg);
		return 0;
	}
	if (strcmp(chr, chr_want) != 0) {
		smk_fail(why, SMK_E_MISMATCH, "key id %u on %s holds another key (CHR %s)", key_id,
			 d->serial, chr);
		return 0;
	}
	if (session_check_cvreq(d->session, NULL, cvreq->data, cvreq->len, att, &e) < 0) {
		smk_err del;

		/* ours by CHR but not provably made by this device: no record may
		 * vouch for it, so it must not stay on the card */
		smk_fail(why, SMK_E_SIGNATURE, "key %u: request does not verify: %s", key_id,
			 e.msg);
		if (session_delete_key(d->session, (uint8_t)key_id, &del) < 0)
			smk_context(why, "key NOT deleted (%s)", del.msg);
		return 0;
	}
	/* the CHR proves the request was made with our CHR, not with our list:
	 * the key must be what the intent asked for, and the list the card
	 * reports (if it does) the policy's */
	card->cvreq_from = ARCHIVE_CVREQ_RECOVERED;
	card_facts_algs(d, key_id, 1, card);
	if (recover_key_wanted(want, att, card, why) < 0) {
		chain_attested_free(att);
		refuse_key(d, key_id, why);
		return 0;
	}
	card_facts_domains(d, card);
	return 1;
}

/* What CE|id of the intent's device holds. 1: a verified request of ours in
 * cvreq/att; 0: the intent is closed as failed here; -1: cannot tell now
 * (device down): leave it open. */
static int read_back(engine *eng, device *only, const archive_intent_info *in,
		     const pending_file *sc, device **dev, smk_buf *cvreq, chain_attested *att,
		     archive_card_facts *card)
{
	device *d = device_by_serial(eng, only, sc->device);
	archive_policy_key want;
	smk_err why;
	int rc;

	*dev = d;
	if (d == NULL) {
		log_msg(LOG_WARNING,
			&(log_fields){in->request_id, in->policy_name, sc->device, NULL},
			"interrupted request left open: device not up");
		return -1;
	}
	if (recover_intent_want(eng, in->request_id, &want, &why) < 0) {
		log_msg(LOG_ERR, &(log_fields){in->request_id, in->policy_name, sc->device, NULL},
			"interrupted request left open: its policy is unreadable: %s", why.msg);
		return -1;
	}
	rc = recover_read_key(d, sc->key_id, in->chr, &want, cvreq, att, card, &why);
	if (rc < 0)
		log_msg(LOG_WARNING,
			&(log_fields){in->request_id, in->policy_name, sc->device, NULL},
			"interrupted request left open: %s", why.msg);
	else if (rc == 0)
		fail_intent(eng, in->request_id, why.msg);
	return rc;
}

/* ---- the archive key ---- */

/* Under eng->lock: why no archive key is usable (loop threads read it in
 * DeviceUnavailable answers). */
static void set_archive_error(engine *eng, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_archive_error(engine *eng, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&eng->lock);
	va_start(ap, fmt);
	vsnprintf(eng->archive_error, sizeof(eng->archive_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&eng->lock);
}

/* Record 0 names the archive key: its device serial, key id and public key.
 * *home is the device (only, or any device up at start) whose card holds
 * that very key, checked through the card's own attested CV request; NULL
 * when none does, and eng->archive_error says why. */
static int load_archive_key(engine *eng, device *only, device **home, smk_err *e)
{
	smk_buf canon = SMK_BUF_INIT, sig = SMK_BUF_INIT, cvreq = SMK_BUF_INIT;
	archive_record r;
	chain_attested att;
	const unsigned char *p;
	EVP_PKEY *pub;
	device *d;
	int rc = -1;

	*home = NULL;
	memset(&r, 0, sizeof(r));
	memset(&att, 0, sizeof(att));
	if (archive_get(eng->arc, 0, &canon, &sig, e) < 0 ||
	    archive_record_parse(canon.data, canon.len, &r, e) < 0)
		goto out;
	if (eng->archive_pub == NULL) {
		p = r.spki.data;
		pub = d2i_PUBKEY(NULL, &p, (long)r.spki.len);
		if (pub == NULL) {
			smk_fail(e, SMK_E_FORMAT, "record 0: archive key is not a public key");
			goto out;
		}
		pthread_mutex_lock(&eng->lock);
		eng->archive_pub = pub;
		pthread_mutex_unlock(&eng->lock);
	}
	d = device_by_serial(eng, only, r.device_serial);
	if (d == NULL) {
		rc = 0;
		if (only == NULL)
			set_archive_error(eng, "the archive key's device %s is not up",
					  r.device_serial);
		goto out;
	}
	if (eng->cfg->archive_key_device && strncmp(eng->cfg->archive_key_device, r.device_serial,
						    strlen(eng->cfg->archive_key_device)) != 0)
		log_warn("config names archive-key device %s, but the archive's key is on %s",
			 eng->cfg->archive_key_device, r.device_serial);
	/* the key in record 0 must be the key on the card, or every record we
	 * sign would fail verification: the key id alone proves nothing */
	if (session_read_cvreq(d->session, (uint8_t)r.key_id, &cvreq, e) < 0 ||
	    session_check_cvreq(d->session, NULL, cvreq.data, cvreq.len, &att, e) < 0) {
		set_archive_error(eng, "archive key %u on %s: %s", r.key_id, d->serial, e->msg);
		log_warn("%s", eng->archive_error);
		rc = 0;
		goto out;
	}
	if (att.spki.len != r.spki.len || memcmp(att.spki.data, r.spki.data, r.spki.len) != 0) {
		set_archive_error(eng, "key %u on %s is not the archive key of record 0", r.key_id,
				  d->serial);
		log_warn("%s", eng->archive_error);
		rc = 0;
		goto out;
	}
	pthread_mutex_lock(&eng->lock);
	eng->archive_key_id = (uint8_t)r.key_id;
	pthread_mutex_unlock(&eng->lock);
	*home = d;
	log_msg(LOG_INFO, &(log_fields){.device = d->serial}, "archive key: key %u", r.key_id);
	rc = 0;
out:
	if (rc < 0)
		set_archive_error(eng, "%s", e->msg);
	chain_attested_free(&att);
	archive_record_free(&r);
	smk_buf_free(&canon);
	smk_buf_free(&sig);
	smk_buf_free(&cvreq);
	return rc;
}

static unsigned lowest_free_id(device *d)
{
	unsigned id;

	for (id = 1; id <= 255; id++)
		if (!device_id_used(d->used_ids, id))
			return id;
	return 0;
}

static int may_hold_archive_key(const engine *eng, const device *d)
{
	return eng->cfg->archive_key_device == NULL ||
	       strcmp(eng->cfg->archive_key_device, d->serial) == 0 ||
	       strcmp(eng->cfg->archive_key_device, d->devaut_chr) == 0;
}

/* Where a new archive key goes: the configured device, else the first up. */
static device *archive_key_home(engine *eng, device *only)
{
	size_t i;

	if (only)
		return may_hold_archive_key(eng, only) ? only : NULL;
	for (i = 0; i < eng->device_count; i++) {
		device *d = eng->devices[i];

		if (d->state != DEVICE_DOWN && may_hold_archive_key(eng, d))
			return d;
	}
	return NULL;
}

/* Making the archive key failed on d for a reason of d's own (the card
 * refused, the link or SM failed, no free key id): the service stays up.
 * d goes down with the reason (ListDevices, the log), Generate answers
 * DeviceUnavailable with it, and d is retried as any device that is down;
 * once it comes back, recover_archive_late tries again (and first settles an
 * intent left open here by reading CE|id back). */
static int archive_key_device_failed(engine *eng, device *d, smk_err *e)
{
	smk_context(e, "creating the archive key on %s", d->serial);
	set_archive_error(eng, "%s", e->msg);
	device_mark_down(d, e);
	smk_err_clear(e);
	return 0;
}

/* First start: the archive key is made in the HSM under the built-in
 * sign-only policy and becomes record 0, signed by itself. */
static int create_archive_key(engine *eng, device *only, device **home, smk_err *e)
{
	smk_buf doc = SMK_BUF_INIT;
	archive_intent_req ir;
	archive_intent_info info;
	session_keygen g;
	session_key key;
	archive_signer s;
	archive_card_facts card;
	char exe[256];
	device *d = archive_key_home(eng, only);
	const smk_alg *alg = alg_by_name("ecdsa-sha256");
	unsigned key_id;
	uint64_t seq;
	ssize_t n;
	int rc = -1;

	*home = NULL;
	memset(&key, 0, sizeof(key));
	if (d == NULL) {
		if (only)
			return 0; /* not this device: the message from start stands */
		if (eng->cfg->archive_key_device)
			set_archive_error(eng, "no archive key yet and its device %s is not up",
					  eng->cfg->archive_key_device);
		else
			set_archive_error(eng, "no archive key yet and no device is up to make it");
		log_warn("%s; Generate answers DeviceUnavailable until it comes up",
			 eng->archive_error);
		return 0;
	}
	if ((key_id = lowest_free_id(d)) == 0) {
		smk_fail(e, SMK_E_CARD, "no free key id on the card");
		return archive_key_device_failed(eng, d, e);
	}
	if (archive_key_policy(&doc, e) < 0)
		return -1;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	memset(&ir, 0, sizeof(ir));
	ir.kind = ARCHIVE_KIND_ARCHIVE_KEY;
	ir.peer.uid = getuid();
	ir.peer.gid = getgid();
	ir.peer.pid = getpid();
	ir.peer.exe = exe[0] ? exe : NULL;
	ir.policy_name = ARCHIVE_KEY_POLICY_NAME;
	ir.policy_doc = doc.data;
	ir.policy_doc_len = doc.len;
	ir.device_serial = d->serial;
	ir.devaut_chr = d->devaut_chr;
	ir.key_id = key_id;
	if (archive_intent(eng->arc, &ir, &info, e) < 0 ||
	    pending_write(eng, info.request_id, ARCHIVE_KEY_LABEL, d->serial, key_id, e) < 0)
		goto out;
	memset(&g, 0, sizeof(g));
	g.spec.type = SMK_KEY_EC;
	g.spec.curve = curve_by_name("secp256r1");
	g.spec.algs[0] = alg->id;
	g.spec.alg_count = 1;
	snprintf(g.spec.chr, sizeof(g.spec.chr), "%s", info.chr);
	/* the built-in policy has no car: the default, as for every policy */
	snprintf(g.spec.car, sizeof(g.spec.car), "%s", POLICY_CAR_DEFAULT);
	g.key_id = (uint8_t)key_id;
	g.label = ARCHIVE_KEY_LABEL;
	if (session_generate(d->session, &g, &key, e) < 0 && key.key_id == 0) {
		if (key.gakp_sent && e->code != SMK_E_CARD && e->code != SMK_E_ARG &&
		    e->code != SMK_E_MISMATCH && e->code != SMK_E_SIGNATURE) {
			/* the answer to GAKP was lost or came in plain: the card may
			 * hold the key. The intent and its sidecar stay; the next
			 * attempt reads CE|id back before anything else */
			log_msg(LOG_WARNING,
				&(log_fields){.request_id = info.request_id, .device = d->serial},
				"archive key: GAKP answer not taken (%s); the request stays open "
				"until key %u is read back",
				e->msg, key_id);
		} else {
			fail_intent(eng, info.request_id, e->msg);
		}
		rc = archive_key_device_failed(eng, d, e);
		goto out;
	}
	pthread_mutex_lock(&eng->lock);
	device_id_set(d->used_ids, key_id, 1);
	pthread_mutex_unlock(&eng->lock);
	memset(&card, 0, sizeof(card));
	card.cvreq_from = ARCHIVE_CVREQ_GAKP;
	card_facts_algs(d, key_id, 0, &card);
	if (card.algs_reported && (card.alg_count != 1 || card.algs[0] != alg->id)) {
		smk_err why, del;

		/* the archive key must be sign-only, or nothing it signs means
		 * anything: never archived otherwise */
		smk_fail(&why, SMK_E_MISMATCH,
			 ARCHIVE_REFUSED_PREFIX "the card reports an algorithm list other than "
						"the archive key's sign-only one; key %u %s",
			 key_id,
			 session_delete_key(d->session, (uint8_t)key_id, &del) == 0
			     ? "deleted"
			     : "NOT deleted");
		fail_intent(eng, info.request_id, why.msg);
		*e = why;
		goto out;
	}
	card_facts_domains(d, &card);
	commit_signer(d, (uint8_t)key_id, key.att.key, &s);
	if (commit_key(eng, &s, info.request_id, ARCHIVE_KEY_LABEL, &d->chain_bytes, &key.cvreq,
		       &key.att.spki, &card, 0, &seq, e) < 0) {
		/* the key is on the card and the intent open: read back next time */
		rc = archive_key_device_failed(eng, d, e);
		goto out;
	}
	pending_remove(eng, info.request_id);
	if (EVP_PKEY_up_ref(key.att.key) != 1) {
		smk_fail(e, SMK_E_CRYPTO, "archive key: reference");
		goto out;
	}
	pthread_mutex_lock(&eng->lock);
	EVP_PKEY_free(eng->archive_pub);
	eng->archive_pub = key.att.key;
	pthread_mutex_unlock(&eng->lock);
	*home = d;
	log_msg(LOG_INFO,
		&(log_fields){info.request_id, ARCHIVE_KEY_POLICY_NAME, d->serial, "committed"},
		"archive key created: key %u, record %llu", key_id, (unsigned long long)seq);
	rc = 0;
out:
	if (rc < 0)
		smk_context(e, "creating the archive key on %s", d->serial);
	session_key_free(&key);
	smk_buf_free(&doc);
	return rc;
}

/* Is an archive-key intent open (its key may be on a card)? */
static int archive_key_intent_open(engine *eng)
{
	archive_intent_info *list = NULL;
	size_t n = 0, i;
	smk_err e;
	int open = 1; /* cannot tell: assume so */

	if (archive_pending(eng->arc, &list, &n, &e) == 0)
		for (i = 0, open = 0; i < n && !open; i++)
			open = strcmp(list[i].kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0;
	free(list);
	return open;
}

/* An archive-key intent left open by a crash during the first start. */
static int recover_archive_key_intent(engine *eng, device *only, const archive_intent_info *in,
				      smk_err *e)
{
	smk_buf cvreq = SMK_BUF_INIT;
	chain_attested att;
	archive_card_facts card;
	archive_signer s;
	pending_file sc;
	device *d;
	uint64_t seq;
	int rc;

	memset(&att, 0, sizeof(att));
	rc = pending_read(eng, in->request_id, &sc, e);
	if (rc <= 0) {
		fail_intent(eng, in->request_id,
			    rc == 0 ? "interrupted before the card was asked" : e->msg);
		return 0;
	}
	if (only && strcmp(only->serial, sc.device) != 0)
		return 0; /* another device's: its start decides */
	rc = 0;
	if (read_back(eng, only, in, &sc, &d, &cvreq, &att, &card) == 1) {
		commit_signer(d, (uint8_t)sc.key_id, att.key, &s);
		if (commit_key(eng, &s, in->request_id, sc.label, &d->chain_bytes, &cvreq,
			       &att.spki, &card, 0, &seq, e) < 0) {
			rc = -1;
		} else {
			pending_remove(eng, in->request_id);
			log_msg(
			    LOG_INFO,
			    &(log_fields){in->request_id, in->policy_name, d->serial, "recovered"},
			    "archive key %u recovered from CE|%02X as record %llu", sc.key_id,
			    sc.key_id, (unsigned long long)seq);
		}
	}
	chain_attested_free(&att);
	smk_buf_free(&cvreq);
	return rc;
}

/* The archive key on only (NULL: on any device up at start): recovered
 * from an interrupted first start, made if the archive is empty, or found
 * and checked against record 0. *home: its device, or NULL. */
static int find_archive_key(engine *eng, device *only, device **home, smk_err *e)
{
	archive_intent_info *list = NULL;
	uint64_t size;
	size_t n = 0, i;
	int rc = 0;

	*home = NULL;
	smk_err_clear(e);
	if (archive_size(eng->arc, &size, e) < 0)
		return -1;
	if (size == 0) {
		if (archive_pending(eng->arc, &list, &n, e) < 0)
			return -1;
		for (i = 0; i < n && rc == 0; i++)
			if (strcmp(list[i].kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0)
				rc = recover_archive_key_intent(eng, only, &list[i], e);
		free(list);
		if (rc < 0 || archive_size(eng->arc, &size, e) < 0)
			return -1;
	}
	if (size == 0) {
		/* a device that fails to make it is down now; the next device up
		 * (none configured) tries, unless the key may already be on the
		 * failed one (an intent left open for its read-back) */
		do {
			if (create_archive_key(eng, only, home, e) < 0)
				return -1;
		} while (*home == NULL && only == NULL && archive_key_home(eng, NULL) != NULL &&
			 !archive_key_intent_open(eng));
		return 0;
	}
	return load_archive_key(eng, only, home, e);
}

int recover_archive_key(engine *eng, smk_err *e)
{
	device *home;

	if (find_archive_key(eng, NULL, &home, e) < 0)
		return -1;
	eng->archive_dev = home; /* before the workers run: no other thread yet */
	return 0;
}

/* A sidecar is written after its intent, so at start one whose intent is
 * no longer open is left over: the daemon stopped between the record's
 * commit and the sidecar's removal. */
static void sweep_sidecars(engine *eng)
{
	archive_intent_info *list = NULL;
	struct dirent *de;
	char id[ARCHIVE_REQUEST_ID_LEN + 1];
	size_t n = 0, i, len;
	smk_err e;
	DIR *dir;

	if (archive_pending(eng->arc, &list, &n, &e) < 0) {
		log_warn("pending files not checked: %s", e.msg);
		return;
	}
	dir = opendir(eng->pending_dir);
	while (dir && (de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		if (len != ARCHIVE_REQUEST_ID_LEN + 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		memcpy(id, de->d_name, ARCHIVE_REQUEST_ID_LEN);
		id[ARCHIVE_REQUEST_ID_LEN] = '\0';
		for (i = 0; i < n && strcmp(list[i].request_id, id) != 0; i++)
			;
		if (i == n) {
			log_msg(LOG_INFO, &(log_fields){.request_id = id},
				"pending file of a closed request removed");
			pending_remove(eng, id);
		}
	}
	if (dir)
		closedir(dir);
	free(list);
}

/* Records committed after the latest checkpoint (the daemon stopped between
 * a record and its checkpoint, or recovery committed some just now): one
 * checkpoint by the archive key on adev covers them before the first
 * request. Without the archive key they stay uncovered, which smkey audit
 * reports as a note, until its device comes up (recover_archive_late). */
static void recover_checkpoint(engine *eng, device *adev)
{
	archive_signer s;
	smk_buf note = SMK_BUF_INIT;
	uint64_t size = 0, covered = 0;
	smk_err e;

	if (archive_size(eng->arc, &size, &e) < 0) {
		log_err("archive checkpoint not checked: %s", e.msg);
		return;
	}
	if (size == 0)
		return; /* nothing to cover, and no checkpoint yet */
	if (archive_latest_checkpoint(eng->arc, &note, &covered, &e) < 0) {
		log_err("archive checkpoint not checked: %s", e.msg);
		smk_buf_free(&note);
		return;
	}
	smk_buf_free(&note);
	if (covered >= size)
		return;
	if (adev == NULL) {
		log_warn("records %llu..%llu are not covered by a checkpoint: %s",
			 (unsigned long long)covered, (unsigned long long)size - 1,
			 eng->archive_error);
		return;
	}
	commit_signer(adev, eng->archive_key_id, eng->archive_pub, &s);
	if (archive_sign_checkpoint(eng->arc, &s, &size, &e) < 0)
		log_err("records %llu..%llu left without a checkpoint: %s",
			(unsigned long long)covered, (unsigned long long)size - 1, e.msg);
	else
		log_msg(LOG_INFO, &(log_fields){.device = adev->serial},
			"checkpoint signed: covers records %llu..%llu as well",
			(unsigned long long)covered, (unsigned long long)size - 1);
}

/* A key found on its card at start, for an intent that could not be
 * committed because no archive key was up: what the record needs, kept
 * until the archive key's device comes up (recover_archive_late commits it
 * then, without the key's own device, whose session is its worker's). */
struct found_key {
	SLIST_ENTRY(found_key) next;
	char request_id[ARCHIVE_REQUEST_ID_LEN + 1];
	char policy[128];
	char serial[CVC_REF_MAX + 1];
	char label[POLICY_LABEL_MAX + 1];
	unsigned key_id;
	smk_buf chain, cvreq, spki;
	archive_card_facts card;
};

static void found_free(struct found_key *f)
{
	smk_buf_free(&f->chain);
	smk_buf_free(&f->cvreq);
	smk_buf_free(&f->spki);
	free(f);
}

void recover_found_free(engine *eng)
{
	struct found_key *f;

	while ((f = SLIST_FIRST(&eng->found)) != NULL) {
		SLIST_REMOVE_HEAD(&eng->found, next);
		found_free(f);
	}
}

static void found_keep(engine *eng, const archive_intent_info *in, const pending_file *sc,
		       const device *d, const smk_buf *cvreq, const chain_attested *att,
		       const archive_card_facts *card)
{
	struct found_key *f = calloc(1, sizeof(*f));

	if (f == NULL || smk_buf_add(&f->chain, d->chain_bytes.data, d->chain_bytes.len) < 0 ||
	    smk_buf_add(&f->cvreq, cvreq->data, cvreq->len) < 0 ||
	    smk_buf_add(&f->spki, att->spki.data, att->spki.len) < 0) {
		if (f)
			found_free(f);
		return; /* the intent stays open: the next start reads it back */
	}
	snprintf(f->request_id, sizeof(f->request_id), "%s", in->request_id);
	snprintf(f->policy, sizeof(f->policy), "%s", in->policy_name);
	snprintf(f->serial, sizeof(f->serial), "%s", d->serial);
	snprintf(f->label, sizeof(f->label), "%s", sc->label);
	f->key_id = sc->key_id;
	f->card = *card;
	SLIST_INSERT_HEAD(&eng->found, f, next);
}

/* Commit the key of an open intent through the archive key on adev
 * (deferred: recover_checkpoint covers the records afterwards). */
static void commit_found(engine *eng, device *adev, const char *request_id, const char *pol,
			 const char *serial, const char *label, unsigned key_id,
			 const smk_buf *chain, const smk_buf *cvreq, const smk_buf *spki,
			 const archive_card_facts *card)
{
	archive_signer s;
	uint64_t seq;
	smk_err e;

	commit_signer(adev, eng->archive_key_id, eng->archive_pub, &s);
	if (commit_key(eng, &s, request_id, label, chain, cvreq, spki, card, 1, &seq, &e) < 0) {
		log_msg(LOG_ERR, &(log_fields){request_id, pol, serial, NULL},
			"key %u found, cannot commit: %s", key_id, e.msg);
		return;
	}
	pending_remove(eng, request_id);
	log_msg(LOG_INFO, &(log_fields){request_id, pol, serial, "recovered"},
		"key %u \"%s\" recovered from CE|%02X as record %llu (%s)", key_id, label, key_id,
		(unsigned long long)seq,
		card->algs_reported ? "the card confirmed the algorithm list"
				    : "the algorithm list rests on the intent and the CHR only");
}

/* Open key intents: read back from the card (only: on that device alone)
 * and committed through the archive key on adev; without adev a key found
 * is kept in eng->found for later. */
static int recover_intents(engine *eng, device *only, device *adev, smk_err *e)
{
	archive_intent_info *list = NULL;
	smk_buf cvreq = SMK_BUF_INIT;
	chain_attested att;
	archive_card_facts card;
	pending_file sc;
	device *d;
	size_t n = 0, i;
	int rc;

	if (archive_pending(eng->arc, &list, &n, e) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		const archive_intent_info *in = &list[i];
		smk_err ie;

		if (strcmp(in->kind, ARCHIVE_KIND_KEY) != 0)
			continue; /* an archive-key intent only matters before record 0 */
		rc = pending_read(eng, in->request_id, &sc, &ie);
		if (rc <= 0) {
			fail_intent(eng, in->request_id,
				    rc == 0 ? "interrupted before the card was asked" : ie.msg);
			continue;
		}
		if (only && strcmp(only->serial, sc.device) != 0)
			continue; /* kept in eng->found, or its device was down too */
		memset(&att, 0, sizeof(att));
		smk_buf_reset(&cvreq);
		if (read_back(eng, only, in, &sc, &d, &cvreq, &att, &card) == 1) {
			if (adev == NULL) {
				log_msg(
				    LOG_WARNING,
				    &(log_fields){in->request_id, in->policy_name, d->serial, NULL},
				    "key %u found, left open until the archive key is up: %s",
				    sc.key_id, eng->archive_error);
				found_keep(eng, in, &sc, d, &cvreq, &att, &card);
			} else {
				commit_found(eng, adev, in->request_id, in->policy_name, d->serial,
					     sc.label, sc.key_id, &d->chain_bytes, &cvreq,
					     &att.spki, &card);
				pthread_mutex_lock(&eng->lock);
				device_id_set(d->used_ids, sc.key_id, 1);
				pthread_mutex_unlock(&eng->lock);
			}
		}
		chain_attested_free(&att);
	}
	smk_buf_free(&cvreq);
	free(list);
	return 0;
}

int recover_pending(engine *eng, smk_err *e)
{
	if (recover_intents(eng, NULL, eng->archive_dev, e) < 0)
		return -1;
	sweep_sidecars(eng);
	recover_checkpoint(eng, eng->archive_dev);
	return 0;
}

/* Is the intent still open? A key kept since start may have been closed
 * meanwhile only by this function, but check: a record must never be
 * committed twice. */
static int intent_open(engine *eng, const char *request_id)
{
	archive_intent_info *list = NULL;
	size_t n = 0, i;
	smk_err e;
	int open = 0;

	if (archive_pending(eng->arc, &list, &n, &e) < 0)
		return 0;
	for (i = 0; i < n && !open; i++)
		open = strcmp(list[i].request_id, request_id) == 0;
	free(list);
	return open;
}

void recover_archive_late(device *d)
{
	engine *eng = d->eng;
	struct found_key *f;
	device *home = NULL;
	smk_err e;
	int skip;

	/* the archive lock first, then eng->lock inside it (daemon.h): the
	 * archive lock is held for the whole catch-up, so two devices coming
	 * up together cannot both make or claim the archive key */
	pthread_mutex_lock(&eng->archive_lock);
	pthread_mutex_lock(&eng->lock);
	skip = eng->archive_dev != NULL || eng->shutting_down;
	pthread_mutex_unlock(&eng->lock);
	if (skip)
		goto out;
	if (find_archive_key(eng, d, &home, &e) < 0) {
		log_msg(LOG_ERR, &(log_fields){.device = d->serial}, "archive key not taken up: %s",
			e.msg);
		goto out;
	}
	if (home == NULL)
		goto out;
	/* what start-up skipped for want of the archive key: keys found on
	 * other devices then, keys on this one now, then one checkpoint */
	while ((f = SLIST_FIRST(&eng->found)) != NULL) {
		SLIST_REMOVE_HEAD(&eng->found, next);
		if (intent_open(eng, f->request_id))
			commit_found(eng, d, f->request_id, f->policy, f->serial, f->label,
				     f->key_id, &f->chain, &f->cvreq, &f->spki, &f->card);
		found_free(f);
	}
	if (recover_intents(eng, d, d, &e) < 0)
		log_msg(LOG_ERR, &(log_fields){.device = d->serial},
			"interrupted requests not checked: %s", e.msg);
	recover_checkpoint(eng, d);
	pthread_mutex_lock(&eng->lock);
	eng->archive_dev = d;
	eng->archive_error[0] = '\0';
	pthread_mutex_unlock(&eng->lock);
	log_msg(LOG_NOTICE, &(log_fields){.device = d->serial},
		"archive key %u is up on %s: Generate is served from now on", eng->archive_key_id,
		d->devaut_chr);
	/* devices that came up before it could not have their open requests
	 * committed then (generate_device_up): now they can */
	for (size_t i = 0; i < eng->device_count; i++)
		if (eng->devices[i] != d && eng->devices[i]->state != DEVICE_DOWN)
			op_post_call(eng, generate_device_up, eng->devices[i]);
out:
	pthread_mutex_unlock(&eng->archive_lock);
}

/* ---- certificate imports ---- */

/* One pending import: what CE|id of the key holds decides. */
static void recover_certificate(engine *eng, const archive_intent_info *in)
{
	smk_buf cert = SMK_BUF_INIT, ce = SMK_BUF_INIT, canon = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	enum session_ce_kind kind;
	archive_record r;
	archive_signer s;
	char reason[700];
	uint64_t key_seq, seq;
	device *d;
	smk_err e;

	memset(&r, 0, sizeof(r));
	if (archive_pending_cert(eng->arc, in->request_id, &key_seq, &cert, &e) < 0 ||
	    archive_get(eng->arc, key_seq, &canon, &sig, &e) < 0 ||
	    archive_record_parse(canon.data, canon.len, &r, &e) < 0) {
		snprintf(reason, sizeof(reason), "interrupted import: %s", e.msg);
		fail_intent(eng, in->request_id, reason);
		goto out;
	}
	d = device_by_serial(eng, NULL, r.device_serial);
	if (d == NULL || eng->archive_dev == NULL) {
		log_msg(LOG_WARNING, &(log_fields){in->request_id, NULL, r.device_serial, NULL},
			"interrupted certificate import left open: %s",
			d == NULL ? "device not up" : eng->archive_error);
		goto out;
	}
	if (session_read_ce(d->session, (uint8_t)r.key_id, &kind, &ce, &e) < 0) {
		log_msg(LOG_WARNING, &(log_fields){in->request_id, NULL, d->serial, NULL},
			"interrupted certificate import left open: CE|%02X: %s", r.key_id, e.msg);
		goto out;
	}
	if (kind != SESSION_CE_X509 || ce.len != cert.len ||
	    memcmp(ce.data, cert.data, cert.len) != 0) {
		snprintf(reason, sizeof(reason),
			 "interrupted before the certificate reached the card (CE|%02X holds %s)",
			 r.key_id, session_ce_kind_name(kind));
		fail_intent(eng, in->request_id, reason);
		goto out;
	}
	commit_signer(eng->archive_dev, eng->archive_key_id, eng->archive_pub, &s);
	if (archive_cert_commit(eng->arc, &s, in->request_id, 0, &seq, &e) < 0) {
		log_msg(LOG_ERR, &(log_fields){in->request_id, NULL, d->serial, NULL},
			"certificate found in CE|%02X, cannot commit: %s", r.key_id, e.msg);
		goto out;
	}
	log_msg(LOG_INFO, &(log_fields){in->request_id, NULL, d->serial, "recovered"},
		"certificate import for record %llu found in CE|%02X, archived as record %llu",
		(unsigned long long)key_seq, r.key_id, (unsigned long long)seq);
out:
	archive_record_free(&r);
	smk_buf_free(&cert);
	smk_buf_free(&ce);
	smk_buf_free(&canon);
	smk_buf_free(&sig);
}

int recover_certificates(engine *eng, smk_err *e)
{
	archive_intent_info *list = NULL;
	size_t n = 0, i;

	if (archive_pending(eng->arc, &list, &n, e) < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (strcmp(list[i].kind, ARCHIVE_KIND_CERTIFICATE) == 0)
			recover_certificate(eng, &list[i]);
		else if (strcmp(list[i].kind, ARCHIVE_KIND_SIGNATURE) == 0)
			/* the signature lived only in the stopped daemon and never
			 * reached its caller: the card may have signed */
			fail_intent(eng, list[i].request_id,
				    "interrupted: smkeyd stopped before the signature was "
				    "archived; it was not handed out (the card may have signed)");
	free(list);
	return 0;
}
