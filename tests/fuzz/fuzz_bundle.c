/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What `smkey verify` and `smkey audit` read from files (archive/): bundles,
 * records, signed checkpoint notes. First byte, modulo 5:
 *   0  archive_bundle_parse; what parses encodes, parses again to the same
 *      members, and encodes to the same bytes
 *   1  archive_verify_bundle against etc/trust plus the simulator root of
 *      the seed bundles (tests/fuzz/fixtures), no pinned log; on success
 *      (ARCHIVE_VERIFY_UNPINNED) every line the verifier says and the
 *      result agree with the bundle, and the log is the archive key's
 *   2  archive_record_parse on canonical record bytes, then archive_attest
 *      of what parses; the parsed record must carry its own hash
 *   3  archive_checkpoint_open on a note whose body is the harness key's
 *      origin line plus the input, signed by the harness: gets past the
 *      signature to the size, root hash and extension lines
 *   4  archive_checkpoint_open on the raw input with the seed bundles'
 *      archive key (signature lines, key ids, dashes, base64)
 * Seeds: bundles kept by tests/unit/test_archive_sim.c (SMK_KEEP_DIR, with
 * SMK_SIM_CA=tests/fuzz/fixtures/sim-ca), their records and checkpoint: keys
 * of three policies, an adopted key, certificates for a generated and an
 * adopted key (bundles that carry the key record too).
 */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "archive/bundle.h"
#include "archive/checkpoint.h"
#include "archive/record.h"
#include "archive/verify.h"
#include "fuzz.h"

static trust_store trust;
static EVP_PKEY *seed_key, *own_key;
static archive_signer own;
static char own_origin[ARCHIVE_ORIGIN_MAX];

static void setup(void)
{
	smk_buf root = SMK_BUF_INIT, spki = SMK_BUF_INIT;
	const uint8_t *q;
	smk_err e;

	fz_trust(&trust);
	fz_read_source("tests/fuzz/fixtures/sim-root-ZZSIMRCA00001.cvcert", &root);
	if (trust_add(&trust, root.data, root.len, "simulator root", &e) < 0)
		fz_die("simulator root", &e);
	/* the archive key of the seed bundles (docs/archive.md "Bundle") */
	fz_read_source("tests/fuzz/fixtures/seed-archive-key.der", &spki);
	q = spki.data;
	seed_key = d2i_PUBKEY(NULL, &q, (long)spki.len);
	if (seed_key == NULL)
		fz_die("seed archive key", NULL);
	own_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (own_key == NULL)
		fz_die("harness key", NULL);
	archive_soft_signer(&own, own_key);
	if (archive_checkpoint_origin(own_key, own_origin, &e) < 0)
		fz_die("harness origin", &e);
	smk_buf_free(&root);
	smk_buf_free(&spki);
}

/* FZ_VERBOSE=1: say why an input was refused (to check that seeds pass). */
static void why(const char *what, int rc, const smk_err *e)
{
	static int verbose = -1;

	if (verbose < 0)
		verbose = getenv("FZ_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "%s: %s\n", what, rc == 0 ? "ok" : e->msg);
}

static int same_buf(const smk_buf *a, const smk_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static int same_proof(const archive_proof *a, const archive_proof *b)
{
	return a->index == b->index && a->size == b->size && same_buf(&a->hashes, &b->hashes);
}

static void bundle_roundtrip(const uint8_t *p, size_t n)
{
	archive_bundle b, b2;
	smk_buf enc = SMK_BUF_INIT, enc2 = SMK_BUF_INIT;
	smk_err e;
	int rc;

	archive_bundle_init(&b);
	archive_bundle_init(&b2);
	rc = archive_bundle_parse(p, n, &b, &e);
	why("bundle parse", rc, &e);
	if (rc == 0) {
		FZ_CHECK(archive_bundle_encode(&b, &enc, &e) == 0);
		FZ_CHECK(archive_bundle_parse(enc.data, enc.len, &b2, &e) == 0);
		FZ_CHECK(same_buf(&b.record, &b2.record) &&
			 same_buf(&b.record_sig, &b2.record_sig));
		FZ_CHECK(same_buf(&b.key_spki, &b2.key_spki));
		FZ_CHECK(same_buf(&b.key_record, &b2.key_record));
		FZ_CHECK(same_buf(&b.key_record_sig, &b2.key_record_sig));
		FZ_CHECK(same_buf(&b.device_chain, &b2.device_chain) &&
			 same_buf(&b.cvreq, &b2.cvreq) && same_buf(&b.checkpoint, &b2.checkpoint));
		FZ_CHECK(same_proof(&b.inclusion, &b2.inclusion));
		FZ_CHECK(same_proof(&b.key_inclusion, &b2.key_inclusion));
		FZ_CHECK(b.has_cert_key == b2.has_cert_key);
		FZ_CHECK(same_buf(&b.cert_key_record, &b2.cert_key_record) &&
			 same_buf(&b.cert_key_record_sig, &b2.cert_key_record_sig) &&
			 same_proof(&b.cert_key_inclusion, &b2.cert_key_inclusion));
		FZ_CHECK(b.inclusion.hashes.len % 32 == 0 && b.key_inclusion.hashes.len % 32 == 0);
		FZ_CHECK(archive_bundle_encode(&b2, &enc2, &e) == 0);
		FZ_CHECK(same_buf(&enc, &enc2));
	} else {
		FZ_CHECK(e.msg[0] != '\0');
	}
	archive_bundle_free(&b);
	archive_bundle_free(&b2);
	smk_buf_free(&enc);
	smk_buf_free(&enc2);
}

static void say(void *ctx, const char *line)
{
	FZ_CHECK(line != NULL && line[0] != '\0');
	(*(unsigned *)ctx)++;
}

static void verify(const uint8_t *p, size_t n)
{
	archive_verified v;
	unsigned lines = 0;
	smk_err e;
	int rc;

	memset(&v, 0, sizeof(v));
	/* no pinned log: everything is checked, the log is reported unpinned */
	rc = archive_verify_bundle(p, n, &trust, NULL, say, &lines, &v, &e);
	why("verify", rc, &e);
	FZ_CHECK(rc == -1 || rc == ARCHIVE_VERIFY_UNPINNED);
	if (rc == ARCHIVE_VERIFY_UNPINNED) {
		FZ_CHECK(lines > 0);
		/* the log is the archive key's, named as the checkpoint names it */
		FZ_CHECK(!v.log_pinned && strcmp(v.log.name, v.origin) == 0 &&
			 strncmp(v.log.text, v.log.name, strlen(v.log.name)) == 0);
		FZ_CHECK(strcmp(v.key_record.kind, "archive-key") == 0);
		FZ_CHECK(v.key_record.seq == 0 && v.record.seq < v.checkpoint_size);
		FZ_CHECK(strlen(v.archive_key_fp) == 64);
		/* the attested key is a key record; a certificate comes after it */
		FZ_CHECK(archive_kind_has_key(v.record.kind) &&
			 strcmp(v.record.kind, "archive-key") != 0);
		if (strcmp(v.record.kind, ARCHIVE_KIND_ADOPTED) == 0)
			FZ_CHECK(v.record.policy_name == NULL && v.record.alg_count == 0 &&
				 !v.record.sm_used);
		else
			FZ_CHECK(v.record.sm_used && v.record.alg_count > 0);
		if (v.has_cert)
			FZ_CHECK(strcmp(v.cert_record.kind, ARCHIVE_KIND_CERTIFICATE) == 0 &&
				 v.cert_record.key_seq == v.record.seq &&
				 v.record.seq < v.cert_record.seq &&
				 v.cert_record.seq < v.checkpoint_size &&
				 memcmp(v.cert_record.key_record_hash, v.record.hash, 32) == 0);
		archive_verified_free(&v);
	} else {
		FZ_CHECK(e.msg[0] != '\0');
	}
}

static void record(const uint8_t *p, size_t n)
{
	archive_record r;
	archive_attestation att;
	uint8_t h[32];
	smk_err e;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = archive_record_parse(p, n, &r, &e);
	why("record parse", rc, &e);
	if (rc < 0) {
		FZ_CHECK(e.msg[0] != '\0');
		return;
	}
	FZ_CHECK(r.canonical.len == n && memcmp(r.canonical.data, p, n) == 0);
	SHA256(p, n, h);
	FZ_CHECK(memcmp(h, r.hash, 32) == 0);
	FZ_CHECK(r.kind != NULL && r.chr != NULL);
	FZ_CHECK(r.alg_count <= SMK_ALG_LIST_MAX);
	if (strcmp(r.kind, ARCHIVE_KIND_CERTIFICATE) == 0) {
		/* no key of its own: a certificate for an earlier key record */
		FZ_CHECK(r.chr[0] == '\0' && r.spki.len == 0 && r.cert_spki.len > 0);
		FZ_CHECK(r.key_seq < r.seq && strlen(r.cert_fp) == 64);
	} else if (strcmp(r.kind, ARCHIVE_KIND_ADOPTED) == 0) {
		/* the CHR is the CV-REQ's own, of any length a CHR has */
		FZ_CHECK(strlen(r.chr) >= 1 && strlen(r.chr) <= 16);
		FZ_CHECK(r.policy_name == NULL && r.alg_count == 0 && !r.sm_used);
	} else {
		FZ_CHECK(strlen(r.chr) == ARCHIVE_CHR_LEN && r.alg_count > 0);
	}
	memset(&att, 0, sizeof(att));
	rc = archive_attest(&r, &trust, &att, &e);
	why("attest", rc, &e);
	if (rc == 0) {
		FZ_CHECK(strlen(att.key_fp) == 64);
		archive_attestation_free(&att);
	}
	archive_record_free(&r);
}

/* origin line + input as the body, signed by the harness key. */
static void own_note(const uint8_t *p, size_t n)
{
	archive_checkpoint c;
	smk_buf note = SMK_BUF_INIT, sig = SMK_BUF_INIT, raw = SMK_BUF_INIT;
	char b64[256];
	uint8_t fp[32], *der = NULL;
	int der_len, rc;
	smk_err e;

	FZ_CHECK(smk_buf_add(&note, own_origin, strlen(own_origin)) == 0);
	FZ_CHECK(smk_buf_add(&note, "\n", 1) == 0 && smk_buf_add(&note, p, n) == 0);
	FZ_CHECK(own.sign(own.ctx, note.data, note.len, &sig, &e) == 0);
	/* key ID: first four bytes of SHA-256 of the SPKI DER (checkpoint.h) */
	der_len = i2d_PUBKEY(own_key, &der);
	FZ_CHECK(der_len > 0);
	SHA256(der, (size_t)der_len, fp);
	OPENSSL_free(der);
	FZ_CHECK(smk_buf_add(&raw, fp, 4) == 0 && smk_buf_add(&raw, sig.data, sig.len) == 0);
	FZ_CHECK(raw.len <= 180);
	EVP_EncodeBlock((unsigned char *)b64, raw.data, (int)raw.len);
	FZ_CHECK(smk_buf_add(&note, "\n\xe2\x80\x94 ", 5) == 0);
	FZ_CHECK(smk_buf_add(&note, own_origin, strlen(own_origin)) == 0);
	FZ_CHECK(smk_buf_add(&note, " ", 1) == 0 && smk_buf_add(&note, b64, strlen(b64)) == 0);
	FZ_CHECK(smk_buf_add(&note, "\n", 1) == 0);
	rc = archive_checkpoint_open(note.data, note.len, own_key, &c, &e);
	why("own note", rc, &e);
	if (rc == 0)
		FZ_CHECK(strcmp(c.origin, own_origin) == 0);
	else
		FZ_CHECK(e.msg[0] != '\0');
	smk_buf_free(&note);
	smk_buf_free(&sig);
	smk_buf_free(&raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	archive_checkpoint c;
	uint8_t *p;
	size_t n;
	smk_err e;
	int rc;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 1)
		return 0;
	n = size - 1;
	p = fz_dup(data + 1, n);
	switch (data[0] % 5) {
	case 0:
		bundle_roundtrip(p, n);
		break;
	case 1:
		verify(p, n);
		break;
	case 2:
		record(p, n);
		break;
	case 3:
		own_note(p, n);
		break;
	default:
		rc = archive_checkpoint_open(p, n, seed_key, &c, &e);
		why("seed note", rc, &e);
		if (rc < 0)
			FZ_CHECK(e.msg[0] != '\0');
		break;
	}
	free(p);
	return 0;
}
