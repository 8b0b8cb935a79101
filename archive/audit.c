/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey audit: everything an auditor can check about an archive file, as a
 * plain-text report. Unlike verify, it does not stop at the first problem:
 * it names every record, gap, checkpoint and intent that does not hold.
 *
 * This file runs the report's sections in order and writes the log key,
 * the intents and outcomes and the result; the records are read and
 * verified in audit_records.c, the checkpoints and --since are checked in
 * audit_checkpoints.c (their shared state: audit_int.h).
 *
 * Records are verified by a pool of threads (archive_audit_opts.jobs): one
 * thread reads the records from the store in batches while the others
 * verify the batch before; each record's lines are written to a buffer of
 * their own and the batch is printed in record order, so the report is the
 * same whatever the number of threads. The archive's one database
 * connection is shared under a lock (db_lock), not opened once per thread:
 * every query then reads the snapshot the records are read from, so a
 * certificate record's key record is looked up in the same state of the
 * file as the records themselves, and such lookups are rare (one per
 * certificate record).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "../common/show.h"
#include "audit_int.h"
#include "internal.h"
#include "logkey.h"
#include "witness.h"

void audit_problem(struct audit *au, const char *fmt, ...)
{
	char line[SMK_SHOW_MAX];
	va_list ap;

	au->c.problems++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(au->out, "  PROBLEM: %s\n", smk_show(line));
}

void audit_finding(struct audit *au, const char *fmt, ...)
{
	va_list ap;

	au->c.problems++;
	au->c.findings++;
	fputs("  FINDING: ", au->out);
	va_start(ap, fmt);
	vfprintf(au->out, fmt, ap);
	va_end(ap);
	fputc('\n', au->out);
}

void audit_when(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M:%SZ", &tm))
		snprintf(buf, cap, "%" PRId64, t);
}

/* The archive key from record 0, even if other checks of it fail. */
static void load_archive_key(archive *a, struct audit *au)
{
	smk_buf canon = SMK_BUF_INIT;
	archive_record r;
	const unsigned char *q;
	smk_err e;

	if (archive_get(a, 0, &canon, NULL, &e) < 0) {
		audit_problem(au,
			      "record 0 (the archive key) is missing: no signature can be checked");
		goto out;
	}
	if (archive_record_parse(canon.data, canon.len, &r, &e) < 0) {
		audit_problem(au, "record 0 (the archive key) is unreadable: %s", e.msg);
		goto out;
	}
	q = r.spki.data;
	au->akey = d2i_PUBKEY(NULL, &q, (long)r.spki.len);
	if (!au->akey)
		audit_problem(au, "record 0: public key is not SPKI DER");
	archive_record_free(&r);
out:
	smk_buf_free(&canon);
}

/* With --since: the intents after the one of the last record the earlier
 * checkpoint covers (those before it were listed by the earlier audit). */
static int first_intent(archive *a, struct audit *au, int64_t *after, smk_err *e)
{
	sqlite3_stmt *st;
	int rc;

	*after = 0;
	if (!au->from)
		return 0;
	if (archive_db_prepare(a,
			       "SELECT i.rowid FROM records r JOIN intents i USING(request_id)"
			       " WHERE r.seq = ?",
			       &st, e) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)(au->from - 1));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*after = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return archive_db_fail(a, "read intents", e);
	fprintf(au->out,
		"  (the intents up to record %" PRIu64 "'s were listed by the earlier audit)\n",
		au->from - 1);
	return 0;
}

static int audit_outcomes(archive *a, struct audit *au, smk_err *e)
{
	sqlite3_stmt *st;
	unsigned open = 0, failed = 0, refused = 0;
	int64_t after;
	int rc;

	fprintf(au->out, "\nIntents and outcomes\n");
	if (first_intent(a, au, &after, e) < 0 ||
	    archive_db_prepare(a,
			       "SELECT i.request_id, i.time, i.kind, i.policy_name, i.chr,"
			       " o.status, o.seq, o.reason, r.seq FROM intents i"
			       " LEFT JOIN outcomes o USING(request_id)"
			       " LEFT JOIN records r USING(request_id) WHERE i.rowid > ?"
			       " ORDER BY i.rowid",
			       &st, e) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, after);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *status = (const char *)sqlite3_column_text(st, 5);
		char t[32];

		audit_when(sqlite3_column_int64(st, 1), t, sizeof(t));
		if (!status) {
			/* interrupted: the daemon's recovery gives it its outcome */
			open++;
			if (strcmp((const char *)sqlite3_column_text(st, 2),
				   ARCHIVE_KIND_CERTIFICATE) == 0)
				/* an import whose card write was interrupted */
				fprintf(au->out, "  open intent %s  %s  certificate import\n",
					smk_show(id), t);
			else
				fprintf(au->out, "  open intent %s  %s  %s, policy %s, CHR %s\n",
					smk_show(id), t,
					smk_show((const char *)sqlite3_column_text(st, 2)),
					smk_show((const char *)sqlite3_column_text(st, 3)),
					smk_show((const char *)sqlite3_column_text(st, 4)));
			if (sqlite3_column_type(st, 8) != SQLITE_NULL)
				audit_problem(au, "intent %s has record %lld but no outcome", id,
					      sqlite3_column_int64(st, 8));
		} else if (strcmp(status, "committed") == 0) {
			if (sqlite3_column_type(st, 8) == SQLITE_NULL)
				audit_problem(
				    au, "intent %s: outcome says record %lld, which is missing", id,
				    sqlite3_column_int64(st, 6));
		} else {
			const char *reason = (const char *)sqlite3_column_text(st, 7);
			size_t plen = strlen(ARCHIVE_REFUSED_PREFIX);

			failed++;
			/* the card held a key for the intent that was not what it
			 * asked for: an attack or a broken card, never routine */
			if (reason && strncmp(reason, ARCHIVE_REFUSED_PREFIX, plen) == 0) {
				refused++;
				audit_finding(
				    au,
				    "intent %s  %s  %s, policy %s: key refused, not archived: %s",
				    id, t, smk_show((const char *)sqlite3_column_text(st, 2)),
				    smk_show((const char *)sqlite3_column_text(st, 3)),
				    smk_show(reason + plen));
			}
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return archive_db_fail(a, "read intents", e);
	fprintf(au->out, "  %u open intent%s (interrupted requests), %u failed request%s", open,
		open == 1 ? "" : "s", failed, failed == 1 ? "" : "s");
	if (refused)
		fprintf(au->out, ", of which %u refused (FINDING above)", refused);
	fputc('\n', au->out);
	return 0;
}

/* The archive's log: its verifier key, and whether it is a pinned one. */
static void audit_log_key(struct audit *au, const archive_audit_opts *o)
{
	unsigned char *der = NULL;
	archive_logkey k;
	smk_err e;
	int n;

	if (!au->akey) {
		fprintf(au->out, "log verifier key: none (no archive key)\n");
		return;
	}
	n = i2d_PUBKEY(au->akey, &der);
	if (n <= 0 || archive_logkey_of(der, (size_t)n, &k, &e) < 0) {
		OPENSSL_free(der);
		audit_problem(au, "archive key: no verifier key: %s",
			      n <= 0 ? "cannot encode the public key" : e.msg);
		return;
	}
	OPENSSL_free(der);
	fprintf(au->out, "log verifier key: %s\n", k.text);
	if (!o->pins || o->pins->n == 0)
		fprintf(au->out,
			"log pinned: no (no --log given): the log is named, not checked\n");
	else if (archive_logpins_find(o->pins, &k))
		fprintf(au->out, "log pinned: yes (%zu pinned)\n", o->pins->n);
	else
		audit_problem(
		    au,
		    "the archive's log %s (verifier key %s) is not among the pinned logs (%zu "
		    "pinned)",
		    k.name, k.text, o->pins->n);
}

/* --stats: every signature verification the audit made, by algorithm and
 * curve, in total and per record (what a benchmark's ECDSA bound is
 * computed from) */
static void audit_stats(struct audit *au)
{
	uint64_t n = au->nleaves - au->from; /* the records read */
	size_t i;

	smk_sigcount_sort(&au->sigs);
	fprintf(au->out, "\nSignature verifications\n");
	for (i = 0; i < au->sigs.n; i++)
		fprintf(au->out, "  %s: %" PRIu64 " (%.3f per record)\n", au->sigs.kind[i].name,
			au->sigs.kind[i].n, n ? (double)au->sigs.kind[i].n / (double)n : 0.0);
	if (au->sigs.other)
		fprintf(au->out, "  other kinds: %" PRIu64 "\n", au->sigs.other);
	fprintf(au->out, "  %" PRIu64 " records read\n", n);
}

int archive_audit(archive *a, const archive_audit_opts *o, FILE *report, unsigned *problems,
		  smk_err *e)
{
	pthread_mutex_t db_lock = PTHREAD_MUTEX_INITIALIZER;
	struct audit au;
	archive_checkpoint old;
	char origin[ARCHIVE_ORIGIN_MAX] = "?";
	int rc = -1, since_ok = 0;

	memset(&au, 0, sizeof(au));
	memset(&old, 0, sizeof(old));
	au.out = report;
	au.db_lock = &db_lock;
	smk_sigcount_attach(&au.sigs);
	fprintf(report, "smkeyd archive audit: %s\n", o->path ? smk_show(o->path) : "(archive)");
	fprintf(report, "trust anchors: %s\n",
		o->trust ? "given: device chains and CV-REQs are verified"
			 : "none (--trust): device chains and CV-REQs NOT verified");
	if (o->trust && !(au.chains = archive_chain_cache_new(o->trust))) {
		smk_sigcount_attach(NULL);
		return smk_fail(e, SMK_E_NOMEM, "audit: out of memory");
	}
	load_archive_key(a, &au);
	if (au.akey) {
		smk_err oe;

		if (archive_checkpoint_key_init(&au.ckey, au.akey, &oe) < 0) {
			au.ckey.pub = NULL; /* no checkpoint can be opened */
			audit_problem(&au, "archive key: %s", oe.msg);
		} else {
			snprintf(origin, sizeof(origin), "%s", au.ckey.origin);
		}
	}
	fprintf(report, "archive key: %s\n", smk_show(origin));
	audit_log_key(&au, o);
	if (o->since)
		audit_since_start(a, &au, o, &old, &since_ok);
	if (audit_records(a, &au, o, &old, e) < 0 || audit_checkpoints(a, &au, o, e) < 0)
		goto out;
	if (since_ok)
		audit_since(a, &au, o, &old);
	if (audit_outcomes(a, &au, e) < 0 ||
	    archive_witness_audit(a, report, &au.c.problems, e) < 0)
		goto out;
	if (o->stats)
		audit_stats(&au);
	if (au.c.findings)
		fprintf(report, "\nResult: FAILED (%u problem%s, of which %u finding%s)\n",
			au.c.problems, au.c.problems == 1 ? "" : "s", au.c.findings,
			au.c.findings == 1 ? "" : "s");
	else
		fprintf(report, "\nResult: %s (%u problem%s)\n",
			au.c.problems ? "FAILED" : "all checks hold", au.c.problems,
			au.c.problems == 1 ? "" : "s");
	*problems = au.c.problems;
	rc = 0;
out:
	smk_sigcount_attach(NULL);
	EVP_PKEY_free(au.akey);
	merkle_tree_reset(&au.tree);
	archive_chain_cache_free(au.chains);
	return rc;
}
