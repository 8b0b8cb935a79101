/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey audit: everything an auditor can check about an archive file, as a
 * plain-text report. Unlike verify, it does not stop at the first problem:
 * it names every record, gap, checkpoint and intent that does not hold.
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
#include "../common/sigcount.h"
#include "audit_pool.h"
#include "chaincache.h"
#include "checkpoint.h"
#include "logkey.h"
#include "internal.h"
#include "merkle.h"
#include "verify.h"
#include "witness.h"

/* What auditing adds up; one record's counts are added to the audit's in
 * record order. */
struct audit_counts {
	unsigned problems, findings;
	/* records per kind, for the summary */
	uint64_t n_key, n_adopted, n_cert, n_sig, n_archive_key, n_unreadable, n_recovered;
};

struct audit {
	FILE *out;
	struct audit_counts c;
	EVP_PKEY *akey;
	/* the records' leaves, and every complete subtree; with --since, the
	 * earlier checkpoint's peaks and every leaf after them */
	merkle_tree tree;
	uint64_t nleaves;
	uint64_t from;		     /* the first record audited: 0, or the --since size */
	archive_chain_cache *chains; /* device chains that validated */
	archive_checkpoint_key ckey; /* akey's origin and key ID, derived once */
	pthread_mutex_t *db_lock;    /* held for every use of the archive's connection */
	smk_sigcount sigs;	     /* the signature verifications made */
};

static void problem(struct audit *au, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One PROBLEM line. It names records by their labels, request ids and
 * parse errors, which the archive's writer chose: the whole line is shown
 * escaped (smk_show), so none of it can end the line or hide the one above. */
static void problem(struct audit *au, const char *fmt, ...)
{
	char line[SMK_SHOW_MAX];
	va_list ap;

	au->c.problems++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(au->out, "  PROBLEM: %s\n", smk_show(line));
}

/* Counted with the problems (the audit fails), but named for what it is:
 * something the daemon refused, which someone must look into. */
static void finding(struct audit *au, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void finding(struct audit *au, const char *fmt, ...)
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

static void when(int64_t t, char *buf, size_t cap)
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
		problem(au, "record 0 (the archive key) is missing: no signature can be checked");
		goto out;
	}
	if (archive_record_parse(canon.data, canon.len, &r, &e) < 0) {
		problem(au, "record 0 (the archive key) is unreadable: %s", e.msg);
		goto out;
	}
	q = r.spki.data;
	au->akey = d2i_PUBKEY(NULL, &q, (long)r.spki.len);
	if (!au->akey)
		problem(au, "record 0: public key is not SPKI DER");
	archive_record_free(&r);
out:
	smk_buf_free(&canon);
}

/* A certificate or signature record against the stored key record it
 * names: earlier in the log, kind key or adopted, the hash the record
 * carries, the public key the certificate holds or the signature verifies
 * with. */
static void audit_certificate(archive *a, struct audit *au, const archive_record *r)
{
	smk_buf canon = SMK_BUF_INIT;
	archive_record k;
	uint8_t hash[32];
	char subject[256], fp[65], why[256];
	smk_err e;
	int rc, sig = strcmp(r->kind, ARCHIVE_KIND_SIGNATURE) == 0;

	if (sig) {
		smk_hex_to(fp, r->sig_input.data, r->sig_input.len < 32 ? r->sig_input.len : 32,
			   SMK_HEX_LOWER);
		fprintf(au->out, "        signature %s%s by record %" PRIu64 ", %s %.16s\n",
			smk_show(r->sig_alg), r->sig_host_hashed ? " (smkeyd hashed)" : "",
			r->key_seq, r->sig_digest_given ? "digest" : "message SHA-256", fp);
	} else if (archive_cert_describe(r->cert.data, r->cert.len, subject, fp, &e) == 0) {
		fprintf(au->out, "        certificate %s, SHA-256 %.16s, for record %" PRIu64 "\n",
			smk_show(subject), fp, r->key_seq);
	}
	pthread_mutex_lock(au->db_lock);
	rc = archive_get(a, r->key_seq, &canon, NULL, &e);
	pthread_mutex_unlock(au->db_lock);
	if (rc < 0) {
		problem(au,
			"record %" PRIu64 " (certificate): its key record %" PRIu64 " is missing",
			r->seq, r->key_seq);
		goto out;
	}
	if (smk_sha256(canon.data, canon.len, hash, &e) == 0 &&
	    memcmp(hash, r->key_record_hash, 32) != 0)
		problem(au,
			"record %" PRIu64
			" (certificate): key-record hash does not match record %" PRIu64,
			r->seq, r->key_seq);
	if (archive_record_parse(canon.data, canon.len, &k, &e) < 0)
		goto out; /* named where that record is audited */
	if (!archive_kind_has_key(k.kind) || strcmp(k.kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0)
		problem(au,
			"record %" PRIu64 " (certificate): record %" PRIu64
			" is of kind %s, not a key record",
			r->seq, r->key_seq, k.kind);
	else if (sig && archive_sig_check(r, &k, why, sizeof(why), &e) < 0)
		problem(au, "record %" PRIu64 " (signature): %s", r->seq, e.msg);
	else if (!sig &&
		 archive_cert_matches(r->cert.data, r->cert.len, k.spki.data, k.spki.len, &e) < 0)
		problem(au, "record %" PRIu64 " (certificate): %s", r->seq, e.msg);
	archive_record_free(&k);
out:
	smk_buf_free(&canon);
}

/* What a format-2 record states about the card (the log's statement). */
static void audit_card(struct audit *au, const archive_record *r)
{
	archive_card_text t;

	archive_card_describe(r, &t);
	if (t.recovered) {
		au->c.n_recovered++;
		fprintf(au->out, "        %s\n", t.source);
	}
	fprintf(au->out, "        CAR %s; key domains: %s; algorithm list: %s%s\n", t.car,
		t.domains, t.algs, r->card.relayed ? "; reached through a relay" : "");
}

/* A record's place in the hash chain: its leaf and its own hash, and the
 * hash it names for the record before, which is checked in record order
 * when the record is printed (emit). */
struct chain_link {
	uint8_t leaf[32], hash[32];
	uint8_t prev[32]; /* as the record says, when named */
	int named;	  /* the record was read and names a previous hash */
	char *label;	  /* how the report names the record then */
};

/* Audit the record p[0..n) stored as row seq; 1 when link holds its leaf,
 * its hash and what it names (the parse computed them), 0 when the record
 * is unreadable. */
static int audit_record(archive *a, struct audit *au, const archive_audit_opts *o, uint64_t seq,
			const char *request_id, const uint8_t *p, size_t n, const uint8_t *sig,
			size_t sig_len, struct chain_link *link)
{
	archive_record r;
	const char *label;
	char t[32], what[32];
	int cert;
	smk_err e;

	if (archive_record_parse(p, n, &r, &e) < 0) {
		problem(au, "record %" PRIu64 " (request %s): %s", seq, request_id, e.msg);
		au->c.n_unreadable++;
		return 0;
	}
	memcpy(link->leaf, r.leaf, 32);
	memcpy(link->hash, r.hash, 32);
	memcpy(link->prev, r.prev, 32);
	cert = archive_kind_names_key(r.kind);
	if (cert) {
		if (strcmp(r.kind, ARCHIVE_KIND_SIGNATURE) == 0)
			au->c.n_sig++;
		else
			au->c.n_cert++;
		snprintf(what, sizeof(what), "%s record %" PRIu64,
			 strcmp(r.kind, ARCHIVE_KIND_SIGNATURE) == 0 ? "by" : "for", r.key_seq);
		label = what;
	} else {
		label = r.label;
		if (strcmp(r.kind, ARCHIVE_KIND_ADOPTED) == 0)
			au->c.n_adopted++;
		else if (strcmp(r.kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0)
			au->c.n_archive_key++;
		else
			au->c.n_key++;
	}
	when(r.time, t, sizeof(t));
	fprintf(au->out, "  %-5" PRIu64 " %-21s %-12s %-22s %-16s uid %u", seq, t, smk_show(r.kind),
		r.policy_name ? smk_show(r.policy_name)
		: cert	      ? "-"
			      : "(unknown)",
		smk_show(label), r.uid);
	if (o->trust && !cert) {
		archive_attestation att;

		if (archive_attest_cached(&r, o->trust, au->chains, &att, &e) == 0) {
			fprintf(au->out, "\n        device %s, %s, SHA-256 %.16s\n",
				smk_show(att.chain.device_chr), att.key_type, att.key_fp);
			archive_attestation_free(&att);
		} else {
			fputc('\n', au->out);
			problem(au, "%s", e.msg);
		}
	} else {
		fputc('\n', au->out);
	}
	if (strcmp(r.kind, ARCHIVE_KIND_ADOPTED) == 0) {
		char note[512];

		archive_adopted_note(&r, note, sizeof(note));
		fprintf(au->out, "        %s\n", smk_show(note));
	}
	if (r.has_card)
		audit_card(au, &r);
	if (cert)
		audit_certificate(a, au, &r);
	if (r.seq != seq)
		problem(au, "record %" PRIu64 " (%s): stored as row %" PRIu64, r.seq, label, seq);
	if (strcmp(r.request_id, request_id) != 0)
		problem(au, "record %" PRIu64 " (%s): belongs to intent %s, stored for %s", seq,
			label, r.request_id, request_id);
	/* format 3: no signature of its own; the checkpoints that cover it
	 * authenticate it (audit_checkpoints) */
	if (!archive_record_signed(&r)) {
		if (sig_len)
			problem(au,
				"record %" PRIu64
				" (%s): of format 3, yet a signature is stored with it",
				seq, label);
	} else if (au->akey && archive_sig_verify(au->akey, r.hash, 32, sig, sig_len, &e) < 0) {
		problem(au, "record %" PRIu64 " (%s): signature by the archive key does not verify",
			seq, label);
	}
	link->named = 1;
	link->label = strdup(label);
	if (seq == 0 && (r.alg_count != 1 || r.alg_list[0] != alg_by_name("ecdsa-sha256")->id))
		problem(au, "record 0: the archive key's policy %s is not sign-only",
			r.policy_name ? r.policy_name : "(none)");
	archive_record_free(&r);
	return 1;
}

/* The record before from, whose hash the next record must carry: read from
 * the archive, and trusted only because its leaf is in the earlier
 * checkpoint's tree (an inclusion proof from the stored nodes, checked
 * against that checkpoint's root). */
static int prev_of_range(archive *a, struct audit *au, const archive_checkpoint *old,
			 uint8_t prev[32])
{
	smk_buf canon = SMK_BUF_INIT, proof = SMK_BUF_INIT;
	merkle_nodes nodes;
	uint8_t leaf[32];
	smk_err e;
	int ok;

	ok = archive_get(a, au->from - 1, &canon, NULL, &e) == 0 &&
	     merkle_leaf_hash(canon.data, canon.len, leaf, &e) == 0 &&
	     archive_tree_nodes(a, old->size, &nodes, &e) == 0 &&
	     merkle_nodes_inclusion_proof(&nodes, old->size, au->from - 1, &proof, &e) == 0 &&
	     merkle_verify_inclusion(au->from - 1, old->size, leaf, proof.data, proof.len,
				     old->root, &e) == 0 &&
	     smk_sha256(canon.data, canon.len, prev, &e) == 0;
	if (!ok)
		problem(au,
			"record %" PRIu64
			" (the last the earlier checkpoint covers) is not the one it committed "
			"to: %s",
			au->from - 1, e.msg);
	smk_buf_free(&canon);
	smk_buf_free(&proof);
	return ok;
}

/* Records read per batch and thread: a batch is read while the one before
 * is verified, and printed once all of it is. */
#define BATCH_PER_JOB 128
#define BATCH_MIN 256

/* The batch size for jobs threads. */
static size_t batch_cap(unsigned jobs)
{
	if (jobs > AUDIT_POOL_JOBS_MAX)
		jobs = AUDIT_POOL_JOBS_MAX;
	return jobs * BATCH_PER_JOB < BATCH_MIN ? BATCH_MIN : jobs * BATCH_PER_JOB;
}

/* One record as read from the store, and what auditing it gave. */
struct slot {
	uint64_t seq;
	uint64_t gap_from; /* records gap_from..seq-1 are missing; == seq: none */
	smk_buf request_id, canon, sig;
	int has_request_id;
	int have_prev; /* the record before is there, and read before it */
	struct chain_link link;
	char *text; /* the record's lines of the report */
	size_t text_len;
	struct audit_counts c;
	int failed; /* e says why: the audit cannot go on */
	smk_err e;
};

struct batch {
	struct slot *v;
	size_t n, cap;
};

/* Where reading the records stands between batches. */
struct cursor {
	sqlite3_stmt *st;
	uint64_t expect;  /* the next sequence number if none is missing */
	uint8_t prev[32]; /* the hash of the record printed last (emit), when have_prev */
	int have_prev, done;
};

/* What verifying a record needs besides the record. */
struct record_ctx {
	archive *a;
	struct audit *au;
	const archive_audit_opts *o;
};

/* audit_pool_fn: audit one record (a struct slot) into its own buffer. */
static void audit_slot(void *ctx, void *item)
{
	struct record_ctx *rc = ctx;
	struct slot *s = item;
	struct audit w;
	FILE *f;
	int have_leaf;

	memset(&w, 0, sizeof(w));
	w.akey = rc->au->akey;
	w.chains = rc->au->chains;
	w.db_lock = rc->au->db_lock;
	f = open_memstream(&s->text, &s->text_len);
	if (!f) {
		s->failed = 1;
		smk_fail(&s->e, SMK_E_NOMEM, "audit of record %" PRIu64 ": out of memory", s->seq);
		return;
	}
	w.out = f;
	have_leaf = audit_record(rc->a, &w, rc->o, s->seq,
				 s->has_request_id ? (const char *)s->request_id.data : NULL,
				 s->canon.data, s->canon.len, s->sig.data, s->sig.len, &s->link);
	if (fclose(f) != 0 || (s->link.named && !s->link.label)) {
		s->failed = 1;
		smk_fail(&s->e, SMK_E_NOMEM, "audit of record %" PRIu64 ": out of memory", s->seq);
	} else if (!have_leaf &&
		   (merkle_leaf_hash(s->canon.data, s->canon.len, s->link.leaf, &s->e) < 0 ||
		    smk_sha256(s->canon.data, s->canon.len, s->link.hash, &s->e) < 0)) {
		s->failed = 1;
	}
	s->c = w.c;
}

static void batch_free(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->cap; i++) {
		smk_buf_free(&b->v[i].request_id);
		smk_buf_free(&b->v[i].canon);
		smk_buf_free(&b->v[i].sig);
		free(b->v[i].text);
		free(b->v[i].link.label);
	}
	free(b->v);
	memset(b, 0, sizeof(*b));
}

/* Copy the row st stands on into s. */
static int read_row(sqlite3_stmt *st, struct slot *s, smk_err *e)
{
	const void *id = sqlite3_column_text(st, 1);

	s->seq = (uint64_t)sqlite3_column_int64(st, 0);
	smk_buf_reset(&s->request_id);
	smk_buf_reset(&s->canon);
	smk_buf_reset(&s->sig);
	s->has_request_id = id != NULL;
	if ((id && (smk_buf_add(&s->request_id, id, (size_t)sqlite3_column_bytes(st, 1)) < 0 ||
		    smk_buf_add_byte(&s->request_id, 0) < 0)) ||
	    smk_buf_add(&s->canon, sqlite3_column_blob(st, 2),
			(size_t)sqlite3_column_bytes(st, 2)) < 0 ||
	    smk_buf_add(&s->sig, sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3)) <
		0)
		return smk_fail(e, SMK_E_NOMEM, "audit: out of memory reading record %" PRIu64,
				s->seq);
	return 0;
}

/* Read the next records (at most cap) into b: each with the gap before it
 * and the hash of the record before it, which the hash chain needs. */
static int fill(archive *a, struct audit *au, struct cursor *cur, struct batch *b, size_t cap,
		smk_err *e)
{
	b->n = 0;
	if (!b->v) {
		if (!(b->v = calloc(cap, sizeof(*b->v))))
			return smk_fail(e, SMK_E_NOMEM, "audit: out of memory");
		b->cap = cap;
	}
	while (!cur->done && b->n < b->cap) {
		struct slot *s = &b->v[b->n];
		int rc, r = 0;

		pthread_mutex_lock(au->db_lock);
		rc = sqlite3_step(cur->st);
		if (rc == SQLITE_ROW)
			r = read_row(cur->st, s, e);
		else if (rc != SQLITE_DONE)
			r = archive_db_fail(a, "read records", e);
		pthread_mutex_unlock(au->db_lock);
		if (r < 0)
			return -1;
		if (rc == SQLITE_DONE) {
			cur->done = 1;
			break;
		}
		free(s->text);
		s->text = NULL;
		s->text_len = 0;
		s->failed = 0;
		memset(&s->c, 0, sizeof(s->c));
		s->gap_from = s->seq == cur->expect ? s->seq : cur->expect;
		s->have_prev = cur->have_prev && s->seq == cur->expect;
		free(s->link.label);
		memset(&s->link, 0, sizeof(s->link));
		cur->have_prev = 1;
		cur->expect = s->seq + 1;
		b->n++;
	}
	return 0;
}

static void add_counts(struct audit_counts *to, const struct audit_counts *c)
{
	to->problems += c->problems;
	to->findings += c->findings;
	to->n_key += c->n_key;
	to->n_adopted += c->n_adopted;
	to->n_cert += c->n_cert;
	to->n_sig += c->n_sig;
	to->n_archive_key += c->n_archive_key;
	to->n_unreadable += c->n_unreadable;
	to->n_recovered += c->n_recovered;
}

/* Print a verified batch in record order, check the hash chain and add the
 * leaves to the tree; cur->prev: the hash of the record printed last. */
static int emit(struct audit *au, struct cursor *cur, struct batch *b, smk_err *e)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		struct slot *s = &b->v[i];

		if (s->failed) {
			*e = s->e;
			return -1;
		}
		if (s->gap_from + 1 == s->seq)
			problem(au, "record %" PRIu64 " is missing (a deleted row)", s->gap_from);
		else if (s->gap_from != s->seq)
			problem(au, "records %" PRIu64 "..%" PRIu64 " are missing (deleted rows)",
				s->gap_from, s->seq - 1);
		if (s->text_len && fwrite(s->text, 1, s->text_len, au->out) != s->text_len)
			return smk_fail(e, SMK_E_IO, "audit: cannot write the report");
		free(s->text);
		s->text = NULL;
		add_counts(&au->c, &s->c);
		/* the last of the record's checks (audit_record) */
		if (s->have_prev && s->link.named && memcmp(s->link.prev, cur->prev, 32) != 0)
			problem(au,
				"record %" PRIu64
				" (%s): previous-record hash does not match record %" PRIu64,
				s->seq, s->link.label, s->seq - 1);
		memcpy(cur->prev, s->link.hash, 32);
		if (merkle_tree_append(&au->tree, s->link.leaf, e) < 0)
			return -1;
		au->nleaves++;
	}
	return 0;
}

/* Audit records from..to-1 as they are stored (a missing one is named),
 * appending their leaves to au->tree, which holds the first from leaves (or
 * their peaks). prev is the hash of record from-1 when have_prev. The one
 * path every record of an audit takes, whole or --since: on o->jobs
 * threads, printed in record order. */
static int audit_range(archive *a, struct audit *au, const archive_audit_opts *o, uint64_t from,
		       uint64_t to, uint8_t prev[32], int have_prev, smk_err *e)
{
	struct batch b[2];
	struct cursor cur;
	struct record_ctx ctx = {a, au, o};
	audit_pool p;
	size_t cap = batch_cap(o->jobs);
	int rc = -1, i = 0;

	memset(b, 0, sizeof(b));
	memset(&cur, 0, sizeof(cur));
	cur.expect = from;
	cur.have_prev = have_prev;
	if (have_prev)
		memcpy(cur.prev, prev, 32);
	if (archive_db_prepare(a,
			       "SELECT seq, request_id, canonical, signature FROM records"
			       " WHERE seq >= ? AND seq < ? ORDER BY seq",
			       &cur.st, e) < 0)
		return -1;
	sqlite3_bind_int64(cur.st, 1, (sqlite3_int64)from);
	sqlite3_bind_int64(cur.st, 2, (sqlite3_int64)to);
	if (audit_pool_init(&p, o->jobs, &au->sigs, e) < 0) {
		sqlite3_finalize(cur.st);
		return -1;
	}
	if (fill(a, au, &cur, &b[0], cap, e) < 0)
		goto out;
	while (b[i].n) {
		audit_pool_start(&p, b[i].v, b[i].n, sizeof(struct slot), audit_slot, &ctx);
		/* the next batch is read while this one is verified */
		if (fill(a, au, &cur, &b[!i], cap, e) < 0) {
			audit_pool_finish(&p);
			goto out;
		}
		audit_pool_finish(&p);
		if (emit(au, &cur, &b[i], e) < 0)
			goto out;
		i = !i;
	}
	rc = 0;
out:
	audit_pool_free(&p);
	sqlite3_finalize(cur.st);
	batch_free(&b[0]);
	batch_free(&b[1]);
	return rc;
}

static int audit_records(archive *a, struct audit *au, const archive_audit_opts *o,
			 const archive_checkpoint *old, smk_err *e)
{
	uint8_t prev[32];
	uint64_t size;
	char sigs[40] = "";
	int have_prev = 0;

	fprintf(au->out, "\nRecords\n");
	if (au->from)
		fprintf(au->out,
			"  records 0..%" PRIu64 " are covered by the earlier checkpoint (audited "
			"then): only the records after it are read\n",
			au->from - 1);
	fprintf(au->out, "  %-5s %-21s %-12s %-22s %-16s %s\n", "seq", "time (UTC)", "kind",
		"policy", "label", "requester");
	if (archive_size(a, &size, e) < 0)
		return -1;
	if (au->from)
		have_prev = prev_of_range(a, au, old, prev);
	au->nleaves = au->from;
	if (audit_range(a, au, o, au->from, size, prev, have_prev, e) < 0)
		return -1;
	if (au->c.n_sig)
		snprintf(sigs, sizeof(sigs), ", %" PRIu64 " signature", au->c.n_sig);
	fprintf(au->out,
		"  %" PRIu64 " records%s (%" PRIu64 " archive key, %" PRIu64 " generated, %" PRIu64
		" adopted, %" PRIu64 " certificate%s%s)\n",
		au->nleaves - au->from, au->from ? " audited" : "", au->c.n_archive_key,
		au->c.n_key, au->c.n_adopted, au->c.n_cert, sigs,
		au->c.n_unreadable ? ", the rest unreadable" : "");
	if (au->c.n_recovered)
		fprintf(au->out,
			"  %" PRIu64
			" recovered: read back from CE|id after the card's answer under "
			"secure messaging was lost; their algorithm lists rest on the intent and "
			"the CHR unless the card confirmed them\n",
			au->c.n_recovered);
	return 0;
}

/* One stored checkpoint, and what opening it with the archive key gave. */
struct cp_slot {
	uint64_t size;	 /* the size it is stored under */
	uint64_t before; /* the size of the row before it, 0: none */
	smk_buf note;
	archive_checkpoint cp;
	int opened; /* 0: ce says why not */
	smk_err ce;
	/* once opened, of its size and within the records read: */
	int root_ok; /* its root is the records' root at its size */
	int extends; /* root_ok, and a consistency proof from before holds */
	int failed;  /* fe says why: the audit cannot go on */
	smk_err fe;
};

/* Where the walk over the checkpoints stands. */
struct cp_walk {
	uint64_t count, prev_size, last_size;
	uint8_t prev_root[32];
};

/* Whether the records' tree at size extends the one at old (0 < old <=
 * size; root: the tree's root at size), by a consistency proof from the
 * tree, verified: what a witness would check. *ok: 1 when it does. */
static int tree_extends(const struct audit *au, uint64_t old, const uint8_t old_root[32],
			uint64_t size, const uint8_t root[32], int *ok, smk_err *e)
{
	smk_buf proof = SMK_BUF_INIT;
	smk_err ce;

	if (merkle_tree_consistency_proof(&au->tree, size, old, &proof, e) < 0)
		return -1;
	*ok = merkle_verify_consistency(old, size, old_root, root, proof.data, proof.len, &ce) == 0;
	smk_buf_free(&proof);
	return 0;
}

/* audit_pool_fn: one checkpoint's signature by the archive key, its root
 * against the records' tree (complete and read-only by now) and, taking
 * the row before as the latest good one (check_checkpoint knows), that it
 * extends it. */
static void open_checkpoint(void *ctx, void *item)
{
	struct audit *au = ctx;
	struct cp_slot *s = item;
	uint8_t root[32], old_root[32];

	s->opened =
	    archive_checkpoint_open_key(s->note.data, s->note.len, &au->ckey, &s->cp, &s->ce) == 0;
	if (!s->opened || s->cp.size != s->size || s->size > au->nleaves)
		return;
	if (merkle_tree_root(&au->tree, s->size, root, &s->fe) < 0) {
		s->failed = 1;
		return;
	}
	s->root_ok = memcmp(root, s->cp.root, 32) == 0;
	if (s->root_ok && s->before &&
	    (merkle_tree_root(&au->tree, s->before, old_root, &s->fe) < 0 ||
	     tree_extends(au, s->before, old_root, s->size, root, &s->extends, &s->fe) < 0))
		s->failed = 1;
}

/* Read the next checkpoints (at most cap) into v; *n: how many, 0 once
 * *done is set (SQLite would start over on a step after the last row).
 * *last: the size of the row read last, 0 before the first. */
static int read_checkpoints(archive *a, struct audit *au, sqlite3_stmt *st, struct cp_slot *v,
			    size_t cap, size_t *n, uint64_t *last, int *done, smk_err *e)
{
	int rc = SQLITE_ROW;

	*n = 0;
	if (*done)
		return 0;
	pthread_mutex_lock(au->db_lock);
	while (*n < cap && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cp_slot *s = &v[*n];

		s->before = *last;
		s->size = (uint64_t)sqlite3_column_int64(st, 0);
		*last = s->size;
		s->failed = 0;
		s->root_ok = s->extends = 0;
		smk_buf_reset(&s->note);
		if (smk_buf_add(&s->note, sqlite3_column_blob(st, 1),
				(size_t)sqlite3_column_bytes(st, 1)) < 0) {
			pthread_mutex_unlock(au->db_lock);
			return smk_fail(e, SMK_E_NOMEM,
					"audit: out of memory reading checkpoint %" PRIu64,
					s->size);
		}
		(*n)++;
	}
	pthread_mutex_unlock(au->db_lock);
	*done = rc != SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return archive_db_fail(a, "read checkpoints", e);
	return 0;
}

/* A checkpoint whose signature was checked: its size, its root over the
 * records read, and that it extends the one before (what a witness would
 * check). */
static int check_checkpoint(struct audit *au, const struct cp_slot *s, struct cp_walk *w,
			    smk_err *e)
{
	uint64_t size = s->size;

	if (s->failed) {
		*e = s->fe;
		return -1;
	}
	if (!s->opened) {
		problem(au, "checkpoint %" PRIu64 ": %s", size, s->ce.msg);
		return 0;
	}
	if (s->cp.size != size) {
		problem(au, "checkpoint %" PRIu64 ": stored under size %" PRIu64, s->cp.size, size);
		return 0;
	}
	if (size > au->nleaves) {
		problem(au,
			"checkpoint %" PRIu64 ": the log has only %" PRIu64 " records (truncated?)",
			size, au->nleaves);
		return 0;
	}
	if (!s->root_ok) {
		problem(au, "checkpoint %" PRIu64 ": root hash does not match records 0..%" PRIu64,
			size, size - 1);
		return 0;
	}
	if (w->prev_size) {
		/* open_checkpoint checked the row before; after a bad one the
		 * latest good checkpoint is an earlier one */
		int ok = s->extends;

		if (w->prev_size != s->before &&
		    tree_extends(au, w->prev_size, w->prev_root, size, s->cp.root, &ok, e) < 0)
			return -1;
		if (!ok)
			problem(au, "checkpoint %" PRIu64 " does not extend checkpoint %" PRIu64,
				size, w->prev_size);
	}
	w->prev_size = size;
	memcpy(w->prev_root, s->cp.root, 32);
	return 0;
}

/* After the walk: whether the latest good checkpoint covers every record. */
static void checkpoints_cover(struct audit *au, const struct cp_walk *w)
{
	if (w->count == 0 && au->nleaves)
		problem(au, "no checkpoint at all for %" PRIu64 " records", au->nleaves);
	else if (w->prev_size && w->prev_size == w->last_size && w->prev_size < au->nleaves)
		/* group commit: records are stored one by one and a checkpoint
		 * follows; a stop in between leaves a tail the next one covers.
		 * Format-3 records in it are authenticated by nothing yet. */
		fprintf(au->out,
			"  note: records %" PRIu64 "..%" PRIu64
			" are not covered by a checkpoint yet (committed after the latest;"
			" the daemon signs one at its next commit or start); those of format 3"
			" are not authenticated until one covers them\n",
			w->prev_size, au->nleaves - 1);
	else if (w->prev_size && w->prev_size != au->nleaves)
		problem(au, "the latest good checkpoint covers %" PRIu64 " of %" PRIu64 " records",
			w->prev_size, au->nleaves);
}

/* Every checkpoint from au->from on, in size order: the signatures are
 * checked on the audit's threads a batch at a time, the rest in order. */
static int audit_checkpoints(archive *a, struct audit *au, const archive_audit_opts *o, smk_err *e)
{
	struct cp_walk w;
	struct cp_slot *v;
	sqlite3_stmt *st;
	audit_pool p;
	size_t cap = batch_cap(o->jobs), n, i;
	uint64_t row = 0;
	int rc = -1, done = 0;

	memset(&w, 0, sizeof(w));
	fprintf(au->out, "\nCheckpoints%s\n", au->from ? " (from the earlier one on)" : "");
	if (!(v = calloc(cap, sizeof(*v))))
		return smk_fail(e, SMK_E_NOMEM, "audit: out of memory");
	if (archive_db_prepare(a,
			       "SELECT size, note FROM checkpoints WHERE size >= ? ORDER BY size",
			       &st, e) < 0) {
		free(v);
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)au->from);
	if (audit_pool_init(&p, o->jobs, &au->sigs, e) < 0)
		goto out_st;
	for (;;) {
		if (read_checkpoints(a, au, st, v, cap, &n, &row, &done, e) < 0)
			goto out;
		if (n == 0)
			break;
		w.count += n;
		w.last_size = v[n - 1].size;
		if (!au->ckey.pub)
			continue; /* load_archive_key said why none can be opened */
		audit_pool_start(&p, v, n, sizeof(*v), open_checkpoint, au);
		audit_pool_finish(&p);
		for (i = 0; i < n; i++)
			if (check_checkpoint(au, &v[i], &w, e) < 0)
				goto out;
	}
	checkpoints_cover(au, &w);
	fprintf(au->out, "  %" PRIu64 " checkpoints; latest verified size %" PRIu64 "\n", w.count,
		w.prev_size);
	rc = 0;
out:
	audit_pool_free(&p);
out_st:
	sqlite3_finalize(st);
	for (i = 0; i < cap; i++)
		smk_buf_free(&v[i].note);
	free(v);
	return rc;
}

/* --since, before the records: the earlier checkpoint, trusted (an earlier
 * audit verified it) once its signature by the archive key holds; the
 * stored peaks of its tree, which must fold to its root. Then only the
 * records after it are read: 1 (au->from and au->tree set). 0: the whole
 * log is audited (a problem says why, unless the checkpoint is of size 0). */
static int since_start(archive *a, struct audit *au, const archive_audit_opts *o,
		       archive_checkpoint *old, int *opened)
{
	uint8_t peaks[64][32], r[32];
	uint64_t size;
	unsigned n, k;
	smk_err e;

	*opened = 0;
	fprintf(au->out, "\nSince %s\n",
		o->since_name ? smk_show(o->since_name) : "earlier checkpoint");
	if (!au->akey) {
		problem(au, "no archive key: cannot check the earlier checkpoint");
		return 0;
	}
	if (archive_checkpoint_open(o->since, o->since_len, au->akey, old, &e) < 0) {
		problem(au, "earlier checkpoint: %s", e.msg);
		return 0;
	}
	*opened = 1;
	if (archive_size(a, &size, &e) < 0 || old->size == 0 || old->size > size) {
		if (old->size)
			fprintf(au->out, "  every record is audited\n");
		return 0; /* a truncated log is named after the records */
	}
	if (archive_tree_peaks(a, old->size, peaks, &n, &e) < 0) {
		problem(au, "the stored tree of the first %" PRIu64 " records: %s", old->size,
			e.msg);
		return 0;
	}
	memcpy(r, peaks[n - 1], 32);
	for (k = n - 1; k-- > 0;)
		if (merkle_node_hash(peaks[k], r, r, &e) < 0)
			return 0;
	if (memcmp(r, old->root, 32) != 0) {
		problem(au,
			"the stored tree of the first %" PRIu64
			" records does not lead to the earlier checkpoint's root: every record is "
			"audited",
			old->size);
		return 0;
	}
	if (merkle_tree_start_at(&au->tree, old->size, (const uint8_t(*)[32])peaks, &e) < 0) {
		problem(au, "earlier checkpoint: %s", e.msg);
		return 0;
	}
	au->from = old->size;
	fprintf(au->out,
		"  checkpoint of size %" PRIu64 " signed by the archive key; the stored tree "
		"leads to its root\n",
		old->size);
	return 1;
}

/* The stored tree's consistency proof from the earlier checkpoint to the
 * latest signed one, checked against both roots. */
static void since_stored_proof(archive *a, struct audit *au, const archive_checkpoint *old)
{
	smk_buf note = SMK_BUF_INIT, proof = SMK_BUF_INIT;
	archive_checkpoint cur;
	uint64_t size, new_size;
	smk_err e;

	if (archive_latest_checkpoint(a, &note, &size, &e) < 0 ||
	    archive_checkpoint_open_key(note.data, note.len, &au->ckey, &cur, &e) < 0) {
		problem(au, "latest checkpoint: %s", e.msg);
		goto out;
	}
	new_size = cur.size;
	if (cur.size < old->size ||
	    archive_consistency_proof(a, old->size, &new_size, &proof, &e) < 0 ||
	    merkle_verify_consistency(old->size, cur.size, old->root, cur.root, proof.data,
				      proof.len, &e) < 0)
		problem(au,
			"the stored tree proves no consistency from size %" PRIu64
			" to the latest checkpoint (size %" PRIu64 "): %s",
			old->size, cur.size, cur.size < old->size ? "it is smaller" : e.msg);
	else
		fprintf(au->out,
			"  ok: the stored tree's proof from size %" PRIu64 " to the latest "
			"checkpoint (size %" PRIu64 ") verifies\n",
			old->size, cur.size);
out:
	smk_buf_free(&note);
	smk_buf_free(&proof);
}

static void audit_since(archive *a, struct audit *au, const archive_audit_opts *o,
			const archive_checkpoint *old)
{
	uint8_t root[32];
	smk_buf proof = SMK_BUF_INIT;
	smk_err e;

	fprintf(au->out, "\nConsistency with %s\n",
		o->since_name ? smk_show(o->since_name) : "earlier checkpoint");
	if (old->size > au->nleaves) {
		problem(au,
			"the log has %" PRIu64
			" records, fewer than the earlier checkpoint's %" PRIu64
			": it was truncated",
			au->nleaves, old->size);
		return;
	}
	if (au->from)
		since_stored_proof(a, au, old);
	/* the tree of the records as audited (hashed from their bytes after
	 * the earlier checkpoint's peaks) */
	if (merkle_tree_root(&au->tree, au->nleaves, root, &e) < 0 ||
	    merkle_tree_consistency_proof(&au->tree, au->nleaves, old->size, &proof, &e) < 0 ||
	    merkle_verify_consistency(old->size, au->nleaves, old->root, root, proof.data,
				      proof.len, &e) < 0)
		problem(au,
			"the log is not an append-only extension of checkpoint size %" PRIu64
			": %s",
			old->size, e.msg);
	else
		fprintf(au->out, "  ok: size %" PRIu64 " -> %" PRIu64 " only appended\n", old->size,
			au->nleaves);
	smk_buf_free(&proof);
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

		when(sqlite3_column_int64(st, 1), t, sizeof(t));
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
				problem(au, "intent %s has record %lld but no outcome", id,
					sqlite3_column_int64(st, 8));
		} else if (strcmp(status, "committed") == 0) {
			if (sqlite3_column_type(st, 8) == SQLITE_NULL)
				problem(au, "intent %s: outcome says record %lld, which is missing",
					id, sqlite3_column_int64(st, 6));
		} else {
			const char *reason = (const char *)sqlite3_column_text(st, 7);
			size_t plen = strlen(ARCHIVE_REFUSED_PREFIX);

			failed++;
			/* the card held a key for the intent that was not what it
			 * asked for: an attack or a broken card, never routine */
			if (reason && strncmp(reason, ARCHIVE_REFUSED_PREFIX, plen) == 0) {
				refused++;
				finding(
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
		problem(au, "archive key: no verifier key: %s",
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
		problem(au,
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
			problem(&au, "archive key: %s", oe.msg);
		} else {
			snprintf(origin, sizeof(origin), "%s", au.ckey.origin);
		}
	}
	fprintf(report, "archive key: %s\n", smk_show(origin));
	audit_log_key(&au, o);
	if (o->since)
		since_start(a, &au, o, &old, &since_ok);
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
