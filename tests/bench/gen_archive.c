/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gen_archive: an archive of genuine records for `smkey audit` (benchmark
 * 4 of tests/bench/run), without pcscd, cards or the daemon. Records after
 * record 0 are of format 3: no signature of their own, authenticated by
 * the signed checkpoint after each (docs/archive.md "Record format 3").
 *
 *   gen_archive DIR RECORDS [--devices N] [--ca FILE]
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
 * Only durability is given up: the archive runs with synchronous=OFF, as a
 * benchmark input need not survive a power cut, and two fsyncs per record
 * would dominate. One JSON line on stdout: records, seconds, bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "archive/archive.h"
#include "archive/internal.h"
#include "common/hex.h"
#include "sim/card.h"
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
			EVP_PKEY *key, unsigned key_id, const char *label)
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
	smk_buf_free(&req);
	smk_buf_free(&areq);
	smk_buf_free(&spki);
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
	const char *dir, *ca_path = NULL;
	char path[4096], ca_file[4096], label[32];
	unsigned long records, ndev = 4, i;
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
		fprintf(stderr, "usage: gen_archive DIR RECORDS [--devices N] [--ca FILE]\n");
		return 2;
	}
	dir = argv[1];
	records = strtoul(argv[2], NULL, 10);
	for (argi = 3; argi + 1 < argc; argi += 2) {
		if (strcmp(argv[argi], "--devices") == 0)
			ndev = strtoul(argv[argi + 1], NULL, 10);
		else if (strcmp(argv[argi], "--ca") == 0)
			ca_path = argv[argi + 1];
		else
			break;
	}
	if (argi != argc || records < 1 || ndev < 1 || ndev > MAX_DEVICES) {
		fprintf(stderr, "gen_archive: RECORDS >= 1 (record 0 included), 1 <= N <= %d\n",
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
	sim_ca_free(ca);
	for (i = 0; i < ndev; i++) {
		memset(&dev[i], 0, sizeof(dev[i]));
		issue_device(&dev[i], (unsigned)i + 1, &dica_cert, dica_key);
	}

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
		    keydoc.data, keydoc.len, akey, 1, "smkeyd-archive");
	for (i = 1; i < records; i++) {
		EVP_PKEY *k = keygen("P-256");

		snprintf(label, sizeof(label), "bench-%lu", i);
		make_record(a, &signer, &dev[i % ndev], ARCHIVE_KIND_KEY, "bench-ec",
			    (const uint8_t *)policy_doc, sizeof(policy_doc) - 1, k,
			    2 + (unsigned)(i % 254), label);
		EVP_PKEY_free(k);
	}
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
	smk_buf_free(&dica_cert);
	smk_buf_free(&keydoc);
	return 0;
}
