/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey audit's records (audit_int.h): each record parsed and checked on
 * its own (its device chain and CV request, its certificate or signature
 * record against the key record it names, its signature by the archive key
 * when it has one), on a pool of threads; the thread that reads the batches
 * from the store prints them in record order and checks the hash chain and
 * the gaps there, so the report is the same whatever the number of threads.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../common/show.h"
#include "audit_int.h"
#include "audit_pool.h"
#include "internal.h"
#include "verify.h"

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
		audit_problem(
		    au, "record %" PRIu64 " (certificate): its key record %" PRIu64 " is missing",
		    r->seq, r->key_seq);
		goto out;
	}
	if (smk_sha256(canon.data, canon.len, hash, &e) == 0 &&
	    memcmp(hash, r->key_record_hash, 32) != 0)
		audit_problem(au,
			      "record %" PRIu64
			      " (certificate): key-record hash does not match record %" PRIu64,
			      r->seq, r->key_seq);
	if (archive_record_parse(canon.data, canon.len, &k, &e) < 0)
		goto out; /* named where that record is audited */
	if (!archive_kind_has_key(k.kind) || strcmp(k.kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0)
		audit_problem(au,
			      "record %" PRIu64 " (certificate): record %" PRIu64
			      " is of kind %s, not a key record",
			      r->seq, r->key_seq, k.kind);
	else if (sig && archive_sig_check(r, &k, why, sizeof(why), &e) < 0)
		audit_problem(au, "record %" PRIu64 " (signature): %s", r->seq, e.msg);
	else if (!sig &&
		 archive_cert_matches(r->cert.data, r->cert.len, k.spki.data, k.spki.len, &e) < 0)
		audit_problem(au, "record %" PRIu64 " (certificate): %s", r->seq, e.msg);
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
		audit_problem(au, "record %" PRIu64 " (request %s): %s", seq, request_id, e.msg);
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
	audit_when(r.time, t, sizeof(t));
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
			audit_problem(au, "%s", e.msg);
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
		audit_problem(au, "record %" PRIu64 " (%s): stored as row %" PRIu64, r.seq, label,
			      seq);
	if (strcmp(r.request_id, request_id) != 0)
		audit_problem(au, "record %" PRIu64 " (%s): belongs to intent %s, stored for %s",
			      seq, label, r.request_id, request_id);
	/* format 3: no signature of its own; the checkpoints that cover it
	 * authenticate it (audit_checkpoints) */
	if (!archive_record_signed(&r)) {
		if (sig_len)
			audit_problem(au,
				      "record %" PRIu64
				      " (%s): of format 3, yet a signature is stored with it",
				      seq, label);
	} else if (au->akey && archive_sig_verify(au->akey, r.hash, 32, sig, sig_len, &e) < 0) {
		audit_problem(
		    au, "record %" PRIu64 " (%s): signature by the archive key does not verify",
		    seq, label);
	}
	link->named = 1;
	link->label = strdup(label);
	if (seq == 0 && (r.alg_count != 1 || r.alg_list[0] != alg_by_name("ecdsa-sha256")->id))
		audit_problem(au, "record 0: the archive key's policy %s is not sign-only",
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
		audit_problem(
		    au,
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
size_t audit_batch_cap(unsigned jobs)
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
			audit_problem(au, "record %" PRIu64 " is missing (a deleted row)",
				      s->gap_from);
		else if (s->gap_from != s->seq)
			audit_problem(au,
				      "records %" PRIu64 "..%" PRIu64 " are missing (deleted rows)",
				      s->gap_from, s->seq - 1);
		if (s->text_len && fwrite(s->text, 1, s->text_len, au->out) != s->text_len)
			return smk_fail(e, SMK_E_IO, "audit: cannot write the report");
		free(s->text);
		s->text = NULL;
		add_counts(&au->c, &s->c);
		/* the last of the record's checks (audit_record) */
		if (s->have_prev && s->link.named && memcmp(s->link.prev, cur->prev, 32) != 0)
			audit_problem(au,
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
	size_t cap = audit_batch_cap(o->jobs);
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

int audit_records(archive *a, struct audit *au, const archive_audit_opts *o,
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
