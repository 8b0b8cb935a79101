/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The archive store: intents become signed records in a hash chain and a
 * Merkle log with signed checkpoints; records have one canonical form; the
 * order rules hold; a process killed in the middle of a commit leaves an
 * archive that opens, is consistent, and shows the interrupted intent.
 *
 * CV-REQs here are structurally valid but not signed (the store does not
 * verify card signatures; test_bundle does, with a test PKI).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "archive/archive.h"
#include "archive/bundle.h"
#include "archive/checkpoint.h"
#include "archive/merkle.h"
#include "archive/record.h"
#include "archive/verify.h"
#include "common/digest.h"
#include "common/json.h"
#include "tests/lib/testutil.h"
#include "sm/tlv.h"

typedef struct fx {
	char dir[64];
	char path[96];
	archive *a;
	EVP_PKEY *akey;
	archive_signer signer;
	smk_buf chain;
	smk_buf keydoc; /* the archive key's built-in policy */
	smk_buf doc;	/* an ordinary policy document */
} fx;

static fx F;

static const char policy_doc[] =
    "{\"alg-list-hex\":\"7073\",\"algorithms\":[{\"id\":112,\"name\":\"ecdsa\"},{\"id\":115,"
    "\"name\":\"ecdsa-sha256\"}],\"name\":\"release-apk\",\"use-counter\":null}";

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	ck_assert_ptr_nonnull(k);
	return k;
}

static void spki_of(EVP_PKEY *k, smk_buf *out)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);

	ck_assert_int_gt(n, 0);
	ck_assert(smk_buf_add(out, der, (size_t)n) == 0);
	OPENSSL_free(der);
}

/* 67 { 7F21 { 7F4E { 5F29 00, 42 CAR, 7F49 { 06 OID }, 5F20 CHR } 5F37 } 42 5F37 }
 * (ref §3.2); the signatures are placeholders */
static void fake_cvreq(smk_buf *out, const char *chr)
{
	static const uint8_t oid[] = {0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03};
	uint8_t sig[64];
	size_t m67, m21, m4e, m49;

	memset(sig, 0x5A, sizeof(sig));
	ck_assert(tlv_begin(out, 0x67, &m67) == 0);
	ck_assert(tlv_begin(out, 0x7F21, &m21) == 0);
	ck_assert(tlv_begin(out, 0x7F4E, &m4e) == 0);
	ck_assert(tlv_put(out, 0x5F29, "\0", 1) == 0);
	ck_assert(tlv_put(out, 0x42, "UTCA00001", 9) == 0);
	ck_assert(tlv_begin(out, 0x7F49, &m49) == 0);
	ck_assert(tlv_put(out, 0x06, oid, sizeof(oid)) == 0);
	ck_assert(tlv_end(out, m49) == 0);
	ck_assert(tlv_put(out, 0x5F20, chr, strlen(chr)) == 0);
	ck_assert(tlv_end(out, m4e) == 0);
	ck_assert(tlv_put(out, 0x5F37, sig, sizeof(sig)) == 0);
	ck_assert(tlv_end(out, m21) == 0);
	ck_assert(tlv_put(out, 0x42, "DENK040414400000", 16) == 0);
	ck_assert(tlv_put(out, 0x5F37, sig, sizeof(sig)) == 0);
	ck_assert(tlv_end(out, m67) == 0);
}

static void intent_req(archive_intent_req *r, const char *kind)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->peer.uid = 1000;
	r->peer.gid = 100;
	r->peer.pid = 4242;
	r->peer.exe = "/usr/bin/smkey";
	if (strcmp(kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0) {
		r->policy_name = ARCHIVE_KEY_POLICY_NAME;
		r->policy_doc = F.keydoc.data;
		r->policy_doc_len = F.keydoc.len;
	} else {
		r->policy_name = "release-apk";
		r->policy_doc = F.doc.data;
		r->policy_doc_len = F.doc.len;
	}
	r->device_serial = "DENK0404144";
	r->devaut_chr = "DENK040414400000";
	r->key_id = 3;
	r->time = 1795000000;
}

static void commit_req(archive_commit_req *c, const char *request_id, const char *label,
		       smk_buf *cvreq, smk_buf *spki)
{
	memset(c, 0, sizeof(*c));
	c->request_id = request_id;
	c->label = label;
	c->device_chain = F.chain.data;
	c->device_chain_len = F.chain.len;
	c->sm_used = 1;
	c->cvreq = cvreq->data;
	c->cvreq_len = cvreq->len;
	c->spki = spki->data;
	c->spki_len = spki->len;
	c->time = 1795000005;
}

/* intent + commit of a new key (or the archive key for record 0) */
static uint64_t add_key(const char *kind, const char *label, archive_intent_info *info_out)
{
	archive_intent_req ir;
	archive_intent_info info;
	archive_commit_req cr;
	smk_buf cvreq = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	EVP_PKEY *k = strcmp(kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0 ? F.akey : new_key();
	uint64_t seq = 999;
	smk_err e;

	intent_req(&ir, kind);
	ck_assert_msg(archive_intent(F.a, &ir, &info, &e) == 0, "%s", e.msg);
	fake_cvreq(&cvreq, info.chr);
	spki_of(k, &spki);
	commit_req(&cr, info.request_id, label, &cvreq, &spki);
	ck_assert_msg(archive_commit(F.a, &F.signer, &cr, &seq, &e) == 0, "%s", e.msg);
	if (k != F.akey)
		EVP_PKEY_free(k);
	smk_buf_free(&cvreq);
	smk_buf_free(&spki);
	if (info_out)
		*info_out = info;
	return seq;
}

static void setup(void)
{
	smk_err e;

	memset(&F, 0, sizeof(F));
	tu_temp_dir(F.dir, sizeof(F.dir), "smk-archive");
	snprintf(F.path, sizeof(F.path), "%s/archive.db", F.dir);
	ck_assert_msg(archive_open(F.path, ARCHIVE_OPEN_CREATE, &F.a, &e) == 0, "%s", e.msg);
	F.akey = new_key();
	archive_soft_signer(&F.signer, F.akey);
	tu_read_source_file(&F.chain, "tests/data/archive/denk0404144-2f02.hex");
	{
		smk_buf bin = SMK_BUF_INIT;

		ck_assert(F.chain.len > 0);
		ck_assert(smk_buf_add_byte(&F.chain, 0) == 0);
		tu_hex(&bin, (const char *)F.chain.data);
		smk_buf_free(&F.chain);
		F.chain = bin;
	}
	ck_assert_int_eq(archive_key_policy(&F.keydoc, &e), 0);
	ck_assert(smk_buf_add(&F.doc, policy_doc, strlen(policy_doc)) == 0);
}

static void teardown(void)
{
	char cmd[128];

	archive_close(F.a);
	EVP_PKEY_free(F.akey);
	smk_buf_free(&F.chain);
	smk_buf_free(&F.keydoc);
	smk_buf_free(&F.doc);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", F.dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void get_record(uint64_t seq, archive_record *r, smk_buf *sig)
{
	smk_buf canon = SMK_BUF_INIT;
	smk_err e;

	ck_assert_int_eq(archive_get(F.a, seq, &canon, sig, &e), 0);
	ck_assert_msg(archive_record_parse(canon.data, canon.len, r, &e) == 0, "%s", e.msg);
	smk_buf_free(&canon);
}

START_TEST(record_round_trip)
{
	archive_intent_info info;
	archive_record r;
	uint64_t seq;
	char chr[17];
	smk_err e;
	json_t *o;

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	seq = add_key(ARCHIVE_KIND_KEY, "apk-app-2027", &info);
	ck_assert_uint_eq(seq, 1);
	get_record(1, &r, NULL);
	ck_assert_str_eq(r.kind, "key");
	ck_assert_str_eq(r.label, "apk-app-2027");
	ck_assert_str_eq(r.request_id, info.request_id);
	ck_assert_str_eq(r.chr, info.chr);
	ck_assert_str_eq(r.policy_name, "release-apk");
	ck_assert_str_eq(r.exe, "/usr/bin/smkey");
	ck_assert_str_eq(r.device_serial, "DENK0404144");
	ck_assert_str_eq(r.devaut_chr, "DENK040414400000");
	ck_assert_str_eq(r.sm_protocol, "id-CA-ECDH-AES-CBC-CMAC-128");
	ck_assert_int_eq(r.sm_used, 1);
	ck_assert_uint_eq(r.uid, 1000);
	ck_assert_uint_eq(r.gid, 100);
	ck_assert_int_eq(r.pid, 4242);
	ck_assert_uint_eq(r.key_id, 3);
	ck_assert_int_eq(r.time, 1795000005);
	ck_assert_int_eq(r.intent_time, 1795000000);
	ck_assert_mem_eq(r.intent_digest, info.digest, 32);
	/* the algorithm list comes from the policy document: ecdsa, ecdsa-sha256 */
	ck_assert_uint_eq(r.alg_count, 2);
	ck_assert_uint_eq(r.alg_list[0], 0x70);
	ck_assert_uint_eq(r.alg_list[1], 0x73);
	/* the device chain is split into the two certificates of EF 2F02 */
	ck_assert_uint_eq(r.devaut.len + r.dica.len, F.chain.len);
	ck_assert_mem_eq(r.devaut.data, F.chain.data, r.devaut.len);
	ck_assert_mem_eq(r.dica.data, F.chain.data + r.devaut.len, r.dica.len);
	ck_assert_uint_eq(r.policy_doc.len, F.doc.len);
	ck_assert_mem_eq(r.policy_doc.data, F.doc.data, F.doc.len);
	ck_assert_int_eq(archive_cvreq_chr(r.cvreq.data, r.cvreq.len, chr, &e), 0);
	ck_assert_str_eq(chr, info.chr);
	/* canonical: parsing and dumping gives the same bytes back */
	o = json_loadb((const char *)r.canonical.data, r.canonical.len, 0, NULL);
	ck_assert_ptr_nonnull(o);
	{
		char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);

		ck_assert_uint_eq(strlen(s), r.canonical.len);
		ck_assert_mem_eq(s, r.canonical.data, r.canonical.len);
		free(s);
	}
	json_decref(o);
	archive_record_free(&r);
}
END_TEST

START_TEST(chr_commits_to_intent_digest)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	archive_intent_req ir;
	archive_intent_info info;
	uint8_t d[32];
	char want[17];
	smk_err e;
	unsigned i, b;

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	intent_req(&ir, ARCHIVE_KIND_KEY);
	ck_assert_int_eq(archive_intent(F.a, &ir, &info, &e), 0);
	/* base32 bit by bit, independently of the implementation */
	memcpy(d, info.digest, 32);
	want[0] = 'S';
	want[1] = 'K';
	for (i = 0; i < 14; i++) {
		unsigned v = 0;

		for (b = 0; b < 5; b++) {
			unsigned bit = i * 5 + b;

			v = v << 1 | ((d[bit / 8] >> (7 - bit % 8)) & 1);
		}
		want[2 + i] = b32[v];
	}
	want[16] = '\0';
	ck_assert_str_eq(info.chr, want);
	ck_assert_uint_eq(strlen(info.chr), 16);
	ck_assert_uint_eq(strlen(info.request_id), 32);
	/* two intents for the same request differ (random request id) */
	{
		archive_intent_info other;

		ck_assert_int_eq(archive_intent(F.a, &ir, &other, &e), 0);
		ck_assert_str_ne(other.chr, info.chr);
		ck_assert_str_ne(other.request_id, info.request_id);
	}
}
END_TEST

START_TEST(signatures_chain_and_checkpoints)
{
	uint8_t prev[32], root[32];
	uint8_t(*leaves)[32];
	smk_buf note = SMK_BUF_INIT;
	archive_checkpoint cp;
	uint64_t i, size;
	smk_err e;

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	for (i = 1; i < 6; i++)
		ck_assert_uint_eq(add_key(ARCHIVE_KIND_KEY, "k", NULL), i);
	leaves = malloc(6 * 32);
	memset(prev, 0, sizeof(prev));
	for (i = 0; i < 6; i++) {
		smk_buf sig = SMK_BUF_INIT;
		archive_record r;

		get_record(i, &r, &sig);
		ck_assert_uint_eq(r.seq, i);
		ck_assert_mem_eq(r.prev, prev, 32);
		if (i == 0) {
			/* record 0 (format 2) is signed by itself */
			ck_assert_int_eq(r.format, ARCHIVE_RECORD_FORMAT_SIGNED);
			ck_assert_msg(
			    archive_sig_verify(F.akey, r.hash, 32, sig.data, sig.len, &e) == 0,
			    "record %llu: %s", (unsigned long long)i, e.msg);
			/* the signature covers the 32-byte record hash, nothing else */
			ck_assert_int_eq(archive_sig_verify(F.akey, r.canonical.data,
							    r.canonical.len, sig.data, sig.len, &e),
					 -1);
		} else {
			/* format 3: no signature of its own, the checkpoint's covers it */
			ck_assert_int_eq(r.format, ARCHIVE_RECORD_FORMAT);
			ck_assert_uint_eq(sig.len, 0);
		}
		ck_assert_int_eq(merkle_leaf_hash(r.canonical.data, r.canonical.len, leaves[i], &e),
				 0);
		memcpy(prev, r.hash, 32);
		archive_record_free(&r);
		smk_buf_free(&sig);
	}
	ck_assert_int_eq(archive_latest_checkpoint(F.a, &note, &size, &e), 0);
	ck_assert_uint_eq(size, 6);
	ck_assert_msg(archive_checkpoint_open(note.data, note.len, F.akey, &cp, &e) == 0, "%s",
		      e.msg);
	ck_assert_uint_eq(cp.size, 6);
	ck_assert_int_eq(merkle_root((const uint8_t(*)[32])leaves, 6, root, &e), 0);
	ck_assert_mem_eq(cp.root, root, 32);
	ck_assert(strncmp(cp.origin, "smkeyd/", 7) == 0);
	/* what the daemon hands out for GetConsistencyProof: 2 -> 6 */
	{
		uint8_t old_root[32];
		uint64_t to = 0;
		smk_buf proof = SMK_BUF_INIT;

		ck_assert_int_eq(archive_consistency_proof(F.a, 2, &to, &proof, &e), 0);
		ck_assert_uint_eq(to, 6);
		ck_assert_int_eq(merkle_root((const uint8_t(*)[32])leaves, 2, old_root, &e), 0);
		ck_assert_int_eq(
		    merkle_verify_consistency(2, 6, old_root, cp.root, proof.data, proof.len, &e),
		    0);
		to = 7;
		ck_assert_int_eq(archive_consistency_proof(F.a, 2, &to, &proof, &e), -1);
		smk_buf_free(&proof);
	}
	ck_assert_uint_eq(strlen(cp.origin), 7 + 16);
	free(leaves);
	smk_buf_free(&note);
}
END_TEST

START_TEST(checkpoint_tampering)
{
	smk_buf note = SMK_BUF_INIT, bad = SMK_BUF_INIT;
	archive_checkpoint cp;
	EVP_PKEY *other = new_key();
	archive_signer os;
	uint64_t size;
	size_t i, nl;
	smk_err e;

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	ck_assert_uint_eq(add_key(ARCHIVE_KIND_KEY, "k", NULL), 1);
	ck_assert_int_eq(archive_latest_checkpoint(F.a, &note, &size, &e), 0);
	/* any changed byte of the note text fails (signature, origin or syntax) */
	nl = (size_t)((uint8_t *)memmem(note.data, note.len, "\n\n", 2) - note.data);
	for (i = 0; i <= nl; i++) {
		smk_buf_reset(&bad);
		ck_assert(smk_buf_add(&bad, note.data, note.len) == 0);
		bad.data[i] ^= (bad.data[i] == '\n') ? 0x20 : 0x01;
		ck_assert_msg(archive_checkpoint_open(bad.data, bad.len, F.akey, &cp, &e) == -1,
			      "byte %zu", i);
	}
	/* every prefix fails */
	for (i = 0; i < note.len; i++)
		ck_assert_int_eq(archive_checkpoint_open(note.data, i, F.akey, &cp, &e), -1);
	/* another key: wrong origin */
	ck_assert_int_eq(archive_checkpoint_open(note.data, note.len, other, &cp, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	/* the same body signed by another key under our name: the key ID differs,
	 * so the line is ignored and no signature of the archive key remains */
	archive_soft_signer(&os, other);
	{
		archive_checkpoint mine;
		smk_buf forged = SMK_BUF_INIT;

		ck_assert_int_eq(archive_checkpoint_open(note.data, note.len, F.akey, &mine, &e),
				 0);
		ck_assert_int_eq(archive_checkpoint_origin(other, mine.origin, &e), 0);
		ck_assert_int_eq(archive_checkpoint_sign(&mine, &os, &forged, &e), 0);
		ck_assert_int_eq(archive_checkpoint_open(forged.data, forged.len, other, &cp, &e),
				 0);
		smk_buf_free(&forged);
	}
	/* a foreign signature line next to ours is ignored (C2SP signed-note) */
	smk_buf_reset(&bad);
	ck_assert(smk_buf_add(&bad, note.data, note.len) == 0);
	{
		static const char foreign[] = "\xe2\x80\x94 witness.example/w1 AAAAAQID\n";

		ck_assert(smk_buf_add(&bad, foreign, strlen(foreign)) == 0);
	}
	ck_assert_msg(archive_checkpoint_open(bad.data, bad.len, F.akey, &cp, &e) == 0, "%s",
		      e.msg);
	/* our signature removed: nothing by the archive key */
	smk_buf_reset(&bad);
	ck_assert(smk_buf_add(&bad, note.data, nl + 2) == 0);
	{
		static const char foreign[] = "\xe2\x80\x94 witness.example/w1 AAAAAQID\n";

		ck_assert(smk_buf_add(&bad, foreign, strlen(foreign)) == 0);
	}
	ck_assert_int_eq(archive_checkpoint_open(bad.data, bad.len, F.akey, &cp, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
	EVP_PKEY_free(other);
	smk_buf_free(&note);
	smk_buf_free(&bad);
}
END_TEST

START_TEST(order_rules)
{
	archive_intent_req ir;
	archive_intent_info info, key_info;
	archive_commit_req cr;
	smk_buf cvreq = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	EVP_PKEY *k = new_key(), *other = new_key();
	archive_signer wrong;
	archive_intent_info *pending;
	uint64_t seq, n;
	size_t np;
	smk_err e;

	/* a key before the archive key is refused */
	intent_req(&ir, ARCHIVE_KIND_KEY);
	ck_assert_int_eq(archive_intent(F.a, &ir, &info, &e), -1);
	ck_assert(strstr(e.msg, "record 0") != NULL);
	/* record 0 must be signed by its own key */
	intent_req(&ir, ARCHIVE_KIND_ARCHIVE_KEY);
	ck_assert_int_eq(archive_intent(F.a, &ir, &key_info, &e), 0);
	fake_cvreq(&cvreq, key_info.chr);
	spki_of(k, &spki);
	commit_req(&cr, key_info.request_id, "a", &cvreq, &spki);
	ck_assert_int_eq(archive_commit(F.a, &F.signer, &cr, &seq, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	ck_assert_int_eq(archive_size(F.a, &n, &e), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(archive_fail(F.a, key_info.request_id, "self-test", &e), 0);
	/* a failed intent has its one outcome */
	ck_assert_int_eq(archive_fail(F.a, key_info.request_id, "again", &e), -1);
	ck_assert_int_eq(archive_commit(F.a, &F.signer, &cr, &seq, &e), -1);
	ck_assert(strstr(e.msg, "already has an outcome") != NULL);
	smk_buf_reset(&cvreq);
	smk_buf_reset(&spki);

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	/* only one archive key */
	intent_req(&ir, ARCHIVE_KIND_ARCHIVE_KEY);
	ck_assert_int_eq(archive_intent(F.a, &ir, &info, &e), -1);

	/* a key record signed by another key is refused and nothing is stored */
	intent_req(&ir, ARCHIVE_KIND_KEY);
	ck_assert_int_eq(archive_intent(F.a, &ir, &info, &e), 0);
	fake_cvreq(&cvreq, info.chr);
	spki_of(k, &spki);
	commit_req(&cr, info.request_id, "k", &cvreq, &spki);
	archive_soft_signer(&wrong, other);
	ck_assert_int_eq(archive_commit(F.a, &wrong, &cr, &seq, &e), -1);
	ck_assert_int_eq(archive_size(F.a, &n, &e), 0);
	ck_assert_uint_eq(n, 1);
	/* a CV-REQ whose CHR is not the intent's is refused */
	smk_buf_reset(&cvreq);
	fake_cvreq(&cvreq, "DENK040414400001");
	commit_req(&cr, info.request_id, "k", &cvreq, &spki);
	ck_assert_int_eq(archive_commit(F.a, &F.signer, &cr, &seq, &e), -1);
	ck_assert_msg(strstr(e.msg, "does not commit to the intent") != NULL, "%s", e.msg);
	/* the intent is still open, then commits once */
	ck_assert_int_eq(archive_pending(F.a, &pending, &np, &e), 0);
	ck_assert_uint_eq(np, 1);
	ck_assert_str_eq(pending[0].request_id, info.request_id);
	free(pending);
	ck_assert_int_eq(archive_policy_key_count(F.a, "release-apk", &n, &e), 0);
	ck_assert_uint_eq(n, 1); /* the open intent counts: it may have made a key */
	smk_buf_reset(&cvreq);
	fake_cvreq(&cvreq, info.chr);
	commit_req(&cr, info.request_id, "k", &cvreq, &spki);
	ck_assert_int_eq(archive_commit(F.a, &F.signer, &cr, &seq, &e), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(archive_commit(F.a, &F.signer, &cr, &seq, &e), -1);
	ck_assert_int_eq(archive_fail(F.a, info.request_id, "late", &e), -1);
	ck_assert_int_eq(archive_pending(F.a, &pending, &np, &e), 0);
	ck_assert_uint_eq(np, 0);
	free(pending);
	ck_assert_int_eq(archive_policy_key_count(F.a, "release-apk", &n, &e), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(archive_find(F.a, "k", &seq, &e), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(archive_find(F.a, info.request_id, &seq, &e), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(archive_find(F.a, "7", &seq, &e), -1);
	ck_assert_int_eq(archive_find(F.a, "nosuchlabel", &seq, &e), -1);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	smk_buf_free(&cvreq);
	smk_buf_free(&spki);
}
END_TEST

/* Rows of the label index, through a connection of the test's own. */
static int label_rows(void)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	ck_assert_int_eq(sqlite3_open(F.path, &db), SQLITE_OK);
	ck_assert_int_eq(
	    sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM record_labels", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Finding by label goes through the label index on a writable open, which
 * an archive without one gets at open; a read-only open reads the records;
 * all three answer alike, and a lying index is not believed. */
START_TEST(label_index_finds_as_the_records_do)
{
	archive *ro;
	sqlite3 *db;
	uint64_t seq = 0;
	smk_err e;

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	ck_assert_uint_eq(add_key(ARCHIVE_KIND_KEY, "alpha", NULL), 1);
	ck_assert_uint_eq(add_key(ARCHIVE_KIND_KEY, "beta", NULL), 2);
	ck_assert_uint_eq(add_key(ARCHIVE_KIND_KEY, "beta", NULL), 3);
	ck_assert_int_eq(label_rows(), 4);
	ck_assert_msg(archive_find(F.a, "alpha", &seq, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(archive_find(F.a, "beta", &seq, &e), -1);
	ck_assert_msg(strstr(e.msg, "names 2 records") != NULL, "%s", e.msg);
	ck_assert_int_eq(archive_find(F.a, "gamma", &seq, &e), -1);
	ck_assert_msg(strstr(e.msg, "no record") != NULL, "%s", e.msg);
	ck_assert_int_eq(archive_find(F.a, "", &seq, &e), -1);
	/* read-only: the records are read, the same answers */
	ck_assert_int_eq(archive_open(F.path, ARCHIVE_OPEN_READONLY, &ro, &e), 0);
	ck_assert_msg(archive_find(ro, "alpha", &seq, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(archive_find(ro, "beta", &seq, &e), -1);
	ck_assert_msg(strstr(e.msg, "names 2 records") != NULL, "%s", e.msg);
	archive_close(ro);
	/* an archive from before the index (or an older smkeyd's records
	 * after it): filled in at the next writable open */
	archive_close(F.a);
	F.a = NULL;
	ck_assert_int_eq(sqlite3_open(F.path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db,
				      "DROP TRIGGER record_labels_no_delete;"
				      " DELETE FROM record_labels WHERE seq >= 2",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	ck_assert_msg(archive_open(F.path, 0, &F.a, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(label_rows(), 4);
	ck_assert_int_eq(archive_find(F.a, "beta", &seq, &e), -1);
	ck_assert_msg(strstr(e.msg, "names 2 records") != NULL, "%s", e.msg);
	/* an index row that points at the wrong record is checked and passed over */
	archive_close(F.a);
	F.a = NULL;
	ck_assert_int_eq(sqlite3_open(F.path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db,
				      "DROP TRIGGER record_labels_no_update;"
				      " UPDATE record_labels SET seq = 9 WHERE seq = 1",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	ck_assert_msg(archive_open(F.path, 0, &F.a, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_find(F.a, "alpha", &seq, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(seq, 1);
}
END_TEST

/* Every way of writing a record other than the canonical one is refused. */
START_TEST(record_parser_is_strict)
{
	archive_record r, again;
	smk_buf canon = SMK_BUF_INIT;
	json_t *o;
	char *s;
	size_t i;
	smk_err e;

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	ck_assert_uint_eq(add_key(ARCHIVE_KIND_KEY, "k", NULL), 1);
	ck_assert_int_eq(archive_get(F.a, 1, &canon, NULL, &e), 0);
	ck_assert_int_eq(archive_record_parse(canon.data, canon.len, &r, &e), 0);
	archive_record_free(&r);
	/* every prefix */
	for (i = 0; i < canon.len; i++)
		ck_assert_int_eq(archive_record_parse(canon.data, i, &again, &e), -1);
	/* pretty-printed: same content, not canonical */
	o = json_loadb((const char *)canon.data, canon.len, 0, NULL);
	s = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(1));
	ck_assert_int_eq(archive_record_parse((const uint8_t *)s, strlen(s), &again, &e), -1);
	ck_assert(strstr(e.msg, "canonical") != NULL);
	free(s);
	/* unknown member, re-encoded canonically */
	json_object_set_new(o, "extra", json_true());
	s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	ck_assert_int_eq(archive_record_parse((const uint8_t *)s, strlen(s), &again, &e), -1);
	ck_assert(strstr(e.msg, "extra") != NULL);
	free(s);
	json_object_del(o, "extra");
	/* wrong types and self-inconsistencies, each named */
	{
		static const struct {
			const char *path, *member;
			int kind; /* 0 string "x", 1 integer 7, 2 delete */
			const char *expect;
		} cases[] = {
		    {NULL, "seq", 0, "seq"},
		    {NULL, "chr", 0, "CHR"},
		    {NULL, "format", 1, "format"},
		    {NULL, "prev", 2, "prev"},
		    {"intent", "request-id", 1, "request-id"},
		    {"intent", "key-id", 0, "key-id"},
		    {"intent", "time", 1, "intent digest"},
		    {"policy", "alg-list", 0, "alg-list"},
		    {"policy", "document", 2, "document"},
		    {"key", "cvreq", 0, "cvreq"},
		    {"key", "label", 1, "label"},
		    {"sm", "used", 0, "used"},
		    {"device", "dica", 2, "dica"},
		};
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			json_t *c = json_deep_copy(o);
			json_t *parent = cases[i].path ? json_object_get(c, cases[i].path) : c;

			if (cases[i].kind == 0)
				json_object_set_new(parent, cases[i].member, json_string("x"));
			else if (cases[i].kind == 1)
				json_object_set_new(parent, cases[i].member, json_integer(7));
			else
				json_object_del(parent, cases[i].member);
			s = json_dumps(c, JSON_SORT_KEYS | JSON_COMPACT);
			ck_assert_msg(
			    archive_record_parse((const uint8_t *)s, strlen(s), &again, &e) == -1,
			    "case %zu", i);
			ck_assert_msg(strstr(e.msg, cases[i].expect) != NULL, "case %zu: %s", i,
				      e.msg);
			free(s);
			json_decref(c);
		}
	}
	/* the policy document changed: its digest no longer matches the intent */
	{
		json_t *c = json_deep_copy(o);
		static const char other[] =
		    "{\"algorithms\":[{\"id\":115}],\"name\":\"release-apk\"}";
		{
			char tmp[128];

			EVP_EncodeBlock((unsigned char *)tmp, (const unsigned char *)other,
					(int)strlen(other));
			json_object_set_new(json_object_get(c, "policy"), "document",
					    json_string(tmp));
		}
		s = json_dumps(c, JSON_SORT_KEYS | JSON_COMPACT);
		ck_assert_int_eq(archive_record_parse((const uint8_t *)s, strlen(s), &again, &e),
				 -1);
		ck_assert_msg(strstr(e.msg, "policy release-apk: digest") != NULL, "%s", e.msg);
		free(s);
		json_decref(c);
	}
	/* the recorded intent digest is the hash of other bytes of the record
	 * (another member's, or the intent's with the member after it): they
	 * are not the intent's */
	{
		static const char *const members[] = {"device", "key", "policy", NULL};

		for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
			json_t *c = json_deep_copy(o);
			char *part = members[i] ? json_dumps(json_object_get(c, members[i]),
							     JSON_SORT_KEYS | JSON_COMPACT)
						: NULL;
			const char *at;
			uint8_t d[32];

			s = json_dumps(c, JSON_SORT_KEYS | JSON_COMPACT);
			if (!part) {
				/* from the intent's value to the end of the record */
				at = strstr(s, "\"intent\":");
				ck_assert_ptr_nonnull(at);
				part = strdup(at + strlen("\"intent\":"));
			}
			free(s);
			ck_assert_int_eq(smk_sha256(part, strlen(part), d, &e), 0);
			json_object_set_new(c, "intent-digest", smk_json_b64(d, 32));
			s = json_dumps(c, JSON_SORT_KEYS | JSON_COMPACT);
			ck_assert_int_eq(
			    archive_record_parse((const uint8_t *)s, strlen(s), &again, &e), -1);
			ck_assert_msg(strstr(e.msg, "intent digest does not match") != NULL,
				      "%zu: %s", i, e.msg);
			free(s);
			free(part);
			json_decref(c);
		}
	}
	/* garbage */
	ck_assert_int_eq(archive_record_parse((const uint8_t *)"[1]", 3, &again, &e), -1);
	ck_assert_int_eq(archive_record_parse((const uint8_t *)"\xff\xfe", 2, &again, &e), -1);
	json_decref(o);
	smk_buf_free(&canon);
}
END_TEST

START_TEST(archive_key_policy_is_sign_only)
{
	uint8_t algs[SMK_ALG_LIST_MAX];
	int64_t uc;
	size_t n;
	smk_err e;

	ck_assert_int_eq(archive_policy_algs(F.keydoc.data, F.keydoc.len, algs, &n, &uc, &e), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(algs[0], alg_by_name("ecdsa-sha256")->id);
	ck_assert(memmem(F.keydoc.data, F.keydoc.len, "\"exportable\":false", 18) != NULL);
	/* policy documents without a list, or with a disagreeing hex form, are refused */
	ck_assert_int_eq(
	    archive_policy_algs((const uint8_t *)"{\"algorithms\":[]}", 17, algs, &n, &uc, &e), -1);
	ck_assert_int_eq(
	    archive_policy_algs((const uint8_t *)"{\"name\":\"x\"}", 12, algs, &n, &uc, &e), -1);
	{
		static const char d[] = "{\"alg-list-hex\":\"70\",\"algorithms\":[{\"id\":115}]}";

		ck_assert_int_eq(
		    archive_policy_algs((const uint8_t *)d, strlen(d), algs, &n, &uc, &e), -1);
		ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	}
}
END_TEST

/* Algorithm ids are bytes and a use counter is 32 bits; anything else in a
 * stored policy document is refused, naming what is wrong. */
START_TEST(policy_document_numbers_in_range)
{
	static const struct {
		const char *doc;
		int ok;
		const char *msg;
	} cases[] = {
	    {"{\"algorithms\":[{\"id\":255}],\"use-counter\":4294967295}", 1, NULL},
	    {"{\"algorithms\":[{\"id\":0}],\"use-counter\":null}", 1, NULL},
	    {"{\"algorithms\":[{\"id\":256}]}", 0, "policy document: algorithm 0 has no id 0..255"},
	    {"{\"algorithms\":[{\"id\":1},{\"id\":-1}]}", 0,
	     "policy document: algorithm 1 has no id 0..255"},
	    {"{\"algorithms\":[{\"id\":\"1\"}]}", 0,
	     "policy document: algorithm 0 has no id 0..255"},
	    {"{\"algorithms\":[{\"id\":1}],\"use-counter\":4294967296}", 0,
	     "policy document: bad \"use-counter\""},
	    {"{\"algorithms\":[{\"id\":1}],\"use-counter\":-1}", 0,
	     "policy document: bad \"use-counter\""},
	    {"{\"algorithms\":[{\"id\":1}],\"use-counter\":1.5}", 0,
	     "policy document: bad \"use-counter\""},
	};
	uint8_t algs[SMK_ALG_LIST_MAX];
	int64_t uc;
	size_t i, n;
	smk_err e;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = archive_policy_algs((const uint8_t *)cases[i].doc, strlen(cases[i].doc),
					     algs, &n, &uc, &e);

		ck_assert_msg(rc == (cases[i].ok ? 0 : -1), "%s", cases[i].doc);
		if (cases[i].msg)
			ck_assert_str_eq(e.msg, cases[i].msg);
		else
			ck_assert_int_eq(uc, i == 0 ? 4294967295LL : 0);
	}
}
END_TEST

START_TEST(open_refuses_what_is_not_an_archive)
{
	archive *b;
	char path[128];
	FILE *f;
	smk_err e;
	archive_intent_req ir;
	archive_intent_info info;

	snprintf(path, sizeof(path), "%s/text", F.dir);
	f = fopen(path, "w");
	fputs("this is not a database, just text that is long enough to be read", f);
	fclose(f);
	ck_assert_int_eq(archive_open(path, 0, &b, &e), -1);
	snprintf(path, sizeof(path), "%s/missing.db", F.dir);
	ck_assert_int_eq(archive_open(path, ARCHIVE_OPEN_READONLY, &b, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_IO);
	/* read-only handles never write */
	ck_assert_int_eq(archive_open(F.path, ARCHIVE_OPEN_READONLY, &b, &e), 0);
	intent_req(&ir, ARCHIVE_KIND_ARCHIVE_KEY);
	ck_assert_int_eq(archive_intent(b, &ir, &info, &e), -1);
	archive_close(b);
}
END_TEST

/* The archive names every key and requester: a new file is 0600 whatever
 * the umask, and so are its -wal and -shm files. An existing file keeps its
 * owner's mode. */
START_TEST(new_archive_is_0600_under_umask_022)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char path[128], file[160];
	struct stat st;
	archive *b;
	mode_t old;
	smk_err e;
	size_t i;

	snprintf(path, sizeof(path), "%s/private.db", F.dir);
	old = umask(022);
	ck_assert_msg(archive_open(path, ARCHIVE_OPEN_CREATE, &b, &e) == 0, "%s", e.msg);
	umask(old);
	for (i = 0; i < 3; i++) {
		snprintf(file, sizeof(file), "%s%s", path, suffix[i]);
		ck_assert_msg(stat(file, &st) == 0, "%s: missing", file);
		ck_assert_msg((st.st_mode & 07777) == 0600, "%s: mode %04o, not 0600", file,
			      (unsigned)(st.st_mode & 07777));
	}
	archive_close(b);

	/* an archive the administrator made 0640 stays 0640 */
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_msg(archive_open(path, ARCHIVE_OPEN_CREATE, &b, &e) == 0, "%s", e.msg);
	archive_close(b);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
}
END_TEST

/* kill -9 between the steps of archive_commit */
static void die(const char *step, void *ctx)
{
	if (strcmp(step, ctx) == 0)
		kill(getpid(), SIGKILL);
}

START_TEST(killed_during_commit_leaves_a_sound_archive)
{
	/* no record-signed: a format-3 record is not signed on its own */
	static const char *const steps[] = {"intent-loaded", "record-built", "record-inserted",
					    "checkpoint-signed", "checkpoint-inserted"};
	size_t i;
	smk_err e;

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		archive_intent_req ir;
		archive_intent_info info, *pending;
		uint64_t size, cp_size;
		smk_buf note = SMK_BUF_INIT;
		archive_checkpoint cp;
		size_t np;
		pid_t pid;
		int status;

		intent_req(&ir, ARCHIVE_KIND_KEY);
		ck_assert_int_eq(archive_intent(F.a, &ir, &info, &e), 0);
		ck_assert_int_eq(archive_size(F.a, &size, &e), 0);
		archive_close(F.a);
		F.a = NULL;
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			archive *c;
			archive_commit_req cr;
			smk_buf cvreq = SMK_BUF_INIT, spki = SMK_BUF_INIT;
			uint64_t seq;

			if (archive_open(F.path, 0, &c, &e) < 0)
				_exit(3);
			archive_set_step_hook(c, die, (void *)steps[i]);
			fake_cvreq(&cvreq, info.chr);
			spki_of(F.akey, &spki);
			commit_req(&cr, info.request_id, "interrupted", &cvreq, &spki);
			archive_commit(c, &F.signer, &cr, &seq, &e);
			_exit(4); /* the hook should have killed us */
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "step %s",
			      steps[i]);
		/* the archive opens, nothing half-written is visible, the intent is open */
		ck_assert_msg(archive_open(F.path, 0, &F.a, &e) == 0, "%s", e.msg);
		ck_assert_int_eq(archive_size(F.a, &cp_size, &e), 0);
		ck_assert_uint_eq(cp_size, size);
		ck_assert_int_eq(archive_latest_checkpoint(F.a, &note, &cp_size, &e), 0);
		ck_assert_uint_eq(cp_size, size);
		ck_assert_int_eq(archive_checkpoint_open(note.data, note.len, F.akey, &cp, &e), 0);
		smk_buf_free(&note);
		ck_assert_int_eq(archive_pending(F.a, &pending, &np, &e), 0);
		ck_assert_uint_eq(np, 1);
		ck_assert_str_eq(pending[0].request_id, info.request_id);
		free(pending);
		/* the audit holds and lists the interrupted intent */
		{
			archive_audit_opts o;
			unsigned problems = 99;
			char *text = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&text, &len);

			memset(&o, 0, sizeof(o));
			ck_assert_int_eq(archive_audit(F.a, &o, f, &problems, &e), 0);
			fclose(f);
			ck_assert_msg(problems == 0, "%s", text);
			ck_assert(strstr(text, info.request_id) != NULL);
			free(text);
		}
		/* the daemon's recovery: the intent ends with one outcome */
		ck_assert_int_eq(
		    archive_fail(F.a, info.request_id, "daemon died during commit", &e), 0);
		/* and the archive keeps working */
		ck_assert_uint_eq(add_key(ARCHIVE_KIND_KEY, "after", NULL), size);
	}
}
END_TEST

START_TEST(bundle_export_is_self_contained)
{
	smk_buf out = SMK_BUF_INIT, note = SMK_BUF_INIT;
	archive_bundle b;
	archive_checkpoint cp;
	archive_record r, k;
	smk_err e;
	uint64_t i;

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	for (i = 1; i <= 4; i++)
		add_key(ARCHIVE_KIND_KEY, "k", NULL);
	for (i = 0; i <= 4; i++) {
		smk_buf_reset(&out);
		ck_assert_msg(archive_export_bundle(F.a, i, &out, &e) == 0, "%s", e.msg);
		ck_assert_msg(archive_bundle_parse(out.data, out.len, &b, &e) == 0, "%s", e.msg);
		ck_assert_int_eq(archive_record_parse(b.record.data, b.record.len, &r, &e), 0);
		ck_assert_int_eq(archive_record_parse(b.key_record.data, b.key_record.len, &k, &e),
				 0);
		ck_assert_uint_eq(r.seq, i);
		ck_assert_uint_eq(k.seq, 0);
		/* record 0 carries its signature, later records none (format 3) */
		ck_assert_int_eq(b.has_record_sig, i == 0);
		if (i == 0)
			ck_assert_int_eq(archive_sig_verify(F.akey, r.hash, 32, b.record_sig.data,
							    b.record_sig.len, &e),
					 0);
		ck_assert_int_eq(archive_sig_verify(F.akey, k.hash, 32, b.key_record_sig.data,
						    b.key_record_sig.len, &e),
				 0);
		ck_assert_uint_eq(b.key_spki.len, k.spki.len);
		ck_assert_mem_eq(b.key_spki.data, k.spki.data, k.spki.len);
		ck_assert_uint_eq(b.cvreq.len, r.cvreq.len);
		ck_assert_uint_eq(b.device_chain.len, F.chain.len);
		ck_assert_int_eq(
		    archive_checkpoint_open(b.checkpoint.data, b.checkpoint.len, F.akey, &cp, &e),
		    0);
		ck_assert_uint_eq(cp.size, 5);
		ck_assert_uint_eq(b.inclusion.index, i);
		ck_assert_int_eq(merkle_verify_inclusion(i, cp.size, r.leaf,
							 b.inclusion.hashes.data,
							 b.inclusion.hashes.len, cp.root, &e),
				 0);
		ck_assert_int_eq(merkle_verify_inclusion(0, cp.size, k.leaf,
							 b.key_inclusion.hashes.data,
							 b.key_inclusion.hashes.len, cp.root, &e),
				 0);
		archive_record_free(&r);
		archive_record_free(&k);
		archive_bundle_free(&b);
	}
	/* truncated bundles and unknown members are refused (up to the final
	 * "}": without the newline after it the bundle is whole, which a
	 * length one less than a multiple of 7 hit) */
	for (i = 0; i + 1 < out.len; i += 7)
		ck_assert_int_eq(archive_bundle_parse(out.data, i, &b, &e), -1);
	smk_buf_free(&out);
	smk_buf_free(&note);
}
END_TEST

/* intent + record without a checkpoint (group commit) */
static uint64_t add_key_deferred_with(const archive_signer *signer, const char *label)
{
	archive_intent_req ir;
	archive_intent_info info;
	archive_commit_req cr;
	smk_buf cvreq = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	EVP_PKEY *k = new_key();
	uint64_t seq = 999;
	smk_err e;

	intent_req(&ir, ARCHIVE_KIND_KEY);
	ck_assert_msg(archive_intent(F.a, &ir, &info, &e) == 0, "%s", e.msg);
	fake_cvreq(&cvreq, info.chr);
	spki_of(k, &spki);
	commit_req(&cr, info.request_id, label, &cvreq, &spki);
	ck_assert_msg(archive_commit_record(F.a, signer, &cr, &seq, &e) == 0, "%s", e.msg);
	EVP_PKEY_free(k);
	smk_buf_free(&cvreq);
	smk_buf_free(&spki);
	return seq;
}

static uint64_t add_key_deferred(const char *label)
{
	return add_key_deferred_with(&F.signer, label);
}

/* counts the signatures the archive key makes */
struct counting_signer {
	archive_signer inner;
	unsigned n;
};

static int count_sign(void *ctx, const uint8_t *msg, size_t len, smk_buf *der_sig, smk_err *e)
{
	struct counting_signer *c = ctx;

	c->n++;
	return c->inner.sign(c->inner.ctx, msg, len, der_sig, e);
}

static unsigned audit_text(char **text, smk_err *e)
{
	archive_audit_opts o;
	unsigned problems = 99;
	size_t len = 0;
	FILE *f = open_memstream(text, &len);

	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(archive_audit(F.a, &o, f, &problems, e), 0);
	fclose(f);
	return problems;
}

START_TEST(group_commit_one_checkpoint_covers_all)
{
	struct counting_signer cs;
	archive_signer s;
	smk_buf out = SMK_BUF_INIT, note = SMK_BUF_INIT;
	archive_checkpoint cp;
	archive_bundle b;
	archive_record r;
	uint64_t i, size = 0, latest = 0;
	char *text = NULL;
	smk_err e;

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	cs.inner = F.signer;
	cs.n = 0;
	s.sign = count_sign;
	s.ctx = &cs;
	s.pub = F.akey;
	/* nothing uncovered: no signature is spent */
	ck_assert_int_eq(archive_sign_checkpoint(F.a, &s, &size, &e), 0);
	ck_assert_uint_eq(size, 1);
	ck_assert_uint_eq(cs.n, 0);
	for (i = 1; i <= 5; i++)
		ck_assert_uint_eq(add_key_deferred_with(&s, "batched"), i);
	/* the records exist (format 3: the card signed none of them), but no
	 * checkpoint covers them */
	ck_assert_uint_eq(cs.n, 0);
	ck_assert_int_eq(archive_size(F.a, &size, &e), 0);
	ck_assert_uint_eq(size, 6);
	ck_assert_int_eq(archive_latest_checkpoint(F.a, &note, &latest, &e), 0);
	ck_assert_uint_eq(latest, 1);
	for (i = 1; i <= 5; i++) {
		smk_buf_reset(&out);
		ck_assert_int_eq(archive_export_bundle(F.a, i, &out, &e), -1);
		ck_assert_msg(strstr(e.msg, "not covered") != NULL, "%s", e.msg);
	}
	/* audit: the uncovered tail is a note, not a problem */
	ck_assert_uint_eq(audit_text(&text, &e), 0);
	ck_assert_msg(strstr(text, "records 1..5 are not covered") != NULL, "%s", text);
	free(text);
	text = NULL;
	/* one signature covers all five */
	ck_assert_msg(archive_sign_checkpoint(F.a, &s, &size, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(size, 6);
	ck_assert_uint_eq(cs.n, 1);
	smk_buf_reset(&note);
	ck_assert_int_eq(archive_latest_checkpoint(F.a, &note, &latest, &e), 0);
	ck_assert_uint_eq(latest, 6);
	ck_assert_int_eq(archive_checkpoint_open(note.data, note.len, F.akey, &cp, &e), 0);
	ck_assert_uint_eq(cp.size, 6);
	for (i = 0; i <= 5; i++) {
		smk_buf_reset(&out);
		ck_assert_msg(archive_export_bundle(F.a, i, &out, &e) == 0, "%s", e.msg);
		ck_assert_msg(archive_bundle_parse(out.data, out.len, &b, &e) == 0, "%s", e.msg);
		ck_assert_int_eq(archive_record_parse(b.record.data, b.record.len, &r, &e), 0);
		ck_assert_int_eq(b.has_record_sig, i == 0);
		ck_assert_int_eq(merkle_verify_inclusion(i, cp.size, r.leaf,
							 b.inclusion.hashes.data,
							 b.inclusion.hashes.len, cp.root, &e),
				 0);
		archive_record_free(&r);
		archive_bundle_free(&b);
	}
	ck_assert_uint_eq(audit_text(&text, &e), 0);
	ck_assert_msg(strstr(text, "not covered") == NULL, "%s", text);
	free(text);
	/* a second call has nothing to cover: still one signature */
	ck_assert_int_eq(archive_sign_checkpoint(F.a, &s, &size, &e), 0);
	ck_assert_uint_eq(cs.n, 1);
	smk_buf_free(&out);
	smk_buf_free(&note);
}
END_TEST

/* The checkpoint in three steps (the daemon signs outside its archive
 * lock): records appended while the card signs are covered by the next
 * checkpoint, a note made stale by a larger checkpoint is not stored, and
 * the audit is clean. */
START_TEST(checkpoint_in_steps_tolerates_appends_meanwhile)
{
	smk_buf note = SMK_BUF_INIT, stale = SMK_BUF_INIT, latest_note = SMK_BUF_INIT;
	archive_checkpoint cp, cp2, opened;
	uint64_t size = 0, latest = 0;
	char *text = NULL;
	smk_err e;

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	/* everything covered: nothing to sign */
	ck_assert_msg(archive_checkpoint_begin(F.a, &F.signer, &cp, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(cp.size, 0);
	ck_assert_uint_eq(add_key_deferred_with(&F.signer, "a"), 1);
	ck_assert_uint_eq(add_key_deferred_with(&F.signer, "b"), 2);
	ck_assert_msg(archive_checkpoint_begin(F.a, &F.signer, &cp, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(cp.size, 3);
	/* the card signs; meanwhile a record is appended */
	ck_assert_uint_eq(add_key_deferred_with(&F.signer, "c"), 3);
	ck_assert_msg(archive_checkpoint_sign(&cp, &F.signer, &note, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_checkpoint_store(F.a, &cp, &note, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(archive_latest_checkpoint(F.a, &latest_note, &latest, &e), 0);
	ck_assert_uint_eq(latest, 3);
	ck_assert_int_eq(
	    archive_checkpoint_open(latest_note.data, latest_note.len, F.akey, &opened, &e), 0);
	ck_assert_mem_eq(opened.root, cp.root, 32);
	/* two drafts over the same tree: the second store adds nothing */
	ck_assert_msg(archive_checkpoint_begin(F.a, &F.signer, &cp, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(cp.size, 4);
	ck_assert_msg(archive_checkpoint_begin(F.a, &F.signer, &cp2, &e) == 0, "%s", e.msg);
	smk_buf_reset(&note);
	ck_assert_int_eq(archive_checkpoint_sign(&cp, &F.signer, &note, &e), 0);
	ck_assert_int_eq(archive_checkpoint_sign(&cp2, &F.signer, &stale, &e), 0);
	ck_assert_msg(archive_checkpoint_store(F.a, &cp, &note, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_checkpoint_store(F.a, &cp2, &stale, &e) == 0, "%s", e.msg);
	smk_buf_reset(&latest_note);
	ck_assert_int_eq(archive_latest_checkpoint(F.a, &latest_note, &latest, &e), 0);
	ck_assert_uint_eq(latest, 4);
	ck_assert_uint_eq(latest_note.len, note.len);
	ck_assert_mem_eq(latest_note.data, note.data, note.len);
	ck_assert_int_eq(archive_sign_checkpoint(F.a, &F.signer, &size, &e), 0);
	ck_assert_uint_eq(size, 4);
	ck_assert_uint_eq(audit_text(&text, &e), 0);
	ck_assert_msg(strstr(text, "not covered") == NULL, "%s", text);
	free(text);
	smk_buf_free(&note);
	smk_buf_free(&stale);
	smk_buf_free(&latest_note);
}
END_TEST

START_TEST(group_commit_refuses_a_foreign_signer)
{
	archive_signer other;
	EVP_PKEY *k = new_key();
	uint64_t size = 0, latest = 0;
	smk_buf note = SMK_BUF_INIT;
	char *text = NULL;
	smk_err e;

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	ck_assert_uint_eq(add_key_deferred("a"), 1);
	archive_soft_signer(&other, k);
	ck_assert_int_eq(archive_sign_checkpoint(F.a, &other, &size, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	ck_assert_int_eq(archive_latest_checkpoint(F.a, &note, &latest, &e), 0);
	ck_assert_uint_eq(latest, 1);
	/* a read-only handle never signs */
	{
		archive *ro;

		ck_assert_int_eq(archive_open(F.path, ARCHIVE_OPEN_READONLY, &ro, &e), 0);
		ck_assert_int_eq(archive_sign_checkpoint(ro, &F.signer, &size, &e), -1);
		archive_close(ro);
	}
	/* a checkpoint that does not verify is not the cause a note excuses */
	ck_assert_int_eq(archive_sign_checkpoint(F.a, &F.signer, &size, &e), 0);
	ck_assert_uint_eq(add_key_deferred("b"), 2);
	{
		sqlite3 *db;

		ck_assert_int_eq(sqlite3_open(F.path, &db), SQLITE_OK);
		ck_assert_int_eq(
		    sqlite3_exec(db,
				 "DROP TRIGGER checkpoints_no_update;"
				 "UPDATE checkpoints SET note = replace(note, 'smkeyd',"
				 " 'smkeyX') WHERE size = 2",
				 NULL, NULL, NULL),
		    SQLITE_OK);
		sqlite3_close(db);
	}
	ck_assert_uint_ne(audit_text(&text, &e), 0);
	ck_assert_msg(strstr(text, "covers 1 of 3 records") != NULL, "%s", text);
	free(text);
	smk_buf_free(&note);
	EVP_PKEY_free(k);
}
END_TEST

/* kill -9 between a record's commit and its checkpoint */
START_TEST(killed_between_record_and_checkpoint)
{
	archive_intent_req ir;
	archive_intent_info info, *pending;
	uint64_t size = 0, latest = 0;
	smk_buf note = SMK_BUF_INIT, out = SMK_BUF_INIT;
	char *text = NULL;
	size_t np;
	pid_t pid;
	int status;
	smk_err e;

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	intent_req(&ir, ARCHIVE_KIND_KEY);
	ck_assert_int_eq(archive_intent(F.a, &ir, &info, &e), 0);
	archive_close(F.a);
	F.a = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		archive *c;
		archive_commit_req cr;
		smk_buf cvreq = SMK_BUF_INIT, spki = SMK_BUF_INIT;
		uint64_t seq;

		if (archive_open(F.path, 0, &c, &e) < 0)
			_exit(3);
		archive_set_step_hook(c, die, (void *)"record-committed");
		fake_cvreq(&cvreq, info.chr);
		spki_of(F.akey, &spki);
		commit_req(&cr, info.request_id, "interrupted", &cvreq, &spki);
		archive_commit_record(c, &F.signer, &cr, &seq, &e);
		_exit(4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ck_assert_msg(archive_open(F.path, 0, &F.a, &e) == 0, "%s", e.msg);
	/* the record is durable and closed the intent; it is not covered */
	ck_assert_int_eq(archive_size(F.a, &size, &e), 0);
	ck_assert_uint_eq(size, 2);
	ck_assert_int_eq(archive_pending(F.a, &pending, &np, &e), 0);
	ck_assert_uint_eq(np, 0);
	free(pending);
	ck_assert_int_eq(archive_latest_checkpoint(F.a, &note, &latest, &e), 0);
	ck_assert_uint_eq(latest, 1);
	ck_assert_int_eq(archive_export_bundle(F.a, 1, &out, &e), -1);
	ck_assert_uint_eq(audit_text(&text, &e), 0);
	ck_assert_msg(strstr(text, "records 1..1 are not covered") != NULL, "%s", text);
	free(text);
	text = NULL;
	/* recovery at start: one checkpoint, and the bundle exists */
	ck_assert_int_eq(archive_sign_checkpoint(F.a, &F.signer, &size, &e), 0);
	ck_assert_uint_eq(size, 2);
	ck_assert_msg(archive_export_bundle(F.a, 1, &out, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(audit_text(&text, &e), 0);
	free(text);
	smk_buf_free(&note);
	smk_buf_free(&out);
}
END_TEST

/* Nothing read from a file is trusted: random bytes, huge inputs, wrong
 * JSON shapes all fail with an error, never a crash (ASan build). */
/* Open intents are listed oldest first, however many closed ones (committed
 * or failed) were made after them: the list walks back from the newest
 * intent and stops once it has as many as are open. */
START_TEST(pending_lists_old_open_intents_among_closed)
{
	archive_intent_req ir;
	archive_intent_info old, mid, failed, *pending = NULL;
	char label[16];
	size_t np, i;
	smk_err e;

	ck_assert_uint_eq(add_key(ARCHIVE_KIND_ARCHIVE_KEY, "smkeyd-archive", NULL), 0);
	intent_req(&ir, ARCHIVE_KIND_KEY);
	ck_assert_int_eq(archive_intent(F.a, &ir, &old, &e), 0);
	for (i = 0; i < 5; i++) {
		snprintf(label, sizeof(label), "before-%zu", i);
		add_key(ARCHIVE_KIND_KEY, label, NULL);
	}
	ck_assert_int_eq(archive_intent(F.a, &ir, &mid, &e), 0);
	ck_assert_int_eq(archive_intent(F.a, &ir, &failed, &e), 0);
	ck_assert_int_eq(archive_fail(F.a, failed.request_id, "card refused", &e), 0);
	for (i = 0; i < 3; i++) {
		snprintf(label, sizeof(label), "after-%zu", i);
		add_key(ARCHIVE_KIND_KEY, label, NULL);
	}
	ck_assert_int_eq(archive_pending(F.a, &pending, &np, &e), 0);
	ck_assert_uint_eq(np, 2);
	ck_assert_str_eq(pending[0].request_id, old.request_id);
	ck_assert_str_eq(pending[1].request_id, mid.request_id);
	ck_assert_str_eq(pending[0].kind, ARCHIVE_KIND_KEY);
	ck_assert_str_eq(pending[0].chr, old.chr);
	ck_assert_mem_eq(pending[1].digest, mid.digest, 32);
	free(pending);
	/* the old one closes: only the newer is left */
	ck_assert_int_eq(archive_fail(F.a, old.request_id, "device gone", &e), 0);
	ck_assert_int_eq(archive_pending(F.a, &pending, &np, &e), 0);
	ck_assert_uint_eq(np, 1);
	ck_assert_str_eq(pending[0].request_id, mid.request_id);
	free(pending);
}
END_TEST

START_TEST(garbage_and_oversized_inputs)
{
	archive_record r;
	archive_bundle b;
	archive_checkpoint cp;
	uint8_t junk[512];
	size_t big = (1u << 20) + 16, i, n;
	uint8_t *huge = malloc(big);
	smk_err e;

	ck_assert_ptr_nonnull(huge);
	memset(huge, ' ', big);
	huge[0] = '{';
	huge[big - 1] = '}';
	ck_assert_int_eq(archive_record_parse(huge, big, &r, &e), -1);
	ck_assert_int_eq(archive_bundle_parse(huge, big, &b, &e), -1);
	ck_assert_int_eq(archive_checkpoint_open(huge, 5000, F.akey, &cp, &e), -1);
	free(huge);
	srand(7);
	for (n = 0; n < 200; n++) {
		for (i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)rand();
		ck_assert_int_eq(archive_record_parse(junk, n + 1, &r, &e), -1);
		ck_assert_int_eq(archive_bundle_parse(junk, n + 1, &b, &e), -1);
		ck_assert_int_eq(archive_checkpoint_open(junk, n + 1, F.akey, &cp, &e), -1);
	}
	{
		static const char *const shapes[] = {
		    "{}",
		    "[]",
		    "null",
		    "{\"format\":\"smkeyd-bundle\"}",
		    "{\"format\":\"smkeyd-bundle\",\"format\":\"x\"}",
		    "\"x\"",
		};
		for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
			ck_assert_int_eq(archive_bundle_parse((const uint8_t *)shapes[i],
							      strlen(shapes[i]), &b, &e),
					 -1);
			ck_assert_int_eq(archive_record_parse((const uint8_t *)shapes[i],
							      strlen(shapes[i]), &r, &e),
					 -1);
		}
	}
	/* a note with the right shape but a bad root line or size */
	{
		static const char *const notes[] = {
		    "smkeyd/x\n01\nAAAA\n\n\xe2\x80\x94 smkeyd/x AAAAAQ==\n",
		    "smkeyd/x\n1\nAAAA\n\n\xe2\x80\x94 smkeyd/x AAAAAQ==\n",
		    "smkeyd/x\n-1\nAAAA\n\n\xe2\x80\x94 smkeyd/x AAAAAQ==\n",
		    "smkeyd/x\n1\n\n\n-- smkeyd/x AAAAAQ==\n",
		};
		for (i = 0; i < sizeof(notes) / sizeof(notes[0]); i++)
			ck_assert_int_eq(archive_checkpoint_open((const uint8_t *)notes[i],
								 strlen(notes[i]), F.akey, &cp, &e),
					 -1);
	}
}
END_TEST

static Suite *archive_suite(void)
{
	Suite *s = suite_create("archive");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, record_round_trip);
	tcase_add_test(tc, chr_commits_to_intent_digest);
	tcase_add_test(tc, signatures_chain_and_checkpoints);
	tcase_add_test(tc, checkpoint_tampering);
	tcase_add_test(tc, order_rules);
	tcase_add_test(tc, label_index_finds_as_the_records_do);
	tcase_add_test(tc, record_parser_is_strict);
	tcase_add_test(tc, archive_key_policy_is_sign_only);
	tcase_add_test(tc, policy_document_numbers_in_range);
	tcase_add_test(tc, open_refuses_what_is_not_an_archive);
	tcase_add_test(tc, new_archive_is_0600_under_umask_022);
	tcase_add_test(tc, killed_during_commit_leaves_a_sound_archive);
	tcase_add_test(tc, bundle_export_is_self_contained);
	tcase_add_test(tc, group_commit_one_checkpoint_covers_all);
	tcase_add_test(tc, checkpoint_in_steps_tolerates_appends_meanwhile);
	tcase_add_test(tc, group_commit_refuses_a_foreign_signer);
	tcase_add_test(tc, killed_between_record_and_checkpoint);
	tcase_add_test(tc, pending_lists_old_open_intents_among_closed);
	tcase_add_test(tc, garbage_and_oversized_inputs);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(archive_suite());
}
