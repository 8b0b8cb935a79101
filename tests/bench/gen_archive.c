/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gen_archive: an archive of genuine records for `smkey audit` (benchmark
 * 4 of tests/bench/run), without pcscd, cards or the daemon. Records after
 * record 0 are of format 3: no signature of their own, authenticated by
 * the signed checkpoint after each (docs/archive.md "Record format 3").
 *
 *   gen_archive DIR RECORDS [--devices N] [--ca FILE] [--batch B] [--jobs J]
 *               [--card FILE]
 *
 * writes DIR/archive.db, DIR/trust/ZZSIMRCA00001.cvcert (the trust anchor)
 * and, without --ca, DIR/sim-ca.json (the simulator CA, private keys
 * included, so that smkey-sim cards can be issued from it too).
 *
 * The PKI is the simulator's (sim/pki.c): its root and DICA from
 * sim_ca_new/sim_ca_load, and per device a DevAut key on brainpoolP256r1
 * whose certificate the DICA issues with the simulator's CHR scheme and
 * validity, EF 2F02 = DevAut certificate || DICA certificate (ref §8.2).
 * Every record goes the daemon's way: archive_intent, then a fresh P-256 key
 * whose CV request the device signs as sim/gakp.c does (inner request
 * self-signed by the new key with the intent's CHR, outer signature by the
 * DevAut key, ref §6.3), then archive_commit with the archive key as a
 * software signer. Record 0 is the archive key's own record, made the same
 * way under the built-in sign-only policy.
 *
 * Records 1.. take that way in two halves, so that a million records are
 * made in reasonable time: J threads (--jobs, default 2) prepare each
 * record's intent (request id, canonical bytes, CHR), new key and
 * device-signed CV request, ahead of the thread that stores the intent
 * (the row archive_intent writes) and commits the record. Every record is
 * still distinct and verifiable: its own intent, key and signatures.
 * --batch B (default 1) commits records as the daemon's group commit does:
 * one signed checkpoint per B records (archive_commit_record, then
 * archive_sign_checkpoint), and one at the end. The tree table is written
 * by the commits.
 *
 * --card FILE puts the archive key on a simulated card, so that smkeyd can
 * go on with the archive (tests/bench/run latency-large): device 1 is a
 * simulated card issued by the same CA (sim_card_init_pki, device 1, the
 * default PINs), whose DevAut key and EF 2F02 stand in for device 1's;
 * record 0's key is installed on it as key 1 with the CV request that
 * record 0 holds in EF CE01, as GAKP would have left them; the card's
 * state is saved to FILE for `smkey-sim run --state FILE`.
 *
 * SIGTERM or SIGINT stops it early, cleanly: the chunk being committed is
 * finished, the last checkpoint signed, and the JSON line says how many
 * records were made (a long run cut to the time there is).
 *
 * Only durability is given up: the archive runs with synchronous=OFF, as a
 * benchmark input need not survive a power cut, and two fsyncs per record
 * would dominate. One JSON line on stdout: records, seconds, bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "archive/archive.h"
#include "archive/internal.h"
#include "common/hex.h"
#include "sim/card.h"
#include "sim/sim_int.h"
#include "sm/cvc.h"

#define MAX_DEVICES 64

/* a fleet of simulated HSMs sharing the simulator CA, as genuine devices
 * share CardContact's DICA */
struct device {
	char chr[CVC_REF_MAX + 1];
	char serial[CVC_REF_MAX + 1];
	EVP_PKEY *key;
	smk_buf chain; /* EF 2F02 */
};

static const char policy_doc[] =
    "{\"alg-list-hex\":\"73\",\"algorithms\":[{\"id\":115,\"name\":\"ecdsa-sha256\"}],"
    "\"name\":\"bench-ec\",\"use-counter\":null}";

static void die(const char *what, const smk_err *e)
{
	fprintf(stderr, "gen_archive: %s: %s\n", what, e ? e->msg : strerror(errno));
	exit(1);
}

static EVP_PKEY *keygen(const char *curve)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);

	if (!k) {
		fprintf(stderr, "gen_archive: %s key generation failed\n", curve);
		exit(1);
	}
	return k;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The DICA's certificate and private key from a simulator CA file (the
 * format of sim/pki.c sim_ca_save: hex strings). */
static void load_dica(const char *path, smk_buf *cert, EVP_PKEY **key)
{
	json_error_t je;
	json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	smk_buf der = SMK_BUF_INIT;
	const unsigned char *p;
	const char *hex;
	smk_err e;

	der.secret = 1;
	if (!o) {
		fprintf(stderr, "gen_archive: %s:%d: %s\n", path, je.line, je.text);
		exit(1);
	}
	hex = json_string_value(json_object_get(o, "dica_cert"));
	if (!hex || smk_hex_decode(hex, cert, &e) < 0)
		die("simulator CA: dica_cert", hex ? &e : NULL);
	hex = json_string_value(json_object_get(o, "dica_private"));
	if (!hex || smk_hex_decode(hex, &der, &e) < 0)
		die("simulator CA: dica_private", hex ? &e : NULL);
	p = der.data;
	*key = d2i_AutoPrivateKey(NULL, &p, (long)der.len);
	if (!*key) {
		fprintf(stderr, "gen_archive: %s: dica_private is not a private key\n", path);
		exit(1);
	}
	smk_buf_free(&der);
	json_decref(o);
}

/* As sim_card_init_pki issues a card: CHR ZZSIM + 5 digits + 00000, valid
 * 5 years from today, the curve inherited from the root. */
static void issue_device(struct device *d, unsigned no, const smk_buf *dica_cert,
			 EVP_PKEY *dica_key)
{
	cvc_cert_fields f;
	smk_err e;

	snprintf(d->chr, sizeof(d->chr), "ZZSIM%05u00000", no);
	snprintf(d->serial, sizeof(d->serial), "ZZSIM%05u", no);
	d->key = keygen("brainpoolP256r1");
	memset(&f, 0, sizeof(f));
	f.car = SIM_DICA_CHR;
	f.chr = d->chr;
	f.alg = cvc_alg_default(SMK_KEY_EC);
	f.role = CVC_ROLE_DEVICE;
	cvc_date_from_time(time(NULL), &f.ced);
	f.cxd = f.ced;
	f.cxd.year += 5;
	if (f.cxd.month == 2 && f.cxd.day == 29)
		f.cxd.day = 28;
	if (cvc_encode_cert(&d->chain, &f, d->key, dica_key, cvc_alg_default(SMK_KEY_EC), &e) < 0)
		die("device certificate", &e);
	if (smk_buf_add(&d->chain, dica_cert->data, dica_cert->len) < 0)
		die("device chain", NULL);
}

/* One key the daemon's way: intent, the device's CV request, commit. */
static void make_record(archive *a, const archive_signer *s, const struct device *d,
			const char *kind, const char *policy, const uint8_t *doc, size_t doc_len,
			EVP_PKEY *key, unsigned key_id, const char *label, smk_buf *areq_out)
{
	archive_intent_req ir;
	archive_intent_info info;
	archive_commit_req cr;
	smk_buf req = SMK_BUF_INIT, areq = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	uint64_t seq;
	smk_err e;

	memset(&ir, 0, sizeof(ir));
	ir.kind = kind;
	ir.peer.uid = 1000;
	ir.peer.gid = 1000;
	ir.peer.pid = 4242;
	ir.peer.exe = "/usr/bin/smkey";
	ir.policy_name = policy;
	ir.policy_doc = doc;
	ir.policy_doc_len = doc_len;
	ir.device_serial = d->serial;
	ir.devaut_chr = d->chr;
	ir.key_id = key_id;
	if (archive_intent(a, &ir, &info, &e) < 0)
		die("archive_intent", &e);
	/* ref §6.3, as sim/gakp.c answers GAKP */
	if (cvc_encode_request(&req, NULL, info.chr, key, cvc_alg_default(SMK_KEY_EC), &e) < 0 ||
	    cvc_encode_authreq(&areq, req.data, req.len, d->chr, d->key,
			       cvc_alg_default(SMK_KEY_EC), &e) < 0 ||
	    cvc_spki_der(key, &spki, &e) < 0)
		die("CV request", &e);
	memset(&cr, 0, sizeof(cr));
	cr.request_id = info.request_id;
	cr.label = label;
	cr.device_chain = d->chain.data;
	cr.device_chain_len = d->chain.len;
	cr.sm_used = 1;
	cr.cvreq = areq.data;
	cr.cvreq_len = areq.len;
	cr.spki = spki.data;
	cr.spki_len = spki.len;
	if (archive_commit(a, s, &cr, &seq, &e) < 0)
		die("archive_commit", &e);
	if (areq_out && smk_buf_add(areq_out, areq.data, areq.len) < 0)
		die("out of memory", NULL);
	smk_buf_free(&req);
	smk_buf_free(&areq);
	smk_buf_free(&spki);
}

/* One record prepared ahead of its commit: what archive_intent and the
 * card would have made. */
struct prepared {
	archive_intent_info info;
	smk_buf canon, areq, spki;
	char label[32];
	unsigned key_id;
	const struct device *dev;
};

struct prep_job {
	struct prepared *items;
	unsigned long first, count; /* record numbers first.. */
	unsigned stride, offset;
	const struct device *devs;
	unsigned long ndev;
};

static void prepare_one(struct prepared *p, unsigned long i, const struct device *d)
{
	archive_intent_req ir;
	smk_buf req = SMK_BUF_INIT;
	uint8_t rnd[16];
	EVP_PKEY *key = keygen("P-256");
	smk_err e;

	memset(&ir, 0, sizeof(ir));
	ir.kind = ARCHIVE_KIND_KEY;
	ir.peer.uid = 1000;
	ir.peer.gid = 1000;
	ir.peer.pid = 4242;
	ir.peer.exe = "/usr/bin/smkey";
	ir.policy_name = "bench-ec";
	ir.policy_doc = (const uint8_t *)policy_doc;
	ir.policy_doc_len = sizeof(policy_doc) - 1;
	ir.device_serial = d->serial;
	ir.devaut_chr = d->chr;
	ir.key_id = p->key_id = 2 + (unsigned)(i % 254);
	p->dev = d;
	snprintf(p->label, sizeof(p->label), "bench-%lu", i);
	memset(&p->info, 0, sizeof(p->info));
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		die("random request id", NULL);
	smk_hex_to(p->info.request_id, rnd, sizeof(rnd), SMK_HEX_LOWER);
	p->info.time = (int64_t)time(NULL);
	snprintf(p->info.kind, sizeof(p->info.kind), "%s", ARCHIVE_KIND_KEY);
	snprintf(p->info.policy_name, sizeof(p->info.policy_name), "%s", ir.policy_name);
	smk_buf_reset(&p->canon);
	smk_buf_reset(&p->areq);
	smk_buf_reset(&p->spki);
	if (archive_intent_encode(&ir, p->info.request_id, p->info.time, &p->canon, &e) < 0 ||
	    smk_sha256(p->canon.data, p->canon.len, p->info.digest, &e) < 0)
		die("intent", &e);
	archive_chr_from_digest(p->info.digest, p->info.chr);
	/* ref §6.3, as sim/gakp.c answers GAKP */
	if (cvc_encode_request(&req, NULL, p->info.chr, key, cvc_alg_default(SMK_KEY_EC), &e) < 0 ||
	    cvc_encode_authreq(&p->areq, req.data, req.len, d->chr, d->key,
			       cvc_alg_default(SMK_KEY_EC), &e) < 0 ||
	    cvc_spki_der(key, &p->spki, &e) < 0)
		die("CV request", &e);
	smk_buf_free(&req);
	EVP_PKEY_free(key);
}

static void *prepare_thread(void *arg)
{
	struct prep_job *j = arg;
	unsigned long k;

	for (k = j->offset; k < j->count; k += j->stride) {
		unsigned long i = j->first + k;

		prepare_one(&j->items[k], i, &j->devs[i % j->ndev]);
	}
	return NULL;
}

/* The intent row, as archive_intent stores it. */
static void store_prepared_intent(archive *a, sqlite3_stmt *st, const struct prepared *p)
{
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, p->info.request_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, p->info.time);
	sqlite3_bind_text(st, 3, p->info.kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p->info.policy_name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, p->canon.data, (int)p->canon.len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, p->info.digest, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, p->info.chr, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, policy_doc, (int)sizeof(policy_doc) - 1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		fprintf(stderr, "gen_archive: store intent: %s\n", sqlite3_errmsg(a->db));
		exit(1);
	}
}

static void commit_prepared(archive *a, const archive_signer *s, sqlite3_stmt *ins,
			    const struct prepared *p, unsigned long batch)
{
	archive_commit_req cr;
	uint64_t seq, size;
	smk_err e;

	store_prepared_intent(a, ins, p);
	memset(&cr, 0, sizeof(cr));
	cr.request_id = p->info.request_id;
	cr.label = p->label;
	cr.device_chain = p->dev->chain.data;
	cr.device_chain_len = p->dev->chain.len;
	cr.sm_used = 1;
	cr.cvreq = p->areq.data;
	cr.cvreq_len = p->areq.len;
	cr.spki = p->spki.data;
	cr.spki_len = p->spki.len;
	if (batch <= 1) {
		if (archive_commit(a, s, &cr, &seq, &e) < 0)
			die("archive_commit", &e);
		return;
	}
	if (archive_commit_record(a, s, &cr, &seq, &e) < 0)
		die("archive_commit_record", &e);
	if ((seq + 1) % batch == 0 && archive_sign_checkpoint(a, s, &size, &e) < 0)
		die("archive_sign_checkpoint", &e);
}

#define CHUNK 512

static volatile sig_atomic_t stop_early;

static void on_stop(int sig)
{
	(void)sig;
	stop_early = 1;
}

/* Records 1..records-1: chunk k+1 is prepared by the jobs while chunk k is
 * committed. */
static unsigned long make_records(archive *a, const archive_signer *s, const struct device *dev,
				  unsigned long ndev, unsigned long records, unsigned jobs,
				  unsigned long batch)
{
	struct prepared *buf[2];
	struct prep_job job[16];
	pthread_t th[16];
	sqlite3_stmt *ins;
	unsigned long first = 1, next, count, ncount, k;
	unsigned t, cur = 0;
	uint64_t size;
	smk_err e;

	if (sqlite3_prepare_v2(a->db,
			       "INSERT INTO intents(request_id, time, kind, policy_name, canonical,"
			       " digest, chr, policy_doc) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &ins, NULL) != SQLITE_OK)
		die("prepare intent insert", NULL);
	buf[0] = calloc(CHUNK, sizeof(struct prepared));
	buf[1] = calloc(CHUNK, sizeof(struct prepared));
	if (!buf[0] || !buf[1])
		die("out of memory", NULL);
	/* the first chunk, then each next one while the current commits */
	count = records - first < CHUNK ? records - first : CHUNK;
	job[0] = (struct prep_job){buf[cur], first, count, 1, 0, dev, ndev};
	prepare_thread(&job[0]);
	while (first < records) {
		next = first + count;
		ncount = records - next < CHUNK ? records - next : CHUNK;
		for (t = 0; t < jobs && ncount; t++) {
			job[t] = (struct prep_job){buf[!cur], next, ncount, jobs, t, dev, ndev};
			if (pthread_create(&th[t], NULL, prepare_thread, &job[t]) != 0)
				die("pthread_create", NULL);
		}
		for (k = 0; k < count; k++)
			commit_prepared(a, s, ins, &buf[cur][k], batch);
		for (t = 0; t < jobs && ncount; t++)
			pthread_join(th[t], NULL);
		cur = !cur;
		first = next;
		count = ncount;
		if (stop_early)
			break;
	}
	if (batch > 1 && archive_sign_checkpoint(a, s, &size, &e) < 0)
		die("archive_sign_checkpoint", &e);
	sqlite3_finalize(ins);
	for (t = 0; t < 2; t++) {
		for (k = 0; k < CHUNK; k++) {
			smk_buf_free(&buf[t][k].canon);
			smk_buf_free(&buf[t][k].areq);
			smk_buf_free(&buf[t][k].spki);
		}
		free(buf[t]);
	}
	return first;
}

/* Device 1 as a simulated card issued by ca: its DevAut key and EF 2F02
 * replace the generated ones. */
static sim_card *card_device(const sim_ca *ca, struct device *d)
{
	smk_buf root = SMK_BUF_INIT;
	sim_card *card = sim_card_new();
	smk_err e;

	if (card == NULL || sim_card_init_pki(card, ca, 1, &root, &e) < 0 ||
	    sim_card_set_pins(card, (const uint8_t *)SIM_DEFAULT_PIN, strlen(SIM_DEFAULT_PIN),
			      (const uint8_t *)"57621880", &e) < 0)
		die("simulated card", &e);
	if (strcmp(sim_card_chr(card), d->chr) != 0 || card->keys[0] == NULL ||
	    !EVP_PKEY_up_ref(card->keys[0]->pkey))
		die("simulated card: not device 1", NULL);
	EVP_PKEY_free(d->key);
	d->key = card->keys[0]->pkey;
	smk_buf_reset(&d->chain);
	if (sim_card_read_ef(card, 0x2F02, &d->chain) < 0)
		die("simulated card: no EF 2F02", NULL);
	smk_buf_free(&root);
	return card;
}

/* The archive key as key 1 of the card, with record 0's CV request in EF
 * CE01, as GAKP leaves a key (sim/gakp.c); then the card's state. */
static void card_archive_key(sim_card *card, EVP_PKEY *akey, const smk_buf *areq, const char *path)
{
	struct sim_key *k = calloc(1, sizeof(*k));
	smk_err e;

	if (k == NULL || !EVP_PKEY_up_ref(akey))
		die("out of memory", NULL);
	k->id = 1;
	k->type = SMK_KEY_EC;
	k->pkey = akey;
	if (sim_key_install(card, 1, &k, areq) != SW_OK)
		die("simulated card: install the archive key", NULL);
	if (sim_card_save(card, path, &e) < 0)
		die(path, &e);
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die(path, NULL);
}

int main(int argc, char **argv)
{
	struct device dev[MAX_DEVICES];
	const char *dir, *ca_path = NULL, *card_path = NULL;
	sim_card *card = NULL;
	smk_buf areq0 = SMK_BUF_INIT;
	char path[4096], ca_file[4096];
	unsigned long records, ndev = 4, i, batch = 1, jobs = 2;
	smk_buf dica_cert = SMK_BUF_INIT, keydoc = SMK_BUF_INIT;
	EVP_PKEY *dica_key = NULL, *akey;
	archive_signer signer;
	archive *a;
	sim_ca *ca;
	struct stat st;
	double t0, t1;
	size_t root_len;
	smk_err e;
	int argi;

	if (argc < 3) {
		fprintf(stderr,
			"usage: gen_archive DIR RECORDS [--devices N] [--ca FILE] [--batch B]"
			" [--jobs J] [--card FILE]\n");
		return 2;
	}
	dir = argv[1];
	records = strtoul(argv[2], NULL, 10);
	for (argi = 3; argi + 1 < argc; argi += 2) {
		if (strcmp(argv[argi], "--devices") == 0)
			ndev = strtoul(argv[argi + 1], NULL, 10);
		else if (strcmp(argv[argi], "--ca") == 0)
			ca_path = argv[argi + 1];
		else if (strcmp(argv[argi], "--batch") == 0)
			batch = strtoul(argv[argi + 1], NULL, 10);
		else if (strcmp(argv[argi], "--jobs") == 0)
			jobs = strtoul(argv[argi + 1], NULL, 10);
		else if (strcmp(argv[argi], "--card") == 0)
			card_path = argv[argi + 1];
		else
			break;
	}
	if (argi != argc || records < 1 || ndev < 1 || ndev > MAX_DEVICES || batch < 1 ||
	    jobs < 1 || jobs > 16) {
		fprintf(stderr,
			"gen_archive: RECORDS >= 1 (record 0 included), 1 <= N <= %d, B >= 1, "
			"1 <= J <= 16\n",
			MAX_DEVICES);
		return 2;
	}
	t0 = now_s();

	/* the simulator CA: its root is the only trust anchor */
	if (ca_path) {
		ca = sim_ca_load(ca_path, &e);
	} else {
		snprintf(ca_file, sizeof(ca_file), "%s/sim-ca.json", dir);
		ca_path = ca_file;
		ca = sim_ca_new(&e);
		if (ca && sim_ca_save(ca, ca_path, &e) < 0)
			die("simulator CA", &e);
	}
	if (!ca)
		die("simulator CA", &e);
	snprintf(path, sizeof(path), "%s/trust", dir);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die(path, NULL);
	snprintf(path, sizeof(path), "%s/trust/%s.cvcert", dir, SIM_ROOT_CHR);
	{
		const uint8_t *root = sim_ca_root(ca, &root_len);

		write_file(path, root, root_len);
	}
	load_dica(ca_path, &dica_cert, &dica_key);
	for (i = 0; i < ndev; i++) {
		memset(&dev[i], 0, sizeof(dev[i]));
		issue_device(&dev[i], (unsigned)i + 1, &dica_cert, dica_key);
	}
	if (card_path)
		card = card_device(ca, &dev[0]);
	sim_ca_free(ca);

	snprintf(path, sizeof(path), "%s/archive.db", dir);
	if (archive_open(path, ARCHIVE_OPEN_CREATE, &a, &e) < 0)
		die("archive", &e);
	if (sqlite3_exec(a->db, "PRAGMA synchronous=OFF", NULL, NULL, NULL) != SQLITE_OK)
		die("PRAGMA synchronous=OFF", NULL);

	/* record 0: the archive key, made in device 1 under the sign-only policy */
	akey = keygen("P-256");
	archive_soft_signer(&signer, akey);
	if (archive_key_policy(&keydoc, &e) < 0)
		die("archive key policy", &e);
	make_record(a, &signer, &dev[0], ARCHIVE_KIND_ARCHIVE_KEY, ARCHIVE_KEY_POLICY_NAME,
		    keydoc.data, keydoc.len, akey, 1, "smkeyd-archive", &areq0);
	if (card)
		card_archive_key(card, akey, &areq0, card_path);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	records = make_records(a, &signer, dev, ndev, records, (unsigned)jobs, batch);
	/* one self-contained file */
	if (sqlite3_exec(a->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
		die("WAL checkpoint", NULL);
	archive_close(a);
	t1 = now_s();
	snprintf(path, sizeof(path), "%s/archive.db", dir);
	if (stat(path, &st) < 0)
		die(path, NULL);
	printf("{\"records\":%lu,\"devices\":%lu,\"seconds\":%.3f,\"bytes\":%lld}\n", records, ndev,
	       t1 - t0, (long long)st.st_size);

	for (i = 0; i < ndev; i++) {
		EVP_PKEY_free(dev[i].key);
		smk_buf_free(&dev[i].chain);
	}
	EVP_PKEY_free(akey);
	EVP_PKEY_free(dica_key);
	sim_card_free(card);
	smk_buf_free(&areq0);
	smk_buf_free(&dica_cert);
	smk_buf_free(&keydoc);
	return 0;
}
