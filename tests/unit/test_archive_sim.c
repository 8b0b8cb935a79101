/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * End to end over the simulator (in-process, no pcscd): the archive key and
 * keys under the example policies of etc/policies.d are generated through
 * the SM session layer, committed, exported as bundles and verified, the
 * archive is audited with the smkey tools; then the SQLite file is tampered
 * with (a flipped byte in a record, a deleted row, a truncated log) and the
 * audit names what happened.
 *
 * SMK_KEEP_DIR=DIR keeps the archive, the bundles and the trust directory
 * there (docs/archive.md shows output made that way). SMK_SIM_CA=FILE
 * issues the simulator's device certificates from that simulator CA
 * instead of a fresh one (tests/fuzz/fixtures/sim-ca: the seed bundles of
 * fuzz_bundle chain to its root).
 *
 * With SMK_ARCHIVE_READER=NAME and SMK_ARCHIVE_TRUST=DIR the same scenario
 * runs over PC/SC against the card in that reader (smkey-sim behind a real
 * pcscd: tests/integration/test_archive_pcsc.sh) instead of in-process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <inttypes.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "archive/archive.h"
#include "archive/hsm_signer.h"
#include "archive/record.h"
#include "archive/verify.h"
#include "tests/lib/testutil.h"
#include "policy/policy.h"
#include "sim/card.h"
#include "sm/pcsc.h"
#include "sm/pin.h"
#include "sm/session.h"
#include "sm/transport.h"

/* ---- the simulator as a transport ---- */

static int sim_transmit(void *impl, const uint8_t *cmd, size_t n, smk_buf *resp,
			unsigned timeout_ms, smk_err *e)
{
	smk_buf r = SMK_BUF_INIT;
	int rc;

	(void)timeout_ms;
	rc = sim_card_transmit(impl, cmd, n, &r);
	if (rc == SIM_ANSWERED && smk_buf_add(resp, r.data, r.len) == 0) {
		smk_buf_free(&r);
		return 0;
	}
	smk_buf_free(&r);
	if (rc == SIM_RESET || rc == SIM_REMOVED)
		return smk_fail(e, SMK_E_RESET, "simulator: card reset");
	return smk_fail(e, SMK_E_IO, "simulator: no answer");
}

static int sim_reconnect(void *impl, int reset, unsigned timeout_ms, smk_err *e)
{
	(void)timeout_ms;
	(void)e;
	if (reset)
		sim_card_reset(impl);
	return 0;
}

static const char *sim_name(void *impl)
{
	(void)impl;
	return "in-process simulator";
}

static const uint8_t *sim_atr(void *impl, size_t *len)
{
	(void)impl;
	return sim_card_atr(len);
}

static void sim_close(void *impl)
{
	(void)impl; /* the card belongs to the test */
}

static const struct smk_transport_ops sim_ops = {sim_transmit, sim_reconnect, sim_name,
						 sim_atr,      sim_close,     NULL};

/* ---- the scenario ---- */

static struct {
	char dir[64], path[128], trust_dir[256];
	char serial[CVC_REF_MAX + 1];
	sim_card *card; /* in-process mode only */
	smk_buf root;
	trust_store trust;
	smk_pin_source pin;
	smk_session *s;
	archive *a;
	policy_set *policies;
	archive_session_key akey;
	archive_signer signer;
	EVP_PKEY *akey_pub;
} S;

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "cannot write %s", path);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static void device_chain(smk_buf *out)
{
	const devaut_chain *c = session_chain(S.s);

	ck_assert_ptr_nonnull(c);
	ck_assert(smk_buf_add(out, c->device_cert.data, c->device_cert.len) == 0);
	ck_assert(smk_buf_add(out, c->dica_cert.data, c->dica_cert.len) == 0);
}

/* intent -> GAKP under SM with the intent's CHR -> commit; returns seq */
static uint64_t generate(const char *kind, const char *policy_name, const uint8_t *doc,
			 size_t doc_len, hsm_keyspec *spec, const char *label, session_key *key)
{
	const devaut_chain *c = session_chain(S.s);
	archive_intent_req ir;
	archive_intent_info info;
	archive_commit_req cr;
	session_keygen g;
	smk_buf chain = SMK_BUF_INIT;
	uint8_t id;
	uint64_t seq;
	smk_err e;

	ck_assert_msg(session_free_key_id(S.s, &id, &e) == 0, "%s", e.msg);
	memset(&ir, 0, sizeof(ir));
	ir.kind = kind;
	ir.peer.uid = (uint32_t)getuid();
	ir.peer.gid = (uint32_t)getgid();
	ir.peer.pid = getpid();
	ir.peer.exe = "/usr/bin/smkey";
	ir.policy_name = policy_name;
	ir.policy_doc = doc;
	ir.policy_doc_len = doc_len;
	ir.device_serial = c->serial;
	ir.devaut_chr = c->device_chr;
	ir.key_id = id;
	ck_assert_msg(archive_intent(S.a, &ir, &info, &e) == 0, "%s", e.msg);

	memcpy(spec->chr, info.chr, sizeof(info.chr));
	memset(&g, 0, sizeof(g));
	g.spec = *spec;
	g.key_id = id;
	g.label = label;
	ck_assert_msg(session_generate(S.s, &g, key, &e) == 0, "%s: %s", policy_name, e.msg);
	ck_assert_uint_eq(key->key_id, id);

	if (strcmp(kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0) {
		S.akey.session = S.s;
		S.akey.key_id = key->key_id;
		S.akey.pub = key->att.key;
		archive_session_signer(&S.signer, &S.akey);
	}
	device_chain(&chain);
	memset(&cr, 0, sizeof(cr));
	cr.request_id = info.request_id;
	cr.label = label;
	cr.device_chain = chain.data;
	cr.device_chain_len = chain.len;
	cr.sm_used = 1;
	cr.cvreq = key->cvreq.data;
	cr.cvreq_len = key->cvreq.len;
	cr.spki = key->att.spki.data;
	cr.spki_len = key->att.spki.len;
	ck_assert_msg(archive_commit(S.a, &S.signer, &cr, &seq, &e) == 0, "%s", e.msg);
	smk_buf_free(&chain);
	return seq;
}

static uint64_t generate_under(const char *policy_name, const char *label)
{
	const policy *p = policy_set_find(S.policies, policy_name);
	policy_request pr;
	policy_gakp gp;
	session_key key;
	uint64_t made, seq;
	smk_err e;

	ck_assert_msg(p != NULL, "no policy %s", policy_name);
	ck_assert_int_eq(archive_policy_key_count(S.a, policy_name, &made, &e), 0);
	memset(&pr, 0, sizeof(pr));
	pr.label = label;
	pr.devaut_chr = session_chain(S.s)->device_chr;
	pr.keys_made = made;
	ck_assert_msg(policy_gakp_params(p, &pr, &gp, &e) == 0, "%s", e.msg);
	seq = generate(ARCHIVE_KIND_KEY, p->name, (const uint8_t *)p->canonical, p->canonical_len,
		       &gp.spec, gp.label, &key);
	session_key_free(&key);
	return seq;
}

/* A fresh simulator card with its own PKI; its root becomes the pinned root. */
static void init_card(void)
{
	smk_buf sopin = SMK_BUF_INIT;
	const char *ca_file = getenv("SMK_SIM_CA");
	sim_ca *ca = NULL;
	char root_path[320];
	smk_err e;

	S.card = sim_card_new();
	ck_assert_ptr_nonnull(S.card);
	if (ca_file && *ca_file) {
		ca = sim_ca_load(ca_file, &e);
		ck_assert_msg(ca != NULL, "%s: %s", ca_file, e.msg);
	}
	ck_assert_msg(sim_card_init_pki(S.card, ca, 7, &S.root, &e) == 0, "%s", e.msg);
	sim_ca_free(ca);
	tu_hex(&sopin, SIM_DEFAULT_SOPIN_HEX);
	ck_assert_msg(sim_card_set_pins(S.card, (const uint8_t *)SIM_DEFAULT_PIN,
					strlen(SIM_DEFAULT_PIN), sopin.data, &e) == 0,
		      "%s", e.msg);
	smk_buf_free(&sopin);
	ck_assert_msg(trust_add(&S.trust, S.root.data, S.root.len, "sim root", &e) == 0, "%s",
		      e.msg);
	snprintf(S.trust_dir, sizeof(S.trust_dir), "%s/trust", S.dir);
	ck_assert_int_eq(mkdir(S.trust_dir, 0700), 0);
	snprintf(root_path, sizeof(root_path), "%s/%s.cvcert", S.trust_dir, SIM_ROOT_CHR);
	write_file(root_path, S.root.data, S.root.len);
}

static void setup(void)
{
	session_config cfg;
	smk_transport *t;
	char pin_path[128];
	smk_err e;

	memset(&S, 0, sizeof(S));
	tu_temp_dir(S.dir, sizeof(S.dir), "smk-archive-sim");
	snprintf(S.path, sizeof(S.path), "%s/archive.db", S.dir);
	if (getenv("SMK_ARCHIVE_READER")) {
		const char *trust = getenv("SMK_ARCHIVE_TRUST");

		ck_assert_msg(trust != NULL, "SMK_ARCHIVE_READER needs SMK_ARCHIVE_TRUST");
		snprintf(S.trust_dir, sizeof(S.trust_dir), "%s", trust);
		ck_assert_msg(trust_load_dir(&S.trust, trust, &e) == 0, "%s", e.msg);
	} else {
		init_card();
	}
	snprintf(pin_path, sizeof(pin_path), "%s/pin", S.dir);
	write_file(pin_path, SIM_DEFAULT_PIN, strlen(SIM_DEFAULT_PIN));
	ck_assert_int_eq(chmod(pin_path, 0600), 0);
	ck_assert_msg(pin_source_file(&S.pin, pin_path, &e) == 0, "%s", e.msg);

	if (S.card) {
		t = calloc(1, sizeof(*t));
		ck_assert_ptr_nonnull(t);
		t->ops = &sim_ops;
		t->impl = S.card;
	} else {
		ck_assert_msg(pcsc_open(getenv("SMK_ARCHIVE_READER"), 5000, &t, &e) == 0, "%s",
			      e.msg);
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.trust = &S.trust;
	cfg.pin = &S.pin;
	ck_assert_msg(session_new(t, &cfg, &S.s, &e) == 0, "%s", e.msg);
	ck_assert_msg(session_open(S.s, &e) == 0, "%s", e.msg);
	snprintf(S.serial, sizeof(S.serial), "%s", session_chain(S.s)->serial);

	ck_assert_msg(
	    policy_set_load(SMK_SOURCE_DIR "/etc/policies.d", &S.policies, NULL, NULL, &e) == 0,
	    "%s", e.msg);
	ck_assert_msg(archive_open(S.path, ARCHIVE_OPEN_CREATE, &S.a, &e) == 0, "%s", e.msg);

	/* record 0: the archive key, under the built-in sign-only policy */
	{
		smk_buf doc = SMK_BUF_INIT;
		hsm_keyspec spec;
		session_key key;

		ck_assert_int_eq(archive_key_policy(&doc, &e), 0);
		memset(&spec, 0, sizeof(spec));
		spec.type = SMK_KEY_EC;
		spec.curve = curve_by_name("secp256r1");
		spec.algs[0] = alg_by_name("ecdsa-sha256")->id;
		spec.alg_count = 1;
		ck_assert_uint_eq(generate(ARCHIVE_KIND_ARCHIVE_KEY, ARCHIVE_KEY_POLICY_NAME,
					   doc.data, doc.len, &spec, "smkeyd-archive", &key),
				  0);
		/* the signer keeps using the public key: keep it past the key struct */
		S.akey_pub = key.att.key;
		EVP_PKEY_up_ref(S.akey_pub);
		S.akey.pub = S.akey_pub;
		session_key_free(&key);
		smk_buf_free(&doc);
	}
}

static void teardown(void)
{
	const char *keep = getenv("SMK_KEEP_DIR");
	char cmd[512];

	archive_close(S.a);
	session_free(S.s);
	sim_card_free(S.card);
	pin_source_free(&S.pin);
	policy_set_unref(S.policies);
	trust_free(&S.trust);
	smk_buf_free(&S.root);
	EVP_PKEY_free(S.akey_pub);
	if (keep && *keep) {
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && cp -r '%s'/. '%s'/", keep, S.dir,
			 keep);
		ck_assert_int_eq(system(cmd), 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", S.dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Run smkey with arguments; returns its exit status, output in out. */
static int smkey(smk_buf *out, const char *args)
{
	char cmd[1024], outfile[160];
	int status;

	snprintf(outfile, sizeof(outfile), "%s/out.txt", S.dir);
	snprintf(cmd, sizeof(cmd), "%s/smkey %s >'%s' 2>&1", SMK_BUILD_DIR, args, outfile);
	status = system(cmd);
	smk_buf_reset(out);
	{
		FILE *f = fopen(outfile, "rb");
		char chunk[4096];
		size_t n;

		ck_assert_ptr_nonnull(f);
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			ck_assert(smk_buf_add(out, chunk, n) == 0);
		fclose(f);
	}
	ck_assert(smk_buf_add_byte(out, 0) == 0);
	ck_assert_msg(WIFEXITED(status), "smkey %s did not exit", args);
	return WEXITSTATUS(status);
}

static int has(const smk_buf *out, const char *s)
{
	return strstr((const char *)out->data, s) != NULL;
}

/* Pin the archive's log for smkey verify: its verifier key (smkey log-key)
 * into the trust directory's logs file. */
static void pin_log(void)
{
	smk_buf out = SMK_BUF_INIT;
	char args[400], path[300];
	FILE *f;

	snprintf(args, sizeof(args), "log-key '%s'", S.path);
	ck_assert_msg(smkey(&out, args) == 0, "%s", out.data);
	ck_assert(has(&out, "smkeyd/"));
	snprintf(path, sizeof(path), "%s/logs", S.trust_dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "# this archive's log\n%s", (const char *)out.data);
	ck_assert_int_eq(fclose(f), 0);
	smk_buf_free(&out);
}

static void sql(const char *stmt)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(S.path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, stmt, NULL, NULL, NULL) == SQLITE_OK, "%s",
		      sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void flip_in_file(const char *needle, size_t at)
{
	FILE *f = fopen(S.path, "r+b");
	smk_buf all = SMK_BUF_INIT;
	uint8_t chunk[4096], *hit;
	size_t n;

	ck_assert_ptr_nonnull(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ck_assert(smk_buf_add(&all, chunk, n) == 0);
	hit = memmem(all.data, all.len, needle, strlen(needle));
	ck_assert_msg(hit != NULL, "%s not found in the archive file", needle);
	ck_assert_int_eq(fseek(f, (long)(hit + at - all.data), SEEK_SET), 0);
	fputc(hit[at] ^ 0x01, f);
	ck_assert_int_eq(fclose(f), 0);
	smk_buf_free(&all);
}

START_TEST(keys_through_the_session_are_archived_and_verify)
{
	/* algs: the "algorithms" line of smkey verify, so exactly the policy's
	 * list, followed by the two spaces before "(the only operations ...)" */
	static const struct {
		const char *policy, *label, *key_type, *algs;
	} keys[] = {
	    {"release-apk", "2027", "EC secp256r1", "ecdsa-sha256 (0x73)  ("},
	    {"firmware-rsa", "2027", "RSA 3072", "rsa-pss (0x40), rsa-pss-sha256 (0x43)  ("},
	    {"ecdh-agreement", "2027", "EC secp384r1", "ecdh (0x80)  ("},
	};
	const sim_stats *st;
	smk_buf out = SMK_BUF_INIT;
	char args[512];
	size_t i;
	smk_err e;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_uint_eq(generate_under(keys[i].policy, keys[i].label), i + 1);
	/* every GAKP went to the card under secure messaging, none in plain
	 * (over PC/SC the scenario script reads the simulator's APDU log) */
	if (S.card) {
		st = sim_card_stats(S.card);
		ck_assert_uint_eq(st->sm_by_ins[0x46], 4);
		ck_assert_uint_eq(st->plain_by_ins[0x46], 0);
		/* and the archive key signed its own record 0 and 4 checkpoints;
		 * records 1..3 (format 3) have no signature of their own */
		ck_assert_uint_eq(st->sm_by_ins[0x68], 5);
		ck_assert_uint_eq(st->plain_by_ins[0x68], 0);
	}
	archive_close(S.a);
	S.a = NULL;
	pin_log();

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(args, sizeof(args), "export '%s' %zu --bundle -o '%s/%s.bundle.json'",
			 S.path, i + 1, S.dir, keys[i].policy);
		ck_assert_int_eq(smkey(&out, args), 0);
		snprintf(args, sizeof(args), "verify '%s/%s.bundle.json' --trust '%s'", S.dir,
			 keys[i].policy, S.trust_dir);
		ck_assert_msg(smkey(&out, args) == 0, "%s", out.data);
		ck_assert_msg(has(&out, keys[i].key_type) && has(&out, keys[i].algs) &&
				  has(&out, keys[i].policy) && has(&out, "ZZSIM000070") &&
				  has(&out, SIM_ROOT_CHR),
			      "%s", out.data);
	}
	/* the public key exported as PEM is the key the bundle verified */
	snprintf(args, sizeof(args), "export '%s' apk-2027 --pem", S.path);
	ck_assert_int_eq(smkey(&out, args), 0);
	ck_assert(has(&out, "-----BEGIN PUBLIC KEY-----"));

	/* a clean audit, and a checkpoint to compare with later */
	snprintf(args, sizeof(args), "audit '%s' --trust '%s'", S.path, S.trust_dir);
	ck_assert_msg(smkey(&out, args) == 0, "%s", out.data);
	ck_assert(has(&out, "all checks hold"));
	snprintf(args, sizeof(args), "export '%s' --checkpoint -o '%s/checkpoint-4.txt'", S.path,
		 S.dir);
	ck_assert_int_eq(smkey(&out, args), 0);
	/* the untouched archive, for SMK_KEEP_DIR */
	snprintf(args, sizeof(args), "cp '%s' '%s/archive-clean.db'", S.path, S.dir);
	ck_assert_int_eq(system(args), 0);

	/* one byte of record 2 (the firmware key's label) in the SQLite file */
	flip_in_file("\"label\":\"fw-2027\"", 15);
	snprintf(args, sizeof(args), "audit '%s'", S.path);
	ck_assert_int_eq(smkey(&out, args), 1);
	/* record 2 is of format 3: the next record's hash chain and the
	 * signed checkpoints over it tell */
	ck_assert_msg(has(&out, "previous-record hash does not match record 2") &&
			  has(&out, "checkpoint 4: root hash does not match records 0..3"),
		      "%s", out.data);
	/* --since trusts what the earlier checkpoint covers (an earlier audit
	 * verified it): record 2 is not read again, only what came after */
	snprintf(args, sizeof(args), "audit '%s' --since '%s/checkpoint-4.txt'", S.path, S.dir);
	ck_assert_msg(smkey(&out, args) == 0, "%s", out.data);
	ck_assert_msg(has(&out, "only the records after it are read") &&
			  has(&out, "  0 records audited"),
		      "%s", out.data);
	flip_in_file("\"label\":\"fw-2026\"", 15);
	ck_assert_int_eq(smkey(&out, args), 0);

	/* a deleted row */
	sql("DROP TRIGGER records_no_delete; DELETE FROM records WHERE seq = 2");
	snprintf(args, sizeof(args), "audit '%s'", S.path);
	ck_assert_int_eq(smkey(&out, args), 1);
	ck_assert_msg(has(&out, "record 2 is missing (a deleted row)"), "%s", out.data);

	/* truncated: the old checkpoint is not consistent with what is left */
	sql("DELETE FROM records WHERE seq >= 2; DROP TRIGGER checkpoints_no_delete;"
	    " DELETE FROM checkpoints WHERE size > 2");
	snprintf(args, sizeof(args), "audit '%s' --since '%s/checkpoint-4.txt'", S.path, S.dir);
	ck_assert_int_eq(smkey(&out, args), 1);
	ck_assert_msg(has(&out, "fewer than the earlier checkpoint's 4: it was truncated"), "%s",
		      out.data);
	/* the bundles made before still verify: they do not need the archive */
	snprintf(args, sizeof(args), "verify '%s/firmware-rsa.bundle.json' --trust '%s'", S.dir,
		 S.trust_dir);
	ck_assert_int_eq(smkey(&out, args), 0);
	(void)e;
	smk_buf_free(&out);
}
END_TEST

/* An X.509 certificate for pub from a software CA (DER appended to der). */
static void make_cert(EVP_PKEY *pub, const char *cn, smk_buf *der)
{
	EVP_PKEY *ca = tu_keygen("P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *out = NULL;
	int n;

	ck_assert(x && name && X509_set_version(x, 2) == 1);
	ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 7) == 1);
	ck_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
					     -1, -1, 0) == 1);
	ck_assert(X509_set_subject_name(x, name) == 1 && X509_set_issuer_name(x, name) == 1);
	ck_assert(X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL);
	ck_assert(X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365) != NULL);
	ck_assert(X509_set_pubkey(x, pub) == 1 && X509_sign(x, ca, EVP_sha256()) > 0);
	n = i2d_X509(x, &out);
	ck_assert_int_gt(n, 0);
	ck_assert(smk_buf_add(der, out, (size_t)n) == 0);
	OPENSSL_free(out);
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(ca);
}

static uint64_t import_cert(uint64_t key_seq, const smk_buf *cert)
{
	archive_cert_req cr;
	archive_intent_info info;
	uint64_t seq;
	smk_err e;

	memset(&cr, 0, sizeof(cr));
	cr.peer.uid = (uint32_t)getuid();
	cr.peer.gid = (uint32_t)getgid();
	cr.peer.pid = getpid();
	cr.peer.exe = "/usr/bin/smkey";
	cr.key_seq = key_seq;
	cr.cert = cert->data;
	cr.cert_len = cert->len;
	ck_assert_msg(archive_cert_intent(S.a, &cr, &info, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_cert_commit(S.a, &S.signer, info.request_id, 0, &seq, &e) == 0, "%s",
		      e.msg);
	return seq;
}

/* A key made on the card without smkeyd (as pkcs11-tool does: its own CHR,
 * no algorithm list, no intent) is adopted from its CV-REQ; certificates
 * are imported for it and for a generated key; smkey verify and audit show
 * each for what it is. (In-process only: the PC/SC script counts the APDUs
 * of the scenario above.) */
START_TEST(adopted_key_and_certificates)
{
	const devaut_chain *c = session_chain(S.s);
	archive_adopt_req ar;
	session_keygen g;
	session_key key;
	smk_buf chain = SMK_BUF_INIT, cert = SMK_BUF_INIT, out = SMK_BUF_INIT;
	static const char *const names[] = {"adopted", "adopted-cert", "release-apk-cert"};
	uint64_t apk, adopted, i;
	char args[768];
	smk_err e;

	apk = generate_under("release-apk", "2027");
	memset(&g, 0, sizeof(g));
	g.spec.type = SMK_KEY_EC;
	g.spec.curve = curve_by_name("secp256r1");
	snprintf(g.spec.chr, sizeof(g.spec.chr), "DEPKCS1100001");
	g.label = "pkcs11-made";
	ck_assert_msg(session_generate(S.s, &g, &key, &e) == 0, "%s", e.msg);
	device_chain(&chain);
	memset(&ar, 0, sizeof(ar));
	ar.peer.uid = (uint32_t)getuid();
	ar.peer.gid = (uint32_t)getgid();
	ar.peer.pid = getpid();
	ar.peer.exe = "/usr/bin/smkey";
	ar.device_serial = c->serial;
	ar.devaut_chr = c->device_chr;
	ar.key_id = key.key_id;
	ar.label = "pkcs11-made";
	ar.device_chain = chain.data;
	ar.device_chain_len = chain.len;
	ar.cvreq = key.cvreq.data;
	ar.cvreq_len = key.cvreq.len;
	ar.spki = key.att.spki.data;
	ar.spki_len = key.att.spki.len;
	ck_assert_msg(archive_adopt(S.a, &S.signer, &ar, &adopted, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(adopted, apk + 1);
	make_cert(key.att.key, "Adopted key", &cert);
	ck_assert_uint_eq(import_cert(adopted, &cert), adopted + 1);
	snprintf(args, sizeof(args), "%s/adopted-cert.pem", S.dir);
	{
		FILE *f = fopen(args, "w");
		const unsigned char *q = cert.data;
		X509 *x = d2i_X509(NULL, &q, (long)cert.len);

		ck_assert(f && x && PEM_write_X509(f, x) == 1);
		fclose(f);
		X509_free(x);
	}
	session_key_free(&key);
	/* the generated key's certificate */
	{
		smk_buf canon = SMK_BUF_INIT;
		archive_record r;
		const unsigned char *q;
		EVP_PKEY *pub;

		ck_assert_int_eq(archive_get(S.a, apk, &canon, NULL, &e), 0);
		ck_assert_int_eq(archive_record_parse(canon.data, canon.len, &r, &e), 0);
		q = r.spki.data;
		pub = d2i_PUBKEY(NULL, &q, (long)r.spki.len);
		ck_assert_ptr_nonnull(pub);
		smk_buf_reset(&cert);
		make_cert(pub, "Release key", &cert);
		ck_assert_uint_eq(import_cert(apk, &cert), adopted + 2);
		EVP_PKEY_free(pub);
		archive_record_free(&r);
		smk_buf_free(&canon);
	}
	archive_close(S.a);
	S.a = NULL;
	pin_log();

	for (i = 0; i < 3; i++) {
		snprintf(args, sizeof(args),
			 "export '%s' %" PRIu64 " --bundle -o '%s/%s.bundle.json'", S.path,
			 adopted + i, S.dir, names[i]);
		ck_assert_msg(smkey(&out, args) == 0, "%s", out.data);
	}
	snprintf(args, sizeof(args), "verify '%s/adopted.bundle.json' --trust '%s'", S.dir,
		 S.trust_dir);
	ck_assert_msg(smkey(&out, args) == 0, "%s", out.data);
	ck_assert_msg(has(&out, "ADOPTED: held by device ") &&
			  has(&out, "CHR DEPKCS1100001, chosen by whoever made the key") &&
			  !has(&out, "  policy  "),
		      "%s", out.data);
	snprintf(args, sizeof(args),
		 "verify '%s/adopted-cert.bundle.json' --trust '%s' --certificate "
		 "'%s/adopted-cert.pem'",
		 S.dir, S.trust_dir, S.dir);
	ck_assert_msg(smkey(&out, args) == 0, "%s", out.data);
	ck_assert_msg(has(&out, "ADOPTED: ") && has(&out, "certificate  CN=Adopted key") &&
			  has(&out, "certificate CN=Adopted key (SHA-256 ") &&
			  has(&out, "holds the attested key"),
		      "%s", out.data);
	snprintf(args, sizeof(args), "verify '%s/release-apk-cert.bundle.json' --trust '%s'", S.dir,
		 S.trust_dir);
	ck_assert_msg(smkey(&out, args) == 0, "%s", out.data);
	ck_assert_msg(has(&out, "certificate  CN=Release key") &&
			  has(&out, "policy       release-apk") && !has(&out, "ADOPTED"),
		      "%s", out.data);
	/* the other key's certificate does not hold this key */
	snprintf(args, sizeof(args),
		 "verify '%s/release-apk-cert.bundle.json' --trust '%s' --certificate "
		 "'%s/adopted-cert.pem'",
		 S.dir, S.trust_dir, S.dir);
	ck_assert_int_eq(smkey(&out, args), 1);
	ck_assert_msg(has(&out, "is not the key's"), "%s", out.data);

	snprintf(args, sizeof(args), "audit '%s' --trust '%s'", S.path, S.trust_dir);
	ck_assert_msg(smkey(&out, args) == 0, "%s", out.data);
	ck_assert_msg(has(&out, "5 records (1 archive key, 1 generated, 1 adopted, 2 "
				"certificate)") &&
			  has(&out, "ADOPTED: held by device"),
		      "%s", out.data);
	snprintf(args, sizeof(args), "cp '%s' '%s/archive-kinds.db'", S.path, S.dir);
	ck_assert_int_eq(system(args), 0);
	smk_buf_free(&chain);
	smk_buf_free(&cert);
	smk_buf_free(&out);
}
END_TEST

static Suite *archive_sim_suite(void)
{
	Suite *s = suite_create("archive_sim");
	TCase *tc = tcase_create("end-to-end");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, keys_through_the_session_are_archived_and_verify);
	/* over PC/SC the scenario script counts the APDUs of the test above alone */
	if (!getenv("SMK_ARCHIVE_READER"))
		tcase_add_test(tc, adopted_key_and_certificates);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(archive_sim_suite());
}
